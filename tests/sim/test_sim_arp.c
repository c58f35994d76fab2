/* test_sim_arp.c - ARP and the neighbour cache between two simulated
 * stacks: resolution, the waiting queue and its bound, failure reported to
 * the socket, expiry, stale probing, gratuitous ARP. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "craft.h"
#include "netsim.h"
#include "simcheck.h"
#include "wire_arp.h"

static struct netsim sim;

static void setup(void) { sim_init(&sim, US_LINK_ETHER, 1500, 7); }
static void teardown(void) { sim.tap = NULL; sim_free(&sim); }

static struct us_sock *udp_open(int who, uint16_t port)
{
	return sim_udp_open(&sim, who, port);
}

struct neigh_find {
	uint32_t ip;
	bool found;
	struct us_neigh_info info;
};
static void neigh_cb(void *ctx, const struct us_neigh_info *n)
{
	struct neigh_find *f = ctx;

	if (n->ip == f->ip) {
		f->found = true;
		f->info = *n;
	}
}
static struct neigh_find neigh(int who, uint32_t ip)
{
	struct neigh_find f = {.ip = ip};

	us_neigh_foreach(sim.st[who], neigh_cb, &f);
	return f;
}

START_TEST(arp_resolves_and_flushes_queue_in_order)
{
	struct us_sock *srv = udp_open(SIM_B, 5000), *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 5000};
	uint8_t buf[8];
	struct neigh_find f;

	for (uint8_t i = 0; i < 3; i++)
		ck_assert_int_eq(us_sendto(cli, &i, 1, 0, &to, sim.now), 1);
	f = neigh(SIM_A, SIM_ADDR_B);
	ck_assert(f.found);
	ck_assert_int_eq(f.info.state, US_NEIGH_INCOMPLETE);
	ck_assert_uint_eq(f.info.queued, 3);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_arp_tx_request), 1);
	sim_run(&sim, 10000);
	for (uint8_t i = 0; i < 3; i++) {
		ck_assert_int_eq(us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now), 1);
		ck_assert_uint_eq(buf[0], i);
	}
	f = neigh(SIM_A, SIM_ADDR_B);
	ck_assert_int_eq(f.info.state, US_NEIGH_REACHABLE);
	ck_assert_mem_eq(f.info.mac, sim.mac[SIM_B], 6);
	ck_assert_uint_eq(f.info.queued, 0);
	/* B learnt A from the request (RFC 826): no request of its own. */
	f = neigh(SIM_B, SIM_ADDR_A);
	ck_assert(f.found);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_tx_request), 0);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_tx_reply), 1);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_arp_rx_reply), 1);
}
END_TEST

static bool drop_all_from_a(void *ctx, int from, uint8_t *f, size_t len)
{
	(void)ctx; (void)f; (void)len;
	return from != SIM_A;
}

START_TEST(arp_queue_is_bounded)
{
	struct us_sock *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 5000};

	sim.tap = drop_all_from_a;
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(us_sendto(cli, "x", 1, 0, &to, sim.now), 1);
	ck_assert_uint_eq(neigh(SIM_A, SIM_ADDR_B).info.queued, 64);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_arp_queue_drop), 36);
}
END_TEST

START_TEST(arp_failure_reports_host_unreachable)
{
	struct us_sock *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 5000};
	uint8_t buf[4];

	sim.tap = drop_all_from_a; /* nobody ever answers */
	ck_assert_int_eq(us_connect(cli, &to, sim.now), 0);
	ck_assert_int_eq(us_sendto(cli, "x", 1, 0, NULL, sim.now), 1);
	sim_run(&sim, 2500000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_arp_resolve_failed), 0);
	sim_run(&sim, 1000000);
	/* Three requests one second apart, then failure. */
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_arp_tx_request), 3);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_arp_resolve_failed), 1);
	ck_assert(!neigh(SIM_A, SIM_ADDR_B).found);
	ck_assert(us_sock_events(cli) & US_EV_ERR);
	ck_assert_int_eq(us_recvfrom(cli, buf, sizeof(buf), 0, NULL, sim.now), -EHOSTUNREACH);
}
END_TEST

START_TEST(arp_entry_goes_stale_then_expires)
{
	struct us_sock *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 5000};

	us_sendto(cli, "x", 1, 0, &to, sim.now);
	sim_run(&sim, 10000);
	ck_assert_int_eq(neigh(SIM_A, SIM_ADDR_B).info.state, US_NEIGH_REACHABLE);
	sim_run(&sim, 31000000);
	ck_assert_int_eq(neigh(SIM_A, SIM_ADDR_B).info.state, US_NEIGH_STALE);
	sim_run(&sim, 61000000);
	ck_assert(!neigh(SIM_A, SIM_ADDR_B).found);
}
END_TEST

