/* test_sim_tcp_paths.c - TCP and the network around it: ICMP
 * fragmentation-needed lowers the MSS (RFC 1191), hard and soft ICMP
 * errors (RFC 1122 §4.2.3.9, RFC 5927), ICMP quoting a sequence number not
 * in flight is ignored, thousands of idle connections arm no timer, and
 * the stack's total buffer budget refuses new connections cleanly. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "craft.h"
#include "netsim.h"
#include "simcheck.h"
#include "tcpscript.h"
#include "wire_icmp.h"

static struct netsim sim;

static void setup(void) { sim_init(&sim, US_LINK_ETHER, 1500, 99); }
static void teardown(void) { sim.tap = NULL; sim_free(&sim); }

/* The last TCP frame A sent (tap), and a switch to drop A's frames. */
static uint8_t last_a[2000];
static size_t last_a_len;
static bool drop_a;
static unsigned a_frames_over;
static uint16_t a_limit;
static bool tap_a(void *ctx, int from, uint8_t *f, size_t len)
{
	struct ip4_hdr ih;

	(void)ctx;
	if (from != SIM_A || len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00)
		return true;
	if (ip4_parse(f + 14, len - 14, &ih) == 0 && ih.proto == IP4_PROTO_TCP) {
		if (len <= sizeof(last_a)) {
			memcpy(last_a, f, len);
			last_a_len = len;
		}
		if (a_limit && ih.total_len > a_limit)
			a_frames_over++;
	}
	return !drop_a;
}

/* An ICMP error from B's address to A quoting the IP header and 8 bytes
 * of A's last TCP frame. */
static void inject_icmp_to_a(uint8_t type, uint8_t code, uint32_t rest, uint32_t seq_delta)
{
	uint8_t body[IP4_MAX_HLEN + 8 + ICMP_HLEN], frame[200];
	struct ip4_hdr ih = {.ttl = 64, .proto = IP4_PROTO_ICMP, .src = SIM_ADDR_B,
			     .dst = SIM_ADDR_A};
	struct icmp_hdr h = {.type = type, .code = code, .rest = rest};
	const uint8_t *q = last_a + 14;
	size_t qlen = (size_t)(q[0] & 15) * 4 + 8;

	ck_assert_uint_gt(last_a_len, 14 + qlen);
	memcpy(body + ICMP_HLEN, q, qlen);
	if (seq_delta) {
		uint8_t *sp = body + ICMP_HLEN + (q[0] & 15) * 4 + 4;

		wire_put32(sp, wire_get32(sp) + seq_delta);
	}
	icmp_build(body, ICMP_HLEN + qlen, &h);
	sim_inject(&sim, SIM_A, frame, craft_ip(frame, &sim, SIM_B, SIM_A, &ih, body, ICMP_HLEN + qlen));
}

static struct us_tcp_info tinfo(struct us_sock *so)
{
	struct us_tcp_info ti;

	ck_assert_int_eq(us_tcp_info(so, &ti), 0);
	return ti;
}

START_TEST(pmtu_frag_needed_lowers_mss)
{
	struct us_sock *cli, *srv, *ls = tcpt_pair(&sim, 80, &cli, &srv);
	static uint8_t buf[200000];
	size_t got = 0;
	ssize_t n;

	(void)ls;
	sim.tap = tap_a;
	memset(buf, 'p', sizeof(buf));
	ck_assert_uint_eq(tinfo(cli).snd_mss, 1448);
	drop_a = true; /* the big segments "do not fit" on the path */
	ck_assert_int_eq(us_send(cli, buf, 20000, 0, sim.now), 20000);
	sim_run(&sim, 1000);
	drop_a = false;
	inject_icmp_to_a(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1000, 0);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_tcp_pmtu_updates), 1);
	/* MTU 1000 - 40 - 12 bytes of timestamps */
	ck_assert_uint_eq(tinfo(cli).snd_mss, 948);
	a_limit = 1000;
	a_frames_over = 0;
	ck_assert_int_eq(us_send(cli, buf + 20000, sizeof(buf) - 20000, 0, sim.now), (ssize_t)(sizeof(buf) - 20000));
	for (int i = 0; i < 2000 && got < sizeof(buf); i++) {
		sim_run(&sim, 1000);
		while ((n = us_recv(srv, buf, sizeof(buf), 0, sim.now)) > 0)
			got += (size_t)n;
	}
	ck_assert_uint_eq(got, sizeof(buf));
	ck_assert_uint_eq(a_frames_over, 0);
	/* An error quoting a sequence number never sent is ignored
	 * (RFC 5927 §4.1). */
	inject_icmp_to_a(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 700, 0x40000000);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_tcp_pmtu_updates), 1);
	ck_assert_uint_eq(tinfo(cli).snd_mss, 948);
}
END_TEST

