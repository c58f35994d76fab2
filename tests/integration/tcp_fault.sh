#!/usr/bin/env bash
# tcp_fault.sh - TCP through ustackd's own seeded link fault injector
# (--fault drop=2,dup=1,reorder=2,corrupt=1,seed=7): a 20 MiB echo
# (x USTACK_TEST_SCALE) comes back byte-exact (sha256), a discard transfer
# completes, and the stack's bad-checksum drop counters show that the
# corrupted frames were caught rather than delivered.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
setup
need_cmd timeout sha256sum
FAULT=${USTACK_TCP_FAULT:-drop=2,dup=1,reorder=2,corrupt=1,seed=7}
"$USTACKD" --help 2>&1 | grep -q -- '--fault' || fail "ustackd has no --fault option (link fault injector)"
start_daemon --services echo,discard,chargen --fault "$FAULT"
tcp_services_ready

bad0=$(csum_drops)
snap "$T_TMP/c0"
SIZE=$(scaled $((20 * MiB)))
echo_sha "$SIZE" 150
run_tool 150 send "$STACK_IP" 9 "$(scaled $((20 * MiB)))"
# The kernel's own checksum errors (frames the injector corrupted on their
# way out of the stack), for the log.
ns cat /proc/net/snmp | awk '/^(Ip|Tcp):/ { if (!h[$1]++) { split($0, n) } else for (i = 2; i <= NF; i++) if (n[i] ~ /CsumErrors|InHdrErrors/) printf "kernel %s %s %s\n", $1, n[i], $i }'
snap "$T_TMP/c1"
ctr_delta_report "$T_TMP/c0" "$T_TMP/c1" ip4_drop_bad_csum tcp_drop_bad_csum ip4_drop_bad_header tcp_drop_bad_hdr tcp_drop_bad_opt eth_drop_not_us tcp_retrans_segs tcp_fast_retrans tcp_timeouts tcp_ooo_segs tcp_dup_data_segs
grep '^fault_' "$T_TMP/c1" | tr '\n' ' ' | sed "s/^/[$T_NAME] injector: /"
echo
bad1=$(csum_drops)
bad=$((bad1 - bad0))
[ "$bad" -gt 0 ] || fail "no bad-checksum drops with corrupt=1 %: corrupted frames were not caught"
# The injector counts the frames it corrupted on their way into the stack.
# A flipped byte in the Ethernet header (no FCS on a TAP) or in padding is
# not a checksum matter, so at least half of them, not all, must show up as
# checksum drops; none may be delivered (the sha256 checks above).
if grep -q '^fault_corrupt_rx ' "$T_TMP/c1"; then
	crx=$(($(ctr_in "$T_TMP/c1" fault_corrupt_rx) - $(ctr_in "$T_TMP/c0" fault_corrupt_rx)))
	[ "$crx" -gt 0 ] || fail "the injector corrupted no received frame (fault_corrupt_rx)"
	[ $((bad * 2)) -ge "$crx" ] || fail "only $bad bad-checksum drops for $crx corrupted frames"
	ok "stack dropped $bad frames with bad checksums for $crx the injector corrupted"
else
	ok "stack dropped $bad frames with bad checksums"
fi
assert_ctr_ge tcp_retrans_segs 1
# Data segments that carry SACK blocks must still fit the MTU.
assert_ctr_eq ip4_drop_too_big 0

wait_no_conns 20
ok "no TCP connection left open"
assert_alive
stop_daemon
log "PASS"
