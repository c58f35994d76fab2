#!/usr/bin/env bash
# shim_kill.sh - faults around libustack.so:
#  1. SIGKILL of a program under the shim while it receives: the kernel-side
#     sender (python3, real kernel socket) gets ECONNRESET/EPIPE - a reset:
#     the stack resets a connection whose owner died with unread data, as
#     Linux does - the stack counts the RST it sent, and ustackd's IPC
#     socket count and open stack sockets return to what they were.
#  2. the same while the program sends (here the connection ends with the
#     bytes already written and a FIN, as with a kernel socket).
#  3. SIGKILL of ustackd during a transfer: the program under the shim exits
#     with an error within a couple of seconds (no hang).
#  3b. SIGKILL of a restarted ustackd during a curl download under the
#     shim: curl exits with an error within 1 s (time from the kill to
#     curl's exit, polled every 10 ms), prints its own error, and the shim
#     prints exactly one line saying why (lost ustackd).
#  4. ustackd not running: socket() fails with one clear stderr line.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119,SC2015
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd nc timeout ss pgrep
start_daemon

base_ipc=$(ipc_ctr sockets)
base_socks=$(stack_socks)

# 1. receiver killed
shim_bg nc -l 8890 >/dev/null &
PIDS+=($!)
rpid=$!
wait_stack_listen 8890
snap "$T_TMP/c0"
# The kernel-side sender writes until the connection fails and prints how.
ip netns exec "$NS" timeout 30 "$PY" -c '
import errno, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
buf = bytes(1 << 16)
try:
    while True:
        s.sendall(buf)
except OSError as e:
    print("error", errno.errorcode.get(e.errno, e.errno))
' "$STACK_IP" 8890 >"$T_TMP/sender1.out" 2>&1 &
spid=$!
sleep 1
[ "$(ipc_ctr sockets)" -gt "$base_ipc" ] || fail "no IPC socket open during the transfer"
kill -KILL "$rpid"
t0=$(now_ns)
rc=0
wait "$spid" || rc=$?
el=$((($(now_ns) - t0) / 1000000))
[ "$rc" -eq 0 ] || fail "kernel-side sender: status $rc: $(cat "$T_TMP/sender1.out")"
[ "$el" -lt 5000 ] || fail "kernel-side sender took $el ms to notice"
grep -qxE 'error (ECONNRESET|EPIPE)' "$T_TMP/sender1.out" ||
	fail "kernel-side sender did not see a reset: $(cat "$T_TMP/sender1.out")"
rst=$(($(ctr tcp_tx_rst) - $(ctr_in "$T_TMP/c0" tcp_tx_rst)))
[ "$rst" -ge 1 ] || fail "the stack sent no RST (tcp_tx_rst +$rst)"
ok "kernel-side sender saw a reset ($(cut -d' ' -f2 "$T_TMP/sender1.out"), tcp_tx_rst +$rst) ${el} ms after the receiver under the shim was killed"
wait_ipc_socks "$base_ipc" 10
[ "$(stack_socks)" -le "$base_socks" ] || fail "stack sockets: $(stack_socks), were $base_socks"
ok "ipc_sockets back to $base_ipc, stack sockets back to $base_socks"

# 2. sender killed
ip netns exec "$NS" timeout 30 nc -l "$HOST_IP" 8891 >/dev/null &
PIDS+=($!)
kpid=$!
wait_kernel_listen 8891
shim_bg nc "$HOST_IP" 8891 </dev/zero &
PIDS+=($!)
spid=$!
sleep 1
kill -KILL "$spid"
t0=$(now_ns)
wait "$kpid" || true
el=$((($(now_ns) - t0) / 1000000))
[ "$el" -lt 5000 ] || fail "kernel-side receiver took $el ms to see the end"
ok "kernel-side receiver saw the end ${el} ms after the sender under the shim was killed"
wait_ipc_socks "$base_ipc" 10
ok "ipc_sockets back to $base_ipc (lingered: $(ipc_ctr socks_lingered))"

# 3. ustackd killed mid-transfer
ip netns exec "$NS" timeout 30 nc -l "$HOST_IP" 8892 >/dev/null &
PIDS+=($!)
wait_kernel_listen 8892
shim_bg timeout 30 nc "$HOST_IP" 8892 </dev/zero 2>"$T_TMP/nc3.err" &
PIDS+=($!)
cpid=$!
sleep 1
alive "$cpid" || fail "nc under the shim ended before ustackd was killed"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
forget_pid "$DPID"
t0=$(now_ns)
rc=0
wait "$cpid" || rc=$?
el=$((($(now_ns) - t0) / 1000000))
[ "$rc" -ne 124 ] || fail "nc under the shim hung after ustackd died"
[ "$el" -lt 3000 ] || fail "nc under the shim took $el ms to notice ustackd's death"
ok "nc under the shim exited (status $rc) ${el} ms after ustackd was killed"

# kill_daemon_watch PID: SIGKILL ustackd, then watch PID (polled every
# 10 ms, for up to 10 s); sets el to the ms from the kill to PID's end (or
# to the end of the watch).
kill_daemon_watch() {
	local t0 i
	t0=$(now_ns)
	kill -KILL "$DPID"
	for ((i = 0; i < 1000; i++)); do
		alive "$1" || break
		sleep 0.01
	done
	el=$((($(now_ns) - t0) / 1000000))
	wait "$DPID" 2>/dev/null || true
	forget_pid "$DPID"
}

