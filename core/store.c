/* store: SQLite backend.  WAL mode with a busy timeout so starlingctl can
 * write while starling-core runs; statements are prepared once at open. */
#include "store_int.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"

#define STORE_SCHEMA_VERSION 6
#define STR_(x) #x
#define STR(x) STR_(x) /* a new file's version, in SQL */

#define ROSTER_VER_TRIGGER(name, event, row)                                            \
	"CREATE TRIGGER IF NOT EXISTS roster_ver_" name " AFTER " event " ON roster BEGIN"     \
	" INSERT INTO roster_ver VALUES(" row ".user, 1)"                                  \
	" ON CONFLICT(user) DO UPDATE SET ver = ver + 1; END;"

static const char store_schema[] =
	"CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS users(username TEXT PRIMARY KEY,"
	" sha1_salt BLOB, sha1_iter INTEGER, sha1_stored BLOB, sha1_server BLOB,"
	" sha256_salt BLOB, sha256_iter INTEGER, sha256_stored BLOB, sha256_server BLOB,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS roster(user TEXT NOT NULL, contact TEXT NOT NULL,"
	" name TEXT, subscription INTEGER NOT NULL DEFAULT 0, ask INTEGER NOT NULL DEFAULT 0,"
	" pending_in INTEGER NOT NULL DEFAULT 0, hidden INTEGER NOT NULL DEFAULT 0, groups TEXT,"
	" approved INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(user, contact));"
	"CREATE TABLE IF NOT EXISTS offline(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" user TEXT NOT NULL, from_jid TEXT NOT NULL, stanza_id TEXT NOT NULL,"
	" type INTEGER NOT NULL, xml TEXT NOT NULL, stamp INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS offline_user ON offline(user, id);"
	/* RFC 6121 §2.6: a roster's version moves with every change, made by
	 * the core or by starlingctl, in the same transaction as the change. */
	"CREATE TABLE IF NOT EXISTS roster_ver(user TEXT PRIMARY KEY, ver INTEGER NOT NULL);"
	ROSTER_VER_TRIGGER("ins", "INSERT", "NEW")
	ROSTER_VER_TRIGGER("upd", "UPDATE", "NEW")
	ROSTER_VER_TRIGGER("del", "DELETE", "OLD")
	/* Schema 3: what an account keeps beside its roster (store_data.c). */
	"CREATE TABLE IF NOT EXISTS blocklist(user TEXT NOT NULL, jid TEXT NOT NULL,"
	" PRIMARY KEY(user, jid));"
	"CREATE TABLE IF NOT EXISTS xmldata(user TEXT NOT NULL, key TEXT NOT NULL,"
	" xml TEXT NOT NULL, PRIMARY KEY(user, key));"
	"CREATE TABLE IF NOT EXISTS last_seen(user TEXT PRIMARY KEY, stamp INTEGER NOT NULL,"
	" status TEXT);"
	/* Schema 5: RFC 2831 §2.1.2.1 H(username:realm:password) for DIGEST-MD5,
	 * only for accounts whose password was set while [c2s] digest_md5 was on. */
	"CREATE TABLE IF NOT EXISTS digest_md5(user TEXT PRIMARY KEY, urp BLOB NOT NULL);"
	/* Schema 6: PEP (XEP-0163) nodes with their configuration, and their
	 * items in publication order (seq) per node (store_pep.c). */
	"CREATE TABLE IF NOT EXISTS pep_node(user TEXT NOT NULL, node TEXT NOT NULL,"
	" access INTEGER NOT NULL, max_items INTEGER NOT NULL, send_last INTEGER NOT NULL,"
	" notify_retract INTEGER NOT NULL, PRIMARY KEY(user, node));"
	/* size: the bytes the row stores (payload, node name and id), before
	 * xml so that reading it reads no overflow page. */
	"CREATE TABLE IF NOT EXISTS pep_item(user TEXT NOT NULL, node TEXT NOT NULL,"
	" item_id TEXT NOT NULL, seq INTEGER NOT NULL, size INTEGER NOT NULL, xml TEXT NOT NULL,"
	" PRIMARY KEY(user, node, item_id));"
	"CREATE INDEX IF NOT EXISTS pep_item_seq ON pep_item(user, node, seq);"
	/* What each account's items take, kept by triggers so that a publish
	 * checks its quota with one read (a republished id is an upsert, which
	 * fires the update trigger; REPLACE would fire neither). */
	"CREATE TABLE IF NOT EXISTS pep_usage(user TEXT PRIMARY KEY, bytes INTEGER NOT NULL);"
	"CREATE TRIGGER IF NOT EXISTS pep_usage_ins AFTER INSERT ON pep_item BEGIN"
	" INSERT INTO pep_usage VALUES(NEW.user, NEW.size)"
	" ON CONFLICT(user) DO UPDATE SET bytes = bytes + NEW.size; END;"
	"CREATE TRIGGER IF NOT EXISTS pep_usage_del AFTER DELETE ON pep_item BEGIN"
	" UPDATE pep_usage SET bytes = bytes - OLD.size WHERE user = OLD.user; END;"
	"CREATE TRIGGER IF NOT EXISTS pep_usage_upd AFTER UPDATE OF size ON pep_item BEGIN"
	" UPDATE pep_usage SET bytes = bytes - OLD.size + NEW.size WHERE user = NEW.user; END;";


