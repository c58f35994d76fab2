#!/usr/bin/env python3
"""tcp_tool.py - the kernel-side TCP peer for the tcp_*.sh integration tests.

Real kernel sockets against ustackd's TCP services (RFC 862 echo, RFC 863
discard, RFC 864 chargen).  Every subcommand exits 0 on success and 1 with
a message on stderr otherwise; a connection that makes no progress for
--stall seconds (default 60) is a failure, not a hang.

  probe HOST PORT...            connect to each port, close
  send HOST PORT BYTES          BYTES into discard, then half-close and wait
                                for the server's FIN (proves it took all)
  chargen HOST PORT BYTES       read exactly BYTES, check every byte against
                                the RFC 864 pattern
  echo HOST PORT IN OUT         send file IN while receiving into OUT
                                (threads), half-close, expect exactly
                                len(IN) bytes then EOF
  concurrent HOST PORT N        N connections at once (asyncio): open all,
                                send a distinct line on each, read it back,
                                close
  refused HOST PORT             connect must fail with ECONNREFUSED; prints
                                how long it took
  halfclose HOST PORT           echo: send, shutdown(SHUT_WR), the rest of
                                the echo and then EOF still arrive
  nooffload IFNAME...           turn off TSO, GSO and GRO on the interfaces
                                (the ethtool ioctls, for hosts without
                                ethtool), so every packet is one segment
"""

import argparse
import asyncio
import hashlib
import os
import resource
import socket
import sys
import threading
import time

CHUNK = 1 << 20


