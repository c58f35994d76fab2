/* shim_fdops.c - owns the interposed calls that close fds in bulk:
 * close_range(2) (plain, CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC) and
 * closefrom(3).  The real call goes first, over each stretch between the
 * shim's own numbers (the control connection, inner epolls: a program
 * that closes "everything from 3 on" must not take them, shim_fd.c); the
 * shim then forgets what it knew about the numbers that were closed
 * (CLOSE_RANGE_CLOEXEC closes nothing now: those fds go at execve, with
 * the whole table).  libc's close_range is resolved in the constructor;
 * glibc before 2.34 has none, and then the system call is made. */
#include <dlfcn.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static int (*shim_real_close_range)(unsigned, unsigned, int);

__attribute__((constructor)) static void shim_fdops_init(void)
{
	*(void **)&shim_real_close_range = dlsym(RTLD_NEXT, "close_range");
}

/* The real call over [first, last], passing over the shim's own numbers
 * (shim_fd.c): one call per stretch between them. */
static int shim_fdops_range(unsigned first, unsigned last, int flags)
{
	for (;;) {
		int own = shim_fd_owned_from(first, last);

		if (own < 0 || (unsigned)own > first) {
			unsigned end = own < 0 ? last : (unsigned)own - 1;
			int r = shim_real_close_range ? shim_real_close_range(first, end, flags)
						      : (int)syscall(SYS_close_range, first, end, flags);
			if (r < 0)
				return r;
			if (!(flags & CLOSE_RANGE_CLOEXEC))
				shim_fd_clear_range(first, end);
			/* The table is unshared by the first call: the rest of
			 * the range closes in that one. */
			flags &= ~(int)CLOSE_RANGE_UNSHARE;
		}
		if (own < 0 || (unsigned)own >= last)
			return 0;
		first = (unsigned)own + 1;
	}
}

SHIM_VIS int close_range(unsigned first, unsigned last, int flags);
SHIM_VIS int close_range(unsigned first, unsigned last, int flags)
{
	if (first > last) {
		errno = EINVAL;
		return -1;
	}
	return shim_fdops_range(first, last, flags);
}

SHIM_VIS void closefrom(int lowfd);
SHIM_VIS void closefrom(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	shim_fdops_range((unsigned)lowfd, ~0u, 0);
}
