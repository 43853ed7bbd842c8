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

#include "core/store.h"
#include "lib/config.h"
#include "lib/jid.h"
#include "lib/linkaddr.h"
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
		   "JID is localpart@DOMAIN (the configured domain) or a bare localpart.\n");
}

/* Writes the nodeprepped localpart of arg into out (cap bytes). */
static int account_name(const struct config *cfg, const char *arg, char *out, size_t cap)
{
	char local[1024], dom[CONFIG_STR];
	const char *at = strchr(arg, '@');
	size_t ll = at ? (size_t)(at - arg) : strlen(arg);
	if (!ll || ll >= sizeof local || strchr(arg, '/')) {
		fprintf(stderr, "starlingctl: %s: not a bare JID or localpart\n", arg);
		return -EINVAL;
	}
	memcpy(local, arg, ll);
	local[ll] = 0;
	if (at && (jid_prep_domain(at + 1, dom, sizeof dom) || strcmp(dom, cfg->domain))) {
		fprintf(stderr, "starlingctl: %s: domain is not %s\n", arg, cfg->domain);
		return -EINVAL;
	}
	if (jid_prep_local(local, out, cap)) {
		fprintf(stderr, "starlingctl: %s: invalid localpart\n", arg);
		return -EINVAL;
	}
	return 0;
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

static int make_creds(const struct config *cfg, const char *arg, struct scram_creds c[2])
{
	char buf[1024];
	const char *pw;
	if (read_password(arg, buf, sizeof buf, &pw))
		return -EINVAL;
	if (!*pw) {
		fprintf(stderr, "starlingctl: empty password\n");
		return -EINVAL;
	}
	uint32_t iter = cfg->scram_iterations ? cfg->scram_iterations : SCRAM_DEFAULT_ITER;
	if (scram_make_creds(SCRAM_SHA1, pw, iter, &c[0]) ||
	    scram_make_creds(SCRAM_SHA256, pw, iter, &c[1])) {
		fprintf(stderr, "starlingctl: cannot derive credentials (invalid password?)\n");
		memset(buf, 0, sizeof buf);
		return -EINVAL;
	}
	memset(buf, 0, sizeof buf);
	return 0;
}

static int print_user(void *ctx, const char *user)
{
	printf("%s@%s\n", user, (const char *)ctx);
	return 0;
}

/* Waits for the core's PONG: once it arrives, everything sent before it has
 * been handled (frames on a link are processed in order). */
static int await_pong(int fd)
{
	struct buf in = {0};
	int done = 0;
	while (!done) {
		char *p = buf_reserve(&in, 4096);
		ssize_t n = p ? recv(fd, p, 4096, 0) : -1;
		if (n <= 0)
			break;
		buf_commit(&in, (size_t)n);
		struct wire_frame f;
		long fl;
		while (!done && (fl = wire_parse((const uint8_t *)buf_head(&in), buf_avail(&in), &f)) > 0) {
			done = f.type == WIRE_PONG;
			buf_consume(&in, (size_t)fl);
		}
		if (fl < 0)
			break;
	}
	buf_free(&in);
	return done ? 0 : -EPROTO;
}

/* Tell a running core to end the account's sessions (deluser, passwd), so
 * nobody stays logged in on credentials that no longer hold.  No core
 * listening means no sessions: nothing to do. */
static void revoke_sessions(const struct config *cfg, const char *user)
{
	int fd = linkaddr_connect(cfg->link_address);
	if (fd < 0)
		return;
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct buf out = {0};
	int rc = wire_put_hello(&out, "starlingctl") ||
		 wire_put_str_frame(&out, WIRE_REVOKE, 0, user) ||
		 wire_put_u32_frame(&out, WIRE_PING, 0, 1);
	if (!rc && send(fd, buf_head(&out), buf_avail(&out), MSG_NOSIGNAL) == (ssize_t)buf_avail(&out) &&
	    await_pong(fd) == 0)
		printf("%s@%s: sessions ended\n", user, cfg->domain);
	else
		fprintf(stderr, "starlingctl: could not ask the core to end the sessions of %s@%s\n",
			user, cfg->domain);
	buf_free(&out);
	close(fd);
}

static int command(struct store *st, const struct config *cfg, int argc, char **argv)
{
	const char *cmd = argv[0];
	char user[1024];
	struct scram_creds cr[2];
	int rc;
	if (!strcmp(cmd, "users") && argc == 1)
		return store_user_list(st, print_user, (void *)cfg->domain) ? 1 : 0;
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
		if (make_creds(cfg, argv[2], cr))
			return 1;
		rc = !strcmp(cmd, "adduser") ? store_user_add(st, user, cr)
					     : store_user_set_creds(st, user, cr);
		memset(cr, 0, sizeof cr);
	}
	if (rc == -EEXIST)
		fprintf(stderr, "starlingctl: %s@%s already exists\n", user, cfg->domain);
	else if (rc == -ENOENT)
		fprintf(stderr, "starlingctl: %s@%s: no such user\n", user, cfg->domain);
	else if (rc)
		fprintf(stderr, "starlingctl: %s: database error\n", cmd);
	else
		printf("%s: %s@%s\n", cmd, user, cfg->domain);
	if (!rc && strcmp(cmd, "adduser"))
		revoke_sessions(cfg, user);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *cfg_path = "etc/starling.conf";
	int opt;
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
	static struct config cfg;
	char err[512];
	config_defaults(&cfg);
	if (config_load(cfg_path, &cfg, err, sizeof err)) {
		fprintf(stderr, "starlingctl: %s\n", err);
		return 1;
	}
	log_init("starlingctl", LOG_LEVEL_WARN);
	struct store *st;
	if (store_open(cfg.database, &st)) {
		fprintf(stderr, "starlingctl: cannot open database %s\n", cfg.database);
		return 1;
	}
	int rc = command(st, &cfg, argc - optind, argv + optind);
	store_close(st);
	return rc;
}
