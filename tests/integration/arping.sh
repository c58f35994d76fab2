#!/usr/bin/env bash
# arping.sh - ARP from the kernel side: the stack answers requests for its
# own address (and only for it), and the kernel's neighbour table ends up
# holding the stack's MAC.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup
need_cmd arping
start_daemon

hmac=$(host_mac)
rx_before=$(ctr arp_rx_request)
tx_before=$(ctr arp_tx_reply)

rc=0
out=$(ns arping -c 3 -w 10 -I "$IFNAME" "$STACK_IP" 2>&1) || rc=$?
echo "$out"
[ "$rc" -eq 0 ] || fail "arping -c 3 -I $IFNAME $STACK_IP exited $rc"
grep -q 'Received 3 response' <<<"$out" || fail "arping did not get 3 replies"
replies=$(grep -c "reply from $STACK_IP" <<<"$out" || true)
[ "$replies" -eq 3 ] || fail "arping printed $replies replies from $STACK_IP, expected 3"
ok "arping: 3 replies"

# Every reply names the same MAC; it is a unicast MAC that is not the
# kernel side's own.
macs=$(grep "reply from $STACK_IP" <<<"$out" | grep -o '\[[0-9A-Fa-f:]*\]' | tr -d '[]' | tr 'A-F' 'a-f' | sort -u)
[ "$(wc -l <<<"$macs")" -eq 1 ] || fail "replies came from several MACs: $macs"
smac=$macs
[[ $smac =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || fail "bad MAC in arping reply: '$smac'"
first=$((16#${smac:0:2}))
[ $((first & 1)) -eq 0 ] || fail "the stack's MAC $smac is a multicast address"
[ "$smac" != 00:00:00:00:00:00 ] || fail "the stack's MAC is all zeros"
[ "$smac" != "$hmac" ] || fail "the stack answered with the kernel side's own MAC $hmac"
ok "stack MAC $smac (kernel side $hmac)"

# The kernel's neighbour table holds the stack's MAC after traffic.
ns ip neigh flush dev "$IFNAME" >/dev/null 2>&1 || true
ping_ok 2 -i 0.2
nmac=$(stack_mac_from_neigh)
[ -n "$nmac" ] || fail "no neighbour entry for $STACK_IP: $(ns ip neigh show dev "$IFNAME")"
[ "$nmac" = "$smac" ] || fail "neighbour table says $STACK_IP is at $nmac, arping said $smac"
ok "kernel neighbour table: $STACK_IP lladdr $nmac"

rx_after=$(ctr arp_rx_request)
tx_after=$(ctr arp_tx_reply)
[ $((rx_after - rx_before)) -ge 3 ] ||
	fail "arp_rx_request grew by $((rx_after - rx_before)), expected >= 3"
[ $((tx_after - tx_before)) -ge 3 ] ||
	fail "arp_tx_reply grew by $((tx_after - tx_before)), expected >= 3"
ok "arp_rx_request +$((rx_after - rx_before)), arp_tx_reply +$((tx_after - tx_before))"

# Nobody answers for an address the stack does not own.
rc=0
out=$(ns arping -c 2 -w 3 -I "$IFNAME" 10.77.0.3 2>&1) || rc=$?
[ "$rc" -ne 0 ] || { echo "$out"; fail "someone answered ARP for 10.77.0.3"; }
grep -q 'Received 0 response' <<<"$out" || { echo "$out"; fail "arping 10.77.0.3 got responses"; }
ok "no ARP reply for 10.77.0.3 (not the stack's address)"

# The stack announced itself at start (gratuitous ARP).
assert_ctr_ge arp_tx 1

assert_alive
stop_daemon
log "PASS"
