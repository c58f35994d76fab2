/* ring.h - a byte ring with free-running 32-bit indices and a power-of-two
 * size: TCP's send and receive buffers.  The producer advances head, the
 * consumer tail; used = head - tail.  The memory may be supplied by the
 * caller (later: a region shared with the program), so the ring never
 * assumes it owns the bytes' contents, only their positions. */
#ifndef USTACK_RING_H
#define USTACK_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct us_ring {
	uint8_t *buf;
	uint32_t size, mask;
	uint32_t cap; /* bytes at buf (>= size): room to grow into (tcp_rcv_autotune) */
	uint32_t head, tail;
	bool owned;
};

static inline uint32_t ring_used(const struct us_ring *r) { return r->head - r->tail; }
static inline uint32_t ring_space(const struct us_ring *r) { return r->size - ring_used(r); }

/* Allocate `size` bytes rounded up to a power of two. */
int ring_alloc(struct us_ring *r, uint32_t size);
/* Resize an empty ring; -EBUSY if it holds data. */
int ring_resize(struct us_ring *r, uint32_t size);
/* Grow the ring to nsize (a power of two > size), its bytes kept at
 * their indices: within cap in place (a shared ring whose other user is
 * not writing now), else into new memory when the ring owns its own. */
int ring_grow(struct us_ring *r, uint32_t nsize);
void ring_release(struct us_ring *r);
/* Move the ring's bytes [tail, head) into memory of its own of the
 * smallest power of two >= max(used, min_size); indices stay as they are. */
int ring_rehome(struct us_ring *r, uint32_t min_size);
/* Copy `len` bytes in at head + off (off = 0: append) without moving head. */
void ring_put_at(struct us_ring *r, uint32_t off, const void *src, uint32_t len);
/* Copy `len` bytes out from tail + off without moving tail. */
void ring_get_at(const struct us_ring *r, uint32_t off, void *dst, uint32_t len);
/* Up to two regions: data [tail, head) or space [head, tail + size). */
int ring_data_iov(const struct us_ring *r, uint32_t off, uint32_t len, void *iov);
int ring_space_iov(const struct us_ring *r, void *iov);

#endif
