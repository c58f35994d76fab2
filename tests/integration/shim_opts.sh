#!/usr/bin/env bash
# shim_opts.sh - socket options and ioctls through libustack.so
# (tests/integration/shim_opts.c: argument 4, and argument 5 the same
# program built with -D_FORTIFY_SOURCE=2 -O2, whose read/recv/recvfrom/
# poll/ppoll/FD_SET calls are the __*_chk entry points).  A kernel-side
# python peer serves TCP and UDP echo, and a TCP sink that reads nothing
# until told to, so SIOCOUTQ can be seen above 0 and back at 0, and a UDP
# port that answers with the TTL and TOS a datagram arrived with.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
PROG=${4:-${SHIM_OPTS:-}}
PROG_F=${5:-${SHIM_OPTS_FORTIFY:-}}
shim_setup
need_cmd timeout ss nm
[ -x "$PY" ] || skip "$PY is missing"
[ -x "$PROG" ] || fail "shim_opts program not found (argument 4): $PROG"
[ -x "$PROG_F" ] || fail "fortified shim_opts program not found (argument 5): $PROG_F"
start_daemon

PORT=7300
cat >"$T_TMP/peer.py" <<'PYEOF'
import socket, sys, threading
ip, port = sys.argv[1], int(sys.argv[2])
go = threading.Semaphore(0)  # one gate connection frees one sink

def serve(p, handler):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((ip, p))
    l.listen(16)
    while True:
        c, _ = l.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()

def echo(c):
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.close()

def sink(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    go.acquire()
    while c.recv(1 << 20):
        pass
    c.close()

def gate(c):
    go.release()
    c.close()

def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((ip, port))
    while True:
        b, a = u.recvfrom(65536)
        u.sendto(b, a)

def udp_ttl():
    # Answers each datagram with the TTL and TOS it arrived with.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IP, 12, 1)  # IP_RECVTTL (linux/in.h)
    u.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
    u.bind((ip, port + 4))
    while True:
        b, anc, _, a = u.recvmsg(2048, 256)
        ttl = tos = -1
        for lvl, typ, data in anc:
            if lvl == socket.IPPROTO_IP and typ == socket.IP_TTL:
                ttl = int.from_bytes(data[:4], sys.byteorder)
            elif lvl == socket.IPPROTO_IP and typ == socket.IP_TOS:
                tos = data[0]
        u.sendto(b'ttl=%d tos=%d' % (ttl, tos), a)

threading.Thread(target=udp, daemon=True).start()
threading.Thread(target=udp_ttl, daemon=True).start()
threading.Thread(target=serve, args=(port + 1, sink), daemon=True).start()
threading.Thread(target=serve, args=(port + 2, gate), daemon=True).start()
serve(port, echo)
PYEOF
ip netns exec "$NS" "$PY" "$T_TMP/peer.py" "$HOST_IP" "$PORT" >"$T_TMP/peer.log" 2>&1 &
PIDS+=($!)
wait_kernel_listen "$PORT"
wait_kernel_listen $((PORT + 2))

# The fortified build must really call the _chk entry points.
syms=$(nm -D --undefined-only "$PROG_F")
for f in __read_chk __recv_chk __recvfrom_chk __poll_chk __ppoll_chk __fdelt_chk; do
	grep -q " $f" <<<"$syms" || fail "$PROG_F does not call $f"
done
ok "the fortified build calls __read_chk __recv_chk __recvfrom_chk __poll_chk __ppoll_chk __fdelt_chk"

for p in "$PROG" "$PROG_F"; do
	rc=0
	shim timeout 120 "$p" "$HOST_IP" "$PORT" >"$T_TMP/out" 2>&1 || rc=$?
	sed "s|^|    $(basename "$p"): |" "$T_TMP/out"
	[ "$rc" -eq 0 ] && grep -q '^PASS$' "$T_TMP/out" || fail "$(basename "$p") under the shim exited $rc"
	ok "$(basename "$p"): every option, ioctl and effect as Linux"
	alive "${PIDS[-1]}" || fail "the kernel-side peer died: $(cat "$T_TMP/peer.log")"
done

wait_ipc_socks 0 10
ok "every IPC socket released"
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
