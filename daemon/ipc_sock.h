/* ipc_sock.h - one ustack socket served to a program: the stack socket, the
 * daemon's end of the socket channel (a SEQPACKET socketpair, or for an
 * accepted connection a connection the program made to the control socket)
 * and the shared memfd (header + rx ring + tx ring, the TCP buffers
 * themselves). */
#ifndef UD_IPC_SOCK_H
#define UD_IPC_SOCK_H

#include <stdint.h>

#include "ipc_sess.h"
#include "ustack.h"

#define IPC_RING_DEFAULT (256u * 1024)
/* Receive memory mapped per stream socket for auto-tuning to grow the
 * ring into (us_config.tcp_rcvbuf_max is set to it) */
#define IPC_RING_RX_AUTO (4u << 20)
/* ... and send memory (us_config.tcp_sndbuf_max is set to it) */
#define IPC_RING_TX_AUTO (4u << 20)
#define IPC_POOL_MAX 32    /* pooled memfds per listener (shim/ipc.h) */
#define IPC_POOL_TOTAL 512 /* ... in all */

/* Shared memory of closed sockets accepted from one listener, kept for
 * its next connections (shim/ipc.h, "Pooled shared memory"). */
struct ipc_pool_slot {
	int memfd;
	uint8_t *map;
	size_t map_len;
	uint32_t rx_size, tx_size;
	uint32_t shm_id;
	uint64_t shm_ino;
};
struct ipc_pool {
	unsigned refs;      /* the listener (while open) + sockets from it */
	bool listener_gone; /* slots freed from now on, none kept */
	unsigned n;
	struct ipc_pool_slot slot[IPC_POOL_MAX];
};

struct ipc_sock {
	struct loop_source src; /* daemon's end of the socket channel; -1 when lingering */
	LIST_ENTRY(ipc_sock) link;
	LIST_ENTRY(ipc_sock) wake_link; /* in ipc.wakeq while wake_pending */
	bool wake_pending; /* an IPC_WAKE goes out at the end of the loop round */
	uint32_t wake_bits; /* ... for these US_EV_* bits */
	bool fwake; /* ... and fseq is bumped and woken (shim/ipc.h) */
	uint64_t push_round; /* ipc.flush_round of its last IPC_PUSH (it wakes too) */
	LIST_ENTRY(ipc_sock) push_link; /* in ipc.pushq while push_pending */
	bool push_pending; /* connections to push at the end of the loop round */
	bool listening;    /* IPC_LISTEN succeeded: connections are pushed */
	uint32_t pushed;   /* IPC_PUSH records sent (shm acc_pushed) */
	struct ipc_sess *sess;
	struct us_sock *so;
	enum us_sock_type type;
	uint32_t id;
	uint8_t *map; /* the whole memfd mapping */
	size_t map_len;
	struct ipc_shm *shm;
	uint32_t rx_size, tx_size; /* the mapping's rings (what auto-tuning
				    * may grow them to); never read back from shm */
	uint32_t seen_rx_tail, seen_tx_head; /* the program's indices at the last sync */
	uint32_t seen_cork_gen; /* the header's cork_gen last applied (shim/ipc.h) */
	int memfd;     /* kept for IPC_ATTACH (adoption by a new process image) */
	uint32_t shm_id; /* numbers each memfd ustackd creates (shim/ipc.h) */
	uint64_t shm_ino; /* the memfd's inode number */
	uint32_t cached_by; /* from the pool: the header's cached_by before reuse */
	bool memfd_owed; /* accepted with IPC_SI_CACHED: IPC_MEMFD may come first */
	struct ipc_pool *pool; /* a listener's pool, or the one this socket's
				* memory returns to (accepted sockets) */
	bool pool_owner; /* `pool` is this listener's own */
	bool pooled;   /* may return to `pool` (not handed on by IPC_ATTACH) */
	uint32_t rx_start, tx_start; /* ring indices at creation */
	bool was_connected; /* reached ESTABLISHED (connect or accept) */
	bool shut_rd, shut_wr; /* IPC_SHUTDOWN that succeeded */
	bool lingering; /* program gone; finishing the connection */
	bool in_sync; /* inside ipc_sock_sync: notifications wait */
	bool busy;    /* inside a request: notifications wait */
	bool dirty;   /* a notification waited */
	bool bad;     /* impossible index seen during a request */
	/* An accepted connection whose channel has not come yet (shim/ipc.h,
	 * "Channels of accepted connections"): src.fd is -1, chan_token is
	 * not 0, and it is in ipc.awaitq. */
	uint64_t chan_token;
	LIST_ENTRY(ipc_sock) await_link;
	struct ipc_sock *parent; /* the listener it came from */
	uint32_t push_seq;       /* its IPC_PUSH record's number (acc_pushed before it) */
	bool pushed_rec;         /* sent as IPC_PUSH (else an IPC_ACCEPT reply) */
	uint64_t taken_at;       /* when its record was seen taken (0: not yet) */
};

/* Create a socket for session ss: a new stack socket (so == NULL) of the
 * given type, or an accepted one (rings of its current sizes; memory from
 * `pool` when it has some of those sizes, and it returns there when the
 * socket is freed).  On success *memfd is the program's memory (the caller
 * sends it; it stays open here too, for IPC_ATTACH) and, when prog_fd is
 * not NULL, *prog_fd the program's end of a new socketpair (the caller
 * sends and closes it); with prog_fd NULL the channel comes later
 * (IPC_CHAN, the socket's chan_token).  On failure an accepted `so` is
 * closed. */
int ipc_sock_new(struct ipc_sess *ss, enum us_sock_type type, struct us_sock *so,
		 struct ipc_pool *pool, bool nonblock, struct ipc_sock **out, int *prog_fd,
		 int *memfd);
/* Send the IPC_WAKEs decided during this loop round (loop.c, before it
 * sleeps): one per socket however many frames of the round satisfied it. */
void ipc_flush_wakes(void);
/* Close the stack socket and free everything (daemon shutdown). */
void ipc_sock_destroy(struct ipc_sock *is);
/* IPC_CHAN, the first record `msg` of control connection fd (shim/ipc.h,
 * "Channels of accepted connections"): the fd becomes that socket's
 * channel, or is closed (unknown socket or token).  Takes the fd. */
void ipc_sock_chan(int fd, const uint8_t *msg, size_t len, uint64_t now);
/* Connections whose channel is overdue are reset: when to look next
 * (US_TIME_NEVER: none waits), and the look. */
uint64_t ipc_next_deadline(void);
void ipc_expire(uint64_t now);

#endif
