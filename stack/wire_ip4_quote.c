/* wire_ip4_quote.c - IPv4 header helpers beyond plain parse/build: the
 * header quoted in an ICMP error message (RFC 792; RFC 1812 §4.3.2.3 lets
 * routers quote more than 8 bytes), and the header of a reassembled
 * datagram. */
#include "checksum.h"
#include "wire_ip4.h"

int ip4_parse_quoted(const uint8_t *buf, size_t len, struct ip4_hdr *h)
{
	uint16_t frag;

	if (len < IP4_HLEN)
		return -WIRE_ETRUNC;
	if ((buf[0] >> 4) != 4 || (buf[0] & 15) < 5)
		return -WIRE_EFIELD;
	h->hlen = (uint8_t)((buf[0] & 15) * 4);
	if (h->hlen > len)
		return -WIRE_ETRUNC;
	h->tos = buf[1];
	h->total_len = wire_get16(buf + 2);
	h->id = wire_get16(buf + 4);
	frag = wire_get16(buf + 6);
	h->df = (frag & 0x4000) != 0;
	h->mf = (frag & 0x2000) != 0;
	h->frag_off = (uint16_t)((frag & 0x1fff) * 8);
	h->ttl = buf[8];
	h->proto = buf[9];
	h->src = wire_get32(buf + 12);
	h->dst = wire_get32(buf + 16);
	return 0;
}

void ip4_set_reassembled(uint8_t *hdr, uint8_t hlen, uint16_t total_len)
{
	wire_put16(hdr + 2, total_len);
	wire_put16(hdr + 6, 0);
	wire_put16(hdr + 10, 0);
	wire_put16(hdr + 10, csum_fold(csum_partial(hdr, hlen, 0)));
}
