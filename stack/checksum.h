/* checksum.h - the Internet checksum (RFC 1071) and its incremental update
 * (RFC 1624).  Sums are kept unfolded in 32 bits so pieces can be chained:
 *   sum = csum_partial(hdr, n, 0); sum = csum_partial(payload, m, sum);
 *   wire_value = csum_fold(sum);
 * csum_partial() handles odd lengths and odd start addresses, and is only
 * valid for chaining when every piece but the last has an even length. */
#ifndef USTACK_CHECKSUM_H
#define USTACK_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* One's-complement sum of `len` bytes (big-endian 16-bit words) added to
 * `sum`; several bytes per step.  Result is an unfolded 32-bit sum. */
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum);
/* Fold to 16 bits and complement: the value to store in a header (host
 * order; store with htons or wire_put16).  A buffer whose stored checksum
 * is correct folds to 0. */
uint16_t csum_fold(uint32_t sum);
/* Pseudo-header sum for UDP/TCP (RFC 768, RFC 9293 §3.1); addresses in host
 * order, len = transport length. */
uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);
/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), all host order 16-bit values. */
uint16_t csum_update16(uint16_t old_csum, uint16_t old_val, uint16_t new_val);
uint16_t csum_update32(uint16_t old_csum, uint32_t old_val, uint32_t new_val);

#endif
