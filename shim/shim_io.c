/* shim_io.c - the interposed data calls: read/write, readv/writev,
 * recv/send, recvfrom/sendto, recvmsg/sendmsg and the _FORTIFY_SOURCE
 * __*_chk variants.  Stream data is copied straight between the caller's
 * buffers and the shared rings (then a doorbell only if ustackd asked);
 * datagrams travel as IPC_SENDTO/IPC_RECVFROM records.  Blocking calls wait
 * on the real fd after setting `want`; nothing spins. */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"
#include "ustack.h"

#define SHIM_IOV_MAX 1024

static size_t shim_iov_len(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

static bool shim_nonblock(struct shim_sock *s, int flags)
{
	return (flags & MSG_DONTWAIT) || __atomic_load_n(&s->nonblock, __ATOMIC_RELAXED);
}

static int shim_left(uint64_t deadline)
{
	if (!deadline)
		return -1;
	uint64_t now = shim_now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Copy ring bytes [off, off + len) (positions masked) to the iovecs from
 * byte `skip` of them on. */
static void shim_ring_to_iov(const uint8_t *ring, uint32_t size, uint32_t off, size_t len,
			     const struct iovec *iov, int n)
{
	size_t done = 0;

	for (int i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
		uint8_t *dst = iov[i].iov_base;
		while (k) {
			uint32_t pos = (off + (uint32_t)done) & (size - 1);
			size_t chunk = size - pos < k ? size - pos : k;
			memcpy(dst, ring + pos, chunk);
			dst += chunk;
			done += chunk;
			k -= chunk;
		}
	}
}

static void shim_iov_to_ring(uint8_t *ring, uint32_t size, uint32_t off, size_t len,
			     const struct iovec *iov, int n, size_t skip)
{
	size_t done = 0;

	for (int i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		const uint8_t *src = (const uint8_t *)iov[i].iov_base + skip;
		size_t k = iov[i].iov_len - skip;
		skip = 0;
		if (k > len - done)
			k = len - done;
		while (k) {
			uint32_t pos = (off + (uint32_t)done) & (size - 1);
			size_t chunk = size - pos < k ? size - pos : k;
			memcpy(ring + pos, src, chunk);
			src += chunk;
			done += chunk;
			k -= chunk;
		}
	}
}

/* Advance the iovecs past `skip` bytes into a scratch array. */
static int shim_iov_skip(const struct iovec *iov, int n, size_t skip, struct iovec *out)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[k].iov_len = iov[i].iov_len - skip;
		skip = 0;
		k++;
	}
	return k;
}

/* One blocking wait of a stream call for `bits`: on the socket's futex word
 * while its stretch lasts (shim_wait_quick), then on the fd.  0: look
 * again; -EAGAIN: the call's timeout has passed; -EINTR, -ECONNRESET,
 * -EBADF (shim_wait_for). */
static int shim_stream_wait(int fd, struct shim_sock *s, unsigned bits, uint64_t deadline,
			    bool *quick_over)
{
	int left = shim_left(deadline);

	if (left == 0)
		return -EAGAIN;
	if (!*quick_over) {
		int q = shim_wait_quick(s, bits, left);
		*quick_over = q == -ETIMEDOUT;
		return q == -EINTR ? q : 0;
	}
	shim_want(s, bits);
	if (shim_ready(s) & bits)
		return 0;
	return shim_wait_for(fd, s, bits, left);
}

