#!/usr/bin/env python3
"""shim_hostile.py - a program that speaks ustackd's binary protocol
(shim/ipc.h) itself and misbehaves on its socket channels, run by
shim_hostile.sh.  Usage: shim_hostile.py CONTROL_SOCKET STACK_IP

Opens a session (IPC_HELLO), then for each case a fresh stream socket
(IPC_SOCKET: the channel and the memfd arrive with SCM_RIGHTS) and sends one
bad record on its channel; ustackd must drop that socket (the channel
reaches end-of-file) and nothing else.  Then a good request on a new socket
of the same session must still be answered.  Prints 'hostile ok N' with the
number of sockets ustackd dropped; exit status 0 = pass."""
import errno
import mmap
import os
import select
import socket
import stat
import struct
import sys

MAGIC = 0x4B545355
VERSION = 7
HDR = struct.Struct('<IHHIiII')  # magic type flags seq status len owner
IPC_HELLO, IPC_SOCKET, IPC_CHAN, IPC_SETOPT, IPC_GETNAME = 1, 2, 3, 15, 17
IPC_BIND, IPC_LISTEN, IPC_MEMFD, IPC_PUSH = 10, 11, 23, 41
F_REPLY, F_NOREPLY = 0x1, 0x2
SI = struct.Struct('<IIIIIHHIIQQ')  # ipc_sockinfo (shim/ipc.h)
CHAN = struct.Struct('<IIQ')  # ipc_chan: sock_id, reserved, token
SI_POOLED, SI_CACHED = 0x1, 0x4
SHM_WANT, SHM_CACHED_BY, SHM_ACC_TAKEN, SHM_ACC_PID = 72, 88, 92, 100  # offsetof(struct ipc_shm, ...)
US_EV_IN = 0x1
IPC_WAKE = 40
PORT = 7501
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


def new_socket(ctl, keep_memfd=False):
    ctl.send(rec(IPC_SOCKET, struct.pack('<II', 1, 0)))
    status, _si, fds = reply(ctl, IPC_SOCKET, 2)
    if status != 0 or len(fds) != 2:
        sys.exit(f'FAIL: IPC_SOCKET: status {status}, {len(fds)} fds')
    if keep_memfd:
        return socket.socket(fileno=fds[0]), fds[1]
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


def accept(lis):
    """The next connection ustackd pushes down the listener's channel
    (IPC_PUSH, shim/ipc.h): (sockinfo fields, fds: the memfd or none)."""
    while True:
        r, _, _ = select.select([lis], [], [], 5)
        if not r:
            sys.exit('FAIL: no IPC_PUSH on the listener within 5 s')
        data, fds, _, _ = socket.recv_fds(lis, 65600, 2)
        magic, t, _flags, _seq, _status, n, _owner = HDR.unpack_from(data)
        if magic == MAGIC and t == IPC_PUSH:
            if n != SI.size:
                sys.exit(f'FAIL: IPC_PUSH: {n} bytes of sockinfo')
            return SI.unpack_from(data, HDR.size), fds
        for f in fds:
            os.close(f)


def chan_open(si, token=None, ctl_path=None):
    """The channel of an accepted connection: a new connection to the
    control socket whose first record is IPC_CHAN (shim/ipc.h)."""
    chan = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    chan.connect(ctl_path or sys.argv[1])
    chan.send(rec(IPC_CHAN, CHAN.pack(si[0], 0, si[10] if token is None else token)))
    return chan


def listener(ctl, stack_ip, port):
    lis, lmem = new_socket(ctl, keep_memfd=True)
    ip = struct.unpack('!I', socket.inet_aton(stack_ip))[0]
    lis.send(rec(IPC_BIND, struct.pack('<IHH', ip, port, 0)))
    if reply(lis, IPC_BIND)[0] != 0:
        sys.exit('FAIL: IPC_BIND of the listener')
    lis.send(rec(IPC_LISTEN, struct.pack('<iI', 8, 0)))
    if reply(lis, IPC_LISTEN)[0] != 0:
        sys.exit('FAIL: IPC_LISTEN')
    return lis, lmem


def expect_reset(k, what, within):
    k.settimeout(within)
    try:
        data = k.recv(100)
    except ConnectionResetError:
        return
    except socket.timeout:
        sys.exit(f'FAIL: {what}: no reset within {within} s')
    sys.exit(f'FAIL: {what}: got {data!r} instead of a reset')


