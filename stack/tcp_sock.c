/* tcp_sock.c - the user calls of stream sockets (RFC 9293 §3.10.1-3.10.6:
 * OPEN, SEND, RECEIVE, CLOSE, ABORT, STATUS) and socket options. */
#include <stdlib.h>

#include "tcp_impl.h"

#define TCP_BACKLOG_MAX 4096 /* Linux somaxconn */

int tcp_usr_attach(struct us_sock *so)
{
	struct tcp_pcb *tp = tcp_pcb_new(so->stack);

	if (!tp)
		return -ENOMEM;
	tp->so = so;
	so->tcp = tp;
	so->rcvbuf = TCP_BUF_DEFAULT;
	so->sndbuf = TCP_BUF_DEFAULT;
	return 0;
}

int tcp_usr_bind(struct us_sock *so, const struct us_addr *a)
{
	struct us_stack *s = so->stack;
	uint16_t port = a->port;

	if (so->bound || !so->tcp || so->tcp->state != US_TCP_CLOSED)
		return -EINVAL;
	if (a->ip != 0 && a->ip != s->cfg.addr)
		return -EADDRNOTAVAIL;
	if (port == 0) {
		port = tcp_ephemeral_port(s, 0, 0);
		if (port == 0)
			return -EADDRINUSE;
	} else if (tcp_lookup_listener(s, port) ||
		   (tcp_port_in_use(s, port) && !so->reuseaddr)) {
		/* SO_REUSEADDR lets a new socket take a port that only
		 * old connections (TIME_WAIT...) still use. */
		return -EADDRINUSE;
	}
	so->local.ip = a->ip;
	so->local.port = port;
	so->bound = true;
	return 0;
}

int tcp_usr_listen(struct us_sock *so, int backlog)
{
	struct tcp_pcb *tp = so->tcp;
	struct us_addr any = {0, 0};
	int r;

	if (!tp)
		return -EINVAL;
	if (tp->state == US_TCP_LISTEN) {
		tp->backlog = backlog < 1 ? 1 : backlog > TCP_BACKLOG_MAX ? TCP_BACKLOG_MAX : (unsigned)backlog;
		return 0;
	}
	if (tp->state != US_TCP_CLOSED)
		return -EINVAL;
	if (!so->bound && (r = tcp_usr_bind(so, &any)) < 0)
		return r;
	tp->laddr = so->local.ip;
	tp->lport = so->local.port;
	tp->backlog = backlog < 1 ? 1 : backlog > TCP_BACKLOG_MAX ? TCP_BACKLOG_MAX : (unsigned)backlog;
	tp->state = US_TCP_LISTEN;
	r = tcp_insert(tp);
	if (r < 0) {
		tp->state = US_TCP_CLOSED;
		return r;
	}
	return 0;
}

int tcp_usr_accept(struct us_sock *so, struct us_sock **out, struct us_addr *peer)
{
	struct tcp_pcb *l = so->tcp, *tp;
	struct us_sock *nso;

	if (!l || l->state != US_TCP_LISTEN)
		return -EINVAL;
	tp = TAILQ_FIRST(&l->acceptq);
	if (!tp)
		return -EAGAIN;
	nso = sock_alloc(so->stack, US_SOCK_STREAM);
	if (!nso)
		return -ENOMEM;
	TAILQ_REMOVE(&l->acceptq, tp, qlink);
	l->acceptq_len--;
	tp->in_acceptq = false;
	tp->listener = NULL;
	tp->so = nso;
	nso->tcp = tp;
	nso->rcvbuf = tp->rcv.size;
	nso->sndbuf = tp->snd.size;
	nso->bound = nso->connected = true;
	nso->local = (struct us_addr){tp->laddr, tp->lport};
	nso->remote = (struct us_addr){tp->raddr, tp->rport};
	if (peer)
		*peer = nso->remote;
	*out = nso;
	return 0;
}

