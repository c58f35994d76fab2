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
	uint64_t rx_bad_vnet;               /* frames with a virtio-net header we refuse */
	bool trace;                         /* --trace: a "dev" line per frame */
	bool vnet;                          /* IFF_VNET_HDR: a virtio_net_hdr per frame */
	unsigned offload;                   /* US_OFFLOAD_* the kernel accepted */
};

/* Create the device (non-persistent, nonblocking).  Errors are logged as
 * one line; returns 0 or negative errno. */
/* vnet: with IFF_VNET_HDR (then call dev_offload). */
int dev_open(struct dev *d, const char *ifname, enum us_link_mode mode, bool vnet);
/* Ask for offloads (after dev_open, before any I/O): a virtio-net header on
 * every frame, the kernel completing our TCP checksums and cutting our TSO
 * frames, and large (GSO) frames with trusted checksums from it.  Falls
 * back to plain frames when the kernel refuses; sets d->offload. */
void dev_offload(struct dev *d);
/* Set the MTU, optionally the kernel side's address, and bring it up. */
int dev_configure(struct dev *d, uint16_t mtu, uint32_t host_addr, uint8_t host_prefix);
/* One frame into buf: its length, -EAGAIN when none is waiting, or -errno.
 * *off is where the frame starts in buf (after a virtio-net header) and
 * *rxflags its US_RXM_* flags. */
ssize_t dev_recv(struct dev *d, uint8_t *buf, size_t len, size_t *off, unsigned *rxflags);
/* us_output_fn: write one frame, never blocking (ctx = struct dev *). */
int dev_output(void *ctx, uint8_t *frame, size_t len);
/* us_output_meta_fn: the same with offload work for the kernel. */
int dev_output_meta(void *ctx, uint8_t *frame, size_t len, const struct us_tx_meta *m);
/* Closing removes the device. */
void dev_close(struct dev *d);

#endif
