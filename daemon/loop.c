/* loop.c - owns ustackd's event loop: epoll over the device, a signalfd and
 * the control sockets; sleeps with µs precision (epoll_pwait2) until the
 * earliest deadline; feeds device frames to the stack in batches. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "fault.h"
#include "ipc_sock.h"
#include "log.h"
#include "report.h"
#include "ustackd.h"

#define LOOP_BATCH 64    /* frames read per device wakeup */
#define LOOP_QUIET_US 10 /* a wait this long means the link was quiet */
#define LOOP_EVENTS 32   /* epoll events per wait */
#define LOOP_RXBUF 65600 /* any frame the tun driver can hand us, with a
			  * virtio-net header and a 64 KiB GSO packet */

static struct loop *loop_of(struct loop_source *src, size_t off)
{
	return (struct loop *)(void *)((char *)src - off);
}

int loop_block_signals(void)
{
	sigset_t set;

	/* SIGHUP: ignored (no configuration to reload yet).  SIGPIPE: control
	 * clients that hang up must not kill us (we also use MSG_NOSIGNAL). */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	return 0;
}

static void loop_on_signal(struct loop_source *src, uint32_t events, uint64_t now)
{
	struct loop *l = loop_of(src, offsetof(struct loop, sig_src));
	struct signalfd_siginfo si;

	(void)events, (void)now;
	while (read(src->fd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_verbose("got %s, shutting down", strsignal((int)si.ssi_signo));
			l->quit = true;
			break;
		case SIGUSR1:
			report_log_counters(l->ud, "counters (SIGUSR1)");
			break;
		default:
			break;
		}
	}
}

/* fault_deliver_fn for received frames: into the stack. */
static int loop_input(void *ctx, uint8_t *frame, size_t len)
{
	struct loop *l = ctx;

	us_input(l->ud->stack, frame, len, clock_now_us());
	return 0;
}

/* Device readable: up to LOOP_BATCH frames into the stack (through the
 * fault injector when --fault is on), then run timers and flush
 * notifications once for the batch. */
static void loop_on_dev(struct loop_source *src, uint32_t events, uint64_t now)
{
	struct loop *l = loop_of(src, offsetof(struct loop, dev_src));
	struct ud *ud = l->ud;

	if (events & (EPOLLERR | EPOLLHUP)) {
		/* The interface was deleted under us, or the driver failed. */
		log_err("device %s is gone or failed (epoll events %#x)", ud->dev.ifname, events);
		l->error = -EIO;
		l->quit = true;
		return;
	}
	us_batch_begin(ud->stack);
	for (int i = 0; i < LOOP_BATCH; i++) {
		size_t off;
		unsigned rxflags;
		ssize_t n = dev_recv(&ud->dev, l->rxbuf, l->rxcap, &off, &rxflags);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			/* Counted by dev_recv; a persistent error shows as repeated
			 * wakeups, so log it only when verbose. */
			log_verbose("read from %s: %s", ud->dev.ifname, strerror((int)-n));
			break;
		}
		l->rx_frames++;
		if (fault_injector) /* never with a vnet header (ustackd.c) */
			fault_pass(fault_injector, FAULT_RX, l->rxbuf + off, (size_t)n, loop_input, l);
		else
			us_input_meta(ud->stack, l->rxbuf + off, (size_t)n, rxflags, clock_now_us());
		/* After a quiet spell one frame, then back to the wait: a read
		 * to see EAGAIN would add a system call to every round trip;
		 * if more frames wait, the level-triggered wait returns at once
		 * and the next call reads them in a batch. */
		if (l->quiet) {
			l->quiet = false;
			break;
		}
	}
	(void)now;
	if (fault_injector) /* a frame held back is never carried over a batch */
		fault_flush(fault_injector, FAULT_RX);
	/* One ACK per connection for the whole batch. */
	us_batch_end(ud->stack, clock_now_us());
	us_poll(ud->stack, clock_now_us());
}

int loop_add(struct loop *l, struct loop_source *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0 ? -errno : 0;
}

int loop_mod(struct loop *l, struct loop_source *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, src->fd, &ev) < 0 ? -errno : 0;
}

void loop_del(struct loop *l, struct loop_source *src)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, src->fd, NULL);
	loop_forget(l, src);
}

