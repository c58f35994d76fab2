/* netsim.c - see netsim.h.  Time only moves in sim_run_until(); every
 * random choice comes from the seeded generator, so a run replays
 * exactly. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsim.h"

uint64_t sim_rand(struct netsim *n)
{
	uint64_t z = (n->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void sim_enqueue(struct netsim *n, int to, const uint8_t *f, size_t len, uint64_t at)
{
	struct sim_frame *fr = malloc(sizeof(*fr) + len), **pp;

	if (!fr)
		abort();
	fr->at = at;
	fr->to = to;
	fr->len = len;
	memcpy(fr->data, f, len);
	/* The queue is sorted: start after the last frame appended here
	 * when it is not later (a window of frames sent at one instant would
	 * otherwise cost a walk over all of them each). */
	pp = n->q_tail && n->q_tail->at <= at ? &n->q_tail->next : &n->q;
	for (; *pp && (*pp)->at <= at; pp = &(*pp)->next)
		;
	fr->next = *pp;
	*pp = fr;
	if (!fr->next)
		n->q_tail = fr;
}

/* ---- helpers: byte access and the Internet checksum (RFC 1071), written
 * here again so that the emulated device does not trust the stack's own. */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Unfolded one's-complement sum of big-endian 16-bit words. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

/* Folded, not complemented. */
static uint16_t fold16(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* RFC 9293 §3.1 pseudo-header of a TCP segment of `len` bytes. */
static uint32_t pseudo(uint32_t src, uint32_t dst, size_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6u + (uint32_t)len;
}

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20
#define TH_ECE 0x40
#define TH_CWR 0x80

/* An unfragmented IPv4 TCP packet in a frame, with offsets. */
struct sim_tcp {
	size_t l3, l4;   /* where the IP and TCP headers start */
	size_t ihl, thl; /* their lengths */
	size_t tcplen;   /* TCP header + payload */
	uint32_t src, dst, seq;
	uint8_t flags;
};

static bool sim_parse_tcp(const struct netsim *n, const uint8_t *f, size_t len,
			  struct sim_tcp *t)
{
	size_t l3 = 0, iplen;
	const uint8_t *ip;

	if (n->mode == US_LINK_ETHER) {
		if (len < 14 || f[12] != 0x08 || f[13] != 0x00)
			return false;
		l3 = 14;
	}
	if (len < l3 + 20)
		return false;
	ip = f + l3;
	t->l3 = l3;
	t->ihl = (size_t)(ip[0] & 15) * 4;
	iplen = get16(ip + 2);
	if (ip[0] >> 4 != 4 || t->ihl < 20 || len < l3 + t->ihl || iplen < t->ihl ||
	    l3 + iplen != len || ip[9] != 6 || (get16(ip + 6) & 0x3fff) != 0 ||
	    fold16(sum16(ip, t->ihl, 0)) != 0xffff)
		return false;
	t->l4 = l3 + t->ihl;
	t->tcplen = iplen - t->ihl;
	if (t->tcplen < 20)
		return false;
	t->thl = (size_t)(f[t->l4 + 12] >> 4) * 4;
	if (t->thl < 20 || t->thl > t->tcplen)
		return false;
	t->src = get32(ip + 12);
	t->dst = get32(ip + 16);
	t->seq = get32(f + t->l4 + 4);
	t->flags = f[t->l4 + 13];
	return true;
}

static bool sim_tcp_csum_ok(const uint8_t *f, const struct sim_tcp *t)
{
	return fold16(sum16(f + t->l4, t->tcplen, pseudo(t->src, t->dst, t->tcplen))) == 0xffff;
}

/* A request no real device would handle right: counted, reported, and
 * the frame dropped.  Tests assert that off.bad_meta stays 0. */
static void sim_bad(struct netsim *n, int from, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sim_bad(struct netsim *n, int from, const char *fmt, ...)
{
	char why[sizeof(n->off.bad_why)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (n->off.bad_meta++ == 0)
		snprintf(n->off.bad_why, sizeof(n->off.bad_why), "stack %c: %.140s", 'A' + from, why);
	if (n->off.bad_meta <= 5)
		fprintf(stderr, "netsim: BAD OFFLOAD REQUEST from stack %c: %s\n", 'A' + from, why);
}

/* RFC 1191 §1 / RFC 792: the router in front of a smaller link returns
 * "fragmentation needed and DF set" with the next-hop MTU, quoting the
 * IP header and 8 bytes.  It speaks from the peer's address (the
 * simulation has no router of its own), and rate-limits as Linux does
 * (RFC 1812 §4.3.2.8; inet_peer_xrlim_allow: a burst of 6, then one per
 * icmp_ratelimit, 1 s). */
static void sim_send_ptb(struct netsim *n, int to, const uint8_t *ip)
{
	uint8_t fr[14 + 20 + 8 + 60 + 8], *p = fr;
	size_t ihl = (size_t)(ip[0] & 15) * 4, q = ihl + 8, l3 = 0;
	uint64_t tok = n->ptb_tokens + (n->now - n->ptb_last);

	if (tok > 6 * 1000000ull)
		tok = 6 * 1000000ull;
	n->ptb_last = n->now;
	if (tok < 1000000ull) {
		n->ptb_tokens = tok;
		n->off.ptb_limited++;
		return;
	}
	n->ptb_tokens = tok - 1000000ull;

	if (n->mode == US_LINK_ETHER) {
		memcpy(fr, n->mac[to], 6);
		memcpy(fr + 6, n->mac[!to], 6);
		fr[12] = 0x08;
		fr[13] = 0x00;
		l3 = 14;
	}
	p = fr + l3;
	memset(p, 0, 28);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)(28 + q));
	p[8] = 64;
	p[9] = 1;
	memcpy(p + 12, ip + 16, 4); /* from the original destination */
	memcpy(p + 16, ip + 12, 4); /* to its source */
	put16(p + 10, (uint16_t)~fold16(sum16(p, 20, 0)));
	p[20] = 3; /* destination unreachable */
	p[21] = 4; /* fragmentation needed */
	put16(p + 26, n->path_mtu);
	memcpy(p + 28, ip, q);
	put16(p + 22, (uint16_t)~fold16(sum16(p + 20, 8 + q, 0)));
	n->off.ptb_sent++;
	sim_enqueue(n, to, fr, l3 + 28 + q, n->now + n->latency);
}

/* A frame enters the link: the tap, the path MTU, then the faults. */
static void sim_wire(struct netsim *n, int from, uint8_t *frame, size_t len)
{
	uint64_t at = n->now + n->latency;
	size_t l3 = n->mode == US_LINK_ETHER ? 14 : 0;
	bool ip = len >= l3 + 20 && (l3 == 0 || (frame[12] == 0x08 && frame[13] == 0x00)) &&
		  frame[l3] >> 4 == 4;
	uint16_t iplen = ip ? get16(frame + l3 + 2) : 0;

	n->sent[from]++;
	if (iplen > n->off.max_ip_len[from])
		n->off.max_ip_len[from] = iplen;
	if (n->mtu && iplen > n->mtu)
		n->off.over_mtu++;
	if (n->tap && !n->tap(n->tap_ctx, from, frame, len))
		return;
	if (n->path_mtu && iplen > n->path_mtu) {
		n->off.path_drops++;
		if (get16(frame + l3 + 6) & 0x4000)
			sim_send_ptb(n, from, frame + l3);
		return;
	}
	if (n->loss_pct && sim_rand(n) % 100 < n->loss_pct) {
		n->lost++;
		return;
	}
	if (n->reorder_pct && sim_rand(n) % 100 < n->reorder_pct)
		at += n->latency + sim_rand(n) % (2 * n->latency + 1);
	if (n->corrupt_pct && sim_rand(n) % 100 < n->corrupt_pct && len > 0) {
		static uint8_t tmp[70000];
		size_t i = sim_rand(n) % len;

		memcpy(tmp, frame, len);
		tmp[i] ^= (uint8_t)(1u << (sim_rand(n) % 8));
		n->corrupted++;
		sim_enqueue(n, !from, tmp, len, at);
		return;
	}
	sim_enqueue(n, !from, frame, len, at);
	if (n->dup_pct && sim_rand(n) % 100 < n->dup_pct) {
		n->duplicated++;
		sim_enqueue(n, !from, frame, len, at + 1);
	}
}

static int sim_output(void *ctx, uint8_t *frame, size_t len)
{
	struct sim_port *port = ctx;
	struct netsim *n = port->n;
	struct sim_tcp t;

	/* With offloads on, a frame without a request must be complete. */
	if (n->offload[port->id] && sim_parse_tcp(n, frame, len, &t)) {
		n->off.plain_tcp++;
		if (!sim_tcp_csum_ok(frame, &t)) {
			sim_bad(n, port->id, "a complete TCP frame (seq %u, %zu bytes) with a wrong "
				"checksum", t.seq, t.tcplen);
			return 0;
		}
	}
	sim_wire(n, port->id, frame, len);
	return 0;
}

/* The device's side of a virtio-net header (virtio spec 1.1 §5.1.6.2;
 * Linux's virtio_net_hdr_to_skb, then tcp4_gso_segment/tcp_gso_segment
 * and skb_checksum_help), checked strictly. */
static int sim_output_meta(void *ctx, uint8_t *frame, size_t len, const struct us_tx_meta *m)
{
	static uint8_t buf[70000];
	struct sim_port *port = ctx;
	struct netsim *n = port->n;
	int from = port->id;
	struct sim_tcp t;
	uint16_t have, want;
	size_t hdr, pay, gso, off;
	uint8_t *th;

	if (!n->offload[from]) {
		sim_bad(n, from, "output_meta from a stack configured without offloads");
		return 0;
	}
	if (!m->flags || (m->flags & ~(unsigned)(US_TXM_CSUM | US_TXM_TSO))) {
		sim_bad(n, from, "meta flags 0x%x", m->flags);
		return 0;
	}
	if ((m->flags & US_TXM_TSO) &&
	    (!(m->flags & US_TXM_CSUM) || !(n->offload[from] & US_OFFLOAD_TSO))) {
		sim_bad(n, from, "TSO without NEEDS_CSUM or not offered (flags 0x%x)", m->flags);
		return 0;
	}
	if (len > sizeof(buf) || !sim_parse_tcp(n, frame, len, &t)) {
		sim_bad(n, from, "meta on a frame that is not a well-formed IPv4 TCP packet "
			"(%zu bytes)", len);
		return 0;
	}
	if (m->csum_start != t.l4 || m->csum_offset != 16) {
		sim_bad(n, from, "csum_start %u csum_offset %u, the TCP checksum is at %zu+16",
			m->csum_start, m->csum_offset, t.l4);
		return 0;
	}
	/* NEEDS_CSUM: the field holds the folded pseudo-header sum over the
	 * whole TCP length (what tcp_v4_send_check leaves for the device). */
	have = get16(frame + t.l4 + 16);
	want = fold16(pseudo(t.src, t.dst, t.tcplen));
	if (have != want) {
		sim_bad(n, from, "checksum field 0x%04x, the pseudo-header sum is 0x%04x (seq %u)",
			have, want, t.seq);
		return 0;
	}
	memcpy(buf, frame, len);
	th = buf + t.l4;
	if (!(m->flags & US_TXM_TSO)) {
		if (n->meta_tap)
			n->meta_tap(n->meta_tap_ctx, from, frame, len, m);
		/* Sum from csum_start to the end (the field's pseudo-header
		 * sum included) and store the complement. */
		put16(th + 16, (uint16_t)~fold16(sum16(th, t.tcplen, 0)));
		n->off.csum_frames++;
		sim_wire(n, from, buf, len);
		return 0;
	}
	hdr = t.l4 + t.thl;
	gso = m->gso_size;
	pay = len - hdr;
	if (!gso || m->hdr_len != hdr) {
		sim_bad(n, from, "gso_size %u hdr_len %u, headers are %zu bytes", m->gso_size,
			m->hdr_len, hdr);
		return 0;
	}
	if (!(t.flags & TH_ACK) || (t.flags & (TH_SYN | TH_RST))) {
		sim_bad(n, from, "TSO frame with TCP flags 0x%02x", t.flags);
		return 0;
	}
	/* tcp_gso_segment: a frame not longer than one segment is refused. */
	if (pay <= gso) {
		sim_bad(n, from, "TSO frame with %zu payload bytes, gso_size %zu", pay, gso);
		return 0;
	}
	if (n->meta_tap)
		n->meta_tap(n->meta_tap_ctx, from, frame, len, m);
	n->off.tso_frames++;
	if (len - t.l3 > n->off.max_tso_len)
		n->off.max_tso_len = (uint32_t)(len - t.l3);
	/* Each segment: the same headers, seq advanced, IP length and ID
	 * (incremented per segment: inet_gso_segment without FIXEDID) and
	 * header checksum redone, FIN and PSH only on the last, CWR only on
	 * the first, and the TCP checksum completed from a pseudo-header sum
	 * for the segment's own length. */
	for (off = 0; off < pay; off += gso) {
		static uint8_t seg[70000];
		size_t c = pay - off < gso ? pay - off : gso, iplen = t.ihl + t.thl + c;
		uint8_t *ip = seg + t.l3, *sth = seg + t.l4;
		unsigned i = (unsigned)(off / gso);

		memcpy(seg, buf, hdr);
		memcpy(seg + hdr, buf + hdr + off, c);
		put16(ip + 2, (uint16_t)iplen);
		put16(ip + 4, (uint16_t)(get16(buf + t.l3 + 4) + i));
		put16(ip + 10, 0);
		put16(ip + 10, (uint16_t)~fold16(sum16(ip, t.ihl, 0)));
		put32(sth + 4, t.seq + (uint32_t)off);
		if (off + c < pay)
			sth[13] &= (uint8_t)~(TH_FIN | TH_PSH);
		if (i)
			sth[13] &= (uint8_t)~TH_CWR;
		put16(sth + 16, fold16(pseudo(t.src, t.dst, t.thl + c)));
		put16(sth + 16, (uint16_t)~fold16(sum16(sth, t.thl + c, 0)));
		if (iplen > n->mtu) {
			sim_bad(n, from, "a cut segment of %zu bytes exceeds the MTU %u", iplen, n->mtu);
			continue;
		}
		n->off.tso_segs++;
		sim_wire(n, from, seg, hdr + c);
	}
	return 0;
}

/* ---- receive side: the device's checksum verdict and GRO ------------- */

/* Can frame g be appended to the coalesced frame in buf (first segment
 * described by t, `len` bytes so far)?  Linux's inet_gro_receive and
 * tcp_gro_receive conditions: same flow and L2 header, plain 20-byte IP
 * header, same TOS/TTL/DF, TCP header of the same length with the same
 * option bytes and ack, flags and window equal but for CWR/FIN/PSH, no
 * CWR, the next sequence number, at most one first-segment's worth of
 * payload, and 64 KiB in all. */
static bool sim_gro_match(const struct netsim *n, const uint8_t *buf, size_t len,
			  const struct sim_tcp *t, size_t mss, uint32_t next,
			  const struct sim_frame *g, struct sim_tcp *u)
{
	const uint8_t *ip = buf + t->l3, *th = buf + t->l4, *gip, *gth;
	size_t gp;

	if (!sim_parse_tcp(n, g->data, g->len, u) || !sim_tcp_csum_ok(g->data, u))
		return false;
	gip = g->data + u->l3;
	gth = g->data + u->l4;
	gp = u->tcplen - u->thl;
	if (memcmp(buf, g->data, t->l3) != 0 || gip[0] != 0x45 || gip[1] != ip[1] ||
	    gip[8] != ip[8] || ((gip[6] ^ ip[6]) & 0x40) || u->src != t->src || u->dst != t->dst)
		return false;
	if (u->thl != t->thl || memcmp(gth, th, 4) != 0 || memcmp(gth + 20, th + 20, t->thl - 20) != 0 ||
	    get32(gth + 8) != get32(th + 8) || u->seq != next ||
	    ((get32(gth + 12) ^ get32(th + 12)) & ~((uint32_t)(TH_CWR | TH_FIN | TH_PSH) << 16)) ||
	    (u->flags & TH_CWR))
		return false;
	return gp > 0 && gp <= mss && len - t->l3 + gp <= 65535;
}

static void sim_deliver(struct netsim *n, struct sim_frame *f)
{
	static uint8_t buf[70000];
	unsigned rx = n->rx_offload[f->to];
	struct us_stack *st = n->st[f->to];
	struct sim_tcp t;
	size_t len = f->len, mss, segs = 1;
	uint32_t next;

	if (!rx || !sim_parse_tcp(n, f->data, f->len, &t)) {
		us_input(st, f->data, f->len, n->now);
		return;
	}
	if (!sim_tcp_csum_ok(f->data, &t)) {
		/* The device refuses it: up without the flag (CHECKSUM_NONE),
		 * for the stack to check and drop. */
		n->off.rx_csum_bad++;
		us_input(st, f->data, f->len, n->now);
		return;
	}
	memcpy(buf, f->data, len);
	mss = t.tcplen - t.thl;
	next = t.seq + (uint32_t)mss;
	/* A chain starts with a plain ACK segment with data (PSH, FIN, URG,
	 * SYN, RST or CWR would flush it at once). */
	if ((rx & SIM_RX_GRO) && mss > 0 && (t.flags & (uint8_t)~TH_ECE) == TH_ACK &&
	    buf[t.l3] == 0x45) {
		struct sim_frame **pp = &n->q;

		while (*pp && (*pp)->at <= n->now) {
			struct sim_frame *g = *pp;
			struct sim_tcp u;
			size_t gp;
			uint8_t gfl;

			if (g->to != f->to) { /* the other stack's device */
				pp = &g->next;
				continue;
			}
			if (!sim_gro_match(n, buf, len, &t, mss, next, g, &u))
				break;
			gp = u.tcplen - u.thl;
			gfl = u.flags;
			memcpy(buf + len, g->data + u.l4 + u.thl, gp);
			len += gp;
			next += (uint32_t)gp;
			segs++;
			buf[t.l4 + 13] |= gfl & (TH_FIN | TH_PSH);
			*pp = g->next;
			if (g == n->q_tail)
				n->q_tail = NULL;
			n->delivered[g->to]++;
			free(g);
			if (gp < mss || (gfl & (TH_FIN | TH_PSH)))
				break;
		}
	}
	if (segs > 1) {
		uint8_t *ip = buf + t.l3;

		put16(ip + 2, (uint16_t)(len - t.l3));
		put16(ip + 10, 0);
		put16(ip + 10, (uint16_t)~fold16(sum16(ip, t.ihl, 0)));
		n->off.gro_frames++;
		n->off.gro_segs += segs;
		if (len - t.l3 > n->off.gro_max_len)
			n->off.gro_max_len = (uint32_t)(len - t.l3);
	}
	/* Only the pseudo-header sum in the field, as a local sender's
	 * NEEDS_CSUM frame arrives: a stack that checked it anyway would drop
	 * every frame. */
	put16(buf + t.l4 + 16, fold16(pseudo(t.src, t.dst, len - t.l4)));
	n->off.rx_csum_ok++;
	us_input_meta(st, buf, len, US_RXM_CSUM_OK, n->now);
}

static void sim_init_all(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed,
			 uint64_t tcp_time_wait, uint64_t tcp_mem_max, unsigned off_a,
			 unsigned off_b, uint32_t rcvbuf_max)
{
	struct us_config c;

	memset(n, 0, sizeof(*n));
	n->mode = mode;
	n->rng = seed;
	n->latency = 100;
	n->now = 1000000;
	n->mtu = mtu;
	n->ptb_tokens = 6 * 1000000ull;
	n->ptb_last = n->now;
	n->offload[SIM_A] = off_a;
	n->offload[SIM_B] = off_b;
	for (int i = 0; i < 2; i++) {
		n->port[i].n = n;
		n->port[i].id = i;
		memset(&c, 0, sizeof(c));
		c.mode = mode;
		uint8_t mac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(i + 1)};
		memcpy(n->mac[i], mac, 6);
		memcpy(c.mac, mac, 6);
		c.addr = i == SIM_A ? SIM_ADDR_A : SIM_ADDR_B;
		c.prefix = 24;
		c.mtu = mtu;
		c.seed[0] = seed + (uint64_t)i;
		c.seed[1] = ~seed;
		c.tcp_time_wait = tcp_time_wait;
		c.tcp_mem_max = tcp_mem_max;
		c.tcp_rcvbuf_max = rcvbuf_max;
		c.output = sim_output;
		c.output_ctx = &n->port[i];
		c.offload = n->offload[i];
		if (c.offload)
			c.output_meta = sim_output_meta;
		n->st[i] = us_stack_new(&c, n->now, NULL);
		if (!n->st[i])
			abort();
	}
}

