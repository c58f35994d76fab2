/* shim_accq.c - owns the connections a process took off a listener's
 * channel before accept() asked for them (shim/ipc.h, "Connections pushed
 * to the listener"): an IPC_PUSH met while the channel is read for a
 * reply or a wake-up is kept here, with its fds, for the next accept() on
 * that listener.  The list is per process: a child after fork closes its
 * copies (the parent still holds them), an exec closes them (received
 * close-on-exec) and ustackd ends those connections. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shim.h"

struct shim_accq_ent {
	struct shim_accq_ent *next;
	struct shim_sock *l; /* NULL while IPC_ATTACH of channel `chan` runs */
	int chan;
	struct ipc_sockinfo si;
	int fd, memfd;
};

static struct shim_accq_ent *shim_accq_head, **shim_accq_tail = &shim_accq_head;
static pthread_mutex_t shim_accq_lock = PTHREAD_MUTEX_INITIALIZER;

static void shim_accq_close(struct shim_accq_ent *e)
{
	shim_real.close(e->fd);
	if (e->memfd >= 0)
		shim_real.close(e->memfd);
	free(e);
}

/* The IPC_PUSH record at the head of listener l's channel `fd` (the
 * caller peeked it under the channel lock), taken and kept, its channel
 * made at once (ipc.h, "Channels of accepted connections": ustackd resets
 * a connection whose taken record brings no channel).  l is NULL while
 * the channel is being adopted (IPC_ATTACH): kept for it, counted when
 * shim_accq_adopt names the object.  1 kept, 0 not a usable push (its
 * fds closed), or -errno of the channel. */
int shim_accq_take(int fd, struct shim_sock *l)
{
	struct ipc_msg h;
	struct ipc_sockinfo si;
	struct iovec iov[2] = { { &h, sizeof h }, { &si, sizeof si } };
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf };
	int got[2] = { -1, -1 }, n = 0;
	ssize_t r;

	do
		r = shim_real.recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (r == 0)
		return -ECONNRESET;
	n = shim_cmsg_fds(&mh, got);
	/* A push left the channel: ustackd may push the next one. */
	bool push = (size_t)r >= sizeof h && h.magic == IPC_MAGIC && h.type == IPC_PUSH;
	if (push && l) {
		__atomic_fetch_add(&l->shm->acc_taken, 1u, __ATOMIC_SEQ_CST);
		l->listening = true; /* e.g. a copy forked before listen() */
	}
	bool cached = (size_t)r == sizeof h + sizeof si && (si.flags & IPC_SI_CACHED);
	struct shim_accq_ent *e = NULL;
	int chan = -1;
	if ((size_t)r == sizeof h + sizeof si && push && (l || fd >= 0) &&
	    h.len == sizeof si && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && got[1] < 0 &&
	    (got[0] < 0) == cached && (e = malloc(sizeof *e)) != NULL) {
		/* Opened as the listener's last accept wanted it
		 * (close-on-exec unless it said otherwise). */
		uint32_t hint = l ? __atomic_load_n(&l->shm->acc_flags, __ATOMIC_RELAXED) : 0;
		int fl = (hint & 1 ? SOCK_NONBLOCK : 0) | (hint & 2 ? 0 : SOCK_CLOEXEC);
		chan = shim_chan_open(&si, fl);
		si.flags = (si.flags & ~(SHIM_SI_NONBLOCK | SHIM_SI_CLOEXEC)) |
			   (fl & SOCK_NONBLOCK ? SHIM_SI_NONBLOCK : 0) |
			   (fl & SOCK_CLOEXEC ? SHIM_SI_CLOEXEC : 0);
	}
	if (chan < 0) {
		free(e);
		for (int i = 0; i < n; i++)
			shim_real.close(got[i]);
		return 0;
	}
	*e = (struct shim_accq_ent){ NULL, l, fd, si, chan, got[0] };
	pthread_mutex_lock(&shim_accq_lock);
	*shim_accq_tail = e;
	shim_accq_tail = &e->next;
	pthread_mutex_unlock(&shim_accq_lock);
	return 1;
}

