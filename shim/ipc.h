/* ipc.h - the wire protocol between libustack.so (the shim, in the program)
 * and ustackd.  Shared by shim/ and daemon/; nothing here trusts the other
 * side: every length, index and enum is checked by the receiver.
 *
 * Channels
 *  1. The control connection: one AF_UNIX SOCK_SEQPACKET connection per
 *     process to the daemon's control socket ($USTACK_SOCKET, default
 *     /run/ustack/ustackd.sock), opened lazily at the first socket() call
 *     (and again in a child after fork).  It starts with IPC_HELLO; it
 *     carries IPC_SOCKET requests.  The daemon checks SO_PEERCRED.
 *  2. One socket channel per ustack socket: a SOCK_SEQPACKET connection
 *     whose other end ustackd holds.  The program's end IS the program's
 *     socket file descriptor (a real kernel fd: dup, fork, exec,
 *     FD_SETSIZE, SCM_RIGHTS all behave).  When the last copy is closed
 *     (or the program dies), ustackd sees the hang-up and closes or resets
 *     the connection.  Per-socket requests (bind, connect, ...) go over
 *     it; ustackd sends wake-ups on it.  A socket() gets the program's end
 *     of a socketpair with the IPC_SOCKET reply; an accepted connection's
 *     channel is made by the program itself (see "Channels of accepted
 *     connections").
 *  3. Shared memory per socket: a memfd (sealed F_SEAL_SHRINK|F_SEAL_GROW)
 *     passed with the socket fd, mapped by both sides:
 *       [0, 4096)                     struct ipc_shm (indices, readiness)
 *       [4096, 4096 + rx_size)        receive ring (stream sockets): the
 *                                     ring uses its first rx_ring_size
 *                                     bytes (receive auto-tuning grows
 *                                     it, up to rx_size)
 *       [4096 + rx_size, + tx_size)   send ring (stream sockets)
 *     The rings ARE the TCP receive and send buffers of the stack core
 *     (us_sock_attach_rings): data is copied once between the program and
 *     the ring, once between the ring and the frame.
 *
 * Messages: every message on channels 1 and 2 is one SEQPACKET record:
 * struct ipc_msg followed by `len` payload bytes (len <= IPC_MAX_PAYLOAD).
 * File descriptors travel as SCM_RIGHTS with IPC_SOCKET, IPC_ACCEPT,
 * IPC_ATTACH and IPC_MEMFD replies and IPC_PUSH records only; of those,
 * only IPC_SOCKET carries an AF_UNIX socket.  A request's reply has the same type with IPC_F_REPLY set,
 * the same seq, and `status` = 0 / positive value or a negative errno.
 *
 * Stream data path (no message per write):
 *   program send():  copy into tx ring at tx_head, then publish tx_head
 *                    (release store); if the daemon asked (want_doorbell),
 *                    or the ring was empty before, send IPC_DOORBELL.
 *   ustackd:         on IPC_DOORBELL read tx_head ONCE, check
 *                    0 <= tx_head - tx_committed <= tx_size - in flight,
 *                    us_tx_commit(delta); when the stack frees send space
 *                    it publishes tx_tail.
 *   ustackd receive: the stack writes into the rx ring; ustackd publishes
 *                    rx_head and the readiness bits.
 *   program recv():  copy out from rx_tail, publish rx_tail; if the daemon
 *                    asked (want_rx_doorbell: a quarter of the ring or
 *                    more was unread, so the window is getting small),
 *                    send IPC_DOORBELL so ustackd can us_rx_consume() and
 *                    open the window.  Below that, reads ring nothing: a
 *                    request of a few hundred bytes read from a 256 KiB
 *                    ring changes no window worth announcing, and
 *                    ustackd takes the new rx_tail at its next sync.
 * want_doorbell and want_rx_doorbell have two writers on purpose: ustackd sets it after each
 * sync; the program publishes its index, then atomically exchanges the
 * flag with 0 and rings only if it was set - at most one doorbell in
 * flight, and no update is lost.
 * Replies to stream requests are sent after the new state and readiness
 * are published (a non-blocking connect must never see a stale fresh-socket
 * OUT|HUP).
 * Replies to their owner: a socket channel may be shared by processes
 * (fork, SCM_RIGHTS), each with a request in flight at once (socat
 * UDP-RECVFROM,fork: the parent blocks in recvfrom while the child sends
 * its answer).  So a request carries its sender's pid in `owner` and
 * ustackd copies it into the reply; a process reading the channel first
 * peeks (MSG_PEEK) at the next record and takes it only when it is an
 * IPC_WAKE, a reply of its own, or a reply whose owner no longer exists;
 * a reply for another live process stays queued for it.  Threads of one
 * process take turns (one request in flight per process and socket).  ipc_socket.type: 1 = stream, 2 = datagram (mapped explicitly, it
 * is not enum us_sock_type).
 * Connections pushed to the listener: ustackd takes an established
 * connection off the stack's accept queue at once and sends it down the
 * listener's channel as an IPC_PUSH record (owner 0: any process sharing
 * the listener may take it, as any may accept from a kernel listener), so
 * accept() costs the program one recvmsg instead of a round trip.  The
 * header counts them: acc_pushed (ustackd) and acc_taken (the program,
 * atomically, when it takes one off the channel); at most IPC_PUSH_MAX
 * wait in the channel, more stay in the stack's queue (events POLLIN) and
 * an IPC_ACCEPT request still takes them.  A process that meets an
 * IPC_PUSH while reading the channel for something else keeps it for its
 * next accept(); a child after fork does not inherit what its parent kept.
 * The program leaves a hint in the header: acc_pid (whose shim is likely to take the next one: IPC_SI_CACHED when its pid kept that
 * memory mapped).  A listener that lies in acc_taken only overfills its
 * own channel: a push that cannot be queued resets that connection.
 * Shared rings with several users: one socket may be used by several
 * processes (fork, exec, SCM_RIGHTS) and threads at once.  The program
 * side of each ring has one consumer/producer index, so its users take
 * turns: `tx_lock` / `rx_lock` in the program-written part are futex words
 * (0 = free, else the holder's pid, | IPC_LOCK_WAITERS when someone
 * sleeps on it; FUTEX_WAIT/FUTEX_WAKE, shared, see futex(2)).  A sender
 * holds tx_lock from its first byte to its last (also while it waits for
 * space), so one send() lands in the stream in one piece even when other
 * processes write the same socket; the same for rx_lock and recv().  A
 * waiter for the lock sleeps in slices and takes the lock over when the
 * holder's process has exited (pidfd_open(2) readable or ESRCH), so a
 * killed holder costs others at most one slice.  `waiters` counts the
 * callers (any process) blocked on the fd for an IPC_WAKE: one wake-up
 * record wakes every poller, but the first to drain it may not be the one
 * it was for, so while several wait they re-check every few milliseconds
 * instead of every second.  ustackd never reads or writes these words.
 * Adoption (IPC_ATTACH): a socket fd that reaches a process image whose
 * shim has no record of it (after execve, through SCM_RIGHTS, inherited
 * by posix_spawn) is found by the first interposed call on that fd
 * number.  The shim proves the fd is a socket channel of this ustackd
 * before it writes anything to it: AF_UNIX, SOCK_SEQPACKET, an unnamed
 * connected peer (a socketpair end) whose SO_PEERCRED is ustackd's (the
 * SO_PEERCRED pid/uid of the control connection, or the pid of the
 * IPC_HELLO reply, same uid; unix(7)).  Only then it sends IPC_ATTACH;
 * the reply carries ipc_attach and SCM_RIGHTS(memfd), and the shim maps
 * the rings as for a new socket.  Any other fd is remembered as "not
 * ours" until the shim sees that number closed or reused (close, dup2,
 * dup3, close_range, fds received with SCM_RIGHTS).
 * Channels of accepted connections: an AF_UNIX socket in flight (sent
 * with SCM_RIGHTS, not yet received) makes the kernel queue its AF_UNIX
 * garbage collector on every release of any AF_UNIX socket, system-wide
 * (net/unix/af_unix.c unix_release_sock while unix_tot_inflight != 0,
 * Linux 6.18): with connections pushed ahead of accept() there nearly
 * always is one, and nginx with short connections paid 1.2 kworker
 * wake-ups per connection, 1.5 context switches, for nothing.  So IPC_PUSH
 * and the IPC_ACCEPT reply carry no channel: they carry `chan_token`, a
 * random 64-bit secret, and the program makes the channel itself as soon
 * as it takes the record -- a new SOCK_SEQPACKET connection to the control
 * socket whose first record is IPC_CHAN (ipc_chan: sock_id and token; no
 * reply).  ustackd binds that connection to the socket and forgets the
 * token (a second IPC_CHAN with it is refused: the connection is closed).
 * Until then the connection lives in the stack and its rings fill as
 * usual; requests and doorbells the program sends right after IPC_CHAN
 * queue behind it.  A record a process took (acc_taken counts past it)
 * whose channel does not arrive within IPC_CHAN_WAIT_S (the process died
 * in between) is reset and counted (ipc_chan_orphaned), and connections
 * still waiting when their listener closes are reset, as Linux resets
 * its accept queue (RFC 793 abort).
 * Pooled shared memory: creating, sealing, mapping and unmapping a memfd
 * (and faulting in its fresh pages) on both sides cost a short connection
 * more than the rest of its life (nginx with Connection: close).  So the
 * memfd of a socket accepted from a listener goes back to that listener's
 * pool when the socket is gone, and the next connection accepted from
 * the same listener gets it again, header zeroed (its rings keep stale
 * bytes of an earlier connection of the same listener).  IPC_SI_POOLED in
 * the accept reply tells the shim to keep the mapping when it closes the
 * socket (a small cache keyed by the memfd's inode and ustackd's shm_id)
 * and to reuse it when the same memfd comes back.  The shim notes its pid in the
 * header's cached_by while it keeps a mapping; when ustackd hands that
 * memory to the same pid again it sends no memfd (IPC_SI_CACHED: one fd
 * less to pass, no fstat and close in the program), and a shim that lost
 * the mapping anyway asks for it once with IPC_MEMFD.  Who can see a pooled memfd: only processes
 * that share the listener (they accept each other's connections anyway).
 * A socket handed to another process image (IPC_ATTACH) never returns to
 * the pool, nor does one that moved more than a quarter of a ring (its
 * pages stay resident while pooled), and a pool holds IPC_POOL_MAX.
 * Send auto-tuning: the send ring starts at 256 KiB and may double into
 * the send memory mapped for it (tx_size, 4 MiB unless SO_SNDBUF was
 * set) when it limits the connection (stack/tcp_sock.c).  The program
 * writes that ring, so the ring changes size only when the program asks:
 * a sender that finds the ring full while tx_grow is 1 sends IPC_TXGROW
 * holding tx_lock (no one writes the ring meanwhile); ustackd syncs the
 * ring, moves its bytes to their positions under the new size, stores
 * tx_ring_size and replies.  Every sender loads tx_ring_size after it
 * takes tx_lock.
 * Readiness: ustackd keeps `events` (US_EV_* bits) current.  A program
 * about to block stores the bits it waits for in `want` (seq_cst), then
 * re-reads `events`; if still not ready it waits for its fd to become
 * readable (poll/epoll on the real fd).  ustackd, when `events & want`
 * becomes non-zero, clears those bits of `want` (the others stay: another
 * thread or process may still wait for them) and sends one IPC_WAKE.  The shim
 * drains IPC_WAKE messages (non-blocking) before re-checking.  So wake-ups
 * happen only on edges and only when asked; nothing spins.
 * A blocking call (recv/send on a stream socket) sleeps first on the
 * header's futex word instead: it loads `fseq`, ORs its bits into `fwant`
 * (seq_cst), re-reads `events` and the ring, then FUTEX_WAITs on `fseq`
 * with the value it loaded.  ustackd, when `events & fwant` becomes
 * non-zero, clears those bits, and at the end of the loop round increments
 * `fseq` and FUTEX_WAKEs every sleeper (shared futex, futex(2)).  No record
 * to queue and none to peek at and take: one system call per wake-up on
 * each side.  A futex cannot see ustackd die, so that sleep lasts at most
 * SHIM_QUICK_MS (shim_ipc.c); then the call waits on its fd as above, where
 * a hang-up is seen at once.
 */