START_TEST(icmp_port_unreachable_aborts_connect)
{
	struct us_sock *cli;
	struct us_addr to = {SIM_ADDR_B, 81};
	uint8_t b[4];

	sim.tap = tap_a;
	drop_a = true;
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	sim_run(&sim, 1000); /* ARP resolves; the SYN goes (and is dropped) */
	sim_run(&sim, 1000);
	inject_icmp_to_a(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, 0);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_tcp_icmp_hard), 1);
	ck_assert(us_sock_events(cli) & US_EV_ERR);
	ck_assert_int_eq(us_sock_error(cli), ECONNREFUSED);
	ck_assert_int_eq(us_recv(cli, b, sizeof(b), 0, sim.now), 0);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_CLOSED);
}
END_TEST

START_TEST(icmp_host_unreachable_is_soft)
{
	struct us_sock *cli;
	struct us_addr to = {SIM_ADDR_B, 81};

	sim.tap = tap_a;
	drop_a = true;
	ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cli), 0);
	ck_assert_int_eq(us_connect(cli, &to, sim.now), -EINPROGRESS);
	sim_run(&sim, 2000);
	inject_icmp_to_a(ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0, 0);
	/* Soft: the connection attempt goes on... */
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_tcp_icmp_soft), 1);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_SYN_SENT);
	ck_assert(!(us_sock_events(cli) & US_EV_ERR));
	/* ...and when the SYN retries run out, the error reported is the
	 * ICMP one, not ETIMEDOUT (RFC 1122 §4.2.3.9). */
	sim_run(&sim, 200 * T_SEC);
	ck_assert_int_eq(tinfo(cli).state, US_TCP_CLOSED);
	ck_assert_int_eq(us_sock_error(cli), EHOSTUNREACH);
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_tcp_syn_retrans), 6);
}
END_TEST

START_TEST(idle_connections_arm_no_timer)
{
	enum { N = 2000 };
	static struct us_sock *cl[N], *sv[N];
	struct us_sock *ls;
	struct us_addr la = {0, 80}, to = {SIM_ADDR_B, 80};
	unsigned accepted = 0;

	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &ls), 0);
	ck_assert_int_eq(us_setsockopt(ls, US_SO_RCVBUF, 4096), 0);
	ck_assert_int_eq(us_setsockopt(ls, US_SO_SNDBUF, 4096), 0);
	ck_assert_int_eq(us_bind(ls, &la), 0);
	ck_assert_int_eq(us_listen(ls, 4096), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &cl[i]), 0);
		us_setsockopt(cl[i], US_SO_RCVBUF, 4096);
		us_setsockopt(cl[i], US_SO_SNDBUF, 4096);
		ck_assert_int_eq(us_connect(cl[i], &to, sim.now), -EINPROGRESS);
	}
	/* More SYNs than the ARP queue holds went out before the first ARP
	 * reply: the rest come with the SYN retransmission a second later. */
	for (int round = 0; round < 5000 && accepted < N; round++) {
		sim_run(&sim, 1000);
		while (accepted < N && us_accept(ls, &sv[accepted], NULL, sim.now) == 0)
			accepted++;
	}
	ck_assert_uint_eq(accepted, N);
	/* One byte each way on every connection, then silence. */
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(us_send(cl[i], "x", 1, 0, sim.now), 1);
		ck_assert_int_eq(us_send(sv[i], "y", 1, 0, sim.now), 1);
	}
	sim_run(&sim, 5 * T_SEC);
	for (int i = 0; i < N; i++) {
		uint8_t b;

		ck_assert_int_eq(us_recv(cl[i], &b, 1, 0, sim.now), 1);
		ck_assert_int_eq(us_recv(sv[i], &b, 1, 0, sim.now), 1);
	}
	/* After the neighbour entries expire, nothing is left to do: no
	 * timer for any of the 4000 idle endpoints (keepalive is off). */
	sim_run(&sim, 300 * T_SEC);
	ck_assert(us_next_deadline(sim.st[SIM_A]) == US_TIME_NEVER);
	ck_assert(us_next_deadline(sim.st[SIM_B]) == US_TIME_NEVER);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(tinfo(cl[i]).state, US_TCP_ESTABLISHED);
}
END_TEST

