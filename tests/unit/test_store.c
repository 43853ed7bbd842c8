/* Round trips through the SQLite store on a temporary database. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/session.h"
#include "core/store.h"
#include "tests/unit/check.h"

static struct scram_creds fake_creds(enum scram_hash h, uint8_t seed)
{
	struct scram_creds c = {.hash = h, .salt_len = SCRAM_SALT_LEN, .iter = 4096};
	memset(c.salt, seed, c.salt_len);
	memset(c.stored_key, seed + 1, sizeof c.stored_key);
	memset(c.server_key, seed + 2, sizeof c.server_key);
	return c;
}

static int count_cb(void *ctx, const char *user)
{
	(void)user;
	(*(int *)ctx)++;
	return 0;
}

static void test_users(struct store *st)
{
	struct scram_creds in[2] = {fake_creds(SCRAM_SHA256, 7), fake_creds(SCRAM_SHA1, 3)};
	struct scram_creds out[2];
	CHECK(store_user_add(st, "alice", in) == 0);
	CHECK(store_user_add(st, "alice", in) == -EEXIST);
	CHECK(store_user_add(st, "bob", in) == 0);
	CHECK(store_user_get(st, "alice", out) == 0);
	/* Stored in a fixed order whatever order the caller used. */
	CHECK(out[0].hash == SCRAM_SHA1 && out[1].hash == SCRAM_SHA256);
	CHECK(out[0].salt_len == SCRAM_SALT_LEN && out[0].salt[0] == 3 && out[0].iter == 4096);
	CHECK(!memcmp(out[1].stored_key, in[0].stored_key, 32));
	CHECK(!memcmp(out[0].server_key, in[1].server_key, 20));
	CHECK(store_user_get(st, "carol", out) == -ENOENT);
	CHECK(store_user_exists(st, "bob") == 1);
	CHECK(store_user_exists(st, "carol") == 0);
	struct scram_creds nw[2] = {fake_creds(SCRAM_SHA1, 9), fake_creds(SCRAM_SHA256, 9)};
	CHECK(store_user_set_creds(st, "bob", nw) == 0);
	CHECK(store_user_get(st, "bob", out) == 0 && out[1].salt[0] == 9);
	CHECK(store_user_set_creds(st, "carol", nw) == -ENOENT);
	int n = 0;
	CHECK(store_user_list(st, count_cb, &n) == 0 && n == 2);
	struct scram_creds bad[2] = {fake_creds(SCRAM_SHA1, 1), fake_creds(SCRAM_SHA1, 1)};
	CHECK(store_user_add(st, "dave", bad) == -EINVAL);
}

static void unlink_db(const char *path);
static int schema_version_of(const char *path);

/* DIGEST-MD5 hashes: only for an account that exists, dropped with a new
 * password (it is the old password's) and with the account. */
static void test_digest(struct store *st)
{
	struct scram_creds in[2] = {fake_creds(SCRAM_SHA1, 5), fake_creds(SCRAM_SHA256, 6)};
	uint8_t urp[STORE_DIGEST_MD5_LEN], out[STORE_DIGEST_MD5_LEN];
	memset(urp, 0xab, sizeof urp);
	CHECK(store_user_add(st, "dora", in) == 0);
	CHECK(store_user_get_digest(st, "dora", out) == -ENOENT);
	CHECK(store_user_set_digest(st, "dora", urp) == 0);
	CHECK(store_user_get_digest(st, "dora", out) == 0 && !memcmp(out, urp, sizeof urp));
	CHECK(store_user_set_digest(st, "nobody", urp) == -ENOENT);
	CHECK(store_user_get_digest(st, "nobody", out) == -ENOENT);
	CHECK(store_user_set_creds(st, "dora", in) == 0);
	CHECK(store_user_get_digest(st, "dora", out) == -ENOENT);
	CHECK(store_user_set_digest(st, "dora", urp) == 0);
	CHECK(store_user_set_digest(st, "dora", NULL) == 0);
	CHECK(store_user_get_digest(st, "dora", out) == -ENOENT);
	CHECK(store_user_set_digest(st, "dora", urp) == 0);
	CHECK(store_user_del(st, "dora") == 0);
	CHECK(store_user_add(st, "dora", in) == 0);
	CHECK(store_user_get_digest(st, "dora", out) == -ENOENT); /* not the old account's */
	CHECK(store_user_del(st, "dora") == 0);
}

