#!/usr/bin/env bash
# bench_vs_kernel.sh - ustack against the Linux kernel, side by side, in one
# run.  Every figure is measured for both (where the kernel has one), RUNS
# times; the report gives the median, min and max and the ratio
# ustack / kernel of the medians.
#
#   ustack: ustackd on a TAP device (MTU 1500) in namespace ubk-u-PID, the
#           stock program under libustack.so in that namespace, its peer on
#           the kernel side of the TAP (10.77.0.1 <-> stack 10.77.0.2).
#   kernel: the same programs kernel to kernel over a veth pair (MTU 1500)
#           between namespaces ubk-a-PID (10.79.0.1, client) and ubk-b-PID
#           (10.79.0.2, server).
#
# Sections (each a function; one that fails says why, the others still run,
# and the exit status is 1 if any failed):
#   bulk     iperf3 (client under the shim, server on the kernel side), 1 and
#            4 streams (-P 4), both directions (-R), BENCH_DURATION seconds;
#            the kernel reference with veth offloads off (ethtool -K tso gso
#            gro tx rx off; the TAP has none either) and on.  ustackd's
#            built-in chargen/discard driven by a kernel-side client
#            (bench_stream) is the no-IPC reference: shim / built-in ratio.
#   latency  request/response round trips, 64 B and 16 KiB, p50 and p99
#            (bench_rr: a client under the shim against a kernel-side echo
#            server; sockperf cannot run under the shim, see bench_rr.c);
#            plus a kernel client against ustackd's built-in echo (no IPC).
#   connrate wrk -H 'Connection: close' from the kernel side against nginx
#            (master + 1 worker, epoll, 1 KiB file) under the shim, and the
#            same nginx configuration on the kernel: requests/s, errors.
#   scale    1, 10, 100, 1000, 10000 idle connections from a kernel-side
#            client (bench_conns) to ustackd's built-in echo, a fresh
#            ustackd per level: ustackd's VmRSS and CPU time over an idle
#            interval, memory per idle connection (RSS_N - RSS_0) / N, and
#            the aggregate echo throughput of 16 KiB round trips on all of
#            them.  Says why when a level cannot be reached.
#   cost     CPU seconds per GiB moved, from the bulk runs: the processes
#            (ustackd + both iperf3s, from /proc/PID/stat and iperf3's own
#            getrusage figures; kernel: both iperf3s) and the whole
#            machine (/proc/stat busy time, which also holds the kernel's
#            softirq work -- and anything else running on the machine).
#
# Usage: sudo tests/bench/bench_vs_kernel.sh [BUILD_DIR]   (default: build)
#   or:  ninja -C BUILD_DIR bench   (as root)
# Environment: BENCH_RUNS (3), BENCH_DURATION (5 s, bulk and wrk),
#   BENCH_LAT_DURATION (3 s), BENCH_BUSY_POLL (50 µs: the latency runs
#   again with ustackd --busy-poll), BENCH_SCALE ("1 10 100 1000 10000"),
#   BENCH_SCALE_IDLE (2 s), BENCH_SCALE_ECHO (2 s), BENCH_SECTIONS
#   ("bulk latency connrate scale"), BENCH_NOTE (free text for the report
#   header, e.g. "machine shared with other jobs"), BENCH_OUT (bench/results).
# Writes BENCH_OUT/latest.md (table), latest.csv (every run's raw figure),
# latest.png (gnuplot chart of the ratios; skipped without gnuplot) and
# prints the table; latest.meta and latest.notes keep the run's details so
# that BENCH_REPORT_ONLY=1 can render the report again.  Runs
# `ninja -C BUILD_DIR` first unless started by meson (MESON_BUILD_ROOT set).
# Needs root, /dev/net/tun, iperf3, wrk, nginx, ethtool, python3
# (scripts/deps.sh).  Touches nothing outside the
# namespaces it creates and deletes; kills only the processes it started.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" 2>/dev/null && pwd) || {
	echo "bench: no build directory ${1:-$ROOT/build} (meson setup build -Dbuildtype=release && ninja -C build)" >&2
	exit 1
}
RUNS=${BENCH_RUNS:-3}
DUR=${BENCH_DURATION:-5}
LAT_DUR=${BENCH_LAT_DURATION:-3}
BUSY_POLL=${BENCH_BUSY_POLL:-50}
SCALE_LEVELS=${BENCH_SCALE:-1 10 100 1000 10000}
SCALE_IDLE=${BENCH_SCALE_IDLE:-2}
SCALE_ECHO=${BENCH_SCALE_ECHO:-2}
SECTIONS=${BENCH_SECTIONS:-bulk latency connrate scale}
NOTE=${BENCH_NOTE:-}
OUT=${BENCH_OUT:-$ROOT/bench/results}
PY=/usr/bin/python3
MTU=1500
HZ=$(getconf CLK_TCK)

