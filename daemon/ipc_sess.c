/* ipc_sess.c - owns the shim sessions: a program's control connection is
 * handed over by ctl.c after a valid IPC_HELLO (SO_PEERCRED from the
 * control socket), then carries IPC_SOCKET requests.  Also the record
 * helpers (ipc_recv/ipc_send with SCM_RIGHTS), the counters and the
 * daemon-wide teardown.  A session lives while its control connection is
 * open or any socket it created is. */
#include "ipc_sess.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc_sock.h"
#include "log.h"
#include "peercap.h"
#include "ustackd.h"

struct ipc *ipc_state;

static uint8_t ipc_sess_buf[sizeof(struct ipc_msg) + 64];

/* ---- records ------------------------------------------------------------- */

int ipc_recv(int fd, void *buf, size_t cap, struct ipc_msg **m, uint8_t **payload)
{
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	/* No control buffer: fds a program passes are closed by the kernel. */
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return errno == ECONNRESET ? -EPIPE : -errno;
	}
	if (n == 0)
		return -EPIPE; /* SEQPACKET: the peer closed (empty records are not ours) */
	if ((size_t)n > cap || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)n < sizeof(struct ipc_msg))
		return -EBADMSG;
	struct ipc_msg *h = buf;
	if (h->magic != IPC_MAGIC || (h->flags & IPC_F_REPLY) || h->len > IPC_MAX_PAYLOAD ||
	    h->len != (size_t)n - sizeof *h)
		return -EBADMSG;
	*m = h;
	*payload = (uint8_t *)buf + sizeof *h;
	return 1;
}

int ipc_send(int fd, uint16_t type, uint16_t flags, uint32_t seq, int32_t status,
	     const void *payload, uint32_t len, const int *fds, int nfds)
{
	return ipc_send_to(fd, 0, type, flags, seq, status, payload, len, fds, nfds);
}

int ipc_send_to(int fd, uint32_t owner, uint16_t type, uint16_t flags, uint32_t seq,
		int32_t status, const void *payload, uint32_t len, const int *fds, int nfds)
{
	struct ipc_msg h = { .magic = IPC_MAGIC, .type = type, .flags = flags, .seq = seq,
			     .status = status, .len = len, .owner = owner };
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)payload, len } };
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (nfds > 0) {
		memset(&u, 0, sizeof u);
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	do
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof h + len ? 0 : -EMSGSIZE;
}

/* ---- users --------------------------------------------------------------- */

static struct ipc_user *ipc_user_get(uid_t uid)
{
	struct ipc_user *u;

	LIST_FOREACH(u, &ipc_state->users, link)
		if (u->uid == uid)
			return u;
	u = calloc(1, sizeof *u);
	if (!u)
		return NULL;
	u->uid = uid;
	LIST_INSERT_HEAD(&ipc_state->users, u, link);
	return u;
}

static void ipc_user_put(struct ipc_user *u)
{
	if (u->nsess || u->nsocks)
		return;
	LIST_REMOVE(u, link);
	free(u);
}

bool ipc_sess_room(struct ipc_sess *ss)
{
	return ss->nsocks < IPC_SOCKS_PER_PROC &&
	       ss->user->nsocks < ipc_state->ud->args.user_sockets;
}

int ipc_sess_admit(struct ipc_sess *ss)
{
	if (ss->nsocks >= IPC_SOCKS_PER_PROC) {
		ipc_state->emfile++;
		return -EMFILE;
	}
	if (!ipc_sess_room(ss)) { /* the user's programs hold --user-sockets */
		ipc_state->user_socks_refused++;
		return -ENOBUFS;
	}
	return 0;
}

void ipc_sess_hold(struct ipc_sess *ss)
{
	ss->nsocks++;
	ss->user->nsocks++;
}

/* ---- sessions ---------------------------------------------------------------- */

static void ipc_sess_maybe_free(struct ipc_sess *ss)
{
	if (ss->src.fd >= 0 || ss->nsocks)
		return;
	LIST_REMOVE(ss, link);
	ipc_state->nsess--;
	ipc_state->sess_closed++;
	ss->user->nsess--;
	ipc_user_put(ss->user);
	free(ss);
}

