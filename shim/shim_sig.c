/* shim_sig.c - owns the program's signal handlers as far as the shim needs
 * to know them: whether a signal that interrupted a blocking call on a
 * ustack socket had SA_RESTART.
 *
 * signal(7): a handler installed with SA_RESTART makes the kernel restart
 * an interrupted accept, connect, recv*, send*, read and write on a
 * socket, unless the socket has a timeout for that direction
 * (SO_RCVTIMEO/SO_SNDTIMEO): then they fail with EINTR, as they do without
 * SA_RESTART.  The shim's own waits (poll on the channel, a futex) are
 * never restarted with a handler, and EINTR does not say which signal ran.
 * So sigaction (and signal, bsd_signal, sysv_signal, siginterrupt, which
 * glibc builds on an internal sigaction) install shim_sig_tramp in front
 * of the program's handler: it counts, per thread, the handlers run and
 * those without SA_RESTART, then calls the program's handler with what the
 * kernel passed.  A wait that gets EINTR looks again instead of failing
 * when handlers ran since it began and all had SA_RESTART (shim_sig_restart).
 * The program sees its own handler and flags in every old action returned.
 * Not seen: handlers installed with sigset(3) or the rt_sigaction system
 * call directly; an EINTR after one of those fails the call (conservative:
 * what every EINTR did before). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "shim.h"

#define SHIM_TLS __attribute__((tls_model("initial-exec")))

/* Per thread: handlers run through the trampoline, and of those the ones
 * without SA_RESTART (written only by this thread's signal handlers). */
static _Thread_local volatile unsigned shim_sig_ran SHIM_TLS;
static _Thread_local volatile unsigned shim_sig_ran_intr SHIM_TLS;

/* The program's handler and flags per signal, while ours is installed. */
static void *shim_sig_fn[NSIG];
static int shim_sig_flags[NSIG];
/* Held while the table and the kernel's action change together.  Not a
 * mutex: sigaction is async-signal-safe, so a handler may call it; every
 * signal is blocked while the lock is held, so it never interrupts its own
 * thread's holder, and a child after fork starts with it free. */
static int shim_sig_busy;

static int (*shim_real_sigaction)(int, const struct sigaction *, struct sigaction *);

/* glibc exports these without declaring them (or only for old standards). */
int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t bsd_signal(int sig, sighandler_t h);

__attribute__((constructor)) static void shim_sig_init(void)
{
	if (!shim_real_sigaction)
		*(void **)&shim_real_sigaction = dlsym(RTLD_NEXT, "sigaction");
	if (!shim_real_sigaction) {
		fprintf(stderr, "libustack: cannot resolve libc symbol sigaction\n");
		abort();
	}
}

static void shim_sig_tramp(int sig, siginfo_t *si, void *uc)
{
	void *fn = __atomic_load_n(&shim_sig_fn[sig], __ATOMIC_ACQUIRE);
	int flags = __atomic_load_n(&shim_sig_flags[sig], __ATOMIC_RELAXED);

	shim_sig_ran = shim_sig_ran + 1;
	if (!(flags & SA_RESTART))
		shim_sig_ran_intr = shim_sig_ran_intr + 1;
	if (fn == (void *)SIG_IGN)
		return;
	if (fn == (void *)SIG_DFL || !fn) {
		/* Reset meanwhile (a race with sigaction): do what the
		 * default would, as far as a handler can. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		shim_real_sigaction(sig, &dfl, NULL);
		raise(sig);
		return;
	}
	if (flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))fn)(sig, si, uc);
	else
		((void (*)(int))fn)(sig);
}

static void shim_sig_enter(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
	while (__atomic_exchange_n(&shim_sig_busy, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void shim_sig_leave(const sigset_t *old)
{
	__atomic_store_n(&shim_sig_busy, 0, __ATOMIC_RELEASE);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

void shim_sig_after_fork(void)
{
	__atomic_store_n(&shim_sig_busy, 0, __ATOMIC_RELAXED);
}

struct shim_sig_mark shim_sig_mark(void)
{
	return (struct shim_sig_mark){ shim_sig_ran, shim_sig_ran_intr };
}

bool shim_sig_restart(struct shim_sig_mark m)
{
	/* Something ran, and everything that ran asked for restarts. */
	return shim_sig_ran != m.ran && shim_sig_ran_intr == m.intr;
}

static bool shim_sig_ours(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) && a->sa_sigaction == shim_sig_tramp;
}