int tcp_usr_connect(struct us_sock *so, const struct us_addr *a)
{
	struct us_stack *s = so->stack;
	struct tcp_pcb *tp = so->tcp;
	uint32_t nh;
	uint16_t mtu, port;
	int r;

	if (!tp)
		return -EINVAL;
	switch (tp->state) {
	case US_TCP_CLOSED:
		break;
	case US_TCP_SYN_SENT:
	case US_TCP_SYN_RECEIVED:
		return -EALREADY;
	case US_TCP_LISTEN:
		return -EINVAL;
	default:
		return -EISCONN;
	}
	if (tp->err || so->connected)
		return -EISCONN; /* a used socket cannot connect again */
	if (!a || a->ip == 0 || a->port == 0)
		return -EINVAL;
	if (route_is_bcast(s, a->ip) || ip4_is_multicast(a->ip))
		return -ENETUNREACH;
	if (a->ip != s->cfg.addr && (r = route_lookup(s, a->ip, &nh, &mtu)) < 0)
		return r;
	if (so->bound) {
		port = so->local.port;
		if (tcp_lookup(s, s->cfg.addr, port, a->ip, a->port))
			return -EADDRNOTAVAIL;
	} else {
		port = tcp_ephemeral_port(s, a->ip, a->port);
		if (!port)
			return -EADDRNOTAVAIL;
	}
	if ((r = tcp_pcb_bufs(tp, so->rcvbuf, so->sndbuf)) < 0)
		return r;
	tp->laddr = s->cfg.addr;
	tp->lport = port;
	tp->raddr = a->ip;
	tp->rport = a->port;
	tp->rcv_wscale = tcp_rcv_wscale(tp);
	tp->iss = tcp_new_isn(s, tp->laddr, tp->lport, tp->raddr, tp->rport);
	tp->snd_una = tp->snd_nxt = tp->snd_max = tp->iss;
	tp->ts_offset = tcp_new_ts_offset(s, tp->laddr, tp->lport, tp->raddr, tp->rport);
	tp->peer_mss = (uint16_t)(s->cfg.mtu - 40);
	tcp_set_mss(tp);
	tp->state = US_TCP_SYN_SENT;
	if ((r = tcp_insert(tp)) < 0) {
		tp->state = US_TCP_CLOSED;
		return r;
	}
	so->local = (struct us_addr){tp->laddr, port};
	so->remote = *a;
	so->bound = so->connected = true;
	US_INC(s, tcp_active_opens);
	tcp_send_syn(tp);
	return -EINPROGRESS;
}

static int tcp_snd_grow(struct tcp_pcb *tp);

static int tcp_take_error(struct us_sock *so)
{
	int e = so->so_error;

	so->so_error = 0;
	return e;
}

ssize_t tcp_usr_send(struct us_sock *so, const void *buf, size_t len, int flags)
{
	struct tcp_pcb *tp = so->tcp;
	uint32_t n;

	if (!tp)
		return -ENOTCONN;
	if (so->so_error)
		return -tcp_take_error(so);
	if (tp->shut_wr || tp->err)
		return -EPIPE;
	switch (tp->state) {
	case US_TCP_ESTABLISHED:
	case US_TCP_CLOSE_WAIT:
		break;
	case US_TCP_SYN_SENT:
	case US_TCP_SYN_RECEIVED:
		return -EAGAIN;
	case US_TCP_CLOSED:
	case US_TCP_LISTEN:
		return so->connected ? -EPIPE : -ENOTCONN;
	default:
		return -EPIPE;
	}
	n = ring_space(&tp->snd);
	if (n < len && tcp_snd_grow(tp) > 0)
		n = ring_space(&tp->snd);
	if (n > len)
		n = (uint32_t)len;
	if (n == 0)
		return -EAGAIN;
	ring_put_at(&tp->snd, 0, buf, n);
	tp->snd.head += n;
	if (flags & US_MSG_MORE) {
		bool cork = tp->cork;

		tp->cork = true;
		tcp_output(tp);
		tp->cork = cork;
	} else {
		tcp_output(tp);
	}
	return n;
}

/* The application freed receive space: tell the peer when the window
 * grew usefully (RFC 1122 §4.2.3.3, RFC 9293 §3.8.6.2.2). */
