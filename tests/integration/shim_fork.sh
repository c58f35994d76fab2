#!/usr/bin/env bash
# shim_fork.sh - several writers on one ustack socket
# (tests/integration/shim_fork.c, argument 4, run under libustack.so):
#  - fork after connect, parent and child each write 10 MiB (x
#    USTACK_TEST_SCALE) of tagged records, one write() per record; the
#    kernel-side peer's copy must be nothing but intact records, each
#    writer's in order (the shared ring lock of shim/ipc.h);
#  - one thread writes 16 MiB (x scale) while another reads 16 MiB from
#    the kernel peer at the same time, both streams checked.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
PROG=${4:-${SHIM_FORK:-}}
shim_setup
need_cmd socat nc timeout ss
[ -x "$PROG" ] || fail "shim_fork program not found (argument 4): $PROG"
start_daemon
# Background peers: `exec` so that $! is the program itself (cleanup kills it).
scale=${USTACK_TEST_SCALE:-1}
MIB_FORK=$(awk -v s="$scale" 'BEGIN { print 10 * s }')
MIB_RW=$(awk -v s="$scale" 'BEGIN { print 16 * s }')

# fork after connect, both writing
ns_bg timeout 120 nc -l "$HOST_IP" 7500 >"$T_TMP/rx" &
PIDS+=($!)
kpid=$!
wait_kernel_listen 7500
shim timeout 120 "$PROG" fork "$HOST_IP" 7500 "$MIB_FORK" >"$T_TMP/fork.out" 2>&1 ||
	{ cat "$T_TMP/fork.out" >&2; fail "fork writers failed"; }
rc=0
wait "$kpid" || rc=$?
forget_pid "$kpid"
[ "$rc" -eq 0 ] || fail "kernel-side nc -l exited $rc"
cat "$T_TMP/fork.out"
"$PROG" verify "$T_TMP/rx" "$MIB_FORK" >"$T_TMP/verify.out" 2>&1 ||
	{ cat "$T_TMP/verify.out" >&2; fail "the peer's stream is not two intact record sequences"; }
cat "$T_TMP/verify.out"
ok "fork after connect: parent and child wrote $MIB_FORK MiB each; every record arrived intact and in order"

# one thread reads while another writes: the kernel peer connects, sends
# its own stream and saves ours (two independent directions).  Not an echo
# loop: a stall of the stack's receive window updates (see the report)
# would hang an echo through socat|cat.
"$PROG" gen "$MIB_RW" >"$T_TMP/kin" || fail "cannot generate the peer's stream"
shim_bg timeout 120 "$PROG" rw 7501 "$MIB_RW" >"$T_TMP/rw.out" 2>&1 &
PIDS+=($!)
rpid=$!
wait_stack_listen 7501
ns_bg timeout 120 socat -t 60 "TCP:$STACK_IP:7501" "OPEN:$T_TMP/kin,rdonly!!CREATE:$T_TMP/kout" &
PIDS+=($!)
spid=$!
rc=0
wait "$rpid" || rc=$?
forget_pid "$rpid"
cat "$T_TMP/rw.out"
[ "$rc" -eq 0 ] && grep -q '^rw ok' "$T_TMP/rw.out" || fail "reader/writer threads failed (exit $rc)"
rc=0
wait "$spid" || rc=$?
forget_pid "$spid"
[ "$rc" -eq 0 ] || fail "kernel-side socat exited $rc"
"$PROG" check "$MIB_RW" <"$T_TMP/kout" || fail "the peer did not get the program's stream intact"
ok "one thread wrote $MIB_RW MiB while another read $MIB_RW MiB, both streams intact"

wait_ipc_socks 0 10
ok "every IPC socket released"
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
