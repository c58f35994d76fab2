/* icmp.c - ICMPv4 (RFC 792, RFC 1122 §3.2.2): echo replies of any size,
 * rate-limited error generation, and incoming errors handed to the
 * transport that owns the flow. */
#include "stack_impl.h"
#include "wire_icmp.h"

/* Global token bucket for the errors we send, like Linux's
 * icmp_msgs_per_sec / icmp_msgs_burst (RFC 1812 §4.3.2.8 rate limit). */
#define ICMP_RATE_PER_SEC 1000
#define ICMP_BURST 50
/* RFC 1812 §4.3.2.3: quote as much of the datagram as fits in 576 bytes. */
#define ICMP_ERR_MAX_QUOTE (576 - IP4_HLEN - ICMP_HLEN)

int icmp_errno(uint8_t type, uint8_t code)
{
	switch (type) {
	case ICMP_DEST_UNREACH:
		switch (code) {
		case ICMP_NET_UNREACH: case 6: case 9: case 11: return ENETUNREACH;
		case ICMP_PROT_UNREACH: return ENOPROTOOPT;
		case ICMP_PORT_UNREACH: return ECONNREFUSED;
		case ICMP_FRAG_NEEDED: return EMSGSIZE;
		case 5: return EOPNOTSUPP; /* source route failed */
		case 7: return EHOSTDOWN;
		case 8: return ENONET;
		default: return EHOSTUNREACH;
		}
	case ICMP_TIME_EXCEEDED:
		return EHOSTUNREACH;
	case ICMP_PARAM_PROBLEM:
		return EPROTO;
	default:
		return 0; /* source quench is ignored (RFC 6633) */
	}
}

void ip4_local_error(struct us_stack *s, const uint8_t *pkt, size_t len, uint8_t type, uint8_t code)
{
	icmp_err_dispatch(s, pkt, len, type, code, 0);
}

void icmp_err_dispatch(struct us_stack *s, const uint8_t *inner, size_t len, uint8_t type,
		       uint8_t code, uint32_t rest)
{
	struct ip4_hdr ih;
	int err = icmp_errno(type, code);

	/* The quoted datagram must be one of ours and carry the first 8
	 * transport bytes (the ports) - RFC 1122 §3.2.2. */
	if (ip4_parse_quoted(inner, len, &ih) < 0 || ih.src != s->cfg.addr || ih.frag_off != 0 ||
	    len < (size_t)ih.hlen + 8) {
		US_INC(s, icmp_drop_bad_inner);
		return;
	}
	if (!err && !(type == ICMP_DEST_UNREACH && code == ICMP_FRAG_NEEDED))
		return;
	switch (ih.proto) {
	case IP4_PROTO_UDP:
		udp_err_input(s, err, ih.dst, wire_get16(inner + ih.hlen),
			      wire_get16(inner + ih.hlen + 2));
		break;
	case IP4_PROTO_TCP:
		tcp_err_input(s, err, type, code, rest, &ih, inner + ih.hlen);
		break;
	default:
		break;
	}
}

static void icmp_echo(struct us_stack *s, const struct ip4_hdr *ih, const struct icmp_hdr *h,
		      const uint8_t *body, size_t len)
{
	uint8_t *l4 = s->txbuf + US_TX_L4_OFF;
	struct icmp_hdr rh = {.type = ICMP_ECHO_REPLY, .code = 0, .rest = h->rest};
	struct ip4_tx tx = {.src = s->cfg.addr, .dst = ih->src, .proto = IP4_PROTO_ICMP,
			    .tos = ih->tos, .ttl = 64, .df = false};

	US_INC(s, icmp_rx_echo);
	/* Like Linux's icmp_echo_ignore_broadcasts (RFC 1122 §3.2.2.6 MAY). */
	if (route_is_bcast(s, ih->dst)) {
		US_INC(s, icmp_drop_bcast_echo);
		return;
	}
	/* RFC 1122 §3.2.2.6: the data is returned entirely, whatever its size. */
	memcpy(l4 + ICMP_HLEN, body, len);
	icmp_build(l4, ICMP_HLEN + len, &rh);
	US_TRACE(s, "icmp tx echo-reply id %u seq %u len %zu", rh.rest >> 16, rh.rest & 0xffff, len);
	if (ip4_output(s, &tx, l4, ICMP_HLEN + len) == 0) {
		US_INC(s, icmp_tx);
		US_INC(s, icmp_tx_echo_reply);
	}
}

