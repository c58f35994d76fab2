/* tcp_sack.c - selective acknowledgement (RFC 2018) on both sides:
 * the sender's scoreboard of ranges the peer holds (used for loss recovery
 * as RFC 6675 describes), and the receiver's out-of-order ranges, held in
 * the receive ring itself beyond rcv_nxt and reported as SACK blocks. */
#include "tcp_impl.h"

static void sack_recount(struct tcp_pcb *tp)
{
	tp->sacked_bytes = 0;
	tp->high_sacked = tp->snd_una;
	for (unsigned i = 0; i < tp->nsacked; i++) {
		tp->sacked_bytes += tp->sacked[i].end - tp->sacked[i].start;
		if (SEQ_GT(tp->sacked[i].end, tp->high_sacked))
			tp->high_sacked = tp->sacked[i].end;
	}
}

/* Insert [start, end) into a sorted, disjoint range array, merging. */
static bool range_add(struct tcp_range *r, unsigned *n, unsigned max, uint32_t start, uint32_t end)
{
	unsigned i = 0, j;

	while (i < *n && SEQ_LT(r[i].end, start))
		i++;
	/* r[i] is the first range that ends at or after start. */
	if (i < *n && SEQ_LEQ(r[i].start, end)) {
		/* Overlaps or touches r[i]: grow it, then swallow followers. */
		r[i].start = SEQ_MIN(r[i].start, start);
		r[i].end = SEQ_MAX(r[i].end, end);
		for (j = i + 1; j < *n && SEQ_LEQ(r[j].start, r[i].end); j++)
			r[i].end = SEQ_MAX(r[i].end, r[j].end);
		if (j > i + 1) {
			memmove(&r[i + 1], &r[j], (*n - j) * sizeof(*r));
			*n -= j - i - 1;
		}
		return true;
	}
	if (*n == max)
		return false;
	memmove(&r[i + 1], &r[i], (*n - i) * sizeof(*r));
	r[i].start = start;
	r[i].end = end;
	(*n)++;
	return true;
}

void tcp_sack_update(struct tcp_pcb *tp, const struct tcp_opts *o)
{
	for (unsigned k = 0; k < o->nsack; k++) {
		uint32_t st = o->sack[k].start, en = o->sack[k].end;

		US_INC(tp->s, tcp_sack_blocks_rx);
		/* Ignore D-SACKs (RFC 2883) and blocks outside what we sent. */
		if (!SEQ_LT(st, en) || SEQ_LEQ(en, tp->snd_una) || SEQ_GT(en, tp->snd_max))
			continue;
		if (SEQ_LT(st, tp->snd_una))
			st = tp->snd_una;
		range_add(tp->sacked, &tp->nsacked, TCP_MAX_SACKED, st, en);
	}
	sack_recount(tp);
}

void tcp_sack_trim(struct tcp_pcb *tp)
{
	unsigned i = 0;

	while (i < tp->nsacked && SEQ_LEQ(tp->sacked[i].end, tp->snd_una))
		i++;
	if (i) {
		memmove(tp->sacked, tp->sacked + i, (tp->nsacked - i) * sizeof(tp->sacked[0]));
		tp->nsacked -= i;
	}
	if (tp->nsacked && SEQ_LT(tp->sacked[0].start, tp->snd_una))
		tp->sacked[0].start = tp->snd_una;
	sack_recount(tp);
}

void tcp_sack_clear(struct tcp_pcb *tp)
{
	tp->nsacked = 0;
	sack_recount(tp);
}

/* Is seq inside a SACKed range?  *end: that range's end if so, else the
 * start of the next SACKed range above seq (or snd_max if none). */
bool tcp_sack_is_sacked(const struct tcp_pcb *tp, uint32_t seq, uint32_t *end)
{
	for (unsigned i = 0; i < tp->nsacked; i++) {
		if (SEQ_LT(seq, tp->sacked[i].start)) {
			*end = tp->sacked[i].start;
			return false;
		}
		if (SEQ_LT(seq, tp->sacked[i].end)) {
			*end = tp->sacked[i].end;
			return true;
		}
	}
	*end = tp->snd_max;
	return false;
}

/* RFC 6675 §4 "pipe": bytes thought to be in the network.  A hole below
 * the highest SACKed byte counts as lost until it is retransmitted (below
 * HighRxt), as the FACK variant of IsLost() would have it. */
uint32_t tcp_pipe(const struct tcp_pcb *tp)
{
	uint32_t out = tp->snd_max - tp->snd_una - tp->sacked_bytes;
	uint32_t from = SEQ_MAX(tp->high_rxt, tp->snd_una), lost = 0;

	if (SEQ_LT(from, tp->high_sacked)) {
		uint32_t seq = from, end;

		while (SEQ_LT(seq, tp->high_sacked)) {
			if (tcp_sack_is_sacked(tp, seq, &end)) {
				seq = end;
				continue;
			}
			end = SEQ_MIN(end, tp->high_sacked);
			lost += end - seq;
			seq = end;
		}
	}
	return out > lost ? out - lost : 0;
}

bool tcp_ooo_add(struct tcp_pcb *tp, uint32_t start, uint32_t end)
{
	if (!range_add(tp->ooo, &tp->nooo, TCP_MAX_OOO, start, end))
		return false;
	tp->last_ooo_start = start;
	return true;
}

uint32_t tcp_ooo_advance(struct tcp_pcb *tp)
{
	uint32_t n = 0;

	while (tp->nooo && SEQ_LEQ(tp->ooo[0].start, tp->rcv_nxt)) {
		if (SEQ_GT(tp->ooo[0].end, tp->rcv_nxt)) {
			n += tp->ooo[0].end - tp->rcv_nxt;
			tp->rcv_nxt = tp->ooo[0].end;
		}
		memmove(tp->ooo, tp->ooo + 1, (tp->nooo - 1) * sizeof(tp->ooo[0]));
		tp->nooo--;
	}
	return n;
}

/* RFC 2018 §4: the first block reports the most recently received
 * segment; the rest follow. */
void tcp_sack_blocks(const struct tcp_pcb *tp, struct tcp_opts *o)
{
	unsigned first = 0;

	o->nsack = 0;
	if (!tp->sack_ok || tp->nooo == 0)
		return;
	for (unsigned i = 0; i < tp->nooo; i++)
		if (SEQ_LEQ(tp->ooo[i].start, tp->last_ooo_start) &&
		    SEQ_LT(tp->last_ooo_start, tp->ooo[i].end))
			first = i;
	o->sack[o->nsack].start = tp->ooo[first].start;
	o->sack[o->nsack++].end = tp->ooo[first].end;
	for (unsigned i = 0; i < tp->nooo && o->nsack < TCP_MAX_SACK; i++) {
		if (i == first)
			continue;
		o->sack[o->nsack].start = tp->ooo[i].start;
		o->sack[o->nsack++].end = tp->ooo[i].end;
	}
}
