#!/usr/bin/env python3
"""shim_fuzz.py - random misbehaviour on ustackd's binary protocol
(shim/ipc.h), run by shim_fuzz.sh.  Usage:
    shim_fuzz.py CONTROL_SOCKET STACK_IP HOST_IP SEED SECONDS

For SECONDS, with a random generator seeded by SEED (printed, so a failing
run can be replayed), it opens and drops sessions and sockets and sends
records that are well-formed, nearly well-formed (a known type with a
payload of random bytes or of the wrong size, random flags, a length that
lies, descriptors attached) or garbage, on control connections, socket
channels and channels of accepted connections (IPC_CHAN with right and
wrong tokens), and ustackctl's text commands, garbled or not; it writes
random values over the shared header and the rings of its own sockets and
rings doorbells; it leaves records unread and channels full.  Addresses are only ever the test's own (STACK_IP, HOST_IP
and the rest of their /24), so nothing leaves the namespace.  Every few
hundred actions a fresh session must still be answered within 5 s.
Prints 'fuzz ok ACTIONS RECORDS CHANNELS TEXTS ANSWERS' (exit 0), or FAIL and the seed."""
import array
import faulthandler
import mmap
import os
import random
import select
import socket
import struct
import sys
import time

MAGIC = 0x4B545355
VERSION = 7
HDR = struct.Struct('<IHHIiII')  # magic type flags seq status len owner
F_REPLY, F_NOREPLY, F_NONBLOCK = 0x1, 0x2, 0x4
SI = struct.Struct('<IIIIIHHIIQQ')  # ipc_sockinfo
IPC_HELLO, IPC_SOCKET, IPC_CHAN = 1, 2, 3
IPC_BIND, IPC_LISTEN, IPC_CONNECT, IPC_ACCEPT, IPC_SHUTDOWN = 10, 11, 12, 13, 14
IPC_SETOPT, IPC_GETOPT, IPC_GETNAME, IPC_TCPINFO, IPC_SENDTO = 15, 16, 17, 18, 19
IPC_RECVFROM, IPC_SOERROR, IPC_ATTACH, IPC_MEMFD, IPC_TXGROW = 20, 21, 22, 23, 24
IPC_DOORBELL, IPC_WAKE, IPC_PUSH = 30, 40, 41
TYPES = [IPC_HELLO, IPC_SOCKET, IPC_CHAN, IPC_BIND, IPC_LISTEN, IPC_CONNECT, IPC_ACCEPT,
         IPC_SHUTDOWN, IPC_SETOPT, IPC_GETOPT, IPC_GETNAME, IPC_TCPINFO, IPC_SENDTO,
         IPC_RECVFROM, IPC_SOERROR, IPC_ATTACH, IPC_MEMFD, IPC_TXGROW, IPC_DOORBELL,
         IPC_WAKE, IPC_PUSH]
SHM_HDR = 4096

ctl_path, stack_ip, host_ip = sys.argv[1], sys.argv[2], sys.argv[3]
seed, seconds = int(sys.argv[4]), float(sys.argv[5])
rnd = random.Random(seed)
# A hang (ours or ustackd's) shows where it stuck.
faulthandler.dump_traceback_later(seconds + 30, exit=True)
net = struct.unpack('!I', socket.inet_aton(stack_ip))[0] & 0xFFFFFF00
ips = [struct.unpack('!I', socket.inet_aton(a))[0] for a in (stack_ip, host_ip)]
records = 0
chans = 0
texts = 0
answers = 0


def fail(msg):
    sys.exit(f'FAIL (seed {seed}): {msg}')


def rec(typ, payload=b'', flags=0, seq=1, length=None, status=0, owner=None, magic=MAGIC):
    n = len(payload) if length is None else length
    return HDR.pack(magic, typ, flags, seq, status, n & 0xFFFFFFFF,
                    os.getpid() if owner is None else owner) + payload


