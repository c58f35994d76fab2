/* shim_epoll.c - epoll over sets that mix kernel fds and ustack sockets.
 * The program gets a real epoll fd holding its kernel fds; the ustack
 * members live in a table beside it (shim_ep), and their socket channels
 * in an inner kernel epoll (ep->ifd) that also holds the program's epoll
 * fd (data SHIM_EP_MARK).  So one epoll_pwait on the inner epoll sleeps
 * for both, and a wait costs what is ready, not what is registered:
 *  - readiness comes from the shared headers.  A member is looked at only
 *    when it is a candidate: just added or modified, reported ready
 *    last time (level-triggered: it is reported again while it stays
 *    ready), or its channel became readable (ustackd sent IPC_WAKE or a
 *    pushed connection: the inner epoll says which).  A member found not
 *    ready has asked ustackd for a wake-up (want) before its readiness
 *    was read, and leaves the list until the wake-up comes.  Every member
 *    is looked at again once a second (lost wake-up insurance).
 *  - EPOLLET reports a member again only when its readiness grew or data
 *    moved; EPOLLONESHOT disarms.
 *  - EPOLLEXCLUSIVE is the kernel's: the channel is registered in the
 *    inner epoll with it, so of several processes (nginx workers) waiting
 *    on one listener each pushed connection wakes one.
 * The program's epoll fd is untouched: a copy of it (dup, exec) works as
 * a kernel epoll fd without the ustack members, as before. */
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define SHIM_EP_BATCH 64

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
	if (fd < 0 || fd >= ep->nslot || ep->slot[fd] == 0)
		return NULL;
	return &ep->ent[ep->slot[fd] - 1];
}

/* Remove member e (swap with the last), and its fd from the candidate
 * list: a new member on that fd must not be on it twice. */
static void shim_ep_remove(struct shim_ep *ep, struct shim_ep_ent *e)
{
	int i = (int)(e - ep->ent);

	for (int k = 0; e->cand && k < ep->ncand; k++)
		if (ep->cand[k] == e->fd) {
			ep->cand[k] = ep->cand[--ep->ncand];
			break;
		}
	ep->slot[e->fd] = 0;
	if (i != ep->n - 1) {
		ep->ent[i] = ep->ent[ep->n - 1];
		ep->slot[ep->ent[i].fd] = i + 1;
	}
	ep->n--;
}

static int shim_ep_cand_add(struct shim_ep *ep, struct shim_ep_ent *e)
{
	if (e->cand)
		return 0;
	if (ep->ncand == ep->candcap) {
		int cap = ep->candcap ? ep->candcap * 2 : 16;
		int *p = realloc(ep->cand, (size_t)cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		ep->cand = p;
		ep->candcap = cap;
	}
	ep->cand[ep->ncand++] = e->fd;
	e->cand = true;
	return 0;
}

/* The inner epoll: the members' channels and the program's epoll fd. */
static int shim_ep_inner(int epfd, struct shim_ep *ep)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = SHIM_EP_MARK };
	int fd;

	if (ep->ifd >= 0)
		return 0;
	fd = shim_real.epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (shim_real.epoll_ctl(fd, EPOLL_CTL_ADD, epfd, &ev) < 0) {
		int err = errno;
		shim_real.close(fd);
		return -err;
	}
	ep->ifd = fd;
	shim_fd_own(fd, &ep->ifd);
	return 0;
}

