#!/usr/bin/env python3
"""shim_hostile.py - a program that speaks ustackd's binary protocol
(shim/ipc.h) itself and misbehaves on its socket channels, run by
shim_hostile.sh.  Usage: shim_hostile.py CONTROL_SOCKET

Opens a session (IPC_HELLO), then for each case a fresh stream socket
(IPC_SOCKET: the channel and the memfd arrive with SCM_RIGHTS) and sends one
bad record on its channel; ustackd must drop that socket (the channel
reaches end-of-file) and nothing else.  Then a good request on a new socket
of the same session must still be answered.  Prints 'hostile ok N' with the
number of sockets ustackd dropped; exit status 0 = pass."""
import os
import select
import socket
import struct
import sys

MAGIC = 0x4B545355
VERSION = 3
HDR = struct.Struct('<IHHIiII')  # magic type flags seq status len owner
IPC_HELLO, IPC_SOCKET, IPC_SETOPT, IPC_GETNAME = 1, 2, 15, 17
F_REPLY, F_NOREPLY = 0x1, 0x2
US_SO_RCVBUF = 0


def rec(typ, payload=b'', flags=0, seq=1, length=None, magic=MAGIC):
    n = len(payload) if length is None else length
    return HDR.pack(magic, typ, flags, seq, 0, n, os.getpid()) + payload


def reply(sock, typ, nfds=0):
    """The reply of `typ`: (status, payload, fds)."""
    while True:
        r, _, _ = select.select([sock], [], [], 5)
        if not r:
            sys.exit(f'FAIL: no reply to type {typ} within 5 s')
        if nfds:
            data, fds, _, _ = socket.recv_fds(sock, 65600, nfds)
        else:
            data, fds = sock.recv(65600), []
        if not data:
            sys.exit(f'FAIL: ustackd closed the connection while we waited for type {typ}')
        magic, t, flags, _seq, status, n, _owner = HDR.unpack_from(data)
        if magic == MAGIC and t == typ and flags & F_REPLY:
            return status, data[HDR.size:HDR.size + n], fds
        for f in fds:
            os.close(f)


def new_socket(ctl):
    ctl.send(rec(IPC_SOCKET, struct.pack('<II', 1, 0)))
    status, _si, fds = reply(ctl, IPC_SOCKET, 2)
    if status != 0 or len(fds) != 2:
        sys.exit(f'FAIL: IPC_SOCKET: status {status}, {len(fds)} fds')
    os.close(fds[1])  # the memfd: not needed here
    return socket.socket(fileno=fds[0])


def expect_dropped(chan, what):
    """ustackd must close this channel (and only this one)."""
    r, _, _ = select.select([chan], [], [], 5)
    if not r:
        sys.exit(f'FAIL: {what}: the socket was not dropped within 5 s')
    try:
        data = chan.recv(65600)
    except ConnectionResetError:
        data = b''
    if data:
        sys.exit(f'FAIL: {what}: ustackd answered ({len(data)} bytes) instead of dropping it')
    chan.close()


def main():
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ctl.connect(sys.argv[1])
    ctl.send(rec(IPC_HELLO, struct.pack('<II', VERSION, os.getpid())))
    status, _, _ = reply(ctl, IPC_HELLO)
    if status != 0:
        sys.exit(f'FAIL: IPC_HELLO refused: {status}')
    cases = [
        ('bad magic', rec(IPC_GETNAME, struct.pack('<ii', 0, 0), magic=0x12345678)),
        ('length field larger than the record', rec(IPC_GETNAME, struct.pack('<ii', 0, 0), length=100)),
        ('a record shorter than a header', b'\x55\x53'),
        ('a reply flag on a request', rec(IPC_GETNAME, struct.pack('<ii', 0, 0), flags=F_REPLY)),
        ('no-reply setopt of an option that can fail (SO_RCVBUF)',
         rec(IPC_SETOPT, struct.pack('<ii', US_SO_RCVBUF, 1 << 20), flags=F_NOREPLY)),
        ('a request payload of the wrong size', rec(IPC_GETNAME, b'\x00' * 3)),
    ]
    for what, data in cases:
        chan = new_socket(ctl)
        chan.send(data)
        expect_dropped(chan, what)
        print(f'dropped: {what}')
    # The session still works: a good request on a new socket is answered.
    chan = new_socket(ctl)
    chan.send(rec(IPC_GETNAME, struct.pack('<ii', 0, 0)))
    status, payload, _ = reply(chan, IPC_GETNAME)
    if status != 0 or len(payload) != 8:
        sys.exit(f'FAIL: GETNAME after the bad records: status {status}, {len(payload)} bytes')
    # A well-formed no-reply TCP_NODELAY is taken silently (no reply, no drop).
    chan.send(rec(IPC_SETOPT, struct.pack('<ii', 6, 1), flags=F_NOREPLY))
    chan.send(rec(IPC_GETNAME, struct.pack('<ii', 0, 0), seq=2))
    status, _, _ = reply(chan, IPC_GETNAME)
    if status != 0:
        sys.exit(f'FAIL: GETNAME after a no-reply TCP_NODELAY: status {status}')
    chan.close()
    ctl.close()
    print(f'hostile ok {len(cases)}')


main()
