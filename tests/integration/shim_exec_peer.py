#!/usr/bin/env python3
"""shim_exec_peer.py - the kernel-side peer of shim_exec.sh's close-on-exec
case.  Usage: shim_exec_peer.py HOST PORT STACK_IP LPORT

Accepts the five connections shim_exec cloexec makes (their first lines are
A, B, C, D, F), connects to its listener at STACK_IP:LPORT (accepted there
with accept4(SOCK_CLOEXEC), line E), then waits for end-of-file on all six:
A-E close when the program execs, F when the exec'd program closes it after
writing one more line.  Prints one line per connection; exit 0 when every
connection ended with exactly the expected bytes."""
import select
import socket
import sys
import time

host, port, stack, lport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
WANT = {"A": b"A\n", "B": b"B\n", "C": b"C\n", "D": b"D\n", "E": b"E\n",
        "F": b"F\nF alive after exec\n"}
deadline = time.monotonic() + 60

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(8)
print("peer listening", flush=True)
conns = {}
data = {}
while len(conns) < 5:
    ls.settimeout(max(0.1, deadline - time.monotonic()))
    c, _ = ls.accept()
    c.settimeout(max(0.1, deadline - time.monotonic()))
    first = b""
    while not first.endswith(b"\n"):
        b = c.recv(1)
        if not b:
            break
        first += b
    tag = first.decode(errors="replace").strip()
    conns[tag] = c
    data[tag] = first
while True:
    try:
        e = socket.create_connection((stack, lport), timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            print("FAIL: cannot connect to the program's listener")
            sys.exit(1)
        time.sleep(0.1)
conns["E"] = e
data["E"] = b""
open_ = dict(conns)
while open_ and time.monotonic() < deadline:
    r, _, _ = select.select(list(open_.values()), [], [], 1)
    for c in r:
        tag = next(t for t, x in open_.items() if x is c)
        try:
            b = c.recv(4096)
        except ConnectionResetError:
            b = b""
            data[tag] += b"<RST>"
        if b:
            data[tag] += b
        else:
            print(f"{tag}: eof after {data[tag]!r}", flush=True)
            del open_[tag]
ok = True
for t in sorted(WANT):
    if t in open_:
        print(f"FAIL {t}: no end-of-file (got {data.get(t)!r})")
        ok = False
    elif data.get(t) != WANT[t]:
        print(f"FAIL {t}: got {data.get(t)!r}, expected {WANT[t]!r}")
        ok = False
print("peer ok" if ok else "peer FAIL", flush=True)
sys.exit(0 if ok else 1)