USTACKD=$BUILD/daemon/ustackd
USTACKCTL=$BUILD/daemon/ustackctl
SHIM=$BUILD/shim/libustack.so
RR=$BUILD/tests/bench/bench_rr
HOPS=$BUILD/tests/bench/bench_hops
STREAM=$BUILD/tests/bench/bench_stream
CONNS=$BUILD/tests/bench/bench_conns
REPORT=$ROOT/tests/bench/bench_report.py

U_HOST=10.77.0.1 # kernel side of the TAP
U_STACK=10.77.0.2
K_CLI=10.79.0.1
K_SRV=10.79.0.2

die() {
	echo "bench: $*" >&2
	exit 1
}
log() { printf 'bench: %s\n' "$*"; }

# render: latest.md and latest.png from latest.csv, latest.meta and
# latest.notes in OUT (also alone: BENCH_REPORT_ONLY=1 re-renders them).
render() {
	local dat=$OUT/.ratios.tsv n xmax runs
	"$PY" "$REPORT" "$OUT/latest.csv" "$OUT/latest.meta" "$OUT/latest.notes" "$OUT/latest.md" "$dat" ||
		die "bench_report.py failed"
	if command -v gnuplot >/dev/null 2>&1 && [ -s "$dat" ]; then
		n=$(wc -l <"$dat")
		xmax=$(awk -F '\t' 'BEGIN { m = 1.15 } $2 * 1.12 > m { m = $2 * 1.12 } END { print m }' "$dat")
		runs=$(sed -n 's/^runs=//p' "$OUT/latest.meta")
		gnuplot <<EOF || log "gnuplot failed; no chart"
set terminal pngcairo size 1100,$((200 + 26 * n)) font ",10" noenhanced
set output "$OUT/latest.png"
set title "ustack relative to the Linux kernel: ratio of medians (1.0 = parity, higher = better for ustack;\nlatency and CPU cost inverted: kernel / ustack)  $(sed -n 's/^date=//p' "$OUT/latest.meta"), $(sed -n 's/^nproc=//p' "$OUT/latest.meta") CPUs, $runs runs"
set style fill solid 0.8 border -1
set yrange [$n - 0.4:-0.6]
set ytics scale 0
set xrange [0:$xmax]
set grid x
set xlabel "ratio"
set arrow from 1, graph 0 to 1, graph 1 nohead dt 2 lw 2 lc rgb "red"
set datafile separator "\t"
plot "$dat" using (\$2 * 0.5):0:(\$2 * 0.5):(0.35):yticlabels(1) with boxxyerror lc rgb "#4477aa" notitle, \\
     "" using 2:0:(sprintf(" %.2f", \$2)) with labels left notitle
EOF
	fi
	rm -f "$dat"
	echo
	cat "$OUT/latest.md"
	echo
	log "results: $OUT/latest.md, $OUT/latest.csv, $OUT/latest.png"
}

if [ "${BENCH_REPORT_ONLY:-0}" = 1 ]; then
	for f in latest.csv latest.meta latest.notes; do
		[ -f "$OUT/$f" ] || die "BENCH_REPORT_ONLY: no $OUT/$f"
	done
	render
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TAP): sudo $0 $*"
[ -c /dev/net/tun ] || die "/dev/net/tun is missing"
for v in RUNS DUR LAT_DUR SCALE_IDLE SCALE_ECHO; do
	case ${!v} in '' | *[!0-9]*) die "$v must be a whole number (got '${!v}')" ;; esac
done
if [ "$RUNS" -lt 1 ] || [ "$DUR" -lt 1 ] || [ "$LAT_DUR" -lt 1 ]; then
	die "BENCH_RUNS and durations must be >= 1"
fi
for c in ip ping iperf3 wrk nginx ethtool timeout ss "$PY"; do
	command -v "$c" >/dev/null 2>&1 || die "$c is not installed (run scripts/deps.sh)"
done
if [ -z "${MESON_BUILD_ROOT:-}" ] && [ -f "$BUILD/build.ninja" ]; then
	ninja -C "$BUILD" >/dev/null || die "ninja -C $BUILD failed"
