/* services.c - owns the built-in services: echo (RFC 862, port 7),
 * discard (RFC 863, port 9) and chargen (RFC 864, port 19), each on UDP and
 * TCP.  Each service is a row of svc_defs: the datagram handler here, the
 * stream variant in svc_tcp.c. */
#include "services.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "svc_tcp.h"

#define SVC_BUF 65536 /* larger than any IPv4 UDP payload */

struct svc_def;
typedef void (*svc_dgram_fn)(struct svc *sv, struct us_sock *so, const uint8_t *data,
			     size_t len, const struct us_addr *from, uint64_t now);

struct svc_def {
	const char *name;
	unsigned bit;
	uint16_t port;
	svc_dgram_fn dgram;         /* UDP handler */
	enum svc_tcp_kind stream;   /* TCP variant (svc_tcp.c) */
};

struct svc_sock {
	struct svc *sv;
	const struct svc_def *def;
	struct us_sock *so;
};

static void svc_reply(struct svc *sv, struct us_sock *so, const void *data, size_t len,
		      const struct us_addr *to, uint64_t now)
{
	ssize_t n = us_sendto(so, data, len, 0, to, now);

	if (n < 0)
		sv->drop_tx_err++;
	else
		sv->tx++;
}

/* RFC 862: send back every datagram as it came. */
static void svc_echo(struct svc *sv, struct us_sock *so, const uint8_t *data, size_t len,
		     const struct us_addr *from, uint64_t now)
{
	svc_reply(sv, so, data, len, from, now);
}

/* RFC 863: throw it away. */
static void svc_discard(struct svc *sv, struct us_sock *so, const uint8_t *data, size_t len,
			const struct us_addr *from, uint64_t now)
{
	(void)sv, (void)so, (void)data, (void)len, (void)from, (void)now;
}

/* RFC 864 (UDP): answer each datagram with 0..512 characters of the
 * pattern: lines of 72 of the 95 printable ASCII characters, each line
 * starting one character further on, ended by CR LF.  The position carries
 * over from one datagram to the next. */
static void svc_chargen(struct svc *sv, struct us_sock *so, const uint8_t *data, size_t len,
			const struct us_addr *from, uint64_t now)
{
	uint8_t out[512];
	size_t n = arc4random_uniform(sizeof out + 1);

	(void)data, (void)len;
	for (size_t i = 0; i < n; i++) {
		if (sv->chargen_col < 72) {
			out[i] = (uint8_t)(' ' + (sv->chargen_line + sv->chargen_col) % 95);
			sv->chargen_col++;
		} else if (sv->chargen_col == 72) {
			out[i] = '\r';
			sv->chargen_col++;
		} else {
			out[i] = '\n';
			sv->chargen_col = 0;
			sv->chargen_line = (sv->chargen_line + 1) % 95;
		}
	}
	svc_reply(sv, so, out, n, from, now);
}

static const struct svc_def svc_defs[SVC_MAX] = {
	{ "echo", SVC_ECHO, 7, svc_echo, SVC_TCP_ECHO },
	{ "discard", SVC_DISCARD, 9, svc_discard, SVC_TCP_DISCARD },
	{ "chargen", SVC_CHARGEN, 19, svc_chargen, SVC_TCP_CHARGEN },
};

int svc_lookup(const char *name)
{
	for (size_t i = 0; i < SVC_MAX; i++)
		if (strcmp(name, svc_defs[i].name) == 0)
			return (int)svc_defs[i].bit;
	return -1;
}

const char *svc_known_list(void)
{
	return "echo,discard,chargen";
}

const char *svc_mask_str(unsigned mask, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < SVC_MAX; i++) {
		if (!(mask & svc_defs[i].bit))
			continue;
		if (buf[0])
			strlcat(buf, ",", len);
		strlcat(buf, svc_defs[i].name, len);
	}
	if (!buf[0])
		strlcpy(buf, "none", len);
	return buf;
}

/* Source ports of services that answer anything: replying to them could
 * start an endless ping-pong between two such services (the echo/chargen
 * loop; FreeBSD inetd refuses the same ports).  Port 0 cannot be answered. */
static bool svc_loop_port(uint16_t port)
{
	static const uint16_t bad[] = { 0, 7, 9, 13, 19, 37 };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (port == bad[i])
			return true;
	return false;
}

static void svc_notify(void *ctx, struct us_sock *so, unsigned events)
{
	struct svc_sock *ss = ctx;
	struct svc *sv = ss->sv;
	uint64_t now = clock_now_us();
	int errors = 0;

	if (!(events & (US_EV_IN | US_EV_ERR)))
		return;
	/* Drain: notifications come on edges.  The receive buffer bounds the
	 * loop; a run of errors (ICMP-reported, cleared as read) ends it. */
	for (;;) {
		struct us_addr from;
		ssize_t n = us_recvfrom(so, sv->buf, SVC_BUF, 0, &from, now);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			if (++errors > 16)
				break;
			continue;
		}
		sv->rx++;
		if (svc_loop_port(from.port)) {
			sv->drop_loop++;
			continue;
		}
		ss->def->dgram(sv, so, sv->buf, (size_t)n, &from, now);
	}
}

int svc_start(struct svc *sv, struct us_stack *st, unsigned mask)
{
	memset(sv, 0, sizeof *sv);
	sv->st = st;
	if (!mask)
		return 0;
	sv->buf = malloc(SVC_BUF);
	if (!sv->buf)
		return -ENOMEM;
	for (size_t i = 0; i < SVC_MAX; i++) {
		const struct svc_def *def = &svc_defs[i];
		struct us_addr local = { .ip = 0, .port = def->port };
		struct svc_sock *ss;
		int err;

		if (!(mask & def->bit))
			continue;
		ss = calloc(1, sizeof *ss);
		if (!ss)
			return -ENOMEM;
		ss->sv = sv;
		ss->def = def;
		sv->socks[i] = ss;
		err = us_socket(st, US_SOCK_DGRAM, &ss->so);
		if (err == 0)
			err = us_bind(ss->so, &local);
		if (err < 0) {
			log_err("cannot open %s service on udp port %u: %s", def->name,
				def->port, strerror(-err));
			return err;
		}
		us_sock_set_notify(ss->so, svc_notify, ss);
		log_verbose("service %s listening on udp port %u", def->name, def->port);
		err = svc_tcp_listen(sv, def->stream, def->name, def->port);
		if (err < 0)
			return err;
	}
	return 0;
}

void svc_stop(struct svc *sv)
{
	uint64_t now = clock_now_us();

	svc_tcp_stop(sv);
	for (size_t i = 0; i < SVC_MAX; i++) {
		struct svc_sock *ss = sv->socks[i];

		if (!ss)
			continue;
		if (ss->so)
			us_close(ss->so, now);
		free(ss);
		sv->socks[i] = NULL;
	}
	free(sv->buf);
	sv->buf = NULL;
}
