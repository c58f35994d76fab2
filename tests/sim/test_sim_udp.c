/* test_sim_udp.c - UDP between two stacks on a simulated link: echo,
 * errors reported through ICMP, receive-buffer limits, ports, port
 * sharing (SO_REUSEADDR/SO_REUSEPORT as Linux), and the reset a closed TCP
 * port answers with. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "craft.h"
#include "netsim.h"
#include "simcheck.h"
#include "wire_tcp.h"

static struct netsim sim;

static void setup(void) { sim_init(&sim, US_LINK_ETHER, 1500, 42); }
static void teardown(void) { sim_free(&sim); }

static struct us_sock *udp_open(int who, uint16_t port)
{
	return sim_udp_open(&sim, who, port);
}

/* RFC 862 echo server: every datagram goes back to its sender. */
static void echo_notify(void *ctx, struct us_sock *so, unsigned ev)
{
	uint8_t buf[70000];
	struct us_addr from;
	ssize_t n;
	int *count = ctx;

	if (!(ev & US_EV_IN))
		return;
	while ((n = us_recvfrom(so, buf, sizeof(buf), 0, &from, sim.now)) >= 0) {
		ck_assert_int_eq(us_sendto(so, buf, (size_t)n, 0, &from, sim.now), n);
		(*count)++;
	}
}

START_TEST(udp_echo_roundtrip)
{
	static const size_t sizes[] = {0, 1, 1472, 1473, 8000, 65507};
	struct us_sock *srv = udp_open(SIM_B, 7), *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 7}, from, local;
	static uint8_t out[65507], in[65507];
	int echoed = 0;

	us_sock_set_notify(srv, echo_notify, &echoed);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 3);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		ck_assert_int_eq(us_sendto(cli, out, sizes[k], 0, &to, sim.now), (ssize_t)sizes[k]);
		sim_run(&sim, 10000);
		ck_assert_int_eq(us_recvfrom(cli, in, sizeof(in), 0, &from, sim.now),
				 (ssize_t)sizes[k]);
		ck_assert_mem_eq(in, out, sizes[k]);
		ck_assert_uint_eq(from.ip, SIM_ADDR_B);
		ck_assert_uint_eq(from.port, 7);
	}
	ck_assert_int_eq(echoed, 6);
	us_getsockname(cli, &local);
	ck_assert_uint_ge(local.port, 32768);
	ck_assert_uint_le(local.port, 60999);
	/* 1473 bytes and more needed fragments both ways. */
	ck_assert_uint_ge(sim_ctr(&sim, SIM_B, US_CTR_ip4_reass_ok), 3);
	ck_assert_uint_ge(sim_ctr(&sim, SIM_A, US_CTR_ip4_reass_ok), 3);
	ck_assert_int_eq(us_recvfrom(cli, in, sizeof(in), 0, &from, sim.now), -EAGAIN);
}
END_TEST

START_TEST(udp_closed_port_refused)
{
	struct us_sock *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 9999};
	uint8_t buf[16];

	ck_assert_int_eq(us_connect(cli, &to, sim.now), 0);
	ck_assert_int_eq(us_sendto(cli, "x", 1, 0, NULL, sim.now), 1);
	sim_run(&sim, 10000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_udp_drop_no_port), 1);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_icmp_tx_unreach), 1);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_udp_rx_icmp_err), 1);
	ck_assert(us_sock_events(cli) & US_EV_ERR);
	ck_assert_int_eq(us_recvfrom(cli, buf, sizeof(buf), 0, NULL, sim.now), -ECONNREFUSED);
	/* Reported once, then cleared. */
	ck_assert_int_eq(us_recvfrom(cli, buf, sizeof(buf), 0, NULL, sim.now), -EAGAIN);
	ck_assert(!(us_sock_events(cli) & US_EV_ERR));
}
END_TEST

START_TEST(udp_unconnected_ignores_icmp)
{
	struct us_sock *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 9999};
	uint8_t buf[16];

	ck_assert_int_eq(us_sendto(cli, "x", 1, 0, &to, sim.now), 1);
	sim_run(&sim, 10000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_icmp_tx_unreach), 1);
	ck_assert_int_eq(us_recvfrom(cli, buf, sizeof(buf), 0, NULL, sim.now), -EAGAIN);
}
END_TEST