/* Version 4 to 5 adds the digest_md5 table: the accounts keep working and
 * none has a DIGEST-MD5 hash until its password is set again.  A new file
 * with that table dropped and its version turned back is a version-4 one. */
static void test_upgrade_v4(const char *base)
{
	char path[300];
	snprintf(path, sizeof path, "%s.v4", base);
	struct store *st = NULL;
	struct scram_creds nc[2] = {fake_creds(SCRAM_SHA1, 3), fake_creds(SCRAM_SHA256, 4)};
	uint8_t urp[STORE_DIGEST_MD5_LEN] = {1}, out[STORE_DIGEST_MD5_LEN];
	CHECK(store_open(path, "example.com", &st) == 0);
	CHECK(st && store_user_add(st, "alice@example.com", nc) == 0);
	store_close(st);
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "DROP TABLE digest_md5; UPDATE schema_version SET version = 4;",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK(schema_version_of(path) == 4);
	st = NULL;
	CHECK(store_open(path, "example.com", &st) == 0);
	if (!st) {
		unlink_db(path);
		return;
	}
	CHECK(schema_version_of(path) == 6);
	CHECK(store_user_exists(st, "alice@example.com") == 1);
	CHECK(store_user_get_digest(st, "alice@example.com", out) == -ENOENT);
	CHECK(store_user_set_digest(st, "alice@example.com", urp) == 0);
	CHECK(store_user_get_digest(st, "alice@example.com", out) == 0 && out[0] == 1);
	store_close(st);
	unlink_db(path);
}

static void test_roster(struct store *st)
{
	struct store_item it = {.contact = "bob@example.com", .name = "Bob <B>",
				.groups = "Friends\nWork", .sub = STORE_SUB_TO, .ask = 0};
	CHECK(store_roster_put(st, "alice", &it) == 0);
	struct store_item hid = {.contact = "carol@example.com", .pending_in = 1, .hidden = 1,
				 .approved = 1};
	CHECK(store_roster_put(st, "alice", &hid) == 0);
	struct store_item got;
	CHECK(store_roster_get(st, "alice", "bob@example.com", &got) == 0);
	CHECK_STR(got.name, "Bob <B>");
	CHECK_STR(got.groups, "Friends\nWork");
	CHECK(got.sub == STORE_SUB_TO && !got.ask && !got.pending_in && !got.hidden);
	store_item_free(&got);
	CHECK(store_roster_get(st, "alice", "nobody@example.com", &got) == -ENOENT);
	it.sub = STORE_SUB_BOTH;
	it.name = NULL;
	it.groups = NULL;
	CHECK(store_roster_put(st, "alice", &it) == 0); /* replace */
	struct store_item *items;
	size_t n;
	CHECK(store_roster_load(st, "alice", &items, &n) == 0 && n == 2);
	if (n == 2) {
		CHECK_STR(items[0].contact, "bob@example.com");
		CHECK(items[0].sub == STORE_SUB_BOTH && !items[0].name && !items[0].groups);
		CHECK(items[1].hidden && items[1].pending_in && items[1].approved);
		CHECK(!items[0].approved);
		store_items_free(items, n);
	}
	CHECK(store_roster_del(st, "alice", "carol@example.com") == 0);
	CHECK(store_roster_del(st, "alice", "carol@example.com") == -ENOENT);
	/* A transaction that is rolled back leaves nothing behind. */
	CHECK(store_begin(st) == 0);
	CHECK(store_begin(st) == 0); /* nested */
	struct store_item tmp = {.contact = "x@example.com"};
	CHECK(store_roster_put(st, "alice", &tmp) == 0);
	CHECK(store_commit(st) == 0); /* inner: nothing yet */
	store_rollback(st);
	CHECK(store_roster_get(st, "alice", "x@example.com", &got) == -ENOENT);
}

