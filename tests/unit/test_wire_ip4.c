/* test_wire_ip4.c - unit tests for stack/wire_ip4.c (RFC 791 header codec). */
#include <check.h>
#include <stdlib.h>

#include "checksum.h"
#include "wire_ip4.h"

/* A heap copy of exactly `len` bytes, so ASan catches any read past it. */
static uint8_t *exact(const uint8_t *p, size_t len)
{
	uint8_t *b = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(b);
	memcpy(b, p, len);
	return b;
}

/* Real ICMP echo request sent by Linux `ping -p 41` (IP header checksum
 * 0x9507, verified by tcpdump). */
static const uint8_t real_ping[84] = {
	0x45, 0x00, 0x00, 0x54, 0x91, 0x9f, 0x40, 0x00, 0x40, 0x01, 0x95, 0x07, 0x0a, 0x00,
	0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0x53, 0x36, 0x14, 0xa2, 0x00, 0x01,
	0xee, 0x67, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x77, 0x3a, 0x0f, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
	0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
	0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
};
/* Real 33-byte UDP datagram from Linux (shorter than Ethernet's minimum). */
static const uint8_t real_udp[33] = {
	0x45, 0x00, 0x00, 0x21, 0xf5, 0xf4, 0x40, 0x00, 0x40, 0x11, 0x30, 0xd5,
	0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0xe5, 0x91, 0x27, 0x0f,
	0x00, 0x0d, 0x9b, 0x5e, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
/* Real ICMP port unreachable from Linux: tos 0xc0, no DF. */
static const uint8_t real_unreach_hdr[20] = {
	0x45, 0xc0, 0x00, 0x3c, 0x92, 0x0f, 0x00, 0x00, 0x40, 0x01,
	0xd3, 0xef, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
};

static void fix_csum(uint8_t *b)
{
	size_t hlen = (size_t)(b[0] & 0xf) * 4;
	wire_put16(b + 10, 0);
	wire_put16(b + 10, csum_fold(csum_partial(b, hlen, 0)));
}

/* Header of real_ping with `olen` option bytes appended, total_len set to
 * the header length, checksum fixed.  Returns the header length. */
static size_t with_opts(uint8_t *b, const uint8_t *opt, size_t olen)
{
	memcpy(b, real_ping, IP4_HLEN);
	memcpy(b + IP4_HLEN, opt, olen);
	size_t hlen = IP4_HLEN + olen;
	b[0] = (uint8_t)(0x40 | hlen / 4);
	wire_put16(b + 2, (uint16_t)hlen);
	fix_csum(b);
	return hlen;
}

START_TEST(test_parse_real_ping)
{
	struct ip4_hdr h;
	ck_assert_int_eq(ip4_parse(real_ping, sizeof(real_ping), &h), 0);
	ck_assert_uint_eq(h.hlen, 20);
	ck_assert_uint_eq(h.tos, 0);
	ck_assert_uint_eq(h.total_len, 84);
	ck_assert_uint_eq(h.id, 0x919f);
	ck_assert(h.df);
	ck_assert(!h.mf);
	ck_assert_uint_eq(h.frag_off, 0);
	ck_assert_uint_eq(h.ttl, 64);
	ck_assert_uint_eq(h.proto, IP4_PROTO_ICMP);
	ck_assert_uint_eq(h.src, 0x0a000001);
	ck_assert_uint_eq(h.dst, 0x0a000002);
}
END_TEST

START_TEST(test_parse_real_unreach)
{
	/* header only: total_len 60 > 20 is a truncation */
	struct ip4_hdr h;
	ck_assert_int_eq(ip4_parse(real_unreach_hdr, 20, &h), -WIRE_ETRUNC);
	uint8_t b[60] = {0};
	memcpy(b, real_unreach_hdr, 20);
	ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), 0);
	ck_assert_uint_eq(h.tos, 0xc0);
	ck_assert(!h.df);
	ck_assert(!h.mf);
	ck_assert_uint_eq(h.id, 0x920f);
	ck_assert_uint_eq(h.total_len, 60);
}
END_TEST

