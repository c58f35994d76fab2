/* shim_opt.c - getsockopt/setsockopt and ioctl on ustack sockets.  Each
 * option either has a real effect (in the stack, or in the shim for the
 * ones that only shape blocking calls: SO_RCVTIMEO, SO_SNDTIMEO,
 * SO_RCVLOWAT), or fails as Linux fails it (ENOPROTOOPT for an unknown
 * option or an option of the other protocol's level; socket(7), tcp(7),
 * ip(7), udp(7)).  The exceptions, each marked where it is handled, are
 * options Linux also accepts without a visible effect.  Kernel fds go
 * straight to libc. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "shim.h"
#include "ustack.h"

#ifndef SIOCOUTQNSD
#define SIOCOUTQNSD 0x894B /* linux/sockios.h */
#endif
#define SHIM_CA_NAME_MAX 16 /* TCP_CA_NAME_MAX */

/* ---- helpers -------------------------------------------------------------- */

static int opt_int(const void *val, socklen_t len, int *out)
{
	if (!val)
		return -EFAULT;
	if (len >= sizeof(int))
		memcpy(out, val, sizeof(int));
	else if (len >= 1) /* Linux takes a single byte for int options too */
		*out = *(const unsigned char *)val;
	else
		return -EINVAL;
	return 0;
}

static int opt_put(void *val, socklen_t *len, const void *v, size_t vlen)
{
	socklen_t n;

	if (!val || !len)
		return -EFAULT;
	if ((int)*len < 0)
		return -EINVAL;
	n = *len < vlen ? *len : (socklen_t)vlen;
	memcpy(val, v, n);
	*len = n;
	return 0;
}

static int opt_put_int(void *val, socklen_t *len, int v)
{
	return opt_put(val, len, &v, sizeof v);
}

static int opt_us_set(int fd, struct shim_sock *s, int opt, int v)
{
	struct ipc_opt o = { .opt = opt, .val = v };

	return shim_req_simple(fd, s, IPC_SETOPT, &o, sizeof o, NULL, 0);
}

static int opt_us_get(int fd, struct shim_sock *s, int opt, int *v)
{
	struct ipc_opt o = { .opt = opt };
	int r = shim_req_simple(fd, s, IPC_GETOPT, &o, sizeof o, &o, sizeof o);

	if (r >= 0)
		*v = o.val;
	return r;
}

