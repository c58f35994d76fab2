# shellcheck shell=bash disable=SC2034
# lib.sh - shared helpers for ustack's integration tests (sourced, not run).
#
# Every test runs ustackd against the real Linux kernel inside a private
# network namespace that the test creates and deletes itself:
#
#   namespace ustack-t-NAME-PID
#     kernel side: ustack0 10.77.0.1/24 (set by ustackd --host-addr)
#     the stack:   10.77.0.2/24 (ustackd --addr)
#
# Nothing touches the host's own interfaces, routes or resolver, and the
# trap on exit kills only the processes the test started (by PID).
#
# Usage in a test:  source "$(dirname "$0")/lib.sh" "$@"
#   $1 = path of ustackd, $2 = path of ustackctl (or env USTACKD/USTACKCTL).
# Exit status: 0 pass, 1 fail, 77 skip (not root, no /dev/net/tun, tool missing).

set -euo pipefail

T_NAME=$(basename "$0" .sh)
USTACKD=${1:-${USTACKD:-}}
USTACKCTL=${2:-${USTACKCTL:-}}
T_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Debian's python3 has python3-scapy; a python3 earlier on PATH may not.
PY=/usr/bin/python3
IFNAME=ustack0
HOST_IP=10.77.0.1
STACK_IP=10.77.0.2
PREFIX=24

NS=""
T_TMP=""
LOG=""
SOCK=""
DPID=""
PIDS=()

log() { printf '[%s] %s\n' "$T_NAME" "$*"; }
ok() { printf '[%s] ok: %s\n' "$T_NAME" "$*"; }
skip() {
	printf '[%s] SKIP: %s\n' "$T_NAME" "$*"
	exit 77
}
fail() {
	printf '[%s] FAIL: %s\n' "$T_NAME" "$*" >&2
	exit 1
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c is not installed (run scripts/deps.sh)"
	done
}

# Is process $1 (a child of ours) still running (and not a zombie)?
alive() {
	local st
	[ -n "${1:-}" ] && [ -r "/proc/$1/status" ] || return 1
	st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

show_log() {
	[ -n "$LOG" ] && [ -f "$LOG" ] || return 0
	local n
	n=$(wc -l <"$LOG")
	echo "----- ustackd log ($LOG, $n lines; last 300 shown) -----" >&2
	tail -n 300 "$LOG" >&2
	echo "----- end of ustackd log -----" >&2
}

cleanup() {
	local rc=$? p
	set +e
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		alive "$p" && kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 30); do alive "$p" || break; sleep 0.1; done
		alive "$p" && kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		show_log
	fi
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	[ -n "$T_TMP" ] && rm -rf "$T_TMP"
	exit "$rc"
}

# Check privileges and tools, make the temp dir and the namespace.
setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and TAP devices)"
	[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"
	need_cmd ip ping
	[ -n "$USTACKD" ] || fail "no ustackd given (argument 1 or USTACKD)"
	[ -x "$USTACKD" ] || fail "ustackd is not an executable: $USTACKD"
	[ -n "$USTACKCTL" ] || fail "no ustackctl given (argument 2 or USTACKCTL)"
	[ -x "$USTACKCTL" ] || fail "ustackctl is not an executable: $USTACKCTL"
	T_TMP=$(mktemp -d "/tmp/ustack-t-$T_NAME.XXXXXX")
	LOG=$T_TMP/ustackd.log
	SOCK=$T_TMP/ustackd.sock
	: >"$LOG"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	NS=ustack-t-$T_NAME-$$
	ip netns add "$NS" || {
		NS=""
		fail "cannot create network namespace"
	}
	ip -n "$NS" link set lo up
	log "namespace $NS, temp dir $T_TMP"
}

# Run a command inside the test's namespace.
ns() { ip netns exec "$NS" "$@"; }
# ns_bg CMD... &: the same for a background job; exec makes $! the
# command's own pid, so the cleanup trap reaches it (a plain `ns CMD &`
# leaves $! pointing at a subshell and the command orphaned).
ns_bg() { exec ip netns exec "$NS" "$@"; }

