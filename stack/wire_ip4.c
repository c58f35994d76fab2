/* wire_ip4.c - IPv4 header codec (RFC 791 §3.1).  Validates lengths,
 * version, flags, header checksum and the option list's framing; option
 * contents are skipped (we act on none of them). */
#include "wire_ip4.h"

#include "checksum.h"

#define IP4_OPT_EOL 0
#define IP4_OPT_NOP 1
#define IP4_FLAG_RES 0x8000
#define IP4_FLAG_DF 0x4000
#define IP4_FLAG_MF 0x2000
#define IP4_OFF_MASK 0x1fff

/* RFC 791 §3.1 "Options": type-only options are EOL and NOP; every other
 * option has a length octet counting type, length and data, so >= 2. */
static int ip4_opts_check(const uint8_t *o, size_t olen)
{
	size_t i = 0;

	while (i < olen) {
		if (o[i] == IP4_OPT_EOL)
			break;
		if (o[i] == IP4_OPT_NOP) {
			i++;
			continue;
		}
		if (olen - i < 2)
			return -WIRE_EOPT;
		if (o[i + 1] < 2 || o[i + 1] > olen - i)
			return -WIRE_EOPT;
		i += o[i + 1];
	}
	return 0;
}

int ip4_parse(const uint8_t *buf, size_t len, struct ip4_hdr *h)
{
	if (len < IP4_HLEN)
		return -WIRE_ETRUNC;
	if (buf[0] >> 4 != 4)
		return -WIRE_EFIELD;
	size_t hlen = (size_t)(buf[0] & 0x0f) * 4;
	if (hlen < IP4_HLEN)
		return -WIRE_EFIELD;
	size_t total = wire_get16(buf + 2);
	if (total < hlen)
		return -WIRE_EFIELD;
	if (total > len)
		return -WIRE_ETRUNC;
	/* Here hlen <= total <= len: the whole header is readable. */
	if (csum_fold(csum_partial(buf, hlen, 0)) != 0)
		return -WIRE_ECSUM;
	uint16_t fo = wire_get16(buf + 6);
	/* RFC 791 §3.1 "Flags": bit 0 is reserved, must be zero. */
	if (fo & IP4_FLAG_RES)
		return -WIRE_EFIELD;
	int err = ip4_opts_check(buf + IP4_HLEN, hlen - IP4_HLEN);
	if (err)
		return err;

	h->hlen = (uint8_t)hlen;
	h->tos = buf[1];
	h->total_len = (uint16_t)total;
	h->id = wire_get16(buf + 4);
	h->df = (fo & IP4_FLAG_DF) != 0;
	h->mf = (fo & IP4_FLAG_MF) != 0;
	h->frag_off = (uint16_t)((fo & IP4_OFF_MASK) * 8);
	h->ttl = buf[8];
	h->proto = buf[9];
	h->src = wire_get32(buf + 12);
	h->dst = wire_get32(buf + 16);
	return 0;
}

size_t ip4_build(uint8_t *buf, const struct ip4_hdr *h)
{
	uint16_t fo = (uint16_t)((h->frag_off / 8) & IP4_OFF_MASK);

	if (h->df)
		fo |= IP4_FLAG_DF;
	if (h->mf)
		fo |= IP4_FLAG_MF;
	buf[0] = 0x45;
	buf[1] = h->tos;
	wire_put16(buf + 2, h->total_len);
	wire_put16(buf + 4, h->id);
	wire_put16(buf + 6, fo);
	buf[8] = h->ttl;
	buf[9] = h->proto;
	wire_put16(buf + 10, 0);
	wire_put32(buf + 12, h->src);
	wire_put32(buf + 16, h->dst);
	wire_put16(buf + 10, csum_fold(csum_partial(buf, IP4_HLEN, 0)));
	return IP4_HLEN;
}
