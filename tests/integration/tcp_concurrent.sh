#!/usr/bin/env bash
# tcp_concurrent.sh - 1,000 concurrent TCP connections from the kernel to
# ustackd's echo service (python3 asyncio in tcp_tool.py): all open at once,
# a distinct line echoed on each, all closed by the kernel.  Afterwards the
# stack lists no connection left open within a few seconds (TIME_WAIT
# excepted).  USTACK_TCP_CONNS overrides the count.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
setup
need_cmd timeout
start_daemon --services echo,discard,chargen
tcp_services_ready

N=${USTACK_TCP_CONNS:-1000}
snap "$T_TMP/c0"
run_tool 150 --stall 120 concurrent "$STACK_IP" 7 "$N"
snap "$T_TMP/c1"
opens=$(($(ctr_in "$T_TMP/c1" tcp_passive_opens) - $(ctr_in "$T_TMP/c0" tcp_passive_opens)))
[ "$opens" -ge "$N" ] || fail "tcp_passive_opens grew by $opens for $N connections"
ctr_delta_report "$T_TMP/c0" "$T_TMP/c1" tcp_passive_opens tcp_listen_overflow tcp_syncookies_sent tcp_syncookies_ok tcp_synack_retrans tcp_tx_rst tcp_rx_rst tcp_estab_resets
resets=$(($(ctr_in "$T_TMP/c1" tcp_estab_resets) - $(ctr_in "$T_TMP/c0" tcp_estab_resets)))
[ "$resets" -eq 0 ] || fail "$resets established connection(s) were reset"

wait_no_conns 10
tcp_sockets "$T_TMP/socks.end"
tw=$(tcp_conns "$T_TMP/socks.end" | grep -c '^TIME_WAIT ' || true)
ok "no connection left open after $N (TIME_WAIT listed: $tw)"
assert_alive
# The stack still takes new connections.
run_tool 30 halfclose "$STACK_IP" 7
stop_daemon
log "PASS"
