/* craft.h - hand-built frames for simulation tests (through the wire
 * layer's builders, so checksums are right unless a test breaks them). */
#ifndef USTACK_CRAFT_H
#define USTACK_CRAFT_H

#include "netsim.h"
#include "wire_eth.h"
#include "wire_ip4.h"

/* Ethernet + IPv4 header (fields from *ih; total_len computed) + l4len
 * bytes of payload, from stack `from`'s MAC to stack `to`'s.  Returns the
 * frame length. */
size_t craft_ip(uint8_t *frame, const struct netsim *n, int from, int to,
		const struct ip4_hdr *ih, const uint8_t *l4, size_t l4len);
/* A UDP datagram (header + payload) with a correct checksum in out. */
size_t craft_udp(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		 const uint8_t *payload, size_t len);
/* An ICMP echo request (header + payload). */
size_t craft_echo(uint8_t *out, uint16_t id, uint16_t seq, const uint8_t *payload, size_t len);

#endif
