/* shim_dns.c - name resolution through ustack.  glibc's resolver opens its
 * sockets through internal calls that LD_PRELOAD cannot see, so the shim
 * answers getaddrinfo, gethostbyname(2)(_r), getnameinfo itself:
 *   /etc/nsswitch.conf "hosts:" order (files, dns; others ignored),
 *   /etc/hosts, then DNS (RFC 1035) A / PTR queries to the nameservers of
 *   /etc/resolv.conf over UDP sockets made with the interposed socket(),
 *   so they cross ustack (TCP when a reply is truncated).
 * Configuration is read on every lookup (the files are small); nothing is
 * kept in static storage except gethostbyname's result, which glibc also
 * makes non-reentrant.  gai_strerror, hstrerror and herror are libc's. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "shim.h"
#include "shim_dns.h"

/* ---- wire format (RFC 1035 4.1) ------------------------------------------- */

static uint16_t dns_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void dns_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype)
{
	size_t n = strlen(name), off = DNS_HDR_LEN, wire = 1;

	if (n > 0 && name[n - 1] == '.')
		n--; /* one trailing dot: the root */
	if (cap < DNS_HDR_LEN + n + 2 + 4)
		return -ENOSPC;
	memset(buf, 0, DNS_HDR_LEN);
	dns_put16(buf, id);
	buf[2] = 0x01; /* RD */
	dns_put16(buf + 4, 1); /* QDCOUNT */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && name[j] != '.')
			j++;
		size_t l = j - i;
		if (l == 0 || l > 63)
			return -EINVAL; /* empty label ("a..b", ".x") or too long */
		wire += l + 1;
		if (wire > DNS_NAME_MAX)
			return -EINVAL;
		buf[off++] = (uint8_t)l;
		memcpy(buf + off, name + i, l);
		off += l;
		i = j + 1;
		if (j + 1 == n)
			return -EINVAL; /* "a." after stripping one dot: "a.." */
	}
	buf[off++] = 0;
	dns_put16(buf + off, qtype);
	dns_put16(buf + off + 2, DNS_C_IN);
	return (int)(off + 4);
}

int dns_read_name(const uint8_t *msg, size_t len, size_t *off, char *out, size_t cap)
{
	size_t pos = *off, o = 0, wire = 1, end = 0;
	size_t limit = pos; /* every pointer must go below where this segment began */
	bool jumped = false;
	int hops = 0;

	if (cap == 0)
		return -EBADMSG;
	for (;;) {
		if (pos >= len)
			return -EBADMSG;
		uint8_t c = msg[pos];
		if ((c & 0xc0) == 0xc0) { /* compression pointer (4.1.4) */
			if (pos + 1 >= len)
				return -EBADMSG;
			size_t to = (size_t)(c & 0x3f) << 8 | msg[pos + 1];
			if (to >= limit || ++hops > 127)
				return -EBADMSG; /* forward, self or looping pointer */
			if (!jumped)
				end = pos + 2;
			jumped = true;
			pos = limit = to;
			continue;
		}
		if (c & 0xc0)
			return -EBADMSG; /* 0x40/0x80: extended label types */
		if (c == 0) {
			pos++;
			break;
		}
		if (pos + 1 + c > len)
			return -EBADMSG;
		wire += (size_t)c + 1;
		if (wire > DNS_NAME_MAX || o + c + 2 > cap)
			return -EBADMSG;
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < c; i++) {
			uint8_t ch = msg[pos + 1 + i];
			/* Names go back to programs as C strings: no NUL, no
			 * dot inside a label, nothing unprintable. */
			if (ch <= 0x20 || ch >= 0x7f || ch == '.')
				return -EBADMSG;
			out[o++] = (char)ch;
		}
		pos += 1 + (size_t)c;
	}
	out[o] = '\0';
	*off = jumped ? end : pos;
	return 0;
}

struct dns_rr {
	size_t owner; /* offset of the owner name */
	uint16_t type, class;
	size_t rdata;
	uint16_t rdlen;
};
#define DNS_MAX_RRS 128

static bool dns_owner_is(const uint8_t *msg, size_t len, const struct dns_rr *rr, const char *name)
{
	char buf[DNS_NAME_MAX + 1];
	size_t off = rr->owner;

	return dns_read_name(msg, len, &off, buf, sizeof buf) == 0 && strcasecmp(buf, name) == 0;
}

