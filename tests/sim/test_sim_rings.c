/* test_sim_rings.c - a stream socket's buffers moved to memory of the
 * caller's (us_sock_attach_rings, what ustackd does at accept with the
 * program's shared rings) and back to the stack's own at close: only the
 * bytes that hold data are copied, and every byte still arrives in order,
 * including out-of-order data past the receive head and rings whose data
 * wraps around the end.  And when a read from the receive ring is worth a
 * window update of its own, and receive auto-tuning: a ring given more
 * memory than its size grows into it when the peer was held back by the
 * window while the reader kept up (not when SO_RCVBUF was set).  And
 * send auto-tuning on a long path: the send ring, then the receive ring
 * (grown for a reader that takes half a ring per RTT) double until one
 * connection is no longer held to 256 KiB per round trip. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "netsim.h"
#include "simcheck.h"
#include "tcpscript.h"

static struct netsim sim;

/* While `drop_first`: the first data segment A sends from then on is
 * dropped, and so is every retransmission of it.  While `hold_b`: every
 * frame B sends is dropped. */
static bool drop_first, drop_armed, hold_b;
static uint32_t drop_seq;
static bool tap(void *ctx, int from, uint8_t *f, size_t len)
{
	struct tcp_hdr th;
	const uint8_t *p;
	size_t plen;
	uint32_t src, dst;

	(void)ctx;
	if (from == SIM_B)
		return !hold_b;
	if (!tcpt_parse_frame(&sim, f, len, &src, &dst, &th, &p, &plen) || plen == 0)
		return true;
	if (!drop_first)
		return true;
	if (!drop_armed) {
		drop_armed = true;
		drop_seq = th.seq;
	}
	return th.seq != drop_seq;
}

static void setup(void)
{
	sim_init(&sim, US_LINK_ETHER, 1500, 7);
	sim.tap = tap;
	drop_first = drop_armed = hold_b = false;
}
static void teardown(void) { sim.tap = NULL; sim_free(&sim); }

static void send_pat(struct us_sock *so, uint64_t seed, uint64_t off, size_t len)
{
	uint8_t buf[8192];

	ck_assert_uint_le(len, sizeof buf);
	pat_fill(seed, off, buf, len);
	ck_assert_int_eq(us_send(so, buf, len, 0, sim.now), (ssize_t)len);
}

/* Read exactly len bytes (running the simulation as needed) and check
 * them against the pattern. */
static void recv_pat(struct us_sock *so, uint64_t seed, uint64_t off, size_t len)
{
	uint8_t buf[8192];
	size_t got = 0;

	ck_assert_uint_le(len, sizeof buf);
	for (int i = 0; i < 20000 && got < len; i++) {
		ssize_t n = us_recv(so, buf + got, len - got, 0, sim.now);

		if (n > 0)
			got += (size_t)n;
		else
			sim_run(&sim, 1000);
	}
	ck_assert_uint_eq(got, len);
	ck_assert_int_eq(pat_check(seed, off, buf, len), -1);
}

/* A 4 KiB receive ring: the first 3000 bytes are read, so the next 3000
 * wrap around its end; their first segment is lost, so what arrives is
 * out of order, held past the head.  The ring then moves to memory of
 * the caller's (filled with junk first): the held bytes move with it,
 * and after the retransmission the reader gets all 3000 in order. */
START_TEST(attach_moves_held_and_out_of_order_bytes)
{
	struct us_sock *ls, *cli, *srv;
	struct us_addr a = {0, 80}, to = {SIM_ADDR_B, 80}, peer;
	struct us_ring_state rs;
	static uint8_t rx[4096], tx[4096];
	int r = -EAGAIN;

	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_setsockopt(ls, US_SO_RCVBUF, 4096), 0);
	ck_assert_int_eq(us_setsockopt(ls, US_SO_SNDBUF, 4096), 0);
	ck_assert_int_eq(us_bind(ls, &a), 0);
	ck_assert_int_eq(us_listen(ls, 4), 0);
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	for (int i = 0; i < 100 && r == -EAGAIN; i++) {
		sim_run(&sim, 1000);
		r = us_accept(ls, &srv, &peer, sim.now);
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(us_ring_state(srv, &rs), 0);
	ck_assert_uint_eq(rs.rx_size, 4096);

	send_pat(cli, 1, 0, 3000);
	recv_pat(srv, 1, 0, 3000);
	drop_first = true;
	send_pat(cli, 1, 3000, 3000);
	sim_run(&sim, 5000); /* the rest arrives, the first segment does not */
	ck_assert(drop_armed);
	ck_assert_int_eq(us_recv(srv, rx, 1, 0, sim.now), -EAGAIN);

	memset(rx, 0xee, sizeof rx);
	memset(tx, 0xee, sizeof tx);
	ck_assert_int_eq(us_sock_attach_rings(srv, rx, sizeof rx, sizeof rx, tx, sizeof tx, sizeof tx), 0);
	drop_first = false;
	recv_pat(srv, 1, 3000, 3000);
	us_close(cli, sim.now);
	us_close(srv, sim.now);
	us_close(ls, sim.now);
}
END_TEST

