/* netsim.h - deterministic two-stack network simulation for tests: two
 * stack instances joined by a simulated link with a virtual clock, seeded
 * faults (loss, duplication, reordering, corruption), a frame tap, and
 * injection of hand-crafted frames. */
#ifndef USTACK_NETSIM_H
#define USTACK_NETSIM_H

#include <stdbool.h>
#include <stdint.h>

#include "ustack.h"

#define SIM_A 0
#define SIM_B 1
#define SIM_ADDR_A 0x0a000001u /* 10.0.0.1 */
#define SIM_ADDR_B 0x0a000002u /* 10.0.0.2 */

struct sim_frame {
	struct sim_frame *next;
	uint64_t at;
	int to;
	size_t len;
	uint8_t data[];
};

/* Called for every frame a stack sends; return false to drop it. */
typedef bool (*sim_tap_fn)(void *ctx, int from, uint8_t *frame, size_t len);

struct netsim;
struct sim_port {
	struct netsim *n;
	int id;
};

struct netsim {
	struct us_stack *st[2];
	uint8_t mac[2][6];
	enum us_link_mode mode;
	uint64_t now;
	uint64_t latency;      /* one-way, microseconds */
	unsigned loss_pct, dup_pct, reorder_pct, corrupt_pct;
	uint64_t rng;
	struct sim_frame *q;   /* in flight, sorted by arrival time */
	sim_tap_fn tap;
	void *tap_ctx;
	uint64_t sent[2], delivered[2], lost, duplicated, corrupted;
	struct sim_port port[2];
};

void sim_init(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed);
/* The same, with TCP tunables for both stacks (0 = the stack's default). */
void sim_init_tcp(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed,
		  uint64_t tcp_time_wait, uint64_t tcp_mem_max);
void sim_free(struct netsim *n);
/* Advance virtual time to `until`, delivering frames and running timers. */
void sim_run_until(struct netsim *n, uint64_t until);
void sim_run(struct netsim *n, uint64_t duration);
/* Deliver a crafted frame to stack `to` now (not through the tap). */
void sim_inject(struct netsim *n, int to, const uint8_t *frame, size_t len);
uint64_t sim_ctr(const struct netsim *n, int who, enum us_ctr c);
uint64_t sim_rand(struct netsim *n);

#endif
