/* services.h - the small built-in Internet services (RFC 862/863/864) that
 * ustackd runs on the stack's own sockets, over UDP and TCP. */
#ifndef UD_SERVICES_H
#define UD_SERVICES_H

#include <stdint.h>

#include "ustack.h"

#define SVC_ECHO 0x1u
#define SVC_DISCARD 0x2u
#define SVC_CHARGEN 0x4u

#define SVC_MAX 3

struct svc_sock; /* one open service socket (services.c) */
struct svc_tcp;  /* the TCP listeners and connections (svc_tcp.c) */

struct svc {
	struct us_stack *st;
	struct svc_sock *socks[SVC_MAX];
	struct svc_tcp *tcp;
	uint8_t *buf; /* one datagram */
	unsigned chargen_line, chargen_col; /* position in the RFC 864 pattern */
	/* Counters shown with the rest: UDP datagrams... */
	uint64_t rx, tx, drop_loop, drop_tx_err;
	/* ...and TCP: connections accepted, closed (all closes), of those the
	 * ones ended by a reset or error, accept failures (no memory), and
	 * payload bytes in and out. */
	uint64_t tcp_accepted, tcp_closed, tcp_aborted, tcp_accept_err;
	uint64_t tcp_rx_bytes, tcp_tx_bytes;
};

/* Name -> SVC_* bit, or -1. */
int svc_lookup(const char *name);
/* "echo,discard,chargen" */
const char *svc_known_list(void);
/* The enabled names of a mask as a comma list into buf. */
const char *svc_mask_str(unsigned mask, char *buf, size_t len);

/* Open the services in `mask`; 0 or negative errno (already logged). */
int svc_start(struct svc *sv, struct us_stack *st, unsigned mask);
void svc_stop(struct svc *sv);

#endif
