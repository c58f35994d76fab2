/* wire_eth.c - Ethernet II header codec (IEEE 802.3 framing as carried on a
 * TAP device: no preamble, no FCS). */
#include "wire_eth.h"

const uint8_t eth_broadcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

int eth_parse(const uint8_t *buf, size_t len, struct eth_hdr *h)
{
	if (len < ETH_HLEN)
		return -WIRE_ETRUNC;
	memcpy(h->dst, buf, ETH_ALEN);
	memcpy(h->src, buf + 6, ETH_ALEN);
	/* Values < 0x0600 are 802.3 lengths; returned as they are and dropped
	 * by the caller as an unknown type. */
	h->type = wire_get16(buf + 12);
	return 0;
}

size_t eth_build(uint8_t *buf, const struct eth_hdr *h)
{
	memcpy(buf, h->dst, ETH_ALEN);
	memcpy(buf + 6, h->src, ETH_ALEN);
	wire_put16(buf + 12, h->type);
	return ETH_HLEN;
}
