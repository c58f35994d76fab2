#!/usr/bin/env bash
# shim_python.sh - python3 under libustack.so: a socket client talking to a
# kernel-side echo server (bulk, then 300 small request/response
# exchanges), a tiny http.server on the stack fetched by
# kernel-side curl, curl under the shim fetching from a kernel-side
# `python3 -m http.server` (by IP address), an asyncio TCP echo server
# under the shim serving concurrent kernel-side clients, and asyncio
# clients (TCP streams, a UDP datagram endpoint) under the shim, a
# listener with TCP_DEFER_ACCEPT, and one 4-tuple reconnected 12 times
# against a kernel side in TIME_WAIT.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd curl socat sha256sum timeout ss
[ -x "$PY" ] || skip "$PY is missing"
start_daemon

mkdir -p "$T_TMP/www"
head -c $((4 * MiB)) /dev/urandom >"$T_TMP/www/f.bin"
want=$(sha256sum <"$T_TMP/www/f.bin" | cut -d' ' -f1)

# 1. python socket client -> kernel-side echo
ns_bg timeout 30 socat "TCP-LISTEN:7100,bind=$HOST_IP,reuseaddr,fork" EXEC:cat &
PIDS+=($!)
wait_kernel_listen 7100
out=$(shim timeout 20 "$PY" -c '
import socket, sys
s = socket.create_connection(("'"$HOST_IP"'", 7100), timeout=10)
msg = b"x" * 100000
s.sendall(msg)
got = b""
while len(got) < len(msg):
    b = s.recv(65536)
    if not b:
        break
    got += b
s.close()
print("echo", len(got), got == msg)
') || fail "python socket client under the shim failed"
[ "$out" = "echo 100000 True" ] || fail "python echo: $out"
ok "python3 socket client under the shim: 100000 bytes echoed"

# py_rr TIMEOUT: python3 under the shim sends 300 small messages to the
# kernel-side echo, each answered before the next; the socket's timeout
# (seconds, or None: blocking calls, no poll) is TIMEOUT.  Prints "rr N",
# N the exchanges echoed byte-exact.
py_rr() {
	shim timeout 20 "$PY" -c '
import socket, sys
s = socket.create_connection(("'"$HOST_IP"'", 7100), timeout=10)
s.settimeout(None if sys.argv[1] == "None" else float(sys.argv[1]))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
ok = 0
for i in range(300):
    m = b"%05d" % i
    s.sendall(m)
    got = b""
    while len(got) < len(m):
        b = s.recv(64)
        if not b:
            break
        got += b
    ok += got == m
s.close()
print("rr", ok)
' "$1"
}

# 1b. request/response with a timeout (python3 polls before each call).
# ustackd takes what the program wrote from the ring as soon as the channel
# stirs, before it reads the doorbell record (ipc_sock_on_chan): nearly
# every request must have gone that way.
a0=$(ipc_ctr doorbells_ahead)
out=$(py_rr 10) || fail "python request/response under the shim failed"
[ "$out" = "rr 300" ] || fail "request/response: $out (want rr 300)"
ahead=$(($(ipc_ctr doorbells_ahead) - a0))
[ "$ahead" -ge 250 ] || fail "only $ahead of 300 requests were synced ahead of their doorbell"
ok "300 request/response exchanges byte-exact; $ahead requests left before their doorbell was read"

# 1c. the same with a blocking socket (no timeout: python3 calls recv()
# and send() directly, no poll): a recv that finds the ring empty sleeps on
# the socket's futex word and ustackd wakes it with FUTEX_WAKE, not with an
# IPC_WAKE record (shim_wait_quick): nearly every answer must have come so.
f0=$(ipc_ctr futex_wakes)
w0=$(ipc_ctr wakes)
out=$(py_rr None) || fail "python blocking request/response under the shim failed"
[ "$out" = "rr 300" ] || fail "blocking request/response: $out (want rr 300)"
fw=$(($(ipc_ctr futex_wakes) - f0))
wk=$(($(ipc_ctr wakes) - w0))
[ "$fw" -ge 250 ] || fail "only $fw of 300 blocking receives were woken through the futex word ($wk IPC_WAKE records)"
[ "$wk" -le 30 ] || fail "$wk IPC_WAKE records were sent to a program that waits in blocking calls only"
ok "300 blocking request/response exchanges byte-exact; $fw futex wake-ups, $wk IPC_WAKE records"

# 2. python http.server on the stack, kernel-side curl
(cd "$T_TMP/www" && shim_bg timeout 60 "$PY" -m http.server --bind "$STACK_IP" 8001) >"$T_TMP/py.log" 2>&1 &
PIDS+=($!)
wait_stack_listen 8001
ns timeout 30 curl -sS -o "$T_TMP/k.bin" "http://$STACK_IP:8001/f.bin" || fail "kernel curl from http.server under the shim failed"
[ "$(sha256sum <"$T_TMP/k.bin" | cut -d' ' -f1)" = "$want" ] || fail "http.server under the shim: sha256 differs"
ok "python3 http.server under the shim served 4 MiB to kernel-side curl"

# 3. curl under the shim, kernel-side http.server
(cd "$T_TMP/www" && ns_bg timeout 60 "$PY" -m http.server --bind "$HOST_IP" 8000) >/dev/null 2>&1 &
PIDS+=($!)
wait_kernel_listen 8000
shim timeout 30 curl -sS -o "$T_TMP/c.bin" "http://$HOST_IP:8000/f.bin" || fail "curl under the shim failed"
[ "$(sha256sum <"$T_TMP/c.bin" | cut -d' ' -f1)" = "$want" ] || fail "curl under the shim: sha256 differs"
ok "curl under the shim fetched 4 MiB from a kernel-side http.server"

# 4. asyncio TCP echo server under the shim; 8 concurrent kernel-side clients
cat >"$T_TMP/aserver.py" <<'PYEOF'
import asyncio, sys
async def echo(r, w):
    while True:
        b = await r.read(65536)
        if not b:
            break
        w.write(b)
        await w.drain()
    w.close()
    await w.wait_closed()
async def main():
    srv = await asyncio.start_server(echo, sys.argv[1], int(sys.argv[2]))
    print('serving', flush=True)
    async with srv:
        await asyncio.wait_for(srv.serve_forever(), 60)
try:
    asyncio.run(main())
except asyncio.TimeoutError:
    pass
PYEOF
shim_bg timeout 90 "$PY" "$T_TMP/aserver.py" "$STACK_IP" 7600 >"$T_TMP/aserver.log" 2>&1 &
PIDS+=($!)
apid=$!
wait_stack_listen 7600
out=$(ns timeout 60 "$PY" - "$STACK_IP" <<'PYEOF'
import hashlib, os, socket, sys, threading
res = []
def client(i):
    s = socket.create_connection((sys.argv[1], 7600), timeout=20)
    msg = os.urandom(300000 + i * 1000)
    t = threading.Thread(target=s.sendall, args=(msg,))
    t.start()
    got = bytearray()
    while len(got) < len(msg):
        b = s.recv(65536)
        if not b:
            break
        got += b
    t.join()
    s.close()
    res.append(bytes(got) == msg)
ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print('clients', sum(res), len(res))
PYEOF
) || fail "kernel-side clients of the asyncio server under the shim failed: $out $(cat "$T_TMP/aserver.log")"
[ "$out" = "clients 8 8" ] || fail "asyncio echo server under the shim: $out"
alive "$apid" || fail "the asyncio server under the shim died: $(cat "$T_TMP/aserver.log")"
kill -TERM "$apid"
wait "$apid" 2>/dev/null || true
forget_pid "$apid"
ok "asyncio echo server under the shim: 8 concurrent kernel-side clients, ~2.4 MB echoed byte-exact"

# 5. asyncio clients under the shim: 4 TCP streams to a kernel-side echo
#    and a UDP endpoint to a kernel-side UDP echo.
ns_bg timeout 60 socat "TCP-LISTEN:7101,bind=$HOST_IP,reuseaddr,fork" EXEC:cat &
PIDS+=($!)
ns_bg timeout 60 socat -T 30 "UDP4-RECVFROM:7700,bind=$HOST_IP,fork" PIPE &
PIDS+=($!)
wait_kernel_listen 7101
for ((i = 0; i < 100; i++)); do
	ns ss -Hlun "sport = :7700" | grep -q . && break
	sleep 0.1
done
out=$(shim timeout 60 "$PY" - "$HOST_IP" <<'PYEOF'
import asyncio, os, sys
host = sys.argv[1]
async def tcp(i):
    r, w = await asyncio.open_connection(host, 7101)
    msg = os.urandom(200000 + i)
    w.write(msg)
    await w.drain()
    got = await asyncio.wait_for(r.readexactly(len(msg)), 20)
    w.close()
    await w.wait_closed()
    return got == msg
class Udp(asyncio.DatagramProtocol):
    def __init__(self):
        self.got = asyncio.get_running_loop().create_future()
    def datagram_received(self, data, addr):
        if not self.got.done():
            self.got.set_result((data, addr))
async def udp():
    loop = asyncio.get_running_loop()
    tr, pr = await loop.create_datagram_endpoint(Udp, remote_addr=(host, 7700))
    tr.sendto(b'asyncio-datagram')
    data, addr = await asyncio.wait_for(pr.got, 10)
    tr.close()
    return data == b'asyncio-datagram' and addr == (host, 7700)
async def main():
    ok = await asyncio.gather(*(tcp(i) for i in range(4)), udp())
    print('asyncio', sum(ok), len(ok))
asyncio.run(main())
PYEOF
) || fail "asyncio clients under the shim failed: $out"
[ "$out" = "asyncio 5 5" ] || fail "asyncio clients under the shim: $out"
ok "asyncio under the shim: 4 concurrent TCP streams (200 kB each) and a UDP endpoint, all echoed"

# 6. TCP_DEFER_ACCEPT on a listener under the shim: accept() returns a
# connection only with its first data (the kernel-side client waits 0.6 s
# before sending), or without data once the 1 s period is over.
shim_bg timeout 20 "$PY" - "$STACK_IP" >"$T_TMP/defer.out" 2>&1 <<'PYEOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
s.bind((sys.argv[1], 7800))
s.listen(4)
print('defer', s.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT), flush=True)
c, _ = s.accept()
try:
    first = c.recv(16, socket.MSG_DONTWAIT)
