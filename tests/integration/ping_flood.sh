#!/usr/bin/env bash
# ping_flood.sh - 200 pings at 10 ms intervals from the kernel side: no loss.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup
start_daemon

before=$(ctr icmp_tx_echo_reply)
ping_ok 200 -i 0.01 -q
after=$(ctr icmp_tx_echo_reply)
[ $((after - before)) -ge 200 ] ||
	fail "icmp_tx_echo_reply grew by $((after - before)), expected >= 200"
ok "icmp_tx_echo_reply grew by $((after - before))"

# Different payload sizes and patterns, checked byte for byte by ping itself.
for size in 0 1 56 1472 1473; do
	ping_ok 3 -i 0.05 -s "$size" -p a5
done

assert_alive
stop_daemon
log "PASS"
