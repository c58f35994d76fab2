/* tcp_input.c - segment arrival (RFC 9293 §3.10.7): demultiplexing,
 * LISTEN (with SYN cookies when the SYN queue is full, RFC 4987), SYN-SENT,
 * and the synchronized states: PAWS (RFC 7323 §5), acceptability, RST and
 * SYN handling hardened per RFC 5961, ACK processing with RTT measurement
 * (RFC 6298), fast retransmit / recovery (RFC 5681, RFC 6582, RFC 6675),
 * window update, in-order and out-of-order data into the receive ring,
 * delayed ACKs (RFC 1122 §4.2.3.2, RFC 5681 §4.2) and FIN. */
#include "tcp_impl.h"

#define TCP_PAWS_IDLE (24ull * 24 * 3600 * US_SEC) /* RFC 7323 §5.5 */

static void tcp_segment(struct tcp_pcb *tp, const struct tcp_hdr *th, const uint8_t *data,
			uint32_t plen);

static void tcp_challenge_ack(struct tcp_pcb *tp)
{
	if (!tcp_challenge_ok(tp->s))
		return;
	US_INC(tp->s, tcp_challenge_acks);
	tcp_send_ack(tp);
}

static void tcp_enter_time_wait(struct tcp_pcb *tp)
{
	tcp_timers_clear_all(tp);
	tcp_state(tp, US_TCP_TIME_WAIT);
	US_INC(tp->s, tcp_time_wait_entered);
	/* An orphan waits out 2*MSL with no send memory: our FIN and all
	 * before it were acknowledged.  A connection nginx closes first
	 * spends a minute here; 7,000 a second held 4 KiB each. */
	if (!tp->so) {
		ring_release(&tp->snd);
		tcp_mem_update(tp);
	}
	tcp_timer_set(tp, TCPT_2MSL, tp->s->now + tp->s->cfg.tcp_time_wait);
}

/* Options from the peer's SYN (RFC 7323 §1.3: WS and TS only if both
 * sides send them; RFC 2018 §2 likewise for SACK). */
static void tcp_syn_options(struct tcp_pcb *tp, const struct tcp_hdr *th)
{
	tp->peer_mss = th->opt.has_mss && th->opt.mss ? th->opt.mss : TCP_DEFAULT_MSS;
	tp->ws_ok = th->opt.has_ws;
	if (tp->ws_ok) {
		/* RFC 7323 §2.3: a shift above 14 is used as 14. */
		tp->snd_wscale = th->opt.ws > 14 ? 14 : th->opt.ws;
	} else {
		tp->snd_wscale = 0;
		tp->rcv_wscale = 0;
	}
	tp->sack_ok = th->opt.sack_perm;
	tp->ts_ok = th->opt.has_ts;
	if (tp->ts_ok) {
		tp->ts_recent = th->opt.tsval;
		tp->ts_recent_age = tp->s->now;
	}
	tcp_set_mss(tp);
}

/* The connection is up: initial congestion window (RFC 6928; one segment
 * if the SYN had to be retransmitted, RFC 5681 §3.1), first RTT sample. */
static void tcp_established(struct tcp_pcb *tp)
{
	tp->snd_buf_seq = tp->iss + 1;
	tp->short_end = tp->iss + 1;
	tp->cwnd = tp->backoff ? tp->mss : tcp_initial_window(tp);
	tp->ssthresh = 0x7fffffff;
	tp->cc->init(tp);
	if (tp->rtt_timing && tp->backoff == 0)
		tcp_rtt_sample(tp, (uint32_t)(tp->s->now - tp->rtt_start));
	tp->rtt_timing = false;
	tp->backoff = 0;
	tp->first_rto_at = 0;
	tp->recover = tp->iss;
	tp->high_rxt = tp->iss + 1;
	tcp_timer_clear(tp, TCPT_REXMT);
	tcp_state(tp, US_TCP_ESTABLISHED);
	tcp_arm_keepalive(tp);
}

static struct tcp_pcb *tcp_child_new(struct tcp_pcb *l, const struct ip4_hdr *ih,
				     const struct tcp_hdr *th)
{
	struct us_stack *s = l->s;
	struct tcp_pcb *tp = tcp_pcb_new(s);
	struct us_sock *lso = l->so;

	if (!tp)
		return NULL;
	tp->laddr = ih->dst;
	tp->lport = th->dport;
	tp->raddr = ih->src;
	tp->rport = th->sport;
	/* Options are inherited from the listener. */
	tp->nodelay = l->nodelay;
	tp->cork = l->cork;
	tp->keepalive = l->keepalive;
	tp->keepidle = l->keepidle;
	tp->keepintvl = l->keepintvl;
	tp->keepcnt = l->keepcnt;
	tp->user_timeout = l->user_timeout;
	tp->user_mss = l->user_mss;
	tp->linger = l->linger;
	tp->ttl = l->ttl;
	tp->tos = l->tos;
	tp->rcvbuf_fixed = l->rcvbuf_fixed;
	tp->sndbuf_fixed = l->sndbuf_fixed;
	tcp_cc_select(tp, l->cc_id);
	if (tcp_pcb_bufs(tp, lso ? lso->rcvbuf : TCP_BUF_DEFAULT,
			 lso ? lso->sndbuf : TCP_BUF_DEFAULT) < 0 ||
	    tcp_insert(tp) < 0) {
		tcp_pcb_free(tp);
		return NULL;
	}
	tp->rcv_wscale = tcp_rcv_wscale(tp);
	tcp_child_link(l, tp);
	return tp;
}