START_TEST(arp_stale_entry_used_and_refreshed)
{
	struct us_sock *srv = udp_open(SIM_B, 5000), *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 5000};
	uint8_t buf[4];
	uint64_t req;

	us_sendto(cli, "x", 1, 0, &to, sim.now);
	sim_run(&sim, 31000000);
	ck_assert_int_eq(neigh(SIM_A, SIM_ADDR_B).info.state, US_NEIGH_STALE);
	us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now);
	req = sim_ctr(&sim, SIM_A, US_CTR_arp_tx_request);
	/* Sent at once with the stale address, and a fresh request goes out. */
	us_sendto(cli, "y", 1, 0, &to, sim.now);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_arp_tx_request), req + 1);
	sim_run(&sim, 10000);
	ck_assert_int_eq(us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now), 1);
	ck_assert_uint_eq(buf[0], 'y');
	ck_assert_int_eq(neigh(SIM_A, SIM_ADDR_B).info.state, US_NEIGH_REACHABLE);
}
END_TEST

static int announces;
static bool count_announce(void *ctx, int from, uint8_t *f, size_t len)
{
	struct arp_pkt p;

	(void)ctx;
	if (from == SIM_A && len >= 42 && f[12] == 0x08 && f[13] == 0x06 &&
	    arp_parse(f + 14, len - 14, &p) == 0 && p.spa == SIM_ADDR_A && p.tpa == SIM_ADDR_A &&
	    p.op == ARP_OP_REQUEST && (f[0] & f[1] & f[2] & f[3] & f[4] & f[5]) == 0xff)
		announces++;
	return true;
}

START_TEST(arp_gratuitous_announce)
{
	announces = 0;
	sim.tap = count_announce;
	us_announce(sim.st[SIM_A], sim.now);
	sim_run(&sim, 5000000);
	ck_assert_int_eq(announces, 2); /* RFC 5227: twice, 2 s apart */
	/* B had no entry for A: an announcement does not create one. */
	ck_assert(!neigh(SIM_B, SIM_ADDR_A).found);
}
END_TEST

START_TEST(arp_rejects_bad_packets)
{
	uint8_t frame[64];
	struct eth_hdr eh = {.type = ETH_TYPE_ARP};
	struct arp_pkt p = {.op = ARP_OP_REQUEST, .spa = SIM_ADDR_A, .tpa = SIM_ADDR_B};
	size_t off;

	memset(eh.dst, 0xff, 6);
	memcpy(eh.src, sim.mac[SIM_A], 6);
	off = eth_build(frame, &eh);
	memcpy(p.sha, sim.mac[SIM_A], 6);
	arp_build(frame + off, &p);
	/* truncated */
	sim_inject(&sim, SIM_B, frame, off + 27);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_drop_trunc), 1);
	/* wrong hardware type */
	frame[off + 1] = 6;
	sim_inject(&sim, SIM_B, frame, off + ARP_LEN);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_drop_unsupported), 1);
	frame[off + 1] = 1;
	/* bad op */
	p.op = 9;
	arp_build(frame + off, &p);
	sim_inject(&sim, SIM_B, frame, off + ARP_LEN);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_drop_bad_op), 1);
	/* multicast sender MAC, and a sender claiming B's own address */
	p.op = ARP_OP_REQUEST;
	p.sha[0] = 0x01;
	arp_build(frame + off, &p);
	sim_inject(&sim, SIM_B, frame, off + ARP_LEN);
	p.sha[0] = 0x02;
	p.spa = SIM_ADDR_B;
	arp_build(frame + off, &p);
	sim_inject(&sim, SIM_B, frame, off + ARP_LEN);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_drop_bad_sender), 2);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_tx_reply), 0);
	ck_assert(!neigh(SIM_B, SIM_ADDR_A).found);
	/* a request for someone else: no reply, no entry */
	p.spa = SIM_ADDR_A;
	p.tpa = 0x0a000009u;
	arp_build(frame + off, &p);
	sim_inject(&sim, SIM_B, frame, off + ARP_LEN);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_drop_not_us), 1);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_tx_reply), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_arp");
	TCase *tc = tcase_create("arp");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, arp_resolves_and_flushes_queue_in_order);
	tcase_add_test(tc, arp_queue_is_bounded);
	tcase_add_test(tc, arp_failure_reports_host_unreachable);
	tcase_add_test(tc, arp_entry_goes_stale_then_expires);
	tcase_add_test(tc, arp_stale_entry_used_and_refreshed);
	tcase_add_test(tc, arp_gratuitous_announce);
	tcase_add_test(tc, arp_rejects_bad_packets);
	suite_add_tcase(s, tc);
	return sim_run_suite(s);
}
