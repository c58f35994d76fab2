/* ustack.h - public API of the pure protocol core.
 *
 * One struct us_stack holds a whole stack: no globals, no syscalls, no
 * threads.  Time is an input (monotonic microseconds); frames come in with
 * us_input() and leave through the output callback given at creation;
 * us_poll() runs due timers and returns the next deadline.  Socket readiness
 * changes are reported through a per-socket notify callback that is called
 * only at the end of us_input()/us_poll()/API calls, never while the stack is
 * in the middle of processing, so a callback may call back into the stack.
 *
 * Byte order: every address and port in this API is in host byte order.
 */
#ifndef USTACK_H
#define USTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "counters.h"

#define US_TIME_NEVER UINT64_MAX

/* Bytes of writable headroom guaranteed before every frame handed to the
 * output callback (room for a virtio-net header, for instance). */
#define US_OUT_HEADROOM 16

enum us_link_mode {
	US_LINK_ETHER = 0, /* TAP: Ethernet II frames, ARP */
	US_LINK_IP = 1,    /* TUN: raw IPv4 packets, no link header */
};

/* Output: send one frame.  Returns 0 or a negative errno (counted as a drop). */
typedef int (*us_output_fn)(void *ctx, uint8_t *frame, size_t len);

/* Offloads (us_config.offload): what the device under the stack does for
 * it, in virtio-net terms (the TAP's IFF_VNET_HDR, TUNSETOFFLOAD).
 *  US_OFFLOAD_TX_CSUM  TCP frames may leave with a partial checksum: the
 *                      pseudo-header sum at csum_start + csum_offset, the
 *                      device completes it (VIRTIO_NET_HDR_F_NEEDS_CSUM).
 *  US_OFFLOAD_TSO      TCP may send one frame of up to 64 KiB that the
 *                      device cuts into gso_size segments (needs TX_CSUM).
 * Frames with offload work pass through output_meta, never output. */
#define US_OFFLOAD_TX_CSUM 0x1u
#define US_OFFLOAD_TSO 0x2u

#define US_TXM_CSUM 0x1u /* checksum partial: device completes it */
#define US_TXM_TSO 0x2u  /* cut into gso_size payload segments (TCPv4) */
struct us_tx_meta {
	uint16_t flags;       /* US_TXM_*; 0 = a complete frame */
	uint16_t csum_start;  /* offset of the L4 header from the frame start */
	uint16_t csum_offset; /* of the checksum field within the L4 header */
	uint16_t hdr_len;     /* link + IP + TCP header bytes (TSO) */
	uint16_t gso_size;    /* payload bytes per segment (TSO) */
};
typedef int (*us_output_meta_fn)(void *ctx, uint8_t *frame, size_t len,
				 const struct us_tx_meta *meta);

