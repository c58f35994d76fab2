/* dev.c - owns the TAP/TUN device: creation through /dev/net/tun, its
 * configuration by ioctl on an AF_INET socket (MTU, kernel-side address,
 * IFF_UP; never ip(8)), and frame I/O.  The device is not persistent, so
 * closing its fd removes it. */
#include "dev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "args.h"
#include "fault.h"
#include "log.h"

static const char *dev_kind(enum us_link_mode mode)
{
	return mode == US_LINK_IP ? "TUN" : "TAP";
}

_Static_assert(sizeof(struct virtio_net_hdr) == 10, "virtio_net_hdr is 10 bytes");
_Static_assert(US_OUT_HEADROOM >= sizeof(struct virtio_net_hdr), "headroom for the vnet header");

static void dev_log_perm(const char *what, int err)
{
	log_err("%s: %s (CAP_NET_ADMIN is needed)", what, strerror(err));
}

int dev_open(struct dev *d, const char *ifname, enum us_link_mode mode, bool vnet)
{
	struct ifreq ifr;
	char what[64];
	int err;

	memset(d, 0, sizeof *d);
	d->fd = -1;
	d->mode = mode;
	strlcpy(d->ifname, ifname, sizeof d->ifname);
	snprintf(what, sizeof what, "cannot create %s device %s", dev_kind(mode), ifname);

	/* TUNSETIFF would attach to an existing persistent tun device of the
	 * same name; we only ever want a fresh one. */
	if (if_nametoindex(ifname) != 0) {
		log_err("%s: interface %s already exists (pick another --ifname)", what, ifname);
		return -EEXIST;
	}
	d->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (d->fd < 0) {
		err = errno;
		if (err == EPERM || err == EACCES)
			dev_log_perm("cannot open /dev/net/tun", err);
		else
			log_err("cannot open /dev/net/tun: %s", strerror(err));
		return -err;
	}
	memset(&ifr, 0, sizeof ifr);
	strlcpy(ifr.ifr_name, ifname, sizeof ifr.ifr_name);
	ifr.ifr_flags = (short)((mode == US_LINK_IP ? IFF_TUN : IFF_TAP) | IFF_NO_PI |
				(vnet ? IFF_VNET_HDR : 0));
	if (ioctl(d->fd, TUNSETIFF, &ifr) < 0) {
		err = errno;
		if (err == EPERM || err == EACCES)
			dev_log_perm(what, err);
		else if (err == EBUSY || err == EEXIST)
			log_err("%s: interface %s is already in use (pick another --ifname)", what,
				ifname);
		else if (err == EINVAL)
			log_err("%s: %s (an interface of another kind with that name exists?)",
				what, strerror(err));
		else
			log_err("%s: %s", what, strerror(err));
		dev_close(d);
		return -err;
	}
	d->vnet = vnet;
	log_verbose("created %s device %s", dev_kind(mode), ifname);
	return 0;
}

static int dev_ioctl(int sock, unsigned long req, struct ifreq *ifr, const char *what)
{
	if (ioctl(sock, req, ifr) == 0)
		return 0;
	int err = errno;
	if (err == EPERM || err == EACCES)
		dev_log_perm(what, err);
	else
		log_err("%s: %s", what, strerror(err));
	return -err;
}

static void dev_sin(struct sockaddr *sa, uint32_t ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(ip) };

	memcpy(sa, &sin, sizeof sin);
}

int dev_configure(struct dev *d, uint16_t mtu, uint32_t host_addr, uint8_t host_prefix)
{
	struct ifreq ifr;
	char what[96], ip[16];
	int sock, err;

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		err = errno;
		log_err("cannot open a configuration socket: %s", strerror(err));
		return -err;
	}
	memset(&ifr, 0, sizeof ifr);
	strlcpy(ifr.ifr_name, d->ifname, sizeof ifr.ifr_name);
	ifr.ifr_mtu = mtu;
	snprintf(what, sizeof what, "cannot set MTU %u on %s", mtu, d->ifname);
	err = dev_ioctl(sock, SIOCSIFMTU, &ifr, what);
	if (err)
		goto out;

	if (host_addr) {
		dev_sin(&ifr.ifr_addr, host_addr);
		snprintf(what, sizeof what, "cannot set address %s on %s",
			 args_ip_str(host_addr, ip, sizeof ip), d->ifname);
		err = dev_ioctl(sock, SIOCSIFADDR, &ifr, what);
		if (err)
			goto out;
		dev_sin(&ifr.ifr_netmask, args_mask(host_prefix));
		snprintf(what, sizeof what, "cannot set netmask /%u on %s", host_prefix, d->ifname);
		err = dev_ioctl(sock, SIOCSIFNETMASK, &ifr, what);
		if (err)
			goto out;
		log_verbose("kernel side of %s: %s/%u", d->ifname, ip, host_prefix);
	}

	snprintf(what, sizeof what, "cannot bring %s up", d->ifname);
	err = dev_ioctl(sock, SIOCGIFFLAGS, &ifr, what);
	if (err)
		goto out;
	ifr.ifr_flags |= IFF_UP;
	err = dev_ioctl(sock, SIOCSIFFLAGS, &ifr, what);
	if (err)
		goto out;
	log_verbose("%s is up, mtu %u", d->ifname, mtu);
out:
	close(sock);
	return err;
}

