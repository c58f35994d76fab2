/* wire_udp.h - UDP header codec (RFC 768). */
#ifndef USTACK_WIRE_UDP_H
#define USTACK_WIRE_UDP_H

#include <stdbool.h>

#include "wire.h"

#define UDP_HLEN 8

struct udp_hdr {
	uint16_t sport, dport;
	uint16_t len; /* header + payload, as validated */
};

/* `len` is the IP payload length.  Validates len >= 8 (-WIRE_ETRUNC),
 * 8 <= length field <= len (-WIRE_EFIELD if < 8, -WIRE_ETRUNC if > len),
 * and the checksum with the pseudo-header unless it is 0 (-WIRE_ECSUM).
 * Bytes past the length field are ignored. */
int udp_parse(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, struct udp_hdr *h);
/* verify false: the device vouched for the checksum (virtio-net
 * DATA_VALID or NEEDS_CSUM); lengths are still checked. */
int udp_parse_ex(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, bool verify,
		 struct udp_hdr *h);
/* Writes the header at buf; the payload (paylen bytes) must already be at
 * buf+8.  Fills the checksum (0 sent as 0xffff).  Returns UDP_HLEN. */
size_t udp_build(uint8_t *buf, size_t paylen, uint16_t sport, uint16_t dport, uint32_t src,
		 uint32_t dst);

#endif
