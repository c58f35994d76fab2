/* wire_ip4.h - IPv4 header codec (RFC 791). */
#ifndef USTACK_WIRE_IP4_H
#define USTACK_WIRE_IP4_H

#include "wire.h"

#define IP4_HLEN 20
#define IP4_MAX_HLEN 60
#define IP4_PROTO_ICMP 1
#define IP4_PROTO_TCP 6
#define IP4_PROTO_UDP 17

struct ip4_hdr {
	uint8_t hlen;       /* header length in bytes, 20..60 */
	uint8_t tos;
	uint16_t total_len; /* whole datagram (this fragment) length */
	uint16_t id;
	bool df, mf;
	uint16_t frag_off;  /* fragment offset in bytes (multiple of 8) */
	uint8_t ttl;
	uint8_t proto;
	uint32_t src, dst;
};

/* Validates: len >= 20, version 4, IHL >= 5, hlen <= total_len <= len
 * (-WIRE_ETRUNC if total_len > len), reserved flag bit clear
 * (-WIRE_EFIELD), header checksum (-WIRE_ECSUM), options well-formed:
 * every option but EOL/NOP has a length byte >= 2 that stays inside the
 * header (-WIRE_EOPT).  Bytes past total_len (Ethernet padding) are
 * ignored.  Options are otherwise skipped. */
int ip4_parse(const uint8_t *buf, size_t len, struct ip4_hdr *h);
/* Writes a 20-byte header (no options) with its checksum; h->hlen is
 * ignored (taken as 20).  Returns IP4_HLEN. */
size_t ip4_build(uint8_t *buf, const struct ip4_hdr *h);

/* The IPv4 header quoted inside an ICMP error (RFC 792): the datagram is
 * cut short, so only version, IHL >= 5 and hlen <= len are checked
 * (-WIRE_ETRUNC / -WIRE_EFIELD); total_len and the checksum are returned
 * unchecked.  Implemented in wire_ip4_quote.c. */
int ip4_parse_quoted(const uint8_t *buf, size_t len, struct ip4_hdr *h);
/* Turn the header of a datagram's first fragment (hlen bytes at hdr) into
 * the header of the reassembled datagram: total length set, fragment
 * fields cleared, checksum refreshed. */
void ip4_set_reassembled(uint8_t *hdr, uint8_t hlen, uint16_t total_len);

static inline bool ip4_is_multicast(uint32_t a) { return (a >> 28) == 0xe; }

#endif
