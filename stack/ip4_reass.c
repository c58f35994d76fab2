/* ip4_reass.c - IPv4 reassembly (RFC 791 §3.2, RFC 815).
 *
 * Datagrams being reassembled are keyed by (src, dst, proto, id) and keep
 * their fragments in a list sorted by offset.  Safety rules:
 *  - an exact duplicate fragment is ignored; any other overlap discards the
 *    whole datagram (overlaps are only ever produced by attacks: RFC 1858,
 *    RFC 3128; Linux and RFC 5722 for IPv6 do the same);
 *  - a datagram longer than 65535 bytes, a non-final fragment whose length
 *    is not a multiple of 8, or a fragment past a known end discards it;
 *  - each datagram times out after US_REASS_TIMEOUT (with an ICMP time
 *    exceeded if the first fragment arrived, RFC 1122 §3.3.2);
 *  - all fragments held together never exceed US_REASS_MEM_MAX bytes and
 *    US_REASS_MAX_DGRAMS datagrams: the oldest datagrams are evicted. */
#include <stdlib.h>

#include "stack_impl.h"
#include "wire_icmp.h"

struct reass_frag {
	TAILQ_ENTRY(reass_frag) link;
	uint16_t off, len;
	uint8_t data[];
};
TAILQ_HEAD(reass_frag_list, reass_frag);

struct reass_dgram {
	TAILQ_ENTRY(reass_dgram) link; /* oldest first */
	uint32_t src, dst;
	uint16_t id;
	uint8_t proto;
	uint8_t hlen;          /* of the first fragment, once seen */
	uint8_t hdr[IP4_MAX_HLEN];
	bool have_first, have_last;
	uint32_t total;        /* payload length, once the last fragment came */
	uint32_t got;          /* payload bytes held */
	size_t mem;
	struct reass_frag_list frags;
	struct us_timer timer;
};

#define REASS_FRAG_OVERHEAD (sizeof(struct reass_frag) + 32)

static void reass_drop(struct us_stack *s, struct reass_dgram *d)
{
	struct reass_frag *f;

	timer_cancel(s, &d->timer);
	TAILQ_REMOVE(&s->reass, d, link);
	while ((f = TAILQ_FIRST(&d->frags)) != NULL) {
		TAILQ_REMOVE(&d->frags, f, link);
		free(f);
	}
	s->reass_mem -= d->mem;
	s->reass_count--;
	free(d);
}

static void reass_timeout(struct us_stack *s, struct us_timer *t)
{
	struct reass_dgram *d = US_CONTAINER_OF(t, struct reass_dgram, timer);

	US_INC(s, ip4_reass_timeout);
	US_TRACE(s, "ip4  reassembly of id %u timed out", d->id);
	if (d->have_first) {
		/* Quote the first fragment: its header and first 8+ bytes. */
		struct reass_frag *f = TAILQ_FIRST(&d->frags);
		uint8_t q[IP4_MAX_HLEN + 64];
		size_t n = f->len < 64 ? f->len : 64;

		memcpy(q, d->hdr, d->hlen);
		memcpy(q + d->hlen, f->data, n);
		icmp_send_error(s, ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, 0, q, d->hlen + n);
	}
	reass_drop(s, d);
}

static struct reass_dgram *reass_find(struct us_stack *s, const struct ip4_hdr *ih)
{
	struct reass_dgram *d;

	TAILQ_FOREACH(d, &s->reass, link)
		if (d->id == ih->id && d->src == ih->src && d->dst == ih->dst &&
		    d->proto == ih->proto)
			return d;
	return NULL;
}

/* Make room for `need` more bytes by evicting the oldest datagrams. */
static bool reass_make_room(struct us_stack *s, size_t need, struct reass_dgram *keep)
{
	struct reass_dgram *d, *next;

	if (need > US_REASS_MEM_MAX)
		return false;
	for (d = TAILQ_FIRST(&s->reass); d && s->reass_mem + need > US_REASS_MEM_MAX; d = next) {
		next = TAILQ_NEXT(d, link);
		if (d == keep)
			continue;
		US_INC(s, ip4_reass_mem_drop);
		reass_drop(s, d);
	}
	return s->reass_mem + need <= US_REASS_MEM_MAX;
}

