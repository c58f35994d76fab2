/* bench_hops.c - what a round trip costs this machine with no network
 * stack at all, in the two shapes bench_vs_kernel.sh compares:
 *
 *   bench_hops 2 SECONDS   a client and a server process pass one byte
 *                          back and forth over pipes (the kernel's shape:
 *                          the client's stack runs in the client)
 *   bench_hops 3 SECONDS   the byte goes client -> middle -> server ->
 *                          middle -> client (the shim's shape: ustackd
 *                          between the program and its peer)
 *
 * Each prints "n=ROUNDS p50_us=.. p99_us=.." like bench_rr (after 1000
 * untimed rounds).  The 3/2 ratio is the floor for the shim's
 * request/response ratio on this machine: every wake-up and process switch
 * of the extra hop, and nothing else. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOPS_WARMUP 1000
#define HOPS_MAX (1u << 21)

static uint64_t hops_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int hops_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Pass one byte from `in` to `out` for ever (exits at EOF or error). */
static void hops_relay(const int *in, const int *out, int n)
{
	char b;

	for (;;)
		for (int i = 0; i < n; i++)
			if (read(in[i], &b, 1) != 1 || write(out[i], &b, 1) != 1)
				_exit(0);
}

int main(int argc, char **argv)
{
	int procs = argc == 3 ? atoi(argv[1]) : 0;
	double secs = argc == 3 ? atof(argv[2]) : 0;
	int p[4][2];
	pid_t kids[2] = { 0, 0 };

	if ((procs != 2 && procs != 3) || secs <= 0) {
		fprintf(stderr, "usage: bench_hops 2|3 SECONDS\n");
		return 2;
	}
	for (int i = 0; i < 4; i++)
		if (pipe(p[i]) < 0) {
			perror("bench_hops: pipe");
			return 1;
		}
	if (procs == 3) {
		/* middle: 0 -> 1 (to the server), 2 -> 3 (back to the client) */
		if ((kids[0] = fork()) == 0)
			hops_relay((int[]){ p[0][0], p[2][0] }, (int[]){ p[1][1], p[3][1] }, 2);
		/* server: 1 -> 2 */
		if ((kids[1] = fork()) == 0)
			hops_relay((int[]){ p[1][0] }, (int[]){ p[2][1] }, 1);
	} else if ((kids[0] = fork()) == 0) {
		hops_relay((int[]){ p[0][0] }, (int[]){ p[3][1] }, 1); /* server: 0 -> 3 */
	}
	if (kids[0] < 0 || kids[1] < 0) {
		perror("bench_hops: fork");
		return 1;
	}
	uint64_t *v = malloc(sizeof *v * HOPS_MAX);
	uint64_t end = 0;
	size_t n = 0;
	char b = 'x';

	if (!v)
		return 1;
	for (long i = 0;; i++) {
		uint64_t t = hops_now_ns();
		if (write(p[0][1], &b, 1) != 1 || read(p[3][0], &b, 1) != 1) {
			perror("bench_hops: round trip");
			return 1;
		}
		uint64_t d = hops_now_ns() - t;
		if (i == HOPS_WARMUP)
			end = hops_now_ns() + (uint64_t)(secs * 1e9);
		if (i >= HOPS_WARMUP) {
			v[n++] = d;
			if (n == HOPS_MAX || hops_now_ns() >= end)
				break;
		}
	}
	for (int i = 0; i < 2; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	qsort(v, n, sizeof *v, hops_cmp);
	printf("n=%zu p50_us=%.1f p99_us=%.1f\n", n, v[n / 2] / 1000.0, v[n * 99 / 100] / 1000.0);
	free(v);
	return 0;
}
