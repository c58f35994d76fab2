/* shim_fd.c - owns the fd -> object tables: which fds are ustack sockets
 * (a shim_sock shared by dups, reference-counted) and which are epoll fds
 * with ustack members.  Two-level, allocated on demand, lock-free reads: a
 * lookup on every read()/write() of a kernel fd costs two loads.  A socket
 * slot is unprobed (NULL), a kernel fd (SHIM_FD_KERNEL) or a socket: an
 * unprobed fd is probed once (shim_adopt.c), and close/dup2/dup3/
 * close_range/SCM_RIGHTS make a number unprobed again.  A child that
 * shares our memory (vfork) leaves the tables alone. */
#include <stdlib.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "shim.h"

#define SHIM_FD_CHUNK 1024
#define SHIM_FD_CHUNKS 1024 /* fds below 1M */

/* The first chunk is static: remembering a kernel fd below 1024 (from
 * inside any read() or write(), maybe in a signal handler) never calls
 * malloc. */
static void *shim_sock_chunk0[SHIM_FD_CHUNK];
static void **shim_sock_tab[SHIM_FD_CHUNKS] = { shim_sock_chunk0 };
static void **shim_ep_tab[SHIM_FD_CHUNKS];

static void **shim_slot(void ***tab, int fd, bool create)
{
	if (fd < 0 || fd >= SHIM_FD_CHUNK * SHIM_FD_CHUNKS)
		return NULL;
	void **chunk = __atomic_load_n(&tab[fd / SHIM_FD_CHUNK], __ATOMIC_ACQUIRE);
	if (!chunk) {
		if (!create)
			return NULL;
		void **fresh = calloc(SHIM_FD_CHUNK, sizeof *fresh);
		if (!fresh)
			return NULL;
		void **expect = NULL;
		if (__atomic_compare_exchange_n(&tab[fd / SHIM_FD_CHUNK], &expect, fresh, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			chunk = fresh;
		else {
			free(fresh);
			chunk = expect;
		}
	}
	return &chunk[fd % SHIM_FD_CHUNK];
}

/* Inside a call that has just checked it is not in a vfork child (this
 * thread's count; a vfork child cannot start inside such a call, since
 * only the program calls vfork). */
_Thread_local unsigned shim_not_vfork;

#define SHIM_FD_KERNEL ((void *)1)
#define SHIM_FD_IS_SOCK(p) ((p) != NULL && (p) != SHIM_FD_KERNEL)

struct shim_sock *shim_fd_peek(int fd)
{
	void **p = shim_slot(shim_sock_tab, fd, false);
	void *v = p ? __atomic_load_n(p, __ATOMIC_ACQUIRE) : NULL;

	return SHIM_FD_IS_SOCK(v) ? v : NULL;
}

struct shim_sock *shim_fd_sock(int fd)
{
	void **p = shim_slot(shim_sock_tab, fd, false);
	void *v = p ? __atomic_load_n(p, __ATOMIC_ACQUIRE) : NULL;

	if (v == SHIM_FD_KERNEL)
		return NULL;
	if (v)
		return v;
	if (fd < 0 || fd >= SHIM_FD_CHUNK * SHIM_FD_CHUNKS)
		return NULL;
	return shim_adopt_probe(fd);
}

void shim_fd_mark_kernel(int fd)
{
	void *expect = NULL;
	void **p;

	if (shim_in_vfork_child() || !(p = shim_slot(shim_sock_tab, fd, true)))
		return;
	__atomic_compare_exchange_n(p, &expect, SHIM_FD_KERNEL, false, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE);
}

struct shim_sock *shim_fd_adopted(int fd, struct shim_sock *s)
{
	void *expect = NULL;
	void **p = shim_in_vfork_child() ? NULL : shim_slot(shim_sock_tab, fd, true);

	shim_sock_ref(s); /* s is consumed: the table's reference, or freed */
	if (p && __atomic_compare_exchange_n(p, &expect, s, false, __ATOMIC_ACQ_REL,
					     __ATOMIC_ACQUIRE))
		return s;
	shim_sock_unref(s);
	return SHIM_FD_IS_SOCK(expect) ? expect : NULL;
}

void shim_sock_ref(struct shim_sock *s)
{
	__atomic_fetch_add(&s->refs, 1, __ATOMIC_ACQ_REL);
}

void shim_sock_unref(struct shim_sock *s)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (s->listening)
		shim_accq_drop(s);
	shim_map_release(s);
	pthread_mutex_destroy(&s->req_lock);
	pthread_mutex_destroy(&s->rx_lock);
	pthread_mutex_destroy(&s->tx_lock);
	free(s);
}

void shim_fd_set(int fd, struct shim_sock *s)
{
	void **p;

	if (shim_in_vfork_child() || !(p = shim_slot(shim_sock_tab, fd, true)))
		return;
	shim_sock_ref(s);
	void *old = __atomic_exchange_n(p, s, __ATOMIC_ACQ_REL);
	if (SHIM_FD_IS_SOCK(old))
		shim_sock_unref(old);
}

static void shim_fd_forget(int fd)
{
	void **p = shim_slot(shim_sock_tab, fd, false);

	if (p) {
		void *old = __atomic_exchange_n(p, NULL, __ATOMIC_ACQ_REL);
		if (SHIM_FD_IS_SOCK(old))
			shim_sock_unref(old);
	}
	shim_fd_ep_clear(fd);
}

void shim_fd_clear(int fd)
{
	void **p = shim_slot(shim_sock_tab, fd, false), **e = shim_slot(shim_ep_tab, fd, false);
	void *v = p ? __atomic_load_n(p, __ATOMIC_ACQUIRE) : NULL;

	/* Forgetting that a number was a kernel fd is harmless even in a
	 * vfork child (the parent probes it again once): only sockets and
	 * epoll tables need the vfork check, whose getpid every close() of a
	 * file used to pay. */
	if (!SHIM_FD_IS_SOCK(v) && !(e && __atomic_load_n(e, __ATOMIC_ACQUIRE))) {
		if (v)
			__atomic_compare_exchange_n(p, &v, NULL, false, __ATOMIC_ACQ_REL,
						    __ATOMIC_ACQUIRE);
		return;
	}
	if (!shim_in_vfork_child()) {
		shim_not_vfork++; /* checked: shim_map_release needs not ask again */
		shim_fd_forget(fd);
		shim_not_vfork--;
	}
}

void shim_fd_clear_range(unsigned first, unsigned last)
{
	const unsigned max = SHIM_FD_CHUNK * SHIM_FD_CHUNKS - 1;

	if (first > max || first > last || shim_in_vfork_child())
		return;
	if (last > max)
		last = max;
	for (unsigned fd = first; fd <= last;) {
		unsigned c = fd / SHIM_FD_CHUNK;
		/* Chunks never allocated hold nothing to forget. */
		if (!__atomic_load_n(&shim_sock_tab[c], __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&shim_ep_tab[c], __ATOMIC_ACQUIRE)) {
			fd = (c + 1) * SHIM_FD_CHUNK;
			continue;
		}
		shim_fd_forget((int)fd);
		fd++;
	}
}

struct shim_ep *shim_fd_ep(int fd, bool create)
{
	void **p = shim_slot(shim_ep_tab, fd, create);
	struct shim_ep *ep;

	if (!p)
		return NULL;
	ep = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	if (ep || !create)
		return ep;
	ep = calloc(1, sizeof *ep);
	if (!ep)
		return NULL;
	ep->ifd = -1;
	pthread_mutex_init(&ep->lock, NULL);
	void *expect = NULL;
	if (!__atomic_compare_exchange_n(p, &expect, ep, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(ep);
		ep = expect;
	}
	return ep;
}

void shim_fd_ep_clear(int fd)
{
	void **p = shim_slot(shim_ep_tab, fd, false);

	if (!p)
		return;
	struct shim_ep *ep = __atomic_exchange_n(p, NULL, __ATOMIC_ACQ_REL);
	if (ep) {
		pthread_mutex_destroy(&ep->lock);
		if (ep->ifd >= 0) {
			shim_fd_disown(ep->ifd);
			shim_real.close(ep->ifd);
		}
		free(ep->ent);
		free(ep->slot);
		free(ep->cand);
		free(ep);
	}
}

/* ---- numbers the shim holds for itself ----------------------------------
 * The control connection and the inner epolls (shim_epoll.c) are the
 * shim's, not the program's: a program that sweeps descriptors it does not
 * know (close() in a loop, closefrom, close_range, dup2 onto "free"
 * numbers) must neither lose them for us nor see them as its own.  Each
 * slot holds where the number is kept (&shim_ctl_fd, &ep->ifd), so that a
 * dup2/dup3 onto it can move ours to another number first. */
static void **shim_own_tab[SHIM_FD_CHUNKS];

void shim_fd_own(int fd, int *where)
{
	void **p;

	if (!shim_in_vfork_child() && (p = shim_slot(shim_own_tab, fd, true)))
		__atomic_store_n(p, (void *)where, __ATOMIC_RELEASE);
}

void shim_fd_disown(int fd)
{
	void **p = shim_slot(shim_own_tab, fd, false);

	if (p && !shim_in_vfork_child())
		__atomic_store_n(p, NULL, __ATOMIC_RELEASE);
}

bool shim_fd_owned(int fd)
{
	void **p = shim_slot(shim_own_tab, fd, false);

	return p && __atomic_load_n(p, __ATOMIC_ACQUIRE) != NULL;
}

int shim_fd_evict(int fd)
{
	void **p = shim_slot(shim_own_tab, fd, false);
	int *where = p ? __atomic_load_n(p, __ATOMIC_ACQUIRE) : NULL;

	/* A vfork child has its own table of files but our memory: its dup2
	 * replaces only its copy, and moving ours would mislead the parent. */
	if (!where || shim_in_vfork_child())
		return 0;
	int nfd = shim_real.fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
	if (nfd < 0)
		return -errno;
	shim_fd_own(nfd, where);
	__atomic_store_n(where, nfd, __ATOMIC_RELEASE);
	__atomic_store_n(p, NULL, __ATOMIC_RELEASE);
	shim_real.close(fd);
	return 0;
}

/* The lowest number of ours in [first, last], or -1. */
int shim_fd_owned_from(unsigned first, unsigned last)
{
	const unsigned max = SHIM_FD_CHUNK * SHIM_FD_CHUNKS - 1;

	if (last > max)
		last = max;
	for (unsigned fd = first; fd <= last;) {
		void **chunk = __atomic_load_n(&shim_own_tab[fd / SHIM_FD_CHUNK], __ATOMIC_ACQUIRE);
		if (!chunk) {
			fd = (fd / SHIM_FD_CHUNK + 1) * SHIM_FD_CHUNK;
			continue;
		}
		if (__atomic_load_n(&chunk[fd % SHIM_FD_CHUNK], __ATOMIC_ACQUIRE))
			return (int)fd;
		fd++;
	}
	return -1;
}
