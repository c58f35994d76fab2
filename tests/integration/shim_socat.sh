#!/usr/bin/env bash
# shim_socat.sh - socat under libustack.so relaying TCP both ways: a
# listener on the stack receives a file from a kernel-side socat, and a
# client on the stack sends one to a kernel-side listener (sha256 equal).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd socat sha256sum timeout ss
start_daemon

head -c $((8 * MiB)) /dev/urandom >"$T_TMP/data"
want=$(sha256sum <"$T_TMP/data" | cut -d' ' -f1)

shim_bg timeout 60 socat -u TCP-LISTEN:7000,reuseaddr "OPEN:$T_TMP/rx1,creat,trunc" &
PIDS+=($!)
lpid=$!
wait_stack_listen 7000
ns timeout 60 socat -u "OPEN:$T_TMP/data" "TCP:$STACK_IP:7000" || fail "kernel-side socat failed"
wait "$lpid" || fail "socat TCP-LISTEN under the shim failed"
[ "$(sha256sum <"$T_TMP/rx1" | cut -d' ' -f1)" = "$want" ] || fail "socat listener: sha256 differs"
ok "socat TCP-LISTEN under the shim received 8 MiB byte-exact"

ns timeout 60 socat -u "TCP-LISTEN:7001,bind=$HOST_IP,reuseaddr" "OPEN:$T_TMP/rx2,creat,trunc" &
PIDS+=($!)
kpid=$!
wait_kernel_listen 7001
shim timeout 60 socat -u "OPEN:$T_TMP/data" "TCP:$HOST_IP:7001" || fail "socat client under the shim failed"
wait "$kpid" || fail "kernel-side socat listener failed"
[ "$(sha256sum <"$T_TMP/rx2" | cut -d' ' -f1)" = "$want" ] || fail "socat client: sha256 differs"
ok "socat TCP client under the shim sent 8 MiB byte-exact"

wait_ipc_socks 0 10
assert_alive
stop_daemon
