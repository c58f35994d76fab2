#!/usr/bin/env bash
# malformed.sh - a seeded barrage of a few thousand malformed frames from
# scapy (malformed.py) on the kernel side of the TAP.  Afterwards ustackd
# is still alive, still answers ping and UDP echo, its counters show the
# drops by reason, and it still exits cleanly.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
setup
[ -x "$PY" ] || skip "$PY is missing"
"$PY" -c 'import scapy.all' 2>/dev/null || skip "python3-scapy is not installed (run scripts/deps.sh)"
start_daemon --services echo,discard,chargen

ping_ok 1
smac=$(stack_mac_from_neigh)
hmac=$(host_mac)
[ -n "$smac" ] || fail "cannot learn the stack's MAC from the neighbour table"
log "stack MAC $smac, kernel side MAC $hmac"
snap "$T_TMP/ctr.before"

send() {
	ns "$PY" "$T_DIR/malformed.py" --iface "$IFNAME" --dst-mac "$smac" --src-mac "$hmac" \
		--src-ip "$HOST_IP" --dst-ip "$STACK_IP" "$@" | tee -a "$T_TMP/sent.txt" ||
		fail "malformed.py $* failed"
}

# Fragments that never complete first: their 30 s reassembly timeout runs
# while the rest of the barrage goes in.
t_incomplete=$SECONDS
send --incomplete --seed 7
assert_alive
send --seed 20240601 --fuzz 2500
assert_alive
ok "barrage sent: $(tail -n 1 "$T_TMP/sent.txt")"
sleep 0.5
snap "$T_TMP/ctr.barrage"
# The two 1000-byte datagrams in 8-byte fragments (in order and reversed)
# were put back together.
r=$(($(ctr_in "$T_TMP/ctr.barrage" ip4_reass_ok) - $(ctr_in "$T_TMP/ctr.before" ip4_reass_ok)))
[ "$r" -ge 2 ] || fail "tiny fragments: ip4_reass_ok grew by $r during the barrage, expected >= 2"
ok "tiny fragments reassembled (ip4_reass_ok +$r)"

# Invalid ARP frames must not have changed what the stack knows about the
# kernel side (ARP with a broadcast/multicast sender MAC, bad lengths...).
"$USTACKCTL" --socket "$SOCK" neigh >"$T_TMP/neigh" || fail "ustackctl neigh failed"
grep -w "$HOST_IP" "$T_TMP/neigh" | grep -qi "$hmac" || {
	cat "$T_TMP/neigh" >&2
	fail "the stack's neighbour cache does not map $HOST_IP to the kernel side's MAC $hmac"
}
ok "neighbour cache: $HOST_IP is still at $hmac"

# Still healthy: ping (also fragmented) and UDP echo.
ping_ok 5 -i 0.05
ping_ok 2 -i 0.2 -s 4000
ns "$PY" "$T_DIR/udpcheck.py" echo "$STACK_IP" 7 1 1473 8000 || fail "UDP echo broken after the barrage"
ok "still answers ping and UDP echo"

# Wait for the incomplete datagrams to time out (30 s, as Linux).
log "waiting for the reassembly timeout (up to 45 s after the incomplete fragments)"
while [ "$(ctr ip4_reass_timeout)" -eq 0 ]; do
	[ $((SECONDS - t_incomplete)) -lt 45 ] || fail "ip4_reass_timeout still 0 after 45 s"
	assert_alive
	sleep 1
done
ok "ip4_reass_timeout = $(ctr ip4_reass_timeout) after $((SECONDS - t_incomplete)) s"

snap "$T_TMP/ctr.after"
log "counters that changed during the barrage:"
awk 'NR == FNR { b[$1] = $2; next } ($2 - b[$1]) != 0 { printf "    %-26s +%d\n", $1, $2 - b[$1] }' \
	"$T_TMP/ctr.before" "$T_TMP/ctr.after"

delta() { echo $(($(ctr_in "$T_TMP/ctr.after" "$1") - $(ctr_in "$T_TMP/ctr.before" "$1"))); }

# expect_drop WHAT NAME...: at least one of the counters grew.
expect_drop() {
	local what=$1 n d desc=""
	shift
	for n in "$@"; do
		d=$(delta "$n")
		desc="$desc $n=+$d"
		if [ "$d" -gt 0 ]; then
			ok "$what:$desc"
			return 0
		fi
	done
	fail "$what: no drop counted ($desc )"
}

expect_drop "Ethernet unknown type" eth_drop_type
expect_drop "Ethernet not for us" eth_drop_not_us
# Frames shorter than an Ethernet header cannot reach the stack from this
# side: the kernel refuses them or (with CAP_SYS_RAWIO, as root) pads them
# to 14 bytes, so eth_drop_trunc is covered by the unit tests instead.
expect_drop "ARP truncated" arp_drop_trunc
expect_drop "ARP unsupported hardware/protocol" arp_drop_unsupported
expect_drop "ARP bad opcode" arp_drop_bad_op
expect_drop "ARP bad sender" arp_drop_bad_sender
expect_drop "IPv4 truncated / total length > frame" ip4_drop_trunc
expect_drop "IPv4 bad version / IHL < 5" ip4_drop_bad_header
expect_drop "IPv4 bad header checksum" ip4_drop_bad_csum
expect_drop "IPv4 bad options" ip4_drop_bad_options
expect_drop "IPv4 bad source" ip4_drop_bad_src
expect_drop "IPv4 not for us" ip4_drop_not_us
expect_drop "IPv4 unknown protocol" ip4_drop_proto
expect_drop "IPv4 fragments received" ip4_frag_rx
expect_drop "overlapping/duplicate fragments" ip4_reass_overlap ip4_reass_dup
expect_drop "impossible fragments" ip4_reass_oversize ip4_reass_bad_frag
expect_drop "reassembly cap (more incomplete datagrams than slots)" ip4_reass_mem_drop
expect_drop "UDP truncated" udp_drop_trunc
expect_drop "UDP bad length" udp_drop_bad_len
expect_drop "UDP bad checksum" udp_drop_bad_csum
expect_drop "ICMP bad checksum" icmp_drop_bad_csum
expect_drop "ICMP truncated" icmp_drop_trunc
expect_drop "ICMP echo to broadcast" icmp_drop_bcast_echo
expect_drop "ICMP errors with bad inner headers" icmp_drop_bad_inner
expect_drop "TCP bad header" tcp_drop_bad_hdr tcp_drop_trunc tcp_drop_bad_csum ip4_drop_proto

# And once more, after everything.
ping_ok 3 -i 0.05
assert_alive
stop_daemon
log "PASS"
