/* stack_impl.h - the inside of struct us_stack and the calls the stack's
 * modules make to each other.  Not part of the public API (ustack.h). */
#ifndef USTACK_STACK_IMPL_H
#define USTACK_STACK_IMPL_H

#include <stddef.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include "ustack.h"
#include "wire_eth.h"
#include "wire_ip4.h"

#define US_CONTAINER_OF(ptr, type, member)                                     \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define US_SEC 1000000ull
#define US_MSEC 1000ull

/* ---- Time and timers (timer.c) ---------------------------------------- */

struct us_timer;
typedef void (*us_timer_fn)(struct us_stack *s, struct us_timer *t);

/* A deadline in the stack's timer tree.  Embedded in its owner; armed
 * timers are kept in an RB tree ordered by (when, seq), so the next
 * deadline is the leftmost node and nothing scans all owners. */
struct us_timer {
	RB_ENTRY(us_timer) node;
	uint64_t when;
	uint64_t seq;
	us_timer_fn fn;
	bool armed;
};
RB_HEAD(us_timer_tree, us_timer);

void timer_init(struct us_timer *t, us_timer_fn fn);
void timer_arm(struct us_stack *s, struct us_timer *t, uint64_t when);
void timer_cancel(struct us_stack *s, struct us_timer *t);
void timer_run(struct us_stack *s, uint64_t now);
uint64_t timer_next(const struct us_stack *s);

/* ---- Randomness (rand.c) ------------------------------------------------ */

struct us_rng {
	uint64_t st[4]; /* xoshiro256** state */
	uint64_t key[2]; /* SipHash key for keyed hashes (ISNs, ID buckets) */
};
void rng_seed(struct us_rng *r, const uint64_t seed[2]);
uint64_t rng_next(struct us_rng *r);
/* Uniform in [0, n), n > 0. */
uint32_t rng_below(struct us_rng *r, uint32_t n);
uint64_t us_siphash(const uint64_t key[2], const void *data, size_t len);

/* ---- Packets ------------------------------------------------------------ */

/* Transport headers are built at txbuf + US_TX_L4_OFF so that the IP and
 * link headers and the output headroom fit in front. */
#define US_TX_L3_OFF (US_OUT_HEADROOM + ETH_HLEN)
#define US_TX_L4_OFF (US_TX_L3_OFF + IP4_HLEN)
#define US_IP_MAXPACKET 65535u

/* A packet held for later (ARP queue, local loopback): the IPv4 packet is
 * at data[US_TX_L3_OFF], len bytes. */
struct us_held {
	STAILQ_ENTRY(us_held) link;
	uint32_t nexthop;
	size_t len;
	uint8_t data[];
};
STAILQ_HEAD(us_held_q, us_held);
struct us_held *held_new(const uint8_t *ip_pkt, size_t len, uint32_t nexthop);

/* ---- Routing (route.c) -------------------------------------------------- */

#define US_MAX_ROUTES 16
struct us_route {
	uint32_t net, mask, gw;
	uint8_t prefix;
};
/* Next hop and link MTU for dst; -ENETUNREACH if no route. */
int route_lookup(struct us_stack *s, uint32_t dst, uint32_t *nexthop, uint16_t *mtu);
bool route_is_bcast(const struct us_stack *s, uint32_t a);

/* ---- Link: Ethernet and ARP (eth.c, arp.c) ------------------------------ */

void eth_input(struct us_stack *s, const uint8_t *frame, size_t len);
/* Send the IPv4 packet at pkt (with US_TX_L3_OFF bytes of headroom) to
 * nexthop: resolves, queues or frames it. */
int link_output_ip(struct us_stack *s, uint8_t *pkt, size_t len, uint32_t nexthop);
/* A packet with offload work (s->txm) that is about to be held (ARP
 * queue, loopback) gets its checksum completed here; a TSO frame larger
 * than the MTU cannot be held and returns -EMSGSIZE. */
int link_tx_finish(struct us_stack *s, uint8_t *pkt, size_t len);
int eth_output(struct us_stack *s, uint8_t *l3, size_t len, const uint8_t *dst, uint16_t type);

void arp_input(struct us_stack *s, const struct eth_hdr *eh, const uint8_t *buf, size_t len);
/* Resolve nexthop; returns 0 with mac filled, or -EAGAIN after taking a
 * copy of the packet into the waiting queue, or -ENOBUFS. */
int arp_resolve(struct us_stack *s, uint32_t nexthop, const uint8_t *pkt, size_t len, uint8_t mac[6]);
/* Would arp_resolve() send at once (a usable mapping exists)? */
bool arp_ready(struct us_stack *s, uint32_t nexthop);
void arp_announce(struct us_stack *s);
void arp_init(struct us_stack *s);
void arp_free(struct us_stack *s);

struct arp_entry;
RB_HEAD(arp_tree, arp_entry);

/* ---- IPv4 (ip4_input.c, ip4_output.c, ip4_reass.c) ---------------------- */

