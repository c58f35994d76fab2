/* test_sim_tcp.c - TCP between two stacks on the simulated link: handshake
 * and events, data both ways, half-close, graceful and simultaneous close,
 * TIME_WAIT, simultaneous open, every reset case, retransmission with
 * backoff, give-up times, fast retransmit, SACK recovery, NewReno vs CUBIC,
 * zero window and persist, keepalive, Nagle/NODELAY/CORK, delayed ACK and
 * the TCP_INFO snapshot.  A frame tap observes and drops segments. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsim.h"
#include "tcpscript.h"

static struct netsim sim;

/* ---- the tap: observe every TCP segment, drop on request ----------------- */

#define REC_MAX 4096
struct rec {
	uint64_t at;
	int from;
	struct tcp_hdr th;
	uint32_t len;
};

static struct {
	bool drop_all[2];     /* drop every TCP segment from that side */
	bool drop_rst[2];     /* drop resets from that side */
	uint64_t drop_acks_until[2]; /* drop pure ACKs from that side until then */
	unsigned drop_new[8]; /* 1-based index of A's new data segments to drop */
	unsigned ndrop, dropped;
	unsigned new_segs;    /* A's first transmissions seen */
	bool high_ok;
	uint32_t high;        /* highest sequence A has sent */
	struct rec r[REC_MAX];
	unsigned nr;
	/* cwnd sampling for the congestion-control comparison */
	struct us_sock *watch;
	uint32_t cwnd_before_rexmt, last_cwnd;
	bool saw_rexmt;
} tp;

static bool tap(void *ctx, int from, uint8_t *f, size_t len)
{
	struct tcp_hdr th;
	const uint8_t *pl;
	size_t plen;

	(void)ctx;
	if (!tcpt_parse_frame(&sim, f, len, NULL, NULL, &th, &pl, &plen))
		return true;
	if (tp.nr < REC_MAX)
		tp.r[tp.nr++] = (struct rec){sim.now, from, th, (uint32_t)plen};
	if (getenv("TS_DEBUG"))
		fprintf(stderr, "[%llu] %c %u>%u %s%s%s%s seq %u ack %u win %u len %zu\n",
			(unsigned long long)sim.now, "AB"[from], th.sport, th.dport,
			th.flags & TCP_SYN ? "S" : "", th.flags & TCP_FIN ? "F" : "",
			th.flags & TCP_RST ? "R" : "", th.flags & TCP_ACK ? "." : "", th.seq,
			th.ack, th.win, plen);
	if (tp.drop_all[from])
		return false;
	if ((th.flags & TCP_RST) && tp.drop_rst[from])
		return false;
	if (!plen && !(th.flags & (TCP_SYN | TCP_FIN | TCP_RST)) && sim.now < tp.drop_acks_until[from])
		return false;
	if (from == SIM_A && plen) {
		bool fresh = !tp.high_ok || (int32_t)(th.seq - tp.high) >= 0;

		if (fresh) {
			tp.high = th.seq + (uint32_t)plen;
			tp.high_ok = true;
			tp.new_segs++;
			if (tp.watch) {
				struct us_tcp_info ti;

				us_tcp_info(tp.watch, &ti);
				tp.last_cwnd = ti.cwnd;
			}
			for (unsigned i = 0; i < tp.ndrop; i++)
				if (tp.drop_new[i] == tp.new_segs) {
					tp.dropped++;
					return false;
				}
		} else if (!tp.saw_rexmt) {
			tp.saw_rexmt = true;
			tp.cwnd_before_rexmt = tp.last_cwnd;
		}
	}
	return true;
}

static void setup(void)
{
	sim_init(&sim, US_LINK_ETHER, 1500, 42);
	memset(&tp, 0, sizeof(tp));
	sim.tap = tap;
}

static void teardown(void)
{
	sim.tap = NULL;
	sim_free(&sim);
}

static uint64_t ctr(int who, enum us_ctr c) { return sim_ctr(&sim, who, c); }

static struct us_tcp_info tinfo(struct us_sock *so)
{
	struct us_tcp_info ti;

	memset(&ti, 0, sizeof(ti));
	ck_assert_int_eq(us_tcp_info(so, &ti), 0);
	return ti;
}

struct evrec {
	unsigned mask;
	unsigned calls;
};

static void ev_cb(void *ctx, struct us_sock *so, unsigned ev)
{
	struct evrec *e = ctx;

	(void)so;
	e->mask |= ev;
	e->calls++;
}

/* TCP sockets of a stack other than listeners, with their states. */
struct sockcount {
	unsigned n, time_wait, orphans;
};
static void count_cb(void *ctx, const struct us_sock_info *si)
{
	struct sockcount *c = ctx;

	if (si->type != US_SOCK_STREAM || si->state == US_TCP_LISTEN)
		return;
	c->n++;
	if (si->state == US_TCP_TIME_WAIT)
		c->time_wait++;
	if (si->orphan)
		c->orphans++;
}
static struct sockcount socks(int who)
{
	struct sockcount c = {0};

	us_sock_foreach(sim.st[who], count_cb, &c);
	return c;
}

static struct us_sock *pair(struct us_sock **cli, struct us_sock **srv)
{
	return tcpt_pair(&sim, 80, cli, srv);
}

/* Send len bytes a->b and check them, with a virtual-time bound. */
static void transfer(struct us_sock *a, struct us_sock *b, uint64_t len, uint64_t seed,
		     uint64_t bound)
{
	struct xfer x;

	xfer_init(&x, &sim, a, b, len, seed);
	ck_assert_msg(xfer_run(&x, sim.now + bound),
		      "transfer: %llu of %llu bytes, bad at %lld, errs %d/%d",
		      (unsigned long long)x.rcvd, (unsigned long long)len, (long long)x.bad_off,
		      x.tx_err, x.rx_err);
}

/* ---- connection setup ------------------------------------------------------ */

