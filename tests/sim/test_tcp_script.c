/* test_tcp_script.c - scripted segment tests in the spirit of packetdrill:
 * the test plays the peer of stack B, injects crafted segments and checks
 * the exact segments B answers with (flags, seq, ack, window, options).
 * References: RFC 9293 (state machine, §3.10.7 segment arrival), RFC 5961
 * (blind attacks), RFC 7323 (window scale, timestamps, PAWS), RFC 2018 and
 * RFC 6675 (SACK), RFC 5681 / RFC 6582 (fast retransmit, NewReno),
 * RFC 6928 (initial window), RFC 4987 (SYN cookies), RFC 1122 (delayed
 * ACK, zero-window probing). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsim.h"
#include "tcpscript.h"

static struct tscript T;
static struct us_sock *LS; /* listener on B:80 when a test made one */

static void setup(void)
{
	ts_init(&T, 7);
	LS = NULL;
}
static void teardown(void) { ts_free(&T); }

static struct us_tcp_info tinfo(struct us_sock *so)
{
	struct us_tcp_info ti;

	memset(&ti, 0, sizeof(ti));
	ck_assert_int_eq(us_tcp_info(so, &ti), 0);
	return ti;
}

static uint64_t ctr(enum us_ctr c) { return sim_ctr(&T.sim, TS_DUT, c); }

/* Next captured segment, which must exist. */
static struct ts_seg *must_next(const char *what)
{
	struct ts_seg *s = ts_next(&T);

	ck_assert_msg(s != NULL, "expected a segment: %s", what);
	return s;
}

#define NOPSH(s) ((s)->th.flags & (uint8_t)~TCP_PSH)

/* Accepted connection on B:80 from A:pport with the given SYN options. */
static struct us_sock *estab(const struct tcp_opts *syn)
{
	if (!LS)
		LS = ts_listen(&T, 80, 16);
	return ts_accept_flow(&T, LS, syn, 1000000, NULL);
}

static struct us_sock *estab_full(void)
{
	struct tcp_opts o = ts_full_syn_opts(1460);

	return estab(&o);
}

/* MSS-only SYN: no SACK, no timestamps, no window scaling. */
static struct us_sock *estab_plain(uint16_t mss)
{
	struct tcp_opts o;

	memset(&o, 0, sizeof(o));
	o.has_mss = true;
	o.mss = mss;
	return estab(&o);
}

static void fill(uint8_t *b, size_t n, unsigned k)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 31 + k);
}

/* A small receiver: take the DUT's data from seq `from` on, in any order,
 * ACKing what arrived - cumulatively, with a SACK block for data above a
 * hole when `sack` - until `want` bytes are in `out` (the tail of a write
 * may wait for an ACK: Nagle).  Each data segment must carry at most
 * max_len bytes, a timestamp if ts, and no options at all if bare. */
static void collect_opt(uint32_t from, uint8_t *out, size_t want, uint32_t max_len, bool ts,
			bool bare, bool sack)
{
	static uint8_t have[1 << 16];
	size_t got = 0;

	ck_assert_uint_le(want, sizeof(have));
	memset(have, 0, want);
	for (int round = 0; round < 3000 && got < want; round++) {
		struct ts_seg *s;
		struct tcp_opts o;

		while ((s = ts_next(&T)) != NULL) {
			uint32_t off = s->th.seq - from;

			if (!s->len)
				continue;
			ck_assert_uint_le(s->len, max_len);
			if (ts)
				ck_assert(s->th.opt.has_ts);
			if (bare)
				ck_assert_uint_eq(s->th.hlen, TCP_HLEN);
			ck_assert_msg(off < want && off + s->len <= want,
				      "segment %u+%u outside the expected range", off, s->len);
			memcpy(out + off, s->data, s->len);
			memset(have + off, 1, s->len);
		}
		while (got < want && have[got])
			got++;
		o = ts_opts(&T);
		if (sack && got < want) {
			size_t a = got, b;

			while (a < want && !have[a])
				a++;
			for (b = a; b < want && have[b]; b++)
				;
			if (a < want) {
				o.nsack = 1;
				o.sack[0].start = from + (uint32_t)a;
				o.sack[0].end = from + (uint32_t)b;
			}
		}
		ts_send(&T, TCP_ACK, T.snd_nxt, from + (uint32_t)got, T.win, &o, NULL, 0);
		ts_run(&T, 1 * T_MS);
	}
	ck_assert_msg(got == want, "received %zu of %zu bytes", got, want);
}

static void collect(uint32_t from, uint8_t *out, size_t want, uint32_t max_len, bool ts,
		    bool bare)
{
	collect_opt(from, out, want, max_len, ts, bare, !bare);
}

/* ---- closed ports ------------------------------------------------------ */

START_TEST(closed_port_resets)
{
	struct ts_seg *s;
	struct tcp_opts none;
	uint8_t d[10] = {0};

	memset(&none, 0, sizeof(none));
	T.dport = 81;
	/* RFC 9293 §3.10.7.1: no ACK bit -> <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK> */
	ts_send(&T, TCP_SYN, 1000, 0, 65535, &none, NULL, 0);
	s = must_next("RST for SYN");
	ck_assert_uint_eq(s->th.flags, TCP_RST | TCP_ACK);
	ck_assert_uint_eq(s->th.seq, 0);
	ck_assert_uint_eq(s->th.ack, 1001);
	ck_assert_uint_eq(s->th.sport, 81);
	ck_assert_uint_eq(s->th.dport, T.pport);
	ck_assert_uint_eq(s->len, 0);
	/* ACK bit set -> <SEQ=SEG.ACK><CTL=RST> */
	ts_send(&T, TCP_ACK | TCP_PSH, 77, 5555, 65535, &none, d, sizeof(d));
	s = must_next("RST for ACK");
	ck_assert_uint_eq(s->th.flags, TCP_RST);
	ck_assert_uint_eq(s->th.seq, 5555);
	/* FIN with data and no ACK: SEG.LEN counts data and FIN */
	ts_send(&T, TCP_FIN, 500, 0, 65535, &none, d, sizeof(d));
	s = must_next("RST for FIN");
	ck_assert_uint_eq(s->th.flags, TCP_RST | TCP_ACK);
	ck_assert_uint_eq(s->th.ack, 500 + 10 + 1);
	/* A reset is never answered. */
	ts_send(&T, TCP_RST, 1, 0, 0, &none, NULL, 0);
	ts_send(&T, TCP_RST | TCP_ACK, 1, 1, 0, &none, NULL, 0);
	ts_run(&T, 10 * T_MS);
	ck_assert_uint_eq(ts_pending(&T), 0);
	ck_assert_uint_eq(ctr(US_CTR_tcp_tx_rst), 3);
}
END_TEST

/* ---- option negotiation ------------------------------------------------- */

START_TEST(synack_full_options)
{
	struct tcp_opts o = ts_full_syn_opts(1460);
	struct ts_seg sa;
	struct us_sock *so;
	struct us_tcp_info ti;

	LS = ts_listen(&T, 80, 16);
	so = ts_accept_flow(&T, LS, &o, 5000, &sa);
	ck_assert(sa.th.opt.has_mss);
	ck_assert_uint_eq(sa.th.opt.mss, 1460); /* MTU 1500 - 40 */
	ck_assert(sa.th.opt.has_ws);
	ck_assert_uint_le(sa.th.opt.ws, 14);
	ck_assert(sa.th.opt.sack_perm);
	ck_assert(sa.th.opt.has_ts);
	ck_assert_uint_eq(sa.th.opt.tsecr, 1000);
	ck_assert_uint_gt(sa.th.win, 0);
	ck_assert_uint_eq(sa.len, 0);
	ti = tinfo(so);
	ck_assert_int_eq(ti.state, US_TCP_ESTABLISHED);
	ck_assert(ti.ws_ok && ti.ts_ok && ti.sack_ok);
	ck_assert_uint_eq(ti.snd_wscale, 7);
	ck_assert_uint_eq(ti.rcv_wscale, sa.th.opt.ws);
	ck_assert_uint_ge(ti.snd_mss, 1448);
	ck_assert_uint_le(ti.snd_mss, 1460);
	/* RFC 7323 §3.2: every segment carries a timestamp once negotiated,
	 * and data segments fit the MSS minus the option. */
	static uint8_t buf[5000];
	fill(buf, sizeof(buf), 1);
	ck_assert_int_eq(us_send(so, buf, sizeof(buf), 0, T.sim.now), (ssize_t)sizeof(buf));
	struct ts_seg *s = ts_next(&T);
	ck_assert_ptr_nonnull(s);
	ck_assert(s->th.opt.has_ts);
	ck_assert_uint_eq(s->th.opt.tsecr, T.tsval - 1); /* echoes our last */
	ck_assert_uint_eq(s->th.seq, T.rcv_nxt);
	ck_assert_uint_eq(s->len, 1448);
	ck_assert_mem_eq(s->data, buf, 1448);
	static uint8_t rest[5000];
	collect(T.rcv_nxt + 1448, rest, sizeof(buf) - 1448, 1448, true, false);
	ck_assert_mem_eq(rest, buf + 1448, sizeof(buf) - 1448);
}
END_TEST

