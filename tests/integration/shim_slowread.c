/* shim_slowread.c - a slow reader, run under libustack.so by
 * shim_slowread.sh: it lets the receive ring (the TCP receive buffer) fill
 * and the window close, then reads a little at a time, then fast.
 *   shim_slowread IP PORT OUT PAUSE_MS SLOW_MS CHUNK INTERVAL_MS
 * connects to IP:PORT, reads nothing for PAUSE_MS, then reads CHUNK bytes
 * every INTERVAL_MS for SLOW_MS, then 64 KiB reads until EOF; everything
 * read goes to the file OUT.  On stderr it reports one line
 *   slowread bytes=N pause_ms=.. slow_bytes=.. slow_max_block_ms=..
 *   fast_max_block_ms=.. fast_ms=.. fast_MBps=..
 * where *_max_block_ms is the longest time a single read() waited in that
 * phase: a window that is not reopened after the program drains the ring
 * shows up as a read that blocks until the peer's next persist probe
 * (RFC 1122 §4.2.2.17), i.e. hundreds of ms to seconds.  Exit 0 when the
 * transfer ended with EOF, 1 on any error. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000u), (long)(us % 1000000u) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void die(const char *what)
{
	fprintf(stderr, "slowread: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void put_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write OUT");
		}
		p += w;
		n -= (size_t)w;
	}
}

/* One read; *blocked_us gets how long it took.  Returns bytes, 0 at EOF. */
static size_t read_once(int s, uint8_t *buf, size_t len, uint64_t *blocked_us)
{
	for (;;) {
		uint64_t t0 = now_us();
		ssize_t r = read(s, buf, len);
		uint64_t dt = now_us() - t0;

		if (dt > *blocked_us)
			*blocked_us = dt;
		if (r >= 0)
			return (size_t)r;
		if (errno != EINTR)
			die("read");
	}
}

int main(int argc, char **argv)
{
	static uint8_t buf[64 * 1024];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint64_t total = 0, slow_bytes = 0, slow_block = 0, fast_block = 0;

	if (argc != 8) {
		fprintf(stderr, "usage: %s IP PORT OUT PAUSE_MS SLOW_MS CHUNK INTERVAL_MS\n", argv[0]);
		return 2;
	}
	uint64_t pause_ms = strtoull(argv[4], NULL, 10), slow_ms = strtoull(argv[5], NULL, 10);
	size_t chunk = strtoul(argv[6], NULL, 10);
	uint64_t interval_ms = strtoull(argv[7], NULL, 10);
	if (chunk == 0 || chunk > sizeof buf) {
		fprintf(stderr, "slowread: CHUNK must be 1..%zu\n", sizeof buf);
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "slowread: bad address %s\n", argv[1]);
		return 2;
	}
	int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		die("open OUT");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		die("socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("connect");

	/* 1. read nothing: the ring fills, the window closes. */
	sleep_us(pause_ms * 1000u);

	/* 2. a trickle: CHUNK bytes every INTERVAL_MS. */
	uint64_t t_slow = now_us(), next = t_slow;
	int eof = 0;
	while (now_us() - t_slow < slow_ms * 1000u) {
		size_t n = read_once(s, buf, chunk, &slow_block);
		if (n == 0) {
			eof = 1;
			break;
		}
		put_all(out, buf, n);
		total += n;
		slow_bytes += n;
		next += interval_ms * 1000u;
		uint64_t t = now_us();
		if (next > t)
			sleep_us(next - t);
	}

	/* 3. as fast as it goes. */
	uint64_t t_fast = now_us();
	while (!eof) {
		size_t n = read_once(s, buf, sizeof buf, &fast_block);
		if (n == 0)
			break;
		put_all(out, buf, n);
		total += n;
	}
	uint64_t fast_us = now_us() - t_fast;
	if (close(s) < 0)
		die("close");
	if (close(out) < 0)
		die("close OUT");
	fprintf(stderr,
		"slowread bytes=%llu pause_ms=%llu slow_bytes=%llu slow_max_block_ms=%.1f "
		"fast_max_block_ms=%.1f fast_ms=%.1f fast_MBps=%.1f\n",
		(unsigned long long)total, (unsigned long long)pause_ms,
		(unsigned long long)slow_bytes, slow_block / 1000.0, fast_block / 1000.0,
		fast_us / 1000.0,
		fast_us ? (double)(total - slow_bytes) / (double)fast_us : 0.0);
	return 0;
}
