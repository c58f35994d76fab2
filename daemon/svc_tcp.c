/* svc_tcp.c - owns the TCP built-in services: a listener per service that
 * accepts on every US_EV_IN edge, and one small state block per connection
 * driven by the socket's notifications.  The data path uses the core's
 * zero-copy calls (us_rx_peek/us_rx_consume, us_tx_space/us_tx_commit) and
 * memcpy over the ring regions: no per-byte work.
 *
 *  echo (RFC 862)    copies received bytes into the send buffer; with the
 *                    send buffer full it stops consuming (so the receive
 *                    window closes and the peer is held back) and goes on
 *                    at the next US_EV_OUT.  At the peer's FIN it finishes
 *                    echoing what is left, then closes (FIN).
 *  discard (RFC 863) consumes everything; closes at the peer's FIN.
 *  chargen (RFC 864) keeps the send buffer full of the rotating 72-column
 *                    pattern and throws away whatever it receives.  Like
 *                    inetd it ignores a half-close and stops when the peer
 *                    goes away: a peer that has closed its socket answers
 *                    the next data with RST (Linux does; and a close with
 *                    unread data resets at once, RFC 2525 §2.17).
 *
 * Any connection ends at once on US_EV_ERR or US_EV_HUP (reset, timeout).
 * Notifications are deferred by the core to the end of an entry point and
 * may nest (a call we make flushes other sockets' notifications), so each
 * block has a busy flag: a nested call only asks the running one to go
 * round again. */
#include "svc_tcp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "args.h"
#include "clock.h"
#include "log.h"

#define SVC_TCP_BACKLOG 1024
#define SVC_TCP_KINDS 3
/* RFC 864: 95 lines of 72 characters + CR LF, then the pattern repeats. */
#define SVC_CHARGEN_LINE 74u
#define SVC_CHARGEN_CYCLE (95u * SVC_CHARGEN_LINE)
/* Bytes one memcpy may take from the pattern: the buffer holds one cycle
 * plus this much more, so any offset in the cycle starts a run this long. */
#define SVC_CHARGEN_RUN 65536u

enum svc_verdict { SVC_KEEP, SVC_CLOSE, SVC_ABORT };

struct svc_tcp;

struct svc_conn {
	TAILQ_ENTRY(svc_conn) link;
	struct svc_tcp *t;
	struct us_sock *so;
	enum svc_tcp_kind kind;
	uint32_t pos; /* chargen: offset in the pattern cycle */
	bool busy, again;
};

struct svc_listener {
	struct svc_tcp *t;
	struct us_sock *so; /* NULL: not listening */
	enum svc_tcp_kind kind;
	const char *name;
	bool busy, again;
};

struct svc_tcp {
	struct svc *sv;
	struct svc_listener lis[SVC_TCP_KINDS];
	TAILQ_HEAD(svc_conn_list, svc_conn) conns;
	uint8_t *pattern; /* chargen: SVC_CHARGEN_CYCLE + SVC_CHARGEN_RUN bytes */
	bool stopping;    /* svc_tcp_stop() is closing everything */
};

static size_t svc_iov_total(const struct us_iov *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].len;
	return t;
}

/* Copy n bytes from the regions src[0..ns) to the regions dst[0..nd). */
static void svc_iov_copy(const struct us_iov *dst, int nd, const struct us_iov *src, int ns,
			 size_t n)
{
	int di = 0, si = 0;
	size_t doff = 0, soff = 0;

	while (n > 0 && di < nd && si < ns) {
		size_t k = n;

		if (k > dst[di].len - doff)
			k = dst[di].len - doff;
		if (k > src[si].len - soff)
			k = src[si].len - soff;
		memcpy(dst[di].base + doff, src[si].base + soff, k);
		n -= k;
		doff += k;
		soff += k;
		if (doff == dst[di].len) {
			di++;
			doff = 0;
		}
		if (soff == src[si].len) {
			si++;
			soff = 0;
		}
	}
}

/* Consume everything received (discard, and chargen's input). */
static enum svc_verdict svc_drain(struct svc_conn *c, uint64_t now)
{
	struct us_iov rx[2];
	int nr = us_rx_peek(c->so, rx);
	size_t avail;

	if (nr < 0)
		return SVC_ABORT;
	avail = svc_iov_total(rx, nr);
	if (avail == 0)
		return SVC_KEEP;
	if (us_rx_consume(c->so, avail, now) < 0)
		return SVC_ABORT;
	c->t->sv->tcp_rx_bytes += avail;
	return SVC_KEEP;
}

static enum svc_verdict svc_echo_step(struct svc_conn *c, unsigned ev, uint64_t now)
{
	struct svc *sv = c->t->sv;

