/* test_wire_tcp.c - unit tests for stack/wire_tcp.c (RFC 9293 §3.1 header,
 * RFC 7323 / RFC 2018 options). */
#include <check.h>
#include <stdlib.h>

#include "checksum.h"
#include "wire_ip4.h"
#include "wire_tcp.h"

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

/* Real SYN from Linux 6.x connect(): 10.0.0.1:45308 -> 10.0.0.2:8080,
 * options mss 1460, sackOK, TS val 3500580805 ecr 0, nop, wscale 10;
 * checksum 0xdf4c (verified by tcpdump). */
static const uint8_t real_syn[40] = {
	0xb0, 0xfc, 0x1f, 0x90, 0x99, 0x59, 0x7f, 0x6a, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
	0xfa, 0xf0, 0xdf, 0x4c, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
	0xd0, 0xa6, 0x9f, 0xc5, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
};

static void fix_csum(uint8_t *b, size_t len)
{
	wire_put16(b + 16, 0);
	wire_put16(b + 16, csum_fold(csum_partial(b, len, csum_pseudo(SRC, DST, IP4_PROTO_TCP,
								      (uint16_t)len))));
}

/* The fixed header of real_syn followed by `olen` (a multiple of 4) option
 * bytes; data offset and checksum fixed.  Returns the header length. */
static size_t with_opts(uint8_t *b, const uint8_t *opt, size_t olen)
{
	ck_assert(olen % 4 == 0 && olen <= 40);
	memcpy(b, real_syn, TCP_HLEN);
	memcpy(b + TCP_HLEN, opt, olen);
	size_t hlen = TCP_HLEN + olen;
	b[12] = (uint8_t)(hlen / 4 << 4);
	fix_csum(b, hlen);
	return hlen;
}

static int parse_opts(const uint8_t *opt, size_t olen, struct tcp_hdr *h)
{
	uint8_t b[TCP_MAX_HLEN];
	size_t hl = with_opts(b, opt, olen);
	uint8_t *e = exact(b, hl);
	int r = tcp_parse(e, hl, SRC, DST, h);
	free(e);
	return r;
}

START_TEST(test_parse_real_syn)
{
	struct tcp_hdr h;
	ck_assert_int_eq(tcp_parse(real_syn, sizeof(real_syn), SRC, DST, &h), 0);
	ck_assert_uint_eq(h.sport, 45308);
	ck_assert_uint_eq(h.dport, 8080);
	ck_assert_uint_eq(h.seq, 2572779370u);
	ck_assert_uint_eq(h.ack, 0);
	ck_assert_uint_eq(h.hlen, 40);
	ck_assert_uint_eq(h.flags, TCP_SYN);
	ck_assert_uint_eq(h.win, 64240);
	ck_assert_uint_eq(h.urg, 0);
	ck_assert(h.opt.has_mss);
	ck_assert_uint_eq(h.opt.mss, 1460);
	ck_assert(h.opt.sack_perm);
	ck_assert(h.opt.has_ts);
	ck_assert_uint_eq(h.opt.tsval, 3500580805u);
	ck_assert_uint_eq(h.opt.tsecr, 0);
	ck_assert(h.opt.has_ws);
	ck_assert_uint_eq(h.opt.ws, 10);
	ck_assert_uint_eq(h.opt.nsack, 0);
}
END_TEST

START_TEST(test_truncated)
{
	struct tcp_hdr h;
	for (size_t len = 0; len < sizeof(real_syn); len++) {
		uint8_t *b = exact(real_syn, len);
		ck_assert_msg(tcp_parse(b, len, SRC, DST, &h) == -WIRE_ETRUNC, "len %zu", len);
		free(b);
	}
}
END_TEST

START_TEST(test_truncated_payload)
{
	/* header intact but payload cut: the checksum over `len` fails */
	uint8_t b[40 + 100];
	struct tcp_hdr h;
	memcpy(b, real_syn, 40);
	for (size_t i = 0; i < 100; i++)
		b[40 + i] = (uint8_t)(i + 1);
	fix_csum(b, sizeof(b));
	ck_assert_int_eq(tcp_parse(b, sizeof(b), SRC, DST, &h), 0);
	for (size_t len = 40; len < sizeof(b); len++) {
		uint8_t *e = exact(b, len);
		ck_assert_msg(tcp_parse(e, len, SRC, DST, &h) == -WIRE_ECSUM, "len %zu", len);
		free(e);
	}
}
END_TEST

