/* report.h - human-readable views of the daemon's state, written line by
 * line to a sink (a control-socket reply or the log). */
#ifndef UD_REPORT_H
#define UD_REPORT_H

#include <stdbool.h>
#include <stdint.h>

struct ud;

typedef void (*report_line_fn)(void *ctx, const char *line);

/* `name value` per counter: the stack's, then the daemon's own. */
void report_counters(struct ud *ud, bool nonzero, report_line_fn fn, void *ctx);
/* Header, then `ip mac state expires_in_s queued` per neighbour entry. */
void report_neigh(struct ud *ud, uint64_t now, report_line_fn fn, void *ctx);
/* Header, then `type local remote state rx_queued tx_queued events flags` per
 * socket (flags: `orphan` for connections closed by their owner). */
void report_sockets(struct ud *ud, report_line_fn fn, void *ctx);
/* `key value` lines: ifname, mode, addr, ..., uptime, pid. */
void report_status(struct ud *ud, uint64_t now, report_line_fn fn, void *ctx);

/* A header line and every counter into the log (SIGUSR1, exit). */
void report_log_counters(struct ud *ud, const char *header);

#endif
