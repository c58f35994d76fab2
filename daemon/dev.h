/* dev.h - the TAP/TUN device ustackd runs the stack on. */
#ifndef UD_DEV_H
#define UD_DEV_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ustack.h"

struct dev {
	int fd;
	char ifname[IFNAMSIZ];
	enum us_link_mode mode;
	uint64_t rx_err, tx_err, tx_again; /* counters shown with the stack's */
	bool trace;                         /* --trace: a "dev" line per frame */
};

/* Create the device (non-persistent, nonblocking).  Errors are logged as
 * one line; returns 0 or negative errno. */
int dev_open(struct dev *d, const char *ifname, enum us_link_mode mode);
/* Set the MTU, optionally the kernel side's address, and bring it up. */
int dev_configure(struct dev *d, uint16_t mtu, uint32_t host_addr, uint8_t host_prefix);
/* One frame into buf: its length, -EAGAIN when none is waiting, or -errno. */
ssize_t dev_recv(struct dev *d, void *buf, size_t len);
/* us_output_fn: write one frame, never blocking (ctx = struct dev *). */
int dev_output(void *ctx, uint8_t *frame, size_t len);
/* Closing removes the device. */
void dev_close(struct dev *d);

#endif
