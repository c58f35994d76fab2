/* test_sim_ip4.c - IPv4 in the simulated network: fragmentation on output,
 * reassembly in order, reversed, with duplicates, overlaps, a missing
 * fragment timing out and the memory cap; 64 KiB echo; malformed headers;
 * TUN (raw IP) mode. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "craft.h"
#include "netsim.h"
#include "simcheck.h"
#include "wire_icmp.h"
#include "wire_udp.h"

static struct netsim sim;
static uint8_t dgram[70000];
static uint8_t frame[70000];

static void setup(void) { sim_init(&sim, US_LINK_ETHER, 1500, 11); }
static void teardown(void) { sim.tap = NULL; sim_free(&sim); }

static struct us_sock *udp_open(int who, uint16_t port)
{
	return sim_udp_open(&sim, who, port);
}

/* Build a UDP datagram A:4000 -> B:5000 of `len` payload bytes into
 * dgram; returns the transport length. */
static size_t make_udp(size_t len)
{
	static uint8_t payload[65507];

	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	return craft_udp(dgram, SIM_ADDR_A, SIM_ADDR_B, 4000, 5000, payload, len);
}

/* Inject bytes [off, off+len) of dgram as one fragment. */
static void inject_frag(uint16_t id, uint8_t proto, size_t off, size_t len, bool mf)
{
	struct ip4_hdr ih = {.ttl = 64, .proto = proto, .src = SIM_ADDR_A, .dst = SIM_ADDR_B,
			     .id = id, .mf = mf, .frag_off = (uint16_t)off};
	size_t fl = craft_ip(frame, &sim, SIM_A, SIM_B, &ih, dgram + off, len);

	sim_inject(&sim, SIM_B, frame, fl);
}

static void check_payload(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (uint8_t)(i ^ (i >> 8)))
			ck_abort_msg("payload differs at byte %zu", i);
}

START_TEST(reass_in_any_order)
{
	static const int orders[3][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}};
	struct us_sock *srv = udp_open(SIM_B, 5000);
	size_t l4 = make_udp(5000); /* 5008 bytes: 1480 * 3 + 568 */
	static uint8_t buf[6000];

	for (int o = 0; o < 3; o++) {
		for (int k = 0; k < 4; k++) {
			size_t off = (size_t)orders[o][k] * 1480;
			size_t n = off + 1480 <= l4 ? 1480 : l4 - off;

			inject_frag((uint16_t)(100 + o), IP4_PROTO_UDP, off, n, off + n < l4);
		}
		ck_assert_int_eq(us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now), 5000);
		check_payload(buf, 5000);
	}
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_ok), 3);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_frag_rx), 12);
}
END_TEST

START_TEST(reass_exact_duplicate_ignored)
{
	struct us_sock *srv = udp_open(SIM_B, 5000);
	size_t l4 = make_udp(2000);
	static uint8_t buf[3000];

	inject_frag(7, IP4_PROTO_UDP, 0, 1480, true);
	inject_frag(7, IP4_PROTO_UDP, 0, 1480, true);
	inject_frag(7, IP4_PROTO_UDP, 1480, l4 - 1480, false);
	ck_assert_int_eq(us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now), 2000);
	check_payload(buf, 2000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_dup), 1);
	ck_assert_int_eq(us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now), -EAGAIN);
}
END_TEST

START_TEST(reass_overlap_discards_datagram)
{
	struct us_sock *srv = udp_open(SIM_B, 5000);
	size_t l4 = make_udp(3000);
	static uint8_t buf[4000];

	/* [0,1480) then [1472, 2952): an 8-byte overlap. */
	inject_frag(9, IP4_PROTO_UDP, 0, 1480, true);
	inject_frag(9, IP4_PROTO_UDP, 1472, 1480, true);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_overlap), 1);
	inject_frag(9, IP4_PROTO_UDP, 2952, l4 - 2952, false);
	ck_assert_int_eq(us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now), -EAGAIN);
	/* A fragment covering a later one (overlap from the left). */
	inject_frag(10, IP4_PROTO_UDP, 1480, 1480, true);
	inject_frag(10, IP4_PROTO_UDP, 0, 2960, true);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_overlap), 2);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_ok), 0);
}
END_TEST

