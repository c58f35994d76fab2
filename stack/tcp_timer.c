/* tcp_timer.c - per-connection timers: retransmission (RFC 6298) and
 * persist (RFC 9293 §3.8.6.1), delayed ACK (RFC 1122 §4.2.3.2), keepalive
 * (RFC 1122 §4.2.3.6) and connection give-up, TIME_WAIT (2*MSL).  Each
 * connection keeps one deadline per timer and sits in the stack's timer
 * tree once, at the earliest of them. */
#include "tcp_impl.h"

static void tcp_timer_rearm(struct tcp_pcb *tp)
{
	uint64_t min = US_TIME_NEVER;

	for (int i = 0; i < TCPT_N; i++)
		if (tp->tmr[i] < min)
			min = tp->tmr[i];
	if (min == US_TIME_NEVER)
		timer_cancel(tp->s, &tp->timer);
	else if (!tp->timer.armed || tp->timer.when != min)
		timer_arm(tp->s, &tp->timer, min);
}

void tcp_timer_set(struct tcp_pcb *tp, enum tcp_timer_id id, uint64_t when)
{
	tp->tmr[id] = when;
	tcp_timer_rearm(tp);
}

void tcp_timer_clear(struct tcp_pcb *tp, enum tcp_timer_id id)
{
	if (tp->tmr[id] == US_TIME_NEVER)
		return;
	tp->tmr[id] = US_TIME_NEVER;
	tcp_timer_rearm(tp);
}

void tcp_timers_clear_all(struct tcp_pcb *tp)
{
	for (int i = 0; i < TCPT_N; i++)
		tp->tmr[i] = US_TIME_NEVER;
	timer_cancel(tp->s, &tp->timer);
}

uint32_t tcp_rto_backed_off(const struct tcp_pcb *tp)
{
	uint64_t r = (uint64_t)tp->rto << (tp->backoff < 16 ? tp->backoff : 16);

	return r > TCP_RTO_MAX ? (uint32_t)TCP_RTO_MAX : (uint32_t)r;
}

/* RFC 6298 §2.2-2.4, with Linux's floor on the variance term so that
 * RTO >= SRTT + 200 ms (delayed ACKs never fire it spuriously). */
void tcp_rtt_sample(struct tcp_pcb *tp, uint32_t rtt)
{
	uint32_t var4;

	if (rtt == 0)
		rtt = 1;
	if (!tp->rtt_valid) {
		tp->srtt = rtt;
		tp->rttvar = rtt / 2;
		tp->rtt_valid = true;
	} else {
		uint32_t delta = tp->srtt > rtt ? tp->srtt - rtt : rtt - tp->srtt;

		tp->rttvar = tp->rttvar - tp->rttvar / 4 + delta / 4;
		tp->srtt = tp->srtt - tp->srtt / 8 + rtt / 8;
	}
	var4 = 4 * tp->rttvar;
	if (var4 < TCP_RTO_MIN)
		var4 = (uint32_t)TCP_RTO_MIN;
	tp->rto = tp->srtt + var4;
	if (tp->rto > TCP_RTO_MAX)
		tp->rto = (uint32_t)TCP_RTO_MAX;
}

/* RFC 6298 §5.1: start the timer when data is outstanding and it is not
 * running. */
void tcp_arm_rexmt(struct tcp_pcb *tp)
{
	if (tp->tmr[TCPT_REXMT] == US_TIME_NEVER && tp->snd_max != tp->snd_una)
		tcp_timer_set(tp, TCPT_REXMT, tp->s->now + tcp_rto_backed_off(tp));
}

/* RFC 8985 §7.2: PTO = 2*SRTT, plus the worst-case delayed ACK when a
 * single segment is in flight, and never past the RTO. */
void tcp_arm_tlp(struct tcp_pcb *tp)
{
	uint64_t pto, rto_at = tp->tmr[TCPT_REXMT];

	if (tp->in_recovery) {
		/* In recovery the same timer watches the retransmission of
		 * the first hole: RTT plus a reordering window (RFC 8985 §6.3). */
		uint64_t w = tp->srtt / 4 < US_MSEC ? US_MSEC : tp->srtt / 4;

		if (tp->sack_ok && tp->rxt_mark_valid)
			tcp_timer_set(tp, TCPT_TLP, tp->s->now + tp->srtt + w + US_MSEC);
		else
			tcp_timer_clear(tp, TCPT_TLP);
		return;
	}
	if (!tp->rtt_valid || tp->tlp_out || tp->snd_max == tp->snd_una || tp->snd_wnd == 0 ||
	    tp->state != US_TCP_ESTABLISHED) {
		tcp_timer_clear(tp, TCPT_TLP);
		return;
	}
	pto = 2ull * tp->srtt;
	if (tp->snd_max - tp->snd_una <= tp->mss)
		pto += TCP_WCDELACK;
	if (pto < TCP_TLP_MIN)
		pto = TCP_TLP_MIN;
	if (rto_at != US_TIME_NEVER && tp->s->now + pto >= rto_at) {
		tcp_timer_clear(tp, TCPT_TLP);
		return;
	}
	tcp_timer_set(tp, TCPT_TLP, tp->s->now + pto);
}