def chan_cases(ctl, stack_ip):
    """IPC_CHAN: a wrong token and a token used twice are refused (the
    connection is closed); the right one serves the socket; a record taken
    whose channel never comes is reset after IPC_CHAN_WAIT_S; connections
    still waiting when the listener closes are reset at once."""
    lis, lmem = listener(ctl, stack_ip, PORT + 2)
    k = socket.create_connection((stack_ip, PORT + 2), timeout=5)
    si, fds = accept(lis)
    for f in fds:
        os.close(f)
    bad = chan_open(si, token=si[10] ^ 1)
    expect_dropped(bad, 'IPC_CHAN with a wrong token')
    chan = chan_open(si)
    chan.send(rec(IPC_GETNAME, struct.pack('<ii', 1, 0)))
    status, payload, _ = reply(chan, IPC_GETNAME)
    if status != 0 or struct.unpack_from('<IH', payload)[1] != k.getsockname()[1]:
        sys.exit(f'FAIL: GETNAME(peer) on an IPC_CHAN channel: status {status}')
    again = chan_open(si)
    expect_dropped(again, 'IPC_CHAN with a token used already')
    chan.close()
    k.close()
    print('IPC_CHAN: a wrong token and a used one refused, the right one serves the connection')
    # A reader waits for data (want IN) that arrives before its channel:
    # the wake-up must come with the channel, not be spent without one.
    k = socket.create_connection((stack_ip, PORT + 2), timeout=5)
    si, fds = accept(lis)
    if len(fds) != 1:
        sys.exit(f'FAIL: accept for the early-data case: {len(fds)} fds')
    with mmap.mmap(fds[0], 4096) as mm:
        struct.pack_into('<I', mm, SHM_WANT, US_EV_IN)
        k.sendall(b'early')
        select.select([], [], [], 0.3)  # ustackd takes the data in
        chan = chan_open(si)
        r, _, _ = select.select([chan], [], [], 3)
        if not r:
            sys.exit('FAIL: data that came before the channel: no IPC_WAKE when the channel came')
        _magic, t, _f, _seq, _st, _n, _owner = HDR.unpack_from(chan.recv(65600))
        if t != IPC_WAKE:
            sys.exit(f'FAIL: data that came before the channel: record type {t}, not IPC_WAKE')
    os.close(fds[0])
    chan.close()
    k.close()
    print('data that came before the channel: the reader was woken when the channel came')
    # Taken (acc_taken counts past it) but never given a channel: reset.
    k = socket.create_connection((stack_ip, PORT + 2), timeout=5)
    si, fds = accept(lis)
    for f in fds:
        os.close(f)
    with mmap.mmap(lmem, 4096) as mm:
        # The three records we took off this listener so far (what the
        # shim counts in acc_taken; acc_pushed may not be stored yet).
        struct.pack_into('<I', mm, SHM_ACC_TAKEN, 3)
    expect_reset(k, 'a taken connection whose channel never came', 15)
    k.close()
    print('a taken connection whose channel never came: reset')
    # Pushed, never taken, and the listener closes: reset at once.
    k = socket.create_connection((stack_ip, PORT + 2), timeout=5)
    select.select([lis], [], [], 5)  # the push is in the channel
    lis.close()
    os.close(lmem)
    expect_reset(k, 'a pushed connection when its listener closed', 3)
    k.close()
    print('a pushed connection still waiting when its listener closed: reset')


def memfd_cases(ctl, stack_ip):
    """IPC_MEMFD is answered only as the first request on a socket accepted
    with IPC_SI_CACHED (the memory this process said it kept mapped)."""
    chan = new_socket(ctl)
    chan.send(rec(IPC_MEMFD))
    status, _, fds = reply(chan, IPC_MEMFD, 1)
    if status != -errno.EPERM or fds:
        sys.exit(f'FAIL: IPC_MEMFD on a socket that is owed nothing: status {status}, {len(fds)} fds')
    chan.close()
    lis, lmem = listener(ctl, stack_ip, PORT)
    with mmap.mmap(lmem, 4096) as mm:  # who takes the next pushed connection
        struct.pack_into('<I', mm, SHM_ACC_PID, os.getpid())
    os.close(lmem)
    # First connection: the memfd comes; we say we keep it mapped.
    k1 = socket.create_connection((stack_ip, PORT), timeout=5)
    si, fds = accept(lis)
    if len(fds) != 1 or si[7] & SI_CACHED or not si[7] & SI_POOLED:
        sys.exit(f'FAIL: first accept: {len(fds)} fds, flags {si[7]:#x}')
    # Only the memory travels: no AF_UNIX socket in flight (shim/ipc.h,
    # "Channels of accepted connections").
    if not stat.S_ISREG(os.fstat(fds[0]).st_mode):
        sys.exit('FAIL: IPC_PUSH passed something other than the memfd')
    with mmap.mmap(fds[0], 4096) as mm:
        struct.pack_into('<I', mm, SHM_CACHED_BY, os.getpid())
    for f in fds:
        os.close(f)
    chan_open(si).close()
    k1.close()
    select.select([], [], [], 0.3)  # ustackd takes the memory back to the pool
    k2 = socket.create_connection((stack_ip, PORT), timeout=5)
    si, fds = accept(lis)
    if len(fds) != 0 or not si[7] & SI_CACHED:
        sys.exit(f'FAIL: second accept: {len(fds)} fds, flags {si[7]:#x} (expected no memfd)')
    chan = chan_open(si)
    chan.send(rec(IPC_MEMFD))
    status, _, mfds = reply(chan, IPC_MEMFD, 1)
    if status != 0 or len(mfds) != 1 or os.fstat(mfds[0]).st_ino != si[9]:
        sys.exit(f'FAIL: IPC_MEMFD after a cached accept: status {status}, {len(mfds)} fds')
    os.close(mfds[0])
    chan.send(rec(IPC_MEMFD, seq=2))
    status, _, mfds = reply(chan, IPC_MEMFD, 1)
    if status != -errno.EPERM or mfds:
        sys.exit(f'FAIL: a second IPC_MEMFD: status {status}, {len(mfds)} fds')
    chan.close()
    k2.close()
    lis.close()
    print('IPC_MEMFD: refused when not owed, served once after a pushed connection whose memory we kept')


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
    memfd_cases(ctl, sys.argv[2])
    chan_cases(ctl, sys.argv[2])
    ctl.close()
    print(f'hostile ok {len(cases)}')


main()