int dns_parse_reply(const uint8_t *msg, size_t len, const uint8_t *q, size_t qlen,
		    uint16_t qtype, struct dns_answer *ans)
{
	char qname[DNS_NAME_MAX + 1], rname[DNS_NAME_MAX + 1], target[DNS_NAME_MAX + 1];
	struct dns_rr rr[DNS_MAX_RRS];
	size_t off = DNS_HDR_LEN, qoff = DNS_HDR_LEN;
	int nrr = 0;

	memset(ans, 0, sizeof *ans);
	if (len < DNS_HDR_LEN || qlen < DNS_HDR_LEN)
		return -EBADMSG;
	if (dns_get16(msg) != dns_get16(q))
		return -ESRCH;
	if (!(msg[2] & 0x80) || (msg[2] & 0x78) != 0)
		return -ESRCH; /* not a response, or not a standard query's */
	int tc = (msg[2] & 0x02) != 0;
	int rcode = msg[3] & 0x0f;
	uint16_t qd = dns_get16(msg + 4), an = dns_get16(msg + 6);

	if (qd == 0 && rcode == DNS_R_FORMERR) { /* some servers drop the question */
		ans->rcode = rcode;
		return 0;
	}
	if (qd != 1)
		return -ESRCH;
	if (dns_read_name(q, qlen, &qoff, qname, sizeof qname) < 0 || qoff + 4 > qlen)
		return -EINVAL;
	if (dns_read_name(msg, len, &off, rname, sizeof rname) < 0 || off + 4 > len)
		return -EBADMSG;
	if (strcasecmp(rname, qname) != 0 || memcmp(msg + off, q + qoff, 4) != 0)
		return -ESRCH; /* another question (RFC 5452 9.1) */
	off += 4;
	ans->rcode = rcode;
	snprintf(ans->canon, sizeof ans->canon, "%s", qname);
	if (rcode != DNS_R_NOERROR)
		return tc;
	/* Walk the answer section once, checking every length. */
	for (unsigned i = 0; i < an; i++) {
		size_t owner = off;
		if (dns_read_name(msg, len, &off, rname, sizeof rname) < 0 || off + 10 > len)
			return tc ? 1 : -EBADMSG; /* a truncated reply may end anywhere */
		uint16_t rdlen = dns_get16(msg + off + 8);
		if (off + 10 + rdlen > len)
			return tc ? 1 : -EBADMSG;
		if (nrr < DNS_MAX_RRS)
			rr[nrr++] = (struct dns_rr){ .owner = owner,
						     .type = dns_get16(msg + off),
						     .class = dns_get16(msg + off + 2),
						     .rdata = off + 10,
						     .rdlen = rdlen };
		off += 10 + (size_t)rdlen;
	}
	/* Follow the CNAME chain from the question (bounded). */
	snprintf(target, sizeof target, "%s", qname);
	for (int hop = 0; hop < DNS_MAX_ALIASES; hop++) {
		int k;
		for (k = 0; k < nrr; k++)
			if (rr[k].type == DNS_T_CNAME && rr[k].class == DNS_C_IN &&
			    dns_owner_is(msg, len, &rr[k], target))
				break;
		if (k == nrr)
			break;
		size_t ro = rr[k].rdata;
		if (dns_read_name(msg, len, &ro, rname, sizeof rname) < 0 ||
		    ro != rr[k].rdata + rr[k].rdlen)
			return -EBADMSG;
		if (ans->nalias < DNS_MAX_ALIASES)
			snprintf(ans->alias[ans->nalias++], DNS_NAME_MAX + 1, "%s", target);
		snprintf(target, sizeof target, "%s", rname);
	}
	snprintf(ans->canon, sizeof ans->canon, "%s", target);
	for (int k = 0; k < nrr; k++) {
		if (rr[k].class != DNS_C_IN || rr[k].type != qtype ||
		    !dns_owner_is(msg, len, &rr[k], target))
			continue;
		if (qtype == DNS_T_A) {
			if (rr[k].rdlen != 4 || ans->naddr >= DNS_MAX_ADDRS)
				continue;
			memcpy(&ans->addr[ans->naddr++], msg + rr[k].rdata, 4);
		} else if (qtype == DNS_T_PTR) {
			size_t ro = rr[k].rdata;
			if (dns_read_name(msg, len, &ro, rname, sizeof rname) < 0 ||
			    ro != rr[k].rdata + rr[k].rdlen || !rname[0])
				continue;
			snprintf(ans->canon, sizeof ans->canon, "%s", rname);
			ans->naddr = 1;
			break;
		}
	}
	return tc;
}

/* ---- configuration ------------------------------------------------------- */

/* struct dns_conf, the LK_* outcomes: shim_dns.h */

/* One line into buf; overlong lines are skipped whole.  0 at EOF. */
static int dns_getline(FILE *f, char *buf, int cap)
{
	for (;;) {
		if (!fgets(buf, cap, f))
			return 0;
		size_t n = strlen(buf);
		if (n > 0 && buf[n - 1] == '\n') {
			buf[n - 1] = '\0';
			return 1;
		}
		if (feof(f))
			return 1; /* last line without newline */
		int c;
		while ((c = fgetc(f)) != EOF && c != '\n')
			;
	}
}

