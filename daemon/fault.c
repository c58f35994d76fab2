/* fault.c - owns the link fault injector: parsing of --fault SPEC, its own
 * seeded PRNG (xoshiro256** seeded through splitmix64, so a given seed
 * gives the same decisions for the same frame sequence), and the per-
 * direction drop / duplicate / reorder / corrupt decisions with a one-frame
 * hold slot per direction and a counter per action and direction, and the
 * delay queue of frames the stack sends. */
#include "fault.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "ustack.h"

/* Largest frame the injector copies (the loop's receive buffer; the stack
 * never emits more than MTU + Ethernet header).  Bigger frames are passed
 * through untouched rather than corrupted or held. */
#define FAULT_FRAME_MAX 65600u
#define FAULT_HEADROOM 16u /* as US_OUT_HEADROOM, kept before every copy */

struct fault *fault_injector;

struct fault_hold {
	bool held, dup;          /* a frame waits; deliver it twice */
	size_t len;
	fault_deliver_fn fn;
	void *ctx;
	uint8_t *buf;            /* FAULT_HEADROOM + FAULT_FRAME_MAX */
	uint8_t *scratch;        /* the corrupted copy of the current frame */
};

/* A frame the stack sent, held for delay_ms (FIFO: equal delays keep the
 * order). */
struct fault_delayed {
	struct fault_delayed *next;
	uint64_t due;
	size_t len;
	fault_deliver_fn fn;
	void *ctx;
	uint8_t data[]; /* FAULT_HEADROOM + len */
};
#define FAULT_DELAY_BYTES (64u << 20)

struct fault {
	uint64_t rng[4];                    /* xoshiro256** state */
	uint64_t thr[FAULT_KINDS];          /* P * 2^53, compared with 53 random bits */
	/* Per direction: delivering a received frame makes the stack send,
	 * so the two directions must never share a buffer. */
	struct fault_hold hold[FAULT_DIRS];
	uint64_t ctr[FAULT_DIRS][FAULT_KINDS];
	uint64_t delay_us;
	struct fault_delayed *dq, **dq_tail;
	size_t dq_bytes;
	uint64_t dq_overflow;
};

static const char *const fault_names[FAULT_KINDS] = { "drop", "dup", "reorder", "corrupt" };

const char *fault_kind_name(enum fault_kind k)
{
	return (unsigned)k < FAULT_KINDS ? fault_names[k] : "?";
}

/* ---- Parsing ------------------------------------------------------------ */

/* A plain decimal: digits with at most one '.', at least one digit; no sign,
 * exponent, blanks, hex, inf or nan (all of which strtod would take). */
static bool fault_is_decimal(const char *s)
{
	bool digit = false, dot = false;

	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			digit = true;
		else if (*s == '.' && !dot)
			dot = true;
		else
			return false;
	}
	return digit;
}