START_TEST(synack_no_options_gets_none)
{
	struct tcp_opts none;
	struct ts_seg sa;
	struct us_sock *so;
	struct us_tcp_info ti;
	static uint8_t buf[2000];

	memset(&none, 0, sizeof(none));
	LS = ts_listen(&T, 80, 16);
	so = ts_accept_flow(&T, LS, &none, 5000, &sa);
	/* Our MSS is always announced; nothing else unless offered. */
	ck_assert(sa.th.opt.has_mss);
	ck_assert(!sa.th.opt.has_ws);
	ck_assert(!sa.th.opt.sack_perm);
	ck_assert(!sa.th.opt.has_ts);
	ti = tinfo(so);
	ck_assert(!ti.ws_ok && !ti.ts_ok && !ti.sack_ok);
	/* RFC 9293 §3.7.1: no MSS option means 536. */
	ck_assert_uint_eq(ti.snd_mss, 536);
	fill(buf, sizeof(buf), 2);
	ck_assert_int_eq(us_send(so, buf, sizeof(buf), 0, T.sim.now), (ssize_t)sizeof(buf));
	static uint8_t out[2000];
	collect(T.rcv_nxt, out, sizeof(buf), 536, false, true); /* no options at all */
	ck_assert_mem_eq(out, buf, sizeof(buf));
}
END_TEST

START_TEST(synack_echoes_only_offered_options)
{
	struct {
		bool ws, sack, ts;
	} cases[] = {{true, false, false}, {false, true, false}, {false, false, true},
		     {false, true, true},  {true, false, true},  {true, true, false}};

	LS = ts_listen(&T, 80, 64);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcp_opts o;
		struct ts_seg *s;

		memset(&o, 0, sizeof(o));
		o.has_mss = true;
		o.mss = 1400;
		o.has_ws = cases[i].ws;
		o.ws = 5;
		o.sack_perm = cases[i].sack;
		o.has_ts = cases[i].ts;
		o.tsval = 777 + i;
		ts_send_from(&T, (uint16_t)(42000 + i), TCP_SYN, 100 * i, 0, 65535, &o, NULL, 0);
		s = must_next("SYN/ACK");
		ck_assert_uint_eq(s->th.flags, TCP_SYN | TCP_ACK);
		ck_assert_uint_eq(s->th.dport, 42000 + i);
		ck_assert_uint_eq(s->th.ack, 100 * i + 1);
		ck_assert(s->th.opt.has_mss);
		ck_assert_msg(s->th.opt.has_ws == cases[i].ws, "case %u: WS echo %d", i,
			      s->th.opt.has_ws);
		ck_assert_msg(s->th.opt.sack_perm == cases[i].sack, "case %u: SACK-permitted %d", i,
			      s->th.opt.sack_perm);
		ck_assert_msg(s->th.opt.has_ts == cases[i].ts, "case %u: TS %d", i,
			      s->th.opt.has_ts);
		if (cases[i].ts)
			ck_assert_uint_eq(s->th.opt.tsecr, 777 + i);
	}
}
END_TEST

START_TEST(window_scale_clamped_to_14)
{
	struct tcp_opts o = ts_full_syn_opts(1460);
	struct us_sock *so;
	struct us_tcp_info ti;

	o.ws = 15; /* RFC 7323 §2.3: use 14 */
	so = estab(&o);
	ti = tinfo(so);
	ck_assert(ti.ws_ok);
	ck_assert_uint_eq(ti.snd_wscale, 14);
	/* A raw window of 1 now means 16384 bytes, not 32768. */
	ts_send(&T, TCP_ACK, T.snd_nxt, T.rcv_nxt, 1, NULL, NULL, 0);
	ti = tinfo(so);
	ck_assert_uint_eq(ti.snd_wnd, 16384);
}
END_TEST

START_TEST(mss_clamped_by_mtu)
{
	struct tcp_opts o = ts_full_syn_opts(9000);
	struct us_sock *so = estab(&o);
	static uint8_t buf[8000], out[8000];

	ck_assert_uint_le(tinfo(so).snd_mss, 1460);
	fill(buf, sizeof(buf), 3);
	ck_assert_int_eq(us_send(so, buf, sizeof(buf), 0, T.sim.now), (ssize_t)sizeof(buf));
	ts_run(&T, 1 * T_MS);
	/* 1500 - 20 - 20 - 12 (TS) */
	collect(T.rcv_nxt, out, sizeof(buf), 1448, true, false);
	ck_assert_mem_eq(out, buf, sizeof(buf));
	ck_assert_uint_eq(T.other, 0); /* and nothing had to be fragmented */
}
END_TEST

START_TEST(active_open_options_follow_synack)
{
	struct tcp_opts o;
	struct ts_seg syn;
	struct us_sock *so;
	struct us_tcp_info ti;
	static uint8_t buf[3000];
	struct ts_seg *s;

	memset(&o, 0, sizeof(o));
	o.has_mss = true;
	o.mss = 1000;
	so = ts_connect_flow(&T, &o, 70000, &syn);
	/* Our SYN offers everything. */
	ck_assert(syn.th.opt.has_mss);
	ck_assert_uint_eq(syn.th.opt.mss, 1460);
	ck_assert(syn.th.opt.has_ws);
	ck_assert(syn.th.opt.sack_perm);
	ck_assert(syn.th.opt.has_ts);
	ck_assert_uint_ge(syn.th.sport, 1024);
	/* The peer took none of them: none are used. */
	ti = tinfo(so);
	ck_assert_int_eq(ti.state, US_TCP_ESTABLISHED);
	ck_assert(!ti.ws_ok && !ti.ts_ok && !ti.sack_ok);
	ck_assert_uint_eq(ti.snd_mss, 1000);
	fill(buf, sizeof(buf), 4);
	ck_assert_int_eq(us_send(so, buf, sizeof(buf), 0, T.sim.now), (ssize_t)sizeof(buf));
	ts_run(&T, 1 * T_MS);
	s = must_next("data");
	ck_assert_uint_eq(s->th.hlen, TCP_HLEN);
	ck_assert_uint_eq(s->len, 1000);
	ck_assert_uint_eq(s->th.seq, T.rcv_nxt);
	/* The unscaled window of the peer's SYN/ACK is what the stack
	 * obeys: 65535 raw. */
	ck_assert_uint_eq(tinfo(so).snd_wnd, 65535);
}
END_TEST

/* Regression: an active open offers its SYN window while rcv_nxt is still
 * unknown; the right edge must move to IRS + 1 + that window when the
 * SYN/ACK arrives.  It used to stay at 0 + window, so with an IRS just
 * past 2^31 the "never shrink the window" rule saw a 2 GiB offer and kept
 * advertising the largest window while the ring filled: the peer's data
 * beyond the ring was dropped (iperf3 -R under the shim ran at 30 Mbit/s).
 * Here the peer fills the window without the program reading: every ACK's
 * right edge stays within the ring, nothing is dropped, the window closes. */
