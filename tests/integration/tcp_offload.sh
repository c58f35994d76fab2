#!/usr/bin/env bash
# tcp_offload.sh - ustackd with the device's offloads (--offload on, the
# default: IFF_VNET_HDR + TUNSETOFFLOAD TUN_F_CSUM|TUN_F_TSO4) against the
# real kernel.  Checks that the offloads are in use and that nothing is lost
# or corrupted by them:
#   - `ustackctl status` reports them on;
#   - 100 MiB (scaled) through TCP echo come back byte-exact (sha256): the
#     kernel's GSO frames in, our TSO frames out;
#   - chargen -> kernel and kernel -> discard carry the bytes asked;
#   - counters: link_tx_tso > 0 (frames cut by the kernel),
#     link_rx_large > 0 (frames over the MTU from the kernel),
#     link_rx_csum_trusted > 0, no bad checksum and no refused header;
#   - a capture on the kernel side: every checksum from the stack is either
#     complete or exactly the partial value the kernel completes, and TSO
#     frames appear (tcp_pcapcheck.py --offload);
#   - with --offload off the same transfer uses none of them.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
setup
need_cmd tcpdump timeout sha256sum
start_daemon --services echo,discard,chargen

st=$("$USTACKCTL" --socket "$SOCK" status) || fail "ustackctl status failed"
grep -q '^offload csum,tso,gso' <<<"$st" || fail "offloads not on: $(grep offload <<<"$st")"
ok "ustackctl status: $(grep '^offload' <<<"$st")"

PCAP=$T_TMP/tcp.pcap
capture_start "$PCAP" -s 0 tcp

tcp_services_ready
echo_sha $((4 * MiB)) 60
run_tool 60 send "$STACK_IP" 9 $((4 * MiB))
run_tool 60 chargen "$STACK_IP" 19 $((4 * MiB))
wait_no_conns 10
capture_stop "$PCAP"
"$PY" "$T_DIR/tcp_pcapcheck.py" "$PCAP" "$STACK_IP" --offload ||
	fail "tcp_pcapcheck.py --offload found problems in $PCAP"
ok "capture: checksums complete or partial as offloaded, TSO frames seen"

# The big transfer, without the capture.
size=$(scaled $((100 * MiB)))
echo_sha "$size" 300
assert_ctr_ge link_tx_tso 1
assert_ctr_ge link_rx_large 1
assert_ctr_ge link_rx_csum_trusted 1
assert_ctr_eq tcp_drop_bad_csum 0
assert_ctr_eq dev_rx_drop_bad_vnet 0
assert_ctr_eq link_drop_tso_held 0
wait_no_conns 10
stop_daemon

# The same with the offloads off: plain frames only.
start_daemon --services echo,discard,chargen --offload off
st=$("$USTACKCTL" --socket "$SOCK" status) || fail "ustackctl status failed"
grep -q '^offload off' <<<"$st" || fail "--offload off not reported: $(grep offload <<<"$st")"
tcp_services_ready
echo_sha $((8 * MiB)) 120
assert_ctr_eq link_tx_tso 0
assert_ctr_eq link_rx_large 0
assert_ctr_eq link_rx_csum_trusted 0
stop_daemon
log "PASS"
