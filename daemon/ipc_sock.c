/* ipc_sock.c - owns the ustack sockets served to programs (shim/ipc.h):
 * creation (stack socket, sealed memfd, socketpair, rings attached), the
 * per-socket requests, doorbells (ring sync: each shared index read once,
 * impossible deltas rejected), the notify callback that publishes readiness
 * and sends IPC_WAKE, and teardown on hang-up.  A program that exits with a
 * connection still sending keeps it "lingering" here until the connection
 * is over, because the stack's orphan would otherwise keep using ring
 * memory that is ours to unmap. */
#include "ipc_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "ustackd.h"

/* Messages handled per wakeup.  One: a socket channel rarely holds more
 * (at most one doorbell per ring is in flight, requests wait for their
 * replies), and the epoll set is level-triggered, so whatever is left
 * comes back in the next round; reading on until EAGAIN cost every
 * message a second recvmsg (4 per short connection under nginx). */
#define IPC_SOCK_BATCH 1
#define IPC_RXBUF (sizeof(struct ipc_msg) + IPC_MAX_PAYLOAD)

static uint8_t ipc_rxbuf[IPC_RXBUF];
static uint8_t ipc_txbuf[IPC_RXBUF];

#define SHM_LOAD(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define SHM_STORE(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)

static void ipc_sock_free(struct ipc_sock *is);

static void ipc_sock_drop(struct ipc_sock *is, const char *why)
{
	static struct log_limit lim;
	struct ipc *ip = ipc_state;

	ip->socks_dropped++;
	ip->bad_msgs++;
	log_limited(&lim, LOG_WARNING, "ipc: socket %u of pid %ld dropped: %s", is->id,
		    (long)is->sess->pid, why);
	ipc_sock_free(is);
}

/* Take the program's progress on both rings into the stack.  Returns 0 or
 * -EBADMSG for an impossible index (the caller drops the socket). */
static int ipc_sock_sync(struct ipc_sock *is, uint64_t now)
{
	struct us_ring_state rs;

	if (is->type != US_SOCK_STREAM || !is->so || us_ring_state(is->so, &rs) < 0 ||
	    rs.rx_cap != is->rx_size || rs.tx_cap != is->tx_size)
		return 0;
	/* The cork generation and index before tx_head: the program stores
	 * tx_head, then cork_at, then cork_gen, so every byte before cork_at
	 * is covered by the tx_head read after them. */
	uint32_t gen = SHM_LOAD(is->shm->cork_gen);
	uint32_t cork_at = SHM_LOAD(is->shm->cork_at);
	uint32_t rx_tail = SHM_LOAD(is->shm->rx_tail);
	uint32_t tx_head = SHM_LOAD(is->shm->tx_head);
	uint32_t rd = rx_tail - rs.rx_tail, wd = tx_head - rs.tx_head;

	is->seen_rx_tail = rx_tail;
	is->seen_tx_head = tx_head;

	if (rd > rs.rx_head - rs.rx_tail) {
		ipc_state->bad_rx_index++;
		return -EBADMSG;
	}
	if (wd > rs.tx_size - (rs.tx_head - rs.tx_tail)) {
		ipc_state->bad_tx_index++;
		return -EBADMSG;
	}
	is->in_sync = true;
	if (rd)
		us_rx_consume(is->so, rd, now);
	/* TCP_CORK set through the header (shim/ipc.h): the bytes written
	 * before it go as they would have, then the cork, then the rest. */
	if (gen != is->seen_cork_gen && is->so) {
		int32_t before = (int32_t)(cork_at - rs.tx_head);

		if (before < 0) /* untrusted: a point already passed is now */
			before = 0;
		if ((uint32_t)before > wd) {
			/* Not all of it is visible yet (only a lying program
			 * gets here): commit what is, cork at a later sync. */
		} else {
			if (before)
				us_tx_commit(is->so, (uint32_t)before, now);
			wd -= (uint32_t)before;
			(void)us_setsockopt(is->so, US_TCP_CORK, 1);
			is->seen_cork_gen = gen;
		}
	}
	/* -EPIPE/-ENOTCONN (reset, shut down, not yet connected): the bytes
	 * stay uncommitted; the program sees the state and reports it. */
	if (wd && is->so)
		us_tx_commit(is->so, wd, now);
	is->in_sync = false;
	return 0;
}

/* Should the program's next read ring the doorbell?  When a quarter of
 * the ring or more is unread the window is shrinking; below that a read
 * changes no window worth announcing -- unless receive auto-tuning waits
 * to see the ring empty (it grows only then, tcp_sock.c): the read that
 * empties it must tell us. */
static bool ipc_rx_doorbell_wanted(struct ipc_sock *is)
{
	struct us_ring_state rs;

	return us_ring_state(is->so, &rs) < 0 || rs.rx_cap != is->rx_size ||
	       rs.rx_head - rs.rx_tail >= rs.rx_size / 4 || rs.rx_grow;
}

