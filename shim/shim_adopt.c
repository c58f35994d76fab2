/* shim_adopt.c - owns adoption: a ustack socket fd that reaches this
 * process image without the shim having created it (inherited across
 * execve, received with SCM_RIGHTS, inherited by a posix_spawn child) is
 * recognised at the first interposed call on its number and attached
 * (IPC_ATTACH, see ipc.h).  Nothing is ever written to an fd before it is
 * proven to be a socket channel of our ustackd:
 *   1. SO_DOMAIN = AF_UNIX and SO_TYPE = SOCK_SEQPACKET (socket(7));
 *   2. its peer is unnamed, i.e. the other end of a socketpair (a
 *      socket() channel), or is ustackd's control socket (the channel of an
 *      accepted connection, ipc.h; getpeername on a connected AF_UNIX
 *      socket returns the peer's bound address, unix(7));
 *   3. SO_PEERCRED names the process that created the pair, or that
 *      listened on the control socket (unix(7)), and it must be ustackd
 *      (pid and uid as seen on the control connection).
 * The process's own control connection is never a candidate.
 * Every other fd is remembered as a kernel fd, so an ordinary file or pipe
 * costs one getsockopt per fd number, not one per call. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim.h"

static int shim_adopt_warned;

/* Steps 1-3 without the daemon check: the peer's credentials of an fd that
 * looks like a socket channel.  1 = candidate, 0 = kernel fd, -1 = fd not
 * open (nothing remembered). */
static int shim_adopt_candidate(int fd, struct ucred *uc)
{
	int v = 0;
	socklen_t l = sizeof v;

	if (shim_real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0)
		return errno == EBADF ? -1 : 0;
	if (v != AF_UNIX)
		return 0;
	l = sizeof v;
	if (shim_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != SOCK_SEQPACKET)
		return 0;
	struct sockaddr_un sa;
	socklen_t sl = sizeof sa;
	memset(&sa, 0, sizeof sa);
	if (shim_real.getpeername(fd, (struct sockaddr *)&sa, &sl) < 0 ||
	    (sl != sizeof(sa_family_t) && !shim_ipc_is_ctl_path(&sa, sl)) || shim_ipc_is_ctl(fd))
		return 0;
	l = sizeof *uc;
	if (shim_real.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, uc, &l) < 0 || l != sizeof *uc)
		return 0;
	/* A pair this process made itself is the program's own. */
	if (uc->pid <= 0 || uc->pid == getpid())
		return 0;
	return 1;
}

struct shim_sock *shim_adopt_probe(int fd)
{
	struct ucred uc;
	int err = 0;

	/* A vfork child looks, but remembers nothing in its parent's memory. */
	if (shim_in_vfork_child())
		return NULL;
	int c = shim_adopt_candidate(fd, &uc);
	if (c < 0)
		return NULL;
	if (c == 0 || !shim_ipc_is_daemon(uc.pid, uc.uid)) {
		shim_fd_mark_kernel(fd);
		return NULL;
	}
	struct shim_sock *s = shim_ipc_attach(fd, &err);
	if (!s) {
		if (!__atomic_exchange_n(&shim_adopt_warned, 1, __ATOMIC_ACQ_REL))
			fprintf(stderr, "libustack: cannot attach inherited socket fd %d: %s\n", fd,
				strerror(-err));
		shim_fd_mark_kernel(fd);
		return NULL;
	}
	/* Ours is the table's now, or another thread's won (ours is freed);
	 * connections pushed while the reply was awaited are the winner's. */
	struct shim_sock *w = shim_fd_adopted(fd, s);
	shim_accq_adopt(fd, w);
	return w;
}
