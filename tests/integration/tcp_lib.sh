# shellcheck shell=bash disable=SC2034
# tcp_lib.sh - helpers for the TCP integration tests (tcp_*.sh), sourced
# after lib.sh:
#
#   source "$(dirname "$0")/lib.sh" "$@"
#   source "$(dirname "$0")/tcp_lib.sh"
#
# Sizes scale with USTACK_TEST_SCALE (a positive number, default 1; 0.25
# makes every transfer a quarter as large).  When it is not set and ustackd
# was built with AddressSanitizer, the scale defaults to 0.25 so the
# sanitizer run stays within CI's time.  Time bounds do not scale (smaller
# transfers on a slower build take about as long).
#
# The kernel-side peer is tcp_tool.py (python3, real kernel sockets), plus
# socat/nc where a test says so.

TCP_TOOL=$T_DIR/tcp_tool.py
MiB=$((1024 * 1024))
GiB=$((1024 * MiB))

# The scale factor as a decimal string, validated.
tcp_scale() {
	local s=${USTACK_TEST_SCALE:-}
	if [ -z "$s" ]; then
		if [ -n "$USTACKD" ] && grep -q -a -m1 __asan_init "$USTACKD" 2>/dev/null; then
			s=0.25
		else
			s=1
		fi
	fi
	case $s in
	'' | *[!0-9.]* | *.*.* | .) fail "USTACK_TEST_SCALE='$s' is not a positive number" ;;
	esac
	echo "$s"
}
TCP_SCALE=$(tcp_scale)

# scaled BYTES [MIN]: BYTES times the scale factor, at least MIN (default
# 1 MiB), rounded down to a multiple of 64 KiB when larger than that.
scaled() {
	local min=${2:-$MiB}
	awk -v b="$1" -v s="$TCP_SCALE" -v m="$min" 'BEGIN {
		v = int(b * s); if (v > 65536) v -= v % 65536; if (v < m) v = m; printf "%d\n", v }'
}

# human BYTES: "1.00 GiB", "20.0 MiB"...
human() {
	awk -v b="$1" 'BEGIN {
		if (b >= 1073741824) printf "%.2f GiB\n", b / 1073741824;
		else if (b >= 1048576) printf "%.1f MiB\n", b / 1048576;
		else printf "%d bytes\n", b }'
}

# tcp_services_ready: assert that the TCP services answer (ustackd may be
# older than the TCP services).  Checks echo, discard and chargen with one
# short connection each from the kernel side.
tcp_services_ready() {
	local out
	out=$(ns "$PY" "$TCP_TOOL" probe "$STACK_IP" 7 9 19 2>&1) ||
		fail "ustackd's TCP services do not answer on ports 7, 9, 19: $out"
	ok "TCP echo, discard and chargen accept connections"
}

# tcp_sockets FILE: ustackctl's socket list into FILE.
tcp_sockets() {
	"$USTACKCTL" --socket "$SOCK" sockets >"$1" 2>"$T_TMP/ustackctl.err" ||
		fail "ustackctl --socket $SOCK sockets failed: $(cat "$T_TMP/ustackctl.err")"
}

# tcp_conns FILE: the TCP connections (not listeners) in socket list FILE,
# one line each as "STATE local remote"; STATE is "?" when the list shows
# no state column.  TIME_WAIT lines are kept (callers decide).
tcp_conns() {
	awk '
	$1 != "tcp" { next }
	{
		state = "?"; remote = ""; local_ = ""
		for (i = 2; i <= NF; i++) {
			if ($i ~ /^(CLOSED|LISTEN|SYN_SENT|SYN_RECEIVED|SYN_RCVD|ESTABLISHED|ESTAB|FIN_WAIT_1|FIN_WAIT_2|CLOSE_WAIT|CLOSING|LAST_ACK|TIME_WAIT)$/)
				state = $i
			else if ($i ~ /^[0-9.]+:[0-9]+$/) {
				if (local_ == "") local_ = $i; else if (remote == "") remote = $i
			}
		}
		if (state == "LISTEN" || remote == "" || remote ~ /^0\.0\.0\.0:0$/) next
		print state, local_, remote
	}' "$1"
}