	for (;;) {
		struct us_iov rx[2], tx[2];
		int nr = us_rx_peek(c->so, rx), nt;
		size_t avail, space, n;

		if (nr < 0)
			return SVC_ABORT;
		avail = svc_iov_total(rx, nr);
		if (avail == 0)
			break;
		nt = us_tx_space(c->so, tx);
		if (nt < 0)
			return SVC_ABORT;
		space = svc_iov_total(tx, nt);
		if (space == 0)
			return SVC_KEEP; /* the next US_EV_OUT brings us back */
		n = avail < space ? avail : space;
		svc_iov_copy(tx, nt, rx, nr, n);
		/* Send first, then free the receive space: the window update
		 * the consume may trigger then rides on the data's ACK. */
		if (us_tx_commit(c->so, n, now) < 0 || us_rx_consume(c->so, n, now) < 0)
			return SVC_ABORT;
		sv->tcp_rx_bytes += n;
		sv->tcp_tx_bytes += n;
	}
	/* Nothing left to echo: at the peer's FIN we are done (RFC 862). */
	return (ev & US_EV_RDHUP) ? SVC_CLOSE : SVC_KEEP;
}

static enum svc_verdict svc_discard_step(struct svc_conn *c, unsigned ev, uint64_t now)
{
	if (svc_drain(c, now) != SVC_KEEP)
		return SVC_ABORT;
	/* The FIN comes in sequence, after every byte before it. */
	return (ev & US_EV_RDHUP) ? SVC_CLOSE : SVC_KEEP;
}

static enum svc_verdict svc_chargen_step(struct svc_conn *c, unsigned ev, uint64_t now)
{
	const uint8_t *pat = c->t->pattern;
	struct us_iov tx[2];
	size_t total = 0;
	int nt;

	if (svc_drain(c, now) != SVC_KEEP)
		return SVC_ABORT;
	/* Refill on US_EV_OUT (a third of the buffer free, as Linux's
	 * writeable test) rather than after every ACK. */
	if (!(ev & US_EV_OUT))
		return SVC_KEEP;
	nt = us_tx_space(c->so, tx);
	if (nt < 0)
		return SVC_ABORT;
	for (int i = 0; i < nt; i++) {
		uint8_t *dst = tx[i].base;
		size_t left = tx[i].len;

		while (left > 0) {
			size_t n = left < SVC_CHARGEN_RUN ? left : SVC_CHARGEN_RUN;

			memcpy(dst, pat + c->pos, n);
			c->pos = (uint32_t)((c->pos + n) % SVC_CHARGEN_CYCLE);
			dst += n;
			left -= n;
			total += n;
		}
	}
	if (total == 0)
		return SVC_KEEP;
	if (us_tx_commit(c->so, total, now) < 0)
		return SVC_ABORT;
	c->t->sv->tcp_tx_bytes += total;
	return SVC_KEEP;
}

static enum svc_verdict svc_conn_step(struct svc_conn *c, uint64_t now)
{
	unsigned ev = us_sock_events(c->so);

	/* Reset, timed out, or otherwise over: nothing more to do. */
	if (ev & (US_EV_ERR | US_EV_HUP))
		return SVC_ABORT;
	switch (c->kind) {
	case SVC_TCP_ECHO:
		return svc_echo_step(c, ev, now);
	case SVC_TCP_DISCARD:
		return svc_discard_step(c, ev, now);
	case SVC_TCP_CHARGEN:
		return svc_chargen_step(c, ev, now);
	}
	return SVC_ABORT;
}

/* End a connection: close gracefully (FIN after what is queued), or, with
 * unread data or after a reset, let the core reset it. */
static void svc_conn_close(struct svc_conn *c, enum svc_verdict v)
{
	struct svc *sv = c->t->sv;

	TAILQ_REMOVE(&c->t->conns, c, link);
	sv->tcp_closed++;
	if (v == SVC_ABORT)
		sv->tcp_aborted++;
	us_close(c->so, clock_now_us());
	free(c);
}

static void svc_conn_notify(void *ctx, struct us_sock *so, unsigned events)
{
	struct svc_conn *c = ctx;
	enum svc_verdict v;

	(void)so, (void)events; /* the step reads the current state itself */
	if (c->t->stopping)
		return;
	if (c->busy) {
		c->again = true;
		return;
	}
	c->busy = true;
	do {
		c->again = false;
		v = svc_conn_step(c, clock_now_us());
	} while (v == SVC_KEEP && c->again);
	c->busy = false;
	if (v != SVC_KEEP)
		svc_conn_close(c, v); /* c is gone; touch nothing after this */
}

