/* ctl.h - ustackd's control socket (Unix SOCK_SEQPACKET).
 *
 * Dispatch is by a client's first message: one starting with IPC_MAGIC
 * (shim/ipc.h) goes to ctl->binary; otherwise by its first byte: printable
 * ASCII is a one-shot text command (reply as text messages of at most
 * CTL_MSG_MAX bytes, then the daemon closes); anything else belongs to the
 * binary protocol of the preload library, handled by ctl->binary once it
 * exists. */
#ifndef UD_CTL_H
#define UD_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "loop.h"

#define CTL_MSG_MAX 4096 /* largest message either way */

struct ud;
struct ctl;
struct ctl_client;

/* A binary-protocol message; return true to keep the client connected
 * (the handler then owns its lifetime), false to drop it. */
typedef bool (*ctl_binary_fn)(struct ctl *c, struct ctl_client *cl, const uint8_t *msg,
			      size_t len, uint64_t now);

TAILQ_HEAD(ctl_client_list, ctl_client);

struct ctl {
	struct ud *ud;
	struct loop *loop;
	struct loop_source listen_src;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t path_dev; /* the socket file we bound, to unlink only our own */
	ino_t path_ino;
	bool bound;
	uint64_t paused_until; /* accept paused after EMFILE and the like */
	struct ctl_client_list clients;
	unsigned nclients;
	ctl_binary_fn binary; /* NULL: binary protocol not supported yet */
	/* A connection whose first record, already there when it was
	 * accepted, is IPC_CHAN (shim/ipc.h) goes straight here: it takes
	 * the fd (no client, no timeout, no loop round). */
	void (*chan)(int fd, const uint8_t *msg, size_t len, uint64_t now);
	uint64_t accepted, rejected, dropped, commands; /* counters */
	uint64_t evicted; /* silent clients closed to make room for a new one */
	uint64_t chans; /* connections that were IPC_CHAN channels */
};

/* For the binary handler: the peer's uid (SO_PEERCRED at accept) ... */
uid_t ctl_client_uid(const struct ctl_client *cl);
/* ... and taking the client's connection out of ctl (loop, list, timeout);
 * returns its fd and the peer's SO_PEERCRED pid/uid. */
int ctl_client_take(struct ctl *c, struct ctl_client *cl, pid_t *pid, uid_t *uid);
/* Create, bind and listen (before detaching, so errors reach the terminal).
 * Errors are logged; returns 0 or negative errno. */
int ctl_open(struct ctl *c, struct ud *ud, const char *path);
/* Start accepting in the event loop. */
int ctl_start(struct ctl *c, struct loop *l);
/* Earliest client timeout (US_TIME_NEVER if none); ctl_expire drops the
 * clients whose time is up. */
uint64_t ctl_next_deadline(const struct ctl *c);
void ctl_expire(struct ctl *c, uint64_t now);
/* Drop every client, close, unlink the socket. */
void ctl_close(struct ctl *c);

#endif
