/* test_wire_arp.c - unit tests for stack/wire_arp.c (RFC 826 codec). */
#include <check.h>
#include <stdlib.h>

#include "wire_arp.h"

/* ARP payloads captured from Linux on a TAP device (10.0.0.1 is the kernel,
 * 02:00:00:00:00:01 its MAC). */
static const uint8_t real_request[ARP_LEN] = {
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x0a, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02,
};
static const uint8_t real_reply[ARP_LEN] = {
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x0a, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x02,
};

/* A heap copy of exactly `len` bytes, so ASan catches any read past it. */
static uint8_t *exact(const uint8_t *p, size_t len)
{
	uint8_t *b = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(b);
	memcpy(b, p, len);
	return b;
}

START_TEST(test_parse_request)
{
	struct arp_pkt p;
	ck_assert_int_eq(arp_parse(real_request, sizeof(real_request), &p), 0);
	ck_assert_uint_eq(p.op, ARP_OP_REQUEST);
	ck_assert_mem_eq(p.sha, ((const uint8_t[]){2, 0, 0, 0, 0, 1}), 6);
	ck_assert_uint_eq(p.spa, 0x0a000001);
	ck_assert_mem_eq(p.tha, ((const uint8_t[]){0, 0, 0, 0, 0, 0}), 6);
	ck_assert_uint_eq(p.tpa, 0x0a000002);
}
END_TEST

START_TEST(test_parse_reply)
{
	struct arp_pkt p;
	ck_assert_int_eq(arp_parse(real_reply, sizeof(real_reply), &p), 0);
	ck_assert_uint_eq(p.op, ARP_OP_REPLY);
	ck_assert_mem_eq(p.sha, ((const uint8_t[]){2, 0, 0, 0, 0, 1}), 6);
	ck_assert_uint_eq(p.spa, 0x0a000001);
	ck_assert_mem_eq(p.tha, ((const uint8_t[]){2, 0, 0, 0, 0, 2}), 6);
	ck_assert_uint_eq(p.tpa, 0x0a000002);
}
END_TEST

START_TEST(test_truncated)
{
	struct arp_pkt p;
	for (size_t len = 0; len < ARP_LEN; len++) {
		uint8_t *b = exact(real_request, len);
		ck_assert_int_eq(arp_parse(b, len, &p), -WIRE_ETRUNC);
		free(b);
	}
}
END_TEST

START_TEST(test_padding_ignored)
{
	/* Ethernet pads ARP to 46 bytes of payload. */
	uint8_t b[46];
	struct arp_pkt p;
	memset(b, 0xa5, sizeof(b));
	memcpy(b, real_reply, ARP_LEN);
	ck_assert_int_eq(arp_parse(b, sizeof(b), &p), 0);
	ck_assert_uint_eq(p.op, ARP_OP_REPLY);
	ck_assert_uint_eq(p.tpa, 0x0a000002);
}
END_TEST

START_TEST(test_unsupported)
{
	/* byte index, bad value */
	static const struct {
		size_t at;
		uint8_t v;
	} bad[] = {
		{1, 6},    /* htype IEEE 802 */
		{0, 1},    /* htype 0x0101 */
		{2, 0x86}, /* ptype 0x8600 */
		{3, 0xdd}, /* ptype 0x08dd */
		{4, 8},    /* hlen 8 */
		{4, 0},    /* hlen 0 */
		{5, 16},   /* plen 16 */
		{5, 0},    /* plen 0 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t b[ARP_LEN];
		struct arp_pkt p;
		memcpy(b, real_request, ARP_LEN);
		b[bad[i].at] = bad[i].v;
		ck_assert_int_eq(arp_parse(b, ARP_LEN, &p), -WIRE_EUNSUP);
	}
}
END_TEST

START_TEST(test_op_returned_as_is)
{
	uint8_t b[ARP_LEN];
	struct arp_pkt p;
	memcpy(b, real_request, ARP_LEN);
	b[6] = 0x12;
	b[7] = 0x34;
	ck_assert_int_eq(arp_parse(b, ARP_LEN, &p), 0);
	ck_assert_uint_eq(p.op, 0x1234);
}
END_TEST

START_TEST(test_build_matches_real)
{
	struct arp_pkt p = {.op = ARP_OP_REPLY,
			    .sha = {2, 0, 0, 0, 0, 1},
			    .spa = 0x0a000001,
			    .tha = {2, 0, 0, 0, 0, 2},
			    .tpa = 0x0a000002};
	uint8_t b[ARP_LEN + 1];
	b[ARP_LEN] = 0x77;
	ck_assert_uint_eq(arp_build(b, &p), ARP_LEN);
	ck_assert_mem_eq(b, real_reply, ARP_LEN);
	ck_assert_uint_eq(b[ARP_LEN], 0x77);

	struct arp_pkt q;
	ck_assert_int_eq(arp_parse(b, ARP_LEN, &q), 0);
	ck_assert_uint_eq(q.op, p.op);
	ck_assert_mem_eq(q.sha, p.sha, 6);
	ck_assert_mem_eq(q.tha, p.tha, 6);
	ck_assert_uint_eq(q.spa, p.spa);
	ck_assert_uint_eq(q.tpa, p.tpa);
}
END_TEST

static Suite *arp_suite(void)
{
	Suite *s = suite_create("wire_arp");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_parse_request);
	tcase_add_test(tc, test_parse_reply);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_padding_ignored);
	tcase_add_test(tc, test_unsupported);
	tcase_add_test(tc, test_op_returned_as_is);
	tcase_add_test(tc, test_build_matches_real);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(arp_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
