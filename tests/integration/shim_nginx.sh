#!/usr/bin/env bash
# shim_nginx.sh - stock nginx under libustack.so (a master and one worker,
# epoll, sendfile on, tcp_nopush, keep-alive) listening on the stack:
# kernel-side curl fetches a 10 MiB file byte-exact (sha256), and
# `wrk -c 100 -d 10s -t 2` runs against it with no socket errors and no
# non-2xx answers; nginx stops cleanly and every IPC socket is released.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd nginx wrk curl sha256sum timeout
start_daemon

PORT=8080
W=$T_TMP/ngx
mkdir -p "$W/www" "$W/logs" "$W/tmp"
head -c $((10 * MiB)) /dev/urandom >"$W/www/big.bin"
head -c 4096 /dev/urandom >"$W/www/small.bin"
want=$(sha256sum <"$W/www/big.bin" | cut -d' ' -f1)
want_small=$(sha256sum <"$W/www/small.bin" | cut -d' ' -f1)
cat >"$W/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root root;
pid $W/nginx.pid;
error_log $W/logs/error.log info;
events { use epoll; worker_connections 1024; }
http {
	access_log $W/logs/access.log;
	client_body_temp_path $W/tmp/body;
	proxy_temp_path $W/tmp/proxy;
	fastcgi_temp_path $W/tmp/fastcgi;
	uwsgi_temp_path $W/tmp/uwsgi;
	scgi_temp_path $W/tmp/scgi;
	default_type application/octet-stream;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 30;
	keepalive_requests 100000;
	server {
		listen $STACK_IP:$PORT;
		root $W/www;
	}
}
EOF
shim nginx -t -q -p "$W" -e "$W/logs/error.log" -c "$W/nginx.conf" ||
	fail "nginx -t rejects the test configuration"

shim_bg nginx -p "$W" -e "$W/logs/error.log" -c "$W/nginx.conf" >"$W/logs/stdout" 2>&1 &
NPID=$!
PIDS+=("$NPID")
wait_stack_listen "$PORT"
sleep 0.3
alive "$NPID" || fail "nginx under the shim exited: $(tail -n 5 "$W/logs/error.log")"
workers=$(pgrep -P "$NPID" | wc -l)
[ "$workers" -eq 1 ] || fail "nginx master $NPID has $workers children, expected 1 worker"
ok "nginx under the shim: master $NPID and worker $(pgrep -P "$NPID") on $STACK_IP:$PORT"

# 1. 10 MiB through sendfile, byte-exact, three times (keep-alive and not)
t0=$(now_ns)
ns timeout 30 curl -sS -f -o "$T_TMP/big1" "http://$STACK_IP:$PORT/big.bin" ||
	fail "kernel-side curl of 10 MiB from nginx failed"
t1=$(now_ns)
[ "$(sha256sum <"$T_TMP/big1" | cut -d' ' -f1)" = "$want" ] ||
	fail "10 MiB from nginx: sha256 differs ($(stat -c %s "$T_TMP/big1") bytes)"
ok "kernel-side curl fetched 10 MiB from nginx byte-exact, $(mbps $((10 * MiB)) "$t0" "$t1") MB/s"
ns timeout 30 curl -sS -f -o "$T_TMP/big2" -o "$T_TMP/small2" \
	"http://$STACK_IP:$PORT/big.bin" "http://$STACK_IP:$PORT/small.bin" ||
	fail "kernel-side curl of two files over one keep-alive connection failed"
if [ "$(sha256sum <"$T_TMP/big2" | cut -d' ' -f1)" != "$want" ] ||
	[ "$(sha256sum <"$T_TMP/small2" | cut -d' ' -f1)" != "$want_small" ]; then
	fail "keep-alive fetch of big.bin then small.bin: sha256 differs"
fi
ns timeout 30 curl -sS -f -r 1000000-1999999 -o "$T_TMP/range" "http://$STACK_IP:$PORT/big.bin" ||
	fail "range request failed"
[ "$(sha256sum <"$T_TMP/range" | cut -d' ' -f1)" = \
	"$(tail -c +1000001 "$W/www/big.bin" | head -c 1000000 | sha256sum | cut -d' ' -f1)" ] ||
	fail "range request: sha256 differs (sendfile at an offset)"