/* Each node with its newest item (one index probe a node), the item as its
 * id and row: what Q_PEP_LAST and Q_PEP_LAST_OF select from. */
#define PEP_NEWEST_ITEMS                                                                        \
	"SELECT n.user, n.node, i.item_id, i.rowid FROM pep_node n"                                \
	" JOIN pep_item i ON i.rowid = (SELECT rowid FROM pep_item"                                \
	" WHERE user = n.user AND node = n.node ORDER BY seq DESC LIMIT 1)"

static const char *const store_sql[Q_COUNT] = {
	[Q_USER_ADD] = "INSERT INTO users VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
	[Q_USER_SET] = "UPDATE users SET sha1_salt=?2, sha1_iter=?3, sha1_stored=?4,"
		       " sha1_server=?5, sha256_salt=?6, sha256_iter=?7, sha256_stored=?8,"
		       " sha256_server=?9 WHERE username=?1",
	[Q_USER_DEL] = "DELETE FROM users WHERE username=?1",
	[Q_USER_DEL_ROSTER] = "DELETE FROM roster WHERE user=?1",
	[Q_USER_DEL_OFFLINE] = "DELETE FROM offline WHERE user=?1",
	[Q_USER_DEL_BLOCK] = "DELETE FROM blocklist WHERE user=?1",
	[Q_USER_DEL_XML] = "DELETE FROM xmldata WHERE user=?1",
	[Q_USER_DEL_LAST] = "DELETE FROM last_seen WHERE user=?1",
	[Q_USER_DEL_DIGEST] = "DELETE FROM digest_md5 WHERE user=?1",
	[Q_USER_DEL_PEP_NODE] = "DELETE FROM pep_node WHERE user=?1",
	[Q_USER_DEL_PEP_ITEM] = "DELETE FROM pep_item WHERE user=?1",
	[Q_USER_DEL_PEP_USAGE] = "DELETE FROM pep_usage WHERE user=?1",
	/* Only for an account that exists (no rows outliving their account). */
	[Q_DIGEST_SET] = "INSERT OR REPLACE INTO digest_md5 SELECT username, ?2 FROM users"
			 " WHERE username=?1",
	[Q_DIGEST_GET] = "SELECT urp FROM digest_md5 WHERE user=?1",
	[Q_USER_GET] = "SELECT sha1_salt, sha1_iter, sha1_stored, sha1_server, sha256_salt,"
		       " sha256_iter, sha256_stored, sha256_server FROM users WHERE username=?1",
	[Q_USER_LIST] = "SELECT username FROM users ORDER BY username",
	[Q_ROSTER_GET] = "SELECT contact, name, groups, subscription, ask, pending_in, hidden,"
			 " approved FROM roster WHERE user=?1 AND contact=?2",
	[Q_ROSTER_PUT] = "INSERT OR REPLACE INTO roster(user, contact, name, groups,"
			 " subscription, ask, pending_in, hidden, approved)"
			 " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
	[Q_ROSTER_DEL] = "DELETE FROM roster WHERE user=?1 AND contact=?2",
	[Q_ROSTER_LOAD] = "SELECT contact, name, groups, subscription, ask, pending_in, hidden,"
			  " approved FROM roster WHERE user=?1 ORDER BY contact",
	[Q_ROSTER_VER] = "SELECT ver FROM roster_ver WHERE user=?1",
	[Q_OFF_ADD] = "INSERT INTO offline(user, from_jid, stanza_id, type, xml, stamp)"
		      " VALUES(?1,?2,?3,?4,?5,?6)",
	[Q_OFF_COUNT] = "SELECT count(*) FROM offline WHERE user=?1",
	[Q_OFF_TOTAL] = "SELECT count(*) FROM offline",
	[Q_OFF_LOAD] = "SELECT id, from_jid, stanza_id, type, xml, stamp FROM offline"
		       " WHERE user=?1 ORDER BY id",
	[Q_OFF_DEL] = "DELETE FROM offline WHERE user=?1 AND id<=?2",
	[Q_BLOCK_ADD] = "INSERT OR IGNORE INTO blocklist VALUES(?1,?2)",
	[Q_BLOCK_DEL] = "DELETE FROM blocklist WHERE user=?1 AND jid=?2",
	[Q_BLOCK_CLEAR] = "DELETE FROM blocklist WHERE user=?1",
	[Q_BLOCK_LOAD] = "SELECT jid FROM blocklist WHERE user=?1 ORDER BY jid",
	[Q_XML_GET] = "SELECT xml FROM xmldata WHERE user=?1 AND key=?2",
	[Q_XML_PUT] = "INSERT OR REPLACE INTO xmldata VALUES(?1,?2,?3)",
	[Q_XML_DEL] = "DELETE FROM xmldata WHERE user=?1 AND key=?2",
	[Q_XML_COUNT] = "SELECT count(*) FROM xmldata WHERE user=?1"
			" AND substr(key, 1, length(?2))=?2 AND key IS NOT ?3",
	[Q_LAST_SET] = "INSERT OR REPLACE INTO last_seen VALUES(?1,?2,?3)",
	[Q_LAST_GET] = "SELECT stamp, status FROM last_seen WHERE user=?1",
	[Q_PEP_NODE_GET] = "SELECT access, max_items, send_last, notify_retract FROM pep_node"
			   " WHERE user=?1 AND node=?2",
	[Q_PEP_NODE_PUT] = "INSERT OR REPLACE INTO pep_node VALUES(?1,?2,?3,?4,?5,?6)",
	[Q_PEP_NODE_DEL] = "DELETE FROM pep_node WHERE user=?1 AND node=?2",
	[Q_PEP_NODE_COUNT] = "SELECT count(*) FROM pep_node WHERE user=?1",
	[Q_PEP_NODE_LIST] = "SELECT node, access FROM pep_node WHERE user=?1 ORDER BY node",
	[Q_PEP_ITEM_PUT] = "INSERT INTO pep_item VALUES(?1,?2,?3,"
			   " (SELECT coalesce(max(seq), 0) + 1 FROM pep_item WHERE user=?1 AND node=?2),"
			   " length(CAST(?4 AS BLOB)) + length(CAST(?2 AS BLOB)) +"
			   " length(CAST(?3 AS BLOB)), ?4) ON CONFLICT(user, node, item_id) DO UPDATE"
			   " SET seq = excluded.seq, size = excluded.size, xml = excluded.xml",
	/* Keeps the newest ?3 items of the node (XEP-0060 §7.1.2: max_items). */
	[Q_PEP_ITEM_TRIM] = "DELETE FROM pep_item WHERE user=?1 AND node=?2 AND seq <="
			    " (SELECT seq FROM pep_item WHERE user=?1 AND node=?2"
			    " ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
	[Q_PEP_ITEM_DEL] = "DELETE FROM pep_item WHERE user=?1 AND node=?2 AND item_id=?3",
	[Q_PEP_ITEM_PURGE] = "DELETE FROM pep_item WHERE user=?1 AND node=?2",
	/* The newest ?3 that fit in ?4 bytes together, returned oldest first;
	 * the window reads the index and sizes, only the rows kept their xml. */
	[Q_PEP_ITEM_LOAD] = "SELECT p.item_id, p.xml FROM (SELECT rowid AS r, seq,"
			    " sum(size) OVER (ORDER BY seq DESC) AS total"
			    " FROM pep_item WHERE user=?1 AND node=?2 ORDER BY seq DESC LIMIT ?3) w"
			    " JOIN pep_item p ON p.rowid = w.r WHERE w.total <= ?4 ORDER BY w.seq",
	[Q_PEP_ITEM_GET] = "SELECT item_id, xml FROM pep_item WHERE user=?1 AND node=?2"
			   " AND item_id=?3",
	/* XEP-0163 §4.3.2: the last item of every node the account may be sent
	 * on becoming available: its own, and those of the contacts it is
	 * subscribed to, unless whitelisted or configured never to be sent. */
	/* Without the payloads: the caller fetches those it wants by rowid.
	 * A contact's node needs the contact's roster to say "from" (the same
	 * rule as reading it, XEP-0163 §4.1), not only the user's "to". */
	[Q_PEP_LAST] = PEP_NEWEST_ITEMS
		       " WHERE n.send_last = 2 AND (n.user = ?1 OR (n.access != 2 AND n.user IN"
		       " (SELECT r.contact FROM roster r JOIN roster o ON o.user = r.contact"
		       " AND o.contact = ?1 AND o.subscription & 2"
		       " WHERE r.user = ?1 AND r.subscription & 1))) ORDER BY n.user",
	/* XEP-0163 §4.3.2 on subscription: the last items of one owner's
	 * nodes that are not whitelisted and not configured never to send. */
	[Q_PEP_LAST_OF] = PEP_NEWEST_ITEMS " WHERE n.user = ?1 AND n.access != 2 AND n.send_last != 0",
	[Q_PEP_ITEM_XML] = "SELECT xml FROM pep_item WHERE rowid=?1",
	/* Payload bytes the account keeps, but for one item (the one a publish
	 * replaces). */
	[Q_PEP_BYTES] = "SELECT coalesce((SELECT bytes FROM pep_usage WHERE user=?1), 0) -"
			" coalesce((SELECT size FROM pep_item WHERE user=?1 AND node=?2"
			" AND item_id=?3), 0)",
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
};