except BlockingIOError:
    first = b'(nothing yet)'
print('first', first.decode(), flush=True)
c.close()
t0 = time.monotonic()
c, _ = s.accept()
waited = time.monotonic() - t0
try:
    c.recv(16, socket.MSG_DONTWAIT)
    print('second had data', flush=True)
except BlockingIOError:
    print('second empty after %.1f s' % waited, flush=True)
c.close()
PYEOF
dpid=$!
PIDS+=("$dpid")
wait_stack_listen 7800
ns timeout 10 "$PY" - "$STACK_IP" <<'PYEOF' || fail "kernel-side clients of the TCP_DEFER_ACCEPT listener failed"
import socket, sys, time
c = socket.create_connection((sys.argv[1], 7800), timeout=5)
time.sleep(0.6)
c.sendall(b'late')
time.sleep(0.2)
c.close()
c = socket.create_connection((sys.argv[1], 7800), timeout=5)
time.sleep(2.5)
c.close()
PYEOF
wait "$dpid" || fail "the TCP_DEFER_ACCEPT listener under the shim failed: $(cat "$T_TMP/defer.out")"
forget_pid "$dpid"
out=$(cat "$T_TMP/defer.out")
grep -qx "defer 1" <<<"$out" || fail "TCP_DEFER_ACCEPT did not read back as 1: $out"
grep -qx "first late" <<<"$out" || fail "accept() returned before the connection's first data: $out"
w=$(sed -n 's/^second empty after \([0-9.]*\) s$/\1/p' <<<"$out")
[ -n "$w" ] && awk -v w="$w" 'BEGIN { exit !(w >= 0.8 && w < 2.4) }' ||
	fail "a connection without data was not handed over when the 1 s period ended: $out"
