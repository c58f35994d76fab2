/* bench_conns.c - many concurrent TCP connections to one server, for the
 * scale section of bench_vs_kernel.sh.
 *
 *   bench_conns ADDR PORT N [-p PID] [-i IDLE_S] [-e ECHO_S] [-m MSG]
 *                           [-w WINDOW] [-T CONNECT_S]
 *
 * 1. Samples the server process PID (ustackd: /proc is shared across
 *    network namespaces): VmRSS and utime+stime.
 * 2. Opens N non-blocking connections to ADDR:PORT, at most WINDOW
 *    (default 256) handshakes in flight, giving up on those not connected
 *    after CONNECT_S seconds (default 15; TCP_SYNCNT 3 per socket).
 * 3. After 0.5 s to settle, samples the server again, sleeps IDLE_S
 *    seconds (default 2) with every connection idle, samples again: the
 *    server's CPU time over that interval should be about zero.  Counts the
 *    connections still open (no RST/FIN seen).
 * 4. With ECHO_S > 0 (an echo server): every open connection (TCP_NODELAY)
 *    sends an MSG-byte message (default 16384) and waits for its whole echo, again
 *    and again, for ECHO_S seconds; the echoed bytes received give the
 *    aggregate throughput.  The server is sampled once more.
 * 5. Closes every connection with an RST (SO_LINGER 0: no TIME_WAIT on
 *    either side) and prints one line of key=value pairs:
 *      want connected failed first_err connect_ms alive rss0_kb rss_kb
 *      idle_s idle_cpu_s echo_gbps echo_rounds rss_echo_kb cpu_echo_s
 *    (rss and cpu fields are -1 without -p).
 *
 * Raises its own RLIMIT_NOFILE to N + 64 (root may raise the hard limit). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum cn_state { CN_NONE, CN_CONNECTING, CN_OPEN, CN_DEAD };

struct cn {
	int fd;
	enum cn_state st;
	uint32_t tx_left, rx_left;
	uint32_t events; /* registered epoll events */
	bool reg;        /* in the epoll set */
};

