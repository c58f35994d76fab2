/* shim_fork.c - run under libustack.so by shim_fork.sh: several writers on
 * one ustack socket.  Modes:
 *   fork HOST PORT MIB    connect, fork, and both processes write MIB MiB
 *                         each of tagged records (one write() per record)
 *   verify FILE MIB       (not under the shim) FILE, what the peer got, is
 *                         nothing but intact records: per writer, seq
 *                         0, 1, 2, ... with the right payload and MIB MiB
 *   rw PORT MIB           accept one connection on PORT; one thread
 *                         writes MIB MiB of a pattern while another reads
 *                         the peer's MIB MiB (checked) at the same time
 *   gen MIB / check MIB   (not under the shim) the peer's stream to
 *                         stdout / the program's stream from stdin checked
 * Exit 0 = pass; a FAIL line says what went wrong. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimcheck.h"


#define REC_MAGIC 0x31434552u /* "REC1" */
#define REC_MAX 20000u

struct rec_hdr {
	uint32_t magic, writer, seq, len;
};

static uint32_t rec_len(uint32_t writer, uint32_t seq)
{
	return 1 + (seq * 7919u + writer * 104729u) % REC_MAX;
}

static uint8_t rec_byte(uint32_t writer, uint32_t seq, uint32_t i)
{
	return (uint8_t)(writer * 131u + seq * 7u + i * 13u + (i >> 8));
}

static int fk_connect(const char *ip, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0, "socket");
	CHECK(inet_pton(AF_INET, ip, &sa.sin_addr) == 1, "address");
	sa.sin_port = htons((uint16_t)atoi(port));
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s:%s", ip, port);
	return fd;
}

static void fk_writer(int fd, uint32_t writer, uint64_t total)
{
	static uint8_t buf[sizeof(struct rec_hdr) + REC_MAX];
	uint64_t done = 0;
	uint32_t seq = 0;

	while (done < total) {
		struct rec_hdr h = { REC_MAGIC, writer, seq, rec_len(writer, seq) };
		memcpy(buf, &h, sizeof h);
		for (uint32_t i = 0; i < h.len; i++)
			buf[sizeof h + i] = rec_byte(writer, seq, i);
		size_t n = sizeof h + h.len;
		/* One write() per record: it must land in one piece. */
		ssize_t r = write(fd, buf, n);
		CHECK(r == (ssize_t)n, "writer %u: write of record %u returned %zd of %zu", writer,
		      seq, r, n);
		done += h.len;
		seq++;
	}
	fprintf(stderr, "writer %u: %u records, %llu payload bytes\n", writer, seq,
		(unsigned long long)done);
}

static int mode_fork(int argc, char **argv)
{
	CHECK(argc == 5, "usage: fork HOST PORT MIB");
	uint64_t total = (uint64_t)(atof(argv[4]) * 1048576.0);
	int fd = fk_connect(argv[2], argv[3]);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		fk_writer(fd, 1, total);
		_exit(0);
	}
	fk_writer(fd, 0, total);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child writer failed (status %#x)", st);
	CHECK(shutdown(fd, SHUT_WR) == 0, "shutdown");
	CHECK(close(fd) == 0, "close");
	printf("fork ok\n");
	return 0;
}

static int mode_verify(int argc, char **argv)
{
	CHECK(argc == 4, "usage: verify FILE MIB");
	uint64_t total = (uint64_t)(atof(argv[3]) * 1048576.0);
	FILE *f = fopen(argv[2], "rb");
	CHECK(f, "open %s", argv[2]);
	static uint8_t buf[REC_MAX];
	uint32_t next[2] = { 0, 0 };
	uint64_t bytes[2] = { 0, 0 }, switches = 0, off = 0;
	int last = -1;
	struct rec_hdr h;

	for (;;) {
		size_t r = fread(&h, 1, sizeof h, f);
		if (r == 0)
			break;
		CHECK(r == sizeof h, "truncated header at offset %llu", (unsigned long long)off);
		CHECK(h.magic == REC_MAGIC && h.writer < 2,
		      "bad record header at offset %llu (magic %#x writer %u)",
		      (unsigned long long)off, h.magic, h.writer);
		CHECK(h.seq == next[h.writer], "writer %u: record %u where %u was due (offset %llu)",
		      h.writer, h.seq, next[h.writer], (unsigned long long)off);
		CHECK(h.len == rec_len(h.writer, h.seq), "writer %u record %u: length %u", h.writer,
		      h.seq, h.len);
		CHECK(fread(buf, 1, h.len, f) == h.len, "truncated record at offset %llu",
		      (unsigned long long)off);
		for (uint32_t i = 0; i < h.len; i++)
			CHECK(buf[i] == rec_byte(h.writer, h.seq, i),
			      "writer %u record %u: byte %u differs", h.writer, h.seq, i);
		if (last >= 0 && last != (int)h.writer)
			switches++;
		last = (int)h.writer;
		next[h.writer]++;
		bytes[h.writer] += h.len;
		off += sizeof h + h.len;
	}
	fclose(f);
	for (int w = 0; w < 2; w++)
		CHECK(bytes[w] >= total && bytes[w] < total + REC_MAX + 1,
		      "writer %d: %llu payload bytes, expected %llu", w,
		      (unsigned long long)bytes[w], (unsigned long long)total);
	printf("verify ok: writer 0 %u records, writer 1 %u records, %llu bytes, %llu switches "
	       "between writers\n",
	       next[0], next[1], (unsigned long long)off, (unsigned long long)switches);
	return 0;
}

