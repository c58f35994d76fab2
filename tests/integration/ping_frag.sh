#!/usr/bin/env bash
# ping_frag.sh - large pings, fragmented in both directions: the stack
# reassembles the request and fragments its reply (MTU 1500).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup
start_daemon

ping_ok 3 -i 0.2 -s 30000
reass=$(ctr ip4_reass_ok)
[ "$reass" -ge 3 ] || fail "ip4_reass_ok = $reass after three 30000-byte pings, expected >= 3"
ok "ip4_reass_ok = $reass"
created=$(ctr ip4_frag_created)
ftx=$(ctr ip4_frag_tx)
[ "$created" -gt 0 ] || [ "$ftx" -gt 0 ] ||
	fail "the stack did not fragment its replies (ip4_frag_created = $created, ip4_frag_tx = $ftx)"
# 30028 bytes of IP datagram in 1480-byte pieces: 21 fragments per reply.
[ "$created" -ge 60 ] || [ "$ftx" -ge 60 ] ||
	fail "too few fragments sent for three 30000-byte replies (ip4_frag_created = $created, ip4_frag_tx = $ftx)"
ok "ip4_frag_created = $created, ip4_frag_tx = $ftx"

# The largest legal ICMP echo: 65507 + 8 + 20 = 65535 bytes of IP.
ping_ok 2 -i 0.3 -s 65507 -p 5a
# Odd sizes around fragment boundaries.
for size in 1480 1481 2952 2953 9000 65000; do
	ping_ok 1 -s "$size"
done
reass2=$(ctr ip4_reass_ok)
[ "$reass2" -ge $((reass + 8)) ] || fail "ip4_reass_ok only went from $reass to $reass2"
ok "ip4_reass_ok = $reass2"

# Nothing should have been left half-reassembled or dropped for memory.
assert_ctr_eq ip4_reass_mem_drop 0
assert_ctr_eq ip4_reass_overlap 0

assert_alive
stop_daemon
log "PASS"
