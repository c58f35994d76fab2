#!/usr/bin/env bash
# shim_curl.sh - big transfers with stock curl under libustack.so against
# kernel-side servers in the test's namespace:
#  1. download: nginx on the kernel side (its own configuration in the
#     test's temp dir, one process, sendfile) serves 1 GiB (x
#     USTACK_TEST_SCALE) of random bytes; curl under the shim fetches it
#     into sha256sum: the hash matches and curl reports the full size;
#  2. upload: curl under the shim PUTs (-T) 100 MiB (x scale) to a
#     kernel-side python3 server that hashes the body as it reads it and
#     answers with the sha256 and the byte count: both match;
#  3. kernel-side capture of the upload: tcpdump on the kernel side of the
#     TAP sees the stack's SYN (from the stack's address to the server's
#     port) and the stack's data: the highest sequence number it sent
#     covers the request (headers + body), and the payload bytes counted in
#     the capture are about the transfer size (when tcpdump dropped
#     nothing);
#  and afterwards every IPC socket is released, no bad IPC message, no
#  out-of-window segment, and ustackd exits cleanly.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119,SC2015
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
shim_setup
need_cmd curl nginx sha256sum timeout ss tcpdump tshark
[ -x "$PY" ] || skip "$PY is missing"
start_daemon

DL_SIZE=$(scaled $((1024 * MiB)) $((16 * MiB)))
UP_SIZE=$(scaled $((100 * MiB)) $((8 * MiB)))
log "download $(human "$DL_SIZE"), upload $(human "$UP_SIZE") (scale $TCP_SCALE)"
snap "$T_TMP/c0"

# ---- 1. download from a kernel-side nginx ----------------------------------
W=$T_TMP/ngx
mkdir -p "$W/www" "$W/logs" "$W/tmp"
head -c "$DL_SIZE" /dev/urandom >"$W/www/big.bin"
want_dl=$(sha256sum <"$W/www/big.bin" | cut -d' ' -f1)
cat >"$W/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $W/nginx.pid;
error_log $W/logs/error.log info;
events { use epoll; worker_connections 64; }
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
	server {
		listen $HOST_IP:8080;
		root $W/www;
	}
}
EOF
ns nginx -t -q -p "$W" -e "$W/logs/error.log" -c "$W/nginx.conf" ||
	fail "nginx -t rejects the test configuration"
ip netns exec "$NS" timeout 300 nginx -p "$W" -e "$W/logs/error.log" -c "$W/nginx.conf" \
	>"$W/logs/stdout" 2>&1 &
PIDS+=($!)
wait_kernel_listen 8080

t0=$(now_ns)
rc=0
shim timeout 120 curl -sS -f -w '%{stderr}curl: size=%{size_download} code=%{http_code}\n' \
	"http://$HOST_IP:8080/big.bin" 2>"$T_TMP/curl_dl.err" | sha256sum >"$T_TMP/dl.sha" || rc=$?
t1=$(now_ns)
[ "$rc" -eq 0 ] || fail "curl download under the shim failed (status $rc): $(cat "$T_TMP/curl_dl.err")"
got=$(cut -d' ' -f1 "$T_TMP/dl.sha")
[ "$got" = "$want_dl" ] || fail "download: sha256 differs ($(cat "$T_TMP/curl_dl.err"))"
grep -qx "curl: size=$DL_SIZE code=200" "$T_TMP/curl_dl.err" ||
	fail "download: curl reports '$(cat "$T_TMP/curl_dl.err")', expected size=$DL_SIZE code=200"
ok "curl under the shim downloaded $(human "$DL_SIZE") from kernel-side nginx byte-exact, $(mbps "$DL_SIZE" "$t0" "$t1") MB/s"
rm -f "$W/www/big.bin"

# ---- 2. upload (PUT) to a kernel-side python3 server, captured --------------
cat >"$T_TMP/put_server.py" <<'EOF'
# A one-shot PUT sink: hashes the body while reading it and answers with
# "SHA256 BYTES".  Handles Content-Length and chunked bodies.
import hashlib, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self):
        h, n = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                left = size
                while left:
                    b = self.rfile.read(min(left, 1 << 20))
                    if not b:
                        raise ConnectionError("short chunk")
                    h.update(b); n += len(b); left -= len(b)
                self.rfile.readline()
        else:
            left = int(self.headers["Content-Length"])
            while left:
                b = self.rfile.read(min(left, 1 << 20))
                if not b:
                    raise ConnectionError("short body")
                h.update(b); n += len(b); left -= len(b)
        body = ("%s %d\n" % (h.hexdigest(), n)).encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.done = True

    def log_message(self, *a):
        pass