fi
for f in "$USTACKD" "$USTACKCTL" "$RR" "$STREAM" "$CONNS" "$HOPS"; do
	[ -x "$f" ] || die "missing $f (build first: meson setup $BUILD && ninja -C $BUILD)"
done
[ -f "$SHIM" ] || die "missing $SHIM"
[ -f "$REPORT" ] || die "missing $REPORT"

NSU=ubk-u-$$
NSA=ubk-a-$$
NSB=ubk-b-$$
TMP=$(mktemp -d /tmp/ustack-bench.XXXXXX)
RAW=$TMP/raw.csv
META=$TMP/meta
FAILED=()
SECPID=""

cleanup() {
	local rc=$? n
	set +e
	trap - EXIT INT TERM
	if [ -n "$SECPID" ] && kill -0 "$SECPID" 2>/dev/null; then
		kill -TERM "$SECPID" 2>/dev/null
		wait "$SECPID" 2>/dev/null
	fi
	for n in "$NSU" "$NSA" "$NSB"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers (used inside the section subshells) --------------------------

# Processes started by the running section (its subshell's own list).
PIDS=()

# kill_tree PID: TERM to PID and its children (nginx workers), then KILL
# whatever is left after 3 s.
kill_tree() {
	local p=$1 kids i
	kids=$(pgrep -P "$p" 2>/dev/null | tr '\n' ' ') || kids=
	kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for i in $kids; do kill -KILL "$i" 2>/dev/null || true; done
}

sec_cleanup() {
	local p
	set +e
	for p in "${PIDS[@]}"; do kill_tree "$p"; done
	PIDS=()
}

forget() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# rec SECTION METRIC STACK RUN VALUE UNIT: one raw figure.
rec() { printf '%s,%s,%s,%s,%s,%s\n' "$@" >>"$RAW"; }
# note TEXT: a line for the report's notes.
note() {
	printf '%s\n' "$*" >>"$TMP/notes"
	log "note: $*"
}
warn() {
	printf 'bench: WARNING: %s\n' "$*" >&2
	printf 'WARNING: %s\n' "$*" >>"$TMP/notes"
	SEC_BAD=1
}

cpu_of() { awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"; }
rss_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# machine busy CPU seconds (all CPUs, everything but idle and iowait)
mbusy() { awk -v hz="$HZ" '$1 == "cpu" { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat; }

# start_ustackd [ustackd flags...]: a fresh ustackd in NSU; sets UPID, USOCK.
start_ustackd() {
	local i
	USOCK=$TMP/ustackd-$BASHPID-$RANDOM.sock
	ULOG=$TMP/ustackd.log
	echo "=== ustackd $* ===" >>"$ULOG"
	ip netns exec "$NSU" "$USTACKD" --foreground --ifname ustack0 --mtu "$MTU" \
		--addr "$U_STACK/24" --host-addr "$U_HOST/24" --socket "$USOCK" "$@" >>"$ULOG" 2>&1 &
	UPID=$!
	PIDS+=("$UPID")
	for ((i = 0; i < 200; i++)); do
		kill -0 "$UPID" 2>/dev/null || die "ustackd exited at start-up: $(tail -n 3 "$ULOG")"
		[ -S "$USOCK" ] && ip netns exec "$NSU" ping -c 1 -W 1 -q "$U_STACK" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "ustackd does not answer ping after 20 s"
}

stop_ustackd() {
	kill_tree "$UPID"
	forget "$UPID"
	# the TAP goes away with ustackd's file descriptor
	for ((i = 0; i < 50; i++)); do
		ip -n "$NSU" link show ustack0 >/dev/null 2>&1 || break
		sleep 0.1
	done
}

# shim CMD...: CMD in NSU under libustack.so.
shim() { ip netns exec "$NSU" env USTACK_SOCKET="$USOCK" LD_PRELOAD="$SHIM" "$@"; }

# wait_listen NS PORT: a kernel listener on PORT in NS within 10 s.
wait_listen() {
	local i
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	die "nothing listens on port $2 in $1"
}

# wait_stack_listen PORT: a listener on the stack within 10 s.
wait_stack_listen() {
	local i
	for ((i = 0; i < 100; i++)); do
		"$USTACKCTL" --socket "$USOCK" sockets 2>/dev/null |
			awk -v p=":$1" '$1 == "tcp" && $2 ~ p"$" && $4 == "LISTEN"' | grep -q . && return 0
		sleep 0.1
	done
	die "no stack listener on port $1"
}

# offloads on|off: veth features on both ends.
offloads() {
	local ns dev out feats=(tso off gso off gro off tx off rx off)
	[ "$1" = on ] && feats=(tx on rx on tso on gso on gro on)
	for ns in "$NSA:ref0" "$NSB:ref1"; do
		dev=${ns#*:}
		# (veth cannot turn on tx-checksum-ipv4 and says so: not an error)
		out=$(ip netns exec "${ns%%:*}" ethtool -K "$dev" "${feats[@]}" 2>&1) ||
			warn "ethtool -K $dev ${feats[*]}: $(tr '\n' ' ' <<<"$out")"
	done
}

# ---- section: bulk throughput and its CPU cost -----------------------------

# iperf_json FILE: "gbps bytes secs cpu_client_s cpu_server_s retransmits"
# (the sender's count; -1 if it has none) or an error.
iperf_json() {
	"$PY" - "$1" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    sys.exit(f"no JSON report ({e})")
if "error" in r:
    sys.exit("iperf3: " + r["error"])
e = r["end"]
rc, c = e["sum_received"], e["cpu_utilization_percent"]
secs = e["sum_sent"]["seconds"]
n = len(e.get("streams", []))
if rc["bytes"] <= 0 or n != r["start"]["test_start"]["num_streams"]:
    sys.exit(f"{rc['bytes']} bytes received, {n} streams")
print(f"{rc['bits_per_second'] / 1e9:.3f} {rc['bytes']} {secs:.3f} "
      f"{c['host_total'] * secs / 100:.3f} {c['remote_total'] * secs / 100:.3f} "
      f"{e['sum_sent'].get('retransmits', -1)}")
EOF
}

# iperf_run STACK RUN P DIR: one iperf3 run (DIR fwd: the client sends;
# rev: -R, the server sends); records the figures.
iperf_run() {
	local stack=$1 r=$2 p=$3 dir=$4 json=$TMP/iperf.json m0 m1 u0=0 u1=0 res
	local gbps bytes cc cs rtx args=(-p 5201 -t "$DUR" -P "$p" --json)
	[ "$dir" = rev ] && args+=(-R)
	m0=$(mbusy)
	if [ "$stack" = ustack ]; then
		u0=$(cpu_of "$UPID")
		shim timeout $((DUR + 30)) iperf3 -c "$U_HOST" "${args[@]}" >"$json" 2>"$TMP/iperf.err" || true
		u1=$(cpu_of "$UPID")
	else
		ip netns exec "$NSA" timeout $((DUR + 30)) iperf3 -c "$K_SRV" "${args[@]}" >"$json" 2>"$TMP/iperf.err" || true
	fi
	m1=$(mbusy)
	if ! res=$(iperf_json "$json" 2>&1); then
		warn "bulk run $r, $stack, -P $p $dir: $res $(head -c 300 "$TMP/iperf.err")"
		return 0
	fi
	read -r gbps bytes _ cc cs rtx <<<"$res"
	rec bulk "p${p}_${dir}_gbps" "$stack" "$r" "$gbps" Gbit/s
	[ "$rtx" -ge 0 ] && rec bulk "p${p}_${dir}_retrans" "$stack" "$r" "$rtx" segments
	rec bulk "p${p}_${dir}_proc_cpu" "$stack" "$r" \
		"$(awk -v a="$cc" -v b="$cs" -v u="$u1" -v v="$u0" -v by="$bytes" 'BEGIN { printf "%.3f", (a + b + u - v) / (by / 1073741824) }')" s/GiB
	rec bulk "p${p}_${dir}_machine_cpu" "$stack" "$r" \
		"$(awk -v a="$m1" -v b="$m0" -v by="$bytes" 'BEGIN { printf "%.3f", (a - b) / (by / 1073741824) }')" s/GiB
	[ "$stack" = ustack ] && rec bulk "p${p}_${dir}_ustackd_cpu" ustack "$r" \
		"$(awk -v u="$u1" -v v="$u0" -v by="$bytes" 'BEGIN { printf "%.3f", (u - v) / (by / 1073741824) }')" s/GiB
	printf '  run %s %-10s -P %s %s: %s Gbit/s, %s retransmitted segments\n' "$r" "$stack" "$p" "$dir" "$gbps" "$rtx"
}

# builtin_run RUN MODE PORT DIR: bench_stream against ustackd's built-in
# service (recv from chargen = fwd, send to discard = rev).
builtin_run() {
	local r=$1 mode=$2 port=$3 dir=$4 out u0 u1 m0 m1 gbps bytes
	u0=$(cpu_of "$UPID")
	m0=$(mbusy)
	if ! out=$(ip netns exec "$NSU" timeout $((DUR + 60)) "$STREAM" "$mode" "$U_STACK" "$port" "$DUR" 2>&1); then
		warn "bulk run $r, built-in $dir ($mode port $port): $out"
		return 0
	fi
	u1=$(cpu_of "$UPID")
	m1=$(mbusy)
	gbps=$(sed -n 's/.*gbps=\([0-9.]*\).*/\1/p' <<<"$out")
	bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$out")
	rec bulk "p1_${dir}_gbps" builtin "$r" "$gbps" Gbit/s
	rec bulk "p1_${dir}_ustackd_cpu" builtin "$r" \
		"$(awk -v u="$u1" -v v="$u0" -v by="$bytes" 'BEGIN { printf "%.3f", (u - v) / (by / 1073741824) }')" s/GiB
	rec bulk "p1_${dir}_machine_cpu" builtin "$r" \
		"$(awk -v a="$m1" -v b="$m0" -v by="$bytes" 'BEGIN { printf "%.3f", (a - b) / (by / 1073741824) }')" s/GiB
	printf '  run %s %-10s -P 1 %s: %s Gbit/s\n' "$r" builtin "$dir" "$gbps"
}

sec_bulk() {
	local r cfg
	start_ustackd --services discard,chargen
	ip netns exec "$NSU" iperf3 -s -B "$U_HOST" -p 5201 >"$TMP/iperf-su.log" 2>&1 &
	PIDS+=("$!")
	ip netns exec "$NSB" iperf3 -s -B "$K_SRV" -p 5201 >"$TMP/iperf-sk.log" 2>&1 &
	PIDS+=("$!")
	wait_listen "$NSU" 5201
	wait_listen "$NSB" 5201
	for ((r = 1; r <= RUNS; r++)); do
		for cfg in "1 fwd" "1 rev" "4 fwd" "4 rev"; do
			# shellcheck disable=SC2086 # two words on purpose
			iperf_run ustack "$r" $cfg
		done
		builtin_run "$r" recv 19 fwd
		builtin_run "$r" send 9 rev
		offloads off
		for cfg in "1 fwd" "1 rev" "4 fwd" "4 rev"; do
			# shellcheck disable=SC2086
			iperf_run kernel_off "$r" $cfg
		done
		offloads on
		for cfg in "1 fwd" "1 rev" "4 fwd" "4 rev"; do
			# shellcheck disable=SC2086
			iperf_run kernel_on "$r" $cfg
		done
	done
	kill -0 "$UPID" 2>/dev/null || die "ustackd died during the bulk runs"
}

# ---- section: request/response latency -------------------------------------

# rr_run STACK RUN SIZE: one bench_rr client run; records p50 and p99.
rr_run() {
	local stack=$1 r=$2 size=$3 out p50 p99
	local cmd=(timeout $((LAT_DUR + 20)) "$RR" client)
	case $stack in
	ustack | ustack_bp) out=$(shim "${cmd[@]}" "$U_HOST" 7777 "$size" "$LAT_DUR" 2>&1) ;;
	ustack_pin) out=$(shim taskset -c 0 "${cmd[@]}" "$U_HOST" 7777 "$size" "$LAT_DUR" 2>&1) ;;
	builtin) out=$(ip netns exec "$NSU" "${cmd[@]}" "$U_STACK" 7 "$size" "$LAT_DUR" 2>&1) ;;
	kernel) out=$(ip netns exec "$NSA" "${cmd[@]}" "$K_SRV" 7777 "$size" "$LAT_DUR" 2>&1) ;;
	kernel_pin) out=$(ip netns exec "$NSA" taskset -c 0 "${cmd[@]}" "$K_SRV" 7777 "$size" "$LAT_DUR" 2>&1) ;;
	hops2 | hops3) out=$(timeout $((LAT_DUR + 20)) "$HOPS" "${stack#hops}" "$LAT_DUR" 2>&1) ;;
	esac || {
		local rc=$?
		[ "$rc" -eq 124 ] && out="no answer: the client hung and was killed after $((LAT_DUR + 20)) s${out:+ ($out)}"
		warn "latency run $r, $stack, $size B: $out"
		rec latency "lat_${size}_hung" "$stack" "$r" 1 count
		return 0
	}
	p50=$(sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' <<<"$out")
	p99=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$out")
	rec latency "lat_${size}_p50" "$stack" "$r" "$p50" us
	rec latency "lat_${size}_p99" "$stack" "$r" "$p99" us
	printf '  run %s %-8s %5s B: p50 %s us, p99 %s us (%s)\n' "$r" "$stack" "$size" "$p50" "$p99" "${out%% *}"
}