ssize_t shim_stream_recv(int fd, struct shim_sock *s, const struct iovec *iov, int n, int flags)
{
	size_t want = shim_iov_len(iov, n), got = 0;
	int timeo = shim_rcvtimeo(s);
	uint64_t deadline = timeo > 0 ? shim_now_ms() + (uint64_t)timeo : 0;
	struct iovec *rest = NULL;
	ssize_t ret;
	/* Bytes to wait for: all with MSG_WAITALL, else SO_RCVLOWAT (tcp(7)). */
	size_t lowat = (size_t)shim_rcvlowat(s);
	size_t target = (flags & MSG_WAITALL) || lowat > want ? want : lowat ? lowat : 1;
	bool quick_over = false; /* shim_wait_quick's stretch is spent */

	if (s->listening)
		return -ENOTCONN;
	if (want == 0)
		return 0;
	if (flags & MSG_OOB)
		return -EINVAL;
	pthread_mutex_lock(&s->rx_lock);
	/* One receiver at a time across processes too (ipc.h). */
	ret = shim_lock_take(&s->shm->rx_lock, shim_nonblock(s, flags), deadline);
	if (ret < 0) {
		pthread_mutex_unlock(&s->rx_lock);
		return ret;
	}
	for (;;) {
		struct ipc_shm *sh = s->shm;
		uint32_t head = __atomic_load_n(&sh->rx_head, __ATOMIC_ACQUIRE);
		uint32_t tail = __atomic_load_n(&sh->rx_tail, __ATOMIC_RELAXED);
		/* The ring's size now (ipc.h): read once, after the head. */
		uint32_t size = __atomic_load_n(&sh->rx_ring_size, __ATOMIC_ACQUIRE);
		uint32_t avail = head - tail;

		if (size < IPC_RING_MIN || size > s->rx_size || (size & (size - 1)) ||
		    avail > size) {
			ret = -EIO;
			goto out;
		}
		if (avail) {
			size_t k = avail < want - got ? avail : want - got;
			if (got) {
				if (!rest && !(rest = malloc(sizeof *rest * (size_t)n))) {
					ret = (ssize_t)got;
					goto out;
				}
				int m = shim_iov_skip(iov, n, got, rest);
				shim_ring_to_iov(s->rx, size, tail, k, rest, m);
			} else {
				shim_ring_to_iov(s->rx, size, tail, k, iov, n);
			}
			got += k;
			if (!(flags & MSG_PEEK)) {
				__atomic_store_n(&sh->rx_tail, tail + (uint32_t)k, __ATOMIC_SEQ_CST);
				shim_doorbell(fd, s, true);
			}
			if (got >= target || (flags & MSG_PEEK)) {
				ret = (ssize_t)got;
				goto out;
			}
			continue;
		}
		unsigned ev = __atomic_load_n(&sh->events, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->dead, __ATOMIC_ACQUIRE)) {
			ret = got ? (ssize_t)got : -ECONNRESET;
			goto out;
		}
		if (ev & POLLERR) {
			int e = shim_sock_error(fd, s);
			if (e) {
				ret = got ? (ssize_t)got : -e;
				goto out;
			}
		}
		if ((ev & (POLLRDHUP | POLLHUP)) || s->shut_rd) {
			/* Re-read the head: data may have come with the FIN. */
			if (__atomic_load_n(&sh->rx_head, __ATOMIC_ACQUIRE) != head)
				continue;
			uint32_t st = __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE);
			ret = (ssize_t)got;
			if (!got && !s->connected && !s->connecting && st == US_TCP_CLOSED)
				ret = -ENOTCONN;
			goto out;
		}
		if (got >= target || shim_nonblock(s, flags)) {
			ret = got ? (ssize_t)got : -EAGAIN;
			goto out;
		}
		int r = shim_stream_wait(fd, s, POLLIN, deadline, &quick_over);
		if (r == -EAGAIN || r == -EINTR || r == -ECONNRESET || r == -EBADF) {
			ret = got ? (ssize_t)got : r;
			goto out;
		}
	}
out:
	shim_lock_give(&s->shm->rx_lock);
	pthread_mutex_unlock(&s->rx_lock);
	free(rest);
	return ret;
}

