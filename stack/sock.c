/* sock.c - the socket layer of the core: handles, addresses, readiness and
 * deferred notification.  Protocol work is delegated to udp.c (and tcp
 * later); notifications queued with sock_wakeup() are delivered by
 * sock_flush() at the end of every entry point. */
#include <stdlib.h>

#include "stack_impl.h"

void stack_finish(struct us_stack *s)
{
	ip4_loop_drain(s);
	/* Per frame, also inside a batch: a program that reads while the
	 * rest of the batch is processed keeps the pipeline full.  (Holding
	 * the notifications to the batch's end was measured: iperf3 -R
	 * under the shim 6.5-6.7 -> 5.6-5.7 Gbit/s.) */
	sock_flush(s);
}

struct us_sock *sock_alloc(struct us_stack *s, enum us_sock_type type)
{
	struct us_sock *so = calloc(1, sizeof(*so));

	if (!so)
		return NULL;
	so->stack = s;
	so->type = type;
	so->rcvbuf = US_UDP_RCVBUF_DEFAULT;
	so->sndbuf = US_UDP_RCVBUF_DEFAULT;
	so->ttl = 64;
	so->dg_linger = -1;
	STAILQ_INIT(&so->rxq);
	TAILQ_INSERT_TAIL(&s->socks, so, all);
	s->nsocks++;
	US_INC(s, sock_open);
	return so;
}

static void sock_release(struct us_sock *so)
{
	struct us_stack *s = so->stack;

	if (so->dirty)
		TAILQ_REMOVE(&s->dirty, so, dirty_link);
	TAILQ_REMOVE(&s->socks, so, all);
	s->nsocks--;
	US_INC(s, sock_close);
	free(so);
}

int us_socket(struct us_stack *s, enum us_sock_type type, struct us_sock **out)
{
	struct us_sock *so;
	int r;

	if (type != US_SOCK_DGRAM && type != US_SOCK_STREAM)
		return -EINVAL;
	so = sock_alloc(s, type);
	if (!so)
		return -ENOMEM;
	if (type == US_SOCK_STREAM && (r = tcp_usr_attach(so)) < 0) {
		sock_release(so);
		return r;
	}
	*out = so;
	return 0;
}

int us_bind(struct us_sock *so, const struct us_addr *a)
{
	if (!a)
		return -EINVAL;
	return so->type == US_SOCK_STREAM ? tcp_usr_bind(so, a) : udp_bind(so, a);
}

int us_connect(struct us_sock *so, const struct us_addr *a, uint64_t now)
{
	struct us_stack *s = so->stack;
	int r;

	s->now = now;
	if (so->type != US_SOCK_STREAM)
		return udp_connect(so, a);
	r = tcp_usr_connect(so, a);
	stack_finish(s);
	return r;
}

int us_listen(struct us_sock *so, int backlog)
{
	if (so->type != US_SOCK_STREAM)
		return -EOPNOTSUPP;
	return tcp_usr_listen(so, backlog);
}

int us_accept(struct us_sock *so, struct us_sock **out, struct us_addr *peer, uint64_t now)
{
	if (so->type != US_SOCK_STREAM)
		return -EOPNOTSUPP;
	so->stack->now = now;
	return tcp_usr_accept(so, out, peer);
}

ssize_t us_sendto(struct us_sock *so, const void *buf, size_t len, int flags,
		  const struct us_addr *to, uint64_t now)
{
	struct us_stack *s = so->stack;
	ssize_t r;

	s->now = now;
	if (so->type == US_SOCK_STREAM)
		r = tcp_usr_send(so, buf, len, flags);
	else
		r = udp_sendto(so, buf, len, to);
	stack_finish(s);
	return r;
}

ssize_t us_recvfrom(struct us_sock *so, void *buf, size_t len, int flags, struct us_addr *from,
		    uint64_t now)
{
	struct us_stack *s = so->stack;
	ssize_t r;

	s->now = now;
	if (so->type != US_SOCK_STREAM)
		return udp_recvfrom(so, buf, len, flags, from);
	r = tcp_usr_recv(so, buf, len, flags);
	if (r >= 0 && from)
		*from = so->remote;
	stack_finish(s);
	return r;
}

ssize_t us_send(struct us_sock *so, const void *buf, size_t len, int flags, uint64_t now)
{
	return us_sendto(so, buf, len, flags, NULL, now);
}

ssize_t us_recv(struct us_sock *so, void *buf, size_t len, int flags, uint64_t now)
{
	return us_recvfrom(so, buf, len, flags, NULL, now);
}

int us_shutdown(struct us_sock *so, int how, uint64_t now)
{
	struct us_stack *s = so->stack;
	int r;

	s->now = now;
	if (so->type != US_SOCK_STREAM)
		return -EOPNOTSUPP;
	r = tcp_usr_shutdown(so, how);
	stack_finish(s);
	return r;
}

int us_close(struct us_sock *so, uint64_t now)
{
	struct us_stack *s = so->stack;

	s->now = now;
	if (so->type == US_SOCK_STREAM)
		tcp_usr_close(so);
	else
		udp_close(so);
	sock_release(so);
	stack_finish(s);
	return 0;
}

