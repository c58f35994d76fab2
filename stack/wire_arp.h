/* wire_arp.h - ARP packet codec for Ethernet/IPv4 (RFC 826). */
#ifndef USTACK_WIRE_ARP_H
#define USTACK_WIRE_ARP_H

#include "wire.h"

#define ARP_LEN 28
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

struct arp_pkt {
	uint16_t op;
	uint8_t sha[6];
	uint32_t spa;
	uint8_t tha[6];
	uint32_t tpa;
};

/* Returns 0, -WIRE_ETRUNC (< 28 bytes), or -WIRE_EUNSUP (hardware type not
 * Ethernet(1)/hlen 6, or protocol type not IPv4/plen 4).  The op is returned
 * as it is; the caller checks it. */
int arp_parse(const uint8_t *buf, size_t len, struct arp_pkt *p);
/* Writes ARP_LEN bytes (htype 1, ptype 0x0800), returns ARP_LEN. */
size_t arp_build(uint8_t *buf, const struct arp_pkt *p);

#endif
