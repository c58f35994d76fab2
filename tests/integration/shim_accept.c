/* shim_accept.c - run under libustack.so by shim_accept.sh: accept() of
 * connections ustackd pushes down the listener's channel (shim/ipc.h,
 * "Connections pushed to the listener").
 *   shim_accept backlog PORT N   listen, write "ready" on stdout, wait for
 *       a line on stdin (the kernel side has made N connections, each
 *       sending its number), then accept them all, non-blocking, with
 *       poll: every number 0..N-1 exactly once (N > IPC_PUSH_MAX, so
 *       some come through the IPC_ACCEPT request)
 *   shim_accept kept PORT N      listen, "ready", wait for a line; then a
 *       request on the listener (getsockname; its reply queues behind the
 *       pushed connections, which the shim keeps), fork: the child's
 *       non-blocking accept finds nothing (what the parent kept is not
 *       inherited), the parent accepts all N, then a blocking accept gets
 *       one more connection made after "more" is printed
 *   shim_accept emfile PORT 2    listen, "ready", wait for a line; then
 *       with no descriptor left (RLIMIT_NOFILE filled), accept4 fails
 *       with EMFILE and the connection stays queued, as with Linux; with
 *       descriptors again both connections are accepted with their data
 * Exit 0 = pass. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimcheck.h"

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0, "socket");
	CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind port %d", port);
	CHECK(listen(fd, 64) == 0, "listen");
	printf("ready\n");
	fflush(stdout);
	char line[16];
	CHECK(fgets(line, sizeof line, stdin) != NULL, "no go-ahead on stdin");
	return fd;
}

/* The number the connection's peer sent ("%d\n"). */
static int read_id(int c)
{
	char buf[16];
	size_t got = 0;
	struct pollfd p = { c, POLLIN, 0 };

	while (got < sizeof buf - 1 && (got == 0 || buf[got - 1] != '\n')) {
		CHECK(poll(&p, 1, 5000) == 1, "no number from a connection within 5 s");
		ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
		CHECK(n > 0, "read of the connection's number (%zd)", n);
		got += (size_t)n;
	}
	buf[got] = 0;
	return atoi(buf);
}

/* Accept n connections (non-blocking, poll for more): each number once. */
static void accept_all(int lfd, int n)
{
	char *seen = calloc((size_t)n, 1);
	int got = 0;

	CHECK(seen, "calloc");
	while (got < n) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof peer;
		int c = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK);

		if (c < 0) {
			CHECK(errno == EAGAIN, "accept4");
			struct pollfd p = { lfd, POLLIN, 0 };
			CHECK(poll(&p, 1, 5000) == 1, "listener not readable with %d of %d accepted",
			      got, n);
			continue;
		}
		CHECK(pl == sizeof peer && peer.sin_family == AF_INET, "peer address");
		CHECK(fcntl(c, F_GETFL) & O_NONBLOCK, "SOCK_NONBLOCK not set on an accepted fd");
		int id = read_id(c);
		CHECK(id >= 0 && id < n && !seen[id], "connection number %d twice or out of range",
		      id);
		seen[id] = 1;
		got++;
		close(c);
	}
	free(seen);
}

/* Out of descriptors: EMFILE, nothing lost. */
static void accept_emfile(int lfd, int n)
{
	struct rlimit old, lim;
	int fill[256], nfill = 0;

	/* Non-blocking: a lost connection shows as EAGAIN, not a hang. */
	CHECK(fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0, "getrlimit");
	lim = old;
	lim.rlim_cur = 128;
	CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit");
	while (nfill < 256) {
		int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (f < 0) {
			CHECK(errno == EMFILE, "open /dev/null");
			break;
		}
		fill[nfill++] = f;
	}
	CHECK(nfill > 0 && nfill < 256, "filling the descriptor table (%d)", nfill);
	for (int i = 0; i < 3; i++) {
		int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		CHECK(c < 0 && errno == EMFILE, "accept4 with no descriptor left: %d (%s)", c,
		      c < 0 ? strerror(errno) : "a descriptor");
	}
	printf("EMFILE three times\n");
	while (nfill > 0)
		close(fill[--nfill]);
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0, "setrlimit back");
	accept_all(lfd, n);
}

int main(int argc, char **argv)
{
	CHECK(argc == 4, "usage: shim_accept backlog|kept|emfile PORT N");
	int port = atoi(argv[2]), n = atoi(argv[3]);
	int lfd = listen_on(port);

	if (strcmp(argv[1], "emfile") == 0) {
		accept_emfile(lfd, n);
		printf("accepted %d after EMFILE\n", n);
		return 0;
	}

	if (strcmp(argv[1], "backlog") == 0) {
		accept_all(lfd, n);
		printf("accepted %d\n", n);
		return 0;
	}
	CHECK(strcmp(argv[1], "kept") == 0, "unknown mode %s", argv[1]);
	/* A request on the listener while its connections wait in the
	 * channel: the reply comes after them; they must not be lost. */
	struct sockaddr_in me;
	socklen_t ml = sizeof me;
	CHECK(getsockname(lfd, (struct sockaddr *)&me, &ml) == 0, "getsockname");
	CHECK(ntohs(me.sin_port) == port, "getsockname port %d", ntohs(me.sin_port));
	int fl = fcntl(lfd, F_GETFL);
	CHECK(fcntl(lfd, F_SETFL, fl | O_NONBLOCK) == 0, "O_NONBLOCK");
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		int c = accept(lfd, NULL, NULL);
		_exit(c < 0 && errno == EAGAIN ? 0 : 3);
	}
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the child accepted a connection its parent had kept (status %#x)", st);
	accept_all(lfd, n);
	CHECK(fcntl(lfd, F_SETFL, fl) == 0, "blocking again");
	printf("more\n");
	fflush(stdout);
	int c = accept(lfd, NULL, NULL); /* blocks until the next one */
	CHECK(c >= 0, "blocking accept");
	CHECK(!(fcntl(c, F_GETFL) & O_NONBLOCK), "O_NONBLOCK on a blocking accept's fd");
	CHECK(read_id(c) == n, "the last connection's number");
	close(c);
	printf("accepted %d, the child none, then one blocking\n", n);
	return 0;
}
