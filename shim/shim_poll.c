/* shim_poll.c - poll, ppoll, select, pselect (and their __*_chk forms) over
 * sets that mix kernel fds and ustack sockets.  ustack readiness comes from
 * the shared header; a caller that must block asks ustackd for a wake-up
 * (`want`) and the kernel waits on the socket's real fd for POLLIN along
 * with the kernel fds.  select/pselect are translated to the same core. */
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define SHIM_POLL_STACK 64

static int shim_ts_ms(const struct timespec *ts)
{
	if (!ts)
		return -1;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0)
		return -2;
	long long ms = (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* Readiness of a ustack entry as poll(2) reports it. */
static short shim_revents(struct shim_sock *s, short events)
{
	unsigned r = shim_ready(s);
	short out = 0;

	if ((r & POLLIN) && (events & (POLLIN | POLLRDNORM)))
		out |= events & (POLLIN | POLLRDNORM);
	if ((r & POLLOUT) && (events & (POLLOUT | POLLWRNORM)))
		out |= events & (POLLOUT | POLLWRNORM);
	if ((r & POLLRDHUP) && (events & POLLRDHUP))
		out |= POLLRDHUP;
	out |= (short)(r & (POLLERR | POLLHUP));
	return out;
}

/* The core: timeout in ms (-1 forever), optional signal mask for the
 * kernel wait (ppoll/pselect). */
static int shim_poll_core(struct pollfd *fds, nfds_t n, int timeout, const sigset_t *mask)
{
	struct pollfd stackbuf[SHIM_POLL_STACK], *k = stackbuf;
	struct shim_sock *sbuf[SHIM_POLL_STACK], **socks = sbuf;
	uint64_t deadline = timeout > 0 ? shim_now_ms() + (uint64_t)timeout : 0;
	int ret;

	if (n > SHIM_POLL_STACK) {
		k = malloc(n * sizeof *k);
		socks = malloc(n * sizeof *socks);
		if (!k || !socks) {
			free(k == stackbuf ? NULL : k);
			free(socks == sbuf ? NULL : socks);
			return -ENOMEM;
		}
	}
	/* Each socket stays alive while we wait on it, even if another
	 * thread closes its fd meanwhile. */
	for (nfds_t i = 0; i < n; i++)
		if ((socks[i] = shim_fd_sock(fds[i].fd)) != NULL)
			shim_sock_ref(socks[i]);
	for (;;) {
		int ready = 0;

		/* ustack entries first: ready ones make the kernel call a peek. */
		for (nfds_t i = 0; i < n; i++) {
			k[i] = fds[i];
			k[i].revents = 0;
			if (!socks[i])
				continue;
			k[i].events = POLLIN;
			if (shim_revents(socks[i], fds[i].events))
				ready++;
		}
		int wait_ms = timeout;
		if (!ready) {
			for (nfds_t i = 0; i < n; i++)
				if (socks[i])
					shim_want(socks[i], (unsigned)fds[i].events &
								    (POLLIN | POLLOUT | POLLRDHUP));
			for (nfds_t i = 0; i < n; i++)
				if (socks[i] && shim_revents(socks[i], fds[i].events))
					ready++;
		}
		if (ready)
			wait_ms = 0;
		else if (deadline) {
			uint64_t now = shim_now_ms();
			wait_ms = now >= deadline ? 0 : (int)(deadline - now);
		}
		/* Lost wake-up insurance: re-check at least once a second. */
		int slice = wait_ms < 0 || wait_ms > 1000 ? 1000 : wait_ms;
		struct timespec ts = { slice / 1000, (long)(slice % 1000) * 1000000 };
		int r = shim_real.ppoll(k, n, &ts, mask);
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		int count = 0;
		for (nfds_t i = 0; i < n; i++) {
			if (!socks[i]) {
				fds[i].revents = k[i].revents;
			} else {
				if (k[i].revents & (POLLHUP | POLLERR))
					shim_mark_dead(socks[i]);
				else if (k[i].revents & POLLIN)
					shim_drain(fds[i].fd, socks[i]);
				fds[i].revents = shim_revents(socks[i], fds[i].events);
			}
			if (fds[i].revents)
				count++;
		}
		if (count || wait_ms == 0 || (slice == wait_ms && wait_ms > 0 && deadline &&
					      shim_now_ms() >= deadline)) {
			ret = count;
			goto out;
		}
	}
out:
	for (nfds_t i = 0; i < n; i++)
		if (socks[i])
			shim_sock_unref(socks[i]);
	if (k != stackbuf)
		free(k);
	if (socks != sbuf)
		free(socks);
	return ret;
}

static bool shim_any_ustack(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (shim_fd_sock(fds[i].fd))
			return true;
	return false;
}

SHIM_VIS int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!shim_any_ustack(fds, n))
		return shim_real.poll(fds, n, timeout);
	return (int)shim_ret(shim_poll_core(fds, n, timeout < 0 ? -1 : timeout, NULL));
}

