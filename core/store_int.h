/* store_int: what the SQLite store's files share (store.c opens the database
 * and prepares every statement; store_data.c uses them).  Not for callers of
 * the store: they include store.h. */
#ifndef STARLING_CORE_STORE_INT_H
#define STARLING_CORE_STORE_INT_H
#include <sqlite3.h>

#include "lib/lathist.h"

#include "store.h"

enum store_stmt {
	Q_USER_ADD,
	Q_USER_SET,
	Q_USER_DEL,
	Q_USER_DEL_ROSTER,
	Q_USER_DEL_OFFLINE,
	Q_USER_DEL_BLOCK,
	Q_USER_DEL_XML,
	Q_USER_DEL_LAST,
	Q_USER_DEL_DIGEST,
	Q_USER_DEL_PEP_NODE,
	Q_USER_DEL_PEP_ITEM,
	Q_USER_DEL_PEP_USAGE,
	Q_DIGEST_SET,
	Q_DIGEST_GET,
	Q_USER_GET,
	Q_USER_LIST,
	Q_ROSTER_GET,
	Q_ROSTER_PUT,
	Q_ROSTER_DEL,
	Q_ROSTER_LOAD,
	Q_ROSTER_VER,
	Q_OFF_ADD,
	Q_OFF_COUNT,
	Q_OFF_TOTAL,
	Q_OFF_LOAD,
	Q_OFF_DEL,
	Q_BLOCK_ADD,
	Q_BLOCK_DEL,
	Q_BLOCK_CLEAR,
	Q_BLOCK_LOAD,
	Q_XML_GET,
	Q_XML_PUT,
	Q_XML_DEL,
	Q_XML_COUNT,
	Q_LAST_SET,
	Q_LAST_GET,
	Q_PEP_NODE_GET,
	Q_PEP_NODE_PUT,
	Q_PEP_NODE_DEL,
	Q_PEP_NODE_COUNT,
	Q_PEP_NODE_LIST,
	Q_PEP_ITEM_PUT,
	Q_PEP_ITEM_TRIM,
	Q_PEP_ITEM_DEL,
	Q_PEP_ITEM_PURGE,
	Q_PEP_ITEM_LOAD,
	Q_PEP_ITEM_GET,
	Q_PEP_LAST,
	Q_PEP_LAST_OF,
	Q_PEP_BYTES,
	Q_PEP_ITEM_XML,
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_COUNT
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	unsigned depth; /* store_begin() nesting */
	struct lathist commit_latency; /* outermost commits (metrics) */
};

/* Logs SQLite's message for what and returns -EIO. */
int store_fail(struct store *st, const char *what);
/* The prepared statement, reset and unbound. */
sqlite3_stmt *store_stmt(struct store *st, enum store_stmt i);
/* Runs a statement that returns no rows: 0, -EEXIST (constraint) or -EIO. */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what);
/* Runs q with ?1 = user and, when key is not NULL, ?2 = key: as
 * store_step_done. */
int store_user_key_done(struct store *st, enum store_stmt q, const char *user, const char *key,
			const char *what);
/* Binds v as text, or NULL when v is NULL. */
void store_bind_text(sqlite3_stmt *s, int i, const char *v);
/* malloc'd copy of a text column; NULL for SQL NULL or on ENOMEM. */
char *store_col_strdup(sqlite3_stmt *s, int col);
/* Room for one more element of size sz in *arr (n used, cap allocated):
 * returns a pointer to it or NULL on ENOMEM (*arr untouched). */
void *store_grow(void **arr, size_t *n, size_t *cap, size_t sz);

#endif