/* ---- one thread writes, another reads ---------------------------------------- */

struct rw_arg {
	int fd;
	uint64_t total;
};

/* The program's stream (dir 0) and the peer's (dir 1). */
static uint8_t rw_byte(uint64_t i)
{
	return (uint8_t)(i * 31u + (i >> 10) * 7u);
}

static uint8_t rw_peer_byte(uint64_t i)
{
	return (uint8_t)(i * 17u + (i >> 12) * 5u + 3u);
}

/* gen MIB: the peer's stream to stdout; check MIB: the program's from stdin. */
static int mode_gen_check(int argc, char **argv, bool gen)
{
	CHECK(argc == 3, "usage: gen|check MIB");
	uint64_t total = (uint64_t)(atof(argv[2]) * 1048576.0), done = 0;
	static uint8_t buf[65536];

	for (;;) {
		if (gen) {
			size_t n = total - done < sizeof buf ? (size_t)(total - done) : sizeof buf;
			if (!n)
				break;
			for (size_t i = 0; i < n; i++)
				buf[i] = rw_peer_byte(done + i);
			CHECK(fwrite(buf, 1, n, stdout) == n, "fwrite");
			done += n;
			continue;
		}
		size_t n = fread(buf, 1, sizeof buf, stdin);
		if (!n)
			break;
		for (size_t i = 0; i < n; i++)
			CHECK(buf[i] == rw_byte(done + i), "byte %llu differs",
			      (unsigned long long)(done + i));
		done += n;
	}
	CHECK(done == total, "%llu bytes, expected %llu", (unsigned long long)done,
	      (unsigned long long)total);
	if (!gen)
		printf("check ok: %llu bytes\n", (unsigned long long)done);
	return 0;
}

static void *rw_write(void *p)
{
	struct rw_arg *a = p;
	static uint8_t buf[65536];
	uint64_t done = 0;
	unsigned k = 0;

	while (done < a->total) {
		size_t n = 1 + (k++ * 40503u) % sizeof buf;
		if (n > a->total - done)
			n = (size_t)(a->total - done);
		for (size_t i = 0; i < n; i++)
			buf[i] = rw_byte(done + i);
		ssize_t r = write(a->fd, buf, n);
		CHECK(r > 0, "writer thread: write");
		done += (uint64_t)r;
	}
	CHECK(shutdown(a->fd, SHUT_WR) == 0, "shutdown");
	return NULL;
}

/* The peer connects to us. */
static int fk_accept(const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(l >= 0, "socket");
	CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
	CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0, "bind :%s", port);
	CHECK(listen(l, 1) == 0, "listen");
	printf("listening\n");
	fflush(stdout);
	int fd = accept(l, NULL, NULL);
	CHECK(fd >= 0, "accept");
	CHECK(close(l) == 0, "close");
	return fd;
}

static int mode_rw(int argc, char **argv)
{
	CHECK(argc == 4, "usage: rw PORT MIB");
	struct rw_arg a = { fk_accept(argv[2]), (uint64_t)(atof(argv[3]) * 1048576.0) };
	pthread_t t;
	static uint8_t buf[50000];
	uint64_t got = 0;

	CHECK(pthread_create(&t, NULL, rw_write, &a) == 0, "pthread_create");
	for (;;) {
		ssize_t r = read(a.fd, buf, sizeof buf);
		CHECK(r >= 0, "reader thread: read");
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			CHECK(buf[i] == rw_peer_byte(got + (uint64_t)i), "byte %llu differs",
			      (unsigned long long)(got + (uint64_t)i));
		got += (uint64_t)r;
	}
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	CHECK(got == a.total, "read %llu bytes of %llu", (unsigned long long)got,
	      (unsigned long long)a.total);
	CHECK(close(a.fd) == 0, "close");
	printf("rw ok: %llu bytes written while %llu were read\n", (unsigned long long)a.total,
	       (unsigned long long)got);
	return 0;
}

int main(int argc, char **argv)
{
	CHECK(argc >= 2, "usage: shim_fork fork|verify|rw ...");
	if (strcmp(argv[1], "fork") == 0)
		return mode_fork(argc, argv);
	if (strcmp(argv[1], "verify") == 0)
		return mode_verify(argc, argv);
	if (strcmp(argv[1], "rw") == 0)
		return mode_rw(argc, argv);
	if (strcmp(argv[1], "gen") == 0 || strcmp(argv[1], "check") == 0)
		return mode_gen_check(argc, argv, argv[1][0] == 'g');
	CHECK(0, "unknown mode %s", argv[1]);
	return 1;
}