#define SQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
START_TEST(active_open_window_edge_follows_irs)
{
	struct tcp_opts o = ts_full_syn_opts(1000);
	struct ts_seg syn, *s;
	struct us_sock *so;
	static uint8_t buf[1000];
	uint32_t irs = 0x80001000u, edge, limit, sent = 0;
	unsigned ws;
	int rcvbuf = 0;

	so = ts_connect_flow(&T, &o, irs, &syn);
	ws = syn.th.opt.ws;
	ck_assert_int_eq(us_getsockopt(so, US_SO_RCVBUF, &rcvbuf), 0);
	ck_assert_int_gt(rcvbuf, 0);
	/* The whole free ring is offered, and no more. */
	ck_assert_uint_le(tinfo(so).rcv_wnd, (uint32_t)rcvbuf);
	edge = irs + 1 + tinfo(so).rcv_wnd;
	limit = irs + 1 + (uint32_t)rcvbuf;
	fill(buf, sizeof(buf), 9);
	for (int round = 0; round < 200; round++) {
		uint32_t adv_edge = 0;
		bool any = false;

		while (SQ_LEQ(T.snd_nxt + sizeof(buf), edge))
			ts_send_data(&T, TCP_ACK, buf, sizeof(buf)), sent += sizeof(buf);
		ts_run(&T, 200 * T_MS);
		while ((s = ts_next(&T)) != NULL) {
			if (!(s->th.flags & TCP_ACK))
				continue;
			adv_edge = s->th.ack + ((uint32_t)s->th.win << ws);
			any = true;
			ck_assert_msg(SQ_LEQ(adv_edge, limit),
				      "window edge %u beyond the ring's end %u", adv_edge - irs,
				      limit - irs);
		}
		if (!any || SQ_LEQ(adv_edge, edge))
			break;
		edge = adv_edge;
	}
	ck_assert_uint_eq(ctr(US_CTR_tcp_drop_out_of_window), 0);
	ck_assert_uint_eq(ctr(US_CTR_tcp_rcv_wnd_clamped), 0);
	/* The ring filled up to its last segment, never past it. */
	ck_assert_uint_ge(sent, (uint32_t)rcvbuf - 2 * sizeof(buf));
	ck_assert_uint_le(sent, (uint32_t)rcvbuf);
}
END_TEST

/* RFC 9293 §3.8.6 / RFC 7323 §2.2: after an active open the window we
 * advertise is measured from the peer's ISN + 1 and never exceeds the
 * receive ring, whatever that ISN is.  (A stale right edge from before
 * the SYN/ACK once let the window sit at 65535 << wscale over a 256 KiB
 * ring for about half of all ISNs: the kernel sent past the ring, the
 * excess was dropped and retransmitted after timeouts.) */
START_TEST(active_open_window_bounded_by_ring)
{
	static const uint32_t isns[] = { 0xc0000000u, 1000u, 0x7fff0000u, 0x80001000u,
					 0xffff0000u, 0u, 70000u };
	static uint8_t buf[1000];

	for (unsigned i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
		struct tcp_opts o = ts_full_syn_opts(1460);
		struct us_sock *so;
		struct us_tcp_info ti;
		struct ts_seg *s;
		int rcvbuf = 0;

		T.pport = (uint16_t)(41000 + i);
		so = ts_connect_flow(&T, &o, isns[i], NULL);
		ck_assert_int_eq(us_getsockopt(so, US_SO_RCVBUF, &rcvbuf), 0);
		ti = tinfo(so);
		ck_assert_msg(ti.rcv_wnd > 0 && ti.rcv_wnd <= (uint32_t)rcvbuf,
			      "ISN %#x: window %u, ring %d", isns[i], ti.rcv_wnd, rcvbuf);
		fill(buf, sizeof(buf), i);
		ts_send_data(&T, TCP_ACK | TCP_PSH, buf, sizeof(buf));
		ts_run(&T, 1 * T_MS);
		s = must_next("ACK of the first data");
		ck_assert_uint_eq(s->th.ack, T.snd_nxt);
		ck_assert_msg(((uint32_t)s->th.win << ti.rcv_wscale) <= (uint32_t)rcvbuf - sizeof(buf),
			      "ISN %#x: ACK offers %u << %u over a ring of %d with %zu bytes in it",
			      isns[i], s->th.win, ti.rcv_wscale, rcvbuf, sizeof(buf));
		ts_flush(&T);
		us_close(so, T.sim.now);
		ts_run(&T, 1 * T_MS);
		ts_flush(&T);
	}
	ck_assert_uint_eq(ctr(US_CTR_tcp_rcv_wnd_clamped), 0);
	ck_assert_uint_eq(ctr(US_CTR_tcp_drop_out_of_window), 0);
}
END_TEST

/* ---- SYN-SENT ------------------------------------------------------------ */

START_TEST(syn_sent_rst_handling)
{
	struct us_sock *so;
	struct us_addr to = {SIM_ADDR_A, 40000};
	struct ts_seg *syn, *s;
	struct tcp_opts none;
	uint32_t iss;

	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(us_socket(T.sim.st[TS_DUT], US_SOCK_STREAM, &so), 0);
	ck_assert_int_eq(us_connect(so, &to, T.sim.now), -EINPROGRESS);
	ts_run(&T, 1 * T_MS);
	syn = must_next("SYN");
	iss = syn->th.seq;
	T.dport = syn->th.sport;
	/* RFC 9293 §3.10.7.3: an ACK that does not acknowledge our SYN gets
	 * <SEQ=SEG.ACK><CTL=RST> and is otherwise dropped. */
	ts_send(&T, TCP_ACK, 9, iss + 100, 65535, &none, NULL, 0);
	s = must_next("RST for a bad ACK in SYN-SENT");
	ck_assert_uint_eq(s->th.flags, TCP_RST);
	ck_assert_uint_eq(s->th.seq, iss + 100);
	/* A RST whose ACK is unacceptable is ignored (RFC 5961 §3 too). */
	ts_send(&T, TCP_RST | TCP_ACK, 0, iss + 5, 0, &none, NULL, 0);
	ck_assert_int_eq(tinfo(so).state, US_TCP_SYN_SENT);
	ck_assert_uint_eq(ts_pending(&T), 0);
	/* A RST without ACK is ignored in SYN-SENT. */
	ts_send(&T, TCP_RST, 0, 0, 0, &none, NULL, 0);
	ck_assert_int_eq(tinfo(so).state, US_TCP_SYN_SENT);
	/* The acceptable RST refuses the connection. */
	ts_send(&T, TCP_RST | TCP_ACK, 0, iss + 1, 0, &none, NULL, 0);
	ts_run(&T, 1 * T_MS);
	ck_assert(us_sock_events(so) & US_EV_ERR);
	ck_assert_int_eq(us_sock_error(so), ECONNREFUSED);
	ck_assert_int_eq(tinfo(so).state, US_TCP_CLOSED);
	ck_assert_uint_eq(ts_pending(&T), 0);
	/* and no SYN retransmission follows */
	ts_run(&T, 5 * T_SEC);
	ck_assert_uint_eq(ts_pending(&T), 0);
}
END_TEST

/* ---- RFC 5961 ------------------------------------------------------------ */

START_TEST(rst_in_window_gets_challenge_ack)
{
	struct us_sock *so = estab_full();
	struct ts_seg *s;
	struct tcp_opts none;
	uint8_t buf[16];

	memset(&none, 0, sizeof(none));
	ts_flush(&T);
	/* §3.2: in the window but not exactly RCV.NXT: challenge ACK. */
	ts_send(&T, TCP_RST, T.snd_nxt + 100, 0, 0, &none, NULL, 0);
	s = must_next("challenge ACK");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.seq, T.rcv_nxt);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	ck_assert_uint_eq(ctr(US_CTR_tcp_challenge_acks), 1);
	ck_assert_uint_eq(ts_pending(&T), 0);
	/* Outside the window: silently dropped. */
	ts_send(&T, TCP_RST, T.snd_nxt + 0x40000000u, 0, 0, &none, NULL, 0);
	ts_send(&T, TCP_RST, T.snd_nxt - 10, 0, 0, &none, NULL, 0);
	ts_run(&T, 1 * T_MS);
	ck_assert_uint_eq(ts_pending(&T), 0);
	/* The connection survived: data still flows. */
	ck_assert_int_eq(tinfo(so).state, US_TCP_ESTABLISHED);
	ts_send_data(&T, TCP_ACK | TCP_PSH, "alive", 5);
	ck_assert_int_eq(us_recv(so, buf, sizeof(buf), 0, T.sim.now), 5);
	ck_assert_mem_eq(buf, "alive", 5);
	ck_assert_int_eq(us_send(so, "ok", 2, 0, T.sim.now), 2);
	ts_run(&T, 300 * T_MS);
	do
		s = must_next("data after the RST");
	while (!s->len); /* skip the ACK of "alive" */
	ck_assert_uint_eq(s->len, 2);
	ck_assert_mem_eq(s->data, "ok", 2);
	ck_assert_uint_eq(ctr(US_CTR_tcp_estab_resets), 0);
}
END_TEST

