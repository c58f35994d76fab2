/* shim_sock.c - the interposed socket calls other than data transfer and
 * readiness: socket, bind, listen, accept/accept4, connect, shutdown,
 * close, dup/dup2/dup3, fcntl, ioctl, getsockname/getpeername and
 * getsockopt/setsockopt.  Kernel fds go straight to libc. */
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

static int shim_accept_common(int fd, struct shim_sock *s, struct sockaddr *sa, socklen_t *len,
			      int flags)
{
	uint64_t deadline = shim_deadline(s->rcvtimeo_ms);

	if (!s->listening)
		return -EINVAL;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	for (;;) {
		struct ipc_sockinfo si;
		struct iovec rp = { &si, sizeof si };
		size_t got = 0;
		int fds[2] = { -1, -1 };
		int r = shim_req(fd, s, IPC_ACCEPT, NULL, 0, &rp, 1, &got, fds);

		if (r == 0) {
			if (got != sizeof si || fds[0] < 0 || fds[1] < 0) {
				for (int i = 0; i < 2; i++)
					if (fds[i] >= 0)
						shim_real.close(fds[i]);
				return -EPROTO;
			}
			struct shim_sock *c = shim_sock_from(SOCK_STREAM, &si, fds[1], &r);
			if (!c) {
				shim_real.close(fds[0]);
				return r;
			}
			c->connected = true;
			if (!(flags & SOCK_CLOEXEC))
				shim_real.fcntl(fds[0], F_SETFD, 0);
			if (flags & SOCK_NONBLOCK) {
				shim_real.fcntl(fds[0], F_SETFL, O_RDWR | O_NONBLOCK);
				c->nonblock = 1;
			}
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
		if (r == -EINTR || r == -ECONNRESET)
			return r == -EINTR ? -EINTR : -ECONNABORTED;
	}
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
	uint64_t deadline = shim_deadline(s->sndtimeo_ms);

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
		if (r == -EINTR || r == -ECONNRESET)
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
	if (shim_ipc_is_ctl(fd))
		shim_ipc_fd_closed(fd);
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
	if (oldfd != newfd && shim_ipc_is_ctl(newfd))
		shim_ipc_fd_closed(newfd);
	int r = shim_real.dup2(oldfd, newfd);

	return r < 0 || oldfd == newfd ? r : shim_dup_done(oldfd, r);
}

SHIM_VIS int dup3(int oldfd, int newfd, int flags)
{
	if (shim_ipc_is_ctl(newfd))
		shim_ipc_fd_closed(newfd);
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

/* Next datagram's length without taking it (FIONREAD on UDP). */
static int shim_dgram_peek_len(int fd, struct shim_sock *s)
{
	struct ipc_dgram d = { .flags = MSG_PEEK, .len = 0 };
	struct iovec rq = { &d, sizeof d }, rp = { &d, sizeof d };
	size_t got = 0;
	int r = shim_req(fd, s, IPC_RECVFROM, &rq, 1, &rp, 1, &got, NULL);

	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return r;
	return got >= sizeof d ? (int)d.len : -EPROTO;
}

SHIM_VIS int ioctl(int fd, unsigned long req, ...)
{
	struct shim_sock *s = shim_fd_sock(fd);
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!s)
		return shim_real.ioctl(fd, req, arg);
	switch (req) {
	case FIONBIO: {
		int on;
		if (!arg)
			return (int)shim_ret(-EFAULT);
		memcpy(&on, arg, sizeof on);
		int r = shim_real.ioctl(fd, req, arg);
		if (r == 0)
			__atomic_store_n(&s->nonblock, on ? 1 : 0, __ATOMIC_RELAXED);
		return r;
	}
	case FIONREAD: { /* == SIOCINQ */
		int v;
		if (!arg)
			return (int)shim_ret(-EFAULT);
		if (s->type == SOCK_STREAM) {
			uint32_t h = __atomic_load_n(&s->shm->rx_head, __ATOMIC_ACQUIRE);
			uint32_t t = __atomic_load_n(&s->shm->rx_tail, __ATOMIC_RELAXED);
			v = h - t > s->rx_size ? 0 : (int)(h - t);
		} else {
			v = shim_dgram_peek_len(fd, s);
			if (v < 0)
				return (int)shim_ret(v);
		}
		memcpy(arg, &v, sizeof v);
		return 0;
	}
	case TIOCOUTQ: { /* == SIOCOUTQ */
		int v = 0;
		if (!arg)
			return (int)shim_ret(-EFAULT);
		if (s->type == SOCK_STREAM) {
			uint32_t h = __atomic_load_n(&s->shm->tx_head, __ATOMIC_RELAXED);
			uint32_t t = __atomic_load_n(&s->shm->tx_tail, __ATOMIC_ACQUIRE);
			v = h - t > s->tx_size ? 0 : (int)(h - t);
		}
		memcpy(arg, &v, sizeof v);
		return 0;
	}
	default:
		return shim_real.ioctl(fd, req, arg);
	}
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

/* (level, name) -> enum us_sockopt, or -1. */
static int shim_opt_map(int level, int name)
{
	if (level == SOL_SOCKET)
		switch (name) {
		case SO_RCVBUF: return US_SO_RCVBUF;
		case SO_SNDBUF: return US_SO_SNDBUF;
		case SO_BROADCAST: return US_SO_BROADCAST;
		case SO_REUSEADDR: return US_SO_REUSEADDR;
		case SO_KEEPALIVE: return US_SO_KEEPALIVE;
		default: return -1;
		}
	if (level == IPPROTO_TCP)
		switch (name) {
		case TCP_NODELAY: return US_TCP_NODELAY;
		case TCP_CORK: return US_TCP_CORK;
		case TCP_KEEPIDLE: return US_TCP_KEEPIDLE;
		case TCP_KEEPINTVL: return US_TCP_KEEPINTVL;
		case TCP_KEEPCNT: return US_TCP_KEEPCNT;
		case TCP_USER_TIMEOUT: return US_TCP_USER_TIMEOUT;
		case TCP_MAXSEG: return US_TCP_MAXSEG;
		default: return -1;
		}
	if (level == IPPROTO_IP)
		switch (name) {
		case IP_TTL: return US_IP_TTL;
		case IP_TOS: return US_IP_TOS;
		default: return -1;
		}
	return -1;
}

static int shim_opt_int(const void *val, socklen_t len, int *out)
{
	if (!val)
		return -EFAULT;
	if (len >= sizeof(int))
		memcpy(out, val, sizeof(int));
	else if (len == 1)
		*out = *(const unsigned char *)val;
	else
		return -EINVAL;
	return 0;
}

static int shim_put_int(void *val, socklen_t *len, int v)
{
	if (!val || !len)
		return -EFAULT;
	socklen_t n = *len < sizeof v ? *len : sizeof v;
	memcpy(val, &v, n);
	*len = n;
	return 0;
}

static int shim_us_setopt(int fd, struct shim_sock *s, int opt, int v)
{
	struct ipc_opt o = { .opt = opt, .val = v };

	return shim_req_simple(fd, s, IPC_SETOPT, &o, sizeof o, NULL, 0);
}

static int shim_us_getopt(int fd, struct shim_sock *s, int opt, int *v)
{
	struct ipc_opt o = { .opt = opt };
	int r = shim_req_simple(fd, s, IPC_GETOPT, &o, sizeof o, &o, sizeof o);

	if (r >= 0)
		*v = o.val;
	return r;
}

static int shim_timeo_ms(const void *val, socklen_t len, int *ms)
{
	struct timeval tv;

	if (!val || len < sizeof tv)
		return -EINVAL;
	memcpy(&tv, val, sizeof tv);
	if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	long long v = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	*ms = v == 0 ? -1 : (v > 0x7fffffff ? 0x7fffffff : (int)v);
	return 0;
}

SHIM_VIS int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct shim_sock *s = shim_fd_sock(fd);
	int v = 0, r, opt;

	if (!s)
		return shim_real.setsockopt(fd, level, name, val, len);
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
		r = shim_timeo_ms(val, len, name == SO_RCVTIMEO ? &s->rcvtimeo_ms : &s->sndtimeo_ms);
		return (int)shim_ret(r);
	}
	if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger l;
		if (!val || len < sizeof l)
			return (int)shim_ret(-EINVAL);
		memcpy(&l, val, sizeof l);
		return (int)shim_ret(shim_us_setopt(fd, s, US_SO_LINGER, l.l_onoff ? l.l_linger : -1));
	}
	if (level == SOL_SOCKET && name == SO_REUSEPORT) {
		if ((r = shim_opt_int(val, len, &v)) < 0)
			return (int)shim_ret(r);
		s->reuseport = v != 0; /* accepted; one socket per port still */
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
		char name_buf[16] = { 0 };
		if (!val)
			return (int)shim_ret(-EFAULT);
		memcpy(name_buf, val, len < sizeof name_buf - 1 ? len : sizeof name_buf - 1);
		if (strcmp(name_buf, "cubic") == 0)
			v = US_CC_CUBIC;
		else if (strcmp(name_buf, "reno") == 0 || strcmp(name_buf, "newreno") == 0)
			v = US_CC_NEWRENO;
		else
			return (int)shim_ret(-ENOENT);
		return (int)shim_ret(shim_us_setopt(fd, s, US_TCP_CONGESTION, v));
	}
	if (level == IPPROTO_TCP && (name == TCP_QUICKACK || name == TCP_DEFER_ACCEPT))
		return 0; /* hints; ustack acks as it sees fit */
	opt = shim_opt_map(level, name);
	if (opt < 0)
		return (int)shim_ret(-ENOPROTOOPT);
	if ((r = shim_opt_int(val, len, &v)) < 0)
		return (int)shim_ret(r);
	return (int)shim_ret(shim_us_setopt(fd, s, opt, v));
}

