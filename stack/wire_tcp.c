/* wire_tcp.c - TCP header and option codec (RFC 9293 §3.1), with the
 * options we speak: MSS (RFC 9293 §3.2), window scale and timestamps
 * (RFC 7323 §2, §3), SACK-permitted and SACK (RFC 2018 §2, §3).
 *
 * Options are written in Linux's order and alignment (tcp_options_write):
 *   MSS | SACKPERM,TS or NOP,NOP,TS | NOP,NOP,SACKPERM (no TS) | NOP,WS |
 *   NOP,NOP,SACK(n)
 * so every 32-bit field lands 4-byte aligned and the list is a multiple of
 * 4 without EOL padding. */
#include "wire_tcp.h"

#include "checksum.h"
#include "wire_ip4.h"

#define TCP_MAX_OPTLEN (TCP_MAX_HLEN - TCP_HLEN)

static int tcp_opts_parse(const uint8_t *o, size_t olen, struct tcp_opts *opt)
{
	size_t i = 0;

	memset(opt, 0, sizeof(*opt));
	while (i < olen) {
		uint8_t kind = o[i];
		if (kind == TCP_OPT_EOL) /* RFC 9293 §3.1: end of option list */
			break;
		if (kind == TCP_OPT_NOP) {
			i++;
			continue;
		}
		/* RFC 9293 §3.1: every other option has a length octet that
		 * counts kind and length; it must stay inside the header. */
		if (olen - i < 2)
			return -WIRE_EOPT;
		size_t l = o[i + 1];
		if (l < 2 || l > olen - i)
			return -WIRE_EOPT;
		const uint8_t *v = o + i + 2;
		switch (kind) {
		case TCP_OPT_MSS:
			if (l != 4)
				return -WIRE_EOPT;
			opt->has_mss = true;
			opt->mss = wire_get16(v);
			break;
		case TCP_OPT_WS:
			if (l != 3)
				return -WIRE_EOPT;
			opt->has_ws = true;
			opt->ws = v[0]; /* caller clamps to 14, RFC 7323 §2.3 */
			break;
		case TCP_OPT_SACK_PERM:
			if (l != 2)
				return -WIRE_EOPT;
			opt->sack_perm = true;
			break;
		case TCP_OPT_TS:
			if (l != 10)
				return -WIRE_EOPT;
			opt->has_ts = true;
			opt->tsval = wire_get32(v);
			opt->tsecr = wire_get32(v + 4);
			break;
		case TCP_OPT_SACK: {
			/* RFC 2018 §3: length 2 + 8n; 40 option bytes allow n <= 4. */
			size_t n = (l - 2) / 8;
			if (l < 10 || (l - 2) % 8 != 0 || n > TCP_MAX_SACK)
				return -WIRE_EOPT;
			opt->nsack = (uint8_t)n;
			for (size_t k = 0; k < n; k++) {
				opt->sack[k].start = wire_get32(v + 8 * k);
				opt->sack[k].end = wire_get32(v + 8 * k + 4);
			}
			break;
		}
		default: /* unknown: skip by its length */
			break;
		}
		i += l;
	}
	return 0;
}

/* The header and options, after the checksum decision. */
static int tcp_parse_hdr(const uint8_t *buf, size_t len, struct tcp_hdr *h)
{
	size_t hlen = (size_t)(buf[12] >> 4) * 4;
	int err = tcp_opts_parse(buf + TCP_HLEN, hlen - TCP_HLEN, &h->opt);

	(void)len;
	if (err)
		return err;
	h->sport = wire_get16(buf);
	h->dport = wire_get16(buf + 2);
	h->seq = wire_get32(buf + 4);
	h->ack = wire_get32(buf + 8);
	h->hlen = (uint8_t)hlen;
	h->flags = buf[13];
	h->win = wire_get16(buf + 14);
	h->urg = wire_get16(buf + 18);
	return 0;
}

static int tcp_check_len(const uint8_t *buf, size_t len)
{
	if (len < TCP_HLEN)
		return -WIRE_ETRUNC;
	if (len > UINT16_MAX) /* cannot be carried in the pseudo-header */
		return -WIRE_EFIELD;
	size_t hlen = (size_t)(buf[12] >> 4) * 4;
	if (hlen < TCP_HLEN)
		return -WIRE_EFIELD;
	if (hlen > len)
		return -WIRE_ETRUNC;
	return 0;
}

int tcp_parse(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, struct tcp_hdr *h)
{
	int err = tcp_check_len(buf, len);

	if (err)
		return err;
	uint32_t sum = csum_pseudo(src, dst, IP4_PROTO_TCP, (uint16_t)len);
	if (csum_fold(csum_partial(buf, len, sum)) != 0)
		return -WIRE_ECSUM;
	return tcp_parse_hdr(buf, len, h);
}

int tcp_parse_trusted(const uint8_t *buf, size_t len, struct tcp_hdr *h)
{
	int err = tcp_check_len(buf, len);

	return err ? err : tcp_parse_hdr(buf, len, h);
}

