/* args.h - ustackd's command line, parsed and cross-checked. */
#ifndef UD_ARGS_H
#define UD_ARGS_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "fault.h"
#include "ustack.h"

#define ARGS_DEFAULT_SOCKET "/run/ustack/ustackd.sock"

struct args {
	char ifname[IFNAMSIZ];
	enum us_link_mode mode;
	uint32_t addr; /* host byte order, like the stack API */
	uint8_t prefix;
	uint32_t gateway; /* 0 = none */
	uint32_t host_addr; /* 0 = none (kernel side left unaddressed) */
	uint8_t host_prefix;
	uint16_t mtu;
	unsigned time_wait; /* seconds */
	unsigned tcp_mem_mib; /* --tcp-mem; 0 = a quarter of RAM, >= 2 GiB */
	bool offload;       /* --offload: virtio-net header, TSO/GSO, checksums */
	unsigned busy_poll_us; /* --busy-poll: spin this long after work; 0 = never */
	int cpu;               /* --cpu: run on this CPU only; -1 = anywhere */
	unsigned user_sessions; /* --user-sessions: programs (sessions) per user */
	unsigned user_sockets;  /* --user-sockets: ustack sockets per user */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned socket_mode; /* --socket-mode, default 0660 */
	long socket_gid;      /* --socket-group; -1 = the daemon's group */
	unsigned services; /* SVC_* bits */
	struct fault_cfg fault; /* --fault; .on false = off */
	bool foreground, verbose, trace;
};

enum args_result {
	ARGS_RUN = 0,   /* start the daemon */
	ARGS_DONE = 1,  /* --help/--version printed: exit 0 */
	ARGS_USAGE = 2, /* error printed: exit 2 */
};

enum args_result args_parse(struct args *a, int argc, char **argv);

/* Helpers shared with the control and report code. */
uint32_t args_mask(uint8_t prefix);
/* "a.b.c.d" into buf (>= 16 bytes); returns buf. */
const char *args_ip_str(uint32_t ip, char *buf, size_t len);

#endif
