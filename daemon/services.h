/* services.h - the small built-in Internet services (RFC 862/863/864) that
 * ustackd runs on the stack's own sockets. */
#ifndef UD_SERVICES_H
#define UD_SERVICES_H

#include <stdint.h>

#include "ustack.h"

#define SVC_ECHO 0x1u
#define SVC_DISCARD 0x2u
#define SVC_CHARGEN 0x4u

#define SVC_MAX 3

struct svc_sock; /* one open service socket (services.c) */

struct svc {
	struct us_stack *st;
	struct svc_sock *socks[SVC_MAX];
	uint8_t *buf; /* one datagram */
	unsigned chargen_line, chargen_col; /* position in the RFC 864 pattern */
	uint64_t rx, tx, drop_loop, drop_tx_err; /* counters shown with the rest */
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
