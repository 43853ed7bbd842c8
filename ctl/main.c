/* starlingctl: account administration on the core's database.  Safe while
 * starling-core runs (SQLite WAL, busy timeout); only SCRAM verifiers are
 * stored, never the password. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/store.h"
#include "ctl/provision.h"
#include "lib/config.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/scram.h"
#include "lib/wire.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: starlingctl [-c CONFIG] COMMAND\n"
		   "  adduser JID PASSWORD   create an account (PASSWORD '-' reads stdin)\n"
		   "  passwd JID PASSWORD    set a new password\n"
		   "  deluser JID            delete an account, its roster and offline messages\n"
		   "  users                  list accounts\n"
		   "A running server, over the core's control socket ([core] control):\n"
		   "  status                 its figures (core and every cm worker), one\n"
		   "                         Prometheus-style line each\n"
		   "  stats                  a human summary of the figures\n"
		   "  sessions [JID]         who is online: JID, address, since, cm, priority\n"
		   "  kick JID [CONDITION]   close the session(s) of a bare or full JID with\n"
		   "                         <policy-violation/> or CONDITION (RFC 6120 §4.9.3)\n"
		   "  reload                 re-read the configuration and certificates; lists\n"
		   "                         each changed key: applied or restart needed\n"
		   "  log-level LEVEL [core|cm]\n"
		   "                         error, warn, info or debug, from now on, in every\n"
		   "                         process or only the core or the cms\n"
		   "  --json (anywhere)      machine-readable output of those verbs\n"
		   "  check-config [FILE]    validate FILE (default: the -c file) without\n"
		   "                         starting anything; errors name the file and line\n"
		   "  provision PATTERN N PASSWORD [--first K] [--contacts C]\n"
		   "                         load-test accounts: PATTERN with one %%d (%%%% = '%%')\n"
		   "                         numbered K .. K+N-1 (K default 1, N <= 1000000), all\n"
		   "                         with PASSWORD (existing ones get it too) and C mutual\n"
		   "                         contacts each (even, < N, default 0): the C/2\n"
		   "                         neighbours on either side, wrapping around.\n"
		   "                         BENCH ONLY: every account shares one salt and verifier.\n"
		   "JID is localpart@DOMAIN (any hosted domain: [server] domain or hosts) or a\n"
		   "bare localpart (the primary domain); so is PATTERN.\n"
		   "Exit status: 0 done, 1 failed (no server, refused, error), 2 usage.\n");
}

/* The hosted domain named after the '@' at at (NULL: the primary domain),
 * as the configuration stores it, or NULL with the reason on stderr. */
static const char *hosted_domain(const struct config *cfg, const char *arg, const char *at)
{
	char dom[CONFIG_STR];
	const char *d = NULL;
	if (!at)
		return cfg->domain;
	if (!jid_prep_domain(at + 1, dom, sizeof dom))
		d = config_hosted(cfg, dom);
	if (!d)
		fprintf(stderr, "starlingctl: %s: %s is not a hosted domain\n", arg, at + 1);
	return d;
}

/* Writes the account's key, its prepared bare JID "local@domain", into out
 * (cap bytes). */
