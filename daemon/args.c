/* args.c - owns ustackd's command-line parsing and validation: every bad
 * flag or value is reported as one "ustackd: ..." line and exit status 2. */
#include "args.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services.h"
#include "ustackd.h"

static void args_usage(FILE *f)
{
	fprintf(f,
		"Usage: ustackd [OPTION]...\n"
		"Run the ustack userspace TCP/IP stack on a TAP/TUN device.\n"
		"\n"
		"  --ifname NAME       interface to create (default ustack0)\n"
		"  --mode tap|tun      Ethernet (tap) or raw IPv4 (tun) device (default tap)\n"
		"  --addr CIDR         the stack's address and prefix (default 10.77.0.2/24)\n"
		"  --gateway ADDR      default gateway, inside the connected network (default none)\n"
		"  --host-addr CIDR    give the kernel side of the device this address (default none)\n"
		"  --mtu N             link MTU, 576..65535 (default 1500)\n"
		"  --socket PATH       control socket (default " ARGS_DEFAULT_SOCKET ")\n"
		"  --socket-mode MODE  its permissions, octal, owner rw required (default 0660)\n"
		"  --socket-group GRP  its group, a name or number (default the daemon's)\n"
		"  --services LIST     comma list of echo,discard,chargen, on UDP and TCP\n"
		"                      (default none)\n"
		"  --fault SPEC        inject link faults in both directions, e.g.\n"
		"                      drop=1.5,dup=1,reorder=2,corrupt=0.5,seed=42 (percent),\n"
		"                      delay=20 (ms, every frame the stack sends)\n"
		"  --time-wait SECS    TCP TIME_WAIT (2*MSL), 1..600 seconds (default 60)\n"
		"  --tcp-mem MIB       all TCP buffers together, 16..1048576 MiB (default a\n"
		"                      quarter of the memory, at least 2048)\n"
		"  --busy-poll USEC    after work, poll without sleeping for up to USEC\n"
		"                      microseconds (lower latency, a busier CPU; default 0)\n"
		"  --cpu N             run on CPU N only (e.g. the CPU of the programs it\n"
		"                      serves: their wake-ups stay on one CPU; default any)\n"
		"  --user-sessions N   programs (control connections) one user may have\n"
		"                      open, 1..1024 (default 512)\n"
		"  --user-sockets N    ustack sockets one user's programs may hold together,\n"
		"                      1..4194304 (default 65536)\n"
		"  --offload on|off    virtio-net header on the device: checksum offload, TSO\n"
		"                      out, GSO in (default on; off with --fault)\n"
		"  --foreground        stay in the foreground and log to stderr\n"
		"  --verbose           log more\n"
		"  --trace             trace every packet step (to stderr)\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n");
}

__attribute__((format(printf, 1, 2))) static enum args_result args_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("ustackd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return ARGS_USAGE;
}

uint32_t args_mask(uint8_t prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

const char *args_ip_str(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
		 ip & 255);
	return buf;
}

/* Strict dotted quad into host byte order. */
static int args_ip(const char *s, uint32_t *ip)
{
	struct in_addr in;

	if (inet_pton(AF_INET, s, &in) != 1)
		return -EINVAL;
	*ip = ntohl(in.s_addr);
	return 0;
}

/* Decimal number without sign, spaces or trailing junk. */
static int args_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* ADDRESS/PREFIX. */
static enum args_result args_cidr(const char *opt, const char *s, uint32_t *ip, uint8_t *prefix)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	unsigned long p;

	if (!slash)
		return args_fail("%s '%s': expected ADDRESS/PREFIX, e.g. 10.77.0.2/24", opt, s);
	if ((size_t)(slash - s) >= sizeof buf)
		return args_fail("%s '%s': not an IPv4 address", opt, s);
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (args_ip(buf, ip) < 0)
		return args_fail("%s '%s': '%s' is not an IPv4 address", opt, s, buf);
	int r = args_num(slash + 1, 32, &p);
	if (r == -ERANGE)
		return args_fail("%s '%s': prefix length must be 0..32", opt, s);
	if (r < 0)
		return args_fail("%s '%s': '%s' is not a prefix length", opt, s, slash + 1);
	*prefix = (uint8_t)p;
	return ARGS_RUN;
}

