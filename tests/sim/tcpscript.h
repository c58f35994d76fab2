/* tcpscript.h - helpers for the TCP simulation tests:
 *
 *  - frame inspection (is this frame a TCP segment, and which),
 *  - a reproducible data pattern that is generated and checked in chunks,
 *    so transfers of any size are verified byte for byte without storing
 *    them,
 *  - two-stack helpers: a connected pair, a transfer pump driven event by
 *    event on the virtual clock, and re-creating the two stacks of a
 *    netsim with a custom us_config (tcp_time_wait), which sim_init()
 *    cannot set,
 *  - a packetdrill-like script harness: the test plays the peer of ONE
 *    stack (the "DUT", stack B), injects crafted segments from A's
 *    address and sees every segment the DUT answers with, in order, with
 *    its virtual send time.  A's stack only answers ARP.
 */
#ifndef USTACK_TCPSCRIPT_H
#define USTACK_TCPSCRIPT_H

#include <stdbool.h>
#include <stdint.h>

#include "netsim.h"
#include "wire_tcp.h"

#define T_MS 1000ull
#define T_SEC 1000000ull

/* ---- frames ------------------------------------------------------------ */

/* If `frame` (in n's link mode) is a valid TCP segment, fill *th and the
 * payload pointer/length and return true. */
bool tcpt_parse_frame(const struct netsim *n, const uint8_t *frame, size_t len,
		      uint32_t *src, uint32_t *dst, struct tcp_hdr *th,
		      const uint8_t **payload, size_t *plen);
/* Sequence space a segment takes (payload + SYN + FIN). */
uint32_t tcpt_seg_len(const struct tcp_hdr *th, size_t plen);

/* ---- data pattern ------------------------------------------------------ */

/* Bytes [off, off + len) of the stream identified by `seed`. */
void pat_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len);
/* Offset of the first byte that differs from the pattern, or -1. */
int64_t pat_check(uint64_t seed, uint64_t off, const uint8_t *buf, size_t len);

/* ---- two stacks -------------------------------------------------------- */

/* Re-create both stacks of a fresh netsim (no traffic yet) with
 * tcp_time_wait set; frames go through n->tap and n->latency as usual
 * but without netsim's fault injection. */
void tcpt_recreate(struct netsim *n, uint64_t time_wait);

/* Listen on B:port, connect A to it, run until both ends are established.
 * Returns the listener (still open). */
struct us_sock *tcpt_pair(struct netsim *n, uint16_t port, struct us_sock **cli,
			  struct us_sock **srv);
/* Time of the next thing that will happen in the simulation. */
uint64_t tcpt_next_event(const struct netsim *n);

struct xfer {
	struct netsim *n;
	struct us_sock *tx, *rx;
	uint64_t seed, total;
	uint64_t sent, rcvd;
	bool zc_tx, zc_rx;       /* zero-copy API on that side */
	bool shut_when_done;     /* shutdown(WR) after the last byte */
	bool shut_done, eof;
	bool hold_rx;            /* do not read (zero-window tests) */
	int64_t bad_off;         /* first corrupt byte, -1 = none */
	int rx_err, tx_err;      /* a negative errno seen */
	uint64_t last_progress, max_gap;
	uint64_t start;
};
void xfer_init(struct xfer *x, struct netsim *n, struct us_sock *tx, struct us_sock *rx,
	       uint64_t total, uint64_t seed);
/* Fill the sender and drain the receiver as far as they go. */
void xfer_pump(struct xfer *x);
/* Run the simulation event by event, pumping after every instant, until
 * every byte arrived (and EOF, when shut_when_done) or virtual time
 * reaches `until`.  Returns true when complete. */
bool xfer_run(struct xfer *x, uint64_t until);
/* Several transfers at once. */
bool xfer_run_many(struct xfer **xs, int nx, uint64_t until);

/* ---- scripted peer ----------------------------------------------------- */

#define TS_MAXQ 4096
#define TS_DUT SIM_B
#define TS_PEER SIM_A

struct ts_seg {
	uint64_t at;          /* virtual time it was sent */
	struct tcp_hdr th;
	uint32_t len;         /* payload bytes */
	uint8_t data[1600];   /* first bytes of the payload */
};

struct tscript {
	struct netsim sim;
	struct ts_seg *q;
	unsigned qh, qt;
	uint64_t other;        /* frames from the DUT that were not TCP */
	uint16_t pport, dport; /* peer port, DUT port of the current flow */
	/* the peer's side of the connection under test */
	uint32_t snd_nxt;      /* next seq the peer sends */
	uint32_t rcv_nxt;      /* next seq expected from the DUT */
	uint32_t dut_iss;
	bool ts_on;            /* put a timestamp on every segment sent */
	uint32_t tsval, ts_recent;
	uint16_t win;          /* window the peer advertises (raw) */
};

/* B's stack is the DUT; ARP between the two is primed. */
void ts_init(struct tscript *t, uint64_t seed);
void ts_free(struct tscript *t);
void ts_run(struct tscript *t, uint64_t us);
/* Captured segments not yet taken. */
unsigned ts_pending(const struct tscript *t);
/* Next captured segment, NULL if none. */
struct ts_seg *ts_next(struct tscript *t);
/* Drop everything captured so far. */
void ts_flush(struct tscript *t);
/* Inject a segment from the peer.  o == NULL: a timestamp option when
 * ts_on (tsval = t->tsval, advanced by one each time), nothing else. */
void ts_send(struct tscript *t, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
	     const struct tcp_opts *o, const void *data, size_t len);
/* Same, from an arbitrary peer port. */
void ts_send_from(struct tscript *t, uint16_t pport, uint8_t flags, uint32_t seq, uint32_t ack,
		  uint16_t win, const struct tcp_opts *o, const void *data, size_t len);
/* In-flow segment with the peer's own snd_nxt/rcv_nxt, advancing snd_nxt
 * by the data (and SYN/FIN) it carries. */
void ts_send_data(struct tscript *t, uint8_t flags, const void *data, size_t len);
/* Default options of an established flow (timestamp when ts_on). */
struct tcp_opts ts_opts(struct tscript *t);

struct us_sock *ts_listen(struct tscript *t, uint16_t port, int backlog);
/* Passive open on the DUT: SYN with `syn` options and seq `iss` from
 * t->pport to t->dport, take the SYN/ACK (copied to *synack if not NULL),
 * ACK it, accept.  Sets ts_on when both sides used timestamps. */
struct us_sock *ts_accept_flow(struct tscript *t, struct us_sock *ls, const struct tcp_opts *syn,
			       uint32_t iss, struct ts_seg *synack);
/* Active open from the DUT to the peer's port: connect, take the SYN
 * (copied to *syn), answer SYN/ACK with `opts` and seq `iss`, take the
 * ACK.  Returns the connected socket. */
struct us_sock *ts_connect_flow(struct tscript *t, const struct tcp_opts *opts, uint32_t iss,
				struct ts_seg *syn);
/* Options a modern peer puts on a SYN: MSS, WS 7, SACK-permitted, TS. */
struct tcp_opts ts_full_syn_opts(uint16_t mss);

#endif
