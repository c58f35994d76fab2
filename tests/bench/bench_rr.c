/* bench_rr.c - request/response latency, for bench_vs_kernel.sh.
 *
 *   bench_rr server ADDR PORT
 *       An echo server: listens on ADDR:PORT, prints "ready", then serves
 *       one connection after another, writing back every byte it reads.
 *   bench_rr client ADDR PORT SIZE SECONDS
 *       Connects, then for SECONDS sends a SIZE-byte message and waits for
 *       all SIZE bytes of the echo, timing each round trip with
 *       CLOCK_MONOTONIC (after 100 untimed warm-up rounds).  Prints one
 *       line: "n=ROUNDS p50_us=.. p99_us=.. min_us=.. max_us=.. mean_us=..".
 *
 * Both sides set TCP_NODELAY and use plain blocking read/write, so the
 * client works unchanged under libustack.so (sockperf cannot: it passes a
 * destination address to sendto() on a connected TCP socket).  Percentiles
 * are nearest-rank over every timed round. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RR_WARMUP 100
#define RR_BUF (1u << 16)

static void rr_die(const char *what)
{
	fprintf(stderr, "bench_rr: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t rr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int rr_addr(const char *ip, const char *port, struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(port, &end, 10);

	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (*end || p <= 0 || p > 65535 || inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		return -1;
	sa->sin_port = htons((uint16_t)p);
	return 0;
}

static void rr_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Write all n bytes; -1 on error or EOF. */
static int rr_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read exactly n bytes; -1 on error or EOF. */
static int rr_read_all(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = read(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

_Noreturn static void rr_server(const struct sockaddr_in *sa)
{
	static uint8_t buf[RR_BUF];
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);

	if (ls < 0)
		rr_die("socket");
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (const struct sockaddr *)sa, sizeof *sa) < 0)
		rr_die("bind");
	if (listen(ls, 16) < 0)
		rr_die("listen");
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept(ls, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			rr_die("accept");
		}
		rr_nodelay(c);
		for (;;) {
			ssize_t k = read(c, buf, sizeof buf);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0 || rr_write_all(c, buf, (size_t)k) < 0)
				break;
		}
		close(c);
	}
}

static int rr_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted samples, in microseconds. */
static double rr_pct(const uint64_t *v, size_t n, double pct)
{
	size_t rank = (size_t)(pct / 100.0 * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1e3;
}

static int rr_client(const struct sockaddr_in *sa, size_t size, double secs)
{
	uint8_t *msg = calloc(1, size), *back = malloc(size);
	size_t cap = 1u << 16, n = 0;
	uint64_t *rtt = malloc(cap * sizeof *rtt), sum = 0, end;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (!msg || !back || !rtt)
		rr_die("malloc");
	if (fd < 0)
		rr_die("socket");
	rr_nodelay(fd);
	if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0)
		rr_die("connect");
	for (int i = 0; i < RR_WARMUP; i++)
		if (rr_write_all(fd, msg, size) < 0 || rr_read_all(fd, back, size) < 0)
			rr_die("warm-up round trip");
	end = rr_now_ns() + (uint64_t)(secs * 1e9);
	for (;;) {
		uint64_t t0 = rr_now_ns(), t1;

		if (t0 >= end)
			break;
		if (rr_write_all(fd, msg, size) < 0 || rr_read_all(fd, back, size) < 0)
			rr_die("round trip");
		t1 = rr_now_ns();
		if (n == cap) {
			uint64_t *r = realloc(rtt, 2 * cap * sizeof *rtt);

			if (!r)
				rr_die("realloc");
			rtt = r;
			cap *= 2;
		}
		rtt[n++] = t1 - t0;
		sum += t1 - t0;
	}
	close(fd);
	if (n == 0) {
		fprintf(stderr, "bench_rr: no round trip completed\n");
		return 1;
	}
	qsort(rtt, n, sizeof *rtt, rr_cmp);
	printf("n=%zu p50_us=%.1f p99_us=%.1f min_us=%.1f max_us=%.1f mean_us=%.1f\n", n,
	       rr_pct(rtt, n, 50), rr_pct(rtt, n, 99), (double)rtt[0] / 1e3,
	       (double)rtt[n - 1] / 1e3, (double)sum / (double)n / 1e3);
	free(rtt);
	free(msg);
	free(back);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && strcmp(argv[1], "server") == 0 && rr_addr(argv[2], argv[3], &sa) == 0)
		rr_server(&sa);
	if (argc == 6 && strcmp(argv[1], "client") == 0 && rr_addr(argv[2], argv[3], &sa) == 0) {
		long size = strtol(argv[4], NULL, 10);
		double secs = strtod(argv[5], NULL);

		if (size > 0 && size <= (1l << 24) && secs > 0)
			return rr_client(&sa, (size_t)size, secs);
	}
	fprintf(stderr, "usage: bench_rr server ADDR PORT\n"
			"       bench_rr client ADDR PORT SIZE SECONDS\n");
	return 2;
}