START_TEST(rst_exact_seq_resets)
{
	struct us_sock *so = estab_full();
	struct tcp_opts none;
	uint8_t buf[16];

	memset(&none, 0, sizeof(none));
	ts_flush(&T);
	ts_send(&T, TCP_RST, T.snd_nxt, 0, 0, &none, NULL, 0);
	ts_run(&T, 1 * T_MS);
	ck_assert_uint_eq(ts_pending(&T), 0); /* a RST is never answered */
	ck_assert(us_sock_events(so) & US_EV_ERR);
	ck_assert(us_sock_events(so) & US_EV_HUP);
	ck_assert_int_eq(tinfo(so).state, US_TCP_CLOSED);
	ck_assert_int_eq(us_recv(so, buf, sizeof(buf), 0, T.sim.now), -ECONNRESET);
	ck_assert_int_eq(us_send(so, "x", 1, 0, T.sim.now), -EPIPE);
	ck_assert_uint_eq(ctr(US_CTR_tcp_rx_rst), 1);
	ck_assert_uint_eq(ctr(US_CTR_tcp_estab_resets), 1);
	/* Later segments of the dead flow meet a closed port. */
	ts_send_data(&T, TCP_ACK, "late", 4);
	struct ts_seg *s = must_next("RST for a segment of the dead flow");
	ck_assert_uint_eq(s->th.flags, TCP_RST);
	ck_assert_uint_eq(s->th.seq, T.rcv_nxt);
}
END_TEST

START_TEST(syn_in_established_gets_challenge_ack)
{
	struct us_sock *so = estab_full();
	struct ts_seg *s;
	struct tcp_opts o = ts_full_syn_opts(1460);

	ts_flush(&T);
	/* RFC 5961 §4 (RFC 9293 §3.10.7.4): any SYN in a synchronized
	 * state, in window or not, gets a challenge ACK. */
	o.tsval = T.tsval++;
	ts_send(&T, TCP_SYN, T.snd_nxt + 10, 0, 65535, &o, NULL, 0);
	s = must_next("challenge ACK for SYN");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.seq, T.rcv_nxt);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	o.tsval = T.tsval++;
	ts_send(&T, TCP_SYN, T.snd_nxt - 1, 0, 65535, &o, NULL, 0); /* the old SYN again */
	s = must_next("challenge ACK for a retransmitted SYN");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	/* (the old SYN is also outside the window: its ACK may come from
	 * the acceptability test, RFC 9293 §3.10.7.4 first check) */
	ck_assert_uint_ge(ctr(US_CTR_tcp_challenge_acks), 1);
	ck_assert_uint_eq(ctr(US_CTR_tcp_tx_rst), 0);
	ck_assert_int_eq(tinfo(so).state, US_TCP_ESTABLISHED);
}
END_TEST

START_TEST(ack_of_unsent_data_dropped_with_ack)
{
	struct us_sock *so = estab_full();
	struct ts_seg *s;
	struct tcp_opts o;
	uint8_t buf[16];

	ts_flush(&T);
	/* RFC 9293 §3.10.7.4 / RFC 5961 §5.2: SEG.ACK > SND.NXT: send an
	 * ACK, drop the segment (its data too). */
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK | TCP_PSH, T.snd_nxt, T.rcv_nxt + 1000, 65535, &o, "abc", 3);
	s = must_next("ACK for an ACK of unsent data");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.seq, T.rcv_nxt);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	ck_assert_int_eq(us_recv(so, buf, sizeof(buf), 0, T.sim.now), -EAGAIN);
	/* Too old: below SND.UNA - MAX.SND.WND (the window was 65535 << 7). */
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK | TCP_PSH, T.snd_nxt, T.rcv_nxt - (65535u << 7) - 100000, 65535, &o,
		"def", 3);
	s = must_next("ACK for a too-old ACK");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	ck_assert_int_eq(us_recv(so, buf, sizeof(buf), 0, T.sim.now), -EAGAIN);
	ck_assert_int_eq(tinfo(so).state, US_TCP_ESTABLISHED);
	/* The same data with a good ACK is taken. */
	ts_send_data(&T, TCP_ACK | TCP_PSH, "abc", 3);
	ck_assert_int_eq(us_recv(so, buf, sizeof(buf), 0, T.sim.now), 3);
}
END_TEST

START_TEST(segment_outside_window_acked_and_dropped)
{
	struct us_sock *so = estab_full();
	struct ts_seg *s;
	struct tcp_opts o;
	static uint8_t buf[400], in[400];

	fill(buf, sizeof(buf), 5);
	ts_send_data(&T, TCP_ACK | TCP_PSH, buf, 200);
	ck_assert_int_eq(us_recv(so, in, sizeof(in), 0, T.sim.now), 200);
	ts_run(&T, 500 * T_MS); /* let any delayed ACK go */
	ts_flush(&T);
	/* Far beyond the window. */
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, T.snd_nxt + 0x20000000u, T.rcv_nxt, 65535, &o, buf, 100);
	s = must_next("ACK for an out-of-window segment");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	ck_assert_uint_eq(s->len, 0);
	/* Entirely old (a duplicate): acknowledged at once, not delivered. */
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, T.snd_nxt - 150, T.rcv_nxt, 65535, &o, buf + 50, 100);
	s = must_next("duplicate ACK for old data");
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	ck_assert_int_eq(us_recv(so, in, sizeof(in), 0, T.sim.now), -EAGAIN);
	/* Partly old: the new part is taken, exactly once. */
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, T.snd_nxt - 100, T.rcv_nxt, 65535, &o, buf + 100, 200);
	T.snd_nxt += 100;
	ck_assert_int_eq(us_recv(so, in, sizeof(in), 0, T.sim.now), 100);
	ck_assert_mem_eq(in, buf + 200, 100);
	ck_assert_uint_ge(ctr(US_CTR_tcp_drop_out_of_window) + ctr(US_CTR_tcp_dup_data_segs), 2);
}
END_TEST

/* ---- RFC 7323 PAWS --------------------------------------------------------- */

START_TEST(paws_drops_old_timestamp)
{
	struct us_sock *so = estab_full();
	struct ts_seg *s;
	struct tcp_opts o;
	uint8_t buf[16];

	ts_send_data(&T, TCP_ACK | TCP_PSH, "new1", 4);
	ck_assert_int_eq(us_recv(so, buf, sizeof(buf), 0, T.sim.now), 4);
	ts_run(&T, 500 * T_MS);
	ts_flush(&T);
	/* RFC 7323 §5.3: SEG.TSval < TS.Recent: ACK and drop. */
	o = ts_opts(&T);
	o.tsval -= 100;
	ts_send(&T, TCP_ACK | TCP_PSH, T.snd_nxt, T.rcv_nxt, 65535, &o, "old!", 4);
	s = must_next("ACK for the PAWS-rejected segment");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	ck_assert_uint_eq(ctr(US_CTR_tcp_paws_drop), 1);
	ck_assert_int_eq(us_recv(so, buf, sizeof(buf), 0, T.sim.now), -EAGAIN);
	/* A fresh timestamp is accepted. */
	ts_send_data(&T, TCP_ACK | TCP_PSH, "new2", 4);
	ck_assert_int_eq(us_recv(so, buf, sizeof(buf), 0, T.sim.now), 4);
	ck_assert_mem_eq(buf, "new2", 4);
	ck_assert_uint_eq(ctr(US_CTR_tcp_paws_drop), 1);
}
END_TEST

/* ---- zero window ------------------------------------------------------------ */

START_TEST(zero_window_is_probed)
{
	struct us_sock *so = estab_full();
	static uint8_t buf[5000];
	uint64_t times[32];
	unsigned nprobe = 0;
	struct ts_seg *s;
	struct tcp_opts o;

	ts_flush(&T);
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, T.snd_nxt, T.rcv_nxt, 0, &o, NULL, 0);
	ck_assert_uint_eq(tinfo(so).snd_wnd, 0);
	fill(buf, sizeof(buf), 6);
	ck_assert_int_eq(us_send(so, buf, sizeof(buf), 0, T.sim.now), (ssize_t)sizeof(buf));
	for (int step = 0; step < 1000; step++) { /* 10 s */
		ts_run(&T, 10 * T_MS);
		while ((s = ts_next(&T)) != NULL) {
			/* A probe is one byte of new data or a bare segment just
			 * below SND.UNA; nothing beyond the zero window. */
			ck_assert_msg(s->len <= 1, "%u bytes sent into a zero window", s->len);
			ck_assert(s->th.seq == T.rcv_nxt || s->th.seq == T.rcv_nxt - 1);
			ck_assert_uint_lt(nprobe, 32);
			times[nprobe++] = s->at;
			o = ts_opts(&T);
			ts_send(&T, TCP_ACK, T.snd_nxt, T.rcv_nxt, 0, &o, NULL, 0);
		}
	}
	ck_assert_uint_ge(nprobe, 3);
	ck_assert_uint_ge(ctr(US_CTR_tcp_zero_window_probes), 3);
	/* The persist timer backs off. */
	for (unsigned i = 2; i < nprobe; i++)
		ck_assert_msg((times[i] - times[i - 1]) * 10 >= (times[i - 1] - times[i - 2]) * 15,
			      "probe intervals %llu then %llu us",
			      (unsigned long long)(times[i - 1] - times[i - 2]),
			      (unsigned long long)(times[i] - times[i - 1]));
	/* Window opens: everything goes. */
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, T.snd_nxt, T.rcv_nxt, 65535, &o, NULL, 0);
	ts_run(&T, 1 * T_MS);
	{
		static uint8_t out[5000];

		collect(T.rcv_nxt, out, sizeof(buf), 1448, true, false);
		ck_assert_mem_eq(out, buf, sizeof(buf));
	}
	ck_assert_uint_eq(ctr(US_CTR_tcp_timeouts), 0);
	/* RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: probes are paced by the
	 * (backed-off) retransmission timer - never closer than the
	 * minimum RTO (200 ms) - and each is a counted probe (no tail loss
	 * probe for a byte sent into a zero window). */
	for (unsigned i = 1; i < nprobe; i++)
		ck_assert_msg(times[i] - times[i - 1] >= 200 * T_MS,
			      "probe %u only %llu us after the previous one", i,
			      (unsigned long long)(times[i] - times[i - 1]));
	ck_assert_uint_ge(ctr(US_CTR_tcp_zero_window_probes), nprobe);
}
END_TEST

