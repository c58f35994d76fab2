#!/usr/bin/python3
"""malformed.py - a seeded barrage of malformed frames for ustackd.

Builds a few thousand broken Ethernet frames (truncated headers, bad
version/IHL/length fields, bad checksums, bad IP options, hostile fragment
sets, bad UDP/ICMP/TCP headers, and seeded random mutations of valid
frames) and sends them with scapy's sendp() on the kernel side of the TAP,
inside the test's private network namespace.  Every frame is addressed to
the stack's MAC and, where it has one, carries IP addresses of the test
network only.

  malformed.py --iface ustack0 --dst-mac MAC --src-mac MAC \
      --src-ip 10.77.0.1 --dst-ip 10.77.0.2 [--seed N] [--fuzz N] [--dry-run]
  malformed.py --incomplete ...   only fragments that never complete

--dry-run builds everything and prints the per-category counts without
sending (no root needed).  Prints one "category frames" line per category.
"""
import argparse
import random
import struct
import sys
import time

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Raw, conf, raw, sendp  # noqa: E402

conf.verb = 0


def csum(data):
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Barrage:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.cats = []  # (name, [frames])
        self.eth = raw(Ether(dst=a.dst_mac, src=a.src_mac, type=0x0800))
        self.eth_arp = raw(Ether(dst=a.dst_mac, src=a.src_mac, type=0x0806))
        self.next_id = 0x4000 + self.rng.randrange(0x1000)
        self.src_ip_b = bytes(map(int, a.src_ip.split(".")))
        self.src_mac_b = bytes.fromhex(a.src_mac.replace(":", ""))

    def add(self, name, frames):
        self.cats.append((name, [bytes(f) for f in frames]))

    def no_poison(self, f):
        """ARP is unauthenticated (RFC 826 merges the sender's mapping), so
        a random ARP frame that claims the kernel side's IP with another MAC
        would legitimately redirect the stack's replies.  Keep random frames
        from doing that: move such a sender to an unused address."""
        f = bytearray(f)
        if len(f) >= 32 and f[12:14] == b"\x08\x06" and f[28:32] == self.src_ip_b \
                and f[22:28] != self.src_mac_b:
            f[31] = 200 + self.rng.randrange(50)
        return bytes(f)

    def ipid(self):
        self.next_id = (self.next_id + 1) & 0xFFFF
        return self.next_id

    # ---- IPv4 building blocks -----------------------------------------

    def ip_hdr(self, payload_len, proto=17, ihl=5, ver=4, opts=b"", tot=None,
               flags=0, frag=0, ident=None, src=None, dst=None, ttl=64,
               fix_csum=True, bad_csum=False):
        """A raw IPv4 header with every field under our control."""
        a = self.a
        if tot is None:
            tot = ihl * 4 + payload_len
        if ident is None:
            ident = self.ipid()
        h = struct.pack("!BBHHHBBH4s4s", (ver << 4) | (ihl & 0xF), 0,
                        tot & 0xFFFF, ident, (flags << 13) | frag, ttl, proto, 0,
                        bytes(map(int, (src or a.src_ip).split("."))),
                        bytes(map(int, (dst or a.dst_ip).split("."))))
        h += opts
        if fix_csum:
            c = csum(h[: min(len(h), max(20, (ihl & 0xF) * 4))])
            if bad_csum:
                c ^= 0x5A5A
            h = h[:10] + struct.pack("!H", c) + h[12:]
        return h

    def udp_seg(self, payload, sport=40000, dport=9, length=None, ck=None,
                src=None, dst=None):
        a = self.a
        if length is None:
            length = 8 + len(payload)
        seg = struct.pack("!HHHH", sport, dport, length & 0xFFFF, 0) + payload
        if ck is None:
            ph = struct.pack("!4s4sBBH",
                             bytes(map(int, (src or a.src_ip).split("."))),
                             bytes(map(int, (dst or a.dst_ip).split("."))),
                             0, 17, len(seg))
            ck = csum(ph + seg) or 0xFFFF
        return seg[:6] + struct.pack("!H", ck) + seg[8:]

    def ip_frame(self, l4, **kw):
        return self.eth + self.ip_hdr(len(l4), **kw) + l4

    def echo_req(self, n=32, ident=0x7777, seq=1):
        return raw(ICMP(type=8, id=ident, seq=seq) / Raw(bytes(n)))

    # ---- categories ---------------------------------------------------

    def build(self, incomplete_only=False):
        a = self.a
        if incomplete_only:
            self.incomplete()
            return
        # Ethernet: shorter than the header (the kernel's packet socket may
        # refuse these; sending is best effort), header only, unknown
        # types, 802.3 lengths, not for us.
        self.add("eth_short", [self.eth[:n] for n in range(1, 14)])
        self.add("eth_header_only", [self.eth, self.eth_arp] * 5)
        self.add("eth_bad_type", [raw(Ether(dst=a.dst_mac, src=a.src_mac, type=t)) + bytes(46)
                                  for t in (0x86DD, 0x1234, 0x88CC, 0x0040, 0x05DC, 0xFFFF)])
        other = "02:00:00:00:00:%02x" % self.rng.randrange(256)
        self.add("eth_not_us", [raw(Ether(dst=other, src=a.src_mac) /
                                    IP(src=a.src_ip, dst=a.dst_ip) / ICMP() / Raw(b"x" * 8))] * 5)

        # ARP: every truncation point, unsupported hardware/protocol,
        # bad opcodes, hostile sender addresses, not for us.
        good_arp = raw(ARP(op=1, hwsrc=a.src_mac, psrc=a.src_ip, hwdst="00:00:00:00:00:00", pdst=a.dst_ip))
        self.add("arp_trunc", [self.eth_arp + good_arp[:n] for n in range(0, 28)])
        self.add("arp_unsupported", [
            self.eth_arp + raw(ARP(hwtype=6, op=1, hwsrc=a.src_mac, psrc=a.src_ip, pdst=a.dst_ip)),
            self.eth_arp + raw(ARP(ptype=0x86DD, op=1, hwsrc=a.src_mac, psrc=a.src_ip, pdst=a.dst_ip)),
            self.eth_arp + good_arp[:4] + bytes([8, 4]) + good_arp[6:] + bytes(8),
            self.eth_arp + good_arp[:4] + bytes([6, 16]) + good_arp[6:] + bytes(40),
            self.eth_arp + good_arp[:4] + bytes([0, 0]) + good_arp[6:],
        ] * 2)
        self.add("arp_bad_op", [self.eth_arp + good_arp[:6] + struct.pack("!H", op) + good_arp[8:]
                                for op in (0, 3, 4, 7, 0xFFFF)])
        self.add("arp_bad_sender", [
            self.eth_arp + raw(ARP(op=1, hwsrc="ff:ff:ff:ff:ff:ff", psrc=a.src_ip, pdst=a.dst_ip)),
            self.eth_arp + raw(ARP(op=1, hwsrc="01:00:5e:00:00:01", psrc=a.src_ip, pdst=a.dst_ip)),
            self.eth_arp + raw(ARP(op=1, hwsrc=a.src_mac, psrc="255.255.255.255", pdst=a.dst_ip)),
            self.eth_arp + raw(ARP(op=1, hwsrc=a.src_mac, psrc="224.0.0.1", pdst=a.dst_ip)),
            self.eth_arp + raw(ARP(op=1, hwsrc=a.src_mac, psrc=a.dst_ip, pdst=a.dst_ip)),
        ])
        self.add("arp_garbage", [self.no_poison(self.eth_arp + bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(0, 60))))
                                 for _ in range(100)])

        # IPv4 header.
        echo = self.echo_req()
        self.add("ip4_trunc", [self.eth + self.ip_hdr(len(echo))[:n] for n in range(0, 20)] +
                 [self.eth + self.ip_hdr(len(echo), proto=1, tot=20 + len(echo) + extra) + echo
                  for extra in (1, 8, 100, 1000, 65000)])
        self.add("ip4_bad_version", [self.ip_frame(echo, proto=1, ver=v) for v in (0, 1, 5, 6, 7, 15)] * 2)
        self.add("ip4_bad_ihl", [self.ip_frame(echo, proto=1, ihl=i) for i in (0, 1, 2, 3, 4)] * 2 +
                 # IHL larger than the total length / the frame.
                 [self.eth + self.ip_hdr(0, ihl=15, tot=24, opts=b"\x01" * 4),
                  self.eth + self.ip_hdr(0, ihl=15, tot=60, opts=b"\x01" * 4)])
        self.add("ip4_tot_lt_hlen", [self.ip_frame(echo, proto=1, tot=t) for t in (0, 1, 19)])
        self.add("ip4_reserved_flag", [self.ip_frame(echo, proto=1, flags=4)] * 3)
        self.add("ip4_bad_csum", [self.ip_frame(self.echo_req(seq=i), proto=1, bad_csum=True) for i in range(20)] +
                 [self.ip_frame(echo, proto=1, fix_csum=False)] * 5)
        opts_bad = [
            b"\x07\x00\x00\x00",          # RR with length 0
            b"\x07\x01\x00\x00",          # length 1
            b"\x44\x28\x05\x00",          # timestamp, length 40 > header room
            b"\x01\x01\x01\x83",          # LSRR type as the last byte: no length
            b"\x01\x01\x83\x09\x04\x00\x00\x00",  # LSRR length 9 past the header
            b"\x94\xff\x00\x00",          # router alert, length 255
        ]
        self.add("ip4_bad_options", [self.ip_frame(echo, proto=1, ihl=5 + len(o) // 4, opts=o) for o in opts_bad] * 3)
        self.add("ip4_bad_src", [self.ip_frame(self.udp_seg(b"x", src=s), src=s)
                                 for s in ("255.255.255.255", "224.0.0.5", "10.77.0.2", "127.0.0.1")])
        self.add("ip4_not_us", [self.ip_frame(self.udp_seg(b"x", dst="10.77.0.99"), dst="10.77.0.99")] * 5)
        self.add("ip4_bad_proto", [self.ip_frame(b"\0" * 16, proto=p) for p in (0, 2, 41, 253, 255)])

        self.fragments()

        # UDP.
        self.add("udp_trunc", [self.ip_frame(self.udp_seg(b"")[:n]) for n in range(0, 8)])
        self.add("udp_bad_len", [self.ip_frame(self.udp_seg(b"hello", length=n)) for n in (0, 1, 7, 14, 100, 0xFFFF)] * 2)
        self.add("udp_bad_csum", [self.ip_frame(self.udp_seg(b"checksum %d" % i, dport=7, ck=0x1234 + i)) for i in range(20)])

        # ICMP.
        bad = bytearray(echo)
        bad[2] ^= 0xFF
        self.add("icmp_bad_csum", [self.ip_frame(bytes(bad), proto=1)] * 10)
        self.add("icmp_trunc", [self.ip_frame(echo[:n], proto=1) for n in range(0, 8)])
        self.add("icmp_bcast_echo", [self.ip_frame(echo, proto=1, dst="10.77.0.255"),
                                     self.ip_frame(echo, proto=1, dst="255.255.255.255")] * 2)
        inner_ok = self.ip_hdr(8, proto=17, src=a.dst_ip, dst=a.src_ip) + struct.pack("!HHHH", 7, 40000, 8, 0)
        errs = []
        for t, c in ((3, 3), (3, 1), (11, 0), (12, 0), (3, 4)):
            for inner in (b"", inner_ok[:10], inner_ok[:20], b"\x45" + bytes(30), inner_ok):
                m = bytearray(raw(ICMP(type=t, code=c) / Raw(inner)))
                errs.append(self.ip_frame(bytes(m), proto=1))
        self.add("icmp_errors_bad_inner", errs)
        self.add("icmp_other_types", [self.ip_frame(raw(ICMP(type=t) / Raw(b"abcdefgh")), proto=1)
                                      for t in (0, 1, 2, 4, 5, 9, 10, 13, 15, 17, 42, 255)])

        # TCP: bad data offset, truncated header, bad checksum, bad options.
        def tcp(**kw):
            return raw(IP(src=a.src_ip, dst=a.dst_ip) / TCP(sport=40000, dport=7, flags="S", **kw))
        good_tcp = tcp()
        tcp_frames = []
        for off in (0, 1, 4, 15):
            t = bytearray(good_tcp)
            t[20 + 12] = (off << 4)
            t[20 + 16:20 + 18] = b"\0\0"
            t[20 + 16:20 + 18] = struct.pack("!H", csum(struct.pack(
                "!4s4sBBH", t[12:16], t[16:20], 0, 6, len(t) - 20) + bytes(t[20:])))
            tcp_frames.append(self.eth + bytes(t))
        for n in range(0, 20):
            tcp_frames.append(self.ip_frame(good_tcp[20:20 + n], proto=6))
        bad = bytearray(good_tcp)
        bad[36] ^= 0xFF
        tcp_frames += [self.eth + bytes(bad)] * 5
        for opts in ([(2, b"")], [(3, b"")], [("MSS", 1460), ("WScale", 20)]):
            try:
                tcp_frames.append(self.eth + tcp(options=opts))
            except Exception:  # scapy may refuse an option; skip it
                pass
        # Options with a length byte that runs past the header.
        t = bytearray(raw(IP(src=a.src_ip, dst=a.dst_ip) / TCP(sport=40000, dport=7, flags="S",
                                                              options=[("NOP", None)] * 4)))
        t[40:44] = b"\x02\x40\x05\xb4"
        t[36:38] = b"\0\0"
        t[36:38] = struct.pack("!H", csum(struct.pack("!4s4sBBH", t[12:16], t[16:20], 0, 6, len(t) - 20) + bytes(t[20:])))
        tcp_frames.append(self.eth + bytes(t))
        self.add("tcp_bad", tcp_frames)

        self.fuzz()

    def fragments(self):
        a = self.a
        # Overlapping fragments of one echo request (first fragment, then
        # one that overlaps it with different bytes, then the rest).
        frames = []
        for k in range(10):
            payload = self.echo_req(n=64, seq=100 + k)
            ident = self.ipid()
            frames.append(self.ip_frame(payload[:32], proto=1, flags=1, frag=0, ident=ident))
            frames.append(self.ip_frame(b"\xAA" * 32, proto=1, flags=1, frag=2, ident=ident))  # overlaps 16..47
            frames.append(self.ip_frame(payload[24:48], proto=1, flags=1, frag=3, ident=ident))
            frames.append(self.ip_frame(payload[48:], proto=1, flags=0, frag=6, ident=ident))
        # A fragment that overlaps everything (offset 0 again, longer).
        for k in range(5):
            ident = self.ipid()
            frames.append(self.ip_frame(bytes(64), proto=17, flags=1, frag=1, ident=ident))
            frames.append(self.ip_frame(bytes(200), proto=17, flags=1, frag=0, ident=ident))
            frames.append(self.ip_frame(bytes(16), proto=17, flags=0, frag=30, ident=ident))
        self.add("frag_overlap", frames)

        # Duplicates.
        frames = []
        for k in range(5):
            ident = self.ipid()
            payload = self.echo_req(n=24, seq=200 + k)
            frames += [self.ip_frame(payload[:16], proto=1, flags=1, frag=0, ident=ident)] * 3
            frames.append(self.ip_frame(payload[16:], proto=1, flags=0, frag=2, ident=ident))
        self.add("frag_dup", frames)

        # Tiny fragments: a 1000-byte UDP datagram in 8-byte pieces (valid,
        # goes to discard), and out of order.
        frames = []
        for order in ("fwd", "rev"):
            ident = self.ipid()
            seg = self.udp_seg(bytes(self.rng.getrandbits(8) for _ in range(992)), dport=9)
            pieces = [(i, seg[i:i + 8]) for i in range(0, len(seg), 8)]
            if order == "rev":
                pieces.reverse()
            for off, p in pieces:
                mf = 1 if off + 8 < len(seg) else 0
                frames.append(self.ip_frame(p, proto=17, flags=mf, frag=off // 8, ident=ident))
        self.add("frag_tiny", frames)

        # Bad fragments: MF with a length that is not a multiple of 8,
        # offset + length beyond 65535, zero-length fragments.
        frames = []
        for k in range(5):
            frames.append(self.ip_frame(bytes(13), proto=17, flags=1, frag=0, ident=self.ipid()))
            frames.append(self.ip_frame(bytes(64), proto=17, flags=0, frag=8190, ident=self.ipid()))
            frames.append(self.ip_frame(bytes(1024), proto=17, flags=1, frag=8100, ident=self.ipid()))
            frames.append(self.ip_frame(b"", proto=17, flags=1, frag=4, ident=self.ipid()))
        self.add("frag_bad", frames)

    def incomplete(self):
        """Fragments that never complete: first pieces of many datagrams,
        more than the reassembly table holds."""
        frames = []
        for k in range(200):
            frames.append(self.ip_frame(bytes(256), proto=17, flags=1, frag=0, ident=self.ipid()))
        for k in range(20):  # last piece only
            frames.append(self.ip_frame(bytes(40), proto=17, flags=0, frag=100, ident=self.ipid()))
        self.add("frag_incomplete", frames)

    def fuzz(self):
        a = self.a
        rng = self.rng
        templates = [
            self.eth + raw(IP(src=a.src_ip, dst=a.dst_ip) / ICMP(type=8, id=1, seq=1) / Raw(b"ping" * 8)),
            self.eth + raw(IP(src=a.src_ip, dst=a.dst_ip) / UDP(sport=40001, dport=7) / Raw(b"echo" * 8)),
            self.eth + raw(IP(src=a.src_ip, dst=a.dst_ip) / UDP(sport=40001, dport=9) / Raw(b"x" * 100)),
            self.eth + raw(IP(src=a.src_ip, dst=a.dst_ip, flags=1, id=999) / UDP(sport=40001, dport=9) / Raw(b"y" * 64)),
            self.eth + raw(IP(src=a.src_ip, dst=a.dst_ip) / TCP(sport=40002, dport=7, flags="S",
                                                              options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("WScale", 7)])),
            self.eth + raw(IP(src=a.src_ip, dst=a.dst_ip, options=b"\x01\x01\x01\x00") / ICMP() / Raw(b"opts")),
            self.eth_arp + raw(ARP(op=1, hwsrc=a.src_mac, psrc=a.src_ip, pdst=a.dst_ip)),
            self.eth + raw(IP(src=a.src_ip, dst=a.dst_ip) / ICMP(type=3, code=3) /
                           IP(src=a.dst_ip, dst=a.src_ip) / UDP(sport=7, dport=40001)),
        ]
        frames = []
        for _ in range(self.a.fuzz):
            f = bytearray(rng.choice(templates))
            how = rng.randrange(4)
            if how == 0:  # flip a few bytes past the Ethernet header
                for _ in range(rng.randrange(1, 9)):
                    i = rng.randrange(14, len(f))
                    f[i] = rng.getrandbits(8)
            elif how == 1:  # truncate
                f = f[:rng.randrange(14, len(f))]
            elif how == 2:  # random tail after a valid prefix
                cut = rng.randrange(14, len(f))
                f = f[:cut] + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
            else:  # flip single bits in headers
                for _ in range(rng.randrange(1, 4)):
                    i = rng.randrange(14, min(len(f), 14 + 60))
                    f[i] ^= 1 << rng.randrange(8)
            frames.append(self.no_poison(f))
        self.add("fuzz", frames)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iface", default="ustack0")
    p.add_argument("--dst-mac", required=True, help="the stack's MAC")
    p.add_argument("--src-mac", required=True, help="the kernel side's MAC")
    p.add_argument("--src-ip", default="10.77.0.1")
    p.add_argument("--dst-ip", default="10.77.0.2")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--fuzz", type=int, default=2000, help="number of fuzzed frames")
    p.add_argument("--incomplete", action="store_true", help="only fragments that never complete")
    p.add_argument("--dry-run", action="store_true", help="build and count, send nothing")
    a = p.parse_args()
    for ip in (a.src_ip, a.dst_ip):
        if not ip.startswith("10.77.0."):
            sys.exit("malformed.py: refusing to address %s (test network 10.77.0.0/24 only)" % ip)

    b = Barrage(a)
    b.build(incomplete_only=a.incomplete)
    total = sent = refused = 0
    for name, frames in b.cats:
        n_ok = 0
        if not a.dry_run:
            # Batches with a short pause, so the TAP queue never overflows.
            for i in range(0, len(frames), 50):
                batch = frames[i:i + 50]
                try:
                    sendp([Raw(f) for f in batch], iface=a.iface, verbose=False)
                    n_ok += len(batch)
                except OSError:
                    # One at a time: the kernel refuses some (e.g. frames
                    # shorter than an Ethernet header).
                    for f in batch:
                        try:
                            sendp(Raw(f), iface=a.iface, verbose=False)
                            n_ok += 1
                        except OSError:
                            refused += 1
                time.sleep(0.01)
        total += len(frames)
        sent += n_ok
        print("%-24s %5d frames%s" % (name, len(frames), "" if a.dry_run else ", %d sent" % n_ok))
    print("total %d frames, %d sent, %d refused by the kernel" % (total, sent, refused))


if __name__ == "__main__":
    main()