static void dns_options(struct dns_conf *c, char *s)
{
	char *save = NULL;

	for (char *t = strtok_r(s, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		int v;
		if (sscanf(t, "ndots:%d", &v) == 1)
			c->ndots = v < 0 ? 0 : v > 15 ? 15 : v;
		else if (sscanf(t, "timeout:%d", &v) == 1)
			c->timeout = v < 1 ? 1 : v > 30 ? 30 : v;
		else if (sscanf(t, "attempts:%d", &v) == 1)
			c->attempts = v < 1 ? 1 : v > 5 ? 5 : v;
	}
}

static void dns_set_search(struct dns_conf *c, char *s)
{
	char *save = NULL;

	c->nsearch = 0;
	for (char *t = strtok_r(s, " \t", &save); t && c->nsearch < DNS_MAXDNSRCH;
	     t = strtok_r(NULL, " \t", &save)) {
		size_t n = strlen(t);
		while (n > 0 && t[n - 1] == '.')
			t[--n] = '\0';
		if (n == 0 || n > 253)
			continue;
		memcpy(c->search[c->nsearch++], t, n + 1);
	}
}

void dns_conf_load(struct dns_conf *c)
{
	char line[1024];
	FILE *f;
	bool have_search = false;

	memset(c, 0, sizeof *c);
	c->ndots = 1;
	c->timeout = 5;
	c->attempts = 2;
	if ((f = fopen("/etc/resolv.conf", "re")) != NULL) {
		while (dns_getline(f, line, sizeof line)) {
			char *p = line, *kw, *save = NULL;
			if (*p == '#' || *p == ';')
				continue;
			if (!(kw = strtok_r(p, " \t", &save)))
				continue;
			char *rest = save ? save : kw + strlen(kw);
			char *hash = strpbrk(rest, "#;");
			if (hash)
				*hash = '\0';
			if (strcmp(kw, "nameserver") == 0) {
				char *a = strtok_r(NULL, " \t", &save);
				if (a && c->nns < DNS_MAXNS && inet_pton(AF_INET, a, &c->ns[c->nns]) == 1)
					c->nns++; /* IPv6 servers: the stack has no IPv6 */
			} else if (strcmp(kw, "search") == 0 || strcmp(kw, "domain") == 0) {
				dns_set_search(c, rest);
				if (kw[0] == 'd' && c->nsearch > 1)
					c->nsearch = 1;
				have_search = true;
			} else if (strcmp(kw, "options") == 0) {
				dns_options(c, rest);
			}
		}
		fclose(f);
	}
	if (c->nns == 0) { /* resolv.conf(5): the local machine */
		c->ns[0].s_addr = htonl(INADDR_LOOPBACK);
		c->nns = 1;
	}
	const char *env = getenv("LOCALDOMAIN");
	if (env && strlen(env) < sizeof line) {
		snprintf(line, sizeof line, "%s", env);
		dns_set_search(c, line);
		have_search = true;
	}
	env = getenv("RES_OPTIONS");
	if (env && strlen(env) < sizeof line) {
		snprintf(line, sizeof line, "%s", env);
		dns_options(c, line);
	}
	if (!have_search) { /* the domain part of the host name */
		char host[256];
		if (gethostname(host, sizeof host) == 0) {
			host[sizeof host - 1] = '\0';
			char *dot = strchr(host, '.');
			if (dot && dot[1])
				dns_set_search(c, dot + 1);
		}
	}
	/* nsswitch.conf(5) "hosts:": files and dns in their order; other
	 * services and [STATUS=action] items are not supported. */
	if ((f = fopen("/etc/nsswitch.conf", "re")) != NULL) {
		while (dns_getline(f, line, sizeof line)) {
			char *p = line, *save = NULL;
			while (*p == ' ' || *p == '\t')
				p++;
			if (strncmp(p, "hosts:", 6) != 0)
				continue;
			char *hash = strchr(p, '#');
			if (hash)
				*hash = '\0';
			c->nsrc = 0;
			for (char *t = strtok_r(p + 6, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
				int s = strcmp(t, "files") == 0 ? SRC_FILES
					: (strcmp(t, "dns") == 0 || strcmp(t, "resolve") == 0) ? SRC_DNS
					: 0;
				if (s && c->nsrc < 2 && (c->nsrc == 0 || c->src[0] != s))
					c->src[c->nsrc++] = s;
			}
			break;
		}
		fclose(f);
	}
	if (c->nsrc == 0) {
		c->src[0] = SRC_FILES;
		c->src[1] = SRC_DNS;
		c->nsrc = 2;
	}
}

/* ---- /etc/hosts ----------------------------------------------------------- */

/* All IPv4 addresses of `name`; canonical name and aliases from the first
 * matching line.  LK_OK or LK_NONAME. */
static int hosts_by_name(const char *name, struct dns_answer *ans)
{
	char line[1024], want[DNS_NAME_MAX + 1];
	size_t n = strlen(name);
	FILE *f;

	memset(ans, 0, sizeof *ans);
	if (n == 0 || n > DNS_NAME_MAX)
		return LK_NONAME;
	memcpy(want, name, n + 1);
	if (want[n - 1] == '.')
		want[n - 1] = '\0';
	if (!(f = fopen("/etc/hosts", "re")))
		return LK_NONAME;
	while (dns_getline(f, line, sizeof line)) {
		char *save = NULL, *hash = strchr(line, '#');
		struct in_addr a;
		if (hash)
			*hash = '\0';
		char *tok = strtok_r(line, " \t", &save);
		if (!tok || inet_pton(AF_INET, tok, &a) != 1)
			continue;
		char *names[DNS_MAX_ALIASES + 1];
		int nn = 0;
		bool match = false;
		for (tok = strtok_r(NULL, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
			if (strcasecmp(tok, want) == 0)
				match = true;
			if (nn < DNS_MAX_ALIASES + 1 && strlen(tok) <= DNS_NAME_MAX)
				names[nn++] = tok;
		}
		if (!match || nn == 0)
			continue;
		if (ans->naddr == 0) {
			snprintf(ans->canon, sizeof ans->canon, "%s", names[0]);
			for (int i = 1; i < nn; i++)
				snprintf(ans->alias[ans->nalias++], DNS_NAME_MAX + 1, "%s", names[i]);
		}
		bool dup = false;
		for (int i = 0; i < ans->naddr; i++)
			dup |= ans->addr[i].s_addr == a.s_addr;
		if (!dup && ans->naddr < DNS_MAX_ADDRS)
			ans->addr[ans->naddr++] = a;
	}
	fclose(f);
	return ans->naddr ? LK_OK : LK_NONAME;
}

/* The first name of the first line with address a. */
static int hosts_by_addr(struct in_addr a, char *out, size_t cap)
{
	char line[1024];
	FILE *f = fopen("/etc/hosts", "re");
	int r = LK_NONAME;

	if (!f)
		return r;
	while (r != LK_OK && dns_getline(f, line, sizeof line)) {
		char *save = NULL, *hash = strchr(line, '#');
		struct in_addr b;
		if (hash)
			*hash = '\0';
		char *tok = strtok_r(line, " \t", &save);
		if (!tok || inet_pton(AF_INET, tok, &b) != 1 || b.s_addr != a.s_addr)
			continue;
		if ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
			snprintf(out, cap, "%s", tok);
			r = LK_OK;
		}
	}
	fclose(f);
	return r;
}

/* ---- transport ------------------------------------------------------------- */

static uint32_t dns_rand32(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
		return v;
	/* No entropy yet (early boot): mix what differs between calls. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid() ^
		     (uint64_t)(uintptr_t)&v;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

/* A UDP socket on ustack, bound to a random port (RFC 5452 9.2). */
static int dns_udp_socket(struct in_addr ns)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };

	if (fd < 0)
		return -1;
	for (int i = 0; i < 8; i++) {
		sin.sin_port = htons((uint16_t)(1024 + dns_rand32() % (65536 - 1024)));
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 || errno != EADDRINUSE)
			break; /* else: the stack picks a port at the first send */
	}
	sin.sin_addr = ns;
	sin.sin_port = htons(53);
	/* Connected: replies from anyone else are dropped by the stack, and
	 * an ICMP port unreachable fails the wait at once. */
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Wait for fd to become readable until deadline: 1 ready, 0 timed out. */
static int dns_wait(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		uint64_t now = shim_now_ms();
		if (now >= deadline)
			return 0;
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, (int)(deadline - now));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Exact-length I/O on a TCP socket until deadline. */
static int dns_tcp_io(int fd, uint8_t *buf, size_t len, bool tx, uint64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = tx ? send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT)
			       : recv(fd, buf + done, len - done, MSG_DONTWAIT);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return -1;
		if (dns_wait(fd, tx ? POLLOUT : POLLIN, deadline) <= 0)
			return -1;
	}
	return 0;
}