/* A usable unicast host address: not 0/8, loopback, multicast or reserved. */
static bool args_ip_unicast(uint32_t ip)
{
	return (ip >> 24) != 0 && (ip >> 24) != 127 && ip < 0xe0000000u;
}

/* Network or broadcast address of a net that has such (prefix <= 30). */
static bool args_ip_net_or_bcast(uint32_t ip, uint8_t prefix)
{
	uint32_t m = args_mask(prefix);

	return prefix <= 30 && ((ip & ~m) == 0 || (ip & ~m) == ~m);
}

static enum args_result args_ifname(struct args *a, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ)
		return args_fail("--ifname '%s': must be 1..%d characters", s, IFNAMSIZ - 1);
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return args_fail("--ifname '%s': not a valid interface name", s);
	for (const char *p = s; *p; p++) {
		/* '%' would make the kernel pick a name; ':' is alias syntax. */
		if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == ':' || *p == '%')
			return args_fail("--ifname '%s': invalid character in interface name", s);
	}
	memcpy(a->ifname, s, n + 1);
	return ARGS_RUN;
}

static enum args_result args_services(struct args *a, const char *s)
{
	char buf[256];

	if (strlen(s) >= sizeof buf)
		return args_fail("--services: list too long");
	strcpy(buf, s);
	a->services = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int bit = svc_lookup(tok);
		if (bit < 0)
			return args_fail("--services: unknown service '%s' (known: %s)", tok,
					 svc_known_list());
		a->services |= (unsigned)bit;
	}
	return ARGS_RUN;
}

enum {
	OPT_IFNAME = 256, OPT_MODE, OPT_ADDR, OPT_GATEWAY, OPT_HOST_ADDR, OPT_MTU,
	OPT_SOCKET, OPT_SERVICES, OPT_FOREGROUND, OPT_VERBOSE, OPT_TRACE, OPT_FAULT, OPT_TIME_WAIT,
	OPT_OFFLOAD, OPT_TCP_MEM, OPT_BUSY_POLL, OPT_CPU, OPT_USER_SESSIONS, OPT_USER_SOCKETS,
	OPT_SOCKET_MODE, OPT_SOCKET_GROUP,
};