START_TEST(udp_icmp_errors_rate_limited)
{
	struct us_sock *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 9999};

	/* Resolve ARP first, then 200 datagrams at once: the burst of 50
	 * goes out, the rest are suppressed and counted. */
	ck_assert_int_eq(us_sendto(cli, "x", 1, 0, &to, sim.now), 1);
	sim_run(&sim, 100000);
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(us_sendto(cli, "x", 1, 0, &to, sim.now), 1);
	sim_run(&sim, 1000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_udp_drop_no_port), 201);
	ck_assert_uint_le(sim_ctr(&sim, SIM_B, US_CTR_icmp_tx_unreach), 52);
	ck_assert_uint_ge(sim_ctr(&sim, SIM_B, US_CTR_icmp_rate_limited), 149);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_icmp_tx_unreach) +
			  sim_ctr(&sim, SIM_B, US_CTR_icmp_rate_limited), 201);
}
END_TEST

START_TEST(udp_rcvbuf_limit_drops_and_counts)
{
	struct us_sock *srv = udp_open(SIM_B, 5000), *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 5000};
	uint8_t buf[1000] = {0};
	int got = 0;

	ck_assert_int_eq(us_sock_set_rcvbuf(srv, 4000), 0);
	for (int i = 0; i < 10; i++)
		us_sendto(cli, buf, sizeof(buf), 0, &to, sim.now);
	sim_run(&sim, 10000);
	while (us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now) == 1000)
		got++;
	ck_assert_int_eq(got, 4);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_udp_drop_rcvbuf), 6);
}
END_TEST

START_TEST(udp_peek_and_trunc)
{
	struct us_sock *srv = udp_open(SIM_B, 5000), *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 5000};
	uint8_t buf[4];

	us_sendto(cli, "abcdefgh", 8, 0, &to, sim.now);
	sim_run(&sim, 10000);
	ck_assert_int_eq(us_recvfrom(srv, buf, 4, US_MSG_PEEK, NULL, sim.now), 4);
	ck_assert_mem_eq(buf, "abcd", 4);
	ck_assert_int_eq(us_recvfrom(srv, buf, 4, US_MSG_TRUNC, NULL, sim.now), 8);
	ck_assert_mem_eq(buf, "abcd", 4);
	ck_assert_int_eq(us_recvfrom(srv, buf, 4, 0, NULL, sim.now), -EAGAIN);
}
END_TEST

START_TEST(udp_bind_rules)
{
	struct us_sock *a = udp_open(SIM_B, 5000), *b;
	struct us_addr same = {0, 5000}, other_ip = {0x0a000063u, 6000}, to = {SIM_ADDR_B, 1};
	uint8_t big[65508];

	(void)a;
	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_DGRAM, &b), 0);
	ck_assert_int_eq(us_bind(b, &same), -EADDRINUSE);
	ck_assert_int_eq(us_bind(b, &other_ip), -EADDRNOTAVAIL);
	ck_assert_int_eq(us_sendto(b, "x", 1, 0, NULL, sim.now), -EDESTADDRREQ);
	ck_assert_int_eq(us_sendto(b, big, sizeof(big), 0, &to, sim.now), -EMSGSIZE);
	to.ip = 0x0a0000ffu; /* broadcast without SO_BROADCAST */
	ck_assert_int_eq(us_sendto(b, "x", 1, 0, &to, sim.now), -EACCES);
	to.ip = 0xc0a80001u; /* no route (no gateway) */
	ck_assert_int_eq(us_sendto(b, "x", 1, 0, &to, sim.now), -ENETUNREACH);
	ck_assert_int_eq(us_close(b, sim.now), 0);
}
END_TEST

START_TEST(udp_ephemeral_ports_are_random)
{
	uint16_t ports[20];
	int distinct_gaps = 0;

	for (int i = 0; i < 20; i++) {
		struct us_sock *so = udp_open(SIM_A, 0);
		struct us_addr l;

		us_getsockname(so, &l);
		ports[i] = l.port;
		ck_assert_uint_ge(l.port, 32768);
		ck_assert_uint_le(l.port, 60999);
	}
	for (int i = 1; i < 20; i++)
		if (ports[i] != ports[i - 1] + 1)
			distinct_gaps++;
	ck_assert_int_ge(distinct_gaps, 15); /* not sequential */
}
END_TEST

