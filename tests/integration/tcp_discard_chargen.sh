#!/usr/bin/env bash
# tcp_discard_chargen.sh - bulk TCP against the real Linux kernel: 1 GiB
# (x USTACK_TEST_SCALE) from the kernel into ustackd's TCP discard service
# (RFC 863) with socat, and the same amount out of its chargen service
# (RFC 864) read by tcp_tool.py, which checks every byte of the pattern.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
setup
need_cmd socat timeout sha256sum
start_daemon --services echo,discard,chargen
tcp_services_ready

SIZE=$(scaled "$GiB")
log "transfer size $(human "$SIZE") (scale $TCP_SCALE)"

# ---- 1. kernel -> discard with socat ------------------------------------
snap "$T_TMP/c0"
t0=$(date +%s%N)
rc=0
# socat -u: one direction; at the end of its input it half-closes and exits.
head -c "$SIZE" /dev/zero |
	ns timeout -k 5 150 socat -u -b 262144 - "TCP:$STACK_IP:9" 2>"$T_TMP/socat.err" || rc=$?
[ "$rc" -eq 0 ] || fail "socat into discard exited $rc: $(cat "$T_TMP/socat.err")"
# socat exits once its last byte is in the kernel's send buffer: wait for
# the stack to have counted all of it.
deadline=$((SECONDS + 30))
while :; do
	snap "$T_TMP/c1"
	rx=$(($(ctr_in "$T_TMP/c1" tcp_rx_bytes) - $(ctr_in "$T_TMP/c0" tcp_rx_bytes)))
	[ "$rx" -ge "$SIZE" ] && break
	[ "$SECONDS" -lt "$deadline" ] || fail "discard: tcp_rx_bytes grew by $rx, expected >= $SIZE"
	sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
ok "socat sent $(human "$SIZE") into discard and exited 0; tcp_rx_bytes +$rx in $ms ms ($(awk -v b="$SIZE" -v ms="$ms" 'BEGIN { printf "%.2f", b * 8 / ms / 1e6 }') Gbit/s)"
ctr_delta_report "$T_TMP/c0" "$T_TMP/c1" tcp_rx_data_segs tcp_tx_acks tcp_retrans_segs tcp_ooo_segs tcp_drop_out_of_window

# The same through python: all sent, then our FIN answered by the server's.
run_tool 150 send "$STACK_IP" 9 "$(scaled $((256 * MiB)))"
ok "discard closed the connection after reading everything"

# ---- 2. chargen -> kernel -------------------------------------------------
snap "$T_TMP/c2"
run_tool 150 chargen "$STACK_IP" 19 "$SIZE"
snap "$T_TMP/c3"
tx=$(($(ctr_in "$T_TMP/c3" tcp_tx_bytes) - $(ctr_in "$T_TMP/c2" tcp_tx_bytes)))
[ "$tx" -ge "$SIZE" ] || fail "chargen: tcp_tx_bytes grew by $tx, expected >= $SIZE"
ok "chargen: $(human "$SIZE") read, RFC 864 pattern exact; tcp_tx_bytes +$tx"
ctr_delta_report "$T_TMP/c2" "$T_TMP/c3" tcp_tx_data_segs tcp_retrans_segs tcp_fast_retrans tcp_timeouts

# ---- 3. chargen with socat | head, first and last MiB against a reference --
REF_SIZE=$(scaled $((64 * MiB)) $((4 * MiB)))
rc=0
ns timeout -k 5 120 socat -u -b 262144 "TCP:$STACK_IP:19" - 2>"$T_TMP/socat.err" |
	head -c "$REF_SIZE" >"$T_TMP/chargen.out" || rc=$?
# head closing the pipe ends socat with SIGPIPE (141) or EPIPE (1).
[ "$rc" -eq 0 ] || [ "$rc" -eq 141 ] || [ "$rc" -eq 1 ] || fail "socat from chargen exited $rc: $(cat "$T_TMP/socat.err")"
[ "$(stat -c %s "$T_TMP/chargen.out")" -eq "$REF_SIZE" ] ||
	fail "socat read $(stat -c %s "$T_TMP/chargen.out") of $REF_SIZE bytes from chargen"
"$PY" - "$T_TMP/chargen.out" "$REF_SIZE" <<'PY' || fail "socat chargen output is not the RFC 864 pattern"
import sys
period = b"".join(bytes(32 + (l + c) % 95 for c in range(72)) + b"\r\n" for l in range(95))
f, size, mib = open(sys.argv[1], "rb"), int(sys.argv[2]), 1 << 20
first = f.read(mib)
phase = (period * 2).find(first[:148])
if phase < 0:
    sys.exit("first bytes: %r" % first[:80])
ref = period * (2 * mib // len(period) + 2)
assert first == ref[phase:phase + mib], "first MiB differs"
f.seek(size - mib)
last = f.read(mib)
o = (phase + size - mib) % len(period)
assert last == ref[o:o + mib], "last MiB differs"
print("first and last MiB match the RFC 864 pattern")
PY
ok "socat | head -c $(human "$REF_SIZE") from chargen: first and last MiB match the reference"

# No connection left behind once the kernel closed its ends.
wait_no_conns 10
ok "no TCP connection left open"
assert_alive
stop_daemon
log "PASS"