/* RFC 6121 §2.6: every write of a roster row moves its version, even one
 * undone by a rollback being left out; other users' versions stay. */
static void test_roster_version(struct store *st)
{
	int64_t v0, v1, v2, v3, other;
	CHECK(store_roster_version(st, "nobody", &v0) == 0 && v0 == 0);
	CHECK(store_roster_version(st, "alice", &v0) == 0 && v0 > 0);
	CHECK(store_roster_version(st, "bob", &other) == 0);
	struct store_item it = {.contact = "dave@example.com"};
	CHECK(store_roster_put(st, "alice", &it) == 0);
	CHECK(store_roster_version(st, "alice", &v1) == 0 && v1 > v0);
	it.name = "Dave";
	CHECK(store_roster_put(st, "alice", &it) == 0); /* replace */
	CHECK(store_roster_version(st, "alice", &v2) == 0 && v2 > v1);
	CHECK(store_begin(st) == 0);
	CHECK(store_roster_del(st, "alice", "dave@example.com") == 0);
	store_rollback(st);
	CHECK(store_roster_version(st, "alice", &v3) == 0 && v3 == v2);
	CHECK(store_roster_del(st, "alice", "dave@example.com") == 0);
	CHECK(store_roster_version(st, "alice", &v3) == 0 && v3 > v2);
	CHECK(store_roster_version(st, "bob", &v0) == 0 && v0 == other);
}

/* A read leaves no snapshot open: a write through another connection (as
 * starlingctl makes while the core runs) is seen right after. */
static void test_no_stale_snapshot(const char *path, struct store *st)
{
	int64_t v;
	CHECK(store_roster_version(st, "alice", &v) == 0);
	struct store_item it;
	CHECK(store_roster_get(st, "alice", "bob@example.com", &it) == 0);
	store_item_free(&it);
	struct store *other = NULL;
	struct scram_creds cr[2] = {fake_creds(SCRAM_SHA1, 7), fake_creds(SCRAM_SHA256, 9)};
	CHECK(store_open(path, "example.com", &other) == 0);
	CHECK(other && store_user_add(other, "zed", cr) == 0);
	if (other)
		store_close(other);
	CHECK(store_user_exists(st, "zed") == 1);
}

/* The schema as version 1 wrote it: no roster versions, no pre-approvals. */
static const char schema_v1[] =
	"CREATE TABLE schema_version(version INTEGER NOT NULL);"
	"INSERT INTO schema_version VALUES(1);"
	"CREATE TABLE users(username TEXT PRIMARY KEY,"
	" sha1_salt BLOB, sha1_iter INTEGER, sha1_stored BLOB, sha1_server BLOB,"
	" sha256_salt BLOB, sha256_iter INTEGER, sha256_stored BLOB, sha256_server BLOB,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE roster(user TEXT NOT NULL, contact TEXT NOT NULL,"
	" name TEXT, subscription INTEGER NOT NULL DEFAULT 0, ask INTEGER NOT NULL DEFAULT 0,"
	" pending_in INTEGER NOT NULL DEFAULT 0, hidden INTEGER NOT NULL DEFAULT 0, groups TEXT,"
	" PRIMARY KEY(user, contact));"
	"CREATE TABLE offline(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" user TEXT NOT NULL, from_jid TEXT NOT NULL, stanza_id TEXT NOT NULL,"
	" type INTEGER NOT NULL, xml TEXT NOT NULL, stamp INTEGER NOT NULL);"
	"INSERT INTO roster(user, contact, subscription) VALUES('alice', 'bob@example.com', 3);";

/* A version-1 file is brought to version 5 in place, its rows kept (keyed
 * by bare JID in the primary domain now), and gets the new tables; a newer
 * one is refused. */