/* RFC 9293 §3.10.7.2 LISTEN. */
static void tcp_listen_input(struct tcp_pcb *l, const struct ip4_hdr *ih, const struct tcp_hdr *th,
			     const uint8_t *data, size_t plen)
{
	struct us_stack *s = l->s;
	struct tcp_pcb *tp;
	uint16_t mss;

	if (th->flags & TCP_RST)
		return;
	if ((th->flags & (TCP_ACK | TCP_SYN)) == TCP_ACK) {
		/* Possibly the ACK that completes a SYN-cookie handshake. */
		if (!s->tcp_cookie_last || s->now - s->tcp_cookie_last > 130 * US_SEC ||
		    !tcp_cookie_check(s, ih, th, &mss)) {
			/* Not a cookie we could have sent: an ACK for a
			 * connection that is gone (RFC 9293: reset it). */
			if (s->tcp_cookie_last && s->now - s->tcp_cookie_last <= 130 * US_SEC)
				US_INC(s, tcp_syncookies_failed);
			else
				US_INC(s, tcp_drop_no_port);
			tcp_rst_for(s, ih, th, plen);
			return;
		}
		if (l->acceptq_len >= l->backlog) {
			US_INC(s, tcp_listen_overflow);
			return;
		}
		tp = tcp_child_new(l, ih, th);
		if (!tp)
			return;
		US_INC(s, tcp_syncookies_ok);
		US_INC(s, tcp_passive_opens);
		tp->irs = th->seq - 1;
		tp->rcv_nxt = th->seq;
		tp->iss = th->ack - 1;
		tp->snd_una = tp->snd_nxt = tp->snd_max = th->ack;
		tp->peer_mss = mss;
		tp->rcv_wscale = tp->snd_wscale = 0;
		tp->ws_ok = tp->sack_ok = tp->ts_ok = false;
		tp->snd_wnd = th->win;
		tp->snd_wl1 = th->seq;
		tp->snd_wl2 = th->ack;
		tp->max_sndwnd = tp->snd_wnd;
		tp->rcv_adv = tp->rcv_nxt + 65535;
		tcp_set_mss(tp);
		tp->state = US_TCP_SYN_RECEIVED;
		tcp_established(tp);
		tcp_child_established(tp);
		/* RFC 9293 §3.10.7.4: text on the completing ACK is queued. */
		if (plen || (th->flags & TCP_FIN))
			tcp_segment(tp, th, data, (uint32_t)plen);
		return;
	}
	if (!(th->flags & TCP_SYN) || (th->flags & TCP_ACK)) {
		if (th->flags & TCP_ACK)
			tcp_rst_for(s, ih, th, plen);
		US_INC(s, tcp_drop_bad_syn);
		return;
	}
	if (l->acceptq_len >= l->backlog) {
		US_INC(s, tcp_listen_overflow);
		return;
	}
	if (l->synq_len >= l->backlog) {
		/* RFC 4987 §3.6: the SYN queue is full; answer statelessly. */
		uint32_t isn = tcp_cookie_make(s, ih, th, &mss);

		US_INC(s, tcp_syncookies_sent);
		s->tcp_cookie_last = s->now;
		tcp_send_synack_cookie(s, ih, th, isn, mss);
		return;
	}
	tp = tcp_child_new(l, ih, th);
	if (!tp)
		return;
	US_INC(s, tcp_passive_opens);
	tp->irs = th->seq;
	tp->rcv_nxt = th->seq + 1;
	tp->iss = tcp_new_isn(s, tp->laddr, tp->lport, tp->raddr, tp->rport);
	tp->snd_una = tp->snd_nxt = tp->snd_max = tp->iss;
	tp->ts_offset = tcp_new_ts_offset(s, tp->laddr, tp->lport, tp->raddr, tp->rport);
	tcp_syn_options(tp, th);
	tp->snd_wnd = th->win; /* unscaled in a SYN */
	tp->max_sndwnd = tp->snd_wnd;
	tp->snd_wl1 = th->seq;
	tp->snd_wl2 = tp->iss;
	tp->state = US_TCP_SYN_RECEIVED;
	tcp_send_syn(tp);
}

