#!/usr/bin/env bash
# shim_socat.sh - socat under libustack.so relaying TCP both ways: a
# listener on the stack receives a file from a kernel-side socat, and a
# client on the stack sends one to a kernel-side listener (sha256 equal).
# Then UDP both ways: socat under the shim relays a kernel client's
# datagrams to a kernel-side UDP echo (UDP-LISTEN on the stack, UDP to the
# kernel), a kernel-side socat relays to a UDP echo that socat runs under
# the shim, and socat under the shim echoes with UDP-RECVFROM,fork (each
# reply from a forked child, through the socket its parent is reading:
# two processes with requests in flight on one channel); every datagram
# (1 to 30000 bytes) must come back byte-exact.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd socat sha256sum timeout ss
start_daemon

head -c $((8 * MiB)) /dev/urandom >"$T_TMP/data"
want=$(sha256sum <"$T_TMP/data" | cut -d' ' -f1)

shim_bg timeout 60 socat -u TCP-LISTEN:7000,reuseaddr "OPEN:$T_TMP/rx1,creat,trunc" &
PIDS+=($!)
lpid=$!
wait_stack_listen 7000
ns timeout 60 socat -u "OPEN:$T_TMP/data" "TCP:$STACK_IP:7000" || fail "kernel-side socat failed"
wait "$lpid" || fail "socat TCP-LISTEN under the shim failed"
[ "$(sha256sum <"$T_TMP/rx1" | cut -d' ' -f1)" = "$want" ] || fail "socat listener: sha256 differs"
ok "socat TCP-LISTEN under the shim received 8 MiB byte-exact"

ns timeout 60 socat -u "TCP-LISTEN:7001,bind=$HOST_IP,reuseaddr" "OPEN:$T_TMP/rx2,creat,trunc" &
PIDS+=($!)
kpid=$!
wait_kernel_listen 7001
shim timeout 60 socat -u "OPEN:$T_TMP/data" "TCP:$HOST_IP:7001" || fail "socat client under the shim failed"
wait "$kpid" || fail "kernel-side socat listener failed"
[ "$(sha256sum <"$T_TMP/rx2" | cut -d' ' -f1)" = "$want" ] || fail "socat client: sha256 differs"
ok "socat TCP client under the shim sent 8 MiB byte-exact"

# wait_sock_port PORT: a socket of the stack has PORT (at most 10 s).
wait_sock_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		"$USTACKCTL" --socket "$SOCK" sockets | grep -q ":$1" && return 0
		sleep 0.1
	done
	fail "no stack socket on port $1 after 10 s"
}
# stop_bg PID: end a background process of ours and forget it.
stop_bg() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
	forget_pid "$1"
}

# UDP: a kernel-side echo, and a client that checks what comes back.
cat >"$T_TMP/udp.py" <<'PYEOF'
import os, socket, sys
if sys.argv[1] == 'echo':
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((sys.argv[2], int(sys.argv[3])))
    while True:
        b, a = u.recvfrom(65536)
        u.sendto(b, a)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(10)
u.connect((sys.argv[2], int(sys.argv[3])))
n = 0
sizes = (1, 100, 1472, 1473, 8000, 30000, 5, 2000)
for size in [x for x in sizes if x <= int(sys.argv[4])]:
    out = os.urandom(size)
    u.send(out)
    got = u.recv(65536)
    assert got == out, (size, len(got))
    n += 1
print('udp', n)
PYEOF
ip netns exec "$NS" "$PY" "$T_TMP/udp.py" echo "$HOST_IP" 7401 >"$T_TMP/kecho.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
	ns ss -Hlun "sport = :7401" | grep -q . && break
	sleep 0.1
done

# 1. kernel client -> socat under the shim (stack :7400) -> kernel echo :7401
shim_bg timeout 60 socat -b 65536 -T 20 UDP4-LISTEN:7400 "UDP4:$HOST_IP:7401" \
	>"$T_TMP/r1.log" 2>&1 &
PIDS+=($!)
r1=$!
wait_sock_port 7400
out=$(ns timeout 30 "$PY" "$T_TMP/udp.py" client "$STACK_IP" 7400 65507) ||
	fail "UDP through socat under the shim: $out $(cat "$T_TMP/r1.log")"
[ "$out" = "udp 8" ] || fail "UDP relay under the shim: $out"
ok "socat under the shim relayed 8 datagrams (1..30000 bytes) to a kernel-side UDP echo and back"
stop_bg "$r1"

# 2. kernel client -> kernel-side socat :7403 -> UDP echo by socat under the shim :7402
shim_bg timeout 60 socat -b 65536 -T 20 UDP4-LISTEN:7402 PIPE >"$T_TMP/r2.log" 2>&1 &
PIDS+=($!)
r2=$!
wait_sock_port 7402
ns timeout 60 socat -b 65536 -T 20 "UDP4-LISTEN:7403,bind=$HOST_IP" "UDP4:$STACK_IP:7402" \
	>"$T_TMP/r3.log" 2>&1 &
PIDS+=($!)
r3=$!
for ((i = 0; i < 100; i++)); do
	ns ss -Hlun "sport = :7403" | grep -q . && break
	sleep 0.1
done
out=$(ns timeout 30 "$PY" "$T_TMP/udp.py" client "$HOST_IP" 7403 4096) ||
	fail "UDP to the echo under the shim: $out $(cat "$T_TMP/r2.log" "$T_TMP/r3.log")"
[ "$out" = "udp 6" ] || fail "UDP echo under the shim: $out"
ok "a kernel-side socat relayed 6 datagrams (1..2000 bytes, one fragmented) to socat's UDP echo under the shim and back"
stop_bg "$r2"
stop_bg "$r3"

# 3. UDP-RECVFROM,fork under the shim: each datagram is answered by a
# forked child through the socket the parent goes on reading (shim/ipc.h,
# "Replies to their owner": neither takes the other's reply).
shim_bg timeout 60 socat -b 65536 UDP4-RECVFROM:7404,fork PIPE >"$T_TMP/r4.log" 2>&1 &
PIDS+=($!)
r4=$!
wait_sock_port 7404
out=$(ns timeout 30 "$PY" "$T_TMP/udp.py" client "$STACK_IP" 7404 30000) ||
	fail "UDP to socat UDP-RECVFROM,fork under the shim: $out $(cat "$T_TMP/r4.log")"
[ "$out" = "udp 8" ] || fail "UDP-RECVFROM,fork under the shim: $out"
ok "socat UDP-RECVFROM,fork under the shim answered 8 datagrams (1..30000 bytes) from forked children"
stop_bg "$r4"

wait_ipc_socks 0 10
assert_alive
stop_daemon