sec_latency() {
	local r size
	offloads on
	start_ustackd --services echo
	ip netns exec "$NSU" "$RR" server "$U_HOST" 7777 >"$TMP/rr-u.log" 2>&1 &
	PIDS+=("$!")
	local srv_u=$!
	ip netns exec "$NSB" "$RR" server "$K_SRV" 7777 >"$TMP/rr-k.log" 2>&1 &
	PIDS+=("$!")
	local srv_k=$!
	wait_listen "$NSU" 7777
	wait_listen "$NSB" 7777
	for ((r = 1; r <= RUNS; r++)); do
		for size in 64 16384; do
			rr_run ustack "$r" "$size"
			rr_run builtin "$r" "$size"
			rr_run kernel "$r" "$size"
		done
		# No stack at all: a one-byte round trip over pipes between two
		# processes, and through a third in the middle (bench_hops.c).
		rr_run hops2 "$r" 1
		rr_run hops3 "$r" 1
	done
	# The same with ustackd --busy-poll (off by default: it keeps a CPU
	# polling for BUSY_POLL µs after each piece of work).
	stop_ustackd
	start_ustackd --services echo --busy-poll "$BUSY_POLL"
	for ((r = 1; r <= RUNS; r++)); do
		for size in 64 16384; do
			rr_run ustack_bp "$r" "$size"
		done
	done
	# Pinned: the client on CPU 0 with its stack (ustackd --cpu 0; the
	# kernel's runs in the client's context anyway), the echo server on
	# CPU 1, for both.  Wake-ups between the program and ustackd then stay
	# on one CPU (no inter-processor interrupt).
	if [ "$(nproc)" -ge 2 ]; then
		stop_ustackd
		start_ustackd --services echo --cpu 0
		taskset -pc 1 "$srv_u" >/dev/null && taskset -pc 1 "$srv_k" >/dev/null ||
			die "cannot pin the echo servers to CPU 1"
		for ((r = 1; r <= RUNS; r++)); do
			for size in 64 16384; do
				rr_run ustack_pin "$r" "$size"
				rr_run kernel_pin "$r" "$size"
			done
		done
	fi
}

