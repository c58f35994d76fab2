/* ustackd.h - the daemon's shared state: one struct ud holds the pieces
 * that each module (args, dev, loop, svc, ctl, report) owns. */
#ifndef UD_USTACKD_H
#define UD_USTACKD_H

#include <stdint.h>
#include <sys/types.h>

#include "args.h"
#include "ctl.h"
#include "dev.h"
#include "loop.h"
#include "services.h"
#include "ustack.h"

#ifndef USTACK_VERSION
#define USTACK_VERSION "unknown"
#endif

struct ud {
	struct args args;
	struct dev dev;
	struct us_stack *stack;
	struct svc svc;
	struct ctl ctl;
	struct loop loop;
	uint8_t mac[6];
	uint64_t start_us; /* monotonic, for uptime */
	uint64_t tcp_mem_max; /* the stack's TCP buffer budget, bytes */
};

#endif
