/* log.c - owns where ustackd's messages go: "ustackd: ..." lines on stderr
 * while in the foreground (or before detaching), syslog(3) afterwards.
 * Trace lines from the stack get a wall-clock timestamp on stderr;
 * messages others can cause at will are rate-limited (log_limited). */
#include "log.h"
#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static const char *log_ident = "ustackd";
static bool log_verbose_on;
static bool log_syslog_on;

void log_init(const char *ident, bool verbose)
{
	log_ident = ident;
	log_verbose_on = verbose;
}

void log_use_syslog(void)
{
	openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog_on = true;
}

bool log_is_verbose(void)
{
	return log_verbose_on;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_syslog_on) {
		vsyslog(prio, fmt, ap);
	} else {
		char line[1024];

		vsnprintf(line, sizeof line, fmt, ap);
		fprintf(stderr, "%s: %s\n", log_ident, line);
	}
	va_end(ap);
}

void log_limited(struct log_limit *l, int prio, const char *fmt, ...)
{
	uint64_t now = clock_now_us();
	char line[1024];
	va_list ap;

	if (now - l->window_us >= 1000000u) {
		l->window_us = now;
		l->sent = 0;
	}
	if (l->sent >= LOG_LIMIT_BURST) {
		l->suppressed++;
		return;
	}
	l->sent++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (l->suppressed) {
		log_msg(prio, "%s (%lu more like it left out)", line, l->suppressed);
		l->suppressed = 0;
	} else {
		log_msg(prio, "%s", line);
	}
}

void log_trace(void *ctx, const char *line)
{
	(void)ctx;
	if (log_syslog_on) {
		syslog(LOG_DEBUG, "trace: %s", line);
		return;
	}
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%06ld %s\n", tm.tm_hour, tm.tm_min,
		tm.tm_sec, (long)tv.tv_usec, line);
}
