/* test_sim_tso.c - the offload path (us_config.offload, output_meta,
 * us_input_meta) against netsim's strict emulation of a virtio-net device
 * and the Linux kernel behind it (netsim.h): checksum offload
 * (VIRTIO_NET_HDR_F_NEEDS_CSUM), TSO cut as tcp_gso_segment does, GRO as
 * tcp_gro_receive, a path MTU drop (RFC 1191), loopback (no device:
 * checksums completed in software), a bad checksum without the device's
 * verdict, and a TSO frame that finds no neighbour entry.  Every case
 * checks the data byte for byte and that netsim saw no bad request.
 * Prints the simulated throughput of the TSO bulk transfers (virtual
 * time; informational only). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "craft.h"
#include "netsim.h"
#include "simcheck.h"
#include "tcpscript.h"

#define MIB (1024ull * 1024)
#define SEQ_BEFORE(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define ALL_TX (US_OFFLOAD_TX_CSUM | US_OFFLOAD_TSO)

static struct netsim sim;

static void teardown(void)
{
	sim.tap = NULL;
	sim.meta_tap = NULL;
	sim_free(&sim);
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct us_tcp_info tinfo(struct us_sock *so)
{
	struct us_tcp_info ti;

	ck_assert_int_eq(us_tcp_info(so, &ti), 0);
	return ti;
}

static uint64_t ctr(int who, enum us_ctr c) { return sim_ctr(&sim, who, c); }

/* ---- what A puts on the wire (tap, after cutting) and asks the device
 * to do (meta tap, before cutting) ---------------------------------------- */

static struct obs {
	uint64_t data_segs;    /* A's data segments on the wire */
	uint32_t hi;           /* end of the highest data A sent */
	bool hi_set;
	uint64_t rexmit_segs;  /* A's wire data segments starting below hi */
	uint64_t rexmit_big;   /* ... longer than mss */
	uint64_t big_segs;     /* A's wire data segments longer than mss */
	uint64_t tso_rexmit;   /* TSO requests starting below hi */
	uint32_t mss;          /* what segments may carry */
	uint32_t limit;        /* after A's first PMTU update: IP length limit */
	uint64_t over_limit;   /* A's frames longer than that, after the update */
	uint64_t gso_after;    /* TSO requests after the update */
	uint64_t gso_after_bad; /* ... whose gso_size was not the new MSS */
	uint32_t new_mss;
	uint16_t max_gso;      /* largest gso_size seen */
	uint64_t arp_at;       /* when A first sent ARP (0 = not yet) */
} ob;

static bool tap_a(void *ctx, int from, uint8_t *f, size_t len)
{
	uint32_t src, dst;
	struct tcp_hdr th;
	const uint8_t *pl;
	size_t plen, l3 = sim.mode == US_LINK_ETHER ? 14 : 0;

	(void)ctx;
	if (from != SIM_A)
		return true;
	if (!ob.arp_at && sim.mode == US_LINK_ETHER && len >= 14 && f[12] == 0x08 && f[13] == 0x06)
		ob.arp_at = sim.now;
	if (ob.limit && ctr(SIM_A, US_CTR_tcp_pmtu_updates) > 0 && len > l3 + 4 &&
	    (size_t)(f[l3 + 2] << 8 | f[l3 + 3]) > ob.limit)
		ob.over_limit++;
	/* A's frames reach the wire complete: tcp_parse checks the sum. */
	if (!tcpt_parse_frame(&sim, f, len, &src, &dst, &th, &pl, &plen) || plen == 0)
		return true;
	ob.data_segs++;
	if (plen > ob.mss)
		ob.big_segs++;
	if (ob.hi_set && SEQ_BEFORE(th.seq, ob.hi)) {
		ob.rexmit_segs++;
		if (plen > ob.mss)
			ob.rexmit_big++;
	}
	if (!ob.hi_set || SEQ_BEFORE(ob.hi, th.seq + (uint32_t)plen)) {
		ob.hi = th.seq + (uint32_t)plen;
		ob.hi_set = true;
	}
	return true;
}

static void meta_tap_a(void *ctx, int from, const uint8_t *f, size_t len,
		       const struct us_tx_meta *m)
{
	const uint8_t *th = f + m->csum_start;
	uint32_t seq = (uint32_t)th[4] << 24 | (uint32_t)th[5] << 16 | (uint32_t)th[6] << 8 | th[7];

	(void)ctx;
	(void)len;
	if (from != SIM_A || !(m->flags & US_TXM_TSO))
		return;
	if (m->gso_size > ob.max_gso)
		ob.max_gso = m->gso_size;
	if (ob.hi_set && SEQ_BEFORE(seq, ob.hi))
		ob.tso_rexmit++;
	if (ob.new_mss && ctr(SIM_A, US_CTR_tcp_pmtu_updates) > 0) {
		ob.gso_after++;
		if (m->gso_size != ob.new_mss)
			ob.gso_after_bad++;
	}
}

