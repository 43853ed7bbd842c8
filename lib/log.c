#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_current_level = LOG_LEVEL_INFO;
static const char *log_prog = "starling";
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static int log_fd = 2;

static const char *const log_tags[] = {"error", "warn", "info", "debug"};

void log_init(const char *prog, enum log_level level)
{
	log_prog = prog;
	log_current_level = level;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, log_tags[i]))
			return i;
	return -1;
}

int log_format_parse(const char *s)
{
	static const char *names[] = {"text", "logfmt", "json"};
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

int log_output(enum log_format fmt, const char *file)
{
	if (file && *file) {
		int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0)
			return -errno;
		if (log_fd != 2)
			close(log_fd);
		log_fd = fd;
	}
	log_fmt = fmt;
	return 0;
}

/* A bounded line being built; past the end it is cut, never overrun. */
struct log_line {
	char b[2048];
	size_t n;
};

static void log_put(struct log_line *l, const char *s, size_t len)
{
	size_t room = sizeof l->b - 1 - l->n; /* one byte kept for the newline */
	if (len > room)
		len = room;
	memcpy(l->b + l->n, s, len);
	l->n += len;
}

static void log_puts(struct log_line *l, const char *s) { log_put(l, s, strlen(s)); }

/* s as a quoted string: JSON (RFC 8259 §7) escapes, which logfmt readers
 * accept too.  Control bytes become \u00XX so one event stays one line. */
static void log_quoted(struct log_line *l, const char *s)
{
	log_put(l, "\"", 1);
	for (; *s; s++) {
		/* Cut the value, not its closing quote (nor json's brace). */
		if (l->n + 6 + 3 >= sizeof l->b - 1)
			break;
		unsigned char ch = (unsigned char)*s;
		char esc[8];
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			log_put(l, esc, 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", ch);
			log_put(l, esc, 6);
		} else {
			log_put(l, s, 1);
		}
	}
	log_put(l, "\"", 1);
}

/* logfmt values go bare when they need no quotes. */
static void log_logfmt_value(struct log_line *l, const char *s)
{
	if (!*s || strpbrk(s, " =\"\\") || strpbrk(s, "\x01\x02\x03\x04\x05\x06\x07\x08\t\n\r\x7f"))
		log_quoted(l, s);
	else
		log_puts(l, s);
}

static void log_field(struct log_line *l, const char *key, const char *val, int quote_always)
{
	if (log_fmt == LOG_FORMAT_JSON) {
		log_puts(l, l->n > 1 ? ",\"" : "\"");
		log_puts(l, key);
		log_puts(l, "\":");
		if (quote_always)
			log_quoted(l, val);
		else
			log_puts(l, val);
	} else {
		if (l->n)
			log_put(l, " ", 1);
		log_puts(l, key);
		log_put(l, "=", 1);
		log_logfmt_value(l, val);
	}
}

/* conn is meaningful only with has_conn: 0 is a valid connection id. */
static void log_emit(enum log_level level, int has_conn, unsigned conn, const char *jid,
		     const char *fmt, va_list ap)
{
	struct log_line l = {.n = 0};
	char ts[80], msg[1536];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now.tv_nsec / 1000000);
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_fmt == LOG_FORMAT_TEXT) {
		int n = snprintf(l.b, sizeof l.b - 1, "%s %s %s: ", ts, log_prog, log_tags[level]);
		l.n = n > 0 && (size_t)n < sizeof l.b - 1 ? (size_t)n : 0;
		if (has_conn) {
			char c[24];
			snprintf(c, sizeof c, "conn %u: ", conn);
			log_puts(&l, c);
		}
		log_puts(&l, msg);
	} else {
		char c[16];
		if (log_fmt == LOG_FORMAT_JSON)
			log_put(&l, "{", 1);
		log_field(&l, "ts", ts, 1);
		log_field(&l, "level", log_tags[level], 1);
		log_field(&l, "proc", log_prog, 1);
		if (has_conn) {
			snprintf(c, sizeof c, "%u", conn);
			log_field(&l, "conn", c, 0);
		}
		if (jid && *jid)
			log_field(&l, "jid", jid, 1);
		log_field(&l, "msg", msg, 1);
		if (log_fmt == LOG_FORMAT_JSON)
			log_put(&l, "}", 1);
	}
	l.b[l.n++] = '\n';
	/* One write per line so lines from worker threads do not interleave. */
	ssize_t w = write(log_fd, l.b, l.n);
	(void)w; /* nowhere left to report a failed log write */
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > log_current_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emit(level, 0, 0, NULL, fmt, ap);
	va_end(ap);
}

void log_conn_msg(enum log_level level, unsigned conn, const char *jid, const char *fmt, ...)
{
	if (level > log_current_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emit(level, 1, conn, jid, fmt, ap);
	va_end(ap);
}
