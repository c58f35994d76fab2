/* ring.c - see ring.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "ustack.h"

static uint32_t pow2_up(uint32_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

int ring_alloc(struct us_ring *r, uint32_t size)
{
	memset(r, 0, sizeof(*r));
	r->size = pow2_up(size);
	r->mask = r->size - 1;
	r->cap = r->size;
	r->buf = malloc(r->size);
	if (!r->buf)
		return -ENOMEM;
	r->owned = true;
	return 0;
}

int ring_resize(struct us_ring *r, uint32_t size)
{
	uint8_t *nb;
	uint32_t n = pow2_up(size);

	if (ring_used(r))
		return -EBUSY;
	if (n == r->size)
		return 0;
	nb = malloc(n);
	if (!nb)
		return -ENOMEM;
	if (r->owned)
		free(r->buf);
	r->buf = nb;
	r->size = r->cap = n;
	r->mask = n - 1;
	r->head = r->tail = 0;
	r->owned = true;
	return 0;
}

/* Put the ring's bytes [tail, head) at their positions in `nb` of size
 * nsize (a power of two >= used): the bytes keep their indices, not their
 * offsets; pieces are contiguous in both layouts.  nb may be r->buf with
 * nsize > size (growing in place): a byte that moves lands in [size,
 * nsize), which no byte is read from, so the order does not matter. */
static void ring_move_bytes(const struct us_ring *r, uint8_t *nb, uint32_t nsize)
{
	uint32_t used = ring_used(r);

	for (uint32_t done = 0; done < used;) {
		uint32_t idx = r->tail + done;
		uint32_t from = idx & r->mask, to = idx & (nsize - 1), len = used - done;

		if (len > r->size - from)
			len = r->size - from;
		if (len > nsize - to)
			len = nsize - to;
		if (nb != r->buf || from != to)
			memcpy(nb + to, r->buf + from, len);
		done += len;
	}
}

int ring_rehome(struct us_ring *r, uint32_t min_size)
{
	uint32_t used = ring_used(r);
	uint32_t n = pow2_up(used > min_size ? used : min_size);
	struct us_ring nr = *r;

	nr.buf = malloc(n);
	if (!nr.buf)
		return -ENOMEM;
	nr.size = nr.cap = n;
	nr.mask = n - 1;
	nr.owned = true;
	ring_move_bytes(r, nr.buf, n);
	if (r->owned)
		free(r->buf);
	*r = nr;
	return 0;
}

int ring_grow(struct us_ring *r, uint32_t nsize)
{
	uint8_t *nb = r->buf;

	if (nsize <= r->size || (nsize & (nsize - 1)))
		return -EINVAL;
	if (nsize > r->cap) {
		if (!r->owned)
			return -ENOSPC;
		nb = malloc(nsize);
		if (!nb)
			return -ENOMEM;
	}
	ring_move_bytes(r, nb, nsize);
	if (nb != r->buf) {
		free(r->buf);
		r->buf = nb;
		r->cap = nsize;
	}
	r->size = nsize;
	r->mask = nsize - 1;
	return 0;
}

void ring_release(struct us_ring *r)
{
	if (r->owned)
		free(r->buf);
	memset(r, 0, sizeof(*r));
}

void ring_put_at(struct us_ring *r, uint32_t off, const void *src, uint32_t len)
{
	uint32_t pos = (r->head + off) & r->mask, first = r->size - pos;

	if (first > len)
		first = len;
	memcpy(r->buf + pos, src, first);
	memcpy(r->buf, (const uint8_t *)src + first, len - first);
}

void ring_get_at(const struct us_ring *r, uint32_t off, void *dst, uint32_t len)
{
	uint32_t pos = (r->tail + off) & r->mask, first = r->size - pos;

	if (first > len)
		first = len;
	memcpy(dst, r->buf + pos, first);
	memcpy((uint8_t *)dst + first, r->buf, len - first);
}

static int ring_iov(const struct us_ring *r, uint32_t start, uint32_t len, struct us_iov *iov)
{
	uint32_t pos = start & r->mask, first = r->size - pos;

	if (len == 0)
		return 0;
	if (first >= len) {
		iov[0] = (struct us_iov){r->buf + pos, len};
		return 1;
	}
	iov[0] = (struct us_iov){r->buf + pos, first};
	iov[1] = (struct us_iov){r->buf, len - first};
	return 2;
}

int ring_data_iov(const struct us_ring *r, uint32_t off, uint32_t len, void *iov)
{
	return ring_iov(r, r->tail + off, len, iov);
}

int ring_space_iov(const struct us_ring *r, void *iov)
{
	return ring_iov(r, r->head, ring_space(r), iov);
}