START_TEST(test_doff)
{
	uint8_t b[40];
	struct tcp_hdr h;
	for (uint8_t doff = 0; doff < 5; doff++) {
		memcpy(b, real_syn, sizeof(b));
		b[12] = (uint8_t)(doff << 4);
		fix_csum(b, sizeof(b));
		ck_assert_int_eq(tcp_parse(b, sizeof(b), SRC, DST, &h), -WIRE_EFIELD);
	}
	for (uint8_t doff = 11; doff < 16; doff++) { /* hlen 44..60 > len 40 */
		memcpy(b, real_syn, sizeof(b));
		b[12] = (uint8_t)(doff << 4);
		fix_csum(b, sizeof(b));
		ck_assert_int_eq(tcp_parse(b, sizeof(b), SRC, DST, &h), -WIRE_ETRUNC);
	}
	/* doff 5: the options become payload */
	memcpy(b, real_syn, sizeof(b));
	b[12] = 0x50;
	fix_csum(b, sizeof(b));
	ck_assert_int_eq(tcp_parse(b, sizeof(b), SRC, DST, &h), 0);
	ck_assert_uint_eq(h.hlen, 20);
	ck_assert(!h.opt.has_mss && !h.opt.has_ts && !h.opt.has_ws && !h.opt.sack_perm);
}
END_TEST

START_TEST(test_too_long_for_pseudo_header)
{
	size_t n = 65536;
	uint8_t *b = calloc(1, n);
	struct tcp_hdr h;
	ck_assert_ptr_nonnull(b);
	memcpy(b, real_syn, sizeof(real_syn));
	ck_assert_int_eq(tcp_parse(b, n, SRC, DST, &h), -WIRE_EFIELD);
	free(b);
}
END_TEST

START_TEST(test_bad_checksum)
{
	struct tcp_hdr h;
	for (size_t i = 0; i < sizeof(real_syn); i++) {
		if (i == 12)
			continue; /* data offset: covered by test_doff */
		for (int bit = 0; bit < 8; bit++) {
			uint8_t b[40];
			memcpy(b, real_syn, sizeof(b));
			b[i] ^= (uint8_t)(1u << bit);
			ck_assert_msg(tcp_parse(b, sizeof(b), SRC, DST, &h) == -WIRE_ECSUM,
				      "byte %zu bit %d", i, bit);
		}
	}
	ck_assert_int_eq(tcp_parse(real_syn, sizeof(real_syn), DST, SRC ^ 4, &h), -WIRE_ECSUM);
	ck_assert_int_eq(tcp_parse(real_syn, sizeof(real_syn), SRC, DST + 1, &h), -WIRE_ECSUM);
}
END_TEST

