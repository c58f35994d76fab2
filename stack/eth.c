/* eth.c - the link layer: Ethernet II input and output (TAP mode), raw IP
 * (TUN mode), and the hand-off to ARP for next-hop resolution. */
#include "stack_impl.h"
#include "checksum.h"
#include "wire_arp.h"
#include "wire_tcp.h"

/* l3_off: where the IP packet starts in the frame, or -1 for a frame
 * that is not the IP packet being sent (ARP). */
static int link_send(struct us_stack *s, uint8_t *frame, size_t len, int l3_off)
{
	int r;

	if (s->cfg.output_meta && s->txm.flags && l3_off >= 0) {
		struct us_tx_meta m = s->txm;

		m.csum_start = (uint16_t)(m.csum_start + l3_off);
		m.hdr_len = (uint16_t)(m.hdr_len + l3_off);
		if (m.flags & US_TXM_TSO)
			US_INC(s, link_tx_tso);
		r = s->cfg.output_meta(s->cfg.output_ctx, frame, len, &m);
	} else {
		r = s->cfg.output(s->cfg.output_ctx, frame, len);
	}

	if (r < 0)
		US_INC(s, link_tx_err);
	else
		US_INC(s, link_tx);
	return r;
}

static void mac_str(const uint8_t *m, char buf[18])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 6; i++) {
		buf[i * 3] = hex[m[i] >> 4];
		buf[i * 3 + 1] = hex[m[i] & 15];
		buf[i * 3 + 2] = i == 5 ? '\0' : ':';
	}
}

void eth_input(struct us_stack *s, const uint8_t *frame, size_t len)
{
	struct eth_hdr eh;

	if (eth_parse(frame, len, &eh) < 0) {
		US_INC(s, eth_drop_trunc);
		US_TRACE(s, "eth  rx drop: truncated frame (%zu bytes)", len);
		return;
	}
	US_INC(s, eth_rx);
	/* We join no multicast group: accept our unicast address and
	 * broadcast only. */
	if (memcmp(eh.dst, s->cfg.mac, ETH_ALEN) != 0 && !eth_is_broadcast(eh.dst)) {
		US_INC(s, eth_drop_not_us);
		return;
	}
	if (s->cfg.trace) {
		char a[18], b[18];

		mac_str(eh.src, a);
		mac_str(eh.dst, b);
		us_trace_emit(s, "eth  rx %s > %s type 0x%04x len %zu", a, b, eh.type, len);
	}
	switch (eh.type) {
	case ETH_TYPE_ARP:
		arp_input(s, &eh, frame + ETH_HLEN, len - ETH_HLEN);
		break;
	case ETH_TYPE_IP4:
		ip4_input(s, frame + ETH_HLEN, len - ETH_HLEN);
		break;
	default:
		US_INC(s, eth_drop_type);
		US_TRACE(s, "eth  rx drop: unknown type 0x%04x", eh.type);
	}
}

int eth_output(struct us_stack *s, uint8_t *l3, size_t len, const uint8_t *dst, uint16_t type)
{
	struct eth_hdr eh;
	uint8_t *f = l3 - ETH_HLEN;

	memcpy(eh.dst, dst, ETH_ALEN);
	memcpy(eh.src, s->cfg.mac, ETH_ALEN);
	eh.type = type;
	eth_build(f, &eh);
	US_INC(s, eth_tx);
	if (s->cfg.trace) {
		char a[18];

		mac_str(dst, a);
		us_trace_emit(s, "eth  tx > %s type 0x%04x len %zu", a, type, len + ETH_HLEN);
	}
	return link_send(s, f, len + ETH_HLEN, type == ETH_TYPE_IP4 ? ETH_HLEN : -1);
}

int link_tx_finish(struct us_stack *s, uint8_t *pkt, size_t len)
{
	struct us_tx_meta *m = &s->txm;

	if (!m->flags)
		return 0;
	if (m->flags & US_TXM_TSO) { /* only a device cuts it */
		US_INC(s, link_drop_tso_held);
		return -EMSGSIZE;
	}
	if (m->flags & US_TXM_CSUM) {
		/* The field holds the pseudo-header sum; summing from the
		 * L4 header on includes it (RFC 1071 arithmetic). */
		uint8_t *l4 = pkt + m->csum_start;
		size_t l4len = len - m->csum_start;

		wire_put16(l4 + m->csum_offset, csum_fold(csum_partial(l4, l4len, 0)));
		US_INC(s, link_tx_csum_sw);
	}
	m->flags = 0;
	return 0;
}