static void ipc_sess_close(struct ipc_sess *ss, const char *bad)
{
	static struct log_limit lim;

	if (bad) {
		ipc_state->sess_dropped++;
		ipc_state->bad_msgs++;
		log_limited(&lim, LOG_WARNING, "ipc: control connection of pid %ld dropped: %s",
			    (long)ss->pid, bad);
	} else {
		log_verbose("ipc: pid %ld closed its control connection", (long)ss->pid);
	}
	if (ss->src.fd >= 0) {
		loop_del(&ipc_state->ud->loop, &ss->src);
		close(ss->src.fd);
		ss->src.fd = -1;
	}
	ipc_sess_maybe_free(ss);
}

void ipc_sess_put(struct ipc_sess *ss)
{
	ss->nsocks--;
	ss->user->nsocks--;
	ipc_sess_maybe_free(ss);
}

static int ipc_sess_socket(struct ipc_sess *ss, const struct ipc_msg *m, const uint8_t *pl)
{
	struct ipc_socket req;
	struct ipc_sockinfo si;
	struct ipc_sock *is;
	enum us_sock_type type;
	int pfd, mfd, r;

	if (m->len != sizeof req)
		return -EBADMSG;
	memcpy(&req, pl, sizeof req);
	if (req.type != 1 && req.type != 2)
		return ipc_send(ss->src.fd, IPC_SOCKET, IPC_F_REPLY, m->seq, -EPROTONOSUPPORT,
				NULL, 0, NULL, 0);
	type = req.type == 1 ? US_SOCK_STREAM : US_SOCK_DGRAM;
	bool nb = m->flags & IPC_F_NONBLOCK;
	r = ipc_sock_new(ss, type, NULL, NULL, nb, &is, &pfd, &mfd);
	if (r < 0) {
		log_verbose("ipc: socket for pid %ld failed: %s", (long)ss->pid, strerror(-r));
		return ipc_send(ss->src.fd, IPC_SOCKET, IPC_F_REPLY, m->seq, r, NULL, 0, NULL, 0);
	}
	memset(&si, 0, sizeof si);
	si.sock_id = is->id;
	si.type = req.type;
	si.rx_size = is->rx_size;
	si.tx_size = is->tx_size;
	si.flags = nb ? IPC_SI_NONBLOCK : 0;
	int fds[2] = { pfd, mfd };
	r = ipc_send(ss->src.fd, IPC_SOCKET, IPC_F_REPLY, m->seq, 0, &si, sizeof si, fds, 2);
	close(pfd); /* mfd stays with is (IPC_ATTACH) */
	if (r < 0) {
		ipc_sock_destroy(is);
		return r;
	}
	log_verbose("ipc: pid %ld socket %u (%s)", (long)ss->pid, si.sock_id,
		    type == US_SOCK_STREAM ? "tcp" : "udp");
	return 0;
}

static void ipc_sess_on_ctl(struct loop_source *src, uint32_t events, uint64_t now)
{
	struct ipc_sess *ss = (struct ipc_sess *)(void *)src;

	(void)now;
	for (int i = 0; i < 16; i++) {
		struct ipc_msg *m;
		uint8_t *pl;
		int r = ipc_recv(src->fd, ipc_sess_buf, sizeof ipc_sess_buf, &m, &pl);

		if (r == 0)
			break;
		if (r == -EPIPE) {
			ipc_sess_close(ss, NULL);
			return;
		}
		if (r < 0) {
			ipc_sess_close(ss, "malformed message");
			return;
		}
		ipc_state->requests++;
		if (m->type == IPC_SOCKET)
			r = ipc_sess_socket(ss, m, pl);
		else if (m->type == IPC_HELLO)
			r = -EBADMSG; /* only once, first */
		else
			r = ipc_send(src->fd, m->type, IPC_F_REPLY, m->seq, -EOPNOTSUPP, NULL, 0,
				     NULL, 0);
		if (r < 0) {
			ipc_sess_close(ss, r == -EBADMSG ? "malformed request" : "reply not taken");
			return;
		}
	}
	if ((events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) && !(events & EPOLLIN))
		ipc_sess_close(ss, NULL);
}

