/* timer.c - the stack's deadlines.  Each timer is embedded in its owner
 * (neighbour entry, reassembly, connection) and, while armed, sits in one
 * RB tree ordered by deadline; the next deadline is the leftmost node, so
 * idle owners cost nothing and no poll scans them. */
#include "stack_impl.h"

static int timer_cmp(const struct us_timer *a, const struct us_timer *b)
{
	if (a->when != b->when)
		return a->when < b->when ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

/* Non-static: libbsd leaves __unused undefined, which RB_GENERATE_STATIC needs. */
RB_PROTOTYPE(us_timer_tree, us_timer, node, timer_cmp)
RB_GENERATE(us_timer_tree, us_timer, node, timer_cmp)

void timer_init(struct us_timer *t, us_timer_fn fn)
{
	memset(t, 0, sizeof(*t));
	t->fn = fn;
}

void timer_arm(struct us_stack *s, struct us_timer *t, uint64_t when)
{
	if (t->armed)
		RB_REMOVE(us_timer_tree, &s->timers, t);
	t->when = when;
	t->seq = ++s->timer_seq;
	t->armed = true;
	RB_INSERT(us_timer_tree, &s->timers, t);
}

void timer_cancel(struct us_stack *s, struct us_timer *t)
{
	if (!t->armed)
		return;
	RB_REMOVE(us_timer_tree, &s->timers, t);
	t->armed = false;
}

void timer_run(struct us_stack *s, uint64_t now)
{
	struct us_timer *t;

	/* A callback may arm or cancel any timer, itself included; take the
	 * minimum afresh each round. */
	while ((t = RB_MIN(us_timer_tree, &s->timers)) != NULL && t->when <= now) {
		RB_REMOVE(us_timer_tree, &s->timers, t);
		t->armed = false;
		t->fn(s, t);
	}
}

uint64_t timer_next(const struct us_stack *s)
{
	struct us_timer *t = RB_MIN(us_timer_tree, (struct us_timer_tree *)&s->timers);

	return t ? t->when : US_TIME_NEVER;
}
