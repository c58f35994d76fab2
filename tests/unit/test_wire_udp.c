/* test_wire_udp.c - unit tests for stack/wire_udp.c (RFC 768 codec). */
#include <check.h>
#include <stdlib.h>

#include "checksum.h"
#include "wire_udp.h"

/* A heap copy of exactly `len` bytes, so ASan catches any read past it. */
static uint8_t *exact(const uint8_t *p, size_t len)
{
	uint8_t *b = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(b);
	memcpy(b, p, len);
	return b;
}

#define SRC 0x0a000001u
#define DST 0x0a000002u

/* Real datagram from Linux: 10.0.0.1:58769 -> 10.0.0.2:9999 "hello",
 * checksum 0x9b5e (verified by tcpdump). */
static const uint8_t real_udp[13] = {
	0xe5, 0x91, 0x27, 0x0f, 0x00, 0x0d, 0x9b, 0x5e, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
/* Real datagram with checksum 0 (no checksum), 10.0.0.2 -> 10.0.0.1 "ping". */
static const uint8_t real_nocsum[12] = {
	0x9c, 0x40, 0x1e, 0x61, 0x00, 0x0c, 0x00, 0x00, 0x70, 0x69, 0x6e, 0x67,
};

START_TEST(test_parse_real)
{
	struct udp_hdr h;
	ck_assert_int_eq(udp_parse(real_udp, sizeof(real_udp), SRC, DST, &h), 0);
	ck_assert_uint_eq(h.sport, 58769);
	ck_assert_uint_eq(h.dport, 9999);
	ck_assert_uint_eq(h.len, 13);
}
END_TEST

START_TEST(test_parse_no_checksum)
{
	struct udp_hdr h;
	ck_assert_int_eq(udp_parse(real_nocsum, sizeof(real_nocsum), DST, SRC, &h), 0);
	ck_assert_uint_eq(h.sport, 40000);
	ck_assert_uint_eq(h.dport, 7777);
	ck_assert_uint_eq(h.len, 12);
	/* not checked, so any addresses and payload pass */
	ck_assert_int_eq(udp_parse(real_nocsum, sizeof(real_nocsum), 1, 2, &h), 0);
}
END_TEST

START_TEST(test_truncated)
{
	struct udp_hdr h;
	for (size_t len = 0; len < sizeof(real_udp); len++) {
		uint8_t *b = exact(real_udp, len);
		ck_assert_msg(udp_parse(b, len, SRC, DST, &h) == -WIRE_ETRUNC, "len %zu", len);
		free(b);
	}
}
END_TEST

START_TEST(test_length_field)
{
	uint8_t b[32];
	struct udp_hdr h;
	for (uint16_t l = 0; l < UDP_HLEN; l++) {
		memcpy(b, real_nocsum, sizeof(real_nocsum));
		wire_put16(b + 4, l);
		ck_assert_int_eq(udp_parse(b, sizeof(real_nocsum), SRC, DST, &h), -WIRE_EFIELD);
	}
	memcpy(b, real_nocsum, sizeof(real_nocsum));
	wire_put16(b + 4, 13);
	ck_assert_int_eq(udp_parse(b, 12, SRC, DST, &h), -WIRE_ETRUNC);
	wire_put16(b + 4, 0xffff);
	ck_assert_int_eq(udp_parse(b, 12, SRC, DST, &h), -WIRE_ETRUNC);
	/* exactly 8: empty payload */
	wire_put16(b + 4, 8);
	ck_assert_int_eq(udp_parse(b, 12, SRC, DST, &h), 0);
	ck_assert_uint_eq(h.len, 8);
}
END_TEST

START_TEST(test_trailing_bytes_ignored)
{
	/* IP payload longer than the UDP length: the rest is not UDP's */
	uint8_t b[40];
	struct udp_hdr h;
	memset(b, 0xa7, sizeof(b));
	memcpy(b, real_udp, sizeof(real_udp));
	ck_assert_int_eq(udp_parse(b, sizeof(b), SRC, DST, &h), 0);
	ck_assert_uint_eq(h.len, 13);
}
END_TEST

START_TEST(test_bad_checksum)
{
	struct udp_hdr h;
	for (size_t i = 0; i < sizeof(real_udp); i++)
		for (int bit = 0; bit < 8; bit++) {
			uint8_t b[13];
			memcpy(b, real_udp, sizeof(b));
			b[i] ^= (uint8_t)(1u << bit);
			if (i == 4 || i == 5)
				continue; /* length field: covered elsewhere */
			if (wire_get16(b + 6) == 0)
				continue;
			ck_assert_msg(udp_parse(b, sizeof(b), SRC, DST, &h) == -WIRE_ECSUM,
				      "byte %zu bit %d", i, bit);
		}
	/* the pseudo-header counts: wrong addresses fail */
	ck_assert_int_eq(udp_parse(real_udp, sizeof(real_udp), DST, SRC + 1, &h), -WIRE_ECSUM);
	ck_assert_int_eq(udp_parse(real_udp, sizeof(real_udp), SRC, DST ^ 0x100, &h), -WIRE_ECSUM);
	/* a shorter length field (checksum now over fewer bytes) fails */
	uint8_t b[13];
	memcpy(b, real_udp, sizeof(b));
	wire_put16(b + 4, 12);
	ck_assert_int_eq(udp_parse(b, sizeof(b), SRC, DST, &h), -WIRE_ECSUM);
}
END_TEST

START_TEST(test_build_matches_real)
{
	uint8_t b[13];
	memcpy(b, real_udp, sizeof(b));
	memset(b, 0xee, UDP_HLEN);
	ck_assert_uint_eq(udp_build(b, 5, 58769, 9999, SRC, DST), UDP_HLEN);
	ck_assert_mem_eq(b, real_udp, sizeof(b));
}
END_TEST

START_TEST(test_zero_checksum_sent_as_ffff)
{
	/* Choose two payload bytes so the computed checksum is 0x0000. */
	uint8_t b[10] = {0};
	udp_build(b, 2, 1234, 53, SRC, DST);
	uint16_t c = wire_get16(b + 6);
	ck_assert_uint_ne(c, 0);
	wire_put16(b + 8, c); /* adds ~sum: the total becomes 0xffff */
	ck_assert_uint_eq(udp_build(b, 2, 1234, 53, SRC, DST), UDP_HLEN);
	ck_assert_uint_eq(wire_get16(b + 6), 0xffff); /* RFC 768 */
	struct udp_hdr h;
	ck_assert_int_eq(udp_parse(b, sizeof(b), SRC, DST, &h), 0);
	/* and a real 0xffff is still checked, not taken as "no checksum" */
	ck_assert_int_eq(udp_parse(b, sizeof(b), SRC, DST + 1, &h), -WIRE_ECSUM);
}
END_TEST

START_TEST(test_roundtrip_lengths)
{
	static uint8_t b[UDP_HLEN + 1500];
	for (size_t pl = 0; pl <= 1500; pl++) {
		for (size_t i = 0; i < pl; i++)
			b[UDP_HLEN + i] = (uint8_t)(i * 131 + pl);
		uint32_t src = 0xc0a80001u + (uint32_t)pl, dst = 0x08080808u;
		udp_build(b, pl, (uint16_t)(1000 + pl), 53, src, dst);
		struct udp_hdr h;
		ck_assert_int_eq(udp_parse(b, UDP_HLEN + pl, src, dst, &h), 0);
		ck_assert_uint_eq(h.sport, 1000 + pl);
		ck_assert_uint_eq(h.dport, 53);
		ck_assert_uint_eq(h.len, UDP_HLEN + pl);
		ck_assert_uint_ne(wire_get16(b + 6), 0);
	}
}
END_TEST

static Suite *udp_suite(void)
{
	Suite *s = suite_create("wire_udp");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_parse_real);
	tcase_add_test(tc, test_parse_no_checksum);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_length_field);
	tcase_add_test(tc, test_trailing_bytes_ignored);
	tcase_add_test(tc, test_bad_checksum);
	tcase_add_test(tc, test_build_matches_real);
	tcase_add_test(tc, test_zero_checksum_sent_as_ffff);
	tcase_add_test(tc, test_roundtrip_lengths);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(udp_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
