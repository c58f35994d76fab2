#!/usr/bin/env bash
# shim_limits.sh - one user cannot take ustackd from the others
# (--user-sessions, --user-sockets), and the per-process socket limit.
# ustackd runs with --user-sessions 3 --user-sockets 20; its control
# socket is open to group 65534 so that a second user (setpriv 65534) can
# use it too.  Asserts:
#  - three root programs under the shim hold a session each (and
#    `ustackctl users` shows uid 0 with 3 sessions, 3 sockets); a fourth
#    root program's socket() fails with ENOBUFS (counted in
#    ipc_user_sess_refused), while a program of user 65534 connects and
#    echoes; once one of the three exits, the fourth's socket() works;
#  - a root program gets exactly 20 sockets, the 21st socket() fails with
#    ENOBUFS (ipc_user_socks_refused); user 65534 still gets its own 20;
#  - a root listener at the limit: a kernel-side connection waits in the
#    queue (accept() fails with ENOBUFS, nothing is reset), and is
#    accepted with its data once the program closed a socket;
#  - 100 connections to the control socket held open without a word (by
#    user 65534) do not keep a program off: the oldest silent ones are
#    closed (ctl_evicted), the program's session and echo go through;
#  - bad values of the options: exit status 2 and one line.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd setpriv timeout ss socat
[ -x "$PY" ] || skip "$PY is missing"
for bad in "--user-sessions 0" "--user-sessions 1025" "--user-sockets 0" "--user-sockets x"; do
	rc=0
	# shellcheck disable=SC2086
	"$USTACKD" $bad >"$T_TMP/bad.out" 2>&1 || rc=$?
	[ "$rc" -eq 2 ] || fail "ustackd $bad exited $rc, expected 2"
	grep -q "^ustackd: --user-" "$T_TMP/bad.out" || fail "ustackd $bad said: $(cat "$T_TMP/bad.out")"
done
ok "bad --user-sessions/--user-sockets values: exit 2 with one line"
chmod 0711 "$T_TMP"
start_daemon --socket-group 65534 --user-sessions 3 --user-sockets 20
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

ns_bg timeout 120 socat "TCP-LISTEN:7700,bind=$HOST_IP,reuseaddr,fork" EXEC:cat &
PIDS+=($!)
wait_kernel_listen 7700

cat >"$T_TMP/lim.py" <<'PYEOF'
import errno, socket, sys, time
mode, host = sys.argv[1], sys.argv[2]

def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))

if mode == 'hold':  # one socket (a session), then wait for stdin to close
    s = socket.socket()
    print('holding', flush=True)
    sys.stdin.read()
elif mode == 'one':  # socket(): ok or the errno; with 'retry', for 5 s
    end = time.monotonic() + (5 if len(sys.argv) > 3 else 0)
    while True:
        try:
            s = socket.socket()
            break
        except OSError as e:
            if time.monotonic() >= end:
                print('errno', name(e))
                sys.exit(0)
            time.sleep(0.1)
    s.connect((host, 7700))
    s.sendall(b'hello')
    print('ok', s.recv(5).decode())
elif mode == 'many':  # sockets until one fails
    socks = []
    try:
        while len(socks) < 100:
            socks.append(socket.socket())
        print('all', len(socks))
    except OSError as e:
        print('got', len(socks), 'then', name(e))
elif mode == 'listen':  # a listener at the limit
    lis = socket.socket()
    lis.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lis.bind(('0.0.0.0', 7701))
    lis.listen(4)
    fill = []
    try:
        while True:
            fill.append(socket.socket())
    except OSError as e:
        print('filled', len(fill) + 1, name(e), flush=True)
    sys.stdin.readline()  # the kernel side has connected and sent
    lis.settimeout(3)
    try:
        lis.accept()
        print('accept gave a connection at the limit')
        sys.exit(1)
    except OSError as e:
        print('accept at the limit', name(e), flush=True)
    fill.pop().close()
    # ustackd sees the close when the channel hangs up (its next loop
    # round): until then the room is not back.
    lis.settimeout(5)
    end = time.monotonic() + 5
    while True:
        try:
            c, _ = lis.accept()
            break
        except OSError as e:
            if e.errno != errno.ENOBUFS or time.monotonic() > end:
                raise
            time.sleep(0.05)
    c.settimeout(5)
    print('accepted', c.recv(10).decode(), flush=True)