SHIM_VIS int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		abort();
	return poll(fds, n, timeout);
}

SHIM_VIS int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	if (!shim_any_ustack(fds, n))
		return shim_real.ppoll(fds, n, ts, mask);
	int ms = shim_ts_ms(ts);
	if (ms == -2)
		return (int)shim_ret(-EINVAL);
	return (int)shim_ret(shim_poll_core(fds, n, ms, mask));
}

SHIM_VIS int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
			 const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		abort();
	return ppoll(fds, n, ts, mask);
}

/* select -> poll over the fds named in the sets. */
static int shim_select_core(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int ms,
			    const sigset_t *mask)
{
	struct pollfd stackbuf[SHIM_POLL_STACK], *p = stackbuf;
	nfds_t n = 0;
	int count = 0;

	if (nfds < 0 || nfds > FD_SETSIZE)
		return -EINVAL;
	for (int fd = 0; fd < nfds; fd++)
		if ((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex)))
			n++;
	if (n > SHIM_POLL_STACK && !(p = malloc(n * sizeof *p)))
		return -ENOMEM;
	n = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;
		if (rd && FD_ISSET(fd, rd))
			ev |= POLLIN;
		if (wr && FD_ISSET(fd, wr))
			ev |= POLLOUT;
		if (ex && FD_ISSET(fd, ex))
			ev |= POLLPRI;
		if (ev)
			p[n++] = (struct pollfd){ fd, ev, 0 };
	}
	int r = shim_poll_core(p, n, ms, mask);
	if (r < 0)
		goto out;
	for (nfds_t i = 0; i < n; i++)
		if (p[i].revents & POLLNVAL) {
			r = -EBADF;
			goto out;
		}
	if (rd)
		FD_ZERO(rd);
	if (wr)
		FD_ZERO(wr);
	if (ex)
		FD_ZERO(ex);
	for (nfds_t i = 0; i < n; i++) {
		short re = p[i].revents;
		/* As the kernel: errors and hang-ups make a fd readable and writable. */
		if (rd && (p[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) {
			FD_SET(p[i].fd, rd);
			count++;
		}
		if (wr && (p[i].events & POLLOUT) && (re & (POLLOUT | POLLERR))) {
			FD_SET(p[i].fd, wr);
			count++;
		}
		if (ex && (p[i].events & POLLPRI) && (re & POLLPRI)) {
			FD_SET(p[i].fd, ex);
			count++;
		}
	}
	r = count;
out:
	if (p != stackbuf)
		free(p);
	return r;
}

static bool shim_sets_ustack(int nfds, fd_set *rd, fd_set *wr, fd_set *ex)
{
	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	for (int fd = 0; fd < nfds; fd++)
		if (((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) ||
		     (ex && FD_ISSET(fd, ex))) && shim_fd_sock(fd))
			return true;
	return false;
}

SHIM_VIS int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	if (!shim_sets_ustack(nfds, rd, wr, ex))
		return shim_real.select(nfds, rd, wr, ex, tv);
	int ms = -1;
	uint64_t start = shim_now_ms();
	if (tv) {
		if (tv->tv_sec < 0 || tv->tv_usec < 0)
			return (int)shim_ret(-EINVAL);
		long long v = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
		ms = v > 0x7fffffff ? 0x7fffffff : (int)v;
	}
	int r = shim_select_core(nfds, rd, wr, ex, ms, NULL);
	if (tv) { /* Linux updates the timeout to the time not slept */
		uint64_t el = shim_now_ms() - start;
		long long left = ms - (long long)el;
		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000;
		tv->tv_usec = (left % 1000) * 1000;
	}
	return (int)shim_ret(r);
}

SHIM_VIS int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
		     const sigset_t *mask)
{
	if (!shim_sets_ustack(nfds, rd, wr, ex))
		return shim_real.pselect(nfds, rd, wr, ex, ts, mask);
	int ms = shim_ts_ms(ts);
	if (ms == -2)
		return (int)shim_ret(-EINVAL);
	return (int)shim_ret(shim_select_core(nfds, rd, wr, ex, ms, mask));
}