static void watch_a(void)
{
	memset(&ob, 0, sizeof(ob));
	ob.mss = 1448;
	sim.tap = tap_a;
	sim.meta_tap = meta_tap_a;
}

static void assert_no_bad_meta(void)
{
	ck_assert_msg(sim.off.bad_meta == 0, "%llu bad offload requests; first: %s",
		      (unsigned long long)sim.off.bad_meta, sim.off.bad_why);
}

/* One-way transfer cli -> srv until done or `bound` virtual us; checks the
 * data and reports. */
static void transfer(const char *name, struct us_sock *cli, struct us_sock *srv, uint64_t bytes,
		     uint64_t seed, uint64_t bound)
{
	struct xfer x;
	uint64_t t0 = sim.now;
	double w0 = wall(), secs;
	bool ok;

	xfer_init(&x, &sim, cli, srv, bytes, seed);
	x.shut_when_done = true;
	/* In slices: xfer_run pumps again only after an event, and a
	 * loopback transfer has none in flight once a pump is done. */
	do
		ok = xfer_run(&x, sim.now + 10 * T_MS);
	while (!ok && sim.now < t0 + bound && !x.tx_err && !x.rx_err && x.bad_off < 0);
	secs = (double)(sim.now - t0) / 1e6;
	printf("%-34s %4llu MiB: %s in %.3f virtual s = %.1f Mbit/s simulated, wall %.2f s; "
	       "TSO frames %llu (%llu segs, largest %u B), csum-only %llu, GRO %llu (%llu segs, "
	       "largest %u B), lost %llu, A retrans %llu\n",
	       name, (unsigned long long)(bytes / MIB), ok ? "ok" : "FAILED", secs,
	       secs > 0 ? (double)x.rcvd * 8 / secs / 1e6 : 0.0, wall() - w0,
	       (unsigned long long)sim.off.tso_frames, (unsigned long long)sim.off.tso_segs,
	       sim.off.max_tso_len, (unsigned long long)sim.off.csum_frames,
	       (unsigned long long)sim.off.gro_frames, (unsigned long long)sim.off.gro_segs,
	       sim.off.gro_max_len, (unsigned long long)sim.lost,
	       (unsigned long long)ctr(SIM_A, US_CTR_tcp_retrans_segs));
	fflush(stdout);
	ck_assert_msg(x.bad_off < 0, "data differs at byte %lld", (long long)x.bad_off);
	ck_assert_msg(!x.rx_err && !x.tx_err, "socket errors %d %d", x.tx_err, x.rx_err);
	ck_assert_msg(ok, "stalled at %llu/%llu bytes", (unsigned long long)x.rcvd,
		      (unsigned long long)bytes);
	ck_assert_uint_eq(x.rcvd, bytes);
	assert_no_bad_meta();
}

/* (a) 64 MiB with TSO on the sender over a clean link. */
START_TEST(tso_bulk_clean)
{
	struct us_sock *cli, *srv;
	const uint64_t *a;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 11, ALL_TX, US_OFFLOAD_TX_CSUM);
	tcpt_pair(&sim, 80, &cli, &srv);
	ck_assert_uint_eq(tinfo(cli).snd_mss, 1448);
	watch_a();
	transfer("TSO clean", cli, srv, 64 * MIB, 3, 60 * T_SEC);
	a = us_counters(sim.st[SIM_A]);
	/* the stack asked for TSO, and netsim cut each request it counted */
	ck_assert_uint_gt(a[US_CTR_link_tx_tso], 0);
	ck_assert_uint_eq(a[US_CTR_link_tx_tso], sim.off.tso_frames);
	/* real TSO: most data went in frames of several segments */
	ck_assert_uint_ge(sim.off.tso_segs, 2 * sim.off.tso_frames);
	ck_assert_uint_gt(sim.off.tso_segs, 64 * MIB / 1448 / 2);
	ck_assert_uint_gt(sim.off.max_tso_len, 8 * 1500);
	ck_assert_uint_eq(ob.max_gso, 1448);
	/* tcp_tx_data_segs counts segments as they are on the wire */
	ck_assert_uint_eq(a[US_CTR_tcp_tx_data_segs], ob.data_segs);
	ck_assert_uint_eq(a[US_CTR_tcp_retrans_segs], 0);
	ck_assert_uint_eq(a[US_CTR_tcp_timeouts], 0);
	/* after cutting every frame fits the MTU, and full ones are sent */
	ck_assert_uint_eq(sim.off.over_mtu, 0);
	ck_assert_uint_eq(sim.off.max_ip_len[SIM_A], 1500);
	/* B's ACKs left with partial checksums that netsim completed; A had
	 * no complete TCP frame with a wrong sum */
	ck_assert_uint_gt(sim.off.csum_frames, 0);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_drop_bad_csum), 0);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_drop_bad_csum), 0);
	/* only A's SYN waited for ARP and was completed in software */
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_link_tx_csum_sw), 1);
}
END_TEST

