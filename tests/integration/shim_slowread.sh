#!/usr/bin/env bash
# shim_slowread.sh - a slow reader under libustack.so (shim_slowread.c,
# argument 4) receives 16 MiB (x USTACK_TEST_SCALE) from a kernel-side nc:
# it reads nothing for 1.5 s (the 256 KiB receive ring fills and the window
# closes), then 4 KiB every 5 ms for 2 s, then as fast as it can.
# Regression test for the wget defect (downloads at 2-3 MB/s): after an
# active open the advertised window was measured from a stale rcv_adv and
# could exceed the ring, so the kernel sent past it, the stack dropped
# those segments and the kernel waited for retransmission timeouts.
# Asserts:
#  - the bytes arrive byte-exact (sha256);
#  - no read() of the program blocked for 1 s or more once it started
#    reading: each drain reopened the window through the rx doorbell
#    (RFC 1122 §4.2.2.17: otherwise only the peer's persist probes would);
#  - counters: the closed window was reopened by window updates
#    (tcp_window_reopened), no segment fell outside the window
#    (tcp_drop_out_of_window), the window never had to be clamped to the
#    ring (tcp_rcv_wnd_clamped);
#  - a capture on the kernel side of the TAP: every window the stack
#    advertised is at most the ring (262144 bytes, doubled for each
#    tcp_rcvbuf_grown: auto-tuning grows it in the fast phase; the
#    zero-window probes of the pause count as tcp_rx_window_probes, not
#    as out-of-window segments, whatever the window scale), the window was zero
#    during the pause, and after the first zero-window period (the pause)
#    no zero-window period lasted 1 s or more.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119,SC2015
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
PROG=${4:-${SHIM_SLOWREAD:-}}
shim_setup
need_cmd nc sha256sum timeout ss tcpdump tshark
[ -x "$PROG" ] || fail "shim_slowread program not found (argument 4): $PROG"
start_daemon

RING=262144 # IPC_RING_DEFAULT (daemon/ipc_sock.h)
PAUSE_MS=1500
SIZE=$(scaled $((16 * MiB)) $((4 * MiB)))
head -c "$SIZE" /dev/urandom >"$T_TMP/data"
want=$(sha256sum <"$T_TMP/data" | cut -d' ' -f1)
snap "$T_TMP/c0"

PCAP=$T_TMP/slow.pcap
capture_start "$PCAP" -s 96 -B 16384 tcp port 9100

ip netns exec "$NS" timeout 120 nc -N -l "$HOST_IP" 9100 <"$T_TMP/data" &
PIDS+=($!)
kpid=$!
wait_kernel_listen 9100
t0=$(now_ns)
rc=0
shim timeout 120 "$PROG" "$HOST_IP" 9100 "$T_TMP/rx" "$PAUSE_MS" 2000 4096 5 2>"$T_TMP/slow.err" ||
	rc=$?
