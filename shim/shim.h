/* shim.h - libustack.so internals shared by the shim_*.c files: the real
 * libc entry points (resolved once in the constructor), the per-fd table,
 * the socket object (shared by every fd that dups it), the control
 * connection and the request/wait helpers.  Functions return 0/positive or
 * a negative errno; only the interposed entry points set errno. */
#ifndef SHIM_H
#define SHIM_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "ipc.h"

#define SHIM_VIS __attribute__((visibility("default")))

/* The libc functions we call through (never our own wrappers). */
struct shim_libc {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*close)(int);
	int (*shutdown)(int, int);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	int (*epoll_create)(int);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
};
extern struct shim_libc shim_real;

/* One ustack socket, shared by every fd that refers to it (dup, fork). */
struct shim_sock {
	int refs; /* fd table entries (atomic) */
	int type; /* SOCK_STREAM or SOCK_DGRAM */
	uint32_t id;
	uint64_t gen; /* this process's number for the object: a new socket
		       * may get a freed one's address, never its gen */
	struct ipc_shm *shm;
	uint8_t *rx, *tx;
	uint32_t rx_size, tx_size; /* the mapped rings (private: never read back
				    * from shm); the rings in use may be smaller
				    * (ipc.h rx_ring_size, tx_ring_size) */
	size_t map_len;
	bool pooled;      /* IPC_SI_POOLED: keep the mapping after close */
	dev_t shm_dev;    /* the memfd's identity, for the mapping cache */
	ino_t shm_ino;
	uint32_t shm_id;  /* ustackd's number for it (ipc.h) */
	pthread_mutex_t req_lock, rx_lock, tx_lock;
	uint32_t seq;
	int nonblock;  /* O_NONBLOCK of the open file (atomic) */
	bool listening, connected, connecting, shut_rd, shut_wr, dead;
	bool reuseport;
	bool nospace;      /* a send found the ring full (atomic; EPOLLET OUT) */
};

/* SO_RCVTIMEO / SO_SNDTIMEO in ms, -1 for none; SO_RCVLOWAT, 0 for
 * unset: socket-wide, in the shared header (ipc.h). */
static inline int shim_rcvtimeo(const struct shim_sock *s)
{
	int v = __atomic_load_n(&s->shm->rcvtimeo_ms, __ATOMIC_RELAXED);
	return v > 0 ? v : -1;
}

static inline int shim_sndtimeo(const struct shim_sock *s)
{
	int v = __atomic_load_n(&s->shm->sndtimeo_ms, __ATOMIC_RELAXED);
	return v > 0 ? v : -1;
}

static inline int shim_rcvlowat(const struct shim_sock *s)
{
	int v = __atomic_load_n(&s->shm->rcvlowat, __ATOMIC_RELAXED);
	return v > 0 ? v : 0;
}

/* The send ring's size now (ipc.h "Send auto-tuning"): loaded once per
 * use, 0 when the header holds an impossible one (the program scribbled
 * on it; its calls then fail with EIO). */
static inline uint32_t shim_tx_ring(const struct shim_sock *s)
{
	uint32_t size = __atomic_load_n(&s->shm->tx_ring_size, __ATOMIC_ACQUIRE);

	if (size < IPC_RING_MIN || size > s->tx_size || (size & (size - 1)))
		return 0;
	return size;
}

/* An epoll fd: the ustack members (the kernel knows the others), see
 * shim_epoll.c. */
struct shim_ep_ent {
	int fd;
	struct shim_sock *s;
	uint64_t gen; /* s->gen when added: s's address alone may be reused */
	uint32_t events;
	epoll_data_t data;
	uint32_t last; /* readiness last reported (EPOLLET) */
	uint32_t last_rx, last_tx;
	bool cand;     /* in the candidate list */
};
struct shim_ep {
	pthread_mutex_t lock;
	struct shim_ep_ent *ent;
	int n, cap;
	int ifd;        /* inner kernel epoll: the members' channels and the
			 * program's epoll fd (-1: no member yet) */
	int *slot;      /* fd -> index in ent + 1 (0: not a member) */
	int nslot;
	int *cand;      /* fds to look at in the next wait */
	int ncand, candcap;
	uint64_t rescan_at; /* ms: the next look at every member */
};
/* epoll_data of the program's epoll fd in the inner epoll. */
#define SHIM_EP_MARK 0x75737461636b6570ull /* "ustackep" */

/* ---- shim_fd.c: fd -> object tables ---- */
/* The socket at fd.  An fd number never seen before is probed once
 * (shim_adopt_probe): a ustack socket this image has no record of is
 * adopted, anything else is remembered as a kernel fd. */