/* ---- SYN cookies ------------------------------------------------------------ */

START_TEST(syn_flood_uses_cookies)
{
	struct tcp_opts o = ts_full_syn_opts(1460);
	struct ts_seg sa, *s;
	struct us_sock *so;
	struct us_addr peer;
	struct tcp_opts ao;
	uint8_t buf[16];
	const unsigned nsyn = 256;

	LS = ts_listen(&T, 80, 2);
	for (unsigned i = 0; i < nsyn; i++) {
		o.tsval = 5000 + i;
		ts_send_from(&T, (uint16_t)(20000 + i), TCP_SYN, 1000 * i, 0, 65535, &o, NULL, 0);
	}
	ck_assert_uint_gt(ctr(US_CTR_tcp_syncookies_sent), 0);
	/* The last SYN is surely past the queue: take its SYN/ACK. */
	ck_assert_uint_gt(ts_pending(&T), 0);
	memset(&sa, 0, sizeof(sa));
	while ((s = ts_next(&T)) != NULL)
		if (s->th.dport == 20000 + nsyn - 1 && s->th.flags == (TCP_SYN | TCP_ACK))
			sa = *s;
	ck_assert_uint_eq(sa.th.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(sa.th.ack, 1000 * (nsyn - 1) + 1);
	ck_assert(sa.th.opt.has_mss);
	/* A wrong cookie is refused with a reset (RFC 9293: ACK in LISTEN). */
	memset(&ao, 0, sizeof(ao));
	ao.has_ts = sa.th.opt.has_ts;
	ao.tsval = 9000;
	ao.tsecr = sa.th.opt.tsval;
	ts_send_from(&T, (uint16_t)(20000 + nsyn - 1), TCP_ACK, 1000 * (nsyn - 1) + 1,
		     sa.th.seq + 1 + 12345, 65535, &ao, NULL, 0);
	s = must_next("RST for a bad cookie");
	ck_assert_uint_eq(s->th.flags, TCP_RST);
	ck_assert_uint_eq(s->th.seq, sa.th.seq + 1 + 12345);
	ck_assert_int_eq(us_accept(LS, &so, &peer, T.sim.now), -EAGAIN);
	/* The right one completes the connection. */
	ts_send_from(&T, (uint16_t)(20000 + nsyn - 1), TCP_ACK | TCP_PSH, 1000 * (nsyn - 1) + 1,
		     sa.th.seq + 1, 65535, &ao, "hi", 2);
	ck_assert_uint_eq(ctr(US_CTR_tcp_syncookies_ok), 1);
	ck_assert_int_eq(us_accept(LS, &so, &peer, T.sim.now), 0);
	ck_assert_uint_eq(peer.port, 20000 + nsyn - 1);
	ck_assert_int_eq(tinfo(so).state, US_TCP_ESTABLISHED);
	ssize_t got_hi = us_recv(so, buf, sizeof(buf), 0, T.sim.now);
	/* and it can talk back */
	ts_flush(&T);
	ck_assert_int_eq(us_send(so, "yo", 2, 0, T.sim.now), 2);
	ts_run(&T, 1 * T_MS);
	while ((s = ts_next(&T)) != NULL && (s->th.dport != 20000 + nsyn - 1 || !s->len))
		;
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->th.seq, sa.th.seq + 1);
	ck_assert_uint_eq(s->len, 2);
	/* RFC 9293 §3.10.7.4: data on the handshake-completing ACK is
	 * queued, not discarded (and so not left for a retransmission). */
	ck_assert_int_eq(got_hi, 2);
	ck_assert_mem_eq(buf, "hi", 2);
}
END_TEST

/* ---- receive side: out of order, SACK, delayed ACK ------------------------- */

static void check_sack(const struct ts_seg *s, unsigned n, const uint32_t *blocks)
{
	ck_assert_uint_eq(s->th.opt.nsack, n);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_uint_eq(s->th.opt.sack[i].start, blocks[2 * i]);
		ck_assert_uint_eq(s->th.opt.sack[i].end, blocks[2 * i + 1]);
	}
}

START_TEST(ooo_segment_gets_immediate_dup_ack_with_sack)
{
	struct us_sock *so = estab_full();
	static uint8_t buf[2500], in[4000];
	struct ts_seg *s;
	struct tcp_opts o;
	uint32_t b = T.snd_nxt;
	uint64_t t0;

	fill(buf, sizeof(buf), 7);
	ts_run(&T, 10 * T_MS);
	ts_flush(&T);
	t0 = T.sim.now;
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, b + 1000, T.rcv_nxt, 65535, &o, buf + 1000, 500);
	s = must_next("dup ACK for out-of-order data");
	ck_assert_uint_eq(s->at, t0); /* immediately (RFC 5681 §4.2) */
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.ack, b);
	{
		uint32_t bl[] = {b + 1000, b + 1500};
		check_sack(s, 1, bl);
	}
	ck_assert_uint_ge(ctr(US_CTR_tcp_ooo_segs), 1);
	/* A second island: the most recent block comes first (RFC 2018 §4). */
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, b + 2000, T.rcv_nxt, 65535, &o, buf + 2000, 500);
	s = must_next("second dup ACK");
	ck_assert_uint_eq(s->th.ack, b);
	{
		uint32_t bl[] = {b + 2000, b + 2500, b + 1000, b + 1500};
		check_sack(s, 2, bl);
	}
	ck_assert_int_eq(us_recv(so, in, sizeof(in), 0, T.sim.now), -EAGAIN);
	/* Fill the first hole: ACK at once up to the second hole. */
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, b, T.rcv_nxt, 65535, &o, buf, 1000);
	s = must_next("ACK after the first hole filled");
	ck_assert_uint_eq(s->at, T.sim.now);
	ck_assert_uint_eq(s->th.ack, b + 1500);
	{
		uint32_t bl[] = {b + 2000, b + 2500};
		check_sack(s, 1, bl);
	}
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, b + 1500, T.rcv_nxt, 65535, &o, buf + 1500, 500);
	s = must_next("ACK after the last hole filled");
	ck_assert_uint_eq(s->th.ack, b + 2500);
	ck_assert_uint_eq(s->th.opt.nsack, 0);
	T.snd_nxt = b + 2500;
	ck_assert_int_eq(us_recv(so, in, sizeof(in), 0, T.sim.now), 2500);
	ck_assert_mem_eq(in, buf, 2500);
}
END_TEST

START_TEST(ooo_without_sack_plain_dup_ack)
{
	struct us_sock *so = estab_plain(1000);
	static uint8_t buf[1000];
	struct ts_seg *s;
	struct tcp_opts none;

	(void)so;
	memset(&none, 0, sizeof(none));
	ts_flush(&T);
	ts_send(&T, TCP_ACK, T.snd_nxt + 500, T.rcv_nxt, 65535, &none, buf, 500);
	s = must_next("dup ACK");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	ck_assert_uint_eq(s->th.hlen, TCP_HLEN); /* no SACK, no TS */
}
END_TEST