ok "keep-alive big+small and a range request (sendfile at an offset) byte-exact"

# 1b. short connections: the shared memory of a closed accepted socket
# goes back to the listener's pool and serves the next connection (shim/
# ipc.h, "Pooled shared memory"); every answer is still byte-exact.
r0=$(ipc_ctr pool_reused)
for ((i = 0; i < 20; i++)); do
	ns timeout 10 curl -sS -f -H 'Connection: close' -o "$T_TMP/short" \
		"http://$STACK_IP:$PORT/small.bin" || fail "short connection $i failed"
	[ "$(sha256sum <"$T_TMP/short" | cut -d' ' -f1)" = "$want_small" ] ||
		fail "short connection $i: sha256 differs"
done
r1=$(ipc_ctr pool_reused)
[ $((r1 - r0)) -ge 10 ] || fail "20 short connections reused pooled memory only $((r1 - r0)) times"
ok "20 short connections byte-exact, $((r1 - r0)) of them on pooled shared memory"

# 2. wrk: 100 connections, 10 s, no socket errors, no non-2xx.  On the
# 10 MiB file 100 parallel downloads share the link, so one takes seconds:
# wrk's 2 s default would count those as timeouts; 30 s does not.
wrk_run() {
	local path=$1 out
	shift
	out=$(ns timeout 60 wrk -c 100 -d 10s -t 2 "$@" "http://$STACK_IP:$PORT/$path" 2>&1) ||
		fail "wrk on /$path failed: $out"
	printf '%s\n' "$out" | sed 's/^/    /'
	if grep -q 'Socket errors' <<<"$out"; then
		grep 'Socket errors' <<<"$out" |
			grep -Eq 'connect 0, read 0, write 0, timeout 0$' ||
			fail "wrk on /$path: $(grep 'Socket errors' <<<"$out")"
	fi
	! grep -q 'Non-2xx' <<<"$out" || fail "wrk on /$path: $(grep 'Non-2xx' <<<"$out")"
	local reqs
	reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
	[ "${reqs:-0}" -gt 0 ] || fail "wrk on /$path completed no request"
	ok "wrk -c 100 -d 10s -t 2 ${*:+$* }/$path: $reqs requests, $(awk '/Requests\/sec/ { print $2 }' <<<"$out") req/s, no socket errors"
}
# wrk counts a request slower than 2 s as a socket error.  An ASan build
# of the shim (inside nginx) and of ustackd runs several times slower on
# these two cores, so it gets 5 s, as test.sh gives it twice the test time.
if [ -n "$SHIM_ASAN_RT" ]; then
	wrk_run small.bin --timeout 5s
else
	wrk_run small.bin
fi
wrk_run big.bin --timeout 30s

alive "$NPID" || fail "nginx died during the load"
grep -E '\[(alert|emerg|crit)\]' "$W/logs/error.log" | head -n 5 >&2 &&
	fail "nginx logged alerts (see above)"
ns timeout 30 curl -sS -f -o "$T_TMP/big3" "http://$STACK_IP:$PORT/big.bin" ||
	fail "curl after the load failed"
[ "$(sha256sum <"$T_TMP/big3" | cut -d' ' -f1)" = "$want" ] || fail "10 MiB after the load: sha256 differs"
ok "10 MiB still byte-exact after the load"

# 3. a clean stop releases everything
kill -QUIT "$NPID"
for ((i = 0; i < 100; i++)); do alive "$NPID" || break; sleep 0.1; done
alive "$NPID" && fail "nginx did not stop within 10 s of SIGQUIT"
rc=0
wait "$NPID" || rc=$?
forget_pid "$NPID"
[ "$rc" -eq 0 ] || fail "nginx exited with status $rc"
wait_ipc_socks 0 10
[ "$(ipc_ctr pool_slots)" -eq 0 ] || fail "the listener is closed but $(ipc_ctr pool_slots) pooled memfds remain"
ok "nginx stopped (status 0); every IPC socket and pooled memfd released"
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