/* RFC 1035 4.2.2 / RFC 7766: the query again over TCP.  Returns what
 * dns_parse_reply returned, or -ETIMEDOUT on any transport failure. */
static int dns_tcp_query(struct in_addr ns, const uint8_t *q, size_t qlen, uint16_t qtype,
			 uint8_t *buf, int timeout_ms, struct dns_answer *ans, size_t *outlen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr = ns };
	uint64_t deadline = shim_now_ms() + (uint64_t)timeout_ms;
	uint8_t hdr[2];
	int r = -ETIMEDOUT;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return r;
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 && errno != EINPROGRESS)
		goto out;
	if (dns_wait(fd, POLLOUT, deadline) <= 0)
		goto out;
	int err = 0;
	socklen_t el = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0)
		goto out;
	dns_put16(hdr, (uint16_t)qlen);
	if (dns_tcp_io(fd, hdr, 2, true, deadline) < 0 ||
	    dns_tcp_io(fd, (uint8_t *)(uintptr_t)q, qlen, true, deadline) < 0)
		goto out;
	if (dns_tcp_io(fd, hdr, 2, false, deadline) < 0)
		goto out;
	size_t n = dns_get16(hdr);
	if (n < DNS_HDR_LEN || dns_tcp_io(fd, buf, n, false, deadline) < 0)
		goto out;
	r = dns_parse_reply(buf, n, q, qlen, qtype, ans);
	if (r < 0)
		r = -ETIMEDOUT;
	else
		*outlen = n;
out:
	close(fd);
	return r;
}

/* One question to the nameservers in order, `attempts` rounds (RFC 1035
 * 4.2.1; timeouts as glibc's send_dg: timeout << round / nscount).
 * LK_OK, LK_NONAME (NXDOMAIN), LK_NODATA, LK_AGAIN; *servfail when a
 * server answered SERVFAIL/REFUSED. */
int dns_send(const struct dns_conf *c, const uint8_t *q, int qlen, uint16_t qtype,
	     struct dns_answer *ans, bool *servfail, struct dns_raw *raw)
{
	int fds[DNS_MAXNS] = { -1, -1, -1 };
	bool bad[DNS_MAXNS] = { false, false, false };
	int ret = LK_AGAIN;
	size_t rlen = 0;
	uint8_t *buf;

