/* log.h - ustackd logging: stderr until detached (and always with
 * --foreground), syslog afterwards.  One line per call, no newline needed. */
#ifndef UD_LOG_H
#define UD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

void log_init(const char *ident, bool verbose);
/* Switch to syslog (called after detaching from the terminal). */
void log_use_syslog(void);
bool log_is_verbose(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
/* Only with --verbose. */
#define log_verbose(...)                                                       \
	do {                                                                   \
		if (log_is_verbose())                                          \
			log_msg(LOG_INFO, __VA_ARGS__);                        \
	} while (0)

/* Messages a program or a peer can cause at will (a misbehaving session
 * or socket dropped): at most LOG_LIMIT_BURST per second per kind; the
 * rest are counted, and the next one that goes out says how many were
 * left out, so a hostile program cannot flood the journal. */
#define LOG_LIMIT_BURST 10
struct log_limit {
	uint64_t window_us;
	unsigned sent;
	unsigned long suppressed;
};
void log_limited(struct log_limit *l, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* us_trace_fn for the stack: one timestamped line per packet step. */
void log_trace(void *ctx, const char *line);

#endif
