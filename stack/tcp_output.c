/* tcp_output.c - what TCP sends and when: segments built from the send
 * ring, the receive window we advertise (with receiver-side silly window
 * avoidance, RFC 1122 §4.2.3.3, never shrinking it, RFC 9293 §3.8.6.2.2),
 * Nagle (RFC 896) and cork, sender-side SWS avoidance (RFC 1122 §4.2.3.4),
 * congestion and flow control, SACK-based retransmission of holes (RFC 6675
 * NextSeg), go-back-N after a timeout, FIN, and resets. */
#include "tcp_impl.h"

static uint16_t tcp_our_mss(const struct tcp_pcb *tp)
{
	/* RFC 9293 §3.7.1 / RFC 6691: MTU less the fixed IP and TCP headers. */
	uint32_t mss = (uint32_t)tp->s->cfg.mtu - 40u;

	if (tp->user_mss && mss > tp->user_mss)
		mss = tp->user_mss;
	return (uint16_t)mss;
}

uint32_t tcp_rcv_window(struct tcp_pcb *tp)
{
	uint32_t space = ring_space(&tp->rcv);
	uint32_t cur = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;
	uint32_t step = tp->rcv.size / 2 < tp->mss ? tp->rcv.size / 2 : tp->mss;
	uint32_t max = 65535u << tp->rcv_wscale;

	/* The right edge already offered (rcv_nxt + cur) can never be past
	 * what the ring holds (rcv_nxt + space): the ring's free space only
	 * shrinks as rcv_nxt grows.  An edge beyond it would make the peer
	 * send what we must drop; clamp it, and count it while data may
	 * still come (after the program closed, ustackd swaps in a small
	 * ring: nothing more is taken then, so that is no error). */
	if (cur > space) {
		if (tp->state == US_TCP_ESTABLISHED || tp->state == US_TCP_FIN_WAIT_1 ||
		    tp->state == US_TCP_FIN_WAIT_2) {
			US_INC(tp->s, tcp_rcv_wnd_clamped);
			US_TRACE(tp->s, "tcp  port %u: offered window %u clamped to the ring's %u",
				 tp->lport, cur, space);
		}
		cur = space;
		tp->rcv_adv = tp->rcv_nxt + space;
	}
	/* Receiver SWS avoidance: move the right edge only by a useful
	 * amount; never pull it back. */
	if (space < cur + step)
		space = cur;
	if (space > max)
		space = max;
	return space;
}

/* Build and send one segment: up to `len` payload bytes from sequence
 * `seq`.  Returns the payload bytes sent (SACK blocks may leave less room)
 * and sets *fin_sent if the FIN went with it. */
