#!/usr/bin/env bash
# test.sh - install what is missing, then build and run ustack's whole test
# suite twice:
#   1. gcc, --werror, in build/
#   2. clang with AddressSanitizer + UndefinedBehaviorSanitizer, --werror,
#      in build-asan/ (sanitizer errors are fatal)
# Unit tests, in-process simulations and the integration tests against the
# Linux kernel (root only: each in a private network namespace; they report
# SKIP otherwise).  Ends with one line "N passed, N failed, N skipped"
# (meson's OK vs FAIL counts over both builds) and exits non-zero if
# anything failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: note: not root; the integration tests will be skipped (run: sudo $0)" >&2
fi
scripts/deps.sh || {
	echo "test.sh: installing dependencies failed" >&2
	echo "0 passed, 1 failed"
	exit 1
}

export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:print_summary=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:print_summary=1

passed=0
failed=0
skipped=0

# compiler_of DIR: the C compiler id a configured build dir uses.
compiler_of() {
	/usr/bin/python3 - "$1/meson-info/intro-compilers.json" <<'PY' 2>/dev/null
import json, sys
print(json.load(open(sys.argv[1]))["host"]["c"]["id"])
PY
}

# suite LABEL DIR CC MESON-OPTIONS...: configure, build, run meson test.
suite() {
	local label=$1 dir=$2 cc=$3 rc out ok fl sk
	shift 3
	echo
	echo "=== $label: configure $dir ($cc $*) ==="
	if [ -f "$dir/build.ninja" ] && [ "$(compiler_of "$dir")" = "$cc" ]; then
		meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1 ||
			CC=$cc meson setup --wipe "$dir" "$@" >"$dir.setup.log" 2>&1
	else
		rm -rf "$dir"
		CC=$cc meson setup "$dir" "$@" >"$dir.setup.log" 2>&1
	fi
	rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$dir.setup.log"
		echo "test.sh: $label: meson setup failed" >&2
		failed=$((failed + 1))
		return
	fi
	grep -E '^(WARNING|DEPRECATION)' "$dir.setup.log" || true
	rm -f "$dir.setup.log"

	echo "=== $label: build ==="
	if ! ninja -C "$dir"; then
		echo "test.sh: $label: build failed" >&2
		failed=$((failed + 1))
		return
	fi

	echo "=== $label: meson test ==="
	out=$dir/meson-logs/test-summary.txt
	meson test -C "$dir" --print-errorlogs "${TEST_ARGS[@]}" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	ok=$(awk '/^Ok:/ { n += $2 } /^Expected Fail:/ { n += $3 } END { print n + 0 }' "$out")
	fl=$(awk '/^Fail:/ || /^Timeout:/ { n += $2 } /^Unexpected Pass:/ { n += $3 } END { print n + 0 }' "$out")
	sk=$(awk '/^Skipped:/ { n += $2 } END { print n + 0 }' "$out")
	if [ "$rc" -ne 0 ] && [ "$fl" -eq 0 ]; then
		echo "test.sh: $label: meson test exited $rc" >&2
		fl=1
	fi
	if [ $((ok + fl + sk)) -eq 0 ]; then
		echo "test.sh: $label: no test ran" >&2
		fl=1
	fi
	echo "=== $label: $ok passed, $fl failed, $sk skipped ==="
	passed=$((passed + ok))
	failed=$((failed + fl))
	skipped=$((skipped + sk))
}

TEST_ARGS=()
suite "gcc" build gcc --werror

# Sanitizers slow everything down: give the tests twice the time.
TEST_ARGS=(--timeout-multiplier 2)
suite "clang + ASan/UBSan" build-asan clang \
	-Db_sanitize=address,undefined -Db_lundef=false --werror

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