START_TEST(handshake_and_events)
{
	struct us_sock *ls, *cli, *srv;
	struct us_addr a = {0, 80}, to = {SIM_ADDR_B, 80}, peer, name;
	struct evrec lev = {0}, cev = {0};

	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_bind(ls, &a), 0);
	ck_assert_int_eq(us_listen(ls, 8), 0);
	us_sock_set_notify(ls, ev_cb, &lev);
	ck_assert_int_eq(us_accept(ls, &srv, &peer, sim.now), -EAGAIN);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	us_sock_set_notify(cli, ev_cb, &cev);
	ck_assert_int_eq(us_send(cli, "x", 1, 0, sim.now), -ENOTCONN);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	ck_assert(!(us_sock_events(cli) & US_EV_OUT));
	ck_assert_int_eq(tinfo(cli).state, US_TCP_SYN_SENT);
	sim_run(&sim, 10 * T_MS);
	ck_assert(cev.mask & US_EV_OUT);
	ck_assert(!(cev.mask & US_EV_ERR));
	ck_assert(lev.mask & US_EV_IN);
	ck_assert(us_sock_events(ls) & US_EV_IN);
	ck_assert_int_eq(us_accept(ls, &srv, &peer, sim.now), 0);
	ck_assert(!(us_sock_events(ls) & US_EV_IN));
	ck_assert_int_eq(us_accept(ls, &srv, &peer, sim.now), -EAGAIN);
	ck_assert_uint_eq(peer.ip, SIM_ADDR_A);
	ck_assert_int_eq(us_getsockname(cli, &name), 0);
	ck_assert_uint_eq(name.port, peer.port);
	ck_assert_uint_eq(name.ip, SIM_ADDR_A);
	ck_assert_uint_ge(name.port, 1024);
	ck_assert_int_eq(us_getpeername(cli, &name), 0);
	ck_assert_uint_eq(name.ip, SIM_ADDR_B);
	ck_assert_uint_eq(name.port, 80);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_ESTABLISHED);
	ck_assert_int_eq(tinfo(srv).state, US_TCP_ESTABLISHED);
	ck_assert(us_sock_events(srv) & US_EV_OUT);
	ck_assert(!(us_sock_events(srv) & US_EV_IN));
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_active_opens), 1);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_passive_opens), 1);
	ck_assert_int_eq(us_sock_error(cli), 0);
	/* exactly three segments: SYN, SYN/ACK, ACK */
	ck_assert_uint_eq(tp.nr, 3);
	ck_assert_uint_eq(tp.r[0].th.flags, TCP_SYN);
	ck_assert_uint_eq(tp.r[1].th.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(tp.r[2].th.flags, TCP_ACK);
}
END_TEST

START_TEST(ephemeral_ports_random)
{
	struct us_sock *c;
	struct us_addr name;
	uint16_t p[16], q;

	/* RFC 6056: distinct ports from the ephemeral range; two
	 * destinations do not start at neighbouring ports. */
	for (int i = 0; i < 16; i++) {
		struct us_addr to = {SIM_ADDR_B, 80};

		ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &c), 0);
		ck_assert_int_eq(us_connect(c, &to, sim.now), -EINPROGRESS);
		ck_assert_int_eq(us_getsockname(c, &name), 0);
		p[i] = name.port;
		ck_assert_uint_ge(p[i], 1024);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(p[i], p[j]);
	}
	{
		struct us_addr to = {SIM_ADDR_B, 443};

		ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &c), 0);
		ck_assert_int_eq(us_connect(c, &to, sim.now), -EINPROGRESS);
		ck_assert_int_eq(us_getsockname(c, &name), 0);
		q = name.port;
	}
	ck_assert_msg(q != p[0] + 1 && q + 1 != p[0] && q != p[15] + 1,
		      "ports %u and %u look sequential", p[0], q);
}
END_TEST

START_TEST(ephemeral_ports_cycle)
{
	static uint8_t seen[65536];
	struct us_sock *c;
	struct us_addr name, to = {SIM_ADDR_B, 8080};

	/* RFC 6056 §3.3.3: towards one peer the ports run through the range
	 * before one comes back (a random pick each time would repeat ~70
	 * times in 2,000 connections: the birthday bound over 28,232). */
	memset(seen, 0, sizeof seen);
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &c), 0);
		ck_assert_int_eq(us_connect(c, &to, sim.now), -EINPROGRESS);
		ck_assert_int_eq(us_getsockname(c, &name), 0);
		ck_assert_msg(!seen[name.port], "port %u again after %d connections", name.port, i);
		seen[name.port] = 1;
		us_close(c, sim.now);
	}
}
END_TEST

START_TEST(connect_refused)
{
	struct us_sock *cli;
	struct us_addr to = {SIM_ADDR_B, 81};
	struct evrec ev = {0};
	uint8_t b[4];

	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	us_sock_set_notify(cli, ev_cb, &ev);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	sim_run(&sim, 10 * T_MS);
	ck_assert(ev.mask & US_EV_ERR);
	ck_assert(us_sock_events(cli) & US_EV_ERR);
	ck_assert_int_eq(us_sock_error(cli), ECONNREFUSED);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_CLOSED);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_tx_rst), 1);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_rx_rst), 1);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_attempt_fails), 1);
	ck_assert_int_le(us_recv(cli, b, sizeof(b), 0, sim.now), 0);
	/* no SYN retransmission afterwards */
	sim_run(&sim, 5 * T_SEC);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_syn_retrans), 0);
	ck_assert_int_eq(us_close(cli, sim.now), 0);
	ck_assert_uint_eq(socks(SIM_A).n, 0);
}
END_TEST

START_TEST(simultaneous_open)
{
	struct us_sock *a, *b;
	struct us_addr la = {0, 5000}, lb = {0, 6000}, ta = {SIM_ADDR_A, 5000},
		       tb = {SIM_ADDR_B, 6000};
	uint8_t buf[8];
	unsigned synack[2] = {0, 0};

	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &a), 0);
	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &b), 0);
	ck_assert_int_eq(us_bind(a, &la), 0);
	ck_assert_int_eq(us_bind(b, &lb), 0);
	ck_assert_int_eq(us_connect(a, &tb, sim.now), -EINPROGRESS);
	ck_assert_int_eq(us_connect(b, &ta, sim.now), -EINPROGRESS);
	sim_run(&sim, 100 * T_MS);
	/* RFC 9293 §3.5 figure 7: SYN-SENT -> SYN-RECEIVED -> ESTABLISHED */
	ck_assert_int_eq(tinfo(a).state, US_TCP_ESTABLISHED);
	ck_assert_int_eq(tinfo(b).state, US_TCP_ESTABLISHED);
	ck_assert(us_sock_events(a) & US_EV_OUT);
	ck_assert(us_sock_events(b) & US_EV_OUT);
	for (unsigned i = 0; i < tp.nr; i++)
		if (tp.r[i].th.flags == (TCP_SYN | TCP_ACK))
			synack[tp.r[i].from]++;
	ck_assert_uint_ge(synack[0], 1);
	ck_assert_uint_ge(synack[1], 1);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_tx_rst) + ctr(SIM_B, US_CTR_tcp_tx_rst), 0);
	ck_assert_int_eq(us_send(a, "ping", 4, 0, sim.now), 4);
	ck_assert_int_eq(us_send(b, "pong", 4, 0, sim.now), 4);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_recv(b, buf, sizeof(buf), 0, sim.now), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	ck_assert_int_eq(us_recv(a, buf, sizeof(buf), 0, sim.now), 4);
	ck_assert_mem_eq(buf, "pong", 4);
}
END_TEST