static int shim_tcp_info(int fd, struct shim_sock *s, void *val, socklen_t *len)
{
	struct us_tcp_info ti;
	struct tcp_info out;

	if (!val || !len)
		return -EFAULT;
	int r = shim_req_simple(fd, s, IPC_TCPINFO, NULL, 0, &ti, sizeof ti);
	if (r < 0)
		return r;
	memset(&out, 0, sizeof out);
	/* Linux's TCP_* state numbers differ from enum us_tcp_state. */
	static const uint8_t st[] = { 7, 10, 2, 3, 1, 4, 5, 8, 11, 9, 6 };
	out.tcpi_state = (unsigned)ti.state < sizeof st ? st[ti.state] : 7;
	out.tcpi_options = (ti.ts_ok ? TCPI_OPT_TIMESTAMPS : 0) | (ti.sack_ok ? TCPI_OPT_SACK : 0) |
			   (ti.ws_ok ? TCPI_OPT_WSCALE : 0);
	out.tcpi_snd_wscale = ti.snd_wscale & 0xf;
	out.tcpi_rcv_wscale = ti.rcv_wscale & 0xf;
	out.tcpi_ca_state = ti.in_recovery ? 3 : 0;
	out.tcpi_backoff = (uint8_t)ti.backoff;
	out.tcpi_rto = ti.rto;
	out.tcpi_snd_mss = ti.snd_mss;
	out.tcpi_rcv_mss = ti.rcv_mss;
	out.tcpi_unacked = ti.snd_mss ? ti.unacked / ti.snd_mss : 0;
	out.tcpi_sacked = ti.snd_mss ? ti.sacked / ti.snd_mss : 0;
	out.tcpi_rtt = ti.rtt;
	out.tcpi_rttvar = ti.rttvar;
	out.tcpi_snd_ssthresh = ti.snd_mss ? ti.ssthresh / ti.snd_mss : 0;
	out.tcpi_snd_cwnd = ti.snd_mss ? ti.cwnd / ti.snd_mss : 0;
	out.tcpi_total_retrans = (uint32_t)ti.retrans_segs;
	out.tcpi_rcv_space = ti.rcv_wnd;
	socklen_t n = *len < sizeof out ? *len : sizeof out;
	memcpy(val, &out, n);
	*len = n;
	return 0;
}

