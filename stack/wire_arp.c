/* wire_arp.c - ARP packet codec for Ethernet/IPv4 only (RFC 826). */
#include "wire_arp.h"

#define ARP_HTYPE_ETHER 1
#define ARP_PTYPE_IP4 0x0800

int arp_parse(const uint8_t *buf, size_t len, struct arp_pkt *p)
{
	if (len < ARP_LEN)
		return -WIRE_ETRUNC;
	/* RFC 826 "Packet Reception": a packet whose hardware/protocol
	 * type and address lengths we do not speak is discarded. */
	if (wire_get16(buf) != ARP_HTYPE_ETHER || wire_get16(buf + 2) != ARP_PTYPE_IP4 ||
	    buf[4] != 6 || buf[5] != 4)
		return -WIRE_EUNSUP;
	p->op = wire_get16(buf + 6);
	memcpy(p->sha, buf + 8, 6);
	p->spa = wire_get32(buf + 14);
	memcpy(p->tha, buf + 18, 6);
	p->tpa = wire_get32(buf + 24);
	return 0;
}

size_t arp_build(uint8_t *buf, const struct arp_pkt *p)
{
	wire_put16(buf, ARP_HTYPE_ETHER);
	wire_put16(buf + 2, ARP_PTYPE_IP4);
	buf[4] = 6;
	buf[5] = 4;
	wire_put16(buf + 6, p->op);
	memcpy(buf + 8, p->sha, 6);
	wire_put32(buf + 14, p->spa);
	memcpy(buf + 18, p->tha, 6);
	wire_put32(buf + 24, p->tpa);
	return ARP_LEN;
}