# start_daemon [extra ustackd flags...]: start ustackd in the foreground
# inside the namespace and wait until it answers ping.
start_daemon() {
	log "starting: ustackd --foreground --ifname $IFNAME --addr $STACK_IP/$PREFIX --host-addr $HOST_IP/$PREFIX --socket $SOCK $*"
	echo "=== ustackd $* ===" >>"$LOG"
	ip netns exec "$NS" "$USTACKD" --foreground --ifname "$IFNAME" \
		--addr "$STACK_IP/$PREFIX" --host-addr "$HOST_IP/$PREFIX" \
		--socket "$SOCK" "$@" >>"$LOG" 2>&1 &
	DPID=$!
	PIDS+=("$DPID")
	wait_ready
}

# Wait (at most 20 s) until the device is up, the control socket exists and
# the stack answers a ping.
wait_ready() {
	local deadline=$((SECONDS + 20)) rc
	while :; do
		if ! alive "$DPID"; then
			rc=0
			wait "$DPID" || rc=$?
			forget_pid "$DPID"
			fail "ustackd exited during start-up (status $rc)"
		fi
		if ns ip link show dev "$IFNAME" 2>/dev/null | grep -q '[<,]UP[,>]' &&
			[ -S "$SOCK" ] &&
			ns ping -c 1 -W 1 -q "$STACK_IP" >/dev/null 2>&1; then
			ok "ustackd (pid $DPID) is up and answers ping"
			return 0
		fi
		[ "$SECONDS" -lt "$deadline" ] || fail "ustackd did not answer ping within 20 s"
		sleep 0.1
	done
}

# Send SIGTERM (or $1) and assert ustackd exits 0 within $2 seconds (default
# 5); a sanitizer report at exit also makes the status non-zero.
stop_daemon() {
	local sig=${1:-TERM} limit=${2:-5} start rc=0 i
	alive "$DPID" || fail "ustackd (pid $DPID) died before it was stopped"
	start=$(date +%s%N)
	kill -"$sig" "$DPID"
	for ((i = 0; i < limit * 100; i++)); do
		alive "$DPID" || break
		sleep 0.01
	done
	alive "$DPID" && fail "ustackd still running $limit s after SIG$sig"
	wait "$DPID" || rc=$?
	forget_pid "$DPID"
	STOP_MS=$((($(date +%s%N) - start) / 1000000))
	[ "$rc" -eq 0 ] || fail "ustackd exited with status $rc after SIG$sig (expected 0)"
	ok "ustackd exited 0 after SIG$sig in ${STOP_MS} ms"
	DPID=""
}

# Drop a reaped PID from the cleanup list (its number may be reused).
forget_pid() {
	local p keep=()
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

assert_alive() {
	alive "$DPID" || fail "ustackd (pid $DPID) is no longer running"
}

# ---- counters --------------------------------------------------------------

# snap FILE: all counters ("name value" lines) from ustackctl into FILE.
snap() {
	"$USTACKCTL" --socket "$SOCK" counters >"$1" 2>"$T_TMP/ustackctl.err" ||
		fail "ustackctl --socket $SOCK counters failed: $(cat "$T_TMP/ustackctl.err")"
	[ -s "$1" ] || fail "ustackctl counters printed nothing"
}

# ctr_in FILE NAME: the value of counter NAME in snapshot FILE.
ctr_in() {
	local v
	v=$(awk -v n="$2" '$1 == n { print $2; exit }' "$1")
	[ -n "$v" ] || fail "counter '$2' not found in ustackctl output"
	case $v in *[!0-9]*) fail "counter '$2' has a non-numeric value '$v'" ;; esac
	echo "$v"
}

# ctr NAME: the current value of counter NAME.
ctr() {
	snap "$T_TMP/ctr.now"
	ctr_in "$T_TMP/ctr.now" "$1"
}

# assert_ctr_ge NAME MIN: counter NAME is at least MIN.
assert_ctr_ge() {
	local v
	v=$(ctr "$1")
	[ "$v" -ge "$2" ] || fail "counter $1 = $v, expected >= $2"
	ok "counter $1 = $v (>= $2)"
}

