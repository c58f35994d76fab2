/* arp.c - ARP (RFC 826) and the neighbour cache.
 *
 * Entries live in an RB tree keyed by IPv4 address, each with one timer:
 *   INCOMPLETE  request sent; retried every ARP_RETRY, ARP_MAX_TRIES times,
 *               then every waiting packet is failed as host-unreachable
 *               (reported to its socket) and the entry removed;
 *   REACHABLE   confirmed; becomes STALE after ARP_REACHABLE;
 *   STALE       still used; the first use sends a fresh request (probe), and
 *               an unanswered probe or ARP_STALE_GC without use removes it.
 * Packets waiting for resolution are copied into a per-entry queue of at
 * most ARP_QUEUE_MAX packets (the oldest is dropped, as RFC 1122 §2.3.2.2
 * allows), and all queues together hold at most ARP_QUEUE_BYTES. */
#include <stdlib.h>

#include "stack_impl.h"
#include "wire_arp.h"
#include "wire_icmp.h"

#define ARP_RETRY (1 * US_SEC)
#define ARP_MAX_TRIES 3
#define ARP_REACHABLE (30 * US_SEC)
#define ARP_STALE_GC (60 * US_SEC)
#define ARP_QUEUE_MAX 64                /* a 64 KiB datagram in fragments */
#define ARP_QUEUE_BYTES (1024u * 1024)  /* all entries together */
#define ARP_MAX_ENTRIES 1024
#define ARP_ANNOUNCE_NUM 2              /* RFC 5227 §1.1 */
#define ARP_ANNOUNCE_INTERVAL (2 * US_SEC)

struct arp_entry {
	RB_ENTRY(arp_entry) node;
	uint32_t ip;
	uint8_t mac[ETH_ALEN];
	enum us_neigh_state state;
	bool probing;
	unsigned tries;
	struct us_timer timer;
	struct us_held_q q;
	unsigned qlen;
};

static int arp_cmp(const struct arp_entry *a, const struct arp_entry *b)
{
	return a->ip < b->ip ? -1 : a->ip > b->ip;
}

/* Non-static: libbsd leaves __unused undefined, which RB_GENERATE_STATIC needs. */
RB_PROTOTYPE(arp_tree, arp_entry, node, arp_cmp)
RB_GENERATE(arp_tree, arp_entry, node, arp_cmp)

static const uint8_t zero_mac[ETH_ALEN];

static void arp_send(struct us_stack *s, uint16_t op, const uint8_t *eth_dst, const uint8_t *tha,
		     uint32_t tpa)
{
	uint8_t buf[US_TX_L3_OFF + ARP_LEN];
	struct arp_pkt p;
	char a[16];

	p.op = op;
	memcpy(p.sha, s->cfg.mac, ETH_ALEN);
	p.spa = s->cfg.addr;
	memcpy(p.tha, tha, ETH_ALEN);
	p.tpa = tpa;
	arp_build(buf + US_TX_L3_OFF, &p);
	US_INC(s, arp_tx);
	if (op == ARP_OP_REQUEST)
		US_INC(s, arp_tx_request);
	else
		US_INC(s, arp_tx_reply);
	US_TRACE(s, "arp  tx %s %s", op == ARP_OP_REQUEST ? "who-has" : "reply for",
		 ip4_ntoa(tpa, a));
	eth_output(s, buf + US_TX_L3_OFF, ARP_LEN, eth_dst, ETH_TYPE_ARP);
}

static struct arp_entry *arp_find(struct us_stack *s, uint32_t ip)
{
	struct arp_entry key = {.ip = ip};

	return RB_FIND(arp_tree, &s->arp, &key);
}

static void arp_delete(struct us_stack *s, struct arp_entry *e)
{
	struct us_held *h;

	timer_cancel(s, &e->timer);
	RB_REMOVE(arp_tree, &s->arp, e);
	s->arp_count--;
	while ((h = STAILQ_FIRST(&e->q)) != NULL) {
		STAILQ_REMOVE_HEAD(&e->q, link);
		s->arp_qbytes -= h->len;
		free(h);
	}
	free(e);
}

/* Resolution failed: each waiting packet becomes a host-unreachable error
 * for whoever sent it (as an ICMP error from a router would). */