#ifndef USTACK_IPC_H
#define USTACK_IPC_H

#include <stdint.h>

#define IPC_MAGIC 0x4b545355u /* "USTK" little-endian */
#define IPC_VERSION 7
#define IPC_MAX_PAYLOAD 65600u /* a UDP datagram and its header */
#define IPC_SHM_HDR 4096u
#define IPC_PUSH_MAX 16u /* IPC_PUSH records waiting in a listener's channel */
#define IPC_CHAN_WAIT_S 5u /* seconds a taken record's channel may take */
#define IPC_RING_MIN 4096u
#define IPC_RING_MAX (16u << 20)

enum ipc_type {
	/* control connection */
	IPC_HELLO = 1,     /* req: ipc_hello; rep: ipc_hello */
	IPC_SOCKET = 2,    /* req: ipc_socket; rep: ipc_sockinfo + SCM_RIGHTS(fd, memfd) */
	IPC_CHAN = 3,      /* the first record of a new connection to the
			    * control socket that becomes the channel of an
			    * accepted connection: ipc_chan; no reply */
	/* socket channel, program -> ustackd */
	IPC_BIND = 10,     /* req: ipc_addr */
	IPC_LISTEN = 11,   /* req: ipc_int (backlog) */
	IPC_CONNECT = 12,  /* req: ipc_addr; rep status 0 or -EINPROGRESS */
	IPC_ACCEPT = 13,   /* req: -; rep: ipc_sockinfo (peer, chan_token) +
			    * SCM_RIGHTS(memfd) unless IPC_SI_CACHED */
	IPC_SHUTDOWN = 14, /* req: ipc_int (SHUT_*) */
	IPC_SETOPT = 15,   /* req: ipc_opt */
	IPC_GETOPT = 16,   /* req: ipc_opt (val ignored); rep: ipc_opt */
	IPC_GETNAME = 17,  /* req: ipc_int (0 local, 1 peer); rep: ipc_addr */
	IPC_TCPINFO = 18,  /* rep: struct us_tcp_info */
	IPC_SENDTO = 19,   /* req: ipc_dgram + data; rep status = bytes */
	IPC_RECVFROM = 20, /* req: ipc_dgram (len = buffer size, flags); rep: ipc_dgram + data */
	IPC_SOERROR = 21,  /* rep status = pending error (positive errno), cleared */
	IPC_ATTACH = 22,   /* req: -; rep: ipc_attach + SCM_RIGHTS(memfd) (adoption) */
	IPC_MEMFD = 23,    /* req: -; rep: SCM_RIGHTS(memfd): only as the first
			    * request on a socket accepted with IPC_SI_CACHED
			    * whose mapping the shim no longer has */
	IPC_TXGROW = 24,   /* req: -; rep status = the send ring's new size, or
			    * -EAGAIN: see "Send auto-tuning" */
	IPC_DOORBELL = 30, /* no reply: rings moved, sync them */
	/* socket channel, ustackd -> program */
	IPC_WAKE = 40,     /* no reply: events & want became non-zero */
	IPC_PUSH = 41,     /* on a listener's channel: a connection accepted
			    * ahead of accept(): ipc_sockinfo [+ SCM_RIGHTS(
			    * memfd)] as in an IPC_ACCEPT reply (see
			    * "Connections pushed to the listener") */
};