struct shim_sock *shim_fd_sock(int fd);
/* The same without probing (NULL for unknown fds). */
struct shim_sock *shim_fd_peek(int fd);
/* Remember fd as a kernel fd (if it is still unprobed). */
void shim_fd_mark_kernel(int fd);
/* Install an adopted socket (refs 0) at an unprobed fd; s is consumed
 * (installed, or freed).  Returns the socket now there (another thread's
 * may have won), or NULL. */
struct shim_sock *shim_fd_adopted(int fd, struct shim_sock *s);
/* Forget fds first..last (close_range/closefrom). */
void shim_fd_clear_range(unsigned first, unsigned last);
/* Install s at fd (takes a reference); releases what was there. */
void shim_fd_set(int fd, struct shim_sock *s);
/* Forget fd (after the real close/dup2 overwrite); drops the reference. */
void shim_fd_clear(int fd);
void shim_sock_ref(struct shim_sock *s);
void shim_sock_unref(struct shim_sock *s);
struct shim_ep *shim_fd_ep(int fd, bool create);
void shim_fd_ep_clear(int fd);
/* Numbers the shim keeps for itself (the control connection, inner
 * epolls): the program's close() of one fails with EBADF, close_range and
 * closefrom pass over them, and a dup2/dup3 onto one first moves ours
 * (shim_fd_evict; `where` is updated). */
void shim_fd_own(int fd, int *where);
void shim_fd_disown(int fd);
bool shim_fd_owned(int fd);
int shim_fd_evict(int fd);
int shim_fd_owned_from(unsigned first, unsigned last);

/* ---- shim_ipc.c: control connection, requests, waits ---- */
/* A new socket from ustackd: returns the program's fd or negative errno. */
int shim_ipc_socket(int type, int flags);
/* The last reference to s's mapping is gone: unmap it, or keep it in a
 * small cache when ustackd may send the same memfd again (pooled). */
void shim_map_release(struct shim_sock *s);
/* In a fork child: the cache's lock may have been held by another thread. */
void shim_map_after_fork(void);
/* Map a received memfd and build the object; closes memfd.  memfd -1
 * (IPC_SI_CACHED): the mapping comes from the cache, or NULL with -ENOENT. */
struct shim_sock *shim_sock_from(int type, const struct ipc_sockinfo *si, int memfd, int *err);
/* IPC_MEMFD on a freshly accepted socket's channel: its memfd or -errno. */
int shim_ipc_fetch_memfd(int fd);
/* The first two fds of a received record's SCM_RIGHTS into got[] (the
 * rest are closed); their number. */
int shim_cmsg_fds(struct msghdr *mh, int got[2]);
/* accept(): make the next channel's socket before a record is taken off
 * the listener (0, or -EMFILE and the like: the connection stays queued,
 * as with Linux); what is left unused goes with shim_chan_unprepare. */
int shim_chan_prepare(int flags);
void shim_chan_unprepare(void);
/* The channel of an accepted connection (ipc.h): the new fd or -errno. */
int shim_chan_open(const struct ipc_sockinfo *si, int flags);
/* ipc_sockinfo.flags bits the shim sets for itself (never on the wire):
 * how it opened the channel of an accepted connection. */
#define SHIM_SI_NONBLOCK IPC_SI_NONBLOCK
#define SHIM_SI_CLOEXEC 0x40000000u
/* Note $USTACK_SOCKET from the constructor's envp (NULL: getenv). */
void shim_ipc_init(char **envp);
/* Is this (getpeername) address ustackd's control socket? */
bool shim_ipc_is_ctl_path(const struct sockaddr_un *sa, socklen_t len);
/* shim_accq.c: connections taken off a listener's channel ahead of
 * accept().  take: the IPC_PUSH at the head of fd (1 kept, 0 unusable,
 * -errno); pop: the oldest kept for l (fds[1] -1 with IPC_SI_CACHED). */
int shim_accq_take(int fd, struct shim_sock *l);
bool shim_accq_pop(struct shim_sock *l, struct ipc_sockinfo *si, int fds[2]);
bool shim_accq_has(const struct shim_sock *l);
void shim_accq_after_fork(void);
void shim_accq_drop(struct shim_sock *l);
void shim_accq_adopt(int chan, struct shim_sock *s);
/* Take the IPC_PUSH at the head of listener l's channel, if one is there. */
int shim_accq_pull(int fd, struct shim_sock *l);
/* One request on a socket channel.  req/rep are the payload; rep_len gets
 * the reply payload length; fds (2) receive SCM_RIGHTS when non-NULL.
 * Returns the reply status (>= 0) or a negative errno.  shim_req_flags
 * adds request flags (IPC_F_NONBLOCK). */