static int account_name(const struct config *cfg, const char *arg, char *out, size_t cap)
{
	char local[1024], prep[JID_PART_MAX + 1];
	const char *at = strchr(arg, '@');
	size_t ll = at ? (size_t)(at - arg) : strlen(arg);
	if (!ll || ll >= sizeof local || strchr(arg, '/')) {
		fprintf(stderr, "starlingctl: %s: not a bare JID or localpart\n", arg);
		return -EINVAL;
	}
	memcpy(local, arg, ll);
	local[ll] = 0;
	const char *dom = hosted_domain(cfg, arg, at);
	if (!dom)
		return -EINVAL;
	if (jid_prep_local(local, prep, sizeof prep)) {
		fprintf(stderr, "starlingctl: %s: invalid localpart\n", arg);
		return -EINVAL;
	}
	int n = snprintf(out, cap, "%s@%s", prep, dom);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int read_password(const char *arg, char *buf, size_t cap, const char **out)
{
	if (strcmp(arg, "-")) {
		*out = arg;
		return 0;
	}
	if (!fgets(buf, (int)cap, stdin)) {
		fprintf(stderr, "starlingctl: no password on stdin\n");
		return -EINVAL;
	}
	buf[strcspn(buf, "\r\n")] = 0;
	*out = buf;
	return 0;
}

/* The password (arg, or a line of stdin for "-", read into buf) and its
 * SCRAM credentials. */
static int make_creds(const struct config *cfg, const char *arg, char *buf, size_t cap,
		      const char **pw, struct scram_creds c[2])
{
	if (read_password(arg, buf, cap, pw))
		return -EINVAL;
	if (!**pw) {
		fprintf(stderr, "starlingctl: empty password\n");
		return -EINVAL;
	}
	uint32_t iter = cfg->scram_iterations ? cfg->scram_iterations : SCRAM_DEFAULT_ITER;
	if (scram_make_creds(SCRAM_SHA1, *pw, iter, &c[0]) ||
	    scram_make_creds(SCRAM_SHA256, *pw, iter, &c[1])) {
		fprintf(stderr, "starlingctl: cannot derive credentials (invalid password?)\n");
		return -EINVAL;
	}
	return 0;
}

/* adduser / passwd: the credentials, and with [c2s] digest_md5 the
 * DIGEST-MD5 hash, in one transaction. */
static int put_account(struct store *st, const struct config *cfg, int add, const char *user,
		       const char *pw, const struct scram_creds cr[2])
{
	int rc = store_begin(st);
	if (rc)
		return rc;
	rc = add ? store_user_add(st, user, cr) : store_user_set_creds(st, user, cr);
	if (!rc && cfg->digest_md5)
		rc = provision_set_digest(st, user, pw);
	if (rc) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st);
}

static int print_user(void *ctx, const char *user)
{
	(void)ctx;
	printf("%s\n", user); /* the key is the bare JID */
	return 0;
}

/* Reads frames from fd until one of type want; its payload string goes to
 * text (may be NULL).  Returns 0, 2 for an ADMIN_REPLY saying the verb
 * failed, or -EPROTO (closed, timed out, malformed). */
static int await_frame(int fd, uint8_t want, struct buf *text)
{
	struct buf in = {0};
	int done = 0, bad = 0, admin_status = 0;
	while (!done && !bad) {
		char *p = buf_reserve(&in, 4096);
		ssize_t n = p ? recv(fd, p, 4096, 0) : -1;
		if (n <= 0)
			break;
		buf_commit(&in, (size_t)n);
		struct wire_frame f;
		long fl;
		while (!done && (fl = wire_parse((const uint8_t *)buf_head(&in), buf_avail(&in), &f)) > 0) {
			if (f.type == want) {
				struct wire_reader r;
				wire_reader_init(&r, &f);
				if (f.type == WIRE_ADMIN_REPLY)
					admin_status = wire_get_u8(&r);
				struct wire_str s = text ? wire_get_str(&r) : (struct wire_str){0};
				done = !r.err && (!text || !buf_append(text, s.p, s.len));
				bad = !done;
			}
			buf_consume(&in, (size_t)fl);
		}
		bad |= fl < 0;
	}
	buf_free(&in);
	return !done ? -EPROTO : admin_status ? 2 : 0;
}