/* (b) The same with 1% loss and 2% reordering: TSO frames lose single
 * segments; repairs go one MSS at a time. */
START_TEST(tso_bulk_loss)
{
	struct us_sock *cli, *srv;
	const uint64_t *a;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 12, ALL_TX, US_OFFLOAD_TX_CSUM);
	tcpt_pair(&sim, 80, &cli, &srv);
	watch_a();
	sim.loss_pct = 1;
	sim.reorder_pct = 2;
	transfer("TSO loss 1% reorder 2%", cli, srv, 64 * MIB, 4, 1800 * T_SEC);
	a = us_counters(sim.st[SIM_A]);
	printf("  retransmitted segments on the wire %llu, longer than the MSS %llu, as TSO %llu\n",
	       (unsigned long long)ob.rexmit_segs, (unsigned long long)ob.rexmit_big,
	       (unsigned long long)ob.tso_rexmit);
	ck_assert_uint_gt(sim.lost, 0);
	ck_assert_uint_gt(a[US_CTR_link_tx_tso], 0);
	ck_assert_uint_ge(sim.off.tso_segs, 2 * sim.off.tso_frames);
	ck_assert_uint_gt(a[US_CTR_tcp_retrans_segs], 0);
	ck_assert_uint_gt(a[US_CTR_tcp_fast_retrans], 0);
	ck_assert_uint_gt(ob.rexmit_segs, 0);
	/* every retransmission is at most one MSS, never a TSO request */
	ck_assert_uint_eq(ob.rexmit_big, 0);
	ck_assert_uint_eq(ob.tso_rexmit, 0);
	/* no storm: about one repair per loss */
	ck_assert_uint_le(a[US_CTR_tcp_retrans_segs], 3 * sim.lost + 100);
	ck_assert_uint_eq(sim.off.over_mtu, 0);
	ck_assert_uint_le(sim.off.max_ip_len[SIM_A], 1500);
}
END_TEST

/* (c) The path MTU drops to 1000 in the middle of a TSO transfer: the
 * router answers with ICMP fragmentation-needed, the MSS falls to
 * 1000 - 40 - 12 = 948, and the TSO requests follow (gso_size 948), so
 * no segment is too long for the path any more. */
START_TEST(tso_path_mtu_drop)
{
	struct us_sock *cli, *srv;
	struct xfer x;
	uint64_t t0;
	bool ok = false;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 13, ALL_TX, US_OFFLOAD_TX_CSUM);
	tcpt_pair(&sim, 80, &cli, &srv);
	watch_a();
	ob.limit = 1000;
	ob.new_mss = 948;
	xfer_init(&x, &sim, cli, srv, 16 * MIB, 5);
	t0 = sim.now;
	while (!ok && sim.now < t0 + 120 * T_SEC) {
		ok = xfer_run(&x, sim.now + 10 * T_MS);
		if (!sim.path_mtu && x.rcvd >= 4 * MIB) {
			ck_assert_uint_eq(ob.max_gso, 1448);
			sim.path_mtu = 1000;
		}
	}
	printf("%-34s %4llu MiB: %s in %.3f virtual s; ICMP sent %llu (rate-limited %llu), path drops %llu, "
	       "A: pmtu updates %llu, retrans %llu; TSO requests after the update %llu\n",
	       "TSO path MTU 1500 -> 1000", (unsigned long long)(16 * MIB / MIB),
	       ok ? "ok" : "FAILED", (double)(sim.now - t0) / 1e6,
	       (unsigned long long)sim.off.ptb_sent, (unsigned long long)sim.off.ptb_limited,
	       (unsigned long long)sim.off.path_drops,
	       (unsigned long long)ctr(SIM_A, US_CTR_tcp_pmtu_updates),
	       (unsigned long long)ctr(SIM_A, US_CTR_tcp_retrans_segs),
	       (unsigned long long)ob.gso_after);
	fflush(stdout);
	ck_assert_msg(x.bad_off < 0, "data differs at byte %lld", (long long)x.bad_off);
	ck_assert_msg(ok, "stalled at %llu bytes", (unsigned long long)x.rcvd);
	assert_no_bad_meta();
	ck_assert_uint_gt(sim.off.ptb_sent, 0);
	ck_assert_uint_ge(ctr(SIM_A, US_CTR_tcp_pmtu_updates), 1);
	ck_assert_uint_eq(tinfo(cli).snd_mss, 948);
	/* gso_size followed the new MSS */
	ck_assert_uint_gt(ob.gso_after, 0);
	ck_assert_uint_eq(ob.gso_after_bad, 0);
	/* and once A knew, nothing it sent was too long for the path */
	ck_assert_msg(ob.over_limit == 0, "%llu frames over the path MTU after the update",
		      (unsigned long long)ob.over_limit);
	/* Nor a write of one segment and a bit on a quiet connection: two
	 * segments of the new MSS, however short the frame is for the link. */
	{
		uint8_t b[1200], r_[1200];
		uint64_t drops = sim.off.path_drops, tso = sim.off.tso_frames;
		ssize_t got = 0, r;

		memset(b, 'q', sizeof(b));
		ck_assert_int_eq(us_send(cli, b, sizeof(b), 0, sim.now), (ssize_t)sizeof(b));
		sim_run(&sim, T_SEC);
		while ((r = us_recv(srv, r_ + got, sizeof(r_) - (size_t)got, 0, sim.now)) > 0)
			got += r;
		ck_assert_int_eq(got, (ssize_t)sizeof(b));
		ck_assert_mem_eq(r_, b, sizeof(b));
		ck_assert_msg(ob.over_limit == 0 && sim.off.path_drops == drops,
			      "a %zu-byte write went out as one %zu-byte packet (path MTU 1000)",
			      sizeof(b), sizeof(b) + 52);
		ck_assert_uint_eq(sim.off.tso_frames, tso + 1);
		assert_no_bad_meta();
	}
}
END_TEST

