/* test_checksum.c - unit tests for stack/checksum.c: csum_partial against a
 * byte-by-byte RFC 1071 reference over random lengths and start offsets,
 * known vectors, chaining, the pseudo-header, and RFC 1624 incremental
 * update against full recomputation. */
#include <check.h>
#include <stdlib.h>

#include "checksum.h"
#include "wire.h"

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64: deterministic, seeded per test */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* RFC 1071 in its plainest form: big-endian 16-bit words, odd byte padded
 * with zero, 64-bit sum, end-around carry. */
static uint16_t ref_sum(const uint8_t *p, size_t len, uint32_t seed)
{
	uint64_t s = seed;
	for (size_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint64_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t ref_csum(const uint8_t *p, size_t len, uint32_t seed)
{
	return (uint16_t)~ref_sum(p, len, seed);
}

START_TEST(test_rfc1071_example)
{
	/* RFC 1071 §3 numerical example: the folded sum is 0xddf2. */
	const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	ck_assert_uint_eq(csum_fold(csum_partial(b, sizeof(b), 0)), (uint16_t)~0xddf2);
	ck_assert_uint_eq(csum_fold(csum_partial(b, sizeof(b), 0)), 0x220d);
}
END_TEST

START_TEST(test_known_ip_header)
{
	/* A well-known IPv4 header with checksum 0xb861. */
	uint8_t h[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		       0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	ck_assert_uint_eq(csum_fold(csum_partial(h, sizeof(h), 0)), 0);
	h[10] = h[11] = 0;
	ck_assert_uint_eq(csum_fold(csum_partial(h, sizeof(h), 0)), 0xb861);
}
END_TEST

START_TEST(test_empty_and_fold)
{
	uint8_t b = 0xaa;
	ck_assert_uint_eq(csum_partial(&b, 0, 0), 0);
	ck_assert_uint_eq(csum_partial(&b, 0, 0x1234), 0x1234);
	ck_assert_uint_eq(csum_partial(&b, 1, 0), 0xaa00); /* odd byte is the high byte */
	ck_assert_uint_eq(csum_fold(0), 0xffff);
	ck_assert_uint_eq(csum_fold(0xffff), 0);
	ck_assert_uint_eq(csum_fold(0x10000), 0xfffe);
	ck_assert_uint_eq(csum_fold(0xffffffffu), 0);
	ck_assert_uint_eq(csum_fold(0x0001fffeu), 0);
	ck_assert_uint_eq(csum_fold(0x12345678u), (uint16_t)~(0x1234 + 0x5678));
}
END_TEST

/* Random lengths 0..2000 at every start offset 0..7, random seeds. */
START_TEST(test_random_vs_reference)
{
	static uint8_t buf[2048 + 16];
	rng_state = 1;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng();
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = (size_t)(rng() % 2001);
		for (size_t off = 0; off < 8; off++) {
			const uint8_t *p = buf + off;
			uint32_t seed = (iter & 1) ? (uint32_t)rng() : 0;
			ck_assert_msg(csum_fold(csum_partial(p, len, seed)) == ref_csum(p, len, seed),
				      "len %zu off %zu seed %#x", len, off, seed);
		}
		/* reshuffle part of the buffer now and then */
		buf[rng() % sizeof(buf)] = (uint8_t)rng();
	}
}
END_TEST

START_TEST(test_every_length_small)
{
	uint8_t buf[128 + 8];
	rng_state = 2;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng();
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 128; len++)
			ck_assert_uint_eq(csum_fold(csum_partial(buf + off, len, 0)),
					  ref_csum(buf + off, len, 0));
}
END_TEST

/* All-ones data maximises carries out of the 64-bit accumulator. */
START_TEST(test_carry_heavy)
{
	size_t n = (1u << 20) + 7;
	uint8_t *b = malloc(n + 8);
	ck_assert_ptr_nonnull(b);
	memset(b, 0xff, n + 8);
	for (size_t off = 0; off < 8; off++) {
		ck_assert_uint_eq(csum_fold(csum_partial(b + off, n, 0)), ref_csum(b + off, n, 0));
		ck_assert_uint_eq(csum_fold(csum_partial(b + off, n, 0xffffffffu)),
				  ref_csum(b + off, n, 0xffffffffu));
		ck_assert_uint_eq(csum_fold(csum_partial(b + off, 2000, 0xfffffff0u)),
				  ref_csum(b + off, 2000, 0xfffffff0u));
	}
	memset(b, 0x80, n + 8);
	ck_assert_uint_eq(csum_fold(csum_partial(b + 3, n, 0)), ref_csum(b + 3, n, 0));
	free(b);
}
END_TEST

START_TEST(test_chaining)
{
	uint8_t buf[1500];
	rng_state = 3;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng();
	for (size_t split = 0; split <= 200; split += 2) {
		uint32_t s = csum_partial(buf, split, 0);
		s = csum_partial(buf + split, 1001 - split, s);
		ck_assert_uint_eq(csum_fold(s), ref_csum(buf, 1001, 0));
	}
	/* three pieces, the last odd */
	uint32_t s = csum_partial(buf, 20, 0);
	s = csum_partial(buf + 20, 40, s);
	s = csum_partial(buf + 60, 999, s);
	ck_assert_uint_eq(csum_fold(s), ref_csum(buf, 1059, 0));
}
END_TEST

START_TEST(test_pseudo)
{
	rng_state = 4;
	for (int i = 0; i < 1000; i++) {
		uint32_t src = (uint32_t)rng(), dst = (uint32_t)rng();
		uint8_t proto = (uint8_t)rng();
		uint16_t len = (uint16_t)rng();
		uint8_t ph[12];
		wire_put32(ph, src);
		wire_put32(ph + 4, dst);
		ph[8] = 0;
		ph[9] = proto;
		wire_put16(ph + 10, len);
		ck_assert_uint_eq(csum_fold(csum_pseudo(src, dst, proto, len)), ref_csum(ph, 12, 0));
	}
	ck_assert_uint_eq(csum_fold(csum_pseudo(0xffffffffu, 0xffffffffu, 0xff, 0xffff)),
			  ref_csum((const uint8_t[]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
						     0xff, 0xff, 0xff},
				   12, 0));
}
END_TEST

START_TEST(test_rfc1624_corner)
{
	/* RFC 1624 §3: header sum (without the changed field) 0xcd7a, field
	 * 0x5555 -> 0x3285.  HC = 0xdd2f; the new checksum is 0x0000, which
	 * eqn. 2 would get wrong as 0xffff. */
	uint8_t b[6] = {0xcd, 0x7a, 0x55, 0x55, 0, 0};
	wire_put16(b + 4, csum_fold(csum_partial(b, 6, 0)));
	ck_assert_uint_eq(wire_get16(b + 4), 0xdd2f);
	uint16_t hc = csum_update16(0xdd2f, 0x5555, 0x3285);
	ck_assert_uint_eq(hc, 0x0000);
	ck_assert_uint_ne(hc, 0xffff);
	wire_put16(b + 2, 0x3285);
	wire_put16(b + 4, 0);
	ck_assert_uint_eq(csum_fold(csum_partial(b, 6, 0)), hc); /* full recomputation */
	wire_put16(b + 4, hc);
	ck_assert_uint_eq(csum_fold(csum_partial(b, 6, 0)), 0); /* and it verifies */
	/* and back again */
	ck_assert_uint_eq(csum_update16(0x0000, 0x3285, 0x5555), 0xdd2f);
	/* same change expressed as a 32-bit field */
	ck_assert_uint_eq(csum_update32(0xdd2f, 0xcd7a5555u, 0xcd7a3285u), 0x0000);
	ck_assert_uint_eq(csum_update16(0x1234, 0xabcd, 0xabcd), 0x1234); /* no change */
}
END_TEST

/* Random headers (first word fixed nonzero, as in every real header, so the
 * +0/-0 ambiguity of an all-zero header does not arise). */
START_TEST(test_update_vs_full)
{
	uint8_t b[40];
	rng_state = 5;
	for (int iter = 0; iter < 20000; iter++) {
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (iter & 3) == 0 ? 0 : (uint8_t)rng(); /* mostly-zero headers too */
		wire_put16(b, 0x4500);
		wire_put16(b + 10, 0);
		wire_put16(b + 10, csum_fold(csum_partial(b, sizeof(b), 0)));
		uint16_t hc = wire_get16(b + 10);

		/* 16-bit field at an even offset other than 0 and 10 */
		size_t pos;
		do
			pos = 2 + 2 * (size_t)(rng() % 19);
		while (pos == 10);
		uint16_t old16 = wire_get16(b + pos);
		uint16_t new16;
		switch (rng() % 4) {
		case 0: new16 = 0; break;
		case 1: new16 = 0xffff; break;
		default: new16 = (uint16_t)rng(); break;
		}
		uint16_t inc = csum_update16(hc, old16, new16);
		wire_put16(b + pos, new16);
		wire_put16(b + 10, 0);
		ck_assert_uint_eq(inc, csum_fold(csum_partial(b, sizeof(b), 0)));
		wire_put16(b + 10, inc);
		hc = inc;

		/* 32-bit field at an even offset not covering 0..1 or 10..11 */
		do
			pos = 2 + 2 * (size_t)(rng() % 18);
		while (pos == 10 || pos == 8);
		uint32_t old32 = wire_get32(b + pos);
		uint32_t new32 = (rng() & 1) ? (uint32_t)rng() : 0;
		inc = csum_update32(hc, old32, new32);
		wire_put32(b + pos, new32);
		wire_put16(b + 10, 0);
		ck_assert_uint_eq(inc, csum_fold(csum_partial(b, sizeof(b), 0)));
	}
}
END_TEST

/* Every old/new value for one header with a tiny sum, near the 0/0xffff
 * boundary. */
START_TEST(test_update_boundary_exhaustive)
{
	uint8_t b[6];
	for (uint32_t v = 0; v <= 0xffff; v += 7) {
		wire_put16(b, 0x0001);
		wire_put16(b + 2, 0xfffe);
		wire_put16(b + 4, 0);
		uint16_t hc = csum_fold(csum_partial(b, 6, 0));
		wire_put16(b + 2, (uint16_t)v);
		uint16_t full = csum_fold(csum_partial(b, 6, 0));
		ck_assert_uint_eq(csum_update16(hc, 0xfffe, (uint16_t)v), full);
	}
}
END_TEST

static Suite *checksum_suite(void)
{
	Suite *s = suite_create("checksum");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rfc1071_example);
	tcase_add_test(tc, test_known_ip_header);
	tcase_add_test(tc, test_empty_and_fold);
	tcase_add_test(tc, test_random_vs_reference);
	tcase_add_test(tc, test_every_length_small);
	tcase_add_test(tc, test_carry_heavy);
	tcase_add_test(tc, test_chaining);
	tcase_add_test(tc, test_pseudo);
	tcase_add_test(tc, test_rfc1624_corner);
	tcase_add_test(tc, test_update_vs_full);
	tcase_add_test(tc, test_update_boundary_exhaustive);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(checksum_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
