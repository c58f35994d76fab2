/* shim_scribble.c - a hostile program for shim_scribble.sh: run under
 * libustack.so, it scribbles over the shared memory of its own ustack
 * sockets while it keeps calling send/recv/poll on them.
 *   shim_scribble IP PORT SECONDS SEED
 * Until SECONDS pass (or SIGTERM), it connects to IP:PORT and, on that
 * connection, repeatedly
 *   - writes random or subtly wrong values into the struct ipc_shm header
 *     (shim/ipc.h): rx_tail behind the tail or past the head, tx_head past
 *     the free send ring, random words anywhere in the 4 KiB header
 *     (ustackd's fields included), want/want_doorbell set so that
 *     doorbells and wake-ups go out;
 *   - writes random bytes at random places of both rings;
 *   - calls send/recv (MSG_DONTWAIT, MSG_NOSIGNAL) and poll, counting what
 *     they return;
 * and when the socket has failed (ustackd drops a socket whose indices are
 * impossible), closes it and connects again.
 *
 * Finding the mapping: libustack.so maps each socket's memfd, which ustackd
 * creates with the name "ustack-sock" (daemon/ipc_sock.c ipc_map), so it
 * appears in /proc/self/maps as "/memfd:ustack-sock (deleted)".  The
 * program reads the maps before socket() and after, and the one new
 * ustack-sock mapping is this socket's: header at its start, then the rx
 * ring and the tx ring of equal size ((length - 4096) / 2, the daemon's
 * default; other splits only make the scribbling less precise).
 *
 * On exit it prints one line "scribble connects=.. scribbles=.. send_ok=..
 * send_err=.. recv_ok=.. recv_err=.. eio=.. reset=.. other=.." and exits 0
 * if it ran to the end; 1 if something went wrong outside the scribbled
 * socket (no mapping found, the first connect failed). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXMAPS 64
#define HDR 4096u

struct map {
	uintptr_t lo, hi;
};

static volatile sig_atomic_t stop;
static uint64_t rng_state;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible with SEED */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The ustack-sock mappings of this process. */
static int read_maps(struct map *m, int max)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f) && n < max) {
		unsigned long lo, hi;

		if (!strstr(line, "/memfd:ustack-sock"))
			continue;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			m[n++] = (struct map){ lo, hi };
	}
	fclose(f);
	return n;
}

static int find_new(const struct map *before, int nb, const struct map *after, int na,
		    struct map *out)
{
	int found = 0;

	for (int i = 0; i < na; i++) {
		int old = 0;
		for (int j = 0; j < nb; j++)
			if (after[i].lo == before[j].lo && after[i].hi == before[j].hi)
				old = 1;
		if (!old) {
			*out = after[i];
			found++;
		}
	}
	return found;
}

struct stats {
	unsigned long connects, scribbles, send_ok, send_err, recv_ok, recv_err;
	unsigned long eio, reset, other;
};

static void count_err(struct stats *st, int e)
{
	if (e == EIO)
		st->eio++;
	else if (e == ECONNRESET || e == EPIPE || e == ENOTCONN)
		st->reset++;
	else if (e != EAGAIN && e != EWOULDBLOCK)
		st->other++;
}

