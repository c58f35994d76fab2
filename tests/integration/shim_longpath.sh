#!/usr/bin/env bash
# shim_longpath.sh - auto-tuning on a long path, against the kernel: every
# frame ustackd sends waits 20 ms (--fault delay=20, this kernel has no
# netem), so one connection needs more than 256 KiB per round trip.
#  1. a python3 sender under libustack.so with SO_SNDBUF fixed at 256 KiB:
#     the send ring stays (ipc_tx_grown unchanged);
#  2. the same sender without it: the shared send ring grows in place
#     (IPC_TXGROW), the bytes arrive byte-exact at a kernel-side nc -l;
#  3. nc -l under the shim receives from a kernel-side nc: the receive
#     ring grows for a reader that takes half a ring per round trip
#     (tcp_rcvbuf_grown), byte-exact.
# The rates are printed, not asserted (a benchmark's business).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd nc python3 sha256sum timeout
start_daemon --fault delay=20

SIZE=$((32 * MiB))
head -c "$SIZE" /dev/urandom >"$T_TMP/data"
want=$(sha256sum <"$T_TMP/data" | cut -d' ' -f1)

# python3 sender under the shim: SNDBUF (0 = leave it) HOST PORT < data
cat >"$T_TMP/send.py" <<'PY'
import socket, sys
sndbuf, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket()
if sndbuf:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
s.connect((host, port))
data = sys.stdin.buffer.read()
s.sendall(data)
print(s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
s.close()
PY

send_once() { # SNDBUF PORT -> prints the sender's final SO_SNDBUF
	local port=$2 kpid t0 t1 got
	ns timeout 120 nc -l "$HOST_IP" "$port" >"$T_TMP/rx.$port" &
	PIDS+=($!)
	kpid=$!
	wait_kernel_listen "$port"
	t0=$(now_ns)
	shim timeout 120 python3 "$T_TMP/send.py" "$1" "$HOST_IP" "$port" \
		<"$T_TMP/data" >"$T_TMP/sndbuf.$port" 2>"$T_TMP/send.$port.err" ||
		fail "python3 sender under the shim failed: $(cat "$T_TMP/send.$port.err")"
	wait "$kpid" || fail "kernel-side nc -l failed"
	t1=$(now_ns)
	got=$(sha256sum <"$T_TMP/rx.$port" | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "sender (SO_SNDBUF $1): sha256 differs ($(stat -c %s "$T_TMP/rx.$port") bytes)"
	RATE=$(mbps "$SIZE" "$t0" "$t1")
}

# 1. SO_SNDBUF fixed: no auto-tuning
g0=$(ipc_ctr tx_grown)
send_once 262144 9001
[ "$(ipc_ctr tx_grown)" -eq "$g0" ] || fail "the send ring grew although SO_SNDBUF was set"
[ "$(cat "$T_TMP/sndbuf.9001")" -eq 262144 ] || fail "SO_SNDBUF reads $(cat "$T_TMP/sndbuf.9001"), not 262144"
ok "SO_SNDBUF 256 KiB: ring unchanged, $SIZE bytes byte-exact at $RATE MB/s"

# 2. auto-tuned
g0=$(ipc_ctr tx_grown)
send_once 0 9002
grown=$(($(ipc_ctr tx_grown) - g0))
[ "$grown" -ge 2 ] || fail "the send ring grew $grown times on a 20 ms path (want >= 2)"
sb=$(cat "$T_TMP/sndbuf.9002")
[ "$sb" -ge 1048576 ] || fail "SO_SNDBUF reads $sb after auto-tuning (want >= 1 MiB)"
ok "auto-tuned: send ring doubled $grown times in place (SO_SNDBUF $sb), byte-exact at $RATE MB/s"

# 3. the stack receives
r0=$(ctr tcp_rcvbuf_grown)
shim_bg timeout 120 nc -l 8888 >"$T_TMP/rx3" 2>"$T_TMP/nc3.err" &
PIDS+=($!)
lpid=$!
wait_stack_listen 8888
t0=$(now_ns)
ns timeout 120 nc -N "$STACK_IP" 8888 <"$T_TMP/data" || fail "kernel-side nc sender failed"
wait "$lpid" || fail "nc -l under the shim failed: $(cat "$T_TMP/nc3.err")"
t1=$(now_ns)
got=$(sha256sum <"$T_TMP/rx3" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "nc -l under the shim: sha256 differs ($(stat -c %s "$T_TMP/rx3") bytes)"
rg=$(($(ctr tcp_rcvbuf_grown) - r0))
[ "$rg" -ge 2 ] || fail "the receive ring grew $rg times on a 20 ms path (want >= 2)"
ok "nc -l under the shim: receive ring doubled $rg times, byte-exact at $(mbps "$SIZE" "$t0" "$t1") MB/s"

[ "$(ctr fault_delay_overflow)" -eq 0 ] || fail "the delay queue overflowed"
wait_ipc_socks 0 10
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