SHIM_VIS int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct shim_sock *s = shim_fd_sock(fd);
	int v = 0, r, opt;

	if (!s)
		return shim_real.getsockopt(fd, level, name, val, len);
	if (level == SOL_SOCKET)
		switch (name) {
		case SO_ERROR:
			return (int)shim_ret(shim_put_int(val, len, shim_sock_error(fd, s)));
		case SO_TYPE:
			return (int)shim_ret(shim_put_int(val, len, s->type));
		case SO_DOMAIN:
			return (int)shim_ret(shim_put_int(val, len, AF_INET));
		case SO_PROTOCOL:
			return (int)shim_ret(shim_put_int(
				val, len, s->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP));
		case SO_ACCEPTCONN:
			return (int)shim_ret(shim_put_int(val, len, s->listening));
		case SO_REUSEPORT:
			return (int)shim_ret(shim_put_int(val, len, s->reuseport));
		case SO_RCVTIMEO:
		case SO_SNDTIMEO: {
			int ms = name == SO_RCVTIMEO ? s->rcvtimeo_ms : s->sndtimeo_ms;
			struct timeval tv = { 0, 0 };
			if (!val || !len || *len < sizeof tv)
				return (int)shim_ret(-EINVAL);
			if (ms > 0) {
				tv.tv_sec = ms / 1000;
				tv.tv_usec = (ms % 1000) * 1000;
			}
			memcpy(val, &tv, sizeof tv);
			*len = sizeof tv;
			return 0;
		}
		case SO_LINGER: {
			struct linger l = { 0, 0 };
			if (!val || !len || *len < sizeof l)
				return (int)shim_ret(-EINVAL);
			if ((r = shim_us_getopt(fd, s, US_SO_LINGER, &v)) < 0)
				return (int)shim_ret(r);
			if (v >= 0) {
				l.l_onoff = 1;
				l.l_linger = v;
			}
			memcpy(val, &l, sizeof l);
			*len = sizeof l;
			return 0;
		}
		default:
			break;
		}
	if (level == IPPROTO_TCP && name == TCP_INFO) {
		if (s->type != SOCK_STREAM)
			return (int)shim_ret(-EOPNOTSUPP);
		return (int)shim_ret(shim_tcp_info(fd, s, val, len));
	}
	if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
		if ((r = shim_us_getopt(fd, s, US_TCP_CONGESTION, &v)) < 0)
			return (int)shim_ret(r);
		const char *n = v == US_CC_NEWRENO ? "reno" : "cubic";
		if (!val || !len)
			return (int)shim_ret(-EFAULT);
		socklen_t k = *len < 16 ? *len : 16;
		char buf[16] = { 0 };
		strcpy(buf, n);
		memcpy(val, buf, k);
		*len = k;
		return 0;
	}
	opt = shim_opt_map(level, name);
	if (opt < 0)
		return (int)shim_ret(-ENOPROTOOPT);
	if ((r = shim_us_getopt(fd, s, opt, &v)) < 0)
		return (int)shim_ret(r);
	/* SO_RCVBUF/SO_SNDBUF: the ring size as is (Linux reports double). */
	return (int)shim_ret(shim_put_int(val, len, v));
}
