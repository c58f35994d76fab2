#!/usr/bin/env bash
# shim_wget.sh - GNU wget under libustack.so fetching from a kernel-side
# `python3 -m http.server` by IP address: 8 MiB into a file byte-exact
# (sha256), the same again with -c resuming a partial file (a Range
# request), and a missing page makes wget exit 8 (server error response).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd wget sha256sum timeout ss
[ -x "$PY" ] || skip "$PY is missing"
start_daemon

SIZE=$((8 * MiB))
mkdir -p "$T_TMP/www" "$T_TMP/dl"
head -c "$SIZE" /dev/urandom >"$T_TMP/www/f.bin"
want=$(sha256sum <"$T_TMP/www/f.bin" | cut -d' ' -f1)
(cd "$T_TMP/www" && exec ip netns exec "$NS" timeout 100 "$PY" -m http.server --bind "$HOST_IP" 8000) \
	>"$T_TMP/http.log" 2>&1 &
PIDS+=($!)
wait_kernel_listen 8000

# 1. a whole file
t0=$(now_ns)
(cd "$T_TMP/dl" && shim timeout 60 wget -q -O f.bin "http://$HOST_IP:8000/f.bin") ||
	fail "wget under the shim failed (exit $?)"
t1=$(now_ns)
[ "$(sha256sum <"$T_TMP/dl/f.bin" | cut -d' ' -f1)" = "$want" ] ||
	fail "wget under the shim: sha256 differs ($(stat -c %s "$T_TMP/dl/f.bin") bytes)"
ok "wget under the shim fetched $SIZE bytes byte-exact, $(mbps "$SIZE" "$t0" "$t1") MB/s"

# 2. resume a partial download (-c: a Range request)
head -c $((3 * MiB + 12345)) "$T_TMP/www/f.bin" >"$T_TMP/dl/part.bin"
(cd "$T_TMP/dl" && shim timeout 60 wget -nv -c -O part.bin "http://$HOST_IP:8000/f.bin") \
	>"$T_TMP/wget-c.log" 2>&1 ||
	fail "wget -c under the shim failed (exit $?): $(tail -n 5 "$T_TMP/wget-c.log")"
[ "$(sha256sum <"$T_TMP/dl/part.bin" | cut -d' ' -f1)" = "$want" ] ||
	fail "wget -c under the shim: sha256 differs ($(stat -c %s "$T_TMP/dl/part.bin") bytes)"
ok "wget -c under the shim resumed a partial file byte-exact"

# 3. a missing page: exit status 8 (server issued an error response)
rc=0
(cd "$T_TMP/dl" && shim timeout 30 wget -q -O missing "http://$HOST_IP:8000/nope") || rc=$?
[ "$rc" -eq 8 ] || fail "wget of a missing page under the shim exited $rc, expected 8"
ok "wget of a missing page under the shim exited 8"

wait_ipc_socks 0 10
ok "every IPC socket released"
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
