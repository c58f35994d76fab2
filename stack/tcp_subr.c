/* tcp_subr.c - TCP's support routines: control block life cycle, the
 * connection and listener trees, ISNs (RFC 6528), SYN cookies (RFC 4987),
 * ephemeral ports (RFC 6056), MSS choice, readiness, challenge-ACK rate. */
#include <stdlib.h>

#include "tcp_impl.h"

const char *const us_tcp_state_names[] = {
	"CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
	"FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
};

static int tcp_conn_cmp(const struct tcp_pcb *a, const struct tcp_pcb *b)
{
	if (a->lport != b->lport)
		return a->lport < b->lport ? -1 : 1;
	if (a->rport != b->rport)
		return a->rport < b->rport ? -1 : 1;
	if (a->raddr != b->raddr)
		return a->raddr < b->raddr ? -1 : 1;
	if (a->laddr != b->laddr)
		return a->laddr < b->laddr ? -1 : 1;
	return 0;
}

static int tcp_listen_cmp(const struct tcp_pcb *a, const struct tcp_pcb *b)
{
	return a->lport < b->lport ? -1 : a->lport > b->lport;
}

/* Non-static: libbsd leaves __unused undefined, which RB_GENERATE_STATIC needs. */
RB_PROTOTYPE(tcp_tree, tcp_pcb, node, tcp_conn_cmp)
RB_GENERATE(tcp_tree, tcp_pcb, node, tcp_conn_cmp)
RB_PROTOTYPE(tcp_listen_tree, tcp_pcb, node, tcp_listen_cmp)
RB_GENERATE(tcp_listen_tree, tcp_pcb, node, tcp_listen_cmp)

int tcp_init(struct us_stack *s)
{
	s->tcp_conns = calloc(1, sizeof(*s->tcp_conns));
	s->tcp_listeners = calloc(1, sizeof(*s->tcp_listeners));
	s->tcp_port_refs = calloc(65536, sizeof(uint32_t));
	if (!s->tcp_conns || !s->tcp_listeners || !s->tcp_port_refs)
		return -ENOMEM;
	RB_INIT(s->tcp_conns);
	RB_INIT(s->tcp_listeners);
	TAILQ_INIT(&s->tcp_outq);
	s->tcp_chal_tokens = TCP_CHALLENGE_PER_SEC;
	if (s->cfg.tcp_time_wait == 0)
		s->cfg.tcp_time_wait = 60 * US_SEC;
	if (s->cfg.tcp_mem_max == 0)
		s->cfg.tcp_mem_max = 2ull << 30;
	return 0;
}

void tcp_free_all(struct us_stack *s)
{
	struct tcp_pcb *tp;

	if (s->tcp_conns)
		while ((tp = RB_MIN(tcp_tree, s->tcp_conns)) != NULL)
			tcp_pcb_free(tp);
	if (s->tcp_listeners)
		while ((tp = RB_MIN(tcp_listen_tree, s->tcp_listeners)) != NULL)
			tcp_pcb_free(tp);
}

void tcp_fini(struct us_stack *s)
{
	tcp_free_all(s);
	free(s->tcp_conns);
	free(s->tcp_listeners);
	free(s->tcp_port_refs);
}

struct tcp_pcb *tcp_pcb_new(struct us_stack *s)
{
	struct tcp_pcb *tp = calloc(1, sizeof(*tp));

	if (!tp)
		return NULL;
	tp->s = s;
	tp->state = US_TCP_CLOSED;
	TAILQ_INIT(&tp->acceptq);
	TAILQ_INIT(&tp->synq);
	timer_init(&tp->timer, tcp_timer_fire);
	for (int i = 0; i < TCPT_N; i++)
		tp->tmr[i] = US_TIME_NEVER;
	tp->rto = TCP_RTO_INIT;
	tp->mss = TCP_DEFAULT_MSS;
	tp->peer_mss = TCP_DEFAULT_MSS;
	tp->linger = -1;
	tp->keepidle = TCP_KEEPIDLE_DEF;
	tp->keepintvl = TCP_KEEPINTVL_DEF;
	tp->keepcnt = TCP_KEEPCNT_DEF;
	tp->ttl = 64;
	tp->quickacks = TCP_QUICKACKS;
	tcp_cc_select(tp, US_CC_CUBIC);
	s->tcp_count++;
	return tp;
}