START_TEST(udp_to_self_loops_back)
{
	struct us_sock *srv = udp_open(SIM_A, 5000), *cli = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_A, 5000};
	uint8_t buf[8];

	ck_assert_int_eq(us_sendto(cli, "self", 4, 0, &to, sim.now), 4);
	ck_assert_int_eq(us_recvfrom(srv, buf, sizeof(buf), 0, NULL, sim.now), 4);
	ck_assert_mem_eq(buf, "self", 4);
	ck_assert_uint_eq(sim.sent[SIM_A], 0); /* nothing went on the wire */
}
END_TEST

/* A UDP socket on `who` with the given sharing options, bound to ip:port. */
static struct us_sock *udp_shared(int who, uint32_t ip, uint16_t port, int reuseaddr,
				  int reuseport, uint32_t owner, int want)
{
	struct us_sock *so;
	struct us_addr a = {ip, port};

	ck_assert_int_eq(us_socket(sim.st[who], US_SOCK_DGRAM, &so), 0);
	ck_assert_int_eq(us_setsockopt(so, US_SO_REUSEADDR, reuseaddr), 0);
	ck_assert_int_eq(us_setsockopt(so, US_SO_REUSEPORT, reuseport), 0);
	us_sock_set_owner(so, owner);
	ck_assert_int_eq(us_bind(so, &a), want);
	if (want < 0) {
		us_close(so, sim.now);
		return NULL;
	}
	return so;
}

/* How many datagrams wait on so (drained). */
static int udp_drain(struct us_sock *so)
{
	uint8_t buf[64];
	int n = 0;

	while (us_recvfrom(so, buf, sizeof(buf), 0, NULL, sim.now) >= 0)
		n++;
	return n;
}

START_TEST(udp_reuse_bind_rules)
{
	int v = -1;

	/* Plain first socket: nobody may join, whatever they set. */
	struct us_sock *a = udp_shared(SIM_B, 0, 5000, 0, 0, 0, 0);
	udp_shared(SIM_B, 0, 5000, 1, 0, 0, -EADDRINUSE);
	udp_shared(SIM_B, 0, 5000, 0, 1, 0, -EADDRINUSE);
	udp_shared(SIM_B, SIM_ADDR_B, 5000, 1, 1, 0, -EADDRINUSE); /* overlaps the wildcard */
	us_close(a, sim.now);
	/* SO_REUSEADDR on both: shared, also wildcard next to our address. */
	a = udp_shared(SIM_B, 0, 5001, 1, 0, 0, 0);
	struct us_sock *b = udp_shared(SIM_B, SIM_ADDR_B, 5001, 1, 0, 0, 0);
	struct us_sock *c = udp_shared(SIM_B, 0, 5001, 1, 0, 0, 0);
	udp_shared(SIM_B, 0, 5001, 0, 0, 0, -EADDRINUSE); /* the newcomer must set it too */
	ck_assert_int_eq(us_getsockopt(b, US_SO_REUSEADDR, &v), 0);
	ck_assert_int_eq(v, 1);
	/* SO_REUSEPORT: same owner only. */
	struct us_sock *p1 = udp_shared(SIM_B, 0, 5002, 0, 1, 1000, 0);
	struct us_sock *p2 = udp_shared(SIM_B, 0, 5002, 0, 1, 1000, 0);
	udp_shared(SIM_B, 0, 5002, 0, 1, 1001, -EADDRINUSE);
	udp_shared(SIM_B, 0, 5002, 1, 0, 1000, -EADDRINUSE);
	ck_assert_int_eq(us_getsockopt(p2, US_SO_REUSEPORT, &v), 0);
	ck_assert_int_eq(v, 1);
	/* Closing one leaves the port to the others; the last one frees it. */
	us_close(p1, sim.now);
	udp_shared(SIM_B, 0, 5002, 0, 0, 1000, -EADDRINUSE);
	us_close(p2, sim.now);
	us_close(udp_shared(SIM_B, 0, 5002, 0, 0, 1000, 0), sim.now);
	us_close(a, sim.now);
	us_close(b, sim.now);
	us_close(c, sim.now);
	us_close(udp_shared(SIM_B, 0, 5001, 0, 0, 0, 0), sim.now);
}
END_TEST