#define IPC_F_REPLY 0x1u
/* A request that wants no reply: only IPC_SETOPT of TCP_NODELAY and
 * TCP_CORK on stream sockets, options that cannot fail on a socket that
 * exists (Linux also takes them on a reset connection).  It saves the
 * caller a round trip on every accepted connection (nginx sets
 * TCP_NODELAY on each); ustackd drops a socket that sends it otherwise. */
#define IPC_F_NOREPLY 0x2u
/* TCP_CORK on is not even a message: the program notes in the header from
 * which send-ring index output is corked (cork_at, then cork_gen + 1), and
 * ustackd applies it at its next sync of the ring -- bytes before that
 * index go out as they would have, the rest waits.  Turning TCP_CORK off
 * releases data, so it stays an IPC_F_NOREPLY message; its header's
 * `status` carries the cork_gen the program had seen, so that a cork set
 * again after it (a newer generation) still applies from its own index.
 * nginx corks every response: one message less per connection. */
/* IPC_SOCKET requests: the program wants the new socket non-blocking.
 * ustackd then makes the socketpair with SOCK_NONBLOCK (both ends:
 * ustackd's end needs it anyway) and says so with IPC_SI_NONBLOCK, which
 * saves an fcntl on each side.  (The channel of an accepted connection is
 * the program's own making: it opens it as it likes.) */