START_TEST(many_connections)
{
	enum { N = 100 };
	static struct us_sock *c[N], *s[N];
	static struct xfer x[2 * N];
	struct xfer *xs[2 * N];
	struct us_sock *ls;
	struct us_addr a = {0, 80}, to = {SIM_ADDR_B, 80}, peer;
	int got = 0;

	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_bind(ls, &a), 0);
	ck_assert_int_eq(us_listen(ls, N), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &c[i]), 0);
		ck_assert_int_eq(us_connect(c[i], &to, sim.now), -EINPROGRESS);
	}
	sim_run(&sim, 1500 * T_MS); /* the ARP queue holds only some SYNs */
	while (got < N && us_accept(ls, &s[got], &peer, sim.now) == 0)
		got++;
	ck_assert_int_eq(got, N);
	/* match accepted sockets to clients by port, then 20 KB each way */
	for (int i = 0; i < N; i++) {
		struct us_addr pn, cn;
		int j;

		us_getpeername(s[i], &pn);
		for (j = 0; j < N; j++) {
			us_getsockname(c[j], &cn);
			if (cn.port == pn.port)
				break;
		}
		ck_assert_int_lt(j, N);
		xfer_init(&x[2 * i], &sim, c[j], s[i], 20000, (uint64_t)i);
		xfer_init(&x[2 * i + 1], &sim, s[i], c[j], 20000, (uint64_t)i + 1000);
		xs[2 * i] = &x[2 * i];
		xs[2 * i + 1] = &x[2 * i + 1];
	}
	ck_assert(xfer_run_many(xs, 2 * N, sim.now + 10 * T_SEC));
}
END_TEST

/* ---- data --------------------------------------------------------------------- */

START_TEST(data_both_ways_exact)
{
	struct us_sock *cli, *srv;
	struct xfer ab, ba;
	struct xfer *xs[2] = {&ab, &ba};

	pair(&cli, &srv);
	xfer_init(&ab, &sim, cli, srv, 3 * 1000 * 1000 + 7, 1);
	xfer_init(&ba, &sim, srv, cli, 2 * 1000 * 1000 + 3, 2);
	ba.zc_tx = ba.zc_rx = true; /* the zero-copy API one way */
	ck_assert(xfer_run_many(xs, 2, sim.now + 30 * T_SEC));
	sim_run(&sim, 300 * T_MS); /* the last ACKs */
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_retrans_segs), 0);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_retrans_segs), 0);
	ck_assert_uint_eq(tinfo(cli).bytes_acked, 3 * 1000 * 1000 + 7);
	ck_assert_uint_eq(tinfo(srv).bytes_received, 3 * 1000 * 1000 + 7);
	/* MSG_PEEK leaves the data in place */
	uint8_t b1[4], b2[4];
	ck_assert_int_eq(us_send(cli, "peek", 4, 0, sim.now), 4);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_recv(srv, b1, 4, US_MSG_PEEK, sim.now), 4);
	ck_assert_int_eq(us_recv(srv, b2, 4, 0, sim.now), 4);
	ck_assert_mem_eq(b1, "peek", 4);
	ck_assert_mem_eq(b2, "peek", 4);
	ck_assert_int_eq(us_recv(srv, b2, 4, 0, sim.now), -EAGAIN);
}
END_TEST

/* ---- close -------------------------------------------------------------------- */

START_TEST(half_close)
{
	struct us_sock *cli, *srv;
	struct xfer back;
	uint8_t buf[32];

	pair(&cli, &srv);
	ck_assert_int_eq(us_send(cli, "request", 7, 0, sim.now), 7);
	ck_assert_int_eq(us_shutdown(cli, US_SHUT_WR, sim.now), 0);
	ck_assert_int_eq(us_send(cli, "more", 4, 0, sim.now), -EPIPE);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), 7);
	ck_assert_mem_eq(buf, "request", 7);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), 0); /* EOF */
	ck_assert(us_sock_events(srv) & US_EV_RDHUP);
	ck_assert(us_sock_events(srv) & US_EV_IN);
	ck_assert(!(us_sock_events(srv) & US_EV_HUP));
	ck_assert_int_eq(tinfo(srv).state, US_TCP_CLOSE_WAIT);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_FIN_WAIT_2);
	/* the other direction still works, then closes */
	xfer_init(&back, &sim, srv, cli, 500000, 9);
	back.shut_when_done = true;
	ck_assert(xfer_run(&back, sim.now + 10 * T_SEC));
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_TIME_WAIT);
	ck_assert_int_eq(tinfo(srv).state, US_TCP_CLOSED);
	ck_assert(us_sock_events(cli) & US_EV_HUP);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_tx_rst) + ctr(SIM_B, US_CTR_tcp_tx_rst), 0);
}
END_TEST

START_TEST(graceful_close_time_wait_custom)
{
	struct us_sock *cli, *srv;
	uint8_t buf[8];
	uint64_t tw0;

	tcpt_recreate(&sim, 2 * T_SEC);
	pair(&cli, &srv);
	ck_assert_uint_gt(us_tcp_mem(sim.st[SIM_A]), 0);
	ck_assert_int_eq(us_close(cli, sim.now), 0); /* active closer */
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), 0);
	ck_assert_int_eq(us_close(srv, sim.now), 0);
	sim_run(&sim, 1 * T_MS);
	tw0 = sim.now;
	ck_assert_uint_eq(socks(SIM_A).time_wait, 1);
	ck_assert_uint_eq(socks(SIM_A).orphans, 1);
	/* An orphan waits out TIME_WAIT holding no ring memory. */
	ck_assert_uint_eq(us_tcp_mem(sim.st[SIM_A]), 0);
	ck_assert_uint_eq(socks(SIM_B).n, 0); /* passive closer: gone */
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_time_wait_entered), 1);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_time_wait_entered), 0);
	sim_run_until(&sim, tw0 + 1900 * T_MS);
	ck_assert_uint_eq(socks(SIM_A).time_wait, 1);
	sim_run_until(&sim, tw0 + 2100 * T_MS);
	ck_assert_uint_eq(socks(SIM_A).n, 0);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_tx_rst) + ctr(SIM_B, US_CTR_tcp_tx_rst), 0);
}
END_TEST

START_TEST(time_wait_default_60s)
{
	struct us_sock *cli, *srv;
	uint64_t t0;

	pair(&cli, &srv);
	ck_assert_int_eq(us_shutdown(cli, US_SHUT_WR, sim.now), 0);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_close(srv, sim.now), 0);
	sim_run(&sim, 1 * T_MS);
	t0 = sim.now;
	ck_assert_int_eq(tinfo(cli).state, US_TCP_TIME_WAIT);
	ck_assert_int_eq(us_close(cli, sim.now), 0);
	ck_assert_uint_eq(socks(SIM_A).time_wait, 1);
	sim_run_until(&sim, t0 + 59 * T_SEC);
	ck_assert_uint_eq(socks(SIM_A).time_wait, 1);
	sim_run_until(&sim, t0 + 61 * T_SEC);
	ck_assert_uint_eq(socks(SIM_A).n, 0);
}
END_TEST