# assert_ctr_eq NAME VALUE
assert_ctr_eq() {
	local v
	v=$(ctr "$1")
	[ "$v" -eq "$2" ] || fail "counter $1 = $v, expected $2"
	ok "counter $1 = $v"
}

# ---- captures on the kernel side of the device ---------------------------------

# capture_start FILE [TCPDUMP ARGS...] FILTER...: tcpdump on $IFNAME into
# FILE (classic pcap), started when it prints "listening on"; sets TPID.
# Its stderr (with the packet statistics) is $T_TMP/tcpdump.err.
capture_start() {
	local file=$1
	shift
	# ip netns exec execs tcpdump, so $! is tcpdump's own pid.
	ip netns exec "$NS" tcpdump -i "$IFNAME" -n -U -w "$file" "$@" \
		>/dev/null 2>"$T_TMP/tcpdump.err" &
	TPID=$!
	PIDS+=("$TPID")
	for _ in $(seq 1 100); do
		grep -q 'listening on' "$T_TMP/tcpdump.err" && return 0
		alive "$TPID" || fail "tcpdump exited: $(cat "$T_TMP/tcpdump.err")"
		sleep 0.05
	done
	fail "tcpdump did not start: $(cat "$T_TMP/tcpdump.err")"
}

# capture_stop FILE: stop the capture once FILE has stopped growing (1 s
# without change, at most 30 s: tcpdump may lag behind the traffic), with
# SIGTERM (background jobs ignore SIGINT; tcpdump flushes and prints its
# statistics).  Sets CAPTURE_LOST: packets dropped by the kernel or
# received but not written ("?" if tcpdump printed no statistics).
capture_stop() {
	local file=$1 stable=0 last=-1 sz
	for _ in $(seq 1 150); do
		sz=$(stat -c %s "$file")
		if [ "$sz" = "$last" ]; then
			stable=$((stable + 1))
			[ "$stable" -ge 5 ] && break
		else
			stable=0
			last=$sz
		fi
		sleep 0.2
	done
	kill -TERM "$TPID"
	for _ in $(seq 1 50); do alive "$TPID" || break; sleep 0.1; done
	alive "$TPID" && fail "tcpdump did not stop on SIGTERM"
	wait "$TPID" || true
	forget_pid "$TPID"
	CAPTURE_LOST=$(awk '/packets captured/ { c = $1 } /packets received by filter/ { r = $1 }
		/packets dropped by kernel/ { d = $1 }
		END { if (c == "" || r == "" || d == "") print "?"; else print d + r - c }' \
		"$T_TMP/tcpdump.err")
}

# ---- helpers for traffic -----------------------------------------------------

# ping_ok COUNT [ping args...]: COUNT echo requests from the kernel side, all
# answered.
ping_ok() {
	local count=$1 out rc=0
	shift
	out=$(ns ping -n -c "$count" -W 3 "$@" "$STACK_IP" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ] || ! grep -q " $count received, 0% packet loss" <<<"$out"; then
		echo "$out" | tail -n 5 >&2
		fail "ping -c $count $* $STACK_IP: not every request was answered (exit $rc)"
	fi
	if grep -qi 'wrong data\|DUP!\|corrupted' <<<"$out"; then
		echo "$out" | grep -i 'wrong data\|DUP!\|corrupted' | head -n 5 >&2
		fail "ping -c $count $*: corrupted or duplicated replies"
	fi
	ok "ping -c $count${*:+ $*}: $(grep -o '[0-9]* received, [0-9.]*% packet loss' <<<"$out")"
}

# The stack's MAC as the kernel learned it (neighbour table), lower case.
stack_mac_from_neigh() {
	ns ip neigh show "$STACK_IP" dev "$IFNAME" |
		awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print tolower($(i + 1)) }'
}

# The kernel side's own MAC on the TAP.
host_mac() {
	ns cat "/sys/class/net/$IFNAME/address"
}