#define IPC_F_NONBLOCK 0x4u

struct ipc_msg {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint32_t seq;
	int32_t status;
	uint32_t len;      /* payload bytes after this header */
	uint32_t owner;    /* request: the sender's pid; reply: the same;
			    * 0 in IPC_WAKE (see "Replies to their owner") */
};

struct ipc_hello {
	uint32_t version;
	uint32_t pid;
};

struct ipc_socket {
	uint32_t type;     /* 1 = stream (TCP), 2 = datagram (UDP) */
	uint32_t reserved;
};

struct ipc_addr {
	uint32_t ip;       /* host byte order */
	uint16_t port;     /* host byte order */
	uint16_t reserved;
};

#define IPC_SI_POOLED 0x1u /* this memfd may come back for a later
			    * connection of the same listener: keep the
			    * mapping after close (see "Pooled shared memory") */
#define IPC_SI_NONBLOCK 0x2u /* the program's end is already O_NONBLOCK */
#define IPC_SI_CACHED 0x4u /* with IPC_SI_POOLED: no memfd was sent, this
			    * process said it keeps the mapping (ipc_shm
			    * cached_by); find it by shm_ino and shm_id, or
			    * ask for the memfd with IPC_MEMFD */
struct ipc_sockinfo {
	uint32_t sock_id;
	uint32_t type;
	uint32_t rx_size;  /* ring sizes (0 for datagram sockets) */
	uint32_t tx_size;
	struct ipc_addr peer; /* IPC_ACCEPT */
	uint32_t flags;    /* IPC_SI_* */
	uint32_t shm_id;   /* IPC_SI_POOLED: this memfd's number, new for each
			    * memfd ustackd creates (an inode number alone may
			    * come back after 2^32 memfds) */
	uint64_t shm_ino;  /* IPC_SI_POOLED: the memfd's inode number */
	uint64_t chan_token; /* IPC_ACCEPT, IPC_PUSH: for IPC_CHAN (see
			      * "Channels of accepted connections") */
};

