/* trace.c - one short line per layer per packet, handed to the caller's
 * trace callback.  Callers go through US_TRACE(), which tests the callback
 * first, so tracing costs one branch when it is off. */
#include <stdarg.h>
#include <stdio.h>

#include "stack_impl.h"

void us_trace_emit(struct us_stack *s, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->cfg.trace(s->cfg.trace_ctx, line);
}

const char *ip4_ntoa(uint32_t a, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	return buf;
}
