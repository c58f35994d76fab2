/* tcp_impl.h - TCP's control block and the calls between its files:
 * tcp_input.c (segment arrival, RFC 9293 §3.10.7), tcp_output.c (what to
 * send and when), tcp_timer.c (per-connection deadlines), tcp_cc.c
 * (NewReno and CUBIC), tcp_sack.c (scoreboard), tcp_sock.c (user calls),
 * tcp_subr.c (ISNs, cookies, lookup, teardown). */
#ifndef USTACK_TCP_IMPL_H
#define USTACK_TCP_IMPL_H

#include "ring.h"
#include "stack_impl.h"
#include "wire_tcp.h"

/* RFC 9293 §3.4 sequence arithmetic, modulo 2^32. */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)
#define SEQ_MAX(a, b) (SEQ_GT(a, b) ? (a) : (b))
#define SEQ_MIN(a, b) (SEQ_LT(a, b) ? (a) : (b))

/* Per-connection timers (OpenBSD's t_timer[] idea): each has a deadline
 * and the connection sits once in the stack's timer tree at the earliest. */
enum tcp_timer_id {
	TCPT_REXMT,   /* retransmission (RTO) or persist */
	TCPT_DELACK,  /* delayed ACK */
	TCPT_KEEP,    /* keepalive, and connection-establishment give-up */
	TCPT_2MSL,    /* TIME_WAIT, and FIN_WAIT_2 after close */
	TCPT_TLP,     /* tail loss probe (RFC 8985 §7) */
	TCPT_DEFER,   /* TCP_DEFER_ACCEPT: hand over a child without data */
	TCPT_N
};

#define TCP_DEFAULT_MSS 536           /* RFC 9293 §3.7.1 when no MSS option */
#define TCP_MIN_MSS 88                /* floor after PMTU reductions */
#define TCP_RTO_INIT (1 * US_SEC)     /* RFC 6298 §2.1 */
#define TCP_RTO_MIN (200 * US_MSEC)   /* Linux's; RFC 6298 §2.4 allows lower than 1 s */
#define TCP_RTO_MAX (120 * US_SEC)    /* RFC 6298 §2.5 allows a maximum >= 60 s */
#define TCP_DELACK_TIME (40 * US_MSEC) /* RFC 1122 §4.2.3.2 / RFC 5681: < 500 ms */
#define TCP_SYN_RETRIES 6             /* Linux tcp_syn_retries: ~127 s */
#define TCP_SYNACK_RETRIES 5
#define TCP_DATA_RETRIES 15           /* Linux tcp_retries2 */
#define TCP_FIN_TIMEOUT (60 * US_SEC) /* orphaned FIN_WAIT_2 */
#define TCP_KEEPIDLE_DEF 7200
#define TCP_KEEPINTVL_DEF 75
#define TCP_KEEPCNT_DEF 9
#define TCP_PERSIST_MIN (200 * US_MSEC)
#define TCP_PERSIST_MAX (60 * US_SEC)
#define TCP_BUF_DEFAULT (256u * 1024)
#define TCP_BUF_MIN 4096u
#define TCP_BUF_MAX (16u * 1024 * 1024)
#define TCP_SNDBUF_AUTO (4u * 1024 * 1024) /* default us_config.tcp_sndbuf_max */
#define TCP_QUICKACKS 16              /* ACK every segment at start */
#define TCP_MAX_OOO 16                /* out-of-order ranges kept */
#define TCP_MAX_SACKED 32             /* scoreboard ranges */
#define TCP_DUPTHRESH 3               /* RFC 5681 §3.2, RFC 6675 DupThresh */
#define TCP_CHALLENGE_PER_SEC 1000    /* RFC 5961 §7 rate limit */
#define TCP_TLP_MIN (10 * US_MSEC)    /* RFC 8985 §7.2, as Linux */
#define TCP_WCDELACK (200 * US_MSEC)  /* RFC 8985 WCDelAckT */
#define TCP_NVP (300 * US_SEC)        /* RFC 7661 NonValidatedPeriod */