void icmp_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt)
{
	const uint8_t *p = pkt + ih->hlen;
	size_t len = (size_t)ih->total_len - ih->hlen;
	struct icmp_hdr h;
	int r = icmp_parse(p, len, &h);

	if (r < 0) {
		if (r == -WIRE_ECSUM)
			US_INC(s, icmp_drop_bad_csum);
		else
			US_INC(s, icmp_drop_trunc);
		US_TRACE(s, "icmp rx drop: %s", r == -WIRE_ECSUM ? "bad checksum" : "truncated");
		return;
	}
	US_INC(s, icmp_rx);
	US_TRACE(s, "icmp rx type %u code %u len %zu", h.type, h.code, len);
	switch (h.type) {
	case ICMP_ECHO:
		icmp_echo(s, ih, &h, p + ICMP_HLEN, len - ICMP_HLEN);
		break;
	case ICMP_DEST_UNREACH:
	case ICMP_PARAM_PROBLEM:
	case ICMP_SOURCE_QUENCH:
		US_INC(s, icmp_rx_unreach);
		icmp_err_dispatch(s, p + ICMP_HLEN, len - ICMP_HLEN, h.type, h.code, h.rest);
		break;
	case ICMP_TIME_EXCEEDED:
		US_INC(s, icmp_rx_time_exceeded);
		icmp_err_dispatch(s, p + ICMP_HLEN, len - ICMP_HLEN, h.type, h.code, h.rest);
		break;
	default:
		US_INC(s, icmp_rx_other);
	}
}

static bool icmp_rate_ok(struct us_stack *s)
{
	uint64_t elapsed = s->now - s->icmp_last;
	uint64_t cap = (uint64_t)ICMP_BURST * 1000;

	/* tokens are in thousandths; ICMP_RATE_PER_SEC per second */
	s->icmp_tokens += elapsed * ICMP_RATE_PER_SEC / 1000;
	if (s->icmp_tokens > cap)
		s->icmp_tokens = cap;
	s->icmp_last = s->now;
	if (s->icmp_tokens < 1000) {
		US_INC(s, icmp_rate_limited);
		return false;
	}
	s->icmp_tokens -= 1000;
	return true;
}

static bool icmp_is_error(uint8_t type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH ||
	       type == ICMP_TIME_EXCEEDED || type == ICMP_PARAM_PROBLEM || type == 5;
}

void icmp_send_error(struct us_stack *s, uint8_t type, uint8_t code, uint32_t rest,
		     const uint8_t *orig, size_t orig_len)
{
	uint8_t *l4 = s->txbuf + US_TX_L4_OFF;
	struct icmp_hdr h = {.type = type, .code = code, .rest = rest};
	struct ip4_hdr oh;
	struct ip4_tx tx;
	size_t q;

	if (ip4_parse_quoted(orig, orig_len, &oh) < 0)
		return;
	/* RFC 1122 §3.2.2: never about an ICMP error, a broadcast or
	 * multicast datagram, a non-initial fragment, or a source that is not
	 * a single host. */
	if (oh.frag_off != 0 || route_is_bcast(s, oh.dst) || ip4_is_multicast(oh.dst) ||
	    route_is_bcast(s, oh.src) || ip4_is_multicast(oh.src) || oh.src == 0)
		return;
	if (oh.proto == IP4_PROTO_ICMP &&
	    (orig_len <= oh.hlen || icmp_is_error(orig[oh.hlen])))
		return;
	if (!icmp_rate_ok(s))
		return;
	q = orig_len < ICMP_ERR_MAX_QUOTE ? orig_len : ICMP_ERR_MAX_QUOTE;
	memmove(l4 + ICMP_HLEN, orig, q);
	icmp_build(l4, ICMP_HLEN + q, &h);
	tx = (struct ip4_tx){.src = s->cfg.addr, .dst = oh.src, .proto = IP4_PROTO_ICMP,
			     .tos = 0xc0, .ttl = 64, .df = false};
	US_TRACE(s, "icmp tx type %u code %u (error)", type, code);
	if (ip4_output(s, &tx, l4, ICMP_HLEN + q) == 0) {
		US_INC(s, icmp_tx);
		if (type == ICMP_DEST_UNREACH)
			US_INC(s, icmp_tx_unreach);
		else if (type == ICMP_TIME_EXCEEDED)
			US_INC(s, icmp_tx_time_exceeded);
	}
}
