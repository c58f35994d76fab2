/* sock.c - the socket layer of the core: handles, addresses, readiness and
 * deferred notification.  Protocol work is delegated to udp.c (and tcp
 * later); notifications queued with sock_wakeup() are delivered by
 * sock_flush() at the end of every entry point. */
#include <stdlib.h>

#include "stack_impl.h"

void stack_finish(struct us_stack *s)
{
	ip4_loop_drain(s);
	sock_flush(s);
}

int us_socket(struct us_stack *s, enum us_sock_type type, struct us_sock **out)
{
	struct us_sock *so;

	if (type != US_SOCK_DGRAM)
		return type == US_SOCK_STREAM ? -EPROTONOSUPPORT : -EINVAL;
	so = calloc(1, sizeof(*so));
	if (!so)
		return -ENOMEM;
	so->stack = s;
	so->type = type;
	so->rcvbuf = US_UDP_RCVBUF_DEFAULT;
	STAILQ_INIT(&so->rxq);
	TAILQ_INSERT_TAIL(&s->socks, so, all);
	s->nsocks++;
	US_INC(s, sock_open);
	*out = so;
	return 0;
}

int us_bind(struct us_sock *so, const struct us_addr *a)
{
	if (!a)
		return -EINVAL;
	return udp_bind(so, a);
}

int us_connect(struct us_sock *so, const struct us_addr *a, uint64_t now)
{
	so->stack->now = now;
	return udp_connect(so, a);
}

ssize_t us_sendto(struct us_sock *so, const void *buf, size_t len, int flags,
		  const struct us_addr *to, uint64_t now)
{
	struct us_stack *s = so->stack;
	ssize_t r;

	(void)flags;
	s->now = now;
	r = udp_sendto(so, buf, len, to);
	stack_finish(s);
	return r;
}

ssize_t us_recvfrom(struct us_sock *so, void *buf, size_t len, int flags, struct us_addr *from,
		    uint64_t now)
{
	so->stack->now = now;
	return udp_recvfrom(so, buf, len, flags, from);
}

int us_close(struct us_sock *so, uint64_t now)
{
	struct us_stack *s = so->stack;

	s->now = now;
	if (so->dirty)
		TAILQ_REMOVE(&s->dirty, so, dirty_link);
	udp_close(so);
	TAILQ_REMOVE(&s->socks, so, all);
	s->nsocks--;
	US_INC(s, sock_close);
	free(so);
	return 0;
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
	return udp_events(so);
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
		si.type = so->type;
		si.local = so->local;
		si.remote = so->connected ? so->remote : (struct us_addr){0, 0};
		si.rx_queued = so->rx_bytes;
		si.events = us_sock_events(so);
		cb(ctx, &si);
	}
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
