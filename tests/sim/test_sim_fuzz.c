/* test_sim_fuzz.c - seeded mutation fuzzing of TCP between two stacks in
 * the simulator.  While data flows both ways, a tap rewrites a share of
 * the segments on the link -- flags, acknowledgment numbers, windows,
 * urgent pointers, option bytes, IP fragment fields and lengths -- and
 * fixes the checksums, so the segments reach TCP's state machine instead
 * of dying at the checksum (a quarter of them twice over), and random
 * segments (random flags, numbers and options, SACK blocks
 * included) hit the connection, the listener and closed ports.
 *
 * What a valid segment may legitimately do (a RST in the window ends the
 * connection, a FIN ends the stream early) is allowed; what must never
 * happen is checked: a byte handed to the application that is not the
 * sender's byte at that offset (rewrites never move payload: sequence
 * numbers and header lengths are only changed on segments without data,
 * and a shortened IP length only cuts the tail), a crash or a sanitizer
 * report (the CI's clang build runs this with AddressSanitizer and
 * UBSan), and lasting damage: after the fuzzing a fresh connection
 * between the same two stacks carries 1 MB each way byte-exact.
 * USTACK_FUZZ_SEEDS=N runs more seeds (default 8). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "craft.h"
#include "netsim.h"
#include "tcpscript.h"
#include "wire_eth.h"
#include "wire_ip4.h"
#include "wire_tcp.h"

static struct netsim sim;
static uint64_t rng;
static unsigned pct;          /* share of frames rewritten, percent */
static uint64_t rewritten, injected;
static uint16_t conn_sport, conn_dport, lport;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* Recompute the IP header checksum and, when the packet is an unfragmented
 * TCP segment, the TCP checksum over what the IP length now covers. */
static void fix_sums(uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 0xf) * 4;
	uint16_t total = get16(ip + 2);

	put16(ip + 10, 0);
	put16(ip + 10, csum_fold(csum_partial(ip, ihl, 0)));
	if (ip[9] != IP4_PROTO_TCP || total < ihl + 20)
		return;
	uint8_t *t = ip + ihl;
	size_t tlen = total - ihl;
	put16(t + 16, 0);
	uint32_t s = csum_pseudo(get32(ip + 12), get32(ip + 16), IP4_PROTO_TCP, (uint16_t)tlen);
	put16(t + 16, csum_fold(csum_partial(t, tlen, s)));
}

/* One rewrite of the TCP segment at ip (Ethernet frame of len bytes). */
static void rewrite(uint8_t *ip, size_t iplen)
{
	size_t ihl = (size_t)(ip[0] & 0xf) * 4;
	uint16_t total = get16(ip + 2);
	uint8_t *t = ip + ihl;
	size_t hlen = (size_t)(t[12] >> 4) * 4;
	size_t plen = total - ihl - hlen;

	switch (rnd() % 10) {
	case 0: /* a flag bit (SYN, RST, FIN on a data segment included) */
		t[13] ^= (uint8_t)(1u << (rnd() % 8));
		break;
	case 1: /* the acknowledgment number: anywhere, or near */
		put32(t + 8, rnd() % 2 ? (uint32_t)rnd() : get32(t + 8) + (uint32_t)(rnd() % 131072) - 65536);
		break;
	case 2: /* the window */
		put16(t + 14, (uint16_t)rnd());
		break;
	case 3: /* urgent data */
		t[13] |= TCP_URG;
		put16(t + 18, (uint16_t)(rnd() % 3 ? rnd() % 2000 : rnd()));
		break;
	case 4: /* an option byte (kind or length, or a value) */
		if (hlen > 20)
			t[20 + rnd() % (hlen - 20)] = (uint8_t)rnd();
		break;
	case 5: /* the sequence number, only where no payload moves */
		if (plen == 0)
			put32(t + 4, rnd() % 2 ? (uint32_t)rnd() : get32(t + 4) + (uint32_t)(rnd() % 131072) - 65536);
		break;
	case 6: /* a header length past the segment's end (a shorter one
		 * would turn option bytes into stream data) */
		if (plen == 0 && hlen < 60)
			t[12] = (uint8_t)((hlen / 4 + 1 + rnd() % (15 - hlen / 4)) << 4 | (t[12] & 0xf));
		break;
	case 7: /* IP fragment fields: MF, DF, an offset */
		ip[6] ^= (uint8_t)(rnd() % 2 ? 0x20 : 0x40);
		if (rnd() % 2)
			put16(ip + 6, (uint16_t)((get16(ip + 6) & 0xe000) | (rnd() % 200)));
		break;
	case 8: /* a shorter IP length: the tail of the payload is cut */
		if (total > ihl + hlen + 1)
			put16(ip + 2, (uint16_t)(ihl + hlen + rnd() % (total - ihl - hlen)));
		break;
	default: /* TTL, TOS: harmless, or should be */
		ip[8] = (uint8_t)rnd();
		ip[1] = (uint8_t)rnd();
		break;
	}
	(void)iplen;
	fix_sums(ip);
}