uint8_t tcp_rcv_wscale(const struct tcp_pcb *tp)
{
	uint32_t max = tp->rcv.size;
	uint8_t ws = 0;

	if (!tp->rcvbuf_fixed && tp->s->cfg.tcp_rcvbuf_max > max)
		max = tp->s->cfg.tcp_rcvbuf_max;
	while (ws < 14 && (max >> ws) > 65535)
		ws++;
	return ws;
}

/* The receive "ring" of every orphan (tcp_rcv_orphan): never written,
 * since an orphan takes no text, so one scratch area serves them all. */
static uint8_t tcp_orphan_rcv[TCP_BUF_MIN];

void tcp_rcv_orphan(struct tcp_pcb *tp)
{
	struct us_ring *r = &tp->rcv;

	if (!r->buf || r->buf == tcp_orphan_rcv)
		return;
	if (r->owned)
		free(r->buf);
	r->buf = tcp_orphan_rcv;
	r->size = r->cap = TCP_BUF_MIN;
	r->mask = r->size - 1;
	r->tail = r->head;
	r->owned = false;
	tp->nooo = 0;
}

uint64_t us_tcp_mem(const struct us_stack *s)
{
	return s->tcp_mem;
}

void tcp_mem_update(struct tcp_pcb *tp)
{
	uint64_t m = (tp->rcv.buf && tp->rcv.buf != tcp_orphan_rcv ? tp->rcv.size : 0) +
		     (tp->snd.buf ? tp->snd.size : 0);

	tp->s->tcp_mem = tp->s->tcp_mem - tp->mem + m;
	tp->mem = m;
}

/* Buffers for a new connection, within the stack's total budget (the
 * "bounded memory in total" of RFC 9293 §3.10 implementations). */
int tcp_pcb_bufs(struct tcp_pcb *tp, size_t rcv, size_t snd)
{
	struct us_stack *s = tp->s;

	if ((!tp->rcv.buf || !tp->snd.buf) && s->tcp_mem + rcv + snd > s->cfg.tcp_mem_max) {
		US_INC(s, tcp_mem_refused);
		return -ENOBUFS;
	}
	if (!tp->rcv.buf && ring_alloc(&tp->rcv, (uint32_t)rcv) < 0)
		return -ENOMEM;
	if (!tp->snd.buf && ring_alloc(&tp->snd, (uint32_t)snd) < 0)
		return -ENOMEM;
	tcp_mem_update(tp);
	return 0;
}

static void tcp_unlink(struct tcp_pcb *tp)
{
	struct us_stack *s = tp->s;

	if (tp->in_tree) {
		if (tp->state == US_TCP_LISTEN)
			RB_REMOVE(tcp_listen_tree, s->tcp_listeners, tp);
		else
			RB_REMOVE(tcp_tree, s->tcp_conns, tp);
		tp->in_tree = false;
		s->tcp_port_refs[tp->lport]--;
	}
	if (s->tcp_last == tp)
		s->tcp_last = NULL;
	if (tp->listener) {
		struct tcp_pcb *l = tp->listener;

		if (tp->in_acceptq) {
			TAILQ_REMOVE(&l->acceptq, tp, qlink);
			l->acceptq_len--;
			tp->in_acceptq = false;
		} else {
			TAILQ_REMOVE(&l->synq, tp, qlink);
			l->synq_len--;
		}
		tp->listener = NULL;
	}
}