static void test_schema_upgrade(const char *base)
{
	char path[300], side[320];
	snprintf(path, sizeof path, "%s.v1", base);
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, schema_v1, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	struct store *st = NULL;
	CHECK(store_open(path, "example.com", &st) == 0);
	if (!st) {
		unlink(path);
		return;
	}
	struct store_item got;
	CHECK(store_roster_get(st, "alice@example.com", "bob@example.com", &got) == 0);
	CHECK(got.sub == STORE_SUB_BOTH && !got.approved);
	store_item_free(&got);
	int64_t v0, v1;
	struct store_item it = {.contact = "erin@example.com", .approved = 1};
	/* the upgrade to 4 renamed the row, which moved the version once */
	CHECK(store_roster_get(st, "alice", "bob@example.com", &got) == -ENOENT);
	CHECK(store_roster_version(st, "alice@example.com", &v0) == 0 && v0 == 1);
	CHECK(store_roster_put(st, "alice@example.com", &it) == 0);
	CHECK(store_roster_version(st, "alice@example.com", &v1) == 0 && v1 == 2);
	CHECK(store_roster_get(st, "alice@example.com", "erin@example.com", &got) == 0 && got.approved);
	store_item_free(&got);
	CHECK(store_block_add(st, "alice@example.com", "spam@example.com") == 0);
	store_close(st);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	sqlite3_stmt *q;
	CHECK(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &q, NULL) == 0);
	CHECK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 6);
	sqlite3_finalize(q);
	CHECK(sqlite3_exec(db, "UPDATE schema_version SET version = 7", NULL, NULL, NULL) == 0);
	sqlite3_close(db);
	st = NULL;
	CHECK(store_open(path, "example.com", &st) != 0 && st == NULL);
	unlink(path);
	snprintf(side, sizeof side, "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", path);
	unlink(side);
}

static void unlink_db(const char *path)
{
	char side[320];
	unlink(path);
	snprintf(side, sizeof side, "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", path);
	unlink(side);
}

static int schema_version_of(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	int v = -1;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &q, NULL) == 0 &&
	    sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

/* Rows as a version-3 file held them: keys are localparts of the one domain.
 * The tables of 3 and 4 are the same, so a new file turned back to 3 is one. */
static const char rows_v3[] =
	"UPDATE schema_version SET version = 3;"
	"INSERT INTO roster(user, contact, subscription) VALUES('alice', 'bob@example.com', 3);"
	"INSERT INTO offline(user, from_jid, stanza_id, type, xml, stamp)"
	" VALUES('alice', 'bob@example.com/x', '', 0, '<message/>', 1);"
	"INSERT INTO blocklist VALUES('alice', 'spam@example.com');"
	"INSERT INTO xmldata VALUES('alice', 'vcard-temp', '<vCard xmlns=\"vcard-temp\"/>');"
	"INSERT INTO last_seen VALUES('bob', 42, 'away');";

/* Version 3 to 4: every key x becomes x@<primary domain> (virtual hosts), so
 * each row keeps working for the same account, and the same localpart in
 * another domain is another account.  Without a domain the upgrade is
 * refused and the file left as it was. */
