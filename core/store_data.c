/* store_data: what an account keeps beside its roster, in the SQLite store:
 * the blocklist (XEP-0191), XML documents by key (vcard-temp XEP-0054,
 * private storage XEP-0049) and the time of the last logout (XEP-0012). */
#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

int store_user_key_done(struct store *st, enum store_stmt q, const char *user, const char *key,
			const char *what)
{
	sqlite3_stmt *s = store_stmt(st, q);
	store_bind_text(s, 1, user);
	if (key)
		store_bind_text(s, 2, key);
	return store_step_done(st, s, what);
}

int store_block_add(struct store *st, const char *user, const char *jid)
{
	return store_user_key_done(st, Q_BLOCK_ADD, user, jid, "block add");
}

int store_block_del(struct store *st, const char *user, const char *jid)
{
	return store_user_key_done(st, Q_BLOCK_DEL, user, jid, "block delete");
}

int store_block_clear(struct store *st, const char *user)
{
	return store_user_key_done(st, Q_BLOCK_CLEAR, user, NULL, "block clear");
}

void store_strings_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int store_block_load(struct store *st, const char *user, char ***jids, size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, Q_BLOCK_LOAD);
	store_bind_text(s, 1, user);
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char **slot = store_grow((void **)&v, &cnt, &cap, sizeof *v);
		if (!slot || !(*slot = store_col_strdup(s, 0))) {
			if (slot)
				cnt--;
			sqlite3_reset(s);
			store_strings_free(v, cnt);
			return -ENOMEM;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_strings_free(v, cnt);
		return store_fail(st, "block load");
	}
	*jids = v;
	*n = cnt;
	return 0;
}

int store_xml_get(struct store *st, const char *user, const char *key, char **xml)
{
	sqlite3_stmt *s = store_stmt(st, Q_XML_GET);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, key);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*xml = store_col_strdup(s, 0);
		rc = *xml ? 0 : -ENOMEM;
	} else
		rc = rc == SQLITE_DONE ? -ENOENT : store_fail(st, "xml get");
	sqlite3_reset(s);
	return rc;
}

int store_xml_put(struct store *st, const char *user, const char *key, const char *xml)
{
	if (!xml)
		return store_user_key_done(st, Q_XML_DEL, user, key, "xml delete");
	sqlite3_stmt *s = store_stmt(st, Q_XML_PUT);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, key);
	store_bind_text(s, 3, xml);
	return store_step_done(st, s, "xml put");
}

int store_xml_count(struct store *st, const char *user, const char *prefix, const char *except)
{
	sqlite3_stmt *s = store_stmt(st, Q_XML_COUNT);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, prefix);
	store_bind_text(s, 3, except);
	int rc = sqlite3_step(s);
	rc = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : store_fail(st, "xml count");
	sqlite3_reset(s);
	return rc;
}

int store_last_set(struct store *st, const char *user, int64_t stamp, const char *status)
{
	sqlite3_stmt *s = store_stmt(st, Q_LAST_SET);
	store_bind_text(s, 1, user);
	sqlite3_bind_int64(s, 2, stamp);
	store_bind_text(s, 3, status);
	return store_step_done(st, s, "last set");
}

int store_last_get(struct store *st, const char *user, int64_t *stamp, char **status)
{
	sqlite3_stmt *s = store_stmt(st, Q_LAST_GET);
	store_bind_text(s, 1, user);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*stamp = sqlite3_column_int64(s, 0);
		*status = store_col_strdup(s, 1);
		rc = *status || sqlite3_column_type(s, 1) == SQLITE_NULL ? 0 : -ENOMEM;
	} else
		rc = rc == SQLITE_DONE ? -ENOENT : store_fail(st, "last get");
	sqlite3_reset(s);
	return rc;
}
