#!/usr/bin/env bash
# tcp_echo_sha.sh - 100 MiB (x USTACK_TEST_SCALE) of random bytes through
# ustackd's TCP echo service (RFC 862), sent and received at the same time
# by the kernel-side tcp_tool.py; sha256 of what came back equals the
# original.  Then a half-close check: after the kernel's FIN the rest of the
# echo still arrives, followed by the stack's FIN.  ustackd runs with
# --busy-poll 200 here, so the busy-polling loop moves all of it (and
# loop_busy_hits shows it found work while polling).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
setup
need_cmd timeout sha256sum
start_daemon --services echo,discard,chargen --busy-poll 200
tcp_services_ready

SIZE=$(scaled $((100 * MiB)))
snap "$T_TMP/c0"
echo_sha "$SIZE" 150
snap "$T_TMP/c1"
rx=$(($(ctr_in "$T_TMP/c1" tcp_rx_bytes) - $(ctr_in "$T_TMP/c0" tcp_rx_bytes)))
tx=$(($(ctr_in "$T_TMP/c1" tcp_tx_bytes) - $(ctr_in "$T_TMP/c0" tcp_tx_bytes)))
[ "$rx" -ge "$SIZE" ] || fail "tcp_rx_bytes grew by $rx for $SIZE bytes echoed"
[ "$tx" -ge "$SIZE" ] || fail "tcp_tx_bytes grew by $tx for $SIZE bytes echoed"
ctr_delta_report "$T_TMP/c0" "$T_TMP/c1" tcp_rx_bytes tcp_tx_bytes tcp_retrans_segs tcp_zero_window_probes
assert_ctr_ge loop_busy_hits 1

run_tool 60 halfclose "$STACK_IP" 7
wait_no_conns 10
ok "no TCP connection left open"
assert_ctr_eq tcp_drop_bad_csum 0
assert_alive
stop_daemon
log "PASS"