	*servfail = false;
	if (!(buf = malloc(65536)))
		return LK_MEMORY;
	for (int round = 0; round < c->attempts; round++) {
		int nbad = 0;
		for (int i = 0; i < c->nns; i++) {
			if (bad[i]) {
				nbad++;
				continue;
			}
			long ms = (long)c->timeout * 1000 << round;
			if (round > 0)
				ms /= c->nns;
			if (ms < 1000)
				ms = 1000;
			if (fds[i] < 0 && (fds[i] = dns_udp_socket(c->ns[i])) < 0) {
				bad[i] = true; /* no socket: ustackd unreachable or no route */
				continue;
			}
			if (send(fds[i], q, (size_t)qlen, MSG_NOSIGNAL) != qlen) {
				if (errno != EAGAIN && errno != ENOBUFS)
					bad[i] = true;
				continue;
			}
			uint64_t deadline = shim_now_ms() + (uint64_t)ms;
			int got = 0;
			while (!got && dns_wait(fds[i], POLLIN, deadline) > 0) {
				struct sockaddr_in from;
				socklen_t fl = sizeof from;
				ssize_t n = recvfrom(fds[i], buf, 65536, MSG_DONTWAIT,
						     (struct sockaddr *)&from, &fl);
				if (n < 0) {
					if (errno == EAGAIN || errno == EINTR)
						continue;
					bad[i] = true; /* ECONNREFUSED: ICMP unreachable */
					break;
				}
				if (fl < sizeof from || from.sin_family != AF_INET ||
				    from.sin_addr.s_addr != c->ns[i].s_addr || from.sin_port != htons(53))
					continue;
				int r = dns_parse_reply(buf, (size_t)n, q, (size_t)qlen, qtype, ans);
				if (r < 0)
					continue; /* not ours or malformed: keep waiting */
				rlen = (size_t)n;
				if (r == 1) { /* truncated: ask again over TCP */
					struct dns_answer *t = malloc(sizeof *t);
					uint8_t *tb = malloc(65536);
					size_t tl = 0;
					if (t && tb &&
					    dns_tcp_query(c->ns[i], q, (size_t)qlen, qtype, tb, (int)ms, t,
							  &tl) >= 0) {
						*ans = *t;
						memcpy(buf, tb, tl);
						rlen = tl;
					}
					free(t);
					free(tb);
				}
				got = 1;
			}
			if (!got)
				continue;
			if (raw) { /* the reply as it came, for res_query(3) & co. */
				size_t k = rlen < raw->cap ? rlen : raw->cap;
				memcpy(raw->buf, buf, k);
				if (k < rlen && k > 2)
					raw->buf[2] |= 0x02; /* TC, as glibc's send_dg */
				raw->len = k;
			}
			switch (ans->rcode) {
			case DNS_R_NOERROR:
				/* Raw callers ask any type: any answer RR will do. */
				if (raw)
					ret = rlen >= DNS_HDR_LEN && (buf[6] | buf[7]) ? LK_OK : LK_NODATA;
				else
					ret = ans->naddr ? LK_OK : LK_NODATA;
				goto done;
			case DNS_R_NXDOMAIN:
				ret = LK_NONAME;
				goto done;
			default: /* SERVFAIL, REFUSED, NOTIMP, FORMERR: next server */
				*servfail = true;
				bad[i] = true;
				break;
			}
		}
		if (nbad == c->nns)
			break;
	}
done:
	for (int i = 0; i < DNS_MAXNS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(buf);
	return ret;
}

/* One question (name, class IN or raw->qclass, qtype) through dns_send. */
int dns_query(const struct dns_conf *c, const char *name, uint16_t qtype,
	      struct dns_answer *ans, bool *servfail, struct dns_raw *raw)
{
	uint8_t q[DNS_HDR_LEN + DNS_NAME_MAX + 6];
	int qlen = dns_build_query(q, sizeof q, (uint16_t)dns_rand32(), name, qtype);

	*servfail = false;
	if (qlen < 0)
		return LK_NONAME;
	if (raw && raw->qclass) {
		q[qlen - 2] = (uint8_t)(raw->qclass >> 8);
		q[qlen - 1] = (uint8_t)raw->qclass;
	}
	return dns_send(c, q, qlen, qtype, ans, servfail, raw);
}

/* res_search(3)'s order: as is first when the name has >= ndots dots, the
 * search list, then as is; a trailing dot means as is only. */
int dns_search(const struct dns_conf *c, const char *name, uint16_t qtype,
	       struct dns_answer *ans, struct dns_raw *raw)
{
	size_t n = strlen(name);
	int dots = 0, saved = -1, last = LK_NONAME, r;
	bool nodata = false, anyfail = false, fail, tried = false;
	char fq[DNS_NAME_MAX + 2];

