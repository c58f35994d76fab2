/* udp.c - UDP (RFC 768, RFC 1122 §4.1): port demultiplexing, datagram
 * receive queues bounded by the socket's receive buffer, send with an
 * implicit bind to a random ephemeral port (RFC 6056), and ICMP errors
 * reported on connected sockets.
 * Port sharing follows Linux (socket(7) SO_REUSEADDR/SO_REUSEPORT,
 * net/ipv4/udp.c): several sockets may hold one port when every one of
 * them set SO_REUSEADDR, or every one set SO_REUSEPORT with the same
 * owner; a unicast datagram goes to the most specific socket (connected
 * to its source, then bound to our address, then the wildcard; among
 * equals the last bound), SO_REUSEPORT sockets of equal rank share by a
 * hash of the source; a broadcast goes to every socket that takes it. */
#include <stdlib.h>

#include "stack_impl.h"
#include "wire_icmp.h"
#include "wire_udp.h"

#define UDP_MAX_PAYLOAD (US_IP_MAXPACKET - IP4_HLEN - UDP_HLEN) /* 65507 */

struct udp_dgram {
	STAILQ_ENTRY(udp_dgram) link;
	struct us_addr from;
	size_t len;
	uint8_t data[];
};

static int udp_port_cmp(const struct us_sock *a, const struct us_sock *b)
{
	if (a->local.port != b->local.port)
		return a->local.port < b->local.port ? -1 : 1;
	return a->bind_seq < b->bind_seq ? -1 : a->bind_seq > b->bind_seq;
}

/* Non-static: libbsd leaves __unused undefined, which RB_GENERATE_STATIC needs. */
RB_PROTOTYPE(udp_port_tree, us_sock, port_node, udp_port_cmp)
RB_GENERATE(udp_port_tree, us_sock, port_node, udp_port_cmp)

/* The first (earliest bound) socket on port, or NULL; the others follow
 * with udp_next. */
static struct us_sock *udp_first(struct us_stack *s, uint16_t port)
{
	struct us_sock key, *so;

	key.local.port = port;
	key.bind_seq = 0;
	so = RB_NFIND(udp_port_tree, &s->udp_ports, &key);
	return so && so->local.port == port ? so : NULL;
}

static struct us_sock *udp_next(struct us_stack *s, struct us_sock *so)
{
	struct us_sock *n = RB_NEXT(udp_port_tree, &s->udp_ports, so);

	(void)s;
	return n && n->local.port == so->local.port ? n : NULL;
}

static struct us_sock *udp_lookup(struct us_stack *s, uint16_t port)
{
	return udp_first(s, port);
}

/* May `so` bind (ip, port) next to `e`?  Linux's udp_lib_lport_inuse:
 * addresses overlap (equal, or either is the wildcard) and neither both
 * SO_REUSEADDR nor both SO_REUSEPORT of the same owner -> in use. */
static bool udp_conflict(const struct us_sock *so, uint32_t ip, const struct us_sock *e)
{
	if (ip != 0 && e->local.ip != 0 && ip != e->local.ip)
		return false;
	if (so->reuseaddr && e->reuseaddr)
		return false;
	if (so->reuseport && e->reuseport && so->owner == e->owner)
		return false;
	return true;
}

/* RFC 6056 §3.3.1 (Algorithm 1): a random start, then the next free port. */
uint16_t udp_ephemeral_port(struct us_stack *s)
{
	uint32_t n = US_EPHEMERAL_HI - US_EPHEMERAL_LO + 1;
	uint32_t off = rng_below(&s->rng, n);

	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(US_EPHEMERAL_LO + (off + i) % n);

		if (!udp_lookup(s, port))
			return port;
	}
	return 0;
}

int udp_bind(struct us_sock *so, const struct us_addr *a)
{
	struct us_stack *s = so->stack;
	uint16_t port = a->port;

	if (so->bound)
		return -EINVAL;
	if (a->ip != 0 && a->ip != s->cfg.addr)
		return -EADDRNOTAVAIL;
	if (port == 0) {
		port = udp_ephemeral_port(s);
		if (port == 0)
			return -EADDRINUSE;
	} else {
		for (struct us_sock *e = udp_first(s, port); e; e = udp_next(s, e))
			if (udp_conflict(so, a->ip, e))
				return -EADDRINUSE;
	}
	so->local.ip = a->ip;
	so->local.port = port;
	so->bound = true;
	so->bind_seq = ++s->udp_bind_seq;
	RB_INSERT(udp_port_tree, &s->udp_ports, so);
	return 0;
}

static int udp_autobind(struct us_sock *so)
{
	struct us_addr any = {0, 0};

	return so->bound ? 0 : udp_bind(so, &any);
}

