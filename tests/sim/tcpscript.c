/* tcpscript.c - see tcpscript.h. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "craft.h"
#include "tcpscript.h"
#include "wire_eth.h"
#include "wire_ip4.h"

/* ---- frames ------------------------------------------------------------ */

bool tcpt_parse_frame(const struct netsim *n, const uint8_t *frame, size_t len,
		      uint32_t *src, uint32_t *dst, struct tcp_hdr *th,
		      const uint8_t **payload, size_t *plen)
{
	struct ip4_hdr ih;
	size_t off = 0;

	if (n->mode == US_LINK_ETHER) {
		struct eth_hdr eh;

		if (eth_parse(frame, len, &eh) < 0 || eh.type != ETH_TYPE_IP4)
			return false;
		off = ETH_HLEN;
	}
	if (ip4_parse(frame + off, len - off, &ih) < 0 || ih.proto != IP4_PROTO_TCP ||
	    ih.mf || ih.frag_off)
		return false;
	if (tcp_parse(frame + off + ih.hlen, (size_t)ih.total_len - ih.hlen, ih.src, ih.dst, th) <
	    0)
		return false;
	if (src)
		*src = ih.src;
	if (dst)
		*dst = ih.dst;
	if (payload)
		*payload = frame + off + ih.hlen + th->hlen;
	if (plen)
		*plen = (size_t)ih.total_len - ih.hlen - th->hlen;
	return true;
}

uint32_t tcpt_seg_len(const struct tcp_hdr *th, size_t plen)
{
	return (uint32_t)plen + !!(th->flags & TCP_SYN) + !!(th->flags & TCP_FIN);
}

/* ---- data pattern ------------------------------------------------------ */

