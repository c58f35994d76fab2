#!/usr/bin/env bash
# tcp_capture.sh - a capture taken with tcpdump on the kernel side of the
# TAP during short TCP transfers (echo, discard, chargen, a half-close, a
# refused connection) shows no bad checksum and no malformed option in
# what the stack sent.  Three independent judges:
#   - tcp_pcapcheck.py: recomputes the IPv4 and TCP checksums of every
#     packet from the stack and parses its TCP options strictly;
#   - tcpdump -vv, which verifies checksums and prints "incorrect" /
#     "bad cksum" / "[bad opt]" for broken ones;
#   - tshark, when installed (scripts/deps.sh does not install it):
#     tcp.checksum.status==0 || ip.checksum.status==0 || _ws.malformed ||
#     _ws.expert.severity == error on packets from the stack must list
#     nothing.
# Only the stack's packets are judged for checksums: on a TAP the kernel
# may hand out its own segments with partial (offloaded) checksums.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
setup
need_cmd tcpdump timeout sha256sum
# Plain frames: every checksum is the stack's own work, judged on the wire
# (tcp_offload checks the offloaded frames).
start_daemon --services echo,discard,chargen --offload off

PCAP=$T_TMP/tcp.pcap
capture_start "$PCAP" -s 0 tcp

tcp_services_ready
echo_sha $((2 * MiB)) 60
run_tool 60 send "$STACK_IP" 9 $((2 * MiB))
run_tool 60 chargen "$STACK_IP" 19 $((2 * MiB))
run_tool 60 halfclose "$STACK_IP" 7
run_tool 10 refused "$STACK_IP" 5
wait_no_conns 10
capture_stop "$PCAP"
grep -E 'packets (captured|dropped by kernel)' "$T_TMP/tcpdump.err" | sed "s/^/[$T_NAME] tcpdump: /"
grep -q '^0 packets dropped by kernel' "$T_TMP/tcpdump.err" ||
	log "note: tcpdump dropped packets; the checks judge what was captured"

# 1. our own strict parser
"$PY" "$T_DIR/tcp_pcapcheck.py" "$PCAP" "$STACK_IP" || fail "tcp_pcapcheck.py found problems in $PCAP"
ok "tcp_pcapcheck: checksums and options of every stack packet are valid"

# 2. tcpdump's checksum verification
tcpdump -r "$PCAP" -n -vv "src host $STACK_IP" >"$T_TMP/tcpdump.txt" 2>/dev/null ||
	fail "tcpdump -r $PCAP failed"
n=$(grep -c '^[0-9]' "$T_TMP/tcpdump.txt" || true)
[ "$n" -gt 0 ] || fail "tcpdump shows no packet from $STACK_IP"
if grep -E 'incorrect|bad cksum|bad opt|\[\|tcp\]|malformed' "$T_TMP/tcpdump.txt" | head -n 5 >&2; then
	fail "tcpdump -vv reports bad checksums or options in packets from the stack"
fi
ok "tcpdump -vv: $n packets from the stack, no bad checksum or option reported"

# 3. tshark when available
if command -v tshark >/dev/null 2>&1; then
	filter="ip.src == $STACK_IP && (tcp.checksum.status == 0 || ip.checksum.status == 0 || _ws.malformed || _ws.expert.severity == error)"
	tshark -n -r "$PCAP" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
		-Y "$filter" >"$T_TMP/tshark.txt" 2>"$T_TMP/tshark.err" ||
		fail "tshark failed: $(cat "$T_TMP/tshark.err")"
	if [ -s "$T_TMP/tshark.txt" ]; then
		head -n 10 "$T_TMP/tshark.txt" >&2
		fail "tshark: $(wc -l <"$T_TMP/tshark.txt") packet(s) from the stack with bad checksums or malformed fields"
	fi
	good=$(tshark -n -r "$PCAP" -o tcp.check_checksum:TRUE -Y "ip.src == $STACK_IP && tcp.checksum.status == 1" 2>/dev/null | wc -l)
	[ "$good" -gt 0 ] || fail "tshark verified no TCP checksum as good (checksum checking off?)"
	ok "tshark: $good stack packets with verified TCP checksums, none bad or malformed"
else
	log "note: tshark is not installed; checksums and options judged by tcp_pcapcheck.py and tcpdump"
fi

assert_ctr_eq tcp_drop_bad_csum 0
assert_ctr_eq tcp_drop_bad_opt 0
assert_alive
stop_daemon
log "PASS"
