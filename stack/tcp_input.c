/* tcp_input.c - TCP receive path.  For now the stack has no TCP endpoints:
 * every valid segment meets a CLOSED port and is answered with a reset as
 * RFC 9293 §3.10.7.1 prescribes. */
#include "stack_impl.h"
#include "wire_tcp.h"

/* RFC 9293 §3.10.7.1: if the segment carries ACK, send <SEQ=SEG.ACK>
 * <CTL=RST>; otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.  A reset
 * is never answered with a reset. */
static void tcp_send_rst_for(struct us_stack *s, const struct ip4_hdr *ih,
			     const struct tcp_hdr *th, size_t seglen)
{
	uint8_t *l4 = s->txbuf + US_TX_L4_OFF;
	struct tcp_hdr rh;
	struct ip4_tx tx = {.src = s->cfg.addr, .dst = ih->src, .proto = IP4_PROTO_TCP,
			    .tos = 0, .ttl = 64, .df = true};

	if (th->flags & TCP_RST)
		return;
	memset(&rh, 0, sizeof(rh));
	rh.sport = th->dport;
	rh.dport = th->sport;
	if (th->flags & TCP_ACK) {
		rh.seq = th->ack;
		rh.flags = TCP_RST;
	} else {
		rh.ack = th->seq + (uint32_t)seglen + !!(th->flags & TCP_SYN) +
			 !!(th->flags & TCP_FIN);
		rh.flags = TCP_RST | TCP_ACK;
	}
	tcp_build(l4, &rh, 0, tx.src, tx.dst);
	if (ip4_output(s, &tx, l4, TCP_HLEN) == 0) {
		US_INC(s, tcp_tx);
		US_INC(s, tcp_tx_rst);
	}
}

void tcp_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt)
{
	const uint8_t *p = pkt + ih->hlen;
	size_t len = (size_t)ih->total_len - ih->hlen;
	struct tcp_hdr th;
	int r = tcp_parse(p, len, ih->src, ih->dst, &th);

	if (r < 0) {
		if (r == -WIRE_ECSUM)
			US_INC(s, tcp_drop_bad_csum);
		else if (r == -WIRE_EOPT)
			US_INC(s, tcp_drop_bad_opt);
		else if (len < TCP_HLEN)
			US_INC(s, tcp_drop_trunc);
		else
			US_INC(s, tcp_drop_bad_hdr);
		return;
	}
	US_INC(s, tcp_rx);
	if (th.flags & TCP_RST)
		US_INC(s, tcp_rx_rst);
	US_TRACE(s, "tcp  rx port %u > %u flags 0x%02x: no socket, reset", th.sport, th.dport,
		 th.flags);
	US_INC(s, tcp_drop_no_port);
	/* RFC 1122 §4.2.3.10: no reset for a broadcast or multicast segment. */
	if (!route_is_bcast(s, ih->dst))
		tcp_send_rst_for(s, ih, &th, len - th.hlen);
}
