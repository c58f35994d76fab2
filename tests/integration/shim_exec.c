/* shim_exec.c - run under libustack.so by shim_exec.sh: ustack sockets
 * that cross execve, SCM_RIGHTS, posix_spawn and vfork.  Modes:
 *   inetd PORT CMD...          accept one connection on PORT, dup2 it onto
 *                              0 and 1, exec CMD (LD_PRELOAD taken from
 *                              $SHIM_EXEC_PRELOAD when set)
 *   cloexec HOST PORT LPORT SELF
 *                              sockets made close-on-exec five ways (and one
 *                              not), then exec SELF check ...
 *   check KEEPFD GONEFD...     (exec'd) GONEFDs are closed, KEEPFD is open:
 *                              write a line on it, close it
 *   pass HOST PORT SELF        connect, hand the fd over SCM_RIGHTS to an
 *                              exec'd SELF recvfd, close our copy
 *   recvfd UNIXFD              (exec'd) receive a socket, send a record,
 *                              read it back from the echo server
 *   passacc LPORT SELF         listen; use and close one accepted socket
 *                              here, then (after "next" on stdin) hand the
 *                              next one to an exec'd SELF recvfd; exit after
 *                              "end" (pooled memory must not follow it)
 *   spawn HOST PORT SELF       posix_spawn SELF writefd on an inherited fd
 *   vfork HOST PORT SELF       vfork; the child dup2s the socket onto 1 and
 *                              execs SELF writefd 1; our fd 1 stays stdout
 *   writefd FD TEXT            (exec'd) write TEXT on an inherited socket
 *   closerange HOST PORT       close_range (plain, UNSHARE, CLOEXEC) and
 *                              closefrom keep the shim's fd table right
 *   sweep HOST PORT            a program that closes (close loop, closefrom,
 *                              close_range) and dup2s over numbers it never
 *                              opened leaves the shim's own (control
 *                              connection, inner epoll) working
 * Exit 0 = pass; a FAIL line says what went wrong. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shimcheck.h"

extern char **environ;


static struct sockaddr_in ex_addr(const char *ip, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	CHECK(inet_pton(AF_INET, ip, &sa.sin_addr) == 1, "bad address %s", ip);
	sa.sin_port = htons((uint16_t)atoi(port));
	return sa;
}

static int ex_connect(const char *ip, const char *port, int flags)
{
	struct sockaddr_in sa = ex_addr(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM | flags, 0);

	CHECK(fd >= 0, "socket");
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s:%s", ip, port);
	return fd;
}

static int ex_listen(const char *port, int flags)
{
	struct sockaddr_in sa = ex_addr("0.0.0.0", port);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | flags, 0);

	CHECK(fd >= 0, "socket");
	CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind :%s", port);
	CHECK(listen(fd, 8) == 0, "listen");
	return fd;
}

static void ex_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t r = write(fd, buf, len);
		CHECK(r > 0, "write fd %d", fd);
		buf += r;
		len -= (size_t)r;
	}
}

static void ex_say(int fd, const char *s)
{
	ex_write_all(fd, s, strlen(s));
}

/* Read until EOF (at most cap - 1 bytes), NUL-terminated. */
static size_t ex_read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;

	for (;;) {
		ssize_t r = read(fd, buf + got, cap - 1 - got);
		CHECK(r >= 0, "read fd %d", fd);
		if (r == 0)
			break;
		got += (size_t)r;
		CHECK(got < cap - 1, "more data than expected");
	}
	buf[got] = 0;
	return got;
}

