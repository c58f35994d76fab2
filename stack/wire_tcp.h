/* wire_tcp.h - TCP header and option codec (RFC 9293 §3.1, RFC 7323,
 * RFC 2018). */
#ifndef USTACK_WIRE_TCP_H
#define USTACK_WIRE_TCP_H

#include "wire.h"

#define TCP_HLEN 20
#define TCP_MAX_HLEN 60
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2
#define TCP_OPT_WS 3
#define TCP_OPT_SACK_PERM 4
#define TCP_OPT_SACK 5
#define TCP_OPT_TS 8
#define TCP_MAX_SACK 4

struct tcp_sack_block {
	uint32_t start, end;
};

struct tcp_opts {
	bool has_mss, has_ws, sack_perm, has_ts;
	uint16_t mss;
	uint8_t ws;     /* shift as received (caller clamps to 14, RFC 7323 §2.3) */
	uint32_t tsval, tsecr;
	uint8_t nsack;  /* number of SACK blocks, 0..4 */
	struct tcp_sack_block sack[TCP_MAX_SACK];
};

struct tcp_hdr {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t hlen;   /* data offset in bytes, 20..60 */
	uint8_t flags;  /* TCP_FIN.. TCP_CWR */
	uint16_t win;   /* raw, unscaled */
	uint16_t urg;
	struct tcp_opts opt;
};

/* `len` is the IP payload length.  Validates len >= 20, 20 <= hlen <= len,
 * the checksum with the pseudo-header, and the options: each known option
 * must have its exact length (MSS 4, WS 3, SACK-permitted 2, TS 10, SACK
 * 2+8n with 1 <= n <= 4), every length >= 2 and inside the header
 * (-WIRE_EOPT).  Unknown options are skipped; EOL ends the list. */
int tcp_parse(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, struct tcp_hdr *h);
/* The same without the checksum check: for a segment whose checksum the
 * device vouched for (virtio-net DATA_VALID or NEEDS_CSUM). */
int tcp_parse_trusted(const uint8_t *buf, size_t len, struct tcp_hdr *h);
/* Length the options of `o` take, padded to a multiple of 4 (at most 40:
 * SACK blocks that do not fit are left out). */
size_t tcp_opts_len(const struct tcp_opts *o);
/* Writes header and options at buf (h->hlen is ignored and computed); the
 * payload (paylen bytes) must already be at buf + 20 + tcp_opts_len(&h->opt).
 * Fills the checksum.  Returns the header length. */
size_t tcp_build(uint8_t *buf, const struct tcp_hdr *h, size_t paylen, uint32_t src,
		 uint32_t dst);
/* The same, leaving a partial checksum (the pseudo-header sum) for the
 * device to complete. */
size_t tcp_build_partial(uint8_t *buf, const struct tcp_hdr *h, size_t paylen, uint32_t src,
			 uint32_t dst);

#endif