int fault_parse(const char *spec, struct fault_cfg *cfg, char *err, size_t errlen)
{
	static const char known[] = "drop, dup, reorder, corrupt, delay, seed";
	char buf[256];
	bool seen[FAULT_KINDS + 2] = { false };
	char *p, *next;

	memset(cfg, 0, sizeof *cfg);
	if (spec[0] == '\0') {
		snprintf(err, errlen, "--fault: empty specification (e.g. drop=1,dup=0.5,seed=42)");
		return -EINVAL;
	}
	if (strlen(spec) >= sizeof buf) {
		snprintf(err, errlen, "--fault: specification too long");
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (p = buf; p; p = next) {
		char *eq, *val;
		int k;

		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		if (*p == '\0') {
			snprintf(err, errlen, "--fault '%s': empty item (KEY=VALUE,...)", spec);
			return -EINVAL;
		}
		eq = strchr(p, '=');
		if (!eq) {
			snprintf(err, errlen, "--fault '%s': '%s' is not KEY=VALUE", spec, p);
			return -EINVAL;
		}
		*eq = '\0';
		val = eq + 1;
		if (strcmp(p, "seed") == 0) {
			k = FAULT_KINDS;
		} else if (strcmp(p, "delay") == 0) {
			k = FAULT_KINDS + 1;
		} else {
			for (k = 0; k < FAULT_KINDS; k++)
				if (strcmp(p, fault_names[k]) == 0)
					break;
			if (k == FAULT_KINDS) {
				snprintf(err, errlen, "--fault: unknown key '%s' (known: %s)", p, known);
				return -EINVAL;
			}
		}
		if (seen[k]) {
			snprintf(err, errlen, "--fault: '%s' given twice", p);
			return -EINVAL;
		}
		seen[k] = true;
		if (*val == '\0') {
			snprintf(err, errlen, "--fault: %s has an empty value", p);
			return -EINVAL;
		}
		if (k == FAULT_KINDS + 1) {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(val, &end, 10);
			if (*val < '0' || *val > '9' || *end != '\0' || errno == ERANGE || v > 10000) {
				snprintf(err, errlen,
					 "--fault: delay '%s' is not a number of milliseconds in 0..10000",
					 val);
				return -EINVAL;
			}
			cfg->delay_ms = (uint32_t)v;
		} else if (k == FAULT_KINDS) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(val, &end, 10);
			if (*val < '0' || *val > '9' || *end != '\0' || errno == ERANGE) {
				snprintf(err, errlen,
					 "--fault: seed '%s' is not a number in 0..18446744073709551615",
					 val);
				return -EINVAL;
			}
			cfg->seed = v;
			cfg->seeded = true;
		} else {
			double v;

			if (!fault_is_decimal(val)) {
				snprintf(err, errlen, "--fault: %s '%s' is not a number (a percentage such as 1.5)",
					 p, val);
				return -EINVAL;
			}
			v = strtod(val, NULL);
			if (!(v >= 0.0 && v <= 100.0)) {
				snprintf(err, errlen, "--fault: %s %s is out of range 0..100 (percent)", p,
					 val);
				return -EINVAL;
			}
			cfg->pct[k] = v;
		}
	}
	cfg->on = true;
	return 0;
}

/* ---- PRNG ------------------------------------------------------------------ */

static uint64_t fault_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static inline uint64_t fault_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna). */
static uint64_t fault_rand(struct fault *f)
{
	uint64_t *s = f->rng;
	uint64_t r = fault_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = fault_rotl(s[3], 45);
	return r;
}

/* True with the configured probability of kind k (a kind at 0% draws
 * nothing).  A given spec and seed is what is reproducible. */
static bool fault_roll(struct fault *f, enum fault_kind k)
{
	if (f->thr[k] == 0)
		return false;
	return (fault_rand(f) >> 11) < f->thr[k];
}

/* ---- Injection ------------------------------------------------------------- */

struct fault *fault_new(const struct fault_cfg *cfg)
{
	struct fault *f = calloc(1, sizeof *f);
	uint64_t seed = cfg->seed, x;

	if (!f)
		return NULL;
	for (int d = 0; d < FAULT_DIRS; d++) {
		f->hold[d].buf = malloc(FAULT_HEADROOM + FAULT_FRAME_MAX);
		f->hold[d].scratch = malloc(FAULT_HEADROOM + FAULT_FRAME_MAX);
		if (!f->hold[d].buf || !f->hold[d].scratch) {
			fault_free(f);
			return NULL;
		}
	}
	if (!cfg->seeded)
		arc4random_buf(&seed, sizeof seed);
	x = seed;
	for (int i = 0; i < 4; i++)
		f->rng[i] = fault_splitmix(&x);
	for (int k = 0; k < FAULT_KINDS; k++)
		f->thr[k] = (uint64_t)(cfg->pct[k] / 100.0 * 9007199254740992.0 + 0.5); /* 2^53 */
	f->delay_us = (uint64_t)cfg->delay_ms * 1000u;
	f->dq_tail = &f->dq;
	log_info("fault injector on: drop=%g%% dup=%g%% reorder=%g%% corrupt=%g%% seed=%" PRIu64
		 "%s (both directions), delay=%u ms (frames sent)",
		 cfg->pct[FAULT_DROP], cfg->pct[FAULT_DUP], cfg->pct[FAULT_REORDER],
		 cfg->pct[FAULT_CORRUPT], seed, cfg->seeded ? "" : " (random)", cfg->delay_ms);
	return f;
}

void fault_free(struct fault *f)
{
	if (!f)
		return;
	for (int d = 0; d < FAULT_DIRS; d++) {
		free(f->hold[d].buf);
		free(f->hold[d].scratch);
	}
	while (f->dq) {
		struct fault_delayed *q = f->dq;

		f->dq = q->next;
		free(q);
	}
	free(f);
}

