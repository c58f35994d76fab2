#!/usr/bin/env bash
# demo.sh - see ustack work: install what is missing, build, then run
# ustackd in a fresh private network namespace and talk to it from the
# Linux kernel on the other side of its TAP device.  Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: needs root (network namespaces, TAP devices): sudo $0" >&2
	exit 1
fi
[ -c /dev/net/tun ] || {
	echo "demo.sh: /dev/net/tun is missing (modprobe tun)" >&2
	exit 1
}

bold=""
reset=""
if [ -t 1 ]; then
	bold=$(printf '\033[1m')
	reset=$(printf '\033[0m')
fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
show() {
	printf '%s$ %s%s\n' "$bold" "$*" "$reset"
	"$@"
}

step "Installing missing dependencies (scripts/deps.sh)"
scripts/deps.sh
echo "all there"

step "Building (meson + ninja, in build/)"
if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
USTACKD=$ROOT/build/daemon/ustackd
USTACKCTL=$ROOT/build/daemon/ustackctl
if [ ! -x "$USTACKD" ] || [ ! -x "$USTACKCTL" ]; then
	echo "demo.sh: build/daemon/ustackd or ustackctl is missing" >&2
	exit 1
fi
echo "built $USTACKD and $USTACKCTL"

NS=ustack-demo-$$
TMP=$(mktemp -d /tmp/ustack-demo.XXXXXX)
SOCK=$TMP/ustackd.sock
LOG=$TMP/ustackd.log
DPID=""
cleanup() {
	local rc=$?
	set +e
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID"
		wait "$DPID"
	fi
	if [ "$rc" -ne 0 ] && [ -s "$LOG" ]; then
		echo "--- ustackd log ---"
		tail -n 50 "$LOG"
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Creating a private network namespace: $NS"
ip netns add "$NS"
ip -n "$NS" link set lo up
echo "everything below happens inside $NS; the host's own network is untouched"

step "Starting ustackd in it"
echo "ustackd creates the TAP device ustack0 and runs the whole TCP/IP stack in user space"
echo "at 10.77.0.2; the Linux kernel on the other end of the TAP is 10.77.0.1"
ip netns exec "$NS" "$USTACKD" --foreground --ifname ustack0 \
	--addr 10.77.0.2/24 --host-addr 10.77.0.1/24 \
	--services echo,discard,chargen --socket "$SOCK" >"$LOG" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do
	kill -0 "$DPID" 2>/dev/null || {
		echo "demo.sh: ustackd exited at start-up:" >&2
		cat "$LOG" >&2
		DPID=""
		exit 1
	}
	[ -S "$SOCK" ] && ip netns exec "$NS" ping -c 1 -W 1 -q 10.77.0.2 >/dev/null 2>&1 && break
	sleep 0.1
done
printf '%s$ ustackd --foreground --ifname ustack0 --addr 10.77.0.2/24 --host-addr 10.77.0.1/24 --services echo,discard,chargen --socket %s%s\n' \
	"$bold" "$SOCK" "$reset"
echo "(pid $DPID)"
show ip -n "$NS" -br addr show dev ustack0

step "Ping the stack from the kernel"
show ip netns exec "$NS" ping -c 3 -i 0.2 10.77.0.2

step "A 4000-byte ping: fragmented on the way in, reassembled, fragmented again on the way out"
show ip netns exec "$NS" ping -c 2 -i 0.2 -s 4000 10.77.0.2

step "UDP echo (RFC 862, port 7) through socat"
printf '%s$ echo "hello, userspace stack" | socat -t 1 - UDP:10.77.0.2:7%s\n' "$bold" "$reset"
reply=$(echo "hello, userspace stack" | ip netns exec "$NS" socat -t 1 - UDP:10.77.0.2:7)
echo "$reply"
[ "$reply" = "hello, userspace stack" ] || {
	echo "demo.sh: the echo did not come back" >&2
	exit 1
}

step "chargen (RFC 864, port 19): one datagram of characters"
printf '%s$ echo | socat -t 1 - UDP:10.77.0.2:19 | head -n 3%s\n' "$bold" "$reset"
echo | ip netns exec "$NS" socat -t 1 - UDP:10.77.0.2:19 | head -n 3 || true

step "A closed UDP port: the stack answers with ICMP port unreachable"
printf '%s$ echo knock | socat -t 1 - UDP:10.77.0.2:4444%s\n' "$bold" "$reset"
echo knock | ip netns exec "$NS" socat -t 1 - UDP:10.77.0.2:4444 2>&1 | sed 's/^/  /' || true

step "ARP: who has 10.77.0.2? (the stack answers with its own MAC)"
show ip netns exec "$NS" arping -c 2 -I ustack0 10.77.0.2
show ip -n "$NS" neigh show dev ustack0

step "TCP echo (port 7) through socat: handshake, data, FIN"
printf '%s$ echo "hello over TCP" | socat -t 2 - TCP:10.77.0.2:7%s\n' "$bold" "$reset"
reply=$(echo "hello over TCP" | ip netns exec "$NS" socat -t 2 - TCP:10.77.0.2:7)
echo "  reply: $reply"
[ "$reply" = "hello over TCP" ] || { echo "demo.sh: TCP echo failed" >&2; exit 1; }

step "100 MiB from the kernel into the stack's TCP discard service (port 9)"
start=$(date +%s.%N)
head -c 104857600 /dev/zero | ip netns exec "$NS" socat -u - TCP:10.77.0.2:9
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "  100 MiB in %.2f s = %.0f MB/s\n", e - s, 104.8576 / (e - s) }'

