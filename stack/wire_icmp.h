/* wire_icmp.h - ICMPv4 codec (RFC 792). */
#ifndef USTACK_WIRE_ICMP_H
#define USTACK_WIRE_ICMP_H

#include "wire.h"

#define ICMP_HLEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAM_PROBLEM 12
/* Destination unreachable codes */
#define ICMP_NET_UNREACH 0
#define ICMP_HOST_UNREACH 1
#define ICMP_PROT_UNREACH 2
#define ICMP_PORT_UNREACH 3
#define ICMP_FRAG_NEEDED 4
/* Time exceeded codes */
#define ICMP_EXC_TTL 0
#define ICMP_EXC_FRAGTIME 1

struct icmp_hdr {
	uint8_t type, code;
	uint32_t rest; /* id<<16|seq for echo, next-hop MTU in low 16 bits for frag-needed */
};

/* Validates len >= 8 and the checksum over all `len` bytes. */
int icmp_parse(const uint8_t *buf, size_t len, struct icmp_hdr *h);
/* Writes the 8-byte header at buf; the body must already be at buf+8 and
 * `len` is header + body.  Computes the checksum.  Returns ICMP_HLEN. */
size_t icmp_build(uint8_t *buf, size_t len, const struct icmp_hdr *h);

#endif