/* Sizes that differ from the current ones are refused while the ring
 * holds data (the bytes would lose their positions). */
START_TEST(attach_refuses_other_size_with_data)
{
	struct us_sock *cli, *srv, *ls = tcpt_pair(&sim, 80, &cli, &srv);
	struct us_ring_state rs;
	uint8_t *rx, *tx;

	send_pat(cli, 2, 0, 1000);
	sim_run(&sim, 5000);
	ck_assert_int_eq(us_ring_state(srv, &rs), 0);
	rx = malloc(rs.rx_size * 2);
	tx = malloc(rs.tx_size);
	ck_assert_ptr_nonnull(rx);
	ck_assert_ptr_nonnull(tx);
	ck_assert_int_eq(us_sock_attach_rings(srv, rx, rs.rx_size * 2, rs.rx_size * 2, tx, rs.tx_size, rs.tx_size), -EINVAL);
	/* Nothing moved: the bytes are still there. */
	recv_pat(srv, 2, 0, 1000);
	us_close(cli, sim.now);
	us_close(srv, sim.now);
	us_close(ls, sim.now);
	free(rx);
	free(tx);
}
END_TEST

/* The sender's buffers are the caller's; it closes with 6000 bytes not
 * yet acknowledged (B's frames are held back), and the caller's memory is
 * overwritten at once, as ustackd unmaps it: the orphan keeps exactly its
 * unacknowledged bytes in memory of its own and still delivers them. */
START_TEST(close_keeps_unacked_bytes_in_own_memory)
{
	struct us_sock *cli, *srv, *ls = tcpt_pair(&sim, 80, &cli, &srv);
	struct us_ring_state rs;
	uint8_t *rx, *tx;
	uint8_t buf[8192];
	uint32_t got = 0;
	bool eof = false;

	ck_assert_int_eq(us_ring_state(srv, &rs), 0);
	rx = malloc(rs.rx_size);
	tx = malloc(rs.tx_size);
	ck_assert_ptr_nonnull(rx);
	ck_assert_ptr_nonnull(tx);
	ck_assert_int_eq(us_sock_attach_rings(srv, rx, rs.rx_size, rs.rx_size, tx, rs.tx_size, rs.tx_size), 0);
	/* 1000 bytes go through, so the ring's data starts mid-ring. */
	send_pat(srv, 3, 0, 1000);
	recv_pat(cli, 3, 0, 1000);
	hold_b = true;
	send_pat(srv, 3, 1000, 6000);
	us_close(srv, sim.now);
	memset(tx, 0xee, rs.tx_size);
	memset(rx, 0xee, rs.rx_size);
	free(tx);
	free(rx);
	sim_run(&sim, 1000);
	hold_b = false;
	for (int i = 0; i < 20000 && !eof; i++) {
		ssize_t n = us_recv(cli, buf + got, sizeof buf - got, 0, sim.now);

		if (n > 0)
			got += (uint32_t)n;
		else if (n == 0)
			eof = true;
		else
			sim_run(&sim, 10000);
	}
	ck_assert(eof);
	ck_assert_uint_eq(got, 6000);
	ck_assert_int_eq(pat_check(3, 1000, buf, got), -1);
	us_close(cli, sim.now);
	us_close(ls, sim.now);
}
END_TEST

/* Reads that leave more than half the window open announce nothing (the
 * next ACK of data carries the window); a read that reopens a window
 * that had shrunk below half the buffer sends an update at once (RFC
 * 1122 §4.2.3.3, as Linux's tcp_cleanup_rbuf). */