START_TEST(udp_reuse_most_specific_wins)
{
	struct us_sock *w = udp_shared(SIM_B, 0, 6000, 1, 0, 0, 0);
	struct us_sock *b = udp_shared(SIM_B, SIM_ADDR_B, 6000, 1, 0, 0, 0);
	struct us_sock *c = udp_shared(SIM_B, 0, 6000, 1, 0, 0, 0);
	struct us_sock *x = udp_open(SIM_A, 7000), *y = udp_open(SIM_A, 7001);
	struct us_addr to = {SIM_ADDR_B, 6000}, peer_x = {SIM_ADDR_A, 7000};

	/* c is connected to x: x's datagrams are c's; y's go to the socket
	 * bound to the address, not the wildcard. */
	ck_assert_int_eq(us_connect(c, &peer_x, sim.now), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(us_sendto(x, "x", 1, 0, &to, sim.now), 1);
		ck_assert_int_eq(us_sendto(y, "y", 1, 0, &to, sim.now), 1);
	}
	sim_run(&sim, 10000);
	ck_assert_int_eq(udp_drain(c), 3);
	ck_assert_int_eq(udp_drain(b), 3);
	ck_assert_int_eq(udp_drain(w), 0);
	/* Without the bound one, the wildcard; without c, x's go there too. */
	us_close(b, sim.now);
	us_close(c, sim.now);
	ck_assert_int_eq(us_sendto(x, "x", 1, 0, &to, sim.now), 1);
	ck_assert_int_eq(us_sendto(y, "y", 1, 0, &to, sim.now), 1);
	sim_run(&sim, 10000);
	ck_assert_int_eq(udp_drain(w), 2);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_udp_drop_no_port), 0);
}
END_TEST

START_TEST(udp_reuse_equal_last_bound_wins)
{
	struct us_sock *first = udp_shared(SIM_B, 0, 6001, 1, 0, 0, 0);
	struct us_sock *second = udp_shared(SIM_B, 0, 6001, 1, 0, 0, 0);
	struct us_sock *x = udp_open(SIM_A, 0);
	struct us_addr to = {SIM_ADDR_B, 6001};

	/* Linux adds each to the head of the port's chain: the later one. */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(us_sendto(x, "x", 1, 0, &to, sim.now), 1);
	sim_run(&sim, 10000);
	ck_assert_int_eq(udp_drain(second), 4);
	ck_assert_int_eq(udp_drain(first), 0);
}
END_TEST

START_TEST(udp_reuseport_spreads_by_source)
{
	enum { NS = 4, NC = 24 };
	struct us_sock *srv[NS], *cli[NC];
	struct us_addr to = {SIM_ADDR_B, 6100};
	int used = 0, total = 0;

	for (int i = 0; i < NS; i++)
		srv[i] = udp_shared(SIM_B, 0, 6100, 0, 1, 0, 0);
	for (int k = 0; k < NC; k++)
		cli[k] = udp_open(SIM_A, 0);
	/* Round 1: each client sends one; note which socket got it. */
	int owner[NC];
	for (int k = 0; k < NC; k++) {
		ck_assert_int_eq(us_sendto(cli[k], "a", 1, 0, &to, sim.now), 1);
		sim_run(&sim, 10000);
		owner[k] = -1;
		for (int i = 0; i < NS; i++) {
			int n = udp_drain(srv[i]);
			ck_assert_int_le(n, 1);
			if (n) {
				ck_assert_int_eq(owner[k], -1);
				owner[k] = i;
			}
		}
		ck_assert_int_ge(owner[k], 0);
	}
	/* Round 2: three more from each; all to the same socket as before. */
	for (int k = 0; k < NC; k++)
		for (int j = 0; j < 3; j++)
			ck_assert_int_eq(us_sendto(cli[k], "b", 1, 0, &to, sim.now), 1);
	sim_run(&sim, 10000);
	for (int i = 0; i < NS; i++) {
		int want = 0, n = udp_drain(srv[i]);
		for (int k = 0; k < NC; k++)
			want += owner[k] == i ? 3 : 0;
		ck_assert_int_eq(n, want);
		used += n > 0;
		total += n;
	}
	ck_assert_int_eq(total, 3 * NC);
	ck_assert_int_ge(used, 2); /* spread, not all on one socket */
}
END_TEST