/* Publish indices and readiness; wake the program if it waits for them. */
static void ipc_sock_publish(struct ipc_sock *is)
{
	struct ipc_shm *sh = is->shm;
	struct us_ring_state rs;
	unsigned ev = us_sock_events(is->so);

	if (is->type == US_SOCK_STREAM && us_ring_state(is->so, &rs) == 0 &&
	    rs.rx_cap == is->rx_size && rs.tx_cap == is->tx_size) {
		struct us_tcp_info ti;

		/* The ring's size (auto-tuning grows it while it is empty)
		 * before the head that covers bytes placed with it. */
		SHM_STORE(sh->rx_ring_size, rs.rx_size);
		SHM_STORE(sh->tx_ring_size, rs.tx_size);
		SHM_STORE(sh->tx_grow, rs.tx_grow ? 1u : 0u);
		SHM_STORE(sh->rx_head, rs.rx_head);
		SHM_STORE(sh->tx_tail, rs.tx_tail);
		if (us_tcp_info(is->so, &ti) == 0) {
			SHM_STORE(sh->state, (uint32_t)ti.state);
			if (ti.state >= US_TCP_ESTABLISHED)
				is->was_connected = true;
		}
	}
	SHM_STORE(sh->events, ev);
	/* A listener with connections in the stack's queue: push them at
	 * the end of this loop round (outside the stack's processing). */
	if (is->listening && (ev & US_EV_IN) && !is->push_pending && is->src.fd >= 0 &&
	    is->pushed - SHM_LOAD(sh->acc_taken) < IPC_PUSH_MAX && ipc_sess_room(is->sess)) {
		is->push_pending = true;
		LIST_INSERT_HEAD(&ipc_state->pushq, is, push_link);
	}
	/* Ask for a doorbell on the program's next send, and on its next
	 * receive when the ring is a quarter full or more (shim/ipc.h); the
	 * program publishes its index, then exchanges the flag (seq_cst). */
	__atomic_store_n(&sh->want_doorbell, 1u, __ATOMIC_SEQ_CST);
	if (is->type == US_SOCK_STREAM)
		__atomic_store_n(&sh->want_rx_doorbell, ipc_rx_doorbell_wanted(is) ? 1u : 0u,
				 __ATOMIC_SEQ_CST);
	/* An index the program moved after our sync read it, but before the
	 * store above, came with no doorbell (its exchange saw 0): look once
	 * more, after the store (Dekker: either we see the move here or the
	 * program sees the 1), and sync again if it moved. */
	if (is->type == US_SOCK_STREAM &&
	    (__atomic_load_n(&sh->rx_tail, __ATOMIC_SEQ_CST) != is->seen_rx_tail ||
	     __atomic_load_n(&sh->tx_head, __ATOMIC_SEQ_CST) != is->seen_tx_head))
		is->dirty = true;
	/* Callers sleeping on the futex word (shim/ipc.h "Readiness"): no
	 * channel needed, the word is bumped at the end of the round. */
	uint32_t fwant = __atomic_load_n(&sh->fwant, __ATOMIC_SEQ_CST);
	if (fwant & ev) {
		fwant = __atomic_fetch_and(&sh->fwant, ~ev, __ATOMIC_SEQ_CST);
		if ((fwant & ev) && !is->fwake) {
			is->fwake = true;
			if (!is->wake_pending) {
				is->wake_pending = true;
				LIST_INSERT_HEAD(&ipc_state->wakeq, is, wake_link);
			}
		}
	}
	uint32_t want = __atomic_load_n(&sh->want, __ATOMIC_SEQ_CST);
	/* No channel yet (an accepted connection, shim/ipc.h): the bits stay
	 * for the publish that binds it, which sends the wake-up. */
	if ((want & ev) && is->src.fd >= 0) {
		/* Clear only what is satisfied: a bit another waiter (thread
		 * or process) still needs keeps its wake-up coming. */
		want = __atomic_fetch_and(&sh->want, ~ev, __ATOMIC_SEQ_CST);
		/* The message itself goes out at the end of this loop round
		 * (ipc_flush_wakes): while a batch of frames is taken in, a
		 * reader woken at the first would wake, read a little, ask
		 * again and be woken again for each of the next ones (a
		 * sendmsg each: 29 % of ustackd's time in iperf3 -R). */
		if (want & ev) {
			is->wake_bits |= want & ev;
			if (!is->wake_pending) {
				is->wake_pending = true;
				LIST_INSERT_HEAD(&ipc_state->wakeq, is, wake_link);
			}
		}
	}
}

static void ipc_push_accepts(struct ipc_sock *is, uint64_t now);