/* ctl.c's binary hook: the first message of a connection must be HELLO
 * (a session) or IPC_CHAN (the channel of an accepted connection). */
static bool ipc_on_hello(struct ctl *c, struct ctl_client *cl, const uint8_t *msg, size_t len,
			 uint64_t now)
{
	struct ipc *ip = ipc_state;
	struct ipc_msg h;
	struct ipc_hello he;
	struct ipc_sess *ss;
	pid_t pid;
	uid_t uid;

	if (len >= sizeof h) {
		memcpy(&h, msg, sizeof h);
		if (h.magic == IPC_MAGIC && h.type == IPC_CHAN) {
			ipc_sock_chan(ctl_client_take(c, cl, &pid, &uid), msg, len, now);
			return true;
		}
	}
	if (len != sizeof h + sizeof he) {
		ip->bad_msgs++;
		return false;
	}
	memcpy(&h, msg, sizeof h);
	memcpy(&he, msg + sizeof h, sizeof he);
	if (h.magic != IPC_MAGIC || h.type != IPC_HELLO || h.flags || h.len != sizeof he) {
		ip->bad_msgs++;
		return false;
	}
	if (ip->nsess >= IPC_MAX_SESSIONS) {
		static struct log_limit lim;
		log_limited(&lim, LOG_WARNING, "ipc: too many sessions; refusing a client");
		return false;
	}
	struct ipc_user *u = ipc_user_get(ctl_client_uid(cl));
	if (!u)
		return false;
	if (u->nsess >= ip->ud->args.user_sessions) {
		/* Answered, so that the program's socket() says why (ENOBUFS). */
		static struct log_limit lim;
		int fd = ctl_client_take(c, cl, &pid, &uid);

		ip->user_sess_refused++;
		log_limited(&lim, LOG_WARNING,
			    "ipc: user %lu has %u programs on the stack (--user-sessions); refusing pid %ld",
			    (unsigned long)uid, u->nsess, (long)pid);
		ipc_send(fd, IPC_HELLO, IPC_F_REPLY, h.seq, -ENOBUFS, NULL, 0, NULL, 0);
		close(fd);
		ipc_user_put(u);
		return true;
	}
	ss = calloc(1, sizeof *ss);
	if (!ss) {
		ipc_user_put(u);
		return false;
	}
	ss->src.fd = ctl_client_take(c, cl, &pid, &uid);
	ss->src.fn = ipc_sess_on_ctl;
	ss->user = u;
	u->nsess++;
	ss->pid = pid;
	ss->uid = uid;
	/* While the peer waits for our HELLO reply on this connection. */
	ss->net_bind = peercap_net_bind(ss->src.fd, pid, uid);
	LIST_INSERT_HEAD(&ip->sessions, ss, link);
	ip->nsess++;
	ip->sess_opened++;
	if (he.version != IPC_VERSION) {
		static struct log_limit lim;
		log_limited(&lim, LOG_WARNING, "ipc: pid %ld speaks protocol version %u, not %u",
			    (long)pid, he.version, IPC_VERSION);
		ipc_send(ss->src.fd, IPC_HELLO, IPC_F_REPLY, h.seq, -EPROTONOSUPPORT, NULL, 0,
			 NULL, 0);
		ipc_sess_close(ss, "protocol version");
		return true;
	}
	struct ipc_hello rep = { .version = IPC_VERSION, .pid = (uint32_t)getpid() };
	if (loop_add(&ip->ud->loop, &ss->src, EPOLLIN | EPOLLRDHUP) < 0 ||
	    ipc_send(ss->src.fd, IPC_HELLO, IPC_F_REPLY, h.seq, 0, &rep, sizeof rep, NULL, 0) < 0) {
		ipc_sess_close(ss, "cannot answer HELLO");
		return true;
	}
	log_verbose("ipc: session for uid %ld pid %ld (claims pid %u)", (long)uid, (long)pid,
		    he.pid);
	return true;
}

/* ---- module ------------------------------------------------------------------ */