SHIM=$ROOT/build/shim/libustack.so
if [ -f "$SHIM" ]; then
	step "Unmodified programs on the stack: LD_PRELOAD=libustack.so"
	echo "nc listens on the stack (10.77.0.2:8888); the kernel's nc sends it a file"
	head -c 10485760 /dev/urandom >"$TMP/file"
	printf '%s$ LD_PRELOAD=%s nc -l 8888 > received%s\n' "$bold" "$SHIM" "$reset"
	ip netns exec "$NS" env USTACK_SOCKET="$SOCK" LD_PRELOAD="$SHIM" nc -l 8888 >"$TMP/received" &
	NCPID=$!
	for _ in $(seq 50); do
		"$USTACKCTL" --socket "$SOCK" sockets 2>/dev/null | grep -q ':8888 .*LISTEN' && break
		sleep 0.1
	done
	ip netns exec "$NS" nc -N 10.77.0.2 8888 <"$TMP/file"
	wait "$NCPID" || true
	a=$(sha256sum <"$TMP/file" | cut -c1-16)
	b=$(sha256sum <"$TMP/received" | cut -c1-16)
	echo "  sent sha256 $a..., received sha256 $b..."
	[ "$a" = "$b" ] || { echo "demo.sh: nc transfer differs" >&2; exit 1; }

	echo "curl on the stack fetches a file from a web server on the kernel side"
	mkdir -p "$TMP/www" && cp "$TMP/file" "$TMP/www/file"
	ip netns exec "$NS" python3 -m http.server --bind 10.77.0.1 8080 --directory "$TMP/www" >/dev/null 2>&1 &
	WPID=$!
	for _ in $(seq 50); do
		ip netns exec "$NS" bash -c 'exec 3<>/dev/tcp/10.77.0.1/8080' 2>/dev/null && break
		sleep 0.1
	done
	printf '%s$ LD_PRELOAD=%s curl -o got http://10.77.0.1:8080/file%s\n' "$bold" "$SHIM" "$reset"
	ip netns exec "$NS" env USTACK_SOCKET="$SOCK" LD_PRELOAD="$SHIM" \
		curl -sS -o "$TMP/got" -w '  %{size_download} bytes at %{speed_download} B/s\n' http://10.77.0.1:8080/file
	kill "$WPID" 2>/dev/null || true
	wait "$WPID" 2>/dev/null || true
	cmp -s "$TMP/file" "$TMP/got" && echo "  byte-exact" || { echo "demo.sh: curl download differs" >&2; exit 1; }
fi

step "The stack's counters (ustackctl counters nonzero)"
show "$USTACKCTL" --socket "$SOCK" counters nonzero

step "Stopping ustackd (SIGTERM): it prints its counters and removes ustack0"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=""
echo "ustackd exited with status $rc"
if ip -n "$NS" link show ustack0 >/dev/null 2>&1; then
	echo "demo.sh: ustack0 still exists" >&2
	exit 1
fi
echo "ustack0 is gone"

step "Done"
echo "Try it by hand: see README.md (\"Running ustackd by hand\"); run the tests with: sudo ./scripts/test.sh"
