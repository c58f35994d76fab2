#!/usr/bin/env python3
"""tcp_pcapcheck.py - check a capture (classic pcap, Ethernet) of TCP
between the kernel and ustack, without tshark.

  tcp_pcapcheck.py FILE STACK_IP [--offload]

With --offload the stack runs with the device's offloads (ustackd
--offload on): a TCP checksum is also accepted when it is exactly the
partial value the kernel completes (the folded pseudo-header sum,
virtio-net NEEDS_CSUM), and segments longer than the 1500-byte MTU allows
(TSO frames the kernel cuts) are counted, not refused; at least one must
appear.  Without it every checksum must verify and every segment fit.

For every IPv4 packet whose source is STACK_IP (the kernel may leave its
own outgoing checksums partial on a TAP, so those are not judged):
  - the IPv4 header is well formed and its checksum verifies,
  - the TCP header fits, and the TCP checksum (with the pseudo-header)
    verifies over the whole segment (the capture must not be truncated),
  - the TCP options are well formed (RFC 9293 3.1 and the option RFCs):
    every option but EOL/NOP has a length byte >= 2 that fits in the
    header, nothing but zeros follows EOL, MSS (kind 2, length 4), window
    scale (3, length 3, shift <= 14, RFC 7323 2.3) and SACK-permitted (4,
    length 2) appear only on SYNs, SACK (5) has length 2 + 8n with
    1 <= n <= 4 and left < right edges (RFC 2018), timestamps (8) have
    length 10, no option appears twice, and no unknown kind is sent;
  - a window scale, SACK-permitted or timestamp option on the SYN-ACK
    only when the kernel's SYN offered it (RFC 7323 2.2, RFC 2018 2).
Options on the kernel's packets are parsed too (a parser check of this
script: the kernel's are always well formed).  Exit 0 when all is well,
1 with one line per problem (at most 20 shown).
"""

import struct
import sys

KNOWN = {2: "mss", 3: "wscale", 4: "sackok", 5: "sack", 8: "ts"}


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ip_str(b):
    return ".".join(map(str, b))


def parse_opts(opts, syn):
    """Return (dict kind -> value, list of problems)."""
    seen, probs = {}, []
    i = 0
    while i < len(opts):
        k = opts[i]
        if k == 0:
            if any(opts[i + 1:]):
                probs.append("non-zero bytes after EOL")
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(opts):
            probs.append(f"option {k} without a length byte")
            break
        ln = opts[i + 1]
        if ln < 2 or i + ln > len(opts):
            probs.append(f"option {k} with bad length {ln} ({len(opts) - i} bytes left)")
            break
        body = opts[i + 2: i + ln]
        if k in seen:
            probs.append(f"option {KNOWN.get(k, k)} twice")
        if k == 2:
            if ln != 4:
                probs.append(f"MSS length {ln}")
            elif not syn:
                probs.append("MSS on a non-SYN segment")
            else:
                seen[k] = struct.unpack("!H", body)[0]
        elif k == 3:
            if ln != 3:
                probs.append(f"window scale length {ln}")
            elif not syn:
                probs.append("window scale on a non-SYN segment")
            else:
                seen[k] = body[0]
                if body[0] > 14:
                    probs.append(f"window scale shift {body[0]} > 14")
        elif k == 4:
            if ln != 2:
                probs.append(f"SACK-permitted length {ln}")
            elif not syn:
                probs.append("SACK-permitted on a non-SYN segment")
            else:
                seen[k] = True
        elif k == 5:
            if (ln - 2) % 8 or not 1 <= (ln - 2) // 8 <= 4:
                probs.append(f"SACK length {ln}")
            else:
                blocks = [struct.unpack("!II", body[j: j + 8]) for j in range(0, ln - 2, 8)]
                for left, right in blocks:
                    if not 0 < (right - left) & 0xFFFFFFFF < 1 << 31:
                        probs.append(f"SACK block [{left}, {right}) empty or inverted")
                seen[k] = blocks
        elif k == 8:
            if ln != 10:
                probs.append(f"timestamps length {ln}")
            else:
                seen[k] = struct.unpack("!II", body)
        else:
            probs.append(f"unknown option kind {k} (length {ln})")
            seen[k] = body
        i += ln
    return seen, probs