/* provision's batch of REVOKE frames can take more than one send(). */
static int send_all(int fd, const struct buf *b)
{
	size_t done = 0;
	while (done < buf_avail(b)) {
		ssize_t n = send(fd, buf_head(b) + done, buf_avail(b) - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* The core's control socket ([core] control): a Unix socket only, so no
 * admin command ever crosses a network.  -errno when nobody listens. */
static int control_connect(const struct config *cfg)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(cfg->control) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, cfg->control);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Talks to a running core on its control socket: HELLO, then frames, then
 * waits for the first frame of type want (its payload string goes to text,
 * which may be NULL).  Returns 0, 1 when no core listens (errno in *why,
 * which may be NULL), 2 when an ADMIN_REPLY says the verb failed, or a
 * negative errno. */
static int core_ask_st(const struct config *cfg, const struct buf *frames, uint8_t want,
		       struct buf *text, int *why)
{
	int fd = control_connect(cfg);
	if (fd < 0) {
		if (why)
			*why = -fd;
		return 1;
	}
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct buf out = {0};
	int rc = wire_put_hello(&out, "starlingctl") ||
		 buf_append(&out, buf_head(frames), buf_avail(frames));
	rc = rc ? -ENOMEM : send_all(fd, &out);
	if (!rc)
		rc = await_frame(fd, want, text);
	buf_free(&out);
	close(fd);
	return rc;
}

static int core_ask(const struct config *cfg, const struct buf *frames, uint8_t want,
		    struct buf *text)
{
	return core_ask_st(cfg, frames, want, text, NULL);
}

/* Sends the REVOKE frames in revokes to a running core and waits until it
 * has handled them (the PONG to a PING sent after them: frames are handled
 * in order).  Returns as core_ask: 1 means no sessions, nothing to do. */
static int revoke_send(const struct config *cfg, struct buf *revokes)
{
	if (wire_put_u32_frame(revokes, WIRE_PING, 0, 1))
		return -ENOMEM;
	return core_ask(cfg, revokes, WIRE_PONG, NULL);
}

/* Tell a running core to end the account's sessions (deluser, passwd), so
 * nobody stays logged in on credentials that no longer hold. */
static void revoke_sessions(const struct config *cfg, const char *user)
{
	struct buf f = {0};
	int rc = wire_put_str_frame(&f, WIRE_REVOKE, 0, user) ? -ENOMEM : revoke_send(cfg, &f);
	if (rc == 0)
		printf("%s: sessions ended\n", user);
	else if (rc < 0)
		fprintf(stderr, "starlingctl: could not ask the core to end the sessions of %s\n",
			user);
	buf_free(&f);
}

static int queue_revoke(void *ctx, const char *user)
{
	return wire_put_str_frame(ctx, WIRE_REVOKE, 0, user) ? -ENOMEM : 0;
}

/* Bench accounts (ctl/provision.h).  One PBKDF2 derivation serves them all.
 * Accounts that existed got new credentials, so, as with passwd, their
 * sessions end: one link connection for all of them.  stdout carries only
 * provision's summary line. */
static int cmd_provision(struct store *st, const struct config *cfg, int argc, char **argv)
{
	struct provision_spec sp;
	struct scram_creds cr[2];
	struct buf revokes = {0};
	char pwbuf[1024];
	const char *pw;
	if (provision_parse(argc, argv, &sp)) {
		usage(stderr);
		return 2;
	}
	/* PATTERN may name a hosted domain ("user%d@b.example"): the part after
	 * the '@' went to the suffix; the %d must be in the localpart. */
	char *at = strchr(sp.suffix, '@');
	const char *dom = strchr(sp.prefix, '@') ? NULL : hosted_domain(cfg, argv[1], at);
	if (!dom) {
		if (strchr(sp.prefix, '@'))
			fprintf(stderr, "starlingctl: %s: %%d must be in the localpart\n", argv[1]);
		return 2;
	}
	if (at)
		*at = '\0';
	if (make_creds(cfg, sp.password, pwbuf, sizeof pwbuf, &pw, cr)) {
		memset(pwbuf, 0, sizeof pwbuf);
		return 1;
	}
	int rc = provision_run(st, dom, &sp, cr, cfg->digest_md5 ? pw : NULL, queue_revoke,
			       &revokes);
	memset(cr, 0, sizeof cr);
	memset(pwbuf, 0, sizeof pwbuf);
	if (!rc && buf_avail(&revokes) && revoke_send(cfg, &revokes) < 0)
		fprintf(stderr, "starlingctl: could not ask the core to end the sessions of the "
				"accounts that already existed\n");
	buf_free(&revokes);
	return rc ? 1 : 0;
}

/* A verb of the running core (control.c): its reply, text or JSON, on
 * stdout (stderr when it failed).  Exit 0, or 1: no core, or it refused. */
static int cmd_admin(const struct config *cfg, int json, const char *verb, const char *a1,
		     const char *a2)
{
	struct buf req = {0}, text = {0};
	struct wire_writer w;
	int why = 0;
	wire_begin(&w, &req, WIRE_ADMIN_REQ, 0);
	wire_put_u8(&w, (uint8_t)json);
	wire_put_cstr(&w, verb);
	wire_put_cstr(&w, a1);
	wire_put_cstr(&w, a2);
	int rc = wire_end(&w) ? -ENOMEM : core_ask_st(cfg, &req, WIRE_ADMIN_REPLY, &text, &why);
	if (rc == 0 || rc == 2)
		fwrite(buf_head(&text), 1, buf_avail(&text), rc ? stderr : stdout);
	if (rc == 2 && json) /* scripts read stdout */
		fwrite(buf_head(&text), 1, buf_avail(&text), stdout);
	if (rc == 1)
		fprintf(stderr, "starlingctl: no core listening at control socket %s: %s\n",
			cfg->control, strerror(why));
	else if (rc < 0)
		fprintf(stderr, "starlingctl: the core did not answer\n");
	if (json && (rc == 1 || rc < 0))
		printf("{\"error\":\"%s\"}\n", rc == 1 ? "no control socket" : "no answer");
	buf_free(&req);
	buf_free(&text);
	return rc ? 1 : 0;
}

/* JID as the core keys it: the bare part prepared, the resource as given. */
static int admin_jid(const struct config *cfg, const char *arg, char *out, size_t cap)
{
	char bare[3200];
	const char *slash = strchr(arg, '/');
	size_t bl = slash ? (size_t)(slash - arg) : strlen(arg);
	if (bl >= sizeof bare || (slash && !slash[1])) {
		fprintf(stderr, "starlingctl: %s: not a JID\n", arg);
		return -EINVAL;
	}
	memcpy(bare, arg, bl);
	bare[bl] = 0;
	char prep[2 * JID_PART_MAX + 2];
	if (account_name(cfg, bare, prep, sizeof prep))
		return -EINVAL;
	int n = snprintf(out, cap, "%s%s", prep, slash ? slash : "");
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The verbs of a running server: 0 ok, 1 failed, 2 usage. */
static int running_verb(const struct config *cfg, int json, int argc, char **argv)
{
	const char *v = argv[0];
	char jid[4096];
	if ((!strcmp(v, "status") || !strcmp(v, "stats") || !strcmp(v, "reload")) && argc == 1)
		return cmd_admin(cfg, json, v, "", "");
	if (!strcmp(v, "log-level") && (argc == 2 || argc == 3))
		return cmd_admin(cfg, json, v, argv[1], argc == 3 ? argv[2] : "");
	if (!strcmp(v, "sessions") && argc <= 2) {
		if (argc == 2 && admin_jid(cfg, argv[1], jid, sizeof jid))
			return 1;
		return cmd_admin(cfg, json, v, argc == 2 ? jid : "", "");
	}
	if (!strcmp(v, "kick") && (argc == 2 || argc == 3)) {
		if (admin_jid(cfg, argv[1], jid, sizeof jid))
			return 1;
		return cmd_admin(cfg, json, v, jid, argc == 3 ? argv[2] : "");
	}
	return -1;
}

static int command(struct store *st, const struct config *cfg, int argc, char **argv)
{
	const char *cmd = argv[0];
	char user[2 * JID_PART_MAX + 2];
	struct scram_creds cr[2];
	int rc;
	if (!strcmp(cmd, "users") && argc == 1)
		return store_user_list(st, print_user, NULL) ? 1 : 0;
	if (!strcmp(cmd, "provision"))
		return cmd_provision(st, cfg, argc, argv);
	int nargs = !strcmp(cmd, "deluser") ? 2 : 3;
	if ((strcmp(cmd, "adduser") && strcmp(cmd, "passwd") && strcmp(cmd, "deluser")) ||
	    argc != nargs) {
		usage(stderr);
		return 2;
	}
	if (account_name(cfg, argv[1], user, sizeof user))
		return 1;
	if (!strcmp(cmd, "deluser")) {
		rc = store_user_del(st, user);
	} else {
		char pwbuf[1024];
		const char *pw;
		if (make_creds(cfg, argv[2], pwbuf, sizeof pwbuf, &pw, cr)) {
			memset(pwbuf, 0, sizeof pwbuf);
			return 1;
		}
		rc = put_account(st, cfg, !strcmp(cmd, "adduser"), user, pw, cr);
		memset(cr, 0, sizeof cr);
		memset(pwbuf, 0, sizeof pwbuf);
	}
	if (rc == -EEXIST)
		fprintf(stderr, "starlingctl: %s already exists\n", user);
	else if (rc == -ENOENT)
		fprintf(stderr, "starlingctl: %s: no such user\n", user);
	else if (rc)
		fprintf(stderr, "starlingctl: %s: database error\n", cmd);
	else
		printf("%s: %s\n", cmd, user);
	if (!rc && strcmp(cmd, "adduser"))
		revoke_sessions(cfg, user);
	return rc ? 1 : 0;
}

/* The defaults overlaid with path; the reason (file and line) on stderr,
 * and on stdout as {"error": ...} for --json. */
static int load_config(const char *path, struct config *cfg, int json)
{
	char err[512];
	config_defaults(cfg);
	if (!config_load(path, cfg, err, sizeof err))
		return 0;
	fprintf(stderr, "starlingctl: %s\n", err);
	if (json) {
		printf("{\"error\":\"");
		for (const char *p = err; *p; p++) { /* a JSON string, RFC 8259 §7 */
			if (*p == '"' || *p == '\\')
				putchar('\\');
			if ((unsigned char)*p < 0x20)
				printf("\\u%04x", *p);
			else
				putchar(*p);
		}
		printf("\"}\n");
	}
	return -1;
}

/* A TLS file named by key (key + domain) that the cm could not open. */
static int check_readable(const char *path, const char *key, const char *domain, const char *file)
{
	if (!access(file, R_OK))
		return 0;
	fprintf(stderr, "starlingctl: %s: %s%s %s: %s\n", path, key, domain, file, strerror(errno));
	return -1;
}

/* check-config: what starling-core and starling-cm would refuse at start-up,
 * found without starting them: syntax, unknown keys, ranges (config_load names
 * the file and line), and the TLS files the cm must read.  0 valid, 1 not. */
static int cmd_check_config(const char *path)
{
	static struct config cfg;
	if (load_config(path, &cfg, 0))
		return 1;
	if (check_readable(path, "tls.certificate", "", cfg.tls_cert) ||
	    check_readable(path, "tls.key", "", cfg.tls_key))
		return 1;
	for (unsigned i = 0; i < cfg.ntls_hosts; i++) {
		const struct config_tls_host *h = &cfg.tls_hosts[i];
		if (check_readable(path, "tls.certificate.", h->domain, h->cert) ||
		    check_readable(path, "tls.key.", h->domain, h->key))
			return 1;
	}
	printf("%s: ok\n", path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cfg_path = "etc/starling.conf";
	int opt, json = 0, n = 1;
	for (int i = 1; i < argc; i++) /* --json anywhere: scripts put it last */
		if (strcmp(argv[i], "--json"))
			argv[n++] = argv[i];
	json = n < argc;
	argc = n;
	while ((opt = getopt(argc, argv, "+c:h")) != -1) {
		if (opt == 'c') {
			cfg_path = optarg;
		} else {
			usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "check-config") && argc - optind <= 2)
		return cmd_check_config(argc - optind == 2 ? argv[optind + 1] : cfg_path);
	static struct config cfg;
	if (load_config(cfg_path, &cfg, json))
		return 1;
	log_init("starlingctl", LOG_LEVEL_WARN);
	/* The running server's verbs need no database. */
	int rv = running_verb(&cfg, json, argc - optind, argv + optind);
	if (rv >= 0)
		return rv;
	struct store *st;
	if (store_open(cfg.database, cfg.domain, &st)) {
		fprintf(stderr, "starlingctl: cannot open database %s\n", cfg.database);
		return 1;
	}
	int rc = command(st, &cfg, argc - optind, argv + optind);
	store_close(st);
	return rc;
}
