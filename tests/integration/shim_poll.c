/* shim_poll.c - run under libustack.so by shim_poll.sh: poll, select and
 * epoll over a mix of a pipe and ustack sockets.
 *   shim_poll ECHO_IP ECHO_PORT LISTEN_PORT
 * connects to a kernel-side echo server, listens on LISTEN_PORT (the
 * script connects to it from the kernel side after "listening" appears),
 * and checks that each wait reports exactly the ready fds; then that an
 * edge-triggered EPOLLOUT fires as Linux's does: once at first, not again
 * for data merely acknowledged, and again when space frees after a send
 * found the buffer full.  Exit 0 = pass. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shimcheck.h"


static void echo_roundtrip(int c, const char *msg)
{
	CHECK(send(c, msg, strlen(msg), 0) == (ssize_t)strlen(msg), "send");
}

static void drain(int fd, size_t n)
{
	char buf[256];
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf, sizeof buf < n - got ? sizeof buf : n - got);
		CHECK(r > 0, "read %zd", r);
		got += (size_t)r;
	}
}

/* EPOLLOUT | EPOLLET on the connected socket c (echoed by the peer). */
static void epollout_edges(int c)
{
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.u64 = 7 }, out[2];
	static char big[65536];
	int ep = epoll_create1(EPOLL_CLOEXEC), r;
	size_t sent = 0, rcvd = 0;
	bool again = false;

	CHECK(ep >= 0, "epoll_create1");
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) == 0, "epoll add ET");
	r = epoll_wait(ep, out, 2, 1000);
	CHECK(r == 1 && (out[0].events & EPOLLOUT), "ET: first EPOLLOUT (%d)", r);
	CHECK(epoll_wait(ep, out, 2, 200) == 0, "ET: EPOLLOUT again without an edge");
	echo_roundtrip(c, "et");
	drain(c, 2);
	r = epoll_wait(ep, out, 2, 300);
	CHECK(r == 0, "ET: EPOLLOUT for data merely acknowledged (%d)", r);
	/* Fill until a send finds no room (the peer echoes; we do not read). */
	CHECK(fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
	for (int i = 0; i < 100000 && !again; i++) {
		ssize_t k = send(c, big, sizeof big, MSG_NOSIGNAL);

		if (k < 0) {
			CHECK(errno == EAGAIN, "send: %s", strerror(errno));
			again = true;
		} else {
			sent += (size_t)k;
		}
	}
	CHECK(again, "send never found the buffer full (%zu bytes)", sent);
	/* Read the echo back: the peer takes more, our buffer frees, and
	 * EPOLLOUT fires again. */
	for (int i = 0; i < 100 && r != 1; i++) {
		ssize_t k;

		while ((k = read(c, big, sizeof big)) > 0)
			rcvd += (size_t)k;
		r = epoll_wait(ep, out, 2, 100);
	}
	CHECK(r == 1 && (out[0].events & EPOLLOUT), "ET: no EPOLLOUT after space freed (%d)", r);
	/* Take the rest of the echo so the socket is quiet again. */
	CHECK(fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK) == 0, "blocking");
	while (rcvd < sent) {
		ssize_t k = read(c, big, sizeof big < sent - rcvd ? sizeof big : sent - rcvd);

		CHECK(k > 0, "read echo: %zd", k);
		rcvd += (size_t)k;
	}
	close(ep);
	printf("epoll edge-triggered EPOLLOUT ok\n");
}

/* A thread waits on a socket (poll, then recv) while another closes its
 * fd: the shim must keep the socket alive until the wait ends (an
 * AddressSanitizer build of the shim sees a use-after-free otherwise).
 * Linux keeps waiting until the timeout; the shim may instead end the
 * wait early and report POLLNVAL; either way nothing crashes. */
struct closer_arg {
	int fd;
	int r;
	int err;
};

static void *poll_waiter(void *p)
{
	struct closer_arg *a = p;
	struct pollfd pf = { a->fd, POLLIN, 0 };

	a->r = poll(&pf, 1, 600);
	a->err = errno;
	return NULL;
}

static void *recv_waiter(void *p)
{
	struct closer_arg *a = p;
	char b[16];

	a->r = (int)recv(a->fd, b, sizeof b, 0);
	a->err = errno;
	return NULL;
}