static bool fuzz_tap(void *ctx, int from, uint8_t *f, size_t len)
{
	(void)ctx;
	(void)from;
	if (!pct || len < ETH_HLEN + 40 || get16(f + 12) != ETH_TYPE_IP4 || f[ETH_HLEN + 9] != IP4_PROTO_TCP)
		return true;
	if (rnd() % 100 < pct) {
		rewritten++;
		rewrite(f + ETH_HLEN, len - ETH_HLEN);
		if (rnd() % 4 == 0)
			rewrite(f + ETH_HLEN, len - ETH_HLEN);
	}
	return true;
}

/* A segment from nowhere: random flags, numbers, options, to B (the
 * listener's stack) or A, on the connection's ports, the listener's, or
 * any; payload only off the connection (where it cannot land in the
 * stream being checked). */
static void inject_one(void)
{
	uint8_t seg[1600], frame[1700];
	struct tcp_hdr th;
	int to = rnd() % 2 ? SIM_B : SIM_A, from = to == SIM_B ? SIM_A : SIM_B;
	unsigned where = rnd() % 3;
	size_t paylen = 0;

	memset(&th, 0, sizeof th);
	if (where == 0) { /* the connection's own ports */
		th.sport = to == SIM_B ? conn_sport : conn_dport;
		th.dport = to == SIM_B ? conn_dport : conn_sport;
	} else {
		th.sport = (uint16_t)rnd();
		th.dport = where == 1 && to == SIM_B ? lport : (uint16_t)rnd();
		paylen = rnd() % 3 == 0 ? rnd() % 600 : 0;
	}
	th.seq = (uint32_t)rnd();
	th.ack = (uint32_t)rnd();
	th.flags = (uint8_t)rnd();
	th.win = (uint16_t)rnd();
	th.urg = (uint16_t)rnd();
	th.opt.has_mss = rnd() % 2;
	th.opt.mss = (uint16_t)rnd();
	th.opt.has_ws = rnd() % 2;
	th.opt.ws = (uint8_t)rnd();
	th.opt.sack_perm = rnd() % 2;
	th.opt.has_ts = rnd() % 2;
	th.opt.tsval = (uint32_t)rnd();
	th.opt.tsecr = (uint32_t)rnd();
	th.opt.nsack = (uint8_t)(rnd() % (TCP_MAX_SACK + 1));
	for (unsigned i = 0; i < th.opt.nsack; i++) {
		th.opt.sack[i].start = (uint32_t)rnd();
		th.opt.sack[i].end = th.opt.sack[i].start + (uint32_t)(rnd() % 100000);
	}
	size_t ol = tcp_opts_len(&th.opt);
	for (size_t i = 0; i < paylen; i++)
		seg[20 + ol + i] = (uint8_t)rnd();
	uint32_t src = from == SIM_A ? SIM_ADDR_A : SIM_ADDR_B, dst = to == SIM_A ? SIM_ADDR_A : SIM_ADDR_B;
	size_t hl = tcp_build(seg, &th, paylen, src, dst);
	struct ip4_hdr ih = { .hlen = IP4_HLEN, .ttl = 64, .proto = IP4_PROTO_TCP, .src = src, .dst = dst,
			      .id = (uint16_t)rnd(), .df = true };
	size_t fl = craft_ip(frame, &sim, from, to, &ih, seg, hl + paylen);
	injected++;
	sim_inject(&sim, to, frame, fl);
}

static void setup(void)
{
	sim_init(&sim, US_LINK_ETHER, 1500, 7);
	sim.tap = fuzz_tap;
	pct = 0;
	rewritten = injected = 0;
}