/* Input flags (us_input_meta). */
#define US_RXM_CSUM_OK 0x1u /* the L4 checksum was checked, or is partial
			     * (a local sender's NEEDS_CSUM): do not verify */
/* Trace: one human-readable line (no newline) describing a packet's step. */
typedef void (*us_trace_fn)(void *ctx, const char *line);

struct us_config {
	enum us_link_mode mode;
	uint8_t mac[6];    /* our MAC (ether mode) */
	uint32_t addr;     /* our IPv4 address */
	uint8_t prefix;    /* prefix length of the connected network */
	uint32_t gateway;  /* default gateway, 0 = none */
	uint16_t mtu;      /* IP MTU of the link, 576..65535 */
	uint64_t seed[2];  /* secret for ISNs, ports, IP ids (caller: arc4random) */
	us_output_fn output;
	void *output_ctx;
	us_trace_fn trace; /* NULL: tracing off, costs one branch per layer */
	void *trace_ctx;
	uint64_t tcp_time_wait; /* TIME_WAIT length (2*MSL) in us; 0 = 60 s */
	uint64_t tcp_mem_max;   /* all TCP buffers together, bytes; 0 = 2 GiB */
	uint32_t tcp_rcvbuf_max; /* receive auto-tuning's ceiling (window scale
				  * is chosen for it); 0 = the ring's size */
	uint32_t tcp_sndbuf_max; /* send auto-tuning's ceiling; 0 = 4 MiB
				  * (Linux's tcp_wmem maximum) */
	unsigned offload;       /* US_OFFLOAD_*; 0 = every frame complete */
	us_output_meta_fn output_meta; /* required when offload != 0 */
};

struct us_stack;

/* Create a stack; returns NULL and sets *err (negative errno) on bad config. */
struct us_stack *us_stack_new(const struct us_config *cfg, uint64_t now, int *err);
void us_stack_free(struct us_stack *s);
/* Bytes of TCP send and receive memory held now (every connection's rings,
 * orphans included), against us_config.tcp_mem_max. */
uint64_t us_tcp_mem(const struct us_stack *s);

/* Feed one received frame (Ethernet frame in ether mode, IPv4 packet in IP
 * mode).  The buffer is only read, and only during the call. */
void us_input(struct us_stack *s, const uint8_t *frame, size_t len, uint64_t now);
/* The same with US_RXM_* flags from the device.  A frame may then be larger
 * than the MTU (a TCP segment the sender's GSO did not cut). */
void us_input_meta(struct us_stack *s, const uint8_t *frame, size_t len, unsigned flags,
		   uint64_t now);

/* Batching: frames fed between us_batch_begin() and us_batch_end() are
 * answered once per connection at the end (one ACK for a burst, as GRO
 * gives the kernel), instead of once per frame or two. */
void us_batch_begin(struct us_stack *s);
void us_batch_end(struct us_stack *s, uint64_t now);

/* Run every timer due at `now`; returns the next deadline (US_TIME_NEVER if
 * none).  Also flushes pending socket notifications. */
uint64_t us_poll(struct us_stack *s, uint64_t now);

/* The earliest pending deadline without running anything. */
uint64_t us_next_deadline(const struct us_stack *s);

/* Announce our address (gratuitous ARP, RFC 5227 §3 style); ether mode. */
void us_announce(struct us_stack *s, uint64_t now);

/* Counters: s->ctr[US_CTR_x]; names in us_counter_names[]. */
const uint64_t *us_counters(const struct us_stack *s);

/* Routing: add a route (prefix 0 = default).  gw 0 = on-link. */
int us_route_add(struct us_stack *s, uint32_t net, uint8_t prefix, uint32_t gw);

/* Neighbour cache walk (ether mode), for control tools. */
enum us_neigh_state { US_NEIGH_INCOMPLETE, US_NEIGH_REACHABLE, US_NEIGH_STALE, US_NEIGH_FAILED };
struct us_neigh_info {
	uint32_t ip;
	uint8_t mac[6];
	enum us_neigh_state state;
	uint64_t expires; /* absolute time */
	unsigned queued;  /* packets waiting for resolution */
};
typedef void (*us_neigh_cb)(void *ctx, const struct us_neigh_info *n);
void us_neigh_foreach(const struct us_stack *s, us_neigh_cb cb, void *ctx);

/* ---- Sockets ---------------------------------------------------------- */

enum us_sock_type { US_SOCK_DGRAM = 1, US_SOCK_STREAM = 2 };

struct us_addr {
	uint32_t ip;
	uint16_t port;
};

/* Readiness bits (same meaning as poll(2)). */
#define US_EV_IN 0x001u
#define US_EV_OUT 0x004u
#define US_EV_ERR 0x008u
#define US_EV_HUP 0x010u
#define US_EV_RDHUP 0x2000u

/* Flags for send/recv (values as Linux's MSG_*). */
#define US_MSG_OOB 0x01
#define US_MSG_PEEK 0x02
#define US_MSG_TRUNC 0x20
#define US_MSG_WAITALL 0x100
#define US_MSG_MORE 0x8000

#define US_SHUT_RD 0
#define US_SHUT_WR 1
#define US_SHUT_RDWR 2

struct us_sock;
typedef void (*us_notify_fn)(void *ctx, struct us_sock *so, unsigned events);

int us_socket(struct us_stack *s, enum us_sock_type type, struct us_sock **out);
int us_bind(struct us_sock *so, const struct us_addr *a);
int us_connect(struct us_sock *so, const struct us_addr *a, uint64_t now);
/* Datagram send: returns bytes sent or negative errno.  `to` may be NULL on a
 * connected socket. */
ssize_t us_sendto(struct us_sock *so, const void *buf, size_t len, int flags,
		  const struct us_addr *to, uint64_t now);
/* Datagram receive: returns the datagram length (full length with
 * US_MSG_TRUNC), -EAGAIN when empty, or a pending error. */
ssize_t us_recvfrom(struct us_sock *so, void *buf, size_t len, int flags,
		    struct us_addr *from, uint64_t now);
/* Close: a stream socket closes gracefully (FIN after the queued data) and
 * lives on in the stack until the connection is over; with linger 0, or
 * with unread received data (RFC 2525 §2.17), it is reset instead.  The
 * handle is invalid after the call. */
int us_close(struct us_sock *so, uint64_t now);

/* ---- Stream (TCP) sockets ----------------------------------------------- */

int us_listen(struct us_sock *so, int backlog);
/* A connection from the accept queue; -EAGAIN if none. */
int us_accept(struct us_sock *so, struct us_sock **out, struct us_addr *peer, uint64_t now);
/* Connect: TCP returns -EINPROGRESS and reports the outcome through the
 * socket's events (US_EV_OUT when established, US_EV_ERR with the error
 * in us_sock_error otherwise). */
/* Copy into the send buffer: bytes taken, -EAGAIN when full, -EPIPE after
 * shutdown for writing or a reset, -ENOTCONN before the connection. */
ssize_t us_send(struct us_sock *so, const void *buf, size_t len, int flags, uint64_t now);
/* Copy out of the receive buffer: bytes, 0 at end of stream, -EAGAIN when
 * empty, or the pending error (-ECONNRESET...). */
ssize_t us_recv(struct us_sock *so, void *buf, size_t len, int flags, uint64_t now);
int us_shutdown(struct us_sock *so, int how, uint64_t now);

/* Zero-copy access to a stream socket's buffers (these are the rings that
 * will be shared with the program): up to two regions each. */
struct us_iov {
	uint8_t *base;
	size_t len;
};
/* Bytes received and not yet consumed; returns the number of regions. */
int us_rx_peek(struct us_sock *so, struct us_iov iov[2]);
int us_rx_consume(struct us_sock *so, size_t n, uint64_t now);
/* Free space in the send buffer; returns the number of regions. */
int us_tx_space(struct us_sock *so, struct us_iov iov[2]);
/* n bytes were written into the space from us_tx_space(): send them. */
int us_tx_commit(struct us_sock *so, size_t n, uint64_t now);

/* Give a stream socket's buffers new memory (e.g. memory shared with the
 * program): rx/tx sizes must be powers of two.  Whatever the buffers
 * hold is copied over (the sizes must then equal the current ones, see
 * us_ring_state).  rx_cap (a power of two >= rx_size) is how much
 * receive memory there is: receive auto-tuning may grow the ring into it
 * (when the socket's SO_RCVBUF was not set; up to us_config's
 * tcp_rcvbuf_max, which also fixed the window scale).  The caller keeps
 * the memory alive until us_close(), which stops using it (a connection
 * still finishing copies what it has left to send into memory of its
 * own). */
int us_sock_attach_rings(struct us_sock *so, uint8_t *rx, uint32_t rx_size, uint32_t rx_cap,
			 uint8_t *tx, uint32_t tx_size, uint32_t tx_cap);
/* Send auto-tuning for a ring whose writer is outside the stack (the
 * program, through shared memory): double the send ring now, if the
 * ring limits the connection (us_ring_state's tx_grow; tcp_sock.c).  The
 * writer must not be writing during the call.  Returns the new size, or
 * -EAGAIN when it is not worth it now (or not possible). */
int us_tcp_snd_grow(struct us_sock *so, uint64_t now);
/* Current ring sizes (0 if not yet allocated) and their free-running
 * indices: rx head/tail, tx head/tail. */
struct us_ring_state {
	uint32_t rx_size, tx_size;
	uint32_t rx_cap;  /* bytes of receive memory (>= rx_size, see attach) */
	bool rx_fixed;    /* SO_RCVBUF was set: the size never grows */
	bool rx_grow;     /* the ring will double the next time a read empties it */
	uint32_t tx_cap;  /* bytes of send memory (>= tx_size, see attach) */
	bool tx_fixed;    /* SO_SNDBUF was set: the size never grows */
	bool tx_grow;     /* the send ring limits the connection: us_tcp_snd_grow */
	uint32_t rx_head, rx_tail, tx_head, tx_tail;
};
int us_ring_state(const struct us_sock *so, struct us_ring_state *rs);

enum us_sockopt {
	US_SO_RCVBUF,       /* bytes */
	US_SO_SNDBUF,       /* bytes */
	US_SO_BROADCAST,    /* bool */
	US_SO_REUSEADDR,    /* bool */
	US_SO_KEEPALIVE,    /* bool */
	US_SO_LINGER,       /* seconds; -1 = off (the default) */
	US_TCP_NODELAY,     /* bool */
	US_TCP_CORK,        /* bool */
	US_TCP_KEEPIDLE,    /* seconds */
	US_TCP_KEEPINTVL,   /* seconds */
	US_TCP_KEEPCNT,     /* probes */
	US_TCP_USER_TIMEOUT, /* milliseconds; 0 = system default */
	US_TCP_CONGESTION,  /* enum us_cc */
	US_TCP_MAXSEG,      /* bytes */
	US_IP_TTL,
	US_IP_TOS,
	US_SO_REUSEPORT,    /* bool (UDP: port sharing, see udp.c) */
	US_TCP_DEFER_ACCEPT, /* seconds a listener holds a connection back
			      * until data comes; 0 = off */
	US_SOCKOPT_COUNT    /* not an option: one past the last */
};
enum us_cc { US_CC_CUBIC = 0, US_CC_NEWRENO = 1 };
int us_setsockopt(struct us_sock *so, enum us_sockopt opt, int val);
int us_getsockopt(const struct us_sock *so, enum us_sockopt opt, int *val);
/* The owner's user id, for SO_REUSEPORT's same-user rule (set by the
 * daemon from the program's credentials; 0 by default). */
void us_sock_set_owner(struct us_sock *so, uint32_t uid);

enum us_tcp_state {
	US_TCP_CLOSED, US_TCP_LISTEN, US_TCP_SYN_SENT, US_TCP_SYN_RECEIVED,
	US_TCP_ESTABLISHED, US_TCP_FIN_WAIT_1, US_TCP_FIN_WAIT_2, US_TCP_CLOSE_WAIT,
	US_TCP_CLOSING, US_TCP_LAST_ACK, US_TCP_TIME_WAIT,
};
extern const char *const us_tcp_state_names[];

/* A TCP_INFO-like snapshot; times in microseconds, sizes in bytes. */
struct us_tcp_info {
	enum us_tcp_state state;
	bool ts_ok, sack_ok, ws_ok, in_recovery;
	uint8_t snd_wscale, rcv_wscale;
	enum us_cc cc;
	uint32_t rto, rtt, rttvar;
	uint32_t snd_mss, rcv_mss;
	uint32_t cwnd, ssthresh;
	uint32_t snd_wnd, rcv_wnd;
	uint32_t unacked, sacked;      /* bytes in flight, bytes SACKed */
	uint32_t backoff;              /* current RTO backoff count */
	uint64_t retrans_segs, fast_retrans, timeouts;
	uint64_t bytes_acked, bytes_received, segs_in, segs_out;
};
int us_tcp_info(const struct us_sock *so, struct us_tcp_info *ti);
int us_getsockname(const struct us_sock *so, struct us_addr *a);
int us_getpeername(const struct us_sock *so, struct us_addr *a);
/* Pending socket error (SO_ERROR), cleared by the call; 0 if none. */
int us_sock_error(struct us_sock *so);
unsigned us_sock_events(const struct us_sock *so);
void us_sock_set_notify(struct us_sock *so, us_notify_fn fn, void *ctx);
void *us_sock_ctx(const struct us_sock *so);
enum us_sock_type us_sock_type_of(const struct us_sock *so);
/* Receive buffer limit in bytes (SO_RCVBUF). */
int us_sock_set_rcvbuf(struct us_sock *so, size_t bytes);

struct us_sock_info {
	enum us_sock_type type;
	enum us_tcp_state state;  /* stream sockets */
	bool orphan;              /* closed by its owner, still finishing */
	size_t tx_queued;
	struct us_addr local, remote;
	size_t rx_queued; /* bytes waiting to be read */
	unsigned events;
};
typedef void (*us_sock_cb)(void *ctx, const struct us_sock_info *si);
void us_sock_foreach(const struct us_stack *s, us_sock_cb cb, void *ctx);

#endif
