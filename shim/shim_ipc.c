/* shim_ipc.c - owns the shim's side of shim/ipc.h: the control connection
 * (opened at the first socket(), again in a child after fork), IPC_SOCKET,
 * mapping a socket's memfd, request/reply on a socket channel, readiness
 * from the shared header, wake-up waits and doorbells.  What comes from
 * ustackd is checked too: sizes, lengths, indices. */
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim.h"

#define SHIM_DEFAULT_SOCKET "/run/ustack/ustackd.sock"
#define SHIM_WAIT_SLICE_MS 1000 /* re-check at least this often (lost wake-up insurance) */
#define SHIM_QUICK_MS 20 /* a blocking call's futex stretch (shim_wait_quick) */
#define SHIM_WAIT_SHARED_MS 5    /* ... and this often while others wait on the same fd */

static pthread_mutex_t shim_ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static int shim_ctl_fd = -1;
static pid_t shim_ctl_pid;
static uint32_t shim_ctl_seq;
static int shim_warned;
/* Who ustackd is (for adoption, see ipc.h): SO_PEERCRED of the control
 * connection and the pid its IPC_HELLO reply gives (they differ when
 * ustackd detached after it started listening).  Under shim_ctl_lock. */
static pid_t shim_dmn_pid_cred, shim_dmn_pid_hello;
static uid_t shim_dmn_uid;
static bool shim_dmn_known;

bool shim_ipc_is_ctl(int fd)
{
	return fd >= 0 && __atomic_load_n(&shim_ctl_fd, __ATOMIC_ACQUIRE) == fd;
}

/* $USTACK_SOCKET as the program started (read in the constructor): a
 * program may clear its environment before it forks workers that accept
 * (nginx does), and they need the path for every accepted connection. */
static char shim_sock_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

void shim_ipc_init(char **envp)
{
	static const char key[] = "USTACK_SOCKET=";
	const char *p = NULL;

	/* The constructor runs before libc's own (-z initfirst): environ may
	 * not be set yet, the loader's envp is. */
	if (!envp)
		p = getenv("USTACK_SOCKET");
	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, sizeof key - 1) == 0)
			p = *envp + sizeof key - 1;
	if (!p || !*p)
		p = SHIM_DEFAULT_SOCKET;
	/* Too long a path stays too long (ENAMETOOLONG at connect). */
	snprintf(shim_sock_path, sizeof shim_sock_path, "%s", p);
}

static const char *shim_socket_path(void)
{
	if (!shim_sock_path[0]) /* a call before the constructor */
		shim_ipc_init(NULL);
	return shim_sock_path;
}

bool shim_ipc_is_ctl_path(const struct sockaddr_un *sa, socklen_t len)
{
	const char *path = shim_socket_path();
	size_t n = strlen(path);

	return len > offsetof(struct sockaddr_un, sun_path) + n && n < sizeof sa->sun_path &&
	       memcmp(sa->sun_path, path, n) == 0 && sa->sun_path[n] == '\0';
}

/* Send a record (status: 0 in a request, but see TCP_CORK in ipc.h) on a
 * blocking-or-not fd. */
static int shim_send_rec_st(int fd, uint16_t type, uint16_t flags, uint32_t seq, int32_t status,
			    const struct iovec *pl, int npl)
{
	struct ipc_msg h = { .magic = IPC_MAGIC, .type = type, .flags = flags, .seq = seq,
			     .status = status, .owner = (uint32_t)shim_self_pid() };
	struct iovec iov[8];
	int n = 0;

	iov[n++] = (struct iovec){ &h, sizeof h };
	for (int i = 0; i < npl && n < 8; i++) {
		iov[n++] = pl[i];
		h.len += (uint32_t)pl[i].iov_len;
	}
	if (npl > 7 || h.len > IPC_MAX_PAYLOAD)
		return -EMSGSIZE;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	for (;;) {
		ssize_t r = shim_real.sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (r >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd p = { fd, POLLOUT, 0 };
			shim_real.poll(&p, 1, 100);
			continue;
		}
		return errno == EPIPE || errno == ECONNREFUSED ? -ECONNRESET : -errno;
	}
}

static int shim_send_rec_flags(int fd, uint16_t type, uint16_t flags, uint32_t seq,
			       const struct iovec *pl, int npl)
{
	return shim_send_rec_st(fd, type, flags, seq, 0, pl, npl);
}

static int shim_send_rec(int fd, uint16_t type, uint32_t seq, const struct iovec *pl, int npl)
{
	return shim_send_rec_flags(fd, type, 0, seq, pl, npl);
}

