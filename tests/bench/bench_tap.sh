#!/usr/bin/env bash
# bench_tap.sh - benchmark (b): one TCP connection between the Linux kernel
# and ustackd through the TAP device at MTU 1500, in both directions:
#   kernel -> ustackd's discard service (port 9), and
#   ustackd's chargen service (port 19) -> kernel,
# BENCH_BYTES each (default 2 GiB), BENCH_RUNS runs (default 5); prints the
# median, min and max Gbit/s and the CPU seconds used by ustackd
# (/proc/PID/stat utime+stime before/after) and by the kernel-side client
# (its own user+system time).  The same transfers kernel-to-kernel over a
# veth pair (MTU 1500, default offloads) between two namespaces, against a
# python discard/source server, give a same-run reference and the ratio.
#
# Usage: bench_tap.sh [USTACKD]   (default: build/daemon/ustackd)
# Builds nothing.  Needs root and /dev/net/tun (exit 77 otherwise).  Runs
# only inside namespaces it creates and deletes; kills only its own PIDs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
USTACKD=${1:-$ROOT/build/daemon/ustackd}
BYTES=${BENCH_BYTES:-$((2 * 1024 * 1024 * 1024))}
RUNS=${BENCH_RUNS:-5}
PY=/usr/bin/python3
MTU=1500

[ "$(id -u)" -eq 0 ] || { echo "bench_tap: SKIP: needs root"; exit 77; }
[ -c /dev/net/tun ] || { echo "bench_tap: SKIP: no /dev/net/tun"; exit 77; }
[ -x "$USTACKD" ] || { echo "bench_tap: no ustackd at $USTACKD (build first, or pass its path)" >&2; exit 1; }
case $BYTES$RUNS in *[!0-9]*) echo "bench_tap: BENCH_BYTES and BENCH_RUNS must be integers" >&2; exit 1 ;; esac

NS=ustack-b-tap-$$
NSA=ustack-b-refa-$$
NSB=ustack-b-refb-$$
TMP=$(mktemp -d /tmp/ustack-bench-tap.XXXXXX)
PIDS=()
HZ=$(getconf CLK_TCK)