static void reass_complete(struct us_stack *s, struct reass_dgram *d)
{
	size_t total = (size_t)d->hlen + d->total;
	uint8_t *buf = malloc(total);
	struct reass_frag *f;
	struct ip4_hdr ih;

	if (!buf) {
		US_INC(s, ip4_reass_mem_drop);
		reass_drop(s, d);
		return;
	}
	memcpy(buf, d->hdr, d->hlen);
	TAILQ_FOREACH(f, &d->frags, link)
		memcpy(buf + d->hlen + f->off, f->data, f->len);
	ip4_set_reassembled(buf, d->hlen, (uint16_t)total);
	ip4_parse_quoted(buf, total, &ih);
	reass_drop(s, d);
	US_INC(s, ip4_reass_ok);
	US_TRACE(s, "ip4  reassembled id %u, %zu bytes", ih.id, total);
	ip4_deliver(s, &ih, buf);
	free(buf);
}

void reass_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt)
{
	struct reass_dgram *d = reass_find(s, ih);
	struct reass_frag *f, *prev = NULL, *nf;
	uint32_t off = ih->frag_off, len = (uint32_t)ih->total_len - ih->hlen, end = off + len;
	size_t need = sizeof(*nf) + len + REASS_FRAG_OVERHEAD;

	/* RFC 791: non-final fragments carry a multiple of 8 bytes. */
	if ((ih->mf && (len == 0 || (len & 7))) || (!ih->mf && len == 0 && off == 0)) {
		US_INC(s, ip4_reass_bad_frag);
		if (d)
			reass_drop(s, d);
		return;
	}
	if (end + ih->hlen > US_IP_MAXPACKET) {
		US_INC(s, ip4_reass_oversize);
		if (d)
			reass_drop(s, d);
		return;
	}
	if (!d) {
		if (s->reass_count >= US_REASS_MAX_DGRAMS) {
			US_INC(s, ip4_reass_mem_drop);
			reass_drop(s, TAILQ_FIRST(&s->reass));
		}
		d = calloc(1, sizeof(*d));
		if (!d) {
			US_INC(s, ip4_reass_mem_drop);
			return;
		}
		d->src = ih->src;
		d->dst = ih->dst;
		d->id = ih->id;
		d->proto = ih->proto;
		d->mem = sizeof(*d);
		TAILQ_INIT(&d->frags);
		timer_init(&d->timer, reass_timeout);
		timer_arm(s, &d->timer, s->now + US_REASS_TIMEOUT);
		TAILQ_INSERT_TAIL(&s->reass, d, link);
		s->reass_count++;
		s->reass_mem += d->mem;
	}
	/* The end of the datagram, once known, never changes. */
	if ((!ih->mf && d->have_last && end != d->total) || (d->have_last && end > d->total)) {
		US_INC(s, ip4_reass_bad_frag);
		reass_drop(s, d);
		return;
	}
	if (!ih->mf) {
		TAILQ_FOREACH(f, &d->frags, link)
			if (f->off + f->len > end) {
				US_INC(s, ip4_reass_bad_frag);
				reass_drop(s, d);
				return;
			}
	}
	/* Find the place by offset and check both neighbours for overlap. */
	TAILQ_FOREACH(f, &d->frags, link) {
		if (f->off > off)
			break;
		prev = f;
	}
	if (prev && prev->off == off && prev->len == len) {
		US_INC(s, ip4_reass_dup);
		return;
	}
	if ((prev && (uint32_t)prev->off + prev->len > off) || (f && end > f->off)) {
		US_INC(s, ip4_reass_overlap);
		US_TRACE(s, "ip4  overlapping fragment: datagram id %u discarded", ih->id);
		reass_drop(s, d);
		return;
	}
	if (!reass_make_room(s, need, d)) {
		US_INC(s, ip4_reass_mem_drop);
		reass_drop(s, d);
		return;
	}
	nf = malloc(sizeof(*nf) + len);
	if (!nf) {
		US_INC(s, ip4_reass_mem_drop);
		reass_drop(s, d);
		return;
	}
	nf->off = (uint16_t)off;
	nf->len = (uint16_t)len;
	memcpy(nf->data, pkt + ih->hlen, len);
	if (prev)
		TAILQ_INSERT_AFTER(&d->frags, prev, nf, link);
	else
		TAILQ_INSERT_HEAD(&d->frags, nf, link);
	d->mem += need;
	s->reass_mem += need;
	d->got += len;
	if (off == 0) {
		d->have_first = true;
		d->hlen = ih->hlen;
		memcpy(d->hdr, pkt, ih->hlen);
	}
	if (!ih->mf) {
		d->have_last = true;
		d->total = end;
	}
	if (d->have_first && d->have_last && d->got == d->total)
		reass_complete(s, d);
}

void reass_free_all(struct us_stack *s)
{
	struct reass_dgram *d;

	while ((d = TAILQ_FIRST(&s->reass)) != NULL)
		reass_drop(s, d);
}