struct tcp_range {
	uint32_t start, end;
};

struct tcp_pcb;
struct tcp_cc_ops {
	const char *name;
	void (*init)(struct tcp_pcb *tp);
	/* `acked` new bytes acknowledged outside recovery. */
	void (*on_ack)(struct tcp_pcb *tp, uint32_t acked);
	/* Loss detected (fast retransmit): return the new ssthresh. */
	uint32_t (*ssthresh)(struct tcp_pcb *tp);
	void (*on_rto)(struct tcp_pcb *tp);
};
extern const struct tcp_cc_ops tcp_cc_newreno, tcp_cc_cubic;

struct tcp_pcb {
	struct us_stack *s;
	struct us_sock *so;            /* NULL once the owner closed it */
	struct tcp_pcb *listener;      /* a child not yet accepted */
	RB_ENTRY(tcp_pcb) node;        /* connection tree (4-tuple) */
	TAILQ_ENTRY(tcp_pcb) qlink;    /* listener's accept queue */
	TAILQ_ENTRY(tcp_pcb) outlink;  /* stack's deferred-output queue */
	bool in_outq;
	TAILQ_HEAD(, tcp_pcb) acceptq; /* listener: established children */
	TAILQ_HEAD(, tcp_pcb) synq;    /* listener: children in SYN-RECEIVED */
	unsigned acceptq_len, synq_len, backlog;
	bool in_tree, in_acceptq;

	enum us_tcp_state state;
	uint32_t laddr, raddr;
	uint16_t lport, rport;

	/* send sequence space (RFC 9293 §3.3.1) */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
	uint32_t snd_buf_seq;           /* sequence number of the send ring's tail */
	uint32_t max_sndwnd;
	uint32_t short_end;             /* end of the last short segment (Nagle) */
	/* receive sequence space */
	uint32_t irs, rcv_nxt, rcv_adv; /* rcv_adv: right edge advertised */
	uint32_t last_ack_sent;

	/* options */
	bool ws_ok, ts_ok, sack_ok;
	uint8_t snd_wscale, rcv_wscale;
	uint16_t mss;                   /* effective send MSS (payload bytes) */
	uint16_t peer_mss;              /* as the peer announced it */
	uint16_t user_mss;              /* TCP_MAXSEG, 0 = none */
	uint16_t pmtu_mss;              /* from ICMP frag-needed, 0 = none */
	uint32_t ts_recent, ts_offset;
	uint64_t ts_recent_age;

	/* RTT (RFC 6298), microseconds */
	uint32_t srtt, rttvar, rto;
	bool rtt_valid, rtt_timing;
	uint32_t rtt_seq;
	uint64_t rtt_start;
	unsigned backoff;

	/* congestion control */
	const struct tcp_cc_ops *cc;
	enum us_cc cc_id;
	uint32_t cwnd, ssthresh;
	uint32_t dupacks;
	uint32_t limited_tx;            /* RFC 3042: segments allowed past cwnd */
	bool in_recovery;
	uint32_t recover;               /* RFC 6582 "recover" */
	uint32_t high_rxt;              /* RFC 6675 HighRxt */
	uint32_t rxt_mark;              /* snd_max when snd_una's hole was resent */
	bool rxt_mark_valid, tlp_out;
	uint32_t prior_cwnd;
	uint64_t last_send;
	/* RFC 7661 congestion window validation */
	uint32_t pipeack, pipeack_prev, pipeack_acc;
	uint64_t pipeack_start, nvp_since;
	uint64_t cubic_epoch;
	double cubic_wmax, cubic_k, cubic_west, cubic_origin;
	uint32_t cubic_ack_cnt;

	/* SACK scoreboard: ranges above snd_una the peer has (RFC 6675) */
	struct tcp_range sacked[TCP_MAX_SACKED];
	unsigned nsacked;
	uint32_t sacked_bytes, high_sacked;