static int shim_ep_add(int epfd, struct shim_ep *ep, int fd, struct shim_sock *s,
		       const struct epoll_event *ev)
{
	struct epoll_event iev = { .events = EPOLLIN | (ev->events & EPOLLEXCLUSIVE),
				   .data.u64 = (uint64_t)(unsigned)fd };
	struct shim_ep_ent *e;
	int r;

	/* As Linux: EPOLLEXCLUSIVE only with these. */
	if ((ev->events & EPOLLEXCLUSIVE) &&
	    (ev->events & ~(uint32_t)(EPOLLEXCLUSIVE | EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP |
				      EPOLLWAKEUP | EPOLLET)))
		return -EINVAL;
	if ((r = shim_ep_inner(epfd, ep)) < 0)
		return r;
	if (fd >= ep->nslot) {
		int n = ep->nslot ? ep->nslot : 64;
		while (n <= fd)
			n *= 2;
		int *p = realloc(ep->slot, (size_t)n * sizeof *p);
		if (!p)
			return -ENOMEM;
		memset(p + ep->nslot, 0, (size_t)(n - ep->nslot) * sizeof *p);
		ep->slot = p;
		ep->nslot = n;
	}
	if (ep->n == ep->cap) {
		int cap = ep->cap ? ep->cap * 2 : 8;
		struct shim_ep_ent *p = realloc(ep->ent, (size_t)cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		ep->ent = p;
		ep->cap = cap;
	}
	/* A registration of this fd number may be left from a socket that
	 * was removed from the table but whose file lives on (a copy of it
	 * in another process): replace it. */
	if (shim_real.epoll_ctl(ep->ifd, EPOLL_CTL_ADD, fd, &iev) < 0) {
		if (errno != EEXIST)
			return -errno;
		shim_real.epoll_ctl(ep->ifd, EPOLL_CTL_DEL, fd, NULL);
		if (shim_real.epoll_ctl(ep->ifd, EPOLL_CTL_ADD, fd, &iev) < 0)
			return -errno;
	}
	e = &ep->ent[ep->n++];
	memset(e, 0, sizeof *e);
	e->fd = fd;
	e->s = s;
	e->gen = s->gen;
	e->events = ev->events;
	e->data = ev->data;
	ep->slot[fd] = ep->n;
	return shim_ep_cand_add(ep, e);
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
		shim_ep_remove(ep, e);
		e = NULL;
	}
	switch (op) {
	case EPOLL_CTL_ADD:
		r = e ? -EEXIST : shim_ep_add(epfd, ep, fd, s, ev);
		break;
	case EPOLL_CTL_MOD:
		if (!e) {
			r = -ENOENT;
			break;
		}
		/* As Linux: an exclusive registration cannot be modified. */
		if ((ev->events | e->events) & EPOLLEXCLUSIVE) {
			r = -EINVAL;
			break;
		}
		e->events = ev->events;
		e->data = ev->data;
		e->last = 0;
		r = shim_ep_cand_add(ep, e);
		break;
	case EPOLL_CTL_DEL:
		if (!e) {
			r = -ENOENT;
			break;
		}
		shim_real.epoll_ctl(ep->ifd, EPOLL_CTL_DEL, fd, NULL);
		shim_ep_remove(ep, e);
		break;
	default:
		r = -EINVAL;
	}
	pthread_mutex_unlock(&ep->lock);
	return (int)shim_ret(r);
}

/* Member e's events to report now (0: none).  With arm, it first asks
 * ustackd for a wake-up on what it waits for: ustackd publishes, then
 * looks at `want`, so a change published between our read and a later
 * store would wake nobody (wrk saw 2 s requests before this order). */