def die(msg):
    print(f"tcp_tool: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def cpu():
    t = os.times()
    return t.user + t.system


def connect(host, port, stall):
    s = socket.create_connection((host, port), timeout=stall)
    s.settimeout(stall)
    return s


def rate(nbytes, secs):
    return f"{nbytes * 8 / secs / 1e9:.3f} Gbit/s" if secs > 0 else "inf"


def chargen_period():
    """One period of the RFC 864 stream: 95 lines of 72 characters starting
    one printable character further on each line, each ended by CR LF."""
    out = bytearray()
    for line in range(95):
        out += bytes(32 + (line + col) % 95 for col in range(72)) + b"\r\n"
    return bytes(out)


def cmd_probe(a):
    for port in a.ports:
        try:
            s = connect(a.host, port, a.stall)
        except OSError as e:
            die(f"connect to {a.host}:{port}: {e}")
        s.close()
    print(f"probe: ports {' '.join(map(str, a.ports))} accept connections")


def cmd_send(a):
    buf = memoryview(bytes(CHUNK))
    t0, c0 = time.monotonic(), cpu()
    s = connect(a.host, a.port, a.stall)
    left = a.bytes
    try:
        while left:
            n = min(left, CHUNK)
            s.sendall(buf[:n])
            left -= n
        s.shutdown(socket.SHUT_WR)
        extra = 0
        while True:
            d = s.recv(65536)
            if not d:
                break
            extra += len(d)
    except socket.timeout:
        die(f"send: stalled for {a.stall} s with {left} of {a.bytes} bytes not yet sent")
    except OSError as e:
        die(f"send: {e} with {left} of {a.bytes} bytes not yet sent")
    t = time.monotonic() - t0
    s.close()
    if extra:
        die(f"send: discard answered with {extra} bytes")
    print(f"send: {a.bytes} bytes in {t:.2f} s ({rate(a.bytes, t)}), "
          f"server closed after our FIN, client cpu {cpu() - c0:.2f} s")


def cmd_chargen(a):
    period = chargen_period()
    p = len(period)
    ref = period * (CHUNK // p + 3)
    s = connect(a.host, a.port, a.stall)
    t0, c0 = time.monotonic(), cpu()
    got = 0
    phase = None
    head = b""
    buf = bytearray(CHUNK)
    mv = memoryview(buf)
    try:
        while got < a.bytes:
            n = s.recv_into(mv[: min(CHUNK, a.bytes - got)])
            if n == 0:
                die(f"chargen: EOF after {got} of {a.bytes} bytes")
            if phase is None:
                # Find where in the period the stream starts (RFC 864 does
                # not say which line comes first) from its first 148 bytes.
                head += bytes(mv[:n])
                if len(head) < 2 * 74:
                    got += n
                    continue
                idx = (period + period).find(head[: 2 * 74])
                if idx < 0:
                    die(f"chargen: the first bytes are not the RFC 864 pattern: {head[:80]!r}")
                phase = idx % p
                o = phase
                if head != ref[o: o + len(head)]:
                    die("chargen: pattern broken within the first "
                        f"{len(head)} bytes")
                got += n
                continue
            o = (phase + got) % p
            # bytearray/bytes comparison is a memcmp (memoryview's is not).
            if buf[:n] != ref[o: o + n]:
                chunk = bytes(mv[:n])
                for i in range(n):
                    if chunk[i] != ref[o + i]:
                        break
                die(f"chargen: byte {got + i} is {chunk[i]:#04x}, "
                    f"expected {ref[o + i]:#04x} (RFC 864 pattern)")
            got += n
    except socket.timeout:
        die(f"chargen: stalled for {a.stall} s after {got} of {a.bytes} bytes")
    except OSError as e:
        die(f"chargen: {e} after {got} of {a.bytes} bytes")
    t = time.monotonic() - t0
    s.close()
    print(f"chargen: {got} bytes in {t:.2f} s ({rate(got, t)}), every byte matches "
          f"the RFC 864 pattern (stream starts at line {phase // 74}, column "
          f"{phase % 74}), client cpu {cpu() - c0:.2f} s")


def cmd_echo(a):
    size = os.path.getsize(a.infile)
    s = connect(a.host, a.port, a.stall)
    err = []
    sent = [0]

    def sender():
        try:
            with open(a.infile, "rb") as f:
                while True:
                    d = f.read(256 * 1024)
                    if not d:
                        break
                    s.sendall(d)
                    sent[0] += len(d)
            s.shutdown(socket.SHUT_WR)
        except Exception as e:  # reported by the main thread
            err.append(f"sender after {sent[0]} bytes: {e!r}")

    t0 = time.monotonic()
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    got = 0
    h = hashlib.sha256()
    try:
        with open(a.outfile, "wb") as out:
            while True:
                d = s.recv(CHUNK)
                if not d:
                    break
                got += len(d)
                h.update(d)
                out.write(d)
                if got > size:
                    die(f"echo: got {got} bytes back, more than the {size} sent")
    except socket.timeout:
        die(f"echo: stalled for {a.stall} s: sent {sent[0]}, received {got} of {size} bytes"
            + (f"; {err[0]}" if err else ""))
    except OSError as e:
        die(f"echo: {e}: sent {sent[0]}, received {got} of {size} bytes")
    th.join(a.stall)
    t = time.monotonic() - t0
    s.close()
    if err:
        die(f"echo: {err[0]}")
    if got != size:
        die(f"echo: EOF after {got} of {size} bytes")
    print(f"echo: {size} bytes each way in {t:.2f} s ({rate(size, t)} each way), "
          f"received sha256 {h.hexdigest()}")


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        want = n if hard == resource.RLIM_INFINITY else min(n, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        if want < n:
            die(f"concurrent: RLIMIT_NOFILE hard limit {hard} is below {n}")


def cmd_concurrent(a):
    raise_nofile(a.n + 64)
    tag = os.urandom(4).hex()

    async def one_open(i):
        t = time.monotonic()
        r, w = await asyncio.open_connection(a.host, a.port)
        return r, w, time.monotonic() - t

    async def main():
        t0 = time.monotonic()
        res = await asyncio.gather(*(one_open(i) for i in range(a.n)), return_exceptions=True)
        bad = [(i, r) for i, r in enumerate(res) if isinstance(r, BaseException)]
        if bad:
            die(f"concurrent: {len(bad)} of {a.n} connects failed, first: "
                f"#{bad[0][0]}: {bad[0][1]!r}")
        slow = max(r[2] for r in res)
        t1 = time.monotonic()
        print(f"concurrent: {a.n} connections open in {t1 - t0:.2f} s "
              f"(slowest connect {slow:.2f} s)")

        async def talk(i, r, w):
            line = f"ustack {tag} connection {i:05d} {'x' * (i % 97)}\n".encode()
            w.write(line)
            await w.drain()
            back = await r.readline()
            if back != line:
                raise RuntimeError(f"#{i}: sent {line!r}, got {back!r}")
            w.close()
            await w.wait_closed()

        res2 = await asyncio.gather(*(talk(i, r[0], r[1]) for i, r in enumerate(res)),
                                    return_exceptions=True)
        bad = [(i, r) for i, r in enumerate(res2) if isinstance(r, BaseException)]
        if bad:
            die(f"concurrent: {len(bad)} of {a.n} echo exchanges failed, first: "
                f"#{bad[0][0]}: {bad[0][1]!r}")
        print(f"concurrent: {a.n} distinct lines echoed and connections closed in "
              f"{time.monotonic() - t1:.2f} s")

    try:
        asyncio.run(asyncio.wait_for(main(), a.stall))
    except asyncio.TimeoutError:
        die(f"concurrent: not done within {a.stall} s")


def cmd_refused(a):
    t0 = time.monotonic()
    s = socket.socket()
    s.settimeout(a.stall)
    try:
        s.connect((a.host, a.port))
    except ConnectionRefusedError:
        print(f"refused: connection refused after {(time.monotonic() - t0) * 1000:.1f} ms")
        return
    except OSError as e:
        die(f"refused: expected ECONNREFUSED, got {e!r} after "
            f"{time.monotonic() - t0:.2f} s")
    die("refused: the connection was accepted")


def cmd_halfclose(a):
    s = connect(a.host, a.port, a.stall)
    msg = os.urandom(200000)
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    if bytes(got) != msg:
        die(f"halfclose: sent {len(msg)} bytes then FIN, got {len(got)} bytes back"
            + (" (different content)" if len(got) == len(msg) else ""))
    print(f"halfclose: {len(msg)} bytes echoed after our FIN, then the server's FIN")


def cmd_nooffload(a):
    import ctypes
    import fcntl

    SIOCETHTOOL = 0x8946
    # ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO (linux/ethtool.h)
    cmds = {"tso": 0x0000001F, "gso": 0x00000024, "gro": 0x0000002C}

    class EthtoolValue(ctypes.Structure):
        _fields_ = [("cmd", ctypes.c_uint32), ("data", ctypes.c_uint32)]

    class IfReq(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char * 16), ("data", ctypes.c_void_p),
                    ("pad", ctypes.c_char * 16)]

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for ifname in a.ifnames:
        for name, cmd in cmds.items():
            ev = EthtoolValue(cmd, 0)
            req = IfReq(ifname.encode(), ctypes.addressof(ev))
            try:
                fcntl.ioctl(s.fileno(), SIOCETHTOOL, req)
            except OSError as e:
                die(f"nooffload: {ifname}: cannot turn off {name}: {e}")
    s.close()
    print(f"nooffload: TSO, GSO and GRO off on {' '.join(a.ifnames)}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stall", type=float, default=60.0,
                   help="seconds without progress that count as a hang")
    sub = p.add_subparsers(dest="cmd", required=True)
    x = sub.add_parser("probe")
    x.add_argument("host")
    x.add_argument("ports", type=int, nargs="+")
    for name in ("send", "chargen"):
        x = sub.add_parser(name)
        x.add_argument("host")
        x.add_argument("port", type=int)
        x.add_argument("bytes", type=int)
    x = sub.add_parser("echo")
    x.add_argument("host")
    x.add_argument("port", type=int)
    x.add_argument("infile")
    x.add_argument("outfile")
    x = sub.add_parser("concurrent")
    x.add_argument("host")
    x.add_argument("port", type=int)
    x.add_argument("n", type=int)
    for name in ("refused", "halfclose"):
        x = sub.add_parser(name)
        x.add_argument("host")
        x.add_argument("port", type=int)
    x = sub.add_parser("nooffload")
    x.add_argument("ifnames", nargs="+")
    a = p.parse_args()
    {"probe": cmd_probe, "send": cmd_send, "chargen": cmd_chargen, "echo": cmd_echo,
     "concurrent": cmd_concurrent, "refused": cmd_refused,
     "halfclose": cmd_halfclose, "nooffload": cmd_nooffload}[a.cmd](a)


if __name__ == "__main__":
    main()