void tcp_pcb_free(struct tcp_pcb *tp)
{
	struct us_stack *s = tp->s;
	struct tcp_pcb *c;

	/* A listener takes its not-yet-accepted children with it. */
	while ((c = TAILQ_FIRST(&tp->acceptq)) != NULL || (c = TAILQ_FIRST(&tp->synq)) != NULL) {
		tcp_send_rst(c);
		tcp_unlink(c);
		c->so = NULL;
		tcp_pcb_free(c);
	}
	tcp_timers_clear_all(tp);
	tcp_unlink(tp);
	if (tp->in_outq) {
		TAILQ_REMOVE(&s->tcp_outq, tp, outlink);
		tp->in_outq = false;
	}
	if (tp->so)
		tp->so->tcp = NULL;
	ring_release(&tp->snd);
	ring_release(&tp->rcv);
	tcp_mem_update(tp);
	s->tcp_count--;
	free(tp);
}

int tcp_insert(struct tcp_pcb *tp)
{
	struct us_stack *s = tp->s;

	if (tp->state == US_TCP_LISTEN) {
		if (RB_INSERT(tcp_listen_tree, s->tcp_listeners, tp))
			return -EADDRINUSE;
	} else if (RB_INSERT(tcp_tree, s->tcp_conns, tp)) {
		return -EADDRINUSE;
	}
	tp->in_tree = true;
	s->tcp_port_refs[tp->lport]++;
	return 0;
}

struct tcp_pcb *tcp_lookup(struct us_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
			   uint16_t rport)
{
	struct tcp_pcb key, *tp = s->tcp_last;

	if (tp && tp->lport == lport && tp->rport == rport && tp->raddr == raddr &&
	    tp->laddr == laddr)
		return tp;
	key.laddr = laddr;
	key.lport = lport;
	key.raddr = raddr;
	key.rport = rport;
	tp = RB_FIND(tcp_tree, s->tcp_conns, &key);
	if (tp)
		s->tcp_last = tp;
	return tp;
}

struct tcp_pcb *tcp_lookup_listener(struct us_stack *s, uint16_t lport)
{
	struct tcp_pcb key;

	key.lport = lport;
	return RB_FIND(tcp_listen_tree, s->tcp_listeners, &key);
}

bool tcp_port_in_use(struct us_stack *s, uint16_t port)
{
	return s->tcp_port_refs[port] != 0;
}

/* The stack's keyed hash (SipHash) of a 4-tuple; `domain` (0: none) keeps
 * the uses below from sharing values. */
static uint32_t tcp_tuple_hash(const struct us_stack *s, uint32_t la, uint16_t lp, uint32_t ra,
			       uint16_t rp, uint8_t domain)
{
	uint8_t k[13];

	wire_put32(k, la);
	wire_put16(k + 4, lp);
	wire_put32(k + 6, ra);
	wire_put16(k + 10, rp);
	k[12] = domain;
	return (uint32_t)us_siphash(s->rng.key, k, domain ? 13 : 12);
}

/* RFC 6056 §3.3.3 algorithm 3: offset = F(local address, remote address
 * and port, secret), plus a counter that moves on each time.  Towards one
 * peer the ports then run through the whole range before one comes back
 * (a random start each time, algorithm 1, reused one within seconds as
 * often as the birthday bound says: 1,290 of 9,168 connections in 3 s),
 * while the sequence stays unpredictable to others.  A port already used
 * towards another peer is fine as long as the 4-tuple is new. */
uint16_t tcp_ephemeral_port(struct us_stack *s, uint32_t raddr, uint16_t rport)
{
	uint32_t n = US_EPHEMERAL_HI - US_EPHEMERAL_LO + 1;
	uint32_t off = tcp_tuple_hash(s, s->cfg.addr, 0, raddr, rport, 'P');

	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(US_EPHEMERAL_LO + (off + s->tcp_next_ephemeral++) % n);

		if (tcp_lookup_listener(s, port))
			continue;
		if (!tcp_port_in_use(s, port) || !tcp_lookup(s, s->cfg.addr, port, raddr, rport))
			return port;
	}
	return 0;
}

