#!/usr/bin/env bash
# shim_opts_caps.sh - ports below 1024 under libustack.so follow ip(7):
# CAP_NET_BIND_SERVICE decides, not the uid.  ustackd's control socket is
# given to group nogroup (--socket-group 65534, mode 0660) so that an
# unprivileged program (setpriv uid/gid 65534) can use the stack at all.
# Checks: as 65534 a bind to port 80 (TCP) or 53 (UDP) fails with EACCES
# while 8080 works; with CAP_NET_BIND_SERVICE as an ambient capability the
# bind to 80 works and a kernel-side client is served there; root without
# that capability gets EACCES too.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd setpriv stat nc timeout ss
[ -x "$PY" ] || skip "$PY is missing"
# Bad values of the new options: one line, exit status 2.
for bad in "--socket-mode 0640x" "--socket-mode 0066" "--socket-mode 01777" \
	"--socket-group no-such-group-here"; do
	rc=0
	# shellcheck disable=SC2086
	"$USTACKD" $bad >"$T_TMP/bad.out" 2>&1 || rc=$?
	[ "$rc" -eq 2 ] || fail "ustackd $bad exited $rc, expected 2"
	grep -q "^ustackd: --socket-" "$T_TMP/bad.out" || fail "ustackd $bad said: $(cat "$T_TMP/bad.out")"
done
ok "bad --socket-mode/--socket-group values: exit 2 with one line"
# The test's own temp dir: others may pass through it to the socket.
chmod 0711 "$T_TMP"
start_daemon --socket-group 65534
st=$(stat -c '%a %g' "$SOCK")
[ "$st" = "660 65534" ] || fail "control socket is mode/group '$st', expected '660 65534'"
ok "control socket $SOCK: mode 0660, group 65534 (--socket-group)"

NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
CAPS=(--inh-caps=+net_bind_service --ambient-caps=+net_bind_service)

# try_bind PROTO PORT: "ok PORT" or "errno NAME" from a python bind.
cat >"$T_TMP/bind.py" <<'PYEOF'
import errno, socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == 'tcp' else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # port 80 may be in TIME_WAIT
try:
    s.bind(('0.0.0.0', int(sys.argv[2])))
except OSError as e:
    print('errno', errno.errorcode[e.errno])
    sys.exit(0)
print('ok', s.getsockname()[1])
if len(sys.argv) > 3:  # serve one client
    s.listen(1)
    print('listening', flush=True)
    c, _ = s.accept()
    c.sendall(b'cap-ok\n')
    c.close()
PYEOF
chmod 0644 "$T_TMP/bind.py"
try_bind() { shim "${NOBODY[@]}" "$@"; }

e0=$(ipc_ctr eacces)
out=$(try_bind timeout 20 "$PY" "$T_TMP/bind.py" tcp 80) || fail "python as 65534 failed: $out"
[ "$out" = "errno EACCES" ] || fail "TCP bind to 80 as uid 65534: '$out', expected EACCES"
out=$(try_bind timeout 20 "$PY" "$T_TMP/bind.py" udp 53) || fail "python as 65534 failed: $out"
[ "$out" = "errno EACCES" ] || fail "UDP bind to 53 as uid 65534: '$out', expected EACCES"
out=$(try_bind timeout 20 "$PY" "$T_TMP/bind.py" tcp 8080) || fail "python as 65534 failed: $out"
[ "$out" = "ok 8080" ] || fail "TCP bind to 8080 as uid 65534: '$out'"
[ "$(ipc_ctr eacces)" -eq $((e0 + 2)) ] || fail "ipc_eacces did not count the two refusals"
ok "uid 65534 without CAP_NET_BIND_SERVICE: ports 80/tcp and 53/udp EACCES, 8080 fine"

shim_bg "${NOBODY[@]}" "${CAPS[@]}" timeout 30 "$PY" "$T_TMP/bind.py" tcp 80 serve \
	>"$T_TMP/srv.out" 2>&1 &
spid=$!
PIDS+=("$spid")
for ((i = 0; i < 100; i++)); do
	grep -q '^listening' "$T_TMP/srv.out" && break
	grep -q '^errno' "$T_TMP/srv.out" && break
	alive "$spid" || break
	sleep 0.1
done
grep -q '^ok 80$' "$T_TMP/srv.out" || fail "bind to 80 with CAP_NET_BIND_SERVICE: $(cat "$T_TMP/srv.out")"
got=$(ns timeout 10 nc -N "$STACK_IP" 80 </dev/null) || fail "kernel-side nc to $STACK_IP:80 failed"
[ "$got" = "cap-ok" ] || fail "the server on port 80 said '$got'"
wait "$spid" || fail "the port-80 server exited non-zero: $(cat "$T_TMP/srv.out")"
forget_pid "$spid"
ok "uid 65534 with ambient CAP_NET_BIND_SERVICE: bound port 80 and served a kernel-side client"

out=$(shim setpriv --inh-caps=-net_bind_service --bounding-set=-net_bind_service \
	timeout 20 "$PY" "$T_TMP/bind.py" tcp 80) || fail "python as capless root failed: $out"
[ "$out" = "errno EACCES" ] || fail "TCP bind to 80 as root without the capability: '$out'"
out=$(shim timeout 20 "$PY" "$T_TMP/bind.py" tcp 80) || fail "python as root failed: $out"
[ "$out" = "ok 80" ] || fail "TCP bind to 80 as root: '$out'"
ok "root without CAP_NET_BIND_SERVICE: EACCES; root with it: bound"

wait_ipc_socks 0 10
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