static uint32_t tcp_xmit_seg(struct tcp_pcb *tp, uint32_t seq, uint32_t len, uint8_t flags,
			     bool *fin_sent)
{
	struct us_stack *s = tp->s;
	uint8_t *l4 = s->txbuf + US_TX_L4_OFF;
	struct tcp_hdr th;
	struct ip4_tx tx = {.src = tp->laddr, .dst = tp->raddr, .proto = IP4_PROTO_TCP,
			    .tos = tp->tos, .ttl = tp->ttl, .df = true};
	size_t hl;
	uint32_t wnd, nsegs = 1;

	memset(&th, 0, sizeof(th));
	th.sport = tp->lport;
	th.dport = tp->rport;
	th.seq = seq;
	th.flags = flags;
	if (flags & TCP_ACK)
		th.ack = tp->rcv_nxt;
	if (flags & TCP_SYN) {
		/* RFC 9293 §3.7.1 MSS; RFC 7323 WS and TS, RFC 2018 SACK-permitted:
		 * offered in a SYN, answered in a SYN-ACK only when offered. */
		th.opt.has_mss = true;
		th.opt.mss = tcp_our_mss(tp);
		bool active = !(flags & TCP_ACK);
		if (active || tp->ws_ok) {
			th.opt.has_ws = true;
			th.opt.ws = tp->rcv_wscale;
		}
		if (active || tp->sack_ok)
			th.opt.sack_perm = true;
		if (active || tp->ts_ok) {
			th.opt.has_ts = true;
			th.opt.tsval = tcp_ts_now(tp);
			th.opt.tsecr = tp->ts_recent;
		}
		/* RFC 7323 §2.2: the window in a SYN is never scaled. */
		wnd = ring_space(&tp->rcv);
		th.win = wnd > 65535 ? 65535 : (uint16_t)wnd;
		tp->rcv_adv = tp->rcv_nxt + th.win;
	} else {
		if (tp->ts_ok) {
			th.opt.has_ts = true;
			th.opt.tsval = tcp_ts_now(tp);
			th.opt.tsecr = tp->ts_recent;
		}
		if (!(flags & TCP_RST))
			tcp_sack_blocks(tp, &th.opt);
		wnd = tcp_rcv_window(tp);
		th.win = (uint16_t)(wnd >> tp->rcv_wscale);
		if (SEQ_GT(tp->rcv_nxt + ((uint32_t)th.win << tp->rcv_wscale), tp->rcv_adv))
			tp->rcv_adv = tp->rcv_nxt + ((uint32_t)th.win << tp->rcv_wscale);
	}
	hl = TCP_HLEN + tcp_opts_len(&th.opt);
	/* tp->mss leaves room for timestamps only; SACK blocks take payload
	 * room (as Linux's tcp_current_mss), so the packet fits the MTU.
	 * With TSO a longer segment goes as one frame that the device cuts
	 * into `room`-byte segments, each with these headers. */
	if (len && !(flags & TCP_SYN)) {
		uint32_t room = tp->mss + TCP_HLEN + (tp->ts_ok ? 12u : 0u);
		uint32_t most;

		room = room > hl ? room - (uint32_t)hl : 1;
		most = room;
		if ((s->cfg.offload & US_OFFLOAD_TSO) && len > room) {
			most = (US_IP_MAXPACKET - IP4_HLEN - (uint32_t)hl) / room * room;
			tx.gso_size = (uint16_t)room;
		}
		if (len > most) {
			len = most;
			th.flags &= (uint8_t)~TCP_FIN; /* the FIN follows the last byte */
			flags = th.flags;
		}
		nsegs = (len + room - 1) / room;
	}
	if (len)
		ring_get_at(&tp->snd, seq - tp->snd_buf_seq, l4 + hl, len);
	if (s->cfg.offload & US_OFFLOAD_TX_CSUM) {
		tcp_build_partial(l4, &th, len, tx.src, tx.dst);
		tx.csum_partial = true;
	} else {
		tcp_build(l4, &th, len, tx.src, tx.dst);
	}
	if (s->cfg.trace) {
		char a[16];

		us_trace_emit(s, "tcp  tx %s:%u flags %s%s%s%s%s seq %u ack %u win %u len %u",
			      ip4_ntoa(tp->raddr, a), tp->rport, flags & TCP_SYN ? "S" : "",
			      flags & TCP_FIN ? "F" : "", flags & TCP_RST ? "R" : "",
			      flags & TCP_PSH ? "P" : "", flags & TCP_ACK ? "." : "", seq,
			      th.ack, th.win, len);
	}
	(void)ip4_output(s, &tx, l4, hl + len);
	if (fin_sent)
		*fin_sent = (flags & TCP_FIN) != 0;
	US_ADD(s, tcp_tx, nsegs);
	tp->segs_out += nsegs;
	if (len) {
		US_ADD(s, tcp_tx_data_segs, nsegs);
		US_ADD(s, tcp_tx_bytes, len);
	} else if (!(flags & (TCP_SYN | TCP_FIN | TCP_RST))) {
		US_INC(s, tcp_tx_acks);
	}
	if (flags & TCP_ACK) {
		tp->last_ack_sent = tp->rcv_nxt;
		tp->ack_now = false;
		tp->delack_segs = 0;
		if (tp->tmr[TCPT_DELACK] != US_TIME_NEVER)
			tcp_timer_clear(tp, TCPT_DELACK);
	}
	tp->last_send = s->now;
	return len;
}

/* How much one send may carry: one MSS, or with TSO as many whole
 * segments as a 64 KiB frame holds, but at most half the congestion
 * window so that a window still goes as two frames or more and ACKs keep
 * clocking (Linux's tcp_tso_autosize keeps at least two segments, too). */
static uint32_t tcp_send_goal(const struct tcp_pcb *tp)
{
	uint32_t goal, half;

	if (!(tp->s->cfg.offload & US_OFFLOAD_TSO))
		return tp->mss;
	goal = (US_IP_MAXPACKET - IP4_HLEN - TCP_HLEN - 40u) / tp->mss * tp->mss;
	half = tp->cwnd / 2 / tp->mss * tp->mss;
	if (goal > half)
		goal = half;
	return goal > tp->mss ? goal : tp->mss;
}

static void tcp_xmit(struct tcp_pcb *tp, uint32_t seq, uint32_t len, uint8_t flags)
{
	tcp_xmit_seg(tp, seq, len, flags, NULL);
}

