/* clock.h - the daemon's one notion of time: CLOCK_MONOTONIC in microseconds,
 * which is what the stack core takes as `now`. */
#ifndef UD_CLOCK_H
#define UD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
