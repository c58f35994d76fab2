/* ipc_sess.h - the daemon side of the shim protocol (shim/ipc.h): one
 * session per program's control connection, one ipc_sock per ustack socket
 * (ipc_sock.h), the counters of both, and the message helpers they share.
 * Everything a program sends is hostile: a bad message drops that socket or
 * session, is logged and counted, and never blocks the event loop. */
#ifndef UD_IPC_SESS_H
#define UD_IPC_SESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "../shim/ipc.h"
#include "loop.h"
#include "report.h"

#define IPC_SOCKS_PER_PROC 4096 /* EMFILE beyond */
#define IPC_MAX_SESSIONS 1024

struct ud;
struct ctl;
struct ipc_sock;

/* What one user's programs hold together (--user-sessions, --user-sockets):
 * one user cannot take the daemon from the others. */
struct ipc_user {
	LIST_ENTRY(ipc_user) link;
	uid_t uid;
	unsigned nsess;  /* sessions alive (also closed ones still holding sockets) */
	unsigned nsocks; /* ipc_socks of those sessions */
};

struct ipc_sess {
	struct loop_source src; /* the control connection; fd -1 once closed */
	LIST_ENTRY(ipc_sess) link;
	struct ipc_user *user;
	pid_t pid;
	uid_t uid;
	bool net_bind; /* CAP_NET_BIND_SERVICE at HELLO (peercap.c) */
	unsigned nsocks; /* ipc_socks created through this session still open */
};

LIST_HEAD(ipc_sess_list, ipc_sess);
LIST_HEAD(ipc_user_list, ipc_user);
LIST_HEAD(ipc_sock_list, ipc_sock);

/* The module state (one per daemon). */
struct ipc {
	struct ud *ud;
	struct ipc_sess_list sessions;
	struct ipc_user_list users;
	struct ipc_sock_list socks;
	struct ipc_sock_list wakeq; /* sockets with an IPC_WAKE to send */
	struct ipc_sock_list pushq; /* listeners with connections to push */
	struct ipc_sock_list awaitq; /* accepted sockets waiting for IPC_CHAN */
	unsigned nawait;
	uint64_t await_check; /* next look at awaitq (ipc_expire) */
	unsigned nsess, nsocks, nlinger;
	uint32_t next_id;
	uint32_t next_shm_id; /* ipc_sock.shm_id */
	/* counters */
	uint64_t sess_opened, sess_closed, sess_dropped;
	uint64_t socks_opened, socks_closed, socks_dropped, socks_lingered;
	uint64_t bad_msgs, doorbells, wakes, fwakes, requests, eacces, emfile;
	/* channel events whose ring moves were synced before the record was
	 * read (ipc_sock_on_chan: the doorbell's work ahead of the doorbell) */
	uint64_t lookahead;
	/* impossible shared indices (the socket is dropped): rx_tail moved
	 * outside [tail, head], tx_head beyond the free send ring */
	uint64_t bad_rx_index, bad_tx_index;
	/* pooled shared memory (ipc_sock.h): slots held now, taken again */
	unsigned pool_slots;
	uint64_t pool_reused;
	uint64_t pool_cached; /* accepts that passed no memfd (IPC_SI_CACHED) */
	uint64_t pool_fetched; /* IPC_MEMFD served: the shim had lost the mapping */
	/* connections pushed to listeners (IPC_PUSH), and pushes that could
	 * not be queued on the channel (that connection was reset) */
	uint64_t pushes, push_failed;
	uint64_t tx_grown; /* IPC_TXGROW that doubled a send ring */
	/* channels of accepted connections (IPC_CHAN): bound, refused (no
	 * such socket or token), and connections reset because theirs never
	 * came or their listener closed first */
	uint64_t chan_bound, chan_refused, chan_orphaned, chan_unaccepted;
	/* refused by a per-user limit: sessions (HELLO answered -ENOBUFS) and
	 * sockets (IPC_SOCKET -ENOBUFS; accepted connections wait unpushed) */
	uint64_t user_sess_refused, user_socks_refused;
	uint64_t flush_round; /* ipc_flush_wakes calls (starts at 1) */
};

extern struct ipc *ipc_state;

/* Install the binary handler on the control socket; 0 or negative errno. */
int ipc_init(struct ud *ud);
/* Close every socket and session (before the stack is freed). */
void ipc_fini(void);
/* `name value` lines (the `ipc` control command). */
void ipc_report(report_line_fn fn, void *ctx);
/* The `users` control command: per user (uid), the programs (sessions)
 * and ustack sockets held now, after a header line. */
void ipc_report_users(report_line_fn fn, void *ctx);

/* May this session hold one more socket (per process and per user)? */
bool ipc_sess_room(struct ipc_sess *ss);
/* The same as an answer, counted: 0, -EMFILE (the process's 4096) or
 * -ENOBUFS (the user's --user-sockets). */
int ipc_sess_admit(struct ipc_sess *ss);
/* A socket's reference to its session (and its user's count). */
void ipc_sess_hold(struct ipc_sess *ss);
/* Drop a session reference held by a socket (frees a closed, empty session). */
void ipc_sess_put(struct ipc_sess *ss);

/* One received message: header checked (magic, no reply flag, len matching
 * the record).  Returns 1 with *m and *payload set, 0 when nothing is queued,
 * -EPIPE on hang-up, -EBADMSG on a malformed record, other negative errno. */
int ipc_recv(int fd, void *buf, size_t cap, struct ipc_msg **m, uint8_t **payload);
/* Send one record (+ up to two fds) without blocking; 0 or negative errno. */
int ipc_send(int fd, uint16_t type, uint16_t flags, uint32_t seq, int32_t status,
	     const void *payload, uint32_t len, const int *fds, int nfds);
/* The same, addressed to the process `owner` (a reply: the request's). */
int ipc_send_to(int fd, uint32_t owner, uint16_t type, uint16_t flags, uint32_t seq,
		int32_t status, const void *payload, uint32_t len, const int *fds, int nfds);

#endif