START_TEST(delayed_ack)
{
	struct us_sock *so = estab_full();
	static uint8_t buf[1448];
	struct ts_seg *s;
	uint64_t t0;
	uint32_t full = 1448; /* MSS 1460 less the timestamp option */

	(void)so;
	fill(buf, sizeof(buf), 8);
	/* Leave the start-of-connection quick-ACK phase behind. */
	for (int i = 0; i < 40; i++) {
		ts_send_data(&T, TCP_ACK, buf, full);
		ts_send_data(&T, TCP_ACK, buf, full);
		ts_run(&T, 1 * T_MS);
	}
	ts_run(&T, 300 * T_MS);
	ts_flush(&T);
	/* One small segment: ACKed later, but within 200 ms (RFC 1122
	 * §4.2.3.2 says < 0.5 s; the issue asks for 200 ms at most). */
	t0 = T.sim.now;
	ts_send_data(&T, TCP_ACK | TCP_PSH, buf, 100);
	ck_assert_uint_eq(ts_pending(&T), 0);
	ts_run(&T, 500 * T_MS);
	s = must_next("delayed ACK");
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	ck_assert_uint_gt(s->at, t0);
	ck_assert_uint_le(s->at - t0, 200 * T_MS);
	ck_assert_uint_ge(ctr(US_CTR_tcp_delayed_acks), 1);
	ck_assert_uint_eq(ts_pending(&T), 0);
	/* Two full segments: the second is ACKed at once (RFC 5681 §4.2). */
	ts_send_data(&T, TCP_ACK, buf, full);
	ck_assert_uint_eq(ts_pending(&T), 0);
	t0 = T.sim.now;
	ts_send_data(&T, TCP_ACK, buf, full);
	s = must_next("ACK for the second full segment");
	ck_assert_uint_eq(s->at, t0);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
}
END_TEST

/* ---- sender: initial window, fast retransmit, NewReno, SACK, RTO ----------- */

/* Accepted connection (MSS 1000, no options unless sack) whose DUT side
 * has `n` bytes queued; returns the first data sequence number. */
static struct us_sock *sender_flow(bool sack, enum us_cc cc, size_t n, uint32_t *base)
{
	struct tcp_opts o;
	static uint8_t buf[200000];
	struct us_sock *so;

	memset(&o, 0, sizeof(o));
	o.has_mss = true;
	o.mss = 1000;
	o.sack_perm = sack;
	so = estab(&o);
	ck_assert_int_eq(us_setsockopt(so, US_TCP_CONGESTION, (int)cc), 0);
	ts_flush(&T);
	fill(buf, n, 9);
	*base = T.rcv_nxt;
	ck_assert_int_eq(us_send(so, buf, n, 0, T.sim.now), (ssize_t)n);
	return so;
}

/* Segments captured now; first-transmission data segments are recorded
 * in order; returns how many. */
static unsigned take_flight(uint32_t *seqs, unsigned max)
{
	struct ts_seg *s;
	unsigned n = 0;

	while ((s = ts_next(&T)) != NULL) {
		if (!s->len)
			continue;
		ck_assert_uint_lt(n, max);
		ck_assert_uint_eq(s->len, 1000);
		seqs[n++] = s->th.seq;
	}
	return n;
}

static void dupack(uint32_t ack, unsigned nsack, const uint32_t *blocks)
{
	struct tcp_opts o;

	memset(&o, 0, sizeof(o));
	o.nsack = (uint8_t)nsack;
	for (unsigned i = 0; i < nsack; i++) {
		o.sack[i].start = blocks[2 * i];
		o.sack[i].end = blocks[2 * i + 1];
	}
	ts_send(&T, TCP_ACK, T.snd_nxt, ack, 65535, &o, NULL, 0);
}

/* Highest sequence the DUT has sent, kept up by sent_at(). */
static uint32_t g_high;

/* How many data segments starting at seq were sent (the queue is taken
 * and g_high kept up to date). */
static unsigned sent_at(uint32_t seq)
{
	struct ts_seg *s;
	unsigned k = 0;

	while ((s = ts_next(&T)) != NULL) {
		if (s->len && s->th.seq == seq)
			k++;
		if (s->len && (int32_t)(s->th.seq + s->len - g_high) > 0)
			g_high = s->th.seq + s->len;
	}
	return k;
}

START_TEST(initial_window_is_10_segments)
{
	uint32_t base, seqs[64];
	struct us_sock *so = sender_flow(false, US_CC_CUBIC, 50000, &base);

	ts_run(&T, 1 * T_MS);
	/* RFC 6928: min(10*MSS, max(2*MSS, 14600)) = 10 segments of 1000. */
	ck_assert_uint_eq(take_flight(seqs, 64), 10);
	for (unsigned i = 0; i < 10; i++)
		ck_assert_uint_eq(seqs[i], base + 1000 * i);
	ck_assert_uint_eq(tinfo(so).cwnd, 10000);
	ck_assert_uint_eq(tinfo(so).unacked, 10000);
}
END_TEST

static void fast_retransmit_case(enum us_cc cc, uint32_t ss_lo, uint32_t ss_hi)
{
	uint32_t base, seqs[64];
	struct us_sock *so = sender_flow(false, cc, 50000, &base);
	struct us_tcp_info ti;

	ts_run(&T, 1 * T_MS);
	ck_assert_uint_eq(take_flight(seqs, 64), 10);
	g_high = base + 10000;
	/* Segment 0 lost; 1.. arrive and each makes a duplicate ACK (with
	 * limited transmit, RFC 3042, new segments may follow the first
	 * two). */
	dupack(base, 0, NULL);
	dupack(base, 0, NULL);
	ck_assert_uint_eq(sent_at(base), 0); /* not before DupThresh */
	dupack(base, 0, NULL);
	ck_assert_uint_eq(sent_at(base), 1);  /* RFC 5681 §3.2 step 2 */
	ck_assert_uint_eq(ctr(US_CTR_tcp_fast_retrans), 1);
	ti = tinfo(so);
	ck_assert(ti.in_recovery);
	ck_assert_msg(ti.ssthresh >= ss_lo && ti.ssthresh <= ss_hi, "ssthresh %u not in [%u,%u]",
		      ti.ssthresh, ss_lo, ss_hi);
	ck_assert_int_eq(ti.cc, cc);
	/* The rest of the dup ACKs, then the full ACK ends recovery. */
	for (int i = 0; i < 6; i++)
		dupack(base, 0, NULL);
	ck_assert_uint_eq(sent_at(base), 0); /* retransmitted once only */
	dupack(g_high, 0, NULL);
	ti = tinfo(so);
	ck_assert(!ti.in_recovery);
	/* RFC 6582 §3.2 step 3: cwnd deflated to about ssthresh. */
	ck_assert_uint_le(ti.cwnd, ti.ssthresh + 1000);
	ck_assert_uint_eq(ctr(US_CTR_tcp_timeouts), 0);
	ck_assert_uint_eq(ctr(US_CTR_tcp_retrans_segs), 1);
}

/* RFC 5681 §3.2 / RFC 6582: ssthresh = max(FlightSize / 2, 2*SMSS); the
 * flight is 10 segments, 12 with two limited-transmit segments. */
START_TEST(fast_retransmit_newreno_halves)
{
	fast_retransmit_case(US_CC_NEWRENO, 5000, 6000);
}
END_TEST

/* RFC 9438 §4.6: ssthresh = cwnd * 0.7 (or FlightSize * 0.7). */
START_TEST(fast_retransmit_cubic_beta)
{
	fast_retransmit_case(US_CC_CUBIC, 6900, 8400);
}
END_TEST

START_TEST(newreno_partial_ack_retransmits_next_hole)
{
	uint32_t base, seqs[64];
	struct us_sock *so = sender_flow(false, US_CC_NEWRENO, 50000, &base);

	ts_run(&T, 1 * T_MS);
	ck_assert_uint_eq(take_flight(seqs, 64), 10);
	g_high = base + 10000;
	/* Segments 0 and 4 lost. */
	for (int i = 0; i < 3; i++)
		dupack(base, 0, NULL);
	ck_assert_uint_eq(sent_at(base), 1);
	for (int i = 0; i < 5; i++)
		dupack(base, 0, NULL);
	ck_assert_uint_eq(sent_at(base + 4000), 0);
	/* The retransmission arrives: a partial ACK up to the second hole.
	 * RFC 6582 §3.2 step 5: retransmit the first unacknowledged segment
	 * at once and stay in recovery. */
	dupack(base + 4000, 0, NULL);
	ck_assert_uint_eq(sent_at(base + 4000), 1);
	ck_assert(tinfo(so).in_recovery);
	ck_assert_uint_ge(ctr(US_CTR_tcp_recovery_partial_acks), 1);
	ck_assert_uint_eq(ctr(US_CTR_tcp_reno_recoveries), 1);
	ck_assert_uint_eq(ctr(US_CTR_tcp_sack_recoveries), 0);
	/* Everything sent so far arrives. */
	dupack(g_high, 0, NULL);
	ck_assert(!tinfo(so).in_recovery);
	ck_assert_uint_eq(ctr(US_CTR_tcp_timeouts), 0);
	ck_assert_uint_eq(ctr(US_CTR_tcp_retrans_segs), 2);
}
END_TEST

