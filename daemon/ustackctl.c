/* ustackctl.c - command-line client of ustackd's control socket: sends one
 * text command, prints the reply messages until the daemon closes. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef USTACK_VERSION
#define USTACK_VERSION "unknown"
#endif

#define CTLC_DEFAULT_SOCKET "/run/ustack/ustackd.sock"
#define CTLC_MSG_MAX 4096
#define CTLC_TIMEOUT_S 10

static void ctlc_usage(FILE *f)
{
	fprintf(f,
		"Usage: ustackctl [--socket PATH] COMMAND [ARG]...\n"
		"Query a running ustackd.\n"
		"\n"
		"Commands:\n"
		"  status              interface, addresses, uptime, pid\n"
		"  counters [nonzero]  every counter (or only those not zero)\n"
		"  neigh               the neighbour (ARP) cache\n"
		"  sockets             the stack's sockets\n"
		"  ipc                 libustack.so sessions and sockets: state and counters\n"
		"  users               programs and sockets each user holds on the stack\n"
		"  help                the commands the daemon knows\n"
		"\n"
		"Options:\n"
		"  --socket PATH       ustackd's control socket (default $USTACK_SOCKET,\n"
		"                      else " CTLC_DEFAULT_SOCKET ")\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n");
}

static int ctlc_fail_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "ustackctl: %s%s%s (see --help)\n", msg, arg ? " " : "", arg ? arg : "");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("USTACK_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cmd[CTLC_MSG_MAX + 1];
	size_t cmdlen = 0;
	int c, fd;

	if (!path || !*path)
		path = CTLC_DEFAULT_SOCKET;
	opterr = 0;
	/* '+': stop at the first command word, so its arguments are not options. */
	while ((c = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'h':
			ctlc_usage(stdout);
			return 0;
		case 'V':
			printf("ustackctl %s\n", USTACK_VERSION);
			return 0;
		case ':':
			return ctlc_fail_usage("option needs a value:", argv[optind - 1]);
		default:
			return ctlc_fail_usage("unknown option", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctlc_fail_usage("no command given", NULL);
	if (strlen(path) >= sizeof sa.sun_path || !*path)
		return ctlc_fail_usage("socket path too long or empty:", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	for (int i = optind; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (cmdlen + n + 1 > CTLC_MSG_MAX)
			return ctlc_fail_usage("command too long", NULL);
		if (cmdlen)
			cmd[cmdlen++] = ' ';
		memcpy(cmd + cmdlen, argv[i], n);
		cmdlen += n;
	}
	cmd[cmdlen] = '\0';

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "ustackctl: socket: %s\n", strerror(errno));
		return 1;
	}
	struct timeval tv = { .tv_sec = CTLC_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "ustackctl: cannot reach ustackd at %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (send(fd, cmd, cmdlen, MSG_NOSIGNAL) != (ssize_t)cmdlen) {
		fprintf(stderr, "ustackctl: cannot send to ustackd at %s: %s\n", path,
			strerror(errno));
		return 1;
	}

	/* Replies: text messages until the daemon closes.  A reply that
	 * starts with "error:" goes to stderr and makes the exit status 1. */
	char buf[CTLC_MSG_MAX + 1];
	bool first = true, error = false;
	for (;;) {
		ssize_t n = recv(fd, buf, CTLC_MSG_MAX, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "ustackctl: reading from ustackd at %s: %s\n", path,
				errno == EAGAIN ? "timed out" : strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		if (first && n >= 6 && memcmp(buf, "error:", 6) == 0)
			error = true;
		first = false;
		fwrite(buf, 1, (size_t)n, error ? stderr : stdout);
	}
	close(fd);
	if (first) {
		fprintf(stderr, "ustackctl: ustackd at %s closed without a reply\n", path);
		return 1;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ustackctl: writing the reply: %s\n", strerror(errno));
		return 1;
	}
	return error ? 1 : 0;
}
