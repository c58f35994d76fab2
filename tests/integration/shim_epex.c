/* shim_epex.c - run under libustack.so by shim_epex.sh: EPOLLEXCLUSIVE.
 *   shim_epex PORT CHILDREN EXCLUSIVE(0|1) CONNECTIONS
 * listens on PORT, forks CHILDREN workers that each add the listener to
 * an epoll fd of their own (with EPOLLEXCLUSIVE when asked, as nginx does)
 * plus a pipe the parent closes at the end, and accept what they are
 * woken for; prints "listening" when all wait.  At the end it prints
 * "accepted A wakeups W": W counts the times a worker came back from the
 * kernel (its voluntary context switches while waiting), so W - A is the
 * herd that woke for nothing.  Exit 0 when A == CONNECTIONS. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimcheck.h"

struct shared {
	atomic_int accepted, ready;
	atomic_long switches;
};

static long vol_switches(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	CHECK(f, "open /proc/self/status");
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	CHECK(v >= 0, "no voluntary_ctxt_switches");
	return v;
}

static void worker(int ls, int stop_fd, bool excl, struct shared *sh)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | (excl ? EPOLLEXCLUSIVE : 0), .data.fd = ls };

	CHECK(ep >= 0, "epoll_create1");
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) == 0, "epoll_ctl ADD listener");
	if (excl) { /* as Linux: an exclusive entry cannot be modified */
		CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, ls, &ev) < 0 && errno == EINVAL,
		      "EPOLL_CTL_MOD of an EPOLLEXCLUSIVE entry did not fail with EINVAL");
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = stop_fd };
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd, &ev) == 0, "epoll_ctl ADD pipe");
	long s0 = vol_switches();
	atomic_fetch_add(&sh->ready, 1);
	for (;;) {
		struct epoll_event out[4];
		int n = epoll_wait(ep, out, 4, -1);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0, "epoll_wait %d", n);
		bool stop = false;
		for (int i = 0; i < n; i++) {
			if (out[i].data.fd == stop_fd) {
				stop = true;
				continue;
			}
			int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
			if (c >= 0) {
				atomic_fetch_add(&sh->accepted, 1);
				close(c);
			} else {
				CHECK(errno == EAGAIN, "accept4");
			}
		}
		if (stop)
			break;
	}
	atomic_fetch_add(&sh->switches, vol_switches() - s0);
	exit(0);
}

int main(int argc, char **argv)
{
	CHECK(argc == 5, "usage: shim_epex PORT CHILDREN EXCLUSIVE CONNECTIONS");
	int port = atoi(argv[1]), nch = atoi(argv[2]), excl = atoi(argv[3]), want = atoi(argv[4]);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1, pp[2];
	pid_t kids[64];

	CHECK(sh != MAP_FAILED, "mmap");
	CHECK(nch > 0 && nch <= 64, "children");
	CHECK(ls >= 0, "socket");
	CHECK(setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
	CHECK(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0, "bind");
	CHECK(listen(ls, 64) == 0, "listen");
	CHECK(pipe(pp) == 0, "pipe");
	for (int i = 0; i < nch; i++) {
		kids[i] = fork();
		CHECK(kids[i] >= 0, "fork");
		if (kids[i] == 0) {
			close(pp[1]);
			worker(ls, pp[0], excl != 0, sh);
		}
	}
	close(pp[0]);
	while (atomic_load(&sh->ready) < nch)
		usleep(10000);
	usleep(100000); /* all are asleep in epoll_wait */
	printf("listening\n");
	fflush(stdout);
	for (int i = 0; i < 3000 && atomic_load(&sh->accepted) < want; i++)
		usleep(10000);
	usleep(200000); /* late wake-ups count too */
	close(pp[1]); /* the workers stop */
	for (int i = 0; i < nch; i++) {
		int st;
		CHECK(waitpid(kids[i], &st, 0) == kids[i], "waitpid");
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker %d failed", i);
	}
	printf("accepted %d wakeups %ld\n", atomic_load(&sh->accepted), atomic_load(&sh->switches));
	CHECK(atomic_load(&sh->accepted) == want, "accepted %d of %d", atomic_load(&sh->accepted),
	      want);
	printf("PASS\n");
	return 0;
}