static int ex_wait(pid_t pid)
{
	int st;

	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int mode_inetd(int argc, char **argv)
{
	CHECK(argc >= 4, "usage: inetd PORT CMD...");
	int l = ex_listen(argv[2], SOCK_CLOEXEC);
	printf("listening\n");
	fflush(stdout);
	int c = accept(l, NULL, NULL);
	CHECK(c >= 0, "accept");
	CHECK(dup2(c, 0) == 0 && dup2(c, 1) == 1, "dup2");
	close(c);
	close(l);
	const char *pre = getenv("SHIM_EXEC_PRELOAD");
	if (pre && *pre)
		setenv("LD_PRELOAD", pre, 1);
	execvp(argv[3], argv + 3);
	CHECK(0, "exec %s", argv[3]);
	return 1;
}

static int mode_cloexec(int argc, char **argv)
{
	char fds[6][16];

	CHECK(argc == 6, "usage: cloexec HOST PORT LPORT SELF");
	int l = ex_listen(argv[4], SOCK_CLOEXEC);
	/* A: SOCK_CLOEXEC at socket() */
	int a = ex_connect(argv[2], argv[3], SOCK_CLOEXEC);
	ex_say(a, "A\n");
	/* B: FD_CLOEXEC with fcntl(F_SETFD) */
	int b = ex_connect(argv[2], argv[3], 0);
	CHECK(fcntl(b, F_SETFD, FD_CLOEXEC) == 0, "F_SETFD");
	ex_say(b, "B\n");
	/* C: dup3(O_CLOEXEC), the original closed */
	int c0 = ex_connect(argv[2], argv[3], 0);
	int c = dup3(c0, 100, O_CLOEXEC);
	CHECK(c == 100, "dup3");
	CHECK(close(c0) == 0, "close");
	ex_say(c, "C\n");
	/* D: fcntl(F_DUPFD_CLOEXEC), the original closed */
	int d0 = ex_connect(argv[2], argv[3], 0);
	int d = fcntl(d0, F_DUPFD_CLOEXEC, 110);
	CHECK(d >= 110, "F_DUPFD_CLOEXEC");
	CHECK(close(d0) == 0, "close");
	ex_say(d, "D\n");
	/* F: not close-on-exec; the exec'd program writes on it */
	int f = ex_connect(argv[2], argv[3], 0);
	ex_say(f, "F\n");
	CHECK(fcntl(f, F_GETFD) == 0, "F not cloexec");
	/* Timeouts belong to the socket, not the process: the exec'd image
	 * must see them (mode_check). */
	struct timeval rt = { 1, 500000 }, st = { 2, 250000 };
	CHECK(setsockopt(f, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt) == 0, "SO_RCVTIMEO");
	CHECK(setsockopt(f, SOL_SOCKET, SO_SNDTIMEO, &st, sizeof st) == 0, "SO_SNDTIMEO");
	/* An accepted socket starts with its listener's (Linux clones it). */
	struct timeval lt = { 0, 700000 }, got;
	socklen_t gl = sizeof got;
	CHECK(setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &lt, sizeof lt) == 0, "listener SO_RCVTIMEO");
	/* E: accept4(SOCK_CLOEXEC) of the peer's connection to LPORT */
	printf("listening\n");
	fflush(stdout);
	int e = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(e >= 0, "accept4");
	CHECK(fcntl(e, F_GETFD) == FD_CLOEXEC, "accept4 SOCK_CLOEXEC");
	CHECK(getsockopt(e, SOL_SOCKET, SO_RCVTIMEO, &got, &gl) == 0 && got.tv_sec == 0 &&
		      got.tv_usec == 700000,
	      "accepted socket's SO_RCVTIMEO %ld.%06ld, not its listener's 0.700000",
	      (long)got.tv_sec, (long)got.tv_usec);
	ex_say(e, "E\n");
	int gone[] = { a, b, c, d, e };
	for (int i = 0; i < 5; i++) {
		CHECK(fcntl(gone[i], F_GETFD) == FD_CLOEXEC, "fd %d not cloexec", gone[i]);
		snprintf(fds[i], sizeof fds[i], "%d", gone[i]);
	}
	snprintf(fds[5], sizeof fds[5], "%d", f);
	printf("exec check keep %s gone %s %s %s %s %s\n", fds[5], fds[0], fds[1], fds[2], fds[3],
	       fds[4]);
	fflush(stdout);
	execl(argv[5], argv[5], "check", fds[5], fds[0], fds[1], fds[2], fds[3], fds[4],
	      (char *)NULL);
	CHECK(0, "exec %s", argv[5]);
	return 1;
}