static double cn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cn_sleep(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void cn_die(const char *what)
{
	fprintf(stderr, "bench_conns: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* VmRSS of pid in KiB, -1 if unknown. */
static long cn_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* utime+stime of pid in seconds, -1 if unknown. */
static double cn_cpu_s(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void cn_set_events(int ep, struct cn *c, uint32_t ev, uint32_t idx)
{
	struct epoll_event e = { .events = ev, .data.u32 = idx };

	if (c->reg && c->events == ev)
		return;
	if (epoll_ctl(ep, c->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e) < 0)
		cn_die("epoll_ctl");
	c->events = ev;
	c->reg = true;
}

/* Send what is left of the current message; -1 if the connection broke. */
static int cn_flush(struct cn *c, const uint8_t *msg)
{
	while (c->tx_left) {
		ssize_t k = send(c->fd, msg, c->tx_left, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return 0;
		if (k <= 0)
			return -1;
		c->tx_left -= (uint32_t)k;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_conns ADDR PORT N [-p PID] [-i IDLE_S] [-e ECHO_S] [-m MSG]"
			" [-w WINDOW] [-T CONNECT_S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	double idle_s = 2, echo_s = 0, conn_s = 15, t0, t_conn, idle_cpu = -1, cpu_echo = -1;
	double echo_gbps = 0;
	long n, window = 256, msg_size = 16384, port, rss0, rss1, rss_echo = -1;
	long connected = 0, failed = 0, inflight = 0, next = 0, alive = 0;
	uint64_t echo_bytes = 0, rounds = 0;
	int pid = 0, first_err = 0, ep;
	struct epoll_event evs[256];
	struct cn *cs;
	uint8_t *msg, *scratch;
	struct rlimit rl;

	if (argc < 4 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
		usage();
	port = strtol(argv[2], NULL, 10);
	n = strtol(argv[3], NULL, 10);
	if (port <= 0 || port > 65535 || n <= 0 || n > 1000000)
		usage();
	sa.sin_port = htons((uint16_t)port);
	for (int i = 4; i < argc; i++) {
		if (i + 1 >= argc || argv[i][0] != '-' || argv[i][2])
			usage();
		const char *v = argv[++i];
		switch (argv[i - 1][1]) {
		case 'p': pid = atoi(v); break;
		case 'i': idle_s = strtod(v, NULL); break;
		case 'e': echo_s = strtod(v, NULL); break;
		case 'm': msg_size = strtol(v, NULL, 10); break;
		case 'w': window = strtol(v, NULL, 10); break;
		case 'T': conn_s = strtod(v, NULL); break;
		default: usage();
		}
	}
	if (window < 1 || msg_size < 1 || msg_size > (1l << 24) || idle_s < 0 || echo_s < 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = (rlim_t)n + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			fprintf(stderr, "bench_conns: cannot raise RLIMIT_NOFILE to %ld: %s\n", n + 64,
				strerror(errno));
	}
	cs = calloc((size_t)n, sizeof *cs);
	msg = calloc(1, (size_t)msg_size);
	scratch = malloc(1u << 16);
	if (!cs || !msg || !scratch)
		cn_die("calloc");
	ep = epoll_create1(0);
	if (ep < 0)
		cn_die("epoll_create1");
	rss0 = cn_rss_kb(pid);

	/* 2. connect */
	t0 = cn_now();
	while ((next < n || inflight) && cn_now() - t0 < conn_s) {
		while (next < n && inflight < window) {
			struct cn *c = &cs[next];
			int syn = 3, one = 1;

			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (c->fd < 0) {
				if (!first_err)
					first_err = errno;
				/* no more sockets: the rest count as failed below */
				next = n;
				break;
			}
			setsockopt(c->fd, IPPROTO_TCP, TCP_SYNCNT, &syn, sizeof syn);
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
				c->st = CN_OPEN;
				connected++;
			} else if (errno == EINPROGRESS) {
				c->st = CN_CONNECTING;
				cn_set_events(ep, c, EPOLLOUT, (uint32_t)next);
				inflight++;
			} else {
				if (!first_err)
					first_err = errno;
				close(c->fd);
				c->fd = -1;
				c->st = CN_DEAD;
				failed++;
			}
			next++;
		}
		int k = epoll_wait(ep, evs, 256, 100);
		if (k < 0 && errno != EINTR)
			cn_die("epoll_wait");
		for (int j = 0; j < k; j++) {
			struct cn *c = &cs[evs[j].data.u32];
			int err = 0;
			socklen_t len = sizeof err;

			if (c->st != CN_CONNECTING)
				continue;
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			inflight--;
			if (err) {
				if (!first_err)
					first_err = err;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->reg = false;
				close(c->fd);
				c->fd = -1;
				c->st = CN_DEAD;
				failed++;
				continue;
			}
			cn_set_events(ep, c, 0, evs[j].data.u32);
			c->st = CN_OPEN;
			connected++;
		}
	}
	t_conn = cn_now() - t0;
	for (long i = 0; i < n; i++) {
		if (cs[i].st == CN_CONNECTING) { /* timed out */
			if (!first_err)
				first_err = ETIMEDOUT;
			close(cs[i].fd);
			cs[i].fd = -1;
			cs[i].st = CN_DEAD;
			failed++;
		} else if (cs[i].st == CN_NONE) {
			failed++;
		}
	}

	/* 3. idle */
	cn_sleep(0.5);
	rss1 = cn_rss_kb(pid);
	double c1 = cn_cpu_s(pid);
	cn_sleep(idle_s);
	double c2 = cn_cpu_s(pid);
	if (c1 >= 0 && c2 >= 0)
		idle_cpu = c2 - c1;
	for (long i = 0; i < n; i++) {
		struct pollfd pf = { .fd = cs[i].fd, .events = POLLIN };

		if (cs[i].st != CN_OPEN)
			continue;
		if (poll(&pf, 1, 0) == 0)
			alive++;
		else
			cs[i].st = CN_DEAD; /* reset, closed or unexpected data */
	}

	/* 4. echo */
	if (echo_s > 0 && alive > 0) {
		double ce0 = cn_cpu_s(pid), t_end;

		for (long i = 0; i < n; i++) {
			struct cn *c = &cs[i];

			if (c->st != CN_OPEN)
				continue;
			c->tx_left = c->rx_left = (uint32_t)msg_size;
			if (cn_flush(c, msg) < 0) {
				c->st = CN_DEAD;
				continue;
			}
			cn_set_events(ep, c, EPOLLIN | (c->tx_left ? EPOLLOUT : 0), (uint32_t)i);
		}
		t0 = cn_now();
		t_end = t0 + echo_s;
		while (cn_now() < t_end) {
			int k = epoll_wait(ep, evs, 256, 50);

			if (k < 0 && errno != EINTR)
				cn_die("epoll_wait");
			for (int j = 0; j < k; j++) {
				uint32_t idx = evs[j].data.u32;
				struct cn *c = &cs[idx];

				if (c->st != CN_OPEN)
					continue;
				if ((evs[j].events & EPOLLOUT) && cn_flush(c, msg) < 0)
					goto broken;
				if (evs[j].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
					ssize_t r = recv(c->fd, scratch, 1u << 16, 0);

					if (r < 0 && (errno == EAGAIN || errno == EINTR))
						goto rearm;
					if (r <= 0 || (uint32_t)r > c->rx_left)
						goto broken;
					c->rx_left -= (uint32_t)r;
					echo_bytes += (uint64_t)r;
					if (c->rx_left == 0) {
						rounds++;
						c->tx_left = c->rx_left = (uint32_t)msg_size;
						if (cn_flush(c, msg) < 0)
							goto broken;
					}
				}
rearm:
				cn_set_events(ep, c, EPOLLIN | (c->tx_left ? EPOLLOUT : 0), idx);
				continue;
broken:
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->reg = false;
				c->st = CN_DEAD;
			}
		}
		echo_gbps = (double)echo_bytes * 8 / (cn_now() - t0) / 1e9;
		rss_echo = cn_rss_kb(pid);
		if (ce0 >= 0)
			cpu_echo = cn_cpu_s(pid) - ce0;
	}

	/* 5. reset everything */
	for (long i = 0; i < n; i++) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		if (cs[i].st == CN_NONE || cs[i].fd < 0)
			continue;
		setsockopt(cs[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(cs[i].fd);
	}
	/* strerror() text without spaces, for key=value output */
	char errtxt[64];
	snprintf(errtxt, sizeof errtxt, "%s", first_err ? strerror(first_err) : "none");
	for (char *q = errtxt; *q; q++)
		if (*q == ' ')
			*q = '_';
	printf("want=%ld connected=%ld failed=%ld first_err=%s connect_ms=%.0f alive=%ld "
	       "rss0_kb=%ld rss_kb=%ld idle_s=%.1f idle_cpu_s=%.3f echo_gbps=%.3f "
	       "echo_rounds=%llu rss_echo_kb=%ld cpu_echo_s=%.2f\n",
	       n, connected, failed, errtxt, t_conn * 1e3, alive,
	       rss0, rss1, idle_s, idle_cpu, echo_gbps, (unsigned long long)rounds, rss_echo,
	       cpu_echo);
	return 0;
}
