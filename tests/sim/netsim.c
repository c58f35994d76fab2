/* netsim.c - see netsim.h.  Time only moves in sim_run_until(); every
 * random choice comes from the seeded generator, so a run replays
 * exactly. */
#include <stdlib.h>
#include <string.h>

#include "netsim.h"

uint64_t sim_rand(struct netsim *n)
{
	uint64_t z = (n->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void sim_enqueue(struct netsim *n, int to, const uint8_t *f, size_t len, uint64_t at)
{
	struct sim_frame *fr = malloc(sizeof(*fr) + len), **pp;

	if (!fr)
		abort();
	fr->at = at;
	fr->to = to;
	fr->len = len;
	memcpy(fr->data, f, len);
	for (pp = &n->q; *pp && (*pp)->at <= at; pp = &(*pp)->next)
		;
	fr->next = *pp;
	*pp = fr;
}

static int sim_output(void *ctx, uint8_t *frame, size_t len)
{
	struct sim_port *port = ctx;
	struct netsim *n = port->n;
	int from = port->id;
	uint64_t at = n->now + n->latency;

	n->sent[from]++;
	if (n->tap && !n->tap(n->tap_ctx, from, frame, len))
		return 0;
	if (n->loss_pct && sim_rand(n) % 100 < n->loss_pct) {
		n->lost++;
		return 0;
	}
	if (n->reorder_pct && sim_rand(n) % 100 < n->reorder_pct)
		at += n->latency + sim_rand(n) % (2 * n->latency + 1);
	if (n->corrupt_pct && sim_rand(n) % 100 < n->corrupt_pct && len > 0) {
		uint8_t tmp[70000];
		size_t i = sim_rand(n) % len;

		memcpy(tmp, frame, len);
		tmp[i] ^= (uint8_t)(1u << (sim_rand(n) % 8));
		n->corrupted++;
		sim_enqueue(n, !from, tmp, len, at);
		return 0;
	}
	sim_enqueue(n, !from, frame, len, at);
	if (n->dup_pct && sim_rand(n) % 100 < n->dup_pct) {
		n->duplicated++;
		sim_enqueue(n, !from, frame, len, at + 1);
	}
	return 0;
}

void sim_init(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed)
{
	sim_init_tcp(n, mode, mtu, seed, 0, 0);
}

void sim_init_tcp(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed,
		  uint64_t tcp_time_wait, uint64_t tcp_mem_max)
{
	struct us_config c;

	memset(n, 0, sizeof(*n));
	n->mode = mode;
	n->rng = seed;
	n->latency = 100;
	n->now = 1000000;
	for (int i = 0; i < 2; i++) {
		n->port[i].n = n;
		n->port[i].id = i;
		memset(&c, 0, sizeof(c));
		c.mode = mode;
		uint8_t mac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(i + 1)};
		memcpy(n->mac[i], mac, 6);
		memcpy(c.mac, mac, 6);
		c.addr = i == SIM_A ? SIM_ADDR_A : SIM_ADDR_B;
		c.prefix = 24;
		c.mtu = mtu;
		c.seed[0] = seed + (uint64_t)i;
		c.seed[1] = ~seed;
		c.tcp_time_wait = tcp_time_wait;
		c.tcp_mem_max = tcp_mem_max;
		c.output = sim_output;
		c.output_ctx = &n->port[i];
		n->st[i] = us_stack_new(&c, n->now, NULL);
		if (!n->st[i])
			abort();
	}
}

void sim_free(struct netsim *n)
{
	struct sim_frame *f;

	while ((f = n->q) != NULL) {
		n->q = f->next;
		free(f);
	}
	us_stack_free(n->st[0]);
	us_stack_free(n->st[1]);
}

void sim_run_until(struct netsim *n, uint64_t until)
{
	for (;;) {
		uint64_t next = until;
		uint64_t d0 = us_next_deadline(n->st[0]), d1 = us_next_deadline(n->st[1]);

		if (n->q && n->q->at < next)
			next = n->q->at;
		if (d0 < next)
			next = d0;
		if (d1 < next)
			next = d1;
		if (next > n->now)
			n->now = next;
		while (n->q && n->q->at <= n->now) {
			struct sim_frame *f = n->q;

			n->q = f->next;
			n->delivered[f->to]++;
			us_input(n->st[f->to], f->data, f->len, n->now);
			free(f);
		}
		us_poll(n->st[0], n->now);
		us_poll(n->st[1], n->now);
		if (n->now >= until && !(n->q && n->q->at <= n->now))
			break;
	}
}

void sim_run(struct netsim *n, uint64_t duration)
{
	sim_run_until(n, n->now + duration);
}

void sim_inject(struct netsim *n, int to, const uint8_t *frame, size_t len)
{
	us_input(n->st[to], frame, len, n->now);
}

uint64_t sim_ctr(const struct netsim *n, int who, enum us_ctr c)
{
	return us_counters(n->st[who])[c];
}