START_TEST(simultaneous_close)
{
	struct us_sock *cli, *srv;
	uint8_t buf[8];
	unsigned fins[2] = {0, 0};

	pair(&cli, &srv);
	sim_run(&sim, 100 * T_MS);
	tp.nr = 0;
	ck_assert_int_eq(us_shutdown(cli, US_SHUT_WR, sim.now), 0);
	ck_assert_int_eq(us_shutdown(srv, US_SHUT_WR, sim.now), 0);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_FIN_WAIT_1);
	sim_run(&sim, 10 * T_MS);
	/* RFC 9293 §3.6 figure 13: both pass CLOSING into TIME-WAIT. */
	ck_assert_int_eq(tinfo(cli).state, US_TCP_TIME_WAIT);
	ck_assert_int_eq(tinfo(srv).state, US_TCP_TIME_WAIT);
	ck_assert_int_eq(us_recv(cli, buf, sizeof(buf), 0, sim.now), 0);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), 0);
	for (unsigned i = 0; i < tp.nr; i++)
		if (tp.r[i].th.flags & TCP_FIN)
			fins[tp.r[i].from]++;
	ck_assert_uint_eq(fins[0], 1);
	ck_assert_uint_eq(fins[1], 1);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_time_wait_entered), 1);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_time_wait_entered), 1);
}
END_TEST

/* ---- resets ------------------------------------------------------------------- */

START_TEST(close_with_unread_data_resets)
{
	struct us_sock *cli, *srv;
	uint8_t buf[1000] = {1};

	pair(&cli, &srv);
	ck_assert_int_eq(us_send(cli, buf, sizeof(buf), 0, sim.now), (ssize_t)sizeof(buf));
	sim_run(&sim, 10 * T_MS);
	/* RFC 2525 §2.17 / RFC 9293 §3.10.4: unread data -> RST, not FIN */
	ck_assert_int_eq(us_close(srv, sim.now), 0);
	sim_run(&sim, 10 * T_MS);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_tx_rst), 1);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_rx_rst), 1);
	/* (Linux counts this case as TCPAbortOnClose; either name will do) */
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_abort_on_close) +
				  ctr(SIM_B, US_CTR_tcp_abort_on_data),
			  1);
	ck_assert(us_sock_events(cli) & US_EV_ERR);
	ck_assert_int_eq(us_recv(cli, buf, sizeof(buf), 0, sim.now), -ECONNRESET);
	ck_assert_int_eq(us_send(cli, buf, 1, 0, sim.now), -EPIPE);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_CLOSED);
	ck_assert_uint_eq(socks(SIM_B).n, 0);
	for (unsigned i = 0; i < tp.nr; i++)
		ck_assert(!(tp.r[i].th.flags & TCP_FIN));
}
END_TEST

START_TEST(linger_zero_resets)
{
	struct us_sock *cli, *srv;
	int v = 5;
	uint8_t buf[8];

	pair(&cli, &srv);
	ck_assert_int_eq(us_getsockopt(cli, US_SO_LINGER, &v), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(us_setsockopt(cli, US_SO_LINGER, 0), 0);
	ck_assert_int_eq(us_close(cli, sim.now), 0);
	ck_assert_uint_eq(socks(SIM_A).n, 0); /* no TIME_WAIT after an abort */
	sim_run(&sim, 10 * T_MS);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_tx_rst), 1);
	ck_assert(us_sock_events(srv) & US_EV_ERR);
	ck_assert(us_sock_events(srv) & US_EV_HUP);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), -ECONNRESET);
	ck_assert_int_eq(us_send(srv, "x", 1, 0, sim.now), -EPIPE);
}
END_TEST

START_TEST(data_to_forgotten_connection_gets_rst)
{
	struct us_sock *cli, *srv;
	uint8_t buf[8];

	pair(&cli, &srv);
	tp.drop_rst[SIM_A] = true; /* B never hears of the abort */
	ck_assert_int_eq(us_setsockopt(cli, US_SO_LINGER, 0), 0);
	ck_assert_int_eq(us_close(cli, sim.now), 0);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(tinfo(srv).state, US_TCP_ESTABLISHED);
	tp.drop_rst[SIM_A] = false;
	ck_assert_int_eq(us_send(srv, "hello", 5, 0, sim.now), 5);
	sim_run(&sim, 10 * T_MS);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_tx_rst), 2);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), -ECONNRESET);
}
END_TEST

START_TEST(listener_close_resets_unaccepted)
{
	struct us_sock *ls, *c1, *c2, *srv;
	struct us_addr to = {SIM_ADDR_B, 80};
	uint8_t buf[8];

	ls = pair(&c1, &srv);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &c2), 0);
	ck_assert_int_eq(us_connect(c2, &to, sim.now), -EINPROGRESS);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(tinfo(c2).state, US_TCP_ESTABLISHED);
	ck_assert_int_eq(us_close(ls, sim.now), 0);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_recv(c2, buf, sizeof(buf), 0, sim.now), -ECONNRESET);
	/* the accepted one is not affected */
	ck_assert_int_eq(tinfo(c1).state, US_TCP_ESTABLISHED);
	ck_assert_int_eq(tinfo(srv).state, US_TCP_ESTABLISHED);
}
END_TEST

/* TCP_DEFER_ACCEPT: a connection reaches accept() with its first data, or
 * without it once the period is over; not before. */
START_TEST(defer_accept_waits_for_data)
{
	struct us_sock *ls, *c1, *srv, *c2, *c3, *a;
	struct us_addr to = {SIM_ADDR_B, 80}, peer;
	uint8_t buf[8];
	uint64_t t0;

	ls = pair(&c1, &srv);
	ck_assert_int_eq(us_setsockopt(ls, US_TCP_DEFER_ACCEPT, 2), 0);
	int v = 0;
	ck_assert_int_eq(us_getsockopt(ls, US_TCP_DEFER_ACCEPT, &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &c2), 0);
	ck_assert_int_eq(us_connect(c2, &to, sim.now), -EINPROGRESS);
	sim_run(&sim, 500 * T_MS);
	ck_assert_int_eq(tinfo(c2).state, US_TCP_ESTABLISHED);
	ck_assert_int_eq(us_accept(ls, &a, &peer, sim.now), -EAGAIN);
	ck_assert_uint_eq(us_sock_events(ls) & US_EV_IN, 0);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_defer_accept_held), 1);
	ck_assert_int_eq(us_send(c2, "hi", 2, 0, sim.now), 2);
	sim_run(&sim, 10 * T_MS);
	ck_assert_uint_ne(us_sock_events(ls) & US_EV_IN, 0);
	ck_assert_int_eq(us_accept(ls, &a, &peer, sim.now), 0);
	ck_assert_int_eq(us_recv(a, buf, sizeof(buf), 0, sim.now), 2);
	ck_assert_int_eq(memcmp(buf, "hi", 2), 0);
	/* No data at all: handed over when the period ends. */
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &c3), 0);
	ck_assert_int_eq(us_connect(c3, &to, sim.now), -EINPROGRESS);
	sim_run(&sim, 10 * T_MS);
	t0 = sim.now;
	ck_assert_int_eq(tinfo(c3).state, US_TCP_ESTABLISHED);
	sim_run_until(&sim, t0 + 1900 * T_MS);
	ck_assert_int_eq(us_accept(ls, &a, &peer, sim.now), -EAGAIN);
	sim_run_until(&sim, t0 + 2100 * T_MS);
	ck_assert_int_eq(us_accept(ls, &a, &peer, sim.now), 0);
	ck_assert_int_eq(tinfo(a).state, US_TCP_ESTABLISHED);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_defer_accept_held), 2);
}
END_TEST