PYEOF
chmod 0644 "$T_TMP/lim.py"

# 1. sessions per user
holders=()
for i in 1 2 3; do
	mkfifo "$T_TMP/h$i"
	shim_bg timeout 60 "$PY" "$T_TMP/lim.py" hold "$HOST_IP" <"$T_TMP/h$i" >"$T_TMP/h$i.out" 2>&1 &
	PIDS+=($!)
	holders+=($!)
done
# The write ends only now: a holder started later would inherit them, and
# a holder exits when its fifo has no writer left.
for i in 1 2 3; do
	exec {fd}>"$T_TMP/h$i"
	eval "hfd$i=$fd"
done
for i in 1 2 3; do
	for _ in $(seq 50); do grep -q holding "$T_TMP/h$i.out" && break; sleep 0.1; done
	grep -q holding "$T_TMP/h$i.out" || fail "holder $i did not get its session: $(cat "$T_TMP/h$i.out")"
done
users=$("$USTACKCTL" --socket "$SOCK" users)
grep -qx 'uid sessions sockets (limits 3 20)' <<<"$users" || fail "ustackctl users header: $users"
grep -qx '0 3 3' <<<"$users" || fail "ustackctl users does not show root's 3 sessions and 3 sockets: $users"
r0=$(ipc_ctr user_sess_refused)
out=$(shim timeout 20 "$PY" "$T_TMP/lim.py" one "$HOST_IP" 2>/dev/null) || fail "the fourth root program failed: $out"
[ "$out" = "errno ENOBUFS" ] || fail "the fourth root program's socket(): '$out', expected ENOBUFS"
[ "$(($(ipc_ctr user_sess_refused) - r0))" -ge 1 ] || fail "ipc_user_sess_refused did not grow"
out=$(shim "${NOBODY[@]}" timeout 20 "$PY" "$T_TMP/lim.py" one "$HOST_IP") || fail "user 65534's program failed: $out"
[ "$out" = "ok hello" ] || fail "user 65534 while root is at its limit: '$out'"
ok "3 root programs hold their sessions ('ustackctl users': 0 3 3): a 4th gets ENOBUFS from socket() (ipc_user_sess_refused), user 65534 connects and echoes"
# shellcheck disable=SC2154
exec {hfd1}>&-
out=$(shim timeout 20 "$PY" "$T_TMP/lim.py" one "$HOST_IP" retry 2>/dev/null) || fail "the fourth root program failed: $out"
[ "$out" = "ok hello" ] || fail "after a holder exited, the fourth root program: '$out'"
ok "once one of them exited, the 4th root program got its session and echoed"
# shellcheck disable=SC2154
exec {hfd2}>&- {hfd3}>&-
for p in "${holders[@]}"; do
	wait "$p" 2>/dev/null || true
	forget_pid "$p"
done
wait_ipc_socks 0 10 || fail "sockets left after the holders exited: $(ipc_ctr sockets)"

# 2. sockets per user
s0=$(ipc_ctr user_socks_refused)
out=$(shim timeout 20 "$PY" "$T_TMP/lim.py" many "$HOST_IP") || fail "many sockets: $out"
[ "$out" = "got 20 then ENOBUFS" ] || fail "root's sockets: '$out', expected 'got 20 then ENOBUFS'"
[ "$(($(ipc_ctr user_socks_refused) - s0))" -ge 1 ] || fail "ipc_user_socks_refused did not grow"
wait_ipc_socks 0 10 || fail "sockets left: $(ipc_ctr sockets)"
mkfifo "$T_TMP/keep"
shim_bg timeout 60 "$PY" "$T_TMP/lim.py" hold "$HOST_IP" <"$T_TMP/keep" >/dev/null 2>&1 &
PIDS+=($!)
kp=$!
exec {kfd}>"$T_TMP/keep"
out=$(shim "${NOBODY[@]}" timeout 20 "$PY" "$T_TMP/lim.py" many "$HOST_IP") || fail "user 65534: $out"
[ "$out" = "got 20 then ENOBUFS" ] || fail "user 65534's sockets while root holds one: '$out'"
exec {kfd}>&-
wait "$kp" 2>/dev/null || true
forget_pid "$kp"
ok "a root program gets exactly 20 sockets, the 21st fails with ENOBUFS (ipc_user_socks_refused); user 65534 has its own 20"

