#!/usr/bin/env bash
# shim_hostile.sh - a program that misbehaves on its socket channels
# (shim_hostile.py speaks shim/ipc.h itself: bad magic, a length field
# that lies, a short record, a reply flag on a request, a no-reply setopt
# of an option that can fail, a payload of the wrong size).  Each bad
# record drops that one socket (its channel reaches end-of-file) and is
# counted (ipc_bad_msgs, ipc_socks_dropped); the same session's next
# socket is still served; IPC_MEMFD is refused unless owed and served once
# after an accept that passed no memfd; IPC_CHAN with a wrong or used token
# is refused, a taken connection whose channel never comes and one left
# when its listener closes are reset; a transfer of another program under the shim
# running meanwhile arrives byte-exact; ustackd stays up.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd nc sha256sum timeout ss
start_daemon

SIZE=$((32 * MiB))
head -c "$SIZE" /dev/urandom >"$T_TMP/data"
want=$(sha256sum <"$T_TMP/data" | cut -d' ' -f1)
ns_bg timeout 60 nc -l "$HOST_IP" 7500 >"$T_TMP/got" &
PIDS+=($!)
kpid=$!
wait_kernel_listen 7500
# Another program under the shim sends at the same time.
shim_bg timeout 60 nc -N "$HOST_IP" 7500 <"$T_TMP/data" &
PIDS+=($!)
spid=$!

b0=$(ipc_ctr bad_msgs)
d0=$(ipc_ctr socks_dropped)
r0=$(ipc_ctr chan_refused)
o0=$(ipc_ctr chan_orphaned)
u0=$(ipc_ctr chan_unaccepted)
out=$(ns timeout 60 "$PY" "$T_DIR/shim_hostile.py" "$SOCK" "$STACK_IP" 2>&1) || fail "shim_hostile.py: $out"
printf '%s\n' "$out" | sed 's/^/    /'
n=$(awk '/^hostile ok/ { print $3 }' <<<"$out")
[ -n "$n" ] || fail "shim_hostile.py did not report success: $out"
bad=$(($(ipc_ctr bad_msgs) - b0))
dropped=$(($(ipc_ctr socks_dropped) - d0))
[ "$dropped" -eq "$n" ] || fail "ustackd dropped $dropped sockets for $n bad records"
[ "$bad" -ge "$n" ] || fail "ipc_bad_msgs grew by $bad for $n bad records"
ok "$n bad records: each dropped its socket (ipc_socks_dropped +$dropped, ipc_bad_msgs +$bad); the session was still served"
refused=$(($(ipc_ctr chan_refused) - r0))
orphaned=$(($(ipc_ctr chan_orphaned) - o0))
unaccepted=$(($(ipc_ctr chan_unaccepted) - u0))
[ "$refused" -eq 2 ] || fail "ipc_chan_refused grew by $refused for a wrong and a used token"
[ "$orphaned" -eq 1 ] || fail "ipc_chan_orphaned grew by $orphaned for one taken record without a channel"
[ "$unaccepted" -eq 1 ] || fail "ipc_chan_unaccepted grew by $unaccepted for one connection left when its listener closed"
ok "IPC_CHAN: 2 channels refused, 1 orphaned connection reset, 1 left at its listener's close reset (counted)"

rc=0
wait "$spid" || rc=$?
forget_pid "$spid"
[ "$rc" -eq 0 ] || fail "nc under the shim exited $rc during the bad records"
wait "$kpid" 2>/dev/null || true
forget_pid "$kpid"
[ "$(sha256sum <"$T_TMP/got" | cut -d' ' -f1)" = "$want" ] ||
	fail "the other program's transfer differs ($(stat -c %s "$T_TMP/got") of $SIZE bytes)"
ok "another program's $((SIZE / MiB)) MiB under the shim arrived byte-exact meanwhile"
wait_ipc_socks 0 10
assert_alive
stop_daemon
