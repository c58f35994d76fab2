/* test_wire_eth.c - unit tests for stack/wire_eth.c (Ethernet II codec). */
#include <check.h>
#include <stdlib.h>

#include "wire_eth.h"

/* Header of a real ARP request sent by Linux on a TAP device. */
static const uint8_t arp_req_hdr[] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
};
/* Header of a real IPv4 frame (the ICMP echo request that followed). */
static const uint8_t ip_hdr_frame[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
	0x45, 0x00, 0x00, 0x54,
};

/* A heap copy of exactly `len` bytes, so ASan catches any read past it. */
static uint8_t *exact(const uint8_t *p, size_t len)
{
	uint8_t *b = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(b);
	memcpy(b, p, len);
	return b;
}

START_TEST(test_parse_broadcast_arp)
{
	struct eth_hdr h;
	ck_assert_int_eq(eth_parse(arp_req_hdr, sizeof(arp_req_hdr), &h), 0);
	ck_assert_mem_eq(h.dst, eth_broadcast, ETH_ALEN);
	ck_assert(eth_is_broadcast(h.dst));
	ck_assert(eth_is_multicast(h.dst));
	ck_assert_mem_eq(h.src, ((const uint8_t[]){2, 0, 0, 0, 0, 1}), ETH_ALEN);
	ck_assert(!eth_is_broadcast(h.src));
	ck_assert(!eth_is_multicast(h.src));
	ck_assert_uint_eq(h.type, ETH_TYPE_ARP);
}
END_TEST

START_TEST(test_parse_unicast_ip)
{
	struct eth_hdr h;
	ck_assert_int_eq(eth_parse(ip_hdr_frame, sizeof(ip_hdr_frame), &h), 0);
	ck_assert_mem_eq(h.dst, ((const uint8_t[]){2, 0, 0, 0, 0, 2}), ETH_ALEN);
	ck_assert_uint_eq(h.type, ETH_TYPE_IP4);
	ck_assert(!eth_is_broadcast(h.dst));
}
END_TEST

START_TEST(test_truncated)
{
	struct eth_hdr h;
	for (size_t len = 0; len < ETH_HLEN; len++) {
		uint8_t *b = exact(arp_req_hdr, len);
		ck_assert_int_eq(eth_parse(b, len, &h), -WIRE_ETRUNC);
		free(b);
	}
	ck_assert_int_eq(eth_parse(arp_req_hdr, ETH_HLEN, &h), 0);
}
END_TEST

START_TEST(test_8023_length_returned)
{
	uint8_t f[ETH_HLEN];
	struct eth_hdr h;
	memcpy(f, arp_req_hdr, sizeof(f));
	f[12] = 0x00;
	f[13] = 0x2e;
	ck_assert_int_eq(eth_parse(f, sizeof(f), &h), 0);
	ck_assert_uint_eq(h.type, 0x002e);
}
END_TEST

START_TEST(test_build_roundtrip)
{
	struct eth_hdr h = {.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			    .src = {2, 0, 0, 0, 0, 1},
			    .type = ETH_TYPE_ARP};
	uint8_t buf[ETH_HLEN + 2];
	memset(buf, 0xee, sizeof(buf));
	ck_assert_uint_eq(eth_build(buf, &h), ETH_HLEN);
	ck_assert_mem_eq(buf, arp_req_hdr, ETH_HLEN);
	ck_assert_uint_eq(buf[ETH_HLEN], 0xee); /* wrote nothing past the header */

	struct eth_hdr p;
	ck_assert_int_eq(eth_parse(buf, ETH_HLEN, &p), 0);
	ck_assert_mem_eq(p.dst, h.dst, ETH_ALEN);
	ck_assert_mem_eq(p.src, h.src, ETH_ALEN);
	ck_assert_uint_eq(p.type, h.type);
}
END_TEST

START_TEST(test_address_predicates)
{
	const uint8_t mc[] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
	const uint8_t almost[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
	ck_assert(eth_is_multicast(mc));
	ck_assert(!eth_is_broadcast(mc));
	ck_assert(!eth_is_broadcast(almost));
	for (int i = 0; i < ETH_ALEN; i++)
		ck_assert_uint_eq(eth_broadcast[i], 0xff);
}
END_TEST

static Suite *eth_suite(void)
{
	Suite *s = suite_create("wire_eth");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_parse_broadcast_arp);
	tcase_add_test(tc, test_parse_unicast_ip);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_8023_length_returned);
	tcase_add_test(tc, test_build_roundtrip);
	tcase_add_test(tc, test_address_predicates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(eth_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
