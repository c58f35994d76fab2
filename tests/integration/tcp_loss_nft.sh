#!/usr/bin/env bash
# tcp_loss_nft.sh - TCP under 5 % packet loss made by nftables on the
# kernel side (USTACK_TCP_LOSS overrides the percentage).  Each stage: a
# 20 MiB echo with sha256 check and 100 MiB into discard (both x
# USTACK_TEST_SCALE), byte-exact / fully delivered within a time bound,
# with retransmissions in the stack's counters.
#
# Stage 1, the issue's recipe: `numgen random mod 100 < 5 drop` on the
#   input and output hooks of the namespace the TAP lives in.  Input drops
#   are real loss for what the stack sends.  Output drops are not real loss
#   for the kernel's own TCP segments: netfilter's verdict comes back to
#   the kernel's TCP as a transmit error (EPERM) and the segment is simply
#   sent again at once, so the stack never sees a gap.
# Stage 2, real loss both ways: the kernel peer sits in a second namespace
#   behind a veth pair (TSO/GSO/GRO off, so one packet is one segment), the
#   TAP's namespace routes between the two, and the drops are on its
#   forward hook.  Here the stack's receive side must reassemble out of
#   order data (tcp_ooo_segs grows) as well as retransmit.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
setup
need_cmd nft timeout sha256sum
NS2=""
# lib.sh's cleanup deletes $NS; the peer namespace goes first.
loss_cleanup() {
	local rc=$?
	set +e
	[ -n "$NS2" ] && ip netns del "$NS2" 2>/dev/null
	(exit "$rc") # cleanup reads the status from $?
	cleanup
}
trap loss_cleanup EXIT

LOSS=${USTACK_TCP_LOSS:-5}
ECHO_SIZE=$(scaled $((20 * MiB)))
DISCARD_SIZE=$(scaled $((100 * MiB)))
PEER_NET=10.78.0
# --gateway: replies to the peer namespace go through the kernel side.
start_daemon --services echo,discard,chargen --gateway "$HOST_IP"
tcp_services_ready

# stage_transfers LABEL: echo and discard from the peer namespace
# ($PEER_NS, empty for the test's own), counters before/after in $T_TMP/LABEL.{0,1,2}.
stage_transfers() {
	local label=$1 retrans rx
	snap "$T_TMP/$label.0"
	echo_sha "$ECHO_SIZE" 120
	snap "$T_TMP/$label.1"
	ctr_delta_report "$T_TMP/$label.0" "$T_TMP/$label.1" tcp_retrans_segs tcp_fast_retrans tcp_sack_recoveries tcp_timeouts tcp_tlp_probes tcp_ooo_segs tcp_dup_data_segs
	retrans=$(($(ctr_in "$T_TMP/$label.1" tcp_retrans_segs) - $(ctr_in "$T_TMP/$label.0" tcp_retrans_segs)))
	[ "$retrans" -gt 0 ] || fail "$label: echo under $LOSS % loss: tcp_retrans_segs did not grow"
	ok "$label: echo under loss byte-exact; the stack retransmitted $retrans segments"
	run_tool 150 send "$STACK_IP" 9 "$DISCARD_SIZE"
	snap "$T_TMP/$label.2"
	rx=$(($(ctr_in "$T_TMP/$label.2" tcp_rx_bytes) - $(ctr_in "$T_TMP/$label.1" tcp_rx_bytes)))
	[ "$rx" -ge "$DISCARD_SIZE" ] || fail "$label: discard under loss: tcp_rx_bytes grew by $rx, expected >= $DISCARD_SIZE"
	ctr_delta_report "$T_TMP/$label.1" "$T_TMP/$label.2" tcp_rx_data_segs tcp_ooo_segs tcp_dup_data_segs tcp_tx_acks
	ok "$label: discard under loss: $(human "$DISCARD_SIZE") delivered and the server closed after our FIN"
	# Every segment the stack builds must fit the 1500-byte MTU, also the
	# data segments that carry SACK blocks (RFC 6691: options come out of
	# the payload, not on top of it); a drop here is a segment TCP thinks
	# it sent.
	too_big=$(($(ctr_in "$T_TMP/$label.2" ip4_drop_too_big) - $(ctr_in "$T_TMP/$label.0" ip4_drop_too_big)))
	[ "$too_big" -eq 0 ] || fail "$label: the stack dropped $too_big of its own packets as larger than the MTU (ip4_drop_too_big; TCP segments with SACK blocks?)"
}