START_TEST(reass_missing_fragment_times_out)
{
	size_t l4 = make_udp(3000);

	(void)l4;
	udp_open(SIM_B, 5000);
	inject_frag(11, IP4_PROTO_UDP, 0, 1480, true);
	inject_frag(11, IP4_PROTO_UDP, 1480, 1480, true);
	sim_run(&sim, 29000000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_timeout), 0);
	sim_run(&sim, 2000000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_timeout), 1);
	/* RFC 792: time exceeded (reassembly) back to the sender. */
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_icmp_tx_time_exceeded), 1);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_icmp_rx_time_exceeded), 1);
	ck_assert_uint_eq(us_next_deadline(sim.st[SIM_B]) == US_TIME_NEVER ||
				  us_next_deadline(sim.st[SIM_B]) > sim.now,
			  1);
}
END_TEST

START_TEST(reass_memory_is_capped)
{
	struct us_sock *srv = udp_open(SIM_B, 5000);
	static uint8_t buf[3000];
	size_t l4 = make_udp(60000);

	/* 100 datagrams, each 40 fragments short of complete: ~5.9 MB. */
	for (uint16_t id = 1; id <= 100; id++)
		for (size_t k = 0; k < 40; k++)
			inject_frag(id, IP4_PROTO_UDP, k * 1480, 1480, true);
	ck_assert_uint_gt(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_mem_drop), 0);
	/* Still works for a fresh datagram. */
	l4 = make_udp(2000);
	inject_frag(999, IP4_PROTO_UDP, 0, 1480, true);
	inject_frag(999, IP4_PROTO_UDP, 1480, l4 - 1480, false);
	ck_assert_int_eq(us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now), 2000);
	check_payload(buf, 2000);
}
END_TEST

START_TEST(reass_bad_fragments)
{
	make_udp(3000);
	udp_open(SIM_B, 5000);
	/* A non-final fragment whose length is not a multiple of 8. */
	inject_frag(20, IP4_PROTO_UDP, 0, 1001, true);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_bad_frag), 1);
	/* Past 65535 bytes. */
	inject_frag(21, IP4_PROTO_UDP, 65528, 16, false);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_oversize), 1);
	/* Two different ends. */
	inject_frag(22, IP4_PROTO_UDP, 1480, 100, false);
	inject_frag(22, IP4_PROTO_UDP, 1480, 200, false);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_bad_frag), 2);
	/* Data past a known end. */
	inject_frag(23, IP4_PROTO_UDP, 1480, 100, false);
	inject_frag(23, IP4_PROTO_UDP, 2960, 8, true);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_bad_frag), 3);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_ok), 0);
}
END_TEST

/* Collect B's output fragments and rebuild the datagram in the test. */
static uint8_t rebuilt[70000];
static size_t rebuilt_len, rebuilt_got;
static unsigned frames_seen, bad_frames;
static uint16_t tap_mtu;
static bool rebuild_tap(void *ctx, int from, uint8_t *f, size_t len)
{
	struct ip4_hdr ih;

	(void)ctx;
	if (from != SIM_B || len < 14 || f[12] != 0x08 || f[13] != 0x00)
		return true;
	if (ip4_parse(f + 14, len - 14, &ih) < 0 || ih.total_len > tap_mtu ||
	    (ih.mf && (ih.total_len - ih.hlen) % 8)) {
		bad_frames++;
		return true;
	}
	frames_seen++;
	memcpy(rebuilt + ih.frag_off, f + 14 + ih.hlen, ih.total_len - ih.hlen);
	rebuilt_got += ih.total_len - ih.hlen;
	if (!ih.mf)
		rebuilt_len = ih.frag_off + ih.total_len - ih.hlen;
	return true;
}

