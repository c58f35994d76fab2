#!/usr/bin/env bash
# tcp_close_rst.sh - connection refusal and teardown against the kernel:
#   - a kernel client connecting to a closed port of the stack gets
#     "Connection refused" (the stack's RST/ACK, RFC 9293 3.10.7.1) within
#     a second, with python and with nc;
#   - a connection to echo that the kernel closes (after a half-close, so
#     the stack answers with its own FIN: CLOSE_WAIT -> LAST_ACK -> CLOSED)
#     disappears from `ustackctl sockets`;
#   - a chargen connection the kernel closes while data is still flowing
#     (the kernel answers with RST) disappears too;
#   - a connection held open is listed while it lives.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
setup
need_cmd nc timeout
start_daemon --services echo,discard,chargen
tcp_services_ready

# ---- closed port: RST -------------------------------------------------------
rst0=$(ctr tcp_tx_rst)
for port in 5 1023 40000; do
	run_tool 5 refused "$STACK_IP" "$port"
	ms=$(grep -o 'after [0-9.]* ms' "$T_TMP/tool.out" | grep -o '[0-9.]*' | cut -d. -f1)
	[ "$ms" -lt 1000 ] || fail "connection refused only after $ms ms (port $port)"
done
rc=0
t0=$(date +%s%N)
ns timeout 5 nc -z -w 3 "$STACK_IP" 6 2>"$T_TMP/nc.err" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" -ne 0 ] || fail "nc -z to closed port 6 succeeded"
[ "$rc" -ne 124 ] || fail "nc -z to closed port 6 hung"
[ "$ms" -lt 1000 ] || fail "nc -z to closed port 6 took $ms ms"
ok "nc -z to closed port 6: refused in $ms ms"
rst1=$(ctr tcp_tx_rst)
[ $((rst1 - rst0)) -ge 4 ] || fail "tcp_tx_rst grew by $((rst1 - rst0)) for 4 connects to closed ports"
ok "tcp_tx_rst +$((rst1 - rst0)) for 4 refused connects"

# ---- a live connection is listed ---------------------------------------------
rm -f "$T_TMP/fifo" && mkfifo "$T_TMP/fifo"
# nc holds the connection open until the fifo's writer closes (ip netns
# exec execs timeout, which passes signals on to nc: $! is killable).
ip netns exec "$NS" timeout 60 nc -N "$STACK_IP" 7 <"$T_TMP/fifo" >"$T_TMP/nc.out" 2>"$T_TMP/nc.err" &
NCPID=$!
PIDS+=("$NCPID")
exec 9>"$T_TMP/fifo"
printf 'hello ustack\n' >&9
deadline=$((SECONDS + 10))
until grep -q 'hello ustack' "$T_TMP/nc.out"; do
	[ "$SECONDS" -lt "$deadline" ] || fail "nc got no echo: $(cat "$T_TMP/nc.err")"
	sleep 0.1
done
tcp_sockets "$T_TMP/socks.live"
tcp_conns "$T_TMP/socks.live" >"$T_TMP/conns.live"
grep -q "$STACK_IP:7 $HOST_IP:" "$T_TMP/conns.live" || {
	cat "$T_TMP/socks.live" >&2
	fail "the open echo connection is not listed by ustackctl sockets"
}
state=$(grep "$STACK_IP:7 $HOST_IP:" "$T_TMP/conns.live" | head -n 1 | cut -d' ' -f1)
[ "$state" = "?" ] || [ "$state" = ESTABLISHED ] || [ "$state" = ESTAB ] ||
	fail "the open echo connection is listed as $state"
ok "open echo connection listed ($(grep "$STACK_IP:7 $HOST_IP:" "$T_TMP/conns.live" | head -n 1))"
# Kernel closes: nc -N shuts down writing at EOF, gets the stack's FIN.
exec 9>&-
rc=0
for _ in $(seq 1 100); do alive "$NCPID" || break; sleep 0.05; done
alive "$NCPID" && fail "nc did not exit after its FIN (no FIN from the stack?)"
wait "$NCPID" || rc=$?
forget_pid "$NCPID"
[ "$rc" -eq 0 ] || fail "nc exited $rc: $(cat "$T_TMP/nc.err")"
wait_no_conns 5 ":7 "
ok "kernel-closed echo connection is gone from the stack's list"

# ---- half-close then close -----------------------------------------------
run_tool 30 halfclose "$STACK_IP" 7
wait_no_conns 5 ":7 "
ok "half-closed echo connection completed and is gone"

# ---- kernel closes a chargen connection mid-stream (RST from the kernel) --
rstin0=$(ctr tcp_rx_rst)
ns timeout -k 2 20 "$PY" - "$STACK_IP" <<'PY' || fail "chargen abort client failed"
import socket, sys, time
s = socket.create_connection((sys.argv[1], 19), timeout=10)
got = 0
while got < 1 << 20:
    d = s.recv(65536)
    if not d:
        sys.exit("chargen closed early")
    got += len(d)
s.close()  # unread data in the receive queue: the kernel sends RST
print(f"read {got} bytes of chargen, closed with data pending")
PY
wait_no_conns 5 ":19 "
rstin1=$(ctr tcp_rx_rst)
[ $((rstin1 - rstin0)) -ge 1 ] || fail "tcp_rx_rst did not grow after the kernel reset a chargen connection"
ok "chargen connection reset by the kernel is gone (tcp_rx_rst +$((rstin1 - rstin0)))"

# ---- many short connections: none left behind -----------------------------
for i in $(seq 1 50); do
	printf 'line %d\n' "$i" | ns timeout 5 nc -N "$STACK_IP" 7 >"$T_TMP/nc.out" 2>"$T_TMP/nc.err" ||
		fail "nc #$i to echo failed: $(cat "$T_TMP/nc.err")"
	grep -qx "line $i" "$T_TMP/nc.out" || fail "nc #$i: wrong echo '$(head -c 100 "$T_TMP/nc.out")'"
done
wait_no_conns 5
ok "50 short nc connections echoed and closed; nothing left open"
assert_alive
stop_daemon
log "PASS"