	if (n == 0 || n > 254)
		return LK_NONAME;
	for (size_t i = 0; i < n; i++)
		dots += name[i] == '.';
	if (name[n - 1] == '.')
		return dns_query(c, name, qtype, ans, &fail, raw);
	if (dots >= c->ndots) {
		r = dns_query(c, name, qtype, ans, &fail, raw);
		if (r == LK_OK || r == LK_MEMORY || (r == LK_AGAIN && !fail))
			return r;
		saved = r;
		tried = true;
	}
	for (int i = 0; i < c->nsearch; i++) {
		if (snprintf(fq, sizeof fq, "%s.%s", name, c->search[i]) >= (int)sizeof fq)
			continue;
		r = last = dns_query(c, fq, qtype, ans, &fail, raw);
		if (r == LK_OK || r == LK_MEMORY)
			return r;
		if (r == LK_NODATA)
			nodata = true;
		else if (r == LK_AGAIN && fail)
			anyfail = true;
		else if (r == LK_AGAIN)
			return saved >= 0 ? saved : r; /* no answer at all: stop */
	}
	if (!tried) {
		r = last = dns_query(c, name, qtype, ans, &fail, raw);
		if (r == LK_OK || r == LK_MEMORY)
			return r;
	}
	if (saved >= 0)
		return saved;
	if (nodata)
		return LK_NODATA;
	if (anyfail)
		return LK_AGAIN;
	return last;
}

/* The address(es) of a name per nsswitch order. */
static int lookup_name(const char *name, struct dns_answer *ans)
{
	struct dns_conf c;
	int r = LK_NONAME;

	dns_conf_load(&c);
	for (int i = 0; i < c.nsrc; i++) {
		r = c.src[i] == SRC_FILES ? hosts_by_name(name, ans) : dns_search(&c, name, DNS_T_A, ans, NULL);
		if (r == LK_OK || r == LK_MEMORY)
			return r;
	}
	return r;
}

/* inet_aton's forms (as glibc's getaddrinfo accepts), nothing after. */
static bool dns_numeric4(const char *s, struct in_addr *a)
{
	return *s && !strpbrk(s, " \t\n\r\f\v") && inet_aton(s, a) != 0;
}

static bool dns_numeric6(const char *s)
{
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN + 1];
	const char *pct = strchr(s, '%');
	size_t n = pct ? (size_t)(pct - s) : strlen(s);

	if (n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, &a6) == 1;
}

/* ---- getaddrinfo ------------------------------------------------------------- */

struct gai_type {
	int socktype, protocol;
	const char *proto; /* for getservbyname; NULL: no service (raw) */
};
static const struct gai_type gai_types[] = {
	{ SOCK_STREAM, IPPROTO_TCP, "tcp" },
	{ SOCK_DGRAM, IPPROTO_UDP, "udp" },
	{ SOCK_RAW, 0, NULL },
};
#define GAI_NTYPES ((int)(sizeof gai_types / sizeof gai_types[0]))

static int gai_map(int lk)
{
	switch (lk) {
	case LK_OK: return 0;
	case LK_NODATA: return EAI_NODATA;
	case LK_AGAIN: return EAI_AGAIN;
	case LK_FAIL: return EAI_FAIL;
	case LK_MEMORY: return EAI_MEMORY;
	default: return EAI_NONAME;
	}
}

SHIM_VIS void freeaddrinfo(struct addrinfo *ai)
{
	while (ai) {
		struct addrinfo *next = ai->ai_next;
		free(ai->ai_canonname);
		free(ai);
		ai = next;
	}
}

SHIM_VIS int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			 struct addrinfo **res)
{
	const int valid = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL |
			  AI_ADDRCONFIG | AI_NUMERICSERV | AI_IDN | AI_CANONIDN | 0x0100 | 0x0200;
	struct addrinfo h = { .ai_flags = AI_V4MAPPED | AI_ADDRCONFIG, .ai_family = AF_UNSPEC };
	int port[GAI_NTYPES];
	bool use[GAI_NTYPES];
	struct dns_answer *ans = NULL;
	struct in_addr one;
	const struct in_addr *addrs = &one;
	const char *canon = NULL;
	int naddr = 1, nuse = 0, r;

	if (hints)
		h = *hints;
	if (!res)
		return EAI_SYSTEM;
	if (h.ai_flags & ~valid)
		return EAI_BADFLAGS;
	if (!node && !service)
		return EAI_NONAME;
	if ((h.ai_flags & AI_CANONNAME) && !node)
		return EAI_BADFLAGS;
	if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET)
		return EAI_FAMILY; /* AF_INET6 too: ustack has no IPv6 yet */
	/* Which socket types, as glibc: all three unless hints narrow them. */
	for (int i = 0; i < GAI_NTYPES; i++) {
		const struct gai_type *t = &gai_types[i];
		use[i] = (h.ai_socktype == 0 || h.ai_socktype == t->socktype) &&
			 (h.ai_protocol == 0 || t->socktype == SOCK_RAW || h.ai_protocol == t->protocol);
		nuse += use[i];
		port[i] = 0;
	}
	if (nuse == 0)
		return h.ai_socktype ? EAI_SOCKTYPE : EAI_SERVICE;
	if (service) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(service, &end, 10);
		bool numeric = *service && !*end && !isspace((unsigned char)*service);
		if (numeric) {
			if (v > 65535 || errno)
				return EAI_SERVICE;
			if (h.ai_socktype == SOCK_RAW)
				return EAI_SERVICE;
			for (int i = 0; i < GAI_NTYPES; i++)
				port[i] = (int)v;
		} else {
			if (h.ai_flags & AI_NUMERICSERV)
				return EAI_NONAME;
			nuse = 0;
			for (int i = 0; i < GAI_NTYPES; i++) {
				struct servent se, *sp = NULL;
				char sbuf[1024];
				if (use[i] && gai_types[i].proto &&
				    getservbyname_r(service, gai_types[i].proto, &se, sbuf, sizeof sbuf,
						    &sp) == 0 && sp)
					port[i] = ntohs((uint16_t)sp->s_port);
				else
					use[i] = false;
				nuse += use[i];
			}
			if (nuse == 0)
				return EAI_SERVICE;
		}
	}
	if (!node) {
		one.s_addr = htonl((h.ai_flags & AI_PASSIVE) ? INADDR_ANY : INADDR_LOOPBACK);
	} else if (dns_numeric4(node, &one)) {
		canon = node;
	} else if (dns_numeric6(node)) {
		return EAI_FAMILY;
	} else if (h.ai_flags & AI_NUMERICHOST) {
		return EAI_NONAME;
	} else {
		if (!(ans = malloc(sizeof *ans)))
			return EAI_MEMORY;
		r = lookup_name(node, ans);
		if (r != LK_OK) {
			free(ans);
			return gai_map(r);
		}
		addrs = ans->addr;
		naddr = ans->naddr;
		canon = ans->canon;
	}
	struct addrinfo *head = NULL, **tail = &head;
	r = 0;
	for (int a = 0; a < naddr && !r; a++) {
		for (int i = 0; i < GAI_NTYPES && !r; i++) {
			if (!use[i])
				continue;
			struct addrinfo *ai = calloc(1, sizeof *ai + sizeof(struct sockaddr_in));
			if (!ai) {
				r = EAI_MEMORY;
				break;
			}
			struct sockaddr_in *sin = (struct sockaddr_in *)(void *)(ai + 1);
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port[i]);
			sin->sin_addr = addrs[a];
			ai->ai_family = AF_INET;
			ai->ai_socktype = gai_types[i].socktype;
			ai->ai_protocol = gai_types[i].socktype == SOCK_RAW ? h.ai_protocol
									  : gai_types[i].protocol;
			ai->ai_addrlen = sizeof *sin;
			ai->ai_addr = (struct sockaddr *)sin;
			*tail = ai;
			tail = &ai->ai_next;
			if (head == ai && (h.ai_flags & AI_CANONNAME)) {
				if (!(ai->ai_canonname = strdup(canon ? canon : node)))
					r = EAI_MEMORY;
			}
		}
	}
	free(ans);
	if (r) {
		freeaddrinfo(head);
		return r;
	}
	*res = head;
	return 0;
}