void loop_forget(struct loop *l, struct loop_source *src)
{
	/* A handler may delete (and then free) another source whose event is
	 * still ahead in this batch: a notification of the stack drops a
	 * program's socket for an impossible ring index, for instance. */
	for (int i = 0; i < l->batch_n; i++)
		if (l->batch[i].data.ptr == src)
			l->batch[i].data.ptr = NULL;
}

int loop_init(struct loop *l, struct ud *ud)
{
	sigset_t set;
	int err;

	memset(l, 0, sizeof *l);
	l->ud = ud;
	l->sig_src.fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->rxcap = LOOP_RXBUF;
	l->rxbuf = malloc(l->rxcap);
	if (!l->rxbuf)
		return -ENOMEM;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	l->sig_src.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sig_src.fd < 0)
		return -errno;
	l->sig_src.fn = loop_on_signal;
	err = loop_add(l, &l->sig_src, EPOLLIN);
	if (err)
		return err;

	l->dev_src.fd = ud->dev.fd;
	l->dev_src.fn = loop_on_dev;
	err = loop_add(l, &l->dev_src, EPOLLIN);
	if (err)
		return err;
	if (ud->args.fault.on) {
		fault_injector = fault_new(&ud->args.fault);
		if (!fault_injector)
			return -ENOMEM;
	}
	return 0;
}

static uint64_t loop_deadline(struct loop *l)
{
	uint64_t a = us_next_deadline(l->ud->stack);
	uint64_t b = ctl_next_deadline(&l->ud->ctl);
	uint64_t c = fault_next_due(fault_injector); /* --fault delay= */
	uint64_t d = ipc_next_deadline(); /* overdue channels */

	if (c < b)
		b = c;
	if (d < b)
		b = d;
	return a < b ? a : b;
}

int loop_run(struct loop *l)
{
	struct ud *ud = l->ud;
	struct epoll_event evs[LOOP_EVENTS];

	while (!l->quit) {
		uint64_t deadline, now;
		struct timespec ts, *tsp = NULL;

		/* Whatever the last iteration sent (or main() before it) goes out
		 * before we sleep: a frame held back for reordering waits at most
		 * for the end of the iteration that sent it. */
		if (fault_injector) {
			fault_flush(fault_injector, FAULT_RX);
			fault_flush(fault_injector, FAULT_TX);
		}
		deadline = loop_deadline(l);
		now = clock_now_us();

		bool spinning = now < l->busy_until; /* --busy-poll */
		if (deadline != US_TIME_NEVER || spinning) {
			uint64_t wait = deadline > now ? deadline - now : 0;

			if (spinning)
				wait = 0;
			ts.tv_sec = (time_t)(wait / 1000000u);
			ts.tv_nsec = (long)(wait % 1000000u) * 1000;
			tsp = &ts;
		}
		int n = epoll_pwait2(l->epfd, evs, LOOP_EVENTS, tsp, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			log_err("epoll_pwait2: %s", strerror(err));
			return -err;
		}
		uint64_t before = now;
		now = clock_now_us();
		l->quiet = now - before >= LOOP_QUIET_US;
		if (n > 0 && spinning)
			l->busy_hits++;
		else if (!spinning)
			l->wakeups++;
		/* Work came: the next piece (an echo's reply, the program's
		 * next doorbell) is likely within microseconds, so with
		 * --busy-poll look for it without sleeping (Linux's busy_poll
		 * idea; off by default: it spends a CPU on waiting). */
		if (n > 0 && ud->args.busy_poll_us)
			l->busy_until = now + ud->args.busy_poll_us;
		/* Each source appears at most once per wait; one deleted by an
		 * earlier handler of the batch is skipped (loop_del). */
		l->batch = evs;
		l->batch_n = n;
		for (int i = 0; i < n; i++) {
			struct loop_source *src = evs[i].data.ptr;

			if (src)
				src->fn(src, evs[i].events, now);
		}
		l->batch_n = 0;
		now = clock_now_us();
		fault_tick(fault_injector, now);
		if (us_next_deadline(ud->stack) <= now)
			us_poll(ud->stack, now);
		ctl_expire(&ud->ctl, now);
		ipc_expire(now);
		ipc_flush_wakes(); /* before we sleep */
	}
	return l->error;
}

void loop_fini(struct loop *l)
{
	if (l->sig_src.fd >= 0)
		close(l->sig_src.fd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l->rxbuf);
	l->rxbuf = NULL;
	fault_free(fault_injector);
	fault_injector = NULL;
	l->sig_src.fd = l->epfd = -1;
}
