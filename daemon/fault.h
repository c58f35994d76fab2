/* fault.h - ustackd's link fault injector (--fault): seeded drop,
 * duplication, reordering and corruption of frames in both directions
 * between the device and the stack, and a fixed delay of the frames the
 * stack sends (a long path), for testing loss recovery and auto-tuning
 * against a real peer (this kernel has no tc netem). */
#ifndef UD_FAULT_H
#define UD_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fault_dir { FAULT_RX = 0, FAULT_TX = 1, FAULT_DIRS }; /* device->stack, stack->device */
enum fault_kind { FAULT_DROP, FAULT_DUP, FAULT_REORDER, FAULT_CORRUPT, FAULT_KINDS };

/* The parsed --fault SPEC. */
struct fault_cfg {
	bool on;
	bool seeded;               /* seed= given; otherwise arc4random */
	uint64_t seed;
	double pct[FAULT_KINDS];   /* percent of frames, 0..100 */
	uint32_t delay_ms;         /* hold each frame the stack sends this long */
};

/* Parse "drop=1.5,dup=1,reorder=2,corrupt=0.5,delay=20,seed=42" into cfg.  Returns 0,
 * or -EINVAL with a one-line reason (no "ustackd:" prefix) in err. */
int fault_parse(const char *spec, struct fault_cfg *cfg, char *err, size_t errlen);

/* Delivers one frame onward (into the stack, or out to the device). */
typedef int (*fault_deliver_fn)(void *ctx, uint8_t *frame, size_t len);

struct fault;

/* The injector in use, NULL when --fault is off: the device paths test
 * only this pointer. */
extern struct fault *fault_injector;

/* NULL on allocation failure.  Logs the settings and the seed. */
struct fault *fault_new(const struct fault_cfg *cfg);
void fault_free(struct fault *f);

/* Pass one frame in direction d: it is delivered now (once or twice,
 * possibly with one bit flipped in a copy), dropped, or held back and
 * delivered after the next frame in that direction.  A frame held before
 * is delivered right after this one.  Returns the result of delivering this
 * frame now (0 when it was dropped or held).  The frame is only read. */
int fault_pass(struct fault *f, enum fault_dir d, uint8_t *frame, size_t len,
	       fault_deliver_fn fn, void *ctx);
/* Deliver the frame held back in direction d, if any (end of a batch, and
 * before the loop sleeps: a held frame is never stuck). */
void fault_flush(struct fault *f, enum fault_dir d);

/* With delay=: when the next delayed frame is due (US_TIME_NEVER: none
 * waits), and deliver those due by `now`. */
uint64_t fault_next_due(const struct fault *f);
void fault_tick(struct fault *f, uint64_t now);
/* Frames the delay queue could not take (it holds FAULT_DELAY_BYTES):
 * counted as drops too. */
uint64_t fault_delay_overflow(const struct fault *f);

/* Counter value of kind k in direction d (0 with f == NULL). */
uint64_t fault_count(const struct fault *f, enum fault_dir d, enum fault_kind k);
/* "drop", "dup", "reorder", "corrupt" */
const char *fault_kind_name(enum fault_kind k);

#endif
