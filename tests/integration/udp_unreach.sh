#!/usr/bin/env bash
# udp_unreach.sh - a datagram to a closed port: the stack answers with ICMP
# port unreachable and the kernel-side client sees "Connection refused".
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup
need_cmd socat
start_daemon --services echo

unreach0=$(ctr icmp_tx_unreach)

# A connected UDP socket gets ECONNREFUSED on recv.
out=$(ns "$PY" "$T_DIR/udpcheck.py" refused "$STACK_IP" 4444 2>&1) || { echo "$out"; fail "no ECONNREFUSED"; }
echo "$out"
grep -q 'Connection refused' <<<"$out" || fail "expected 'Connection refused', got: $out"
ok "python connected UDP client: Connection refused"

# socat reports the same error.
rc=0
printf 'knock knock\n' | ns socat -t 2 - "UDP:$STACK_IP:4445" >/dev/null 2>"$T_TMP/socat.err" || rc=$?
cat "$T_TMP/socat.err"
[ "$rc" -ne 0 ] || fail "socat to a closed port exited 0"
grep -q 'Connection refused' "$T_TMP/socat.err" || fail "socat did not report 'Connection refused'"
ok "socat: Connection refused"

unreach1=$(ctr icmp_tx_unreach)
[ "$unreach1" -gt "$unreach0" ] || fail "icmp_tx_unreach did not grow ($unreach0 -> $unreach1)"
ok "icmp_tx_unreach = $unreach1"
assert_ctr_ge udp_drop_no_port 2

# An open port is not refused (the echo service answers).
ns "$PY" "$T_DIR/udpcheck.py" echo "$STACK_IP" 7 10 || fail "echo on port 7 failed"

# A burst to closed ports: ICMP errors are rate-limited (RFC 1122 3.2.2,
# RFC 1812 4.3.2.8), so the stack must not answer every one of them.
ns "$PY" - "$STACK_IP" <<'PYEOF' || fail "burst sender failed"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3000):
    try:
        s.sendto(b"x", (sys.argv[1], 20000 + i % 1000))
    except OSError:
        pass
PYEOF
sleep 0.5
unreach2=$(ctr icmp_tx_unreach)
limited=$(ctr icmp_rate_limited)
log "burst of 3000: icmp_tx_unreach +$((unreach2 - unreach1)), icmp_rate_limited = $limited"
[ "$limited" -gt 0 ] || fail "3000 datagrams to closed ports in a burst were never rate-limited"
[ $((unreach2 - unreach1)) -lt 3000 ] || fail "every one of 3000 datagrams got an ICMP error"
ok "ICMP errors rate-limited ($limited limited)"

assert_alive
stop_daemon
log "PASS"