static void close_while_waiting(int fd, void *(*fn)(void *), const char *what)
{
	struct closer_arg a = { fd, -2, 0 };
	pthread_t t;

	CHECK(pthread_create(&t, NULL, fn, &a) == 0, "pthread_create");
	usleep(100000);
	CHECK(close(fd) == 0, "close during %s", what);
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	CHECK(a.r >= -1 && a.r <= 1, "%s returned %d", what, a.r);
	printf("close during %s: returned %d (%s)\n", what, a.r, a.r < 0 ? strerror(a.err) : "-");
}

/* The same, and the number is taken again at once by another file with
 * data in it: the waiter must end (EBADF) without touching that file --
 * it used to read from the number again after its wait slice, taking the
 * other file's bytes for a channel record. */
static void close_and_reuse(int fd)
{
	struct closer_arg a = { fd, -2, 0 };
	pthread_t t;
	int sp[2];
	char got[8] = { 0 };

	CHECK(pthread_create(&t, NULL, recv_waiter, &a) == 0, "pthread_create");
	usleep(100000);
	CHECK(close(fd) == 0, "close during recv");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "socketpair");
	CHECK(sp[0] == fd, "the number %d was not taken again (got %d)", fd, sp[0]);
	CHECK(write(sp[1], "keep", 4) == 4, "write");
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	CHECK(pthread_timedjoin_np(t, NULL, &until) == 0,
	      "the waiter did not end within 5 s of its socket's close");
	CHECK(a.r == -1 && a.err == EBADF, "recv on a closed socket returned %d (%s)", a.r,
	      a.r < 0 ? strerror(a.err) : "-");
	CHECK(recv(sp[0], got, sizeof got, MSG_DONTWAIT) == 4 && memcmp(got, "keep", 4) == 0,
	      "the file now at number %d lost its data to the old waiter", fd);
	close(sp[0]);
	close(sp[1]);
	printf("close during recv, number reused at once: EBADF, the new file untouched\n");
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int p[2], c, l, r;

	CHECK(argc == 4, "usage: shim_poll ECHO_IP ECHO_PORT LISTEN_PORT");
	CHECK(pipe(p) == 0, "pipe");
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0, "socket");
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	CHECK(connect(c, (struct sockaddr *)&sa, sizeof sa) == 0, "connect");
	l = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(l >= 0, "socket");
	int one = 1;
	CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "setsockopt");
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])) };
	CHECK(bind(l, (struct sockaddr *)&la, sizeof la) == 0, "bind");
	CHECK(listen(l, 8) == 0, "listen");
	CHECK(c < FD_SETSIZE && l < FD_SETSIZE, "small fds");

	/* poll: nothing readable yet; c writable. */
	struct pollfd pf[3] = { { p[0], POLLIN, 0 }, { c, POLLIN, 0 }, { l, POLLIN, 0 } };
	r = poll(pf, 3, 200);
	CHECK(r == 0, "poll idle returned %d", r);
	struct pollfd wf = { c, POLLOUT, 0 };
	CHECK(poll(&wf, 1, 1000) == 1 && (wf.revents & POLLOUT), "poll POLLOUT");
	printf("poll idle ok\n");

	/* poll: the pipe alone. */
	CHECK(write(p[1], "x", 1) == 1, "write pipe");
	r = poll(pf, 3, 2000);
	CHECK(r == 1 && (pf[0].revents & POLLIN) && !pf[1].revents && !pf[2].revents,
	      "poll pipe: %d %x %x %x", r, pf[0].revents, pf[1].revents, pf[2].revents);
	drain(p[0], 1);
	/* poll: the socket alone (blocks until the echo arrives). */
	echo_roundtrip(c, "hello");
	r = poll(pf, 3, 5000);
	CHECK(r == 1 && (pf[1].revents & POLLIN) && !pf[0].revents, "poll socket: %d", r);
	drain(c, 5);
	printf("poll ok\n");

	/* select: pipe + socket both. */
	echo_roundtrip(c, "again");
	CHECK(write(p[1], "y", 1) == 1, "write pipe");
	fd_set rd;
	int seen_pipe = 0, seen_sock = 0;
	for (int i = 0; i < 50 && !(seen_pipe && seen_sock); i++) {
		struct timeval tv = { 2, 0 };
		FD_ZERO(&rd);
		FD_SET(p[0], &rd);
		FD_SET(c, &rd);
		FD_SET(l, &rd);
		int mx = p[0] > c ? p[0] : c;
		mx = mx > l ? mx : l;
		r = select(mx + 1, &rd, NULL, NULL, &tv);
		CHECK(r > 0, "select %d", r);
		CHECK(!FD_ISSET(l, &rd), "select: listener readable");
		if (FD_ISSET(p[0], &rd) && !seen_pipe) {
			drain(p[0], 1);
			seen_pipe = 1;
		}
		if (FD_ISSET(c, &rd) && !seen_sock) {
			drain(c, 5);
			seen_sock = 1;
		}
	}
	CHECK(seen_pipe && seen_sock, "select saw pipe %d sock %d", seen_pipe, seen_sock);
	printf("select ok\n");

	/* epoll: idle, then pipe + socket, then a connection on l. */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0, "epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN };
	ev.data.u64 = 100;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0, "epoll add pipe");
	ev.data.u64 = 200;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) == 0, "epoll add c");
	ev.data.u64 = 300;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0, "epoll add l");
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == -1 && errno == EEXIST, "epoll EEXIST");
	struct epoll_event out[8];
	CHECK(epoll_wait(ep, out, 8, 200) == 0, "epoll idle");
	echo_roundtrip(c, "third");
	CHECK(write(p[1], "z", 1) == 1, "write pipe");
	seen_pipe = seen_sock = 0;
	for (int i = 0; i < 50 && !(seen_pipe && seen_sock); i++) {
		r = epoll_wait(ep, out, 8, 2000);
		CHECK(r > 0, "epoll_wait %d", r);
		for (int k = 0; k < r; k++) {
			CHECK(out[k].data.u64 != 300, "epoll: listener early");
			if (out[k].data.u64 == 100 && !seen_pipe) {
				drain(p[0], 1);
				seen_pipe = 1;
			}
			if (out[k].data.u64 == 200 && !seen_sock) {
				drain(c, 5);
				seen_sock = 1;
			}
		}
	}
	CHECK(seen_pipe && seen_sock, "epoll saw pipe %d sock %d", seen_pipe, seen_sock);
	printf("epoll ok\nlistening\n");
	fflush(stdout);
	r = epoll_wait(ep, out, 8, 10000);
	CHECK(r == 1 && out[0].data.u64 == 300, "epoll listener: %d", r);
	int a = accept(l, NULL, NULL);
	CHECK(a >= 0, "accept");
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL) == 0, "epoll del");
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL) == -1 && errno == ENOENT, "epoll ENOENT");
	printf("epoll accept ok\n");
	epollout_edges(c);
	/* A socket closed without EPOLL_CTL_DEL leaves the set (the kernel
	 * forgets the file); the next socket gets its number -- and, freed
	 * and allocated again at once, often its object's address -- and
	 * must be added anew (nginx adds each accepted fd; EEXIST here made
	 * it drop connections). */
	for (int i = 0; i < 16; i++) {
		int t = socket(AF_INET, SOCK_STREAM, 0);
		struct epoll_event tev = { .events = EPOLLIN, .data.u64 = 400 + (unsigned)i };
		CHECK(t >= 0, "socket %d", i);
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, t, &tev) == 0,
		      "epoll add of a new socket on a reused fd number (round %d)", i);
		close(t);
	}
	printf("epoll add after close without del ok\n");
	close_while_waiting(a, poll_waiter, "poll");
	{
		/* c, with whatever the echo sent back read first */
		struct timeval tv = { 0, 600000 };
		char junk[4096];
		usleep(100000);
		while (recv(c, junk, sizeof junk, MSG_DONTWAIT) > 0)
			;
		CHECK(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
		close_while_waiting(c, recv_waiter, "recv");
	}
	{
		int d = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(d >= 0, "socket");
		CHECK(connect(d, (struct sockaddr *)&sa, sizeof sa) == 0, "connect");
		close_and_reuse(d);
	}
	close(ep);
	close(l);
	printf("PASS\n");
	return 0;
}