void ip4_input(struct us_stack *s, const uint8_t *pkt, size_t len);
/* Deliver a complete (reassembled if need be) datagram to its transport. */
void ip4_deliver(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt);
struct ip4_tx {
	uint32_t src, dst;
	uint8_t proto, tos, ttl;
	bool df;
	bool csum_partial; /* TCP checksum left for the device (US_OFFLOAD_TX_CSUM) */
	uint16_t gso_size; /* > 0: a TSO frame, cut by the device (US_OFFLOAD_TSO) */
};
/* Send the transport payload at l4 (l4len bytes, with US_TX_L4_OFF bytes of
 * headroom in front).  Fragments when needed and DF is clear. */
int ip4_output(struct us_stack *s, const struct ip4_tx *tx, uint8_t *l4, size_t l4len);
/* A packet we sent cannot be delivered (ARP failure): report it to its
 * transport as if an ICMP error had come back. */
void ip4_local_error(struct us_stack *s, const uint8_t *pkt, size_t len, uint8_t type, uint8_t code);
/* Process packets looped back to our own address. */
void ip4_loop_drain(struct us_stack *s);
/* errno for an ICMP error (as Linux's icmp_err_convert); 0 = not an error
 * for the socket. */
int icmp_errno(uint8_t type, uint8_t code);
/* Hand an error about our datagram `inner` (IP header + at least 8 bytes)
 * to the transport that sent it. */
void icmp_err_dispatch(struct us_stack *s, const uint8_t *inner, size_t len, uint8_t type,
		       uint8_t code, uint32_t rest);

struct reass_dgram;
TAILQ_HEAD(reass_list, reass_dgram);
#define US_REASS_TIMEOUT (30ull * 1000000)   /* Linux ipfrag_time */
#define US_REASS_MEM_MAX (4u * 1024 * 1024) /* hard cap on held fragments */
#define US_REASS_MAX_DGRAMS 128
void reass_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt);
void reass_free_all(struct us_stack *s);

/* ---- ICMP (icmp.c) ------------------------------------------------------ */

void icmp_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt);
/* Send an ICMP error about the packet `orig` (RFC 1122 §3.2.2 rules apply). */
void icmp_send_error(struct us_stack *s, uint8_t type, uint8_t code, uint32_t rest,
		     const uint8_t *orig, size_t orig_len);

/* ---- Transports (udp.c) -------------------------------------------------- */

void udp_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt);
/* An ICMP error (or local failure) for a datagram we sent. */
void udp_err_input(struct us_stack *s, int err, uint32_t dst, uint16_t sport, uint16_t dport);
void tcp_input(struct us_stack *s, const struct ip4_hdr *ih, const uint8_t *pkt);
void tcp_err_input(struct us_stack *s, int err, uint8_t type, uint8_t code, uint32_t rest,
		   const struct ip4_hdr *inner, const uint8_t *l4);
int tcp_init(struct us_stack *s);
void tcp_batch_flush(struct us_stack *s);
void tcp_fini(struct us_stack *s);
/* Stream socket calls (tcp_sock.c). */
struct tcp_pcb;
struct tcp_tree;
struct tcp_listen_tree;
int tcp_usr_attach(struct us_sock *so);
int tcp_usr_bind(struct us_sock *so, const struct us_addr *a);
int tcp_usr_listen(struct us_sock *so, int backlog);
int tcp_usr_accept(struct us_sock *so, struct us_sock **out, struct us_addr *peer);
int tcp_usr_connect(struct us_sock *so, const struct us_addr *a);
ssize_t tcp_usr_send(struct us_sock *so, const void *buf, size_t len, int flags);
ssize_t tcp_usr_recv(struct us_sock *so, void *buf, size_t len, int flags);
int tcp_usr_shutdown(struct us_sock *so, int how);
void tcp_usr_close(struct us_sock *so);
unsigned tcp_usr_events(const struct us_sock *so);
int tcp_usr_setopt(struct us_sock *so, enum us_sockopt opt, int val);
int tcp_usr_getopt(const struct us_sock *so, enum us_sockopt opt, int *val);

/* ---- Sockets (sock.c, udp.c) -------------------------------------------- */

struct udp_dgram;
STAILQ_HEAD(udp_dgram_q, udp_dgram);

struct us_sock {
	struct us_stack *stack;
	enum us_sock_type type;
	TAILQ_ENTRY(us_sock) all;
	TAILQ_ENTRY(us_sock) dirty_link;
	bool dirty;
	bool bound, connected, bcast;
	struct us_addr local, remote;
	int so_error;
	size_t rcvbuf, sndbuf;
	bool rcvbuf_set;       /* SO_RCVBUF given: no receive auto-tuning */
	us_notify_fn notify;
	void *notify_ctx;
	bool reuseaddr, reuseport;
	uint32_t owner;        /* uid, for SO_REUSEPORT's same-user rule */
	int ttl, tos;
	bool dg_keepalive;     /* UDP: SO_KEEPALIVE kept, no effect (as Linux) */
	int dg_linger;         /* UDP: SO_LINGER kept, no effect (as Linux) */
	/* TCP */
	struct tcp_pcb *tcp;
	/* UDP */
	RB_ENTRY(us_sock) port_node;  /* udp_ports, by (port, bind_seq) */
	uint64_t bind_seq;             /* order of binding on the port */
	struct udp_dgram_q rxq;
	size_t rx_bytes;
	unsigned rx_count;
};
TAILQ_HEAD(us_sock_list, us_sock);
RB_HEAD(udp_port_tree, us_sock);