static void tcp_window_update(struct tcp_pcb *tp)
{
	uint32_t adv = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;
	uint32_t wnd = tcp_rcv_window(tp);

	if (tp->state < US_TCP_ESTABLISHED || tp->fin_rcvd)
		return;
	/* Receiver SWS avoidance (RFC 1122 §4.2.3.3): only a growth of two
	 * segments (or half the buffer) is worth announcing.  And, as Linux's
	 * tcp_cleanup_rbuf, a window update of its own only when the window
	 * still open is at most half the buffer and the new one at least
	 * twice that: otherwise the sender is not held back by it and the
	 * next ACK of its data carries the new window anyway.  (An update
	 * for every read through libustack.so cost a third of ustackd's time
	 * in iperf3 -R.) */
	if (adv > tp->rcv.size / 2 || wnd < 2 * adv)
		return;
	if (wnd > adv && (wnd - adv >= 2u * tp->mss || wnd - adv >= tp->rcv.size / 2)) {
		US_INC(tp->s, tcp_window_updates);
		if (adv < tp->mss) /* it was closed (or too small to use) */
			US_INC(tp->s, tcp_window_reopened);
		tp->ack_now = true;
		tcp_output(tp);
	}
}

/* Receive buffer auto-tuning (the idea of Linux's tcp_rcv_space_adjust,
 * in a simple form).  The ring doubles when the peer is held back by our
 * window while the reader keeps up: either a read empties a ring whose
 * offered window had shrunk below a quarter (a fast path: bursts on a
 * short RTT), or the reader took half a ring or more within one smoothed
 * RTT (a long path: a window's worth arrives per RTT and is read at once,
 * so the window never looks small, yet it is what limits the sender).
 * It grows into the memory there is for it (rcv.cap: libustack.so's
 * shared rings are mapped that large, untouched pages cost nothing),
 * within the TCP memory budget.  Only an empty ring changes size (no byte
 * has a position to lose), and the indices stay: the program reading the
 * shared ring learns the new size from ustackd before any byte is put at
 * a new position.  (256 KiB held iperf3 -R under libustack.so to 6.8
 * Gbit/s; 1 MiB gave 11.6.) */
static void tcp_rcv_autotune(struct tcp_pcb *tp, uint32_t adv_before, uint32_t n)
{
	struct us_ring *r = &tp->rcv;
	struct us_stack *s = tp->s;
	uint32_t nsize = r->size * 2;

	tp->rcv_copied += n;
	if (tp->rtt_valid && s->now - tp->rcv_mtime >= tp->srtt) {
		if (tp->rcv_copied >= r->size / 2)
			tp->rcv_grow = true;
		tp->rcv_copied = 0;
		tp->rcv_mtime = s->now;
	}
	if (tp->rcvbuf_fixed || nsize > r->cap || ring_used(r) || tp->nooo ||
	    (adv_before > r->size / 4 && !tp->rcv_grow) || tp->state != US_TCP_ESTABLISHED ||
	    (s->cfg.tcp_rcvbuf_max && nsize > s->cfg.tcp_rcvbuf_max) ||
	    r->size >= (65535u << tp->rcv_wscale) ||
	    s->tcp_mem + (nsize - r->size) > s->cfg.tcp_mem_max)
		return;
	r->size = nsize;
	r->mask = nsize - 1;
	tp->rcv_grow = false;
	if (tp->so)
		tp->so->rcvbuf = nsize;
	tcp_mem_update(tp);
	US_INC(s, tcp_rcvbuf_grown);
}

static void tcp_consume(struct tcp_pcb *tp, uint32_t n)
{
	uint32_t adv = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;

	tp->rcv.tail += n;
	tcp_rcv_autotune(tp, adv, n);
	tcp_window_update(tp);
}

/* Send buffer auto-tuning (the idea of Linux's tcp_should_expand_sndbuf
 * and tcp_sndbuf_expand): the ring limits the connection when it is at
 * least half full and both cwnd and the peer's window have room for a
 * segment more than is in flight -- the network would take more, the
 * program has nothing more it may queue.  The ring then doubles (up to
 * us_config.tcp_sndbuf_max, within the TCP memory budget), unless the
 * program fixed SO_SNDBUF.  A ring in the program's shared memory grows
 * in place, into the memory mapped for it; ustackd asks only when the
 * program, which writes that ring, waits (IPC_TXGROW, shim/ipc.h). */