static void test_upgrade_v3(const char *base)
{
	char path[300];
	snprintf(path, sizeof path, "%s.v3", base);
	struct store *st = NULL;
	struct scram_creds nc[2] = {fake_creds(SCRAM_SHA1, 3), fake_creds(SCRAM_SHA256, 4)};
	CHECK(store_open(path, "example.com", &st) == 0);
	CHECK(st && store_user_add(st, "alice", nc) == 0 && store_user_add(st, "bob", nc) == 0);
	store_close(st);
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, rows_v3, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	st = NULL;
	CHECK(store_open(path, NULL, &st) != 0 && st == NULL);
	CHECK(schema_version_of(path) == 3);
	CHECK(store_open(path, "example.com", &st) == 0);
	if (!st) {
		unlink_db(path);
		return;
	}
	CHECK(schema_version_of(path) == 6);
	struct scram_creds cr[2];
	CHECK(store_user_exists(st, "alice@example.com") == 1);
	CHECK(store_user_exists(st, "bob@example.com") == 1);
	CHECK(store_user_exists(st, "alice") == 0);
	CHECK(store_user_get(st, "alice@example.com", cr) == 0 && cr[0].salt[0] == 3);
	struct store_item got;
	CHECK(store_roster_get(st, "alice@example.com", "bob@example.com", &got) == 0);
	CHECK(got.sub == STORE_SUB_BOTH);
	store_item_free(&got);
	CHECK(store_offline_count(st, "alice@example.com") == 1);
	CHECK(store_offline_count(st, "alice") == 0);
	char **jids = NULL;
	size_t n = 0;
	CHECK(store_block_load(st, "alice@example.com", &jids, &n) == 0 && n == 1);
	CHECK(n == 1 && !strcmp(jids[0], "spam@example.com"));
	store_strings_free(jids, n);
	char *xml = NULL;
	CHECK(store_xml_get(st, "alice@example.com", "vcard-temp", &xml) == 0);
	free(xml);
	int64_t stamp = 0;
	char *status = NULL;
	CHECK(store_last_get(st, "bob@example.com", &stamp, &status) == 0 && stamp == 42);
	CHECK(status && !strcmp(status, "away"));
	free(status);
	/* The same localpart in another hosted domain is a separate account. */
	CHECK(store_user_add(st, "alice@other.example", nc) == 0);
	CHECK(store_offline_count(st, "alice@other.example") == 0);
	CHECK(store_block_load(st, "alice@other.example", &jids, &n) == 0 && n == 0);
	store_strings_free(jids, n);
	store_close(st);
	/* Opening again changes nothing (no key gets a second domain). */
	CHECK(store_open(path, "example.com", &st) == 0);
	CHECK(st && store_user_exists(st, "alice@example.com") == 1);
	CHECK(st && store_user_exists(st, "alice@other.example") == 1);
	store_close(st);
	unlink_db(path);
}

/* An account's documents by key (vcard-temp, private storage): replaced
 * whole, per account, removed by a NULL document; the count is by exact
 * (case-sensitive) key prefix. */
static void test_xml(struct store *st)
{
	char *xml = NULL;
	CHECK(store_xml_get(st, "alice", "vcard-temp", &xml) == -ENOENT);
	CHECK(store_xml_put(st, "alice", "vcard-temp", "<vCard xmlns=\"vcard-temp\"/>") == 0);
	CHECK(store_xml_put(st, "alice", "vcard-temp", "<FN>B &amp; \xc3\xa9</FN>") == 0);
	CHECK(store_xml_get(st, "alice", "vcard-temp", &xml) == 0);
	CHECK_STR(xml, "<FN>B &amp; \xc3\xa9</FN>");
	free(xml);
	CHECK(store_xml_get(st, "bob", "vcard-temp", &xml) == -ENOENT);
	CHECK(store_xml_put(st, "alice", "private:a:b x", "<x xmlns=\"a:b\">1</x>") == 0);
	CHECK(store_xml_put(st, "alice", "private:a:b y", "<y xmlns=\"a:b\"/>") == 0);
	CHECK(store_xml_put(st, "alice", "PRIVATE:c d", "<d/>") == 0);
	CHECK(store_xml_put(st, "bob", "private:a:b x", "<x xmlns=\"a:b\">2</x>") == 0);
	CHECK(store_xml_count(st, "alice", "private:", NULL) == 2);
	CHECK(store_xml_count(st, "alice", "private:", "private:a:b x") == 1);
	CHECK(store_xml_count(st, "alice", "private:", "private:new") == 2);
	CHECK(store_xml_count(st, "carol", "private:", NULL) == 0);
	CHECK(store_xml_get(st, "bob", "private:a:b x", &xml) == 0);
	CHECK_STR(xml, "<x xmlns=\"a:b\">2</x>");
	free(xml);
	CHECK(store_xml_put(st, "alice", "private:a:b y", NULL) == 0);
	CHECK(store_xml_put(st, "alice", "private:a:b y", NULL) == 0); /* absent: fine */
	CHECK(store_xml_get(st, "alice", "private:a:b y", &xml) == -ENOENT);
	CHECK(store_xml_count(st, "alice", "private:", NULL) == 1);
}

