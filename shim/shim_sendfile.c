/* shim_sendfile.c - sendfile/sendfile64 onto ustack sockets, and
 * recvmmsg/sendmmsg as loops over recvmsg/sendmsg.  sendfile copies the
 * file through a buffer into the socket's ordinary send path
 * (shim_stream_send), so blocking, O_NONBLOCK, MSG_NOSIGNAL-less SIGPIPE
 * and timeouts are those of write(); only the bytes the socket took are
 * consumed from the file.  Other fds go to libc.  The libc entry points are
 * resolved in this file's own constructor (never lazily). */
/* sendfile and sendfile64 are both defined here: keep <sys/sendfile.h>
 * from renaming one to the other (64-bit: off_t is 64 bits either way). */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "shim.h"

#define SHIM_SF_CHUNK (256u << 10) /* at most this much buffered per copy */
#define SHIM_SF_DGRAM 65507u       /* one datagram per chunk on UDP */

static ssize_t (*shim_real_sendfile)(int, int, off_t *, size_t);
static ssize_t (*shim_real_sendfile64)(int, int, off64_t *, size_t);
static int (*shim_real_recvmmsg)(int, struct mmsghdr *, unsigned, int, struct timespec *);
static int (*shim_real_sendmmsg)(int, struct mmsghdr *, unsigned, int);

__attribute__((constructor)) static void shim_sendfile_init(void)
{
	*(void **)&shim_real_sendfile = dlsym(RTLD_NEXT, "sendfile");
	*(void **)&shim_real_sendfile64 = dlsym(RTLD_NEXT, "sendfile64");
	*(void **)&shim_real_recvmmsg = dlsym(RTLD_NEXT, "recvmmsg");
	*(void **)&shim_real_sendmmsg = dlsym(RTLD_NEXT, "sendmmsg");
	if (!shim_real_sendfile || !shim_real_sendfile64 || !shim_real_recvmmsg ||
	    !shim_real_sendmmsg) {
		fprintf(stderr, "libustack: cannot resolve libc symbol sendfile/recvmmsg/sendmmsg\n");
		abort();
	}
}

/* Free bytes in a stream socket's send ring (0 when it is corrupted). */
static size_t shim_tx_space(struct shim_sock *s)
{
	uint32_t tail = __atomic_load_n(&s->shm->tx_tail, __ATOMIC_ACQUIRE);
	uint32_t head = __atomic_load_n(&s->shm->tx_head, __ATOMIC_RELAXED);
	uint32_t used = head - tail, size = shim_tx_ring(s);

	return used > size ? 0 : size - used;
}

/* One chunk of data from in_fd: pread at pos when seekable (pos >= 0),
 * else read.  Returns bytes (0 at end of file) or a negative errno. */
static ssize_t shim_sf_read(int in_fd, uint8_t *buf, size_t len, off64_t pos)
{
	for (;;) {
		ssize_t r = pos >= 0 ? pread64(in_fd, buf, len, pos) : shim_real.read(in_fd, buf, len);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -errno;
	}
}