static int mode_check(int argc, char **argv)
{
	CHECK(argc >= 3, "usage: check KEEPFD GONEFD...");
	for (int i = 3; i < argc; i++) {
		int fd = atoi(argv[i]);
		errno = 0;
		CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "fd %d still open after exec",
		      fd);
	}
	int keep = atoi(argv[2]);
	CHECK(fcntl(keep, F_GETFD) == 0, "fd %d not open after exec", keep);
	/* Adopted by this image's shim at its first use. */
	int type = 0;
	socklen_t tl = sizeof type;
	CHECK(getsockopt(keep, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM,
	      "inherited fd %d is not a stream socket here (type %d)", keep, type);
	struct timeval rt, st;
	socklen_t rl = sizeof rt, sl = sizeof st;
	CHECK(getsockopt(keep, SOL_SOCKET, SO_RCVTIMEO, &rt, &rl) == 0 && rt.tv_sec == 1 &&
		      rt.tv_usec == 500000,
	      "SO_RCVTIMEO after exec %ld.%06ld, not 1.500000", (long)rt.tv_sec,
	      (long)rt.tv_usec);
	CHECK(getsockopt(keep, SOL_SOCKET, SO_SNDTIMEO, &st, &sl) == 0 && st.tv_sec == 2 &&
		      st.tv_usec == 250000,
	      "SO_SNDTIMEO after exec %ld.%06ld, not 2.250000", (long)st.tv_sec,
	      (long)st.tv_usec);
	ex_say(keep, "F alive after exec\n");
	CHECK(close(keep) == 0, "close");
	printf("check ok: %d fds gone, fd %d kept and used, its timeouts kept\n", argc - 3, keep);
	return 0;
}

/* Hand socket s over SCM_RIGHTS to an exec'd `SELF recvfd`, close our
 * copy, and wait for the child (which uses it against an echo peer). */
static void ex_pass_fd(int s, const char *self)
{
	int sp[2];
	char arg[16];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "socketpair");
	CHECK(fcntl(sp[0], F_SETFD, FD_CLOEXEC) == 0, "F_SETFD");
	snprintf(arg, sizeof arg, "%d", sp[1]);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		execl(self, self, "recvfd", arg, (char *)NULL);
		_exit(127);
	}
	close(sp[1]);
	char byte = 'x';
	struct iovec iov = { &byte, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &s, sizeof s);
	CHECK(sendmsg(sp[0], &mh, 0) == 1, "sendmsg SCM_RIGHTS");
	CHECK(close(s) == 0, "close our copy");
	close(sp[0]);
	int rc = ex_wait(pid);
	CHECK(rc == 0, "recvfd child exited %d", rc);
}

static int mode_pass(int argc, char **argv)
{
	CHECK(argc == 5, "usage: pass HOST PORT SELF");
	ex_pass_fd(ex_connect(argv[2], argv[3], 0), argv[4]);
	printf("pass ok\n");
	return 0;
}

/* Waits for a line on stdin (the script's go-ahead). */
static void ex_wait_line(const char *want)
{
	char line[64];

	CHECK(fgets(line, sizeof line, stdin) != NULL, "stdin closed before '%s'", want);
	line[strcspn(line, "\n")] = 0;
	CHECK(strcmp(line, want) == 0, "stdin said '%s', expected '%s'", line, want);
}

/* Pooled shared memory (shim/ipc.h): an accepted socket used and closed
 * here returns its memory to the listener's pool; one handed to another
 * program image (SCM_RIGHTS, adopted there) must not.  The listener stays
 * open meanwhile; the script reads ustackd's counters between the steps. */