START_TEST(sack_recovery_retransmits_every_hole)
{
	uint32_t base, seqs[64];
	struct us_sock *so = sender_flow(true, US_CC_CUBIC, 50000, &base);
	unsigned r0 = 0, r4 = 0;
	struct ts_seg *s;

	ts_run(&T, 1 * T_MS);
	ck_assert_uint_eq(take_flight(seqs, 64), 10);
	ck_assert(tinfo(so).sack_ok);
	/* Segments 0 and 4 lost; SACKs for 1-3, then 5-9 arrive one by one. */
	for (unsigned k = 1; k < 10; k++) {
		uint32_t bl[4];
		unsigned nb = 0;

		if (k == 4)
			continue;
		if (k > 4) {
			bl[0] = base + 5000;
			bl[1] = base + 1000 * (k + 1);
			nb++;
		}
		bl[2 * nb] = base + 1000;
		bl[2 * nb + 1] = k < 4 ? base + 1000 * (k + 1) : base + 4000;
		nb++;
		dupack(base, nb, bl);
		while ((s = ts_next(&T)) != NULL) {
			if (s->len && s->th.seq == base)
				r0++;
			if (s->len && s->th.seq == base + 4000)
				r4++;
		}
	}
	/* RFC 6675: segment 0 is lost once 3 segments above it are SACKed;
	 * segment 4 once 5, 6, 7 are; both retransmitted before any
	 * cumulative ACK, once each. */
	ck_assert_uint_eq(r0, 1);
	ck_assert_uint_eq(r4, 1);
	ck_assert_uint_eq(ctr(US_CTR_tcp_sack_recoveries), 1);
	ck_assert_uint_eq(ctr(US_CTR_tcp_retrans_segs), 2);
	ck_assert_uint_eq(ctr(US_CTR_tcp_timeouts), 0);
	ck_assert_uint_eq(tinfo(so).sacked, 8000);
}
END_TEST

START_TEST(rto_backoff_and_cwnd_reset)
{
	uint32_t base, seqs[64];
	struct us_sock *so = sender_flow(false, US_CC_CUBIC, 50000, &base);
	uint64_t t[8];
	unsigned n = 0, other = 0;
	struct ts_seg *s;
	struct us_tcp_info ti;

	ts_run(&T, 1 * T_MS);
	ck_assert_uint_eq(take_flight(seqs, 64), 10);
	uint64_t t0 = T.sim.now - 1 * T_MS; /* the flight left at the start of the run */
	/* No ACK at all: the first segment is retransmitted on every RTO. */
	for (int step = 0; step < 8000 && n < 5; step++) {
		ts_run(&T, 5 * T_MS);
		while ((s = ts_next(&T)) != NULL) {
			if (s->th.seq != base) {
				/* one tail loss probe (RFC 8985 §7.3) may send
				 * new data before the RTO */
				ck_assert_uint_eq(n, 0);
				ck_assert_uint_lt(other++, 1);
				continue;
			}
			ck_assert_uint_eq(s->len, 1000); /* RFC 6298 §5.4 */
			t[n++] = s->at;
			if (n == 1) {
				ti = tinfo(so);
				/* RFC 5681 §3.1: loss window is one segment */
				ck_assert_uint_eq(ti.cwnd, 1000);
			}
		}
	}
	ck_assert_uint_eq(n, 5);
	/* RFC 6298 §5.5: the timer doubles each time. */
	uint64_t prev = t[0] - t0;
	ck_assert_uint_ge(prev, 200 * T_MS); /* never below the minimum RTO */
	for (unsigned i = 1; i < n; i++) {
		uint64_t d = t[i] - t[i - 1];
		ck_assert_msg(d * 10 >= prev * 18 && d * 10 <= prev * 22,
			      "retransmission interval %llu after %llu", (unsigned long long)d,
			      (unsigned long long)prev);
		prev = d;
	}
	ck_assert_uint_eq(ctr(US_CTR_tcp_timeouts), 5);
	ck_assert_uint_eq(tinfo(so).backoff, 5);
	/* An ACK of the retransmission (no RTT sample from it, Karn): new
	 * data flows again. */
	dupack(base + 1000, 0, NULL);
	ck_assert_uint_ge(ts_pending(&T), 1);
}
END_TEST

/* ---- close ----------------------------------------------------------------- */

static void count_cb(void *ctx, const struct us_sock_info *si)
{
	if (si->type == US_SOCK_STREAM && si->state != US_TCP_LISTEN)
		(*(unsigned *)ctx)++;
}

START_TEST(passive_close_sequence)
{
	struct us_sock *so = estab_full();
	struct ts_seg *s;
	uint8_t buf[16];
	unsigned live = 0;

	bool acked = false;

	ts_flush(&T);
	/* Peer FIN: ACKed (within the delayed-ACK time), EOF to the reader,
	 * CLOSE-WAIT. */
	ts_send_data(&T, TCP_ACK | TCP_FIN, NULL, 0);
	ts_run(&T, 250 * T_MS);
	while ((s = ts_next(&T)) != NULL)
		if (s->th.flags == TCP_ACK && s->th.ack == T.snd_nxt)
			acked = true;
	ck_assert_msg(acked, "FIN not acknowledged");
	ck_assert_int_eq(us_recv(so, buf, sizeof(buf), 0, T.sim.now), 0);
	ck_assert(us_sock_events(so) & US_EV_RDHUP);
	ck_assert_int_eq(tinfo(so).state, US_TCP_CLOSE_WAIT);
	/* Our data and FIN still go out. */
	ck_assert_int_eq(us_send(so, "bye", 3, 0, T.sim.now), 3);
	ck_assert_int_eq(us_close(so, T.sim.now), 0);
	ts_run(&T, 1 * T_MS);
	uint32_t fin_seq = 0;
	bool fin = false;
	while ((s = ts_next(&T)) != NULL) {
		if (s->th.flags & TCP_FIN) {
			fin = true;
			fin_seq = s->th.seq + s->len;
		}
	}
	ck_assert(fin);
	ck_assert_uint_eq(fin_seq, T.rcv_nxt + 3);
	/* LAST-ACK until our FIN is ACKed, then nothing is left. */
	us_sock_foreach(T.sim.st[TS_DUT], count_cb, &live);
	ck_assert_uint_eq(live, 1);
	T.rcv_nxt = fin_seq + 1;
	ts_send_data(&T, TCP_ACK, NULL, 0);
	live = 0;
	us_sock_foreach(T.sim.st[TS_DUT], count_cb, &live);
	ck_assert_uint_eq(live, 0);
	/* A late segment gets a reset. */
	ts_send_data(&T, TCP_ACK, "zz", 2);
	s = must_next("RST after close");
	ck_assert(s->th.flags & TCP_RST);
}
END_TEST

/* A data segment that also carries SACK blocks (we, the peer, left a hole
 * in what we sent) still fits the MTU: the payload shrinks by the option
 * bytes (as Linux's tcp_current_mss does), nothing is dropped for DF. */
START_TEST(data_with_sack_blocks_fits_mtu)
{
	struct us_sock *so = estab_full();
	static uint8_t buf[6000], out[6000], ooo[500];
	struct tcp_opts o;
	struct ts_seg *s;
	uint32_t b = T.snd_nxt;
	bool sack_seen = false;

	ts_flush(&T);
	o = ts_opts(&T);
	ts_send(&T, TCP_ACK, b + 1000, T.rcv_nxt, 65535, &o, ooo, sizeof(ooo));
	s = must_next("dup ACK with SACK");
	ck_assert_uint_eq(s->th.opt.nsack, 1);
	fill(buf, sizeof(buf), 10);
	ck_assert_int_eq(us_send(so, buf, sizeof(buf), 0, T.sim.now), (ssize_t)sizeof(buf));
	ts_run(&T, 1 * T_MS);
	for (unsigned i = T.qh; i != T.qt; i++) {
		const struct ts_seg *q = &T.q[i % TS_MAXQ];

		if (q->len) {
			ck_assert_uint_le(20 + q->th.hlen + q->len, 1500);
			sack_seen |= q->th.opt.nsack > 0;
		}
	}
	ck_assert_msg(ts_pending(&T) > 0, "no data sent; ip4_drop_too_big = %llu",
		      (unsigned long long)ctr(US_CTR_ip4_drop_too_big));
	collect(T.rcv_nxt, out, sizeof(buf), 1448, true, false);
	ck_assert_mem_eq(out, buf, sizeof(buf));
	ck_assert(sack_seen); /* RFC 2018 §4: SACK on every ACK while a hole exists */
	ck_assert_uint_eq(ctr(US_CTR_ip4_drop_too_big), 0);
}
END_TEST

