/* shim_res.c - the resolver(3) calls and gethostbyaddr through ustack.
 * glibc's res_query/res_search/res_querydomain/res_send (and their res_n*
 * forms and the __res_* names older binaries link to) open their sockets
 * through internal calls that LD_PRELOAD cannot see; here they go through
 * shim_dns.c's transport: UDP over the stack, TCP when truncated, the
 * nameservers and search list of resolv.conf (reloaded per call, like the
 * rest of the shim's resolver; a res_state's own settings are not used,
 * its res_h_errno is set).  The raw reply comes back as glibc gives it:
 * its length, or -1 with h_errno HOST_NOT_FOUND (NXDOMAIN), NO_DATA (no
 * answer), TRY_AGAIN (no server answered, or SERVFAIL) - the reply still
 * in the buffer when there was one.  gethostbyaddr(_r): /etc/hosts then a
 * PTR query (RFC 1035 3.5), in nsswitch.conf order. */
#include <arpa/inet.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"
#include "shim_dns.h"

static int res_herr(int lk)
{
	switch (lk) {
	case LK_NONAME: return HOST_NOT_FOUND;
	case LK_NODATA: return NO_DATA;
	case LK_FAIL: return NO_RECOVERY;
	case LK_MEMORY: return NETDB_INTERNAL;
	default: return TRY_AGAIN;
	}
}

/* The common tail: length or -1 with h_errno (and statp's copy). */
static int res_done(res_state statp, int lk, const struct dns_raw *raw)
{
	int herr = lk == LK_OK ? NETDB_SUCCESS : res_herr(lk);

	/* Every server refused (or could not parse) the question: glibc's
	 * __res_context_query says NO_RECOVERY for those, TRY_AGAIN only for
	 * SERVFAIL. */
	if (lk == LK_AGAIN && raw->len >= 4) {
		int rc = raw->buf[3] & 0x0f;
		if (rc == DNS_R_FORMERR || rc == DNS_R_NOTIMP || rc == DNS_R_REFUSED)
			herr = NO_RECOVERY;
	}

	h_errno = herr;
	if (statp)
		statp->res_h_errno = herr;
	if (lk == LK_MEMORY)
		errno = ENOMEM;
	return lk == LK_OK ? (int)raw->len : -1;
}

static bool res_args_ok(const char *name, int class, int type, const unsigned char *ans,
			int anslen)
{
	return name && ans && anslen >= 0 && class > 0 && class <= 0xffff && type > 0 &&
	       type <= 0xffff;
}

/* query (search = false) or search over the list. */
static int res_common(res_state statp, const char *name, int class, int type,
		      unsigned char *answer, int anslen, bool search)
{
	struct dns_raw raw = { .buf = answer, .cap = (size_t)(anslen < 0 ? 0 : anslen),
			       .qclass = (uint16_t)class };
	struct dns_answer *ans;
	struct dns_conf c;
	bool fail;
	int r;

	if (!res_args_ok(name, class, type, answer, anslen)) {
		errno = EINVAL;
		return res_done(statp, LK_FAIL, &raw);
	}
	if (!(ans = malloc(sizeof *ans)))
		return res_done(statp, LK_MEMORY, &raw);
	dns_conf_load(&c);
	if (search) {
		r = dns_search(&c, name, (uint16_t)type, ans, &raw);
	} else {
		r = dns_query(&c, name, (uint16_t)type, ans, &fail, &raw);
	}
	free(ans);
	return res_done(statp, r, &raw);
}

SHIM_VIS int res_query(const char *name, int class, int type, unsigned char *answer, int anslen)
{
	return res_common(NULL, name, class, type, answer, anslen, false);
}

SHIM_VIS int res_search(const char *name, int class, int type, unsigned char *answer, int anslen)
{
	return res_common(NULL, name, class, type, answer, anslen, true);
}

SHIM_VIS int res_nquery(res_state statp, const char *name, int class, int type,
			unsigned char *answer, int anslen)
{
	return res_common(statp, name, class, type, answer, anslen, false);
}

SHIM_VIS int res_nsearch(res_state statp, const char *name, int class, int type,
			 unsigned char *answer, int anslen)
{
	return res_common(statp, name, class, type, answer, anslen, true);
}

/* res_querydomain(3): the query for "name.domain" (no search). */
static int res_domain(res_state statp, const char *name, const char *domain, int class, int type,
		      unsigned char *answer, int anslen)
{
	char fq[DNS_NAME_MAX + 2];

	if (!name) {
		errno = EINVAL;
		h_errno = NO_RECOVERY;
		return -1;
	}
	if (domain && snprintf(fq, sizeof fq, "%s.%s", name, domain) >= (int)sizeof fq) {
		h_errno = NO_RECOVERY;
		if (statp)
			statp->res_h_errno = NO_RECOVERY;
		return -1;
	}
	return res_common(statp, domain ? fq : name, class, type, answer, anslen, false);
}

SHIM_VIS int res_querydomain(const char *name, const char *domain, int class, int type,
			     unsigned char *answer, int anslen)
{
	return res_domain(NULL, name, domain, class, type, answer, anslen);
}

SHIM_VIS int res_nquerydomain(res_state statp, const char *name, const char *domain, int class,
			      int type, unsigned char *answer, int anslen)
{
	return res_domain(statp, name, domain, class, type, answer, anslen);
}

/* res_send(3): a query the program built, the reply whatever its RCODE;
 * -1 with errno ETIMEDOUT when no server answered. */