/* RFC 8985 §7.3: send one new segment if possible, else the last one
 * again, so that a lost tail is repaired by SACK/dupacks, not the RTO. */
static void tcp_tlp_fire(struct tcp_pcb *tp)
{
	uint32_t cwnd = tp->cwnd;

	if (tp->in_recovery && tp->sack_ok && tp->rxt_mark_valid && SEQ_LT(tp->snd_una, tp->high_rxt)) {
		/* The first hole's retransmission had its RTT and more: it
		 * was lost too.  Resend the holes. */
		US_INC(tp->s, tcp_lost_retrans);
		tp->rxt_mark_valid = false;
		tp->high_rxt = tp->snd_una;
		tcp_output(tp);
		return;
	}
	if (tp->in_recovery || tp->snd_max == tp->snd_una || tp->state != US_TCP_ESTABLISHED)
		return;
	/* The reordering window ran out with SACKed data above the hole. */
	if (tp->sack_ok && tp->sacked_bytes && SEQ_GEQ(tp->snd_una, tp->recover)) {
		tp->limited_tx = 0;
		tcp_cc_enter_recovery(tp);
		return;
	}
	US_INC(tp->s, tcp_tlp_probes);
	tp->tlp_out = true;
	if (SEQ_GT(tp->snd_buf_seq + ring_used(&tp->snd), tp->snd_max) &&
	    tp->snd_wnd > tp->snd_max - tp->snd_una) {
		uint32_t seq = tp->snd_max;

		tp->cwnd = tp->snd_max - tp->snd_una + tp->mss;
		tcp_output(tp);
		tp->cwnd = cwnd;
		if (tp->snd_max != seq)
			return;
	}
	tcp_retransmit_last(tp);
}

void tcp_arm_keepalive(struct tcp_pcb *tp)
{
	if (tp->keepalive &&
	    (tp->state == US_TCP_ESTABLISHED || tp->state == US_TCP_CLOSE_WAIT))
		tcp_timer_set(tp, TCPT_KEEP, tp->last_rx + (uint64_t)tp->keepidle * US_SEC);
	else if (tp->state >= US_TCP_ESTABLISHED)
		tcp_timer_clear(tp, TCPT_KEEP);
}

static int tcp_giveup_error(struct tcp_pcb *tp)
{
	return tp->soft_error ? tp->soft_error : ETIMEDOUT;
}

/* Zero window: probe with one byte beyond the window and back off. */
static void tcp_persist(struct tcp_pcb *tp)
{
	uint64_t t = (uint64_t)tp->rto << (tp->backoff < 16 ? tp->backoff : 16);

	US_INC(tp->s, tcp_zero_window_probes);
	tp->snd_nxt = tp->snd_una; /* the same byte again */
	tp->zero_window_probe = true;
	tcp_output(tp);
	tp->zero_window_probe = false;
	if (tp->backoff < 16)
		tp->backoff++;
	if (t < TCP_PERSIST_MIN)
		t = TCP_PERSIST_MIN;
	if (t > TCP_PERSIST_MAX)
		t = TCP_PERSIST_MAX;
	tcp_timer_set(tp, TCPT_REXMT, tp->s->now + t);
}

static bool tcp_user_timeout_hit(const struct tcp_pcb *tp)
{
	return tp->user_timeout && tp->first_rto_at &&
	       tp->s->now - tp->first_rto_at >= (uint64_t)tp->user_timeout * US_MSEC;
}