void sim_init(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed)
{
	sim_init_all(n, mode, mtu, seed, 0, 0, 0, 0, 0);
}

void sim_init_rcvbuf(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed,
		     uint32_t rcvbuf_max)
{
	sim_init_all(n, mode, mtu, seed, 0, 0, 0, 0, rcvbuf_max);
}

void sim_init_tcp(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed,
		  uint64_t tcp_time_wait, uint64_t tcp_mem_max)
{
	sim_init_all(n, mode, mtu, seed, tcp_time_wait, tcp_mem_max, 0, 0, 0);
}

void sim_init_offload(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed,
		      unsigned offload_a, unsigned offload_b)
{
	sim_init_all(n, mode, mtu, seed, 0, 0, offload_a, offload_b, 0);
}

void sim_free(struct netsim *n)
{
	struct sim_frame *f;

	while ((f = n->q) != NULL) {
		n->q = f->next;
		free(f);
	}
	n->q_tail = NULL;
	us_stack_free(n->st[0]);
	us_stack_free(n->st[1]);
}

void sim_run_until(struct netsim *n, uint64_t until)
{
	for (;;) {
		uint64_t next = until;
		uint64_t d0 = us_next_deadline(n->st[0]), d1 = us_next_deadline(n->st[1]);

		if (n->q && n->q->at < next)
			next = n->q->at;
		if (d0 < next)
			next = d0;
		if (d1 < next)
			next = d1;
		if (next > n->now)
			n->now = next;
		while (n->q && n->q->at <= n->now) {
			struct sim_frame *f = n->q;

			n->q = f->next;
			if (f == n->q_tail)
				n->q_tail = NULL;
			n->delivered[f->to]++;
			sim_deliver(n, f); /* may take more frames off the queue (GRO) */
			free(f);
		}
		us_poll(n->st[0], n->now);
		us_poll(n->st[1], n->now);
		if (n->now >= until && !(n->q && n->q->at <= n->now))
			break;
	}
}

void sim_run(struct netsim *n, uint64_t duration)
{
	sim_run_until(n, n->now + duration);
}

void sim_inject(struct netsim *n, int to, const uint8_t *frame, size_t len)
{
	us_input(n->st[to], frame, len, n->now);
}

void sim_inject_meta(struct netsim *n, int to, const uint8_t *frame, size_t len, unsigned flags)
{
	us_input_meta(n->st[to], frame, len, flags, n->now);
}

int sim_device_tx(struct netsim *n, int from, uint8_t *frame, size_t len,
		  const struct us_tx_meta *m)
{
	return m ? sim_output_meta(&n->port[from], frame, len, m)
		 : sim_output(&n->port[from], frame, len);
}

uint64_t sim_ctr(const struct netsim *n, int who, enum us_ctr c)
{
	return us_counters(n->st[who])[c];
}
