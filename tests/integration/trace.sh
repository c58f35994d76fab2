#!/usr/bin/env bash
# trace.sh - --trace follows a packet through every layer: a ping, a UDP
# echo and a TCP connection leave one line per layer (dev, eth, arp, ip4,
# icmp/udp/tcp, sock) in ustackd's log; without --trace there are none.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup
need_cmd socat
start_daemon --trace --services echo

printf 'hello' | ns socat -t 1 - "UDP:$STACK_IP:7" >"$T_TMP/udp.out" 2>/dev/null ||
	fail "UDP echo through socat failed"
[ "$(cat "$T_TMP/udp.out")" = hello ] || fail "UDP echo returned '$(cat "$T_TMP/udp.out")'"
printf 'hello tcp' | ns socat -t 1 - "TCP:$STACK_IP:7" >"$T_TMP/tcp.out" 2>/dev/null ||
	fail "TCP echo through socat failed"
[ "$(cat "$T_TMP/tcp.out")" = "hello tcp" ] || fail "TCP echo returned '$(cat "$T_TMP/tcp.out")'"
ns ping -c 1 -W 2 -q "$STACK_IP" >/dev/null || fail "ping failed"
sleep 0.2

for layer in 'dev  rx' 'dev  tx' 'eth  rx' 'eth  tx' 'arp  rx' 'arp  tx' 'ip4  rx' 'ip4  tx' \
	'icmp rx' 'icmp tx echo-reply' 'udp  rx' 'udp  tx' 'sock udp' 'tcp  rx' 'tcp  tx' \
	'sock tcp' 'SYN_RECEIVED -> ESTABLISHED'; do
	grep -q -- "$layer" "$LOG" || fail "no '$layer' line in the trace"
done
ok "the trace shows dev, eth, arp, ip4, icmp, udp, tcp and sock lines"
stop_daemon

# Without --trace: no per-packet lines at all.
: >"$LOG"
start_daemon --services echo
ns ping -c 3 -W 2 -q "$STACK_IP" >/dev/null || fail "ping failed"
if grep -qE '(dev|eth|ip4) +(rx|tx)' "$LOG"; then
	fail "per-packet trace lines without --trace"
fi
ok "no trace lines without --trace"
stop_daemon