cleanup() {
	local rc=$? p
	set +e
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for n in "$NS" "$NSA" "$NSB"; do ip netns del "$n" 2>/dev/null; done
	[ "$rc" -ne 0 ] && [ -f "$TMP/ustackd.log" ] && tail -n 30 "$TMP/ustackd.log" >&2
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the kernel-side client and the reference server (python3) ----------
cat >"$TMP/peer.py" <<'PY'
import os, socket, sys, time
CH = 1 << 20

def cpu():
    t = os.times()
    return t.user + t.system

def client(mode, host, port, n):
    s = socket.create_connection((host, port), timeout=60)
    c0, t0 = cpu(), time.monotonic()
    if mode == "send":   # into discard: all bytes, FIN, wait for the server's FIN
        buf = memoryview(bytes(CH))
        left = n
        while left:
            k = min(left, CH)
            s.sendall(buf[:k])
            left -= k
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    else:                # out of chargen/source: read exactly n bytes
        buf = bytearray(CH)
        mv = memoryview(buf)
        got = 0
        while got < n:
            k = s.recv_into(mv[:min(CH, n - got)])
            if not k:
                sys.exit(f"EOF after {got} bytes")
            got += k
    t = time.monotonic() - t0
    s.close()
    print(f"{t:.6f} {cpu() - c0:.3f}")

def server(mode, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)
    print("ready", flush=True)
    zeros = memoryview(bytes(CH))
    buf = bytearray(CH)
    while True:
        c, _ = ls.accept()
        try:
            if mode == "discard":
                while c.recv_into(buf):
                    pass
            else:
                while True:
                    c.send(zeros)
        except OSError:
            pass
        c.close()

if sys.argv[1] == "server":
    server(sys.argv[2], int(sys.argv[3]))
else:
    client(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
PY

# cpu_of PID: utime+stime in seconds.
cpu_of() {
	awk -v hz="$HZ" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

# measure NSNAME SERVERPID MODE HOST PORT: one run; prints
# "gbps server_cpu client_cpu".
measure() {
	local nsn=$1 spid=$2 mode=$3 host=$4 port=$5 c0 c1 out
	c0=$(cpu_of "$spid")
	out=$(ip netns exec "$nsn" timeout 300 "$PY" "$TMP/peer.py" "$mode" "$host" "$port" "$BYTES") ||
		{ echo "bench_tap: client $mode $host:$port failed" >&2; exit 1; }
	c1=$(cpu_of "$spid")
	awk -v o="$out" -v b="$BYTES" -v c0="$c0" -v c1="$c1" 'BEGIN {
		split(o, f, " "); printf "%.3f %.2f %.2f\n", b * 8 / f[1] / 1e9, c1 - c0, f[2] }'
}

# stats FILE: "median min max" of column 1, medians of columns 2 and 3.
stats() {
	sort -n -k1,1 "$1" | awk '{ g[NR] = $1; s[NR] = $2; c[NR] = $3 }
	function med(a, n,   t, i, j, x) { for (i = 1; i <= n; i++) t[i] = a[i]
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
		return n % 2 ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2 }
	END { printf "%.3f %.3f %.3f %.2f %.2f\n", med(g, NR), g[1], g[NR], med(s, NR), med(c, NR) }'
}

# ---- ustackd on a TAP ----------------------------------------------------
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" "$USTACKD" --foreground --ifname ustack0 --mtu "$MTU" \
	--addr 10.77.0.2/24 --host-addr 10.77.0.1/24 --socket "$TMP/ustackd.sock" \
	--services discard,chargen >"$TMP/ustackd.log" 2>&1 &
DPID=$!
PIDS+=("$DPID")
for i in $(seq 1 200); do
	ip netns exec "$NS" ping -c 1 -W 1 -q 10.77.0.2 >/dev/null 2>&1 && break
	kill -0 "$DPID" 2>/dev/null || { echo "bench_tap: ustackd exited" >&2; exit 1; }
	[ "$i" -lt 200 ] || { echo "bench_tap: ustackd does not answer ping" >&2; exit 1; }
	sleep 0.1
done

# ---- the kernel-to-kernel reference over veth ----------------------------
ip netns add "$NSA"
ip netns add "$NSB"
ip -n "$NSA" link set lo up
ip -n "$NSB" link set lo up
ip -n "$NSA" link add name ref0 mtu "$MTU" type veth peer name ref1 mtu "$MTU" netns "$NSB"
ip -n "$NSA" addr add 10.79.0.1/24 dev ref0
ip -n "$NSB" addr add 10.79.0.2/24 dev ref1
ip -n "$NSA" link set ref0 up
ip -n "$NSB" link set ref1 up
for m in discard:9 source:19; do
	ip netns exec "$NSB" "$PY" "$TMP/peer.py" server "${m%%:*}" "${m##*:}" >"$TMP/srv.${m%%:*}" 2>&1 &
	PIDS+=("$!")
	eval "SPID_${m%%:*}=$!"
done
for _ in $(seq 1 100); do
	grep -q ready "$TMP/srv.discard" && grep -q ready "$TMP/srv.source" && break
	sleep 0.05
done

echo "bench_tap: $(awk -v b="$BYTES" 'BEGIN { printf "%.2f GiB", b / 1073741824 }') per run, $RUNS runs, MTU $MTU, $(nproc) CPUs, kernel $(uname -r)"
echo "bench_tap: ustackd $USTACKD (pid $DPID)"
for dir in discard chargen; do
	: >"$TMP/u.$dir"
	: >"$TMP/k.$dir"
done
for r in $(seq 1 "$RUNS"); do
	measure "$NS" "$DPID" send 10.77.0.2 9 >>"$TMP/u.discard"
	measure "$NS" "$DPID" recv 10.77.0.2 19 >>"$TMP/u.chargen"
	# shellcheck disable=SC2154 # set by eval above
	measure "$NSA" "$SPID_discard" send 10.79.0.2 9 >>"$TMP/k.discard"
	# shellcheck disable=SC2154
	measure "$NSA" "$SPID_source" recv 10.79.0.2 19 >>"$TMP/k.chargen"
	echo "bench_tap: run $r/$RUNS: ustack discard $(cut -d' ' -f1 <<<"$(tail -n 1 "$TMP/u.discard")") chargen $(cut -d' ' -f1 <<<"$(tail -n 1 "$TMP/u.chargen")"), kernel $(cut -d' ' -f1 <<<"$(tail -n 1 "$TMP/k.discard")") / $(cut -d' ' -f1 <<<"$(tail -n 1 "$TMP/k.chargen")") Gbit/s"
done

printf '\n%-34s %8s %8s %8s %11s %11s\n' "one TCP connection, $(awk -v b="$BYTES" 'BEGIN { printf "%.2g GiB", b / 1073741824 }')" "Gbit/s" "min" "max" "server cpu" "client cpu"
for dir in discard chargen; do
	read -r um umin umax us uc < <(stats "$TMP/u.$dir")
	read -r km kmin kmax ks kc < <(stats "$TMP/k.$dir")
	if [ "$dir" = discard ]; then
		lu="kernel -> ustackd discard (TAP)"
		lk="kernel -> kernel discard (veth)"
	else
		lu="ustackd chargen -> kernel (TAP)"
		lk="kernel source -> kernel (veth)"
	fi
	printf '%-34s %8s %8s %8s %10ss %10ss\n' "$lu" "$um" "$umin" "$umax" "$us" "$uc"
	printf '%-34s %8s %8s %8s %10ss %10ss\n' "$lk" "$km" "$kmin" "$kmax" "$ks" "$kc"
	printf '%-34s %8s\n' "  ratio ustack / kernel" "$(awk -v a="$um" -v b="$km" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')"
done
echo "(medians of $RUNS runs; server cpu = ustackd or the python reference server, user+system seconds per run; target (b): >= 2 Gbit/s both ways)"