static void svc_accept_all(struct svc_listener *l)
{
	struct svc_tcp *t = l->t;
	struct svc *sv = t->sv;

	for (;;) {
		struct us_sock *nso;
		struct us_addr peer;
		struct svc_conn *c;
		int r = us_accept(l->so, &nso, &peer, clock_now_us());

		if (r == -EAGAIN)
			return;
		if (r < 0) {
			/* Out of memory: the connection stays queued and is
			 * tried again at the next wakeup. */
			sv->tcp_accept_err++;
			return;
		}
		c = calloc(1, sizeof *c);
		if (!c) {
			sv->tcp_accept_err++;
			us_close(nso, clock_now_us());
			continue;
		}
		c->t = t;
		c->so = nso;
		c->kind = l->kind;
		TAILQ_INSERT_TAIL(&t->conns, c, link);
		sv->tcp_accepted++;
		if (log_is_verbose()) {
			char ip[16];

			log_verbose("%s: tcp connection from %s:%u", l->name,
				    args_ip_str(peer.ip, ip, sizeof ip), peer.port);
		}
		/* Echo answers what it gets at once (an interactive peer would
		 * otherwise wait on Nagle and its own delayed ACK). */
		if (c->kind == SVC_TCP_ECHO)
			us_setsockopt(nso, US_TCP_NODELAY, 1);
		us_sock_set_notify(nso, svc_conn_notify, c);
		/* Data (even a FIN) may have come before the accept: no edge
		 * will announce it, so look now.  c may be freed by this. */
		svc_conn_notify(c, nso, us_sock_events(nso));
	}
}

static void svc_listener_notify(void *ctx, struct us_sock *so, unsigned events)
{
	struct svc_listener *l = ctx;

	(void)so, (void)events;
	if (l->t->stopping)
		return;
	if (l->busy) {
		l->again = true;
		return;
	}
	l->busy = true;
	do {
		l->again = false;
		svc_accept_all(l);
	} while (l->again);
	l->busy = false;
}

/* One cycle of the pattern (line L: characters ' ' + (L + col) % 95 for
 * col 0..71, then CR LF), followed by its first SVC_CHARGEN_RUN bytes again. */
static uint8_t *svc_chargen_pattern(void)
{
	uint8_t *p = malloc(SVC_CHARGEN_CYCLE + SVC_CHARGEN_RUN);

	if (!p)
		return NULL;
	for (unsigned i = 0; i < SVC_CHARGEN_CYCLE; i++) {
		unsigned line = i / SVC_CHARGEN_LINE, col = i % SVC_CHARGEN_LINE;

		if (col < 72)
			p[i] = (uint8_t)(' ' + (line + col) % 95);
		else
			p[i] = col == 72 ? '\r' : '\n';
	}
	for (unsigned i = SVC_CHARGEN_CYCLE; i < SVC_CHARGEN_CYCLE + SVC_CHARGEN_RUN; i++)
		p[i] = p[i - SVC_CHARGEN_CYCLE];
	return p;
}

int svc_tcp_listen(struct svc *sv, enum svc_tcp_kind kind, const char *name, uint16_t port)
{
	struct us_addr local = { .ip = 0, .port = port };
	struct svc_tcp *t = sv->tcp;
	struct svc_listener *l;
	int err;

	if ((unsigned)kind >= SVC_TCP_KINDS)
		return -EINVAL;
	if (!t) {
		t = calloc(1, sizeof *t);
		if (!t)
			return -ENOMEM;
		t->sv = sv;
		TAILQ_INIT(&t->conns);
		sv->tcp = t;
	}
	if (kind == SVC_TCP_CHARGEN && !t->pattern) {
		t->pattern = svc_chargen_pattern();
		if (!t->pattern)
			return -ENOMEM;
	}
	l = &t->lis[kind];
	l->t = t;
	l->kind = kind;
	l->name = name;
	err = us_socket(sv->st, US_SOCK_STREAM, &l->so);
	if (err == 0) {
		err = us_bind(l->so, &local);
		if (err == 0)
			err = us_listen(l->so, SVC_TCP_BACKLOG);
		if (err < 0) {
			us_close(l->so, clock_now_us());
			l->so = NULL;
		}
	}
	if (err < 0) {
		log_err("cannot open %s service on tcp port %u: %s", name, port, strerror(-err));
		return err;
	}
	us_sock_set_notify(l->so, svc_listener_notify, l);
	log_verbose("service %s listening on tcp port %u", name, port);
	return 0;
}

void svc_tcp_stop(struct svc *sv)
{
	struct svc_tcp *t = sv->tcp;
	struct svc_conn *c;
	uint64_t now = clock_now_us();

	if (!t)
		return;
	/* Closing one socket flushes the others' notifications: have them do
	 * nothing from here on. */
	t->stopping = true;
	while ((c = TAILQ_FIRST(&t->conns)) != NULL) {
		TAILQ_REMOVE(&t->conns, c, link);
		us_close(c->so, now);
		free(c);
	}
	for (int k = 0; k < SVC_TCP_KINDS; k++)
		if (t->lis[k].so)
			us_close(t->lis[k].so, now);
	free(t->pattern);
	free(t);
	sv->tcp = NULL;
}
