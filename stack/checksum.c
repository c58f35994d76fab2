/* checksum.c - the Internet checksum (RFC 1071) and its incremental update
 * (RFC 1624).
 *
 * csum_partial() sums the buffer as native-order 64-bit words (loaded with
 * memcpy, so any alignment is fine) into a 64-bit accumulator with an
 * explicit carry count, then folds.  RFC 1071 §2(B): the one's-complement sum
 * is byte-order independent, so a sum of native words equals the sum of
 * big-endian 16-bit words byte-swapped; we swap once at the end on
 * little-endian hosts.  Word boundaries are relative to `buf` (not to the
 * address), so odd start addresses need no special case. */
#include "checksum.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#define CSUM_LITTLE_ENDIAN (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
#else
static int csum_little_endian(void)
{
	const uint16_t one = 1;
	uint8_t b;
	memcpy(&b, &one, 1);
	return b == 1;
}
#define CSUM_LITTLE_ENDIAN csum_little_endian()
#endif

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* Fold a 64-bit one's-complement sum to 16 bits (2^16 == 1 mod 0xffff). */
static inline uint16_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32); /* <= 0x1fffffffe */
	s = (s & 0xffffffffu) + (s >> 32); /* <= 0xffffffff */
	s = (s & 0xffffu) + (s >> 16);     /* <= 0x1fffe */
	s = (s & 0xffffu) + (s >> 16);     /* <= 0xffff */
	return (uint16_t)s;
}

uint32_t csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t acc = 0, carry = 0, w;

	/* 32 bytes per step; carries out of bit 63 are counted and added back
	 * (end-around carry). */
	while (len >= 32) {
		w = load64(p);
		acc += w;
		carry += acc < w;
		w = load64(p + 8);
		acc += w;
		carry += acc < w;
		w = load64(p + 16);
		acc += w;
		carry += acc < w;
		w = load64(p + 24);
		acc += w;
		carry += acc < w;
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		w = load64(p);
		acc += w;
		carry += acc < w;
		p += 8;
		len -= 8;
	}
	if (len) {
		/* The tail starts at an even offset, so zero padding after it is
		 * exactly RFC 1071's "pad the odd byte with zero". */
		uint8_t tail[8] = {0};
		memcpy(tail, p, len);
		w = load64(tail);
		acc += w;
		carry += acc < w;
	}
	acc += carry;
	carry = acc < carry;
	acc += carry; /* cannot carry again: acc was < carry, so acc is small */

	uint16_t r = fold64(acc);
	if (CSUM_LITTLE_ENDIAN)
		r = (uint16_t)(r >> 8 | r << 8);

	uint64_t t = (uint64_t)sum + r;
	return (uint32_t)((t & 0xffffffffu) + (t >> 32));
}

uint16_t csum_fold(uint32_t sum)
{
	return (uint16_t)~fold64(sum);
}

uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	/* RFC 768 / RFC 9293 §3.1: src, dst, zero|proto, length. */
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

uint16_t csum_update16(uint16_t old_csum, uint16_t old_val, uint16_t new_val)
{
	/* RFC 1624 §3 eqn. 3; unlike eqn. 2 it never yields -0 (0xffff) when
	 * the true checksum is 0x0000. */
	uint32_t s = (uint32_t)(uint16_t)~old_csum + (uint16_t)~old_val + new_val;
	return (uint16_t)~fold64(s);
}

uint16_t csum_update32(uint16_t old_csum, uint32_t old_val, uint32_t new_val)
{
	uint32_t s = (uint32_t)(uint16_t)~old_csum + (uint16_t)~(old_val >> 16) +
		     (uint16_t)~old_val + (new_val >> 16) + (new_val & 0xffff);
	return (uint16_t)~fold64(s);
}