START_TEST(window_update_only_when_it_matters)
{
	struct us_sock *cli, *srv, *ls = tcpt_pair(&sim, 80, &cli, &srv);
	struct us_ring_state rs;
	static uint8_t buf[1 << 20];
	uint64_t u0, u1, sent = 0, got = 0;

	ck_assert_int_eq(us_ring_state(srv, &rs), 0);
	send_pat(cli, 4, 0, 8000);
	sent = 8000;
	sim_run(&sim, 5000);
	u0 = sim_ctr(&sim, SIM_B, US_CTR_tcp_window_updates);
	recv_pat(srv, 4, 0, 8000);
	got = 8000;
	sim_run(&sim, 5000);
	u1 = sim_ctr(&sim, SIM_B, US_CTR_tcp_window_updates);
	ck_assert_uint_eq(u1, u0);
	/* Fill three quarters of the receiver's buffer, unread. */
	while (sent - got < rs.rx_size / 4 * 3) {
		size_t n = rs.rx_size / 4 * 3 - (sent - got);
		if (n > 8000)
			n = 8000;
		send_pat(cli, 4, sent, n);
		sent += n;
		sim_run(&sim, 2000);
	}
	sim_run(&sim, 20000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_tcp_window_updates), u1);
	/* Reading it all reopens the window: one update goes out. */
	while (got < sent) {
		ssize_t n = us_recv(srv, buf, sizeof buf, 0, sim.now);
		ck_assert_int_gt(n, 0);
		got += (uint64_t)n;
	}
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_tcp_window_updates), u1 + 1);
	us_close(cli, sim.now);
	us_close(srv, sim.now);
	us_close(ls, sim.now);
}
END_TEST

/* The receiver reads only when its ring is three quarters full, then
 * all of it: each such read empties a ring whose window had nearly
 * closed, so the ring doubles (into the 1 MiB given, up to what the
 * window scale of a 256 KiB ring allows: 512 KiB); every byte arrives in
 * order.  With SO_RCVBUF set the size stays. */
static uint32_t bulk_with_bursty_reader(bool fixed, uint64_t *grown)
{
	struct us_sock *cli, *srv, *ls = tcpt_pair(&sim, 80, &cli, &srv);
	struct us_ring_state rs;
	static uint8_t rx[1 << 20], buf[1 << 20];
	uint8_t *tx;
	uint64_t sent = 0, got = 0, total = 24u << 20;

	ck_assert_int_eq(us_ring_state(srv, &rs), 0);
	if (fixed)
		ck_assert_int_eq(us_setsockopt(srv, US_SO_RCVBUF, (int)rs.rx_size), 0);
	tx = malloc(rs.tx_size);
	ck_assert_ptr_nonnull(tx);
	ck_assert_int_eq(us_sock_attach_rings(srv, rx, rs.rx_size, sizeof rx, tx, rs.tx_size, rs.tx_size), 0);
	for (int i = 0; i < 200000 && got < total; i++) {
		while (sent < total) {
			size_t n = total - sent < sizeof buf ? (size_t)(total - sent) : sizeof buf;
			pat_fill(5, sent, buf, n);
			ssize_t k = us_send(cli, buf, n, 0, sim.now);
			if (k <= 0)
				break;
			sent += (uint64_t)k;
		}
		sim_run(&sim, 200);
		ck_assert_int_eq(us_ring_state(srv, &rs), 0);
		if (rs.rx_head - rs.rx_tail >= rs.rx_size / 4 * 3 || sent == total) {
			ssize_t n;
			while ((n = us_recv(srv, buf, sizeof buf, 0, sim.now)) > 0) {
				ck_assert_int_eq(pat_check(5, got, buf, (size_t)n), -1);
				got += (uint64_t)n;
			}
		}
	}
	ck_assert_uint_eq(got, total);
	ck_assert_int_eq(us_ring_state(srv, &rs), 0);
	*grown = sim_ctr(&sim, SIM_B, US_CTR_tcp_rcvbuf_grown);
	us_close(cli, sim.now);
	us_close(srv, sim.now);
	us_close(ls, sim.now);
	free(tx);
	return rs.rx_size;
}

START_TEST(autotune_grows_receive_ring)
{
	uint64_t grown;
	uint32_t size = bulk_with_bursty_reader(false, &grown);

	ck_assert_uint_ge(grown, 1);
	ck_assert_uint_eq(size, 512u * 1024);
}
END_TEST

START_TEST(autotune_off_with_so_rcvbuf)
{
	uint64_t grown;
	uint32_t size = bulk_with_bursty_reader(true, &grown);

	ck_assert_uint_eq(grown, 0);
	ck_assert_uint_eq(size, 256u * 1024);
}
END_TEST

/* 32 MiB over a 40 ms round trip, the receiver reading everything every
 * millisecond into a 256 KiB ring with 4 MiB to grow into (what ustackd
 * gives a program).  Returns the virtual time it took; the final ring
 * sizes and grow counters through the pointers. */