static uint32_t shim_ep_check(struct shim_ep_ent *e, bool arm)
{
	uint32_t interest = e->events & (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI);

	if (!interest && (e->events & EPOLLONESHOT))
		return 0; /* disarmed */
	bool nospace = __atomic_load_n(&e->s->nospace, __ATOMIC_ACQUIRE);
	if (arm) {
		uint32_t bits = interest;
		/* Edge-triggered: a bit already reported that stays set is no
		 * edge, so ustackd need not wake us for it; write space is an
		 * edge again only after a send found the ring full (as Linux's
		 * SOCK_NOSPACE).  Without this, every ACK of a connection in
		 * nginx's set (EPOLLOUT | EPOLLET) cost a wake-up message. */
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
	return r;
}

/* Is member e still the socket at its fd?  A closed one is forgotten (the
 * kernel forgets its channel too), even if a new socket got the number and
 * the freed object's address. */
static bool shim_ep_live(struct shim_ep_ent *e)
{
	struct shim_sock *now = shim_fd_peek(e->fd);

	return now == e->s && now->gen == e->gen;
}

/* Report e into out[*n] if ready.  Returns whether it stays a candidate:
 * level-triggered and ready (looked at again without a wake-up). */
static bool shim_ep_visit(struct shim_ep_ent *e, struct epoll_event *out, int *n)
{
	/* Edge-triggered members leave the list when reported: they must
	 * have asked for the wake-up of their next edge (armed first).
	 * Level-triggered ones stay while ready: arm only when not. */
	uint32_t r = shim_ep_check(e, (e->events & EPOLLET) != 0);

	if (!r && !(e->events & EPOLLET))
		r = shim_ep_check(e, true); /* armed, then re-checked */
	if (!r)
		return false;
	out[*n].events = r;
	out[*n].data = e->data;
	(*n)++;
	if (e->events & EPOLLONESHOT) {
		e->events &= ~(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI);
		return false;
	}
	return !(e->events & EPOLLET);
}

/* Look at the candidates (or, when due, every member); ready ones into
 * out[] (at most max).  The list is compacted in place: what stays on it
 * is the candidates not reached (out[] full) and the ones to look at
 * again. */
static int shim_ep_scan(struct shim_ep *ep, struct epoll_event *out, int max)
{
	int n = 0, w = 0;
	uint64_t now = shim_now_ms();

	if (now >= ep->rescan_at) {
		ep->rescan_at = now + 1000;
		for (int i = 0; i < ep->n; i++)
			shim_ep_cand_add(ep, &ep->ent[i]);
	}
	for (int k = 0; k < ep->ncand; k++) {
		struct shim_ep_ent *e = shim_ep_find(ep, ep->cand[k]);

		if (!e || !e->cand)
			continue; /* removed since */
		if (n < max) {
			if (!shim_ep_live(e)) {
				e->cand = false; /* this pass drops it from the list */
				shim_ep_remove(ep, e);
				continue;
			}
			if (!shim_ep_visit(e, out, &n)) {
				e->cand = false;
				continue;
			}
		}
		ep->cand[w++] = e->fd;
	}
	ep->ncand = w;
	return n;
}

/* Channels the inner epoll reported readable: take their records
 * (IPC_WAKE; pushed connections go to the accept queue) and make their
 * members candidates.  Returns whether the program's epoll fd was among
 * them (its kernel fds are ready). */
static bool shim_ep_inner_events(struct shim_ep *ep, const struct epoll_event *iev, int k)
{
	bool kernel = false;

	for (int i = 0; i < k; i++) {
		if (iev[i].data.u64 == SHIM_EP_MARK) {
			kernel = true;
			continue;
		}
		struct shim_ep_ent *e = shim_ep_find(ep, (int)iev[i].data.u64);
		if (!e)
			continue;
		if (!shim_ep_live(e)) {
			shim_ep_remove(ep, e);
			continue;
		}
		if (iev[i].events & (EPOLLHUP | EPOLLERR))
			shim_mark_dead(e->s);
		else
			shim_drain(e->fd, e->s);
		shim_ep_cand_add(ep, e);
	}
	return kernel;
}

static int shim_ep_wait(int epfd, struct shim_ep *ep, struct epoll_event *evs, int max,
			int timeout, const sigset_t *mask)
{
	uint64_t deadline = timeout > 0 ? shim_now_ms() + (uint64_t)timeout : 0;

	if (max <= 0)
		return -EINVAL;
	for (;;) {
		pthread_mutex_lock(&ep->lock);
		int n = shim_ep_scan(ep, evs, max);
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
		/* Sleep on the inner epoll itself, not on one nested in the
		 * program's: Linux honours EPOLLEXCLUSIVE only for an epoll
		 * a task waits on directly (ep_poll_callback's ewake).  Lost
		 * wake-up insurance: every member is looked at again at least
		 * once a second (shim_ep_scan). */
		struct epoll_event iev[SHIM_EP_BATCH];
		int slice = wait_ms < 0 || wait_ms > 1000 ? 1000 : wait_ms;
		int k = shim_real.epoll_pwait(ep->ifd, iev, SHIM_EP_BATCH, slice, mask);
		if (k < 0)
			return -errno;
		pthread_mutex_lock(&ep->lock);
		bool kernel = shim_ep_inner_events(ep, iev, k);
		pthread_mutex_unlock(&ep->lock);
		if (kernel) {
			int kk = shim_real.epoll_wait(epfd, evs, max, 0);
			if (kk < 0)
				return -errno;
			if (kk > 0) {
				if (kk < max) { /* ready ustack members that fit */
					pthread_mutex_lock(&ep->lock);
					kk += shim_ep_scan(ep, evs + kk, max - kk);
					pthread_mutex_unlock(&ep->lock);
				}
				return kk;
			}
		}
		if (wait_ms == 0)
			return 0;
		if (k == 0 && deadline && shim_now_ms() >= deadline)
			return 0;
	}
}

SHIM_VIS int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
			 const sigset_t *mask)
{
	struct shim_ep *ep = shim_fd_ep(epfd, false);

	if (!ep || ep->ifd < 0)
		return shim_real.epoll_pwait(epfd, evs, max, timeout, mask);
	return (int)shim_ret(shim_ep_wait(epfd, ep, evs, max, timeout < 0 ? -1 : timeout, mask));
}

SHIM_VIS int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	struct shim_ep *ep = shim_fd_ep(epfd, false);

	if (!ep || ep->ifd < 0)
		return shim_real.epoll_wait(epfd, evs, max, timeout);
	return (int)shim_ret(shim_ep_wait(epfd, ep, evs, max, timeout < 0 ? -1 : timeout, NULL));
}
