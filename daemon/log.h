/* log.h - ustackd logging: stderr until detached (and always with
 * --foreground), syslog afterwards.  One line per call, no newline needed. */
#ifndef UD_LOG_H
#define UD_LOG_H

#include <stdbool.h>
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

/* us_trace_fn for the stack: one timestamped line per packet step. */
void log_trace(void *ctx, const char *line);

#endif