/* ---- gethostbyname family ----------------------------------------------------- */

/* Lay out a hostent in the caller's buffer: 0 or ERANGE. */
int hostent_fill(const struct dns_answer *a, struct hostent *he, char *buf, size_t len)
{
	uintptr_t p = ((uintptr_t)buf + sizeof(char *) - 1) & ~(uintptr_t)(sizeof(char *) - 1);
	size_t skip = p - (uintptr_t)buf, need = skip;

	need += (size_t)(a->naddr + 1 + a->nalias + 1) * sizeof(char *) + (size_t)a->naddr * 4 +
		strlen(a->canon) + 1;
	for (int i = 0; i < a->nalias; i++)
		need += strlen(a->alias[i]) + 1;
	if (need > len)
		return ERANGE;
	char **addrs = (char **)(void *)(buf + skip);
	char **aliases = addrs + a->naddr + 1;
	char *data = (char *)(aliases + a->nalias + 1);
	for (int i = 0; i < a->naddr; i++) {
		memcpy(data, &a->addr[i], 4);
		addrs[i] = data;
		data += 4;
	}
	addrs[a->naddr] = NULL;
	for (int i = 0; i < a->nalias; i++) {
		size_t n = strlen(a->alias[i]) + 1;
		memcpy(data, a->alias[i], n);
		aliases[i] = data;
		data += n;
	}
	aliases[a->nalias] = NULL;
	memcpy(data, a->canon, strlen(a->canon) + 1);
	he->h_name = data;
	he->h_aliases = aliases;
	he->h_addrtype = AF_INET;
	he->h_length = 4;
	he->h_addr_list = addrs;
	return 0;
}

SHIM_VIS int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
			      size_t buflen, struct hostent **result, int *h_errnop)
{
	struct dns_answer *ans;
	int r;

	*result = NULL;
	if (af == AF_INET6) { /* the stack has no IPv6: no such address */
		*h_errnop = NO_DATA;
		return 0;
	}
	if (af != AF_INET) {
		*h_errnop = NETDB_INTERNAL;
		errno = EAFNOSUPPORT;
		return EAFNOSUPPORT;
	}
	if (!name) {
		*h_errnop = HOST_NOT_FOUND;
		return 0;
	}
	if (!(ans = calloc(1, sizeof *ans))) {
		*h_errnop = NETDB_INTERNAL;
		errno = ENOMEM;
		return ENOMEM;
	}
	if (dns_numeric4(name, &ans->addr[0])) {
		ans->naddr = 1;
		snprintf(ans->canon, sizeof ans->canon, "%s", name);
		r = LK_OK;
	} else {
		r = lookup_name(name, ans);
	}
	switch (r) {
	case LK_OK:
		if (hostent_fill(ans, ret, buf, buflen) != 0) {
			free(ans);
			*h_errnop = NETDB_INTERNAL;
			errno = ERANGE;
			return ERANGE;
		}
		free(ans);
		*h_errnop = NETDB_SUCCESS;
		*result = ret;
		return 0;
	case LK_MEMORY:
		free(ans);
		*h_errnop = NETDB_INTERNAL;
		errno = ENOMEM;
		return ENOMEM;
	default:
		free(ans);
		*h_errnop = r == LK_NODATA ? NO_DATA
			    : r == LK_AGAIN ? TRY_AGAIN
			    : r == LK_FAIL ? NO_RECOVERY
					   : HOST_NOT_FOUND;
		return 0;
	}
}

