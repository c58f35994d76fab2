#!/usr/bin/env bash
# tun.sh - ustackd in --mode tun (raw IPv4, no Ethernet, no ARP) answers
# ping, fragmented ping and UDP echo from the kernel side.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup
start_daemon --mode tun --services echo

ns ip -d link show dev "$IFNAME" | grep -q 'tun type tun' ||
	fail "$IFNAME is not a TUN device: $(ns ip -d link show dev "$IFNAME")"
ns ip link show dev "$IFNAME" | grep -q 'link/none' ||
	fail "$IFNAME has a link-layer address in TUN mode"
ok "$IFNAME is a TUN device"

ping_ok 50 -i 0.01 -q
ping_ok 2 -i 0.2 -s 30000
ping_ok 1 -s 65507
ns "$PY" "$T_DIR/udpcheck.py" echo "$STACK_IP" 7 1 1472 1473 8000 || fail "UDP echo over TUN failed"
ok "UDP echo over TUN"

assert_ctr_ge ip4_reass_ok 3
assert_ctr_ge ip4_frag_created 1
assert_ctr_eq arp_tx 0
assert_ctr_eq arp_rx 0
assert_ctr_eq eth_rx 0

assert_alive
stop_daemon
ns ip link show dev "$IFNAME" >/dev/null 2>&1 && fail "$IFNAME still exists after ustackd exited"
ok "$IFNAME removed"
log "PASS"
