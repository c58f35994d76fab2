/* wire.h - common vocabulary of the wire layer (stack/wire_*.c).
 *
 * Only wire code touches header bytes.  Every xxx_parse(buf, len, &hdr)
 * checks every length field and checksum against `len`, never reads past
 * `buf + len`, and fills a validated struct in host byte order.  It returns
 * 0 or one of these negated errnos, so callers can count drops by reason.
 * xxx_build() writes a header the caller has room for and returns its
 * length. */
#ifndef USTACK_WIRE_H
#define USTACK_WIRE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WIRE_ETRUNC EMSGSIZE         /* buffer shorter than header or length field */
#define WIRE_EFIELD EBADMSG          /* a field holds an impossible value */
#define WIRE_ECSUM EPROTO            /* checksum mismatch */
#define WIRE_EUNSUP EPROTONOSUPPORT  /* well-formed but not something we handle */
#define WIRE_EOPT EINVAL             /* malformed option list */

static inline uint16_t wire_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t wire_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wire_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wire_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#endif
