/* bench_tcp_sim.c - in-process TCP throughput: two stacks in one process,
 * joined by an in-memory Ethernet link with no latency and no loss, one
 * connection, N GiB pushed through it on one core.  Time is the real
 * monotonic clock (the stacks' timers run on it as ustackd's would).
 *
 * Prints, per run, Gbit/s of payload (bytes / wall seconds) and the CPU
 * seconds used (getrusage), then the median of the runs.
 *
 *   bench_tcp_sim [-g GiB] [-r runs] [-m mtu] [-c] [-v]
 *     -g  GiB to push (default 2)       -r  runs (default 5)
 *     -m  IP MTU of the link (1500)     -c  copy API (us_send/us_recv)
 *     -v  write and verify the payload (zero-copy mode writes nothing by
 *         default: the program is assumed to produce its bytes in place)
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ustack.h"

#define QCAP 8192        /* frames in flight per direction */
#define FRAME_MAX 9300   /* largest frame: MTU 9216 + Ethernet header */

struct link_q {
	uint32_t head, tail;  /* free-running */
	uint16_t len[QCAP];
	uint8_t (*buf)[FRAME_MAX];
	uint64_t drops;
};

struct bench {
	struct us_stack *st[2];
	struct link_q q[2]; /* q[i]: frames waiting for stack i */
	int port[2];
	uint64_t now;
};

static struct bench B;

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* Output of stack i: queue the frame for the other one (a copy, as a
 * device write would make). */
static int link_out(void *ctx, uint8_t *frame, size_t len)
{
	int from = *(int *)ctx;
	struct link_q *q = &B.q[!from];

	if (len > FRAME_MAX || q->head - q->tail >= QCAP) {
		q->drops++;
		return -ENOBUFS;
	}
	memcpy(q->buf[q->head % QCAP], frame, len);
	q->len[q->head % QCAP] = (uint16_t)len;
	q->head++;
	return 0;
}