START_TEST(test_known_header)
{
	/* widely published example header, checksum 0xb861 */
	uint8_t b[0x73] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			   0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	struct ip4_hdr h;
	ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), 0);
	ck_assert_uint_eq(h.proto, IP4_PROTO_UDP);
	ck_assert_uint_eq(h.src, 0xc0a80001);
	ck_assert_uint_eq(h.dst, 0xc0a800c7);
}
END_TEST

START_TEST(test_truncated_everywhere)
{
	struct ip4_hdr h;
	for (size_t len = 0; len < sizeof(real_ping); len++) {
		uint8_t *b = exact(real_ping, len);
		ck_assert_msg(ip4_parse(b, len, &h) == -WIRE_ETRUNC, "len %zu", len);
		free(b);
	}
	for (size_t len = 0; len < sizeof(real_udp); len++) {
		uint8_t *b = exact(real_udp, len);
		ck_assert_int_eq(ip4_parse(b, len, &h), -WIRE_ETRUNC);
		free(b);
	}
}
END_TEST

START_TEST(test_padding_ignored)
{
	/* The 33-byte datagram arrives in a 60-byte frame: 13 bytes padding. */
	uint8_t frame[46];
	struct ip4_hdr h;
	memset(frame, 0xcc, sizeof(frame));
	memcpy(frame, real_udp, sizeof(real_udp));
	ck_assert_int_eq(ip4_parse(frame, sizeof(frame), &h), 0);
	ck_assert_uint_eq(h.total_len, 33);
	ck_assert_uint_eq(h.proto, IP4_PROTO_UDP);
	/* a corrupt byte in the padding changes nothing */
	frame[40] ^= 0xff;
	ck_assert_int_eq(ip4_parse(frame, sizeof(frame), &h), 0);
	/* the payload is not covered by the header checksum either */
	frame[25] ^= 0xff;
	ck_assert_int_eq(ip4_parse(frame, sizeof(frame), &h), 0);
}
END_TEST

START_TEST(test_bad_version)
{
	static const uint8_t vers[] = {0, 1, 5, 6, 15};
	for (size_t i = 0; i < sizeof(vers); i++) {
		uint8_t b[84];
		struct ip4_hdr h;
		memcpy(b, real_ping, sizeof(b));
		b[0] = (uint8_t)(vers[i] << 4 | 5);
		fix_csum(b);
		ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), -WIRE_EFIELD);
	}
}
END_TEST

START_TEST(test_ihl_below_5)
{
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		uint8_t b[84];
		struct ip4_hdr h;
		memcpy(b, real_ping, sizeof(b));
		b[0] = (uint8_t)(0x40 | ihl);
		ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), -WIRE_EFIELD);
	}
}
END_TEST

START_TEST(test_total_len_fields)
{
	uint8_t b[84];
	struct ip4_hdr h;

	/* total_len < 20 */
	for (uint16_t tl = 0; tl < 20; tl++) {
		memcpy(b, real_ping, sizeof(b));
		wire_put16(b + 2, tl);
		fix_csum(b);
		ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), -WIRE_EFIELD);
	}
	/* total_len < hlen with options (IHL 6, total 20..23) */
	for (uint16_t tl = 20; tl < 24; tl++) {
		memcpy(b, real_ping, sizeof(b));
		b[0] = 0x46;
		memset(b + 20, 1, 4);
		wire_put16(b + 2, tl);
		fix_csum(b);
		ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), -WIRE_EFIELD);
	}
	/* total_len > len */
	memcpy(b, real_ping, sizeof(b));
	wire_put16(b + 2, 85);
	fix_csum(b);
	ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), -WIRE_ETRUNC);
	wire_put16(b + 2, 0xffff);
	fix_csum(b);
	ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), -WIRE_ETRUNC);
	/* IHL 15 but only 40 bytes */
	memcpy(b, real_ping, sizeof(b));
	b[0] = 0x4f;
	wire_put16(b + 2, 60);
	ck_assert_int_eq(ip4_parse(b, 40, &h), -WIRE_ETRUNC);
	/* total_len == hlen (no payload) is fine */
	memcpy(b, real_ping, sizeof(b));
	wire_put16(b + 2, 20);
	fix_csum(b);
	ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), 0);
	ck_assert_uint_eq(h.total_len, 20);
}
END_TEST

