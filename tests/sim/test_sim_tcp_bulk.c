/* test_sim_tcp_bulk.c - long TCP transfers between two stacks on the
 * simulated link, clean and with seeded loss, reordering, duplication and
 * corruption: every byte checked against a generated pattern (nothing is
 * stored), completion within a virtual-time bound (no stall), sane
 * retransmission counts.  Prints the simulated throughput (payload bytes
 * per virtual second) and the wall time of each case. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netsim.h"
#include "tcpscript.h"

/* Transfer sizes (MiB): the issue asks for 256 MiB under 0 to 10% loss.
 * The whole binary takes well under a minute at -O2 with these; lower
 * BULK_LOSSY_MIB (at least 32) if a slower stack makes it too long. */
#ifndef BULK_CLEAN_MIB
#define BULK_CLEAN_MIB 256
#endif
#ifndef BULK_LOSSY_MIB
#define BULK_LOSSY_MIB 256
#endif
#define MIB (1024ull * 1024)

static struct netsim sim;

static void teardown(void) { sim_free(&sim); }

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct bulk_case {
	const char *name;
	uint64_t bytes;
	unsigned loss, reorder, dup, corrupt;
	uint64_t seed;
	uint64_t bound;   /* virtual microseconds */
	bool both_ways;
	bool zero_copy;
	enum us_cc cc;
};

static void run_case(const struct bulk_case *c)
{
	struct us_sock *cli, *srv;
	struct xfer ab, ba;
	struct xfer *xs[2] = {&ab, &ba};
	uint64_t t0;
	double w0 = wall(), secs;
	bool ok;

	sim_init(&sim, US_LINK_ETHER, 1500, c->seed);
	tcpt_pair(&sim, 80, &cli, &srv);
	ck_assert_int_eq(us_setsockopt(cli, US_TCP_CONGESTION, (int)c->cc), 0);
	ck_assert_int_eq(us_setsockopt(srv, US_TCP_CONGESTION, (int)c->cc), 0);
	sim.loss_pct = c->loss;
	sim.reorder_pct = c->reorder;
	sim.dup_pct = c->dup;
	sim.corrupt_pct = c->corrupt;
	t0 = sim.now;
	xfer_init(&ab, &sim, cli, srv, c->bytes, c->seed * 7 + 1);
	ab.shut_when_done = true;
	ab.zc_tx = ab.zc_rx = c->zero_copy;
	xfer_init(&ba, &sim, srv, cli, c->bytes, c->seed * 7 + 2);
	ba.shut_when_done = true;
	ok = xfer_run_many(xs, c->both_ways ? 2 : 1, t0 + c->bound);
	secs = (double)(sim.now - t0) / 1e6;
	/* a transfer that never finished has stalled since its last byte */
	if (ab.rcvd < ab.total && sim.now - ab.last_progress > ab.max_gap)
		ab.max_gap = sim.now - ab.last_progress;
	if (c->both_ways && ba.rcvd < ba.total && sim.now - ba.last_progress > ba.max_gap)
		ba.max_gap = sim.now - ba.last_progress;
	{
		const uint64_t *a = us_counters(sim.st[SIM_A]), *b = us_counters(sim.st[SIM_B]);
		uint64_t bytes = ab.rcvd + (c->both_ways ? ba.rcvd : 0);

		printf("%-28s %4llu MiB%s: %s in %.3f virtual s = %.1f Mbit/s simulated, "
		       "wall %.2f s; lost %llu dup %llu corrupt %llu; A: retrans %llu fast %llu "
		       "sack-rec %llu reno-rec %llu rto %llu; B: ooo %llu dupdata %llu csum-drop "
		       "%llu; max stall %.3f s\n",
		       c->name, (unsigned long long)(c->bytes / MIB), c->both_ways ? " x2" : "",
		       ok ? "ok" : "FAILED", secs, secs > 0 ? bytes * 8 / secs / 1e6 : 0.0,
		       wall() - w0, (unsigned long long)sim.lost,
		       (unsigned long long)sim.duplicated, (unsigned long long)sim.corrupted,
		       (unsigned long long)a[US_CTR_tcp_retrans_segs],
		       (unsigned long long)a[US_CTR_tcp_fast_retrans],
		       (unsigned long long)a[US_CTR_tcp_sack_recoveries],
		       (unsigned long long)a[US_CTR_tcp_reno_recoveries],
		       (unsigned long long)a[US_CTR_tcp_timeouts],
		       (unsigned long long)b[US_CTR_tcp_ooo_segs],
		       (unsigned long long)b[US_CTR_tcp_dup_data_segs],
		       (unsigned long long)(b[US_CTR_tcp_drop_bad_csum] +
					    b[US_CTR_ip4_drop_bad_csum]),
		       (double)(ab.max_gap > ba.max_gap ? ab.max_gap : ba.max_gap) / 1e6);
		fflush(stdout);
		ck_assert_msg(ab.bad_off < 0, "A->B data differs at byte %lld",
			      (long long)ab.bad_off);
		ck_assert_msg(ba.bad_off < 0, "B->A data differs at byte %lld",
			      (long long)ba.bad_off);
		ck_assert_msg(!ab.rx_err && !ab.tx_err && !ba.rx_err && !ba.tx_err,
			      "socket errors %d %d %d %d", ab.tx_err, ab.rx_err, ba.tx_err,
			      ba.rx_err);
		ck_assert_msg(ok, "stalled: A->B %llu/%llu B->A %llu/%llu after %.1f virtual s",
			      (unsigned long long)ab.rcvd, (unsigned long long)c->bytes,
			      (unsigned long long)ba.rcvd, (unsigned long long)c->bytes, secs);
		/* no stall: the longest time without a new byte at the
		 * receiver stays within a few backed-off RTOs */
		ck_assert_msg(ab.max_gap <= 20 * T_SEC && ba.max_gap <= 20 * T_SEC,
			      "no progress for %.1f s", (double)(ab.max_gap > ba.max_gap ? ab.max_gap
											 : ba.max_gap) / 1e6);
		if (!c->loss && !c->reorder && !c->dup && !c->corrupt) {
			/* a clean link: not one retransmission or timeout */
			ck_assert_uint_eq(a[US_CTR_tcp_retrans_segs], 0);
			ck_assert_uint_eq(a[US_CTR_tcp_timeouts], 0);
			ck_assert_uint_eq(b[US_CTR_tcp_ooo_segs], 0);
		}
		if (c->loss) {
			ck_assert_uint_gt(a[US_CTR_tcp_retrans_segs], 0);
			ck_assert_uint_gt(a[US_CTR_tcp_fast_retrans], 0);
			/* most losses are repaired without a timeout */
			ck_assert_uint_lt(a[US_CTR_tcp_timeouts], a[US_CTR_tcp_fast_retrans]);
			/* no retransmission storm: every data segment was sent
			 * about once; losses are ~loss% of all frames */
			ck_assert_uint_le(a[US_CTR_tcp_retrans_segs],
					  3 * sim.lost + 3 * sim.corrupted + 100);
		}
		if (!c->loss && !c->corrupt)
			ck_assert_uint_eq(a[US_CTR_tcp_timeouts], 0);
	}
	ck_assert_int_eq(us_close(cli, sim.now), 0);
	ck_assert_int_eq(us_close(srv, sim.now), 0);
}