struct ipc_chan {
	uint32_t sock_id;  /* ipc_sockinfo.sock_id */
	uint32_t reserved;
	uint64_t token;    /* ipc_sockinfo.chan_token */
};

/* IPC_ATTACH reply: the socket as a new process image must see it. */
#define IPC_ATT_LISTENING 0x1u
#define IPC_ATT_CONNECTED 0x2u  /* connected now or earlier (stream), has a peer (datagram) */
#define IPC_ATT_CONNECTING 0x4u
#define IPC_ATT_SHUT_RD 0x8u
#define IPC_ATT_SHUT_WR 0x10u
struct ipc_attach {
	struct ipc_sockinfo si; /* peer unused */
	uint32_t flags;         /* IPC_ATT_* */
	uint32_t reserved;
};

_Static_assert(sizeof(struct ipc_sockinfo) == 48, "ipc_sockinfo has no hidden padding");
_Static_assert(sizeof(struct ipc_chan) == 16, "ipc_chan has no hidden padding");

struct ipc_int {
	int32_t val;
	uint32_t reserved;
};

struct ipc_opt {
	int32_t opt;       /* enum us_sockopt */
	int32_t val;
};

struct ipc_dgram {
	struct ipc_addr addr; /* destination (sendto) or source (recvfrom) */
	int32_t flags;        /* US_MSG_* */
	uint32_t len;         /* recvfrom: buffer size asked; reply: full datagram length */
	uint32_t has_addr;    /* sendto: 0 = use the connected peer */
	uint32_t reserved;
};