START_TEST(test_bad_checksum)
{
	struct ip4_hdr h;
	uint8_t b[84];
	/* every single-bit flip in the checksum, TTL, id, tos, addresses */
	static const size_t at[] = {1, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(b, real_ping, sizeof(b));
			b[at[i]] ^= (uint8_t)(1u << bit);
			ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), -WIRE_ECSUM);
		}
	/* checksum field 0 (not "no checksum" in IPv4) */
	memcpy(b, real_ping, sizeof(b));
	wire_put16(b + 10, 0);
	ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), -WIRE_ECSUM);
}
END_TEST

START_TEST(test_reserved_flag)
{
	uint8_t b[84];
	struct ip4_hdr h;
	memcpy(b, real_ping, sizeof(b));
	b[6] |= 0x80;
	fix_csum(b);
	ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), -WIRE_EFIELD);
}
END_TEST

START_TEST(test_fragment_fields)
{
	uint8_t b[84];
	struct ip4_hdr h;
	memcpy(b, real_ping, sizeof(b));
	wire_put16(b + 6, 0x2000 | 185); /* MF, offset 185*8 = 1480 */
	fix_csum(b);
	ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), 0);
	ck_assert(h.mf);
	ck_assert(!h.df);
	ck_assert_uint_eq(h.frag_off, 1480);
	wire_put16(b + 6, 0x1fff); /* largest offset */
	fix_csum(b);
	ck_assert_int_eq(ip4_parse(b, sizeof(b), &h), 0);
	ck_assert(!h.mf);
	ck_assert_uint_eq(h.frag_off, 0x1fff * 8);
}
END_TEST

START_TEST(test_options_valid)
{
	uint8_t b[IP4_MAX_HLEN + 8];
	struct ip4_hdr h;
	size_t hl;

	static const uint8_t nops[] = {1, 1, 1, 1};
	hl = with_opts(b, nops, sizeof(nops));
	ck_assert_int_eq(ip4_parse(b, hl, &h), 0);
	ck_assert_uint_eq(h.hlen, 24);

	/* record route (type 7, len 7) + EOL */
	static const uint8_t rr[] = {7, 7, 4, 0, 0, 0, 0, 0};
	hl = with_opts(b, rr, sizeof(rr));
	ck_assert_int_eq(ip4_parse(b, hl, &h), 0);
	ck_assert_uint_eq(h.hlen, 28);

	/* router alert (RFC 2113, type 0x94 len 4): unknown to us, skipped */
	static const uint8_t ra[] = {0x94, 4, 0, 0};
	hl = with_opts(b, ra, sizeof(ra));
	ck_assert_int_eq(ip4_parse(b, hl, &h), 0);

	/* EOL ends the list: what follows is not parsed */
	static const uint8_t eol[] = {0, 7, 0, 0, 0x44, 1, 0xff, 0xff};
	hl = with_opts(b, eol, sizeof(eol));
	ck_assert_int_eq(ip4_parse(b, hl, &h), 0);

	/* 40 bytes: one timestamp option (0x44) filling the whole space */
	uint8_t ts[40] = {0x44, 40, 5, 0};
	hl = with_opts(b, ts, sizeof(ts));
	ck_assert_int_eq(ip4_parse(b, hl, &h), 0);
	ck_assert_uint_eq(h.hlen, 60);
}
END_TEST

START_TEST(test_options_malformed)
{
	static const struct {
		uint8_t o[8];
		size_t n;
	} bad[] = {
		{{7, 0, 0, 0}, 4},             /* length 0 */
		{{7, 1, 0, 0}, 4},             /* length 1 */
		{{7, 5, 0, 0}, 4},             /* runs past header end */
		{{1, 1, 1, 7}, 4},             /* type byte with no length byte */
		{{0x94, 4, 0, 0, 7, 5, 4, 0}, 8}, /* second option runs past */
		{{1, 0x94, 0xff, 0}, 4},       /* length 255 */
		{{0x44, 9, 5, 0, 0, 0, 0, 0}, 8}, /* runs past by one */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t b[IP4_MAX_HLEN];
		struct ip4_hdr h;
		size_t hl = with_opts(b, bad[i].o, bad[i].n);
		uint8_t *e = exact(b, hl);
		ck_assert_msg(ip4_parse(e, hl, &h) == -WIRE_EOPT, "case %zu", i);
		free(e);
	}
}
END_TEST

