#!/usr/bin/env bash
# udp_echo.sh - UDP through ustackd's built-in services (--services):
# echo (port 7) returns datagrams byte-exact through socat, including
# fragmented ones; discard (9) swallows them silently; chargen (19) answers.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup
need_cmd socat
start_daemon --services echo,discard,chargen

# socat sends what it reads from a file as one datagram (-b: buffer larger
# than the datagram) and writes what comes back.
for size in 1 2 100 1472 1473 3000 8000 65507; do
	head -c "$size" /dev/urandom >"$T_TMP/in.$size"
	rc=0
	ns socat -b 65536 -t 1 - "UDP:$STACK_IP:7" <"$T_TMP/in.$size" >"$T_TMP/out.$size" 2>"$T_TMP/socat.err" || rc=$?
	[ "$rc" -eq 0 ] || fail "socat (echo, $size bytes) exited $rc: $(cat "$T_TMP/socat.err")"
	got=$(stat -c %s "$T_TMP/out.$size")
	[ "$got" -eq "$size" ] || fail "echo: sent $size bytes, got $got back"
	cmp -s "$T_TMP/in.$size" "$T_TMP/out.$size" || fail "echo: $size bytes came back with different content"
	ok "socat echo $size bytes: byte-exact"
done
# 1473 and larger needed reassembly on the way in and fragmentation out.
assert_ctr_ge ip4_reass_ok 4
assert_ctr_ge ip4_frag_created 4

# Zero-length and more sizes through a connected socket.
ns "$PY" "$T_DIR/udpcheck.py" echo "$STACK_IP" 7 0 1 512 1472 1473 4000 8000 16384 ||
	fail "udpcheck echo failed"
ok "python echo: 0..16384 bytes byte-exact"

# discard: no answer and no ICMP error, but the stack did receive them.
unreach0=$(ctr icmp_tx_unreach)
udp0=$(ctr udp_rx)
rc=0
printf 'to the void' | ns socat -t 1 - "UDP:$STACK_IP:9" >"$T_TMP/discard.out" 2>"$T_TMP/socat.err" || rc=$?
[ "$rc" -eq 0 ] || fail "socat (discard) exited $rc: $(cat "$T_TMP/socat.err")"
[ ! -s "$T_TMP/discard.out" ] || fail "discard answered: $(head -c 100 "$T_TMP/discard.out")"
ns "$PY" "$T_DIR/udpcheck.py" discard "$STACK_IP" 9 || fail "udpcheck discard failed"
udp1=$(ctr udp_rx)
unreach1=$(ctr icmp_tx_unreach)
[ $((udp1 - udp0)) -ge 5 ] || fail "udp_rx grew by $((udp1 - udp0)) for 5 datagrams to discard"
[ "$unreach1" -eq "$unreach0" ] || fail "discard provoked ICMP unreachable ($unreach0 -> $unreach1)"
ok "discard: $((udp1 - udp0)) datagrams received, silently"

# chargen answers with printable characters.
printf 'x' | ns socat -t 1 - "UDP:$STACK_IP:19" >"$T_TMP/chargen.out" 2>"$T_TMP/socat.err" ||
	fail "socat (chargen) failed: $(cat "$T_TMP/socat.err")"
ns "$PY" "$T_DIR/udpcheck.py" chargen "$STACK_IP" 19 || fail "udpcheck chargen failed"
ok "chargen answers (socat got $(stat -c %s "$T_TMP/chargen.out") bytes)"

assert_ctr_eq udp_drop_bad_csum 0
assert_alive
stop_daemon
log "PASS"