static void arp_fail(struct us_stack *s, struct arp_entry *e)
{
	struct us_held *h;
	char a[16];

	US_INC(s, arp_resolve_failed);
	US_TRACE(s, "arp  %s unreachable: no reply after %d requests", ip4_ntoa(e->ip, a),
		 ARP_MAX_TRIES);
	while ((h = STAILQ_FIRST(&e->q)) != NULL) {
		STAILQ_REMOVE_HEAD(&e->q, link);
		s->arp_qbytes -= h->len;
		US_INC(s, arp_queue_drop);
		ip4_local_error(s, h->data + US_TX_L3_OFF, h->len, ICMP_DEST_UNREACH,
				ICMP_HOST_UNREACH);
		free(h);
	}
	e->qlen = 0;
	arp_delete(s, e);
}

static void arp_timer(struct us_stack *s, struct us_timer *t)
{
	struct arp_entry *e = US_CONTAINER_OF(t, struct arp_entry, timer);

	switch (e->state) {
	case US_NEIGH_INCOMPLETE:
		if (e->tries < ARP_MAX_TRIES) {
			e->tries++;
			arp_send(s, ARP_OP_REQUEST, eth_broadcast, zero_mac, e->ip);
			timer_arm(s, &e->timer, s->now + ARP_RETRY);
		} else {
			arp_fail(s, e);
		}
		break;
	case US_NEIGH_REACHABLE:
		e->state = US_NEIGH_STALE;
		timer_arm(s, &e->timer, s->now + ARP_STALE_GC);
		break;
	case US_NEIGH_STALE:
		if (e->probing && e->tries < ARP_MAX_TRIES) {
			e->tries++;
			arp_send(s, ARP_OP_REQUEST, eth_broadcast, zero_mac, e->ip);
			timer_arm(s, &e->timer, s->now + ARP_RETRY);
		} else {
			if (e->probing)
				US_INC(s, arp_resolve_failed);
			arp_delete(s, e);
		}
		break;
	default:
		arp_delete(s, e);
	}
}

static struct arp_entry *arp_create(struct us_stack *s, uint32_t ip)
{
	struct arp_entry *e;