START_TEST(echo_64k_fragmented_both_ways)
{
	static uint8_t payload[65000];
	size_t l4;
	struct icmp_hdr h;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13);
	l4 = craft_echo(dgram, 0x1234, 1, payload, sizeof(payload));
	rebuilt_len = rebuilt_got = frames_seen = bad_frames = 0;
	tap_mtu = 1500;
	sim.tap = rebuild_tap;
	for (size_t off = 0; off < l4; off += 1480)
		inject_frag(77, IP4_PROTO_ICMP, off, l4 - off < 1480 ? l4 - off : 1480,
			    off + 1480 < l4);
	sim_run(&sim, 100000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_icmp_tx_echo_reply), 1);
	ck_assert_uint_eq(bad_frames, 0);
	ck_assert_uint_eq(frames_seen, (l4 + 1479) / 1480);
	ck_assert_uint_eq(rebuilt_len, l4);
	ck_assert_uint_eq(rebuilt_got, l4);
	ck_assert_int_eq(icmp_parse(rebuilt, rebuilt_len, &h), 0);
	ck_assert_uint_eq(h.type, ICMP_ECHO_REPLY);
	ck_assert_uint_eq(h.rest, 0x12340001u);
	ck_assert_mem_eq(rebuilt + 8, payload, sizeof(payload));
	/* A got and reassembled the reply too. */
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_ip4_reass_ok), 1);
}
END_TEST

START_TEST(output_fragments_fit_small_mtu)
{
	struct netsim *n = &sim;
	struct us_sock *srv, *cli;
	struct us_addr to = {SIM_ADDR_A, 5000};
	static uint8_t out[3000], in[3000];

	sim_free(n);
	sim_init(n, US_LINK_ETHER, 576, 5);
	srv = udp_open(SIM_A, 5000);
	cli = udp_open(SIM_B, 0);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)i;
	rebuilt_len = rebuilt_got = frames_seen = bad_frames = 0;
	tap_mtu = 576;
	sim.tap = rebuild_tap;
	ck_assert_int_eq(us_sendto(cli, out, sizeof(out), 0, &to, sim.now), 3000);
	sim_run(&sim, 100000);
	ck_assert_uint_eq(bad_frames, 0);
	ck_assert_uint_eq(frames_seen, (3008 + 551) / 552); /* 552 = (576-20) & ~7 */
	ck_assert_int_eq(us_recvfrom(srv, in, sizeof(in), 0, NULL, sim.now), 3000);
	ck_assert_mem_eq(in, out, sizeof(out));
}
END_TEST

START_TEST(malformed_ip_dropped_by_reason)
{
	uint8_t l4[16];
	struct ip4_hdr ih = {.ttl = 64, .proto = IP4_PROTO_UDP, .src = SIM_ADDR_A,
			     .dst = SIM_ADDR_B};
	size_t n = craft_udp(l4, SIM_ADDR_A, SIM_ADDR_B, 1, 2, (const uint8_t *)"abcdefgh", 8);
	size_t fl = craft_ip(frame, &sim, SIM_A, SIM_B, &ih, l4, n);
	uint8_t f[100];

	memcpy(f, frame, fl);
	f[14 + 10] ^= 1; /* header checksum */
	sim_inject(&sim, SIM_B, f, fl);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_drop_bad_csum), 1);
	memcpy(f, frame, fl);
	f[14] = 0x65; /* version 6 */
	sim_inject(&sim, SIM_B, f, fl);
	f[14] = 0x44; /* IHL 4 */
	sim_inject(&sim, SIM_B, f, fl);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_drop_bad_header), 2);
	sim_inject(&sim, SIM_B, frame, 14 + 19);
	sim_inject(&sim, SIM_B, frame, fl - 1); /* total length past the frame */
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_drop_trunc), 2);
	sim_inject(&sim, SIM_B, frame, 13);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_eth_drop_trunc), 1);
	/* UDP checksum */
	memcpy(f, frame, fl);
	f[fl - 1] ^= 0x40;
	sim_inject(&sim, SIM_B, f, fl);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_udp_drop_bad_csum), 1);
	/* Not for us, source broadcast, unknown protocol. */
	ih.dst = 0x0a000009u;
	sim_inject(&sim, SIM_B, f, craft_ip(f, &sim, SIM_A, SIM_B, &ih, l4, n));
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_drop_not_us), 1);
	ih.dst = SIM_ADDR_B;
	ih.src = 0x0a0000ffu;
	sim_inject(&sim, SIM_B, f, craft_ip(f, &sim, SIM_A, SIM_B, &ih, l4, n));
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_drop_bad_src), 1);
	ih.src = SIM_ADDR_A;
	ih.proto = 99;
	sim_inject(&sim, SIM_B, f, craft_ip(f, &sim, SIM_A, SIM_B, &ih, l4, n));
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_drop_proto), 1);
	sim_run(&sim, 10000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_icmp_tx_unreach), 1);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_ip4_rx_delivered), 2);
}
END_TEST

