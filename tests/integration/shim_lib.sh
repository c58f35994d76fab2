# shellcheck shell=bash
# shim_lib.sh - helpers for the libustack.so tests (sourced after lib.sh).
#   $3 = path of libustack.so (or env LIBUSTACK); tests that need a helper
#   program take it as $4.
# Programs run "under the shim" inside the test's namespace with
# USTACK_SOCKET pointing at the test's ustackd.

SHIM=${3:-${LIBUSTACK:-}}
MiB=$((1024 * 1024))

shim_setup() {
	setup
	[ -n "$SHIM" ] || fail "no libustack.so given (argument 3 or LIBUSTACK)"
	[ -f "$SHIM" ] || fail "libustack.so not found: $SHIM"
	SHIM=$(cd "$(dirname "$SHIM")" && pwd)/$(basename "$SHIM")
	PRELOAD=$SHIM
	# A sanitizer build of the shim needs the sanitizer runtime loaded
	# first: the stock programs it is preloaded into are not instrumented.
	local syms
	syms=$(nm -D "$SHIM" 2>/dev/null) || syms=
	if grep -q ' U __asan_' <<<"$syms"; then
		local rt
		rt=$(clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null) || rt=
		[ -f "$rt" ] || fail "libustack.so is an ASan build but the ASan runtime was not found"
		PRELOAD="$rt $SHIM"
		SHIM_ASAN_RT=$rt
		log "sanitizer build: preloading $PRELOAD"
		# Programs such as nc are not ours: their leaks are not our bugs.
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	fi
}

SHIM_ASAN_RT=

# shim_argv CMD...: SHIM_ARGV = CMD, except that a program that carries
# its own ASan runtime (our helpers in a sanitizer build) is started through
# `env LD_PRELOAD=<libustack.so>`: the shared runtime preloaded next to its
# static one aborts ("incompatible ASan runtimes"), while wrappers before
# it (timeout) are stock programs that still need it.
shim_argv() {
	SHIM_ARGV=()
	local a syms found=
	for a in "$@"; do
		if [ -n "$SHIM_ASAN_RT" ] && [ -z "$found" ] && [[ $a == */* ]] && [ -f "$a" ] &&
			[ -x "$a" ]; then
			syms=$(nm -D --defined-only "$a" 2>/dev/null) || syms=
			if grep -q ' __asan_init$' <<<"$syms"; then
				SHIM_ARGV+=(env LD_PRELOAD="$SHIM")
				found=1
			fi
		fi
		SHIM_ARGV+=("$a")
	done
}

# shim CMD...: run CMD inside the namespace under libustack.so.
shim() {
	shim_argv "$@"
	ip netns exec "$NS" env USTACK_SOCKET="$SOCK" LD_PRELOAD="$PRELOAD" "${SHIM_ARGV[@]}"
}
# shim_bg CMD... &: the same in the background, so that $! is the
# program's own PID (the subshell execs it).
shim_bg() {
	shim_argv "$@"
	exec ip netns exec "$NS" env USTACK_SOCKET="$SOCK" LD_PRELOAD="$PRELOAD" "${SHIM_ARGV[@]}"
}

# ipc_ctr NAME: a value from `ustackctl ipc`.
ipc_ctr() {
	local v
	v=$("$USTACKCTL" --socket "$SOCK" ipc | awk -v n="ipc_$1" '$1 == n { print $2 }')
	[ -n "$v" ] || fail "ustackctl ipc has no ipc_$1"
	echo "$v"
}

# Open (non-orphan) stack sockets.
stack_socks() {
	"$USTACKCTL" --socket "$SOCK" sockets | awk 'NR > 1 && $NF != "orphan"' | wc -l
}

# wait_ipc_socks N SECS: ipc_sockets drops to N within SECS.
wait_ipc_socks() {
	local n=$1 i v
	for ((i = 0; i < $2 * 10; i++)); do
		v=$(ipc_ctr sockets)
		[ "$v" -le "$n" ] && return 0
		sleep 0.1
	done
	fail "ipc_sockets is $v, expected $n within $2 s"
}

# wait_port_listening NSPORT: the stack has a listener on port (ipc side).
wait_stack_listen() {
	local i
	for ((i = 0; i < 100; i++)); do
		"$USTACKCTL" --socket "$SOCK" sockets | awk -v p=":$1" '$2 ~ p"$" && $4 == "LISTEN"' |
			grep -q . && return 0
		sleep 0.1
	done
	fail "no stack listener on port $1 after 10 s"
}

# wait_kernel_listen PORT: a kernel-side listener in the namespace.
wait_kernel_listen() {
	local i
	for ((i = 0; i < 100; i++)); do
		ns ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	fail "no kernel listener on port $1 after 10 s"
}

now_ns() { date +%s%N; }
# mbps BYTES START_NS END_NS
mbps() { awk -v b="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.1f", b / ((e - s) / 1e9) / 1e6 }'; }
