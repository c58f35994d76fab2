/* shim_epoll.c - epoll over sets that mix kernel fds and ustack sockets.
 * The program gets a real epoll fd holding its kernel fds; the ustack
 * members live in a table beside it (shim_ep).  epoll_wait reports ready
 * ustack members from the shared headers (level-triggered; EPOLLET
 * reports a member again only when its readiness grew or data moved;
 * EPOLLONESHOT disarms), then the kernel's; when nothing is ready it asks
 * ustackd for wake-ups and polls the epoll fd together with the members'
 * real fds. */
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define SHIM_EP_POLL_STACK 64

SHIM_VIS int epoll_create(int size)
{
	int fd = shim_real.epoll_create(size);

	if (fd >= 0)
		shim_fd_clear(fd);
	return fd;
}

SHIM_VIS int epoll_create1(int flags)
{
	int fd = shim_real.epoll_create1(flags);

	if (fd >= 0)
		shim_fd_clear(fd);
	return fd;
}

static struct shim_ep_ent *shim_ep_find(struct shim_ep *ep, int fd)
{
	for (int i = 0; i < ep->n; i++)
		if (ep->ent[i].fd == fd)
			return &ep->ent[i];
	return NULL;
}

SHIM_VIS int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct shim_ep *ep;
	struct shim_ep_ent *e;
	int r = 0;

	if (!s)
		return shim_real.epoll_ctl(epfd, op, fd, ev);
	if (shim_fd_sock(epfd) || epfd == fd)
		return (int)shim_ret(-EINVAL);
	if (op != EPOLL_CTL_DEL && !ev)
		return (int)shim_ret(-EFAULT);
	ep = shim_fd_ep(epfd, op == EPOLL_CTL_ADD);
	if (!ep)
		return (int)shim_ret(op == EPOLL_CTL_ADD ? -ENOMEM : -ENOENT);
	pthread_mutex_lock(&ep->lock);
	e = shim_ep_find(ep, fd);
	if (e && (e->s != s || e->gen != s->gen)) { /* stale: the fd number was reused */
		*e = ep->ent[--ep->n];
		e = NULL;
	}
	switch (op) {
	case EPOLL_CTL_ADD:
		if (e) {
			r = -EEXIST;
			break;
		}
		if (ep->n == ep->cap) {
			int cap = ep->cap ? ep->cap * 2 : 8;
			struct shim_ep_ent *p = realloc(ep->ent, (size_t)cap * sizeof *p);
			if (!p) {
				r = -ENOMEM;
				break;
			}
			ep->ent = p;
			ep->cap = cap;
		}
		e = &ep->ent[ep->n++];
		memset(e, 0, sizeof *e);
		e->fd = fd;
		e->s = s;
		e->gen = s->gen;
		e->events = ev->events;
		e->data = ev->data;
		break;
	case EPOLL_CTL_MOD:
		if (!e) {
			r = -ENOENT;
			break;
		}
		e->events = ev->events;
		e->data = ev->data;
		e->last = 0;
		break;
	case EPOLL_CTL_DEL:
		if (!e) {
			r = -ENOENT;
			break;
		}
		*e = ep->ent[--ep->n];
		break;
	default:
		r = -EINVAL;
	}
	pthread_mutex_unlock(&ep->lock);
	return (int)shim_ret(r);
}

/* Collect ready ustack members into out[] (at most max). */
static int shim_ep_scan(struct shim_ep *ep, struct epoll_event *out, int max, bool arm)
{
	int n = 0;

	for (int i = 0; i < ep->n && n < max; i++) {
		struct shim_ep_ent *e = &ep->ent[i];

		struct shim_sock *now = shim_fd_peek(e->fd);
		/* Closed (the kernel forgets it too), even if a new socket got
		 * the number and the freed object's address. */
		if (now != e->s || now->gen != e->gen) {
			*e = ep->ent[--ep->n];
			i--;
			continue;
		}
		uint32_t interest = e->events & (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI);
		if (!interest && (e->events & EPOLLONESHOT))
			continue; /* disarmed */
		/* Ask for the wake-up BEFORE reading the readiness: ustackd
		 * publishes, then looks at `want`; a change published between
		 * our read and a later store would wake nobody, and the wait
		 * would last until the 1 s re-check (wrk saw 2 s requests). */
		bool nospace = __atomic_load_n(&e->s->nospace, __ATOMIC_ACQUIRE);
		if (arm) {
			uint32_t bits = interest;
			/* Edge-triggered: a bit already reported that stays set
			 * is no edge, so ustackd need not wake us for it; write
			 * space is an edge again only after a send found the
			 * ring full (as Linux's SOCK_NOSPACE).  Without this,
			 * every ACK of a connection in nginx's set (EPOLLOUT |
			 * EPOLLET) cost a wake-up message and a futile scan. */
			if (e->events & EPOLLET) {
				bits &= ~(e->last & EPOLLRDHUP);
				if ((e->last & EPOLLOUT) && !nospace)
					bits &= ~EPOLLOUT;
			}
			shim_want(e->s, bits);
		}
		uint32_t r = shim_ready(e->s) & (interest | EPOLLERR | EPOLLHUP);
		if (e->events & EPOLLET) {
			uint32_t rx = __atomic_load_n(&e->s->shm->rx_head, __ATOMIC_ACQUIRE);
			uint32_t tx = __atomic_load_n(&e->s->shm->tx_tail, __ATOMIC_ACQUIRE);
			bool out_edge = (r & EPOLLOUT) && tx != e->last_tx && nospace;
			bool moved = ((r & EPOLLIN) && rx != e->last_rx) || out_edge ||
				     (e->s->listening && (r & EPOLLIN));
			bool grew = (r & ~e->last) != 0;
			e->last = r;
			e->last_rx = rx;
			e->last_tx = tx;
			if (!grew && !moved)
				r = 0;
			if (r & EPOLLOUT)
				__atomic_store_n(&e->s->nospace, false, __ATOMIC_RELEASE);
		}
		if (r) {
			out[n].events = r;
			out[n].data = e->data;
			n++;
			if (e->events & EPOLLONESHOT)
				e->events &= ~(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI);
		}
	}
	return n;
}

