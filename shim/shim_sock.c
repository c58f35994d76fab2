/* shim_sock.c - the interposed socket calls other than data transfer and
 * readiness: socket, bind, listen, accept/accept4, connect, shutdown,
 * close, dup/dup2/dup3, fcntl and getsockname/getpeername (ioctl and the
 * socket options are in shim_opt.c).  Kernel fds go straight to libc. */
/* Both fcntl and fcntl64 are defined here: keep <fcntl.h> from renaming
 * one to the other (64-bit: off_t is 64 bits either way). */
#undef _FILE_OFFSET_BITS
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim.h"
#include "ustack.h"

uint64_t shim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int shim_get_addr(const struct sockaddr *sa, socklen_t len, struct ipc_addr *a)
{
	struct sockaddr_in sin;

	if (!sa || len < sizeof(sa_family_t))
		return -EINVAL;
	if (sa->sa_family == AF_UNSPEC) {
		memset(a, 0, sizeof *a);
		return 1; /* connect(AF_UNSPEC): dissolve (datagram) */
	}
	if (sa->sa_family != AF_INET)
		return -EAFNOSUPPORT;
	if (len < sizeof sin)
		return -EINVAL;
	memcpy(&sin, sa, sizeof sin);
	memset(a, 0, sizeof *a);
	a->ip = ntohl(sin.sin_addr.s_addr);
	a->port = ntohs(sin.sin_port);
	return 0;
}

static void shim_put_addr(const struct ipc_addr *a, struct sockaddr *sa, socklen_t *len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	if (!sa || !len)
		return;
	sin.sin_addr.s_addr = htonl(a->ip);
	sin.sin_port = htons(a->port);
	memcpy(sa, &sin, *len < sizeof sin ? *len : sizeof sin);
	*len = sizeof sin;
}

int shim_sock_error(int fd, struct shim_sock *s)
{
	int r = shim_req_simple(fd, s, IPC_SOERROR, NULL, 0, NULL, 0);

	return r < 0 ? -r : r;
}

SHIM_VIS int socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (domain == AF_INET6)
		return (int)shim_ret(-EAFNOSUPPORT);
	if (domain != AF_INET || (base != SOCK_STREAM && base != SOCK_DGRAM)) {
		int fd = shim_real.socket(domain, type, protocol);
		if (fd >= 0) /* whatever an unseen close left at this number */
			shim_fd_clear(fd);
		return fd;
	}
	if (protocol != 0 && !(base == SOCK_STREAM && protocol == IPPROTO_TCP) &&
	    !(base == SOCK_DGRAM && protocol == IPPROTO_UDP))
		return (int)shim_ret(-EPROTONOSUPPORT);
	return (int)shim_ret(shim_ipc_socket(base, type & (SOCK_NONBLOCK | SOCK_CLOEXEC)));
}

SHIM_VIS int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct ipc_addr a;
	int r;

	if (!s)
		return shim_real.bind(fd, sa, len);
	if ((r = shim_get_addr(sa, len, &a)) != 0)
		return (int)shim_ret(r > 0 ? -EAFNOSUPPORT : r);
	return (int)shim_ret(shim_req_simple(fd, s, IPC_BIND, &a, sizeof a, NULL, 0));
}

SHIM_VIS int listen(int fd, int backlog)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct ipc_int v = { .val = backlog };
	int r;

	if (!s)
		return shim_real.listen(fd, backlog);
	if (s->type != SOCK_STREAM)
		return (int)shim_ret(-EOPNOTSUPP);
	r = shim_req_simple(fd, s, IPC_LISTEN, &v, sizeof v, NULL, 0);
	if (r == 0)
		s->listening = true;
	return (int)shim_ret(r);
}

