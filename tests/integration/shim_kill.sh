#!/usr/bin/env bash
# shim_kill.sh - faults around libustack.so:
#  1. SIGKILL of a program under the shim while it receives: the kernel-side
#     sender sees the connection end (reset), and ustackd's IPC socket count
#     and open stack sockets return to what they were.
#  2. the same while the program sends.
#  3. SIGKILL of ustackd during a transfer: the program under the shim exits
#     with an error within a couple of seconds (no hang).
#  4. ustackd not running: socket() fails with one clear stderr line.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd nc timeout ss pgrep
start_daemon

base_ipc=$(ipc_ctr sockets)
base_socks=$(stack_socks)

# 1. receiver killed
shim_bg nc -l 8890 >/dev/null &
PIDS+=($!)
rpid=$!
wait_stack_listen 8890
(head -c $((2000 * MiB)) /dev/zero | ns timeout 30 nc "$STACK_IP" 8890) &
spid=$!
sleep 1
[ "$(ipc_ctr sockets)" -gt "$base_ipc" ] || fail "no IPC socket open during the transfer"
kill -KILL "$rpid"
t0=$(now_ns)
wait "$spid" || true
el=$((($(now_ns) - t0) / 1000000))
[ "$el" -lt 5000 ] || fail "kernel-side sender took $el ms to notice"
ok "kernel-side sender ended ${el} ms after the receiver under the shim was killed"
wait_ipc_socks "$base_ipc" 10
[ "$(stack_socks)" -le "$base_socks" ] || fail "stack sockets: $(stack_socks), were $base_socks"
ok "ipc_sockets back to $base_ipc, stack sockets back to $base_socks"

# 2. sender killed
ns timeout 30 nc -l "$HOST_IP" 8891 >/dev/null &
PIDS+=($!)
kpid=$!
wait_kernel_listen 8891
shim_bg nc "$HOST_IP" 8891 </dev/zero &
PIDS+=($!)
spid=$!
sleep 1
kill -KILL "$spid"
t0=$(now_ns)
wait "$kpid" || true
el=$((($(now_ns) - t0) / 1000000))
[ "$el" -lt 5000 ] || fail "kernel-side receiver took $el ms to see the end"
ok "kernel-side receiver saw the end ${el} ms after the sender under the shim was killed"
wait_ipc_socks "$base_ipc" 10
ok "ipc_sockets back to $base_ipc (lingered: $(ipc_ctr socks_lingered))"

# 3. ustackd killed mid-transfer
ns timeout 30 nc -l "$HOST_IP" 8892 >/dev/null &
PIDS+=($!)
wait_kernel_listen 8892
shim_bg timeout 30 nc "$HOST_IP" 8892 </dev/zero 2>"$T_TMP/nc3.err" &
PIDS+=($!)
cpid=$!
sleep 1
alive "$cpid" || fail "nc under the shim ended before ustackd was killed"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
forget_pid "$DPID"
t0=$(now_ns)
rc=0
wait "$cpid" || rc=$?
el=$((($(now_ns) - t0) / 1000000))
[ "$rc" -ne 124 ] || fail "nc under the shim hung after ustackd died"
[ "$el" -lt 3000 ] || fail "nc under the shim took $el ms to notice ustackd's death"
ok "nc under the shim exited (status $rc) ${el} ms after ustackd was killed"

# 4. ustackd not running
rc=0
err=$(shim timeout 10 nc -w 1 "$HOST_IP" 8892 2>&1 </dev/null) || rc=$?
[ "$rc" -ne 0 ] || fail "nc under the shim succeeded without ustackd"
grep -q "libustack: cannot reach ustackd at $SOCK" <<<"$err" || fail "no clear error: $err"
[ "$(grep -c libustack <<<"$err")" -eq 1 ] || fail "more than one libustack line: $err"
ok "without ustackd: '$(grep libustack <<<"$err")'"
out=$(shim timeout 10 "$PY" -c '
import socket
try:
    socket.socket()
except OSError as e:
    print("errno", e.errno)
' 2>/dev/null) || true
[ "$out" = "errno 2" ] || [ "$out" = "errno 111" ] || fail "python socket() without ustackd: $out"
ok "python3 socket() without ustackd: $out (ENOENT: no socket file; ECONNREFUSED: stale)"
