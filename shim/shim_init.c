/* shim_init.c - libustack.so's constructor: resolves every libc entry point
 * the shim calls through with dlsym(RTLD_NEXT) before main() runs, so no
 * lookup ever happens later under a lock (or in a forked child). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "shim.h"

struct shim_libc shim_real;

#define SHIM_RESOLVE(name)                                                     \
	do {                                                                   \
		*(void **)(&shim_real.name) = dlsym(RTLD_NEXT, #name);         \
		if (!shim_real.name)                                           \
			missing = #name;                                       \
	} while (0)

__attribute__((constructor)) static void shim_init(void)
{
	const char *missing = NULL;

	SHIM_RESOLVE(socket);
	SHIM_RESOLVE(bind);
	SHIM_RESOLVE(listen);
	SHIM_RESOLVE(accept);
	SHIM_RESOLVE(accept4);
	SHIM_RESOLVE(connect);
	SHIM_RESOLVE(read);
	SHIM_RESOLVE(write);
	SHIM_RESOLVE(readv);
	SHIM_RESOLVE(writev);
	SHIM_RESOLVE(recv);
	SHIM_RESOLVE(send);
	SHIM_RESOLVE(recvfrom);
	SHIM_RESOLVE(sendto);
	SHIM_RESOLVE(recvmsg);
	SHIM_RESOLVE(sendmsg);
	SHIM_RESOLVE(close);
	SHIM_RESOLVE(shutdown);
	SHIM_RESOLVE(getsockname);
	SHIM_RESOLVE(getpeername);
	SHIM_RESOLVE(getsockopt);
	SHIM_RESOLVE(setsockopt);
	SHIM_RESOLVE(fcntl);
	SHIM_RESOLVE(ioctl);
	SHIM_RESOLVE(dup);
	SHIM_RESOLVE(dup2);
	SHIM_RESOLVE(dup3);
	SHIM_RESOLVE(poll);
	SHIM_RESOLVE(ppoll);
	SHIM_RESOLVE(select);
	SHIM_RESOLVE(pselect);
	SHIM_RESOLVE(epoll_create);
	SHIM_RESOLVE(epoll_create1);
	SHIM_RESOLVE(epoll_ctl);
	SHIM_RESOLVE(epoll_wait);
	SHIM_RESOLVE(epoll_pwait);
	if (missing) {
		/* glibc's stdio writes through its internal entry points,
		 * never through our wrappers. */
		fprintf(stderr, "libustack: cannot resolve libc symbol %s\n", missing);
		abort();
	}
}
