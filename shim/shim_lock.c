/* shim_lock.c - owns the shared ring locks (ipc_shm tx_lock/rx_lock, see
 * ipc.h): one sender and one receiver at a time per socket across every
 * process and thread that holds it (fork, exec, SCM_RIGHTS).  A futex word
 * in shared memory (futex(2), not FUTEX_PRIVATE: the memfd is mapped by
 * several processes): 0 free, else the holder's pid, with IPC_LOCK_WAITERS
 * set when someone sleeps (Drepper, "Futexes Are Tricky", mutex #3).
 * Waiting is interruptible (EINTR as a blocking send/recv), honours the
 * caller's deadline, and takes the lock over from a holder whose process
 * has exited (pidfd_open(2): ESRCH, or the pidfd readable).  Uncontended,
 * take and give are one atomic operation each, no system call. */
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define SHIM_LOCK_SLICE_MS 200 /* how often a waiter checks the holder is alive */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static long shim_futex(uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

/* Has process pid exited?  Unknown answers count as alive. */
static bool shim_pid_gone(pid_t pid)
{
	if (pid <= 0)
		return true; /* not a holder's value: garbage in shared memory */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return errno == ESRCH;
	struct pollfd p = { pfd, POLLIN, 0 };
	int r = shim_real.poll(&p, 1, 0);
	shim_real.close(pfd);
	return r == 1; /* readable: exited (a zombie too) */
}

int shim_lock_take(uint32_t *w, bool nonblock, uint64_t deadline_ms)
{
	uint32_t me = (uint32_t)shim_self_pid() & ~IPC_LOCK_WAITERS;
	uint32_t c = 0;

	if (__atomic_compare_exchange_n(w, &c, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 0;
	if (nonblock)
		return -EAGAIN;
	for (;;) {
		if (c == 0) {
			/* Others may sleep: keep the flag so give() wakes one. */
			if (__atomic_compare_exchange_n(w, &c, me | IPC_LOCK_WAITERS, false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return 0;
			continue;
		}
		if (!(c & IPC_LOCK_WAITERS)) {
			if (!__atomic_compare_exchange_n(w, &c, c | IPC_LOCK_WAITERS, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				continue;
			c |= IPC_LOCK_WAITERS;
		}
		int ms = SHIM_LOCK_SLICE_MS;
		if (deadline_ms) {
			uint64_t now = shim_now_ms();
			if (now >= deadline_ms)
				return -EAGAIN;
			if (deadline_ms - now < (uint64_t)ms)
				ms = (int)(deadline_ms - now);
		}
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
		struct shim_sig_mark m = shim_sig_mark();
		if (shim_futex(w, FUTEX_WAIT, c, &ts) < 0) {
			/* Restarted as the blocking call would be (shim_sig.c). */
			if (errno == EINTR && (deadline_ms || !shim_sig_restart(m)))
				return -EINTR;
			if (errno == ETIMEDOUT && shim_pid_gone((pid_t)(c & ~IPC_LOCK_WAITERS))) {
				/* The holder died inside its call: its half-copied
				 * bytes were never published; take over. */
				uint32_t expect = c;
				__atomic_compare_exchange_n(w, &expect, 0, false, __ATOMIC_RELAXED,
							    __ATOMIC_RELAXED);
			}
		}
		c = __atomic_load_n(w, __ATOMIC_RELAXED);
	}
}

void shim_lock_give(uint32_t *w)
{
	if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) & IPC_LOCK_WAITERS)
		shim_futex(w, FUTEX_WAKE, 1, NULL);
}
