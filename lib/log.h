/* log: one line per event: time, program, level, message, and for lines
 * about a client connection its id and (once bound) its JID.  Three formats
 * ([server] log_format): text (the historical "TIME PROG LEVEL: msg"),
 * logfmt and json (one object a line); to stderr or [server] log_file.
 * Never pass a password, SASL payload, token or message body to these. */
#ifndef STARLING_LOG_H
#define STARLING_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };

void log_init(const char *prog, enum log_level level);
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *s);
/* Parses "text", "logfmt", "json"; returns -1 when unknown. */
int log_format_parse(const char *s);
/* Format and destination: file NULL or "" keeps stderr; otherwise the file
 * is opened for appending (created 0640).  Returns 0 or -errno. */
int log_output(enum log_format fmt, const char *file);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line about connection conn; jid NULL or "" until known.  In the text
 * format it reads "conn N: msg" as the cm always wrote; logfmt and json
 * carry conn and jid as fields of their own. */
void log_conn_msg(enum log_level level, unsigned conn, const char *jid, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
extern enum log_level log_current_level;

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_current_level >= LOG_LEVEL_DEBUG)                                          \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                                     \
	} while (0)
/* The level test first so that a debug line costs nothing when off. */
#define log_conn(level, conn, jid, ...)                                                            \
	do {                                                                                       \
		if (log_current_level >= (level))                                                  \
			log_conn_msg((level), (conn), (jid), __VA_ARGS__);                         \
	} while (0)

#endif