/* The peer announces a small MSS (TCP_MAXSEG 536 on B's listener): A's
 * TSO frames are cut to it even when two segments would fit the link's
 * MTU as one packet (RFC 9293 §3.7.1: never more than the peer's MSS). */
START_TEST(tso_peer_small_mss)
{
	struct us_sock *ls, *cli, *srv;
	struct us_addr la = {0, 80}, to = {SIM_ADDR_B, 80};
	int r = -EAGAIN;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 21, ALL_TX, US_OFFLOAD_TX_CSUM);
	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_setsockopt(ls, US_TCP_MAXSEG, 536), 0);
	ck_assert_int_eq(us_bind(ls, &la), 0);
	ck_assert_int_eq(us_listen(ls, 4), 0);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	for (int i = 0; i < 100 && r == -EAGAIN; i++) {
		sim_run(&sim, 1000);
		r = us_accept(ls, &srv, NULL, sim.now);
	}
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(tinfo(cli).snd_mss, 536 - 12);
	watch_a();
	ob.mss = 536 - 12;
	transfer("TSO to a peer with MSS 536", cli, srv, 16 * MIB, 11, 60 * T_SEC);
	ck_assert_uint_gt(sim.off.tso_frames, 0);
	ck_assert_uint_eq(ob.max_gso, 536 - 12);
	ck_assert_msg(ob.big_segs == 0, "%llu of A's %llu data segments exceed the peer's MSS",
		      (unsigned long long)ob.big_segs, (unsigned long long)ob.data_segs);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_tx_data_segs), ob.data_segs);
}
END_TEST

/* (d) A connection to the stack's own address with offloads on: no
 * device completes the checksums, the stack does (link_tx_csum_sw), and
 * the receiving side of the same stack verifies them. */
START_TEST(loopback_csum_sw)
{
	struct us_sock *ls, *cli, *srv;
	struct us_addr la = {0, 80}, to = {SIM_ADDR_A, 80};
	const uint64_t *a;
	int r = -EAGAIN;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 14, ALL_TX, 0);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_bind(ls, &la), 0);
	ck_assert_int_eq(us_listen(ls, 4), 0);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	for (int i = 0; i < 100 && r == -EAGAIN; i++) {
		sim_run(&sim, 1000);
		r = us_accept(ls, &srv, NULL, sim.now);
	}
	ck_assert_int_eq(r, 0);
	transfer("loopback, offloads on", cli, srv, 16 * MIB, 6, 60 * T_SEC);
	a = us_counters(sim.st[SIM_A]);
	/* nothing went to the device; every TCP frame the stack looped back
	 * had its checksum completed in software, and it verified them all */
	ck_assert_uint_eq(sim.sent[SIM_A], 0);
	ck_assert_uint_eq(sim.off.csum_frames + sim.off.tso_frames, 0);
	ck_assert_uint_eq(a[US_CTR_link_tx_tso], 0);
	ck_assert_uint_gt(a[US_CTR_link_tx_csum_sw], 0);
	ck_assert_uint_eq(a[US_CTR_link_tx_csum_sw], a[US_CTR_tcp_rx]);
	ck_assert_uint_eq(a[US_CTR_tcp_drop_bad_csum], 0);
	ck_assert_uint_eq(a[US_CTR_link_rx_csum_trusted], 0);
}
END_TEST