static const struct option args_options[] = {
	{ "ifname", required_argument, NULL, OPT_IFNAME },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "addr", required_argument, NULL, OPT_ADDR },
	{ "gateway", required_argument, NULL, OPT_GATEWAY },
	{ "host-addr", required_argument, NULL, OPT_HOST_ADDR },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "services", required_argument, NULL, OPT_SERVICES },
	{ "foreground", no_argument, NULL, OPT_FOREGROUND },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "fault", required_argument, NULL, OPT_FAULT },
	{ "time-wait", required_argument, NULL, OPT_TIME_WAIT },
	{ "offload", required_argument, NULL, OPT_OFFLOAD },
	{ "tcp-mem", required_argument, NULL, OPT_TCP_MEM },
	{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "user-sessions", required_argument, NULL, OPT_USER_SESSIONS },
	{ "user-sockets", required_argument, NULL, OPT_USER_SOCKETS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Checks that need every option: addresses against each other, MTU vs mode. */
static enum args_result args_check(struct args *a, bool have_gw)
{
	char b1[16], b2[16];
	uint32_t m = args_mask(a->prefix);

	if (!args_ip_unicast(a->addr))
		return args_fail("--addr %s/%u: not a usable unicast address",
				 args_ip_str(a->addr, b1, sizeof b1), a->prefix);
	if (args_ip_net_or_bcast(a->addr, a->prefix))
		return args_fail("--addr %s/%u: that is the network or broadcast address",
				 args_ip_str(a->addr, b1, sizeof b1), a->prefix);
	if (have_gw) {
		if ((a->gateway & m) != (a->addr & m))
			return args_fail("--gateway %s: outside the connected network %s/%u",
					 args_ip_str(a->gateway, b1, sizeof b1),
					 args_ip_str(a->addr & m, b2, sizeof b2), a->prefix);
		if (a->gateway == a->addr)
			return args_fail("--gateway %s: that is the stack's own address",
					 args_ip_str(a->gateway, b1, sizeof b1));
		if (!args_ip_unicast(a->gateway) || args_ip_net_or_bcast(a->gateway, a->prefix))
			return args_fail("--gateway %s: not a usable host address in %s/%u",
					 args_ip_str(a->gateway, b1, sizeof b1),
					 args_ip_str(a->addr & m, b2, sizeof b2), a->prefix);
	}
	if (a->host_addr) {
		uint32_t hm = args_mask(a->host_prefix);

		if (a->host_addr == a->addr)
			return args_fail("--host-addr %s: equal to --addr; the kernel side needs its own address",
					 args_ip_str(a->host_addr, b1, sizeof b1));
		if ((a->host_addr & m) != (a->addr & m))
			return args_fail("--host-addr %s: outside the stack's network %s/%u",
					 args_ip_str(a->host_addr, b1, sizeof b1),
					 args_ip_str(a->addr & m, b2, sizeof b2), a->prefix);
		if ((a->addr & hm) != (a->host_addr & hm))
			return args_fail("--host-addr %s/%u: its network does not contain --addr %s",
					 args_ip_str(a->host_addr, b1, sizeof b1), a->host_prefix,
					 args_ip_str(a->addr, b2, sizeof b2));
		if (!args_ip_unicast(a->host_addr) ||
		    args_ip_net_or_bcast(a->host_addr, a->prefix) ||
		    args_ip_net_or_bcast(a->host_addr, a->host_prefix))
			return args_fail("--host-addr %s/%u: not a usable host address",
					 args_ip_str(a->host_addr, b1, sizeof b1), a->host_prefix);
	}
	/* The tun driver caps a TAP's MTU at 65535 minus the Ethernet header. */
	if (a->mode == US_LINK_ETHER && a->mtu > 65535 - 14)
		return args_fail("--mtu %u: too large for --mode tap (at most %u)", a->mtu,
				 65535 - 14);
	return ARGS_RUN;
}

enum args_result args_parse(struct args *a, int argc, char **argv)
{
	enum args_result r;
	unsigned long v;
	bool have_gw = false;

	memset(a, 0, sizeof *a);
	strcpy(a->ifname, "ustack0");
	a->mode = US_LINK_ETHER;
	a->addr = 0x0a4d0002u; /* 10.77.0.2/24 */
	a->prefix = 24;
	a->mtu = 1500;
	a->time_wait = 60;
	a->offload = true;
	a->cpu = -1;
	a->user_sessions = 512;
	a->user_sockets = 65536;
	strcpy(a->socket_path, ARGS_DEFAULT_SOCKET);
	a->socket_mode = 0660;
	a->socket_gid = -1;

	opterr = 0;
	optind = 1;
	for (;;) {
		int prev = optind;
		int c = getopt_long(argc, argv, ":hV", args_options, NULL);
		if (c == -1)
			break;
		r = ARGS_RUN;
		switch (c) {
		case OPT_IFNAME:
			r = args_ifname(a, optarg);
			break;
		case OPT_MODE:
			if (strcmp(optarg, "tap") == 0)
				a->mode = US_LINK_ETHER;
			else if (strcmp(optarg, "tun") == 0)
				a->mode = US_LINK_IP;
			else
				r = args_fail("--mode '%s': must be tap or tun", optarg);
			break;
		case OPT_ADDR:
			r = args_cidr("--addr", optarg, &a->addr, &a->prefix);
			break;
		case OPT_GATEWAY:
			if (args_ip(optarg, &a->gateway) < 0)
				r = args_fail("--gateway '%s': not an IPv4 address", optarg);
			have_gw = true;
			break;
		case OPT_HOST_ADDR:
			r = args_cidr("--host-addr", optarg, &a->host_addr, &a->host_prefix);
			break;
		case OPT_TIME_WAIT:
			if (args_num(optarg, 600, &v) < 0 || v < 1)
				r = args_fail("--time-wait '%s': must be a number of seconds in 1..600",
					      optarg);
			else
				a->time_wait = (unsigned)v;
			break;
		case OPT_TCP_MEM:
			if (args_num(optarg, 1048576, &v) < 0 || v < 16)
				r = args_fail("--tcp-mem '%s': must be a number of MiB in 16..1048576",
					      optarg);
			else
				a->tcp_mem_mib = (unsigned)v;
			break;
		case OPT_BUSY_POLL:
			if (args_num(optarg, 10000, &v) < 0)
				r = args_fail("--busy-poll '%s': must be a number of microseconds in "
					      "0..10000", optarg);
			else
				a->busy_poll_us = (unsigned)v;
			break;
		case OPT_USER_SESSIONS:
			if (args_num(optarg, 1024, &v) < 0 || v < 1)
				r = args_fail("--user-sessions '%s': must be a number in 1..1024", optarg);
			else
				a->user_sessions = (unsigned)v;
			break;
		case OPT_USER_SOCKETS:
			if (args_num(optarg, 4194304, &v) < 0 || v < 1)
				r = args_fail("--user-sockets '%s': must be a number in 1..4194304",
					      optarg);
			else
				a->user_sockets = (unsigned)v;
			break;
		case OPT_CPU:
			if (args_num(optarg, 1023, &v) < 0)
				r = args_fail("--cpu '%s': must be a CPU number in 0..1023", optarg);
			else
				a->cpu = (int)v;
			break;
		case OPT_OFFLOAD:
			if (strcmp(optarg, "on") == 0)
				a->offload = true;
			else if (strcmp(optarg, "off") == 0)
				a->offload = false;
			else
				r = args_fail("--offload '%s': must be on or off", optarg);
			break;
		case OPT_MTU:
			if (args_num(optarg, 65535, &v) < 0 || v < 576)
				r = args_fail("--mtu '%s': must be a number in 576..65535", optarg);
			else
				a->mtu = (uint16_t)v;
			break;
		case OPT_SOCKET:
			if (optarg[0] == '\0' || strlen(optarg) >= sizeof a->socket_path)
				r = args_fail("--socket: path must be 1..%zu characters",
					      sizeof a->socket_path - 1);
			else
				strcpy(a->socket_path, optarg);
			break;
		case OPT_SOCKET_MODE: {
			char *end;
			errno = 0;
			v = strtoul(optarg, &end, 8);
			if (!*optarg || *end || errno || v > 0777 || (v & 0600) != 0600)
				r = args_fail("--socket-mode '%s': must be octal, at most 0777, with "
					      "0600 set", optarg);
			else
				a->socket_mode = (unsigned)v;
			break;
		}
		case OPT_SOCKET_GROUP: {
			struct group gr, *gp = NULL;
			char gbuf[4096];
			if (args_num(optarg, 0x7fffffff, &v) == 0)
				a->socket_gid = (long)v;
			else if (getgrnam_r(optarg, &gr, gbuf, sizeof gbuf, &gp) == 0 && gp)
				a->socket_gid = (long)gp->gr_gid;
			else
				r = args_fail("--socket-group '%s': no such group", optarg);
			break;
		}
		case OPT_SERVICES:
			r = args_services(a, optarg);
			break;
		case OPT_FOREGROUND:
			a->foreground = true;
			break;
		case OPT_VERBOSE:
			a->verbose = true;
			break;
		case OPT_TRACE:
			a->trace = true;
			break;
		case OPT_FAULT: {
			char err[256];

			if (fault_parse(optarg, &a->fault, err, sizeof err) < 0)
				r = args_fail("%s", err);
			break;
		}
		case 'h':
			args_usage(stdout);
			return ARGS_DONE;
		case 'V':
			printf("ustackd %s\n", USTACK_VERSION);
			return ARGS_DONE;
		case ':':
			return args_fail("option '%s' needs a value (see --help)", argv[optind - 1]);
		default: {
			/* Unknown: name the word getopt was looking at. */
			const char *word = argv[optind > prev ? optind - 1 : prev];
			const char *eq = strchr(word, '=');
			if (word[0] == '-' && word[1] == '-' && eq) {
				for (const struct option *o = args_options; o->name; o++)
					if (o->has_arg == no_argument &&
					    strlen(o->name) == (size_t)(eq - word - 2) &&
					    strncmp(o->name, word + 2, (size_t)(eq - word - 2)) == 0)
						return args_fail("option '--%s' takes no value", o->name);
			}
			if (optopt && word[0] == '-' && word[1] != '-')
				return args_fail("unknown option '-%c' (see --help)", optopt);
			return args_fail("unknown option '%s' (see --help)", word);
		}
		}
		if (r != ARGS_RUN)
			return r;
	}
	if (optind < argc)
		return args_fail("unexpected argument '%s' (see --help)", argv[optind]);
	if (have_gw && a->gateway == 0)
		return args_fail("--gateway 0.0.0.0: not a usable gateway");
	return args_check(a, have_gw);
}