void tcp_state(struct tcp_pcb *tp, enum us_tcp_state st)
{
	char a[16];

	US_TRACE(tp->s, "tcp  %s:%u %s -> %s", ip4_ntoa(tp->raddr, a), tp->rport,
		 us_tcp_state_names[tp->state], us_tcp_state_names[st]);
	tp->state = st;
	tcp_wakeup(tp);
}

void tcp_child_link(struct tcp_pcb *l, struct tcp_pcb *tp)
{
	tp->listener = l;
	TAILQ_INSERT_TAIL(&l->synq, tp, qlink);
	l->synq_len++;
}

void tcp_child_established(struct tcp_pcb *tp)
{
	struct tcp_pcb *l = tp->listener;

	if (!l || tp->in_acceptq)
		return;
	/* TCP_DEFER_ACCEPT (tcp(7)): the listener is not woken for a
	 * connection until its first data (or FIN) arrives, or the period
	 * ends.  Linux keeps the request in SYN-RECEIVED and drops the bare
	 * ACK; here the child is established but stays off the accept queue
	 * (in the SYN queue, within the same backlog) -- the same for the
	 * program, and the peer's ACK is not wasted. */
	if (l->defer_accept && !tp->defer_done && !ring_used(&tp->rcv) && !tp->fin_rcvd) {
		if (!tp->deferred) {
			tp->deferred = true;
			US_INC(tp->s, tcp_defer_accept_held);
			tcp_timer_set(tp, TCPT_DEFER,
				      tp->s->now + (uint64_t)l->defer_accept * US_SEC);
		}
		return;
	}
	tp->deferred = false;
	tp->defer_done = true;
	tcp_timer_clear(tp, TCPT_DEFER);
	TAILQ_REMOVE(&l->synq, tp, qlink);
	l->synq_len--;
	TAILQ_INSERT_TAIL(&l->acceptq, tp, qlink);
	tp->in_acceptq = true;
	l->acceptq_len++;
	US_TRACE(tp->s, "sock tcp port %u: connection ready to accept", l->lport);
	if (l->so)
		sock_wakeup(l->so);
}

void tcp_close_pcb(struct tcp_pcb *tp, int err)
{
	tcp_timers_clear_all(tp);
	if (tp->state == US_TCP_ESTABLISHED || tp->state == US_TCP_CLOSE_WAIT)
		if (err == ECONNRESET)
			US_INC(tp->s, tcp_estab_resets);
	tcp_state(tp, US_TCP_CLOSED);
	if (tp->so) {
		/* The owner still has a handle: keep the block so its calls see
		 * the outcome; it is freed on us_close(). */
		if (err)
			tp->so->so_error = err;
		tp->err = err;
		tcp_unlink(tp);
		tcp_wakeup(tp);
		return;
	}
	tcp_pcb_free(tp);
}

/* RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a 4 µs timer, F a keyed hash (SipHash). */
uint32_t tcp_new_isn(struct us_stack *s, uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp)
{
	return tcp_tuple_hash(s, la, lp, ra, rp, 0) + (uint32_t)(s->now / 4);
}

/* RFC 7323 §5.4 and §7.1: the timestamp clock's offset is a keyed hash of
 * the 4-tuple, not drawn per connection, so that timestamps never go back
 * for the same 4-tuple: a peer holding it in TIME-WAIT takes a new SYN
 * only if its timestamp passes PAWS (Linux tcp_timewait_state_process;
 * a random offset had half such SYNs answered with an ACK, and the
 * connection waited for a SYN retransmission).  The key differs from the
 * ISN's by a domain byte. */
uint32_t tcp_new_ts_offset(struct us_stack *s, uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp)
{
	return tcp_tuple_hash(s, la, lp, ra, rp, 'T');
}