# wait_no_conns SECONDS [PATTERN]: wait until the stack lists no TCP
# connection (TIME_WAIT excepted) whose line matches the extended regexp
# PATTERN (default: any).  Fails with the list when the time runs out.
wait_no_conns() {
	local limit=$1 pat=${2:-.} deadline n
	deadline=$(($(date +%s) + limit))
	while :; do
		tcp_sockets "$T_TMP/socks.now"
		n=$(tcp_conns "$T_TMP/socks.now" | grep -v '^TIME_WAIT ' | grep -cE -- "$pat" || true)
		[ "$n" -eq 0 ] && return 0
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "----- ustackctl sockets ($n leftover connection(s)) -----" >&2
			head -n 40 "$T_TMP/socks.now" >&2
			echo "-----" >&2
			fail "$n TCP connection(s) matching '$pat' still open ${limit} s after the transfer"
		fi
		sleep 0.2
	done
}

# csum_drops: the sum of the stack's bad-checksum drop counters.
csum_drops() {
	snap "$T_TMP/csum.now"
	awk '$1 ~ /_bad_csum$/ { s += $2 } END { print s + 0 }' "$T_TMP/csum.now"
}

# ctr_delta_report BEFORE AFTER NAME...: print "name +delta" for each NAME.
ctr_delta_report() {
	local b=$1 a=$2 n out=""
	shift 2
	for n in "$@"; do
		out+=" $n+$(($(ctr_in "$a" "$n") - $(ctr_in "$b" "$n")))"
	done
	log "counters:$out"
}

# The namespace the kernel-side peer runs in: the test's own, unless a test
# sets PEER_NS (tcp_loss_nft.sh puts the peer one routed hop away).
PEER_NS=""
peer() { ip netns exec "${PEER_NS:-$NS}" "$@"; }

# run_tool LIMIT ARGS...: tcp_tool.py ARGS in the peer's namespace, killed
# after LIMIT seconds; fails with its output when it fails.
run_tool() {
	local limit=$1 rc=0
	shift
	peer timeout -k 5 "$limit" "$PY" "$TCP_TOOL" "$@" >"$T_TMP/tool.out" 2>&1 || rc=$?
	cat "$T_TMP/tool.out"
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "tcp_tool.py $1 did not finish within $limit s (hung connection?)"
	fi
	[ "$rc" -eq 0 ] || fail "tcp_tool.py $* exited $rc"
}

# echo_sha SIZE LIMIT: SIZE random bytes through TCP echo with send and
# receive running at once; sha256 of what came back must equal the input.
echo_sha() {
	local size=$1 limit=$2 a b
	head -c "$size" /dev/urandom >"$T_TMP/echo.in"
	rm -f "$T_TMP/echo.out"
	run_tool "$limit" echo "$STACK_IP" 7 "$T_TMP/echo.in" "$T_TMP/echo.out"
	a=$(sha256sum <"$T_TMP/echo.in" | cut -d' ' -f1)
	b=$(sha256sum <"$T_TMP/echo.out" | cut -d' ' -f1)
	[ "$(stat -c %s "$T_TMP/echo.out")" -eq "$size" ] ||
		fail "echo: sent $size bytes, got $(stat -c %s "$T_TMP/echo.out") back"
	[ "$a" = "$b" ] || {
		cmp "$T_TMP/echo.in" "$T_TMP/echo.out" | head -n 3 >&2
		fail "echo: sha256 differs (sent $a, got $b)"
	}
	ok "echo $(human "$size"): sha256 $a matches"
	rm -f "$T_TMP/echo.in" "$T_TMP/echo.out"
}

# nft_loss PERCENT: the kernel side drops PERCENT % of the packets on the
# TAP in each direction (nftables inside the test's namespace).
nft_loss() {
	need_cmd nft
	ns nft add table inet lossy
	ns nft add chain inet lossy in '{ type filter hook input priority 0; }'
	ns nft add chain inet lossy out '{ type filter hook output priority 0; }'
	ns nft add rule inet lossy in iifname "$IFNAME" numgen random mod 100 '<' "$1" counter drop
	ns nft add rule inet lossy out oifname "$IFNAME" numgen random mod 100 '<' "$1" counter drop
	ok "nftables drops $1 % of packets on $IFNAME in each direction"
}

# nft_dropped: packets the lossy table dropped so far ("in out").
nft_dropped() {
	ns nft list table inet lossy |
		awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") printf "%s ", $(i + 1) } END { print "" }'
}
