/* route.c - the IPv4 routing table: connected routes and a default
 * gateway, longest-prefix match (RFC 1812 §5.2.4.3), and what counts as a
 * broadcast address on our link (RFC 1122 §3.2.1.3). */
#include "stack_impl.h"

int us_route_add(struct us_stack *s, uint32_t net, uint8_t prefix, uint32_t gw)
{
	uint32_t mask = prefix ? ~0u << (32 - prefix) : 0;
	struct us_route *r;

	if (prefix > 32 || (net & ~mask) != 0)
		return -EINVAL;
	/* A gateway must itself be on a connected network. */
	if (gw && (gw & s->netmask) != (s->cfg.addr & s->netmask))
		return -ENETUNREACH;
	for (unsigned i = 0; i < s->nroutes; i++) {
		r = &s->routes[i];
		if (r->net == net && r->prefix == prefix) {
			r->gw = gw;
			return 0;
		}
	}
	if (s->nroutes == US_MAX_ROUTES)
		return -ENOSPC;
	r = &s->routes[s->nroutes++];
	r->net = net;
	r->mask = mask;
	r->prefix = prefix;
	r->gw = gw;
	return 0;
}

bool route_is_bcast(const struct us_stack *s, uint32_t a)
{
	if (a == 0xffffffffu)
		return true;
	/* Directed broadcast of the connected net (not for /31 and /32,
	 * RFC 3021). */
	return s->cfg.prefix < 31 && (a & s->netmask) == (s->cfg.addr & s->netmask) &&
	       (a & ~s->netmask) == ~s->netmask;
}

int route_lookup(struct us_stack *s, uint32_t dst, uint32_t *nexthop, uint16_t *mtu)
{
	const struct us_route *best = NULL;

	*mtu = s->cfg.mtu;
	if (route_is_bcast(s, dst)) {
		*nexthop = dst;
		return 0;
	}
	for (unsigned i = 0; i < s->nroutes; i++) {
		const struct us_route *r = &s->routes[i];

		if ((dst & r->mask) == r->net && (!best || r->prefix > best->prefix))
			best = r;
	}
	if (!best)
		return -ENETUNREACH;
	*nexthop = best->gw ? best->gw : dst;
	return 0;
}
