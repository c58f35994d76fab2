/* stack.c - creation and teardown of a stack instance and its entry points
 * (input, poll, deadline).  Every entry point ends by draining locally
 * looped packets and delivering queued socket notifications, so callbacks
 * never run while a layer is half-way through a packet. */
#include <stdlib.h>

#include "stack_impl.h"

struct us_stack *us_stack_new(const struct us_config *cfg, uint64_t now, int *err)
{
	struct us_stack *s;
	int e = 0;

	if (!cfg || !cfg->output || (cfg->offload && !cfg->output_meta) ||
	    (cfg->offload & ~(US_OFFLOAD_TX_CSUM | US_OFFLOAD_TSO)) ||
	    ((cfg->offload & US_OFFLOAD_TSO) && !(cfg->offload & US_OFFLOAD_TX_CSUM)))
		e = -EINVAL;
	else if (cfg->mtu < 576) /* RFC 791: every host must accept 576 */
		e = -EINVAL;
	else if (cfg->prefix > 32 || cfg->addr == 0)
		e = -EINVAL;
	else if (cfg->mode != US_LINK_ETHER && cfg->mode != US_LINK_IP)
		e = -EINVAL;
	if (e) {
		if (err)
			*err = e;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->cfg = *cfg;
	s->now = now;
	s->netmask = cfg->prefix ? ~0u << (32 - cfg->prefix) : 0;
	rng_seed(&s->rng, cfg->seed);
	RB_INIT(&s->timers);
	TAILQ_INIT(&s->socks);
	TAILQ_INIT(&s->dirty);
	RB_INIT(&s->udp_ports);
	TAILQ_INIT(&s->reass);
	STAILQ_INIT(&s->loopq);
	for (size_t i = 0; i < 256; i++)
		s->ip_id[i] = (uint16_t)rng_next(&s->rng);
	s->icmp_tokens = 50 * 1000;
	s->icmp_last = now;
	s->txbuf = malloc(US_TX_L4_OFF + US_IP_MAXPACKET);
	s->fragbuf = malloc(US_TX_L3_OFF + cfg->mtu);
	if (!s->txbuf || !s->fragbuf)
		goto nomem;
	/* The connected route, then the default route if there is one. */
	us_route_add(s, cfg->addr & s->netmask, cfg->prefix, 0);
	if (cfg->gateway && us_route_add(s, 0, 0, cfg->gateway) < 0) {
		us_stack_free(s);
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	arp_init(s);
	if (tcp_init(s) < 0)
		goto nomem;
	return s;
nomem:
	us_stack_free(s);
	if (err)
		*err = -ENOMEM;
	return NULL;
}

void us_stack_free(struct us_stack *s)
{
	struct us_sock *so;
	struct us_held *h;

	if (!s)
		return;
	while ((so = TAILQ_FIRST(&s->socks)) != NULL)
		us_close(so, s->now);
	tcp_fini(s);
	arp_free(s);
	reass_free_all(s);
	while ((h = STAILQ_FIRST(&s->loopq)) != NULL) {
		STAILQ_REMOVE_HEAD(&s->loopq, link);
		free(h);
	}
	free(s->txbuf);
	free(s->fragbuf);
	free(s);
}

void us_input_meta(struct us_stack *s, const uint8_t *frame, size_t len, unsigned flags,
		   uint64_t now)
{
	s->now = now;
	US_INC(s, link_rx);
	s->rx_flags = flags & US_RXM_CSUM_OK;
	if (s->rx_flags)
		US_INC(s, link_rx_csum_trusted);
	if (len > (size_t)s->cfg.mtu + (s->cfg.mode == US_LINK_ETHER ? ETH_HLEN : 0))
		US_INC(s, link_rx_large); /* a GSO frame the device did not cut */
	if (s->cfg.mode == US_LINK_ETHER)
		eth_input(s, frame, len);
	else if (len && frame[0] >> 4 == 6)
		US_INC(s, link_drop_ipv6); /* the kernel's own IPv6 on a TUN */
	else
		ip4_input(s, frame, len);
	s->rx_flags = 0;
	stack_finish(s);
}

void us_input(struct us_stack *s, const uint8_t *frame, size_t len, uint64_t now)
{
	us_input_meta(s, frame, len, 0, now);
}

void us_batch_begin(struct us_stack *s)
{
	s->batch_depth++;
}

void us_batch_end(struct us_stack *s, uint64_t now)
{
	if (s->batch_depth == 0 || --s->batch_depth > 0)
		return;
	s->now = now;
	tcp_batch_flush(s);
	stack_finish(s);
}

uint64_t us_poll(struct us_stack *s, uint64_t now)
{
	s->now = now;
	timer_run(s, now);
	stack_finish(s);
	return timer_next(s);
}

uint64_t us_next_deadline(const struct us_stack *s)
{
	return timer_next(s);
}

void us_announce(struct us_stack *s, uint64_t now)
{
	s->now = now;
	if (s->cfg.mode == US_LINK_ETHER)
		arp_announce(s);
	stack_finish(s);
}

const uint64_t *us_counters(const struct us_stack *s)
{
	return s->ctr;
}

struct us_held *held_new(const uint8_t *ip_pkt, size_t len, uint32_t nexthop)
{
	struct us_held *h = malloc(sizeof(*h) + US_TX_L3_OFF + len);

	if (!h)
		return NULL;
	h->nexthop = nexthop;
	h->len = len;
	memcpy(h->data + US_TX_L3_OFF, ip_pkt, len);
	return h;
}
