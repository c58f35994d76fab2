/* wire_udp.c - UDP header codec (RFC 768), checksum over the IPv4
 * pseudo-header, header and data. */
#include "wire_udp.h"

#include "checksum.h"
#include "wire_ip4.h"

int udp_parse(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, struct udp_hdr *h)
{
	return udp_parse_ex(buf, len, src, dst, true, h);
}

int udp_parse_ex(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, bool verify,
		 struct udp_hdr *h)
{
	if (len < UDP_HLEN)
		return -WIRE_ETRUNC;
	uint16_t ulen = wire_get16(buf + 4);
	if (ulen < UDP_HLEN)
		return -WIRE_EFIELD;
	if (ulen > len)
		return -WIRE_ETRUNC;
	/* RFC 768: a transmitted checksum of zero means "no checksum"; the
	 * check covers exactly `ulen` bytes, anything after is ignored. */
	if (verify && wire_get16(buf + 6) != 0) {
		uint32_t sum = csum_pseudo(src, dst, IP4_PROTO_UDP, ulen);
		if (csum_fold(csum_partial(buf, ulen, sum)) != 0)
			return -WIRE_ECSUM;
	}
	h->sport = wire_get16(buf);
	h->dport = wire_get16(buf + 2);
	h->len = ulen;
	return 0;
}

size_t udp_build(uint8_t *buf, size_t paylen, uint16_t sport, uint16_t dport, uint32_t src,
		 uint32_t dst)
{
	uint16_t ulen = (uint16_t)(UDP_HLEN + paylen);

	wire_put16(buf, sport);
	wire_put16(buf + 2, dport);
	wire_put16(buf + 4, ulen);
	wire_put16(buf + 6, 0);
	uint16_t c = csum_fold(csum_partial(buf, ulen, csum_pseudo(src, dst, IP4_PROTO_UDP, ulen)));
	/* RFC 768: a computed checksum of zero is transmitted as all ones. */
	wire_put16(buf + 6, c ? c : 0xffff);
	return UDP_HLEN;
}
