/* ctl.c - owns the control socket: creation (directory, stale socket, mode
 * 0660 or --socket-mode, group --socket-group), nonblocking accept,
 * bounded reads, per-client timeouts, the text command table, and
 * replies split into messages of at most CTL_MSG_MAX.
 * Every client is hostile: anything unexpected drops it; nothing here ever
 * blocks the event loop. */
#include "ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "ipc_sess.h"
#include "log.h"
#include "report.h"
#include "ustackd.h"

#define CTL_MAX_CLIENTS 64
#define CTL_TIMEOUT_US (5u * 1000000u)   /* a text client's whole life */
#define CTL_PAUSE_US (100u * 1000u)      /* accept pause after EMFILE */
#define CTL_REPLY_MAX (1u << 20)         /* bytes of one reply */
#define CTL_ACCEPT_BATCH 16
#define CTL_ARGS_MAX 8

struct ctl_client {
	struct loop_source src;
	struct ctl *ctl;
	TAILQ_ENTRY(ctl_client) link;
	uint64_t deadline; /* 0 = none */
	pid_t pid;
	uid_t uid;
	bool replying;
	bool truncated;
	/* The reply: messages back to back in out[], msg_end[i] where each ends. */
	char *out;
	size_t out_len, out_cap;
	size_t *msg_end;
	size_t nmsg, msg_cap, next_msg, cur_start;
};

/* ---- clients ------------------------------------------------------------- */

/* Read and discard what a client sent and we did not take: closing a Unix
 * socket with unread messages resets the peer, which then loses our reply
 * (the kernel reports the error before queued data). */
static void ctl_discard_input(int fd)
{
	char b[64];

	for (int i = 0; i < 16; i++)
		if (recv(fd, b, sizeof b, MSG_DONTWAIT | MSG_TRUNC) <= 0)
			break;
}

static void ctl_client_free(struct ctl_client *cl, bool bad)
{
	struct ctl *c = cl->ctl;

	if (bad) {
		c->dropped++;
		log_verbose("control client pid %ld dropped", (long)cl->pid);
	}
	loop_del(c->loop, &cl->src);
	ctl_discard_input(cl->src.fd);
	close(cl->src.fd);
	TAILQ_REMOVE(&c->clients, cl, link);
	c->nclients--;
	free(cl->out);
	free(cl->msg_end);
	free(cl);
}

static int ctl_push_msg(struct ctl_client *cl)
{
	if (cl->out_len == cl->cur_start)
		return 0;
	if (cl->nmsg == cl->msg_cap) {
		size_t cap = cl->msg_cap ? cl->msg_cap * 2 : 8;
		size_t *p = reallocarray(cl->msg_end, cap, sizeof *p);
		if (!p)
			return -ENOMEM;
		cl->msg_end = p;
		cl->msg_cap = cap;
	}
	cl->msg_end[cl->nmsg++] = cl->out_len;
	cl->cur_start = cl->out_len;
	return 0;
}

/* Append one line (newline added) to the reply, starting a new message when
 * the current one would pass CTL_MSG_MAX. */
static void ctl_reply_line(void *ctx, const char *line)
{
	struct ctl_client *cl = ctx;
	size_t n = strnlen(line, CTL_MSG_MAX - 1);

	if (cl->truncated)
		return;
	if (cl->out_len + n + 1 > CTL_REPLY_MAX) {
		cl->truncated = true;
		return;
	}
	if (cl->out_len - cl->cur_start + n + 1 > CTL_MSG_MAX && ctl_push_msg(cl) < 0) {
		cl->truncated = true;
		return;
	}
	if (cl->out_len + n + 1 > cl->out_cap) {
		size_t cap = cl->out_cap ? cl->out_cap : 4096;
		while (cap < cl->out_len + n + 1)
			cap *= 2;
		char *p = realloc(cl->out, cap);
		if (!p) {
			cl->truncated = true;
			return;
		}
		cl->out = p;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, line, n);
	cl->out[cl->out_len + n] = '\n';
	cl->out_len += n + 1;
}

