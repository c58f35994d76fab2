#!/usr/bin/env bash
# sigterm.sh - signals: SIGUSR1 prints the counters to the log; SIGTERM
# and SIGINT make ustackd exit 0 within a second, print the counters and
# remove its device and control socket.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup

for sig in TERM INT; do
	: >"$LOG"
	start_daemon
	ping_ok 3 -i 0.05

	# SIGUSR1: the counters ("name value" lines) appear in the log.
	kill -USR1 "$DPID"
	for _ in $(seq 1 50); do
		grep -Eq '(^|[[:space:]])icmp_rx_echo[[:space:]]+[0-9]+' "$LOG" && break
		sleep 0.1
	done
	line=$(grep -E '(^|[[:space:]])icmp_tx_echo_reply[[:space:]]+[0-9]+' "$LOG" | tail -n 1) ||
		fail "SIGUSR1 did not print the counters (no icmp_tx_echo_reply line in the log)"
	v=$(awk '{ for (i = 1; i < NF; i++) if ($i == "icmp_tx_echo_reply") print $(i + 1) }' <<<"$line")
	[ "${v:-0}" -ge 3 ] || fail "SIGUSR1 printed icmp_tx_echo_reply = '$v' after 3 pings"
	assert_alive
	ok "SIGUSR1 printed the counters (icmp_tx_echo_reply $v) and ustackd kept running"
	nlines=$(grep -cE '(^|[[:space:]])icmp_tx_echo_reply[[:space:]]+[0-9]+' "$LOG")

	stop_daemon "$sig" 1
	[ "$STOP_MS" -le 1000 ] || fail "ustackd took $STOP_MS ms to exit after SIG$sig"
	n2=$(grep -cE '(^|[[:space:]])icmp_tx_echo_reply[[:space:]]+[0-9]+' "$LOG")
	[ "$n2" -gt "$nlines" ] || fail "ustackd did not print its counters at exit"
	ok "counters printed at exit"
	if ns ip link show dev "$IFNAME" >/dev/null 2>&1; then
		fail "$IFNAME still exists after SIG$sig"
	fi
	ok "$IFNAME is gone"
	[ ! -e "$SOCK" ] || fail "control socket $SOCK left behind after SIG$sig"
	ok "control socket removed"
done
log "PASS"