def send(sock, data, fds=()):
    """Send without ever blocking; a full or closed channel is fine."""
    global records
    try:
        if fds:
            socket.send_fds(sock, [data], list(fds), socket.MSG_DONTWAIT)
        else:
            sock.send(data, socket.MSG_DONTWAIT)
        records += 1
    except (BlockingIOError, BrokenPipeError, ConnectionResetError, OSError):
        pass


def recv_fds(sock, maxfds, flags=0):
    """(data, fds); socket.recv_fds of Python 3.11 drops `flags`."""
    fds = array.array('i')
    data, anc, _, _ = sock.recvmsg(65600, socket.CMSG_LEN(maxfds * fds.itemsize), flags)
    for level, typ, cdata in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(cdata[:len(cdata) - len(cdata) % fds.itemsize])
    return data, list(fds)


def drain(sock, keep_fds=None):
    """Take what is queued (never blocking); close any descriptors that came
    unless asked to keep them.  False when the peer is gone."""
    while True:
        try:
            data, fds = recv_fds(sock, 4, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True
        except (ConnectionResetError, OSError):
            return False
        for f in fds:
            if keep_fds is not None and len(keep_fds) < 64:
                keep_fds.append((data, f))
            else:
                os.close(f)
        if not data:
            return False


def reply(sock, typ, nfds=0, within=5.0):
    end = time.monotonic() + within
    while True:
        left = end - time.monotonic()
        p = select.poll()
        p.register(sock, select.POLLIN)
        if not p.poll(max(left, 0) * 1000):
            return None
        data, fds = recv_fds(sock, max(nfds, 2))
        if not data:
            for f in fds:
                os.close(f)
            return None
        if len(data) >= HDR.size:
            magic, t, flags, _seq, status, n, _owner = HDR.unpack_from(data)
            if magic == MAGIC and t == typ and flags & F_REPLY:
                return status, data[HDR.size:HDR.size + n], fds
        for f in fds:
            os.close(f)


def session():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(ctl_path)
    s.send(rec(IPC_HELLO, struct.pack('<II', VERSION, os.getpid())))
    if reply(s, IPC_HELLO) is None:
        s.close()
        return None
    return s


class Sock:
    def __init__(self, chan, memfd, si):
        self.chan, self.si, self.map = chan, si, None
        if memfd is not None:
            try:
                size = os.fstat(memfd).st_size
                if size >= SHM_HDR:
                    self.map = mmap.mmap(memfd, size)
            except (OSError, ValueError):
                self.map = None
            os.close(memfd)

    def close(self):
        if self.map is not None:
            self.map.close()
        self.chan.close()


def new_sock(ses):
    kind = rnd.choice([1, 1, 2, rnd.randrange(0, 5)])
    ses.send(rec(IPC_SOCKET, struct.pack('<II', kind, rnd.choice([0, 0, rnd.getrandbits(32)])),
                 flags=rnd.choice([0, 0, F_NONBLOCK])))
    r = reply(ses, IPC_SOCKET, 2)
    if r is None:
        return None
    status, si, fds = r
    if status != 0 or len(fds) != 2:
        for f in fds:
            os.close(f)
        return None
    return Sock(socket.socket(fileno=fds[0]), fds[1],
                SI.unpack_from(si) if len(si) >= SI.size else None)


def addr():
    ip = rnd.choice(ips + [net | rnd.randrange(0, 256)])
    port = rnd.choice([0, 7600, 7601, 7602, rnd.randrange(1, 65536)])
    return struct.pack('<IHH', ip, port, rnd.choice([0, 0, rnd.getrandbits(16)]))


def payload_for(t):
    """A payload of the right shape with random content, or of random size."""
    if rnd.random() < 0.3:
        return rnd.randbytes(rnd.choice([0, 1, 3, 7, 8, 9, 16, 24, 48, 200, rnd.randrange(0, 4096)]))
    if t in (IPC_BIND, IPC_CONNECT):
        return addr()
    if t in (IPC_LISTEN, IPC_SHUTDOWN, IPC_GETNAME):
        return struct.pack('<iI', rnd.choice([-1, 0, 1, 2, 3, 128, 4097, rnd.getrandbits(31)]), 0)
    if t in (IPC_SETOPT, IPC_GETOPT):
        return struct.pack('<ii', rnd.randrange(-2, 40), rnd.choice([0, 1, -1, 1 << 30, rnd.getrandbits(31)]))
    if t in (IPC_SENDTO, IPC_RECVFROM):
        data = rnd.randbytes(rnd.randrange(0, 1600))
        hdr = addr() + struct.pack('<iII', rnd.getrandbits(31), rnd.choice([len(data), rnd.getrandbits(32)]),
                                   rnd.choice([0, 1]))
        return hdr + (data if t == IPC_SENDTO else b'')
    if t == IPC_CHAN:
        return struct.pack('<IIQ', rnd.getrandbits(32), 0, rnd.getrandbits(64))
    return b''


def bad_record(t):
    p = payload_for(t)
    kind = rnd.random()
    if kind < 0.6:
        return rec(t, p, flags=rnd.choice([0, 0, F_NOREPLY, F_REPLY, rnd.getrandbits(16)]),
                   seq=rnd.getrandbits(32), status=rnd.choice([0, 0, rnd.getrandbits(31)]))
    if kind < 0.75:
        return rec(t, p, length=rnd.choice([len(p) + 1, max(len(p) - 1, 0), rnd.getrandbits(32)]))
    if kind < 0.85:
        return rec(t, p, owner=rnd.getrandbits(32), magic=rnd.choice([MAGIC, rnd.getrandbits(32)]))
    return rnd.randbytes(rnd.randrange(0, 64))  # garbage, maybe shorter than a header


def scribble(s):
    if s.map is None:
        return
    n = len(s.map)
    for _ in range(rnd.randrange(1, 8)):
        off = rnd.choice([rnd.randrange(0, 128) & ~3, rnd.randrange(0, n - 4) & ~3])
        try:
            s.map[off:off + 4] = struct.pack('<I', rnd.choice([0, 1, 0xFFFFFFFF, 1 << 31, rnd.getrandbits(32)]))
        except (ValueError, IndexError):
            pass


WORDS = ['counters', 'nonzero', 'neigh', 'sockets', 'status', 'ipc', 'users', 'help', 'clear', 'log',
         '', ' ', '\t', '\0', '%s%n', 'x' * 300]


def text_command():
    """ustackctl's text protocol: a command, maybe garbled, on a fresh
    connection; the reply is read (or not) and the connection closed."""
    global texts, answers
    texts += 1
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        c.connect(ctl_path)
        k = rnd.random()
        if k < 0.6:
            line = ' '.join(rnd.choice(WORDS) for _ in range(rnd.randrange(1, 6)))
            data = line.encode()
        elif k < 0.8:
            data = bytes(rnd.randrange(32, 127) for _ in range(rnd.randrange(0, 600)))
        else:
            data = rnd.randbytes(rnd.choice([1, 2, 8, 4095, 4096, 4097, 70000]))
        send(c, data)
        if rnd.random() < 0.7:
            p = select.poll()
            p.register(c, select.POLLIN)
            first = True
            while p.poll(200):
                try:
                    if not c.recv(65600, socket.MSG_DONTWAIT):
                        break
                except (BlockingIOError, ConnectionResetError):
                    break
                answers += first
                first = False
    except OSError:
        pass
    finally:
        c.close()


def main():
    sessions, socks, accepted = [], [], []
    fds_in = []  # (record, fd) pairs that came with pushes: IPC_CHAN material
    end = time.monotonic() + seconds
    actions = 0
    k = socket.socket()  # a kernel-side client for our listeners
    while time.monotonic() < end:
        actions += 1
        a = rnd.random()
        try:
            if a < 0.05 or not sessions:
                s = session()
                if s is None:
                    fail('a new session was not answered within 5 s')
                sessions.append(s)
                while len(sessions) > 16:  # dropped ones pile up otherwise
                    sessions.pop(0).close()
            elif a < 0.08 and len(sessions) > 1:
                sessions.pop(rnd.randrange(len(sessions))).close()
            elif a < 0.20 and len(socks) < 200:
                s = new_sock(rnd.choice(sessions))
                if s is not None:
                    socks.append(s)
            elif a < 0.25 and socks:
                socks.pop(rnd.randrange(len(socks))).close()
            elif a < 0.30 and socks:
                # a listener the kernel side connects to: pushes, channels
                s = rnd.choice(socks)
                port = rnd.choice([7600, 7601, 7602])
                send(s.chan, rec(IPC_BIND, struct.pack('<IHH', ips[0], port, 0)))
                send(s.chan, rec(IPC_LISTEN, struct.pack('<iI', rnd.randrange(1, 8), 0)))
                try:
                    k.close()
                    k = socket.socket()
                    k.setblocking(False)
                    k.connect_ex((stack_ip, port))
                except OSError:
                    pass
            elif a < 0.36 and socks:
                s = rnd.choice(socks)
                drain(s.chan, fds_in)
                # push records carry a sockinfo: open its channel, with the
                # right token or a wrong one
                while fds_in and rnd.random() < 0.8:
                    data, f = fds_in.pop()
                    os.close(f)
                    if len(data) >= HDR.size + SI.size:
                        si = SI.unpack_from(data, HDR.size)
                        c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                        try:
                            c.connect(ctl_path)
                            tok = si[10] if rnd.random() < 0.7 else rnd.getrandbits(64)
                            send(c, rec(IPC_CHAN, struct.pack('<IIQ', si[0], 0, tok)))
                            global chans
                            chans += 1
                            accepted.append(c)
                            while len(accepted) > 64:
                                accepted.pop(0).close()
                        except OSError:
                            c.close()
            elif a < 0.45 and socks:
                s = rnd.choice(socks)
                scribble(s)
                send(s.chan, rec(IPC_DOORBELL))
            elif a < 0.80:
                # mostly socket channels: a bad record on a session ends it
                # (and its sockets) at once
                w = rnd.random()
                if socks and w < 0.7:
                    target = rnd.choice(socks).chan
                elif accepted and w < 0.9:
                    target = rnd.choice(accepted)
                else:
                    target = rnd.choice(sessions)
                fds = ()
                if rnd.random() < 0.05:
                    fds = (os.open('/dev/null', os.O_RDONLY),)
                send(target, bad_record(rnd.choice(TYPES + [rnd.getrandbits(16)])), fds)
                for f in fds:
                    os.close(f)
            elif a < 0.95:
                for c in rnd.sample(socks, min(len(socks), 8)):
                    if rnd.random() < 0.7:  # sometimes leave records unread
                        drain(c.chan)
                for c in accepted[:]:
                    if not drain(c) or rnd.random() < 0.1:
                        accepted.remove(c)
                        c.close()
            elif a < 0.97:
                for s in sessions:
                    drain(s)
            else:
                text_command()
        except (BrokenPipeError, ConnectionResetError, ConnectionRefusedError):
            pass
        if actions % 400 == 0:
            probe = session()
            if probe is None:
                fail(f'after {actions} actions a new session was not answered within 5 s')
            probe.close()
    probe = session()
    if probe is None:
        fail('at the end a new session was not answered within 5 s')
    probe.close()
    for s in socks:
        s.close()
    for c in accepted + sessions:
        c.close()
    for _, f in fds_in:
        os.close(f)
    k.close()
    print(f'fuzz ok {actions} {records} {chans} {texts} {answers}')


main()