# ---- section: connection rate (nginx + wrk, Connection: close) -------------

# nginx_conf DIR LISTEN
nginx_conf() {
	mkdir -p "$1/www" "$1/logs" "$1/tmp"
	head -c 1024 /dev/urandom >"$1/www/small.bin"
	cat >"$1/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root root;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
worker_rlimit_nofile 16384;
events { use epoll; worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $1/tmp/body;
	proxy_temp_path $1/tmp/proxy;
	fastcgi_temp_path $1/tmp/fastcgi;
	uwsgi_temp_path $1/tmp/uwsgi;
	scgi_temp_path $1/tmp/scgi;
	default_type application/octet-stream;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 30;
	server {
		listen $2 backlog=1024;
		root $1/www;
	}
}
EOF
}

# wrk_run STACK RUN NS URL
wrk_run() {
	local stack=$1 r=$2 out rps reqs errs non2xx
	if ! out=$(ip netns exec "$3" timeout $((DUR + 30)) wrk -t 2 -c 32 -d "${DUR}s" \
		-H 'Connection: close' "$4" 2>&1); then
		warn "connrate run $r, $stack: wrk failed: $(tail -n 3 <<<"$out")"
		return 0
	fi
	rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
	reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
	errs=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' <<<"$out" |
		awk '{ print $1 + $2 + $3 + $4 }')
	non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
	if [ -z "$rps" ] || [ "${reqs:-0}" -le 0 ]; then
		warn "connrate run $r, $stack: no request completed: $(tr '\n' ' ' <<<"$out" | head -c 300)"
		return 0
	fi
	rec connrate conn_rps "$stack" "$r" "$rps" req/s
	rec connrate conn_errors "$stack" "$r" "$((${errs:-0} + ${non2xx:-0}))" count
	printf '  run %s %-7s %s req/s, %s socket errors, %s non-2xx\n' "$r" "$stack" "$rps" "${errs:-0}" "${non2xx:-0}"
	grep 'Socket errors' <<<"$out" | sed 's/^/    /' || true
}