__attribute__((format(printf, 2, 3))) static void ctl_replyf(struct ctl_client *cl,
							    const char *fmt, ...)
{
	char line[CTL_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	ctl_reply_line(cl, line);
}

/* Send what the socket takes; wait for EPOLLOUT for the rest; close when
 * everything is out (the peer still reads what was queued). */
static void ctl_flush(struct ctl_client *cl)
{
	while (cl->next_msg < cl->nmsg) {
		size_t start = cl->next_msg ? cl->msg_end[cl->next_msg - 1] : 0;
		size_t len = cl->msg_end[cl->next_msg] - start;
		ssize_t n = send(cl->src.fd, cl->out + start, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (loop_mod(cl->ctl->loop, &cl->src, EPOLLOUT) < 0)
				ctl_client_free(cl, true);
			return;
		}
		if (n != (ssize_t)len) {
			ctl_client_free(cl, true);
			return;
		}
		cl->next_msg++;
	}
	ctl_client_free(cl, false);
}

/* Finish the reply and start sending it. */
static void ctl_reply_end(struct ctl_client *cl)
{
	if (cl->truncated) {
		cl->truncated = false;
		ctl_reply_line(cl, "error: reply truncated");
	}
	if (ctl_push_msg(cl) < 0) {
		ctl_client_free(cl, true);
		return;
	}
	cl->replying = true;
	ctl_flush(cl);
}

/* The binary protocol takes the connection over: out of the loop and the
 * client list; the caller owns the returned fd. */
uid_t ctl_client_uid(const struct ctl_client *cl)
{
	return cl->uid;
}

int ctl_client_take(struct ctl *c, struct ctl_client *cl, pid_t *pid, uid_t *uid)
{
	int fd = cl->src.fd;

	loop_del(c->loop, &cl->src);
	TAILQ_REMOVE(&c->clients, cl, link);
	c->nclients--;
	*pid = cl->pid;
	*uid = cl->uid;
	free(cl->out);
	free(cl->msg_end);
	free(cl);
	return fd;
}

/* ---- text commands ---------------------------------------------------- */

struct ctl_cmd {
	const char *name;
	const char *usage;
	int min_args, max_args;
	void (*fn)(struct ctl_client *cl, int argc, char **argv, uint64_t now);
};

static void ctl_cmd_counters(struct ctl_client *cl, int argc, char **argv, uint64_t now)
{
	(void)now;
	if (argc == 2 && strcmp(argv[1], "nonzero") != 0) {
		ctl_replyf(cl, "error: usage: counters [nonzero]");
		return;
	}
	report_counters(cl->ctl->ud, argc == 2, ctl_reply_line, cl);
}

static void ctl_cmd_neigh(struct ctl_client *cl, int argc, char **argv, uint64_t now)
{
	(void)argc, (void)argv;
	report_neigh(cl->ctl->ud, now, ctl_reply_line, cl);
}

static void ctl_cmd_sockets(struct ctl_client *cl, int argc, char **argv, uint64_t now)
{
	(void)argc, (void)argv, (void)now;
	report_sockets(cl->ctl->ud, ctl_reply_line, cl);
}

static void ctl_cmd_status(struct ctl_client *cl, int argc, char **argv, uint64_t now)
{
	(void)argc, (void)argv;
	report_status(cl->ctl->ud, now, ctl_reply_line, cl);
}

static void ctl_cmd_ipc(struct ctl_client *cl, int argc, char **argv, uint64_t now)
{
	(void)argc, (void)argv, (void)now;
	ipc_report(ctl_reply_line, cl);
}

static void ctl_cmd_users(struct ctl_client *cl, int argc, char **argv, uint64_t now)
{
	(void)argc, (void)argv, (void)now;
	ipc_report_users(ctl_reply_line, cl);
}

static void ctl_cmd_help(struct ctl_client *cl, int argc, char **argv, uint64_t now);

static const struct ctl_cmd ctl_cmds[] = {
	{ "counters", "counters [nonzero]", 0, 1, ctl_cmd_counters },
	{ "neigh", "neigh", 0, 0, ctl_cmd_neigh },
	{ "sockets", "sockets", 0, 0, ctl_cmd_sockets },
	{ "status", "status", 0, 0, ctl_cmd_status },
	{ "ipc", "ipc", 0, 0, ctl_cmd_ipc },
	{ "users", "users", 0, 0, ctl_cmd_users },
	{ "help", "help", 0, 0, ctl_cmd_help },
};

static void ctl_cmd_help(struct ctl_client *cl, int argc, char **argv, uint64_t now)
{
	(void)argc, (void)argv, (void)now;
	for (size_t i = 0; i < sizeof ctl_cmds / sizeof ctl_cmds[0]; i++)
		ctl_replyf(cl, "%s", ctl_cmds[i].usage);
}

/* One text command: printable ASCII, words separated by blanks, at most
 * one trailing newline. */
static void ctl_text(struct ctl_client *cl, char *msg, size_t len, uint64_t now)
{
	char *argv[CTL_ARGS_MAX + 1];
	int argc = 0;

	if (len && msg[len - 1] == '\n')
		len--;
	if (len && msg[len - 1] == '\r')
		len--;
	msg[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)msg[i];

		if ((ch < 0x20 && ch != '\t') || ch >= 0x7f) {
			ctl_replyf(cl, "error: malformed command");
			goto out;
		}
	}
	char *save = NULL;
	for (char *w = strtok_r(msg, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (argc == CTL_ARGS_MAX) {
			ctl_replyf(cl, "error: too many arguments");
			goto out;
		}
		argv[argc++] = w;
	}
	if (argc == 0) {
		ctl_replyf(cl, "error: empty command");
		goto out;
	}
	argv[argc] = NULL;
	log_verbose("control client pid %ld: %s", (long)cl->pid, argv[0]);
	for (size_t i = 0; i < sizeof ctl_cmds / sizeof ctl_cmds[0]; i++) {
		const struct ctl_cmd *cmd = &ctl_cmds[i];

		if (strcmp(argv[0], cmd->name) != 0)
			continue;
		if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args)
			ctl_replyf(cl, "error: usage: %s", cmd->usage);
		else {
			cl->ctl->commands++;
			cmd->fn(cl, argc, argv, now);
		}
		goto out;
	}
	ctl_replyf(cl, "error: unknown command '%.64s'", argv[0]);
out:
	ctl_reply_end(cl);
}

