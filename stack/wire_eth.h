/* wire_eth.h - Ethernet II header codec. */
#ifndef USTACK_WIRE_ETH_H
#define USTACK_WIRE_ETH_H

#include "wire.h"

#define ETH_HLEN 14
#define ETH_ALEN 6
#define ETH_TYPE_IP4 0x0800
#define ETH_TYPE_ARP 0x0806

struct eth_hdr {
	uint8_t dst[ETH_ALEN];
	uint8_t src[ETH_ALEN];
	uint16_t type;
};

/* Returns 0 or -WIRE_ETRUNC (len < 14).  802.3 length values (< 0x0600)
 * are returned as they are; the caller drops them as an unknown type. */
int eth_parse(const uint8_t *buf, size_t len, struct eth_hdr *h);
/* Writes ETH_HLEN bytes, returns ETH_HLEN. */
size_t eth_build(uint8_t *buf, const struct eth_hdr *h);

static inline bool eth_is_broadcast(const uint8_t *a)
{
	return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff;
}
static inline bool eth_is_multicast(const uint8_t *a) { return a[0] & 1; }

extern const uint8_t eth_broadcast[ETH_ALEN];

#endif
