/* connlog: log lines about one client connection, carrying its id and,
 * once authenticated, its JID as fields (lib/log.h). */
#ifndef STARLING_CONNLOG_H
#define STARLING_CONNLOG_H
#include "lib/log.h"

/* c is a struct conn *; evaluated only when the level is logged. */
#define conn_log(level, c, ...) log_conn((level), (c)->sid, (c)->jid, __VA_ARGS__)

#endif