START_TEST(test_option_lengths_bad)
{
	static const struct {
		uint8_t o[12];
		size_t n;
		const char *what;
	} bad[] = {
		{{30, 0, 0, 0}, 4, "length 0"},
		{{30, 1, 0, 0}, 4, "length 1"},
		{{2, 0, 5, 0xb4}, 4, "MSS length 0"},
		{{2, 1, 1, 1}, 4, "MSS length 1"},
		{{30, 5, 0, 0}, 4, "runs past header end"},
		{{30, 0xff, 0, 0}, 4, "length 255"},
		{{1, 1, 1, 2}, 4, "kind without length byte"},
		{{1, 1, 1, 30}, 4, "unknown kind without length byte"},
		{{2, 3, 5, 1}, 4, "MSS length 3"},
		{{2, 5, 5, 0xb4, 0, 1, 1, 1}, 8, "MSS length 5"},
		{{3, 2, 1, 1}, 4, "WS length 2"},
		{{3, 4, 7, 0}, 4, "WS length 4"},
		{{4, 3, 0, 1}, 4, "SACK-permitted length 3"},
		{{4, 4, 0, 0}, 4, "SACK-permitted length 4"},
		{{8, 8, 0, 0, 0, 0, 0, 0}, 8, "TS length 8"},
		{{8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 12, "TS length 12"},
		{{1, 1, 1, 1, 8, 10, 0, 0, 0, 0, 0, 0}, 12, "TS runs past end"},
		{{5, 2, 1, 1}, 4, "SACK with no block"},
		{{5, 9, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}, 12, "SACK length 9"},
		{{5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 12, "SACK length 11"},
		{{2, 4, 5, 0xb4, 3, 3, 7, 30}, 8, "valid, then kind without length"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tcp_hdr h;
		ck_assert_msg(parse_opts(bad[i].o, bad[i].n, &h) == -WIRE_EOPT, "%s", bad[i].what);
	}
}
END_TEST

START_TEST(test_sack_blocks)
{
	for (size_t n = 1; n <= 4; n++) {
		uint8_t o[40] = {1, 1, 5, (uint8_t)(2 + 8 * n)};
		/* k < 4 bounds the writes for gcc -O3's overflow check too. */
		for (size_t k = 0; k < n && k < 4; k++) {
			wire_put32(o + 4 + 8 * k, 1000u * (uint32_t)k + 1);
			wire_put32(o + 8 + 8 * k, 1000u * (uint32_t)k + 501);
		}
		struct tcp_hdr h;
		ck_assert_int_eq(parse_opts(o, 4 + 8 * n, &h), 0);
		ck_assert_uint_eq(h.opt.nsack, n);
		for (size_t k = 0; k < n; k++) {
			ck_assert_uint_eq(h.opt.sack[k].start, 1000u * k + 1);
			ck_assert_uint_eq(h.opt.sack[k].end, 1000u * k + 501);
		}
	}
	/* 4 blocks without leading NOPs: 34 bytes + 2 EOL padding */
	uint8_t o[36] = {5, 34};
	wire_put32(o + 2 + 24, 0xdeadbeef);
	struct tcp_hdr h;
	ck_assert_int_eq(parse_opts(o, 36, &h), 0);
	ck_assert_uint_eq(h.opt.nsack, 4);
	ck_assert_uint_eq(h.opt.sack[3].start, 0xdeadbeef);
	/* 5 blocks (42 bytes) cannot fit in 40 option bytes */
	uint8_t five[40] = {5, 42};
	ck_assert_int_eq(parse_opts(five, 40, &h), -WIRE_EOPT);
	/* 4 blocks after a timestamp run past the header */
	uint8_t tsack[40] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 34};
	ck_assert_int_eq(parse_opts(tsack, 40, &h), -WIRE_EOPT);
	/* 3 blocks after a timestamp fit exactly */
	tsack[15] = 26;
	ck_assert_int_eq(parse_opts(tsack, 40, &h), 0);
	ck_assert_uint_eq(h.opt.nsack, 3);
	ck_assert(h.opt.has_ts);
	ck_assert_uint_eq(h.opt.tsval, 1);
	ck_assert_uint_eq(h.opt.tsecr, 2);
}
END_TEST

START_TEST(test_eol_and_unknown)
{
	struct tcp_hdr h;
	/* EOL ends the list: the malformed MSS after it is never looked at */
	static const uint8_t eol[8] = {2, 4, 2, 0x18, 0, 2, 9, 9};
	ck_assert_int_eq(parse_opts(eol, 8, &h), 0);
	ck_assert(h.opt.has_mss);
	ck_assert_uint_eq(h.opt.mss, 536);
	/* EOL first: nothing parsed */
	static const uint8_t eol0[4] = {0, 2, 4, 5};
	ck_assert_int_eq(parse_opts(eol0, 4, &h), 0);
	ck_assert(!h.opt.has_mss);
	/* unknown options (TFO 34, MD5 19, experimental 254) are skipped */
	static const uint8_t unk[36] = {
		34, 10, 1, 2, 3, 4, 5, 6, 7, 8,      /* TFO cookie */
		19, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* MD5 */
		254, 4, 0xf9, 0x89, /* experimental */
		3, 3, 14, 0,        /* WS 14, EOL */
	};
	ck_assert_int_eq(parse_opts(unk, 36, &h), 0);
	ck_assert(h.opt.has_ws);
	ck_assert_uint_eq(h.opt.ws, 14);
	ck_assert(!h.opt.has_mss && !h.opt.has_ts && !h.opt.sack_perm);
	/* unknown option exactly filling the header */
	uint8_t full[40] = {200, 40};
	ck_assert_int_eq(parse_opts(full, 40, &h), 0);
	/* NOPs only */
	uint8_t nops[40];
	memset(nops, 1, sizeof(nops));
	ck_assert_int_eq(parse_opts(nops, 40, &h), 0);
}
END_TEST

START_TEST(test_ws_as_received)
{
	static const uint8_t shifts[] = {0, 14, 15, 255};
	for (size_t i = 0; i < sizeof(shifts); i++) {
		uint8_t o[4] = {1, 3, 3, shifts[i]};
		struct tcp_hdr h;
		ck_assert_int_eq(parse_opts(o, 4, &h), 0);
		ck_assert(h.opt.has_ws);
		ck_assert_uint_eq(h.opt.ws, shifts[i]);
	}
}
END_TEST

START_TEST(test_build_matches_real_syn)
{
	struct tcp_hdr h = {.sport = 45308, .dport = 8080, .seq = 2572779370u, .ack = 0,
			    .flags = TCP_SYN, .win = 64240, .urg = 0,
			    .opt = {.has_mss = true, .mss = 1460, .sack_perm = true,
				    .has_ts = true, .tsval = 3500580805u, .tsecr = 0,
				    .has_ws = true, .ws = 10}};
	uint8_t b[41];
	memset(b, 0xee, sizeof(b));
	ck_assert_uint_eq(tcp_opts_len(&h.opt), 20);
	ck_assert_uint_eq(tcp_build(b, &h, 0, SRC, DST), 40);
	ck_assert_mem_eq(b, real_syn, sizeof(real_syn));
	ck_assert_uint_eq(b[40], 0xee);
}
END_TEST

START_TEST(test_build_linux_layouts)
{
	uint8_t b[60];
	struct tcp_hdr h = {.sport = 1, .dport = 2, .flags = TCP_ACK, .win = 63};

	/* established with timestamps: NOP,NOP,TS as Linux sends */
	h.opt = (struct tcp_opts){.has_ts = true, .tsval = 0x11223344, .tsecr = 0x55667788};
	ck_assert_uint_eq(tcp_build(b, &h, 0, SRC, DST), 32);
	ck_assert_mem_eq(b + 20, ((const uint8_t[]){1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55,
						   0x66, 0x77, 0x88}),
			 12);
	/* SACK-permitted without timestamps: NOP,NOP,SACKPERM */
	h.opt = (struct tcp_opts){.sack_perm = true};
	ck_assert_uint_eq(tcp_build(b, &h, 0, SRC, DST), 24);
	ck_assert_mem_eq(b + 20, ((const uint8_t[]){1, 1, 4, 2}), 4);
	/* window scale alone: NOP,WS */
	h.opt = (struct tcp_opts){.has_ws = true, .ws = 7};
	ck_assert_uint_eq(tcp_build(b, &h, 0, SRC, DST), 24);
	ck_assert_mem_eq(b + 20, ((const uint8_t[]){1, 3, 3, 7}), 4);
	/* TS + 1 SACK block: NOP,NOP,TS, NOP,NOP,SACK */
	h.opt = (struct tcp_opts){.has_ts = true, .tsval = 1, .tsecr = 2, .nsack = 1,
				  .sack = {{0xa0000000u, 0xa0001000u}}};
	ck_assert_uint_eq(tcp_build(b, &h, 0, SRC, DST), 44);
	ck_assert_mem_eq(b + 32, ((const uint8_t[]){1, 1, 5, 10, 0xa0, 0, 0, 0, 0xa0, 0, 0x10, 0}),
			 12);
	/* no options */
	h.opt = (struct tcp_opts){0};
	ck_assert_uint_eq(tcp_build(b, &h, 0, SRC, DST), 20);
	ck_assert_uint_eq(b[12], 0x50);
}
END_TEST

START_TEST(test_opts_len_budget)
{
	struct tcp_opts o = {0};
	ck_assert_uint_eq(tcp_opts_len(&o), 0);
	o = (struct tcp_opts){.has_mss = true};
	ck_assert_uint_eq(tcp_opts_len(&o), 4);
	o = (struct tcp_opts){.has_ts = true};
	ck_assert_uint_eq(tcp_opts_len(&o), 12);
	o = (struct tcp_opts){.has_ts = true, .sack_perm = true};
	ck_assert_uint_eq(tcp_opts_len(&o), 12);
	o = (struct tcp_opts){.sack_perm = true};
	ck_assert_uint_eq(tcp_opts_len(&o), 4);
	/* TS + SACK: 1, 2, 3 blocks fit; a 4th is dropped */
	static const size_t with_ts[] = {12, 24, 32, 40, 40, 40};
	for (uint8_t n = 0; n <= 5; n++) {
		o = (struct tcp_opts){.has_ts = true, .nsack = n};
		ck_assert_uint_eq(tcp_opts_len(&o), with_ts[n]);
	}
	/* no TS: all 4 fit (36 bytes); nsack > 4 treated as 4 */
	static const size_t no_ts[] = {0, 12, 20, 28, 36, 36};
	for (uint8_t n = 0; n <= 5; n++) {
		o = (struct tcp_opts){.nsack = n};
		ck_assert_uint_eq(tcp_opts_len(&o), no_ts[n]);
	}
	/* everything: 20 fixed bytes leave room for 2 blocks */
	o = (struct tcp_opts){.has_mss = true, .has_ws = true, .sack_perm = true, .has_ts = true,
			      .nsack = 4};
	ck_assert_uint_eq(tcp_opts_len(&o), 40);
}
END_TEST

/* Every combination of options and 0..5 SACK blocks, with payloads of
 * varying (odd) lengths: build, parse, compare. */
START_TEST(test_roundtrip_all_combinations)
{
	static uint8_t b[TCP_MAX_HLEN + 301];
	for (unsigned mask = 0; mask < 16; mask++) {
		for (uint8_t ns = 0; ns <= 5; ns++) {
			struct tcp_hdr h = {.sport = (uint16_t)(mask * 1000 + ns), .dport = 443,
					    .seq = 0xfffffff0u + mask, .ack = 0x12345678u * ns,
					    .flags = (uint8_t)(TCP_ACK | (mask << 4 & 0xe0) | ns),
					    .win = (uint16_t)(mask * 4097), .urg = (uint16_t)ns};
			h.opt.has_mss = mask & 1;
			h.opt.mss = 1400;
			h.opt.has_ws = mask & 2;
			h.opt.ws = 9;
			h.opt.sack_perm = mask & 4;
			h.opt.has_ts = mask & 8;
			h.opt.tsval = 0x01020304u * mask;
			h.opt.tsecr = 0xfffefdfcu;
			h.opt.nsack = ns;
			for (unsigned k = 0; k < TCP_MAX_SACK; k++) {
				h.opt.sack[k].start = 100u * k + 7;
				h.opt.sack[k].end = 100u * k + 57;
			}
			size_t fixed = (h.opt.has_mss ? 4 : 0) + (h.opt.has_ts ? 12 : h.opt.sack_perm ? 4 : 0) +
				       (h.opt.has_ws ? 4 : 0);
			size_t fit = 40 - fixed >= 12 ? (40 - fixed - 4) / 8 : 0;
			size_t want = ns > 4 ? 4 : ns;
			if (want > fit)
				want = fit;
			size_t olen = tcp_opts_len(&h.opt);
			ck_assert_uint_eq(olen, fixed + (want ? 4 + 8 * want : 0));
			ck_assert_uint_eq(olen % 4, 0);
			ck_assert_uint_le(olen, 40);

			size_t pl = (mask * 6 + ns) * 3 % 301;
			for (size_t i = 0; i < pl; i++)
				b[TCP_HLEN + olen + i] = (uint8_t)(i ^ mask);
			ck_assert_uint_eq(tcp_build(b, &h, pl, SRC, DST), TCP_HLEN + olen);

			struct tcp_hdr p;
			uint8_t *e = exact(b, TCP_HLEN + olen + pl);
			ck_assert_int_eq(tcp_parse(e, TCP_HLEN + olen + pl, SRC, DST, &p), 0);
			free(e);
			ck_assert_uint_eq(p.sport, h.sport);
			ck_assert_uint_eq(p.dport, h.dport);
			ck_assert_uint_eq(p.seq, h.seq);
			ck_assert_uint_eq(p.ack, h.ack);
			ck_assert_uint_eq(p.hlen, TCP_HLEN + olen);
			ck_assert_uint_eq(p.flags, h.flags);
			ck_assert_uint_eq(p.win, h.win);
			ck_assert_uint_eq(p.urg, h.urg);
			ck_assert_int_eq(p.opt.has_mss, h.opt.has_mss);
			if (p.opt.has_mss)
				ck_assert_uint_eq(p.opt.mss, 1400);
			ck_assert_int_eq(p.opt.has_ws, h.opt.has_ws);
			if (p.opt.has_ws)
				ck_assert_uint_eq(p.opt.ws, 9);
			ck_assert_int_eq(p.opt.sack_perm, h.opt.sack_perm);
			ck_assert_int_eq(p.opt.has_ts, h.opt.has_ts);
			if (p.opt.has_ts) {
				ck_assert_uint_eq(p.opt.tsval, h.opt.tsval);
				ck_assert_uint_eq(p.opt.tsecr, h.opt.tsecr);
			}
			ck_assert_uint_eq(p.opt.nsack, want);
			for (size_t k = 0; k < want; k++) {
				ck_assert_uint_eq(p.opt.sack[k].start, h.opt.sack[k].start);
				ck_assert_uint_eq(p.opt.sack[k].end, h.opt.sack[k].end);
			}
			/* Linux-style alignment: no EOL, every 32-bit value
			 * 4-aligned (TS value right after a 2-byte kind/len at
			 * offset 2 mod 4). */
			for (size_t i = TCP_HLEN; i < TCP_HLEN + olen;) {
				ck_assert_uint_ne(b[i], TCP_OPT_EOL);
				if (b[i] == TCP_OPT_NOP) {
					i++;
					continue;
				}
				if (b[i] == TCP_OPT_TS || b[i] == TCP_OPT_SACK)
					ck_assert_uint_eq(i % 4, 2);
				i += b[i + 1];
			}
		}
	}
}
END_TEST

START_TEST(test_all_flags)
{
	uint8_t b[TCP_HLEN];
	for (unsigned f = 0; f < 256; f++) {
		struct tcp_hdr h = {.sport = 1, .dport = 2, .flags = (uint8_t)f}, p;
		tcp_build(b, &h, 0, SRC, DST);
		ck_assert_int_eq(tcp_parse(b, sizeof(b), SRC, DST, &p), 0);
		ck_assert_uint_eq(p.flags, f);
	}
}
END_TEST

static Suite *tcp_suite(void)
{
	Suite *s = suite_create("wire_tcp");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_parse_real_syn);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_truncated_payload);
	tcase_add_test(tc, test_doff);
	tcase_add_test(tc, test_too_long_for_pseudo_header);
	tcase_add_test(tc, test_bad_checksum);
	tcase_add_test(tc, test_option_lengths_bad);
	tcase_add_test(tc, test_sack_blocks);
	tcase_add_test(tc, test_eol_and_unknown);
	tcase_add_test(tc, test_ws_as_received);
	tcase_add_test(tc, test_build_matches_real_syn);
	tcase_add_test(tc, test_build_linux_layouts);
	tcase_add_test(tc, test_opts_len_budget);
	tcase_add_test(tc, test_roundtrip_all_combinations);
	tcase_add_test(tc, test_all_flags);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tcp_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
