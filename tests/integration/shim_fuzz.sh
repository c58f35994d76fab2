#!/usr/bin/env bash
# shim_fuzz.sh - random misbehaviour on ustackd's protocol (shim_fuzz.py:
# sessions and sockets opened and dropped, records well-formed, nearly so
# and garbage on control connections, socket channels and accepted
# connections' channels, ustackctl text commands garbled or not,
# descriptors attached, shared headers and rings
# scribbled over, channels left full) for USTACK_FUZZ_SECONDS (default 10)
# with a random seed (printed; USTACK_FUZZ_SEED replays one).  Asserts:
#  - ustackd stays up and answers a new session throughout (the fuzzer
#    probes every 400 actions), and ustackctl after it;
#  - the misbehaviour was seen and counted (ipc_bad_msgs, ipc_socks_dropped
#    or ipc_sess_dropped grew), accepted connections reached the fuzzer
#    (ipc_pushes), and the log kept to 10 drop lines a second per kind,
#    saying how many it left out;
#  - another program under the shim (nc) sends 16 MiB meanwhile, byte-exact;
#  - once the fuzzer exits every socket it held is freed (ipc_sockets back
#    to 0) and the stack still answers ping.
# An AddressSanitizer build of ustackd (the CI's second build) turns any
# memory error on these paths into a failure here.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119,SC2015
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd nc sha256sum timeout ss ping
[ -x "$PY" ] || skip "$PY is missing"
start_daemon

SEED=${USTACK_FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
SECS=${USTACK_FUZZ_SECONDS:-10}
SIZE=$((16 * MiB))
head -c "$SIZE" /dev/urandom >"$T_TMP/data"
want=$(sha256sum <"$T_TMP/data" | cut -d' ' -f1)
ns_bg timeout 120 nc -l "$HOST_IP" 7599 >"$T_TMP/got" &
PIDS+=($!)
kpid=$!
wait_kernel_listen 7599

p0=$(ipc_ctr pushes)
b0=$(ipc_ctr bad_msgs)
d0=$(ipc_ctr socks_dropped)
s0=$(ipc_ctr sess_dropped)
# The other program starts once the fuzzing does, and is slowed so that
# it runs through it.
ns_bg timeout $((SECS + 60)) "$PY" "$T_DIR/shim_fuzz.py" "$SOCK" "$STACK_IP" "$HOST_IP" "$SEED" "$SECS" \
	>"$T_TMP/fuzz.out" 2>&1 &
PIDS+=($!)
fpid=$!
sleep 1
{
	head -c $((SIZE / 2)) "$T_TMP/data"
	sleep $((SECS / 2))
	tail -c +$((SIZE / 2 + 1)) "$T_TMP/data"
} | shim_bg timeout 120 nc -N "$HOST_IP" 7599 &
PIDS+=($!)
spid=$!
rc=0
wait "$fpid" || rc=$?
forget_pid "$fpid"
sed 's/^/    /' "$T_TMP/fuzz.out"
[ "$rc" -eq 0 ] || fail "shim_fuzz.py (seed $SEED) exited $rc"
read -r _ _ actions nrec nchan ntext nans < <(grep '^fuzz ok' "$T_TMP/fuzz.out") ||
	fail "shim_fuzz.py (seed $SEED) did not report success"
assert_alive
bad=$(($(ipc_ctr bad_msgs) - b0))
dropped=$(($(ipc_ctr socks_dropped) - d0))
sdropped=$(($(ipc_ctr sess_dropped) - s0))
[ "$bad" -gt 0 ] && [ $((dropped + sdropped)) -gt 0 ] ||
	fail "the fuzzing went unnoticed: ipc_bad_msgs +$bad, ipc_socks_dropped +$dropped, ipc_sess_dropped +$sdropped"
pushes=$(($(ipc_ctr pushes) - p0))
[ "$nans" -gt 0 ] || fail "no text command was answered ($ntext sent)"
[ "$pushes" -gt 0 ] && [ "$nchan" -gt 0 ] ||
	fail "no accepted connection reached the fuzzer (ipc_pushes +$pushes, $nchan channels opened)"
ok "seed $SEED: $actions actions, $nrec records, $nchan accepted connections' channels, $ntext text commands ($nans answered) in ${SECS} s; ustackd answered throughout (ipc_bad_msgs +$bad, ipc_socks_dropped +$dropped, ipc_sess_dropped +$sdropped, ipc_pushes +$pushes)"
# Drops are logged at most LOG_LIMIT_BURST (10) a second per kind, the
# rest counted in the next line that goes out.
lines=$(grep -c 'dropped: ' "$LOG" || true)
[ "$lines" -le $(((SECS + 5) * 2 * 10)) ] ||
	fail "$lines drop messages in ustackd's log for $((dropped + sdropped)) drops: not rate-limited"
grep -q 'more like it left out' "$LOG" || fail "the log does not say how many drop messages it left out"
ok "ustackd's log: $lines drop lines for $((dropped + sdropped)) drops, the rest counted ('... more like it left out')"

rc=0
wait "$spid" || rc=$?
forget_pid "$spid"
[ "$rc" -eq 0 ] || fail "nc under the shim exited $rc during the fuzzing"
wait "$kpid" 2>/dev/null || true
forget_pid "$kpid"
[ "$(sha256sum <"$T_TMP/got" | cut -d' ' -f1)" = "$want" ] ||
	fail "the other program's transfer differs ($(stat -c %s "$T_TMP/got") of $SIZE bytes)"
ok "another program's $((SIZE / MiB)) MiB under the shim arrived byte-exact meanwhile"
wait_ipc_socks 0 15 || fail "ipc_sockets is $(ipc_ctr sockets) after the fuzzer exited, not 0"
ns ping -c 1 -W 2 "$STACK_IP" >/dev/null || fail "the stack no longer answers ping"
ok "every socket freed after the fuzzer exited (ipc_sockets 0); the stack answers ping"
assert_alive
stop_daemon