START_TEST(tun_mode_echo_and_udp)
{
	struct us_sock *srv, *cli;
	struct us_addr to = {SIM_ADDR_B, 5000};
	static uint8_t payload[3000], in[3000];
	struct ip4_hdr ih = {.ttl = 64, .proto = IP4_PROTO_ICMP, .src = SIM_ADDR_A,
			     .dst = SIM_ADDR_B};
	size_t l4;

	sim_free(&sim);
	sim_init(&sim, US_LINK_IP, 1500, 3);
	srv = udp_open(SIM_B, 5000);
	cli = udp_open(SIM_A, 0);
	ck_assert_int_eq(us_sendto(cli, payload, sizeof(payload), 0, &to, sim.now), 3000);
	sim_run(&sim, 10000);
	ck_assert_int_eq(us_recvfrom(srv, in, sizeof(in), 0, NULL, sim.now), 3000);
	l4 = craft_echo(dgram, 1, 1, payload, 56);
	sim_inject(&sim, SIM_B, frame, craft_ip(frame, &sim, SIM_A, SIM_B, &ih, dgram, l4));
	sim_run(&sim, 10000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_icmp_tx_echo_reply), 1);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_arp_tx), 0);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_icmp_rx), 1);
}
END_TEST

START_TEST(config_rejects_bad_values)
{
	struct us_config c = {.mode = US_LINK_ETHER, .addr = SIM_ADDR_A, .prefix = 24, .mtu = 500};
	int err = 0;

	c.output = (us_output_fn)1;
	ck_assert_ptr_null(us_stack_new(&c, 0, &err));
	ck_assert_int_eq(err, -EINVAL);
	c.mtu = 1500;
	c.gateway = 0xc0a80001u; /* not on the connected net */
	ck_assert_ptr_null(us_stack_new(&c, 0, &err));
	ck_assert_int_eq(err, -EINVAL);
	c.gateway = 0;
	c.prefix = 33;
	ck_assert_ptr_null(us_stack_new(&c, 0, &err));
	c.prefix = 24;
	c.output = NULL;
	ck_assert_ptr_null(us_stack_new(&c, 0, &err));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_ip4");
	TCase *tc = tcase_create("ip4");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, reass_in_any_order);
	tcase_add_test(tc, reass_exact_duplicate_ignored);
	tcase_add_test(tc, reass_overlap_discards_datagram);
	tcase_add_test(tc, reass_missing_fragment_times_out);
	tcase_add_test(tc, reass_memory_is_capped);
	tcase_add_test(tc, reass_bad_fragments);
	tcase_add_test(tc, echo_64k_fragmented_both_ways);
	tcase_add_test(tc, output_fragments_fit_small_mtu);
	tcase_add_test(tc, malformed_ip_dropped_by_reason);
	tcase_add_test(tc, tun_mode_echo_and_udp);
	tcase_add_test(tc, config_rejects_bad_values);
	suite_add_tcase(s, tc);
	return sim_run_suite(s);
}