/* ---- retransmission ----------------------------------------------------------- */

START_TEST(rto_exponential_backoff)
{
	struct us_sock *cli, *srv;
	struct xfer x;
	uint64_t t[16];
	unsigned n = 0;
	uint32_t first = 0;
	bool have = false;

	pair(&cli, &srv);
	sim_run(&sim, 100 * T_MS);
	tp.nr = 0;
	tp.drop_all[SIM_A] = true;
	xfer_init(&x, &sim, cli, srv, 10000, 3);
	xfer_pump(&x);
	sim_run(&sim, 30 * T_SEC);
	for (unsigned i = 0; i < tp.nr && n < 16; i++) {
		if (tp.r[i].from != SIM_A || !tp.r[i].len)
			continue;
		if (!have) {
			first = tp.r[i].th.seq;
			have = true;
		}
		if (tp.r[i].th.seq == first)
			t[n++] = tp.r[i].at;
	}
	/* original + retransmissions at RTO, 2 RTO, 4 RTO, ... */
	ck_assert_uint_ge(n, 6);
	ck_assert_uint_ge(t[1] - t[0], 200 * T_MS);
	ck_assert_uint_le(t[1] - t[0], 1 * T_SEC);
	for (unsigned i = 2; i < n; i++) {
		uint64_t d0 = t[i - 1] - t[i - 2], d1 = t[i] - t[i - 1];
		ck_assert_msg(d1 * 10 >= d0 * 18 && d1 * 10 <= d0 * 22,
			      "interval %u: %llu after %llu", i, (unsigned long long)d1,
			      (unsigned long long)d0);
	}
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_timeouts), n - 1);
	ck_assert_uint_ge(ctr(SIM_A, US_CTR_tcp_retrans_segs), n - 1);
	ck_assert_uint_eq(tinfo(cli).backoff, n - 1);
	ck_assert_uint_ge(tinfo(cli).rto, (t[n - 1] - t[n - 2]));
	/* the link comes back: everything arrives */
	tp.drop_all[SIM_A] = false;
	ck_assert(xfer_run(&x, sim.now + 120 * T_SEC));
	ck_assert_int_eq(tinfo(cli).state, US_TCP_ESTABLISHED);
}
END_TEST

START_TEST(user_timeout_gives_up)
{
	struct us_sock *cli, *srv;
	struct evrec ev = {0};
	uint64_t t0;
	int v = 0;

	pair(&cli, &srv);
	ck_assert_int_eq(us_setsockopt(cli, US_TCP_USER_TIMEOUT, 3000), 0);
	ck_assert_int_eq(us_getsockopt(cli, US_TCP_USER_TIMEOUT, &v), 0);
	ck_assert_int_eq(v, 3000);
	us_sock_set_notify(cli, ev_cb, &ev);
	tp.drop_all[SIM_A] = true;
	t0 = sim.now;
	ck_assert_int_eq(us_send(cli, "data", 4, 0, sim.now), 4);
	while (!(us_sock_events(cli) & US_EV_ERR) && sim.now < t0 + 120 * T_SEC)
		sim_run(&sim, 10 * T_MS);
	ck_assert(ev.mask & US_EV_ERR);
	ck_assert_uint_ge(sim.now - t0, 3 * T_SEC);
	ck_assert_msg(sim.now - t0 <= 7 * T_SEC, "gave up after %llu us",
		      (unsigned long long)(sim.now - t0));
	ck_assert_int_eq(us_sock_error(cli), ETIMEDOUT);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_CLOSED);
	ck_assert_uint_ge(ctr(SIM_A, US_CTR_tcp_abort_on_timeout), 1);
	ck_assert_int_eq(us_send(cli, "x", 1, 0, sim.now), -EPIPE);
}
END_TEST

START_TEST(syn_retries_give_up)
{
	struct us_sock *cli;
	struct us_addr to = {SIM_ADDR_B, 80};
	uint64_t t[32], t0;
	unsigned n = 0;

	tp.drop_all[SIM_A] = true;
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	t0 = sim.now;
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	while (!(us_sock_events(cli) & US_EV_ERR) && sim.now < t0 + 600 * T_SEC)
		sim_run(&sim, 100 * T_MS);
	ck_assert(us_sock_events(cli) & US_EV_ERR);
	ck_assert_int_eq(us_sock_error(cli), ETIMEDOUT);
	for (unsigned i = 0; i < tp.nr && n < 32; i++)
		if (tp.r[i].from == SIM_A && tp.r[i].th.flags == TCP_SYN)
			t[n++] = tp.r[i].at;
	ck_assert_uint_ge(n, 4);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_syn_retrans), n - 1);
	/* RFC 6298 §2.1: 1 s to start with, doubling */
	ck_assert_uint_ge(t[1] - t[0], 900 * T_MS);
	ck_assert_uint_le(t[1] - t[0], 1100 * T_MS);
	for (unsigned i = 2; i < n; i++) {
		uint64_t d0 = t[i - 1] - t[i - 2], d1 = t[i] - t[i - 1];
		ck_assert(d1 * 10 >= d0 * 18 && d1 * 10 <= d0 * 22);
	}
	ck_assert_uint_ge(sim.now - t0, 30 * T_SEC);
	ck_assert_uint_le(sim.now - t0, 300 * T_SEC);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_attempt_fails), 1);
}
END_TEST

START_TEST(fast_retransmit_one_loss)
{
	struct us_sock *cli, *srv;

	pair(&cli, &srv);
	tp.drop_new[tp.ndrop++] = 20;
	transfer(cli, srv, 400000, 4, 10 * T_SEC);
	ck_assert_uint_eq(tp.dropped, 1);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_fast_retrans), 1);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_retrans_segs), 1);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_timeouts), 0);
	ck_assert_uint_ge(ctr(SIM_B, US_CTR_tcp_ooo_segs), 3);
	ck_assert_uint_eq(tinfo(cli).fast_retrans, 1);
	ck_assert_uint_eq(tinfo(cli).retrans_segs, 1);
}
END_TEST

START_TEST(sack_recovery_three_losses)
{
	struct us_sock *cli, *srv;

	pair(&cli, &srv);
	tp.drop_new[tp.ndrop++] = 40;
	tp.drop_new[tp.ndrop++] = 43;
	tp.drop_new[tp.ndrop++] = 46;
	transfer(cli, srv, 600000, 5, 10 * T_SEC);
	ck_assert_uint_eq(tp.dropped, 3);
	ck_assert(tinfo(cli).sack_ok);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_sack_recoveries), 1);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_retrans_segs), 3);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_timeouts), 0);
	ck_assert_uint_ge(ctr(SIM_A, US_CTR_tcp_sack_blocks_rx), 3);
	ck_assert_uint_ge(ctr(SIM_B, US_CTR_tcp_ooo_segs), 3);
}
END_TEST

