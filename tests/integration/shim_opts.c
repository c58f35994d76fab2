/* shim_opts.c - run under libustack.so by shim_opts.sh: socket options and
 * ioctls on ustack sockets, their round trips and their effects.
 *   shim_opts PEER_IP PORT
 * The kernel-side peer (shim_opts.sh) serves on PEER_IP: TCP echo on PORT,
 * UDP echo on PORT, a TCP sink on PORT+1 that reads nothing until a
 * connection to PORT+2 arrives, and nothing on PORT+3 (refused).  The peer
 * is only reachable through the TAP, so every byte that comes back crossed
 * ustack.  Built twice: plain, and with -D_FORTIFY_SOURCE=2 -O2 so that
 * read/recv/recvfrom/poll/ppoll/FD_SET become __read_chk, __recv_chk,
 * __recvfrom_chk, __poll_chk, __ppoll_chk and __fdelt_chk.  Exit 0 = pass. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shimcheck.h"

#ifndef SIOCINQ
#define SIOCINQ FIONREAD
#endif
#ifndef SIOCOUTQ
#define SIOCOUTQ TIOCOUTQ
#endif
#ifndef SIOCOUTQNSD
#define SIOCOUTQNSD 0x894B
#endif


static struct sockaddr_in peer;
static int port;
/* A 1 the compiler cannot see: lengths scaled by it are not provably
 * within the buffer, so fortified builds call the __*_chk functions. */
static volatile int rt_one = 1;
#define RT(x) ((x) * (size_t)rt_one)

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sockaddr_in at(int p)
{
	struct sockaddr_in a = peer;

	a.sin_port = htons((uint16_t)p);
	return a;
}

static int tcp_to(int p)
{
	struct sockaddr_in a = at(p);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0, "socket");
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect to port %d", p);
	return fd;
}

static int geti(int fd, int level, int name)
{
	int v = -12345;
	socklen_t l = sizeof v;

	CHECK(getsockopt(fd, level, name, &v, &l) == 0, "getsockopt(%d, %d)", level, name);
	CHECK(l == sizeof v, "getsockopt(%d, %d) length %u", level, name, (unsigned)l);
	return v;
}

static void seti(int fd, int level, int name, int v)
{
	CHECK(setsockopt(fd, level, name, &v, sizeof v) == 0, "setsockopt(%d, %d, %d)", level,
	      name, v);
}

static void roundtrip(int fd, int level, int name, int v, int want)
{
	seti(fd, level, name, v);
	int got = geti(fd, level, name);
	CHECK(got == want, "option (%d, %d): set %d, got %d, want %d", level, name, v, got, want);
}

static void set_fails(int fd, int level, int name, int v, int err)
{
	errno = 0;
	CHECK(setsockopt(fd, level, name, &v, sizeof v) == -1 && errno == err,
	      "setsockopt(%d, %d, %d) should fail with %s", level, name, v, strerror(err));
}

static int ioctl_int(int fd, unsigned long req)
{
	int v = -1;

	CHECK(ioctl(fd, req, &v) == 0, "ioctl %#lx", req);
	return v;
}

static void settimeo(int fd, int name, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	CHECK(setsockopt(fd, SOL_SOCKET, name, &tv, sizeof tv) == 0, "set timeo");
}

/* Read exactly n bytes with the fortifiable calls. */
static void read_exact(int fd, char *dst, size_t n)
{
	size_t got = 0;
	char buf[4096];

	while (got < n) {
		size_t want = n - got < sizeof buf ? n - got : sizeof buf;
		ssize_t r = (got & 1) ? read(fd, buf, RT(want)) : recv(fd, buf, RT(want), 0);
		CHECK(r > 0, "read/recv %zd", r);
		memcpy(dst + got, buf, (size_t)r);
		got += (size_t)r;
	}
}