static int shim_sig_set(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction k, prev;
	sigset_t mask;
	void *pfn;
	int pflags, r;

	if (!shim_real_sigaction)
		shim_sig_init();
	if (sig <= 0 || sig >= NSIG)
		return shim_real_sigaction(sig, act, old);
	shim_sig_enter(&mask);
	pfn = __atomic_load_n(&shim_sig_fn[sig], __ATOMIC_RELAXED);
	pflags = __atomic_load_n(&shim_sig_flags[sig], __ATOMIC_RELAXED);
	if (act && act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN && sig != SIGKILL &&
	    sig != SIGSTOP) {
		k = *act;
		/* The program's handler is called as it asked (flags kept,
		 * SA_RESTART included, for its kernel fds); ours takes
		 * siginfo so that it can pass it on. */
		void *fn = (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction
							: (void *)act->sa_handler;
		__atomic_store_n(&shim_sig_flags[sig], act->sa_flags, __ATOMIC_RELAXED);
		__atomic_store_n(&shim_sig_fn[sig], fn, __ATOMIC_RELEASE);
		k.sa_sigaction = shim_sig_tramp;
		k.sa_flags |= SA_SIGINFO;
		r = shim_real_sigaction(sig, &k, &prev);
		if (r < 0) {
			__atomic_store_n(&shim_sig_flags[sig], pflags, __ATOMIC_RELAXED);
			__atomic_store_n(&shim_sig_fn[sig], pfn, __ATOMIC_RELEASE);
		}
	} else {
		r = shim_real_sigaction(sig, act, &prev);
	}
	shim_sig_leave(&mask);
	if (r == 0 && old) {
		*old = prev;
		if (shim_sig_ours(&prev)) {
			/* The program's own action, as it set it. */
			old->sa_flags = pflags;
			if (pflags & SA_SIGINFO)
				old->sa_sigaction = (void (*)(int, siginfo_t *, void *))pfn;
			else
				old->sa_handler = (void (*)(int))pfn;
		}
	}
	return r;
}

SHIM_VIS int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return shim_sig_set(sig, act, old);
}

SHIM_VIS int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return shim_sig_set(sig, act, old);
}

/* signal(2) with glibc's BSD semantics: SA_RESTART, the signal blocked
 * while its handler runs; sysv_signal: reset on delivery, not blocked,
 * not restarted. */
static sighandler_t shim_sig_simple(int sig, sighandler_t h, int flags)
{
	struct sigaction a = { .sa_handler = h, .sa_flags = flags }, old;

	if (h == SIG_ERR || sig <= 0 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	sigemptyset(&a.sa_mask);
	if (!(flags & SA_NODEFER))
		sigaddset(&a.sa_mask, sig);
	if (shim_sig_set(sig, &a, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

SHIM_VIS sighandler_t signal(int sig, sighandler_t h)
{
	return shim_sig_simple(sig, h, SA_RESTART);
}

SHIM_VIS sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return shim_sig_simple(sig, h, SA_RESTART);
}

SHIM_VIS sighandler_t sysv_signal(int sig, sighandler_t h)
{
	return shim_sig_simple(sig, h, SA_RESETHAND | SA_NODEFER);
}

SHIM_VIS sighandler_t __sysv_signal(int sig, sighandler_t h)
{
	return shim_sig_simple(sig, h, SA_RESETHAND | SA_NODEFER);
}

SHIM_VIS int siginterrupt(int sig, int flag)
{
	struct sigaction a;

	if (shim_sig_set(sig, NULL, &a) < 0)
		return -1;
	if (flag)
		a.sa_flags &= ~SA_RESTART;
	else
		a.sa_flags |= SA_RESTART;
	return shim_sig_set(sig, &a, NULL);
}