void tcp_send_ack(struct tcp_pcb *tp)
{
	tcp_xmit(tp, tp->snd_nxt, 0, TCP_ACK);
}

void tcp_send_rst(struct tcp_pcb *tp)
{
	if (tp->state == US_TCP_CLOSED || tp->state == US_TCP_LISTEN ||
	    tp->state == US_TCP_SYN_SENT)
		return;
	US_INC(tp->s, tcp_tx_rst);
	/* RFC 9293 §3.10.4 (ABORT): <SEQ=SND.NXT><CTL=RST>. */
	tcp_xmit(tp, tp->snd_max, 0, TCP_RST | TCP_ACK);
}

void tcp_send_syn(struct tcp_pcb *tp)
{
	bool synack = tp->state == US_TCP_SYN_RECEIVED;

	tcp_xmit(tp, tp->iss, 0, synack ? TCP_SYN | TCP_ACK : TCP_SYN);
	tp->snd_nxt = tp->iss + 1;
	if (SEQ_GT(tp->snd_nxt, tp->snd_max))
		tp->snd_max = tp->snd_nxt;
	if (tp->backoff == 0) {
		tp->rtt_timing = true;
		tp->rtt_seq = tp->iss + 1;
		tp->rtt_start = tp->s->now;
	} else {
		tp->rtt_timing = false; /* Karn: never time a retransmission */
	}
	tcp_arm_rexmt(tp);
}

static uint32_t tcp_data_end(const struct tcp_pcb *tp)
{
	return tp->snd_buf_seq + ring_used(&tp->snd);
}

/* Sends the segment [seq, seq+len) again, with the FIN if it ends there.
 * Returns the payload bytes that went. */
static uint32_t tcp_resend(struct tcp_pcb *tp, uint32_t seq, uint32_t len)
{
	uint8_t flags = TCP_ACK;
	uint32_t end = tcp_data_end(tp);

	if (tp->fin_pending && seq + len == end && SEQ_GT(tp->snd_max, end))
		flags |= TCP_FIN;
	if (len && seq + len == end)
		flags |= TCP_PSH;
	US_INC(tp->s, tcp_retrans_segs);
	tp->retrans_segs++;
	return tcp_xmit_seg(tp, seq, len, flags, NULL);
}

/* Fast retransmit: the first unacknowledged segment (RFC 5681 §3.2 step
 * 3; RFC 6582 partial ACKs). */
void tcp_retransmit_una(struct tcp_pcb *tp)
{
	uint32_t end = tcp_data_end(tp), len = 0, lim;

	if (SEQ_LT(tp->snd_una, end)) {
		tcp_sack_is_sacked(tp, tp->snd_una, &lim);
		len = SEQ_MIN(end, lim) - tp->snd_una;
		if (len > tp->mss)
			len = tp->mss;
	}
	if (len == 0 && !(tp->fin_pending && SEQ_GT(tp->snd_max, end)))
		return;
	len = tcp_resend(tp, tp->snd_una, len);
	if (SEQ_GT(tp->snd_una + len, tp->high_rxt))
		tp->high_rxt = tp->snd_una + len;
	tp->rxt_mark = tp->snd_max;
	tp->rxt_mark_valid = true;
	tcp_arm_tlp(tp);
}

/* The tail loss probe's fallback: the last segment sent, again. */
void tcp_retransmit_last(struct tcp_pcb *tp)
{
	uint32_t end = tcp_data_end(tp), last = SEQ_MIN(end, tp->snd_max);
	uint32_t seq = SEQ_GT(last, tp->snd_una + tp->mss) ? last - tp->mss : tp->snd_una;

	if (SEQ_LT(seq, tp->snd_buf_seq))
		seq = tp->snd_buf_seq;
	if (SEQ_LEQ(last, seq) && !(tp->fin_pending && SEQ_GT(tp->snd_max, end)))
		return;
	tcp_resend(tp, seq, SEQ_GT(last, seq) ? last - seq : 0);
}

/* RFC 6675 §4 NextSeg() rule 1 and the loop of §5 step (C): retransmit
 * holes below the highest SACKed byte while cwnd - pipe allows. */