t1=$(now_ns)
cat "$T_TMP/slow.err"
[ "$rc" -eq 0 ] || fail "shim_slowread exited $rc"
wait "$kpid" || fail "kernel-side nc sender failed"
got=$(sha256sum <"$T_TMP/rx" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "sha256 differs ($(stat -c %s "$T_TMP/rx") of $SIZE bytes)"
ok "slow reader under the shim received $(human "$SIZE") byte-exact in $(((t1 - t0) / 1000000)) ms"

line=$(grep '^slowread ' "$T_TMP/slow.err") || fail "shim_slowread printed no report"
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
slow_block=$(field slow_max_block_ms)
fast_block=$(field fast_max_block_ms)
slow_bytes=$(field slow_bytes)
[ -n "$slow_block" ] && [ -n "$fast_block" ] || fail "cannot parse: $line"
[ "$slow_bytes" -gt 0 ] || fail "the slow phase read nothing"
awk -v a="$slow_block" -v b="$fast_block" 'BEGIN { exit !(a < 1000 && b < 1000) }' ||
	fail "a read blocked ${slow_block} ms (slow phase) / ${fast_block} ms (fast phase): the window was not reopened promptly"
ok "longest single read() wait: ${slow_block} ms while trickling, ${fast_block} ms while fast (bound 1000 ms)"

snap "$T_TMP/c1"
d() { echo $(($(ctr_in "$T_TMP/c1" "$1") - $(ctr_in "$T_TMP/c0" "$1"))); }
reopened=$(d tcp_window_reopened)
updates=$(d tcp_window_updates)
oow=$(d tcp_drop_out_of_window)
clamped=$(d tcp_rcv_wnd_clamped)
probes=$(d tcp_rx_window_probes)
grown=$(d tcp_rcvbuf_grown)
log "counters: tcp_window_updates +$updates tcp_window_reopened +$reopened tcp_rx_window_probes +$probes tcp_drop_out_of_window +$oow tcp_rcv_wnd_clamped +$clamped tcp_rcvbuf_grown +$grown"
# Receive auto-tuning doubles the ring each time (while the fast reader
# empties a full one); the windows below are judged against the largest.
RING=$((RING << grown))
[ "$reopened" -ge 1 ] || fail "tcp_window_reopened did not move: the closed window was never reopened by an update"
[ "$oow" -eq 0 ] || fail "tcp_drop_out_of_window +$oow: the kernel sent outside the advertised window"
[ "$clamped" -eq 0 ] || fail "tcp_rcv_wnd_clamped +$clamped: a window beyond the ring was about to be advertised"
ok "window reopened $reopened times by updates, no out-of-window segment, no clamp"

# The capture.
capture_stop "$PCAP"
dropped=$CAPTURE_LOST
[ "$dropped" = 0 ] || log "note: tcpdump dropped $dropped packets; judging what was captured"
tshark -n -r "$PCAP" -T fields -e frame.time_relative -e ip.src -e tcp.len \
	-e tcp.window_size -e tcp.flags.syn >"$T_TMP/pkts.txt" 2>"$T_TMP/tshark.err" ||
	fail "tshark failed: $(cat "$T_TMP/tshark.err")"
# Stack packets: the largest window (SYNs excluded: unscaled, and at most
# 65535 anyway); zero-window periods: from the first ACK with window 0 to
# the next one with a window.
read -r nstack maxwin nzero first_zero longest_later < <(awk -v st="$STACK_IP" '
	$2 == st && $5 != 1 {
		n++
		if ($4 + 0 > max) max = $4 + 0
		if ($4 + 0 == 0) { if (!inzero) { inzero = 1; zs = $1 } }
		else if (inzero) {
			inzero = 0; len = $1 - zs; nz++
			if (nz == 1) first = len; else if (len > later) later = len
		}
	}
	END { printf "%d %d %d %.3f %.3f\n", n, max, nz, first, later }' "$T_TMP/pkts.txt")
log "capture: $nstack packets from the stack, largest window $maxwin, $nzero zero-window periods (first ${first_zero} s, longest later ${longest_later} s)"
[ "$nstack" -gt 0 ] || fail "the capture holds no packet from the stack"
[ "$maxwin" -le "$RING" ] || fail "the stack advertised a window of $maxwin bytes over a $RING-byte ring"
[ "$nzero" -ge 1 ] || fail "the window never closed during the ${PAUSE_MS} ms pause (no zero window captured)"
awk -v f="$first_zero" -v p="$PAUSE_MS" -v l="$longest_later" \
	'BEGIN { exit !(f < p / 1000 + 1 && l < 1) }' ||
	fail "a zero-window period lasted too long (first ${first_zero} s, pause $((PAUSE_MS / 1000)).$((PAUSE_MS % 1000 / 100)) s; later ${longest_later} s)"
ok "capture: window <= ring, closed during the pause and reopened promptly every time"

wait_ipc_socks 0 10
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