/* RFC 9293 §3.10.7.3 SYN-SENT.  Returns after handling completely. */
static void tcp_syn_sent_input(struct tcp_pcb *tp, const struct tcp_hdr *th)
{
	struct us_stack *s = tp->s;
	bool ack_ok = false;
	uint32_t offered;

	if (th->flags & TCP_ACK) {
		if (SEQ_LEQ(th->ack, tp->iss) || SEQ_GT(th->ack, tp->snd_max)) {
			if (!(th->flags & TCP_RST)) {
				struct ip4_hdr ih = {.src = tp->raddr, .dst = tp->laddr};

				tcp_rst_for(s, &ih, th, 0);
			}
			return;
		}
		ack_ok = true;
	}
	if (th->flags & TCP_RST) {
		if (ack_ok) {
			US_INC(s, tcp_rx_rst);
			US_INC(s, tcp_attempt_fails);
			tcp_close_pcb(tp, ECONNREFUSED);
		}
		return;
	}
	if (!(th->flags & TCP_SYN))
		return;
	/* Our SYN offered rcv_adv - rcv_nxt (never scaled, RFC 7323 §2.2)
	 * while rcv_nxt was still unknown: move that right edge along with
	 * rcv_nxt, or it would lie anywhere in sequence space. */
	offered = tp->rcv_adv - tp->rcv_nxt;
	tp->irs = th->seq;
	tp->rcv_nxt = th->seq + 1;
	tp->rcv_adv = tp->rcv_nxt + offered;
	tcp_syn_options(tp, th);
	if (ack_ok) {
		tp->snd_una = th->ack;
		tp->snd_wnd = (uint32_t)th->win << tp->snd_wscale;
		tp->max_sndwnd = tp->snd_wnd;
		tp->snd_wl1 = th->seq;
		tp->snd_wl2 = th->ack;
		tcp_established(tp);
		tp->ack_now = true;
		tcp_output(tp);
		return;
	}
	/* Simultaneous open (RFC 9293 §3.5 figure 8). */
	tp->snd_wnd = th->win;
	tp->snd_wl1 = th->seq;
	tcp_state(tp, US_TCP_SYN_RECEIVED);
	tp->snd_nxt = tp->iss;
	tcp_send_syn(tp);
}

/* RFC 9293 §3.10.7.4, first check: is the segment in the window? */
static bool tcp_acceptable(const struct tcp_pcb *tp, uint32_t seq, uint32_t seglen)
{
	uint32_t wnd = SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;

	if (seglen == 0) {
		if (wnd == 0)
			return seq == tp->rcv_nxt;
		return SEQ_LEQ(tp->rcv_nxt, seq) && SEQ_LT(seq, tp->rcv_nxt + wnd);
	}
	if (wnd == 0)
		return false;
	return (SEQ_LEQ(tp->rcv_nxt, seq) && SEQ_LT(seq, tp->rcv_nxt + wnd)) ||
	       (SEQ_LEQ(tp->rcv_nxt, seq + seglen - 1) && SEQ_LT(seq + seglen - 1, tp->rcv_nxt + wnd));
}

static bool tcp_fin_acked(const struct tcp_pcb *tp)
{
	return tp->fin_pending && SEQ_GT(tp->snd_max, tp->snd_buf_seq + ring_used(&tp->snd)) &&
	       tp->snd_una == tp->snd_max;
}

/* May this ACK grow cwnd?  Only while cwnd limits the sender: RFC 7661
 * §4.3 (pipeACK >= cwnd/2), and, within one RTT, the flight before the
 * ACK used most of cwnd (as Linux's tcp_is_cwnd_limited). */
static bool tcp_cwnd_limited(struct tcp_pcb *tp, uint32_t flight, uint32_t acked)
{
	tcp_cc_validate(tp, acked);
	if (!tcp_cc_validated(tp) && flight + 3u * tp->mss < tp->cwnd)
		return false;
	if (tp->cwnd < tp->ssthresh)
		return 2 * flight >= tp->cwnd;
	return flight + 3u * tp->mss >= tp->cwnd;
}

/* New data acknowledged: free the send ring, measure, grow cwnd or move
 * through recovery. */
