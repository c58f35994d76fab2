/* shim_sigrestart.c - a blocking socket call interrupted by a signal
 * handler, with and without SA_RESTART (signal(7)), for shim_sigrestart.sh.
 *
 *   shim_sigrestart PEER_IP PEER_PORT LISTEN_IP LISTEN_PORT
 *
 * The peer (kernel side) answers each connection by its first byte: 'D'
 * sends one byte 600 ms later; 'C' connects to LISTEN_IP:LISTEN_PORT 600
 * ms later.  Each case arms SIGALRM (200 ms; 5 ms for one), makes one blocking call
 * and prints "NAME OUTCOME" (OUTCOME: "data", "conn" or the errno name),
 * then checks that nothing was lost (after an EINTR the byte or the
 * connection still comes).  The script runs it with kernel sockets and
 * under libustack.so and compares the two. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "shimcheck.h"

static volatile sig_atomic_t sr_alarms;
static struct sockaddr_in sr_peer, sr_listen;

static void sr_handler(int sig)
{
	(void)sig;
	sr_alarms++;
}

sighandler_t sysv_signal(int sig, sighandler_t h);

/* System V style: the handler is reset on delivery and sets itself again
 * (a sigaction from inside a handler: the shim's must not deadlock). */
static void sr_sysv_handler(int sig)
{
	sr_alarms++;
	sysv_signal(sig, sr_sysv_handler);
}

static void sr_addr(struct sockaddr_in *sa, const char *ip, const char *port)
{
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)atoi(port));
	CHECK(inet_pton(AF_INET, ip, &sa->sin_addr) == 1, "bad address %s", ip);
}

static void sr_alarm_in(int ms)
{
	struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };

	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
}

/* How SIGALRM is handled: "restart" (sigaction, SA_RESTART), "intr"
 * (sigaction, no SA_RESTART), "signal" (signal(2): BSD semantics),
 * "siginterrupt" (signal(2), then siginterrupt(SIGALRM, 1)), "sysv"
 * (sysv_signal(3), set again by the handler). */
static void sr_install(const char *how)
{
	if (!strcmp(how, "sysv")) {
		CHECK(sysv_signal(SIGALRM, sr_sysv_handler) != SIG_ERR, "sysv_signal");
		struct sigaction old;
		CHECK(sigaction(SIGALRM, NULL, &old) == 0, "sigaction(query)");
		CHECK(old.sa_handler == sr_sysv_handler && !(old.sa_flags & SA_RESTART) &&
			      (old.sa_flags & SA_RESETHAND),
		      "sysv: sigaction returned another handler or flags");
		return;
	}
	if (!strcmp(how, "signal") || !strcmp(how, "siginterrupt")) {
		CHECK(signal(SIGALRM, sr_handler) != SIG_ERR, "signal");
		/* Deprecated, still in programs: the shim handles it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		if (!strcmp(how, "siginterrupt"))
			CHECK(siginterrupt(SIGALRM, 1) == 0, "siginterrupt");
#pragma GCC diagnostic pop
	} else {
		struct sigaction sa = { .sa_handler = sr_handler };
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = !strcmp(how, "restart") ? SA_RESTART : 0;
		CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
	}
	/* What the program reads back is its own handler and flags. */
	struct sigaction old;
	CHECK(sigaction(SIGALRM, NULL, &old) == 0, "sigaction(query)");
	CHECK(old.sa_handler == sr_handler, "%s: sigaction returned another handler", how);
	int want = !strcmp(how, "restart") || !strcmp(how, "signal");
	CHECK(!(old.sa_flags & SA_SIGINFO), "%s: SA_SIGINFO shows in the program's flags", how);
	CHECK(!!(old.sa_flags & SA_RESTART) == want, "%s: SA_RESTART is %s in the old action", how,
	      want ? "missing" : "set");
}

static int sr_ask(char cmd)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0, "socket");
	CHECK(connect(fd, (struct sockaddr *)&sr_peer, sizeof sr_peer) == 0, "connect to the peer");
	CHECK(write(fd, &cmd, 1) == 1, "write the command");
	return fd;
}

static const char *sr_outcome(long r, int e, const char *ok)
{
	if (r >= 0)
		return ok;
	return e == EINTR ? "EINTR" : e == EAGAIN ? "EAGAIN" : strerror(e);
}

/* One receive case: the byte comes 600 ms after the command. */
static void sr_recv_case(const char *name, const char *how, int call, int rcvtimeo_ms, int at_ms)
{
	char b;
	int fd = sr_ask('D');

	if (rcvtimeo_ms) {
		struct timeval tv = { rcvtimeo_ms / 1000, (rcvtimeo_ms % 1000) * 1000 };
		CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
	}
	sr_install(how);
	int before = sr_alarms;
	sr_alarm_in(at_ms);
	long r = call == 0 ? recv(fd, &b, 1, 0) : read(fd, &b, 1);
	int e = errno;
	CHECK(sr_alarms == before + 1, "%s: the handler ran %d times", name, sr_alarms - before);
	printf("%s %s\n", name, sr_outcome(r, e, "data"));
	if (r < 0) { /* nothing lost: the byte still comes */
		CHECK(e == EINTR, "%s: recv failed", name);
		CHECK(recv(fd, &b, 1, 0) == 1 && b == 'x', "%s: the byte after EINTR", name);
	} else {
		CHECK(r == 1 && b == 'x', "%s: wrong data", name);
	}
	close(fd);
}

static void sr_accept_case(const char *name, const char *how, int lfd)
{
	int fd = sr_ask('C');

	sr_install(how);
	int before = sr_alarms;
	sr_alarm_in(200);
	int c = accept(lfd, NULL, NULL);
	int e = errno;
	CHECK(sr_alarms == before + 1, "%s: the handler ran %d times", name, sr_alarms - before);
	printf("%s %s\n", name, sr_outcome(c, e, "conn"));
	if (c < 0) {
		CHECK(e == EINTR, "%s: accept failed", name);
		c = accept(lfd, NULL, NULL);
		CHECK(c >= 0, "%s: the connection after EINTR", name);
	}
	close(c);
	close(fd);
}

int main(int argc, char **argv)
{
	CHECK(argc == 5, "usage: shim_sigrestart PEER_IP PEER_PORT LISTEN_IP LISTEN_PORT");
	setvbuf(stdout, NULL, _IOLBF, 0);
	sr_addr(&sr_peer, argv[1], argv[2]);
	sr_addr(&sr_listen, argv[3], argv[4]);
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(lfd >= 0, "socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	CHECK(bind(lfd, (struct sockaddr *)&sr_listen, sizeof sr_listen) == 0, "bind");
	CHECK(listen(lfd, 8) == 0, "listen");

	sr_recv_case("recv-restart", "restart", 0, 0, 200);
	/* 5 ms: the signal comes while the shim still sleeps on the
	 * socket's futex word (its first 20 ms), not on the fd. */
	sr_recv_case("recv-restart-early", "restart", 0, 0, 5);
	sr_recv_case("recv-intr", "intr", 0, 0, 200);
	sr_recv_case("recv-restart-rcvtimeo", "restart", 0, 3000, 200);
	sr_recv_case("read-signal", "signal", 1, 0, 200);
	sr_recv_case("read-siginterrupt", "siginterrupt", 1, 0, 200);
	sr_recv_case("read-restart", "restart", 1, 0, 200);
	sr_recv_case("read-sysv", "sysv", 1, 0, 200);
	sr_accept_case("accept-restart", "restart", lfd);
	sr_accept_case("accept-intr", "intr", lfd);
	close(lfd);
	return 0;
}
