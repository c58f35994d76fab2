/* counters.c - the names of the stack's counters (see counters.h). */
#include "counters.h"

const char *const us_counter_names[US_CTR_MAX] = {
#define US_CTR_NAME(n) #n,
	US_COUNTER_LIST(US_CTR_NAME)
#undef US_CTR_NAME
};
