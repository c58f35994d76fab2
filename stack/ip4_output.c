/* ip4_output.c - IPv4 send path: routing, identification, header, local
 * loopback to our own address, and fragmentation (RFC 791 §3.2, RFC 1122
 * §3.3.3) when a datagram exceeds the link MTU and DF is clear. */
#include <stdlib.h>

#include "stack_impl.h"

/* RFC 6864 §4.1: the ID must be unique per (src, dst, proto) only for
 * fragmentable datagrams.  A counter per hash bucket of the destination
 * (as RFC 7739 §5.3 suggests) keeps IDs unpredictable to third parties. */
static uint16_t ip4_next_id(struct us_stack *s, const struct ip4_tx *tx)
{
	uint8_t key[5];

	if (tx->df)
		return s->ip_id[0]++;
	wire_put32(key, tx->dst);
	key[4] = tx->proto;
	return s->ip_id[us_siphash(s->rng.key, key, sizeof(key)) & 255]++;
}

static int ip4_send(struct us_stack *s, uint8_t *pkt, size_t len, uint32_t dst, uint32_t nexthop)
{
	if (dst == s->cfg.addr) {
		struct us_held *h;

		/* Looped back, no device completes the checksum. */
		if (link_tx_finish(s, pkt, len) < 0)
			return -EMSGSIZE;
		h = held_new(pkt, len, dst);

		if (!h)
			return -ENOBUFS;
		STAILQ_INSERT_TAIL(&s->loopq, h, link);
		return 0;
	}
	return link_output_ip(s, pkt, len, nexthop);
}

int ip4_output(struct us_stack *s, const struct ip4_tx *tx, uint8_t *l4, size_t l4len)
{
	struct ip4_hdr ih;
	uint32_t nexthop;
	uint16_t mtu;
	size_t maxdata, off;
	char a[16];
	int r;

	if (l4len > US_IP_MAXPACKET - IP4_HLEN)
		return -EMSGSIZE;
	if (tx->dst == s->cfg.addr) {
		nexthop = tx->dst;
		mtu = US_IP_MAXPACKET;
	} else if ((r = route_lookup(s, tx->dst, &nexthop, &mtu)) < 0) {
		US_INC(s, ip4_drop_no_route);
		US_TRACE(s, "ip4  tx drop: no route to %s", ip4_ntoa(tx->dst, a));
		return r;
	}
	memset(&ih, 0, sizeof(ih));
	ih.tos = tx->tos;
	ih.id = ip4_next_id(s, tx);
	ih.df = tx->df;
	ih.ttl = tx->ttl;
	ih.proto = tx->proto;
	ih.src = tx->src;
	ih.dst = tx->dst;
	US_INC(s, ip4_tx);
	US_TRACE(s, "ip4  tx %s > %s proto %u len %zu id %u", ip4_ntoa(tx->src, a),
		 ip4_ntoa(tx->dst, (char[16]){0}), tx->proto, l4len + IP4_HLEN, ih.id);
	if (l4len + IP4_HLEN <= mtu || (tx->gso_size && tx->df)) {
		ih.total_len = (uint16_t)(l4len + IP4_HLEN);
		ip4_build(l4 - IP4_HLEN, &ih);
		if (tx->csum_partial) {
			/* The device completes the TCP checksum and, for a
			 * TSO frame, cuts it into gso_size segments. */
			s->txm.flags = US_TXM_CSUM;
			s->txm.csum_start = IP4_HLEN;
			s->txm.csum_offset = 16;
			s->txm.hdr_len = 0;
			s->txm.gso_size = 0;
			/* Cut whenever it holds more than one segment: the
			 * MSS (the peer's, the path's, TCP_MAXSEG) may be
			 * below what the link's MTU would carry. */
			if (tx->gso_size && tx->dst != s->cfg.addr) {
				s->txm.flags |= US_TXM_TSO;
				s->txm.gso_size = tx->gso_size;
				s->txm.hdr_len = (uint16_t)(IP4_HLEN + ((l4[12] >> 4) * 4));
				/* The device gives each segment the next ID:
				 * reserve them, as Linux does for GSO. */
				size_t pay = l4len - (size_t)((l4[12] >> 4) * 4);
				s->ip_id[0] = (uint16_t)(s->ip_id[0] +
							 (pay + tx->gso_size - 1) / tx->gso_size - 1);
			}
		}
		r = ip4_send(s, l4 - IP4_HLEN, ih.total_len, tx->dst, nexthop);
		s->txm.flags = 0;
		return r;
	}
	if (tx->df) {
		US_INC(s, ip4_drop_too_big);
		return -EMSGSIZE;
	}
	/* Every fragment but the last carries a multiple of 8 bytes. */
	US_INC(s, ip4_frag_tx);
	maxdata = (size_t)(mtu - IP4_HLEN) & ~(size_t)7;
	for (off = 0; off < l4len; off += maxdata) {
		size_t n = l4len - off < maxdata ? l4len - off : maxdata;
		uint8_t *f = s->fragbuf + US_TX_L3_OFF;

		memcpy(f + IP4_HLEN, l4 + off, n);
		ih.frag_off = (uint16_t)off;
		ih.mf = off + n < l4len;
		ih.total_len = (uint16_t)(n + IP4_HLEN);
		ip4_build(f, &ih);
		US_INC(s, ip4_frag_created);
		r = ip4_send(s, f, ih.total_len, tx->dst, nexthop);
		if (r < 0)
			return r;
	}
	return 0;
}
