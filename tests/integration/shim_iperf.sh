#!/usr/bin/env bash
# shim_iperf.sh - iperf3 under libustack.so.  As a client against a
# kernel-side `iperf3 -s`: TCP 10 s, reverse (-R), four streams (-P 4) and
# UDP at 50 Mbit/s.  As a server on the stack (-B the stack's address)
# with a kernel-side client: TCP, -R, -P 4, and UDP (the server's UDP
# socket and the next one share the port with SO_REUSEADDR; the connected
# one takes the test's datagrams).  Every run's --json report must have no
# "error" and move bytes both as sent and as received; UDP must lose under
# 5 % and count the datagrams the server received.  The receive ring
# grows during the client's -R run (auto-tuning).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd iperf3 timeout ss
[ -x "$PY" ] || skip "$PY is missing"
start_daemon

# check_json FILE WHAT: the iperf3 --json report in FILE is a success;
# prints "GBIT_PER_S" (TCP) or "MBIT_PER_S LOST%" (UDP).
check_json() {
	"$PY" - "$1" "$2" <<'EOF' || fail "$2: $(head -c 600 "$1")"
import json, sys
path, what = sys.argv[1], sys.argv[2]
try:
    r = json.load(open(path))
except Exception as e:
    sys.exit(f"{what}: no JSON report ({e})")
if "error" in r:
    sys.exit(f"{what}: iperf3 error: {r['error']}")
end = r.get("end", {})
if r["start"]["test_start"]["protocol"] == "UDP":
    s = end["sum"]
    if s["bytes"] <= 0 or s["packets"] <= 0:
        sys.exit(f"{what}: no UDP datagrams arrived: {s}")
    if s["lost_percent"] >= 5:
        sys.exit(f"{what}: lost {s['lost_percent']:.1f} % of the datagrams")
    print(f"{s['bits_per_second'] / 1e6:.1f} Mbit/s, {s['packets']} datagrams, {s['lost_percent']:.2f} % lost")
else:
    sent, rcvd = end["sum_sent"], end["sum_received"]
    if sent["bytes"] <= 0 or rcvd["bytes"] <= 0:
        sys.exit(f"{what}: sent {sent['bytes']}, received {rcvd['bytes']}")
    n = len(end.get("streams", []))
    want = r["start"]["test_start"]["num_streams"]
    if n != want:
        sys.exit(f"{what}: {n} streams reported, {want} asked for")
    print(f"{rcvd['bits_per_second'] / 1e9:.2f} Gbit/s received ({rcvd['bytes']} bytes, {n} stream(s))")
EOF
}

# 1. client under the shim, kernel-side server
ns timeout 100 iperf3 -s -B "$HOST_IP" -p 5201 >"$T_TMP/ksrv.log" 2>&1 &
PIDS+=($!)
wait_kernel_listen 5201
run_client() {
	local what=$1 res
	shift
	shim timeout 40 iperf3 -c "$HOST_IP" -p 5201 --json "$@" >"$T_TMP/c.json" 2>"$T_TMP/c.err" ||
		fail "iperf3 $* under the shim exited non-zero: $(cat "$T_TMP/c.err") $(head -c 400 "$T_TMP/c.json")"
	res=$(check_json "$T_TMP/c.json" "client $what")
	ok "iperf3 client under the shim, $what: $res"
}
run_client "TCP 10 s" -t 10
g0=$(ctr tcp_rcvbuf_grown)
run_client "TCP -R 5 s" -t 5 -R
# Receive auto-tuning: iperf3 reads as fast as the data comes, so the
# window holds the sender back and the ring grows (tcp_sock.c).  An ASan
# build's reader is too slow for that (a slow reader must not grow it).
grown=$(($(ctr tcp_rcvbuf_grown) - g0))
if [ -z "$SHIM_ASAN_RT" ]; then
	[ "$grown" -ge 1 ] || fail "iperf3 -R: the receive ring never grew (tcp_rcvbuf_grown)"
	ok "receive auto-tuning grew the ring $grown times during -R"
else
	log "receive auto-tuning during -R (sanitizer build, not checked): grew $grown times"
fi
run_client "TCP -P 4 5 s" -t 5 -P 4
run_client "UDP 50 Mbit/s 5 s" -t 5 -u -b 50M

# 2. server under the shim, kernel-side client
shim_bg timeout 100 iperf3 -s -B "$STACK_IP" -p 5301 >"$T_TMP/ssrv.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
wait_stack_listen 5301
run_kclient() {
	local what=$1 res
	shift
	ns timeout 40 iperf3 -c "$STACK_IP" -p 5301 --json "$@" >"$T_TMP/k.json" 2>"$T_TMP/k.err" ||
		fail "kernel-side iperf3 $* against the shim server exited non-zero: $(cat "$T_TMP/k.err") $(head -c 400 "$T_TMP/k.json"); server: $(tail -n 5 "$T_TMP/ssrv.log")"
	res=$(check_json "$T_TMP/k.json" "server $what")
	ok "iperf3 server under the shim, $what: $res"
}
run_kclient "TCP 5 s" -t 5
run_kclient "TCP -R 5 s" -t 5 -R
run_kclient "TCP -P 4 5 s" -t 5 -P 4
run_kclient "UDP 10 Mbit/s 5 s" -t 5 -u -b 10M
run_kclient "UDP -R 10 Mbit/s 3 s" -t 3 -u -b 10M -R
alive "$SPID" || fail "iperf3 -s under the shim died: $(tail -n 5 "$T_TMP/ssrv.log")"
kill -TERM "$SPID"
wait "$SPID" 2>/dev/null || true
forget_pid "$SPID"

wait_ipc_socks 0 10
ok "every IPC socket released"
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