void ipc_flush_wakes(void)
{
	struct ipc_sock *is;

	/* Each listener once per round: one that queues itself again (a
	 * channel the program does not empty) waits for the next round. */
	struct ipc_sock_list now_q = ipc_state->pushq;

	ipc_state->flush_round++;
	LIST_INIT(&ipc_state->pushq);
	if ((is = LIST_FIRST(&now_q)) != NULL)
		is->push_link.le_prev = &LIST_FIRST(&now_q);
	while ((is = LIST_FIRST(&now_q)) != NULL) {
		LIST_REMOVE(is, push_link);
		is->push_pending = false;
		ipc_push_accepts(is, clock_now_us());
	}
	while ((is = LIST_FIRST(&ipc_state->wakeq)) != NULL) {
		LIST_REMOVE(is, wake_link);
		is->wake_pending = false;
		uint32_t bits = is->wake_bits;
		bool pushed = is->push_round == ipc_state->flush_round;
		is->wake_bits = 0;
		if (is->fwake) {
			is->fwake = false;
			__atomic_fetch_add(&is->shm->fseq, 1u, __ATOMIC_SEQ_CST);
			syscall(SYS_futex, &is->shm->fseq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
			ipc_state->fwakes++;
		}
		if (!bits)
			continue;
		if (is->src.fd < 0)
			continue;
		/* A listener that was just sent a connection needs no wake-up
		 * for readability besides: the IPC_PUSH record is one (a second
		 * record would wake a second EPOLLEXCLUSIVE waiter for nothing). */
		if (pushed && !(bits & ~US_EV_IN))
			continue;
		/* Full queue: the fd is readable anyway; never block. */
		ipc_send(is->src.fd, IPC_WAKE, 0, 0, 0, NULL, 0, NULL, 0);
		ipc_state->wakes++;
	}
}

static bool ipc_linger_done(struct ipc_sock *is)
{
	struct us_tcp_info ti;
	struct us_iov iov[2];

	if (us_tcp_info(is->so, &ti) < 0)
		return true;
	if (ti.state == US_TCP_CLOSED || ti.state == US_TCP_TIME_WAIT)
		return true;
	/* Data arriving after the program is gone: reset, as the kernel does
	 * (us_close with unread data sends RST and frees at once). */
	return us_rx_peek(is->so, iov) > 0;
}

/* Sync and publish, or finish a lingering socket.  Returns false when the
 * socket was freed. */
static bool ipc_sock_update(struct ipc_sock *is, uint64_t now)
{
	/* Again while the program moved an index meanwhile (a few rounds:
	 * a program still moving rings the doorbell itself). */
	for (int round = 0; round < 4; round++) {
		is->dirty = false;
		if (is->lingering) {
			if (!ipc_linger_done(is))
				return true;
			ipc_sock_free(is);
			return false;
		}
		if (ipc_sock_sync(is, now) < 0) {
			if (is->busy) {
				is->bad = true; /* dropped after the request */
				return true;
			}
			ipc_sock_drop(is, "impossible ring index");
			return false;
		}
		ipc_sock_publish(is);
		if (!is->dirty || is->busy)
			break;
	}
	return true;
}

static void ipc_sock_notify(void *ctx, struct us_sock *so, unsigned events)
{
	struct ipc_sock *is = ctx;

	(void)so, (void)events;
	if (is->in_sync || is->busy) {
		is->dirty = true; /* the outer call updates when it is done */
		return;
	}
	(void)ipc_sock_update(is, clock_now_us());
}

/* ---- creation and teardown ---------------------------------------------- */

/* ---- pooled shared memory (shim/ipc.h) ------------------------------------- */

static void ipc_slot_free(const struct ipc_pool_slot *sl)
{
	munmap(sl->map, sl->map_len);
	close(sl->memfd);
}

static void ipc_pool_put(struct ipc_pool *pool)
{
	if (--pool->refs)
		return;
	for (unsigned i = 0; i < pool->n; i++)
		ipc_slot_free(&pool->slot[i]);
	ipc_state->pool_slots -= pool->n;
	free(pool);
}

/* A listener closes: its pool keeps nothing more. */
static void ipc_pool_close(struct ipc_pool *pool)
{
	for (unsigned i = 0; i < pool->n; i++)
		ipc_slot_free(&pool->slot[i]);
	ipc_state->pool_slots -= pool->n;
	pool->n = 0;
	pool->listener_gone = true;
	ipc_pool_put(pool);
}

/* Memory of the sizes wanted, header zeroed, or false. */
static bool ipc_pool_take(struct ipc_pool *pool, struct ipc_sock *is, int *memfd_out)
{
	for (unsigned i = pool->n; i-- > 0;) {
		struct ipc_pool_slot *sl = &pool->slot[i];

		if (sl->rx_size != is->rx_size || sl->tx_size != is->tx_size)
			continue;
		is->map = sl->map;
		is->map_len = sl->map_len;
		is->shm_id = sl->shm_id;
		is->shm_ino = sl->shm_ino;
		is->shm = (struct ipc_shm *)sl->map;
		is->cached_by = __atomic_load_n(&is->shm->cached_by, __ATOMIC_RELAXED);
		memset(is->map, 0, IPC_SHM_HDR);
		*memfd_out = sl->memfd;
		pool->slot[i] = pool->slot[--pool->n];
		ipc_state->pool_slots--;
		ipc_state->pool_reused++;
		return true;
	}
	return false;
}

/* The socket is gone and the stack no longer uses its rings: keep the
 * memory for the listener's next connection when that is safe and cheap
 * (at most a quarter of each ring was written, so few pages are resident). */
static bool ipc_pool_keep(struct ipc_sock *is, const struct us_ring_state *rs)
{
	struct ipc_pool *pool = is->pool;

	if (!pool || !is->pooled || pool->listener_gone || pool->n >= IPC_POOL_MAX ||
	    ipc_state->pool_slots >= IPC_POOL_TOTAL || !rs ||
	    rs->rx_head - is->rx_start > is->rx_size / 4 ||
	    rs->tx_head - is->tx_start > IPC_RING_DEFAULT / 4)
		return false;
	pool->slot[pool->n++] = (struct ipc_pool_slot){ is->memfd, is->map, is->map_len,
							is->rx_size, is->tx_size, is->shm_id,
							is->shm_ino };
	ipc_state->pool_slots++;
	return true;
}

static int ipc_map(struct ipc_sock *is, int *memfd_out)
{
	size_t len = IPC_SHM_HDR + (size_t)is->rx_size + is->tx_size;
	int fd = memfd_create("ustack-sock", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	struct stat st;
	void *p = fstat(fd, &st) < 0 ? MAP_FAILED
				     : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;
		close(fd);
		return err;
	}
	is->shm_ino = (uint64_t)st.st_ino;
	is->map = p;
	is->map_len = len;
	is->shm_id = ++ipc_state->next_shm_id;
	is->shm = p;
	*memfd_out = fd;
	return 0;
}

static void ipc_sock_unlink(struct ipc_sock *is)
{
	struct ipc *ip = ipc_state;

	if (is->chan_token) {
		LIST_REMOVE(is, await_link);
		is->chan_token = 0;
		ip->nawait--;
	}

	if (is->wake_pending) {
		LIST_REMOVE(is, wake_link);
		is->wake_pending = false;
	}
	if (is->push_pending) {
		LIST_REMOVE(is, push_link);
		is->push_pending = false;
	}
	LIST_REMOVE(is, link);
	ip->nsocks--;
	if (is->lingering)
		ip->nlinger--;
}

/* An accepted connection whose channel never came: reset (RFC 9293
 * §3.10.4 ABORT, as SO_LINGER 0), not closed with a FIN as if served. */
static void ipc_sock_abort(struct ipc_sock *is)
{
	if (is->so)
		(void)us_setsockopt(is->so, US_SO_LINGER, 0);
	ipc_sock_free(is);
}

/* Listener `is` goes: connections still waiting for their channel are
 * reset, as Linux resets a closed listener's accept queue. */
static void ipc_sock_drop_waiting(struct ipc_sock *is)
{
	struct ipc_sock *c, *next;

	for (c = LIST_FIRST(&ipc_state->awaitq); c; c = next) {
		next = LIST_NEXT(c, await_link);
		if (c->parent != is)
			continue;
		ipc_state->chan_unaccepted++;
		ipc_sock_abort(c); /* unlinks only c: next stays valid */
	}
}

static void ipc_sock_free(struct ipc_sock *is)
{
	struct ipc_sess *ss = is->sess;

	if (is->listening && ipc_state->nawait)
		ipc_sock_drop_waiting(is);

	if (is->src.fd >= 0) {
		loop_forget(&ipc_state->ud->loop, &is->src); /* our end is ours alone */
		close(is->src.fd);
		is->src.fd = -1;
	}
	struct us_ring_state rs;
	bool have_rs = is->so && is->type == US_SOCK_STREAM && us_ring_state(is->so, &rs) == 0 &&
		       rs.rx_cap == is->rx_size && rs.tx_cap == is->tx_size;

	if (is->so) {
		us_sock_set_notify(is->so, NULL, NULL);
		us_close(is->so, clock_now_us());
		is->so = NULL;
	}
	/* After us_close the stack has its own copy of what it still sends. */
	if (is->map && !ipc_pool_keep(is, have_rs ? &rs : NULL)) {
		munmap(is->map, is->map_len);
		if (is->memfd >= 0)
			close(is->memfd);
	}
	if (is->pool) {
		if (is->pool_owner)
			ipc_pool_close(is->pool);
		else
			ipc_pool_put(is->pool);
	}
	ipc_sock_unlink(is);
	ipc_state->socks_closed++;
	ipc_sess_put(ss);
	free(is);
}

void ipc_sock_destroy(struct ipc_sock *is)
{
	ipc_sock_free(is);
}

/* The program closed its last copy (or died). */
static void ipc_sock_hangup(struct ipc_sock *is)
{
	struct us_tcp_info ti;

	log_verbose("ipc: socket %u of pid %ld closed by the program", is->id,
		    (long)is->sess->pid);
	loop_forget(&ipc_state->ud->loop, &is->src);
	close(is->src.fd);
	is->src.fd = -1;
	if (is->type == US_SOCK_STREAM && us_tcp_info(is->so, &ti) == 0) {
		int linger = -1;
		struct us_iov iov[2];

		/* Whatever the program wrote before exiting still goes out. */
		ipc_sock_sync(is, clock_now_us());
		us_getsockopt(is->so, US_SO_LINGER, &linger);
		if (is->so && linger != 0 && us_rx_peek(is->so, iov) <= 0 &&
		    (ti.state == US_TCP_ESTABLISHED || ti.state == US_TCP_CLOSE_WAIT ||
		     ti.state == US_TCP_SYN_RECEIVED || ti.state == US_TCP_FIN_WAIT_1 ||
		     ti.state == US_TCP_FIN_WAIT_2 || ti.state == US_TCP_CLOSING ||
		     ti.state == US_TCP_LAST_ACK)) {
			is->lingering = true;
			ipc_state->nlinger++;
			ipc_state->socks_lingered++;
			is->busy = true;
			us_shutdown(is->so, US_SHUT_WR, clock_now_us());
			is->busy = false;
			if (!ipc_linger_done(is))
				return;
		}
	}
	ipc_sock_free(is);
}

static void ipc_sock_on_chan(struct loop_source *src, uint32_t events, uint64_t now);

/* Has this stream socket a connection (or had one: states past SYN)? */
static bool so_state_connected(struct us_sock *so)
{
	struct us_tcp_info ti;

	return us_tcp_info(so, &ti) == 0 && ti.state >= US_TCP_ESTABLISHED;
}

int ipc_sock_new(struct ipc_sess *ss, enum us_sock_type type, struct us_sock *so,
		 struct ipc_pool *pool, bool nonblock, struct ipc_sock **out, int *prog_fd,
		 int *memfd)
{
	struct ipc *ip = ipc_state;
	struct ipc_sock *is;
	struct us_ring_state rs;
	uint32_t rx_now = 0, tx_now = 0;
	int sv[2] = { -1, -1 }, mfd = -1, err;

	if (prog_fd)
		*prog_fd = -1;
	*memfd = -1;
	if ((err = ipc_sess_admit(ss)) < 0)
		goto fail_so;
	is = calloc(1, sizeof *is);
	if (!is) {
		err = -ENOMEM;
		goto fail_so;
	}
	is->src.fd = -1;
	is->memfd = -1;
	is->type = type;
	if (!so && (err = us_socket(ip->ud->stack, type, &so)) < 0)
		goto fail_is;
	is->so = so;
	if (type == US_SOCK_STREAM) {
		bool rx_fixed = false, tx_fixed = false;

		rx_now = tx_now = IPC_RING_DEFAULT;
		if (us_ring_state(so, &rs) == 0) {
			rx_fixed = rs.rx_fixed;
			tx_fixed = rs.tx_fixed;
			if (rs.rx_size && rs.tx_size) {
				rx_now = rs.rx_size;
				tx_now = rs.tx_size;
			}
		}
		/* Memory for auto-tuning to grow the rings into (tcp_sock.c),
		 * unless the program fixed SO_RCVBUF / SO_SNDBUF; pages never
		 * written cost nothing. */
		is->rx_size = rx_fixed || rx_now >= IPC_RING_RX_AUTO ? rx_now : IPC_RING_RX_AUTO;
		is->tx_size = tx_fixed || tx_now >= IPC_RING_TX_AUTO ? tx_now : IPC_RING_TX_AUTO;
		if (is->rx_size > IPC_RING_MAX || is->tx_size > IPC_RING_MAX) {
			err = -ENOBUFS;
			goto fail_is;
		}
	}
	if (!(pool && type == US_SOCK_STREAM && ipc_pool_take(pool, is, &mfd)) &&
	    (err = ipc_map(is, &mfd)) < 0)
		goto fail_is;
	if (type == US_SOCK_STREAM) {
		uint8_t *rx = is->map + IPC_SHM_HDR, *tx = rx + is->rx_size;

		if ((err = us_sock_attach_rings(so, rx, rx_now, is->rx_size, tx, tx_now, is->tx_size)) < 0)
			goto fail_is;
		if (us_ring_state(so, &rs) == 0) {
			is->shm->rx_tail = is->seen_rx_tail = is->rx_start = rs.rx_tail;
			is->shm->tx_head = is->seen_tx_head = is->tx_start = rs.tx_head;
		}
	}
	is->src.fn = ipc_sock_on_chan;
	if (prog_fd) {
		if (socketpair(AF_UNIX,
			       SOCK_SEQPACKET | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0,
			       sv) < 0) {
			err = -errno;
			goto fail_is;
		}
		if (!nonblock && fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
			err = -errno;
			goto fail_is;
		}
		is->src.fd = sv[0];
		if ((err = loop_add(&ip->ud->loop, &is->src, EPOLLIN | EPOLLRDHUP)) < 0)
			goto fail_is;
	} else {
		/* The program makes the channel (shim/ipc.h): the token is
		 * its only proof, so never 0 and never guessable. */
		while (!is->chan_token)
			arc4random_buf(&is->chan_token, sizeof is->chan_token);
		LIST_INSERT_HEAD(&ip->awaitq, is, await_link);
		ip->nawait++;
		if (ip->nawait == 1)
			ip->await_check = clock_now_us() + 1000000u;
	}
	is->sess = ss;
	is->id = ++ip->next_id;
	ipc_sess_hold(ss);
	LIST_INSERT_HEAD(&ip->socks, is, link);
	ip->nsocks++;
	ip->socks_opened++;
	if (pool && type == US_SOCK_STREAM) {
		is->pool = pool;
		pool->refs++;
		is->pooled = true;
	}
	us_sock_set_notify(so, ipc_sock_notify, is);
	ipc_sock_publish(is);
	if (type == US_SOCK_STREAM && so_state_connected(so))
		is->was_connected = true;
	*out = is;
	if (prog_fd)
		*prog_fd = sv[1];
	*memfd = is->memfd = mfd;
	return 0;
fail_is:
	if (is->src.fd >= 0)
		close(is->src.fd);
	if (sv[1] >= 0)
		close(sv[1]);
	if (mfd >= 0)
		close(mfd);
	if (is->so) {
		us_close(is->so, clock_now_us());
		so = NULL;
	}
	if (is->map)
		munmap(is->map, is->map_len);
	free(is);
fail_so:
	if (so)
		us_close(so, clock_now_us());
	return err;
}

/* ---- requests -------------------------------------------------------------- */

static bool ipc_addr_ok(const uint8_t *p, uint32_t len, struct us_addr *a)
{
	struct ipc_addr ia;

	if (len != sizeof ia)
		return false;
	memcpy(&ia, p, sizeof ia);
	a->ip = ia.ip;
	a->port = ia.port;
	return true;
}

static bool ipc_int_ok(const uint8_t *p, uint32_t len, int32_t *v)
{
	struct ipc_int ii;

	if (len != sizeof ii)
		return false;
	memcpy(&ii, p, sizeof ii);
	*v = ii.val;
	return true;
}

static int ipc_reply(struct ipc_sock *is, const struct ipc_msg *m, int32_t status,
		     const void *pl, uint32_t len, const int *fds, int nfds)
{
	/* The state the request left behind is visible before its reply
	 * (connect: SYN_SENT, not the fresh socket's OUT|HUP). */
	if (is->so)
		ipc_sock_publish(is);
	return ipc_send_to(is->src.fd, m->owner, m->type, IPC_F_REPLY, m->seq, status, pl, len,
			   fds, nfds);
}

/* Take one connection off listener `is`'s stack queue and make its
 * program socket, waiting for its channel: *si describes it for `owner` (a
 * pid, or 0 for a push), with the token; *nfds is 1 with the memfd in
 * fds[0] (it stays ours too), or 0 (IPC_SI_CACHED).  0 or negative errno
 * (-EAGAIN: none). */
static int ipc_accept_one(struct ipc_sock *is, uint32_t owner, uint64_t now,
			  struct ipc_sockinfo *si, struct ipc_sock **out, int fds[1], int *nfds)
{
	struct us_sock *cso;
	struct us_addr peer;
	struct ipc_sock *cis;
	int mfd, r;

	/* Out of room, the connection stays queued (Linux's EMFILE). */
	if ((r = ipc_sess_admit(is->sess)) < 0)
		return r;
	r = us_accept(is->so, &cso, &peer, now);
	if (r < 0)
		return r;
	if (!is->pool && (is->pool = calloc(1, sizeof *is->pool)) != NULL) {
		is->pool->refs = 1;
		is->pool_owner = true;
	}
	r = ipc_sock_new(is->sess, US_SOCK_STREAM, cso, is->pool, false, &cis, NULL, &mfd);
	if (r < 0) {
		log_verbose("ipc: accept for pid %ld failed: %s", (long)is->sess->pid,
			    strerror(-r));
		return r == -EMFILE ? -EMFILE : -ECONNABORTED;
	}
	memset(si, 0, sizeof *si);
	si->sock_id = cis->id;
	si->type = 1;
	si->rx_size = cis->rx_size;
	si->tx_size = cis->tx_size;
	si->peer.ip = peer.ip;
	si->peer.port = peer.port;
	si->flags = cis->pooled ? IPC_SI_POOLED : 0;
	si->shm_id = cis->shm_id;
	si->shm_ino = cis->shm_ino;
	si->chan_token = cis->chan_token;
	cis->parent = is;
	/* The process it goes to keeps this memory mapped (it said so in the
	 * header before we reused it): pass the channel alone (shim/ipc.h). */
	if (cis->pooled && cis->cached_by && cis->cached_by == owner) {
		si->flags |= IPC_SI_CACHED;
		cis->memfd_owed = true;
		ipc_state->pool_cached++;
	}
	fds[0] = mfd;
	*nfds = si->flags & IPC_SI_CACHED ? 0 : 1;
	*out = cis;
	return 0;
}

static int ipc_do_accept(struct ipc_sock *is, const struct ipc_msg *m, uint64_t now)
{
	struct ipc_sock *cis;
	struct ipc_sockinfo si;
	int fds[1], nfds, r;

	if (is->type != US_SOCK_STREAM)
		return ipc_reply(is, m, -EOPNOTSUPP, NULL, 0, NULL, 0);
	r = ipc_accept_one(is, m->owner, now, &si, &cis, fds, &nfds);
	if (r < 0)
		return ipc_reply(is, m, r, NULL, 0, NULL, 0);
	r = ipc_reply(is, m, 0, &si, sizeof si, fds, nfds);
	if (r < 0) { /* the program is not reading its replies */
		ipc_sock_free(cis);
		return r;
	}
	cis->taken_at = now; /* the requester has it: its channel is due */
	return 0;
}

/* Push established connections down listener `is`'s channel (shim/ipc.h,
 * "Connections pushed to the listener") while fewer than IPC_PUSH_MAX
 * wait there. */
static void ipc_push_accepts(struct ipc_sock *is, uint64_t now)
{
	while (is->src.fd >= 0 && is->so && ipc_sess_room(is->sess)) {
		/* acc_taken is the program's: a lie only changes how many
		 * of its own connections wait in its own channel. */
		uint32_t waiting = is->pushed - SHM_LOAD(is->shm->acc_taken);
		struct ipc_sock *cis;
		struct ipc_sockinfo si;
		int fds[1], nfds;

		if (waiting >= IPC_PUSH_MAX)
			break;
		if (ipc_accept_one(is, SHM_LOAD(is->shm->acc_pid), now, &si, &cis, fds, &nfds) < 0)
			break;
		int r = ipc_send(is->src.fd, IPC_PUSH, 0, 0, 0, &si, sizeof si, fds, nfds);
		if (r < 0) {
			ipc_state->push_failed++;
			ipc_sock_abort(cis);
			break;
		}
		cis->pushed_rec = true;
		cis->push_seq = is->pushed;
		SHM_STORE(is->shm->acc_pushed, ++is->pushed);
		is->push_round = ipc_state->flush_round;
		ipc_state->pushes++;
	}
	ipc_sock_publish(is); /* the stack's queue is shorter now */
}

static int ipc_do_dgram_send(struct ipc_sock *is, const struct ipc_msg *m, const uint8_t *pl,
			     uint64_t now)
{
	struct ipc_dgram d;
	struct us_addr to;

	if (m->len < sizeof d)
		return -EBADMSG;
	memcpy(&d, pl, sizeof d);
	if (d.len != m->len - sizeof d || d.has_addr > 1)
		return -EBADMSG;
	to.ip = d.addr.ip;
	to.port = d.addr.port;
	ssize_t n = us_sendto(is->so, pl + sizeof d, d.len, d.flags & US_MSG_MORE,
			      d.has_addr ? &to : NULL, now);
	return ipc_reply(is, m, (int32_t)n, NULL, 0, NULL, 0);
}

static int ipc_do_dgram_recv(struct ipc_sock *is, const struct ipc_msg *m, const uint8_t *pl,
			     uint64_t now)
{
	struct ipc_dgram d;
	struct us_addr from = { 0, 0 };
	uint8_t *out = ipc_txbuf + sizeof d;

	if (m->len != sizeof d)
		return -EBADMSG;
	memcpy(&d, pl, sizeof d);
	uint32_t cap = d.len < IPC_MAX_PAYLOAD - sizeof d ? d.len : IPC_MAX_PAYLOAD - sizeof d;
	ssize_t n = us_recvfrom(is->so, out, cap, (d.flags & US_MSG_PEEK) | US_MSG_TRUNC, &from, now);
	if (n < 0)
		return ipc_reply(is, m, (int32_t)n, NULL, 0, NULL, 0);
	memset(&d, 0, sizeof d);
	d.addr.ip = from.ip;
	d.addr.port = from.port;
	d.len = (uint32_t)n; /* full datagram length */
	d.has_addr = 1;
	memcpy(ipc_txbuf, &d, sizeof d);
	uint32_t copied = (uint32_t)n < cap ? (uint32_t)n : cap;
	return ipc_reply(is, m, 0, ipc_txbuf, (uint32_t)sizeof d + copied, NULL, 0);
}

/* IPC_ATTACH: a process image that has this channel but no record of it
 * (exec, SCM_RIGHTS, posix_spawn) asks for the rings and the state. */
static int ipc_do_attach(struct ipc_sock *is, const struct ipc_msg *m)
{
	struct ipc_attach at;
	struct us_tcp_info ti;
	struct us_addr a;

	if (m->len != 0)
		return -EBADMSG;
	if (is->memfd < 0 || !is->so)
		return ipc_reply(is, m, -EBADF, NULL, 0, NULL, 0);
	/* Another process image maps this memory now: it must not serve a
	 * later connection (shim/ipc.h, "Pooled shared memory"). */
	if (!is->pool_owner)
		is->pooled = false;
	memset(&at, 0, sizeof at);
	at.si.sock_id = is->id;
	at.si.type = is->type == US_SOCK_STREAM ? 1 : 2;
	at.si.rx_size = is->type == US_SOCK_STREAM ? is->rx_size : 0;
	at.si.tx_size = is->type == US_SOCK_STREAM ? is->tx_size : 0;
	if (is->type == US_SOCK_STREAM && us_tcp_info(is->so, &ti) == 0) {
		if (ti.state == US_TCP_LISTEN)
			at.flags |= IPC_ATT_LISTENING;
		else if (ti.state == US_TCP_SYN_SENT || ti.state == US_TCP_SYN_RECEIVED)
			at.flags |= IPC_ATT_CONNECTING;
		if (ti.state >= US_TCP_ESTABLISHED)
			is->was_connected = true;
		if (is->was_connected)
			at.flags |= IPC_ATT_CONNECTED;
	} else if (is->type == US_SOCK_DGRAM && us_getpeername(is->so, &a) == 0) {
		at.flags |= IPC_ATT_CONNECTED;
	}
	if (is->shut_rd)
		at.flags |= IPC_ATT_SHUT_RD;
	if (is->shut_wr)
		at.flags |= IPC_ATT_SHUT_WR;
	return ipc_reply(is, m, 0, &at, sizeof at, &is->memfd, 1);
}

/* IPC_MEMFD: the memory of a socket accepted with IPC_SI_CACHED, for a
 * shim that no longer had it; once, and only as the first request (later,
 * IPC_ATTACH is the way, and it takes the memory out of the pool). */
static int ipc_do_memfd(struct ipc_sock *is, const struct ipc_msg *m, bool owed)
{
	if (m->len != 0)
		return -EBADMSG;
	if (!owed || is->memfd < 0)
		return ipc_reply(is, m, -EPERM, NULL, 0, NULL, 0);
	ipc_state->pool_fetched++;
	return ipc_reply(is, m, 0, NULL, 0, &is->memfd, 1);
}

/* One request.  Returns 0, or negative errno to drop the socket (malformed
 * request, or a reply the program does not take). */
static int ipc_sock_request(struct ipc_sock *is, struct ipc_msg *m, uint8_t *pl, uint64_t now)
{
	struct us_addr a;
	int32_t v;
	int r;

	bool owed = is->memfd_owed;

	ipc_state->requests++;
	is->memfd_owed = false;
	switch (m->type) {
	case IPC_MEMFD:
		return ipc_do_memfd(is, m, owed);
	case IPC_DOORBELL:
		ipc_state->doorbells++;
		if (ipc_sock_sync(is, now) < 0)
			return -ERANGE; /* dropped: impossible ring index */
		if (is->so)
			ipc_sock_publish(is);
		return 0;
	case IPC_BIND:
		if (!ipc_addr_ok(pl, m->len, &a))
			return -EBADMSG;
		/* ip(7): ports below 1024 need CAP_NET_BIND_SERVICE. */
		if (a.port && a.port < 1024 && !is->sess->net_bind) {
			ipc_state->eacces++;
			r = -EACCES;
		} else {
			us_sock_set_owner(is->so, (uint32_t)is->sess->uid); /* SO_REUSEPORT */
			r = us_bind(is->so, &a);
		}
		return ipc_reply(is, m, r, NULL, 0, NULL, 0);
	case IPC_LISTEN:
		if (!ipc_int_ok(pl, m->len, &v))
			return -EBADMSG;
		if (v <= 0 || v > 4096)
			v = v <= 0 ? 128 : 4096;
		r = is->type == US_SOCK_STREAM ? us_listen(is->so, v) : -EOPNOTSUPP;
		if (r == 0)
			is->listening = true;
		return ipc_reply(is, m, r, NULL, 0, NULL, 0);
	case IPC_CONNECT:
		if (!ipc_addr_ok(pl, m->len, &a))
			return -EBADMSG;
		r = us_connect(is->so, &a, now);
		if (r == 0 && is->type == US_SOCK_STREAM)
			is->was_connected = true;
		return ipc_reply(is, m, r, NULL, 0, NULL, 0);
	case IPC_ACCEPT:
		if (m->len != 0)
			return -EBADMSG;
		return ipc_do_accept(is, m, now);
	case IPC_SHUTDOWN:
		if (!ipc_int_ok(pl, m->len, &v))
			return -EBADMSG;
		if (v < US_SHUT_RD || v > US_SHUT_RDWR)
			return ipc_reply(is, m, -EINVAL, NULL, 0, NULL, 0);
		ipc_sock_sync(is, now); /* queued bytes go before the FIN */
		r = us_shutdown(is->so, v, now);
		if (r == 0) {
			is->shut_rd |= v != US_SHUT_WR;
			is->shut_wr |= v != US_SHUT_RD;
		}
		return ipc_reply(is, m, r, NULL, 0, NULL, 0);
	case IPC_SETOPT:
	case IPC_GETOPT: {
		struct ipc_opt o;

		if (m->len != sizeof o)
			return -EBADMSG;
		memcpy(&o, pl, sizeof o);
		if (m->flags & IPC_F_NOREPLY) { /* shim/ipc.h */
			if (m->type != IPC_SETOPT || is->type != US_SOCK_STREAM ||
			    (o.opt != US_TCP_NODELAY && o.opt != US_TCP_CORK))
				return -EBADMSG;
			if (o.opt == US_TCP_CORK) {
				/* Uncork (shim/ipc.h): what was corked goes; a
				 * cork the program set again after this message
				 * (a newer generation than it carries) applies
				 * at the sync, from its own index. */
				(void)us_setsockopt(is->so, US_TCP_CORK, o.val);
				is->seen_cork_gen = (uint32_t)m->status;
				if (ipc_sock_sync(is, now) < 0)
					return -ERANGE; /* dropped: impossible ring index */
				return 0;
			}
			(void)us_setsockopt(is->so, (enum us_sockopt)o.opt, o.val);
			return 0;
		}
		if (o.opt < US_SO_RCVBUF || o.opt >= US_SOCKOPT_COUNT)
			return ipc_reply(is, m, -ENOPROTOOPT, NULL, 0, NULL, 0);
		if (m->type == IPC_SETOPT) {
			r = us_setsockopt(is->so, (enum us_sockopt)o.opt, o.val);
			return ipc_reply(is, m, r, NULL, 0, NULL, 0);
		}
		int val = 0;
		if (o.opt == US_TCP_CORK && ipc_sock_sync(is, now) < 0)
			return -ERANGE; /* a cork set through the header counts */
		r = us_getsockopt(is->so, (enum us_sockopt)o.opt, &val);
		o.val = val;
		return ipc_reply(is, m, r, &o, r < 0 ? 0 : sizeof o, NULL, 0);
	}
	case IPC_GETNAME: {
		struct ipc_addr ia;

		if (!ipc_int_ok(pl, m->len, &v) || (v != 0 && v != 1))
			return -EBADMSG;
		r = v ? us_getpeername(is->so, &a) : us_getsockname(is->so, &a);
		memset(&ia, 0, sizeof ia);
		if (r == 0) {
			ia.ip = a.ip;
			ia.port = a.port;
		}
		return ipc_reply(is, m, r, &ia, r < 0 ? 0 : sizeof ia, NULL, 0);
	}
	case IPC_TXGROW:
		/* The program waits for send space and the header said the
		 * ring limits the connection: it holds tx_lock (nothing writes
		 * the ring now), so the ring may grow in place. */
		if (m->len != 0)
			return -EBADMSG;
		if (is->type != US_SOCK_STREAM || !is->so)
			return ipc_reply(is, m, -EOPNOTSUPP, NULL, 0, NULL, 0);
		if (ipc_sock_sync(is, now) < 0)
			return -ERANGE;
		r = us_tcp_snd_grow(is->so, now);
		if (r > 0)
			ipc_state->tx_grown++;
		ipc_sock_publish(is);
		return ipc_reply(is, m, r, NULL, 0, NULL, 0);
	case IPC_TCPINFO: {
		struct us_tcp_info ti;

		if (m->len != 0)
			return -EBADMSG;
		memset(&ti, 0, sizeof ti);
		r = is->type == US_SOCK_STREAM ? us_tcp_info(is->so, &ti) : -EOPNOTSUPP;
		return ipc_reply(is, m, r, &ti, r < 0 ? 0 : sizeof ti, NULL, 0);
	}
	case IPC_SENDTO:
		if (is->type != US_SOCK_DGRAM)
			return ipc_reply(is, m, -EOPNOTSUPP, NULL, 0, NULL, 0);
		return ipc_do_dgram_send(is, m, pl, now);
	case IPC_RECVFROM:
		if (is->type != US_SOCK_DGRAM)
			return ipc_reply(is, m, -EOPNOTSUPP, NULL, 0, NULL, 0);
		return ipc_do_dgram_recv(is, m, pl, now);
	case IPC_SOERROR:
		if (m->len != 0)
			return -EBADMSG;
		return ipc_reply(is, m, us_sock_error(is->so), NULL, 0, NULL, 0);
	case IPC_ATTACH:
		return ipc_do_attach(is, m);
	default:
		/* A well-formed request of a type we do not know: newer shim. */
		return ipc_reply(is, m, -EOPNOTSUPP, NULL, 0, NULL, 0);
	}
}

static void ipc_sock_on_chan(struct loop_source *src, uint32_t events, uint64_t now)
{
	struct ipc_sock *is = (struct ipc_sock *)(void *)src;

	/* The rings first, the record after: what a doorbell asks for is
	 * visible in the header already (the program moves its index, then
	 * rings), so the segment leaves before we spend a recvmsg on the
	 * doorbell -- one system call less between a send() and its frame
	 * (request/response latency).  Safe in any order: a sync is what a
	 * doorbell does, and the program may ring at any time; requests that
	 * change how bytes go out are answered before the program writes
	 * more (or, TCP_NODELAY / cork off, only release data). */
	if ((events & EPOLLIN) && is->type == US_SOCK_STREAM && is->so && !is->lingering &&
	    (SHM_LOAD(is->shm->tx_head) != is->seen_tx_head ||
	     SHM_LOAD(is->shm->rx_tail) != is->seen_rx_tail)) {
		ipc_state->lookahead++;
		if (!ipc_sock_update(is, now))
			return;
	}
	for (int i = 0; i < IPC_SOCK_BATCH; i++) {
		struct ipc_msg *m;
		uint8_t *pl;
		int r = ipc_recv(src->fd, ipc_rxbuf, sizeof ipc_rxbuf, &m, &pl);

		if (r == 0)
			break;
		if (r == -EPIPE) {
			ipc_sock_hangup(is);
			return;
		}
		if (r < 0) {
			ipc_sock_drop(is, r == -EBADMSG ? "malformed message" : strerror(-r));
			return;
		}
		is->busy = true;
		r = ipc_sock_request(is, m, pl, now);
		is->busy = false;
		if (r < 0) {
			ipc_sock_drop(is, r == -EBADMSG  ? "malformed request"
					  : r == -ERANGE ? "impossible ring index"
							 : "reply not taken");
			return;
		}
		if (is->dirty && !is->bad && !ipc_sock_update(is, now))
			return;
		if (is->bad) {
			ipc_sock_drop(is, "impossible ring index");
			return;
		}
	}
	if ((events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) && !(events & EPOLLIN))
		ipc_sock_hangup(is);
}

/* ---- channels of accepted connections (shim/ipc.h) ------------------------- */

void ipc_sock_chan(int fd, const uint8_t *msg, size_t len, uint64_t now)
{
	struct ipc *ip = ipc_state;
	struct ipc_msg h;
	struct ipc_chan ch;
	struct ipc_sock *is = NULL;

	if (len == sizeof h + sizeof ch) {
		memcpy(&h, msg, sizeof h);
		memcpy(&ch, msg + sizeof h, sizeof ch);
		if (h.magic == IPC_MAGIC && h.type == IPC_CHAN && h.flags == 0 &&
		    h.len == sizeof ch && ch.token != 0)
			LIST_FOREACH(is, &ip->awaitq, await_link)
				if (is->id == ch.sock_id && is->chan_token == ch.token)
					break;
	}
	if (!is) {
		/* Unknown, used already, reset meanwhile, or a guess: the
		 * program's socket reads end-of-file. */
		ip->chan_refused++;
		ip->bad_msgs++;
		log_verbose("ipc: a channel for no waiting connection: closed");
		close(fd);
		return;
	}
	LIST_REMOVE(is, await_link);
	ip->nawait--;
	is->chan_token = 0;
	is->parent = NULL;
	is->src.fd = fd;
	if (loop_add(&ip->ud->loop, &is->src, EPOLLIN | EPOLLRDHUP) < 0) {
		is->src.fd = -1;
		close(fd);
		ipc_sock_abort(is);
		return;
	}
	ip->chan_bound++;
	/* What happened meanwhile: a wake-up the program asked for before
	 * its channel was ours goes out now. */
	(void)ipc_sock_update(is, now);
}

uint64_t ipc_next_deadline(void)
{
	return ipc_state && ipc_state->nawait ? ipc_state->await_check : US_TIME_NEVER;
}

void ipc_expire(uint64_t now)
{
	struct ipc *ip = ipc_state;
	struct ipc_sock *is, *next;

	if (!ip || !ip->nawait || now < ip->await_check)
		return;
	ip->await_check = now + 1000000u;
	for (is = LIST_FIRST(&ip->awaitq); is; is = next) {
		next = LIST_NEXT(is, await_link);
		if (!is->taken_at) {
			/* Records leave the channel in order: once acc_taken
			 * counts past this one, some process has it.  (A
			 * listener that lies only hastens its own resets.) */
			struct ipc_sock *l = is->parent;

			if (is->pushed_rec && l && l->shm &&
			    (int32_t)(SHM_LOAD(l->shm->acc_taken) - is->push_seq) > 0)
				is->taken_at = now;
			continue;
		}
		if (now - is->taken_at < IPC_CHAN_WAIT_S * 1000000ull)
			continue;
		ip->chan_orphaned++;
		log_verbose("ipc: socket %u of pid %ld: its channel never came; reset", is->id,
			    (long)is->sess->pid);
		ipc_sock_abort(is); /* unlinks only is */
	}
}