static ssize_t shim_epipe(int flags)
{
	if (!(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	return -EPIPE;
}

ssize_t shim_stream_send(int fd, struct shim_sock *s, const struct iovec *iov, int n, int flags)
{
	size_t len = shim_iov_len(iov, n), sent = 0;
	bool grow_asked = false; /* IPC_TXGROW sent since the ring was last written */
	bool quick_over = false; /* shim_wait_quick's stretch is spent */
	int timeo = shim_sndtimeo(s);
	uint64_t deadline = timeo > 0 ? shim_now_ms() + (uint64_t)timeo : 0;
	ssize_t ret;

	if (s->listening)
		return -ENOTCONN;
	pthread_mutex_lock(&s->tx_lock);
	/* One sender at a time across processes too, from the first byte to
	 * the last: a send() goes into the stream in one piece (ipc.h). */
	ret = shim_lock_take(&s->shm->tx_lock, shim_nonblock(s, flags), deadline);
	if (ret < 0) {
		pthread_mutex_unlock(&s->tx_lock);
		return ret;
	}
	for (;;) {
		struct ipc_shm *sh = s->shm;
		uint32_t st = __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE);
		unsigned ev = __atomic_load_n(&sh->events, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&s->dead, __ATOMIC_ACQUIRE)) {
			ret = sent ? (ssize_t)sent : shim_epipe(flags);
			goto out;
		}
		if (ev & POLLERR) {
			int e = shim_sock_error(fd, s);
			if (e) {
				ret = sent ? (ssize_t)sent : -e;
				goto out;
			}
		}
		if (s->shut_wr) {
			ret = sent ? (ssize_t)sent : shim_epipe(flags);
			goto out;
		}
		if (st != US_TCP_ESTABLISHED && st != US_TCP_CLOSE_WAIT) {
			if (st == US_TCP_SYN_SENT || st == US_TCP_SYN_RECEIVED) {
				if (shim_nonblock(s, flags)) {
					ret = -EAGAIN;
					goto out;
				}
				goto wait;
			}
			if (!s->connected && !s->connecting)
				ret = -ENOTCONN;
			else
				ret = sent ? (ssize_t)sent : shim_epipe(flags);
			goto out;
		}
		uint32_t tail = __atomic_load_n(&sh->tx_tail, __ATOMIC_ACQUIRE);
		uint32_t head = __atomic_load_n(&sh->tx_head, __ATOMIC_RELAXED);
		/* Stable while we hold tx_lock (ipc.h "Send auto-tuning"). */
		uint32_t size = shim_tx_ring(s);
		uint32_t used = head - tail;
		if (!size || used > size) {
			ret = -EIO;
			goto out;
		}
		uint32_t space = size - used;
		if (space) {
			size_t k = space < len - sent ? space : len - sent;
			grow_asked = false;
			shim_iov_to_ring(s->tx, size, head, k, iov, n, sent);
			__atomic_store_n(&sh->tx_head, head + (uint32_t)k, __ATOMIC_SEQ_CST);
			shim_doorbell(fd, s, false);
			sent += k;
			if (sent == len) {
				ret = (ssize_t)sent;
				goto out;
			}
			continue;
		}
		/* The ring is full and it is what limits the connection:
		 * ask once for a bigger one (ipc.h "Send auto-tuning"). */
		if (!grow_asked && __atomic_load_n(&sh->tx_grow, __ATOMIC_ACQUIRE) == 1) {
			grow_asked = true;
			if (shim_req_simple(fd, s, IPC_TXGROW, NULL, 0, NULL, 0) > 0)
				continue;
		}
		/* The ring is full: the next space freed is an EPOLLET edge
		 * (Linux's SOCK_NOSPACE, shim_epoll.c). */
		__atomic_store_n(&s->nospace, true, __ATOMIC_RELEASE);
		if (shim_nonblock(s, flags)) {
			ret = sent ? (ssize_t)sent : -EAGAIN;
			goto out;
		}
wait:;
		/* A hang-up here shows as the state on the next round (EPIPE). */
		int r = shim_stream_wait(fd, s, POLLOUT, deadline, &quick_over);
		if (r == -EAGAIN || r == -EINTR || r == -EBADF) {
			ret = sent ? (ssize_t)sent : r;
			goto out;
		}
	}
out:
	shim_lock_give(&s->shm->tx_lock);
	pthread_mutex_unlock(&s->tx_lock);
	if (len == 0 && ret == 0)
		return 0;
	return ret;
}

/* ---- datagrams ---------------------------------------------------------- */