SHIM_VIS int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
			     struct hostent **result, int *h_errnop)
{
	return gethostbyname2_r(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

/* Non-reentrant by definition (as glibc's). */
static struct hostent dns_he;
static char dns_he_buf[8192]; /* >= the largest dns_answer laid out */

SHIM_VIS struct hostent *gethostbyname2(const char *name, int af)
{
	struct hostent *res = NULL;
	int herr = 0;

	gethostbyname2_r(name, af, &dns_he, dns_he_buf, sizeof dns_he_buf, &res, &herr);
	h_errno = herr;
	return res;
}

SHIM_VIS struct hostent *gethostbyname(const char *name)
{
	return gethostbyname2(name, AF_INET);
}

/* ---- getnameinfo ------------------------------------------------------------- */

typedef int (*gni_fn)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t,
		      int);
static gni_fn real_getnameinfo;

/* Resolved before main() (see shim_init.c on why never lazily). */
__attribute__((constructor)) static void shim_dns_init(void)
{
	*(void **)(&real_getnameinfo) = dlsym(RTLD_NEXT, "getnameinfo");
}

static int dns_copy(char *dst, socklen_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return EAI_OVERFLOW;
	memcpy(dst, src, n + 1);
	return 0;
}

/* The name of address a: /etc/hosts, then a PTR query (RFC 1035 3.5). */
int lookup_addr(struct in_addr a, char *out, size_t cap, struct dns_conf *c)
{
	int r = LK_NONAME;

	dns_conf_load(c);
	for (int i = 0; i < c->nsrc; i++) {
		if (c->src[i] == SRC_FILES) {
			r = hosts_by_addr(a, out, cap);
		} else {
			struct dns_answer *ans = malloc(sizeof *ans);
			char q[32];
			bool fail;
			const uint8_t *b = (const uint8_t *)&a.s_addr;
			if (!ans)
				return LK_MEMORY;
			snprintf(q, sizeof q, "%u.%u.%u.%u.in-addr.arpa.", b[3], b[2], b[1], b[0]);
			r = dns_query(c, q, DNS_T_PTR, ans, &fail, NULL);
			if (r == LK_OK)
				snprintf(out, cap, "%s", ans->canon);
			free(ans);
		}
		if (r == LK_OK || r == LK_MEMORY)
			return r;
	}
	return r;
}

SHIM_VIS int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
			 char *serv, socklen_t servlen, int flags)
{
	struct sockaddr_in sin;
	int r;

	if (flags & ~(NI_NUMERICHOST | NI_NUMERICSERV | NI_NOFQDN | NI_NAMEREQD | NI_DGRAM |
		      NI_IDN | 64 | 128))
		return EAI_BADFLAGS;
	if (!sa || salen < sizeof(sa_family_t))
		return EAI_FAMILY;
	if (sa->sa_family != AF_INET) {
		if (!real_getnameinfo)
			return EAI_FAMILY;
		if (sa->sa_family == AF_INET6) { /* no IPv6 on ustack: numeric only */
			if ((flags & NI_NAMEREQD) && host && hostlen)
				return EAI_NONAME;
			flags |= NI_NUMERICHOST;
		}
		return real_getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
	}
	if (salen < sizeof sin)
		return EAI_FAMILY;
	memcpy(&sin, sa, sizeof sin);
	if ((!host || !hostlen) && (!serv || !servlen))
		return EAI_NONAME;
	if (host && hostlen) {
		char name[NI_MAXHOST];
		bool done = false;
		if (!(flags & NI_NUMERICHOST)) {
			struct dns_conf c;
			r = lookup_addr(sin.sin_addr, name, sizeof name, &c);
			if (r == LK_OK) {
				char *dot = strchr(name, '.');
				if ((flags & NI_NOFQDN) && dot && c.nsearch > 0 &&
				    strcasecmp(dot + 1, c.search[0]) == 0)
					*dot = '\0';
				if ((r = dns_copy(host, hostlen, name)) != 0)
					return r;
				done = true;
			} else if (flags & NI_NAMEREQD) {
				return r == LK_AGAIN ? EAI_AGAIN : r == LK_MEMORY ? EAI_MEMORY : EAI_NONAME;
			}
		}
		if (!done) {
			if (!inet_ntop(AF_INET, &sin.sin_addr, name, sizeof name))
				return EAI_SYSTEM;
			if ((r = dns_copy(host, hostlen, name)) != 0)
				return r;
		}
	}
	if (serv && servlen) {
		char name[NI_MAXSERV + 16], sbuf[1024];
		struct servent se, *sp = NULL;
		if (!(flags & NI_NUMERICSERV) &&
		    getservbyport_r(sin.sin_port, (flags & NI_DGRAM) ? "udp" : "tcp", &se, sbuf,
				    sizeof sbuf, &sp) == 0 &&
		    sp && sp->s_name)
			snprintf(name, sizeof name, "%s", sp->s_name);
		else
			snprintf(name, sizeof name, "%u", (unsigned)ntohs(sin.sin_port));
		if ((r = dns_copy(serv, servlen, name)) != 0)
			return r;
	}
	return 0;
}
