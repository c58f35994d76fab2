/* simcheck.h - small Check helpers shared by the simulation tests: a bound
 * UDP socket on one of the two stacks, and running a suite. */
#ifndef USTACK_SIMCHECK_H
#define USTACK_SIMCHECK_H

#include <check.h>
#include <stdlib.h>

#include "netsim.h"

/* A UDP socket on stack `who` bound to `port` (0: ephemeral). */
static inline struct us_sock *sim_udp_open(struct netsim *n, int who, uint16_t port)
{
	struct us_sock *so;
	struct us_addr a = {0, port};

	ck_assert_int_eq(us_socket(n->st[who], US_SOCK_DGRAM, &so), 0);
	ck_assert_int_eq(us_bind(so, &a), 0);
	return so;
}

/* Run every test of `s`; the process exit status. */
static inline int sim_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