# 3b. ustackd (restarted) killed during a curl download
start_daemon
mkdir -p "$T_TMP/www"
truncate -s 8G "$T_TMP/www/huge.bin"
(cd "$T_TMP/www" && exec ip netns exec "$NS" timeout 60 "$PY" -m http.server --bind "$HOST_IP" 8000) \
	>"$T_TMP/http.log" 2>&1 &
PIDS+=($!)
wait_kernel_listen 8000
shim_bg timeout 60 curl -sS -o /dev/null "http://$HOST_IP:8000/huge.bin" 2>"$T_TMP/curl3.err" &
PIDS+=($!)
cpid=$!
for ((i = 0; i < 100; i++)); do
	[ "$(ipc_ctr sockets)" -gt 0 ] && break
	sleep 0.05
done
sleep 1
alive "$cpid" || fail "curl under the shim ended before ustackd was killed: $(cat "$T_TMP/curl3.err")"
[ "$(ipc_ctr sockets)" -gt 0 ] || fail "curl under the shim has no ustack socket"
kill_daemon_watch "$cpid"
alive "$cpid" && fail "curl under the shim still runs $el ms after ustackd was killed"
rc=0
wait "$cpid" || rc=$?
forget_pid "$cpid"
[ "$rc" -ne 0 ] || fail "curl under the shim exited 0 after ustackd was killed mid-download"
[ "$rc" -ne 124 ] || fail "curl under the shim hung until its timeout"
[ "$el" -le 1000 ] || fail "curl under the shim exited $el ms after ustackd was killed (bound 1000 ms)"
grep -q '^curl: ([0-9]*) ' "$T_TMP/curl3.err" || fail "curl printed no error of its own: $(cat "$T_TMP/curl3.err")"
[ "$(grep -c '^libustack:' "$T_TMP/curl3.err")" -eq 1 ] ||
	fail "expected exactly one libustack line: $(cat "$T_TMP/curl3.err")"
grep -q "^libustack: lost ustackd at $SOCK" "$T_TMP/curl3.err" ||
	fail "the libustack line does not say that ustackd was lost: $(cat "$T_TMP/curl3.err")"
ok "curl under the shim exited (status $rc) ${el} ms after ustackd was killed mid-download"
while read -r l; do ok "stderr: $l"; done <"$T_TMP/curl3.err"

# 3c. ustackd (restarted) killed while a program sleeps in a blocking
# recv(): that sleep starts on the socket's futex word, which cannot see
# ustackd die (shim_wait_quick), so it is short and the wait moves to the
# channel, where the hang-up is seen: the program must get its error within
# 1 s too.
start_daemon
ip netns exec "$NS" timeout 30 "$PY" -c '
import socket, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_IP"'", 8893))
l.listen(1)
c, _ = l.accept()
time.sleep(25)
' &
PIDS+=($!)
wait_kernel_listen 8893
shim_bg timeout 30 "$PY" -c '
import socket, sys
s = socket.create_connection(("'"$HOST_IP"'", 8893))
print("connected", flush=True)
try:
    s.recv(10)
except OSError as e:
    print("recv:", e.strerror, flush=True)
    sys.exit(3)
print("recv returned", flush=True)
' >"$T_TMP/rb.out" 2>"$T_TMP/rb.err" &
PIDS+=($!)
cpid=$!
for ((i = 0; i < 200; i++)); do
	grep -q connected "$T_TMP/rb.out" && break
	sleep 0.05
done
grep -q connected "$T_TMP/rb.out" || fail "the blocking reader under the shim did not connect: $(cat "$T_TMP/rb.err")"
sleep 0.5
alive "$cpid" || fail "the blocking reader under the shim ended before ustackd was killed"
kill_daemon_watch "$cpid"
alive "$cpid" && fail "the blocking reader still waits $el ms after ustackd was killed"
rc=0
wait "$cpid" || rc=$?
forget_pid "$cpid"
[ "$rc" -eq 3 ] || fail "the blocking reader exited $rc, not with recv's error: $(cat "$T_TMP/rb.out" "$T_TMP/rb.err")"
[ "$el" -le 1000 ] || fail "the blocking reader got its error $el ms after ustackd was killed (bound 1000 ms)"
ok "a blocking recv() under the shim failed ${el} ms after ustackd was killed: $(grep recv: "$T_TMP/rb.out")"

# 4. ustackd not running
rc=0
err=$(shim timeout 10 nc -w 1 "$HOST_IP" 8892 2>&1 </dev/null) || rc=$?
[ "$rc" -ne 0 ] || fail "nc under the shim succeeded without ustackd"
grep -q "libustack: cannot reach ustackd at $SOCK" <<<"$err" || fail "no clear error: $err"
[ "$(grep -c libustack <<<"$err")" -eq 1 ] || fail "more than one libustack line: $err"
ok "without ustackd: '$(grep libustack <<<"$err")'"
out=$(shim timeout 10 "$PY" -c '
import socket
try:
    socket.socket()
except OSError as e:
    print("errno", e.errno)
' 2>/dev/null) || true
[ "$out" = "errno 2" ] || [ "$out" = "errno 111" ] || fail "python socket() without ustackd: $out"
ok "python3 socket() without ustackd: $out (ENOENT: no socket file; ECONNREFUSED: stale)"