/* (e) The receive side: B's device verifies checksums and coalesces
 * in-order segments into frames of up to 64 KiB (GRO), handed up with
 * US_RXM_CSUM_OK and only a partial checksum in the field. */
START_TEST(rx_gro_csum_ok)
{
	struct us_sock *cli, *srv;
	const uint64_t *b;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 15, ALL_TX, US_OFFLOAD_TX_CSUM);
	tcpt_pair(&sim, 80, &cli, &srv);
	sim.rx_offload[SIM_B] = SIM_RX_GRO;
	sim.rx_offload[SIM_A] = SIM_RX_CSUM;
	transfer("TSO + GRO", cli, srv, 64 * MIB, 7, 60 * T_SEC);
	b = us_counters(sim.st[SIM_B]);
	ck_assert_uint_gt(sim.off.gro_frames, 0);
	ck_assert_uint_ge(sim.off.gro_segs, 2 * sim.off.gro_frames);
	ck_assert_uint_gt(sim.off.gro_max_len, 32768);
	ck_assert_uint_le(sim.off.gro_max_len, 65535);
	/* every large frame and every trusted one was counted... */
	ck_assert_uint_eq(b[US_CTR_link_rx_large], sim.off.gro_frames);
	ck_assert_uint_gt(b[US_CTR_link_rx_csum_trusted], 0);
	ck_assert_uint_eq(b[US_CTR_link_rx_csum_trusted] + ctr(SIM_A, US_CTR_link_rx_csum_trusted),
			  sim.off.rx_csum_ok);
	/* ...and none was checked: the fields held partial sums only */
	ck_assert_uint_eq(b[US_CTR_tcp_drop_bad_csum], 0);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_drop_bad_csum), 0);
	ck_assert_uint_eq(sim.off.rx_csum_bad, 0);
	/* fewer segments arrived than were sent: they came coalesced */
	ck_assert_uint_lt(b[US_CTR_tcp_rx_data_segs], ctr(SIM_A, US_CTR_tcp_tx_data_segs) / 4);
}
END_TEST

/* (e) With 1% corruption the device refuses the damaged frames and hands
 * them up without the flag: the stack checks and drops exactly those. */
START_TEST(rx_gro_corruption)
{
	struct us_sock *cli, *srv;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 16, ALL_TX, US_OFFLOAD_TX_CSUM);
	tcpt_pair(&sim, 80, &cli, &srv);
	sim.rx_offload[SIM_B] = SIM_RX_GRO;
	sim.corrupt_pct = 1;
	transfer("TSO + GRO, corrupt 1%", cli, srv, 16 * MIB, 8, 600 * T_SEC);
	ck_assert_uint_gt(sim.corrupted, 0);
	ck_assert_uint_gt(sim.off.rx_csum_bad, 0);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_drop_bad_csum), sim.off.rx_csum_bad);
	ck_assert_uint_gt(sim.off.gro_frames, 0);
}
END_TEST

/* (e) One crafted segment: with a wrong checksum and no flag it is
 * dropped and counted; with only the partial sum in the field and
 * US_RXM_CSUM_OK it is taken. */
static uint8_t held[2000];
static size_t held_len;
static bool hold_a_data;
static bool tap_hold(void *ctx, int from, uint8_t *f, size_t len)
{
	struct tcp_hdr th;
	size_t plen;

	(void)ctx;
	if (from != SIM_A || !hold_a_data ||
	    !tcpt_parse_frame(&sim, f, len, NULL, NULL, &th, NULL, &plen) || plen == 0)
		return true;
	if (!held_len && len <= sizeof(held)) {
		memcpy(held, f, len);
		held_len = len;
	}
	return false;
}