START_TEST(memory_budget_refuses_connections)
{
	struct us_sock *ls, *c[8], *a;
	struct us_addr la = {0, 80}, to = {SIM_ADDR_B, 80};
	int ok = 0;

	sim_free(&sim);
	/* Room for two connections' buffers (2 x 2 x 64 KiB) on each side. */
	sim_init_tcp(&sim, US_LINK_ETHER, 1500, 5, 0, 2 * 2 * 65536);
	ck_assert_int_eq(us_socket(sim.st[SIM_B], US_SOCK_STREAM, &ls), 0);
	us_setsockopt(ls, US_SO_RCVBUF, 65536);
	us_setsockopt(ls, US_SO_SNDBUF, 65536);
	ck_assert_int_eq(us_bind(ls, &la), 0);
	ck_assert_int_eq(us_listen(ls, 16), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(us_socket(sim.st[SIM_A], US_SOCK_STREAM, &c[i]), 0);
		us_setsockopt(c[i], US_SO_RCVBUF, 65536);
		us_setsockopt(c[i], US_SO_SNDBUF, 65536);
		int r = us_connect(c[i], &to, sim.now);

		if (i < 2)
			ck_assert_int_eq(r, -EINPROGRESS);
		else
			ck_assert_int_eq(r, -ENOBUFS);
	}
	ck_assert_uint_eq(sim_ctr(&sim, SIM_A, US_CTR_tcp_mem_refused), 1);
	sim_run(&sim, 10000);
	while (us_accept(ls, &a, NULL, sim.now) == 0)
		ok++;
	ck_assert_int_eq(ok, 2);
	/* Closing one frees its budget for the next connection. */
	us_setsockopt(c[0], US_SO_LINGER, 0);
	us_close(c[0], sim.now);
	ck_assert_int_eq(us_connect(c[2], &to, sim.now), -EINPROGRESS);
}
END_TEST

/* RFC 7661: a pause shorter than the NonValidatedPeriod keeps cwnd; a
 * connection quiet for longer starts again from the initial window, with
 * ssthresh keeping 3/4 of what it had learnt. */
START_TEST(cwnd_validation_after_idle)
{
	struct us_sock *cli, *srv, *ls = tcpt_pair(&sim, 80, &cli, &srv);
	static uint8_t buf[1 << 20];
	uint32_t big;
	size_t got = 0, sent = 0;
	ssize_t n;

	(void)ls;
	for (int i = 0; i < 20000 && got < sizeof(buf); i++) {
		if (sent < sizeof(buf) && (n = us_send(cli, buf, sizeof(buf) - sent, 0, sim.now)) > 0)
			sent += (size_t)n;
		sim_run(&sim, 100);
		while ((n = us_recv(srv, buf, sizeof(buf), 0, sim.now)) > 0)
			got += (size_t)n;
	}
	ck_assert_uint_eq(got, sizeof(buf));
	big = tinfo(cli).cwnd;
	ck_assert_uint_gt(big, 10u * 1448);
	sim_run(&sim, 60 * T_SEC);
	ck_assert_int_eq(us_send(cli, "a", 1, 0, sim.now), 1);
	ck_assert_uint_eq(tinfo(cli).cwnd, big);
	sim_run(&sim, 301 * T_SEC);
	ck_assert_int_eq(us_send(cli, "b", 1, 0, sim.now), 1);
	ck_assert_uint_eq(tinfo(cli).cwnd, 10u * 1448);
	ck_assert_uint_ge(tinfo(cli).ssthresh, big / 4 * 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sim_tcp_paths");
	TCase *tc = tcase_create("paths");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, pmtu_frag_needed_lowers_mss);
	tcase_add_test(tc, icmp_port_unreachable_aborts_connect);
	tcase_add_test(tc, icmp_host_unreachable_is_soft);
	tcase_add_test(tc, idle_connections_arm_no_timer);
	tcase_add_test(tc, memory_budget_refuses_connections);
	tcase_add_test(tc, cwnd_validation_after_idle);
	suite_add_tcase(s, tc);
	return sim_run_suite(s);
}