# 3. a listener at the limit: the connection waits, nothing is reset
wait_ipc_socks 0 10 || fail "sockets left: $(ipc_ctr sockets)"
mkfifo "$T_TMP/lctl"
shim_bg timeout 60 "$PY" "$T_TMP/lim.py" listen "$HOST_IP" <"$T_TMP/lctl" >"$T_TMP/l.out" 2>&1 &
PIDS+=($!)
lp=$!
exec {lfd}>"$T_TMP/lctl"
for _ in $(seq 50); do grep -q filled "$T_TMP/l.out" && break; sleep 0.1; done
grep -q "filled 20 ENOBUFS" "$T_TMP/l.out" || fail "the listener did not fill its 20 sockets: $(cat "$T_TMP/l.out")"
ns_bg timeout 30 sh -c "printf queued; sleep 10" | ns_bg timeout 30 socat - "TCP:$STACK_IP:7701" >"$T_TMP/k.out" 2>&1 &
PIDS+=($!)
kc=$!
sleep 1
echo go >&"$lfd"
rc=0
wait "$lp" || rc=$?
forget_pid "$lp"
exec {lfd}>&-
cat "$T_TMP/l.out"
[ "$rc" -eq 0 ] || fail "the listener program exited $rc"
grep -q "accept at the limit ENOBUFS" "$T_TMP/l.out" || fail "accept() at the limit did not fail with ENOBUFS"
grep -q "accepted queued" "$T_TMP/l.out" || fail "the waiting connection was not accepted with its data"
kill "$kc" 2>/dev/null || true
wait "$kc" 2>/dev/null || true
forget_pid "$kc"
ok "a listener at the limit: accept() said ENOBUFS, the kernel's connection waited and came with its data once a socket was closed"

# 4. connections to the control socket held open without a word
cat >"$T_TMP/silent.py" <<'PYEOF'
import socket, sys, time
conns = []
for _ in range(100):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.connect(sys.argv[1])
    conns.append(c)
print('holding', len(conns), flush=True)
time.sleep(float(sys.argv[2]))
PYEOF
chmod 0644 "$T_TMP/silent.py"
ev() { "$USTACKCTL" --socket "$SOCK" counters | awk '$1 == "ctl_evicted" { print $2 }'; }
e0=$(ev)
ns_bg "${NOBODY[@]}" timeout 30 "$PY" "$T_TMP/silent.py" "$SOCK" 4 >"$T_TMP/silent.out" 2>&1 &
PIDS+=($!)
sp=$!
for _ in $(seq 50); do grep -q holding "$T_TMP/silent.out" && break; sleep 0.1; done
grep -q "holding 100" "$T_TMP/silent.out" || fail "the silent client did not open 100 connections: $(cat "$T_TMP/silent.out")"
out=$(shim timeout 20 "$PY" "$T_TMP/lim.py" one "$HOST_IP" 2>&1) || fail "a program while 100 silent connections are open: $out"
[ "$out" = "ok hello" ] || fail "a program while 100 silent connections are open: '$out'"
evicted=$(($(ev) - e0))
[ "$evicted" -ge 36 ] || fail "ctl_evicted grew by $evicted for 100 silent connections (at most 64 wait)"
kill "$sp" 2>/dev/null || true
wait "$sp" 2>/dev/null || true
forget_pid "$sp"
ok "100 control connections held open without a word by user 65534: the oldest gave way (ctl_evicted +$evicted), a program's session and echo went through"

wait_ipc_socks 0 10 || fail "sockets left at the end: $(ipc_ctr sockets)"
assert_alive
stop_daemon
