#!/usr/bin/env bash
# shim_poll.sh - poll, select and epoll over a pipe and ustack sockets
# (tests/integration/shim_poll.c, argument 4, run under libustack.so).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
PROG=${4:-${SHIM_POLL:-}}
shim_setup
need_cmd socat nc timeout ss
[ -x "$PROG" ] || fail "shim_poll program not found (argument 4): $PROG"
start_daemon

ns_bg timeout 60 socat "TCP-LISTEN:7100,bind=$HOST_IP,reuseaddr,fork" EXEC:cat &
PIDS+=($!)
wait_kernel_listen 7100
shim_bg timeout 60 "$PROG" "$HOST_IP" 7100 7200 >"$T_TMP/out" 2>&1 &
PIDS+=($!)
ppid_=$!
for ((i = 0; i < 200; i++)); do
	grep -q listening "$T_TMP/out" && break
	alive "$ppid_" || break
	sleep 0.1
done
grep -q listening "$T_TMP/out" || { cat "$T_TMP/out" >&2; fail "shim_poll did not reach the listener step"; }
echo hi | ns timeout 5 nc -N "$STACK_IP" 7200 || true
rc=0
wait "$ppid_" || rc=$?
cat "$T_TMP/out"
[ "$rc" -eq 0 ] && grep -q PASS "$T_TMP/out" || fail "shim_poll exited $rc"
ok "poll, select and epoll over a pipe and ustack sockets"
assert_alive