static void tcp_sack_rexmit(struct tcp_pcb *tp)
{
	uint32_t end = tcp_data_end(tp);

	while (tp->cwnd > tcp_pipe(tp) + tp->mss / 2) {
		uint32_t seq = SEQ_MAX(tp->high_rxt, tp->snd_una), lim, len;

		while (SEQ_LT(seq, tp->high_sacked) && tcp_sack_is_sacked(tp, seq, &lim))
			seq = lim;
		if (!SEQ_LT(seq, tp->high_sacked))
			return;
		tcp_sack_is_sacked(tp, seq, &lim);
		lim = SEQ_MIN(lim, tp->high_sacked);
		lim = SEQ_MIN(lim, end);
		len = lim - seq;
		if (len > tp->mss)
			len = tp->mss;
		if (len == 0)
			return;
		len = tcp_resend(tp, seq, len);
		tp->high_rxt = seq + len;
		if (seq == tp->snd_una) {
			tp->rxt_mark = tp->snd_max;
			tp->rxt_mark_valid = true;
			tcp_arm_tlp(tp);
		}
	}
}

void tcp_output(struct tcp_pcb *tp)
{
	uint32_t end, avail, usable, len, wnd, lim, goal;
	bool sent = false;

	if (tp->state == US_TCP_CLOSED || tp->state == US_TCP_LISTEN ||
	    tp->state == US_TCP_SYN_SENT || tp->state == US_TCP_SYN_RECEIVED ||
	    tp->state == US_TCP_TIME_WAIT) {
		if (tp->ack_now && (tp->state == US_TCP_TIME_WAIT || tp->state == US_TCP_SYN_RECEIVED))
			tcp_send_ack(tp);
		return;
	}
	tcp_cc_before_send(tp);
	if (tp->in_recovery && tp->sack_ok)
		tcp_sack_rexmit(tp);
	for (;;) {
		uint8_t flags = TCP_ACK;
		bool fin = false, rexmit;

		end = tcp_data_end(tp);
		/* After a timeout we resend from snd_una, skipping what the
		 * peer already holds. */
		while (SEQ_LT(tp->snd_nxt, tp->snd_max) && tcp_sack_is_sacked(tp, tp->snd_nxt, &lim))
			tp->snd_nxt = SEQ_MIN(lim, tp->snd_max);
		rexmit = SEQ_LT(tp->snd_nxt, tp->snd_max);
		avail = SEQ_GT(end, tp->snd_nxt) ? end - tp->snd_nxt : 0;
		wnd = tp->cwnd + tp->limited_tx * tp->mss;
		if (tp->snd_wnd < wnd)
			wnd = tp->snd_wnd;
		if (tp->in_recovery && tp->sack_ok) {
			uint32_t pipe = tcp_pipe(tp);

			usable = tp->cwnd > pipe ? tp->cwnd - pipe : 0;
			/* Round half a segment up: keeps the ACK clock going
			 * in a small window (RFC 6675 §5 step (C) uses >= 1 SMSS
			 * of cwnd - pipe; small windows would otherwise idle). */
			if (usable >= tp->mss / 2 && usable < tp->mss)
				usable = tp->mss;
			if (SEQ_LT(tp->snd_una + tp->snd_wnd, tp->snd_nxt + usable))
				usable = SEQ_GT(tp->snd_una + tp->snd_wnd, tp->snd_nxt)
						 ? tp->snd_una + tp->snd_wnd - tp->snd_nxt
						 : 0;
		} else {
			usable = SEQ_GT(tp->snd_una + wnd, tp->snd_nxt)
					 ? tp->snd_una + wnd - tp->snd_nxt
					 : 0;
		}
		goal = rexmit ? tp->mss : tcp_send_goal(tp);
		len = avail < goal ? avail : goal;
		if (rexmit) {
			tcp_sack_is_sacked(tp, tp->snd_nxt, &lim);
			if (SEQ_LT(lim, tp->snd_nxt + len))
				len = lim - tp->snd_nxt;
		}
		if (len > usable) {
			if (tp->zero_window_probe && tp->snd_wnd == 0 && avail > 0 && !sent)
				len = 1; /* RFC 9293 §3.8.6.1: probe with one byte */
			else
				len = usable;
		}
		/* A TSO frame carries whole segments, except at the tail. */
		if (len > tp->mss && len < avail)
			len -= len % tp->mss;
		/* The FIN goes with (or after) the last byte. */
		if (tp->fin_pending && tp->snd_nxt + len == end &&
		    (SEQ_LEQ(tp->snd_max, end) || rexmit))
			fin = true;
		if (len == 0 && !fin)
			break;
		if (len > 0 && !fin && !rexmit && !(tp->zero_window_probe && !sent)) {
			bool full = len >= tp->mss;
			bool last = len == avail;
			bool idle = tp->snd_max == tp->snd_una;
			bool short_out = SEQ_GT(tp->short_end, tp->snd_una);

			/* Nagle (RFC 896, RFC 1122 §4.2.3.4) in Minshall's form,
			 * as Linux: the tail of a write waits only while an
			 * earlier short segment is unacknowledged (or never,
			 * with NODELAY).  A short segment that is not the tail
			 * (window-limited) goes only when nothing is in flight,
			 * so a small window with a lost update cannot wait
			 * forever, and never as a sliver otherwise (SWS
			 * avoidance).  Cork holds every short segment. */
			if (!full && !tp->cork && !idle && !(last && (tp->nodelay || !short_out)) &&
			    !(tp->max_sndwnd && len >= tp->max_sndwnd / 2))
				break;
			if (!full && tp->cork)
				break;
			if (!full)
				tp->short_end = tp->snd_nxt + len;
		}
		if (fin)
			flags |= TCP_FIN;
		if (len && tp->snd_nxt + len == end)
			flags |= TCP_PSH;
		if (rexmit) {
			US_INC(tp->s, tcp_retrans_segs);
			tp->retrans_segs++;
		} else if (!tp->rtt_timing && len) {
			tp->rtt_timing = true;
			tp->rtt_seq = tp->snd_nxt + len;
			tp->rtt_start = tp->s->now;
		}
		len = tcp_xmit_seg(tp, tp->snd_nxt, len, flags, &fin);
		sent = true;
		tp->snd_nxt += len + (fin ? 1 : 0);
		if (SEQ_GT(tp->snd_nxt, tp->snd_max)) {
			if (SEQ_GT(tp->snd_nxt, tp->snd_una + tp->cwnd) && tp->limited_tx)
				US_INC(tp->s, tcp_limited_transmits);
			tp->snd_max = tp->snd_nxt;
		}
		tcp_arm_rexmt(tp);
		if (tp->tmr[TCPT_TLP] == US_TIME_NEVER)
			tcp_arm_tlp(tp);
		if (fin || tp->zero_window_probe)
			break;
	}
	if (tp->ack_now)
		tcp_send_ack(tp);
	/* Window closed with data waiting and nothing in flight: persist. */
	if (tp->snd_wnd == 0 && SEQ_LEQ(tp->snd_max, tp->snd_una + 1) && ring_used(&tp->snd) &&
	    tp->tmr[TCPT_REXMT] == US_TIME_NEVER)
		tcp_timer_set(tp, TCPT_REXMT, tp->s->now + tcp_rto_backed_off(tp));
}