int store_fail(struct store *st, const char *what)
{
	log_error("store: %s: %s", what, sqlite3_errmsg(st->db));
	return -EIO;
}

/* Resets the statement so it holds no read lock between calls. */
sqlite3_stmt *store_stmt(struct store *st, enum store_stmt i)
{
	sqlite3_stmt *s = st->q[i];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

/* Reads the schema version inside the caller's transaction: 0 for a new file. */
static int schema_version(struct store *st, int *version)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT max(version) FROM schema_version", -1, &s, NULL))
		return store_fail(st, "schema_version");
	int rc = sqlite3_step(s);
	*version = rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL
			   ? sqlite3_column_int(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, "schema_version");
}

/* Upgrade steps, store_upgrade[v] taking version v to v + 1; each sets its
 * own target.  The schema above has already added every missing table (and
 * the triggers), so a step only alters what exists.  Version 1 lacked
 * roster.approved; versions 2, 4 and 5 lacked only new tables. */
static const char *const store_upgrade[STORE_SCHEMA_VERSION] = {
	[1] = "ALTER TABLE roster ADD COLUMN approved INTEGER NOT NULL DEFAULT 0;"
	      "UPDATE schema_version SET version = 2;",
	[2] = "UPDATE schema_version SET version = 3;",
	[3] = NULL, /* store_upgrade_keys: needs the primary domain */
	[4] = "UPDATE schema_version SET version = 5;", /* digest_md5: no account has one yet */
	[5] = "UPDATE schema_version SET version = 6;", /* pep_node, pep_item: new tables */
};

