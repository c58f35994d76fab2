#!/usr/bin/env bash
# shim_accept.sh - accept() of connections ustackd pushes down a listener's
# socket pair ahead of accept (tests/integration/shim_accept.c, argument 4,
# under libustack.so; shim/ipc.h "Connections pushed to the listener"):
#  - backlog: 40 kernel-side connections wait before the first accept
#    (more than the 16 pushed ahead: the rest come through IPC_ACCEPT);
#    each is accepted exactly once, with its data;
#  - kept: 8 connections wait while the program asks something of the
#    listener (the reply queues behind them: the shim keeps them), a child
#    forked then finds none (not inherited), the parent accepts all 8,
#    and a blocking accept gets one made afterwards;
#  - emfile: 2 connections wait while the program has no descriptor left:
#    accept4 fails with EMFILE (not EAGAIN, not a lost connection); with
#    descriptors again both are accepted with their data.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
PROG=${4:-${SHIM_ACCEPT:-}}
shim_setup
need_cmd timeout ss
[ -x "$PROG" ] || fail "shim_accept program not found (argument 4): $PROG"
[ -x "$PY" ] || skip "$PY is missing"
start_daemon

# connect_n PORT FROM TO: kernel-side connections numbered FROM..TO-1,
# each sends its number and stays open 3 s.
connect_n() {
	ns timeout 20 "$PY" - "$STACK_IP" "$@" <<'PYEOF'
import socket, sys, time
ip, port, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cs = []
for i in range(lo, hi):
    c = socket.create_connection((ip, port), timeout=5)
    c.sendall(b'%d\n' % i)
    cs.append(c)
time.sleep(3)
PYEOF
}

# run_mode MODE PORT N: the program listens; N connections are made; go.
run_mode() {
	local mode=$1 port=$2 n=$3 out=$T_TMP/$1.out
	mkfifo "$T_TMP/$mode.in"
	shim_bg timeout 60 "$PROG" "$mode" "$port" "$n" <"$T_TMP/$mode.in" >"$out" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	exec 7>"$T_TMP/$mode.in"
	wait_stack_listen "$port"
	connect_n "$port" 0 "$n" &
	local cpid=$!
	PIDS+=("$cpid")
	# Every connection established and pushed before the program looks.
	for ((i = 0; i < 50; i++)); do
		[ "$(ipc_ctr pushes)" -ge "$((p0 + (n < 16 ? n : 16)))" ] && break
		sleep 0.1
	done
	echo go >&7
	if [ "$mode" = kept ]; then
		for ((i = 0; i < 100; i++)); do
			grep -q '^more' "$out" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		grep -q '^more' "$out" || fail "shim_accept kept: $(cat "$out")"
		connect_n "$port" "$n" "$((n + 1))" || fail "the last kernel-side connection failed"
	fi
	exec 7>&-
	local rc=0
	wait "$pid" || rc=$?
	forget_pid "$pid"
	wait "$cpid" 2>/dev/null || true
	forget_pid "$cpid"
	[ "$rc" -eq 0 ] || fail "shim_accept $mode exited $rc: $(cat "$out")"
	cat "$out"
}

p0=$(ipc_ctr pushes)
r0=$(ipc_ctr requests)
run_mode backlog 7600 40
pushed=$(($(ipc_ctr pushes) - p0))
[ "$pushed" -ge 16 ] && [ "$pushed" -le 40 ] || fail "ipc_pushes grew by $pushed for 40 connections"
[ "$(ipc_ctr push_failed)" -eq 0 ] || fail "pushes failed: $(ipc_ctr push_failed)"
ok "40 connections waiting: each accepted once with its data ($pushed pushed ahead, the rest through IPC_ACCEPT)"

p0=$(ipc_ctr pushes)
o0=$(ipc_ctr chan_orphaned)
run_mode emfile 7602 2
[ "$(ipc_ctr chan_orphaned)" -eq "$o0" ] || fail "a connection was reset while the program was out of descriptors"
ok "out of descriptors: accept4 failed with EMFILE and lost nothing; both connections accepted with their data afterwards"

p0=$(ipc_ctr pushes)
run_mode kept 7601 8
ok "connections kept by a process that read them off the listener: not inherited by its child, all accepted by it; a blocking accept woke for a later one"
wait_ipc_socks 0 10
assert_alive
stop_daemon