/* SYN cookies (RFC 4987 §3.6): the ISN carries a 64 s time slot (8 bits),
 * and a keyed hash of the 4-tuple, the slot and the peer's ISN plus an MSS
 * index (24 bits).  The cookie connection has no window scaling, SACK or
 * timestamps: the state that would remember them was never kept. */
static const uint16_t cookie_mss[4] = {536, 1300, 1440, 1460};

static uint32_t cookie_hash(struct us_stack *s, const struct ip4_hdr *ih, const struct tcp_hdr *th,
			    uint32_t irs, uint32_t slot)
{
	uint8_t k[20];

	wire_put32(k, ih->dst);
	wire_put16(k + 4, th->dport);
	wire_put32(k + 6, ih->src);
	wire_put16(k + 10, th->sport);
	wire_put32(k + 12, irs);
	wire_put32(k + 16, slot);
	return (uint32_t)us_siphash(s->rng.key, k, sizeof(k));
}

uint32_t tcp_cookie_make(struct us_stack *s, const struct ip4_hdr *ih, const struct tcp_hdr *th,
			 uint16_t *mss)
{
	uint32_t slot = (uint32_t)(s->now / (64 * US_SEC)) & 0xff, idx = 0;
	uint16_t want = th->opt.has_mss ? th->opt.mss : TCP_DEFAULT_MSS;

	for (uint32_t i = 0; i < 4; i++)
		if (cookie_mss[i] <= want)
			idx = i;
	*mss = cookie_mss[idx];
	return slot << 24 | ((cookie_hash(s, ih, th, th->seq, slot) + idx) & 0xffffff);
}

bool tcp_cookie_check(struct us_stack *s, const struct ip4_hdr *ih, const struct tcp_hdr *th,
		      uint16_t *mss)
{
	uint32_t cookie = th->ack - 1, irs = th->seq - 1;
	uint32_t slot = cookie >> 24, cur = (uint32_t)(s->now / (64 * US_SEC)) & 0xff;
	uint32_t idx;

	if (((cur - slot) & 0xff) > 2) /* at most ~2 minutes old */
		return false;
	idx = ((cookie & 0xffffff) - cookie_hash(s, ih, th, irs, slot)) & 0xffffff;
	if (idx >= 4)
		return false;
	*mss = cookie_mss[idx];
	return true;
}

/* The send MSS: the peer's, clamped by the route MTU (RFC 9293 §3.7.1,
 * RFC 1191) and TCP_MAXSEG. */
void tcp_set_mss(struct tcp_pcb *tp)
{
	uint32_t mss = tp->peer_mss, nh;
	uint16_t mtu = tp->s->cfg.mtu;

	if (tp->raddr != tp->s->cfg.addr)
		route_lookup(tp->s, tp->raddr, &nh, &mtu);
	else
		mtu = 65535;
	if (mss > (uint32_t)mtu - 40u)
		mss = mtu - 40u;
	if (tp->pmtu_mss && mss > tp->pmtu_mss)
		mss = tp->pmtu_mss;
	if (tp->user_mss && mss > tp->user_mss)
		mss = tp->user_mss;
	/* Room for the options we put on every segment. */
	if (tp->ts_ok)
		mss -= 12;
	if (mss < TCP_MIN_MSS)
		mss = TCP_MIN_MSS;
	tp->mss = (uint16_t)mss;
}

/* RFC 5961 §7: a global limit on challenge ACKs. */
bool tcp_challenge_ok(struct us_stack *s)
{
	uint64_t el = s->now - s->tcp_chal_last;

	if (el >= US_SEC) {
		s->tcp_chal_tokens = TCP_CHALLENGE_PER_SEC;
		s->tcp_chal_last = s->now;
	}
	if (s->tcp_chal_tokens == 0) {
		US_INC(s, tcp_challenge_ack_limited);
		return false;
	}
	s->tcp_chal_tokens--;
	return true;
}