/* The ustack side of sendfile: `off` as sendfile's offset argument. */
static ssize_t shim_sendfile_sock(int out_fd, struct shim_sock *s, int in_fd, off64_t *off,
				  size_t count)
{
	bool nonblock = __atomic_load_n(&s->nonblock, __ATOMIC_RELAXED);
	off64_t pos;
	size_t done = 0;
	ssize_t ret = 0;

	if (off) {
		if (*off < 0)
			return -EINVAL;
		pos = *off;
	} else {
		/* The file position moves only by what the socket took. */
		pos = lseek64(in_fd, 0, SEEK_CUR);
		if (pos < 0 && errno != ESPIPE)
			return -errno;
	}
	if (count == 0)
		return 0;
	size_t cap = count < SHIM_SF_CHUNK ? count : SHIM_SF_CHUNK;
	if (s->type != SOCK_STREAM && cap > SHIM_SF_DGRAM)
		cap = SHIM_SF_DGRAM;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	while (done < count) {
		size_t want = count - done < cap ? count - done : cap;
		if (s->type == SOCK_STREAM && nonblock) {
			size_t space = shim_tx_space(s);
			if (space == 0) {
				/* A zero-length send reports EAGAIN, EPIPE or
				 * the pending error exactly as write() would. */
				if (done == 0) {
					struct iovec v = { buf, 0 };
					ret = shim_stream_send(out_fd, s, &v, 1, 0);
					if (ret == 0)
						continue; /* space appeared meanwhile */
				}
				break;
			}
			if (want > space)
				want = space;
		}
		ssize_t got = shim_sf_read(in_fd, buf, want, pos < 0 ? -1 : pos + (off64_t)done);
		if (got <= 0) {
			ret = got;
			break;
		}
		struct iovec v = { buf, (size_t)got };
		ssize_t sent = s->type == SOCK_STREAM ? shim_stream_send(out_fd, s, &v, 1, 0)
						      : send(out_fd, buf, (size_t)got, 0);
		if (s->type != SOCK_STREAM && sent < 0)
			sent = -errno;
		if (sent < 0) {
			ret = sent;
			/* Unseekable input: those bytes are gone (rare). */
			break;
		}
		done += (size_t)sent;
		if (sent < got)
			break; /* interrupted or would block part-way */
	}
	free(buf);
	if (pos >= 0) {
		if (off)
			*off = pos + (off64_t)done;
		else if (done)
			lseek64(in_fd, pos + (off64_t)done, SEEK_SET);
	}
	return done ? (ssize_t)done : ret;
}

SHIM_VIS ssize_t sendfile64(int out_fd, int in_fd, off64_t *off, size_t count)
{
	struct shim_sock *s = shim_fd_sock(out_fd);

	if (!s)
		return shim_real_sendfile64(out_fd, in_fd, off, count);
	if (count > 0x7ffff000)
		count = 0x7ffff000; /* as Linux */
	shim_sock_ref(s); /* alive while we use it, even if its fd is closed */
	ssize_t r = shim_sendfile_sock(out_fd, s, in_fd, off, count);
	shim_sock_unref(s);
	return shim_ret(r);
}

SHIM_VIS ssize_t sendfile(int out_fd, int in_fd, off_t *off, size_t count)
{
	struct shim_sock *s = shim_fd_sock(out_fd);

	if (!s)
		return shim_real_sendfile(out_fd, in_fd, off, count);
	_Static_assert(sizeof(off_t) == sizeof(off64_t), "64-bit off_t");
	return sendfile64(out_fd, in_fd, (off64_t *)off, count);
}

/* ---- recvmmsg / sendmmsg ------------------------------------------------- */

SHIM_VIS int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *tmo)
{
	struct shim_sock *s = shim_fd_sock(fd);
	unsigned i;

	if (!s) {
		int r = shim_real_recvmmsg(fd, v, n, flags, tmo);
		for (int k = 0; k < r; k++)
			shim_forget_rights(&v[k].msg_hdr);
		return r;
	}
	if (!v)
		return (int)shim_ret(-EFAULT);
	if (n > 1024) /* UIO_MAXIOV, as Linux */
		n = 1024;
	/* The timeout is checked after each message, as Linux does. */
	uint64_t deadline = tmo ? shim_now_ms() + (uint64_t)tmo->tv_sec * 1000u +
					  (uint64_t)tmo->tv_nsec / 1000000u
				: 0;
	for (i = 0; i < n; i++) {
		ssize_t r = recvmsg(fd, &v[i].msg_hdr, flags & ~MSG_WAITFORONE);
		if (r < 0) {
			if (i == 0)
				return -1;
			break; /* errno of a later message is dropped, as Linux */
		}
		v[i].msg_len = (unsigned)r;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
		if (tmo && shim_now_ms() >= deadline) {
			i++;
			break;
		}
	}
	return (int)i;
}

SHIM_VIS int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	struct shim_sock *s = shim_fd_sock(fd);
	unsigned i;

	if (!s)
		return shim_real_sendmmsg(fd, v, n, flags);
	if (!v)
		return (int)shim_ret(-EFAULT);
	if (n > 1024)
		n = 1024;
	for (i = 0; i < n; i++) {
		ssize_t r = sendmsg(fd, &v[i].msg_hdr, flags);
		if (r < 0) {
			if (i == 0)
				return -1;
			break;
		}
		v[i].msg_len = (unsigned)r;
	}
	return (int)i;
}