	if (s->arp_count >= ARP_MAX_ENTRIES) {
		US_INC(s, arp_cache_full);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ip = ip;
	STAILQ_INIT(&e->q);
	timer_init(&e->timer, arp_timer);
	RB_INSERT(arp_tree, &s->arp, e);
	s->arp_count++;
	return e;
}

/* A confirmed mapping: send everything that was waiting for it. */
static void arp_confirm(struct us_stack *s, struct arp_entry *e, const uint8_t *mac)
{
	struct us_held *h;

	memcpy(e->mac, mac, ETH_ALEN);
	e->state = US_NEIGH_REACHABLE;
	e->probing = false;
	e->tries = 0;
	timer_arm(s, &e->timer, s->now + ARP_REACHABLE);
	while ((h = STAILQ_FIRST(&e->q)) != NULL) {
		STAILQ_REMOVE_HEAD(&e->q, link);
		e->qlen--;
		s->arp_qbytes -= h->len;
		eth_output(s, h->data + US_TX_L3_OFF, h->len, e->mac, ETH_TYPE_IP4);
		free(h);
	}
}

void arp_input(struct us_stack *s, const struct eth_hdr *eh, const uint8_t *buf, size_t len)
{
	struct arp_pkt p;
	struct arp_entry *e;
	bool for_us;
	char a[16], b[16];
	int r;

	(void)eh;
	r = arp_parse(buf, len, &p);
	if (r == -WIRE_ETRUNC) {
		US_INC(s, arp_drop_trunc);
		return;
	}
	if (r < 0) {
		US_INC(s, arp_drop_unsupported);
		return;
	}
	US_INC(s, arp_rx);
	if (p.op != ARP_OP_REQUEST && p.op != ARP_OP_REPLY) {
		US_INC(s, arp_drop_bad_op);
		return;
	}
	/* A sender must be a unicast station with a usable address; our own
	 * address claimed by someone else is a conflict we do not learn. */
	if (eth_is_multicast(p.sha) || memcmp(p.sha, s->cfg.mac, ETH_ALEN) == 0 ||
	    route_is_bcast(s, p.spa) || ip4_is_multicast(p.spa) || p.spa == s->cfg.addr) {
		US_INC(s, arp_drop_bad_sender);
		return;
	}
	US_TRACE(s, "arp  rx %s %s from %s", p.op == ARP_OP_REQUEST ? "who-has" : "reply",
		 ip4_ntoa(p.op == ARP_OP_REQUEST ? p.tpa : p.spa, a), ip4_ntoa(p.spa, b));
	for_us = p.tpa == s->cfg.addr;
	/* RFC 826 "Packet Reception": update an existing entry whatever the
	 * target; add a new one only when the packet is for us. */
	e = p.spa ? arp_find(s, p.spa) : NULL;
	if (e)
		arp_confirm(s, e, p.sha);
	else if (for_us && p.spa && (e = arp_create(s, p.spa)) != NULL)
		arp_confirm(s, e, p.sha);
	if (p.op == ARP_OP_REQUEST) {
		US_INC(s, arp_rx_request);
		if (for_us)
			arp_send(s, ARP_OP_REPLY, p.sha, p.sha, p.spa);
		else if (!e)
			US_INC(s, arp_drop_not_us);
	} else {
		US_INC(s, arp_rx_reply);
		if (!e && !for_us)
			US_INC(s, arp_drop_not_us);
	}
}

bool arp_ready(struct us_stack *s, uint32_t nexthop)
{
	struct arp_entry *e = arp_find(s, nexthop);

	return e && e->state != US_NEIGH_INCOMPLETE; /* as arp_resolve decides */
}

int arp_resolve(struct us_stack *s, uint32_t nexthop, const uint8_t *pkt, size_t len, uint8_t mac[6])
{
	struct arp_entry *e = arp_find(s, nexthop);
	struct us_held *h;

	if (e && e->state != US_NEIGH_INCOMPLETE) {
		memcpy(mac, e->mac, ETH_ALEN);
		if (e->state == US_NEIGH_STALE && !e->probing) {
			/* Still usable; ask again so we learn if it moved. */
			e->probing = true;
			e->tries = 1;
			arp_send(s, ARP_OP_REQUEST, eth_broadcast, zero_mac, e->ip);
			timer_arm(s, &e->timer, s->now + ARP_RETRY);
		}
		return 0;
	}
	if (!e) {
		e = arp_create(s, nexthop);
		if (!e)
			return -ENOBUFS;
		e->state = US_NEIGH_INCOMPLETE;
		e->tries = 1;
		arp_send(s, ARP_OP_REQUEST, eth_broadcast, zero_mac, nexthop);
		timer_arm(s, &e->timer, s->now + ARP_RETRY);
	}
	if (s->arp_qbytes + len > ARP_QUEUE_BYTES) {
		US_INC(s, arp_queue_drop);
		return -ENOBUFS;
	}
	h = held_new(pkt, len, nexthop);
	if (!h) {
		US_INC(s, arp_queue_drop);
		return -ENOBUFS;
	}
	if (e->qlen >= ARP_QUEUE_MAX) {
		struct us_held *old = STAILQ_FIRST(&e->q);

		STAILQ_REMOVE_HEAD(&e->q, link);
		s->arp_qbytes -= old->len;
		free(old);
		e->qlen--;
		US_INC(s, arp_queue_drop);
	}
	STAILQ_INSERT_TAIL(&e->q, h, link);
	e->qlen++;
	s->arp_qbytes += len;
	return -EAGAIN;
}

static void arp_announce_timer(struct us_stack *s, struct us_timer *t)
{
	(void)t;
	arp_announce(s);
}

/* Gratuitous ARP: an announcement with sender = target = our address
 * (RFC 5227 §2.3), ARP_ANNOUNCE_NUM times. */
void arp_announce(struct us_stack *s)
{
	if (s->announce_left == 0)
		s->announce_left = ARP_ANNOUNCE_NUM;
	arp_send(s, ARP_OP_REQUEST, eth_broadcast, zero_mac, s->cfg.addr);
	if (--s->announce_left > 0)
		timer_arm(s, &s->announce_timer, s->now + ARP_ANNOUNCE_INTERVAL);
}

void arp_init(struct us_stack *s)
{
	RB_INIT(&s->arp);
	timer_init(&s->announce_timer, arp_announce_timer);
}

void arp_free(struct us_stack *s)
{
	struct arp_entry *e;

	while ((e = RB_MIN(arp_tree, &s->arp)) != NULL)
		arp_delete(s, e);
	timer_cancel(s, &s->announce_timer);
}

void us_neigh_foreach(const struct us_stack *s, us_neigh_cb cb, void *ctx)
{
	struct arp_entry *e;
	struct us_neigh_info ni;

	RB_FOREACH(e, arp_tree, (struct arp_tree *)&s->arp) {
		ni.ip = e->ip;
		memcpy(ni.mac, e->mac, ETH_ALEN);
		ni.state = e->state;
		ni.expires = e->timer.armed ? e->timer.when : 0;
		ni.queued = e->qlen;
		cb(ctx, &ni);
	}
}