static uint32_t tcp_snd_grow_size(const struct tcp_pcb *tp)
{
	const struct us_ring *r = &tp->snd;
	const struct us_stack *s = tp->s;
	uint32_t nsize = r->size * 2, flight = tp->snd_max - tp->snd_una;
	uint32_t room = tp->cwnd < tp->snd_wnd ? tp->cwnd : tp->snd_wnd;
	uint32_t max = s->cfg.tcp_sndbuf_max ? s->cfg.tcp_sndbuf_max : TCP_SNDBUF_AUTO;

	if (!r->buf || tp->sndbuf_fixed || tp->shut_wr || tp->closing_orphan ||
	    (tp->state != US_TCP_ESTABLISHED && tp->state != US_TCP_CLOSE_WAIT) ||
	    ring_used(r) < r->size / 2 || (uint64_t)flight + tp->mss > room ||
	    nsize > max || nsize > TCP_BUF_MAX || (!r->owned && nsize > r->cap) ||
	    s->tcp_mem + (nsize - r->size) > s->cfg.tcp_mem_max)
		return 0;
	return nsize;
}

static int tcp_snd_grow(struct tcp_pcb *tp)
{
	uint32_t nsize = tcp_snd_grow_size(tp);
	int r;

	if (!nsize)
		return -EAGAIN;
	if ((r = ring_grow(&tp->snd, nsize)) < 0)
		return r;
	if (tp->so)
		tp->so->sndbuf = nsize;
	tcp_mem_update(tp);
	US_INC(tp->s, tcp_sndbuf_grown);
	return (int)nsize;
}

int us_tcp_snd_grow(struct us_sock *so, uint64_t now)
{
	int r;

	if (so->type != US_SOCK_STREAM || !so->tcp)
		return -EOPNOTSUPP;
	so->stack->now = now;
	r = tcp_snd_grow(so->tcp);
	if (r > 0) {
		tcp_output(so->tcp);
		stack_finish(so->stack);
	}
	return r;
}

ssize_t tcp_usr_recv(struct us_sock *so, void *buf, size_t len, int flags)
{
	struct tcp_pcb *tp = so->tcp;
	uint32_t n;

	if (!tp)
		return -ENOTCONN;
	n = ring_used(&tp->rcv);
	if (n) {
		if (n > len)
			n = (uint32_t)len;
		ring_get_at(&tp->rcv, 0, buf, n);
		if (!(flags & US_MSG_PEEK))
			tcp_consume(tp, n);
		return n;
	}
	if (so->so_error)
		return -tcp_take_error(so);
	if (tp->fin_rcvd || tp->shut_rd)
		return 0;
	switch (tp->state) {
	case US_TCP_LISTEN:
		return -ENOTCONN;
	case US_TCP_CLOSED:
		return so->connected ? 0 : -ENOTCONN;
	default:
		return -EAGAIN;
	}
}

int tcp_usr_shutdown(struct us_sock *so, int how)
{
	struct tcp_pcb *tp = so->tcp;

	if (!tp || how < US_SHUT_RD || how > US_SHUT_RDWR)
		return -EINVAL;
	if (tp->state == US_TCP_CLOSED || tp->state == US_TCP_LISTEN)
		return -ENOTCONN;
	if (how != US_SHUT_WR) {
		tp->shut_rd = true;
		tcp_wakeup(tp);
	}
	if (how == US_SHUT_RD || tp->shut_wr)
		return 0;
	tp->shut_wr = true;
	switch (tp->state) {
	case US_TCP_SYN_SENT:
		tcp_close_pcb(tp, 0);
		return 0;
	case US_TCP_SYN_RECEIVED:
	case US_TCP_ESTABLISHED:
		tp->fin_pending = true;
		tcp_state(tp, US_TCP_FIN_WAIT_1);
		break;
	case US_TCP_CLOSE_WAIT:
		tp->fin_pending = true;
		tcp_state(tp, US_TCP_LAST_ACK);
		break;
	default:
		break;
	}
	tcp_output(tp);
	return 0;
}