static void ctl_dispatch(struct ctl_client *cl, uint8_t *msg, size_t len, uint64_t now)
{
	struct ctl *c = cl->ctl;
	uint32_t magic = 0;

	/* The shim's records start with IPC_MAGIC ("USTK": printable, so
	 * check it before the text test). */
	if (len >= sizeof magic)
		memcpy(&magic, msg, sizeof magic);
	if (magic != IPC_MAGIC && len > 0 && msg[0] >= 0x20 && msg[0] < 0x7f) {
		ctl_text(cl, (char *)msg, len, now);
		return;
	}
	if (c->binary) {
		if (!c->binary(c, cl, msg, len, now))
			ctl_client_free(cl, true);
		return;
	}
	ctl_replyf(cl, "error: binary protocol not supported");
	ctl_reply_end(cl);
}

static void ctl_on_client(struct loop_source *src, uint32_t events, uint64_t now)
{
	struct ctl_client *cl = (struct ctl_client *)(void *)src;
	uint8_t buf[CTL_MSG_MAX + 1];

	if (cl->replying) {
		if (events & (EPOLLERR | EPOLLHUP))
			ctl_client_free(cl, true);
		else if (events & EPOLLOUT)
			ctl_flush(cl);
		return;
	}
	if (!(events & EPOLLIN)) { /* hung up or error without a message */
		ctl_client_free(cl, true);
		return;
	}
	struct iovec iov = { .iov_base = buf, .iov_len = CTL_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	/* No control buffer: any fds a client passes are discarded by the kernel. */
	ssize_t n = recvmsg(src->fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			ctl_client_free(cl, true);
		return;
	}
	if (n == 0) { /* disconnected (or an empty message: nothing to answer) */
		ctl_client_free(cl, true);
		return;
	}
	if (n > CTL_MSG_MAX || (mh.msg_flags & MSG_TRUNC)) {
		ctl_replyf(cl, "error: message too long (at most %d bytes)", CTL_MSG_MAX);
		ctl_reply_end(cl);
		return;
	}
	/* One command per connection: stop reading; the reply is all that is left. */
	ctl_dispatch(cl, buf, (size_t)n, now);
}

/* The first record of a fresh connection, if it is there already (the
 * shim sends IPC_CHAN right after connect): 0 when it was an IPC_CHAN and
 * the fd is handed over; else its length in buf (-1: none yet), for the
 * client to dispatch once it is set up. */
static ssize_t ctl_first_record(struct ctl *c, int fd, uint8_t *buf, uint64_t now, bool *gone)
{
	struct iovec iov = { .iov_base = buf, .iov_len = CTL_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	uint32_t magic;
	uint16_t type;

	*gone = false;
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0)
		return -1; /* EAGAIN: the client has not written yet */
	if (n == 0) {
		*gone = true;
		return 0;
	}
	if (n > CTL_MSG_MAX || (mh.msg_flags & MSG_TRUNC))
		return CTL_MSG_MAX + 1; /* too long: answered by the client path */
	if (c->chan && (size_t)n >= sizeof magic + 2 * sizeof type) {
		memcpy(&magic, buf, sizeof magic);
		memcpy(&type, buf + sizeof magic, sizeof type);
		if (magic == IPC_MAGIC && type == IPC_CHAN) {
			c->chans++;
			c->chan(fd, buf, (size_t)n, now);
			return 0;
		}
	}
	return n;
}

static void ctl_accept_one(struct ctl *c, int fd, uint64_t now)
{
	struct ctl_client *cl;
	struct ucred cred;
	socklen_t clen = sizeof cred;
	uint8_t buf[CTL_MSG_MAX + 1];
	bool gone;
	ssize_t first = ctl_first_record(c, fd, buf, now, &gone);

	if (first == 0) { /* a channel (now someone else's), or hung up already */
		if (gone) {
			close(fd);
			c->accepted++;
		}
		return;
	}

	/* Full: a connection whose first record is here already is served
	 * anyway (a session's HELLO leaves ctl at once; a command's reply is
	 * short), and one that said nothing takes the place of the oldest
	 * that said nothing either -- so a program that holds connections
	 * open without a word cannot keep everyone else off the stack. */
	if (c->nclients >= CTL_MAX_CLIENTS && first < 0) {
		struct ctl_client *old;

		TAILQ_FOREACH(old, &c->clients, link)
			if (!old->replying)
				break;
		if (old) {
			c->evicted++;
			ctl_client_free(old, false);
		}
	}
	if (c->nclients >= CTL_MAX_CLIENTS && (first < 0 || c->nclients >= 2 * CTL_MAX_CLIENTS)) {
		static const char msg[] = "error: too many control clients\n";
		send(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		ctl_discard_input(fd);
		close(fd);
		c->rejected++;
		return;
	}
	cl = calloc(1, sizeof *cl);
	if (!cl) {
		close(fd);
		c->rejected++;
		return;
	}
	cl->src.fd = fd;
	cl->src.fn = ctl_on_client;
	cl->ctl = c;
	cl->deadline = now + CTL_TIMEOUT_US;
	cl->pid = -1;
	cl->uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
		cl->pid = cred.pid;
		cl->uid = cred.uid;
	}
	if (loop_add(c->loop, &cl->src, EPOLLIN) < 0) {
		close(fd);
		free(cl);
		c->rejected++;
		return;
	}
	TAILQ_INSERT_TAIL(&c->clients, cl, link);
	c->nclients++;
	c->accepted++;
	log_verbose("control client connected: uid %ld pid %ld", (long)cl->uid, (long)cl->pid);
	if (first > CTL_MSG_MAX) {
		ctl_replyf(cl, "error: message too long (at most %d bytes)", CTL_MSG_MAX);
		ctl_reply_end(cl);
	} else if (first > 0) {
		ctl_dispatch(cl, buf, (size_t)first, now);
	}
}

static void ctl_on_listen(struct loop_source *src, uint32_t events, uint64_t now)
{
	struct ctl *c = (struct ctl *)(void *)((char *)src - offsetof(struct ctl, listen_src));

	(void)events;
	for (int i = 0; i < CTL_ACCEPT_BATCH; i++) {
		int fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			ctl_accept_one(c, fd, now);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener would stay
		 * readable and spin the loop; stop listening for a moment. */
		log_warn("control socket accept: %s; pausing", strerror(errno));
		c->paused_until = now + CTL_PAUSE_US;
		loop_mod(c->loop, src, 0);
		return;
	}
}

/* ---- socket setup --------------------------------------------------------- */

/* mkdir -p of path's directory, new parts 0755. */
static int ctl_mkdirs(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	strlcpy(dir, path, sizeof dir);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, 0755) == 0) {
			chmod(dir, 0755); /* whatever the umask */
		} else if (errno != EEXIST) {
			int err = errno;
			log_err("cannot create directory %s: %s", dir, strerror(err));
			return -err;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

/* A socket file already at our path: stale (nobody listening) -> remove;
 * alive -> another daemon owns it. */
static int ctl_clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket", sa->sun_path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
	int err = r < 0 ? errno : 0;
	close(fd);
	if (r == 0 || err == EAGAIN) {
		log_err("another ustackd is already listening on %s", sa->sun_path);
		return -EADDRINUSE;
	}
	if (err != ECONNREFUSED && err != EPROTOTYPE) {
		log_err("cannot check existing socket %s: %s", sa->sun_path, strerror(err));
		return -err;
	}
	log_verbose("removing stale control socket %s", sa->sun_path);
	if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
		err = errno;
		log_err("cannot remove stale socket %s: %s", sa->sun_path, strerror(err));
		return -err;
	}
	return 0;
}

