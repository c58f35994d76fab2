/* udp.c - UDP (RFC 768, RFC 1122 §4.1): port demultiplexing, datagram
 * receive queues bounded by the socket's receive buffer, send with an
 * implicit bind to a random ephemeral port (RFC 6056), and ICMP errors
 * reported on connected sockets. */
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
	return a->local.port < b->local.port ? -1 : a->local.port > b->local.port;
}

/* Non-static: libbsd leaves __unused undefined, which RB_GENERATE_STATIC needs. */
RB_PROTOTYPE(udp_port_tree, us_sock, port_node, udp_port_cmp)
RB_GENERATE(udp_port_tree, us_sock, port_node, udp_port_cmp)

static struct us_sock *udp_lookup(struct us_stack *s, uint16_t port)
{
	struct us_sock key;

	key.local.port = port;
	return RB_FIND(udp_port_tree, &s->udp_ports, &key);
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
	} else if (udp_lookup(s, port)) {
		return -EADDRINUSE;
	}
	so->local.ip = a->ip;
	so->local.port = port;
	so->bound = true;
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

void udp_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt)
{
	const uint8_t *p = pkt + ih->hlen;
	size_t len = (size_t)ih->total_len - ih->hlen, dlen;
	struct udp_hdr uh;
	struct us_sock *so;
	struct udp_dgram *d;
	bool bcast = route_is_bcast(s, ih->dst);
	int r = udp_parse(p, len, ih->src, ih->dst, &uh);

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
	so = udp_lookup(s, uh.dport);
	/* A connected socket takes only its peer's datagrams; a socket bound
	 * to our unicast address takes no broadcasts. */
	if (so && ((so->connected && (so->remote.ip != ih->src || so->remote.port != uh.sport)) ||
		   (bcast && so->local.ip != 0)))
		so = NULL;
	if (!so) {
		US_INC(s, udp_drop_no_port);
		US_TRACE(s, "udp  rx drop: no socket on port %u", uh.dport);
		/* RFC 1122 §4.1.3.1: port unreachable, but not for broadcasts. */
		if (!bcast)
			icmp_send_error(s, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, pkt,
					ih->total_len);
		return;
	}
	if (so->rx_bytes + dlen > so->rcvbuf) {
		US_INC(s, udp_drop_rcvbuf);
		return;
	}
	d = malloc(sizeof(*d) + dlen);
	if (!d) {
		US_INC(s, udp_drop_rcvbuf);
		return;
	}
	d->from.ip = ih->src;
	d->from.port = uh.sport;
	d->len = dlen;
	memcpy(d->data, p + UDP_HLEN, dlen);
	STAILQ_INSERT_TAIL(&so->rxq, d, link);
	so->rx_bytes += dlen;
	so->rx_count++;
	US_TRACE(s, "sock udp port %u queued %zu bytes", uh.dport, dlen);
	sock_wakeup(so);
}

void udp_err_input(struct us_stack *s, int err, uint32_t dst, uint16_t sport, uint16_t dport)
{
	struct us_sock *so = udp_lookup(s, sport);

	/* RFC 1122 §4.1.3.3: pass ICMP errors up.  Like Linux without
	 * IP_RECVERR, only a connected socket to that peer records them. */
	if (!so || !so->connected || so->remote.ip != dst || so->remote.port != dport)
		return;
	US_INC(s, udp_rx_icmp_err);
	so->so_error = err;
	sock_wakeup(so);
}