/* Replace external ring memory by the stack's own: the send ring keeps
 * its unacknowledged bytes (same size, same positions); the receive ring is
 * not needed any more (an orphan resets on new data, tcp_data()). */
static int tcp_rings_own(struct tcp_pcb *tp)
{
	struct us_ring *r = &tp->snd;

	/* Only the bytes still to be sent or acknowledged move, into a ring
	 * just big enough: copying (and allocating) the whole 256 KiB cost
	 * every short connection (nginx, Connection: close) a fresh mmap and
	 * 64 page faults.  In TIME_WAIT everything was acknowledged. */
	if (tp->state == US_TCP_TIME_WAIT)
		ring_release(r);
	else if (r->buf && !r->owned && ring_rehome(r, TCP_BUF_MIN) < 0)
		return -ENOMEM;
	/* Nothing is ever received into an orphan's ring: new data resets
	 * the connection (tcp_input.c, RFC 9293 §3.10.7.4 as Linux does it),
	 * later states take no text.  It keeps a size for the window it
	 * advertises, over scratch memory that is never read. */
	tcp_rcv_orphan(tp);
	tcp_mem_update(tp);
	return 0;
}

void tcp_usr_close(struct us_sock *so)
{
	struct tcp_pcb *tp = so->tcp;
	struct us_stack *s = so->stack;

	if (!tp)
		return;
	so->tcp = NULL;
	tp->so = NULL;
	switch (tp->state) {
	case US_TCP_CLOSED:
	case US_TCP_LISTEN:
	case US_TCP_SYN_SENT:
		tcp_pcb_free(tp);
		return;
	default:
		break;
	}
	/* RFC 9293 §3.10.4 ABORT when lingering with a zero timeout, and
	 * RFC 2525 §2.17: closing with unread data resets the connection. */
	if (tp->linger == 0 || ring_used(&tp->rcv) > 0) {
		/* Named as Linux's TCPAbortOnData / TCPAbortOnClose. */
		if (tp->linger == 0)
			US_INC(s, tcp_abort_on_data);
		else
			US_INC(s, tcp_abort_on_close);
		if (tp->state != US_TCP_TIME_WAIT)
			tcp_send_rst(tp);
		tcp_close_pcb(tp, 0);
		return;
	}
	/* The owner's memory (shared rings) goes away with the handle: an
	 * orphan keeps only what it still has to send, in memory of its own. */
	if (tcp_rings_own(tp) < 0) {
		US_INC(s, tcp_abort_on_memory);
		tcp_send_rst(tp);
		tcp_close_pcb(tp, 0);
		return;
	}
	if (!tp->shut_wr) {
		tp->shut_wr = true;
		if (tp->state == US_TCP_SYN_RECEIVED || tp->state == US_TCP_ESTABLISHED) {
			tp->fin_pending = true;
			tcp_state(tp, US_TCP_FIN_WAIT_1);
		} else if (tp->state == US_TCP_CLOSE_WAIT) {
			tp->fin_pending = true;
			tcp_state(tp, US_TCP_LAST_ACK);
		}
		tcp_output(tp);
	}
	if (tp->state == US_TCP_FIN_WAIT_2)
		tcp_timer_set(tp, TCPT_2MSL, s->now + TCP_FIN_TIMEOUT);
}

unsigned tcp_usr_events(const struct us_sock *so)
{
	if (!so->tcp)
		return US_EV_HUP | US_EV_ERR;
	if (so->tcp->state == US_TCP_CLOSED && !so->connected)
		return US_EV_OUT | US_EV_HUP; /* a fresh socket, as Linux reports */
	return tcp_events(so->tcp);
}

static int tcp_resize_bufs(struct tcp_pcb *tp, struct us_sock *so)
{
	if (tp->state != US_TCP_CLOSED && tp->state != US_TCP_LISTEN)
		return 0; /* takes effect for the next connection only */
	(void)so;
	return 0;
}