/* Version 4 keys every account by its bare JID (virtual hosts): a version-3
 * file hosted one domain, so each key x becomes x@primary.  The roster_ver
 * rows are renamed first; the roster update then moves each version on
 * (the trigger), which only makes clients fetch their roster once more. */
static int store_upgrade_keys(struct store *st, const char *domain)
{
	static const char *const cols[][2] = {
		{"users", "username"}, {"roster_ver", "user"}, {"roster", "user"},
		{"offline", "user"},	{"blocklist", "user"},	{"xmldata", "user"},
		{"last_seen", "user"},
	};
	if (!domain || !*domain) {
		log_error("store: upgrading to schema 4 needs the primary domain");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
		char sql[160];
		sqlite3_stmt *s;
		snprintf(sql, sizeof sql, "UPDATE %s SET %s = %s || '@' || ?1 WHERE instr(%s, '@') = 0",
			 cols[i][0], cols[i][1], cols[i][1], cols[i][1]);
		if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
			return store_fail(st, sql);
		sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return store_fail(st, sql);
	}
	return sqlite3_exec(st->db, "UPDATE schema_version SET version = 4;", NULL, NULL, NULL) ==
			       SQLITE_OK
		       ? 0
		       : store_fail(st, "schema version 4");
}

/* Creates or upgrades the schema in one write transaction, so that the
 * core and starlingctl opening the file at once do not both upgrade it. */