	/* receive side: out-of-order ranges held in the receive ring beyond
	 * rcv_nxt; the first is the most recent (RFC 2018 §4) */
	struct tcp_range ooo[TCP_MAX_OOO];
	unsigned nooo;
	uint32_t last_ooo_start;

	struct us_ring snd, rcv;
	uint64_t mem;                    /* ring bytes charged to the stack */

	/* flags */
	bool nodelay, cork, keepalive, ack_now, fin_pending, fin_rcvd, rst_rcvd;
	bool rcvbuf_fixed; /* SO_RCVBUF set (here or on the listener): no auto-tuning */
	bool sndbuf_fixed; /* SO_SNDBUF set (here or on the listener): no auto-tuning */
	bool rcv_grow;     /* the reader took half a ring in one RTT: grow when empty */
	uint32_t rcv_copied;             /* bytes consumed since rcv_mtime */
	uint64_t rcv_mtime;              /* start of this round of rcv_copied */
	bool closing_orphan, shut_rd, shut_wr, synack_needed, zero_window_probe;
	unsigned quickacks;
	unsigned delack_segs;            /* full segments received since the last ACK */
	int linger;                      /* seconds, -1 off */
	uint32_t keepidle, keepintvl, keepcnt, keep_probes;
	uint32_t user_timeout;           /* ms */
	uint32_t defer_accept;           /* listener: TCP_DEFER_ACCEPT seconds */
	bool deferred, defer_done;       /* child held back for it / not again */
	uint64_t first_rto_at;           /* first unanswered retransmission */
	uint8_t ttl, tos;
	int soft_error;
	int err;                         /* reported through the socket */

	/* timers */
	uint64_t tmr[TCPT_N];
	struct us_timer timer;
	uint64_t last_rx;

	/* statistics (TCP_INFO) */
	uint64_t retrans_segs, fast_retrans, timeouts;
	uint64_t bytes_acked, bytes_received, segs_in, segs_out;
};
RB_HEAD(tcp_tree, tcp_pcb);
RB_HEAD(tcp_listen_tree, tcp_pcb);

/* tcp_subr.c */
struct tcp_pcb *tcp_pcb_new(struct us_stack *s);
int tcp_pcb_bufs(struct tcp_pcb *tp, size_t rcv, size_t snd);
/* Re-charge the connection's ring memory to the stack's total. */
void tcp_mem_update(struct tcp_pcb *tp);
/* Point an orphan's receive ring at scratch memory (tcp_subr.c). */
void tcp_rcv_orphan(struct tcp_pcb *tp);
/* RFC 7323 §2.3: the shift our window needs, for the ring or for what
 * receive auto-tuning may grow it to. */
uint8_t tcp_rcv_wscale(const struct tcp_pcb *tp);
struct tcp_pcb *tcp_lookup(struct us_stack *s, uint32_t laddr, uint16_t lport,
			   uint32_t raddr, uint16_t rport);
struct tcp_pcb *tcp_lookup_listener(struct us_stack *s, uint16_t lport);
int tcp_insert(struct tcp_pcb *tp);
void tcp_state(struct tcp_pcb *tp, enum us_tcp_state st);
/* A listener's child: into the SYN queue; then on to the accept queue. */
void tcp_child_link(struct tcp_pcb *l, struct tcp_pcb *tp);
void tcp_child_established(struct tcp_pcb *tp);
/* Connection over: report err (0 = none) to the socket, free if orphaned. */
void tcp_close_pcb(struct tcp_pcb *tp, int err);
void tcp_pcb_free(struct tcp_pcb *tp);
uint32_t tcp_new_isn(struct us_stack *s, uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp);
uint32_t tcp_new_ts_offset(struct us_stack *s, uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp);
uint32_t tcp_cookie_make(struct us_stack *s, const struct ip4_hdr *ih, const struct tcp_hdr *th,
			 uint16_t *mss);