# ---- stage 1: input and output hooks of the TAP's namespace -------------
PEER_NS=""
nft_loss "$LOSS"
stage_transfers input-output
read -r din dout < <(nft_dropped)
log "input-output: nftables dropped $din incoming and $dout outgoing packets"
{ [ "${din:-0}" -gt 0 ] && [ "${dout:-0}" -gt 0 ]; } || fail "nftables dropped nothing ($din in, $dout out): the loss rules did not apply"
ns nft delete table inet lossy
wait_no_conns 20
ok "input-output: no TCP connection left open"

# ---- stage 2: forward hook, the peer one hop away ---------------------------
NS2=ustack-t-$T_NAME-peer-$$
ip netns add "$NS2" || { NS2=""; fail "cannot create the peer namespace"; }
ip -n "$NS2" link set lo up
ip -n "$NS" link add name lossy0 type veth peer name lossy1 netns "$NS2"
ns "$PY" "$TCP_TOOL" nooffload lossy0 >/dev/null
ip netns exec "$NS2" "$PY" "$TCP_TOOL" nooffload lossy1 >/dev/null
ip -n "$NS" addr add "$PEER_NET.1/24" dev lossy0
ip -n "$NS2" addr add "$PEER_NET.2/24" dev lossy1
ip -n "$NS" link set lossy0 up
ip -n "$NS2" link set lossy1 up
ip -n "$NS2" route add "$STACK_IP/32" via "$PEER_NET.1"
ns sysctl -q -w net.ipv4.ip_forward=1
ns nft add table inet lossy
ns nft add chain inet lossy relay '{ type filter hook forward priority 0; }'
ns nft add rule inet lossy relay iifname "$IFNAME" numgen random mod 100 '<' "$LOSS" counter drop
ns nft add rule inet lossy relay oifname "$IFNAME" numgen random mod 100 '<' "$LOSS" counter drop
ip netns exec "$NS2" ping -c 1 -W 2 -q "$STACK_IP" >/dev/null 2>&1 ||
	ip netns exec "$NS2" ping -c 3 -W 2 -q "$STACK_IP" >/dev/null 2>&1 ||
	fail "the stack does not answer ping from the peer namespace ($PEER_NET.2 via $HOST_IP)"
ok "peer namespace $NS2 ($PEER_NET.2) reaches the stack through $NS; forward hook drops $LOSS % each way"
PEER_NS=$NS2
stage_transfers forward
read -r dstack dkernel < <(nft_dropped)
log "forward: nftables dropped $dstack packets from the stack and $dkernel to it"
{ [ "${dstack:-0}" -gt 0 ] && [ "${dkernel:-0}" -gt 0 ]; } || fail "forward hook dropped nothing ($dstack, $dkernel)"
ooo=$(($(ctr_in "$T_TMP/forward.2" tcp_ooo_segs) - $(ctr_in "$T_TMP/forward.0" tcp_ooo_segs)))
[ "$ooo" -gt 0 ] || fail "forward: $dkernel segments to the stack were dropped but tcp_ooo_segs did not grow"
ok "forward: the stack queued $ooo out-of-order segments and filled the holes"
ns nft delete table inet lossy
wait_no_conns 20
ok "forward: no TCP connection left open"

assert_alive
stop_daemon
log "PASS"
