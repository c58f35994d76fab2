/* wire_icmp.c - ICMPv4 header codec (RFC 792).  The checksum covers the
 * whole ICMP message, header and body (RFC 792 "Echo or Echo Reply"). */
#include "wire_icmp.h"

#include "checksum.h"

int icmp_parse(const uint8_t *buf, size_t len, struct icmp_hdr *h)
{
	if (len < ICMP_HLEN)
		return -WIRE_ETRUNC;
	if (csum_fold(csum_partial(buf, len, 0)) != 0)
		return -WIRE_ECSUM;
	h->type = buf[0];
	h->code = buf[1];
	h->rest = wire_get32(buf + 4);
	return 0;
}

size_t icmp_build(uint8_t *buf, size_t len, const struct icmp_hdr *h)
{
	buf[0] = h->type;
	buf[1] = h->code;
	wire_put16(buf + 2, 0);
	wire_put32(buf + 4, h->rest);
	wire_put16(buf + 2, csum_fold(csum_partial(buf, len < ICMP_HLEN ? ICMP_HLEN : len, 0)));
	return ICMP_HLEN;
}
