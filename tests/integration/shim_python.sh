#!/usr/bin/env bash
# shim_python.sh - python3 under libustack.so: a socket client talking to a
# kernel-side echo server, a tiny http.server on the stack fetched by
# kernel-side curl, and curl under the shim fetching from a kernel-side
# `python3 -m http.server` (by IP address).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd curl socat sha256sum timeout ss
[ -x "$PY" ] || skip "$PY is missing"
start_daemon

mkdir -p "$T_TMP/www"
head -c $((4 * MiB)) /dev/urandom >"$T_TMP/www/f.bin"
want=$(sha256sum <"$T_TMP/www/f.bin" | cut -d' ' -f1)

# 1. python socket client -> kernel-side echo
ns timeout 30 socat "TCP-LISTEN:7100,bind=$HOST_IP,reuseaddr,fork" EXEC:cat &
PIDS+=($!)
wait_kernel_listen 7100
out=$(shim timeout 20 "$PY" -c '
import socket, sys
s = socket.create_connection(("'"$HOST_IP"'", 7100), timeout=10)
msg = b"x" * 100000
s.sendall(msg)
got = b""
while len(got) < len(msg):
    b = s.recv(65536)
    if not b:
        break
    got += b
s.close()
print("echo", len(got), got == msg)
') || fail "python socket client under the shim failed"
[ "$out" = "echo 100000 True" ] || fail "python echo: $out"
ok "python3 socket client under the shim: 100000 bytes echoed"

# 2. python http.server on the stack, kernel-side curl
(cd "$T_TMP/www" && shim timeout 60 "$PY" -m http.server --bind "$STACK_IP" 8001) >"$T_TMP/py.log" 2>&1 &
PIDS+=($!)
wait_stack_listen 8001
ns timeout 30 curl -sS -o "$T_TMP/k.bin" "http://$STACK_IP:8001/f.bin" || fail "kernel curl from http.server under the shim failed"
[ "$(sha256sum <"$T_TMP/k.bin" | cut -d' ' -f1)" = "$want" ] || fail "http.server under the shim: sha256 differs"
ok "python3 http.server under the shim served 4 MiB to kernel-side curl"

# 3. curl under the shim, kernel-side http.server
(cd "$T_TMP/www" && ns timeout 60 "$PY" -m http.server --bind "$HOST_IP" 8000) >/dev/null 2>&1 &
PIDS+=($!)
wait_kernel_listen 8000
shim timeout 30 curl -sS -o "$T_TMP/c.bin" "http://$HOST_IP:8000/f.bin" || fail "curl under the shim failed"
[ "$(sha256sum <"$T_TMP/c.bin" | cut -d' ' -f1)" = "$want" ] || fail "curl under the shim: sha256 differs"
ok "curl under the shim fetched 4 MiB from a kernel-side http.server"

assert_alive