int shim_req_flags(int fd, struct shim_sock *s, uint16_t type, uint16_t flags,
		   const struct iovec *req, int nreq, const struct iovec *rep, int nrep,
		   size_t *rep_len, int *fds);
int shim_req(int fd, struct shim_sock *s, uint16_t type, const struct iovec *req, int nreq,
	     const struct iovec *rep, int nrep, size_t *rep_len, int *fds);
/* A request that wants no reply (IPC_F_NOREPLY, see ipc.h). */
int shim_send_noreply(int fd, struct shim_sock *s, uint16_t type, const void *req, uint32_t len,
		      int32_t status);
int shim_req_simple(int fd, struct shim_sock *s, uint16_t type, const void *req, uint32_t len,
		    void *rep, size_t rep_cap);
/* Readiness (poll bits) from the shared header and the rings. */
unsigned shim_ready(struct shim_sock *s);
/* Ask ustackd for a wake-up on `bits`; then the caller re-checks. */
void shim_want(struct shim_sock *s, unsigned bits);
/* Wait for a wake-up (the caller has set want and re-checked): poll the
 * real fd at most timeout_ms (-1 forever).  0, -EINTR, -ETIMEDOUT, or
 * -ECONNRESET when ustackd is gone. */
int shim_wait(int fd, struct shim_sock *s, int timeout_ms);
/* shim_wait for a caller that armed `bits` (shim_want) and saw them not
 * ready: after taking a leftover wake-up it checks them itself. */
int shim_wait_for(int fd, struct shim_sock *s, unsigned bits, int timeout_ms);
int shim_wait_quick(struct shim_sock *s, unsigned bits, int timeout_ms);

/* shim_sig.c: did the signals that interrupted a wait all ask for
 * SA_RESTART?  Mark before the wait, ask after its EINTR. */
struct shim_sig_mark {
	unsigned ran, intr;
};
struct shim_sig_mark shim_sig_mark(void);
bool shim_sig_restart(struct shim_sig_mark m);
void shim_sig_after_fork(void);
/* Discard one queued IPC_WAKE record (never a reply another process waits
 * for); true when one was taken. */
bool shim_drain(int fd, struct shim_sock *s);
/* The socket channel hung up: ustackd is gone (one stderr line per process). */
void shim_mark_dead(struct shim_sock *s);
/* Ring the doorbell if ustackd asked for it. */
void shim_doorbell(int fd, struct shim_sock *s, bool rx);
/* Is fd the control connection?  (never adopted as a socket) */
bool shim_ipc_is_ctl(int fd);

/* Is ucred the peer of a socket channel of our ustackd?  (May open the
 * control connection to learn who ustackd is.) */
bool shim_ipc_is_daemon(pid_t pid, uid_t uid);
/* IPC_ATTACH on an fd proven to be a socket channel: the socket object,
 * or NULL with *err set. */
struct shim_sock *shim_ipc_attach(int fd, int *err);

/* ---- shim_adopt.c ---- */
/* Probe an unprobed fd; adopt it when it is ours (see ipc.h). */
struct shim_sock *shim_adopt_probe(int fd);

/* ---- shim_lock.c: the shared ring locks (ipc.h) ---- */
/* Take *w: 0, -EAGAIN (nonblock, or deadline_ms passed; 0 = none), -EINTR. */
int shim_lock_take(uint32_t *w, bool nonblock, uint64_t deadline_ms);
void shim_lock_give(uint32_t *w);

/* ---- shim_init.c: process identity ---- */
/* This process's pid as of the constructor or the last fork (cached). */
pid_t shim_self_pid(void);
/* True in a child that shares our memory (vfork, clone(CLONE_VM)) until it
 * execs: it must not change the shim's tables, which are the parent's. */
bool shim_in_vfork_child(void);
extern _Thread_local unsigned shim_not_vfork; /* shim_fd.c */

/* ---- shim_sock.c helpers used elsewhere ---- */
int shim_sock_error(int fd, struct shim_sock *s);
uint64_t shim_now_ms(void);

/* ---- shim_io.c ---- */
ssize_t shim_stream_recv(int fd, struct shim_sock *s, const struct iovec *iov, int n, int flags);
ssize_t shim_stream_send(int fd, struct shim_sock *s, const struct iovec *iov, int n, int flags);
/* Fds received with SCM_RIGHTS on a kernel socket: unprobed again. */
void shim_forget_rights(const struct msghdr *mh);

/* _FORTIFY_SOURCE entry points (no public prototypes). */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       struct sockaddr *from, socklen_t *fromlen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
		size_t fdslen);

/* errno helper: r < 0 -> errno = -r, -1. */
static inline long shim_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

#endif