static uint64_t long_path_transfer(bool snd_fixed, bool snd_shared, uint32_t *tx_size,
				   uint32_t *rx_size, uint64_t *snd_grown, uint64_t *rcv_grown)
{
	static uint8_t rx[4u << 20], buf[1 << 20], ctx[4u << 20], crx[256u << 10];
	struct us_sock *cli, *srv, *ls;
	struct us_ring_state rs;
	uint8_t *tx;
	uint64_t sent = 0, got = 0, total = 32u << 20, t0;

	sim_free(&sim);
	sim_init_rcvbuf(&sim, US_LINK_ETHER, 1500, 11, sizeof rx);
	sim.latency = 20000;
	ls = tcpt_pair(&sim, 80, &cli, &srv);
	if (snd_fixed)
		ck_assert_int_eq(us_setsockopt(cli, US_SO_SNDBUF, 256 * 1024), 0);
	ck_assert_int_eq(us_ring_state(srv, &rs), 0);
	tx = malloc(rs.tx_size);
	ck_assert_ptr_nonnull(tx);
	ck_assert_int_eq(us_sock_attach_rings(srv, rx, rs.rx_size, sizeof rx, tx, rs.tx_size,
					      rs.tx_size), 0);
	/* The sender's ring in memory of ours with room to grow in place,
	 * as a program's shared ring (ustackd's IPC_TXGROW). */
	if (snd_shared)
		ck_assert_int_eq(us_sock_attach_rings(cli, crx, sizeof crx, sizeof crx, ctx,
						      256u << 10, sizeof ctx), 0);
	t0 = sim.now;
	while (got < total && sim.now - t0 < 60u * 1000 * 1000) {
		while (sent < total) {
			size_t n = total - sent < sizeof buf ? (size_t)(total - sent) : sizeof buf;
			pat_fill(9, sent, buf, n);
			ssize_t k = us_send(cli, buf, n, 0, sim.now);
			if (k <= 0)
				break;
			sent += (uint64_t)k;
		}
		sim_run(&sim, 1000);
		ssize_t n;
		while ((n = us_recv(srv, buf, sizeof buf, 0, sim.now)) > 0) {
			ck_assert_int_eq(pat_check(9, got, buf, (size_t)n), -1);
			got += (uint64_t)n;
		}
	}
	ck_assert_uint_eq(got, total);
	ck_assert_int_eq(us_ring_state(cli, &rs), 0);
	*tx_size = rs.tx_size;
	ck_assert_int_eq(us_ring_state(srv, &rs), 0);
	*rx_size = rs.rx_size;
	*snd_grown = sim_ctr(&sim, SIM_A, US_CTR_tcp_sndbuf_grown);
	*rcv_grown = sim_ctr(&sim, SIM_B, US_CTR_tcp_rcvbuf_grown);
	t0 = sim.now - t0;
	us_close(cli, sim.now);
	us_close(srv, sim.now);
	us_close(ls, sim.now);
	sim_run(&sim, 1000000);
	free(tx);
	return t0;
}

/* 256 KiB per 40 ms round trip is 32 MiB in 128 round trips (5.1 s):
 * with the send ring fixed it takes at least that; auto-tuned, both
 * rings reach 4 MiB and it takes under a third of it, with the send ring
 * the stack's own (moved to bigger memory) or in memory of the caller's
 * (grown in place, bytes moved to their new positions). */
START_TEST(autotune_fills_long_path)
{
	uint32_t tx, rx;
	uint64_t sg, rg, t_fixed, t_auto, floor = 128ull * 40000;

	t_fixed = long_path_transfer(true, false, &tx, &rx, &sg, &rg);
	ck_assert_uint_eq(tx, 256u * 1024);
	ck_assert_uint_eq(sg, 0);
	ck_assert_uint_ge(t_fixed, floor);

	for (int shared = 0; shared < 2; shared++) {
		t_auto = long_path_transfer(false, shared, &tx, &rx, &sg, &rg);
		ck_assert_uint_eq(tx, 4u << 20);
		ck_assert_uint_eq(rx, 4u << 20);
		ck_assert_uint_ge(sg, 4);
		ck_assert_uint_ge(rg, 4);
		ck_assert_uint_lt(t_auto * 3, floor);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_rings");
	TCase *tc = tcase_create("rings");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, attach_moves_held_and_out_of_order_bytes);
	tcase_add_test(tc, attach_refuses_other_size_with_data);
	tcase_add_test(tc, close_keeps_unacked_bytes_in_own_memory);
	tcase_add_test(tc, window_update_only_when_it_matters);
	tcase_add_test(tc, autotune_grows_receive_ring);
	tcase_add_test(tc, autotune_off_with_so_rcvbuf);
	tcase_add_test(tc, autotune_fills_long_path);
	suite_add_tcase(s, tc);
	return sim_run_suite(s);
}