static int shim_timeout_left(uint64_t deadline)
{
	if (deadline == 0)
		return -1;
	uint64_t now = shim_now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

static uint64_t shim_deadline(int timeo_ms)
{
	return timeo_ms > 0 ? shim_now_ms() + (uint64_t)timeo_ms : 0;
}

static int shim_accept_in(int fd, struct shim_sock *s, struct sockaddr *sa, socklen_t *len,
			  int flags)
{
	uint64_t deadline = shim_deadline(shim_rcvtimeo(s));

	/* A copy forked before listen() learns it from the header. */
	if (!s->listening && __atomic_load_n(&s->shm->state, __ATOMIC_ACQUIRE) == US_TCP_LISTEN)
		s->listening = true;
	if (!s->listening)
		return -EINVAL;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	/* Hints for the connections ustackd pushes next (ipc.h). */
	__atomic_store_n(&s->shm->acc_flags,
			 (flags & SOCK_NONBLOCK ? 1u : 0u) | (flags & SOCK_CLOEXEC ? 0u : 2u),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&s->shm->acc_pid, (uint32_t)shim_self_pid(), __ATOMIC_RELAXED);
	for (;;) {
		struct ipc_sockinfo si;
		struct iovec rp = { &si, sizeof si };
		size_t got = 0;
		int fds[2] = { -1, -1 };
		int r;

		/* A connection pushed down the channel (kept here, or at its
		 * head): no round trip.  Nothing pushed and nothing in the
		 * stack's queue: EAGAIN without asking.  Else ask (more
		 * than IPC_PUSH_MAX were waiting). */
		bool pushed = __atomic_load_n(&s->shm->acc_pushed, __ATOMIC_ACQUIRE) !=
			      __atomic_load_n(&s->shm->acc_taken, __ATOMIC_ACQUIRE);
		bool queued = shim_ready(s) & (POLLIN | POLLERR | POLLHUP);

		/* Something to take: its channel's socket first, so that a
		 * process out of descriptors gets EMFILE with the connection
		 * still queued (Linux's accept), not a connection taken and
		 * lost. */
		if (!shim_accq_has(s) && (pushed || queued) && (r = shim_chan_prepare(flags)) < 0)
			return r;
		if (shim_accq_pop(s, &si, fds) ||
		    (pushed && shim_accq_pull(fd, s) > 0 && shim_accq_pop(s, &si, fds))) {
			r = 0;
			got = sizeof si;
		} else if (!queued && !(shim_ready(s) & (POLLIN | POLLERR | POLLHUP))) {
			r = -EAGAIN;
		} else {
			r = shim_req_flags(fd, s, IPC_ACCEPT, 0, NULL, 0, &rp, 1, &got, fds);
			if (r == 0) {
				/* The reply brings [memfd] and the token: make
				 * the channel (ipc.h). */
				int chan = -EPROTO;
				if (got == sizeof si && fds[1] < 0)
					chan = shim_chan_open(&si, flags);
				si.flags = (si.flags & ~(SHIM_SI_NONBLOCK | SHIM_SI_CLOEXEC)) |
					   (flags & SOCK_NONBLOCK ? SHIM_SI_NONBLOCK : 0) |
					   (flags & SOCK_CLOEXEC ? SHIM_SI_CLOEXEC : 0);
				fds[1] = fds[0];
				fds[0] = chan;
				if (chan < 0) {
					if (fds[1] >= 0)
						shim_real.close(fds[1]);
					return chan;
				}
			} else if (r == -EAGAIN && shim_accq_pop(s, &si, fds)) {
				r = 0; /* one was pushed while we asked */
				got = sizeof si;
			}
		}

		if (r == 0) {
			bool cached = si.flags & IPC_SI_CACHED;
			if (got != sizeof si || fds[0] < 0 || (fds[1] < 0) != cached) {
				for (int i = 0; i < 2; i++)
					if (fds[i] >= 0)
						shim_real.close(fds[i]);
				return -EPROTO;
			}
			struct shim_sock *c = shim_sock_from(SOCK_STREAM, &si, fds[1], &r);
			if (!c && r == -ENOENT && cached) {
				/* The mapping ustackd counted on is gone: ask once. */
				fds[1] = shim_ipc_fetch_memfd(fds[0]);
				c = fds[1] < 0 ? NULL : shim_sock_from(SOCK_STREAM, &si, fds[1], &r);
				if (fds[1] < 0)
					r = fds[1] == -ECONNRESET ? -ECONNABORTED : fds[1];
			}
			if (!c) {
				shim_real.close(fds[0]);
				return r;
			}
			c->connected = true;
			/* Linux's accepted socket is a clone of its listener
			 * (sk_clone_lock): it starts with its timeouts and
			 * low-water mark. */
			__atomic_store_n(&c->shm->rcvtimeo_ms,
					 __atomic_load_n(&s->shm->rcvtimeo_ms, __ATOMIC_RELAXED),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&c->shm->sndtimeo_ms,
					 __atomic_load_n(&s->shm->sndtimeo_ms, __ATOMIC_RELAXED),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&c->shm->rcvlowat,
					 __atomic_load_n(&s->shm->rcvlowat, __ATOMIC_RELAXED),
					 __ATOMIC_RELAXED);
			/* The channel was opened for the flags asked for (or,
			 * pushed, for the previous accept's): correct it if they
			 * differ. */
			if (!(flags & SOCK_CLOEXEC) != !(si.flags & SHIM_SI_CLOEXEC))
				shim_real.fcntl(fds[0], F_SETFD, flags & SOCK_CLOEXEC ? FD_CLOEXEC : 0);
			if (!(flags & SOCK_NONBLOCK) != !(si.flags & SHIM_SI_NONBLOCK))
				shim_real.fcntl(fds[0], F_SETFL,
						O_RDWR | (flags & SOCK_NONBLOCK ? O_NONBLOCK : 0));
			if (flags & SOCK_NONBLOCK)
				c->nonblock = 1;
			shim_fd_set(fds[0], c);
			shim_put_addr(&si.peer, sa, len);
			return fds[0];
		}
		if (r != -EAGAIN)
			return r;
		if (__atomic_load_n(&s->nonblock, __ATOMIC_RELAXED))
			return -EAGAIN;
		shim_want(s, POLLIN);
		if (shim_ready(s) & POLLIN)
			continue;
		int left = shim_timeout_left(deadline);
		if (left == 0)
			return -EAGAIN;
		r = shim_wait(fd, s, left);
		if (r == -EBADF)
			return r;
		if (r == -EINTR || r == -ECONNRESET)
			return r == -EINTR ? -EINTR : -ECONNABORTED;
	}
}

/* The listener stays alive while a call uses it, even if another thread
 * closes it (what it keeps for accept() goes when it is freed). */
static int shim_accept_common(int fd, struct shim_sock *s, struct sockaddr *sa, socklen_t *len,
			      int flags)
{
	shim_sock_ref(s);
	int r = shim_accept_in(fd, s, sa, len, flags);
	shim_sock_unref(s);
	shim_chan_unprepare(); /* a channel socket made but not needed */
	return r;
}

SHIM_VIS int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	struct shim_sock *s = shim_fd_sock(fd);

	if (!s)
		return shim_real.accept4(fd, sa, len, flags);
	return (int)shim_ret(shim_accept_common(fd, s, sa, len, flags));
}