START_TEST(rx_bad_csum_flag)
{
	struct us_sock *cli, *srv;
	uint8_t f[2000], buf[64];
	uint32_t sum;
	uint16_t tcplen;
	uint8_t *th = f + 14 + 20;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 17, ALL_TX, ALL_TX);
	tcpt_pair(&sim, 80, &cli, &srv);
	sim.tap = tap_hold;
	hold_a_data = true;
	held_len = 0;
	ck_assert_int_eq(us_send(cli, "offload!", 8, 0, sim.now), 8);
	sim_run(&sim, 1000);
	ck_assert_uint_eq(held_len, 14 + 20 + 32 + 8); /* timestamps on */
	/* 1: a wrong checksum, no flag: dropped and counted */
	memcpy(f, held, held_len);
	th[16] ^= 0x5a;
	sim_inject(&sim, SIM_B, f, held_len);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_drop_bad_csum), 1);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), -EAGAIN);
	/* 2: the same segment as a local sender's NEEDS_CSUM frame (only the
	 * pseudo-header sum) with US_RXM_CSUM_OK: taken as it is */
	memcpy(f, held, held_len);
	tcplen = (uint16_t)(held_len - 34);
	sum = (SIM_ADDR_A >> 16) + (SIM_ADDR_A & 0xffff) + (SIM_ADDR_B >> 16) +
	      (SIM_ADDR_B & 0xffff) + 6 + tcplen;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	th[16] = (uint8_t)(sum >> 8);
	th[17] = (uint8_t)sum;
	sim_inject(&sim, SIM_B, f, held_len); /* without the flag: dropped too */
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_drop_bad_csum), 2);
	sim_inject_meta(&sim, SIM_B, f, held_len, US_RXM_CSUM_OK);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_link_rx_csum_trusted), 1);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_drop_bad_csum), 2);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), 8);
	ck_assert_mem_eq(buf, "offload!", 8);
	/* the connection goes on (A's retransmission is a duplicate) */
	hold_a_data = false;
	ck_assert_int_eq(us_send(cli, "more", 4, 0, sim.now), 4);
	sim_run(&sim, 2 * T_SEC);
	ck_assert_int_eq(us_recv(srv, buf, sizeof(buf), 0, sim.now), 4);
	ck_assert_mem_eq(buf, "more", 4);
	assert_no_bad_meta();
}
END_TEST

/* (f) A TSO frame that finds no neighbour entry cannot wait in the ARP
 * queue as it is (the device's help applies only to a frame leaving
 * now): the stack cuts it in software and the segments wait, so the
 * flight arrives one ARP round trip later with no retransmission (it
 * used to be dropped: a TLP and an RTO of 200 ms later the transfer went
 * on).  The entry is made to go away by idling past ARP_REACHABLE and
 * ARP_STALE_GC (30 + 60 s) after the handshake. */
struct neigh_find {
	uint32_t ip;
	bool found;
	enum us_neigh_state state;
};
static void neigh_cb(void *ctx, const struct us_neigh_info *ni)
{
	struct neigh_find *nf = ctx;

	if (ni->ip == nf->ip) {
		nf->found = true;
		nf->state = ni->state;
	}
}

START_TEST(tso_no_neighbour)
{
	struct us_sock *cli, *srv;
	struct neigh_find nf = {SIM_ADDR_B, false, US_NEIGH_FAILED};
	uint64_t t0, sw0;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 18, ALL_TX, US_OFFLOAD_TX_CSUM);
	tcpt_pair(&sim, 80, &cli, &srv);
	sim_run(&sim, 100 * T_SEC);
	us_neigh_foreach(sim.st[SIM_A], neigh_cb, &nf);
	ck_assert_msg(!nf.found, "A still has a neighbour entry for B");
	ck_assert_uint_eq(tinfo(cli).state, US_TCP_ESTABLISHED);
	watch_a();
	t0 = sim.now;
	sw0 = ctr(SIM_A, US_CTR_link_tx_csum_sw);
	transfer("TSO after the neighbour expired", cli, srv, 4 * MIB, 9, 60 * T_SEC);
	printf("  segments cut in software and held: %llu; A asked ARP after %.3f virtual s; "
	       "transfer took %.3f virtual s\n",
	       (unsigned long long)(ctr(SIM_A, US_CTR_link_tx_csum_sw) - sw0),
	       ob.arp_at ? (double)(ob.arp_at - t0) / 1e6 : -1.0, (double)(sim.now - t0) / 1e6);
	fflush(stdout);
	/* A asked at once, and the first flight (IW10: two TSO frames of
	 * five segments) waited as segments, none lost */
	ck_assert_uint_eq(ob.arp_at, t0);
	ck_assert_uint_ge(ctr(SIM_A, US_CTR_link_tx_csum_sw) - sw0, 10);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_link_drop_tso_held), 0);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_arp_queue_drop), 0);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_retrans_segs), 0);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_timeouts), 0);
	/* each held segment reached the wire whole and with a right checksum
	 * (the tap parses and verifies every one) */
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_tx_data_segs), ob.data_segs);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_tcp_drop_bad_csum), 0);
	/* resolved again, TSO in use afterwards */
	nf.found = false;
	us_neigh_foreach(sim.st[SIM_A], neigh_cb, &nf);
	ck_assert(nf.found && nf.state == US_NEIGH_REACHABLE);
	ck_assert_uint_gt(sim.off.tso_frames, 0);
	ck_assert_uint_eq(sim.off.over_mtu, 0);
}
END_TEST

