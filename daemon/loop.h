/* loop.h - ustackd's event loop: one epoll set, one timer (the earliest of
 * the stack's and the control clients' deadlines). */
#ifndef UD_LOOP_H
#define UD_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct ud;
struct loop_source;

/* Called with the epoll events of a registered fd and the current time. */
typedef void (*loop_fn)(struct loop_source *src, uint32_t events, uint64_t now);

struct loop_source {
	int fd;
	loop_fn fn;
};

struct loop {
	struct ud *ud;
	int epfd;
	struct loop_source dev_src, sig_src;
	uint8_t *rxbuf;
	size_t rxcap;
	bool quit;
	int error; /* why the loop quit: 0 (signal) or negative errno */
	uint64_t wakeups, rx_frames; /* counters shown with the stack's */
	/* --busy-poll: after a round with work, poll without sleeping until
	 * busy_until; busy_hits counts the polls that found work */
	uint64_t busy_until, busy_hits;
	/* The last wait slept at least LOOP_QUIET_US: a frame that woke us
	 * is likely alone (a request or its answer), so the device is read
	 * once, not until EAGAIN; under load the waits return at once and
	 * frames are read in batches (one ACK per connection per batch). */
	bool quiet;
	/* the batch being dispatched: loop_del forgets a source in it */
	struct epoll_event *batch;
	int batch_n;
};

/* epoll set, signalfd (SIGTERM/SIGINT quit, SIGUSR1 counters), device fd. */
int loop_init(struct loop *l, struct ud *ud);
/* Run until SIGTERM/SIGINT (returns 0) or a fatal error (negative errno). */
int loop_run(struct loop *l);
void loop_fini(struct loop *l);

int loop_add(struct loop *l, struct loop_source *src, uint32_t events);
int loop_mod(struct loop *l, struct loop_source *src, uint32_t events);
void loop_del(struct loop *l, struct loop_source *src);
/* loop_del for a source whose fd is closed next and held by no other
 * process: closing the last reference removes it from the epoll set
 * (epoll(7)), so the EPOLL_CTL_DEL system call is skipped. */
void loop_forget(struct loop *l, struct loop_source *src);

/* Block the signals the loop takes through its signalfd; call before any
 * fork so every thread of the process inherits the mask. */
int loop_block_signals(void);

#endif