void tcp_wakeup(struct tcp_pcb *tp)
{
	/* Data or a FIN for a child held back by TCP_DEFER_ACCEPT. */
	if (tp->deferred && (ring_used(&tp->rcv) || tp->fin_rcvd) && tp->state != US_TCP_CLOSED)
		tcp_child_established(tp);
	if (tp->so)
		sock_wakeup(tp->so);
	else if (tp->listener && tp->in_acceptq && tp->listener->so)
		sock_wakeup(tp->listener->so);
}

unsigned tcp_events(const struct tcp_pcb *tp)
{
	unsigned ev = 0;
	uint32_t used, space;

	if (tp->state == US_TCP_LISTEN)
		return tp->acceptq_len ? US_EV_IN : 0;
	if (tp->so && tp->so->so_error)
		ev |= US_EV_ERR;
	switch (tp->state) {
	case US_TCP_SYN_SENT:
	case US_TCP_SYN_RECEIVED:
		return ev;
	case US_TCP_CLOSED:
		/* reset, timed out, or closed both ways */
		return ev | US_EV_IN | US_EV_OUT | US_EV_HUP | US_EV_RDHUP;
	default:
		break;
	}
	if (ring_used(&tp->rcv) || tp->fin_rcvd || tp->shut_rd)
		ev |= US_EV_IN;
	if (tp->fin_rcvd)
		ev |= US_EV_RDHUP;
	if (tp->fin_rcvd && tp->shut_wr)
		ev |= US_EV_HUP;
	used = ring_used(&tp->snd);
	space = ring_space(&tp->snd);
	/* Writable once at least a third of the buffer is free, as Linux's
	 * sk_stream_is_writeable (free >= queued / 2). */
	if (!tp->shut_wr && (tp->state == US_TCP_ESTABLISHED || tp->state == US_TCP_CLOSE_WAIT) &&
	    space > 0 && space >= used / 2)
		ev |= US_EV_OUT;
	if (tp->shut_wr && (tp->state != US_TCP_ESTABLISHED && tp->state != US_TCP_CLOSE_WAIT))
		ev |= US_EV_OUT; /* writes fail at once with EPIPE */
	return ev;
}

uint32_t tcp_ts_now(const struct tcp_pcb *tp)
{
	/* RFC 7323 §5.4: a millisecond clock with a per-connection offset. */
	return (uint32_t)(tp->s->now / 1000) + tp->ts_offset;
}

void tcp_foreach_orphan(const struct us_stack *s, us_sock_cb cb, void *ctx)
{
	struct tcp_pcb *tp;
	struct us_sock_info si;

	if (!s->tcp_conns)
		return;
	RB_FOREACH(tp, tcp_tree, s->tcp_conns) {
		if (tp->so)
			continue;
		memset(&si, 0, sizeof(si));
		si.type = US_SOCK_STREAM;
		si.state = tp->state;
		si.orphan = true;
		si.local = (struct us_addr){tp->laddr, tp->lport};
		si.remote = (struct us_addr){tp->raddr, tp->rport};
		si.rx_queued = ring_used(&tp->rcv);
		si.tx_queued = ring_used(&tp->snd);
		cb(ctx, &si);
	}
}

void tcp_output_soon(struct tcp_pcb *tp)
{
	struct us_stack *s = tp->s;

	if (!s->batch_depth) {
		tcp_output(tp);
		return;
	}
	if (!tp->in_outq) {
		TAILQ_INSERT_TAIL(&s->tcp_outq, tp, outlink);
		tp->in_outq = true;
	}
}

void tcp_batch_flush(struct us_stack *s)
{
	struct tcp_pcb *tp;

	while ((tp = TAILQ_FIRST(&s->tcp_outq)) != NULL) {
		TAILQ_REMOVE(&s->tcp_outq, tp, outlink);
		tp->in_outq = false;
		tcp_output(tp);
	}
}