int tcp_usr_setopt(struct us_sock *so, enum us_sockopt opt, int val)
{
	struct tcp_pcb *tp = so->tcp;

	if (!tp)
		return -EINVAL;
	switch (opt) {
	case US_SO_RCVBUF:
	case US_SO_SNDBUF: {
		size_t v = val < (int)TCP_BUF_MIN ? TCP_BUF_MIN : (size_t)val;

		if (v > TCP_BUF_MAX)
			v = TCP_BUF_MAX;
		if (opt == US_SO_RCVBUF) {
			so->rcvbuf = v;
			so->rcvbuf_set = tp->rcvbuf_fixed = true;
		} else {
			so->sndbuf = v;
			tp->sndbuf_fixed = true;
		}
		return tcp_resize_bufs(tp, so);
	}
	case US_SO_KEEPALIVE:
		tp->keepalive = val != 0;
		if (tp->state >= US_TCP_ESTABLISHED) {
			tp->last_rx = so->stack->now;
			tcp_arm_keepalive(tp);
		}
		return 0;
	case US_SO_LINGER:
		tp->linger = val < 0 ? -1 : val;
		return 0;
	case US_TCP_NODELAY:
		tp->nodelay = val != 0;
		if (tp->nodelay)
			tcp_output(tp);
		return 0;
	case US_TCP_CORK:
		tp->cork = val != 0;
		if (!tp->cork)
			tcp_output(tp);
		return 0;
	case US_TCP_KEEPIDLE:
	case US_TCP_KEEPINTVL:
	case US_TCP_KEEPCNT:
		if (val < 1 || val > (opt == US_TCP_KEEPCNT ? 127 : 32767))
			return -EINVAL;
		if (opt == US_TCP_KEEPIDLE)
			tp->keepidle = (uint32_t)val;
		else if (opt == US_TCP_KEEPINTVL)
			tp->keepintvl = (uint32_t)val;
		else
			tp->keepcnt = (uint32_t)val;
		if (tp->keepalive && tp->state >= US_TCP_ESTABLISHED)
			tcp_arm_keepalive(tp);
		return 0;
	case US_TCP_USER_TIMEOUT:
		if (val < 0)
			return -EINVAL;
		tp->user_timeout = (uint32_t)val;
		return 0;
	case US_TCP_DEFER_ACCEPT: /* Linux takes negative values as 0 */
		tp->defer_accept = val < 0 ? 0 : (uint32_t)val;
		return 0;
	case US_TCP_CONGESTION:
		if (val != US_CC_CUBIC && val != US_CC_NEWRENO)
			return -ENOENT;
		tp->cc_id = (enum us_cc)val;
		tp->cc = val == US_CC_NEWRENO ? &tcp_cc_newreno : &tcp_cc_cubic;
		tp->cc->init(tp);
		return 0;
	case US_TCP_MAXSEG:
		if (val < TCP_MIN_MSS || val > 65495)
			return -EINVAL;
		tp->user_mss = (uint16_t)val;
		if (tp->state >= US_TCP_ESTABLISHED)
			tcp_set_mss(tp);
		return 0;
	case US_IP_TTL:
		if (val < 1 || val > 255)
			return -EINVAL;
		tp->ttl = (uint8_t)val;
		return 0;
	case US_IP_TOS:
		tp->tos = (uint8_t)val;
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

int tcp_usr_getopt(const struct us_sock *so, enum us_sockopt opt, int *val)
{
	const struct tcp_pcb *tp = so->tcp;

	if (!tp)
		return -EINVAL;
	switch (opt) {
	case US_SO_RCVBUF: *val = (int)(tp->rcv.size ? tp->rcv.size : so->rcvbuf); return 0;
	case US_SO_SNDBUF: *val = (int)(tp->snd.size ? tp->snd.size : so->sndbuf); return 0;
	case US_SO_KEEPALIVE: *val = tp->keepalive; return 0;
	case US_SO_LINGER: *val = tp->linger; return 0;
	case US_TCP_NODELAY: *val = tp->nodelay; return 0;
	case US_TCP_CORK: *val = tp->cork; return 0;
	case US_TCP_KEEPIDLE: *val = (int)tp->keepidle; return 0;
	case US_TCP_KEEPINTVL: *val = (int)tp->keepintvl; return 0;
	case US_TCP_KEEPCNT: *val = (int)tp->keepcnt; return 0;
	case US_TCP_USER_TIMEOUT: *val = (int)tp->user_timeout; return 0;
	case US_TCP_DEFER_ACCEPT: *val = (int)tp->defer_accept; return 0;
	case US_TCP_CONGESTION: *val = tp->cc_id; return 0;
	case US_TCP_MAXSEG: *val = tp->state >= US_TCP_ESTABLISHED ? tp->mss : (tp->user_mss ? tp->user_mss : TCP_DEFAULT_MSS); return 0;
	case US_IP_TTL: *val = tp->ttl; return 0;
	case US_IP_TOS: *val = tp->tos; return 0;
	default: return -ENOPROTOOPT;
	}
}

int us_tcp_info(const struct us_sock *so, struct us_tcp_info *ti)
{
	const struct tcp_pcb *tp = so->tcp;

	if (!tp)
		return -EINVAL;
	memset(ti, 0, sizeof(*ti));
	ti->state = tp->state;
	ti->ts_ok = tp->ts_ok;
	ti->sack_ok = tp->sack_ok;
	ti->ws_ok = tp->ws_ok;
	ti->in_recovery = tp->in_recovery;
	ti->snd_wscale = tp->snd_wscale;
	ti->rcv_wscale = tp->rcv_wscale;
	ti->cc = tp->cc_id;
	ti->rto = tcp_rto_backed_off(tp);
	ti->rtt = tp->srtt;
	ti->rttvar = tp->rttvar;
	ti->snd_mss = tp->mss;
	ti->rcv_mss = (uint32_t)so->stack->cfg.mtu - 40;
	ti->cwnd = tp->cwnd;
	ti->ssthresh = tp->ssthresh;
	ti->snd_wnd = tp->snd_wnd;
	ti->rcv_wnd = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;
	ti->unacked = tp->snd_max - tp->snd_una;
	ti->sacked = tp->sacked_bytes;
	ti->backoff = tp->backoff;
	ti->retrans_segs = tp->retrans_segs;
	ti->fast_retrans = tp->fast_retrans;
	ti->timeouts = tp->timeouts;
	ti->bytes_acked = tp->bytes_acked;
	ti->bytes_received = tp->bytes_received;
	ti->segs_in = tp->segs_in;
	ti->segs_out = tp->segs_out;
	return 0;
}

int us_rx_peek(struct us_sock *so, struct us_iov iov[2])
{
	struct tcp_pcb *tp = so->tcp;

	if (!tp)
		return -ENOTCONN;
	return ring_data_iov(&tp->rcv, 0, ring_used(&tp->rcv), iov);
}

int us_rx_consume(struct us_sock *so, size_t n, uint64_t now)
{
	struct tcp_pcb *tp = so->tcp;

	if (!tp)
		return -ENOTCONN;
	if (n > ring_used(&tp->rcv))
		return -EINVAL;
	so->stack->now = now;
	tcp_consume(tp, (uint32_t)n);
	stack_finish(so->stack);
	return 0;
}

int us_tx_space(struct us_sock *so, struct us_iov iov[2])
{
	struct tcp_pcb *tp = so->tcp;

	if (!tp || !tp->snd.buf)
		return -ENOTCONN;
	if (ring_space(&tp->snd) == 0)
		tcp_snd_grow(tp);
	return ring_space_iov(&tp->snd, iov);
}

int us_tx_commit(struct us_sock *so, size_t n, uint64_t now)
{
	struct tcp_pcb *tp = so->tcp;

	if (!tp)
		return -ENOTCONN;
	if (n > ring_space(&tp->snd))
		return -EINVAL;
	if (tp->shut_wr || (tp->state != US_TCP_ESTABLISHED && tp->state != US_TCP_CLOSE_WAIT))
		return -EPIPE;
	so->stack->now = now;
	tp->snd.head += (uint32_t)n;
	tcp_output(tp);
	stack_finish(so->stack);
	return 0;
}

/* Move ring `r` onto `mem` (size bytes).  `keep` = bytes from the tail
 * that hold data (received or queued bytes, and out-of-order data past the
 * head); only those are copied, at the same positions (indices are stream
 * offsets masked by the size).  Copying the whole 256 KiB ring of every
 * accepted socket whose request had already arrived faulted in every page
 * of the fresh shared memory and capped nginx at ~750 connections/s. */
static int tcp_ring_move(struct us_ring *r, uint8_t *mem, uint32_t size, uint32_t cap,
			 uint32_t keep)
{
	if (size == 0 || (size & (size - 1)) || size < TCP_BUF_MIN || size > TCP_BUF_MAX ||
	    cap < size || (cap & (cap - 1)) || cap > TCP_BUF_MAX)
		return -EINVAL;
	if (r->buf) {
		if (keep > r->size)
			return -EINVAL;
		/* Same size: the bytes keep their positions. */
		if (size != r->size && keep)
			return -EINVAL;
		if (keep) {
			uint32_t at = r->tail & r->mask;
			uint32_t first = keep < r->size - at ? keep : r->size - at;
			memcpy(mem + at, r->buf + at, first);
			memcpy(mem, r->buf, keep - first);
		}
		if (r->owned)
			free(r->buf);
	} else {
		r->head = r->tail = 0;
	}
	r->buf = mem;
	r->size = size;
	r->mask = size - 1;
	r->cap = cap;
	r->owned = false;
	return 0;
}

int us_sock_attach_rings(struct us_sock *so, uint8_t *rx, uint32_t rx_size, uint32_t rx_cap,
			 uint8_t *tx, uint32_t tx_size, uint32_t tx_cap)
{
	struct tcp_pcb *tp = so->tcp;
	uint32_t keep;
	int r;

	if (so->type != US_SOCK_STREAM || !tp)
		return -EOPNOTSUPP;
	/* Out-of-order data lives in the receive ring past its head, so a
	 * ring with content is only moved to one of the same size. */
	keep = tp->rcv.buf ? ring_used(&tp->rcv) : 0;
	for (unsigned i = 0; tp->rcv.buf && i < tp->nooo; i++) {
		uint32_t ext = ring_used(&tp->rcv) + (tp->ooo[i].end - tp->rcv_nxt);
		if (ext > keep)
			keep = ext;
	}
	if ((r = tcp_ring_move(&tp->rcv, rx, rx_size, rx_cap, keep)) < 0)
		return r;
	if ((r = tcp_ring_move(&tp->snd, tx, tx_size, tx_cap,
			       tp->snd.buf ? ring_used(&tp->snd) : 0)) < 0)
		return r;
	so->rcvbuf = rx_size;
	so->sndbuf = tx_size;
	tcp_mem_update(tp);
	return 0;
}

int us_ring_state(const struct us_sock *so, struct us_ring_state *rs)
{
	const struct tcp_pcb *tp = so->tcp;

	if (so->type != US_SOCK_STREAM || !tp)
		return -EOPNOTSUPP;
	rs->rx_size = tp->rcv.buf ? tp->rcv.size : 0;
	rs->rx_cap = tp->rcv.buf ? tp->rcv.cap : 0;
	rs->rx_fixed = tp->rcvbuf_fixed;
	rs->rx_grow = tp->rcv_grow;
	rs->tx_size = tp->snd.buf ? tp->snd.size : 0;
	rs->tx_cap = tp->snd.buf ? tp->snd.cap : 0;
	rs->tx_fixed = tp->sndbuf_fixed;
	rs->tx_grow = tcp_snd_grow_size(tp) != 0;
	rs->rx_head = tp->rcv.head;
	rs->rx_tail = tp->rcv.tail;
	rs->tx_head = tp->snd.head;
	rs->tx_tail = tp->snd.tail;
	return 0;
}