static int store_schema_check(struct store *st, const char *domain)
{
	char *err = NULL;
	int version = 0, rc = -EIO;
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, "schema transaction");
	int had_roster = sqlite3_exec(st->db, "SELECT 1 FROM roster LIMIT 0", NULL, NULL, NULL) ==
			 SQLITE_OK;
	if (sqlite3_exec(st->db, store_schema, NULL, NULL, &err) != SQLITE_OK) {
		log_error("store: schema: %s", err ? err : "?");
		goto out;
	}
	if (schema_version(st, &version))
		goto out;
	if (version > STORE_SCHEMA_VERSION || (!version && had_roster)) {
		log_error("store: database schema version %d, this build knows 1 to %d", version,
			  STORE_SCHEMA_VERSION);
		goto out;
	}
	if (!version && sqlite3_exec(st->db, "INSERT INTO schema_version VALUES("
				   STR(STORE_SCHEMA_VERSION) ")", NULL, NULL, &err) != SQLITE_OK) {
		log_error("store: schema version: %s", err ? err : "?");
		goto out;
	}
	for (int v = version; v && v < STORE_SCHEMA_VERSION; v++) {
		if (!store_upgrade[v]) {
			if (store_upgrade_keys(st, domain))
				goto out;
		} else if (sqlite3_exec(st->db, store_upgrade[v], NULL, NULL, &err) != SQLITE_OK) {
			log_error("store: schema upgrade from version %d: %s", v, err ? err : "?");
			goto out;
		}
	}
	if (version && version < STORE_SCHEMA_VERSION)
		log_info("store: database upgraded from schema version %d to %d", version,
			 STORE_SCHEMA_VERSION);
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
out:
	sqlite3_free(err);
	if (rc)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int store_open(const char *path, const char *domain, struct store **out)
{
	struct store *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
		log_error("store: cannot open %s: %s", path,
			  st->db ? sqlite3_errmsg(st->db) : "out of memory");
		store_close(st);
		return -EIO;
	}
	sqlite3_busy_timeout(st->db, 5000);
	int rc = 0;
	if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;", NULL, NULL,
			 NULL) != SQLITE_OK)
		rc = store_fail(st, "pragma");
	if (!rc)
		rc = store_schema_check(st, domain);
	for (int i = 0; !rc && i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(st->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &st->q[i], NULL) != SQLITE_OK)
			rc = store_fail(st, store_sql[i]);
	if (rc) {
		store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(st->q[i]);
	sqlite3_close(st->db);
	free(st);
}

/* Runs a statement that returns no rows. */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	int cons = sqlite3_extended_errcode(st->db);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT || (cons & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	return store_fail(st, what);
}

int store_begin(struct store *st)
{
	if (st->depth++)
		return 0;
	int rc = store_step_done(st, store_stmt(st, Q_BEGIN), "begin");
	if (rc)
		st->depth = 0;
	return rc;
}

int store_commit(struct store *st)
{
	if (!st->depth || --st->depth)
		return 0;
	uint64_t t0 = lathist_now_ns();
	int rc = store_step_done(st, store_stmt(st, Q_COMMIT), "commit");
	lathist_observe(&st->commit_latency, lathist_now_ns() - t0);
	if (rc)
		store_step_done(st, store_stmt(st, Q_ROLLBACK), "rollback");
	return rc;
}

const struct lathist *store_commit_latency(const struct store *st)
{
	return &st->commit_latency;
}

void store_rollback(struct store *st)
{
	if (!st->depth)
		return;
	st->depth = 0;
	store_step_done(st, store_stmt(st, Q_ROLLBACK), "rollback");
}

void store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static int col_blob(sqlite3_stmt *s, int col, uint8_t *out, size_t cap, size_t *len);

static void bind_creds(sqlite3_stmt *s, const char *user, const struct scram_creds c[2])
{
	store_bind_text(s, 1, user);
	for (int k = 0; k < 2; k++) {
		size_t hl = scram_hash_len(c[k].hash);
		sqlite3_bind_blob(s, 2 + 4 * k, c[k].salt, (int)c[k].salt_len, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 3 + 4 * k, c[k].iter);
		sqlite3_bind_blob(s, 4 + 4 * k, c[k].stored_key, (int)hl, SQLITE_TRANSIENT);
		sqlite3_bind_blob(s, 5 + 4 * k, c[k].server_key, (int)hl, SQLITE_TRANSIENT);
	}
}

/* Stored creds are ordered SHA-1 then SHA-256 whatever order the caller used. */
static int creds_order(const struct scram_creds in[2], struct scram_creds out[2])
{
	for (int k = 0; k < 2; k++) {
		if (in[k].hash != SCRAM_SHA1 && in[k].hash != SCRAM_SHA256)
			return -EINVAL;
		if (in[k].salt_len > sizeof in[k].salt)
			return -EINVAL;
		out[in[k].hash == SCRAM_SHA1 ? 0 : 1] = in[k];
	}
	return out[0].hash == SCRAM_SHA1 && out[1].hash == SCRAM_SHA256 ? 0 : -EINVAL;
}