bool shim_accq_pop(struct shim_sock *l, struct ipc_sockinfo *si, int fds[2])
{
	struct shim_accq_ent **pp, *e = NULL;

	pthread_mutex_lock(&shim_accq_lock);
	for (pp = &shim_accq_head; *pp; pp = &(*pp)->next)
		if (l && (*pp)->l == l) {
			e = *pp;
			*pp = e->next;
			if (shim_accq_tail == &e->next)
				shim_accq_tail = pp;
			break;
		}
	pthread_mutex_unlock(&shim_accq_lock);
	if (!e)
		return false;
	*si = e->si;
	fds[0] = e->fd;
	fds[1] = e->memfd;
	free(e);
	return true;
}

bool shim_accq_has(const struct shim_sock *l)
{
	bool yes = false;

	if (!__atomic_load_n(&shim_accq_head, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&shim_accq_lock);
	for (struct shim_accq_ent *e = shim_accq_head; e && !yes; e = e->next)
		yes = e->l == l;
	pthread_mutex_unlock(&shim_accq_lock);
	return yes;
}

/* IPC_ATTACH of channel chan is over: what was kept meanwhile is s's
 * (counted now that its header is mapped), or goes when s is NULL. */
void shim_accq_adopt(int chan, struct shim_sock *s)
{
	struct shim_accq_ent **pp = &shim_accq_head, *gone = NULL;
	uint32_t n = 0;

	pthread_mutex_lock(&shim_accq_lock);
	while (*pp) {
		struct shim_accq_ent *e = *pp;
		if (!e->l && e->chan == chan) {
			n++;
			if (s) {
				e->l = s;
			} else {
				*pp = e->next;
				e->next = gone;
				gone = e;
				continue;
			}
		}
		pp = &e->next;
	}
	shim_accq_tail = &shim_accq_head;
	while (*shim_accq_tail)
		shim_accq_tail = &(*shim_accq_tail)->next;
	pthread_mutex_unlock(&shim_accq_lock);
	if (s && n) {
		__atomic_fetch_add(&s->shm->acc_taken, n, __ATOMIC_SEQ_CST);
		s->listening = true;
	}
	while (gone) {
		struct shim_accq_ent *next = gone->next;
		shim_accq_close(gone);
		gone = next;
	}
}

/* In a child after fork: these are the parent's (the fds are copies). */
void shim_accq_after_fork(void)
{
	struct shim_accq_ent *e = shim_accq_head;

	pthread_mutex_init(&shim_accq_lock, NULL);
	shim_accq_head = NULL;
	shim_accq_tail = &shim_accq_head;
	while (e) {
		struct shim_accq_ent *next = e->next;
		shim_real.close(e->fd);
		if (e->memfd >= 0)
			shim_real.close(e->memfd);
		free(e);
		e = next;
	}
}

/* Listener l is freed (its last fd in this process is closed, no call
 * holds it): its kept connections go (ustackd sees their channels close).
 * Entries hold no reference, so that closing the listener is enough. */
void shim_accq_drop(struct shim_sock *l)
{
	struct shim_accq_ent **pp = &shim_accq_head, *gone = NULL;

	pthread_mutex_lock(&shim_accq_lock);
	while (*pp) {
		struct shim_accq_ent *e = *pp;
		if (e->l == l) {
			*pp = e->next;
			e->next = gone;
			gone = e;
		} else {
			pp = &e->next;
		}
	}
	shim_accq_tail = &shim_accq_head;
	while (*shim_accq_tail)
		shim_accq_tail = &(*shim_accq_tail)->next;
	pthread_mutex_unlock(&shim_accq_lock);
	while (gone) {
		struct shim_accq_ent *next = gone->next;
		shim_accq_close(gone);
		gone = next;
	}
}