int ipc_init(struct ud *ud)
{
	ipc_state = calloc(1, sizeof *ipc_state);
	if (!ipc_state)
		return -ENOMEM;
	ipc_state->ud = ud;
	LIST_INIT(&ipc_state->sessions);
	LIST_INIT(&ipc_state->socks);
	LIST_INIT(&ipc_state->wakeq);
	LIST_INIT(&ipc_state->pushq);
	LIST_INIT(&ipc_state->awaitq);
	ud->ctl.binary = ipc_on_hello;
	ud->ctl.chan = ipc_sock_chan;
	return 0;
}

void ipc_fini(void)
{
	struct ipc *ip = ipc_state;

	if (!ip)
		return;
	while (!LIST_EMPTY(&ip->socks))
		ipc_sock_destroy(LIST_FIRST(&ip->socks));
	while (!LIST_EMPTY(&ip->sessions))
		ipc_sess_close(LIST_FIRST(&ip->sessions), NULL);
	ip->ud->ctl.binary = NULL;
	ip->ud->ctl.chan = NULL;
	free(ip);
	ipc_state = NULL;
}

void ipc_report_users(report_line_fn fn, void *ctx)
{
	const struct ipc *ip = ipc_state;
	const struct ipc_user *u;
	char line[96];

	if (!ip)
		return;
	snprintf(line, sizeof line, "uid sessions sockets (limits %u %u)",
		 ip->ud->args.user_sessions, ip->ud->args.user_sockets);
	fn(ctx, line);
	LIST_FOREACH(u, &ip->users, link) {
		snprintf(line, sizeof line, "%lu %u %u", (unsigned long)u->uid, u->nsess, u->nsocks);
		fn(ctx, line);
	}
}

void ipc_report(report_line_fn fn, void *ctx)
{
	const struct ipc *ip = ipc_state;
	char line[64];

	if (!ip)
		return;
#define IPC_LINE(name, v)                                                              \
	do {                                                                           \
		snprintf(line, sizeof line, "ipc_%s %llu", name, (unsigned long long)(v)); \
		fn(ctx, line);                                                         \
	} while (0)
	IPC_LINE("sessions", ip->nsess);
	IPC_LINE("sockets", ip->nsocks);
	IPC_LINE("lingering", ip->nlinger);
	IPC_LINE("sess_opened", ip->sess_opened);
	IPC_LINE("sess_closed", ip->sess_closed);
	IPC_LINE("sess_dropped", ip->sess_dropped);
	IPC_LINE("socks_opened", ip->socks_opened);
	IPC_LINE("socks_closed", ip->socks_closed);
	IPC_LINE("socks_dropped", ip->socks_dropped);
	IPC_LINE("socks_lingered", ip->socks_lingered);
	IPC_LINE("bad_msgs", ip->bad_msgs);
	IPC_LINE("requests", ip->requests);
	IPC_LINE("doorbells", ip->doorbells);
	IPC_LINE("doorbells_ahead", ip->lookahead);
	IPC_LINE("wakes", ip->wakes);
	IPC_LINE("futex_wakes", ip->fwakes);
	IPC_LINE("eacces", ip->eacces);
	IPC_LINE("emfile", ip->emfile);
	IPC_LINE("drop_bad_rx_index", ip->bad_rx_index);
	IPC_LINE("drop_bad_tx_index", ip->bad_tx_index);
	IPC_LINE("pool_slots", ip->pool_slots);
	IPC_LINE("pool_reused", ip->pool_reused);
	IPC_LINE("pool_cached", ip->pool_cached);
	IPC_LINE("pool_fetched", ip->pool_fetched);
	IPC_LINE("pushes", ip->pushes);
	IPC_LINE("push_failed", ip->push_failed);
	IPC_LINE("tx_grown", ip->tx_grown);
	IPC_LINE("chan_waiting", ip->nawait);
	IPC_LINE("chan_bound", ip->chan_bound);
	IPC_LINE("chan_refused", ip->chan_refused);
	IPC_LINE("chan_orphaned", ip->chan_orphaned);
	IPC_LINE("chan_unaccepted", ip->chan_unaccepted);
	IPC_LINE("user_sess_refused", ip->user_sess_refused);
	IPC_LINE("user_socks_refused", ip->user_socks_refused);
#undef IPC_LINE
}
