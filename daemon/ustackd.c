/* ustackd.c - main: parse the command line, create and configure the
 * device, create the stack, open the control socket and services, detach
 * unless --foreground, run the event loop, and tear everything down. */
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ipc_sess.h"
#include "ipc_sock.h"
#include "log.h"
#include "report.h"
#include "ustackd.h"

/* Random, locally administered (bit 1), unicast (bit 0 clear). */
static void ud_random_mac(uint8_t mac[6])
{
	arc4random_buf(mac, 6);
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
}

/* The TCP buffer budget: --tcp-mem, or a quarter of the machine's memory
 * (as Linux sizes tcp_mem from it) but never below 2 GiB.  Rings are
 * charged at their size; pages never written cost nothing, so the budget
 * bounds the worst case, not what an idle connection uses. */
static uint64_t ud_tcp_mem(const struct args *a)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	uint64_t q = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz / 4 : 0;

	if (a->tcp_mem_mib)
		return (uint64_t)a->tcp_mem_mib << 20;
	return q > (2ull << 30) ? q : 2ull << 30;
}

static int ud_stack_new(struct ud *ud)
{
	const struct args *a = &ud->args;
	struct us_config cfg;
	int err = 0;

	memset(&cfg, 0, sizeof cfg);
	cfg.mode = a->mode;
	memcpy(cfg.mac, ud->mac, sizeof cfg.mac);
	cfg.addr = a->addr;
	cfg.prefix = a->prefix;
	cfg.gateway = a->gateway;
	cfg.mtu = a->mtu;
	arc4random_buf(cfg.seed, sizeof cfg.seed);
	cfg.output = dev_output;
	cfg.output_meta = dev_output_meta;
	cfg.offload = ud->dev.offload;
	cfg.output_ctx = &ud->dev;
	cfg.trace = a->trace ? log_trace : NULL;
	ud->dev.trace = a->trace;
	cfg.tcp_time_wait = (uint64_t)a->time_wait * 1000000u;
	cfg.tcp_mem_max = ud->tcp_mem_max = ud_tcp_mem(a);
	cfg.tcp_rcvbuf_max = IPC_RING_RX_AUTO; /* the shared rings are mapped that large */
	cfg.tcp_sndbuf_max = IPC_RING_TX_AUTO;
	cfg.trace_ctx = NULL;
	ud->stack = us_stack_new(&cfg, clock_now_us(), &err);
	if (!ud->stack) {
		log_err("cannot create the stack: %s", strerror(err ? -err : ENOMEM));
		return err ? err : -ENOMEM;
	}
	return 0;
}

static void ud_log_config(const struct ud *ud)
{
	const struct args *a = &ud->args;
	char ip[16], gw[16], svcs[64];

	if (!log_is_verbose())
		return;
	log_verbose("%s %s: addr %s/%u, gateway %s, mtu %u, services %s", a->mode == US_LINK_IP ? "tun" : "tap",
		    a->ifname, args_ip_str(a->addr, ip, sizeof ip), a->prefix,
		    a->gateway ? args_ip_str(a->gateway, gw, sizeof gw) : "none", a->mtu,
		    svc_mask_str(a->services, svcs, sizeof svcs));
	if (a->mode == US_LINK_ETHER)
		log_verbose("stack mac %02x:%02x:%02x:%02x:%02x:%02x", ud->mac[0], ud->mac[1],
			    ud->mac[2], ud->mac[3], ud->mac[4], ud->mac[5]);
}

int main(int argc, char **argv)
{
	struct ud *ud;
	int status = 1, err;
	bool loop_ready = false;

	/* Connections come and go by the thousand per second: keep freed heap
	 * instead of trimming it back to the kernel after every close, or each
	 * new connection's small orphan ring re-faults fresh pages (measured:
	 * 8% of ustackd's time under nginx with Connection: close).  Pages
	 * never written cost no memory either way. */
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
	mallopt(M_TOP_PAD, 4 << 20);
	/* Likewise a connection's first 256 KiB rings (handed over to shared
	 * memory at accept) come from the heap, not an mmap/munmap each. */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	ud = calloc(1, sizeof *ud);
	if (!ud) {
		fprintf(stderr, "ustackd: out of memory\n");
		return 1;
	}
	ud->dev.fd = -1;
	ud->ctl.listen_src.fd = -1;
	switch (args_parse(&ud->args, argc, argv)) {
	case ARGS_RUN:
		break;
	case ARGS_DONE:
		free(ud);
		return 0;
	case ARGS_USAGE:
		free(ud);
		return 2;
	}
	log_init("ustackd", ud->args.verbose);
	ud->start_us = clock_now_us();
	if (loop_block_signals() < 0) {
		log_err("cannot block signals: %s", strerror(errno));
		goto out;
	}

	/* Everything that can fail happens before detaching, so errors reach
	 * the terminal and the exit status. */
	/* The fault injector holds and rewrites frames: it works on plain
	 * frames only, so --fault turns the offloads off. */
	if (dev_open(&ud->dev, ud->args.ifname, ud->args.mode,
		     ud->args.offload && !ud->args.fault.on) < 0)
		goto out;
	dev_offload(&ud->dev);
	if (dev_configure(&ud->dev, ud->args.mtu, ud->args.host_addr, ud->args.host_prefix) < 0)
		goto out;
	ud_random_mac(ud->mac);
	if (ud_stack_new(ud) < 0)
		goto out;
	if (ctl_open(&ud->ctl, ud, ud->args.socket_path) < 0)
		goto out;
	if (ipc_init(ud) < 0) {
		log_err("out of memory");
		goto out;
	}
	if (svc_start(&ud->svc, ud->stack, ud->args.services) < 0)
		goto out;
	ud_log_config(ud);

	/* --cpu: wake-ups between ustackd and programs on the same CPU need
	 * no inter-processor interrupt (on this project's test VM a cross-CPU
	 * wake-up cost ~10 us of a 60 us round trip). */
	if (ud->args.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(ud->args.cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set) < 0) {
			log_err("--cpu %d: cannot run there: %s", ud->args.cpu, strerror(errno));
			goto out;
		}
		log_info("running on CPU %d only (--cpu)", ud->args.cpu);
	}
	if (!ud->args.foreground) {
		fflush(NULL);
		if (daemon(0, 0) < 0) {
			log_err("cannot detach: %s", strerror(errno));
			goto out;
		}
		log_use_syslog();
	}

	err = loop_init(&ud->loop, ud);
	loop_ready = true;
	if (err == 0)
		err = ctl_start(&ud->ctl, &ud->loop);
	if (err < 0) {
		log_err("cannot set up the event loop: %s", strerror(-err));
		goto out;
	}
	if (ud->args.mode == US_LINK_ETHER)
		us_announce(ud->stack, clock_now_us());
	us_poll(ud->stack, clock_now_us());
	log_info("running on %s (pid %ld)", ud->args.ifname, (long)getpid());

	status = loop_run(&ud->loop) < 0 ? 1 : 0;
	report_log_counters(ud, "counters at exit");
	log_verbose("shutting down");
out:
	/* Services first (they hold stack sockets), then the control socket,
	 * the stack, and last the device, whose closing removes it. */
	ipc_fini(); /* its sockets are the stack's */
	if (ud->stack)
		svc_stop(&ud->svc);
	ctl_close(&ud->ctl);
	if (loop_ready)
		loop_fini(&ud->loop);
	if (ud->stack)
		us_stack_free(ud->stack);
	dev_close(&ud->dev);
	free(ud);
	return status;
}
