/* shim_dns.h - the DNS wire format (RFC 1035) as libustack.so's resolver
 * uses it: a query encoder and a length-checked reply decoder.  Nothing
 * here does I/O; shim_dns.c sends the queries through ustack sockets.
 * Functions return 0 / a positive length or a negative errno. */
#ifndef SHIM_DNS_H
#define SHIM_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12
#define DNS_NAME_MAX 255    /* presentation form incl. no trailing dot: 253 */
#define DNS_UDP_MAX 512     /* RFC 1035 4.2.1 (we send no EDNS) */
#define DNS_MAX_ADDRS 64    /* addresses kept from one answer */
#define DNS_MAX_ALIASES 16  /* CNAMEs (or /etc/hosts aliases) kept */

#define DNS_T_A 1
#define DNS_T_CNAME 5
#define DNS_T_PTR 12
#define DNS_C_IN 1

/* RCODEs (RFC 1035 4.1.1) */
#define DNS_R_NOERROR 0
#define DNS_R_FORMERR 1
#define DNS_R_SERVFAIL 2
#define DNS_R_NXDOMAIN 3
#define DNS_R_NOTIMP 4
#define DNS_R_REFUSED 5

/* What one reply (or one /etc/hosts search) said about a name. */
struct dns_answer {
	int rcode;                 /* DNS_R_* of the reply */
	int naddr;                 /* A records for the final name (PTR: 1 = found) */
	struct in_addr addr[DNS_MAX_ADDRS];
	char canon[DNS_NAME_MAX + 1]; /* final owner name (after CNAMEs), or PTR target */
	int nalias;
	char alias[DNS_MAX_ALIASES][DNS_NAME_MAX + 1];
};

/* Encode a standard query (RD set) for `name` (dotted, optional trailing
 * dot) into buf.  Returns the message length, -EINVAL for a name that is
 * not a valid DNS name (empty label, label > 63, name > 255 octets), or
 * -ENOSPC. */
int dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype);

/* Decode a name at *off in msg (following compression pointers, each of
 * which must point strictly backwards) into out (dotted, no trailing dot,
 * "" for the root).  *off moves past the name as it appears in place.
 * Returns 0 or -EBADMSG. */
int dns_read_name(const uint8_t *msg, size_t len, size_t *off, char *out, size_t cap);

/* Check that reply `msg` answers query `q` (same ID, QR set, opcode 0, one
 * question equal to the query's, compared case-insensitively), then
 * collect the answer for qtype (A: addresses of the name after following
 * CNAMEs; PTR: the first target).  Returns 0 (see ans->rcode), 1 when the
 * reply is truncated (TC), -ESRCH when it does not belong to the query
 * (ignore it and keep waiting) or -EBADMSG when it is malformed. */
int dns_parse_reply(const uint8_t *msg, size_t len, const uint8_t *q, size_t qlen,
		    uint16_t qtype, struct dns_answer *ans);

/* ---- resolver internals shared by shim_dns.c and shim_res.c ---- */

#define DNS_MAXNS 3     /* glibc's MAXNS */
#define DNS_MAXDNSRCH 6
enum { SRC_FILES = 1, SRC_DNS = 2 };

/* resolv.conf (+ LOCALDOMAIN, RES_OPTIONS) and nsswitch.conf "hosts:". */
struct dns_conf {
	struct in_addr ns[DNS_MAXNS];
	int nns;
	char search[DNS_MAXDNSRCH][DNS_NAME_MAX + 1];
	int nsearch;
	int ndots, timeout, attempts; /* timeout in seconds */
	int src[2], nsrc;             /* nsswitch "hosts:" order */
};

/* Lookup outcome, one vocabulary for every source. */
enum { LK_OK, LK_NONAME, LK_NODATA, LK_AGAIN, LK_FAIL, LK_MEMORY };

/* Where a raw reply goes (res_query & co.): up to cap bytes (TC set when
 * cut); qclass 0 = IN. */
struct dns_raw {
	uint8_t *buf;
	size_t cap, len;
	uint16_t qclass;
};

struct hostent;
void dns_conf_load(struct dns_conf *c);
/* Send the query q to the nameservers (UDP over ustack, TCP when
 * truncated) and decode the reply into ans; raw, when given, gets the
 * reply's bytes.  LK_*; *servfail when a server answered SERVFAIL. */
int dns_send(const struct dns_conf *c, const uint8_t *q, int qlen, uint16_t qtype,
	     struct dns_answer *ans, bool *servfail, struct dns_raw *raw);
/* One question for name (class raw->qclass when given, else IN). */
int dns_query(const struct dns_conf *c, const char *name, uint16_t qtype,
	      struct dns_answer *ans, bool *servfail, struct dns_raw *raw);
/* res_search(3)'s order over the search list. */
int dns_search(const struct dns_conf *c, const char *name, uint16_t qtype,
	       struct dns_answer *ans, struct dns_raw *raw);
/* The name of a: nsswitch order, /etc/hosts then PTR.  Loads c. */
int lookup_addr(struct in_addr a, char *out, size_t cap, struct dns_conf *c);
/* Lay out a hostent in the caller's buffer: 0 or ERANGE. */
int hostent_fill(const struct dns_answer *a, struct hostent *he, char *buf, size_t len);

#endif