bool tcp_cookie_check(struct us_stack *s, const struct ip4_hdr *ih, const struct tcp_hdr *th,
		      uint16_t *mss);
uint16_t tcp_ephemeral_port(struct us_stack *s, uint32_t raddr, uint16_t rport);
bool tcp_port_in_use(struct us_stack *s, uint16_t port);
void tcp_set_mss(struct tcp_pcb *tp);
bool tcp_challenge_ok(struct us_stack *s);
void tcp_wakeup(struct tcp_pcb *tp);
unsigned tcp_events(const struct tcp_pcb *tp);
void tcp_free_all(struct us_stack *s);
uint32_t tcp_ts_now(const struct tcp_pcb *tp);

/* tcp_output.c */
void tcp_output(struct tcp_pcb *tp);
/* tcp_output() now, or at the end of the current input batch. */
void tcp_output_soon(struct tcp_pcb *tp);
void tcp_send_ack(struct tcp_pcb *tp);
void tcp_send_rst(struct tcp_pcb *tp);
void tcp_send_syn(struct tcp_pcb *tp);
/* A reset in answer to a segment that has no connection (RFC 9293
 * §3.10.7.1). */
void tcp_rst_for(struct us_stack *s, const struct ip4_hdr *ih, const struct tcp_hdr *th,
		 size_t seglen);
void tcp_send_synack_cookie(struct us_stack *s, const struct ip4_hdr *ih,
			    const struct tcp_hdr *th, uint32_t isn, uint16_t mss);
uint32_t tcp_rcv_window(struct tcp_pcb *tp);
void tcp_retransmit_una(struct tcp_pcb *tp);
void tcp_retransmit_last(struct tcp_pcb *tp);

/* tcp_timer.c */
void tcp_timer_set(struct tcp_pcb *tp, enum tcp_timer_id id, uint64_t when);
void tcp_timer_clear(struct tcp_pcb *tp, enum tcp_timer_id id);
void tcp_timers_clear_all(struct tcp_pcb *tp);
void tcp_timer_fire(struct us_stack *s, struct us_timer *t);
void tcp_rtt_sample(struct tcp_pcb *tp, uint32_t rtt);
void tcp_arm_rexmt(struct tcp_pcb *tp);
void tcp_arm_keepalive(struct tcp_pcb *tp);
void tcp_arm_tlp(struct tcp_pcb *tp);
uint32_t tcp_rto_backed_off(const struct tcp_pcb *tp);

/* tcp_sack.c */
void tcp_sack_update(struct tcp_pcb *tp, const struct tcp_opts *o);
void tcp_sack_trim(struct tcp_pcb *tp);
void tcp_sack_clear(struct tcp_pcb *tp);
bool tcp_sack_is_sacked(const struct tcp_pcb *tp, uint32_t seq, uint32_t *end);
uint32_t tcp_pipe(const struct tcp_pcb *tp);
/* Receive side: record out-of-order data [start, end). */
bool tcp_ooo_add(struct tcp_pcb *tp, uint32_t start, uint32_t end);
/* After rcv_nxt advanced: how many held bytes became in-order. */
uint32_t tcp_ooo_advance(struct tcp_pcb *tp);
void tcp_sack_blocks(const struct tcp_pcb *tp, struct tcp_opts *o);

/* tcp_cc.c */
void tcp_cc_select(struct tcp_pcb *tp, enum us_cc id);
void tcp_cc_enter_recovery(struct tcp_pcb *tp);
/* RFC 7661: account acknowledged bytes; may end a non-validated phase. */
void tcp_cc_validate(struct tcp_pcb *tp, uint32_t acked);
/* May cwnd grow now?  (RFC 7661 §4.3: not in the non-validated phase.) */
bool tcp_cc_validated(const struct tcp_pcb *tp);
void tcp_cc_before_send(struct tcp_pcb *tp);
uint32_t tcp_initial_window(const struct tcp_pcb *tp);

/* tcp_sock.c */
void tcp_input_sock_ready(struct tcp_pcb *tp);

#endif