static int mode_passacc(int argc, char **argv)
{
	const char *rec = "record over an accepted socket\n";
	char buf[256];

	CHECK(argc == 4, "usage: passacc LPORT SELF");
	int l = ex_listen(argv[2], SOCK_CLOEXEC);
	printf("listening\n");
	fflush(stdout);
	int a = accept(l, NULL, NULL);
	CHECK(a >= 0, "accept 1");
	ex_say(a, rec);
	CHECK(shutdown(a, SHUT_WR) == 0, "shutdown");
	ex_read_all(a, buf, sizeof buf);
	CHECK(strcmp(buf, rec) == 0, "echo differs: '%s'", buf);
	CHECK(close(a) == 0, "close 1");
	printf("direct ok\n");
	fflush(stdout);
	ex_wait_line("next");
	a = accept(l, NULL, NULL);
	CHECK(a >= 0, "accept 2");
	ex_pass_fd(a, argv[3]);
	printf("passed ok\n");
	fflush(stdout);
	ex_wait_line("end");
	close(l);
	return 0;
}

static int mode_recvfd(int argc, char **argv)
{
	CHECK(argc == 3, "usage: recvfd UNIXFD");
	int u = atoi(argv[2]);
	char byte;
	struct iovec iov = { &byte, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cb;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.buf,
			     .msg_controllen = sizeof cb.buf };
	CHECK(recvmsg(u, &mh, 0) == 1, "recvmsg");
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	CHECK(cm && cm->cmsg_type == SCM_RIGHTS, "no SCM_RIGHTS");
	int s;
	memcpy(&s, CMSG_DATA(cm), sizeof s);
	const char *rec = "record from B over a passed socket\n";
	ex_say(s, rec);
	CHECK(shutdown(s, SHUT_WR) == 0, "shutdown");
	char buf[256];
	ex_read_all(s, buf, sizeof buf);
	CHECK(strcmp(buf, rec) == 0, "echo differs: '%s'", buf);
	CHECK(close(s) == 0, "close");
	printf("recvfd ok: fd %d sent and got back %zu bytes\n", s, strlen(rec));
	return 0;
}

/* The parent's half of spawn/vfork: its own line, then the echo must hold
 * the child's line followed by ours. */
static int ex_finish(int s, const char *child_line)
{
	char buf[256], want[256];

	ex_say(s, "parent\n");
	CHECK(shutdown(s, SHUT_WR) == 0, "shutdown");
	ex_read_all(s, buf, sizeof buf);
	snprintf(want, sizeof want, "%sparent\n", child_line);
	CHECK(strcmp(buf, want) == 0, "echo '%s', expected '%s'", buf, want);
	return 0;
}

static int mode_spawn(int argc, char **argv)
{
	char arg[16];
	pid_t pid;

	CHECK(argc == 5, "usage: spawn HOST PORT SELF");
	int s = ex_connect(argv[2], argv[3], 0);
	snprintf(arg, sizeof arg, "%d", s);
	char *cargv[] = { argv[4], "writefd", arg, "spawned child\n", NULL };
	errno = posix_spawn(&pid, argv[4], NULL, NULL, cargv, environ);
	CHECK(errno == 0, "posix_spawn");
	int rc = ex_wait(pid);
	CHECK(rc == 0, "spawned child exited %d", rc);
	ex_finish(s, "spawned child\n");
	printf("spawn ok\n");
	return 0;
}

static int mode_vfork(int argc, char **argv)
{
	CHECK(argc == 5, "usage: vfork HOST PORT SELF");
	int s = ex_connect(argv[2], argv[3], 0);
	pid_t pid = vfork();
	CHECK(pid >= 0, "vfork");
	if (pid == 0) {
		/* Runs in our memory: the shim must not record this dup2. */
		if (dup2(s, 1) != 1)
			_exit(126);
		execl(argv[4], argv[4], "writefd", "1", "vforked child\n", (char *)NULL);
		_exit(127);
	}
	int rc = ex_wait(pid);
	CHECK(rc == 0, "vforked child exited %d", rc);
	/* Our fd 1 is still stdout, not the socket. */
	printf("vfork parent stdout intact\n");
	fflush(stdout);
	ex_finish(s, "vforked child\n");
	printf("vfork ok\n");
	return 0;
}

/* fd now holds a pipe's write end the shim was not told about (a raw
 * dup3): a write on it must reach the pipe, not a ustack socket's ring. */