/* --trace: the device layer's line, first and last of a packet's way. */
static void dev_trace(const struct dev *d, const char *dir, size_t len)
{
	char line[96];

	snprintf(line, sizeof line, "dev  %s %zu bytes %s %s", dir, len,
		 dir[0] == 'r' ? "from" : "to", d->ifname);
	log_trace(NULL, line);
}

/* The virtio-net header of a frame from the kernel (IFF_VNET_HDR; the
 * fields are in the host's order on a little-endian host, which is what
 * TUNSETVNETLE asks for).  NEEDS_CSUM means the checksum is partial (the
 * local sender's CHECKSUM_PARTIAL) and DATA_VALID that the kernel checked
 * it: both are trusted.  A GSO frame (TSO4) is taken whole: the stack
 * accepts a TCP segment longer than the MSS.  Anything else - other GSO
 * types, ECN, a gso_size of 0 - is refused and counted. */
static int dev_rx_vnet(struct dev *d, const struct virtio_net_hdr *h, unsigned *rxflags)
{
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	*rxflags = 0;
	if (h->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		*rxflags = US_RXM_CSUM_OK;
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 && h->gso_size > 0)
		return 0;
	d->rx_bad_vnet++;
	return -EPROTO;
}

ssize_t dev_recv(struct dev *d, uint8_t *buf, size_t len, size_t *off, unsigned *rxflags)
{
	size_t hl = d->vnet ? sizeof(struct virtio_net_hdr) : 0;

	*off = hl;
	*rxflags = 0;
	for (;;) {
		ssize_t n = read(d->fd, buf, len);

		if (n >= 0) {
			if ((size_t)n < hl) {
				d->rx_bad_vnet++;
				continue;
			}
			if (hl) {
				struct virtio_net_hdr h;

				memcpy(&h, buf, sizeof h);
				if (dev_rx_vnet(d, &h, rxflags) < 0)
					continue;
			}
			n -= (ssize_t)hl;
			if (d->trace)
				dev_trace(d, "rx", (size_t)n);
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			d->rx_err++;
		return -errno;
	}
}

/* Write one frame (with the virtio-net header in front of it when the
 * device has one; the stack leaves US_OUT_HEADROOM bytes there), never
 * blocking. */
static int dev_write(struct dev *d, uint8_t *frame, size_t len, const struct us_tx_meta *m)
{
	if (d->vnet) {
		struct virtio_net_hdr h;

		memset(&h, 0, sizeof h);
		if (m && (m->flags & US_TXM_CSUM)) {
			h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			h.csum_start = m->csum_start;
			h.csum_offset = m->csum_offset;
		}
		if (m && (m->flags & US_TXM_TSO)) {
			h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
			h.gso_size = m->gso_size;
			h.hdr_len = m->hdr_len;
		}
		frame -= sizeof h;
		len += sizeof h;
		memcpy(frame, &h, sizeof h);
	}
	for (;;) {
		ssize_t n = write(d->fd, frame, len);

		if (n == (ssize_t)len)
			return 0;
		if (n >= 0) { /* the tun driver takes frames whole */
			d->tx_err++;
			return -EIO;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			d->tx_again++;
		else
			d->tx_err++;
		return -errno;
	}
}

/* fault_deliver_fn: write one frame that the fault injector let through
 * (no offloads are used with --fault). */
static int dev_xmit(void *ctx, uint8_t *frame, size_t len)
{
	struct dev *d = ctx;

	if (d->trace)
		dev_trace(d, "tx", len);
	return dev_write(d, frame, len, NULL);
}

int dev_output_meta(void *ctx, uint8_t *frame, size_t len, const struct us_tx_meta *m)
{
	struct dev *d = ctx;

	if (d->trace)
		dev_trace(d, m->flags & US_TXM_TSO ? "tx tso" : "tx", len);
	return dev_write(d, frame, len, m);
}

int dev_output(void *ctx, uint8_t *frame, size_t len)
{
	if (fault_injector) /* --fault: one pointer test when off */
		return fault_pass(fault_injector, FAULT_TX, frame, len, dev_xmit, ctx);
	return dev_xmit(ctx, frame, len);
}

void dev_offload(struct dev *d)
{
	/* TUN_F_TSO4 needs TUN_F_CSUM.  The kernel then sends us frames
	 * with partial checksums and TCP frames up to 64 KiB, and takes the
	 * same from us. */
	unsigned feat = TUN_F_CSUM | TUN_F_TSO4;
	int hdrsz = (int)sizeof(struct virtio_net_hdr), le = 1;

	d->offload = 0;
	if (!d->vnet)
		return;
	if (ioctl(d->fd, TUNSETVNETHDRSZ, &hdrsz) < 0) {
		log_err("%s: TUNSETVNETHDRSZ: %s; offloads off", d->ifname, strerror(errno));
		return;
	}
	/* Little-endian fields whatever the host (virtio 1.0 order). */
	if (ioctl(d->fd, TUNSETVNETLE, &le) < 0 && errno != EINVAL)
		log_verbose("%s: TUNSETVNETLE: %s", d->ifname, strerror(errno));
	if (ioctl(d->fd, TUNSETOFFLOAD, feat) < 0) {
		log_err("%s: TUNSETOFFLOAD: %s; checksums and segmentation in software",
			d->ifname, strerror(errno));
		return;
	}
	d->offload = US_OFFLOAD_TX_CSUM | US_OFFLOAD_TSO;
	log_verbose("%s: offloads on: checksum, TSO/GSO (virtio-net header)", d->ifname);
}

void dev_close(struct dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}