sec_connrate() {
	local r ngu ngk
	offloads on
	start_ustackd
	nginx_conf "$TMP/ngx-u" "$U_STACK:8080"
	nginx_conf "$TMP/ngx-k" "$K_SRV:8080"
	ip netns exec "$NSU" env USTACK_SOCKET="$USOCK" LD_PRELOAD="$SHIM" \
		nginx -p "$TMP/ngx-u" -e "$TMP/ngx-u/logs/error.log" -c "$TMP/ngx-u/nginx.conf" >"$TMP/ngx-u/logs/out" 2>&1 &
	ngu=$!
	PIDS+=("$ngu")
	ip netns exec "$NSB" nginx -p "$TMP/ngx-k" -e "$TMP/ngx-k/logs/error.log" -c "$TMP/ngx-k/nginx.conf" >"$TMP/ngx-k/logs/out" 2>&1 &
	ngk=$!
	PIDS+=("$ngk")
	wait_stack_listen 8080
	wait_listen "$NSB" 8080
	sleep 0.3
	kill -0 "$ngu" 2>/dev/null || die "nginx under the shim exited: $(tail -n 3 "$TMP/ngx-u/logs/error.log")"
	for ((r = 1; r <= RUNS; r++)); do
		wrk_run ustack "$r" "$NSU" "http://$U_STACK:8080/small.bin"
		wrk_run kernel "$r" "$NSA" "http://$K_SRV:8080/small.bin"
	done
	kill -0 "$ngu" 2>/dev/null || die "nginx under the shim died during the load"
	grep -E '\[(alert|emerg|crit)\]' "$TMP/ngx-u/logs/error.log" | head -n 3 | sed 's/^/  nginx (ustack): /' || true
}

