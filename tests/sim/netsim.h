/* netsim.h - deterministic two-stack network simulation for tests: two
 * stack instances joined by a simulated link with a virtual clock, seeded
 * faults (loss, duplication, reordering, corruption), a frame tap, and
 * injection of hand-crafted frames.
 *
 * Offload mode (sim_init_offload) stands in for the TAP device and the
 * kernel behind it: a stack given US_OFFLOAD_* sends through output_meta,
 * and netsim checks every virtio-net-style request strictly (anything
 * wrong is counted in off.bad_meta and the frame dropped), completes
 * partial checksums and cuts TSO frames as Linux's tcp_gso_segment does;
 * the cut segments then enter the link like any frame.  On the receive
 * side (rx_offload) it verifies checksums as a device would, hands good
 * TCP frames up with US_RXM_CSUM_OK and only a partial checksum in the
 * field, and coalesces in-order segments as Linux's tcp_gro_receive. */
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

/* Called with every frame a stack hands to output_meta, after netsim's
 * checks and before it is cut (offload mode). */
typedef void (*sim_meta_tap_fn)(void *ctx, int from, const uint8_t *frame, size_t len,
				const struct us_tx_meta *m);

/* rx_offload bits: what the receiving "device" does for a stack. */
#define SIM_RX_CSUM 0x1u /* verify TCP checksums; good ones go up with
			  * US_RXM_CSUM_OK and a partial (pseudo-header
			  * only) checksum, bad ones without the flag */
#define SIM_RX_GRO 0x2u  /* and coalesce in-order segments (implies CSUM) */

/* What the offload emulation saw. */
struct sim_offload_stats {
	uint64_t bad_meta;      /* requests a real device would get wrong */
	char bad_why[160];      /* the first of them */
	uint64_t tso_frames;    /* TSO frames cut */
	uint64_t tso_segs;      /* segments cut from them */
	uint64_t csum_frames;   /* checksum-only frames completed */
	uint64_t plain_tcp;     /* complete TCP frames checked (offload mode) */
	uint64_t over_mtu;      /* frames on the link longer than the MTU */
	uint32_t max_ip_len[2]; /* longest IP packet on the link, per sender */
	uint32_t max_tso_len;   /* longest TSO frame (IP length) */
	uint64_t ptb_sent;      /* ICMP fragmentation-needed from the path */
	uint64_t ptb_limited;   /* ... not sent: rate limit */
	uint64_t path_drops;    /* frames the path MTU dropped */
	uint64_t rx_csum_ok;    /* frames handed up with US_RXM_CSUM_OK */
	uint64_t rx_csum_bad;   /* TCP frames whose checksum the device refused */
	uint64_t gro_frames;    /* coalesced frames handed up */
	uint64_t gro_segs;      /* segments in them */
	uint32_t gro_max_len;   /* longest coalesced frame (IP length) */
};

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
	struct sim_frame *q_tail; /* a hint: the last frame sim_enqueue added */
	sim_tap_fn tap;
	void *tap_ctx;
	uint64_t sent[2], delivered[2], lost, duplicated, corrupted;
	struct sim_port port[2];
	/* offload mode */
	uint16_t mtu;            /* the stacks' link MTU */
	unsigned offload[2];     /* us_config.offload of each stack */
	unsigned rx_offload[2];  /* SIM_RX_*, may be changed at any time */
	uint16_t path_mtu;       /* 0 = off; else a router on the path drops
				  * longer packets and answers DF ones with
				  * ICMP fragmentation-needed (RFC 1191) */
	uint64_t ptb_tokens, ptb_last; /* the ICMP rate limit (microseconds) */
	sim_meta_tap_fn meta_tap;
	void *meta_tap_ctx;
	struct sim_offload_stats off;
};

void sim_init(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed);
/* The same, with TCP tunables for both stacks (0 = the stack's default). */
void sim_init_tcp(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed,
		  uint64_t tcp_time_wait, uint64_t tcp_mem_max);
/* The same with us_config.tcp_rcvbuf_max for both stacks (receive
 * auto-tuning's ceiling, as ustackd sets it). */
void sim_init_rcvbuf(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed,
		     uint32_t rcvbuf_max);
/* The same with offloads: stack A gets us_config.offload = offload_a and
 * netsim's output_meta, B offload_b (0 = none). */
void sim_init_offload(struct netsim *n, enum us_link_mode mode, uint16_t mtu, uint64_t seed,
		      unsigned offload_a, unsigned offload_b);
void sim_free(struct netsim *n);
/* Advance virtual time to `until`, delivering frames and running timers. */
void sim_run_until(struct netsim *n, uint64_t until);
void sim_run(struct netsim *n, uint64_t duration);
/* Deliver a crafted frame to stack `to` now (not through the tap). */
void sim_inject(struct netsim *n, int to, const uint8_t *frame, size_t len);
/* The same through us_input_meta with US_RXM_* flags. */
void sim_inject_meta(struct netsim *n, int to, const uint8_t *frame, size_t len, unsigned flags);
/* Hand a frame to stack `from`'s emulated device as the stack would
 * (m == NULL: through output, else output_meta); for tests of the
 * emulation itself. */
int sim_device_tx(struct netsim *n, int from, uint8_t *frame, size_t len,
		  const struct us_tx_meta *m);
uint64_t sim_ctr(const struct netsim *n, int who, enum us_ctr c);
uint64_t sim_rand(struct netsim *n);

#endif