/* The last logout (XEP-0012): replaced by the next, status optional. */
static void test_last(struct store *st)
{
	int64_t stamp = 0;
	char *status = NULL;
	CHECK(store_last_get(st, "alice", &stamp, &status) == -ENOENT);
	CHECK(store_last_set(st, "alice", 1700000000, "Heading Home") == 0);
	CHECK(store_last_get(st, "alice", &stamp, &status) == 0 && stamp == 1700000000);
	CHECK_STR(status, "Heading Home");
	free(status);
	CHECK(store_last_set(st, "alice", 1700000100, NULL) == 0);
	status = (char *)"unchanged";
	CHECK(store_last_get(st, "alice", &stamp, &status) == 0 && stamp == 1700000100);
	CHECK(status == NULL);
	CHECK(store_last_get(st, "bob", &stamp, &status) == -ENOENT);
}

static void test_offline(struct store *st)
{
	struct store_offline m = {.from = "bob@example.com/r",
				  .xml = "<message><body>1</body></message>",
				  .stanza_id = "a1", .type = 2};
	CHECK(store_offline_add(st, "alice", &m) == 0);
	m.xml = "<message><body>2</body></message>";
	m.stanza_id = "a2";
	CHECK(store_offline_add(st, "alice", &m) == 0);
	CHECK(store_offline_count(st, "alice") == 2);
	CHECK(store_offline_count(st, "bob") == 0);
	struct store_offline *msgs;
	size_t n;
	CHECK(store_offline_load(st, "alice", &msgs, &n) == 0 && n == 2);
	if (n == 2) {
		CHECK_STR(msgs[0].stanza_id, "a1"); /* arrival order */
		CHECK_STR(msgs[1].xml, "<message><body>2</body></message>");
		CHECK(msgs[0].type == 2 && msgs[0].stamp > 0 && msgs[0].id < msgs[1].id);
		CHECK(store_offline_del(st, "alice", msgs[0].id) == 0);
		store_offline_free(msgs, n);
	}
	CHECK(store_offline_count(st, "alice") == 1);
	/* Deleting the account takes its roster and messages with it. */
	CHECK(store_user_del(st, "alice") == 0);
	CHECK(store_user_del(st, "alice") == -ENOENT);
	CHECK(store_offline_count(st, "alice") == 0);
	CHECK(store_roster_get(st, "alice", "bob@example.com", &(struct store_item){0}) == -ENOENT);
	/* ... and its documents and last logout; bob's stay. */
	char *xml = NULL, *status = NULL;
	int64_t stamp;
	CHECK(store_xml_get(st, "alice", "vcard-temp", &xml) == -ENOENT);
	CHECK(store_xml_count(st, "alice", "", NULL) == 0);
	CHECK(store_last_get(st, "alice", &stamp, &status) == -ENOENT);
	CHECK(store_xml_count(st, "bob", "private:", NULL) == 1);
}

/* Collects "id=xml;" for each item or "owner node id;" for each last item. */
static int pep_collect(void *ctx, const char *id, const char *xml)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 256 - n, "%s=%s;", id, xml);
	return 0;
}

static int pep_last_collect(void *ctx, const char *owner, const char *node, const char *id,
			    int64_t item)
{
	(void)item;
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 256 - n, "%s %s %s;", owner, node, id);
	return 0;
}

static int pep_stop(void *ctx, const char *id, const char *xml)
{
	(void)id, (void)xml;
	++*(int *)ctx;
	return -ECANCELED;
}