/* TUN mode (no link header: csum_start 20, hdr_len IP + TCP). */
START_TEST(tso_tun_mode)
{
	struct us_sock *cli, *srv;

	sim_init_offload(&sim, US_LINK_IP, 1500, 19, ALL_TX, US_OFFLOAD_TX_CSUM);
	tcpt_pair(&sim, 80, &cli, &srv);
	sim.rx_offload[SIM_B] = SIM_RX_GRO;
	watch_a();
	transfer("TSO + GRO, TUN mode", cli, srv, 16 * MIB, 10, 60 * T_SEC);
	ck_assert_uint_gt(sim.off.tso_frames, 0);
	ck_assert_uint_eq(ctr(SIM_A, US_CTR_tcp_tx_data_segs), ob.data_segs);
	ck_assert_uint_gt(sim.off.gro_frames, 0);
	ck_assert_uint_eq(ctr(SIM_B, US_CTR_link_rx_large), sim.off.gro_frames);
	ck_assert_uint_eq(sim.off.over_mtu, 0);
}
END_TEST

/* ---- the emulation itself ------------------------------------------------ */

/* Segments of A's that reach the wire, in order. */
static struct cut {
	unsigned n;
	struct tcp_hdr th[8];
	uint16_t ip_id[8], ip_len[8];
	uint8_t data[8192];
	size_t dlen;
} cut;

static bool tap_cut(void *ctx, int from, uint8_t *f, size_t len)
{
	struct ip4_hdr ih;
	const uint8_t *pl;
	size_t plen;

	(void)ctx;
	if (from != SIM_A || cut.n >= 8)
		return false;
	/* both checksums are verified by the parsers */
	ck_assert_int_eq(ip4_parse(f + 14, len - 14, &ih), 0);
	ck_assert(tcpt_parse_frame(&sim, f, len, NULL, NULL, &cut.th[cut.n], &pl, &plen));
	ck_assert(ih.df);
	cut.ip_id[cut.n] = ih.id;
	cut.ip_len[cut.n] = ih.total_len;
	ck_assert_uint_le(cut.dlen + plen, sizeof(cut.data));
	memcpy(cut.data + cut.dlen, pl, plen);
	cut.dlen += plen;
	cut.n++;
	return false; /* nothing needs to arrive */
}

/* A frame as tcp_xmit_seg builds it with checksum offload: headers with
 * timestamps (32 bytes of TCP header), `pay` bytes, partial checksum. */
static size_t build_partial(uint8_t *f, uint8_t flags, size_t pay)
{
	static uint8_t l4[8192];
	struct ip4_hdr ih = {.ttl = 64, .proto = IP4_PROTO_TCP, .src = SIM_ADDR_A,
			     .dst = SIM_ADDR_B, .df = true, .id = 0x1234};
	struct tcp_hdr th = {.sport = 40000, .dport = 80, .seq = 0xfffff000u, .ack = 77,
			     .flags = flags, .win = 500};
	size_t hl;

	th.opt.has_ts = true;
	th.opt.tsval = 1;
	th.opt.tsecr = 2;
	for (size_t i = 0; i < pay; i++)
		l4[32 + i] = (uint8_t)(i * 7 + 3);
	hl = tcp_build_partial(l4, &th, pay, ih.src, ih.dst);
	ck_assert_uint_eq(hl, 32);
	return craft_ip(f, &sim, SIM_A, SIM_B, &ih, l4, hl + pay);
}

static uint64_t try_bad(uint8_t *f, size_t len, const struct us_tx_meta *m)
{
	uint64_t before = sim.off.bad_meta;
	unsigned n0 = cut.n;

	sim_device_tx(&sim, SIM_A, f, len, m);
	ck_assert_uint_eq(cut.n, n0); /* nothing of it reached the wire */
	return sim.off.bad_meta - before;
}

/* The device emulation cuts as tcp_gso_segment does and refuses every
 * malformed request (so that the bulk cases' bad_meta == 0 means
 * something). */