START_TEST(active_close_time_wait_reacks_fin)
{
	struct us_sock *so = estab_full();
	struct ts_seg *s;
	uint32_t fin_seq;
	unsigned live = 0;

	ts_flush(&T);
	ck_assert_int_eq(us_close(so, T.sim.now), 0);
	s = must_next("FIN");
	ck_assert_uint_eq(s->th.flags, TCP_FIN | TCP_ACK);
	ck_assert_uint_eq(s->th.seq, T.rcv_nxt);
	fin_seq = s->th.seq;
	T.rcv_nxt = fin_seq + 1;
	ts_send_data(&T, TCP_ACK, NULL, 0); /* FIN-WAIT-2 */
	ck_assert_uint_eq(ts_pending(&T), 0);
	ts_send_data(&T, TCP_ACK | TCP_FIN, NULL, 0);
	s = must_next("ACK of the peer's FIN");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.seq, fin_seq + 1);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	ck_assert_uint_eq(ctr(US_CTR_tcp_time_wait_entered), 1);
	/* RFC 9293 §3.10.7.4 TIME-WAIT: a retransmitted FIN is ACKed again
	 * (and the 2 MSL timer restarts). */
	ts_run(&T, 10 * T_SEC);
	ts_send(&T, TCP_ACK | TCP_FIN, T.snd_nxt - 1, T.rcv_nxt, T.win, NULL, NULL, 0);
	s = must_next("ACK of the retransmitted FIN");
	ck_assert_uint_eq(s->th.flags, TCP_ACK);
	ck_assert_uint_eq(s->th.ack, T.snd_nxt);
	us_sock_foreach(T.sim.st[TS_DUT], count_cb, &live);
	ck_assert_uint_eq(live, 1);
	ts_run(&T, 55 * T_SEC); /* 65 s after the first FIN, 55 after the second */
	live = 0;
	us_sock_foreach(T.sim.st[TS_DUT], count_cb, &live);
	ck_assert_uint_eq(live, 1);
	ts_run(&T, 6 * T_SEC);
	live = 0;
	us_sock_foreach(T.sim.st[TS_DUT], count_cb, &live);
	ck_assert_uint_eq(live, 0);
	ck_assert_uint_eq(ctr(US_CTR_tcp_tx_rst), 0);
}
END_TEST

START_TEST(orphan_fin_wait_2_times_out)
{
	struct us_sock *so = estab_full();
	struct ts_seg *s;
	unsigned live = 0;

	ts_flush(&T);
	ck_assert_int_eq(us_close(so, T.sim.now), 0);
	s = must_next("FIN");
	T.rcv_nxt = s->th.seq + 1;
	ts_send_data(&T, TCP_ACK, NULL, 0);
	/* The peer never closes: a closed socket does not wait forever
	 * (Linux tcp_fin_timeout, 60 s). */
	ts_run(&T, 30 * T_SEC);
	us_sock_foreach(T.sim.st[TS_DUT], count_cb, &live);
	ck_assert_uint_eq(live, 1);
	ts_run(&T, 40 * T_SEC);
	live = 0;
	us_sock_foreach(T.sim.st[TS_DUT], count_cb, &live);
	ck_assert_uint_eq(live, 0);
}
END_TEST

START_TEST(syn_received_rst_and_bad_ack)
{
	struct tcp_opts none;
	struct us_sock *so;
	struct us_addr peer;
	struct ts_seg *s;
	uint32_t iss;

	memset(&none, 0, sizeof(none));
	LS = ts_listen(&T, 80, 16);
	ts_send(&T, TCP_SYN, 5000, 0, 65535, &none, NULL, 0);
	s = must_next("SYN/ACK");
	iss = s->th.seq;
	/* RFC 9293 §3.10.7.4 SYN-RECEIVED: an unacceptable ACK gets
	 * <SEQ=SEG.ACK><CTL=RST> and the embryo stays. */
	ts_send(&T, TCP_ACK, 5001, iss + 77, 65535, &none, NULL, 0);
	s = must_next("RST for a bad ACK in SYN-RECEIVED");
	ck_assert_uint_eq(s->th.flags, TCP_RST);
	ck_assert_uint_eq(s->th.seq, iss + 77);
	ck_assert_int_eq(us_accept(LS, &so, &peer, T.sim.now), -EAGAIN);
	/* An exact RST sends a passive open back to LISTEN, silently. */
	ts_send(&T, TCP_RST, 5001, 0, 0, &none, NULL, 0);
	ts_run(&T, 3 * T_SEC);
	ck_assert_uint_eq(ts_pending(&T), 0); /* no SYN/ACK retransmission either */
	ck_assert_int_eq(us_accept(LS, &so, &peer, T.sim.now), -EAGAIN);
	/* and the listener still works */
	T.pport = 40001;
	so = ts_accept_flow(&T, LS, &none, 9000, NULL);
	ck_assert_int_eq(tinfo(so).state, US_TCP_ESTABLISHED);
}
END_TEST

START_TEST(synack_retransmitted_then_given_up)
{
	struct tcp_opts none;
	struct ts_seg *s;
	uint64_t t[16];
	unsigned n = 0;
	struct us_sock *so;
	struct us_addr peer;

	memset(&none, 0, sizeof(none));
	LS = ts_listen(&T, 80, 16);
	ts_send(&T, TCP_SYN, 5000, 0, 65535, &none, NULL, 0);
	ts_run(&T, 200 * T_SEC);
	while ((s = ts_next(&T)) != NULL) {
		ck_assert_uint_lt(n, 16);
		if (s->th.flags == (TCP_SYN | TCP_ACK))
			t[n++] = s->at;
	}
	/* RFC 6298 §2.1 / Linux tcp_synack_retries: 1 s, doubling, a few
	 * times, then the embryo is dropped. */
	ck_assert_uint_ge(n, 3);
	ck_assert_uint_le(n, 8);
	ck_assert_uint_ge(t[1] - t[0], 900 * T_MS);
	ck_assert_uint_le(t[1] - t[0], 1100 * T_MS);
	for (unsigned i = 2; i < n; i++)
		ck_assert_uint_ge((t[i] - t[i - 1]) * 10, (t[i - 1] - t[i - 2]) * 18);
	ck_assert_uint_eq(ctr(US_CTR_tcp_synack_retrans), n - 1);
	ts_send(&T, TCP_ACK, 5001, 0, 65535, &none, NULL, 0); /* too late */
	ck_assert_int_eq(us_accept(LS, &so, &peer, T.sim.now), -EAGAIN);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("tcp_script");
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
	ADD(closed_port_resets);
	ADD(synack_full_options);
	ADD(synack_no_options_gets_none);
	ADD(synack_echoes_only_offered_options);
	ADD(window_scale_clamped_to_14);
	ADD(mss_clamped_by_mtu);
	ADD(active_open_options_follow_synack);
	ADD(active_open_window_edge_follows_irs);
	ADD(active_open_window_bounded_by_ring);
	ADD(syn_sent_rst_handling);
	ADD(rst_in_window_gets_challenge_ack);
	ADD(rst_exact_seq_resets);
	ADD(syn_in_established_gets_challenge_ack);
	ADD(ack_of_unsent_data_dropped_with_ack);
	ADD(segment_outside_window_acked_and_dropped);
	ADD(paws_drops_old_timestamp);
	ADD(zero_window_is_probed);
	ADD(syn_flood_uses_cookies);
	ADD(ooo_segment_gets_immediate_dup_ack_with_sack);
	ADD(ooo_without_sack_plain_dup_ack);
	ADD(delayed_ack);
	ADD(initial_window_is_10_segments);
	ADD(fast_retransmit_newreno_halves);
	ADD(fast_retransmit_cubic_beta);
	ADD(newreno_partial_ack_retransmits_next_hole);
	ADD(sack_recovery_retransmits_every_hole);
	ADD(rto_backoff_and_cwnd_reset);
	ADD(passive_close_sequence);
	ADD(data_with_sack_blocks_fits_mtu);
	ADD(active_close_time_wait_reacks_fin);
	ADD(orphan_fin_wait_2_times_out);
	ADD(syn_received_rst_and_bad_ack);
	ADD(synack_retransmitted_then_given_up);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