SHIM_VIS int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct shim_sock *s = shim_fd_sock(fd);

	if (!s)
		return shim_real.accept(fd, sa, len);
	return (int)shim_ret(shim_accept_common(fd, s, sa, len, 0));
}

/* Wait for a connect in progress to finish: 0 or the error. */
static int shim_connect_wait(int fd, struct shim_sock *s)
{
	uint64_t deadline = shim_deadline(shim_sndtimeo(s));

	for (;;) {
		uint32_t st = __atomic_load_n(&s->shm->state, __ATOMIC_ACQUIRE);
		unsigned ev = __atomic_load_n(&s->shm->events, __ATOMIC_ACQUIRE);

		if (st >= US_TCP_ESTABLISHED && !(ev & POLLERR)) {
			s->connecting = false;
			s->connected = true;
			return 0;
		}
		if ((ev & POLLERR) || (st == US_TCP_CLOSED && (ev & POLLHUP))) {
			int e = shim_sock_error(fd, s);
			s->connecting = false;
			return e ? -e : -ECONNREFUSED;
		}
		shim_want(s, POLLOUT | POLLERR | POLLHUP);
		st = __atomic_load_n(&s->shm->state, __ATOMIC_ACQUIRE);
		ev = __atomic_load_n(&s->shm->events, __ATOMIC_ACQUIRE);
		if (st >= US_TCP_ESTABLISHED || (ev & (POLLERR | POLLHUP)))
			continue;
		int left = shim_timeout_left(deadline);
		if (left == 0)
			return -EINPROGRESS;
		int r = shim_wait(fd, s, left);
		if (r == -EINTR || r == -ECONNRESET || r == -EBADF)
			return r;
	}
}

SHIM_VIS int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct ipc_addr a;
	int r;

	if (!s)
		return shim_real.connect(fd, sa, len);
	r = shim_get_addr(sa, len, &a);
	if (r < 0)
		return (int)shim_ret(r);
	if (r > 0 && s->type == SOCK_STREAM)
		return (int)shim_ret(-EAFNOSUPPORT);
	if (s->type == SOCK_STREAM && s->connecting)
		return (int)shim_ret(__atomic_load_n(&s->nonblock, __ATOMIC_RELAXED)
					     ? -EALREADY
					     : shim_connect_wait(fd, s));
	r = shim_req_simple(fd, s, IPC_CONNECT, &a, sizeof a, NULL, 0);
	if (s->type != SOCK_STREAM || (r < 0 && r != -EINPROGRESS))
		return (int)shim_ret(r);
	if (r == 0) {
		s->connected = true;
		return 0;
	}
	s->connecting = true;
	if (__atomic_load_n(&s->nonblock, __ATOMIC_RELAXED))
		return (int)shim_ret(-EINPROGRESS);
	return (int)shim_ret(shim_connect_wait(fd, s));
}