int ctl_open(struct ctl *c, struct ud *ud, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	memset(c, 0, sizeof *c);
	c->ud = ud;
	c->listen_src.fd = -1;
	TAILQ_INIT(&c->clients);

	/* Absolute, so detaching (chdir /) does not lose it. */
	if (path[0] == '/') {
		err = strlcpy(c->path, path, sizeof c->path) >= sizeof c->path ? -ENAMETOOLONG : 0;
	} else {
		char cwd[4096];
		err = getcwd(cwd, sizeof cwd) ? 0 : -errno;
		if (!err && (size_t)snprintf(c->path, sizeof c->path, "%s/%s", cwd, path) >=
				    sizeof c->path)
			err = -ENAMETOOLONG;
	}
	if (err) {
		log_err("control socket path %s: %s", path, strerror(-err));
		return err;
	}
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);

	err = ctl_mkdirs(c->path);
	if (err)
		return err;
	err = ctl_clear_stale(&sa);
	if (err)
		return err;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		log_err("cannot create control socket: %s", strerror(err));
		return -err;
	}
	/* umask so the socket never exists with looser permissions than 0660. */
	mode_t old = umask(0117);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	err = errno;
	umask(old);
	if (r < 0) {
		log_err("cannot bind control socket %s: %s", c->path, strerror(err));
		close(fd);
		return -err;
	}
	c->bound = true;
	c->listen_src.fd = fd;
	/* Group first, then the mode: never wider to the old group. */
	if ((ud->args.socket_gid >= 0 && chown(c->path, (uid_t)-1, (gid_t)ud->args.socket_gid) < 0) ||
	    chmod(c->path, ud->args.socket_mode) < 0 || lstat(c->path, &st) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		err = errno;
		log_err("cannot set up control socket %s: %s", c->path, strerror(err));
		ctl_close(c);
		return -err;
	}
	c->path_dev = st.st_dev;
	c->path_ino = st.st_ino;
	log_verbose("control socket %s", c->path);
	return 0;
}