static int res_send_common(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	struct dns_raw raw = { .buf = answer, .cap = (size_t)(anslen < 0 ? 0 : anslen) };
	char name[DNS_NAME_MAX + 1];
	size_t off = DNS_HDR_LEN;
	struct dns_answer *ans;
	struct dns_conf c;
	bool fail;

	if (!msg || !answer || msglen < DNS_HDR_LEN || msglen > 65535 || anslen < DNS_HDR_LEN ||
	    dns_read_name(msg, (size_t)msglen, &off, name, sizeof name) < 0 ||
	    off + 4 > (size_t)msglen) {
		errno = EINVAL;
		return -1;
	}
	if (!(ans = malloc(sizeof *ans))) {
		errno = ENOMEM;
		return -1;
	}
	dns_conf_load(&c);
	uint16_t qtype = (uint16_t)(msg[off] << 8 | msg[off + 1]);
	int r = dns_send(&c, msg, msglen, qtype, ans, &fail, &raw);
	free(ans);
	if (r == LK_MEMORY) {
		errno = ENOMEM;
		return -1;
	}
	if (raw.len == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return (int)raw.len;
}

SHIM_VIS int res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen)
{
	return res_send_common(msg, msglen, answer, anslen);
}

SHIM_VIS int res_nsend(res_state statp, const unsigned char *msg, int msglen,
		       unsigned char *answer, int anslen)
{
	(void)statp;
	return res_send_common(msg, msglen, answer, anslen);
}

/* The names programs linked before glibc 2.34 (libresolv) refer to. */
int __res_query(const char *, int, int, unsigned char *, int);
int __res_search(const char *, int, int, unsigned char *, int);
int __res_nquery(res_state, const char *, int, int, unsigned char *, int);
int __res_nsearch(res_state, const char *, int, int, unsigned char *, int);
int __res_querydomain(const char *, const char *, int, int, unsigned char *, int);
int __res_nquerydomain(res_state, const char *, const char *, int, int, unsigned char *, int);
int __res_send(const unsigned char *, int, unsigned char *, int);
int __res_nsend(res_state, const unsigned char *, int, unsigned char *, int);

SHIM_VIS int __res_query(const char *n, int c, int t, unsigned char *a, int l)
{
	return res_common(NULL, n, c, t, a, l, false);
}

SHIM_VIS int __res_search(const char *n, int c, int t, unsigned char *a, int l)
{
	return res_common(NULL, n, c, t, a, l, true);
}

SHIM_VIS int __res_nquery(res_state st, const char *n, int c, int t, unsigned char *a, int l)
{
	return res_common(st, n, c, t, a, l, false);
}

SHIM_VIS int __res_nsearch(res_state st, const char *n, int c, int t, unsigned char *a, int l)
{
	return res_common(st, n, c, t, a, l, true);
}

SHIM_VIS int __res_querydomain(const char *n, const char *d, int c, int t, unsigned char *a, int l)
{
	return res_domain(NULL, n, d, c, t, a, l);
}

SHIM_VIS int __res_nquerydomain(res_state st, const char *n, const char *d, int c, int t,
				unsigned char *a, int l)
{
	return res_domain(st, n, d, c, t, a, l);
}

SHIM_VIS int __res_send(const unsigned char *m, int ml, unsigned char *a, int l)
{
	return res_send_common(m, ml, a, l);
}

SHIM_VIS int __res_nsend(res_state st, const unsigned char *m, int ml, unsigned char *a, int l)
{
	(void)st;
	return res_send_common(m, ml, a, l);
}

/* ---- gethostbyaddr ---------------------------------------------------------- */

SHIM_VIS int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret,
			     char *buf, size_t buflen, struct hostent **result, int *h_errnop)
{
	struct dns_answer *ans;
	struct dns_conf c;
	int r;

	*result = NULL;
	if (!addr || (type != AF_INET && type != AF_INET6)) {
		*h_errnop = NETDB_INTERNAL;
		errno = EAFNOSUPPORT;
		return EAFNOSUPPORT;
	}
	if (len != (type == AF_INET ? 4u : 16u)) {
		*h_errnop = NETDB_INTERNAL;
		errno = EINVAL;
		return EINVAL;
	}
	if (type == AF_INET6) { /* the stack has no IPv6: no name for it */
		*h_errnop = HOST_NOT_FOUND;
		return 0;
	}
	if (!(ans = calloc(1, sizeof *ans))) {
		*h_errnop = NETDB_INTERNAL;
		errno = ENOMEM;
		return ENOMEM;
	}
	memcpy(&ans->addr[0], addr, 4);
	ans->naddr = 1;
	r = lookup_addr(ans->addr[0], ans->canon, sizeof ans->canon, &c);
	if (r == LK_OK) {
		r = hostent_fill(ans, ret, buf, buflen);
		free(ans);
		if (r) {
			*h_errnop = NETDB_INTERNAL;
			errno = ERANGE;
			return ERANGE;
		}
		*h_errnop = NETDB_SUCCESS;
		*result = ret;
		return 0;
	}
	free(ans);
	if (r == LK_MEMORY) {
		*h_errnop = NETDB_INTERNAL;
		errno = ENOMEM;
		return ENOMEM;
	}
	*h_errnop = res_herr(r);
	return 0;
}

/* Non-reentrant by definition (as glibc's). */
static struct hostent res_he;
static char res_he_buf[1024];

SHIM_VIS struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	struct hostent *res = NULL;
	int herr = 0;

	gethostbyaddr_r(addr, len, type, &res_he, res_he_buf, sizeof res_he_buf, &res, &herr);
	h_errno = herr;
	return res;
}