SHIM_VIS int shutdown(int fd, int how)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct ipc_int v = { .val = how };
	int r;

	if (!s)
		return shim_real.shutdown(fd, how);
	if (how < SHUT_RD || how > SHUT_RDWR)
		return (int)shim_ret(-EINVAL);
	/* Publish what is in the tx ring first: the FIN goes after it. */
	r = shim_req_simple(fd, s, IPC_SHUTDOWN, &v, sizeof v, NULL, 0);
	if (r == 0) {
		if (how != SHUT_WR)
			s->shut_rd = true;
		if (how != SHUT_RD)
			s->shut_wr = true;
	}
	return (int)shim_ret(r);
}

SHIM_VIS int close(int fd)
{
	/* One of the shim's own numbers: never the program's to close (it
	 * sweeps numbers it does not know), so, as Linux for a number not
	 * open, EBADF (shim_fd.c). */
	if (shim_fd_owned(fd)) {
		errno = EBADF;
		return -1;
	}
	int r = shim_real.close(fd);
	/* Even on EINTR/EIO Linux has released the fd number. */
	if (r == 0 || errno != EBADF)
		shim_fd_clear(fd);
	return r;
}

static int shim_dup_done(int oldfd, int newfd)
{
	struct shim_sock *s = shim_fd_sock(oldfd);

	if (newfd < 0)
		return newfd;
	if (s)
		shim_fd_set(newfd, s);
	else
		shim_fd_clear(newfd);
	return newfd;
}

SHIM_VIS int dup(int fd)
{
	int r = shim_real.dup(fd);

	return r < 0 ? r : shim_dup_done(fd, r);
}

SHIM_VIS int dup2(int oldfd, int newfd)
{
	if (oldfd != newfd && shim_fd_owned(newfd)) {
		int e = shim_fd_evict(newfd); /* ours moves; the number is the program's */
		if (e < 0) {
			errno = -e;
			return -1;
		}
	}
	int r = shim_real.dup2(oldfd, newfd);

	return r < 0 || oldfd == newfd ? r : shim_dup_done(oldfd, r);
}

SHIM_VIS int dup3(int oldfd, int newfd, int flags)
{
	if (oldfd != newfd && shim_fd_owned(newfd)) {
		int e = shim_fd_evict(newfd);
		if (e < 0) {
			errno = -e;
			return -1;
		}
	}
	int r = shim_real.dup3(oldfd, newfd, flags);

	return r < 0 ? r : shim_dup_done(oldfd, r);
}

static int shim_fcntl_common(int fd, int cmd, void *arg)
{
	struct shim_sock *s = shim_fd_sock(fd);
	int r = shim_real.fcntl(fd, cmd, arg);

	if (r < 0 || !s)
		return r;
	if (cmd == F_SETFL)
		__atomic_store_n(&s->nonblock, ((int)(long)arg & O_NONBLOCK) ? 1 : 0,
				 __ATOMIC_RELAXED);
	else if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		shim_dup_done(fd, r);
	return r;
}

SHIM_VIS int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return shim_fcntl_common(fd, cmd, arg);
}

SHIM_VIS int fcntl64(int fd, int cmd, ...);
SHIM_VIS int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return shim_fcntl_common(fd, cmd, arg);
}

static int shim_getname(int fd, struct sockaddr *sa, socklen_t *len, int peer)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct ipc_int v = { .val = peer };
	struct ipc_addr a;
	int r;

	if (!sa || !len)
		return (int)shim_ret(-EFAULT);
	r = shim_req_simple(fd, s, IPC_GETNAME, &v, sizeof v, &a, sizeof a);
	if (r == -EPROTO && !peer) { /* unbound: 0.0.0.0:0 as Linux */
		memset(&a, 0, sizeof a);
		r = 0;
	}
	if (r < 0)
		return (int)shim_ret(r);
	shim_put_addr(&a, sa, len);
	return 0;
}

SHIM_VIS int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (!shim_fd_sock(fd))
		return shim_real.getsockname(fd, sa, len);
	return shim_getname(fd, sa, len, 0);
}

SHIM_VIS int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (!shim_fd_sock(fd))
		return shim_real.getpeername(fd, sa, len);
	return shim_getname(fd, sa, len, 1);
}