static ssize_t shim_dgram_send(int fd, struct shim_sock *s, const struct iovec *iov, int n,
			       int flags, const struct sockaddr *to, socklen_t tolen)
{
	struct ipc_dgram d = { .flags = flags & MSG_MORE };
	struct iovec req[8];
	int k = 0;

	if (n > 6) { /* gather into one buffer */
		size_t len = shim_iov_len(iov, n);
		if (len > 65507)
			return -EMSGSIZE;
		uint8_t *b = malloc(len ? len : 1);
		if (!b)
			return -ENOBUFS;
		size_t off = 0;
		for (int i = 0; i < n; i++) {
			memcpy(b + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		struct iovec one = { b, len };
		ssize_t r = shim_dgram_send(fd, s, &one, 1, flags, to, tolen);
		free(b);
		return r;
	}
	if (to) {
		struct sockaddr_in sin;
		if (tolen < sizeof sin)
			return -EINVAL;
		memcpy(&sin, to, sizeof sin);
		if (sin.sin_family != AF_INET)
			return -EAFNOSUPPORT;
		d.addr.ip = ntohl(sin.sin_addr.s_addr);
		d.addr.port = ntohs(sin.sin_port);
		d.has_addr = 1;
	}
	d.len = (uint32_t)shim_iov_len(iov, n);
	if (d.len > 65507)
		return -EMSGSIZE;
	req[k++] = (struct iovec){ &d, sizeof d };
	for (int i = 0; i < n; i++)
		req[k++] = iov[i];
	int r = shim_req(fd, s, IPC_SENDTO, req, k, NULL, 0, NULL, NULL);
	return r == -ECONNRESET && __atomic_load_n(&s->dead, __ATOMIC_ACQUIRE) ? shim_epipe(flags) : r;
}

static ssize_t shim_dgram_recv(int fd, struct shim_sock *s, const struct iovec *iov, int n,
			       int flags, struct sockaddr *from, socklen_t *fromlen, int *mflags)
{
	int timeo = shim_rcvtimeo(s);
	uint64_t deadline = timeo > 0 ? shim_now_ms() + (uint64_t)timeo : 0;
	size_t cap = shim_iov_len(iov, n);
	struct iovec rep[8];
	int k = 0;

	if (n > 7)
		n = 7; /* at most 7 buffers are filled (records are gathered by the kernel) */
	for (;;) {
		struct ipc_dgram d = { .flags = flags & MSG_PEEK,
				       .len = cap > 65535 ? 65535 : (uint32_t)cap };
		struct iovec rq = { &d, sizeof d };
		size_t got = 0;

		k = 0;
		rep[k++] = (struct iovec){ &d, sizeof d };
		for (int i = 0; i < n; i++)
			rep[k++] = iov[i];
		int r = shim_req(fd, s, IPC_RECVFROM, &rq, 1, rep, k, &got, NULL);
		if (r >= 0) {
			if (got < sizeof d)
				return -EPROTO;
			size_t copied = got - sizeof d;
			if (from && fromlen) {
				struct sockaddr_in sin = { .sin_family = AF_INET };
				sin.sin_addr.s_addr = htonl(d.addr.ip);
				sin.sin_port = htons(d.addr.port);
				memcpy(from, &sin, *fromlen < sizeof sin ? *fromlen : sizeof sin);
				*fromlen = sizeof sin;
			}
			if (mflags && d.len > copied)
				*mflags |= MSG_TRUNC;
			return (flags & MSG_TRUNC) ? (ssize_t)d.len : (ssize_t)copied;
		}
		if (r != -EAGAIN)
			return r;
		if (shim_nonblock(s, flags))
			return -EAGAIN;
		shim_want(s, POLLIN);
		if (shim_ready(s) & POLLIN)
			continue;
		int left = shim_left(deadline);
		if (left == 0)
			return -EAGAIN;
		r = shim_wait(fd, s, left);
		if (r == -EINTR || r == -ECONNRESET || r == -EBADF)
			return r;
	}
}

/* ---- entry points --------------------------------------------------------- */

void shim_forget_rights(const struct msghdr *mh)
{
	if (!mh || !mh->msg_control || mh->msg_controllen < sizeof(struct cmsghdr))
		return;
	/* Fds that arrived with SCM_RIGHTS are new at their numbers, whatever
	 * was remembered there (unix(7)): probe them afresh. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
			shim_fd_clear(f);
		}
	}
}

/* The socket stays alive while a call uses it (it may block), even if
 * another thread closes its fd meanwhile. */
static ssize_t shim_recv_any(int fd, struct shim_sock *s, const struct iovec *iov, int n,
			     int flags, struct sockaddr *from, socklen_t *fromlen, int *mflags)
{
	ssize_t r;

	if (n < 0 || n > SHIM_IOV_MAX)
		return -EINVAL;
	shim_sock_ref(s);
	if (s->type == SOCK_STREAM) {
		if (fromlen)
			*fromlen = 0;
		r = shim_stream_recv(fd, s, iov, n, flags);
	} else {
		r = shim_dgram_recv(fd, s, iov, n, flags, from, fromlen, mflags);
	}
	shim_sock_unref(s);
	return r;
}

static ssize_t shim_send_any(int fd, struct shim_sock *s, const struct iovec *iov, int n,
			     int flags, const struct sockaddr *to, socklen_t tolen)
{
	if (n < 0 || n > SHIM_IOV_MAX)
		return -EINVAL;
	/* A destination given for a stream socket is ignored, as Linux's
	 * tcp_sendmsg does (send(2) allows either that or EISCONN;
	 * sockperf relies on Linux's choice). */
	(void)tolen;
	shim_sock_ref(s);
	ssize_t r = s->type == SOCK_STREAM ? shim_stream_send(fd, s, iov, n, flags)
					   : shim_dgram_send(fd, s, iov, n, flags, to, tolen);
	shim_sock_unref(s);
	return r;
}

SHIM_VIS ssize_t read(int fd, void *buf, size_t len)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct iovec v = { buf, len };

	if (!s)
		return shim_real.read(fd, buf, len);
	return shim_ret(shim_recv_any(fd, s, &v, 1, 0, NULL, NULL, NULL));
}

SHIM_VIS ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		abort();
	return read(fd, buf, len);
}

SHIM_VIS ssize_t write(int fd, const void *buf, size_t len)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct iovec v = { (void *)buf, len };

	if (!s)
		return shim_real.write(fd, buf, len);
	return shim_ret(shim_send_any(fd, s, &v, 1, 0, NULL, 0));
}