#define IPC_LOCK_WAITERS 0x80000000u

/* The shared header.  Each field has ONE writer; the reader loads it once
 * per use and validates it.  Indices are free-running byte counts modulo
 * 2^32 (position = index & (size - 1)). */
struct ipc_shm {
	/* written by ustackd */
	uint32_t rx_head;      /* bytes the stack put in the rx ring */
	uint32_t tx_tail;      /* bytes the stack took from the tx ring (acked) */
	uint32_t events;       /* US_EV_* readiness */
	uint32_t state;        /* enum us_tcp_state (stream) */
	uint32_t want_doorbell; /* 1: ring a doorbell after the next send */
	uint32_t want_rx_doorbell; /* 1: ... after the next recv */
	uint32_t rx_ring_size;  /* the receive ring's size now (<= the mapped
				 * rx_size; a power of two; grows only while
				 * the ring is empty, stored before rx_head) */
	uint32_t acc_pushed;    /* listener: IPC_PUSH records sent so far */
	uint32_t tx_ring_size;  /* the send ring's size now (<= the mapped
				 * tx_size; a power of two; changes only in an
				 * IPC_TXGROW, see "Send auto-tuning") */
	uint32_t tx_grow;       /* 1: the send ring limits the connection,
				 * IPC_TXGROW would double it */
	uint32_t fseq;          /* futex word: incremented (then FUTEX_WAKE, all)
				 * when `events & fwant` became non-zero */
	uint32_t daemon_pad[5];
	/* written by the program */
	uint32_t rx_tail;      /* bytes the program consumed */
	uint32_t tx_head;      /* bytes the program produced */
	uint32_t want;         /* US_EV_* bits the program waits for */
	uint32_t tx_lock;      /* program-only futex words (see above) */
	uint32_t rx_lock;
	uint32_t waiters;      /* program-only: callers blocked on the fd now */
	uint32_t cached_by;    /* pooled memory: the pid whose shim keeps this
				* mapping after close (0 when it let it go);
				* read by ustackd when it hands the memory out
				* again, a hint only (a miss costs IPC_MEMFD) */
	uint32_t acc_taken;    /* listener: IPC_PUSH records taken off the channel */
	uint32_t acc_flags;    /* listener, program-only: 1 = the last accept
				* wanted SOCK_NONBLOCK (the next channel is
				* opened so) */
	uint32_t acc_pid;      /* listener hint: the last process that accepted */
	uint32_t cork_at;      /* TCP_CORK set without a message: from this tx
				* index on, output is corked (stored first) */
	uint32_t cork_gen;     /* ... then this is incremented (release) */
	uint32_t chan_lock;    /* a program-side lock word (as tx_lock): held
				* across a peek at the channel and the receive
				* of that record, by every process */
	/* Socket-wide options kept by the program, as Linux keeps them in
	 * the socket (sk_rcvtimeo, sk_sndtimeo, sk_rcvlowat): every process
	 * sharing the socket (fork, exec, SCM_RIGHTS) sees the same.  ms;
	 * 0 = none (SO_RCVLOWAT: 1).  ustackd never reads them. */
	int32_t rcvtimeo_ms;
	int32_t sndtimeo_ms;
	int32_t rcvlowat;
	uint32_t fwant;        /* US_EV_* bits a caller sleeping on fseq waits
				* for (cleared by ustackd as `want`) */
};

#endif