START_TEST(udp_reuse_broadcast_to_all)
{
	struct us_sock *w1 = udp_shared(SIM_B, 0, 6200, 1, 0, 0, 0);
	struct us_sock *w2 = udp_shared(SIM_B, 0, 6200, 1, 0, 0, 0);
	struct us_sock *b = udp_shared(SIM_B, SIM_ADDR_B, 6200, 1, 0, 0, 0);
	struct us_sock *x = udp_open(SIM_A, 0);
	struct us_addr bc = {0x0a0000ffu, 6200};

	ck_assert_int_eq(us_setsockopt(x, US_SO_BROADCAST, 1), 0);
	ck_assert_int_eq(us_sendto(x, "all", 3, 0, &bc, sim.now), 3);
	sim_run(&sim, 10000);
	ck_assert_int_eq(udp_drain(w1), 1);
	ck_assert_int_eq(udp_drain(w2), 1);
	ck_assert_int_eq(udp_drain(b), 0); /* bound to the unicast address */
}
END_TEST

/* Capture the last frame a stack sent. */
static uint8_t last_frame[2000];
static size_t last_len;
static bool capture(void *ctx, int from, uint8_t *f, size_t len)
{
	(void)ctx;
	if (from == SIM_B && len <= sizeof(last_frame)) {
		memcpy(last_frame, f, len);
		last_len = len;
	}
	return true;
}

START_TEST(tcp_syn_to_closed_port_gets_rst_ack)
{
	uint8_t seg[TCP_HLEN + 8], frame[200];
	struct tcp_hdr th = {0}, rh;
	struct ip4_hdr ih = {.ttl = 64, .proto = IP4_PROTO_TCP, .src = SIM_ADDR_A,
			     .dst = SIM_ADDR_B, .df = true};
	size_t hl, fl;

	th.sport = 40000;
	th.dport = 80;
	th.seq = 1000;
	th.flags = TCP_SYN;
	th.win = 65535;
	th.opt.has_mss = true;
	th.opt.mss = 1460;
	hl = tcp_build(seg, &th, 0, SIM_ADDR_A, SIM_ADDR_B);
	fl = craft_ip(frame, &sim, SIM_A, SIM_B, &ih, seg, hl);
	sim.tap = capture;
	/* B must know A's MAC to answer: prime ARP with a ping. */
	struct us_sock *p = udp_open(SIM_B, 0);
	struct us_addr to = {SIM_ADDR_A, 9};
	us_sendto(p, "", 0, 0, &to, sim.now);
	sim_run(&sim, 10000);
	sim_inject(&sim, SIM_B, frame, fl);
	sim_run(&sim, 1000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_tcp_tx_rst), 1);
	ck_assert_int_eq(tcp_parse(last_frame + 34, last_len - 34, SIM_ADDR_B, SIM_ADDR_A, &rh), 0);
	ck_assert_uint_eq(rh.flags, TCP_RST | TCP_ACK);
	ck_assert_uint_eq(rh.seq, 0);
	ck_assert_uint_eq(rh.ack, 1001);
	ck_assert_uint_eq(rh.sport, 80);
	ck_assert_uint_eq(rh.dport, 40000);
	/* A reset is never answered. */
	th.flags = TCP_RST;
	hl = tcp_build(seg, &th, 0, SIM_ADDR_A, SIM_ADDR_B);
	fl = craft_ip(frame, &sim, SIM_A, SIM_B, &ih, seg, hl);
	sim_inject(&sim, SIM_B, frame, fl);
	sim_run(&sim, 1000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_tcp_tx_rst), 1);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_B, US_CTR_tcp_rx_rst), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_udp");
	TCase *tc = tcase_create("udp");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, udp_echo_roundtrip);
	tcase_add_test(tc, udp_closed_port_refused);
	tcase_add_test(tc, udp_unconnected_ignores_icmp);
	tcase_add_test(tc, udp_icmp_errors_rate_limited);
	tcase_add_test(tc, udp_rcvbuf_limit_drops_and_counts);
	tcase_add_test(tc, udp_peek_and_trunc);
	tcase_add_test(tc, udp_bind_rules);
	tcase_add_test(tc, udp_ephemeral_ports_are_random);
	tcase_add_test(tc, udp_to_self_loops_back);
	tcase_add_test(tc, udp_reuse_bind_rules);
	tcase_add_test(tc, udp_reuse_most_specific_wins);
	tcase_add_test(tc, udp_reuse_equal_last_bound_wins);
	tcase_add_test(tc, udp_reuseport_spreads_by_source);
	tcase_add_test(tc, udp_reuse_broadcast_to_all);
	tcase_add_test(tc, tcp_syn_to_closed_port_gets_rst_ack);
	suite_add_tcase(s, tc);
	return sim_run_suite(s);
}