ok "TCP_DEFER_ACCEPT under the shim: accept() came with the first data (sent 0.6 s late), and without data after ${w} s"

# 7. The same 4-tuple again and again: a kernel-side server that closes
# first keeps each connection in TIME_WAIT, and Linux takes a new SYN for
# it only when its timestamp is not older than the last one seen (PAWS,
# tcp_timewait_state_process); with a random timestamp offset per
# connection half the SYNs were answered with an ACK, reset, and sent
# again a second later.  RFC 7323 §5.4 / RFC 6528: the offset is a keyed
# hash of the 4-tuple, so timestamps never go back for the same one.
ns_bg timeout 60 "$PY" -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7900))
s.listen(16)
while True:
    c, _ = s.accept()
    c.close()
' "$HOST_IP" &
PIDS+=($!)
wait_kernel_listen 7900
r0=$(ctr tcp_syn_retrans)
out=$(shim timeout 60 "$PY" - "$HOST_IP" <<'PYEOF'
import errno, socket, sys, time
for i in range(12):
    for tries in range(200):  # our side of the last one may still be in LAST_ACK
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            c.bind(("0.0.0.0", 47001))
            break
        except OSError as e:
            c.close()
            if e.errno != errno.EADDRINUSE:
                raise
            time.sleep(0.01)
    c.settimeout(10)
    c.connect((sys.argv[1], 7900))
    if c.recv(10) != b"":
        sys.exit("data from a server that only closes")
    c.close()
print("reconnected 12 times from port 47001")
PYEOF
) || fail "reconnecting on one 4-tuple: $out"
retrans=$(($(ctr tcp_syn_retrans) - r0))
[ "$retrans" -eq 0 ] || fail "12 connections on one 4-tuple (the kernel side in TIME_WAIT) needed $retrans SYN retransmissions"
ok "the same 4-tuple 12 times against a kernel in TIME_WAIT: every SYN taken at once (tcp_syn_retrans +0)"

assert_alive