def main():
    path, stack_ip = sys.argv[1], bytes(map(int, sys.argv[2].split(".")))
    offload = "--offload" in sys.argv[3:]
    n_partial = n_tso = biggest = 0
    data = open(path, "rb").read()
    if len(data) < 24:
        sys.exit(f"{path}: not a pcap file")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        sys.exit(f"{path}: not a classic pcap file (pcapng? use tcpdump -w)")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit(f"{path}: link type {linktype}, expected Ethernet (1)")
    off = 24
    n = n_stack = n_tcp_stack = n_opts = 0
    problems = []
    syn_opts = {}  # (kernel port, stack port) -> options the kernel offered
    stats = {"syn": 0, "synack": 0, "rst": 0, "fin": 0, "sack": 0, "ts": 0}

    def bad(idx, what):
        problems.append(f"packet {idx}: {what}")

    while off + 16 <= len(data):
        _, _, caplen, wirelen = struct.unpack(e + "IIII", data[off: off + 16])
        pkt = data[off + 16: off + 16 + caplen]
        off += 16 + caplen
        n += 1
        if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        if len(ip) < 20:
            continue
        from_stack = ip[12:16] == stack_ip
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack("!H", ip[2:4])[0]
        if from_stack:
            n_stack += 1
            if caplen < wirelen:
                bad(n, f"truncated capture ({caplen} of {wirelen} bytes); use -s 0")
                continue
            if ip[0] >> 4 != 4 or ihl < 20 or tot < ihl or tot > len(ip):
                bad(n, f"malformed IPv4 header (ver/ihl {ip[0]:#x}, total length {tot}, "
                       f"{len(ip)} bytes captured)")
                continue
            if csum(ip[:ihl]) != 0xFFFF:
                bad(n, "bad IPv4 header checksum")
        if ip[9] != 6 or tot > len(ip) or ihl < 20:
            continue
        frag = struct.unpack("!H", ip[6:8])[0]
        if frag & 0x3FFF:
            if from_stack:
                bad(n, "TCP segment sent as an IP fragment")
            continue
        seg = ip[ihl:tot]
        if len(seg) < 20:
            if from_stack:
                bad(n, f"TCP header truncated ({len(seg)} bytes)")
            continue
        sport, dport = struct.unpack("!HH", seg[:4])
        doff = (seg[12] >> 4) * 4
        flags = seg[13]
        syn, ack = bool(flags & 2), bool(flags & 16)
        if doff < 20 or doff > len(seg):
            if from_stack:
                bad(n, f"TCP data offset {doff} with a {len(seg)}-byte segment")
            continue
        opts, probs = parse_opts(seg[20:doff], syn)
        if from_stack:
            n_tcp_stack += 1
            n_opts += bool(doff > 20)
            pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(seg))
            field = struct.unpack("!H", seg[16:18])[0]
            if offload and field == csum(pseudo):
                n_partial += 1  # completed by the kernel (NEEDS_CSUM)
            elif csum(pseudo + seg) != 0xFFFF:
                bad(n, f"bad TCP checksum ({sport} -> {dport}, flags {flags:#04x}, "
                       f"{len(seg) - doff} data bytes)")
            if tot > 1500:
                if not offload:
                    bad(n, f"{tot}-byte IPv4 packet on a 1500-byte MTU link")
                elif tot > 65535 or not ack or syn:
                    bad(n, f"TSO frame of {tot} bytes with flags {flags:#04x}")
                n_tso += 1
                biggest = max(biggest, tot)
            for p in probs:
                bad(n, f"stack TCP options: {p}")
            stats["syn"] += syn and not ack
            stats["synack"] += syn and ack
            stats["rst"] += bool(flags & 4)
            stats["fin"] += bool(flags & 1)
            stats["sack"] += 5 in opts
            stats["ts"] += 8 in opts
            if syn and ack:
                offered = syn_opts.get((dport, sport))
                if offered is not None:
                    for k, name in ((3, "window scale"), (4, "SACK-permitted"),
                                    (8, "timestamps")):
                        if k in opts and k not in offered:
                            bad(n, f"SYN-ACK has {name} but the SYN did not offer it")
                if 2 not in opts:
                    bad(n, "SYN-ACK without MSS")
                elif opts[2] > 1460:
                    bad(n, f"SYN-ACK MSS {opts[2]} larger than the 1500-byte MTU allows")
        else:
            for p in probs:
                bad(n, f"kernel TCP options (parser check): {p}")
            if syn and not ack:
                syn_opts[(sport, dport)] = opts
    if off != len(data):
        problems.append(f"{len(data) - off} trailing bytes (capture cut short?)")
    print(f"pcapcheck: {n} packets, {n_stack} from {sys.argv[2]} ({n_tcp_stack} TCP, "
          f"{n_opts} with options; SYN-ACKs {stats['synack']}, FINs {stats['fin']}, "
          f"RSTs {stats['rst']}, with SACK {stats['sack']}, with timestamps {stats['ts']})")
    if n_tcp_stack == 0:
        problems.append(f"no TCP packet from {sys.argv[2]} in the capture")
    if offload:
        print(f"pcapcheck: offload: {n_partial} partial checksums, {n_tso} TSO frames "
              f"(largest {biggest} bytes)")
        if n_tso == 0:
            problems.append("--offload: no TSO frame from the stack in the capture")
    for p in problems[:20]:
        print(f"pcapcheck: {p}", file=sys.stderr)
    if problems:
        print(f"pcapcheck: {len(problems)} problem(s)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