# ---- section: scale (many idle connections) --------------------------------

# kv KEY: a value from bench_conns' key=value line (in $out).
kv() { grep '^want=' <<<"$out" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

sec_scale() {
	local n r out connected rss0 rss idle echo ctr why
	# the client side needs a source port and a file per connection
	ip netns exec "$NSU" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	for n in $SCALE_LEVELS; do
		for ((r = 1; r <= RUNS; r++)); do
			start_ustackd --services echo
			if ! out=$(ip netns exec "$NSU" timeout 120 "$CONNS" "$U_STACK" 7 "$n" -p "$UPID" \
				-i "$SCALE_IDLE" -e "$SCALE_ECHO" -m 16384 -T 10 2>&1); then
				warn "scale $n run $r: bench_conns failed: $out"
				stop_ustackd
				continue
			fi
			ctr=$("$USTACKCTL" --socket "$USOCK" counters 2>/dev/null |
				awk '$1 ~ /^(tcp_mem_refused|tcp_listen_overflow|tcp_syncookies_sent|tcp_drop_no_port)$/ && $2 > 0 { printf "%s=%s ", $1, $2 }') || ctr=
			kill -0 "$UPID" 2>/dev/null || warn "scale $n run $r: ustackd died"
			stop_ustackd
			connected=$(kv connected)
			rss0=$(kv rss0_kb)
			rss=$(kv rss_kb)
			rec scale "n${n}_connected" ustack "$r" "$connected" count
			rec scale "n${n}_alive" ustack "$r" "$(kv alive)" count
			rec scale "n${n}_connect_ms" ustack "$r" "$(kv connect_ms)" ms
			rec scale "n${n}_rss0" ustack "$r" "$(awk -v a="$rss0" 'BEGIN { printf "%.1f", a / 1024 }')" MiB
			rec scale "n${n}_rss" ustack "$r" "$(awk -v a="$rss" 'BEGIN { printf "%.1f", a / 1024 }')" MiB
			[ "${connected:-0}" -gt 0 ] && rec scale "n${n}_kib_per_conn" ustack "$r" \
				"$(awk -v a="$rss" -v b="$rss0" -v c="$connected" 'BEGIN { printf "%.1f", (a - b) / c }')" KiB
			idle=$(kv idle_cpu_s)
			rec scale "n${n}_idle_cpu" ustack "$r" "$(awk -v a="$idle" 'BEGIN { printf "%.0f", a * 1000 }')" ms
			echo=$(kv echo_gbps)
			rec scale "n${n}_echo_gbps" ustack "$r" "$echo" Gbit/s
			rec scale "n${n}_rss_echo" ustack "$r" "$(awk -v a="$(kv rss_echo_kb)" 'BEGIN { printf "%.1f", a / 1024 }')" MiB
			printf '  N=%-6s run %s: connected %s (%s ms), alive after idle %s, RSS %s -> %s KiB, idle CPU %s s / %s s, echo %s Gbit/s, RSS after echo %s KiB\n' \
				"$n" "$r" "$connected" "$(kv connect_ms)" "$(kv alive)" "$rss0" "$rss" "$idle" "$SCALE_IDLE" "$echo" "$(kv rss_echo_kb)"
			if [ "${connected:-0}" -lt "$n" ]; then
				why="first error on the client: $(kv first_err | tr _ ' ')"
				[ -n "$ctr" ] && why="$why; ustackd counters: $ctr"
				case $ctr in *tcp_mem_refused*)
					why="$why(ustackd refuses connections past its TCP buffer budget, 2 GiB by default, reserved at 256 KiB receive + 256 KiB send per connection: at most ~4096 connections; ustackd has no option to change either)" ;;
				esac
				if [ "$r" -eq 1 ]; then
					note "scale N=$n: only $connected of $n connections were established (run 1; every run in the table): $why"
				fi
			fi
		done
	done
}