/* (level, name) -> enum us_sockopt for the options the stack keeps, or -1. */
static int opt_map(int level, int name)
{
	if (level == SOL_SOCKET)
		switch (name) {
		case SO_RCVBUF: return US_SO_RCVBUF;
		case SO_SNDBUF: return US_SO_SNDBUF;
		case SO_BROADCAST: return US_SO_BROADCAST;
		case SO_REUSEADDR: return US_SO_REUSEADDR;
		case SO_REUSEPORT: return US_SO_REUSEPORT;
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

/* struct timeval -> ms as socket(7) SO_RCVTIMEO: 0 = no timeout (-1 here);
 * a negative time means "do not wait" in Linux (sock_set_timeout): 1 ms. */
static int opt_timeo_ms(const void *val, socklen_t len, int *ms)
{
	struct timeval tv;

	if (!val)
		return -EFAULT;
	if (len < sizeof tv)
		return -EINVAL;
	memcpy(&tv, val, sizeof tv);
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	if (tv.tv_sec < 0) {
		*ms = 1;
		return 0;
	}
	long long v = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	*ms = v == 0 ? -1 : (v > 0x7fffffff ? 0x7fffffff : (int)v);
	return 0;
}

/* TCP_DEFER_ACCEPT's seconds as Linux stores them: a count of SYN-ACK
 * retransmissions (1 s initial, doubling, 120 s cap), reported back as
 * the seconds those take (net/ipv4/tcp.c secs_to_retrans/retrans_to_secs). */
static int opt_defer_round(int secs)
{
	int n = 0, period = 0, t = 1;

	if (secs <= 0)
		return 0;
	n = 1;
	period = 1;
	while (secs > period && n < 255) {
		n++;
		t = t * 2 > 120 ? 120 : t * 2;
		period += t;
	}
	return period;
}

/* ---- setsockopt ---------------------------------------------------------------- */

static int opt_set(int fd, struct shim_sock *s, int level, int name, const void *val,
		   socklen_t len)
{
	int v = 0, r, opt;

	if (level == SOL_SOCKET)
		switch (name) {
		case SO_RCVTIMEO:
		case SO_SNDTIMEO:
			if ((r = opt_timeo_ms(val, len, &v)) < 0)
				return r;
			__atomic_store_n(name == SO_RCVTIMEO ? &s->shm->rcvtimeo_ms
							     : &s->shm->sndtimeo_ms,
					 v > 0 ? v : 0, __ATOMIC_RELAXED);
			return 0;
		case SO_RCVLOWAT:
			/* socket(7): recv blocks until this many bytes (or
			 * the request) are there.  Negative: INT_MAX, then
			 * capped at half the receive buffer as tcp_set_rcvlowat;
			 * 0 means 1.  UDP keeps it but datagrams ignore it, as
			 * in Linux. */
			if ((r = opt_int(val, len, &v)) < 0)
				return r;
			if (v < 0)
				v = 0x7fffffff;
			if (s->type == SOCK_STREAM && (uint32_t)v > s->rx_size / 2)
				v = (int)(s->rx_size / 2);
			__atomic_store_n(&s->shm->rcvlowat, v ? v : 1, __ATOMIC_RELAXED);
			return 0;
		case SO_LINGER: {
			struct linger l;
			if (!val)
				return -EFAULT;
			if (len < sizeof l)
				return -EINVAL;
			memcpy(&l, val, sizeof l);
			return opt_us_set(fd, s, US_SO_LINGER, l.l_onoff ? (l.l_linger < 0 ? 0x7fffffff : l.l_linger) : -1);
		}
		case SO_REUSEPORT:
			if ((r = opt_int(val, len, &v)) < 0)
				return r;
			r = opt_us_set(fd, s, US_SO_REUSEPORT, v != 0);
			if (r == 0)
				s->reuseport = v != 0;
			return r;
		default:
			break;
		}
	if (level == IPPROTO_TCP && s->type == SOCK_STREAM)
		switch (name) {
		case TCP_CONGESTION: {
			/* tcp(7): the algorithm's name; unknown -> ENOENT.
			 * ustack has CUBIC (RFC 9438) and NewReno (RFC 6582),
			 * the latter under Linux's name "reno". */
			char nb[SHIM_CA_NAME_MAX + 1] = { 0 };
			if (!val)
				return -EFAULT;
			if (len < 1)
				return -EINVAL;
			memcpy(nb, val, len < SHIM_CA_NAME_MAX ? len : SHIM_CA_NAME_MAX);
			if (strcmp(nb, "cubic") == 0)
				v = US_CC_CUBIC;
			else if (strcmp(nb, "reno") == 0)
				v = US_CC_NEWRENO;
			else
				return -ENOENT;
			return opt_us_set(fd, s, US_TCP_CONGESTION, v);
		}
		case TCP_QUICKACK:
			/* Linux too treats it as a one-shot hint that a
			 * later ACK decision may undo; ustack's delayed-ACK
			 * logic already acks every second segment. */
			return opt_int(val, len, &v);
		case TCP_DEFER_ACCEPT:
			/* The period as Linux rounds it; the stack holds a
			 * connection off the accept queue until data comes
			 * or the period ends (tcp_subr.c). */
			if ((r = opt_int(val, len, &v)) < 0)
				return r;
			return opt_us_set(fd, s, US_TCP_DEFER_ACCEPT, opt_defer_round(v));
		default:
			break;
		}
	opt = opt_map(level, name);
	if (opt < 0)
		return -ENOPROTOOPT;
	if ((r = opt_int(val, len, &v)) < 0)
		return r;
	if (opt == US_IP_TTL && v == -1)
		v = 64; /* ip(7): -1 restores the default */
	if (s->type == SOCK_STREAM && opt == US_TCP_CORK && v) {
		/* Not even a message: ustackd applies it at its next sync of
		 * the send ring, from the index it was set at (ipc.h). */
		__atomic_store_n(&s->shm->cork_at, __atomic_load_n(&s->shm->tx_head, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
		__atomic_fetch_add(&s->shm->cork_gen, 1u, __ATOMIC_RELEASE);
		return 0;
	}
	if (s->type == SOCK_STREAM && (opt == US_TCP_NODELAY || opt == US_TCP_CORK)) {
		/* Cannot fail: no round trip (ipc.h, IPC_F_NOREPLY). */
		struct ipc_opt o = { .opt = opt, .val = v };

		/* An uncork says which header cork it follows (ipc.h). */
		int32_t gen = opt == US_TCP_CORK
				      ? (int32_t)__atomic_load_n(&s->shm->cork_gen, __ATOMIC_ACQUIRE)
				      : 0;
		return shim_send_noreply(fd, s, IPC_SETOPT, &o, sizeof o, gen);
	}
	return opt_us_set(fd, s, opt, v);
}

SHIM_VIS int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct shim_sock *s = shim_fd_sock(fd);

	if (!s)
		return shim_real.setsockopt(fd, level, name, val, len);
	return (int)shim_ret(opt_set(fd, s, level, name, val, len));
}

/* ---- getsockopt ---------------------------------------------------------------- */

/* struct tcp_info as Linux lays it out (include/uapi/linux/tcp.h) up to
 * tcpi_snd_wnd; glibc's <netinet/tcp.h> has the first 104 bytes. */
struct shim_tcp_info {
	struct tcp_info base;
	uint64_t tcpi_pacing_rate, tcpi_max_pacing_rate;
	uint64_t tcpi_bytes_acked, tcpi_bytes_received;
	uint32_t tcpi_segs_out, tcpi_segs_in;
	uint32_t tcpi_notsent_bytes, tcpi_min_rtt;
	uint32_t tcpi_data_segs_in, tcpi_data_segs_out;
	uint64_t tcpi_delivery_rate;
	uint64_t tcpi_busy_time, tcpi_rwnd_limited, tcpi_sndbuf_limited;
	uint32_t tcpi_delivered, tcpi_delivered_ce;
	uint64_t tcpi_bytes_sent, tcpi_bytes_retrans;
	uint32_t tcpi_dsack_dups, tcpi_reord_seen;
	uint32_t tcpi_rcv_ooopack, tcpi_snd_wnd;
};
_Static_assert(sizeof(struct tcp_info) == 104, "glibc struct tcp_info");
_Static_assert(offsetof(struct shim_tcp_info, tcpi_pacing_rate) == 104, "tcp_info layout");
_Static_assert(offsetof(struct shim_tcp_info, tcpi_snd_wnd) == 228, "tcp_info layout");

static uint32_t opt_div(uint64_t a, uint32_t b)
{
	return b ? (uint32_t)(a / b) : 0;
}

static int opt_tcp_info(int fd, struct shim_sock *s, void *val, socklen_t *len)
{
	/* Linux's TCP_* state numbers (include/net/tcp_states.h) for enum
	 * us_tcp_state in its order. */
	static const uint8_t st[] = { 7, 10, 2, 3, 1, 4, 5, 8, 11, 9, 6 };
	struct us_tcp_info ti;
	struct shim_tcp_info o;
	struct tcp_info *b = &o.base;

	if (!val || !len)
		return -EFAULT;
	int r = shim_req_simple(fd, s, IPC_TCPINFO, NULL, 0, &ti, sizeof ti);
	if (r < 0)
		return r;
	memset(&o, 0, sizeof o);
	b->tcpi_state = (unsigned)ti.state < sizeof st ? st[ti.state] : 7;
	b->tcpi_ca_state = ti.in_recovery ? 3 /* TCP_CA_Recovery */ : 0;
	b->tcpi_retransmits = (uint8_t)(ti.backoff > 255 ? 255 : ti.backoff);
	b->tcpi_backoff = b->tcpi_retransmits;
	b->tcpi_options = (ti.ts_ok ? TCPI_OPT_TIMESTAMPS : 0) | (ti.sack_ok ? TCPI_OPT_SACK : 0) |
			  (ti.ws_ok ? TCPI_OPT_WSCALE : 0);
	b->tcpi_snd_wscale = ti.snd_wscale & 0xf;
	b->tcpi_rcv_wscale = ti.rcv_wscale & 0xf;
	b->tcpi_rto = ti.rto; /* microseconds, as Linux */
	b->tcpi_snd_mss = ti.snd_mss;
	b->tcpi_rcv_mss = ti.rcv_mss;
	b->tcpi_advmss = ti.rcv_mss; /* the MSS we announce: link MTU - 40 */
	b->tcpi_pmtu = ti.rcv_mss + 40;
	/* Linux counts these in segments. */
	b->tcpi_unacked = opt_div(ti.unacked, ti.snd_mss);
	b->tcpi_sacked = opt_div(ti.sacked, ti.snd_mss);
	b->tcpi_rtt = ti.rtt;
	b->tcpi_rttvar = ti.rttvar;
	b->tcpi_snd_ssthresh = ti.ssthresh >= 0x7fffffffu ? 0x7fffffffu : opt_div(ti.ssthresh, ti.snd_mss);
	b->tcpi_snd_cwnd = opt_div(ti.cwnd, ti.snd_mss);
	b->tcpi_reordering = 3; /* the dupack threshold (RFC 5681) */
	b->tcpi_rcv_space = ti.rcv_wnd;
	b->tcpi_total_retrans = (uint32_t)ti.retrans_segs;
	o.tcpi_pacing_rate = o.tcpi_max_pacing_rate = ~0ull; /* no pacing */
	o.tcpi_bytes_acked = ti.bytes_acked;
	o.tcpi_bytes_received = ti.bytes_received;
	o.tcpi_segs_out = (uint32_t)ti.segs_out;
	o.tcpi_segs_in = (uint32_t)ti.segs_in;
	if (s->tx_size) {
		uint32_t h = __atomic_load_n(&s->shm->tx_head, __ATOMIC_RELAXED);
		uint32_t t = __atomic_load_n(&s->shm->tx_tail, __ATOMIC_ACQUIRE);
		uint32_t q = h - t > shim_tx_ring(s) ? 0 : h - t;
		o.tcpi_notsent_bytes = q > ti.unacked ? q - ti.unacked : 0;
	}
	o.tcpi_snd_wnd = ti.snd_wnd;
	return opt_put(val, len, &o, sizeof o);
}

static int opt_timeo_put(void *val, socklen_t *len, int ms)
{
	struct timeval tv = { 0, 0 };

	if (ms > 0) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
	}
	return opt_put(val, len, &tv, sizeof tv);
}

static int opt_get(int fd, struct shim_sock *s, int level, int name, void *val, socklen_t *len)
{
	int v = 0, r, opt;

	if (level == SOL_SOCKET)
		switch (name) {
		case SO_ERROR:
			return opt_put_int(val, len, shim_sock_error(fd, s));
		case SO_TYPE:
			return opt_put_int(val, len, s->type);
		case SO_DOMAIN:
			return opt_put_int(val, len, AF_INET);
		case SO_PROTOCOL:
			return opt_put_int(val, len, s->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP);
		case SO_ACCEPTCONN:
			return opt_put_int(val, len, s->listening);
		case SO_RCVLOWAT:
			v = shim_rcvlowat(s);
			return opt_put_int(val, len, v ? v : 1);
		case SO_RCVTIMEO:
			return opt_timeo_put(val, len, shim_rcvtimeo(s));
		case SO_SNDTIMEO:
			return opt_timeo_put(val, len, shim_sndtimeo(s));
		case SO_LINGER: {
			struct linger l = { 0, 0 };
			if ((r = opt_us_get(fd, s, US_SO_LINGER, &v)) < 0)
				return r;
			if (v >= 0) {
				l.l_onoff = 1;
				l.l_linger = v;
			}
			return opt_put(val, len, &l, sizeof l);
		}
		default:
			break;
		}
	if (level == IPPROTO_TCP && name == TCP_INFO)
		/* udp(7) sockets: EOPNOTSUPP, as Linux answers. */
		return s->type == SOCK_STREAM ? opt_tcp_info(fd, s, val, len) : -EOPNOTSUPP;
	if (level == IPPROTO_TCP && s->type == SOCK_STREAM)
		switch (name) {
		case TCP_CONGESTION: {
			char nb[SHIM_CA_NAME_MAX] = { 0 };
			if ((r = opt_us_get(fd, s, US_TCP_CONGESTION, &v)) < 0)
				return r;
			strcpy(nb, v == US_CC_NEWRENO ? "reno" : "cubic");
			return opt_put(val, len, nb, sizeof nb);
		}
		case TCP_DEFER_ACCEPT:
			if ((r = opt_us_get(fd, s, US_TCP_DEFER_ACCEPT, &v)) < 0)
				return r;
			return opt_put_int(val, len, v);
		case TCP_QUICKACK:
			return opt_put_int(val, len, 1); /* Linux: 1 outside pingpong mode */
		default:
			break;
		}
	opt = opt_map(level, name);
	if (opt < 0)
		return -ENOPROTOOPT;
	if ((r = opt_us_get(fd, s, opt, &v)) < 0)
		return r;
	/* SO_RCVBUF/SO_SNDBUF: the bytes the buffers really hold (the
	 * shared rings for TCP), not Linux's doubled bookkeeping figure. */
	return opt_put_int(val, len, v);
}

SHIM_VIS int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct shim_sock *s = shim_fd_sock(fd);

	if (!s)
		return shim_real.getsockopt(fd, level, name, val, len);
	return (int)shim_ret(opt_get(fd, s, level, name, val, len));
}

/* ---- ioctl ------------------------------------------------------------------------ */

/* Next datagram's length without taking it (FIONREAD on UDP, as udp(7)). */
static int opt_dgram_peek_len(int fd, struct shim_sock *s)
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

/* Bytes in the send ring not yet acknowledged (SIOCOUTQ, tcp(7)). */
static int opt_outq(struct shim_sock *s)
{
	uint32_t h = __atomic_load_n(&s->shm->tx_head, __ATOMIC_RELAXED);
	uint32_t t = __atomic_load_n(&s->shm->tx_tail, __ATOMIC_ACQUIRE);

	return h - t > shim_tx_ring(s) ? 0 : (int)(h - t);
}

static int opt_ioctl(int fd, struct shim_sock *s, unsigned long req, void *arg)
{
	int v = 0;

	switch (req) {
	case FIONREAD: /* == SIOCINQ */
		if (s->type == SOCK_STREAM) {
			if (s->listening)
				return -EINVAL; /* tcp(7) */
			uint32_t h = __atomic_load_n(&s->shm->rx_head, __ATOMIC_ACQUIRE);
			uint32_t t = __atomic_load_n(&s->shm->rx_tail, __ATOMIC_RELAXED);
			v = h - t > s->rx_size ? 0 : (int)(h - t);
		} else if ((v = opt_dgram_peek_len(fd, s)) < 0) {
			return v;
		}
		break;
	case TIOCOUTQ: /* == SIOCOUTQ; UDP: nothing waits, sends are synchronous */
		if (s->type == SOCK_STREAM) {
			if (s->listening)
				return -EINVAL;
			v = opt_outq(s);
		}
		break;
	case SIOCOUTQNSD: { /* tcp(7): queued and not yet sent */
		struct us_tcp_info ti;
		if (s->type != SOCK_STREAM)
			return -ENOTTY; /* udp: not handled, as Linux */
		if (s->listening)
			return -EINVAL;
		int r = shim_req_simple(fd, s, IPC_TCPINFO, NULL, 0, &ti, sizeof ti);
		if (r < 0)
			return r;
		v = opt_outq(s);
		v = (uint32_t)v > ti.unacked ? v - (int)ti.unacked : 0;
		break;
	}
	default:
		return 1; /* not ours */
	}
	if (!arg)
		return -EFAULT;
	memcpy(arg, &v, sizeof v);
	return 0;
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
	if (req == FIONBIO) {
		int on;
		if (!arg)
			return (int)shim_ret(-EFAULT);
		memcpy(&on, arg, sizeof on);
		int r = shim_real.ioctl(fd, req, arg);
		if (r == 0)
			__atomic_store_n(&s->nonblock, on ? 1 : 0, __ATOMIC_RELAXED);
		return r;
	}
	int r = opt_ioctl(fd, s, req, arg);
	if (r > 0) /* FIOCLEX, FIOASYNC, ...: the real fd's */
		return shim_real.ioctl(fd, req, arg);
	return (int)shim_ret(r);
}
