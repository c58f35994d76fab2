#!/usr/bin/env bash
# shim_nc.sh - OpenBSD nc under libustack.so: `nc -l` on the stack receives
# 100 MiB (x USTACK_TEST_SCALE) of random bytes from a kernel-side nc, and
# an nc client on the stack sends them to a kernel-side `nc -l`; sha256
# equal both ways; every IPC socket is released afterwards.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd nc sha256sum timeout ss
start_daemon

SIZE=$((100 * MiB * ${USTACK_TEST_SCALE:-1}))
head -c "$SIZE" /dev/urandom >"$T_TMP/data"
want=$(sha256sum <"$T_TMP/data" | cut -d' ' -f1)

# 1. the stack receives
shim_bg timeout 120 nc -l 8888 >"$T_TMP/rx1" 2>"$T_TMP/nc1.err" &
PIDS+=($!)
lpid=$!
wait_stack_listen 8888
t0=$(now_ns)
ns timeout 120 nc -N "$STACK_IP" 8888 <"$T_TMP/data" || fail "kernel-side nc sender failed"
wait "$lpid" || fail "nc -l under the shim failed: $(cat "$T_TMP/nc1.err")"
t1=$(now_ns)
got=$(sha256sum <"$T_TMP/rx1" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "nc -l under the shim: sha256 differs ($(stat -c %s "$T_TMP/rx1") bytes)"
ok "nc -l under the shim received $SIZE bytes byte-exact, $(mbps "$SIZE" "$t0" "$t1") MB/s"

# 2. the stack sends
ns timeout 120 nc -l "$HOST_IP" 8889 >"$T_TMP/rx2" &
PIDS+=($!)
kpid=$!
wait_kernel_listen 8889
t0=$(now_ns)
shim timeout 120 nc -N "$HOST_IP" 8889 <"$T_TMP/data" || fail "nc client under the shim failed"
wait "$kpid" || fail "kernel-side nc -l failed"
t1=$(now_ns)
got=$(sha256sum <"$T_TMP/rx2" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "nc client under the shim: sha256 differs ($(stat -c %s "$T_TMP/rx2") bytes)"
ok "nc client under the shim sent $SIZE bytes byte-exact, $(mbps "$SIZE" "$t0" "$t1") MB/s"

wait_ipc_socks 0 10
ok "every IPC socket released (ipc_socks_closed $(ipc_ctr socks_closed))"
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