static void tcp_ack_advance(struct tcp_pcb *tp, const struct tcp_hdr *th)
{
	struct us_stack *s = tp->s;
	uint32_t acked = th->ack - tp->snd_una, flight_before = tp->snd_max - tp->snd_una;
	uint32_t data = th->ack - tp->snd_buf_seq, used = ring_used(&tp->snd);

	if (tp->rtt_timing && SEQ_GEQ(th->ack, tp->rtt_seq)) {
		tcp_rtt_sample(tp, (uint32_t)(s->now - tp->rtt_start));
		tp->rtt_timing = false;
	}
	tp->backoff = 0;
	tp->first_rto_at = 0;
	tp->limited_tx = 0;
	tp->tlp_out = false;
	if (SEQ_GT(th->ack, tp->snd_buf_seq)) {
		if (data > used)
			data = used; /* the rest was our FIN */
		tp->snd.tail += data;
		tp->snd_buf_seq += data;
		tp->bytes_acked += data;
	}
	tp->snd_una = th->ack;
	if (SEQ_LT(tp->snd_nxt, tp->snd_una))
		tp->snd_nxt = tp->snd_una;
	tcp_sack_trim(tp);
	if (tp->in_recovery) {
		if (SEQ_GEQ(th->ack, tp->recover)) {
			/* Full ACK: leave recovery (RFC 6582 §3.2 step 3). */
			uint32_t flight = tp->snd_max - tp->snd_una;

			tp->in_recovery = false;
			if (tp->sack_ok || flight + tp->mss > tp->ssthresh)
				tp->cwnd = tp->ssthresh;
			else
				tp->cwnd = flight + tp->mss;
			tp->dupacks = 0;
		} else {
			US_INC(s, tcp_recovery_partial_acks);
			if (!tp->sack_ok) {
				/* RFC 6582 §3.2 step 5: retransmit the next hole,
				 * deflate by the amount acked, add back one SMSS. */
				tcp_retransmit_una(tp);
				tp->cwnd = tp->cwnd > acked ? tp->cwnd - acked : 0;
				if (acked >= tp->mss)
					tp->cwnd += tp->mss;
				if (tp->cwnd < tp->mss)
					tp->cwnd = tp->mss;
			}
			if (SEQ_LT(tp->high_rxt, tp->snd_una))
				tp->high_rxt = tp->snd_una;
			/* The new first hole was resent before this moment. */
			tp->rxt_mark = tp->snd_max;
			tp->rxt_mark_valid = SEQ_LT(tp->snd_una, tp->high_rxt);
		}
	} else {
		tp->dupacks = 0;
		/* Grow cwnd only while it limits the sender (RFC 7661 §4.3;
		 * as Linux's tcp_is_cwnd_limited): at least half used in slow
		 * start, nearly all of it otherwise. */
		if (tcp_cwnd_limited(tp, flight_before, acked))
			tp->cc->on_ack(tp, acked);
	}
	/* RFC 6298 §5.2-5.3 */
	if (tp->snd_una == tp->snd_max)
		tcp_timer_clear(tp, TCPT_REXMT);
	else
		tcp_timer_set(tp, TCPT_REXMT, s->now + tcp_rto_backed_off(tp));
	tcp_arm_tlp(tp);
	tcp_wakeup(tp);
}

static uint64_t tcp_reo_wnd(const struct tcp_pcb *tp)
{
	uint64_t w = tp->srtt / 4;

	return w < US_MSEC ? US_MSEC : w;
}

static void tcp_dupack(struct tcp_pcb *tp)
{
	tp->dupacks++;
	if (!tp->in_recovery) {
		uint32_t flight = tp->snd_max - tp->snd_una;
		uint32_t segs = (flight + tp->mss - 1) / tp->mss, thresh = TCP_DUPTHRESH;
		bool lost;

		/* RFC 5827 early retransmit: with fewer than four segments
		 * out (cwnd or the data allows no more), fewer suffice. */
		if (segs < 4)
			thresh = segs > 1 ? segs - 1 : 1;
		/* RFC 5681 §3.2 / RFC 6675 §5: DupThresh duplicates, or more
		 * than (DupThresh-1)*SMSS SACKed above snd_una.  RFC 6582 §4.1:
		 * not for duplicates left over from before the last timeout. */
		lost = tp->dupacks >= thresh ||
		       (tp->sack_ok && tp->sacked_bytes > (thresh - 1) * (uint32_t)tp->mss);
		if (lost && SEQ_GEQ(tp->snd_una, tp->recover)) {
			tp->limited_tx = 0;
			tcp_cc_enter_recovery(tp);
		} else {
			if (tp->dupacks <= 2)
				tp->limited_tx = tp->dupacks; /* RFC 3042 */
			/* RACK's reordering window (RFC 8985 §6.2): if the hole
			 * is still there a quarter RTT later, it is lost. */
			if (tp->sacked_bytes)
				tcp_timer_set(tp, TCPT_TLP, tp->s->now + tcp_reo_wnd(tp));
		}
	} else if (!tp->sack_ok) {
		tp->cwnd += tp->mss; /* RFC 5681 §3.2 step 4: inflate */
	}
}

/* A retransmission of the first hole was itself lost if data sent after
 * it has been SACKed (by DupThresh segments, for reordering): send the
 * holes again (the idea of RFC 8985's RACK, without per-segment times). */