int udp_connect(struct us_sock *so, const struct us_addr *a)
{
	struct us_stack *s = so->stack;
	uint32_t nh;
	uint16_t mtu;
	int r;

	if (!a) { /* AF_UNSPEC: dissolve the association */
		so->connected = false;
		so->remote = (struct us_addr){0, 0};
		return 0;
	}
	if (a->ip == 0 || a->port == 0)
		return -EINVAL;
	if (route_is_bcast(s, a->ip) && !so->bcast)
		return -EACCES;
	if (a->ip != s->cfg.addr && (r = route_lookup(s, a->ip, &nh, &mtu)) < 0)
		return r;
	if ((r = udp_autobind(so)) < 0)
		return r;
	so->remote = *a;
	so->connected = true;
	return 0;
}

ssize_t udp_sendto(struct us_sock *so, const void *buf, size_t len, const struct us_addr *to)
{
	struct us_stack *s = so->stack;
	uint8_t *l4 = s->txbuf + US_TX_L4_OFF;
	struct us_addr dst;
	struct ip4_tx tx;
	int r;

	if (to) {
		dst = *to;
		if (dst.port == 0 || dst.ip == 0)
			return -EINVAL;
	} else if (so->connected) {
		dst = so->remote;
	} else {
		return -EDESTADDRREQ;
	}
	/* A connected socket reports an ICMP error on its next call. */
	if (so->connected && so->so_error)
		return -us_sock_error(so);
	if (len > UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (route_is_bcast(s, dst.ip) && !so->bcast)
		return -EACCES;
	if ((r = udp_autobind(so)) < 0)
		return r;
	memcpy(l4 + UDP_HLEN, buf, len);
	udp_build(l4, len, so->local.port, dst.port, s->cfg.addr, dst.ip);
	tx = (struct ip4_tx){.src = s->cfg.addr, .dst = dst.ip, .proto = IP4_PROTO_UDP,
			     .tos = (uint8_t)so->tos, .ttl = (uint8_t)so->ttl, .df = false};
	US_TRACE(s, "udp  tx port %u > %u len %zu", so->local.port, dst.port, len);
	r = ip4_output(s, &tx, l4, len + UDP_HLEN);
	if (r < 0)
		return r;
	US_INC(s, udp_tx);
	return (ssize_t)len;
}

ssize_t udp_recvfrom(struct us_sock *so, void *buf, size_t len, int flags, struct us_addr *from)
{
	struct udp_dgram *d = STAILQ_FIRST(&so->rxq);
	size_t n, full;

	/* A pending error comes first, as with Linux's __skb_recv_udp. */
	if (so->so_error)
		return -us_sock_error(so);
	if (!d)
		return -EAGAIN;
	full = d->len;
	n = full < len ? full : len;
	memcpy(buf, d->data, n);
	if (from)
		*from = d->from;
	if (!(flags & US_MSG_PEEK)) {
		STAILQ_REMOVE_HEAD(&so->rxq, link);
		so->rx_bytes -= d->len;
		so->rx_count--;
		free(d);
	}
	return (ssize_t)((flags & US_MSG_TRUNC) ? full : n);
}

void udp_close(struct us_sock *so)
{
	struct udp_dgram *d;

	while ((d = STAILQ_FIRST(&so->rxq)) != NULL) {
		STAILQ_REMOVE_HEAD(&so->rxq, link);
		free(d);
	}
	so->rx_bytes = 0;
	if (so->bound)
		RB_REMOVE(udp_port_tree, &so->stack->udp_ports, so);
	so->bound = false;
}

unsigned udp_events(const struct us_sock *so)
{
	unsigned ev = US_EV_OUT;

	if (!STAILQ_EMPTY(&so->rxq))
		ev |= US_EV_IN;
	if (so->so_error)
		ev |= US_EV_ERR;
	return ev;
}

/* How well `so` matches a datagram src:sport -> dst (net/ipv4/udp.c
 * compute_score): -1 when it must not take it; a connected socket beats
 * one bound to our address, which beats the wildcard. */
static int udp_score(const struct us_sock *so, uint32_t src, uint16_t sport, uint32_t dst,
		     bool bcast)
{
	int score = 1;

	if (so->local.ip != 0) {
		if (bcast || so->local.ip != dst)
			return -1; /* a socket bound to our unicast address takes no broadcasts */
		score += 4;
	}
	if (so->connected) {
		if (so->remote.ip != src || so->remote.port != sport)
			return -1;
		score += 8;
	}
	return score;
}

/* The one socket a unicast datagram goes to, or NULL. */
static struct us_sock *udp_select(struct us_stack *s, uint16_t dport, uint32_t src, uint16_t sport,
				  uint32_t dst)
{
	struct us_sock *best = NULL, *so;
	int best_score = -1;
	unsigned nreuse = 0;

	for (so = udp_first(s, dport); so; so = udp_next(s, so)) {
		int sc = udp_score(so, src, sport, dst, false);
		if (sc < 0)
			continue;
		if (sc > best_score || (sc == best_score && !(best->reuseport && so->reuseport))) {
			best = so; /* higher rank, or the later bound of equals */
			best_score = sc;
			nreuse = so->reuseport ? 1 : 0;
		} else if (sc == best_score) {
			nreuse++; /* one more SO_REUSEPORT socket of that rank */
		}
	}
	if (nreuse <= 1)
		return best;
	/* SO_REUSEPORT: the same source always reaches the same socket
	 * (Linux: reuseport_select_sock over the 4-tuple hash). */
	struct { uint32_t src, dst; uint16_t sport, dport; } t = { src, dst, sport, dport };
	unsigned pick = (unsigned)(us_siphash(s->rng.key, &t, sizeof t) % nreuse), i = 0;
	for (so = udp_first(s, dport); so; so = udp_next(s, so))
		if (so->reuseport && udp_score(so, src, sport, dst, false) == best_score && i++ == pick)
			return so;
	return best;
}

static bool udp_queue(struct us_stack *s, struct us_sock *so, const struct ip4_hdr *ih,
		      uint16_t sport, const uint8_t *data, size_t dlen)
{
	struct udp_dgram *d;

	if (so->rx_bytes + dlen > so->rcvbuf) {
		US_INC(s, udp_drop_rcvbuf);
		return false;
	}
	d = malloc(sizeof(*d) + dlen);
	if (!d) {
		US_INC(s, udp_drop_rcvbuf);
		return false;
	}
	d->from.ip = ih->src;
	d->from.port = sport;
	d->len = dlen;
	memcpy(d->data, data, dlen);
	STAILQ_INSERT_TAIL(&so->rxq, d, link);
	so->rx_bytes += dlen;
	so->rx_count++;
	US_TRACE(s, "sock udp port %u queued %zu bytes", so->local.port, dlen);
	sock_wakeup(so);
	return true;
}

void udp_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt)
{
	const uint8_t *p = pkt + ih->hlen;
	size_t len = (size_t)ih->total_len - ih->hlen, dlen;
	struct udp_hdr uh;
	struct us_sock *so = NULL;
	bool bcast = route_is_bcast(s, ih->dst);
	int r = udp_parse_ex(p, len, ih->src, ih->dst, !(s->rx_flags & US_RXM_CSUM_OK), &uh);

	if (r < 0) {
		if (r == -WIRE_ECSUM)
			US_INC(s, udp_drop_bad_csum);
		else if (len < UDP_HLEN)
			US_INC(s, udp_drop_trunc);
		else
			US_INC(s, udp_drop_bad_len);
		US_TRACE(s, "udp  rx drop: malformed (%d)", r);
		return;
	}
	US_INC(s, udp_rx);
	dlen = (size_t)uh.len - UDP_HLEN;
	US_TRACE(s, "udp  rx port %u > %u len %zu", uh.sport, uh.dport, dlen);
	if (bcast) {
		/* Every socket that takes it gets a copy (Linux's
		 * __udp4_lib_mcast_deliver). */
		bool any = false;
		for (so = udp_first(s, uh.dport); so; so = udp_next(s, so))
			if (udp_score(so, ih->src, uh.sport, ih->dst, true) >= 0) {
				any = true;
				udp_queue(s, so, ih, uh.sport, p + UDP_HLEN, dlen);
			}
		if (!any) {
			US_INC(s, udp_drop_no_port);
			US_TRACE(s, "udp  rx drop: no socket on port %u", uh.dport);
		}
		return; /* RFC 1122 §4.1.3.1: no port unreachable for broadcasts */
	}
	so = udp_select(s, uh.dport, ih->src, uh.sport, ih->dst);
	if (!so) {
		US_INC(s, udp_drop_no_port);
		US_TRACE(s, "udp  rx drop: no socket on port %u", uh.dport);
		/* RFC 1122 §4.1.3.1: port unreachable. */
		icmp_send_error(s, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, pkt, ih->total_len);
		return;
	}
	udp_queue(s, so, ih, uh.sport, p + UDP_HLEN, dlen);
}

void udp_err_input(struct us_stack *s, int err, uint32_t dst, uint16_t sport, uint16_t dport)
{
	struct us_sock *so;

	/* RFC 1122 §4.1.3.3: pass ICMP errors up.  Like Linux without
	 * IP_RECVERR, only a connected socket to that peer records them. */
	for (so = udp_first(s, sport); so; so = udp_next(s, so))
		if (so->connected && so->remote.ip == dst && so->remote.port == dport)
			break;
	if (!so)
		return;
	US_INC(s, udp_rx_icmp_err);
	so->so_error = err;
	sock_wakeup(so);
}