SHIM_VIS ssize_t readv(int fd, const struct iovec *iov, int n)
{
	struct shim_sock *s = shim_fd_sock(fd);

	if (!s)
		return shim_real.readv(fd, iov, n);
	return shim_ret(shim_recv_any(fd, s, iov, n, 0, NULL, NULL, NULL));
}

SHIM_VIS ssize_t writev(int fd, const struct iovec *iov, int n)
{
	struct shim_sock *s = shim_fd_sock(fd);

	if (!s)
		return shim_real.writev(fd, iov, n);
	return shim_ret(shim_send_any(fd, s, iov, n, 0, NULL, 0));
}

SHIM_VIS ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct iovec v = { buf, len };

	if (!s)
		return shim_real.recv(fd, buf, len, flags);
	return shim_ret(shim_recv_any(fd, s, &v, 1, flags, NULL, NULL, NULL));
}

SHIM_VIS ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		abort();
	return recv(fd, buf, len, flags);
}

SHIM_VIS ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct iovec v = { (void *)buf, len };

	if (!s)
		return shim_real.send(fd, buf, len, flags);
	return shim_ret(shim_send_any(fd, s, &v, 1, flags, NULL, 0));
}

SHIM_VIS ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
			  socklen_t *fromlen)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct iovec v = { buf, len };

	if (!s)
		return shim_real.recvfrom(fd, buf, len, flags, from, fromlen);
	return shim_ret(shim_recv_any(fd, s, &v, 1, flags, from, fromlen, NULL));
}

SHIM_VIS ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
				struct sockaddr *from, socklen_t *fromlen)
{
	if (len > buflen)
		abort();
	return recvfrom(fd, buf, len, flags, from, fromlen);
}

SHIM_VIS ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
			socklen_t tolen)
{
	struct shim_sock *s = shim_fd_sock(fd);
	struct iovec v = { (void *)buf, len };

	if (!s)
		return shim_real.sendto(fd, buf, len, flags, to, tolen);
	return shim_ret(shim_send_any(fd, s, &v, 1, flags, to, tolen));
}

SHIM_VIS ssize_t recvmsg(int fd, struct msghdr *mh, int flags)
{
	struct shim_sock *s = shim_fd_sock(fd);

	if (!s) {
		ssize_t r = shim_real.recvmsg(fd, mh, flags);
		if (r >= 0)
			shim_forget_rights(mh);
		return r;
	}
	if (!mh)
		return shim_ret(-EFAULT);
	int mflags = 0;
	socklen_t nl = mh->msg_name ? mh->msg_namelen : 0;
	ssize_t r = shim_recv_any(fd, s, mh->msg_iov, (int)mh->msg_iovlen, flags,
				  mh->msg_name, mh->msg_name ? &nl : NULL, &mflags);
	if (r >= 0) {
		mh->msg_namelen = mh->msg_name ? nl : 0;
		mh->msg_controllen = 0;
		mh->msg_flags = mflags;
	}
	return shim_ret(r);
}

SHIM_VIS ssize_t sendmsg(int fd, const struct msghdr *mh, int flags)
{
	struct shim_sock *s = shim_fd_sock(fd);

	if (!s)
		return shim_real.sendmsg(fd, mh, flags);
	if (!mh)
		return shim_ret(-EFAULT);
	return shim_ret(shim_send_any(fd, s, mh->msg_iov, (int)mh->msg_iovlen, flags,
				      mh->msg_name, mh->msg_namelen));
}