int store_user_add(struct store *st, const char *user, const struct scram_creds creds[2])
{
	struct scram_creds c[2] = {0};
	if (creds_order(creds, c))
		return -EINVAL;
	sqlite3_stmt *s = store_stmt(st, Q_USER_ADD);
	bind_creds(s, user, c);
	sqlite3_bind_int64(s, 10, (sqlite3_int64)time(NULL));
	return store_step_done(st, s, "user add");
}

/* The DIGEST-MD5 hash of the old password goes with it: left behind, the
 * old password would still log in by DIGEST-MD5. */
int store_user_set_creds(struct store *st, const char *user, const struct scram_creds creds[2])
{
	struct scram_creds c[2] = {0};
	if (creds_order(creds, c))
		return -EINVAL;
	int rc = store_begin(st);
	if (rc)
		return rc;
	sqlite3_stmt *s = store_stmt(st, Q_USER_SET);
	bind_creds(s, user, c);
	rc = store_step_done(st, s, "user set");
	if (!rc && sqlite3_changes(st->db) == 0)
		rc = -ENOENT;
	if (!rc) {
		s = store_stmt(st, Q_USER_DEL_DIGEST);
		store_bind_text(s, 1, user);
		rc = store_step_done(st, s, "digest-md5 delete");
	}
	if (rc) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st);
}

int store_user_set_digest(struct store *st, const char *user,
			  const uint8_t urp[STORE_DIGEST_MD5_LEN])
{
	sqlite3_stmt *s = store_stmt(st, urp ? Q_DIGEST_SET : Q_USER_DEL_DIGEST);
	store_bind_text(s, 1, user);
	if (urp)
		sqlite3_bind_blob(s, 2, urp, STORE_DIGEST_MD5_LEN, SQLITE_TRANSIENT);
	int rc = store_step_done(st, s, "digest-md5 set");
	if (!rc && urp && sqlite3_changes(st->db) == 0)
		return -ENOENT;
	return rc;
}

int store_user_get_digest(struct store *st, const char *user, uint8_t urp[STORE_DIGEST_MD5_LEN])
{
	sqlite3_stmt *s = store_stmt(st, Q_DIGEST_GET);
	store_bind_text(s, 1, user);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return -ENOENT;
	}
	size_t n = 0;
	int err = rc != SQLITE_ROW || col_blob(s, 0, urp, STORE_DIGEST_MD5_LEN, &n) ||
		  n != STORE_DIGEST_MD5_LEN;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store_fail(st, "digest-md5 get");
	if (err) {
		log_error("store: corrupt DIGEST-MD5 hash for %s", user);
		return -EIO;
	}
	return 0;
}

int store_user_del(struct store *st, const char *user)
{
	int rc = store_begin(st);
	if (rc)
		return rc;
	static const enum store_stmt qs[] = {Q_USER_DEL,       Q_USER_DEL_ROSTER, Q_USER_DEL_OFFLINE,
					     Q_USER_DEL_BLOCK, Q_USER_DEL_XML,	  Q_USER_DEL_LAST,
					     Q_USER_DEL_DIGEST, Q_USER_DEL_PEP_NODE, Q_USER_DEL_PEP_ITEM,
					     Q_USER_DEL_PEP_USAGE};
	int found = 0;
	for (size_t i = 0; !rc && i < sizeof qs / sizeof qs[0]; i++) {
		sqlite3_stmt *s = store_stmt(st, qs[i]);
		store_bind_text(s, 1, user);
		rc = store_step_done(st, s, "user delete");
		if (!rc && i == 0)
			found = sqlite3_changes(st->db) > 0;
	}
	if (rc || !found) {
		store_rollback(st);
		return rc ? rc : -ENOENT;
	}
	return store_commit(st);
}

static int col_blob(sqlite3_stmt *s, int col, uint8_t *out, size_t cap, size_t *len)
{
	const void *p = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);
	if (n < 0 || (size_t)n > cap || (n && !p))
		return -EIO;
	if (n)
		memcpy(out, p, (size_t)n);
	if (len)
		*len = (size_t)n;
	return 0;
}