int us_setsockopt(struct us_sock *so, enum us_sockopt opt, int val)
{
	switch (opt) {
	case US_SO_BROADCAST:
		so->bcast = val != 0;
		return 0;
	case US_SO_REUSEADDR:
		so->reuseaddr = val != 0;
		return 0;
	case US_SO_REUSEPORT:
		/* Takes effect at bind (udp_bind; TCP binds ignore it: a
		 * second listener on a port still gets EADDRINUSE). */
		so->reuseport = val != 0;
		return 0;
	case US_SO_RCVBUF:
		if (so->type == US_SOCK_DGRAM)
			return us_sock_set_rcvbuf(so, val < 256 ? 256 : (size_t)val);
		break;
	case US_SO_SNDBUF:
		if (so->type == US_SOCK_DGRAM) {
			so->sndbuf = val < 256 ? 256 : (size_t)val;
			return 0;
		}
		break;
	case US_IP_TTL:
		if (val < 1 || val > 255)
			return -EINVAL;
		so->ttl = val;
		break;
	case US_IP_TOS:
		so->tos = val & 0xff;
		break;
	default:
		break;
	}
	if (so->type == US_SOCK_STREAM) {
		int r = tcp_usr_setopt(so, opt, val);

		stack_finish(so->stack);
		return r;
	}
	switch (opt) {
	case US_IP_TTL:
	case US_IP_TOS:
		return 0;
	/* socket(7) options Linux keeps on UDP sockets without effect. */
	case US_SO_KEEPALIVE:
		so->dg_keepalive = val != 0;
		return 0;
	case US_SO_LINGER:
		so->dg_linger = val < 0 ? -1 : val;
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

void us_sock_set_owner(struct us_sock *so, uint32_t uid)
{
	so->owner = uid;
}

int us_getsockopt(const struct us_sock *so, enum us_sockopt opt, int *val)
{
	switch (opt) {
	case US_SO_BROADCAST: *val = so->bcast; return 0;
	case US_SO_REUSEADDR: *val = so->reuseaddr; return 0;
	case US_SO_REUSEPORT: *val = so->reuseport; return 0;
	default: break;
	}
	if (so->type == US_SOCK_STREAM)
		return tcp_usr_getopt(so, opt, val);
	switch (opt) {
	case US_SO_RCVBUF: *val = (int)so->rcvbuf; return 0;
	case US_SO_SNDBUF: *val = (int)so->sndbuf; return 0;
	case US_IP_TTL: *val = so->ttl; return 0;
	case US_IP_TOS: *val = so->tos; return 0;
	case US_SO_KEEPALIVE: *val = so->dg_keepalive; return 0;
	case US_SO_LINGER: *val = so->dg_linger; return 0;
	default: return -ENOPROTOOPT;
	}
}

int us_getsockname(const struct us_sock *so, struct us_addr *a)
{
	*a = so->local;
	return 0;
}

int us_getpeername(const struct us_sock *so, struct us_addr *a)
{
	if (!so->connected)
		return -ENOTCONN;
	*a = so->remote;
	return 0;
}

int us_sock_error(struct us_sock *so)
{
	int e = so->so_error;

	so->so_error = 0;
	return e;
}

unsigned us_sock_events(const struct us_sock *so)
{
	return so->type == US_SOCK_STREAM ? tcp_usr_events(so) : udp_events(so);
}

void us_sock_set_notify(struct us_sock *so, us_notify_fn fn, void *ctx)
{
	so->notify = fn;
	so->notify_ctx = ctx;
}

void *us_sock_ctx(const struct us_sock *so)
{
	return so->notify_ctx;
}

enum us_sock_type us_sock_type_of(const struct us_sock *so)
{
	return so->type;
}

int us_sock_set_rcvbuf(struct us_sock *so, size_t bytes)
{
	if (bytes < 256 || bytes > (64u << 20))
		return -EINVAL;
	so->rcvbuf = bytes;
	return 0;
}

void us_sock_foreach(const struct us_stack *s, us_sock_cb cb, void *ctx)
{
	const struct us_sock *so;
	struct us_sock_info si;

	TAILQ_FOREACH(so, &s->socks, all) {
		memset(&si, 0, sizeof(si));
		si.type = so->type;
		si.local = so->local;
		si.remote = so->connected ? so->remote : (struct us_addr){0, 0};
		si.rx_queued = so->rx_bytes;
		if (so->type == US_SOCK_STREAM) {
			struct us_tcp_info ti;

			struct us_ring_state rs;

			if (us_tcp_info(so, &ti) == 0)
				si.state = ti.state;
			if (us_ring_state(so, &rs) == 0)
				si.tx_queued = rs.tx_head - rs.tx_tail;
			si.rx_queued = 0;
			{
				struct us_iov iov[2];
				int n = us_rx_peek((struct us_sock *)so, iov);

				for (int i = 0; i < n; i++)
					si.rx_queued += iov[i].len;
			}
		}
		si.events = us_sock_events(so);
		cb(ctx, &si);
	}
	tcp_foreach_orphan(s, cb, ctx);
}

void sock_wakeup(struct us_sock *so)
{
	if (so->dirty || !so->notify)
		return;
	so->dirty = true;
	TAILQ_INSERT_TAIL(&so->stack->dirty, so, dirty_link);
}

void sock_flush(struct us_stack *s)
{
	struct us_sock *so;

	/* Each socket is unlinked before its callback runs, so a callback may
	 * close it or send (which may queue further notifications). */
	while ((so = TAILQ_FIRST(&s->dirty)) != NULL) {
		TAILQ_REMOVE(&s->dirty, so, dirty_link);
		so->dirty = false;
		so->notify(so->notify_ctx, so, us_sock_events(so));
	}
}
