/* shim_init.c - owns shim_real, the libc entry points the shim calls
 * through.  They are resolved with dlsym(RTLD_NEXT) in the constructor,
 * before main(), so no lookup happens later under a program's lock (or in a
 * forked child).
 *
 * The constructor is made to run before every other library's (the library
 * is linked with -z initfirst, see meson.build): other constructors may
 * already make socket and fd calls (p11-kit, OpenSSL, ...).  With a
 * sanitizer build this also makes the instrumented module's own constructor
 * (__asan_init) the first to run; otherwise the ASan runtime preloaded into
 * a stock program initialises itself lazily at the first malloc, which can
 * come from inside newlocale() with glibc's __libc_setlocale_lock held:
 * its dlsym/dlerror/dcgettext then unlocks that lock once too often, and
 * the program's next setlocale() waits forever (curl; llvm-project#49223
 * is the same family).
 *
 * Should a wrapper still be entered before the constructor (-z initfirst
 * not honoured, or a later-loaded object that claims it too), shim_real
 * starts out pointing at trampolines that resolve everything and pass the
 * call straight through: idempotent stores of the same values, no lock, so
 * re-entry and concurrent first calls are harmless. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

static void shim_resolve(void);

/* A trampoline: resolve, then call the real function. */
#define SHIM_LAZY(ret, name, params, args)                                     \
	static ret shim_lazy_##name params                                     \
	{                                                                      \
		shim_resolve();                                                \
		return shim_real.name args;                                    \
	}

SHIM_LAZY(int, socket, (int d, int t, int p), (d, t, p))
SHIM_LAZY(int, bind, (int fd, const struct sockaddr *sa, socklen_t l), (fd, sa, l))
SHIM_LAZY(int, listen, (int fd, int b), (fd, b))
SHIM_LAZY(int, accept, (int fd, struct sockaddr *sa, socklen_t *l), (fd, sa, l))
SHIM_LAZY(int, accept4, (int fd, struct sockaddr *sa, socklen_t *l, int f), (fd, sa, l, f))
SHIM_LAZY(int, connect, (int fd, const struct sockaddr *sa, socklen_t l), (fd, sa, l))
SHIM_LAZY(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
SHIM_LAZY(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
SHIM_LAZY(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))
SHIM_LAZY(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))
SHIM_LAZY(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))
SHIM_LAZY(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))
SHIM_LAZY(ssize_t, recvfrom,
	  (int fd, void *b, size_t n, int f, struct sockaddr *sa, socklen_t *l),
	  (fd, b, n, f, sa, l))
SHIM_LAZY(ssize_t, sendto,
	  (int fd, const void *b, size_t n, int f, const struct sockaddr *sa, socklen_t l),
	  (fd, b, n, f, sa, l))
SHIM_LAZY(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f))
SHIM_LAZY(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f))
SHIM_LAZY(int, close, (int fd), (fd))
SHIM_LAZY(int, shutdown, (int fd, int h), (fd, h))
SHIM_LAZY(int, getsockname, (int fd, struct sockaddr *sa, socklen_t *l), (fd, sa, l))
SHIM_LAZY(int, getpeername, (int fd, struct sockaddr *sa, socklen_t *l), (fd, sa, l))
SHIM_LAZY(int, getsockopt, (int fd, int lv, int nm, void *v, socklen_t *l), (fd, lv, nm, v, l))
SHIM_LAZY(int, setsockopt, (int fd, int lv, int nm, const void *v, socklen_t l),
	  (fd, lv, nm, v, l))
SHIM_LAZY(int, dup, (int fd), (fd))
SHIM_LAZY(int, dup2, (int a, int b), (a, b))
SHIM_LAZY(int, dup3, (int a, int b, int f), (a, b, f))
SHIM_LAZY(int, poll, (struct pollfd *p, nfds_t n, int t), (p, n, t))
SHIM_LAZY(int, ppoll, (struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *m),
	  (p, n, t, m))
SHIM_LAZY(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t),
	  (n, r, w, e, t))
SHIM_LAZY(int, pselect,
	  (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t, const sigset_t *m),
	  (n, r, w, e, t, m))
SHIM_LAZY(int, epoll_create, (int n), (n))
SHIM_LAZY(int, epoll_create1, (int f), (f))
SHIM_LAZY(int, epoll_ctl, (int ep, int op, int fd, struct epoll_event *ev), (ep, op, fd, ev))
SHIM_LAZY(int, epoll_wait, (int ep, struct epoll_event *ev, int n, int t), (ep, ev, n, t))
SHIM_LAZY(int, epoll_pwait, (int ep, struct epoll_event *ev, int n, int t, const sigset_t *m),
	  (ep, ev, n, t, m))

/* fcntl and ioctl take one optional argument (an int or a pointer): the
 * shim always passes one, and a pointer-sized va_arg carries either. */