int store_user_get(struct store *st, const char *user, struct scram_creds creds[2])
{
	sqlite3_stmt *s = store_stmt(st, Q_USER_GET);
	store_bind_text(s, 1, user);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return -ENOENT;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_fail(st, "user get");
	}
	int err = 0;
	for (int k = 0; k < 2; k++) {
		struct scram_creds *c = &creds[k];
		size_t hl, kl;
		memset(c, 0, sizeof *c);
		c->hash = k ? SCRAM_SHA256 : SCRAM_SHA1;
		hl = scram_hash_len(c->hash);
		c->iter = (uint32_t)sqlite3_column_int64(s, 1 + 4 * k);
		err |= col_blob(s, 4 * k, c->salt, sizeof c->salt, &c->salt_len);
		err |= col_blob(s, 2 + 4 * k, c->stored_key, sizeof c->stored_key, &kl);
		err |= kl != hl;
		err |= col_blob(s, 3 + 4 * k, c->server_key, sizeof c->server_key, &kl);
		err |= kl != hl;
	}
	sqlite3_reset(s);
	if (err) {
		log_error("store: corrupt credentials for %s", user);
		return -EIO;
	}
	return 0;
}

int store_user_exists(struct store *st, const char *user)
{
	struct scram_creds c[2];
	int rc = store_user_get(st, user, c);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

int store_user_list(struct store *st, int (*cb)(void *ctx, const char *user), void *ctx)
{
	sqlite3_stmt *s = store_stmt(st, Q_USER_LIST);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (cb(ctx, (const char *)sqlite3_column_text(s, 0)))
			break;
	int fail = rc != SQLITE_ROW && rc != SQLITE_DONE;
	sqlite3_reset(s);
	return fail ? store_fail(st, "user list") : 0;
}

char *store_col_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	return t ? strdup((const char *)t) : NULL;
}

/* Fills it from a row of Q_ROSTER_GET / Q_ROSTER_LOAD. */
static int item_from_row(sqlite3_stmt *s, struct store_item *it)
{
	memset(it, 0, sizeof *it);
	it->contact = store_col_strdup(s, 0);
	if (sqlite3_column_type(s, 1) != SQLITE_NULL)
		it->name = store_col_strdup(s, 1);
	if (sqlite3_column_type(s, 2) != SQLITE_NULL)
		it->groups = store_col_strdup(s, 2);
	it->sub = (uint8_t)(sqlite3_column_int(s, 3) & STORE_SUB_BOTH);
	it->ask = sqlite3_column_int(s, 4) != 0;
	it->pending_in = sqlite3_column_int(s, 5) != 0;
	it->hidden = sqlite3_column_int(s, 6) != 0;
	it->approved = sqlite3_column_int(s, 7) != 0;
	if (!it->contact || (sqlite3_column_type(s, 1) != SQLITE_NULL && !it->name) ||
	    (sqlite3_column_type(s, 2) != SQLITE_NULL && !it->groups)) {
		store_item_free(it);
		return -ENOMEM;
	}
	return 0;
}

void store_item_free(struct store_item *it)
{
	free(it->contact);
	free(it->name);
	free(it->groups);
	memset(it, 0, sizeof *it);
}

void store_items_free(struct store_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_item_free(&items[i]);
	free(items);
}

int store_roster_get(struct store *st, const char *user, const char *contact,
		     struct store_item *out)
{
	sqlite3_stmt *s = store_stmt(st, Q_ROSTER_GET);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, contact);
	int rc = sqlite3_step(s);
	int ret = rc == SQLITE_ROW ? item_from_row(s, out)
		  : rc == SQLITE_DONE ? -ENOENT
				      : store_fail(st, "roster get");
	sqlite3_reset(s);
	return ret;
}

int store_roster_put(struct store *st, const char *user, const struct store_item *it)
{
	sqlite3_stmt *s = store_stmt(st, Q_ROSTER_PUT);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, it->contact);
	store_bind_text(s, 3, it->name);
	store_bind_text(s, 4, it->groups && *it->groups ? it->groups : NULL);
	sqlite3_bind_int(s, 5, it->sub & STORE_SUB_BOTH);
	sqlite3_bind_int(s, 6, it->ask != 0);
	sqlite3_bind_int(s, 7, it->pending_in != 0);
	sqlite3_bind_int(s, 8, it->hidden != 0);
	sqlite3_bind_int(s, 9, it->approved != 0);
	return store_step_done(st, s, "roster put");
}

int store_roster_del(struct store *st, const char *user, const char *contact)
{
	sqlite3_stmt *s = store_stmt(st, Q_ROSTER_DEL);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, contact);
	int rc = store_step_done(st, s, "roster delete");
	if (!rc && sqlite3_changes(st->db) == 0)
		return -ENOENT;
	return rc;
}