static void test_generic(void)
{
	int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(t >= 0 && u >= 0, "socket");
	CHECK(geti(t, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "SO_TYPE tcp");
	CHECK(geti(u, SOL_SOCKET, SO_TYPE) == SOCK_DGRAM, "SO_TYPE udp");
	CHECK(geti(t, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN");
	CHECK(geti(t, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP, "SO_PROTOCOL tcp");
	CHECK(geti(u, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_UDP, "SO_PROTOCOL udp");
	CHECK(geti(t, SOL_SOCKET, SO_ACCEPTCONN) == 0, "SO_ACCEPTCONN fresh");
	CHECK(geti(t, SOL_SOCKET, SO_ERROR) == 0, "SO_ERROR fresh");
	roundtrip(t, SOL_SOCKET, SO_REUSEADDR, 1, 1);
	roundtrip(t, SOL_SOCKET, SO_REUSEADDR, 0, 0);
	roundtrip(u, SOL_SOCKET, SO_REUSEPORT, 1, 1);
	roundtrip(t, SOL_SOCKET, SO_KEEPALIVE, 1, 1);
	roundtrip(u, SOL_SOCKET, SO_KEEPALIVE, 1, 1); /* Linux keeps it on UDP too */
	roundtrip(u, SOL_SOCKET, SO_BROADCAST, 1, 1);
	roundtrip(t, SOL_SOCKET, SO_RCVLOWAT, 10, 10);
	roundtrip(t, SOL_SOCKET, SO_RCVLOWAT, 0, 1);
	CHECK(geti(t, SOL_SOCKET, SO_RCVBUF) >= 4096, "SO_RCVBUF tcp");
	CHECK(geti(t, SOL_SOCKET, SO_SNDBUF) >= 4096, "SO_SNDBUF tcp");
	roundtrip(u, SOL_SOCKET, SO_RCVBUF, 100000, 100000);
	struct linger l = { 1, 5 }, l2;
	socklen_t ll = sizeof l2;
	CHECK(setsockopt(t, SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0, "SO_LINGER set");
	CHECK(getsockopt(t, SOL_SOCKET, SO_LINGER, &l2, &ll) == 0 && l2.l_onoff == 1 &&
		      l2.l_linger == 5, "SO_LINGER get %d %d", l2.l_onoff, l2.l_linger);
	l.l_onoff = 0;
	CHECK(setsockopt(t, SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0, "SO_LINGER off");
	CHECK(getsockopt(t, SOL_SOCKET, SO_LINGER, &l2, &ll) == 0 && l2.l_onoff == 0, "linger off");
	struct timeval tv = { 2, 500000 }, tv2;
	socklen_t tl = sizeof tv2;
	CHECK(setsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
	CHECK(getsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv2, &tl) == 0 && tv2.tv_sec == 2 &&
		      tv2.tv_usec == 500000, "SO_RCVTIMEO get");
	tv.tv_usec = 2000000;
	errno = 0;
	CHECK(setsockopt(t, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1 && errno == EDOM,
	      "SO_SNDTIMEO usec out of range: EDOM");
	roundtrip(t, IPPROTO_TCP, TCP_NODELAY, 1, 1);
	roundtrip(t, IPPROTO_TCP, TCP_CORK, 1, 1);
	roundtrip(t, IPPROTO_TCP, TCP_CORK, 0, 0);
	roundtrip(t, IPPROTO_TCP, TCP_KEEPIDLE, 30, 30);
	roundtrip(t, IPPROTO_TCP, TCP_KEEPINTVL, 5, 5);
	roundtrip(t, IPPROTO_TCP, TCP_KEEPCNT, 4, 4);
	set_fails(t, IPPROTO_TCP, TCP_KEEPCNT, 0, EINVAL);
	roundtrip(t, IPPROTO_TCP, TCP_USER_TIMEOUT, 5000, 5000);
	roundtrip(t, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5, 7); /* Linux's rounding */
	roundtrip(t, IPPROTO_TCP, TCP_MAXSEG, 1000, 1000);
	set_fails(t, IPPROTO_TCP, TCP_MAXSEG, 10, EINVAL);
	roundtrip(t, IPPROTO_IP, IP_TOS, 0x10, 0x10);
	roundtrip(t, IPPROTO_IP, IP_TTL, 33, 33);
	roundtrip(t, IPPROTO_IP, IP_TTL, -1, 64);
	set_fails(t, IPPROTO_IP, IP_TTL, 0, EINVAL);
	roundtrip(u, IPPROTO_IP, IP_TTL, 17, 17);
	set_fails(t, SOL_SOCKET, 9999, 1, ENOPROTOOPT);
	set_fails(t, IPPROTO_TCP, 9999, 1, ENOPROTOOPT);
	set_fails(u, IPPROTO_TCP, TCP_NODELAY, 1, ENOPROTOOPT);
	int v;
	socklen_t vl = sizeof v;
	errno = 0;
	CHECK(getsockopt(u, SOL_SOCKET, 9999, &v, &vl) == -1 && errno == ENOPROTOOPT, "get unknown");
	struct tcp_info ti;
	socklen_t til = sizeof ti;
	errno = 0;
	CHECK(getsockopt(u, IPPROTO_TCP, TCP_INFO, &ti, &til) == -1 && errno == EOPNOTSUPP,
	      "TCP_INFO on UDP");
	char cc[16];
	socklen_t ccl = sizeof cc;
	CHECK(getsockopt(t, IPPROTO_TCP, TCP_CONGESTION, cc, &ccl) == 0 && strcmp(cc, "cubic") == 0,
	      "TCP_CONGESTION default %s", cc);
	errno = 0;
	CHECK(setsockopt(t, IPPROTO_TCP, TCP_CONGESTION, "vegas-ish", 9) == -1 && errno == ENOENT,
	      "TCP_CONGESTION unknown: ENOENT");
	close(t);
	close(u);
	printf("ok: option round trips and Linux's errors\n");
}

static void test_tcp_effects(void)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = at(port);
	char buf[4096], back[4096];

	/* TCP_MAXSEG before connect caps the MSS the connection uses. */
	CHECK(c >= 0, "socket");
	seti(c, IPPROTO_TCP, TCP_MAXSEG, 1000);
	CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "connect echo");
	/* Idle: SO_RCVTIMEO makes a blocking recv give EAGAIN after it. */
	settimeo(c, SO_RCVTIMEO, 300);
	long long t0 = now_ms();
	errno = 0;
	ssize_t r = recv(c, buf, sizeof buf, 0);
	long long el = now_ms() - t0;
	CHECK(r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "idle recv: %zd", r);
	CHECK(el >= 250 && el < 10000, "SO_RCVTIMEO 300 ms took %lld ms", el);
	printf("ok: SO_RCVTIMEO 300 ms on an idle TCP socket: EAGAIN after %lld ms\n", el);
	settimeo(c, SO_RCVTIMEO, 0); /* no timeout again: transfers may be slow */
	/* A transfer, then FIONREAD and TCP_INFO. */
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)(i * 7 + 1);
	for (int k = 0; k < 64; k++) {
		CHECK(send(c, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "send");
		read_exact(c, back, sizeof back);
		CHECK(memcmp(buf, back, sizeof buf) == 0, "echo differs");
	}
	CHECK(send(c, buf, 100, 0) == 100, "send 100");
	struct pollfd pf = { c, POLLIN, 0 };
	int n = 0;
	for (int i = 0; i < 100 && n < 100; i++) {
		CHECK(poll(&pf, RT(1), 5000) == 1, "poll echo");
		n = ioctl_int(c, FIONREAD);
		if (n < 100)
			usleep(20000);
	}
	CHECK(n == 100, "FIONREAD %d, want 100", n);
	CHECK(ioctl_int(c, SIOCINQ) == 100, "SIOCINQ");
	read_exact(c, back, 100);
	CHECK(ioctl_int(c, FIONREAD) == 0, "FIONREAD after read");
	printf("ok: FIONREAD/SIOCINQ = 100 with 100 bytes queued, 0 after\n");
	/* TCP_CORK (set through the shared header, shim/ipc.h): bytes written
	 * before it go at once, bytes after it wait for the uncork (150 ms
	 * here: Linux's ceiling is 200). */
	CHECK(send(c, "early", 5, 0) == 5, "send before TCP_CORK");
	seti(c, IPPROTO_TCP, TCP_CORK, 1);
	CHECK(send(c, "late", 4, 0) == 4, "send while corked");
	read_exact(c, back, 5);
	CHECK(memcmp(back, "early", 5) == 0, "the bytes written before TCP_CORK");
	CHECK(poll(&pf, RT(1), 150) == 0, "bytes written after TCP_CORK came back within 150 ms");
	CHECK(geti(c, IPPROTO_TCP, TCP_CORK) == 1, "TCP_CORK reads back");
	seti(c, IPPROTO_TCP, TCP_CORK, 0);
	read_exact(c, back, 4);
	CHECK(memcmp(back, "late", 4) == 0, "the bytes the uncork released");
	printf("ok: TCP_CORK held what was written after it (not what came before) until cleared\n");
	struct tcp_info ti;
	socklen_t til = sizeof ti;
	CHECK(getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &til) == 0 && til == sizeof ti, "TCP_INFO");
	CHECK(ti.tcpi_state == 1 /* TCP_ESTABLISHED */, "tcpi_state %u", ti.tcpi_state);
	CHECK(ti.tcpi_rtt > 0 && ti.tcpi_rto >= 200000, "rtt %u rto %u", ti.tcpi_rtt, ti.tcpi_rto);
	CHECK(ti.tcpi_snd_cwnd > 0 && ti.tcpi_snd_mss > 0 && ti.tcpi_snd_mss <= 1000,
	      "cwnd %u mss %u (TCP_MAXSEG 1000)", ti.tcpi_snd_cwnd, ti.tcpi_snd_mss);
	/* The Linux-only tail (bytes_acked at offset 120). */
	unsigned char big[232];
	socklen_t bl = sizeof big;
	unsigned long long acked;
	CHECK(getsockopt(c, IPPROTO_TCP, TCP_INFO, big, &bl) == 0 && bl == 232, "long TCP_INFO %u",
	      (unsigned)bl);
	memcpy(&acked, big + 120, sizeof acked);
	CHECK(acked >= 64 * 4096 + 100, "tcpi_bytes_acked %llu", acked);
	printf("ok: TCP_INFO ESTABLISHED rtt %u us rto %u us cwnd %u mss %u bytes_acked %llu\n",
	       ti.tcpi_rtt, ti.tcpi_rto, ti.tcpi_snd_cwnd, ti.tcpi_snd_mss, acked);
	/* TCP_CONGESTION switches on a live connection. */
	char cc[16];
	socklen_t ccl = sizeof cc;
	CHECK(setsockopt(c, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) == 0, "set reno");
	CHECK(getsockopt(c, IPPROTO_TCP, TCP_CONGESTION, cc, &ccl) == 0 && strcmp(cc, "reno") == 0,
	      "get reno: %s", cc);
	CHECK(send(c, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "send under reno");
	read_exact(c, back, sizeof back);
	CHECK(setsockopt(c, IPPROTO_TCP, TCP_CONGESTION, "cubic", 6) == 0, "set cubic");
	ccl = sizeof cc;
	CHECK(getsockopt(c, IPPROTO_TCP, TCP_CONGESTION, cc, &ccl) == 0 && strcmp(cc, "cubic") == 0,
	      "get cubic: %s", cc);
	printf("ok: TCP_CONGESTION cubic -> reno -> cubic on an established connection\n");
	/* SO_RCVLOWAT 200 with 100 bytes there: recv waits for more, and
	 * gives the 100 when SO_RCVTIMEO (1 s) ends. */
	seti(c, SOL_SOCKET, SO_RCVLOWAT, 200);
	settimeo(c, SO_RCVTIMEO, 1000);
	CHECK(send(c, buf, 100, 0) == 100, "send 100");
	struct pollfd lp = { c, POLLIN, 0 };
	CHECK(poll(&lp, 1, 300) == 0, "poll: readable with 100 bytes below SO_RCVLOWAT 200");
	t0 = now_ms();
	r = recv(c, back, sizeof back, 0);
	el = now_ms() - t0;
	CHECK(r == 100, "recv with SO_RCVLOWAT 200 returned %zd", r);
	CHECK(el >= 700, "recv with SO_RCVLOWAT 200 returned after %lld ms (before the timeout)", el);
	/* ... and returns at once when 200 bytes come. */
	CHECK(send(c, buf, 200, 0) == 200, "send 200");
	lp.revents = 0;
	CHECK(poll(&lp, 1, 5000) == 1 && (lp.revents & POLLIN), "poll: 200 bytes not readable");
	r = recv(c, back, sizeof back, MSG_WAITALL);
	CHECK(r == 200, "recv 200: %zd", r);
	seti(c, SOL_SOCKET, SO_RCVLOWAT, 1);
	settimeo(c, SO_RCVTIMEO, 0);
	printf("ok: SO_RCVLOWAT 200: poll not readable and a recv waited for the timeout (%lld ms) with 100 bytes there\n", el);
	/* FIONBIO. */
	int on = 1;
	CHECK(ioctl(c, FIONBIO, &on) == 0, "FIONBIO");
	errno = 0;
	t0 = now_ms();
	CHECK(recv(c, back, sizeof back, 0) == -1 && errno == EAGAIN, "FIONBIO recv");
	CHECK(now_ms() - t0 < 5000, "FIONBIO recv waited");
	on = 0;
	CHECK(ioctl(c, FIONBIO, &on) == 0, "FIONBIO off");
	printf("ok: FIONBIO\n");
	close(c);

	/* A listener: SO_ACCEPTCONN, and accept honours SO_RCVTIMEO. */
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = { .sin_family = AF_INET };
	CHECK(l >= 0 && bind(l, (struct sockaddr *)&any, sizeof any) == 0 && listen(l, 4) == 0,
	      "listener");
	CHECK(geti(l, SOL_SOCKET, SO_ACCEPTCONN) == 1, "SO_ACCEPTCONN listener");
	settimeo(l, SO_RCVTIMEO, 200);
	errno = 0;
	CHECK(accept(l, NULL, NULL) == -1 && errno == EAGAIN, "accept timeout");
	int q;
	errno = 0;
	CHECK(ioctl(l, SIOCINQ, &q) == -1 && errno == EINVAL, "SIOCINQ on a listener: EINVAL");
	close(l);
	printf("ok: SO_ACCEPTCONN and accept with SO_RCVTIMEO\n");

	/* SO_ERROR after a refused non-blocking connect. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	a = at(port + 3);
	r = connect(c, (struct sockaddr *)&a, sizeof a);
	CHECK(r == -1 && errno == EINPROGRESS, "nonblocking connect");
	pf = (struct pollfd){ c, POLLOUT, 0 };
	CHECK(poll(&pf, 1, 10000) == 1, "poll connect");
	CHECK(geti(c, SOL_SOCKET, SO_ERROR) == ECONNREFUSED, "SO_ERROR refused");
	CHECK(geti(c, SOL_SOCKET, SO_ERROR) == 0, "SO_ERROR cleared");
	close(c);
	printf("ok: SO_ERROR = ECONNREFUSED after a refused connect, then 0\n");
}

/* SIOCOUTQ/SIOCOUTQNSD while a kernel peer does not read; SO_SNDTIMEO. */
static void test_outq(void)
{
	int c = tcp_to(port + 1);
	static char chunk[1 << 20];

	memset(chunk, 'q', sizeof chunk);
	CHECK(ioctl_int(c, SIOCOUTQ) == 0 && ioctl_int(c, SIOCOUTQNSD) == 0, "empty outq");
	settimeo(c, SO_SNDTIMEO, 300);
	long long total = 0, t0 = now_ms(), el = 0;
	for (int i = 0; i < 64; i++) {
		long long s0 = now_ms();
		ssize_t r = send(c, chunk, sizeof chunk, 0);
		el = now_ms() - s0;
		if (r < 0) {
			CHECK(errno == EAGAIN, "send: %s", strerror(errno));
			break;
		}
		total += r;
		if (r < (ssize_t)sizeof chunk)
			break; /* the timeout ended a partial send */
	}
	CHECK(total > 0 && total < 64LL * (1 << 20), "sent %lld bytes to a non-reader", total);
	CHECK(el >= 250, "the send that hit SO_SNDTIMEO 300 ms returned after %lld ms", el);
	int oq = ioctl_int(c, SIOCOUTQ), nsd = ioctl_int(c, SIOCOUTQNSD);
	CHECK(oq > 0, "SIOCOUTQ %d with a peer that does not read", oq);
	CHECK(nsd >= 0 && nsd <= oq, "SIOCOUTQNSD %d, SIOCOUTQ %d", nsd, oq);
	printf("ok: SO_SNDTIMEO ended a blocked send after %lld ms (%lld bytes in %lld ms); SIOCOUTQ %d, SIOCOUTQNSD %d\n",
	       el, total, now_ms() - t0, oq, nsd);
	/* Let the peer read: the queue drains to 0. */
	int go = tcp_to(port + 2);
	for (int i = 0; i < 400 && (oq = ioctl_int(c, SIOCOUTQ)) > 0; i++)
		usleep(50000);
	CHECK(oq == 0, "SIOCOUTQ still %d after 20 s", oq);
	CHECK(ioctl_int(c, SIOCOUTQNSD) == 0, "SIOCOUTQNSD after the drain");
	printf("ok: SIOCOUTQ drained to 0 once the peer read\n");
	close(go);
	close(c);
}

/* UDP: SO_RCVTIMEO, FIONREAD, recvfrom (fortified), select with FD_SET. */
static void test_udp(void)
{
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = at(port), from;
	socklen_t fl = sizeof from;
	char buf[2048];

	CHECK(u >= 0, "socket");
	settimeo(u, SO_RCVTIMEO, 300);
	long long t0 = now_ms();
	errno = 0;
	ssize_t r = recvfrom(u, buf, RT(sizeof buf), 0, (struct sockaddr *)&from, &fl);
	long long el = now_ms() - t0;
	/* Unbound: nothing can arrive; Linux still waits the timeout. */
	CHECK(r == -1 && errno == EAGAIN && el >= 250, "udp idle recvfrom %zd after %lld ms", r, el);
	CHECK(sendto(u, "datagram-one", 12, 0, (struct sockaddr *)&a, sizeof a) == 12, "sendto");
	fd_set rd;
	struct timeval tv = { 10, 0 };
	FD_ZERO(&rd);
	FD_SET(u, &rd);
	CHECK(select(u + 1, &rd, NULL, NULL, &tv) == 1 && FD_ISSET(u, &rd), "select udp");
	CHECK(ioctl_int(u, FIONREAD) == 12, "FIONREAD udp");
	fl = sizeof from;
	r = recvfrom(u, buf, RT(sizeof buf), 0, (struct sockaddr *)&from, &fl);
	CHECK(r == 12 && memcmp(buf, "datagram-one", 12) == 0, "udp echo %zd", r);
	CHECK(from.sin_addr.s_addr == peer.sin_addr.s_addr && ntohs(from.sin_port) == port,
	      "udp echo source");
	CHECK(ioctl_int(u, FIONREAD) == 0, "FIONREAD udp empty");
	int oq = ioctl_int(u, SIOCOUTQ);
	CHECK(oq == 0, "SIOCOUTQ udp %d", oq);
	struct timespec ts = { 10, 0 };
	CHECK(sendto(u, "two", 3, 0, (struct sockaddr *)&a, sizeof a) == 3, "sendto");
	struct pollfd pf = { u, POLLIN, 0 };
	CHECK(ppoll(&pf, RT(1), &ts, NULL) == 1, "ppoll udp");
	r = recv(u, buf, RT(sizeof buf), 0);
	CHECK(r == 3 && memcmp(buf, "two", 3) == 0, "udp recv %zd", r);
	/* IP_TTL and IP_TOS reach the wire (the peer reports them). */
	struct sockaddr_in tp = at(port + 4);
	seti(u, IPPROTO_IP, IP_TTL, 33);
	seti(u, IPPROTO_IP, IP_TOS, 0x28);
	CHECK(sendto(u, "?", 1, 0, (struct sockaddr *)&tp, sizeof tp) == 1, "sendto ttl probe");
	settimeo(u, SO_RCVTIMEO, 10000);
	r = recv(u, buf, RT(sizeof buf - 1), 0);
	CHECK(r > 0, "ttl probe answer");
	buf[r] = 0;
	CHECK(strcmp(buf, "ttl=33 tos=40") == 0, "the peer saw '%s', want ttl=33 tos=40", buf);
	close(u);
	printf("ok: UDP SO_RCVTIMEO (EAGAIN after %lld ms), FIONREAD, select, ppoll, recvfrom; IP_TTL/IP_TOS on the wire (%s)\n",
	       el, buf);
}

int main(int argc, char **argv)
{
	CHECK(argc == 3, "usage: shim_opts PEER_IP PORT");
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0); /* progress survives a kill */
	peer.sin_family = AF_INET;
	CHECK(inet_pton(AF_INET, argv[1], &peer.sin_addr) == 1, "address");
	port = atoi(argv[2]);
	test_generic();
	test_tcp_effects();
	test_outq();
	test_udp();
	printf("PASS\n");
	return 0;
}