static void tcp_lost_retransmit(struct tcp_pcb *tp)
{
	if (!tp->in_recovery || !tp->sack_ok || !tp->rxt_mark_valid)
		return;
	if (SEQ_GT(tp->high_sacked, tp->rxt_mark + TCP_DUPTHRESH * (uint32_t)tp->mss)) {
		US_INC(tp->s, tcp_lost_retrans);
		tp->rxt_mark_valid = false;
		tp->high_rxt = tp->snd_una;
	}
}

/* Data in the window: in order into the ring, out of order held in the
 * ring beyond rcv_nxt.  Returns false if the segment could not be used. */
static void tcp_data(struct tcp_pcb *tp, uint32_t seq, const uint8_t *data, uint32_t len)
{
	struct us_stack *s = tp->s;
	uint32_t cap_end = tp->rcv_nxt + ring_space(&tp->rcv);

	if (SEQ_LT(seq, tp->rcv_nxt)) {
		uint32_t skip = tp->rcv_nxt - seq;

		if (skip >= len) {
			US_INC(s, tcp_dup_data_segs);
			tp->ack_now = true;
			return;
		}
		data += skip;
		len -= skip;
		seq = tp->rcv_nxt;
	}
	if (SEQ_GT(seq + len, cap_end)) {
		if (!SEQ_LT(seq, cap_end)) {
			US_INC(s, tcp_drop_out_of_window);
			tp->ack_now = true;
			return;
		}
		len = cap_end - seq;
	}
	US_INC(s, tcp_rx_data_segs);
	if (seq == tp->rcv_nxt) {
		bool had_ooo = tp->nooo > 0;

		ring_put_at(&tp->rcv, 0, data, len);
		tp->rcv.head += len;
		tp->rcv_nxt += len;
		if (had_ooo) {
			uint32_t more = tcp_ooo_advance(tp);

			tp->rcv.head += more;
			len += more;
			tp->ack_now = true; /* RFC 5681 §4.2: a filled hole */
		}
		US_ADD(s, tcp_rx_bytes, len);
		tp->bytes_received += len;
		US_TRACE(s, "sock tcp port %u: %u bytes readable", tp->lport, ring_used(&tp->rcv));
		/* Delayed ACK: every second segment at once, quick ACKs at
		 * the start, otherwise within TCP_DELACK_TIME.  A segment
		 * larger than the MSS (the sender's GSO frame, not cut by
		 * the device) counts as the several it stands for. */
		tp->delack_segs += len > tp->mss ? 2u : 1u;
		if (tp->quickacks) {
			tp->quickacks--;
			tp->ack_now = true;
		} else if (tp->delack_segs >= 2) {
			tp->ack_now = true;
		} else if (tp->tmr[TCPT_DELACK] == US_TIME_NEVER) {
			tcp_timer_set(tp, TCPT_DELACK, s->now + TCP_DELACK_TIME);
		}
		tcp_wakeup(tp);
		return;
	}
	/* Out of order: keep it (bounded by the ring and TCP_MAX_OOO ranges)
	 * and answer at once with a duplicate ACK carrying SACK blocks. */
	tp->ack_now = true;
	if (!tcp_ooo_add(tp, seq, seq + len)) {
		US_INC(s, tcp_ooo_drop);
		return;
	}
	ring_put_at(&tp->rcv, seq - tp->rcv_nxt, data, len);
	US_INC(s, tcp_ooo_segs);
}