struct us_sock *sock_alloc(struct us_stack *s, enum us_sock_type type);
/* Connections whose owner closed them (still finishing), for listings. */
void tcp_foreach_orphan(const struct us_stack *s, us_sock_cb cb, void *ctx);
/* Queue a readiness notification, delivered by sock_flush(). */
void sock_wakeup(struct us_sock *so);
void sock_flush(struct us_stack *s);
int udp_bind(struct us_sock *so, const struct us_addr *a);
int udp_connect(struct us_sock *so, const struct us_addr *a);
ssize_t udp_sendto(struct us_sock *so, const void *buf, size_t len, const struct us_addr *to);
ssize_t udp_recvfrom(struct us_sock *so, void *buf, size_t len, int flags, struct us_addr *from);
void udp_close(struct us_sock *so);
unsigned udp_events(const struct us_sock *so);
/* Choose a free ephemeral port (RFC 6056 algorithm 1) or 0. */
uint16_t udp_ephemeral_port(struct us_stack *s);

#define US_EPHEMERAL_LO 32768
#define US_EPHEMERAL_HI 60999
#define US_UDP_RCVBUF_DEFAULT (208u * 1024)

/* ---- Trace (trace.c) ----------------------------------------------------- */

void us_trace_emit(struct us_stack *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define US_TRACE(s, ...)                                                       \
	do {                                                                   \
		if ((s)->cfg.trace)                                            \
			us_trace_emit((s), __VA_ARGS__);                       \
	} while (0)
/* Dotted quad into a caller buffer of at least 16 bytes. */
const char *ip4_ntoa(uint32_t a, char buf[16]);

/* ---- The stack ------------------------------------------------------------ */

/* End of every entry point: drain loopback, deliver notifications. */
void stack_finish(struct us_stack *s);

#define US_INC(s, name) ((s)->ctr[US_CTR_##name]++)
#define US_ADD(s, name, n) ((s)->ctr[US_CTR_##name] += (n))

struct us_stack {
	struct us_config cfg;
	uint32_t netmask;
	uint64_t now;
	uint64_t ctr[US_CTR_MAX];
	struct us_rng rng;
	struct us_timer_tree timers;
	uint64_t timer_seq;

	struct us_route routes[US_MAX_ROUTES];
	unsigned nroutes;

	/* link */
	struct arp_tree arp;
	unsigned arp_count;
	size_t arp_qbytes;
	struct us_timer announce_timer;
	unsigned announce_left;

	/* IPv4 */
	uint16_t ip_id[256]; /* per-bucket IDs (RFC 7739 §5.3 style) */
	struct reass_list reass;
	size_t reass_mem;
	unsigned reass_count;
	struct us_held_q loopq;
	bool in_loop;

	/* ICMP rate limit: token bucket (tokens in 1/1000) */
	uint64_t icmp_tokens;
	uint64_t icmp_last;

	/* sockets */
	struct us_sock_list socks;
	struct us_sock_list dirty;
	struct udp_port_tree udp_ports;
	uint64_t udp_bind_seq;
	unsigned nsocks;

	/* TCP */
	unsigned batch_depth;
	TAILQ_HEAD(tcp_outq, tcp_pcb) tcp_outq; /* output deferred to batch end */
	struct tcp_tree *tcp_conns;          /* by 4-tuple */
	struct tcp_listen_tree *tcp_listeners; /* by local port */
	struct tcp_pcb *tcp_last;            /* one-entry lookup cache */
	uint32_t *tcp_port_refs;             /* pcbs per local port */
	uint32_t tcp_next_ephemeral;         /* RFC 6056 §3.3.3 counter */
	unsigned tcp_count;
	uint64_t tcp_mem;                    /* bytes in all TCP rings */
	uint64_t tcp_chal_tokens, tcp_chal_last;
	uint64_t tcp_cookie_last;            /* when a SYN cookie last went out */

	/* offloads: the frame being sent, the frame being received */
	struct us_tx_meta txm; /* L3-relative csum_start while set */
	unsigned rx_flags;     /* US_RXM_* of the frame in us_input_meta */

	uint8_t *txbuf;   /* US_TX_L4_OFF + 65535: transport builds here */
	uint8_t *fragbuf; /* US_TX_L3_OFF + mtu: one fragment at a time */
};

#endif