/* Option bytes before the SACK blocks. */
static size_t tcp_opts_fixed_len(const struct tcp_opts *o)
{
	size_t n = 0;

	if (o->has_mss)
		n += 4;
	if (o->has_ts)
		n += 12; /* SACKPERM,TS or NOP,NOP,TS */
	else if (o->sack_perm)
		n += 4; /* NOP,NOP,SACKPERM */
	if (o->has_ws)
		n += 4; /* NOP,WS */
	return n;
}

/* How many SACK blocks fit after the fixed options (each NOP,NOP,SACK list
 * costs 4 + 8n bytes). */
static size_t tcp_opts_nsack(const struct tcp_opts *o)
{
	size_t fixed = tcp_opts_fixed_len(o);
	size_t n = o->nsack > TCP_MAX_SACK ? TCP_MAX_SACK : o->nsack;

	if (n == 0 || fixed + 4 + 8 > TCP_MAX_OPTLEN)
		return 0;
	size_t room = (TCP_MAX_OPTLEN - fixed - 4) / 8;
	return n < room ? n : room;
}

size_t tcp_opts_len(const struct tcp_opts *o)
{
	size_t n = tcp_opts_nsack(o);
	return tcp_opts_fixed_len(o) + (n ? 4 + 8 * n : 0);
}

static size_t tcp_opts_write(uint8_t *p, const struct tcp_opts *o)
{
	uint8_t *s = p;
	size_t n = tcp_opts_nsack(o);

	if (o->has_mss) {
		p[0] = TCP_OPT_MSS;
		p[1] = 4;
		wire_put16(p + 2, o->mss);
		p += 4;
	}
	if (o->has_ts) {
		if (o->sack_perm) {
			p[0] = TCP_OPT_SACK_PERM;
			p[1] = 2;
		} else {
			p[0] = TCP_OPT_NOP;
			p[1] = TCP_OPT_NOP;
		}
		p[2] = TCP_OPT_TS;
		p[3] = 10;
		wire_put32(p + 4, o->tsval);
		wire_put32(p + 8, o->tsecr);
		p += 12;
	} else if (o->sack_perm) {
		p[0] = TCP_OPT_NOP;
		p[1] = TCP_OPT_NOP;
		p[2] = TCP_OPT_SACK_PERM;
		p[3] = 2;
		p += 4;
	}
	if (o->has_ws) {
		p[0] = TCP_OPT_NOP;
		p[1] = TCP_OPT_WS;
		p[2] = 3;
		p[3] = o->ws;
		p += 4;
	}
	if (n) {
		p[0] = TCP_OPT_NOP;
		p[1] = TCP_OPT_NOP;
		p[2] = TCP_OPT_SACK;
		p[3] = (uint8_t)(2 + 8 * n);
		p += 4;
		for (size_t k = 0; k < n; k++) {
			wire_put32(p, o->sack[k].start);
			wire_put32(p + 4, o->sack[k].end);
			p += 8;
		}
	}
	return (size_t)(p - s);
}

/* Header and options with a zero checksum field; returns hlen. */
static size_t tcp_build_hdr(uint8_t *buf, const struct tcp_hdr *h)
{
	size_t hlen = TCP_HLEN + tcp_opts_write(buf + TCP_HLEN, &h->opt);

	wire_put16(buf, h->sport);
	wire_put16(buf + 2, h->dport);
	wire_put32(buf + 4, h->seq);
	wire_put32(buf + 8, h->ack);
	buf[12] = (uint8_t)(hlen / 4 << 4);
	buf[13] = h->flags;
	wire_put16(buf + 14, h->win);
	wire_put16(buf + 16, 0);
	wire_put16(buf + 18, h->urg);
	return hlen;
}

size_t tcp_build(uint8_t *buf, const struct tcp_hdr *h, size_t paylen, uint32_t src,
		 uint32_t dst)
{
	size_t hlen = tcp_build_hdr(buf, h);
	uint16_t tlen = (uint16_t)(hlen + paylen);

	wire_put16(buf + 16, csum_fold(csum_partial(buf, tlen, csum_pseudo(src, dst, IP4_PROTO_TCP, tlen))));
	return hlen;
}

size_t tcp_build_partial(uint8_t *buf, const struct tcp_hdr *h, size_t paylen, uint32_t src,
			 uint32_t dst)
{
	size_t hlen = tcp_build_hdr(buf, h);

	/* virtio-net NEEDS_CSUM: the field holds the folded, uncomplemented
	 * pseudo-header sum; the device sums from the TCP header on and
	 * stores the complement (and, cutting a TSO frame, adjusts the
	 * length per segment). */
	wire_put16(buf + 16, (uint16_t)~csum_fold(csum_pseudo(src, dst, IP4_PROTO_TCP,
							     (uint16_t)(hlen + paylen))));
	return hlen;
}
