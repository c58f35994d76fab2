#!/usr/bin/env bash
# shim_wget.sh - GNU wget under libustack.so fetching from a kernel-side
# `python3 -m http.server` by IP address: 8 MiB into a file byte-exact
# (sha256), four times over new connections, the same again with -c
# resuming a partial file (a Range request), and a missing page makes wget
# exit 8 (server error response).
# Regression check for downloads at 2-3 MB/s: after an active open the
# stack's receive window was measured from a stale right edge for about
# half of all peer ISNs and exceeded the 256 KiB ring, so the kernel sent
# past it and waited for retransmission timeouts.  Each fetch is a new
# connection (a new ISN); no segment may fall outside the window
# (tcp_drop_out_of_window) and no window may need clamping to the ring
# (tcp_rcv_wnd_clamped).  shim_slowread.sh tests the window in depth.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119,SC2015
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

# 1. a whole file, four times
snap "$T_TMP/c0"
for run in 1 2 3 4; do
	rm -f "$T_TMP/dl/f.bin"
	t0=$(now_ns)
	(cd "$T_TMP/dl" && shim timeout 60 wget -q -O f.bin "http://$HOST_IP:8000/f.bin") ||
		fail "wget under the shim failed (exit $?)"
	t1=$(now_ns)
	[ "$(sha256sum <"$T_TMP/dl/f.bin" | cut -d' ' -f1)" = "$want" ] ||
		fail "wget under the shim: sha256 differs ($(stat -c %s "$T_TMP/dl/f.bin") bytes)"
	ok "wget under the shim fetched $SIZE bytes byte-exact (run $run), $(mbps "$SIZE" "$t0" "$t1") MB/s"
done
snap "$T_TMP/c1"
for c in tcp_drop_out_of_window tcp_rcv_wnd_clamped; do
	d=$(($(ctr_in "$T_TMP/c1" "$c") - $(ctr_in "$T_TMP/c0" "$c")))
	[ "$d" -eq 0 ] || fail "$c +$d during the downloads: the window exceeded the receive ring"
done
ok "no out-of-window segment and no clamped window during the downloads"

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
