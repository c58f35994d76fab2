#!/usr/bin/env bash
# shim_exec.sh - ustack sockets across execve, SCM_RIGHTS, posix_spawn and
# vfork (tests/integration/shim_exec.c, argument 4, run under libustack.so;
# the exec'd images adopt the sockets with IPC_ATTACH, see shim/ipc.h):
#  (a) inetd style: accept, dup2 onto 0 and 1, exec cat; the kernel client
#      gets its bytes back byte-exact (sha256);
#  (b) close-on-exec five ways (SOCK_CLOEXEC, F_SETFD, dup3 O_CLOEXEC,
#      F_DUPFD_CLOEXEC, accept4 SOCK_CLOEXEC): gone after exec and the peer
#      sees end-of-file; a sixth fd without it is used after exec;
#  (c) a socket passed with SCM_RIGHTS to another program, whose sender
#      closed its copy, carries a record there and back;
#  (d) posix_spawn and vfork children write on an inherited socket; the
#      vfork parent's fd table is intact;
#  (e) close_range (plain, CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC) and
#      closefrom keep the shim's fd table right;
#  (e2) a program that closes every number it does not know (a close()
#      loop: EBADF for each, closefrom, close_range) and dup2s onto the
#      shim's own numbers keeps its epoll and can still make sockets;
#  (f) the shared memory of an accepted socket closed in its own process
#      goes back to the listener's pool, that of one handed to another
#      image does not (ipc_pool_slots, ipc_pool_reused).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
PROG=${4:-${SHIM_EXEC:-}}
shim_setup
need_cmd socat nc timeout ss sha256sum cat
[ -x "$PROG" ] || fail "shim_exec program not found (argument 4): $PROG"
PROG=$(cd "$(dirname "$PROG")" && pwd)/$(basename "$PROG")
# What a stock program exec'd by the helper (cat) must preload.
export SHIM_EXEC_PRELOAD=$PRELOAD
start_daemon
# Background peers: `exec` so that $! is the program itself (cleanup kills it).

# (a) inetd style
SIZE=$(awk -v s="${USTACK_TEST_SCALE:-1}" 'BEGIN { printf "%d", 8 * 1048576 * s }')
head -c "$SIZE" /dev/urandom >"$T_TMP/data"
want=$(sha256sum <"$T_TMP/data" | cut -d' ' -f1)
shim_bg timeout 60 "$PROG" inetd 7400 cat >"$T_TMP/inetd.out" 2>"$T_TMP/inetd.err" &
PIDS+=($!)
ipid=$!
wait_stack_listen 7400
ns timeout 60 nc -N "$STACK_IP" 7400 <"$T_TMP/data" >"$T_TMP/back" ||
	fail "kernel-side nc to the inetd-style cat failed"
rc=0
wait "$ipid" || rc=$?
forget_pid "$ipid"
[ "$rc" -eq 0 ] || fail "inetd helper / cat exited $rc: $(cat "$T_TMP/inetd.err")"
got=$(sha256sum <"$T_TMP/back" | cut -d' ' -f1)
[ "$got" = "$want" ] ||
	fail "inetd-style cat echoed $(stat -c %s "$T_TMP/back") of $SIZE bytes, sha256 differs"
ok "(a) inetd style: cat exec'd on an accepted socket (fds 0 and 1) echoed $SIZE bytes byte-exact"

# (b) close-on-exec
ns_bg timeout 60 "$PY" "$T_DIR/shim_exec_peer.py" "$HOST_IP" 7401 "$STACK_IP" 7402 \
	>"$T_TMP/peer.out" 2>&1 &
PIDS+=($!)
ppid_=$!
wait_kernel_listen 7401
shim timeout 60 "$PROG" cloexec "$HOST_IP" 7401 7402 "$PROG" >"$T_TMP/cl.out" 2>&1 ||
	{ cat "$T_TMP/cl.out" >&2; fail "cloexec helper failed"; }
rc=0
wait "$ppid_" || rc=$?
forget_pid "$ppid_"
cat "$T_TMP/cl.out" "$T_TMP/peer.out"
[ "$rc" -eq 0 ] && grep -q '^peer ok' "$T_TMP/peer.out" || fail "the peer did not see what close-on-exec promises"
grep -q '^check ok' "$T_TMP/cl.out" || fail "the exec'd checker did not pass"
ok "(b) close-on-exec (socket, F_SETFD, dup3, F_DUPFD_CLOEXEC, accept4): gone after exec, peer saw EOF; an inherited fd worked after exec"

# (c) SCM_RIGHTS, (d) posix_spawn and vfork: against a kernel echo server
ns_bg timeout 120 socat "TCP-LISTEN:7403,bind=$HOST_IP,reuseaddr,fork" EXEC:cat &
PIDS+=($!)
wait_kernel_listen 7403
shim timeout 60 "$PROG" pass "$HOST_IP" 7403 "$PROG" >"$T_TMP/pass.out" 2>&1 ||
	{ cat "$T_TMP/pass.out" >&2; fail "SCM_RIGHTS case failed"; }