/* One loss in slow start; ssthresh after it relative to the cwnd just
 * before the retransmission. */
static double loss_ratio(enum us_cc cc)
{
	struct us_sock *cli, *srv;
	struct us_tcp_info ti;
	int v = -1;

	pair(&cli, &srv);
	ck_assert_int_eq(us_setsockopt(cli, US_TCP_CONGESTION, (int)cc), 0);
	ck_assert_int_eq(us_getsockopt(cli, US_TCP_CONGESTION, &v), 0);
	ck_assert_int_eq(v, (int)cc);
	ck_assert_int_eq(tinfo(cli).cc, cc);
	tp.watch = cli;
	tp.drop_new[tp.ndrop++] = 60;
	transfer(cli, srv, 1000000, 6, 10 * T_SEC);
	ck_assert(tp.saw_rexmt);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_timeouts), 0);
	ti = tinfo(cli);
	ck_assert_uint_gt(tp.cwnd_before_rexmt, 0);
	return (double)ti.ssthresh / tp.cwnd_before_rexmt;
}

START_TEST(newreno_halves_on_loss)
{
	double r = loss_ratio(US_CC_NEWRENO);

	ck_assert_msg(r >= 0.4 && r <= 0.6, "NewReno ssthresh/cwnd = %.3f", r);
}
END_TEST

START_TEST(cubic_backs_off_to_0_7)
{
	double r = loss_ratio(US_CC_CUBIC);

	ck_assert_msg(r >= 0.62 && r <= 0.8, "CUBIC ssthresh/cwnd = %.3f", r);
}
END_TEST

/* ---- flow control ------------------------------------------------------------- */

START_TEST(zero_window_persist)
{
	struct us_sock *ls, *cli, *srv;
	struct us_addr a = {0, 80}, to = {SIM_ADDR_B, 80}, peer;
	struct xfer x;
	struct us_iov iov[2];
	int v = 0;
	size_t queued = 0;

	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_setsockopt(ls, US_SO_RCVBUF, 16384), 0);
	ck_assert_int_eq(us_bind(ls, &a), 0);
	ck_assert_int_eq(us_listen(ls, 4), 0);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_accept(ls, &srv, &peer, sim.now), 0);
	ck_assert_int_eq(us_getsockopt(srv, US_SO_RCVBUF, &v), 0);
	ck_assert_int_ge(v, 16384);
	ck_assert_int_le(v, 65536);
	xfer_init(&x, &sim, cli, srv, 1000000, 7);
	x.hold_rx = true;
	xfer_run(&x, sim.now + 20 * T_SEC);
	ck_assert_uint_eq(x.rcvd, 0);
	ck_assert_uint_eq(tinfo(cli).snd_wnd, 0);
	for (int k = us_rx_peek(srv, iov), i = 0; i < k; i++)
		queued += iov[i].len;
	ck_assert_uint_ge(queued, 16384 / 2);
	ck_assert_uint_le(queued, (size_t)v);
	ck_assert_uint_ge(ctr(SIM_A, US_CTR_tcp_zero_window_probes), 3);
	/* The probes are answered, so the connection is not timed out. */
	ck_assert_int_eq(tinfo(cli).state, US_TCP_ESTABLISHED);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_timeouts), 0);
	/* The reader wakes up: the window reopens and everything arrives. */
	x.hold_rx = false;
	ck_assert(xfer_run(&x, sim.now + 60 * T_SEC));
}
END_TEST

/* ---- keepalive ------------------------------------------------------------------ */

static void set_keepalive(struct us_sock *so, int idle, int intvl, int cnt)
{
	int v;

	ck_assert_int_eq(us_setsockopt(so, US_SO_KEEPALIVE, 1), 0);
	ck_assert_int_eq(us_setsockopt(so, US_TCP_KEEPIDLE, idle), 0);
	ck_assert_int_eq(us_setsockopt(so, US_TCP_KEEPINTVL, intvl), 0);
	ck_assert_int_eq(us_setsockopt(so, US_TCP_KEEPCNT, cnt), 0);
	ck_assert_int_eq(us_getsockopt(so, US_TCP_KEEPIDLE, &v), 0);
	ck_assert_int_eq(v, idle);
}

START_TEST(keepalive_times_out_silent_peer)
{
	struct us_sock *cli, *srv;
	uint64_t t0;

	pair(&cli, &srv);
	t0 = sim.now;
	set_keepalive(cli, 2, 1, 3);
	tp.drop_all[SIM_B] = true;
	while (!(us_sock_events(cli) & US_EV_ERR) && sim.now < t0 + 60 * T_SEC)
		sim_run(&sim, 10 * T_MS);
	ck_assert(us_sock_events(cli) & US_EV_ERR);
	ck_assert_int_eq(us_sock_error(cli), ETIMEDOUT);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_keepalive_probes), 3);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_keepalive_timeouts), 1);
	/* idle 2 s + 3 probes 1 s apart */
	ck_assert_msg(sim.now - t0 >= 4500 * T_MS && sim.now - t0 <= 6 * T_SEC,
		      "keepalive gave up after %llu us", (unsigned long long)(sim.now - t0));
	ck_assert_int_eq(tinfo(cli).state, US_TCP_CLOSED);
}
END_TEST

START_TEST(keepalive_answered_keeps_connection)
{
	struct us_sock *cli, *srv;
	unsigned probes = 0, acks = 0;

	pair(&cli, &srv);
	set_keepalive(cli, 2, 1, 3);
	tp.nr = 0;
	sim_run(&sim, 11 * T_SEC);
	for (unsigned i = 0; i < tp.nr; i++) {
		if (tp.r[i].from == SIM_A && tp.r[i].len <= 1)
			probes++;
		if (tp.r[i].from == SIM_B && tp.r[i].len == 0)
			acks++;
	}
	ck_assert_uint_ge(ctr(SIM_A, US_CTR_tcp_keepalive_probes), 4);
	ck_assert_uint_le(ctr(SIM_A, US_CTR_tcp_keepalive_probes), 6);
	ck_assert_uint_ge(acks, 4);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_ESTABLISHED);
	ck_assert_int_eq(us_sock_error(cli), 0);
	/* no data was made up: the peer reads nothing */
	uint8_t b[4];
	ck_assert_int_eq(us_recv(srv, b, sizeof(b), 0, sim.now), -EAGAIN);
	(void)probes;
}
END_TEST

/* ---- Nagle, cork, delayed ACK ---------------------------------------------------- */

static unsigned data_segs_from(int who)
{
	unsigned n = 0;

	for (unsigned i = 0; i < tp.nr; i++)
		if (tp.r[i].from == who && tp.r[i].len)
			n++;
	return n;
}