/* Queue a copy of a frame the stack sent until it is due; a full queue
 * (or no memory) loses it, as a full router queue would. */
static void fault_delay(struct fault *f, fault_deliver_fn fn, void *ctx, const uint8_t *frame,
			size_t len)
{
	struct fault_delayed *q = NULL;

	if (f->dq_bytes + len <= FAULT_DELAY_BYTES)
		q = malloc(sizeof *q + FAULT_HEADROOM + len);
	if (!q) {
		f->dq_overflow++;
		f->ctr[FAULT_TX][FAULT_DROP]++;
		return;
	}
	q->next = NULL;
	q->due = clock_now_us() + f->delay_us;
	q->len = len;
	q->fn = fn;
	q->ctx = ctx;
	memcpy(q->data + FAULT_HEADROOM, frame, len);
	*f->dq_tail = q;
	f->dq_tail = &q->next;
	f->dq_bytes += len;
}

static int fault_deliver(struct fault *f, enum fault_dir d, fault_deliver_fn fn, void *ctx,
			 uint8_t *frame, size_t len, bool dup)
{
	int r = 0;

	if (d == FAULT_TX && f->delay_us) {
		fault_delay(f, fn, ctx, frame, len);
		if (dup)
			fault_delay(f, fn, ctx, frame, len);
		return 0;
	}
	r = fn(ctx, frame, len);
	if (dup)
		fn(ctx, frame, len);
	return r;
}

uint64_t fault_next_due(const struct fault *f)
{
	return f && f->dq ? f->dq->due : US_TIME_NEVER;
}

void fault_tick(struct fault *f, uint64_t now)
{
	while (f && f->dq && f->dq->due <= now) {
		struct fault_delayed *q = f->dq;

		f->dq = q->next;
		if (!f->dq)
			f->dq_tail = &f->dq;
		f->dq_bytes -= q->len;
		q->fn(q->ctx, q->data + FAULT_HEADROOM, q->len);
		free(q);
	}
}

uint64_t fault_delay_overflow(const struct fault *f)
{
	return f ? f->dq_overflow : 0;
}

void fault_flush(struct fault *f, enum fault_dir d)
{
	struct fault_hold *h = &f->hold[d];

	if (!h->held)
		return;
	/* Unheld first: delivering may (in the other direction) come back
	 * here, and must find the slot free. */
	h->held = false;
	fault_deliver(f, d, h->fn, h->ctx, h->buf + FAULT_HEADROOM, h->len, h->dup);
}

int fault_pass(struct fault *f, enum fault_dir d, uint8_t *frame, size_t len,
	       fault_deliver_fn fn, void *ctx)
{
	struct fault_hold *h = &f->hold[d];
	bool dup;
	int r;

	/* Every roll is drawn in a fixed order, so that a given seed makes
	 * the same decisions for the same sequence of frames. */
	if (fault_roll(f, FAULT_DROP)) {
		f->ctr[d][FAULT_DROP]++;
		return 0; /* lost on the wire; a held frame stays for the next */
	}
	if (fault_roll(f, FAULT_CORRUPT) && len > 0 && len <= FAULT_FRAME_MAX) {
		uint64_t x = fault_rand(f);
		size_t off = (size_t)(((x >> 32) * (uint64_t)len) >> 32);

		memcpy(h->scratch + FAULT_HEADROOM, frame, len);
		frame = h->scratch + FAULT_HEADROOM;
		frame[off] ^= (uint8_t)(1u << (x & 7));
		f->ctr[d][FAULT_CORRUPT]++;
	}
	dup = fault_roll(f, FAULT_DUP);
	if (dup)
		f->ctr[d][FAULT_DUP]++;
	if (fault_roll(f, FAULT_REORDER) && !h->held && len <= FAULT_FRAME_MAX) {
		memcpy(h->buf + FAULT_HEADROOM, frame, len);
		h->len = len;
		h->dup = dup;
		h->fn = fn;
		h->ctx = ctx;
		h->held = true;
		f->ctr[d][FAULT_REORDER]++;
		return 0;
	}
	r = fault_deliver(f, d, fn, ctx, frame, len, dup);
	fault_flush(f, d); /* the held frame comes after this one */
	return r;
}

uint64_t fault_count(const struct fault *f, enum fault_dir d, enum fault_kind k)
{
	return f ? f->ctr[d][k] : 0;
}