cat "$T_TMP/pass.out"
grep -q '^recvfd ok' "$T_TMP/pass.out" && grep -q '^pass ok' "$T_TMP/pass.out" ||
	fail "SCM_RIGHTS case did not report success"
ok "(c) a socket passed with SCM_RIGHTS (sender's copy closed) carried a record both ways"

shim timeout 60 "$PROG" spawn "$HOST_IP" 7403 "$PROG" >"$T_TMP/spawn.out" 2>&1 ||
	{ cat "$T_TMP/spawn.out" >&2; fail "posix_spawn case failed"; }
grep -q '^spawn ok' "$T_TMP/spawn.out" || fail "posix_spawn case did not report success"
ok "(d) a posix_spawn child wrote on an inherited socket; the echo held its line, then the parent's"

shim timeout 60 "$PROG" vfork "$HOST_IP" 7403 "$PROG" >"$T_TMP/vfork.out" 2>&1 ||
	{ cat "$T_TMP/vfork.out" >&2; fail "vfork case failed"; }
cat "$T_TMP/vfork.out"
grep -q '^vfork parent stdout intact' "$T_TMP/vfork.out" && grep -q '^vfork ok' "$T_TMP/vfork.out" ||
	fail "vfork case: the parent's stdout or the echo was wrong"
ok "(d) a vfork child dup2'd the socket onto 1 and exec'd a writer; the parent's fd table stayed intact"

# (e) close_range / closefrom
shim timeout 60 "$PROG" closerange "$HOST_IP" 7403 >"$T_TMP/cr.out" 2>&1 ||
	{ cat "$T_TMP/cr.out" >&2; fail "close_range case failed"; }
grep -q '^closerange ok' "$T_TMP/cr.out" || fail "close_range case did not report success"
ok "(e) close_range (plain, UNSHARE) and closefrom: the numbers, reused by a pipe, are kernel fds again; CLOSE_RANGE_CLOEXEC left a working socket"

# (e2) a program that sweeps numbers it never opened
shim timeout 60 "$PROG" sweep "$HOST_IP" 7403 >"$T_TMP/sw.out" 2>&1 ||
	{ cat "$T_TMP/sw.out" >&2; fail "sweep case failed"; }
grep -q '^sweep ok' "$T_TMP/sw.out" || fail "sweep case did not report success"
ok "(e2) close() over every unknown number (EBADF for each, as Linux), closefrom, close_range and dup2 onto the shim's own numbers: its control connection and inner epoll kept working ($(grep -o '[0-9]* numbers' "$T_TMP/sw.out"))"

# (f) pooled shared memory does not follow a socket to another image
wait_ipc_socks 0 10
mkfifo "$T_TMP/pa.ctl"
shim_bg timeout 60 "$PROG" passacc 7410 "$PROG" <"$T_TMP/pa.ctl" >"$T_TMP/pa.out" 2>&1 &
PIDS+=($!)
papid=$!
exec 7>"$T_TMP/pa.ctl"
wait_stack_listen 7410
# pa_step WHAT: a kernel-side client echoes what the helper sends, then
# the helper reports WHAT and the accepted socket is gone (listener left).
pa_step() {
	local i
	ns timeout 20 socat "TCP:$STACK_IP:7410" EXEC:cat ||
		fail "kernel-side socat to the passacc helper failed: $(cat "$T_TMP/pa.out")"
	for ((i = 0; i < 100; i++)); do
		grep -q "^$1 ok" "$T_TMP/pa.out" && break
		sleep 0.1
	done
	grep -q "^$1 ok" "$T_TMP/pa.out" || fail "passacc helper: no '$1 ok': $(cat "$T_TMP/pa.out")"
	wait_ipc_socks 1 10
}
pa_step direct
[ "$(ipc_ctr pool_slots)" -eq 1 ] ||
	fail "an accepted socket closed in its own process did not return its memory to the pool (ipc_pool_slots $(ipc_ctr pool_slots))"
r0=$(ipc_ctr pool_reused)
c0=$(ipc_ctr pool_cached)
echo next >&7
pa_step passed
[ "$(ipc_ctr pool_reused)" -gt "$r0" ] || fail "the second accepted socket did not get the pooled memory"
# The helper kept the first socket's mapping (the shim's cache): the
# second accept passed the channel alone (IPC_SI_CACHED).
[ "$(ipc_ctr pool_cached)" -gt "$c0" ] ||
	fail "the second accept sent the memfd again although the process kept the mapping"
[ "$(ipc_ctr pool_slots)" -eq 0 ] ||
	fail "memory of a socket adopted by another program image went back to the pool (ipc_pool_slots $(ipc_ctr pool_slots))"
echo end >&7
exec 7>&-
rc=0
wait "$papid" || rc=$?
forget_pid "$papid"
[ "$rc" -eq 0 ] || fail "passacc helper exited $rc: $(cat "$T_TMP/pa.out")"
ok "(f) an accepted socket's memory went back to the listener's pool; after the next one was handed to another image (IPC_ATTACH) it did not"

wait_ipc_socks 0 10
ok "every IPC socket released (ipc_socks_closed $(ipc_ctr socks_closed))"
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is $(ipc_ctr bad_msgs), not 0"
assert_alive
stop_daemon