START_TEST(device_emulation_strict)
{
	static uint8_t f[9000], g[9000];
	const struct us_tx_meta good = {US_TXM_CSUM | US_TXM_TSO, 34, 16, 14 + 20 + 32, 1448};
	struct us_tx_meta m;
	size_t len;

	sim_init_offload(&sim, US_LINK_ETHER, 1500, 20, ALL_TX, 0);
	sim.tap = tap_cut;
	memset(&cut, 0, sizeof(cut));
	len = build_partial(f, TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, 3000);
	memcpy(g, f, len);
	ck_assert_int_eq(sim_device_tx(&sim, SIM_A, g, len, &good), 0);
	assert_no_bad_meta();
	ck_assert_uint_eq(cut.n, 3);
	ck_assert_uint_eq(sim.off.tso_frames, 1);
	ck_assert_uint_eq(sim.off.tso_segs, 3);
	/* seq advanced (across the wrap), IP ID +1 per segment, lengths */
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_uint_eq(cut.th[i].seq, 0xfffff000u + 1448 * i);
		ck_assert_uint_eq(cut.th[i].ack, 77);
		ck_assert_uint_eq(cut.th[i].opt.tsval, 1);
		ck_assert_uint_eq(cut.ip_id[i], 0x1234 + i);
		ck_assert_uint_eq(cut.ip_len[i], 20 + 32 + (i < 2 ? 1448 : 104));
	}
	/* CWR only on the first, FIN and PSH only on the last */
	ck_assert_uint_eq(cut.th[0].flags, TCP_ACK | TCP_CWR);
	ck_assert_uint_eq(cut.th[1].flags, TCP_ACK);
	ck_assert_uint_eq(cut.th[2].flags, TCP_ACK | TCP_PSH | TCP_FIN);
	ck_assert_uint_eq(cut.dlen, 3000);
	ck_assert_mem_eq(cut.data, f + 14 + 20 + 32, 3000);

	/* a checksum-only request is completed */
	len = build_partial(f, TCP_ACK, 100);
	m = good;
	m.flags = US_TXM_CSUM;
	m.hdr_len = m.gso_size = 0;
	ck_assert_int_eq(sim_device_tx(&sim, SIM_A, f, len, &m), 0);
	ck_assert_uint_eq(cut.n, 4);
	ck_assert_uint_eq(sim.off.csum_frames, 1);
	assert_no_bad_meta();

	/* every malformed request is refused and counted */
	len = build_partial(f, TCP_ACK, 3000);
	memcpy(g, f, len);
	g[34 + 17] ^= 1; /* not the pseudo-header sum */
	ck_assert_uint_eq(try_bad(g, len, &good), 1);
	memcpy(g, f, len);
	memset(g + 34 + 16, 0, 2); /* a zero field (a "complete later" guess) */
	ck_assert_uint_eq(try_bad(g, len, &good), 1);
	m = good;
	m.csum_start = 35;
	ck_assert_uint_eq(try_bad(f, len, &m), 1);
	m = good;
	m.csum_offset = 6; /* UDP's */
	ck_assert_uint_eq(try_bad(f, len, &m), 1);
	m = good;
	m.hdr_len = 14 + 20 + 20; /* options forgotten */
	ck_assert_uint_eq(try_bad(f, len, &m), 1);
	m = good;
	m.gso_size = 0;
	ck_assert_uint_eq(try_bad(f, len, &m), 1);
	m = good;
	m.gso_size = 3000; /* one segment: not a GSO frame */
	ck_assert_uint_eq(try_bad(f, len, &m), 1);
	m = good;
	m.flags = US_TXM_TSO; /* GSO without NEEDS_CSUM */
	ck_assert_uint_eq(try_bad(f, len, &m), 1);
	m = good;
	m.flags = 0x4;
	ck_assert_uint_eq(try_bad(f, len, &m), 1);
	len = build_partial(f, TCP_SYN | TCP_ACK, 3000);
	ck_assert_uint_eq(try_bad(f, len, &good), 1);
	len = build_partial(f, TCP_RST | TCP_ACK, 3000);
	ck_assert_uint_eq(try_bad(f, len, &good), 1);
	/* segments longer than the MTU: each is refused (1600 + 52 > 1500) */
	len = build_partial(f, TCP_ACK, 3200);
	m = good;
	m.gso_size = 1600;
	ck_assert_uint_eq(try_bad(f, len, &m), 2);
	/* a complete frame without a request must be right */
	len = build_partial(f, TCP_ACK, 100);
	ck_assert_uint_eq(try_bad(f, len, NULL), 1);
	ck_assert_uint_eq(sim.off.bad_meta, 14);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("sim_tso");

/* One test case per test, so CK_RUN_CASE=name runs just that one. */
#define ADD(fn)                                                                \
	do {                                                                   \
		TCase *tc_ = tcase_create(#fn);                                \
		tcase_add_checked_fixture(tc_, NULL, teardown);                \
		tcase_set_timeout(tc_, 300);                                   \
		tcase_add_test(tc_, fn);                                       \
		suite_add_tcase(su, tc_);                                      \
	} while (0)
	ADD(device_emulation_strict);
	ADD(tso_bulk_clean);
	ADD(tso_bulk_loss);
	ADD(tso_path_mtu_drop);
	ADD(tso_peer_small_mss);
	ADD(loopback_csum_sw);
	ADD(rx_gro_csum_ok);
	ADD(rx_gro_corruption);
	ADD(rx_bad_csum_flag);
	ADD(tso_no_neighbour);
	ADD(tso_tun_mode);
	return sim_run_suite(su);
}