static void teardown(void)
{
	sim.tap = NULL;
	sim_free(&sim);
}

static bool xfer_over(const struct xfer *x)
{
	return x->bad_off >= 0 || x->rx_err || x->tx_err || x->eof || x->rcvd == x->total;
}

/* Under fuzz: two transfers, rewrites and injections, for `secs` of
 * virtual time or until both are over; then every byte delivered must be
 * right, and the connection is closed. */
static void fuzz_round(uint64_t seed, unsigned share, uint64_t secs)
{
	struct us_sock *cli, *srv, *ls;
	struct xfer ab, ba;
	struct xfer *xs[2] = { &ab, &ba };
	struct us_addr la;
	uint64_t end;

	rng = seed * 0x9e3779b97f4a7c15ull | 1;
	lport = (uint16_t)(1000 + seed % 50000);
	ls = tcpt_pair(&sim, lport, &cli, &srv);
	ck_assert_int_eq(us_getsockname(cli, &la), 0);
	conn_sport = la.port;
	conn_dport = lport;
	xfer_init(&ab, &sim, cli, srv, 1500000, seed * 2);
	xfer_init(&ba, &sim, srv, cli, 1000000, seed * 2 + 1);
	pct = share;
	end = sim.now + secs * T_SEC;
	while (sim.now < end) {
		struct xfer *live[2];
		int nl = 0;
		uint64_t next = sim.now + 2 * T_MS;

		for (int i = 0; i < 2; i++)
			if (!xfer_over(xs[i]))
				live[nl++] = xs[i];
		if (!nl)
			break;
		/* (returns at once when one of them fails: time is moved on
		 * below either way) */
		xfer_run_many(live, nl, next);
		if (sim.now < next)
			sim_run_until(&sim, next);
		for (unsigned k = rnd() % 3; k > 0; k--)
			inject_one();
	}
	pct = 0;
	/* The one thing no segment may do: put a wrong byte in the stream. */
	ck_assert_msg(ab.bad_off < 0 && ba.bad_off < 0,
		      "seed %llu: a corrupt byte reached the application (A->B at %lld, B->A at %lld)",
		      (unsigned long long)seed, (long long)ab.bad_off, (long long)ba.bad_off);
	/* Connections the fuzz left half-dead time out or are closed now. */
	us_close(cli, sim.now);
	us_close(srv, sim.now);
	us_close(ls, sim.now);
	sim_run(&sim, 200 * T_SEC);
}

START_TEST(fuzz_then_healthy)
{
	unsigned seeds = 8;
	const char *e = getenv("USTACK_FUZZ_SEEDS");
	uint64_t rw = 0, inj = 0;

	if (e && atoi(e) > 0)
		seeds = (unsigned)atoi(e);
	for (unsigned s = 1; s <= seeds; s++) {
		fuzz_round(s, s % 3 == 0 ? 30 : 10, 20);
		rw += rewritten;
		inj += injected;
		rewritten = injected = 0;
	}
	ck_assert_msg(rw > 1000 && inj > 1000, "the fuzz did little: %llu rewritten, %llu injected",
		      (unsigned long long)rw, (unsigned long long)inj);
	/* No lasting damage: a fresh connection carries 1 MB each way. */
	struct us_sock *cli, *srv;
	struct xfer ab, ba;
	struct xfer *xs[2] = { &ab, &ba };

	tcpt_pair(&sim, 9, &cli, &srv);
	xfer_init(&ab, &sim, cli, srv, 1000000, 91);
	xfer_init(&ba, &sim, srv, cli, 1000000, 92);
	ck_assert_msg(xfer_run_many(xs, 2, sim.now + 30 * T_SEC),
		      "after the fuzz: %llu / %llu bytes, errors %d %d / %d %d",
		      (unsigned long long)ab.rcvd, (unsigned long long)ba.rcvd, ab.rx_err, ab.tx_err,
		      ba.rx_err, ba.tx_err);
	fprintf(stderr, "fuzz: %u seeds, %llu segments rewritten, %llu injected\n", seeds,
		(unsigned long long)rw, (unsigned long long)inj);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_fuzz");
	TCase *tc = tcase_create("tcp");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, fuzz_then_healthy);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