static void ex_reused_is_kernel(int fd, const char *what)
{
	int t[2], p[2];
	char c = 0;

	/* The pipe itself must not land on fd: move it above, behind the
	 * shim's back too (raw system calls). */
	CHECK(pipe2(t, O_NONBLOCK) == 0, "pipe2");
	p[0] = (int)syscall(SYS_fcntl, t[0], F_DUPFD, 500);
	p[1] = (int)syscall(SYS_fcntl, t[1], F_DUPFD, 500);
	CHECK(p[0] >= 500 && p[1] >= 500, "raw F_DUPFD");
	syscall(SYS_close, t[0]);
	syscall(SYS_close, t[1]);
	CHECK(syscall(SYS_dup3, p[1], fd, 0) == fd, "raw dup3");
	CHECK(write(fd, "k", 1) == 1, "%s: write on the reused fd %d", what, fd);
	CHECK(read(p[0], &c, 1) == 1 && c == 'k',
	      "%s: fd %d reused by a pipe, but the byte did not reach it", what, fd);
	close(p[0]);
	close(p[1]);
	close(fd);
}

static int mode_closerange(int argc, char **argv)
{
	char buf[64];

	CHECK(argc == 4, "usage: closerange HOST PORT");
	/* plain */
	int a = ex_connect(argv[2], argv[3], 0);
	ex_say(a, "a\n");
	CHECK(close_range((unsigned)a, (unsigned)a, 0) == 0, "close_range");
	ex_reused_is_kernel(a, "close_range");
	/* CLOSE_RANGE_UNSHARE */
	int b = ex_connect(argv[2], argv[3], 0);
	CHECK(close_range((unsigned)b, (unsigned)b, CLOSE_RANGE_UNSHARE) == 0,
	      "close_range UNSHARE");
	ex_reused_is_kernel(b, "close_range UNSHARE");
	/* closefrom over a socket at a high number */
	int c0 = ex_connect(argv[2], argv[3], 0);
	CHECK(dup2(c0, 300) == 300, "dup2");
	CHECK(close(c0) == 0, "close");
	closefrom(300);
	errno = 0;
	CHECK(fcntl(300, F_GETFD) == -1 && errno == EBADF, "closefrom left fd 300 open");
	ex_reused_is_kernel(300, "closefrom");
	/* CLOSE_RANGE_CLOEXEC: still open and still a working socket */
	int d = ex_connect(argv[2], argv[3], 0);
	CHECK(close_range((unsigned)d, (unsigned)d, CLOSE_RANGE_CLOEXEC) == 0,
	      "close_range CLOEXEC");
	CHECK(fcntl(d, F_GETFD) == FD_CLOEXEC, "CLOSE_RANGE_CLOEXEC did not set FD_CLOEXEC");
	ex_say(d, "still a socket\n");
	CHECK(shutdown(d, SHUT_WR) == 0, "shutdown");
	ex_read_all(d, buf, sizeof buf);
	CHECK(strcmp(buf, "still a socket\n") == 0, "echo after CLOSE_RANGE_CLOEXEC: '%s'", buf);
	CHECK(close(d) == 0, "close");
	printf("closerange ok\n");
	return 0;
}

/* Send a line on s and wait (epoll, 5 s) for its echo. */
static void sw_echo(int ep, int s, const char *line, const char *when)
{
	struct epoll_event ev;
	char buf[64];
	size_t got = 0, n = strlen(line);

	ex_say(s, line);
	while (got < n) {
		int k = epoll_wait(ep, &ev, 1, 5000);
		CHECK(k == 1 && ev.data.fd == s, "%s: epoll_wait gave %d (no echo within 5 s)", when, k);
		ssize_t r = read(s, buf + got, sizeof buf - 1 - got);
		CHECK(r > 0, "%s: read", when);
		got += (size_t)r;
	}
	buf[got] = 0;
	CHECK(strcmp(buf, line) == 0, "%s: echo '%s'", when, buf);
}

/* The open numbers from 3 on other than a and b (at most cap). */
static int sw_others(int a, int b, int *out, int cap)
{
	int n = 0;

	for (int fd = 3; fd < 1024; fd++)
		if (fd != a && fd != b && syscall(SYS_fcntl, fd, F_GETFD) >= 0) {
			CHECK(n < cap, "more open numbers than expected");
			out[n++] = fd;
		}
	return n;
}

