/* tcp_cc.c - congestion control: slow start and congestion avoidance
 * (RFC 5681, with appropriate byte counting, RFC 3465), initial window 10
 * (RFC 6928), entry into fast recovery (RFC 5681 §3.2, RFC 6582, RFC 6675
 * §5), congestion window validation (RFC 7661), and two algorithms selectable
 * per socket: NewReno and CUBIC (RFC 9438, the default). */
#include <math.h>

#include "tcp_impl.h"

uint32_t tcp_initial_window(const struct tcp_pcb *tp)
{
	/* RFC 6928 §2: min(10*MSS, max(2*MSS, 14600)). */
	uint32_t a = 10u * tp->mss, b = 2u * tp->mss > 14600 ? 2u * tp->mss : 14600;

	return a < b ? a : b;
}

static uint32_t tcp_flight(const struct tcp_pcb *tp)
{
	return tp->snd_max - tp->snd_una;
}

/* Slow start: grow by the bytes acknowledged, at most 2*SMSS per ACK
 * (RFC 3465 §2.2, L = 2*SMSS).  Returns the bytes left over once cwnd
 * reaches ssthresh. */
static uint32_t tcp_slow_start(struct tcp_pcb *tp, uint32_t acked)
{
	uint32_t inc = acked < 2u * tp->mss ? acked : 2u * tp->mss;
	uint32_t room = tp->ssthresh - tp->cwnd;

	if (inc > room) {
		tp->cwnd = tp->ssthresh;
		return inc - room;
	}
	tp->cwnd += inc;
	return 0;
}

/* ---- NewReno (RFC 5681 §3.1, RFC 6582) -------------------------------- */

static void reno_init(struct tcp_pcb *tp)
{
	tp->cubic_ack_cnt = 0;
}

static void reno_on_ack(struct tcp_pcb *tp, uint32_t acked)
{
	if (tp->cwnd < tp->ssthresh) {
		acked = tcp_slow_start(tp, acked);
		if (!acked)
			return;
	}
	/* Congestion avoidance, byte counting: one SMSS per cwnd acked. */
	tp->cubic_ack_cnt += acked;
	if (tp->cubic_ack_cnt >= tp->cwnd) {
		tp->cubic_ack_cnt -= tp->cwnd;
		tp->cwnd += tp->mss;
	}
}

static uint32_t reno_ssthresh(struct tcp_pcb *tp)
{
	/* RFC 5681 eq. 4: max(FlightSize / 2, 2*SMSS). */
	uint32_t half = tcp_flight(tp) / 2;

	return half > 2u * tp->mss ? half : 2u * tp->mss;
}

static void reno_on_rto(struct tcp_pcb *tp)
{
	tp->ssthresh = reno_ssthresh(tp);
	tp->cwnd = tp->mss; /* RFC 5681 §3.1: loss window = 1 SMSS */
	tp->cubic_ack_cnt = 0;
}

const struct tcp_cc_ops tcp_cc_newreno = {
	.name = "newreno",
	.init = reno_init,
	.on_ack = reno_on_ack,
	.ssthresh = reno_ssthresh,
	.on_rto = reno_on_rto,
};

/* ---- CUBIC (RFC 9438) --------------------------------------------------- */

#define CUBIC_C 0.4
#define CUBIC_BETA 0.7

static void cubic_init(struct tcp_pcb *tp)
{
	tp->cubic_epoch = 0;
	tp->cubic_wmax = 0;
	tp->cubic_k = 0;
	tp->cubic_ack_cnt = 0;
}

static void cubic_on_ack(struct tcp_pcb *tp, uint32_t acked)
{
	double cwnd, t, target, w_cubic, mss = tp->mss;

	if (tp->cwnd < tp->ssthresh) {
		acked = tcp_slow_start(tp, acked);
		if (!acked)
			return;
	}
	cwnd = tp->cwnd / mss;
	if (tp->cubic_epoch == 0) {
		/* §4.2: a new congestion-avoidance epoch. */
		tp->cubic_epoch = tp->s->now;
		if (cwnd < tp->cubic_wmax) {
			tp->cubic_k = cbrt((tp->cubic_wmax - cwnd) / CUBIC_C);
			tp->cubic_origin = tp->cubic_wmax;
		} else {
			tp->cubic_k = 0;
			tp->cubic_origin = cwnd;
		}
		tp->cubic_west = cwnd;
	}
	/* §4.2: W_cubic(t + RTT), t in seconds since the epoch began. */
	t = (double)(tp->s->now - tp->cubic_epoch + tp->srtt) / 1e6;
	w_cubic = CUBIC_C * (t - tp->cubic_k) * (t - tp->cubic_k) * (t - tp->cubic_k) +
		  tp->cubic_origin;
	/* §4.3: the Reno-friendly estimate, alpha = 3(1-beta)/(1+beta). */
	tp->cubic_west += 3.0 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA) * (acked / mss) / cwnd;
	if (w_cubic < tp->cubic_west) {
		target = tp->cubic_west;
	} else {
		target = w_cubic;
		if (target > 1.5 * cwnd) /* §4.2: at most 1.5 cwnd */
			target = 1.5 * cwnd;
	}
	if (target > cwnd) {
		/* (target - cwnd) / cwnd segments per segment acknowledged */
		double inc = (target - cwnd) / cwnd * (acked / mss) * mss;

		tp->cubic_ack_cnt += (uint32_t)inc;
		if (tp->cubic_ack_cnt >= 1) {
			tp->cwnd += tp->cubic_ack_cnt;
			tp->cubic_ack_cnt = 0;
		}
	}
}