/* RFC 9293 §3.10.7.1: the reset for a segment that found no connection:
 * <SEQ=SEG.ACK><CTL=RST> if it had an ACK, else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.  Never for a reset. */
void tcp_rst_for(struct us_stack *s, const struct ip4_hdr *ih, const struct tcp_hdr *th,
		 size_t seglen)
{
	uint8_t *l4 = s->txbuf + US_TX_L4_OFF;
	struct tcp_hdr rh;
	struct ip4_tx tx = {.src = ih->dst, .dst = ih->src, .proto = IP4_PROTO_TCP,
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
	US_TRACE(s, "tcp  tx RST to port %u", rh.dport);
	if (ip4_output(s, &tx, l4, TCP_HLEN) == 0) {
		US_INC(s, tcp_tx);
		US_INC(s, tcp_tx_rst);
	}
}

/* A SYN-ACK that keeps no state: the ISN is the cookie, only MSS is
 * announced (RFC 4987 §3.6). */
void tcp_send_synack_cookie(struct us_stack *s, const struct ip4_hdr *ih,
			    const struct tcp_hdr *th, uint32_t isn, uint16_t mss)
{
	uint8_t *l4 = s->txbuf + US_TX_L4_OFF;
	struct tcp_hdr rh;
	struct ip4_tx tx = {.src = ih->dst, .dst = ih->src, .proto = IP4_PROTO_TCP,
			    .tos = 0, .ttl = 64, .df = true};
	size_t hl;

	memset(&rh, 0, sizeof(rh));
	rh.sport = th->dport;
	rh.dport = th->sport;
	rh.seq = isn;
	rh.ack = th->seq + 1;
	rh.flags = TCP_SYN | TCP_ACK;
	rh.win = 65535;
	rh.opt.has_mss = true;
	rh.opt.mss = mss;
	hl = tcp_build(l4, &rh, 0, tx.src, tx.dst);
	if (ip4_output(s, &tx, l4, hl) == 0)
		US_INC(s, tcp_tx);
}
