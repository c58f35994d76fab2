/* report.c - owns the text form of the daemon's state (counters, neighbour
 * cache, sockets, status) shared by the control socket and the log. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fault.h"
#include "ipc_sess.h"
#include "log.h"
#include "ustackd.h"

struct report_sink {
	report_line_fn fn;
	void *ctx;
	uint64_t now;
};

__attribute__((format(printf, 2, 3))) static void report_emit(const struct report_sink *k,
							     const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	k->fn(k->ctx, line);
}

static void report_ctr(const struct report_sink *k, bool nonzero, const char *name,
		       uint64_t v)
{
	if (!nonzero || v)
		report_emit(k, "%s %llu", name, (unsigned long long)v);
}

void report_counters(struct ud *ud, bool nonzero, report_line_fn fn, void *ctx)
{
	const struct report_sink k = { fn, ctx, 0 };
	const uint64_t *c = us_counters(ud->stack);

	for (int i = 0; i < US_CTR_MAX; i++)
		report_ctr(&k, nonzero, us_counter_names[i], c[i]);
	/* The daemon's own, named like the stack's (layer_event). */
	report_ctr(&k, nonzero, "dev_rx_frames", ud->loop.rx_frames);
	report_ctr(&k, nonzero, "dev_rx_err", ud->dev.rx_err);
	report_ctr(&k, nonzero, "dev_tx_err", ud->dev.tx_err);
	report_ctr(&k, nonzero, "dev_tx_again", ud->dev.tx_again);
	report_ctr(&k, nonzero, "dev_rx_drop_bad_vnet", ud->dev.rx_bad_vnet);
	report_ctr(&k, nonzero, "loop_wakeups", ud->loop.wakeups);
	report_ctr(&k, nonzero, "loop_busy_hits", ud->loop.busy_hits);
	report_ctr(&k, nonzero, "ctl_accepted", ud->ctl.accepted);
	report_ctr(&k, nonzero, "ctl_chans", ud->ctl.chans);
	report_ctr(&k, nonzero, "ctl_rejected", ud->ctl.rejected);
	report_ctr(&k, nonzero, "ctl_evicted", ud->ctl.evicted);
	report_ctr(&k, nonzero, "ctl_dropped", ud->ctl.dropped);
	report_ctr(&k, nonzero, "ctl_commands", ud->ctl.commands);
	report_ctr(&k, nonzero, "svc_rx", ud->svc.rx);
	report_ctr(&k, nonzero, "svc_tx", ud->svc.tx);
	report_ctr(&k, nonzero, "svc_drop_loop", ud->svc.drop_loop);
	report_ctr(&k, nonzero, "svc_drop_tx_err", ud->svc.drop_tx_err);
	report_ctr(&k, nonzero, "svc_tcp_accepted", ud->svc.tcp_accepted);
	report_ctr(&k, nonzero, "svc_tcp_closed", ud->svc.tcp_closed);
	report_ctr(&k, nonzero, "svc_tcp_aborted", ud->svc.tcp_aborted);
	report_ctr(&k, nonzero, "svc_tcp_accept_err", ud->svc.tcp_accept_err);
	report_ctr(&k, nonzero, "svc_tcp_rx_bytes", ud->svc.tcp_rx_bytes);
	report_ctr(&k, nonzero, "svc_tcp_tx_bytes", ud->svc.tcp_tx_bytes);
	/* libustack.so sockets dropped for an impossible shared index. */
	report_ctr(&k, nonzero, "ipc_drop_bad_rx_index", ipc_state ? ipc_state->bad_rx_index : 0);
	report_ctr(&k, nonzero, "ipc_drop_bad_tx_index", ipc_state ? ipc_state->bad_tx_index : 0);
	/* --fault: fault_<action>_<rx|tx>, all 0 when off. */
	for (int kind = 0; kind < FAULT_KINDS; kind++)
		for (int d = 0; d < FAULT_DIRS; d++) {
			char name[32];

			snprintf(name, sizeof name, "fault_%s_%s",
				 fault_kind_name((enum fault_kind)kind), d == FAULT_RX ? "rx" : "tx");
			report_ctr(&k, nonzero, name,
				   fault_count(fault_injector, (enum fault_dir)d, (enum fault_kind)kind));
		}
	report_ctr(&k, nonzero, "fault_delay_overflow", fault_delay_overflow(fault_injector));
}

static const char *report_neigh_state(enum us_neigh_state s)
{
	switch (s) {
	case US_NEIGH_INCOMPLETE: return "incomplete";
	case US_NEIGH_REACHABLE: return "reachable";
	case US_NEIGH_STALE: return "stale";
	case US_NEIGH_FAILED: return "failed";
	}
	return "unknown";
}

static void report_neigh_one(void *ctx, const struct us_neigh_info *n)
{
	const struct report_sink *k = ctx;
	char ip[16], exp[24];

	if (n->expires == US_TIME_NEVER)
		snprintf(exp, sizeof exp, "-");
	else if (n->expires <= k->now)
		snprintf(exp, sizeof exp, "0");
	else /* whole seconds, rounded up: "expires within N s" */
		snprintf(exp, sizeof exp, "%llu",
			 (unsigned long long)((n->expires - k->now + 999999u) / 1000000u));
	report_emit(k, "%-15s %02x:%02x:%02x:%02x:%02x:%02x %-10s %7s %6u",
		    args_ip_str(n->ip, ip, sizeof ip), n->mac[0], n->mac[1], n->mac[2],
		    n->mac[3], n->mac[4], n->mac[5], report_neigh_state(n->state), exp,
		    n->queued);
}

