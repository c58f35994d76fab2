#!/usr/bin/python3
"""udpcheck.py - small UDP clients for ustack's integration tests.

Runs on the kernel side (inside the test's network namespace) and talks to
ustackd's built-in services.  Standard library only.  Exit 0 on success,
1 with a message on failure.

  udpcheck.py echo HOST PORT SIZE...    datagrams come back byte-exact
  udpcheck.py discard HOST PORT         no answer, no ICMP error
  udpcheck.py chargen HOST PORT         answers with RFC 864 characters
  udpcheck.py refused HOST PORT         connected socket sees ECONNREFUSED
"""
import os
import random
import socket
import sys


def die(msg):
    print("udpcheck: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def connected(host, port, timeout=3.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def echo(host, port, sizes):
    rng = random.Random(862)
    s = connected(host, port)
    for size in sizes:
        data = bytes(rng.getrandbits(8) for _ in range(size))
        s.send(data)
        try:
            got = s.recv(70000)
        except socket.timeout:
            die("echo: no reply to a %d-byte datagram" % size)
        except ConnectionRefusedError:
            die("echo: connection refused for a %d-byte datagram" % size)
        if got != data:
            die("echo: %d-byte datagram came back as %d bytes%s" % (
                size, len(got), "" if len(got) != size else " with different content"))
        print("udpcheck: echo %d bytes ok" % size)


def discard(host, port):
    s = connected(host, port, timeout=1.0)
    for size in (1, 100, 1473, 8000):
        s.send(b"d" * size)
    try:
        got = s.recv(70000)
        die("discard: got a %d-byte answer" % len(got))
    except socket.timeout:
        pass
    except ConnectionRefusedError:
        die("discard: connection refused (port unreachable)")
    print("udpcheck: discard ok (no answer)")


def chargen(host, port):
    s = connected(host, port)
    allowed = set(range(0x20, 0x7F)) | {0x0D, 0x0A}
    total = 0
    for i in range(5):
        s.send(b"?")
        try:
            got = s.recv(70000)
        except socket.timeout:
            die("chargen: no answer to request %d" % i)
        except ConnectionRefusedError:
            die("chargen: connection refused")
        if len(got) > 512:
            die("chargen: answer of %d bytes (RFC 864: at most 512)" % len(got))
        bad = [b for b in got if b not in allowed]
        if bad:
            die("chargen: non-printable byte 0x%02x in answer" % bad[0])
        total += len(got)
        print("udpcheck: chargen answer %d: %d bytes %r" % (i, len(got), got[:40]))
    if total == 0:
        die("chargen: five empty answers")


def refused(host, port):
    s = connected(host, port)
    s.send(b"hello, closed port")
    try:
        got = s.recv(100)
        die("refused: got a %d-byte answer from a closed port" % len(got))
    except ConnectionRefusedError as e:
        print("udpcheck: recv: %s (errno %d)" % (os.strerror(e.errno), e.errno))
    except socket.timeout:
        die("refused: no ICMP port unreachable within 3 s (recv timed out)")


def main(argv):
    if len(argv) < 4:
        die("usage: udpcheck.py echo|discard|chargen|refused HOST PORT [SIZE...]")
    cmd, host, port = argv[1], argv[2], int(argv[3])
    if cmd == "echo":
        echo(host, port, [int(x) for x in argv[4:]])
    elif cmd == "discard":
        discard(host, port)
    elif cmd == "chargen":
        chargen(host, port)
    elif cmd == "refused":
        refused(host, port)
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
