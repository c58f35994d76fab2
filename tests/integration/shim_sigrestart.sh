#!/usr/bin/env bash
# shim_sigrestart.sh - blocking socket calls interrupted by a signal handler
# (shim_sigrestart.c, argument 4), as signal(7) says the kernel does them:
# with SA_RESTART (sigaction, or signal(2)'s BSD semantics) recv, read and
# accept go on waiting and return the byte or connection that comes later;
# without it (sigaction without the flag, siginterrupt(SIGALRM, 1)), or
# sysv_signal(3) whose handler sets itself again from inside, or
# with SO_RCVTIMEO set on the socket, they fail with EINTR at the signal
# and the byte or connection is still there for the next call.  Also:
# sigaction returns the program's own handler and flags.  The program runs
# with kernel sockets first, then under libustack.so; both must print the
# expected outcome of every case.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119,SC2015
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
PROG=${4:-}
shim_setup
need_cmd timeout
[ -x "$PROG" ] || fail "shim_sigrestart program not found (argument 4): $PROG"
start_daemon

# The kernel-side peer: 'D' -> one byte 600 ms later; 'C' -> a connection
# to the address given on its command line 600 ms later.
peer() {
	ns_bg timeout 60 "$PY" -c '
import socket, sys, threading, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(16)
def serve(c):
    cmd = c.recv(1)
    time.sleep(0.6)
    if cmd == b"D":
        c.sendall(b"x")
    elif cmd == b"C":
        k = socket.create_connection((sys.argv[3], int(sys.argv[4])))
        k.recv(1)
    c.recv(1)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$@"
}

expect="recv-restart data
recv-restart-early data
recv-intr EINTR
recv-restart-rcvtimeo EINTR
read-signal data
read-siginterrupt EINTR
read-restart data
read-sysv EINTR
accept-restart conn
accept-intr EINTR"

# 1. kernel sockets (the program and the peer in the test namespace)
peer "$HOST_IP" 9300 "$HOST_IP" 9301 >/dev/null 2>&1 &
PIDS+=($!)
wait_kernel_listen 9300
out=$(ip netns exec "$NS" timeout 30 "$PROG" "$HOST_IP" 9300 "$HOST_IP" 9301) ||
	fail "shim_sigrestart with kernel sockets failed: $out"
[ "$out" = "$expect" ] || fail "with kernel sockets: got
$out
expected
$expect"
ok "kernel sockets: $(echo "$out" | tr '\n' ',' | sed 's/,$//')"

# 2. the same program under libustack.so
peer "$HOST_IP" 9310 "$STACK_IP" 9311 >/dev/null 2>&1 &
PIDS+=($!)
wait_kernel_listen 9310
out=$(shim timeout 30 "$PROG" "$HOST_IP" 9310 "$STACK_IP" 9311) ||
	fail "shim_sigrestart under the shim failed: $out"
[ "$out" = "$expect" ] || fail "under libustack.so: got
$out
expected (as with kernel sockets)
$expect"
ok "under libustack.so: $(echo "$out" | tr '\n' ',' | sed 's/,$//')"
stop_daemon
