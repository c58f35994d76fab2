#!/usr/bin/env bash
# cli.sh - bad command lines: every bad flag gives one "ustackd:" error line
# and exit status 2; a device name that is taken gives a clear error and
# exit 1; no privilege gives a clear error; ustackctl without a daemon gives
# a clear error and exit 1.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup

# expect_usage_error ARGS...: exit 2, exactly one stderr line "ustackd: ...".
expect_usage_error() {
	local rc=0 lines
	timeout 10 ip netns exec "$NS" "$USTACKD" --foreground --socket "$T_TMP/bad.sock" "$@" \
		>"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
	lines=$(wc -l <"$T_TMP/err")
	if [ "$rc" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -q '^ustackd: ' "$T_TMP/err"; then
		echo "--- stderr ---" >&2
		cat "$T_TMP/err" >&2
		fail "ustackd $*: exit $rc with $lines stderr line(s); expected exit 2 and one 'ustackd:' line"
	fi
	[ ! -s "$T_TMP/out" ] || fail "ustackd $*: printed on stdout: $(head -n 3 "$T_TMP/out")"
	ok "ustackd $* -> exit 2: $(cat "$T_TMP/err")"
}

expect_usage_error --no-such-flag
expect_usage_error --mode
expect_usage_error --mode ethernet
expect_usage_error --addr 10.77.0.300/24
expect_usage_error --addr 10.77.0.2/33
expect_usage_error --addr banana/24
expect_usage_error --addr ""
expect_usage_error --gateway 10.77.0.1/24
expect_usage_error --gateway not-an-address
expect_usage_error --host-addr 10.77.0.1/99
expect_usage_error --mtu 0
expect_usage_error --mtu 10
expect_usage_error --mtu 70000
expect_usage_error --mtu 1500x
expect_usage_error --mtu -1
expect_usage_error --time-wait 0
expect_usage_error --time-wait 601
expect_usage_error --time-wait 1m
expect_usage_error --offload maybe
expect_usage_error --tcp-mem 15
expect_usage_error --tcp-mem 1g
expect_usage_error --busy-poll 10001
expect_usage_error --busy-poll -1
expect_usage_error --busy-poll fast
expect_usage_error --cpu 1024
expect_usage_error --cpu -1
expect_usage_error --cpu first
expect_usage_error --fault delay=10001
expect_usage_error --fault delay=-1
expect_usage_error --fault delay=20ms
expect_usage_error --fault delay=1,delay=2
expect_usage_error --fault drop=101
expect_usage_error --fault bogus=1
expect_usage_error --mtu ""
expect_usage_error --ifname ""
expect_usage_error --ifname this-name-is-way-too-long
expect_usage_error --services bogus
expect_usage_error --services echo,nonsense
expect_usage_error --socket ""
expect_usage_error --socket "/tmp/$(printf 'x%.0s' $(seq 1 120)).sock"
expect_usage_error stray-argument
expect_usage_error --ifname

# Nothing was left behind by the failed starts.
! ns ip -o link show | grep -qv ' lo:' || fail "devices left in the namespace: $(ns ip -o link show)"
ok "no device left behind"

# A device name that already exists: clear error, exit 1.  Both an
# ordinary device and an unowned persistent TAP made by ip-tuntap.
ns ip link add busy0 type dummy 2>/dev/null || ns ip link add busy0 type bridge ||
	fail "cannot create a device to collide with"
ns ip tuntap add busy1 mode tap || fail "cannot create a persistent TAP to collide with"
for dev in busy0 busy1; do
	rc=0
	timeout 10 ip netns exec "$NS" "$USTACKD" --foreground --ifname "$dev" --socket "$T_TMP/busy.sock" \
		>"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
	cat "$T_TMP/err"
	[ "$rc" -ne 124 ] || fail "ustackd --ifname $dev (already exists) started and ran"
	[ "$rc" -eq 1 ] || fail "ustackd --ifname $dev (already exists): exit $rc, expected 1"
	grep -q "^ustackd: .*$dev" "$T_TMP/err" || fail "the error does not name the device $dev"
	[ "$(wc -l <"$T_TMP/err")" -eq 1 ] || fail "expected one error line, got $(wc -l <"$T_TMP/err")"
	ns ip link show "$dev" >/dev/null 2>&1 || fail "the existing device $dev disappeared"
	ok "existing device $dev -> exit 1"
done
ns ip link del busy0
ns ip tuntap del busy1 mode tap

# --cpu: a CPU this process may not run on is a clear error (exit 1);
# one it may is taken (the daemon runs there only).
rc=0
timeout 10 ip netns exec "$NS" "$USTACKD" --foreground --cpu 1023 --socket "$T_TMP/cpu.sock" \
	>"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
cat "$T_TMP/err"
[ "$rc" -eq 1 ] || fail "ustackd --cpu 1023 (no such CPU): exit $rc, expected 1"
grep -q "^ustackd: --cpu 1023: cannot run there" "$T_TMP/err" || fail "--cpu 1023: unclear error"
ok "--cpu 1023 (no such CPU) -> exit 1"
cpu=$(taskset -pc $$ | sed 's/.*: *//; s/[-,].*//')
start_daemon --cpu "$cpu"
[ "$(taskset -pc "$DPID" | sed 's/.*: *//')" = "$cpu" ] || fail "ustackd --cpu $cpu runs on $(taskset -pc "$DPID")"
ping_ok 2 -i 0.2
ok "--cpu $cpu: ustackd runs on CPU $cpu only and answers"
stop_daemon

# A TAP device owned by a running ustackd: the second one fails with exit 1.
start_daemon
rc=0
timeout 10 ip netns exec "$NS" "$USTACKD" --foreground --ifname "$IFNAME" --socket "$T_TMP/second.sock" \
	>"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
cat "$T_TMP/err"
[ "$rc" -eq 1 ] || fail "a second ustackd on $IFNAME: exit $rc, expected 1"
grep -q "^ustackd: .*$IFNAME" "$T_TMP/err" || fail "the error does not name the device $IFNAME"
assert_alive
ping_ok 2 -i 0.2
ok "busy TAP device -> exit 1, first daemon unharmed"

# The control socket path of a running daemon is not silently taken over.
rc=0
timeout 10 ip netns exec "$NS" "$USTACKD" --foreground --ifname ustack1 --addr 10.78.0.2/24 --socket "$SOCK" \
	>"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
cat "$T_TMP/err"
[ "$rc" -ne 124 ] || fail "a second ustackd started and ran with the control socket $SOCK of a running one"
[ "$rc" -ne 0 ] || fail "a second ustackd took over the control socket $SOCK of a running one"
"$USTACKCTL" --socket "$SOCK" counters >/dev/null || fail "the first daemon's control socket no longer works"
ok "control socket in use -> exit $rc, first daemon's socket still works"
# ustackctl with a bad command (daemon running): non-zero, names it.
rc=0
"$USTACKCTL" --socket "$SOCK" no-such-command >"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
cat "$T_TMP/err"
[ "$rc" -ne 0 ] || fail "ustackctl no-such-command exited 0"
grep -q 'no-such-command' "$T_TMP/err" || fail "ustackctl's error does not name the bad command"
ok "ustackctl no-such-command -> exit $rc"
assert_alive

stop_daemon

# Without CAP_NET_ADMIN: a clear error and a non-zero exit.
if command -v setpriv >/dev/null 2>&1; then
	rc=0
	timeout 10 ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps=-all --bounding-set=-all \
		"$USTACKD" --foreground --socket "$T_TMP/nopriv.sock" >"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
	cat "$T_TMP/err"
	[ "$rc" -ne 0 ] || fail "ustackd without privileges exited 0"
	grep -q '^ustackd: ' "$T_TMP/err" || fail "no 'ustackd:' error line without privileges"
	[ "$(wc -l <"$T_TMP/err")" -eq 1 ] || fail "expected one error line without privileges"
	ok "no CAP_NET_ADMIN -> exit $rc"
fi

# ustackctl without a daemon: clear error, exit 1.
rc=0
"$USTACKCTL" --socket "$T_TMP/nobody-here.sock" counters >"$T_TMP/out" 2>"$T_TMP/err" </dev/null || rc=$?
cat "$T_TMP/err"
[ "$rc" -eq 1 ] || fail "ustackctl with no daemon: exit $rc, expected 1"
grep -q '^ustackctl: ' "$T_TMP/err" || fail "ustackctl with no daemon: no 'ustackctl:' error line"
grep -q 'nobody-here.sock' "$T_TMP/err" || fail "ustackctl's error does not name the socket path"
ok "ustackctl with no daemon -> exit 1"

log "PASS"