static void tcp_segment(struct tcp_pcb *tp, const struct tcp_hdr *th, const uint8_t *data,
			uint32_t plen)
{
	struct us_stack *s = tp->s;
	uint32_t seq = th->seq, seglen = plen + !!(th->flags & TCP_SYN) + !!(th->flags & TCP_FIN);
	bool fin = th->flags & TCP_FIN;

	tp->segs_in++;
	if (tp->state == US_TCP_SYN_SENT) {
		tcp_syn_sent_input(tp, th);
		return;
	}
	/* A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost. */
	if (tp->state == US_TCP_SYN_RECEIVED && (th->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN &&
	    seq == tp->irs) {
		tp->snd_nxt = tp->iss;
		tcp_send_syn(tp);
		return;
	}
	/* Simultaneous open (RFC 9293 figure 8, line 6): the peer's SYN-ACK
	 * acknowledges our SYN; its SYN repeats one we already have. */
	if (tp->state == US_TCP_SYN_RECEIVED &&
	    (th->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == (TCP_SYN | TCP_ACK) && seq == tp->irs &&
	    th->ack == tp->iss + 1) {
		tp->snd_wnd = th->win; /* unscaled in a SYN */
		tp->max_sndwnd = tp->snd_wnd;
		tp->snd_wl1 = seq;
		tp->snd_wl2 = th->ack;
		tp->snd_una = th->ack;
		tcp_established(tp);
		tp->ack_now = true;
		tcp_output(tp);
		return;
	}
	/* RFC 9293 §3.10.7.4 SYN-RECEIVED: an ACK outside (SND.UNA, SND.NXT]
	 * gets <SEQ=SEG.ACK><CTL=RST>. */
	if (tp->state == US_TCP_SYN_RECEIVED && (th->flags & (TCP_ACK | TCP_RST | TCP_SYN)) == TCP_ACK &&
	    !(SEQ_GT(th->ack, tp->snd_una) && SEQ_LEQ(th->ack, tp->snd_max))) {
		struct ip4_hdr ih = {.src = tp->raddr, .dst = tp->laddr};

		tcp_rst_for(s, &ih, th, plen);
		return;
	}
	/* RFC 7323 §5.3: PAWS. */
	if (tp->ts_ok && th->opt.has_ts && !(th->flags & TCP_RST) &&
	    (int32_t)(th->opt.tsval - tp->ts_recent) < 0 &&
	    s->now - tp->ts_recent_age < TCP_PAWS_IDLE) {
		US_INC(s, tcp_paws_drop);
		tp->ack_now = true;
		tcp_output(tp);
		return;
	}
	if (!tcp_acceptable(tp, seq, seglen)) {
		if (!(th->flags & TCP_RST)) {
			/* Keepalive probes land here and are answered.  In
			 * TIME-WAIT a repeated FIN restarts 2*MSL. */
			if (tp->state == US_TCP_TIME_WAIT && fin)
				tcp_timer_set(tp, TCPT_2MSL, s->now + s->cfg.tcp_time_wait);
			tp->ack_now = true;
			tcp_output(tp);
		}
		if (seglen && SEQ_LEQ(seq + seglen, tp->rcv_nxt))
			US_INC(s, tcp_dup_data_segs);
		else if ((!SEQ_GT(tp->rcv_adv, tp->rcv_nxt) ||
			  tp->rcv_adv - tp->rcv_nxt < (1u << tp->rcv_wscale)) &&
			 seglen <= 1 && (seq == tp->rcv_nxt || seq == tp->rcv_nxt - 1))
			/* RFC 1122 §4.2.2.17: a probe of our zero window
			 * (Linux sends SEG.SEQ = RCV.NXT - 1 and no data,
			 * others one byte at RCV.NXT); answered above.  A
			 * window below one unit of our scale (RFC 7323 §2.3)
			 * went out as zero: the peer probes it as well. */
			US_INC(s, tcp_rx_window_probes);
		else
			US_INC(s, tcp_drop_out_of_window);
		return;
	}
	tp->last_rx = s->now;
	tp->keep_probes = 0;
	if (tp->keepalive)
		tcp_arm_keepalive(tp);
	/* RFC 5961 §3.2: only an exact RST resets; others get a challenge. */
	if (th->flags & TCP_RST) {
		US_INC(s, tcp_rx_rst);
		if (seq != tp->rcv_nxt) {
			tcp_challenge_ack(tp);
			return;
		}
		switch (tp->state) {
		case US_TCP_SYN_RECEIVED:
			/* Back to LISTEN for a passive open, refused for an
			 * active (simultaneous) one. */
			tcp_close_pcb(tp, tp->listener ? 0 : ECONNREFUSED);
			break;
		case US_TCP_CLOSING:
		case US_TCP_LAST_ACK:
		case US_TCP_TIME_WAIT:
			tcp_close_pcb(tp, 0);
			break;
		default:
			tcp_close_pcb(tp, tp->state == US_TCP_CLOSE_WAIT ? EPIPE : ECONNRESET);
		}
		return;
	}
	/* RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK. */
	if (th->flags & TCP_SYN) {
		tcp_challenge_ack(tp);
		return;
	}
	/* RFC 7323 §4.3: remember the timestamp to echo. */
	if (tp->ts_ok && th->opt.has_ts && SEQ_LEQ(seq, tp->last_ack_sent)) {
		tp->ts_recent = th->opt.tsval;
		tp->ts_recent_age = s->now;
	}
	if (!(th->flags & TCP_ACK)) {
		US_INC(s, tcp_drop_no_ack);
		return;
	}
	/* RFC 5961 §5.2: the ACK must lie in [SND.UNA - MAX.SND.WND, SND.NXT]. */
	if (SEQ_GT(th->ack, tp->snd_max) ||
	    SEQ_LT(th->ack, tp->snd_una - (tp->max_sndwnd ? tp->max_sndwnd : 65535))) {
		US_INC(s, tcp_drop_bad_ack);
		tcp_challenge_ack(tp);
		return;
	}
	if (tp->state == US_TCP_SYN_RECEIVED) {
		if (!SEQ_GT(th->ack, tp->snd_una)) {
			struct ip4_hdr ih = {.src = tp->raddr, .dst = tp->laddr};

			tcp_rst_for(s, &ih, th, plen);
			return;
		}
		tp->snd_wnd = (uint32_t)th->win << tp->snd_wscale;
		tp->max_sndwnd = tp->snd_wnd;
		tp->snd_wl1 = seq;
		tp->snd_wl2 = th->ack;
		tp->snd_una = th->ack;
		tcp_established(tp);
		tcp_child_established(tp);
	}
	if (tp->sack_ok && th->opt.nsack) {
		tcp_sack_update(tp, &th->opt);
		tcp_lost_retransmit(tp);
	}
	if (SEQ_GT(th->ack, tp->snd_una)) {
		tcp_ack_advance(tp, th);
	} else if (th->ack == tp->snd_una && plen == 0 && !fin && tp->snd_max != tp->snd_una &&
		   ((uint32_t)th->win << tp->snd_wscale) == tp->snd_wnd && tp->snd_wnd != 0) {
		/* RFC 5681 §2 duplicate ACK (answers to zero-window probes
		 * are not: the window is closed). */
		tcp_dupack(tp);
	}
	/* Window update (RFC 9293 §3.10.7.4, fifth check). */
	if (SEQ_LT(tp->snd_wl1, seq) || (tp->snd_wl1 == seq && SEQ_LEQ(tp->snd_wl2, th->ack))) {
		uint32_t old = tp->snd_wnd;

		tp->snd_wnd = (uint32_t)th->win << tp->snd_wscale;
		tp->snd_wl1 = seq;
		tp->snd_wl2 = th->ack;
		if (tp->snd_wnd > tp->max_sndwnd)
			tp->max_sndwnd = tp->snd_wnd;
		if (old == 0 && tp->snd_wnd > 0) {
			/* Window reopened: persist is over. */
			tp->backoff = 0;
			if (tp->snd_una == tp->snd_max)
				tcp_timer_clear(tp, TCPT_REXMT);
		}
	}
	switch (tp->state) {
	case US_TCP_FIN_WAIT_1:
		if (tcp_fin_acked(tp)) {
			tcp_state(tp, US_TCP_FIN_WAIT_2);
			if (!tp->so)
				tcp_timer_set(tp, TCPT_2MSL, s->now + TCP_FIN_TIMEOUT);
		}
		break;
	case US_TCP_CLOSING:
		if (tcp_fin_acked(tp))
			tcp_enter_time_wait(tp);
		break;
	case US_TCP_LAST_ACK:
		if (tcp_fin_acked(tp)) {
			tcp_close_pcb(tp, 0);
			return;
		}
		break;
	case US_TCP_TIME_WAIT:
		/* A retransmitted FIN: acknowledge and restart 2*MSL. */
		if (fin) {
			tp->ack_now = true;
			tcp_timer_set(tp, TCPT_2MSL, s->now + s->cfg.tcp_time_wait);
		}
		tcp_output(tp);
		return;
	default:
		break;
	}
	/* Segment text (RFC 9293 §3.10.7.4, seventh check).  New data for a
	 * connection its owner has closed cannot be delivered to anyone:
	 * reset, as Linux does (TCPAbortOnData). */
	if (plen && !tp->so && SEQ_GT(seq + plen, tp->rcv_nxt) &&
	    (tp->state == US_TCP_FIN_WAIT_1 || tp->state == US_TCP_FIN_WAIT_2)) {
		US_INC(s, tcp_abort_on_data);
		tcp_send_rst(tp);
		tcp_close_pcb(tp, 0);
		return;
	}
	if (plen && (tp->state == US_TCP_ESTABLISHED || tp->state == US_TCP_FIN_WAIT_1 ||
		     tp->state == US_TCP_FIN_WAIT_2))
		tcp_data(tp, seq, data, plen);
	else if (plen)
		tp->ack_now = true;
	/* FIN (eighth check): only once everything before it has arrived. */
	if (fin && !tp->fin_rcvd && seq + plen == tp->rcv_nxt) {
		tp->rcv_nxt++;
		tp->fin_rcvd = true;
		tp->ack_now = true;
		tcp_wakeup(tp);
		switch (tp->state) {
		case US_TCP_SYN_RECEIVED:
		case US_TCP_ESTABLISHED:
			tcp_state(tp, US_TCP_CLOSE_WAIT);
			break;
		case US_TCP_FIN_WAIT_1:
			if (tcp_fin_acked(tp))
				tcp_enter_time_wait(tp);
			else
				tcp_state(tp, US_TCP_CLOSING);
			break;
		case US_TCP_FIN_WAIT_2:
			tcp_enter_time_wait(tp);
			break;
		default:
			break;
		}
	} else if (fin) {
		tp->ack_now = true;
	}
	tcp_output_soon(tp);
}

void tcp_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt)
{
	const uint8_t *p = pkt + ih->hlen;
	size_t len = (size_t)ih->total_len - ih->hlen;
	struct tcp_hdr th;
	struct tcp_pcb *tp;
	/* A checksum the device vouched for (virtio-net flags) is not
	 * summed again. */
	int r = (s->rx_flags & US_RXM_CSUM_OK) ? tcp_parse_trusted(p, len, &th)
					       : tcp_parse(p, len, ih->src, ih->dst, &th);

	if (r < 0) {
		if (r == -WIRE_ECSUM)
			US_INC(s, tcp_drop_bad_csum);
		else if (r == -WIRE_EOPT)
			US_INC(s, tcp_drop_bad_opt);
		else if (len < TCP_HLEN)
			US_INC(s, tcp_drop_trunc);
		else
			US_INC(s, tcp_drop_bad_hdr);
		US_TRACE(s, "tcp  rx drop: malformed (%d)", r);
		return;
	}
	US_INC(s, tcp_rx);
	if (s->cfg.trace) {
		char a[16];

		us_trace_emit(s, "tcp  rx %s:%u > port %u flags 0x%02x seq %u ack %u win %u len %zu",
			      ip4_ntoa(ih->src, a), th.sport, th.dport, th.flags, th.seq, th.ack,
			      th.win, len - th.hlen);
	}
	/* RFC 1122 §4.2.3.10: never for broadcast or multicast. */
	if (route_is_bcast(s, ih->dst) || ip4_is_multicast(ih->dst)) {
		US_INC(s, tcp_drop_no_port);
		return;
	}
	tp = tcp_lookup(s, ih->dst, th.dport, ih->src, th.sport);
	if (tp && tp->state == US_TCP_TIME_WAIT && (th.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN &&
	    SEQ_GT(th.seq, tp->rcv_nxt) && tcp_lookup_listener(s, th.dport)) {
		/* RFC 9293 §3.10.7.4 / RFC 6191: a new SYN above the old
		 * sequence space may reopen a connection in TIME-WAIT. */
		tcp_close_pcb(tp, 0);
		tp = NULL;
	}
	if (tp) {
		tcp_segment(tp, &th, p + th.hlen, (uint32_t)(len - th.hlen));
		return;
	}
	tp = tcp_lookup_listener(s, th.dport);
	if (tp) {
		tcp_listen_input(tp, ih, &th, p + th.hlen, len - th.hlen);
		return;
	}
	US_INC(s, tcp_drop_no_port);
	if (th.flags & TCP_RST)
		US_INC(s, tcp_rx_rst);
	tcp_rst_for(s, ih, &th, len - th.hlen);
}

/* ICMP errors for a connection (RFC 5927, RFC 1122 §4.2.3.9, RFC 1191). */
void tcp_err_input(struct us_stack *s, int err, uint8_t type, uint8_t code, uint32_t rest,
		   const struct ip4_hdr *inner, const uint8_t *l4)
{
	uint16_t sport = wire_get16(l4), dport = wire_get16(l4 + 2);
	uint32_t seq = wire_get32(l4 + 4);
	struct tcp_pcb *tp = tcp_lookup(s, inner->src, sport, inner->dst, dport);

	/* RFC 5927 §4.1: only errors quoting a sequence number in flight. */
	if (!tp || SEQ_LT(seq, tp->snd_una) || SEQ_GEQ(seq, tp->snd_max + (tp->snd_max == tp->snd_una))) {
		US_INC(s, icmp_drop_bad_inner);
		return;
	}
	if (type == 3 && code == 4) {
		/* RFC 1191 §6.1: fragmentation needed: lower the MSS and send
		 * again now (not counted as a loss). */
		uint32_t mtu = rest & 0xffff;

		uint16_t mss;

		if (mtu < 68 || mtu >= s->cfg.mtu)
			return;
		/* Act only when the path MTU really shrinks (as Linux): every
		 * segment of one flight - up to 45 of a 64 KiB TSO frame - may
		 * draw its own ICMP naming the same MTU, and resending the
		 * flight for each would be a storm. */
		mss = (uint16_t)(mtu - 40 < TCP_MIN_MSS ? TCP_MIN_MSS : mtu - 40);
		if (tp->pmtu_mss && mss >= tp->pmtu_mss) {
			US_INC(s, tcp_pmtu_stale);
			return;
		}
		US_INC(s, tcp_pmtu_updates);
		tp->pmtu_mss = mss;
		tcp_set_mss(tp);
		tp->snd_nxt = tp->snd_una;
		tcp_output(tp);
		return;
	}
	/* RFC 1122 §4.2.3.9 / RFC 5927 §4.1: unreachable protocol or port
	 * abort a connection being opened; everything else is a soft error,
	 * reported only if the connection later times out. */
	if (tp->state == US_TCP_SYN_SENT && (code == 2 || code == 3) && type == 3) {
		US_INC(s, tcp_icmp_hard);
		US_INC(s, tcp_attempt_fails);
		tcp_close_pcb(tp, err);
		return;
	}
	US_INC(s, tcp_icmp_soft);
	tp->soft_error = err;
}
