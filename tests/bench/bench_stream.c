/* bench_stream.c - one bulk TCP connection for a fixed time, for
 * bench_vs_kernel.sh's no-IPC reference (ustackd's built-in services).
 *
 *   bench_stream send ADDR PORT SECONDS   (to a discard server)
 *       Writes 256 KiB blocks for SECONDS, then shuts down its sending side
 *       and reads until the server's FIN: every byte has then been taken
 *       by the server, and the rate is bytes / (time to that FIN).
 *   bench_stream recv ADDR PORT SECONDS   (from a chargen/source server)
 *       Reads for SECONDS; the rate is bytes read / elapsed time.
 *
 * Prints one line: "bytes=.. secs=.. gbps=.. cpu_s=.." where cpu_s is the
 * client's own user+system time (getrusage). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ST_BLOCK (256u * 1024)

static double st_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double st_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void st_die(const char *what)
{
	fprintf(stderr, "bench_stream: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	static uint8_t buf[ST_BLOCK];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint64_t bytes = 0;
	double secs, t0, t1, c0;
	long port;
	int fd, send_mode;

	if (argc != 5 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv")) ||
	    inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1 ||
	    (port = strtol(argv[3], NULL, 10)) <= 0 || port > 65535 ||
	    (secs = strtod(argv[4], NULL)) <= 0) {
		fprintf(stderr, "usage: bench_stream send|recv ADDR PORT SECONDS\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	send_mode = strcmp(argv[1], "send") == 0;
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		st_die("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		st_die("connect");
	c0 = st_cpu();
	t0 = st_now();
	if (send_mode) {
		while (st_now() - t0 < secs) {
			ssize_t k = write(fd, buf, sizeof buf);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				st_die("write");
			bytes += (uint64_t)k;
		}
		if (shutdown(fd, SHUT_WR) < 0)
			st_die("shutdown");
		for (;;) {
			ssize_t k = read(fd, buf, sizeof buf);

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				st_die("read (waiting for the server's FIN)");
			if (k == 0)
				break;
		}
	} else {
		while (st_now() - t0 < secs) {
			ssize_t k = read(fd, buf, sizeof buf);

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				st_die("read");
			if (k == 0) {
				fprintf(stderr, "bench_stream: EOF after %llu bytes\n",
					(unsigned long long)bytes);
				return 1;
			}
			bytes += (uint64_t)k;
		}
	}
	t1 = st_now();
	close(fd);
	printf("bytes=%llu secs=%.3f gbps=%.3f cpu_s=%.3f\n", (unsigned long long)bytes, t1 - t0,
	       (double)bytes * 8 / (t1 - t0) / 1e9, st_cpu() - c0);
	return 0;
}
