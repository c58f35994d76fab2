/* shim_fdops.c - owns the interposed calls that close fds in bulk:
 * close_range(2) (plain, CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC) and
 * closefrom(3).  The real call goes first; the shim then forgets what it
 * knew about the numbers that were closed (CLOSE_RANGE_CLOEXEC closes
 * nothing now: those fds go at execve, with the whole table).  The libc
 * entry points are resolved in the constructor; glibc before 2.34 has
 * neither, and then close_range goes to the system call. */
#include <dlfcn.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static int (*shim_real_close_range)(unsigned, unsigned, int);
static void (*shim_real_closefrom)(int);

__attribute__((constructor)) static void shim_fdops_init(void)
{
	*(void **)&shim_real_close_range = dlsym(RTLD_NEXT, "close_range");
	*(void **)&shim_real_closefrom = dlsym(RTLD_NEXT, "closefrom");
}

static void shim_fdops_closed(unsigned first, unsigned last)
{
	int ctl = shim_ipc_ctl_fd();

	if (ctl >= 0 && (unsigned)ctl >= first && (unsigned)ctl <= last)
		shim_ipc_fd_closed(ctl);
	shim_fd_clear_range(first, last);
}

SHIM_VIS int close_range(unsigned first, unsigned last, int flags);
SHIM_VIS int close_range(unsigned first, unsigned last, int flags)
{
	int r = shim_real_close_range ? shim_real_close_range(first, last, flags)
				      : (int)syscall(SYS_close_range, first, last, flags);

	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		shim_fdops_closed(first, last);
	return r;
}

SHIM_VIS void closefrom(int lowfd);
SHIM_VIS void closefrom(int lowfd)
{
	if (shim_real_closefrom)
		shim_real_closefrom(lowfd);
	else
		syscall(SYS_close_range, (unsigned)(lowfd < 0 ? 0 : lowfd), ~0u, 0);
	if (lowfd >= 0)
		shim_fdops_closed((unsigned)lowfd, ~0u);
}
