/* store_pep: PEP nodes and items (XEP-0163) in the SQLite store. */
#include <errno.h>

#include "store_int.h"

/* Q_PEP_LAST names these two values in SQL. */
_Static_assert(STORE_PEP_WHITELIST == 2 && STORE_PEP_ON_SUB_AND_PRESENCE == 2 &&
		       STORE_PEP_NEVER == 0,
	       "store.c's Q_PEP_LAST and Q_PEP_LAST_OF");

int store_pep_node_get(struct store *st, const char *user, const char *node,
		       struct store_pep_config *cfg)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_NODE_GET);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, node);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		cfg->access = (uint8_t)sqlite3_column_int(s, 0);
		cfg->max_items = (uint16_t)sqlite3_column_int(s, 1);
		cfg->send_last = (uint8_t)sqlite3_column_int(s, 2);
		cfg->notify_retract = (uint8_t)sqlite3_column_int(s, 3);
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? -ENOENT : store_fail(st, "pep node get");
	sqlite3_reset(s);
	return rc;
}

static int trim(struct store *st, const char *user, const char *node, unsigned max)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_ITEM_TRIM);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, node);
	sqlite3_bind_int(s, 3, (int)max);
	return store_step_done(st, s, "pep item trim");
}

/* Runs the bound statement s, then keeps the node's newest max items, in
 * one transaction. */
static int step_and_trim(struct store *st, sqlite3_stmt *s, const char *what, const char *user,
			 const char *node, unsigned max)
{
	int rc = store_begin(st);
	if (rc)
		return rc;
	rc = store_step_done(st, s, what);
	if (!rc)
		rc = trim(st, user, node, max);
	if (rc) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st);
}

int store_pep_node_put(struct store *st, const char *user, const char *node,
		       const struct store_pep_config *cfg)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_NODE_PUT);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, node);
	sqlite3_bind_int(s, 3, cfg->access);
	sqlite3_bind_int(s, 4, cfg->max_items);
	sqlite3_bind_int(s, 5, cfg->send_last);
	sqlite3_bind_int(s, 6, cfg->notify_retract);
	return step_and_trim(st, s, "pep node put", user, node, cfg->max_items);
}

int store_pep_node_del(struct store *st, const char *user, const char *node)
{
	int rc = store_begin(st);
	if (rc)
		return rc;
	rc = store_user_key_done(st, Q_PEP_NODE_DEL, user, node, "pep node delete");
	int found = !rc && sqlite3_changes(st->db) > 0;
	if (!rc)
		rc = store_user_key_done(st, Q_PEP_ITEM_PURGE, user, node, "pep node delete");
	if (rc || !found) {
		store_rollback(st);
		return rc ? rc : -ENOENT;
	}
	return store_commit(st);
}

int store_pep_node_count(struct store *st, const char *user)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_NODE_COUNT);
	store_bind_text(s, 1, user);
	int rc = sqlite3_step(s);
	rc = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : store_fail(st, "pep node count");
	sqlite3_reset(s);
	return rc;
}

/* Steps s to its end, handing each row to row(); a non-zero return stops. */
static int each_row(struct store *st, sqlite3_stmt *s, const char *what,
		    int (*row)(sqlite3_stmt *s, void *a, void *b), void *a, void *b)
{
	int rc, stop = 0;
	while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW)
		stop = row(s, a, b);
	sqlite3_reset(s);
	if (stop)
		return stop < 0 ? stop : 0;
	return rc == SQLITE_DONE ? 0 : store_fail(st, what);
}

static const char *col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? (const char *)t : "";
}

static int node_row(sqlite3_stmt *s, void *cb, void *ctx)
{
	return ((int (*)(void *, const char *, uint8_t))cb)(ctx, col(s, 0),
							    (uint8_t)sqlite3_column_int(s, 1));
}

int store_pep_node_list(struct store *st, const char *user,
			int (*cb)(void *ctx, const char *node, uint8_t access), void *ctx)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_NODE_LIST);
	store_bind_text(s, 1, user);
	return each_row(st, s, "pep node list", node_row, (void *)cb, ctx);
}

int store_pep_item_put(struct store *st, const char *user, const char *node, const char *id,
		       const char *xml, unsigned max)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_ITEM_PUT);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, node);
	store_bind_text(s, 3, id);
	store_bind_text(s, 4, xml);
	return step_and_trim(st, s, "pep item put", user, node, max);
}

int64_t store_pep_bytes(struct store *st, const char *user, const char *node, const char *id)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_BYTES);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, node);
	store_bind_text(s, 3, id);
	int64_t rc = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0)
						  : store_fail(st, "pep bytes");
	sqlite3_reset(s);
	return rc;
}

int store_pep_item_del(struct store *st, const char *user, const char *node, const char *id)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_ITEM_DEL);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, node);
	store_bind_text(s, 3, id);
	int rc = store_step_done(st, s, "pep item delete");
	return rc ? rc : sqlite3_changes(st->db) > 0 ? 0 : -ENOENT;
}

int store_pep_item_purge(struct store *st, const char *user, const char *node)
{
	return store_user_key_done(st, Q_PEP_ITEM_PURGE, user, node, "pep purge");
}

static int item_row(sqlite3_stmt *s, void *cb, void *ctx)
{
	return ((int (*)(void *, const char *, const char *))cb)(ctx, col(s, 0), col(s, 1));
}

int store_pep_item_load(struct store *st, const char *user, const char *node, const char *id,
			unsigned max, size_t bytes,
			int (*cb)(void *ctx, const char *id, const char *xml), void *ctx)
{
	sqlite3_stmt *s = store_stmt(st, id ? Q_PEP_ITEM_GET : Q_PEP_ITEM_LOAD);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, node);
	if (id)
		store_bind_text(s, 3, id);
	else {
		sqlite3_bind_int(s, 3, (int)max);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)bytes);
	}
	return each_row(st, s, "pep item load", item_row, (void *)cb, ctx);
}

static int last_row(sqlite3_stmt *s, void *cb, void *ctx)
{
	return ((int (*)(void *, const char *, const char *, const char *, int64_t))cb)(
		ctx, col(s, 0), col(s, 1), col(s, 2), sqlite3_column_int64(s, 3));
}

int store_pep_item_xml(struct store *st, int64_t item, char **xml)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_ITEM_XML);
	sqlite3_bind_int64(s, 1, item);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = (*xml = store_col_strdup(s, 0)) ? 0 : -ENOMEM;
	else
		rc = rc == SQLITE_DONE ? -ENOENT : store_fail(st, "pep item xml");
	sqlite3_reset(s);
	return rc;
}

int store_pep_last_of(struct store *st, const char *owner,
		      int (*cb)(void *ctx, const char *owner, const char *node, const char *id,
				int64_t item),
		      void *ctx)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_LAST_OF);
	store_bind_text(s, 1, owner);
	return each_row(st, s, "pep last items of", last_row, (void *)cb, ctx);
}

int store_pep_last(struct store *st, const char *user,
		   int (*cb)(void *ctx, const char *owner, const char *node, const char *id,
			     int64_t item),
		   void *ctx)
{
	sqlite3_stmt *s = store_stmt(st, Q_PEP_LAST);
	store_bind_text(s, 1, user);
	return each_row(st, s, "pep last items", last_row, (void *)cb, ctx);
}