/* One scribble on the mapping [base, base + len). */
static void scribble(uint8_t *base, size_t len)
{
	volatile uint32_t *w = (volatile uint32_t *)(void *)base;
	uint32_t ring = (uint32_t)((len - HDR) / 2);
	/* struct ipc_shm word offsets: rx_head 0, tx_tail 1, events 2,
	 * state 3, want_doorbell 4, rx_tail 16, tx_head 17, want 18 */
	uint64_t r = rnd();

	switch (r % 10) {
	case 0: /* rx_tail past the head */
		w[16] = w[0] + 1 + (uint32_t)(rnd() % ring);
		break;
	case 1: /* rx_tail behind the tail */
		w[16] = w[16] - 1 - (uint32_t)(rnd() % 1000);
		break;
	case 2: /* tx_head beyond the free send ring */
		w[17] = w[1] + ring + 1 + (uint32_t)(rnd() % 100000);
		break;
	case 3: /* anything at all in one of the program's words */
		w[16 + rnd() % 16] = (uint32_t)rnd();
		break;
	case 4: /* ustackd's words: only the program itself should care */
		w[rnd() % 16] = (uint32_t)rnd();
		break;
	case 5: /* anywhere in the header page */
		w[rnd() % (HDR / 4)] = (uint32_t)rnd();
		break;
	case 6: /* ask for wake-ups and doorbells */
		w[18] = 0xffffffffu;
		w[4] = 1;
		break;
	case 7: /* a burst of random bytes into the rings */
	case 8:
		for (int i = 0; i < 64; i++)
			base[HDR + rnd() % (len - HDR)] = (uint8_t)rnd();
		break;
	default: /* a plausible but wrong tx_head: a little ahead, not written */
		w[17] = w[17] + (uint32_t)(rnd() % 4096);
		w[4] = 1;
		break;
	}
}

int main(int argc, char **argv)
{
	static uint8_t buf[16384];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct stats st;
	struct map before[MAXMAPS], after[MAXMAPS], mine;

	if (argc != 5) {
		fprintf(stderr, "usage: %s IP PORT SECONDS SEED\n", argv[0]);
		return 2;
	}
	memset(&st, 0, sizeof st);
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
		return 2;
	double end = now_s() + atof(argv[3]);
	rng_state = strtoull(argv[4], NULL, 0) | 1;
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);

	while (!stop && now_s() < end) {
		int nb = read_maps(before, MAXMAPS);
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s < 0) {
			fprintf(stderr, "scribble: socket: %s\n", strerror(errno));
			return 1;
		}
		int na = read_maps(after, MAXMAPS);
		if (nb < 0 || na < 0 || find_new(before, nb, after, na, &mine) != 1) {
			fprintf(stderr, "scribble: no new ustack-sock mapping in /proc/self/maps "
					"(is this running under libustack.so?)\n");
			return 1;
		}
		if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
			if (st.connects == 0) {
				fprintf(stderr, "scribble: first connect: %s\n", strerror(errno));
				return 1;
			}
			close(s);
			continue;
		}
		st.connects++;
		uint8_t *base = (uint8_t *)mine.lo;
		size_t len = mine.hi - mine.lo;
		int fails = 0;
		for (int i = 0; i < 2000 && fails < 20 && !stop; i++) {
			scribble(base, len);
			st.scribbles++;
			size_t n = 1 + rnd() % sizeof buf;
			for (size_t k = 0; k < n; k += 8)
				memcpy(buf + k, &(uint64_t){ rnd() }, n - k < 8 ? n - k : 8);
			ssize_t r = send(s, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r >= 0) {
				st.send_ok++;
			} else {
				st.send_err++;
				count_err(&st, errno);
				if (errno != EAGAIN)
					fails++;
			}
			r = recv(s, buf, sizeof buf, MSG_DONTWAIT);
			if (r >= 0) {
				st.recv_ok++;
			} else {
				st.recv_err++;
				count_err(&st, errno);
				if (errno != EAGAIN)
					fails++;
			}
			if (rnd() % 8 == 0) {
				struct pollfd p = { s, POLLIN | POLLOUT, 0 };
				(void)poll(&p, 1, (int)(rnd() % 3));
			}
		}
		close(s);
		struct timespec pause = { 0, 20 * 1000 * 1000 }; /* 20 ms between connections */
		nanosleep(&pause, NULL);
	}
	printf("scribble connects=%lu scribbles=%lu send_ok=%lu send_err=%lu recv_ok=%lu "
	       "recv_err=%lu eio=%lu reset=%lu other=%lu\n",
	       st.connects, st.scribbles, st.send_ok, st.send_err, st.recv_ok, st.recv_err,
	       st.eio, st.reset, st.other);
	return 0;
}
