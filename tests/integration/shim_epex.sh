#!/usr/bin/env bash
# shim_epex.sh - EPOLLEXCLUSIVE under libustack.so (tests/integration/
# shim_epex.c, argument 4): four forked workers wait on one listener, each
# in an epoll fd of its own, as nginx's do; a kernel-side client makes 20
# connections 100 ms apart.  Every connection is accepted once either way;
# with EPOLLEXCLUSIVE a connection wakes one worker, without it all four
# (the herd is measured as the workers' wake-ups from the kernel).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
PROG=${4:-}
shim_setup
need_cmd python3 timeout
[ -x "$PROG" ] || fail "shim_epex program not found (argument 4): $PROG"
start_daemon

N=20
run() { # EXCLUSIVE PORT -> sets WAKES
	local port=$2 pid i
	shim_bg timeout 60 "$PROG" "$port" 4 "$1" "$N" >"$T_TMP/out.$1" 2>&1 &
	PIDS+=($!)
	pid=$!
	for ((i = 0; i < 200; i++)); do
		grep -q listening "$T_TMP/out.$1" && break
		alive "$pid" || break
		sleep 0.1
	done
	grep -q listening "$T_TMP/out.$1" || { cat "$T_TMP/out.$1" >&2; fail "shim_epex did not listen"; }
	ns timeout 30 python3 -c '
import socket, sys, time
for i in range(int(sys.argv[3])):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    time.sleep(0.1)
    s.close()
' "$STACK_IP" "$port" "$N" || fail "kernel-side client failed"
	wait "$pid" || { cat "$T_TMP/out.$1" >&2; fail "shim_epex (exclusive $1) failed"; }
	grep -q PASS "$T_TMP/out.$1" || fail "shim_epex printed no PASS"
	WAKES=$(awk '/^accepted/ { print $4 }' "$T_TMP/out.$1")
	log "exclusive $1: $(grep '^accepted' "$T_TMP/out.$1")"
}
run 0 7301
herd=$WAKES
run 1 7302
excl=$WAKES
# Without it each connection wakes all four (~80 in all), with it one
# (~20); both runs add the shim's once-a-second look at every member and
# the final stop (~15).
[ "$herd" -ge $((3 * N)) ] || fail "without EPOLLEXCLUSIVE only $herd wake-ups for $N connections and 4 workers: the test cannot tell"
[ "$excl" -lt $((3 * N)) ] && [ $((2 * excl)) -le "$herd" ] ||
	fail "with EPOLLEXCLUSIVE $excl wake-ups for $N connections (without: $herd)"
ok "$N connections, 4 workers: $herd wake-ups without EPOLLEXCLUSIVE, $excl with it"
wait_ipc_socks 0 10
assert_alive
