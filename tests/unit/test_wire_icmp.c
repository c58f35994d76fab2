/* test_wire_icmp.c - unit tests for stack/wire_icmp.c (RFC 792 codec). */
#include <check.h>
#include <stdlib.h>

#include "checksum.h"
#include "wire_icmp.h"

/* A heap copy of exactly `len` bytes, so ASan catches any read past it. */
static uint8_t *exact(const uint8_t *p, size_t len)
{
	uint8_t *b = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(b);
	memcpy(b, p, len);
	return b;
}

/* Real ICMP echo request from Linux `ping -p 41` (id 0x14a2, seq 1,
 * checksum 0x5336). */
static const uint8_t real_echo[64] = {
	0x08, 0x00, 0x53, 0x36, 0x14, 0xa2, 0x00, 0x01, 0xee, 0x67, 0x02, 0x6b, 0x00, 0x00,
	0x00, 0x00, 0x77, 0x3a, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x41, 0x41, 0x41,
	0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
	0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
	0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
};
/* Real port unreachable from Linux quoting a UDP datagram (40 bytes). */
static const uint8_t real_unreach[40] = {
	0x03, 0x03, 0x63, 0x7e, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x20, 0x00, 0x01,
	0x40, 0x00, 0x40, 0x11, 0x26, 0xca, 0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01,
	0x9c, 0x40, 0x1e, 0x61, 0x00, 0x0c, 0x00, 0x00, 0x70, 0x69, 0x6e, 0x67,
};

START_TEST(test_parse_real_echo)
{
	struct icmp_hdr h;
	ck_assert_int_eq(icmp_parse(real_echo, sizeof(real_echo), &h), 0);
	ck_assert_uint_eq(h.type, ICMP_ECHO);
	ck_assert_uint_eq(h.code, 0);
	ck_assert_uint_eq(h.rest, 0x14a20001);
	ck_assert_uint_eq(h.rest >> 16, 0x14a2); /* id */
	ck_assert_uint_eq(h.rest & 0xffff, 1);   /* seq */
}
END_TEST

START_TEST(test_parse_real_unreach)
{
	struct icmp_hdr h;
	ck_assert_int_eq(icmp_parse(real_unreach, sizeof(real_unreach), &h), 0);
	ck_assert_uint_eq(h.type, ICMP_DEST_UNREACH);
	ck_assert_uint_eq(h.code, ICMP_PORT_UNREACH);
	ck_assert_uint_eq(h.rest, 0);
}
END_TEST

START_TEST(test_truncated)
{
	struct icmp_hdr h;
	for (size_t len = 0; len < ICMP_HLEN; len++) {
		uint8_t *b = exact(real_echo, len);
		ck_assert_int_eq(icmp_parse(b, len, &h), -WIRE_ETRUNC);
		free(b);
	}
	/* a shortened body no longer matches the checksum over `len` */
	for (size_t len = ICMP_HLEN; len < sizeof(real_echo); len++) {
		uint8_t *b = exact(real_echo, len);
		ck_assert_msg(icmp_parse(b, len, &h) == -WIRE_ECSUM, "len %zu", len);
		free(b);
	}
	for (size_t len = ICMP_HLEN; len < sizeof(real_unreach); len++) {
		uint8_t *b = exact(real_unreach, len);
		ck_assert_msg(icmp_parse(b, len, &h) == -WIRE_ECSUM, "len %zu", len);
		free(b);
	}
}
END_TEST

START_TEST(test_bad_checksum)
{
	struct icmp_hdr h;
	for (size_t i = 0; i < sizeof(real_echo); i++)
		for (int bit = 0; bit < 8; bit++) {
			uint8_t b[64];
			memcpy(b, real_echo, sizeof(b));
			b[i] ^= (uint8_t)(1u << bit);
			ck_assert_int_eq(icmp_parse(b, sizeof(b), &h), -WIRE_ECSUM);
		}
	/* swapped 16-bit words are invisible to the Internet checksum
	 * (RFC 1071 §2(A)): documented limitation, still accepted */
	uint8_t b[64];
	memcpy(b, real_echo, sizeof(b));
	b[8] = 0x02; b[9] = 0x6b; b[10] = 0xee; b[11] = 0x67;
	ck_assert_int_eq(icmp_parse(b, sizeof(b), &h), 0);
}
END_TEST

START_TEST(test_build_matches_real)
{
	uint8_t b[64];
	struct icmp_hdr h = {.type = ICMP_ECHO, .code = 0, .rest = 0x14a20001};
	memcpy(b, real_echo, sizeof(b));
	memset(b, 0xee, ICMP_HLEN);
	ck_assert_uint_eq(icmp_build(b, sizeof(b), &h), ICMP_HLEN);
	ck_assert_mem_eq(b, real_echo, sizeof(b));

	struct icmp_hdr u = {.type = ICMP_DEST_UNREACH, .code = ICMP_PORT_UNREACH, .rest = 0};
	uint8_t c[40];
	memcpy(c, real_unreach, sizeof(c));
	memset(c, 0x11, ICMP_HLEN);
	ck_assert_uint_eq(icmp_build(c, sizeof(c), &u), ICMP_HLEN);
	ck_assert_mem_eq(c, real_unreach, sizeof(c));
}
END_TEST

START_TEST(test_echo_reply_roundtrip)
{
	/* Turn the real request into a reply, as icmp.c will. */
	uint8_t b[64];
	struct icmp_hdr req, rep;
	memcpy(b, real_echo, sizeof(b));
	ck_assert_int_eq(icmp_parse(b, sizeof(b), &req), 0);
	struct icmp_hdr out = {.type = ICMP_ECHO_REPLY, .code = 0, .rest = req.rest};
	icmp_build(b, sizeof(b), &out);
	ck_assert_int_eq(icmp_parse(b, sizeof(b), &rep), 0);
	ck_assert_uint_eq(rep.type, ICMP_ECHO_REPLY);
	ck_assert_uint_eq(rep.rest, 0x14a20001);
	ck_assert_mem_eq(b + 8, real_echo + 8, 56);
	/* type 8 -> 0 changes the checksum by exactly 0x0800 (RFC 1624) */
	ck_assert_uint_eq(wire_get16(b + 2), csum_update16(0x5336, 0x0800, 0x0000));
}
END_TEST

START_TEST(test_odd_lengths_roundtrip)
{
	uint8_t b[300];
	for (size_t len = ICMP_HLEN; len < sizeof(b); len++) {
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)(i * 37 + len);
		struct icmp_hdr h = {.type = ICMP_DEST_UNREACH, .code = ICMP_FRAG_NEEDED,
				     .rest = 1400}, p;
		icmp_build(b, len, &h);
		ck_assert_int_eq(icmp_parse(b, len, &p), 0);
		ck_assert_uint_eq(p.type, ICMP_DEST_UNREACH);
		ck_assert_uint_eq(p.code, ICMP_FRAG_NEEDED);
		ck_assert_uint_eq(p.rest & 0xffff, 1400); /* next-hop MTU */
		ck_assert_uint_eq(csum_fold(csum_partial(b, len, 0)), 0);
	}
}
END_TEST

static Suite *icmp_suite(void)
{
	Suite *s = suite_create("wire_icmp");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_parse_real_echo);
	tcase_add_test(tc, test_parse_real_unreach);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_bad_checksum);
	tcase_add_test(tc, test_build_matches_real);
	tcase_add_test(tc, test_echo_reply_roundtrip);
	tcase_add_test(tc, test_odd_lengths_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(icmp_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