static int shim_lazy_fcntl(int fd, int cmd, ...)
{
	va_list ap;

	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	shim_resolve();
	return shim_real.fcntl(fd, cmd, arg);
}

static int shim_lazy_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;

	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	shim_resolve();
	return shim_real.ioctl(fd, req, arg);
}

#define SHIM_LAZY_INIT(name) .name = shim_lazy_##name

struct shim_libc shim_real = {
	SHIM_LAZY_INIT(socket),	       SHIM_LAZY_INIT(bind),	      SHIM_LAZY_INIT(listen),
	SHIM_LAZY_INIT(accept),	       SHIM_LAZY_INIT(accept4),	      SHIM_LAZY_INIT(connect),
	SHIM_LAZY_INIT(read),	       SHIM_LAZY_INIT(write),	      SHIM_LAZY_INIT(readv),
	SHIM_LAZY_INIT(writev),	       SHIM_LAZY_INIT(recv),	      SHIM_LAZY_INIT(send),
	SHIM_LAZY_INIT(recvfrom),      SHIM_LAZY_INIT(sendto),	      SHIM_LAZY_INIT(recvmsg),
	SHIM_LAZY_INIT(sendmsg),       SHIM_LAZY_INIT(close),	      SHIM_LAZY_INIT(shutdown),
	SHIM_LAZY_INIT(getsockname),   SHIM_LAZY_INIT(getpeername),   SHIM_LAZY_INIT(getsockopt),
	SHIM_LAZY_INIT(setsockopt),    SHIM_LAZY_INIT(fcntl),	      SHIM_LAZY_INIT(ioctl),
	SHIM_LAZY_INIT(dup),	       SHIM_LAZY_INIT(dup2),	      SHIM_LAZY_INIT(dup3),
	SHIM_LAZY_INIT(poll),	       SHIM_LAZY_INIT(ppoll),	      SHIM_LAZY_INIT(select),
	SHIM_LAZY_INIT(pselect),       SHIM_LAZY_INIT(epoll_create),  SHIM_LAZY_INIT(epoll_create1),
	SHIM_LAZY_INIT(epoll_ctl),     SHIM_LAZY_INIT(epoll_wait),    SHIM_LAZY_INIT(epoll_pwait),
};

/* Look one symbol up; a pointer is only ever replaced by the real entry
 * point (atomically: a concurrent first call may read it meanwhile). */
#define SHIM_RESOLVE(name)                                                     \
	do {                                                                   \
		void *p_ = dlsym(RTLD_NEXT, #name);                            \
		if (p_)                                                        \
			__atomic_store_n((void **)&shim_real.name, p_,         \
					 __ATOMIC_RELEASE);                    \
		else                                                           \
			missing = #name;                                       \
	} while (0)

static void shim_resolve(void)
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

/* The pid this image's memory belongs to: set in the constructor and by
 * the fork child handler.  A vfork child (or posix_spawn's clone(CLONE_VM)
 * child) runs in our memory with another pid and no fork handler, so a
 * mismatch means "not your tables" (vfork(2)), unless kcmp says the
 * memory is not shared. */
static pid_t shim_pid;

static void shim_after_fork_child(void)
{
	__atomic_store_n(&shim_pid, getpid(), __ATOMIC_RELEASE);
	shim_map_after_fork();
	shim_accq_after_fork();
	shim_sig_after_fork();
}

pid_t shim_self_pid(void)
{
	pid_t p = __atomic_load_n(&shim_pid, __ATOMIC_ACQUIRE);

	if (p == 0) { /* a call before the constructor */
		p = getpid();
		__atomic_store_n(&shim_pid, p, __ATOMIC_RELEASE);
	}
	return p;
}

bool shim_in_vfork_child(void)
{
	pid_t me = getpid(), owner = shim_self_pid();

	if (me == owner)
		return false;
	/* A child the fork handler did not see (_Fork, a raw clone without
	 * CLONE_VM) has memory of its own: kcmp(2) KCMP_VM tells them apart
	 * from a vfork child; the memory becomes ours.  When kcmp cannot
	 * answer, stay on the safe side (hands off). */
	long r = syscall(SYS_kcmp, me, owner, KCMP_VM, 0, 0);
	if (r == 1 || r == 2 || (r < 0 && errno == ESRCH)) {
		__atomic_store_n(&shim_pid, me, __ATOMIC_RELEASE);
		return false;
	}
	return true;
}

/* glibc passes constructors argc, argv and envp. */
__attribute__((constructor)) static void shim_init(int argc, char **argv, char **envp)
{
	(void)argc, (void)argv;
	shim_resolve();
	shim_self_pid();
	shim_ipc_init(envp);
	pthread_atfork(NULL, NULL, shim_after_fork_child);
}