static int mode_sweep(int argc, char **argv)
{
	int own[8], now[8], n, m;

	CHECK(argc == 4, "usage: sweep HOST PORT");
	/* Nothing inherited: every number from 3 on is ours or the shim's. */
	CHECK(syscall(SYS_close_range, 3u, ~0u, 0) == 0, "raw close_range");
	int s = ex_connect(argv[2], argv[3], 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
	CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll");
	sw_echo(ep, s, "one\n", "before");
	n = sw_others(s, ep, own, 8);
	CHECK(n >= 2, "the shim holds %d numbers of its own (control connection and inner epoll expected)", n);

	/* 1: close() over every number it did not open, as daemons do */
	for (int fd = 3; fd < 1024; fd++) {
		if (fd == s || fd == ep)
			continue;
		errno = 0;
		CHECK(close(fd) == -1 && errno == EBADF,
		      "close(%d), a number this program never opened, did not fail with EBADF", fd);
	}
	m = sw_others(s, ep, now, 8);
	CHECK(m == n && memcmp(own, now, (size_t)n * sizeof *own) == 0,
	      "the close() sweep took the shim's numbers (%d of %d left)", m, n);
	sw_echo(ep, s, "two\n", "after a close() sweep");

	/* 2: closefrom and close_range above the program's highest number */
	int top = (s > ep ? s : ep) + 1;
	closefrom(top);
	CHECK(close_range((unsigned)top, ~0u, 0) == 0, "close_range");
	CHECK(close_range(3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0, "close_range CLOEXEC");
	m = sw_others(s, ep, now, 8);
	CHECK(m == n, "closefrom/close_range took the shim's numbers (%d of %d left)", m, n);
	sw_echo(ep, s, "three\n", "after closefrom and close_range");

	/* 3: dup2 onto the shim's numbers: the program gets them, the shim
	 * moves its own elsewhere */
	int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(dn >= 0, "open /dev/null");
	for (int i = 0; i < n; i++) {
		char link[64], path[64];
		CHECK(dup2(dn, own[i]) == own[i], "dup2 onto %d", own[i]);
		snprintf(link, sizeof link, "/proc/self/fd/%d", own[i]);
		ssize_t k = readlink(link, path, sizeof path - 1);
		CHECK(k > 0, "readlink %s", link);
		path[k] = 0;
		CHECK(strcmp(path, "/dev/null") == 0, "fd %d after dup2 is %s, not /dev/null", own[i], path);
	}
	sw_echo(ep, s, "four\n", "after dup2 onto the shim's numbers");
	/* A new socket needs the control connection, wherever it went. */
	int s2 = ex_connect(argv[2], argv[3], 0);
	ev.data.fd = s2;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s2, &ev) == 0, "epoll_ctl s2");
	sw_echo(ep, s2, "five\n", "a new connection after the sweeps");
	CHECK(close(s2) == 0 && close(s) == 0 && close(ep) == 0, "close");
	printf("sweep ok (%d numbers of the shim's kept)\n", n);
	return 0;
}

static int mode_writefd(int argc, char **argv)
{
	CHECK(argc == 4, "usage: writefd FD TEXT");
	int fd = atoi(argv[2]);
	ex_say(fd, argv[3]);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} modes[] = {
		{ "inetd", mode_inetd }, { "cloexec", mode_cloexec }, { "check", mode_check },
		{ "pass", mode_pass },	 { "recvfd", mode_recvfd },   { "spawn", mode_spawn },
		{ "passacc", mode_passacc },
		{ "vfork", mode_vfork }, { "writefd", mode_writefd },
		{ "closerange", mode_closerange }, { "sweep", mode_sweep },
	};

	CHECK(argc >= 2, "usage: shim_exec MODE ARGS...");
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (strcmp(argv[1], modes[i].name) == 0)
			return modes[i].fn(argc, argv);
	CHECK(0, "unknown mode %s", argv[1]);
	return 1;
}