START_TEST(nagle_nodelay_cork)
{
	struct us_sock *cli, *srv;
	uint8_t buf[64];
	int v = -1;

	pair(&cli, &srv);
	sim_run(&sim, 300 * T_MS);
	/* Nagle (RFC 896 / RFC 1122 §4.2.3.4): one small segment in flight,
	 * the rest waits for its ACK and goes together. */
	tp.nr = 0;
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(us_send(cli, "n", 1, 0, sim.now), 1);
	ck_assert_uint_eq(data_segs_from(SIM_A), 1);
	sim_run(&sim, 300 * T_MS);
	ck_assert_uint_eq(data_segs_from(SIM_A), 2);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), 10);
	sim_run(&sim, 300 * T_MS);
	/* NODELAY: every write is a segment. */
	ck_assert_int_eq(us_setsockopt(cli, US_TCP_NODELAY, 1), 0);
	ck_assert_int_eq(us_getsockopt(cli, US_TCP_NODELAY, &v), 0);
	ck_assert_int_eq(v, 1);
	tp.nr = 0;
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(us_send(cli, "d", 1, 0, sim.now), 1);
	ck_assert_uint_eq(data_segs_from(SIM_A), 10);
	sim_run(&sim, 300 * T_MS);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), 10);
	/* CORK: nothing partial leaves until uncorked. */
	ck_assert_int_eq(us_setsockopt(cli, US_TCP_CORK, 1), 0);
	tp.nr = 0;
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(us_send(cli, "c", 1, 0, sim.now), 1);
	sim_run(&sim, 50 * T_MS);
	ck_assert_uint_eq(data_segs_from(SIM_A), 0);
	ck_assert_int_eq(us_setsockopt(cli, US_TCP_CORK, 0), 0);
	ck_assert_uint_eq(data_segs_from(SIM_A), 1);
	ck_assert_uint_eq(tp.r[tp.nr - 1].len, 10);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), 10);
	ck_assert_mem_eq(buf, "cccccccccc", 10);
}
END_TEST

START_TEST(delayed_ack_two_stacks)
{
	struct us_sock *cli, *srv;
	uint8_t buf[4000];
	uint64_t t0, ta = 0;
	uint32_t mss;

	pair(&cli, &srv);
	transfer(cli, srv, 200000, 8, 5 * T_SEC); /* leave the quick-ACK phase */
	ck_assert_int_eq(us_setsockopt(cli, US_TCP_NODELAY, 1), 0);
	mss = tinfo(cli).snd_mss;
	ck_assert_uint_le(mss, sizeof(buf) / 2);
	memset(buf, 'q', sizeof(buf));
	sim_run(&sim, 50 * T_MS);
	/* one small segment: ACKed late, at most 200 ms after it arrived */
	tp.nr = 0;
	t0 = sim.now;
	ck_assert_int_eq(us_send(cli, buf, 100, 0, sim.now), 100);
	sim_run(&sim, 500 * T_MS);
	for (unsigned i = 0; i < tp.nr; i++)
		if (tp.r[i].from == SIM_B && !tp.r[i].len && !ta)
			ta = tp.r[i].at;
	ck_assert_uint_gt(ta, 0);
	ck_assert_uint_gt(ta, t0 + sim.latency);
	ck_assert_uint_le(ta - (t0 + sim.latency), 200 * T_MS);
	ck_assert_uint_ge(ctr(SIM_B, US_CTR_tcp_delayed_acks), 1);
	/* two full segments: ACKed as soon as the second arrives */
	tp.nr = 0;
	t0 = sim.now;
	ck_assert_int_eq(us_send(cli, buf, 2 * mss, 0, sim.now), (ssize_t)(2 * mss));
	ck_assert_uint_eq(data_segs_from(SIM_A), 2);
	sim_run(&sim, 500 * T_MS);
	ta = 0;
	for (unsigned i = 0; i < tp.nr; i++)
		if (tp.r[i].from == SIM_B && !tp.r[i].len && !ta)
			ta = tp.r[i].at;
	ck_assert_uint_eq(ta, t0 + sim.latency);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), (ssize_t)(100 + 2 * mss));
}
END_TEST

/* ---- TCP_INFO ----------------------------------------------------------------------- */

START_TEST(tcp_info_values)
{
	struct us_sock *cli, *srv;
	struct us_tcp_info ti;

	pair(&cli, &srv);
	ti = tinfo(cli);
	ck_assert_int_eq(ti.state, US_TCP_ESTABLISHED);
	ck_assert(ti.ts_ok && ti.sack_ok && ti.ws_ok);
	ck_assert_uint_ge(ti.snd_mss, 1448); /* 1460 less the timestamp option */
	ck_assert_uint_le(ti.snd_mss, 1460);
	ck_assert_uint_ge(ti.cwnd, 10 * ti.snd_mss); /* RFC 6928 */
	ck_assert_uint_ge(ti.rto, 200 * T_MS);
	ck_assert_uint_le(ti.rto, 1 * T_SEC);
	ck_assert_int_eq(ti.cc, US_CC_CUBIC);
	ck_assert_uint_gt(ti.snd_wnd, 65535); /* scaled */
	ck_assert_uint_gt(ti.rcv_wnd, 0);
	ck_assert_uint_eq(ti.unacked, 0);
	ck_assert(!ti.in_recovery);
	transfer(cli, srv, 1 << 20, 10, 5 * T_SEC);
	sim_run(&sim, 300 * T_MS);
	ti = tinfo(cli);
	ck_assert_uint_gt(ti.rtt, 0);
	ck_assert_uint_lt(ti.rtt, 50 * T_MS);
	ck_assert_uint_lt(ti.rttvar, 50 * T_MS);
	ck_assert_uint_eq(ti.bytes_acked, 1 << 20);
	ck_assert_uint_eq(ti.unacked, 0);
	ck_assert_uint_eq(ti.retrans_segs, 0);
	ck_assert_uint_ge(ti.segs_out, (1 << 20) / 1448);
	ck_assert_uint_gt(ti.segs_in, 0);
	ck_assert_uint_gt(ti.cwnd, 10 * ti.snd_mss); /* grew in slow start */
	ti = tinfo(srv);
	ck_assert_uint_eq(ti.bytes_received, 1 << 20);
	ck_assert_uint_ge(ti.segs_in, (1 << 20) / 1448);
}
END_TEST

/* RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17 and §4.2.3.4: a sender that holds
 * data back because the offered window is zero - or too small to use
 * (sender SWS avoidance) - keeps a timer running (persist / override), so
 * a lost window update cannot deadlock the connection. */
