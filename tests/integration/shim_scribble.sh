#!/usr/bin/env bash
# shim_scribble.sh - a program that scribbles over its own shared memory
# (shim_scribble.c, argument 4: garbage and impossible indices in the
# struct ipc_shm header, random bytes in both rings, while it keeps calling
# send/recv/poll and reconnecting) runs under libustack.so next to nc under
# the shim sending 100 MiB (x USTACK_TEST_SCALE) to a kernel-side nc.
# Asserts:
#  - the other transfer is byte-exact (sha256) and completes;
#  - ustackd stays up (answers ping, ustackctl), and exits 0 at the end
#    (in the sanitizer build: no memory error anywhere on the way);
#  - the scribbler ran to its end (no crash of its own: the shim checks
#    every shared index it reads), connected, and its socket calls failed
#    (EIO from the shim's own checks, or ECONNRESET/EPIPE once ustackd
#    dropped the socket);
#  - ustackd counted the impossible indices: ipc_drop_bad_rx_index +
#    ipc_drop_bad_tx_index > 0 in `ustackctl counters`, each drop logged
#    with its reason;
#  - afterwards every IPC socket is released.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119,SC2015
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
# shellcheck source=tcp_lib.sh
source "$(dirname "$0")/tcp_lib.sh"
PROG=${4:-${SHIM_SCRIBBLE:-}}
shim_setup
need_cmd nc sha256sum timeout ss
[ -x "$PROG" ] || fail "shim_scribble program not found (argument 4): $PROG"
start_daemon

SIZE=$(scaled $((100 * MiB)) $((8 * MiB)))
head -c "$SIZE" /dev/urandom >"$T_TMP/data"
want=$(sha256sum <"$T_TMP/data" | cut -d' ' -f1)
snap "$T_TMP/c0"

# The scribbler's peer: an echo server in one process (a process per
# connection would outlive the test on connections the stack never ends).
cat >"$T_TMP/echo.py" <<'PY'
import selectors, socket, sys
sel = selectors.DefaultSelector()
ls = socket.create_server((sys.argv[1], int(sys.argv[2])), backlog=128)
ls.setblocking(False)
sel.register(ls, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is ls:
            try:
                c, _ = ls.accept()
            except OSError:
                continue
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ)
            continue
        try:
            d = s.recv(65536)
            if d:
                s.send(d)  # what does not fit is dropped: garbage anyway
                continue
        except OSError:
            pass
        sel.unregister(s)
        s.close()
PY
ip netns exec "$NS" timeout 300 "$PY" "$T_TMP/echo.py" "$HOST_IP" 7300 >"$T_TMP/echo.log" 2>&1 &
PIDS+=($!)
wait_kernel_listen 7300
# The honest transfer's peer.
ip netns exec "$NS" timeout 300 nc -l "$HOST_IP" 7301 >"$T_TMP/rx" &
PIDS+=($!)
kpid=$!
wait_kernel_listen 7301

SEED=${SCRIBBLE_SEED:-$RANDOM}
log "scribbler seed $SEED"
shim_bg timeout 300 "$PROG" "$HOST_IP" 7300 240 "$SEED" >"$T_TMP/scribble.out" 2>&1 &
PIDS+=($!)
spid=$!
# Let the scribbling start before the transfer does.
for ((i = 0; i < 100; i++)); do
	[ $(($(ctr ipc_drop_bad_rx_index) + $(ctr ipc_drop_bad_tx_index))) -gt 0 ] && break
	alive "$spid" || break
	sleep 0.1
done
alive "$spid" || fail "the scribbler ended early: $(cat "$T_TMP/scribble.out")"

t0=$(now_ns)
shim timeout 240 nc -N "$HOST_IP" 7301 <"$T_TMP/data" 2>"$T_TMP/nc.err" ||
	fail "nc under the shim failed next to the scribbler: $(cat "$T_TMP/nc.err")"
wait "$kpid" || fail "kernel-side nc -l failed"
t1=$(now_ns)
got=$(sha256sum <"$T_TMP/rx" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the transfer next to the scribbler: sha256 differs ($(stat -c %s "$T_TMP/rx") of $SIZE bytes)"
! grep -q libustack "$T_TMP/nc.err" || fail "the honest nc got a libustack message: $(cat "$T_TMP/nc.err")"
ok "nc under the shim sent $(human "$SIZE") byte-exact next to the scribbler, $(mbps "$SIZE" "$t0" "$t1") MB/s"
assert_alive
ping_ok 3

alive "$spid" || fail "the scribbler died during the transfer: $(cat "$T_TMP/scribble.out")"
kill -TERM "$spid"
rc=0
for ((i = 0; i < 100; i++)); do alive "$spid" || break; sleep 0.1; done
wait "$spid" || rc=$?
forget_pid "$spid"
cat "$T_TMP/scribble.out"
[ "$rc" -eq 0 ] || fail "the scribbler exited $rc (it must survive its own scribbling)"
line=$(grep '^scribble ' "$T_TMP/scribble.out") || fail "the scribbler printed no summary"
sf() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
# After its first socket was dropped it could still open new ones: its
# session (control connection) is not punished for one socket's indices.
[ "$(sf connects)" -ge 2 ] || fail "the scribbler connected $(sf connects) times (expected reconnections)"
[ $(($(sf eio) + $(sf reset))) -gt 0 ] || fail "the scribbler's socket calls never failed: $line"
ok "scribbler: $(sf connects) connections, $(sf scribbles) scribbles; its calls failed with EIO $(sf eio), reset $(sf reset) times (other errors $(sf other))"

snap "$T_TMP/c1"
brx=$(ctr_in "$T_TMP/c1" ipc_drop_bad_rx_index)
btx=$(ctr_in "$T_TMP/c1" ipc_drop_bad_tx_index)
[ $((brx + btx)) -gt 0 ] || fail "ustackd counted no bad index (ipc_drop_bad_rx_index $brx, ipc_drop_bad_tx_index $btx)"
grep -q 'dropped: impossible ring index' "$LOG" || fail "no 'impossible ring index' drop in ustackd's log"
ok "ustackd counted ipc_drop_bad_rx_index $brx, ipc_drop_bad_tx_index $btx (dropped sockets: $(ipc_ctr socks_dropped))"
ctr_delta_report "$T_TMP/c0" "$T_TMP/c1" tcp_active_opens tcp_tx_rst tcp_retrans_segs

wait_ipc_socks 0 10
ok "every IPC socket released"
assert_alive
stop_daemon
