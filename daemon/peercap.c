/* peercap.c - a control-socket peer's effective capabilities (capabilities(7):
 * CapEff in /proc/PID/status), for the ports below 1024 that Linux gives
 * to CAP_NET_BIND_SERVICE (ip(7)), not just to uid 0.
 * The pid from SO_PEERCRED may name another process by the time we read
 * /proc, if the peer exited and its number was reused.  With SO_PEERPIDFD
 * (Linux 6.5) the peer is pinned: /proc is read, then the pidfd must still
 * name a live process with that pid, or the answer is thrown away.  Older
 * kernels: the read happens at IPC_HELLO, while the peer waits for our
 * reply on this very connection, so it has not exited. */
#include "peercap.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#define PEERCAP_NET_BIND_SERVICE 10 /* linux/capability.h */

/* CapEff and the effective uid of pid: 0, or -1 when unreadable. */
static int peercap_read(pid_t pid, uint64_t *capeff, long *euid)
{
	char path[64], line[256];
	bool have_cap = false, have_uid = false;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof line, f)) {
		long r, e;
		if (strncmp(line, "CapEff:", 7) == 0 && sscanf(line + 7, "%" SCNx64, capeff) == 1)
			have_cap = true;
		else if (strncmp(line, "Uid:", 4) == 0 && sscanf(line + 4, "%ld %ld", &r, &e) == 2) {
			*euid = e;
			have_uid = true;
		}
	}
	fclose(f);
	return have_cap && have_uid ? 0 : -1;
}

/* The pid a pidfd names (fdinfo "Pid:"), -1 once the process is gone. */
static long peercap_pidfd_pid(int pidfd)
{
	char path[64], line[128];
	long pid = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "Pid:", 4) == 0 && sscanf(line + 4, "%ld", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

bool peercap_net_bind(int fd, pid_t pid, uid_t uid)
{
	uint64_t capeff = 0;
	long euid = -1;
	int pidfd = -1;
	socklen_t len = sizeof pidfd;

	if (pid <= 0)
		return uid == 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		pidfd = -1;
	int r = peercap_read(pid, &capeff, &euid);
	if (pidfd >= 0) {
		/* Still the same, living process?  (A pid is never reused
		 * while its process lives.) */
		bool same = peercap_pidfd_pid(pidfd) == (long)pid &&
			    syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
		close(pidfd);
		if (!same)
			r = -1;
	}
	if (r < 0 || euid != (long)uid) {
		/* Unknown, or the process changed identity since it
		 * connected: trust nothing but uid 0. */
		log_verbose("ipc: capabilities of pid %ld unknown; uid %ld decides", (long)pid,
			    (long)uid);
		return uid == 0;
	}
	return (capeff >> PEERCAP_NET_BIND_SERVICE) & 1;
}