START_TEST(window_update_lost_recovers)
{
	struct us_sock *ls, *cli, *srv;
	struct us_addr a = {0, 80}, to = {SIM_ADDR_B, 80}, peer;
	struct xfer x;

	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_setsockopt(ls, US_SO_RCVBUF, 16384), 0);
	ck_assert_int_eq(us_bind(ls, &a), 0);
	ck_assert_int_eq(us_listen(ls, 4), 0);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_accept(ls, &srv, &peer, sim.now), 0);
	xfer_init(&x, &sim, cli, srv, 200000, 11);
	x.hold_rx = true;
	xfer_run(&x, sim.now + 2 * T_SEC);
	/* The reader drains the buffer; its window update is lost. */
	tp.drop_acks_until[SIM_B] = sim.now + 1 * T_MS;
	x.hold_rx = false;
	ck_assert_msg(xfer_run(&x, sim.now + 30 * T_SEC),
		      "stalled at %llu of 200000 bytes: A sees window %u, B queued nothing",
		      (unsigned long long)x.rcvd, tinfo(cli).snd_wnd);
}
END_TEST

/* Loss in both directions at once: data segments then carry SACK blocks
 * (the sender is a receiver too) and must still fit the MTU. */
START_TEST(bidirectional_with_loss)
{
	struct us_sock *cli, *srv;
	struct xfer ab, ba;
	struct xfer *xs[2] = {&ab, &ba};

	pair(&cli, &srv);
	sim.loss_pct = 3;
	xfer_init(&ab, &sim, cli, srv, 2000000, 12);
	xfer_init(&ba, &sim, srv, cli, 2000000, 13);
	ck_assert_msg(xfer_run_many(xs, 2, sim.now + 120 * T_SEC),
		      "A->B %llu B->A %llu of 2000000; errors %d %d; ip4_drop_too_big A %llu B %llu",
		      (unsigned long long)ab.rcvd, (unsigned long long)ba.rcvd, ab.rx_err, ba.rx_err,
		      (unsigned long long)ctr(SIM_A, US_CTR_ip4_drop_too_big),
		      (unsigned long long)ctr(SIM_B, US_CTR_ip4_drop_too_big));
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_ip4_drop_too_big), 0);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_ip4_drop_too_big), 0);
}
END_TEST

/* A receive-window-limited sender does not inflate cwnd without bound
 * (RFC 7661's motivation; draft-ietf-ccwg-ratelimited-increase: cwnd at
 * most 2 * FlightSize when rate-limited, as Linux's tcp_is_cwnd_limited). */
START_TEST(cwnd_bounded_when_rwnd_limited)
{
	struct us_sock *cli, *srv;
	struct us_tcp_info ti;

	struct us_ring_state rs;

	pair(&cli, &srv);
	transfer(cli, srv, 32u << 20, 14, 30 * T_SEC);
	ti = tinfo(cli);
	/* The flight never exceeds the receiver's buffer (its largest
	 * window); the window it shows at any moment may be smaller (it
	 * announces reads only when half of it is used up). */
	ck_assert_int_eq(us_ring_state(srv, &rs), 0);
	ck_assert_msg(ti.cwnd <= 2 * rs.rx_size + 10 * ti.snd_mss,
		      "cwnd %u with a peer buffer of %u (window now %u)", ti.cwnd, rs.rx_size,
		      ti.snd_wnd);
}
END_TEST

/* Readiness: writable clears when the send buffer is full and comes back
 * (with a notification) when ACKs free it; readable fires on data. */
START_TEST(send_buffer_and_events)
{
	struct us_sock *ls, *cli, *srv;
	struct us_addr a = {0, 80}, to = {SIM_ADDR_B, 80}, peer;
	struct evrec cev = {0}, sev = {0};
	static uint8_t buf[1 << 20];
	int v = 0;
	ssize_t n;

	/* (buffer sizes are set before the connection: the stack sizes its
	 * rings when the connection is made) */
	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_bind(ls, &a), 0);
	ck_assert_int_eq(us_listen(ls, 4), 0);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	ck_assert_int_eq(us_setsockopt(cli, US_SO_SNDBUF, 16384), 0);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	sim_run(&sim, 10 * T_MS);
	ck_assert_int_eq(us_accept(ls, &srv, &peer, sim.now), 0);
	ck_assert_int_eq(us_getsockopt(cli, US_SO_SNDBUF, &v), 0);
	ck_assert_int_ge(v, 16384);
	ck_assert_int_le(v, 65536);
	us_sock_set_notify(cli, ev_cb, &cev);
	us_sock_set_notify(srv, ev_cb, &sev);
	n = us_send(cli, buf, sizeof(buf), 0, sim.now);
	ck_assert_int_gt(n, 0);
	ck_assert_int_le(n, v);
	ck_assert_int_eq(us_send(cli, buf, 1, 0, sim.now), -EAGAIN);
	ck_assert(!(us_sock_events(cli) & US_EV_OUT));
	cev.mask = 0;
	sim_run(&sim, 10 * T_MS);
	ck_assert(sev.mask & US_EV_IN);
	ck_assert(us_sock_events(srv) & US_EV_IN);
	ck_assert(cev.mask & US_EV_OUT); /* notified when space came back */
	ck_assert(us_sock_events(cli) & US_EV_OUT);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), n);
	ck_assert(!(us_sock_events(srv) & US_EV_IN));
}
END_TEST

int main(void)
{
	Suite *su = suite_create("sim_tcp");
	SRunner *sr;
	int nf;

/* One test case per test, so CK_RUN_CASE=name runs just that one. */
#define ADD(fn)                                                                \
	do {                                                                   \
		TCase *tc_ = tcase_create(#fn);                                \
		tcase_add_checked_fixture(tc_, setup, teardown);                   \
		tcase_set_timeout(tc_, 60);                                    \
		tcase_add_test(tc_, fn);                                       \
		suite_add_tcase(su, tc_);                                      \
	} while (0)
	ADD(handshake_and_events);
	ADD(ephemeral_ports_random);
	ADD(ephemeral_ports_cycle);
	ADD(connect_refused);
	ADD(simultaneous_open);
	ADD(many_connections);
	ADD(data_both_ways_exact);
	ADD(half_close);
	ADD(graceful_close_time_wait_custom);
	ADD(time_wait_default_60s);
	ADD(simultaneous_close);
	ADD(defer_accept_waits_for_data);
	ADD(close_with_unread_data_resets);
	ADD(linger_zero_resets);
	ADD(data_to_forgotten_connection_gets_rst);
	ADD(listener_close_resets_unaccepted);
	ADD(rto_exponential_backoff);
	ADD(user_timeout_gives_up);
	ADD(syn_retries_give_up);
	ADD(fast_retransmit_one_loss);
	ADD(sack_recovery_three_losses);
	ADD(newreno_halves_on_loss);
	ADD(cubic_backs_off_to_0_7);
	ADD(zero_window_persist);
	ADD(keepalive_times_out_silent_peer);
	ADD(keepalive_answered_keeps_connection);
	ADD(nagle_nodelay_cork);
	ADD(delayed_ack_two_stacks);
	ADD(tcp_info_values);
	ADD(window_update_lost_recovers);
	ADD(bidirectional_with_loss);
	ADD(cwnd_bounded_when_rwnd_limited);
	ADD(send_buffer_and_events);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