/* A TSO frame that has to wait for the neighbour: no device will cut it
 * when it leaves, so cut it here as the device would (Linux's
 * tcp_gso_segment: seq, IP length, ID and checksum per segment, FIN and PSH
 * on the last, CWR on the first) and hold the segments (RFC 1122
 * §2.3.2.2), rather than lose the flight to a retransmission timeout.
 * Returns -EAGAIN when they wait. */
static int link_tso_hold(struct us_stack *s, uint8_t *pkt, size_t len, uint32_t nexthop)
{
	const struct us_tx_meta *m = &s->txm;
	uint8_t *seg = s->fragbuf + US_TX_L3_OFF, *th = seg + m->csum_start, mac[ETH_ALEN];
	size_t ihl = (size_t)(pkt[0] & 15) * 4, thl = (size_t)m->hdr_len - m->csum_start;
	size_t pay = len - m->hdr_len, off, n;
	uint32_t src = wire_get32(pkt + 12), dst = wire_get32(pkt + 16);
	uint32_t seq = wire_get32(pkt + m->csum_start + 4);
	uint8_t flags = pkt[m->csum_start + 13];
	int r = -EAGAIN;

	if ((size_t)m->hdr_len + m->gso_size > s->cfg.mtu) {
		US_INC(s, link_drop_tso_held);
		return -EMSGSIZE;
	}
	for (off = 0; off < pay && r == -EAGAIN; off += n) {
		n = pay - off < m->gso_size ? pay - off : m->gso_size;
		memcpy(seg, pkt, m->hdr_len);
		memcpy(seg + m->hdr_len, pkt + m->hdr_len + off, n);
		wire_put16(seg + 2, (uint16_t)(m->hdr_len + n));
		wire_put16(seg + 4, (uint16_t)(wire_get16(pkt + 4) + off / m->gso_size));
		wire_put16(seg + 10, 0);
		wire_put16(seg + 10, csum_fold(csum_partial(seg, ihl, 0)));
		wire_put32(th + 4, seq + (uint32_t)off);
		th[13] = (uint8_t)(flags & ~(off + n < pay ? TCP_FIN | TCP_PSH : 0) &
				   ~(off ? TCP_CWR : 0));
		wire_put16(th + 16, 0);
		wire_put16(th + 16, csum_fold(csum_partial(th, thl + n, csum_pseudo(src, dst,
						IP4_PROTO_TCP, (uint16_t)(thl + n)))));
		US_INC(s, link_tx_csum_sw);
		r = arp_resolve(s, nexthop, seg, m->hdr_len + n, mac);
	}
	s->txm.flags = 0;
	return r;
}

int link_output_ip(struct us_stack *s, uint8_t *pkt, size_t len, uint32_t nexthop)
{
	uint8_t mac[ETH_ALEN];
	int r;

	if (s->cfg.mode == US_LINK_IP)
		return link_send(s, pkt, len, 0);
	if (route_is_bcast(s, nexthop))
		return eth_output(s, pkt, len, eth_broadcast, ETH_TYPE_IP4);
	/* A frame with offload work is completed (or cut) before it can
	 * wait in the ARP queue (the device's help applies only when it
	 * leaves now). */
	if ((s->txm.flags & US_TXM_TSO) && !arp_ready(s, nexthop)) {
		r = link_tso_hold(s, pkt, len, nexthop);
		return r == -EAGAIN ? 0 : r;
	}
	if (s->txm.flags && !arp_ready(s, nexthop) && (r = link_tx_finish(s, pkt, len)) < 0)
		return r;
	r = arp_resolve(s, nexthop, pkt, len, mac);
	if (r == -EAGAIN)
		return 0; /* held until the neighbour answers */
	if (r < 0)
		return r;
	return eth_output(s, pkt, len, mac, ETH_TYPE_IP4);
}
