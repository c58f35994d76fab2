/* ip4_input.c - IPv4 receive path (RFC 791, RFC 1122 §3.2.1): validate,
 * filter what is not for us, hand fragments to reassembly and complete
 * datagrams to their transport. */
#include <stdlib.h>

#include "stack_impl.h"
#include "wire_icmp.h"

void ip4_input(struct us_stack *s, const uint8_t *pkt, size_t len)
{
	struct ip4_hdr ih;
	char a[16], b[16];
	int r = ip4_parse(pkt, len, &ih);

	if (r < 0) {
		switch (-r) {
		case WIRE_ETRUNC: US_INC(s, ip4_drop_trunc); break;
		case WIRE_ECSUM: US_INC(s, ip4_drop_bad_csum); break;
		case WIRE_EOPT: US_INC(s, ip4_drop_bad_options); break;
		default: US_INC(s, ip4_drop_bad_header); break;
		}
		US_TRACE(s, "ip4  rx drop: malformed header (%d)", r);
		return;
	}
	US_INC(s, ip4_rx);
	US_TRACE(s, "ip4  rx %s > %s proto %u len %u id %u%s", ip4_ntoa(ih.src, a),
		 ip4_ntoa(ih.dst, b), ih.proto, ih.total_len, ih.id,
		 (ih.mf || ih.frag_off) ? " fragment" : "");
	/* We are a host, not a router (RFC 1122 §3.3.1): only our address
	 * and broadcasts are accepted. */
	if (ih.dst != s->cfg.addr && !route_is_bcast(s, ih.dst)) {
		US_INC(s, ip4_drop_not_us);
		return;
	}
	/* RFC 1122 §3.2.1.3: a source that is broadcast, multicast, or in
	 * 0/8 or 127/8 is discarded. */
	if (route_is_bcast(s, ih.src) || ip4_is_multicast(ih.src) || (ih.src >> 24) == 0 ||
	    (ih.src >> 24) == 127 || (ih.src >> 28) == 0xf) {
		US_INC(s, ip4_drop_bad_src);
		return;
	}
	if (ih.mf || ih.frag_off) {
		/* A device's checksum verdict covers one frame, never a
		 * datagram reassembled from several. */
		s->rx_flags = 0;
		US_INC(s, ip4_frag_rx);
		reass_input(s, &ih, pkt);
		return;
	}
	ip4_deliver(s, &ih, pkt);
}

void ip4_deliver(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt)
{
	US_INC(s, ip4_rx_delivered);
	switch (ih->proto) {
	case IP4_PROTO_ICMP:
		icmp_input(s, ih, pkt);
		break;
	case IP4_PROTO_UDP:
		udp_input(s, ih, pkt);
		break;
	case IP4_PROTO_TCP:
		tcp_input(s, ih, pkt);
		break;
	default:
		/* RFC 1122 §3.2.2.1: a host SHOULD send protocol unreachable. */
		US_INC(s, ip4_drop_proto);
		if (!route_is_bcast(s, ih->dst))
			icmp_send_error(s, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, 0, pkt,
					ih->total_len);
	}
}

void ip4_loop_drain(struct us_stack *s)
{
	struct us_held *h;

	if (s->in_loop)
		return;
	s->in_loop = true;
	while ((h = STAILQ_FIRST(&s->loopq)) != NULL) {
		STAILQ_REMOVE_HEAD(&s->loopq, link);
		ip4_input(s, h->data + US_TX_L3_OFF, h->len);
		free(h);
	}
	s->in_loop = false;
}