s = HTTPServer((sys.argv[1], int(sys.argv[2])), H)
s.done = False
while not s.done:
    s.handle_request()
EOF
ip netns exec "$NS" timeout 120 "$PY" "$T_TMP/put_server.py" "$HOST_IP" 8081 >"$T_TMP/put.log" 2>&1 &
PIDS+=($!)
ppid_=$!
wait_kernel_listen 8081
head -c "$UP_SIZE" /dev/urandom >"$T_TMP/up.bin"
want_up=$(sha256sum <"$T_TMP/up.bin" | cut -d' ' -f1)

PCAP=$T_TMP/put.pcap
capture_start "$PCAP" -s 96 -B 16384 tcp port 8081

t0=$(now_ns)
resp=$(shim timeout 120 curl -sS -f -T "$T_TMP/up.bin" "http://$HOST_IP:8081/up.bin" \
	2>"$T_TMP/curl_up.err") || fail "curl -T under the shim failed: $(cat "$T_TMP/curl_up.err")"
t1=$(now_ns)
wait "$ppid_" || fail "the PUT server failed: $(cat "$T_TMP/put.log")"
[ "$resp" = "$want_up $UP_SIZE" ] ||
	fail "upload: the server hashed '$resp', expected '$want_up $UP_SIZE'"
ok "curl -T under the shim uploaded $(human "$UP_SIZE") byte-exact (server-side sha256), $(mbps "$UP_SIZE" "$t0" "$t1") MB/s"
rm -f "$T_TMP/up.bin"

capture_stop "$PCAP"
dropped=$CAPTURE_LOST
tshark -n -r "$PCAP" -o tcp.relative_sequence_numbers:TRUE -T fields -e ip.src -e ip.dst \
	-e tcp.dstport -e tcp.flags.syn -e tcp.flags.ack -e tcp.seq -e tcp.len \
	>"$T_TMP/put.txt" 2>"$T_TMP/tshark.err" || fail "tshark failed: $(cat "$T_TMP/tshark.err")"
read -r syns seq_end payload npk < <(awk -v st="$STACK_IP" -v h="$HOST_IP" '
	$1 == st && $2 == h && $3 == 8081 {
		n++
		if ($4 == 1 && $5 == 0) syn++
		e = $6 + $7; if (e > end) end = e
		pay += $7
	}
	END { printf "%d %d %d %d\n", syn, end, pay, n }' "$T_TMP/put.txt")
log "capture: $npk packets from the stack, $syns SYN, stream extent $seq_end bytes, payload counted $payload bytes, tcpdump dropped ${dropped:-?}"
[ "$syns" -ge 1 ] || fail "the capture shows no SYN from $STACK_IP to $HOST_IP:8081"
# Request = headers (a few hundred bytes) + body; the relative sequence
# number of the byte after the last one is 1 + that.
[ "$seq_end" -gt "$UP_SIZE" ] && [ "$seq_end" -lt $((UP_SIZE + 4096)) ] ||
	fail "the stack's data in the capture ends at relative seq $seq_end; expected just over $UP_SIZE"
if [ "$dropped" = 0 ]; then
	# Every byte once, plus any retransmissions (allow 5%).
	[ "$payload" -ge "$UP_SIZE" ] && [ "$payload" -le $((UP_SIZE + UP_SIZE / 20 + 4096)) ] ||
		fail "payload bytes counted in the capture: $payload, expected about $UP_SIZE"
	ok "capture: the SYN and $payload payload bytes from $STACK_IP crossed the TAP (upload $UP_SIZE)"
else
	ok "capture: the SYN and data up to relative seq $seq_end from $STACK_IP crossed the TAP (tcpdump dropped $dropped packets, so the payload sum is not judged)"
fi

# ---- afterwards ---------------------------------------------------------------
wait_ipc_socks 0 10
ok "every IPC socket released"
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
snap "$T_TMP/c1"
oow=$(($(ctr_in "$T_TMP/c1" tcp_drop_out_of_window) - $(ctr_in "$T_TMP/c0" tcp_drop_out_of_window)))
[ "$oow" -eq 0 ] || fail "tcp_drop_out_of_window +$oow during the transfers"
ctr_delta_report "$T_TMP/c0" "$T_TMP/c1" tcp_rx_bytes tcp_tx_bytes tcp_retrans_segs tcp_window_updates tcp_window_reopened
assert_alive
stop_daemon