START_TEST(test_build_matches_real)
{
	struct ip4_hdr h = {.hlen = 0 /* ignored */, .tos = 0, .total_len = 84, .id = 0x919f,
			    .df = true, .ttl = 64, .proto = IP4_PROTO_ICMP,
			    .src = 0x0a000001, .dst = 0x0a000002};
	uint8_t b[84];
	memcpy(b, real_ping, sizeof(b));
	memset(b, 0xee, IP4_HLEN);
	ck_assert_uint_eq(ip4_build(b, &h), IP4_HLEN);
	ck_assert_mem_eq(b, real_ping, sizeof(real_ping));

	struct ip4_hdr u = {.tos = 0xc0, .total_len = 60, .id = 0x920f, .ttl = 64,
			    .proto = IP4_PROTO_ICMP, .src = 0x0a000001, .dst = 0x0a000002};
	ck_assert_uint_eq(ip4_build(b, &u), IP4_HLEN);
	ck_assert_mem_eq(b, real_unreach_hdr, IP4_HLEN);
}
END_TEST

START_TEST(test_build_roundtrip)
{
	uint8_t b[1500];
	memset(b, 0x5a, sizeof(b));
	for (unsigned i = 0; i < 64; i++) {
		struct ip4_hdr h = {.tos = (uint8_t)(i * 4), .total_len = (uint16_t)(20 + i * 23),
				    .id = (uint16_t)(i * 1031), .df = i & 1, .mf = (i >> 1) & 1,
				    .frag_off = (uint16_t)(i * 8 * 97), .ttl = (uint8_t)(i + 1),
				    .proto = (uint8_t)i, .src = 0xc0a80000u + i, .dst = 0xe0000001u};
		struct ip4_hdr p;
		ip4_build(b, &h);
		ck_assert_int_eq(ip4_parse(b, h.total_len, &p), 0);
		ck_assert_uint_eq(p.hlen, 20);
		ck_assert_uint_eq(p.tos, h.tos);
		ck_assert_uint_eq(p.total_len, h.total_len);
		ck_assert_uint_eq(p.id, h.id);
		ck_assert_int_eq(p.df, h.df);
		ck_assert_int_eq(p.mf, h.mf);
		ck_assert_uint_eq(p.frag_off, h.frag_off);
		ck_assert_uint_eq(p.ttl, h.ttl);
		ck_assert_uint_eq(p.proto, h.proto);
		ck_assert_uint_eq(p.src, h.src);
		ck_assert_uint_eq(p.dst, h.dst);
		ck_assert(ip4_is_multicast(p.dst));
		ck_assert(!ip4_is_multicast(p.src));
	}
}
END_TEST

static Suite *ip4_suite(void)
{
	Suite *s = suite_create("wire_ip4");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_parse_real_ping);
	tcase_add_test(tc, test_parse_real_unreach);
	tcase_add_test(tc, test_known_header);
	tcase_add_test(tc, test_truncated_everywhere);
	tcase_add_test(tc, test_padding_ignored);
	tcase_add_test(tc, test_bad_version);
	tcase_add_test(tc, test_ihl_below_5);
	tcase_add_test(tc, test_total_len_fields);
	tcase_add_test(tc, test_bad_checksum);
	tcase_add_test(tc, test_reserved_flag);
	tcase_add_test(tc, test_fragment_fields);
	tcase_add_test(tc, test_options_valid);
	tcase_add_test(tc, test_options_malformed);
	tcase_add_test(tc, test_build_matches_real);
	tcase_add_test(tc, test_build_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ip4_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