static inline uint64_t pat_word(uint64_t seed, uint64_t w)
{
	uint64_t z = seed + (w + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void pat_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	size_t i = 0;

	/* unaligned head */
	while (i < len && ((off + i) & 7)) {
		buf[i] = (uint8_t)(pat_word(seed, (off + i) >> 3) >> (((off + i) & 7) * 8));
		i++;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = pat_word(seed, (off + i) >> 3);

		memcpy(buf + i, &w, 8); /* little-endian host: byte k = bits 8k.. */
	}
	for (; i < len; i++)
		buf[i] = (uint8_t)(pat_word(seed, (off + i) >> 3) >> (((off + i) & 7) * 8));
}

int64_t pat_check(uint64_t seed, uint64_t off, const uint8_t *buf, size_t len)
{
	uint8_t tmp[16384];

	for (size_t done = 0; done < len;) {
		size_t m = len - done < sizeof(tmp) ? len - done : sizeof(tmp);

		pat_fill(seed, off + done, tmp, m);
		if (memcmp(tmp, buf + done, m) != 0) {
			for (size_t k = 0; k < m; k++)
				if (tmp[k] != buf[done + k])
					return (int64_t)(off + done + k);
		}
		done += m;
	}
	return -1;
}

/* ---- two stacks -------------------------------------------------------- */

/* netsim's delivery without fault injection: tap, then the latency queue
 * (kept sorted, FIFO among equal times, as netsim does). */
static int tcpt_output(void *ctx, uint8_t *frame, size_t len)
{
	struct sim_port *port = ctx;
	struct netsim *n = port->n;
	int from = port->id;
	uint64_t at = n->now + n->latency;
	struct sim_frame *fr, **pp;

	n->sent[from]++;
	if (n->tap && !n->tap(n->tap_ctx, from, frame, len))
		return 0;
	fr = malloc(sizeof(*fr) + len);
	if (!fr)
		abort();
	fr->at = at;
	fr->to = !from;
	fr->len = len;
	memcpy(fr->data, frame, len);
	for (pp = &n->q; *pp && (*pp)->at <= at; pp = &(*pp)->next)
		;
	fr->next = *pp;
	*pp = fr;
	return 0;
}

void tcpt_recreate(struct netsim *n, uint64_t time_wait)
{
	struct us_config c;
	uint64_t seed = n->rng;

	ck_assert_msg(n->q == NULL, "tcpt_recreate on a busy simulation");
	for (int i = 0; i < 2; i++) {
		us_stack_free(n->st[i]);
		memset(&c, 0, sizeof(c));
		c.mode = n->mode;
		memcpy(c.mac, n->mac[i], 6);
		c.addr = i == SIM_A ? SIM_ADDR_A : SIM_ADDR_B;
		c.prefix = 24;
		c.mtu = 1500;
		c.seed[0] = seed + (uint64_t)i;
		c.seed[1] = ~seed;
		c.output = tcpt_output;
		c.output_ctx = &n->port[i];
		c.tcp_time_wait = time_wait;
		n->st[i] = us_stack_new(&c, n->now, NULL);
		ck_assert_ptr_nonnull(n->st[i]);
	}
}

uint64_t tcpt_next_event(const struct netsim *n)
{
	uint64_t t = US_TIME_NEVER, d;

	if (n->q)
		t = n->q->at;
	d = us_next_deadline(n->st[0]);
	if (d < t)
		t = d;
	d = us_next_deadline(n->st[1]);
	if (d < t)
		t = d;
	return t;
}

struct us_sock *tcpt_pair(struct netsim *n, uint16_t port, struct us_sock **cli,
			  struct us_sock **srv)
{
	struct us_sock *ls;
	struct us_addr a = {0, port}, to = {SIM_ADDR_B, port}, peer;
	int r = -EAGAIN;

	ck_assert_int_eq(us_socket(n->st[SIM_B], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_bind(ls, &a), 0);
	ck_assert_int_eq(us_listen(ls, 16), 0);
	ck_assert_int_eq(us_socket(n->st[SIM_A], US_SOCK_STREAM, cli), 0);
	ck_assert_int_eq(us_connect(*cli, &to, n->now), -EINPROGRESS);
	for (int i = 0; i < 5000 && r == -EAGAIN; i++) {
		sim_run(n, 1000);
		r = us_accept(ls, srv, &peer, n->now);
	}
	ck_assert_int_eq(r, 0);
	ck_assert(us_sock_events(*cli) & US_EV_OUT);
	return ls;
}

void xfer_init(struct xfer *x, struct netsim *n, struct us_sock *tx, struct us_sock *rx,
	       uint64_t total, uint64_t seed)
{
	memset(x, 0, sizeof(*x));
	x->n = n;
	x->tx = tx;
	x->rx = rx;
	x->total = total;
	x->seed = seed;
	x->bad_off = -1;
	x->start = x->last_progress = n->now;
}

static void xfer_fill(struct xfer *x)
{
	static uint8_t buf[65536];
	uint64_t now = x->n->now;

	while (x->sent < x->total && !x->tx_err) {
		uint64_t left = x->total - x->sent;

		if (x->zc_tx) {
			struct us_iov iov[2];
			int k = us_tx_space(x->tx, iov);
			size_t tot = 0;

			if (k < 0) {
				x->tx_err = k;
				break;
			}
			for (int i = 0; i < k && tot < left; i++) {
				size_t m = iov[i].len;

				if (m > left - tot)
					m = (size_t)(left - tot);
				pat_fill(x->seed, x->sent + tot, iov[i].base, m);
				tot += m;
			}
			if (!tot)
				break;
			int r = us_tx_commit(x->tx, tot, now);
			if (r < 0) {
				x->tx_err = r;
				break;
			}
			x->sent += tot;
		} else {
			size_t m = left < sizeof(buf) ? (size_t)left : sizeof(buf);
			ssize_t r;

			pat_fill(x->seed, x->sent, buf, m);
			r = us_send(x->tx, buf, m, 0, now);
			if (r == -EAGAIN || r == 0)
				break;
			if (r < 0) {
				x->tx_err = (int)r;
				break;
			}
			x->sent += (uint64_t)r;
			if ((size_t)r < m)
				break;
		}
	}
	if (x->sent == x->total && x->shut_when_done && !x->shut_done) {
		int r = us_shutdown(x->tx, US_SHUT_WR, now);

		if (r < 0)
			x->tx_err = r;
		x->shut_done = true;
	}
}

static void xfer_note(struct xfer *x, size_t got)
{
	if (x->bad_off < 0) {
		if (x->rcvd + got > x->total)
			x->bad_off = (int64_t)x->total;
	}
}

static void xfer_drain(struct xfer *x)
{
	static uint8_t buf[65536];
	uint64_t now = x->n->now;

	while (!x->eof && !x->rx_err) {
		if (x->zc_rx) {
			struct us_iov iov[2];
			int k = us_rx_peek(x->rx, iov);
			size_t tot = 0;

			if (k < 0) {
				x->rx_err = k;
				break;
			}
			for (int i = 0; i < k; i++) {
				xfer_note(x, tot + iov[i].len);
				if (x->bad_off < 0 && x->rcvd + tot + iov[i].len <= x->total) {
					int64_t b = pat_check(x->seed, x->rcvd + tot, iov[i].base,
							      iov[i].len);
					if (b >= 0)
						x->bad_off = b;
				}
				tot += iov[i].len;
			}
			if (tot) {
				int r = us_rx_consume(x->rx, tot, now);

				if (r < 0) {
					x->rx_err = r;
					break;
				}
				x->rcvd += tot;
				continue;
			}
			/* nothing buffered: end of stream, error or empty? */
			uint8_t one;
			ssize_t r = us_recv(x->rx, &one, 1, US_MSG_PEEK, now);
			if (r == 0)
				x->eof = true;
			else if (r < 0 && r != -EAGAIN)
				x->rx_err = (int)r;
			break;
		} else {
			ssize_t r = us_recv(x->rx, buf, sizeof(buf), 0, now);

			if (r == -EAGAIN)
				break;
			if (r == 0) {
				x->eof = true;
				break;
			}
			if (r < 0) {
				x->rx_err = (int)r;
				break;
			}
			xfer_note(x, (size_t)r);
			if (x->bad_off < 0 && x->rcvd + (uint64_t)r <= x->total) {
				int64_t b = pat_check(x->seed, x->rcvd, buf, (size_t)r);
				if (b >= 0)
					x->bad_off = b;
			}
			x->rcvd += (uint64_t)r;
		}
	}
}

void xfer_pump(struct xfer *x)
{
	uint64_t before = x->rcvd;

	if (x->tx)
		xfer_fill(x);
	if (x->rx && !x->hold_rx)
		xfer_drain(x);
	if (x->rcvd != before) {
		uint64_t gap = x->n->now - x->last_progress;

		if (gap > x->max_gap)
			x->max_gap = gap;
		x->last_progress = x->n->now;
	}
}

static bool xfer_done(const struct xfer *x)
{
	return x->rcvd == x->total && (!x->shut_when_done || x->eof);
}

static bool xfer_failed(const struct xfer *x)
{
	return x->bad_off >= 0 || x->rx_err || x->tx_err;
}

bool xfer_run_many(struct xfer **xs, int nx, uint64_t until)
{
	struct netsim *n = xs[0]->n;
	uint64_t last_now = n->now;
	unsigned spins = 0;

	for (;;) {
		bool done = true;

		for (int i = 0; i < nx; i++) {
			xfer_pump(xs[i]);
			if (xfer_failed(xs[i]))
				return false;
			done = done && xfer_done(xs[i]);
		}
		if (done)
			return true;
		if (n->now >= until)
			return false;
		uint64_t t = tcpt_next_event(n);
		if (t > until)
			t = until;
		if (t <= n->now) {
			/* Several rounds at the same instant are normal (a
			 * callback's output, a timer at now); an endless run
			 * of them is not, so let time move on. */
			if (n->now == last_now && ++spins > 100000)
				t = n->now + 1;
			else
				t = n->now;
		}
		if (n->now != last_now) {
			last_now = n->now;
			spins = 0;
		}
		sim_run_until(n, t);
	}
}

bool xfer_run(struct xfer *x, uint64_t until)
{
	return xfer_run_many(&x, 1, until);
}

/* ---- scripted peer ----------------------------------------------------- */

static bool ts_tap(void *ctx, int from, uint8_t *f, size_t len)
{
	struct tscript *t = ctx;
	struct tcp_hdr th;
	const uint8_t *pl;
	size_t plen;

	if (len >= ETH_HLEN && f[12] == 0x08 && f[13] == 0x06)
		return true; /* ARP passes both ways */
	if (from != TS_DUT)
		return false;
	if (!tcpt_parse_frame(&t->sim, f, len, NULL, NULL, &th, &pl, &plen)) {
		t->other++;
		return false;
	}
	ck_assert_msg(t->qt - t->qh < TS_MAXQ, "script capture queue overflow");
	struct ts_seg *s = &t->q[t->qt++ % TS_MAXQ];
	if (getenv("TS_DEBUG"))
		fprintf(stderr, "[%llu] dut> %u>%u %s%s%s%s%s seq %u ack %u win %u len %zu%s\n",
			(unsigned long long)t->sim.now, th.sport, th.dport,
			th.flags & TCP_SYN ? "S" : "", th.flags & TCP_FIN ? "F" : "",
			th.flags & TCP_RST ? "R" : "", th.flags & TCP_PSH ? "P" : "",
			th.flags & TCP_ACK ? "." : "", th.seq, th.ack, th.win, plen,
			th.opt.nsack ? " sack" : "");
	s->at = t->sim.now;
	s->th = th;
	s->len = (uint32_t)plen;
	memcpy(s->data, pl, plen < sizeof(s->data) ? plen : sizeof(s->data));
	if (th.opt.has_ts)
		t->ts_recent = th.opt.tsval;
	return false;
}

void ts_init(struct tscript *t, uint64_t seed)
{
	struct us_sock *u;
	struct us_addr any = {0, 0}, to = {SIM_ADDR_A, 9};

	memset(t, 0, sizeof(*t));
	sim_init(&t->sim, US_LINK_ETHER, 1500, seed);
	t->q = calloc(TS_MAXQ, sizeof(*t->q));
	ck_assert_ptr_nonnull(t->q);
	/* Prime ARP both ways with one datagram B -> A. */
	ck_assert_int_eq(us_socket(t->sim.st[TS_DUT], US_SOCK_DGRAM, &u), 0);
	ck_assert_int_eq(us_bind(u, &any), 0);
	ck_assert_int_eq(us_sendto(u, "", 0, 0, &to, t->sim.now), 0);
	sim_run(&t->sim, 10 * T_MS);
	us_close(u, t->sim.now);
	t->sim.tap = ts_tap;
	t->sim.tap_ctx = t;
	t->pport = 40000;
	t->dport = 80;
	t->win = 65535;
}

void ts_free(struct tscript *t)
{
	t->sim.tap = NULL;
	sim_free(&t->sim);
	free(t->q);
	t->q = NULL;
}

void ts_run(struct tscript *t, uint64_t us) { sim_run(&t->sim, us); }

unsigned ts_pending(const struct tscript *t) { return t->qt - t->qh; }

struct ts_seg *ts_next(struct tscript *t)
{
	if (t->qh == t->qt)
		return NULL;
	return &t->q[t->qh++ % TS_MAXQ];
}

void ts_flush(struct tscript *t) { t->qh = t->qt; }

struct tcp_opts ts_opts(struct tscript *t)
{
	struct tcp_opts o;

	memset(&o, 0, sizeof(o));
	if (t->ts_on) {
		o.has_ts = true;
		o.tsval = t->tsval++;
		o.tsecr = t->ts_recent;
	}
	return o;
}

void ts_send_from(struct tscript *t, uint16_t pport, uint8_t flags, uint32_t seq, uint32_t ack,
		  uint16_t win, const struct tcp_opts *o, const void *data, size_t len)
{
	static uint8_t seg[TCP_MAX_HLEN + 65536], frame[TCP_MAX_HLEN + 65536 + 64];
	static uint16_t ipid;
	struct tcp_hdr h;
	struct ip4_hdr ih = {.ttl = 64, .proto = IP4_PROTO_TCP, .src = SIM_ADDR_A,
			     .dst = SIM_ADDR_B, .df = true};
	size_t hl, fl;

	ck_assert_uint_le(len, 65536 - 100);
	memset(&h, 0, sizeof(h));
	h.sport = pport;
	h.dport = t->dport;
	h.seq = seq;
	h.ack = ack;
	h.flags = flags;
	h.win = win;
	h.opt = o ? *o : ts_opts(t);
	if (len)
		memcpy(seg + TCP_HLEN + tcp_opts_len(&h.opt), data, len);
	hl = tcp_build(seg, &h, len, SIM_ADDR_A, SIM_ADDR_B);
	ih.id = ++ipid;
	fl = craft_ip(frame, &t->sim, SIM_A, SIM_B, &ih, seg, hl + len);
	sim_inject(&t->sim, TS_DUT, frame, fl);
}

void ts_send(struct tscript *t, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
	     const struct tcp_opts *o, const void *data, size_t len)
{
	ts_send_from(t, t->pport, flags, seq, ack, win, o, data, len);
}

void ts_send_data(struct tscript *t, uint8_t flags, const void *data, size_t len)
{
	struct tcp_hdr h = {.flags = flags};

	ts_send(t, flags, t->snd_nxt, t->rcv_nxt, t->win, NULL, data, len);
	t->snd_nxt += tcpt_seg_len(&h, len);
}

struct tcp_opts ts_full_syn_opts(uint16_t mss)
{
	struct tcp_opts o;

	memset(&o, 0, sizeof(o));
	o.has_mss = true;
	o.mss = mss;
	o.has_ws = true;
	o.ws = 7;
	o.sack_perm = true;
	o.has_ts = true;
	o.tsval = 1000;
	o.tsecr = 0;
	return o;
}

struct us_sock *ts_listen(struct tscript *t, uint16_t port, int backlog)
{
	struct us_sock *ls;
	struct us_addr a = {0, port};

	ck_assert_int_eq(us_socket(t->sim.st[TS_DUT], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_bind(ls, &a), 0);
	ck_assert_int_eq(us_listen(ls, backlog), 0);
	t->dport = port;
	return ls;
}

struct us_sock *ts_accept_flow(struct tscript *t, struct us_sock *ls, const struct tcp_opts *syn,
			       uint32_t iss, struct ts_seg *synack)
{
	struct tcp_opts none, o;
	struct us_sock *so;
	struct us_addr peer;
	struct ts_seg *sa;

	memset(&none, 0, sizeof(none));
	if (!syn)
		syn = &none;
	ts_send(t, TCP_SYN, iss, 0, t->win, syn, NULL, 0);
	ts_run(t, 1 * T_MS);
	sa = ts_next(t);
	ck_assert_msg(sa != NULL, "no SYN/ACK for the SYN");
	ck_assert_uint_eq(sa->th.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(sa->th.ack, iss + 1);
	if (synack)
		*synack = *sa;
	t->dut_iss = sa->th.seq;
	t->rcv_nxt = sa->th.seq + 1;
	t->snd_nxt = iss + 1;
	t->ts_on = syn->has_ts && sa->th.opt.has_ts;
	if (t->ts_on) {
		t->ts_recent = sa->th.opt.tsval;
		t->tsval = syn->tsval + 1;
	}
	o = ts_opts(t);
	ts_send(t, TCP_ACK, t->snd_nxt, t->rcv_nxt, t->win, &o, NULL, 0);
	ck_assert_int_eq(us_accept(ls, &so, &peer, t->sim.now), 0);
	ck_assert_uint_eq(peer.ip, SIM_ADDR_A);
	ck_assert_uint_eq(peer.port, t->pport);
	return so;
}

struct us_sock *ts_connect_flow(struct tscript *t, const struct tcp_opts *opts, uint32_t iss,
				struct ts_seg *synp)
{
	struct tcp_opts none, o;
	struct us_sock *so;
	struct us_addr to = {SIM_ADDR_A, t->pport};
	struct ts_seg *sy, *ack;

	memset(&none, 0, sizeof(none));
	if (!opts)
		opts = &none;
	ck_assert_int_eq(us_socket(t->sim.st[TS_DUT], US_SOCK_STREAM, &so), 0);
	ck_assert_int_eq(us_connect(so, &to, t->sim.now), -EINPROGRESS);
	ts_run(t, 1 * T_MS);
	sy = ts_next(t);
	ck_assert_msg(sy != NULL, "connect sent no SYN");
	ck_assert_uint_eq(sy->th.flags, TCP_SYN);
	if (synp)
		*synp = *sy;
	t->dport = sy->th.sport;
	t->dut_iss = sy->th.seq;
	t->rcv_nxt = sy->th.seq + 1;
	t->snd_nxt = iss + 1;
	o = *opts;
	if (o.has_ts)
		o.tsecr = sy->th.opt.tsval;
	ts_send(t, TCP_SYN | TCP_ACK, iss, t->rcv_nxt, t->win, &o, NULL, 0);
	t->ts_on = o.has_ts && sy->th.opt.has_ts;
	if (t->ts_on)
		t->tsval = o.tsval + 1;
	ts_run(t, 1 * T_MS);
	ack = ts_next(t);
	ck_assert_msg(ack != NULL, "no ACK for the SYN/ACK");
	ck_assert_uint_eq(ack->th.flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN), TCP_ACK);
	ck_assert_uint_eq(ack->th.seq, t->dut_iss + 1);
	ck_assert_uint_eq(ack->th.ack, iss + 1);
	ck_assert(us_sock_events(so) & US_EV_OUT);
	return so;
}