START_TEST(bulk_clean)
{
	struct bulk_case c = {"clean", BULK_CLEAN_MIB * MIB, 0, 0, 0, 0, 1, 120 * T_SEC, false,
			      false, US_CC_CUBIC};
	run_case(&c);
}
END_TEST

START_TEST(bulk_clean_zero_copy)
{
	struct bulk_case c = {"clean zero-copy", BULK_CLEAN_MIB * MIB, 0, 0, 0, 0, 2, 60 * T_SEC,
			      false, true, US_CC_CUBIC};
	run_case(&c);
}
END_TEST

START_TEST(bulk_reorder_dup)
{
	struct bulk_case c = {"reorder 10% dup 5%", BULK_LOSSY_MIB * MIB, 0, 10, 5, 0, 3,
			      600 * T_SEC, false, false, US_CC_CUBIC};
	run_case(&c);
}
END_TEST

START_TEST(bulk_loss1)
{
	struct bulk_case c = {"loss 1% reorder 2% dup 1%", BULK_LOSSY_MIB * MIB, 1, 2, 1, 0,
			      4, 1800 * T_SEC, false, false, US_CC_CUBIC};
	run_case(&c);
}
END_TEST

START_TEST(bulk_loss5)
{
	struct bulk_case c = {"loss 5% reorder 3% dup 2%", BULK_LOSSY_MIB * MIB, 5, 3, 2, 0, 5,
			      3600 * T_SEC, false, false, US_CC_CUBIC};
	run_case(&c);
}
END_TEST

START_TEST(bulk_loss10)
{
	struct bulk_case c = {"loss 10% reorder 5% dup 5%", BULK_LOSSY_MIB * MIB, 10, 5, 5, 0, 6,
			      7200 * T_SEC, false, false, US_CC_CUBIC};
	run_case(&c);
}
END_TEST

START_TEST(bulk_loss5_newreno)
{
	struct bulk_case c = {"loss 5% newreno", BULK_LOSSY_MIB * MIB, 5, 3, 2, 0, 7,
			      3600 * T_SEC, false, false, US_CC_NEWRENO};
	run_case(&c);
}
END_TEST

START_TEST(bulk_corrupt_and_loss)
{
	struct bulk_case c = {"loss 2% corrupt 2%", BULK_LOSSY_MIB * MIB / 2, 2, 3, 1, 2, 9,
			      3600 * T_SEC, false, false, US_CC_CUBIC};
	run_case(&c);
}
END_TEST

START_TEST(bulk_corrupt_and_loss_both_ways)
{
	struct bulk_case c = {"loss 2% corrupt 2% both ways", BULK_LOSSY_MIB * MIB / 2, 2, 3, 1,
			      2, 8, 3600 * T_SEC, true, true, US_CC_CUBIC};
	run_case(&c);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("sim_tcp_bulk");
	SRunner *sr;
	int nf;

/* One test case per test, so CK_RUN_CASE=name runs just that one. */
#define ADD(fn)                                                                \
	do {                                                                   \
		TCase *tc_ = tcase_create(#fn);                                \
		tcase_add_checked_fixture(tc_, NULL, teardown);                   \
		tcase_set_timeout(tc_, 300);                                    \
		tcase_add_test(tc_, fn);                                       \
		suite_add_tcase(su, tc_);                                      \
	} while (0)
	ADD(bulk_clean);
	ADD(bulk_clean_zero_copy);
	ADD(bulk_reorder_dup);
	ADD(bulk_loss1);
	ADD(bulk_loss5);
	ADD(bulk_loss10);
	ADD(bulk_loss5_newreno);
	ADD(bulk_corrupt_and_loss);
	ADD(bulk_corrupt_and_loss_both_ways);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