void report_neigh(struct ud *ud, uint64_t now, report_line_fn fn, void *ctx)
{
	const struct report_sink k = { fn, ctx, now };

	report_emit(&k, "%-15s %-17s %-10s %7s %6s", "ip", "mac", "state", "expires", "queued");
	us_neigh_foreach(ud->stack, report_neigh_one, (void *)&k);
}

static void report_events(unsigned ev, char *buf, size_t len)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ US_EV_IN, "in" }, { US_EV_OUT, "out" }, { US_EV_ERR, "err" },
		{ US_EV_HUP, "hup" }, { US_EV_RDHUP, "rdhup" },
	};

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!(ev & names[i].bit))
			continue;
		if (buf[0])
			strlcat(buf, ",", len);
		strlcat(buf, names[i].name, len);
	}
	if (!buf[0])
		strlcpy(buf, "-", len);
}

static const char *report_tcp_state(enum us_tcp_state st)
{
	return (unsigned)st <= US_TCP_TIME_WAIT ? us_tcp_state_names[st] : "?";
}

/* One socket; a TCP connection whose owner has closed it but that is still
 * finishing (FIN_WAIT_*, LAST_ACK, TIME_WAIT...) has no handle and is
 * marked "orphan" in the last column (flags).  tx_queued: bytes sent and
 * not yet acknowledged. */
static void report_sock_one(void *ctx, const struct us_sock_info *si)
{
	const struct report_sink *k = ctx;
	char l[16], r[16], ls[24], rs[24], ev[32];
	bool tcp = si->type == US_SOCK_STREAM;

	snprintf(ls, sizeof ls, "%s:%u", args_ip_str(si->local.ip, l, sizeof l), si->local.port);
	snprintf(rs, sizeof rs, "%s:%u", args_ip_str(si->remote.ip, r, sizeof r),
		 si->remote.port);
	report_events(si->events, ev, sizeof ev);
	report_emit(k, "%-4s %-21s %-21s %-12s %9zu %9zu %-14s %s", tcp ? "tcp" : "udp", ls, rs,
		    tcp ? report_tcp_state(si->state) : "-", si->rx_queued,
		    tcp ? si->tx_queued : 0, ev, si->orphan ? "orphan" : "-");
}

void report_sockets(struct ud *ud, report_line_fn fn, void *ctx)
{
	const struct report_sink k = { fn, ctx, 0 };

	report_emit(&k, "%-4s %-21s %-21s %-12s %9s %9s %-14s %s", "type", "local", "remote",
		    "state", "rx_queued", "tx_queued", "events", "flags");
	us_sock_foreach(ud->stack, report_sock_one, (void *)&k);
}

void report_status(struct ud *ud, uint64_t now, report_line_fn fn, void *ctx)
{
	const struct report_sink k = { fn, ctx, now };
	const struct args *a = &ud->args;
	char ip[16], svcs[64];
	uint64_t up = (now - ud->start_us) / 1000000u;

	report_emit(&k, "ifname %s", a->ifname);
	report_emit(&k, "mode %s", a->mode == US_LINK_IP ? "tun" : "tap");
	report_emit(&k, "addr %s/%u", args_ip_str(a->addr, ip, sizeof ip), a->prefix);
	if (a->mode == US_LINK_ETHER)
		report_emit(&k, "mac %02x:%02x:%02x:%02x:%02x:%02x", ud->mac[0], ud->mac[1],
			    ud->mac[2], ud->mac[3], ud->mac[4], ud->mac[5]);
	report_emit(&k, "gateway %s",
		    a->gateway ? args_ip_str(a->gateway, ip, sizeof ip) : "none");
	if (a->host_addr)
		report_emit(&k, "host-addr %s/%u", args_ip_str(a->host_addr, ip, sizeof ip),
			    a->host_prefix);
	else
		report_emit(&k, "host-addr none");
	report_emit(&k, "mtu %u", a->mtu);
	report_emit(&k, "offload %s", ud->dev.offload ? "csum,tso,gso (virtio-net header)"
				       : ud->dev.vnet ? "off (refused by the kernel)" : "off");
	report_emit(&k, "services %s", svc_mask_str(a->services, svcs, sizeof svcs));
	report_emit(&k, "tcp-mem %llu of %llu", (unsigned long long)us_tcp_mem(ud->stack),
		    (unsigned long long)ud->tcp_mem_max);
	report_emit(&k, "uptime %llu", (unsigned long long)up);
	report_emit(&k, "pid %ld", (long)getpid());
	report_emit(&k, "version %s", USTACK_VERSION);
}

static void report_to_log(void *ctx, const char *line)
{
	(void)ctx;
	log_info("%s", line);
}

void report_log_counters(struct ud *ud, const char *header)
{
	log_info("%s", header);
	report_counters(ud, false, report_to_log, NULL);
}