static uint32_t cubic_ssthresh(struct tcp_pcb *tp)
{
	double cwnd = (double)tp->cwnd / tp->mss;
	uint32_t th;

	/* §4.7 fast convergence */
	if (cwnd < tp->cubic_wmax)
		tp->cubic_wmax = cwnd * (1 + CUBIC_BETA) / 2;
	else
		tp->cubic_wmax = cwnd;
	tp->cubic_epoch = 0;
	/* §4.6: ssthresh = cwnd * beta_cubic (at least 2 SMSS). */
	th = (uint32_t)(tp->cwnd * CUBIC_BETA);
	return th > 2u * tp->mss ? th : 2u * tp->mss;
}

static void cubic_on_rto(struct tcp_pcb *tp)
{
	/* §4.8: as a congestion event, then the loss window. */
	tp->ssthresh = cubic_ssthresh(tp);
	tp->cwnd = tp->mss;
	tp->cubic_epoch = 0;
}

const struct tcp_cc_ops tcp_cc_cubic = {
	.name = "cubic",
	.init = cubic_init,
	.on_ack = cubic_on_ack,
	.ssthresh = cubic_ssthresh,
	.on_rto = cubic_on_rto,
};

void tcp_cc_select(struct tcp_pcb *tp, enum us_cc id)
{
	tp->cc_id = id;
	tp->cc = id == US_CC_NEWRENO ? &tcp_cc_newreno : &tcp_cc_cubic;
	tp->cc->init(tp);
}

/* Loss detected by duplicate ACKs or SACK: RFC 5681 §3.2 steps 2-3,
 * RFC 6582 §3.2 step 2, RFC 6675 §5 (4.1-4.2). */
void tcp_cc_enter_recovery(struct tcp_pcb *tp)
{
	struct us_stack *s = tp->s;

	tp->ssthresh = tp->cc->ssthresh(tp);
	tp->prior_cwnd = tp->cwnd;
	tp->in_recovery = true;
	tp->recover = tp->snd_max;
	tp->high_rxt = tp->snd_una;
	tp->rtt_timing = false;
	if (tp->sack_ok) {
		tp->cwnd = tp->ssthresh;
		US_INC(s, tcp_sack_recoveries);
	} else {
		tp->cwnd = tp->ssthresh + TCP_DUPTHRESH * tp->mss;
		US_INC(s, tcp_reno_recoveries);
	}
	US_INC(s, tcp_fast_retrans);
	tp->fast_retrans++;
	tcp_retransmit_una(tp);
}

/* RFC 7661 §4.2: pipeACK is the most bytes acknowledged within one RTT
 * over the last two sampling periods (the RFC recommends about 3 RTTs). */
void tcp_cc_validate(struct tcp_pcb *tp, uint32_t acked)
{
	uint64_t now = tp->s->now, period = tp->srtt > 1000 ? tp->srtt : 1000;

	if (tp->pipeack_start == 0)
		tp->pipeack_start = now;
	tp->pipeack_acc += acked;
	if (now - tp->pipeack_start >= period) {
		tp->pipeack_prev = tp->pipeack_acc;
		tp->pipeack_acc = 0;
		tp->pipeack_start = now;
	}
	tp->pipeack = tp->pipeack_prev > tp->pipeack_acc ? tp->pipeack_prev : tp->pipeack_acc;
	if (tcp_cc_validated(tp)) {
		tp->nvp_since = 0;
		return;
	}
	if (tp->nvp_since == 0) {
		tp->nvp_since = now;
	} else if (now - tp->nvp_since >= TCP_NVP) {
		/* §4.4: the NVP lasted NonValidatedPeriod: cwnd =
		 * max((pipeACK + R) / 2, IW), ssthresh >= 3/4 of the old cwnd. */
		uint32_t iw = tcp_initial_window(tp), nw = tp->pipeack / 2, th = tp->cwnd / 4 * 3;

		if (tp->ssthresh < th)
			tp->ssthresh = th;
		tp->cwnd = nw > iw ? nw : iw;
		tp->cubic_epoch = 0;
		tp->nvp_since = now;
	}
}

/* §4.4 for a connection that went quiet: nothing acknowledged for a
 * whole NonValidatedPeriod, so pipeACK is 0 and cwnd falls back to the
 * initial window before new data goes out.  A shorter pause keeps cwnd
 * (RFC 7661 replaces RFC 5681's restart window). */
void tcp_cc_before_send(struct tcp_pcb *tp)
{
	uint64_t now = tp->s->now, last = tp->last_send;
	uint32_t iw = tcp_initial_window(tp), th = tp->cwnd / 4 * 3;

	if (tp->snd_una != tp->snd_max || !last || now - last < TCP_NVP || tp->cwnd <= iw)
		return;
	if (tp->ssthresh < th)
		tp->ssthresh = th;
	tp->cwnd = iw;
	tp->pipeack = tp->pipeack_prev = tp->pipeack_acc = 0;
	tp->cubic_epoch = 0;
}

/* §4.3: cwnd is validated when pipeACK >= 1/2 cwnd. */
bool tcp_cc_validated(const struct tcp_pcb *tp)
{
	return 2ull * tp->pipeack >= tp->cwnd;
}