# ---- running the sections ---------------------------------------------------

# run_section NAME: sec_NAME in a subshell with errexit and its own cleanup,
# so that a failure ends only that section.
run_section() {
	local name=$1 rc=0 t0=$SECONDS
	log "=== $name ==="
	(
		trap sec_cleanup EXIT
		trap 'exit 143' TERM
		trap 'exit 130' INT
		SEC_BAD=0
		"sec_$name"
		[ "$SEC_BAD" -eq 0 ] || exit 3
	) &
	SECPID=$!
	wait "$SECPID" || rc=$?
	SECPID=""
	if [ "$rc" -ne 0 ]; then
		if [ "$rc" -eq 3 ]; then
			note "section $name: some runs failed (see the warnings above); its figures are the medians of the runs that worked"
		else
			note "section $name failed (status $rc); see the messages above"
			[ -f "$TMP/ustackd.log" ] && tail -n 15 "$TMP/ustackd.log" | sed 's/^/  ustackd: /' >&2
		fi
		FAILED+=("$name")
	fi
	log "=== $name: $((SECONDS - t0)) s ==="
}

# namespaces: NSU for ustackd (each section starts its own ustackd there),
# NSA/NSB joined by the veth pair for the kernel reference.
for n in "$NSU" "$NSA" "$NSB"; do
	ip netns add "$n"
	ip -n "$n" link set lo up
done
ip -n "$NSA" link add name ref0 mtu "$MTU" type veth peer name ref1 mtu "$MTU" netns "$NSB"
ip -n "$NSA" addr add "$K_CLI/24" dev ref0
ip -n "$NSB" addr add "$K_SRV/24" dev ref1
ip -n "$NSA" link set ref0 up
ip -n "$NSB" link set ref1 up
ip netns exec "$NSA" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
ip netns exec "$NSA" ping -c 1 -W 2 -q "$K_SRV" >/dev/null || die "the veth pair does not work"
: >"$RAW"
: >"$TMP/notes"

buildtype=$("$PY" - "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null <<'EOF'
import json, sys
o = {x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}
print(f"buildtype={o.get('buildtype', '?')}, b_ndebug={o.get('b_ndebug', '?')}, werror={o.get('werror', '?')}")
EOF
) || buildtype=unknown
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "host=$(hostname)"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "kernel=$(uname -r)"
	echo "build=$BUILD ($buildtype)"
	echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (modified)')"
	echo "runs=$RUNS"
	echo "duration=$DUR"
	echo "lat_duration=$LAT_DUR"
	echo "busy_poll=$BUSY_POLL"
	echo "scale_idle=$SCALE_IDLE"
	echo "scale_echo=$SCALE_ECHO"
	echo "cc=$(ip netns exec "$NSA" sysctl -n net.ipv4.tcp_congestion_control) on the kernel side, CUBIC in ustack"
	echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "note=$NOTE"
} >"$META"
log "$(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), build $BUILD ($buildtype)"
log "runs $RUNS, bulk/wrk ${DUR} s, latency ${LAT_DUR} s, namespaces $NSU $NSA $NSB"

for s in $SECTIONS; do
	declare -F "sec_$s" >/dev/null || die "unknown section '$s' (known: bulk latency connrate scale)"
	run_section "$s"
done
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$META"
echo "failed=${FAILED[*]}" >>"$META"

mkdir -p "$OUT"
sed '1i section,metric,stack,run,value,unit' "$RAW" >"$OUT/latest.csv"
cp "$META" "$OUT/latest.meta"
cp "$TMP/notes" "$OUT/latest.notes"
render
if [ "${#FAILED[@]}" -gt 0 ]; then
	log "sections with failures: ${FAILED[*]}"
	exit 1
fi