/* Deliver everything queued, both ways, until the link is quiet. */
static void link_run(void)
{
	bool more = true;

	while (more) {
		more = false;
		for (int i = 0; i < 2; i++) {
			struct link_q *q = &B.q[i];
			uint32_t end = q->head;

			while (q->tail != end) {
				us_input(B.st[i], q->buf[q->tail % QCAP], q->len[q->tail % QCAP], B.now);
				q->tail++;
				more = true;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (us_next_deadline(B.st[i]) <= B.now)
			us_poll(B.st[i], B.now);
}

static void bench_init(uint16_t mtu)
{
	for (int i = 0; i < 2; i++) {
		struct us_config c;
		int err = 0;

		memset(&c, 0, sizeof(c));
		c.mode = US_LINK_ETHER;
		uint8_t mac[6] = {0x02, 0, 0, 0, 0x10, (uint8_t)(i + 1)};
		memcpy(c.mac, mac, 6);
		c.addr = 0x0a000001u + (uint32_t)i;
		c.prefix = 24;
		c.mtu = mtu;
		c.seed[0] = 0x1234 + (uint64_t)i;
		c.seed[1] = 0x9876;
		c.output = link_out;
		B.port[i] = i;
		c.output_ctx = &B.port[i];
		B.q[i].head = B.q[i].tail = 0;
		B.q[i].drops = 0;
		B.st[i] = us_stack_new(&c, B.now, &err);
		if (!B.st[i]) {
			fprintf(stderr, "us_stack_new: %s\n", strerror(-err));
			exit(1);
		}
	}
}

static void bench_free(void)
{
	us_stack_free(B.st[0]);
	us_stack_free(B.st[1]);
}

static inline uint8_t pat(uint64_t off) { return (uint8_t)(off * 131 + (off >> 12)); }

struct result {
	double gbps, cpu, wall;
};

static int run_once(uint64_t total, uint16_t mtu, bool copy, bool verify, struct result *res)
{
	struct us_sock *ls, *cli, *srv = NULL;
	struct us_addr any = {0, 5001}, to = {0x0a000002u, 5001}, peer;
	static uint8_t buf[1 << 16];
	uint64_t sent = 0, rcvd = 0, t0, t1;
	double c0, c1;

	B.now = mono_us();
	bench_init(mtu);
	if (us_socket(B.st[1], US_SOCK_STREAM, &ls) || us_bind(ls, &any) || us_listen(ls, 4) ||
	    us_socket(B.st[0], US_SOCK_STREAM, &cli) ||
	    us_connect(cli, &to, B.now) != -EINPROGRESS) {
		fprintf(stderr, "socket setup failed\n");
		return -1;
	}
	for (int i = 0; i < 1000000 && !srv; i++) {
		B.now = mono_us();
		link_run();
		if (us_accept(ls, &srv, &peer, B.now) != 0)
			srv = NULL;
	}
	if (!srv) {
		fprintf(stderr, "no connection\n");
		return -1;
	}
	t0 = mono_us();
	c0 = cpu_s();
	while (rcvd < total) {
		B.now = mono_us();
		/* sender: fill the send buffer */
		while (sent < total) {
			if (copy) {
				size_t m = total - sent < sizeof(buf) ? (size_t)(total - sent) : sizeof(buf);
				ssize_t r;

				if (verify)
					for (size_t k = 0; k < m; k++)
						buf[k] = pat(sent + k);
				r = us_send(cli, buf, m, 0, B.now);
				if (r <= 0)
					break;
				sent += (uint64_t)r;
			} else {
				struct us_iov iov[2];
				int k = us_tx_space(cli, iov);
				size_t tot = 0;

				for (int j = 0; j < k; j++) {
					size_t m = iov[j].len;

					if (m > total - sent - tot)
						m = (size_t)(total - sent - tot);
					if (verify)
						for (size_t x = 0; x < m; x++)
							iov[j].base[x] = pat(sent + tot + x);
					tot += m;
				}
				if (!tot || us_tx_commit(cli, tot, B.now) < 0)
					break;
				sent += tot;
			}
		}
		link_run();
		/* receiver: drain */
		for (;;) {
			if (copy) {
				ssize_t r = us_recv(srv, buf, sizeof(buf), 0, B.now);

				if (r <= 0)
					break;
				if (verify)
					for (ssize_t k = 0; k < r; k++)
						if (buf[k] != pat(rcvd + (uint64_t)k)) {
							fprintf(stderr, "data differs at %llu\n",
								(unsigned long long)(rcvd + (uint64_t)k));
							return -1;
						}
				rcvd += (uint64_t)r;
			} else {
				struct us_iov iov[2];
				int k = us_rx_peek(srv, iov);
				size_t tot = 0;

				for (int j = 0; j < k; j++) {
					if (verify)
						for (size_t x = 0; x < iov[j].len; x++)
							if (iov[j].base[x] != pat(rcvd + tot + x)) {
								fprintf(stderr, "data differs at %llu\n",
									(unsigned long long)(rcvd + tot + x));
								return -1;
							}
					tot += iov[j].len;
				}
				if (!tot)
					break;
				us_rx_consume(srv, tot, B.now);
				rcvd += tot;
			}
		}
		if (us_sock_events(srv) & US_EV_ERR || us_sock_events(cli) & US_EV_ERR) {
			fprintf(stderr, "connection error\n");
			return -1;
		}
	}
	t1 = mono_us();
	c1 = cpu_s();
	res->wall = (double)(t1 - t0) / 1e6;
	res->cpu = c1 - c0;
	res->gbps = (double)total * 8 / res->wall / 1e9;
	if (B.q[0].drops + B.q[1].drops)
		fprintf(stderr, "(link queue drops: %llu)\n",
			(unsigned long long)(B.q[0].drops + B.q[1].drops));
	bench_free();
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	double gib = 2;
	int runs = 5, opt;
	unsigned mtu = 1500;
	bool copy = false, verify = false;

	while ((opt = getopt(argc, argv, "g:r:m:cvh")) != -1) {
		switch (opt) {
		case 'g': gib = atof(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'm': mtu = (unsigned)atoi(optarg); break;
		case 'c': copy = true; break;
		case 'v': verify = true; break;
		default:
			fprintf(stderr, "usage: %s [-g GiB] [-r runs] [-m mtu] [-c] [-v]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > 101 || gib <= 0 || mtu < 576 || mtu > 9216) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	for (int i = 0; i < 2; i++) {
		B.q[i].buf = malloc((size_t)QCAP * FRAME_MAX);
		if (!B.q[i].buf)
			return 1;
		memset(B.q[i].buf, 0, (size_t)QCAP * FRAME_MAX); /* fault it in now */
	}
	uint64_t total = (uint64_t)(gib * (1ull << 30));
	double g[101], c[101], w[101];

	printf("bench_tcp_sim: %.2f GiB, MTU %u, %s API%s, %d runs\n", gib, mtu,
	       copy ? "copy" : "zero-copy", verify ? ", verified" : "", runs);
	for (int r = 0; r < runs; r++) {
		struct result res;

		if (run_once(total, (uint16_t)mtu, copy, verify, &res) < 0)
			return 1;
		g[r] = res.gbps;
		c[r] = res.cpu;
		w[r] = res.wall;
		printf("  run %d: %.2f Gbit/s, %.3f s wall, %.3f s CPU\n", r + 1, res.gbps, res.wall,
		       res.cpu);
		fflush(stdout);
	}
	qsort(g, (size_t)runs, sizeof(double), cmp_d);
	qsort(c, (size_t)runs, sizeof(double), cmp_d);
	qsort(w, (size_t)runs, sizeof(double), cmp_d);
	printf("median: %.2f Gbit/s, %.3f s wall, %.3f s CPU (%.0f%% of one core)\n", g[runs / 2],
	       w[runs / 2], c[runs / 2], 100 * c[runs / 2] / w[runs / 2]);
	free(B.q[0].buf);
	free(B.q[1].buf);
	return 0;
}