static int shim_ep_wait(int epfd, struct shim_ep *ep, struct epoll_event *evs, int max,
			int timeout, const sigset_t *mask)
{
	uint64_t deadline = timeout > 0 ? shim_now_ms() + (uint64_t)timeout : 0;

	if (max <= 0)
		return -EINVAL;
	for (;;) {
		pthread_mutex_lock(&ep->lock);
		int n = shim_ep_scan(ep, evs, max, false);
		if (n == 0)
			n = shim_ep_scan(ep, evs, max, true); /* armed; re-checked */
		int members = ep->n;
		struct pollfd pbuf[SHIM_EP_POLL_STACK], *p = pbuf;
		struct shim_sock *sbuf[SHIM_EP_POLL_STACK], **ss = sbuf;
		int np = 0;
		if (n == 0 && members + 1 > SHIM_EP_POLL_STACK) {
			p = malloc((size_t)(members + 1) * sizeof *p);
			ss = malloc((size_t)(members + 1) * sizeof *ss);
			if (!p || !ss) {
				pthread_mutex_unlock(&ep->lock);
				free(p == pbuf ? NULL : p);
				free(ss == sbuf ? NULL : ss);
				return -ENOMEM;
			}
		}
		if (n == 0) {
			p[np] = (struct pollfd){ epfd, POLLIN, 0 };
			ss[np++] = NULL;
			for (int i = 0; i < members; i++) {
				p[np] = (struct pollfd){ ep->ent[i].fd, POLLIN, 0 };
				ss[np] = ep->ent[i].s;
				shim_sock_ref(ss[np]);
				np++;
			}
		}
		pthread_mutex_unlock(&ep->lock);
		if (n > 0) {
			if (n < max) { /* the kernel's ready fds too, without waiting */
				int k = shim_real.epoll_wait(epfd, evs + n, max - n, 0);
				if (k > 0)
					n += k;
			}
			return n;
		}
		int wait_ms = timeout;
		if (deadline) {
			uint64_t now = shim_now_ms();
			wait_ms = now >= deadline ? 0 : (int)(deadline - now);
		}
		/* Lost wake-up insurance: re-scan at least once a second.
		 * Wake-ups went missing under nginx + wrk -c 100 until epoll
		 * asked for them before reading readiness and stopped asking
		 * for EPOLLET bits that make no edge; with a 5 s re-scan, wrk
		 * -c 100 (keep-alive and Connection: close) then saw no
		 * request slower than 170 ms.  A 100 ms re-scan woke every
		 * idle program ten times a second. */
		int slice = wait_ms < 0 || wait_ms > 1000 ? 1000 : wait_ms;
		struct timespec ts = { slice / 1000, (long)(slice % 1000) * 1000000 };
		int r = shim_real.ppoll(p, (nfds_t)np, &ts, mask);
		int err = r < 0 ? errno : 0;
		bool kernel_ready = r > 0 && (p[0].revents & POLLIN);
		for (int i = 1; i < np; i++) {
			if (p[i].revents & (POLLHUP | POLLERR))
				shim_mark_dead(ss[i]);
			else if (p[i].revents & POLLIN)
				shim_drain(p[i].fd, ss[i]);
			shim_sock_unref(ss[i]);
		}
		if (p != pbuf)
			free(p);
		if (ss != sbuf)
			free(ss);
		if (r < 0)
			return -err;
		if (kernel_ready) {
			int k = shim_real.epoll_wait(epfd, evs, max, 0);
			if (k != 0) {
				/* Add ready ustack members that fit. */
				if (k > 0 && k < max) {
					pthread_mutex_lock(&ep->lock);
					k += shim_ep_scan(ep, evs + k, max - k, false);
					pthread_mutex_unlock(&ep->lock);
				}
				return k;
			}
		}
		if (wait_ms == 0)
			return 0;
		if (r == 0 && deadline && shim_now_ms() >= deadline)
			return 0;
	}
}

SHIM_VIS int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
			 const sigset_t *mask)
{
	struct shim_ep *ep = shim_fd_ep(epfd, false);

	if (!ep || ep->n == 0)
		return shim_real.epoll_pwait(epfd, evs, max, timeout, mask);
	return (int)shim_ret(shim_ep_wait(epfd, ep, evs, max, timeout < 0 ? -1 : timeout, mask));
}

SHIM_VIS int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	struct shim_ep *ep = shim_fd_ep(epfd, false);

	if (!ep || ep->n == 0)
		return shim_real.epoll_wait(epfd, evs, max, timeout);
	return (int)shim_ret(shim_ep_wait(epfd, ep, evs, max, timeout < 0 ? -1 : timeout, NULL));
}