/* Returns true if the connection was freed. */
static bool tcp_rexmt_timeout(struct tcp_pcb *tp)
{
	struct us_stack *s = tp->s;
	unsigned limit;

	if (tp->state == US_TCP_SYN_SENT || tp->state == US_TCP_SYN_RECEIVED)
		limit = tp->state == US_TCP_SYN_SENT ? TCP_SYN_RETRIES : TCP_SYNACK_RETRIES;
	else
		limit = TCP_DATA_RETRIES;
	if (!tp->first_rto_at)
		tp->first_rto_at = s->now;
	/* Persist: the window is closed and nothing but a probe byte is in
	 * flight.  RFC 1122 §4.2.2.17: probing goes on as long as the peer
	 * answers (only the user timeout ends it). */
	if (tp->snd_wnd == 0 && SEQ_LEQ(tp->snd_max, tp->snd_una + 1) &&
	    tp->state >= US_TCP_ESTABLISHED && ring_used(&tp->snd) > 0) {
		if (tcp_user_timeout_hit(tp))
			goto giveup;
		tcp_persist(tp);
		return false;
	}
	if (tp->backoff >= limit || tcp_user_timeout_hit(tp))
		goto giveup;
	tp->backoff++;
	US_INC(s, tcp_timeouts);
	tp->timeouts++;
	if (tp->state == US_TCP_SYN_SENT) {
		US_INC(s, tcp_syn_retrans);
		tcp_send_syn(tp);
	} else if (tp->state == US_TCP_SYN_RECEIVED) {
		US_INC(s, tcp_synack_retrans);
		tcp_send_syn(tp);
	} else {
		/* RFC 5681 §3.1 eq. 4 and the loss window; RFC 6582 §4 sets
		 * recover so that the dupacks of this episode do not start a
		 * fast retransmit. */
		tp->cc->on_rto(tp);
		tp->in_recovery = false;
		tp->recover = tp->snd_max;
		tp->dupacks = 0;
		tp->rtt_timing = false; /* Karn */
		if (tp->backoff >= 2)
			tcp_sack_clear(tp); /* the peer may have reneged */
		tp->snd_nxt = tp->snd_una;
		tp->high_rxt = tp->snd_una;
		tcp_output(tp);
	}
	tcp_timer_set(tp, TCPT_REXMT, s->now + tcp_rto_backed_off(tp));
	return false;
giveup:
	if (tp->state == US_TCP_SYN_SENT)
		US_INC(s, tcp_attempt_fails);
	else
		US_INC(s, tcp_abort_on_timeout);
	if (tp->state != US_TCP_SYN_SENT)
		tcp_send_rst(tp);
	tcp_close_pcb(tp, tcp_giveup_error(tp));
	return true;
}

static bool tcp_keep_timeout(struct tcp_pcb *tp)
{
	struct us_stack *s = tp->s;

	if (tp->state < US_TCP_ESTABLISHED) {
		/* Not used before the connection is up. */
		return false;
	}
	if (!tp->keepalive ||
	    (tp->state != US_TCP_ESTABLISHED && tp->state != US_TCP_CLOSE_WAIT))
		return false;
	if (s->now < tp->last_rx + (uint64_t)tp->keepidle * US_SEC && tp->keep_probes == 0) {
		tcp_arm_keepalive(tp);
		return false;
	}
	if (tp->keep_probes >= tp->keepcnt || tcp_user_timeout_hit(tp)) {
		US_INC(s, tcp_keepalive_timeouts);
		tcp_send_rst(tp);
		tcp_close_pcb(tp, tcp_giveup_error(tp));
		return true;
	}
	/* RFC 1122 §4.2.3.6: a segment with SEG.SEQ = SND.NXT - 1 and no
	 * data, which the peer must acknowledge. */
	tp->keep_probes++;
	US_INC(s, tcp_keepalive_probes);
	{
		uint32_t save = tp->snd_nxt;

		tp->snd_nxt = tp->snd_una - 1;
		tcp_send_ack(tp);
		tp->snd_nxt = save;
	}
	tcp_timer_set(tp, TCPT_KEEP, s->now + (uint64_t)tp->keepintvl * US_SEC);
	return false;
}

void tcp_timer_fire(struct us_stack *s, struct us_timer *t)
{
	struct tcp_pcb *tp = US_CONTAINER_OF(t, struct tcp_pcb, timer);

	for (int id = 0; id < TCPT_N; id++) {
		if (tp->tmr[id] > s->now)
			continue;
		tp->tmr[id] = US_TIME_NEVER;
		switch (id) {
		case TCPT_REXMT:
			if (tcp_rexmt_timeout(tp))
				return;
			break;
		case TCPT_DELACK:
			if (tp->delack_segs || tp->ack_now) {
				US_INC(s, tcp_delayed_acks);
				tcp_send_ack(tp);
			}
			break;
		case TCPT_KEEP:
			if (tcp_keep_timeout(tp))
				return;
			break;
		case TCPT_TLP:
			tcp_tlp_fire(tp);
			break;
		case TCPT_DEFER:
			/* The period is over: accept() gets it without data,
			 * as Linux hands it over after its last SYN-ACK. */
			if (tp->deferred) {
				tp->defer_done = true;
				tcp_child_established(tp);
			}
			break;
		case TCPT_2MSL:
			/* TIME_WAIT over, or an orphan stuck in FIN_WAIT_2. */
			tcp_close_pcb(tp, 0);
			return;
		}
	}
	tcp_timer_rearm(tp);
}