int shim_send_noreply(int fd, struct shim_sock *s, uint16_t type, const void *req, uint32_t len,
		      int32_t status)
{
	struct iovec rq = { (void *)req, len };
	int r;

	if (__atomic_load_n(&s->dead, __ATOMIC_ACQUIRE))
		return -ECONNRESET;
	pthread_mutex_lock(&s->req_lock);
	r = shim_send_rec_st(fd, type, IPC_F_NOREPLY, ++s->seq, status, &rq, 1);
	pthread_mutex_unlock(&s->req_lock);
	if (r == -ECONNRESET)
		shim_mark_dead(s);
	return r;
}

int shim_cmsg_fds(struct msghdr *mh, int got[2])
{
	int n = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
				if (n < 2)
					got[n++] = f;
				else
					shim_real.close(f);
			}
		}
	return n;
}

/* Whose is the record at the head of the channel (ipc.h, "Replies to
 * their owner")?  1: take it (ours, a wake-up, a reply of a process that
 * is gone, or garbage); 0: another live process's reply, leave it;
 * -EAGAIN: nothing queued; -ECONNRESET: ustackd is gone. */
static int shim_head_mine(int fd, uint16_t *type)
{
	struct ipc_msg h;
	ssize_t r;

	*type = 0;
	do
		r = shim_real.recv(fd, &h, sizeof h, MSG_PEEK | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN
		       : errno == ECONNRESET			 ? -ECONNRESET
								 : -errno;
	if (r == 0)
		return -ECONNRESET;
	if ((size_t)r == sizeof h && h.magic == IPC_MAGIC)
		*type = h.type;
	if ((size_t)r < sizeof h || h.magic != IPC_MAGIC || !(h.flags & IPC_F_REPLY) ||
	    h.owner == 0 || h.owner == (uint32_t)shim_self_pid())
		return 1;
	if (kill((pid_t)h.owner, 0) < 0 && errno == ESRCH)
		return 1; /* its owner died: nobody else will take it */
	return 0;
}

/* The channel lock (ipc.h chan_lock): a peek and the receive of the
 * record peeked, as one step for every process sharing the socket. */
static void shim_chan_take(struct shim_sock *s)
{
	if (s)
		while (shim_lock_take(&s->shm->chan_lock, false, 0) == -EINTR)
			;
}

static void shim_chan_give(struct shim_sock *s)
{
	if (s)
		shim_lock_give(&s->shm->chan_lock);
}

/* Another process's reply is at the head: let it take it. */
static void shim_head_wait(void)
{
	struct timespec ts = { 0, 200000 }; /* 200 µs */

	nanosleep(&ts, NULL);
}

/* Receive records until the reply of `type` arrives (IPC_WAKE and stray
 * replies of ours are skipped; other processes' replies are left for
 * them).  The payload goes to rep[]. */
static int shim_recv_reply(int fd, uint16_t type, const struct iovec *rep, int nrep,
			   size_t *rep_len, int *fds)
{
	struct shim_sock *cs = shim_fd_peek(fd); /* NULL: control, or IPC_ATTACH */

	for (;;) {
		uint16_t head_type;

		shim_chan_take(cs);
		int mine = shim_head_mine(fd, &head_type);

		if (mine == 1 && head_type == IPC_PUSH) {
			/* A connection pushed ahead of accept(): kept for it. */
			int t = shim_accq_take(fd, cs);
			shim_chan_give(cs);
			if (t < 0)
				return t;
			continue;
		}
		if (mine == -EAGAIN) {
			shim_chan_give(cs);
			struct pollfd p = { fd, POLLIN, 0 };
			if (shim_real.poll(&p, 1, -1) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (mine == -ECONNRESET) {
			shim_chan_give(cs);
			return -ECONNRESET;
		}
		if (mine == 0) {
			shim_chan_give(cs);
			shim_head_wait();
			continue;
		}
		struct ipc_msg h;
		struct iovec iov[8];
		union {
			char buf[CMSG_SPACE(2 * sizeof(int))];
			struct cmsghdr align;
		} u;
		int n = 0;

		iov[n++] = (struct iovec){ &h, sizeof h };
		for (int i = 0; i < nrep && n < 8; i++)
			iov[n++] = rep[i];
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n,
				     .msg_control = u.buf, .msg_controllen = sizeof u.buf };
		ssize_t r = shim_real.recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		int e = errno;
		shim_chan_give(cs);
		if (r < 0) {
			if (e == EINTR || e == EAGAIN || e == EWOULDBLOCK)
				continue; /* another process took the head first */
			return e == ECONNRESET ? -ECONNRESET : -e;
		}
		if (r == 0)
			return -ECONNRESET; /* ustackd is gone */
		/* Close any fds that came with a record that is not ours. */
		int got[2] = { -1, -1 }, ngot = shim_cmsg_fds(&mh, got);
		bool ok = (size_t)r >= sizeof h && h.magic == IPC_MAGIC &&
			  (h.flags & IPC_F_REPLY) && h.type == type && h.len == (size_t)r - sizeof h &&
			  !(mh.msg_flags & MSG_TRUNC);
		if (!ok || !fds) {
			for (int i = 0; i < ngot; i++)
				shim_real.close(got[i]);
		}
		if (!ok)
			continue; /* IPC_WAKE, or a reply another process asked for */
		if (fds) {
			fds[0] = got[0];
			fds[1] = got[1];
		}
		if (rep_len)
			*rep_len = h.len;
		return h.status;
	}
}

/* The control connection of this process (a child after fork opens its
 * own).  Called with shim_ctl_lock held. */
static int shim_ctl_get(void)
{
	pid_t me = getpid();
	const char *path = shim_socket_path();
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (shim_ctl_fd >= 0 && shim_ctl_pid == me)
		return shim_ctl_fd;
	/* A vfork child must not replace its parent's connection. */
	if (shim_in_vfork_child())
		return -ENOTSUP;
	if (shim_ctl_fd >= 0) { /* inherited from the parent: its connection, not ours */
		shim_fd_disown(shim_ctl_fd);
		shim_real.close(shim_ctl_fd);
	}
	shim_ctl_fd = -1;
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = shim_real.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (shim_real.connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		r = -errno;
		shim_real.close(fd);
		if (!__atomic_exchange_n(&shim_warned, 1, __ATOMIC_ACQ_REL))
			fprintf(stderr, "libustack: cannot reach ustackd at %s: %s\n", path,
				strerror(-r));
		return r;
	}
	struct ipc_hello he = { .version = IPC_VERSION, .pid = (uint32_t)me };
	struct iovec req = { &he, sizeof he };
	struct ipc_hello rep;
	struct iovec repv = { &rep, sizeof rep };
	size_t len = 0;
	r = shim_send_rec(fd, IPC_HELLO, ++shim_ctl_seq, &req, 1);
	if (r == 0)
		r = shim_recv_reply(fd, IPC_HELLO, &repv, 1, &len, NULL);
	if (r == 0 && (len != sizeof rep || rep.version != IPC_VERSION))
		r = -EPROTO;
	if (r < 0) {
		shim_real.close(fd);
		if (!__atomic_exchange_n(&shim_warned, 1, __ATOMIC_ACQ_REL))
			fprintf(stderr, "libustack: ustackd at %s refused the session: %s\n", path,
				strerror(-r));
		return r == -ECONNRESET ? -ECONNREFUSED : r;
	}
	struct ucred uc;
	socklen_t ul = sizeof uc;
	if (shim_real.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0 && ul == sizeof uc) {
		shim_dmn_pid_cred = uc.pid;
		shim_dmn_pid_hello = (pid_t)rep.pid;
		shim_dmn_uid = uc.uid;
		shim_dmn_known = true;
	} else {
		shim_dmn_known = false;
	}
	shim_ctl_pid = me;
	shim_fd_own(fd, &shim_ctl_fd);
	__atomic_store_n(&shim_ctl_fd, fd, __ATOMIC_RELEASE);
	return fd;
}

/* A socket made ahead for this thread's next channel (shim_chan_prepare),
 * and whether it is close-on-exec. */
static __thread int shim_spare = -1;
static __thread int shim_spare_cloexec;

int shim_chan_prepare(int flags)
{
	if (shim_spare >= 0 && shim_spare_cloexec == (flags & SOCK_CLOEXEC))
		return 0;
	shim_chan_unprepare();
	int fd = shim_real.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | (flags & SOCK_CLOEXEC),
				  0);
	if (fd < 0)
		return -errno;
	shim_spare = fd;
	shim_spare_cloexec = flags & SOCK_CLOEXEC;
	return 0;
}

void shim_chan_unprepare(void)
{
	if (shim_spare >= 0)
		shim_real.close(shim_spare);
	shim_spare = -1;
}

/* The channel of an accepted connection (ipc.h, "Channels of accepted
 * connections"): a new connection to the control socket whose first
 * record names the socket and carries its token.  Close-on-exec and
 * non-blocking as `flags` (SOCK_CLOEXEC, SOCK_NONBLOCK) say.  The fd or
 * -errno. */
int shim_chan_open(const struct ipc_sockinfo *si, int flags)
{
	bool nonblock = flags & SOCK_NONBLOCK;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = shim_socket_path();
	int fd, r, tries = 0;

	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	if (shim_spare >= 0 && shim_spare_cloexec == (flags & SOCK_CLOEXEC)) {
		fd = shim_spare; /* made before the record was taken */
		shim_spare = -1;
	} else {
		fd = shim_real.socket(AF_UNIX,
				      SOCK_SEQPACKET | SOCK_NONBLOCK | (flags & SOCK_CLOEXEC), 0);
		if (fd < 0)
			return -errno;
	}
	/* Non-blocking: a full backlog answers EAGAIN at once (ustackd
	 * drains it every round); give it a moment, a bounded number of
	 * times, rather than block where accept() must not. */
	while ((r = shim_real.connect(fd, (struct sockaddr *)&sa, sizeof sa)) < 0 &&
	       (errno == EINTR || (errno == EAGAIN && ++tries <= 2000))) {
		if (errno == EAGAIN) {
			struct timespec ts = { 0, 1000000 }; /* 1 ms */
			nanosleep(&ts, NULL);
		}
	}
	if (r < 0) {
		r = errno == ECONNREFUSED || errno == ENOENT || errno == EAGAIN ? -ECONNABORTED
										: -errno;
		shim_real.close(fd);
		return r;
	}
	struct ipc_chan ch = { .sock_id = si->sock_id, .token = si->chan_token };
	struct iovec rq = { &ch, sizeof ch };
	r = shim_send_rec(fd, IPC_CHAN, 0, &rq, 1);
	if (r == 0 && !nonblock && shim_real.fcntl(fd, F_SETFL, O_RDWR) < 0)
		r = -errno;
	if (r < 0) {
		shim_real.close(fd);
		return r == -ECONNRESET ? -ECONNABORTED : r;
	}
	return fd;
}

/* ---- mapping cache (ipc.h, "Pooled shared memory") ---------------------- */

#define SHIM_MAP_CACHE 32
struct shim_map_ent {
	dev_t dev;
	ino_t ino;
	uint32_t id;
	void *p;
	size_t len;
};
static struct shim_map_ent shim_mc[SHIM_MAP_CACHE];
static unsigned shim_mc_n;
static int shim_mc_lock; /* a spin lock: held for a few loads and stores */

static void shim_mc_take_lock(void)
{
	while (__atomic_exchange_n(&shim_mc_lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void shim_mc_drop_lock(void) { __atomic_store_n(&shim_mc_lock, 0, __ATOMIC_RELEASE); }

void shim_map_after_fork(void) { __atomic_store_n(&shim_mc_lock, 0, __ATOMIC_RELEASE); }

/* The cached mapping of this memfd, removed from the cache, or NULL.
 * any_dev: the memfd itself did not come (IPC_SI_CACHED); memfds all live
 * on one internal mount, and a cached mapping keeps its inode alive. */
static void *shim_map_lookup(dev_t *dev, ino_t ino, uint32_t id, size_t len, bool any_dev)
{
	void *p = NULL;

	shim_mc_take_lock();
	for (unsigned i = 0; i < shim_mc_n; i++) {
		if ((any_dev || shim_mc[i].dev == *dev) && shim_mc[i].ino == ino &&
		    shim_mc[i].id == id && shim_mc[i].len == len) {
			p = shim_mc[i].p;
			*dev = shim_mc[i].dev;
			shim_mc[i] = shim_mc[--shim_mc_n];
			break;
		}
	}
	shim_mc_drop_lock();
	if (p) /* in use again: not a cached mapping for ustackd's hint */
		__atomic_store_n(&((struct ipc_shm *)p)->cached_by, 0, __ATOMIC_RELAXED);
	return p;
}

void shim_map_release(struct shim_sock *s)
{
	struct shim_map_ent old = { 0, 0, 0, NULL, 0 };

	if (!s->pooled || (!shim_not_vfork && shim_in_vfork_child())) {
		munmap(s->shm, s->map_len);
		return;
	}
	shim_mc_take_lock();
	if (shim_mc_n == SHIM_MAP_CACHE) { /* the oldest goes */
		old = shim_mc[0];
		memmove(&shim_mc[0], &shim_mc[1], sizeof shim_mc[0] * (SHIM_MAP_CACHE - 1));
		shim_mc_n--;
	}
	shim_mc[shim_mc_n++] =
		(struct shim_map_ent){ s->shm_dev, s->shm_ino, s->shm_id, s->shm, s->map_len };
	/* Tell ustackd it need not send this memfd to us again (ipc.h). */
	__atomic_store_n(&s->shm->cached_by, (uint32_t)shim_self_pid(), __ATOMIC_RELAXED);
	shim_mc_drop_lock();
	if (old.p) {
		__atomic_store_n(&((struct ipc_shm *)old.p)->cached_by, 0, __ATOMIC_RELAXED);
		munmap(old.p, old.len);
	}
}

struct shim_sock *shim_sock_from(int type, const struct ipc_sockinfo *si, int memfd, int *err)
{
	struct shim_sock *s;
	struct stat st;
	size_t need = IPC_SHM_HDR;
	void *p = NULL;

	*err = -EPROTO;
	if (type == SOCK_STREAM) {
		uint32_t rx = si->rx_size, tx = si->tx_size;
		if (rx < IPC_RING_MIN || rx > IPC_RING_MAX || (rx & (rx - 1)) ||
		    tx < IPC_RING_MIN || tx > IPC_RING_MAX || (tx & (tx - 1)))
			goto fail;
		need += (size_t)rx + tx;
	}
	bool cached = memfd < 0;
	if (cached) {
		/* IPC_SI_CACHED: our own mapping, or ENOENT (ask for the memfd). */
		*err = -ENOENT;
		if (type != SOCK_STREAM || (si->flags & (IPC_SI_POOLED | IPC_SI_CACHED)) !=
						   (IPC_SI_POOLED | IPC_SI_CACHED))
			return NULL;
		st.st_dev = 0;
		st.st_ino = (ino_t)si->shm_ino;
		p = shim_map_lookup(&st.st_dev, st.st_ino, si->shm_id, need, true);
		if (!p)
			return NULL;
	} else if (fstat(memfd, &st) < 0 || (size_t)st.st_size < need) {
		goto fail;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		*err = -ENOMEM;
		if (cached) {
			munmap(p, need);
			return NULL;
		}
		goto fail;
	}
	if (type == SOCK_STREAM && (si->flags & IPC_SI_POOLED)) {
		s->pooled = true;
		s->shm_dev = st.st_dev;
		s->shm_ino = st.st_ino;
		s->shm_id = si->shm_id;
		if (!p)
			p = shim_map_lookup(&st.st_dev, st.st_ino, si->shm_id, need, false);
	}
	if (!p)
		p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED) {
		*err = -errno;
		free(s);
		goto fail;
	}
	if (!cached)
		shim_real.close(memfd);
	static uint64_t shim_gen;
	s->type = type;
	s->id = si->sock_id;
	s->gen = __atomic_add_fetch(&shim_gen, 1, __ATOMIC_RELAXED);
	s->shm = p;
	s->map_len = need;
	if (type == SOCK_STREAM) {
		s->rx_size = si->rx_size;
		s->tx_size = si->tx_size;
		s->rx = (uint8_t *)p + IPC_SHM_HDR;
		s->tx = s->rx + s->rx_size;
	}
	pthread_mutex_init(&s->req_lock, NULL);
	pthread_mutex_init(&s->rx_lock, NULL);
	pthread_mutex_init(&s->tx_lock, NULL);
	*err = 0;
	return s;
fail:
	shim_real.close(memfd);
	return NULL;
}

int shim_ipc_socket(int type, int flags)
{
	struct ipc_socket req = { .type = type == SOCK_STREAM ? 1 : 2 };
	struct ipc_sockinfo si;
	struct iovec reqv = { &req, sizeof req }, repv = { &si, sizeof si };
	size_t len = 0;
	int fds[2] = { -1, -1 }, r, fd;

	pthread_mutex_lock(&shim_ctl_lock);
	fd = shim_ctl_get();
	if (fd < 0) {
		pthread_mutex_unlock(&shim_ctl_lock);
		return fd;
	}
	r = shim_send_rec_flags(fd, IPC_SOCKET, flags & SOCK_NONBLOCK ? IPC_F_NONBLOCK : 0,
				++shim_ctl_seq, &reqv, 1);
	if (r == 0)
		r = shim_recv_reply(fd, IPC_SOCKET, &repv, 1, &len, fds);
	if (r == -ECONNRESET) { /* ustackd restarted or dropped us: reconnect next time */
		shim_real.close(fd);
		shim_ctl_fd = -1;
		r = -ECONNREFUSED;
	}
	pthread_mutex_unlock(&shim_ctl_lock);
	if (r < 0)
		goto fail;
	if (len != sizeof si || fds[0] < 0 || fds[1] < 0) {
		r = -EPROTO;
		goto fail;
	}
	struct shim_sock *s = shim_sock_from(type, &si, fds[1], &r);
	fds[1] = -1;
	if (!s)
		goto fail;
	if (!(flags & SOCK_CLOEXEC))
		shim_real.fcntl(fds[0], F_SETFD, 0);
	if (flags & SOCK_NONBLOCK) {
		if (!(si.flags & IPC_SI_NONBLOCK))
			shim_real.fcntl(fds[0], F_SETFL, O_NONBLOCK | O_RDWR);
		s->nonblock = 1;
	}
	shim_fd_set(fds[0], s);
	return fds[0];
fail:
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			shim_real.close(fds[i]);
	return r;
}

bool shim_ipc_is_daemon(pid_t pid, uid_t uid)
{
	bool yes = false;

	if (pid <= 0)
		return false;
	pthread_mutex_lock(&shim_ctl_lock);
	if (shim_dmn_known || shim_ctl_get() >= 0)
		yes = shim_dmn_known && uid == shim_dmn_uid &&
		      (pid == shim_dmn_pid_cred || pid == shim_dmn_pid_hello);
	pthread_mutex_unlock(&shim_ctl_lock);
	return yes;
}

struct shim_sock *shim_ipc_attach(int fd, int *err)
{
	struct ipc_attach at;
	struct iovec repv = { &at, sizeof at };
	size_t len = 0;
	int fds[2] = { -1, -1 }, r;

	r = shim_send_rec(fd, IPC_ATTACH, 1, NULL, 0);
	if (r == 0)
		r = shim_recv_reply(fd, IPC_ATTACH, &repv, 1, &len, fds);
	if (fds[1] >= 0)
		shim_real.close(fds[1]);
	if (r == 0 && (len != sizeof at || fds[0] < 0 || (at.si.type != 1 && at.si.type != 2)))
		r = -EPROTO;
	if (r < 0) {
		if (fds[0] >= 0)
			shim_real.close(fds[0]);
		*err = r;
		shim_accq_adopt(fd, NULL); /* pushes met meanwhile go */
		return NULL;
	}
	int type = at.si.type == 1 ? SOCK_STREAM : SOCK_DGRAM;
	struct shim_sock *s = shim_sock_from(type, &at.si, fds[0], err);
	if (!s) {
		shim_accq_adopt(fd, NULL);
		return NULL;
	}
	s->listening = at.flags & IPC_ATT_LISTENING;
	s->connected = at.flags & IPC_ATT_CONNECTED;
	s->connecting = at.flags & IPC_ATT_CONNECTING;
	s->shut_rd = at.flags & IPC_ATT_SHUT_RD;
	s->shut_wr = at.flags & IPC_ATT_SHUT_WR;
	int fl = shim_real.fcntl(fd, F_GETFL, 0);
	s->nonblock = fl >= 0 && (fl & O_NONBLOCK);
	return s;
}

int shim_req_flags(int fd, struct shim_sock *s, uint16_t type, uint16_t flags,
		   const struct iovec *req, int nreq, const struct iovec *rep, int nrep,
		   size_t *rep_len, int *fds)
{
	int r;

	if (__atomic_load_n(&s->dead, __ATOMIC_ACQUIRE))
		return -ECONNRESET;
	pthread_mutex_lock(&s->req_lock);
	uint32_t seq = ++s->seq;
	r = shim_send_rec_flags(fd, type, flags, seq, req, nreq);
	if (r == 0)
		r = shim_recv_reply(fd, type, rep, nrep, rep_len, fds);
	pthread_mutex_unlock(&s->req_lock);
	if (r == -ECONNRESET && type != IPC_SOERROR)
		shim_mark_dead(s);
	return r;
}

int shim_ipc_fetch_memfd(int fd)
{
	int fds[2] = { -1, -1 };
	size_t len = 0;
	int r = shim_send_rec(fd, IPC_MEMFD, 1, NULL, 0);

	if (r == 0)
		r = shim_recv_reply(fd, IPC_MEMFD, NULL, 0, &len, fds);
	if (fds[1] >= 0)
		shim_real.close(fds[1]);
	if (r >= 0 && (len != 0 || fds[0] < 0))
		r = -EPROTO;
	if (r < 0) {
		if (fds[0] >= 0)
			shim_real.close(fds[0]);
		return r;
	}
	return fds[0];
}

int shim_req(int fd, struct shim_sock *s, uint16_t type, const struct iovec *req, int nreq,
	     const struct iovec *rep, int nrep, size_t *rep_len, int *fds)
{
	return shim_req_flags(fd, s, type, 0, req, nreq, rep, nrep, rep_len, fds);
}

int shim_req_simple(int fd, struct shim_sock *s, uint16_t type, const void *req, uint32_t len,
		    void *rep, size_t rep_cap)
{
	struct iovec rq = { (void *)req, len }, rp = { rep, rep_cap };
	size_t got = 0;
	int r = shim_req(fd, s, type, &rq, len ? 1 : 0, &rp, rep ? 1 : 0, &got, NULL);

	if (r >= 0 && rep && got != rep_cap)
		return -EPROTO;
	return r;
}

/* ---- readiness and waiting ---------------------------------------------- */

unsigned shim_ready(struct shim_sock *s)
{
	struct ipc_shm *sh = s->shm;
	unsigned ev = __atomic_load_n(&sh->events, __ATOMIC_ACQUIRE);
	unsigned r = 0;

	if (__atomic_load_n(&s->dead, __ATOMIC_ACQUIRE))
		return POLLIN | POLLOUT | POLLERR | POLLHUP;
	if (s->listening) {
		/* Connections pushed down the channel and not yet taken, kept
		 * by this process, or still in the stack's queue (ipc.h). */
		if (__atomic_load_n(&sh->acc_pushed, __ATOMIC_ACQUIRE) !=
			    __atomic_load_n(&sh->acc_taken, __ATOMIC_ACQUIRE) ||
		    shim_accq_has(s))
			ev |= POLLIN;
		return ev & (POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP);
	}
	if (s->type != SOCK_STREAM)
		return ev & (POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP);
	uint32_t state = __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE);
	uint32_t rx_head = __atomic_load_n(&sh->rx_head, __ATOMIC_ACQUIRE);
	uint32_t rx_tail = __atomic_load_n(&sh->rx_tail, __ATOMIC_RELAXED);
	uint32_t tx_tail = __atomic_load_n(&sh->tx_tail, __ATOMIC_ACQUIRE);
	uint32_t tx_head = __atomic_load_n(&sh->tx_head, __ATOMIC_RELAXED);
	uint32_t avail = rx_head - rx_tail, used = tx_head - tx_tail;

	uint32_t tx_size = shim_tx_ring(s);

	if (avail > s->rx_size || !tx_size || used > tx_size)
		return POLLIN | POLLOUT | POLLERR; /* corrupted: calls fail with EIO */
	/* Readable from SO_RCVLOWAT bytes on, as tcp_poll (at least 1). */
	uint32_t lowat = (uint32_t)shim_rcvlowat(s);
	if ((avail && avail >= lowat) || (ev & (POLLRDHUP | POLLHUP | POLLERR)) || s->shut_rd)
		r |= POLLIN;
	/* 4 = ESTABLISHED, 7 = CLOSE_WAIT (enum us_tcp_state) */
	if ((state == 4 || state == 7) && !s->shut_wr) {
		uint32_t space = tx_size - used;
		if (space && space >= used / 2)
			r |= POLLOUT;
	} else if (ev & POLLOUT) {
		r |= POLLOUT;
	}
	return r | (ev & (POLLERR | POLLHUP | POLLRDHUP));
}

void shim_mark_dead(struct shim_sock *s)
{
	static int said;

	if (__atomic_exchange_n(&s->dead, true, __ATOMIC_ACQ_REL))
		return;
	if (!__atomic_exchange_n(&said, 1, __ATOMIC_ACQ_REL))
		fprintf(stderr, "libustack: lost ustackd at %s (socket channel closed)\n",
			shim_socket_path());
}

void shim_want(struct shim_sock *s, unsigned bits)
{
	__atomic_fetch_or(&s->shm->want, bits, __ATOMIC_SEQ_CST);
}

int shim_accq_pull(int fd, struct shim_sock *l)
{
	uint16_t type;
	int r;

	pthread_mutex_lock(&l->req_lock);
	shim_chan_take(l);
	r = shim_head_mine(fd, &type);
	if (r == 1)
		r = type == IPC_PUSH ? shim_accq_take(fd, l) : 0;
	else if (r == -EAGAIN || r == 0)
		r = 0;
	shim_chan_give(l);
	pthread_mutex_unlock(&l->req_lock);
	if (r == -ECONNRESET)
		shim_mark_dead(l);
	return r;
}

bool shim_drain(int fd, struct shim_sock *s)
{
	struct ipc_msg h;
	uint16_t type;
	int mine;

	/* The number no longer names this socket (another thread closed it,
	 * maybe opened something else there): never read from it. */
	if (shim_fd_peek(fd) != s)
		return false;
	if (pthread_mutex_trylock(&s->req_lock) != 0)
		return false; /* a request is in flight: it skips the wake-ups itself */
	/* One record per call (a peek and a read): usually one IPC_WAKE is
	 * queued, and the callers poll again anyway, so a last peek to see
	 * EAGAIN would only add a system call to every wake-up. */
	shim_chan_take(s);
	mine = shim_head_mine(fd, &type);
	if (mine == 1 && type == IPC_PUSH) {
		/* A pushed connection is kept for accept(), never dropped. */
		int t = shim_accq_take(fd, s);
		if (t < 0)
			mine = t;
	} else if (mine == 1) {
		ssize_t r = shim_real.recv(fd, &h, sizeof h, MSG_DONTWAIT | MSG_TRUNC);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			mine = -ECONNRESET;
	}
	shim_chan_give(s);
	if (mine == 0) {
		sched_yield(); /* another process's reply: it wakes now too */
	}
	if (mine == -ECONNRESET)
		shim_mark_dead(s);
	pthread_mutex_unlock(&s->req_lock);
	return mine == 1;
}

int shim_wait(int fd, struct shim_sock *s, int timeout_ms)
{
	return shim_wait_for(fd, s, 0, timeout_ms);
}

/* A wait interrupted by a signal handler: as the kernel would a blocking
 * socket call (signal(7)), restarted (0: look again) when every handler
 * that ran had SA_RESTART and the socket has no timeout for this call
 * (timeout_ms < 0), else -EINTR. */
static int shim_sig_eintr(struct shim_sig_mark m, int timeout_ms)
{
	return timeout_ms < 0 && shim_sig_restart(m) ? 0 : -EINTR;
}

int shim_wait_for(int fd, struct shim_sock *s, unsigned bits, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	/* Closed by another thread while we waited: the number may name
	 * another file by now (Linux's waiter holds the file; ours holds
	 * only the number), so end the wait rather than touch it. */
	if (shim_fd_peek(fd) != s)
		return -EBADF;
	/* A wake-up left by an earlier wait is taken now, before sleeping:
	 * taking it right after the poll put two system calls between every
	 * wake-up and the data (request/response latency), while here they
	 * overlap the wait.  The record taken may be the wake-up for what
	 * the caller waits for, so readiness is checked again before the
	 * poll (with `bits`, here; else by the caller, which comes back and
	 * costs one more look at the channel). */
	if (shim_drain(fd, s) && (!bits || (shim_ready(s) & (bits | POLLERR | POLLHUP))))
		return 0;
	/* Others blocked on this fd too: the wake-up we drain may be theirs
	 * and theirs ours, so re-check often (ipc.h, `waiters`). */
	int most = __atomic_add_fetch(&s->shm->waiters, 1, __ATOMIC_SEQ_CST) > 1
			   ? SHIM_WAIT_SHARED_MS
			   : SHIM_WAIT_SLICE_MS;
	int slice = timeout_ms < 0 || timeout_ms > most ? most : timeout_ms;
	struct shim_sig_mark m = shim_sig_mark();
	int r = shim_real.poll(&p, 1, slice);

	__atomic_sub_fetch(&s->shm->waiters, 1, __ATOMIC_SEQ_CST);

	if (r < 0)
		return errno != EINTR ? -errno : shim_sig_eintr(m, timeout_ms);
	if (r == 0)
		return timeout_ms >= 0 && slice == timeout_ms ? -ETIMEDOUT : 0;
	if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
		shim_mark_dead(s);
		return -ECONNRESET;
	}
	return 0; /* the record is taken by the next wait, if any */
}

/* The first stretch of a blocking wait: sleep on the header's futex word
 * (ipc.h "Readiness") rather than on the channel.  ustackd wakes it with one
 * FUTEX_WAKE instead of an IPC_WAKE record that the program would then have
 * to peek at and take (three system calls less per wake-up, and none of
 * AF_UNIX's queueing).  A futex does not see ustackd die, so the stretch is
 * short: after SHIM_QUICK_MS the caller waits on the channel as before,
 * where a hang-up is seen at once.  0: look again; -ETIMEDOUT: the stretch
 * (or timeout_ms, if shorter) is over; -EINTR. */
int shim_wait_quick(struct shim_sock *s, unsigned bits, int timeout_ms)
{
	struct ipc_shm *sh = s->shm;
	/* The word before the bits: a bump after this load fails the wait. */
	uint32_t seq = __atomic_load_n(&sh->fseq, __ATOMIC_ACQUIRE);

	__atomic_fetch_or(&sh->fwant, bits, __ATOMIC_SEQ_CST);
	if (shim_ready(s) & (bits | POLLERR | POLLHUP))
		return 0;
	int ms = timeout_ms < 0 || timeout_ms > SHIM_QUICK_MS ? SHIM_QUICK_MS : timeout_ms;
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	struct shim_sig_mark m = shim_sig_mark();
	if (syscall(SYS_futex, &sh->fseq, FUTEX_WAIT, seq, &ts, NULL, 0) == 0 || errno == EAGAIN)
		return 0;
	return errno == EINTR ? shim_sig_eintr(m, timeout_ms) : errno == ETIMEDOUT ? -ETIMEDOUT : 0;
}

void shim_doorbell(int fd, struct shim_sock *s, bool rx)
{
	uint32_t *flag = rx ? &s->shm->want_rx_doorbell : &s->shm->want_doorbell;

	if (!__atomic_load_n(flag, __ATOMIC_SEQ_CST))
		return;
	if (!__atomic_exchange_n(flag, 0u, __ATOMIC_SEQ_CST))
		return;
	struct ipc_msg h = { .magic = IPC_MAGIC, .type = IPC_DOORBELL };
	/* Never blocks.  If it cannot go, the request stays asked for, so
	 * the next ring move rings again (and ustackd, draining its full
	 * queue, syncs anyway). */
	if (shim_real.send(fd, &h, sizeof h, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EAGAIN)
		__atomic_store_n(flag, 1u, __ATOMIC_SEQ_CST);
}
