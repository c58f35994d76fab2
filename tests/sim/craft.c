/* craft.c - see craft.h. */
#include <string.h>

#include "craft.h"
#include "wire_icmp.h"
#include "wire_udp.h"

size_t craft_ip(uint8_t *frame, const struct netsim *n, int from, int to,
		const struct ip4_hdr *ih, const uint8_t *l4, size_t l4len)
{
	struct eth_hdr eh;
	struct ip4_hdr h = *ih;
	size_t off = 0;

	if (n->mode == US_LINK_ETHER) {
		memcpy(eh.dst, n->mac[to], 6);
		memcpy(eh.src, n->mac[from], 6);
		eh.type = ETH_TYPE_IP4;
		off = eth_build(frame, &eh);
	}
	h.total_len = (uint16_t)(IP4_HLEN + l4len);
	ip4_build(frame + off, &h);
	memcpy(frame + off + IP4_HLEN, l4, l4len);
	return off + IP4_HLEN + l4len;
}

size_t craft_udp(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		 const uint8_t *payload, size_t len)
{
	memmove(out + UDP_HLEN, payload, len);
	udp_build(out, len, sport, dport, src, dst);
	return UDP_HLEN + len;
}

size_t craft_echo(uint8_t *out, uint16_t id, uint16_t seq, const uint8_t *payload, size_t len)
{
	struct icmp_hdr h = {.type = ICMP_ECHO, .code = 0, .rest = (uint32_t)id << 16 | seq};

	memmove(out + ICMP_HLEN, payload, len);
	icmp_build(out, ICMP_HLEN + len, &h);
	return ICMP_HLEN + len;
}