static void test_pep(struct store *st)
{
	struct store_pep_config cfg = {.access = STORE_PEP_PRESENCE, .max_items = 2,
				       .send_last = STORE_PEP_ON_SUB_AND_PRESENCE},
				got = {0};
	char out[256] = "";
	int calls = 0;
	CHECK(store_pep_node_get(st, "pa@example.com", "n", &got) == -ENOENT);
	CHECK(store_pep_node_put(st, "pa@example.com", "n", &cfg) == 0);
	CHECK(store_pep_node_get(st, "pa@example.com", "n", &got) == 0 && got.max_items == 2 &&
	      got.access == STORE_PEP_PRESENCE && got.send_last == STORE_PEP_ON_SUB_AND_PRESENCE);
	/* Three items into a node of two: the oldest goes; a republished id
	 * becomes the newest. */
	CHECK(store_pep_item_put(st, "pa@example.com", "n", "1", "<a/>", 2) == 0);
	CHECK(store_pep_item_put(st, "pa@example.com", "n", "2", "<b/>", 2) == 0);
	CHECK(store_pep_item_put(st, "pa@example.com", "n", "1", "<c/>", 2) == 0);
	CHECK(store_pep_item_load(st, "pa@example.com", "n", NULL, 10, 1000, pep_collect, out) == 0);
	CHECK_STR(out, "2=<b/>;1=<c/>;");
	/* Republishing counts the new size only: 2 x (4 + node 1 + id 1). */
	CHECK(store_pep_bytes(st, "pa@example.com", "x", "y") == 12);
	CHECK(store_pep_item_put(st, "pa@example.com", "n", "1", "<cc/>", 2) == 0);
	CHECK(store_pep_bytes(st, "pa@example.com", "x", "y") == 13);
	CHECK(store_pep_item_put(st, "pa@example.com", "n", "1", "<c/>", 2) == 0);
	/* A byte budget keeps the newest that fit together. */
	out[0] = 0;
	CHECK(store_pep_item_load(st, "pa@example.com", "n", NULL, 10, 7, pep_collect, out) == 0);
	CHECK_STR(out, "1=<c/>;");
	out[0] = 0;
	CHECK(store_pep_item_load(st, "pa@example.com", "n", NULL, 10, 3, pep_collect, out) == 0);
	CHECK_STR(out, "");
	CHECK(store_pep_item_put(st, "pa@example.com", "n", "3", "<d/>", 2) == 0);
	out[0] = 0;
	CHECK(store_pep_item_load(st, "pa@example.com", "n", NULL, 1, 1000, pep_collect, out) == 0);
	CHECK_STR(out, "3=<d/>;");
	out[0] = 0;
	CHECK(store_pep_item_load(st, "pa@example.com", "n", "2", 0, 1000, pep_collect, out) == 0);
	CHECK_STR(out, ""); /* pushed out by the third */
	CHECK(store_pep_item_load(st, "pa@example.com", "n", NULL, 10, 1000, pep_stop, &calls) == -ECANCELED &&
	      calls == 1);
	/* Reconfigured to one item: trimmed at once. */
	cfg.max_items = 1;
	CHECK(store_pep_node_put(st, "pa@example.com", "n", &cfg) == 0);
	out[0] = 0;
	CHECK(store_pep_item_load(st, "pa@example.com", "n", NULL, 10, 1000, pep_collect, out) == 0);
	CHECK_STR(out, "3=<d/>;");
	/* Last items: own nodes, and a contact's unless whitelisted or never sent. */
	struct store_item it = {.contact = "pa@example.com", .sub = STORE_SUB_TO},
			  back = {.contact = "pb@example.com", .sub = STORE_SUB_FROM};
	CHECK(store_roster_put(st, "pb@example.com", &it) == 0);
	/* pb's "to" alone is not enough: pa's roster must say "from" too. */
	out[0] = 0;
	CHECK(store_pep_last(st, "pb@example.com", pep_last_collect, out) == 0);
	CHECK(!strstr(out, "pa@example.com"));
	CHECK(store_roster_put(st, "pa@example.com", &back) == 0);
	struct store_pep_config wl = cfg, never = cfg;
	wl.access = STORE_PEP_WHITELIST;
	never.send_last = STORE_PEP_NEVER;
	CHECK(store_pep_node_put(st, "pa@example.com", "w", &wl) == 0 &&
	      store_pep_item_put(st, "pa@example.com", "w", "x", "<w/>", 1) == 0);
	CHECK(store_pep_node_put(st, "pa@example.com", "v", &never) == 0 &&
	      store_pep_item_put(st, "pa@example.com", "v", "y", "<v/>", 1) == 0);
	CHECK(store_pep_node_put(st, "pb@example.com", "m", &cfg) == 0 &&
	      store_pep_item_put(st, "pb@example.com", "m", "z", "<m/>", 1) == 0);
	out[0] = 0;
	CHECK(store_pep_last(st, "pb@example.com", pep_last_collect, out) == 0);
	CHECK(strstr(out, "pa@example.com n 3;") && strstr(out, "pb@example.com m z;") &&
	      !strstr(out, " w ") && !strstr(out, " v "));
	out[0] = 0;
	CHECK(store_pep_last(st, "pa@example.com", pep_last_collect, out) == 0);
	CHECK(strstr(out, "pa@example.com w x;") && !strstr(out, "pb@example.com") &&
	      !strstr(out, " v ")); /* never is never, own or not */
	CHECK(store_pep_node_count(st, "pa@example.com") == 3);
	CHECK(store_pep_item_del(st, "pa@example.com", "w", "x") == 0);
	CHECK(store_pep_item_del(st, "pa@example.com", "w", "x") == -ENOENT);
	CHECK(store_pep_node_del(st, "pa@example.com", "n") == 0);
	CHECK(store_pep_node_del(st, "pa@example.com", "n") == -ENOENT);
	out[0] = 0;
	CHECK(store_pep_item_load(st, "pa@example.com", "n", NULL, 10, 1000, pep_collect, out) == 0);
	CHECK_STR(out, ""); /* the node's items went with it */
	/* What the account keeps, but for the item a publish would replace. */
	CHECK(store_pep_bytes(st, "pb@example.com", "x", "y") == 6); /* <m/>, m, z */
	CHECK(store_pep_bytes(st, "pb@example.com", "m", "z") == 0);
	CHECK(store_pep_bytes(st, "nobody@example.com", "m", "z") == 0);
	CHECK(store_pep_item_purge(st, "pb@example.com", "m") == 0);
	out[0] = 0;
	CHECK(store_pep_last(st, "pb@example.com", pep_last_collect, out) == 0);
	CHECK(!strstr(out, "pb@example.com"));
	/* Deleting the account takes its nodes and items. */
	struct scram_creds in[2] = {fake_creds(SCRAM_SHA256, 1), fake_creds(SCRAM_SHA1, 1)};
	CHECK(store_pep_node_count(st, "pa@example.com") == 2);
	CHECK(store_user_add(st, "pa@example.com", in) == 0 &&
	      store_user_del(st, "pa@example.com") == 0);
	CHECK(store_pep_node_count(st, "pa@example.com") == 0);
	out[0] = 0;
	CHECK(store_pep_last(st, "pb@example.com", pep_last_collect, out) == 0);
	CHECK_STR(out, "");
}

int main(void)
{
	char path[] = "/tmp/starling_test_store_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	struct store *st = NULL;
	CHECK(store_open(path, "example.com", &st) == 0);
	if (st) {
		test_users(st);
		test_digest(st);
		test_roster(st);
		test_roster_version(st);
		test_no_stale_snapshot(path, st);
		test_xml(st);
		test_last(st);
		test_offline(st);
		test_pep(st);
		store_close(st);
		/* Reopening finds the schema version it wrote. */
		CHECK(store_open(path, "example.com", &st) == 0);
		CHECK(store_user_exists(st, "bob") == 1);
		store_close(st);
		test_schema_upgrade(path);
		test_upgrade_v3(path);
		test_upgrade_v4(path);
	}
	/* Per-session memory stays small (printed for the record): 64 bytes
	 * until the XEP-0115 feature set's pointer (caps.c) came. */
	printf("sizeof(struct session) = %zu, sizeof(struct core_user) = %zu\n",
	       sizeof(struct session), sizeof(struct core_user));
	CHECK(sizeof(struct session) <= 72);
	char side[sizeof path + 8];
	unlink(path);
	snprintf(side, sizeof side, "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", path);
	unlink(side);
	CHECK_DONE();
}