int ctl_start(struct ctl *c, struct loop *l)
{
	c->loop = l;
	c->listen_src.fn = ctl_on_listen;
	return loop_add(l, &c->listen_src, EPOLLIN);
}

uint64_t ctl_next_deadline(const struct ctl *c)
{
	uint64_t d = c->paused_until ? c->paused_until : US_TIME_NEVER;
	const struct ctl_client *cl;

	TAILQ_FOREACH(cl, &c->clients, link)
		if (cl->deadline && cl->deadline < d)
			d = cl->deadline;
	return d;
}

void ctl_expire(struct ctl *c, uint64_t now)
{
	struct ctl_client *cl, *next;

	if (c->paused_until && c->paused_until <= now) {
		c->paused_until = 0;
		loop_mod(c->loop, &c->listen_src, EPOLLIN);
	}
	for (cl = TAILQ_FIRST(&c->clients); cl; cl = next) {
		next = TAILQ_NEXT(cl, link);
		if (cl->deadline && cl->deadline <= now) {
			log_verbose("control client pid %ld timed out", (long)cl->pid);
			ctl_client_free(cl, true);
		}
	}
}

void ctl_close(struct ctl *c)
{
	struct stat st;

	while (!TAILQ_EMPTY(&c->clients))
		ctl_client_free(TAILQ_FIRST(&c->clients), false);
	if (c->listen_src.fd >= 0) {
		if (c->loop)
			loop_del(c->loop, &c->listen_src);
		close(c->listen_src.fd);
		c->listen_src.fd = -1;
	}
	/* Unlink only the socket we created, not one a successor put there. */
	if (c->bound && lstat(c->path, &st) == 0 &&
	    (c->path_ino == 0 || (st.st_dev == c->path_dev && st.st_ino == c->path_ino)))
		unlink(c->path);
	c->bound = false;
}