int store_roster_version(struct store *st, const char *user, int64_t *ver)
{
	sqlite3_stmt *s = store_stmt(st, Q_ROSTER_VER);
	store_bind_text(s, 1, user);
	int rc = sqlite3_step(s);
	*ver = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0; /* 0: never changed */
	/* A statement left on a row keeps its read snapshot: later commits by
	 * starlingctl would stay invisible to this connection. */
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_fail(st, "roster version");
}

/* Grows a malloc'd array by one slot of size sz; returns the new slot. */
void *store_grow(void **arr, size_t *n, size_t *cap, size_t sz)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		void *a = realloc(*arr, nc * sz);
		if (!a)
			return NULL;
		*arr = a;
		*cap = nc;
	}
	return (char *)*arr + (*n)++ * sz;
}

int store_roster_load(struct store *st, const char *user, struct store_item **items,
		      size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, Q_ROSTER_LOAD);
	store_bind_text(s, 1, user);
	void *arr = NULL;
	size_t cnt = 0, cap = 0;
	int rc, err = 0;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_item *it = store_grow(&arr, &cnt, &cap, sizeof *it);
		if (!it || item_from_row(s, it)) {
			if (it)
				cnt--;
			err = -ENOMEM;
		}
	}
	if (!err && rc != SQLITE_DONE)
		err = store_fail(st, "roster load");
	sqlite3_reset(s);
	if (err) {
		store_items_free(arr, cnt);
		return err;
	}
	*items = arr;
	*n = cnt;
	return 0;
}

int store_offline_add(struct store *st, const char *user, const struct store_offline *m)
{
	sqlite3_stmt *s = store_stmt(st, Q_OFF_ADD);
	store_bind_text(s, 1, user);
	store_bind_text(s, 2, m->from);
	store_bind_text(s, 3, m->stanza_id ? m->stanza_id : "");
	sqlite3_bind_int(s, 4, m->type);
	store_bind_text(s, 5, m->xml);
	sqlite3_bind_int64(s, 6, m->stamp ? m->stamp : (int64_t)time(NULL));
	return store_step_done(st, s, "offline add");
}

int store_offline_count(struct store *st, const char *user)
{
	sqlite3_stmt *s = store_stmt(st, Q_OFF_COUNT);
	store_bind_text(s, 1, user);
	int rc = sqlite3_step(s);
	int n = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : store_fail(st, "offline count");
	sqlite3_reset(s);
	return n;
}

int64_t store_offline_total(struct store *st)
{
	sqlite3_stmt *s = store_stmt(st, Q_OFF_TOTAL);
	int rc = sqlite3_step(s);
	int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : store_fail(st, "offline total");
	sqlite3_reset(s);
	return n;
}

static int offline_from_row(sqlite3_stmt *s, struct store_offline *m)
{
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(s, 0);
	m->from = store_col_strdup(s, 1);
	m->stanza_id = store_col_strdup(s, 2);
	m->type = (uint8_t)sqlite3_column_int(s, 3);
	m->xml = store_col_strdup(s, 4);
	m->stamp = sqlite3_column_int64(s, 5);
	if (!m->from || !m->stanza_id || !m->xml) {
		free(m->from);
		free(m->stanza_id);
		free(m->xml);
		return -ENOMEM;
	}
	return 0;
}

int store_offline_load(struct store *st, const char *user, struct store_offline **msgs,
		       size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, Q_OFF_LOAD);
	store_bind_text(s, 1, user);
	void *arr = NULL;
	size_t cnt = 0, cap = 0;
	int rc, err = 0;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_offline *m = store_grow(&arr, &cnt, &cap, sizeof *m);
		if (!m || offline_from_row(s, m)) {
			if (m)
				cnt--;
			err = -ENOMEM;
		}
	}
	if (!err && rc != SQLITE_DONE)
		err = store_fail(st, "offline load");
	sqlite3_reset(s);
	if (err) {
		store_offline_free(arr, cnt);
		return err;
	}
	*msgs = arr;
	*n = cnt;
	return 0;
}

int store_offline_del(struct store *st, const char *user, int64_t upto)
{
	sqlite3_stmt *s = store_stmt(st, Q_OFF_DEL);
	store_bind_text(s, 1, user);
	sqlite3_bind_int64(s, 2, upto);
	return store_step_done(st, s, "offline delete");
}

void store_offline_free(struct store_offline *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(msgs[i].from);
		free(msgs[i].stanza_id);
		free(msgs[i].xml);
	}
	free(msgs);
}
