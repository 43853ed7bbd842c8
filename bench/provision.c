/* provision: builds the command line of the server's own provisioning tool
 * and execs it; the layout (account i has contacts i±1 .. i±K/2 mod N) is the
 * one the presence scenario expects. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provision.h"

struct prov {
	const char *server, *config, *dir, *domain, *user, *password, *first, *n, *contacts;
};

static void usage(void)
{
	fputs("usage: starling-bench provision [--server starling|prosody|ejabberd]\n"
	      "         [-c STARLING_CONFIG] [--dir PEER_DIR] -n N [--user PAT] [--first K]\n"
	      "         [--password PW] [--contacts K] [--domain D]\n"
	      "  starling: runs starlingctl -c CONFIG provision (beside this binary)\n"
	      "  prosody, ejabberd: runs bench/peers/<server>.sh provision DIR (before start)\n",
	      stderr);
}

/* Directory of this executable, to find starlingctl and bench/peers. */
static int exe_dir(char *out, size_t cap)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n <= 0)
		return -errno;
	path[n] = 0;
	if ((size_t)snprintf(out, cap, "%s", dirname(path)) >= cap)
		return -ENAMETOOLONG;
	return 0;
}

/* bench/peers/NAME.sh of the source tree the binary was built in (bin/ or
 * bin/asan/ below the tree's root). */
static int peer_script(const char *name, char *out, size_t cap)
{
	char dir[PATH_MAX];
	if (exe_dir(dir, sizeof dir))
		return -ENOENT;
	static const char *const ups[] = { "/..", "/../.." };
	for (size_t i = 0; i < 2; i++) {
		if ((size_t)snprintf(out, cap, "%s%s/bench/peers/%s.sh", dir, ups[i], name) < cap &&
		    !access(out, R_OK))
			return 0;
	}
	return -ENOENT;
}

static int run_starling(const struct prov *p)
{
	char dir[PATH_MAX], ctl[PATH_MAX + 16];
	if (exe_dir(dir, sizeof dir) ||
	    (size_t)snprintf(ctl, sizeof ctl, "%s/starlingctl", dir) >= sizeof ctl)
		return 1;
	const char *argv[] = { ctl, "-c", p->config, "provision", p->user, p->n, p->password,
			       "--first", p->first, "--contacts", p->contacts, NULL };
	execv(ctl, (char *const *)argv);
	fprintf(stderr, "starling-bench: %s: %s\n", ctl, strerror(errno));
	return 1;
}

static int run_peer(const struct prov *p)
{
	char script[PATH_MAX];
	if (peer_script(p->server, script, sizeof script)) {
		fprintf(stderr, "starling-bench: bench/peers/%s.sh not found\n", p->server);
		return 1;
	}
	const char *argv[] = { "bash", script, "provision", p->dir, "--domain", p->domain,
			       "--users", p->user, "--first", p->first, "-n", p->n,
			       "--password", p->password, "--contacts", p->contacts, NULL };
	execvp("bash", (char *const *)argv);
	fprintf(stderr, "starling-bench: bash: %s\n", strerror(errno));
	return 1;
}

int provision_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", 1, 0, 's' }, { "dir", 1, 0, 'D' }, { "domain", 1, 0, 'd' },
		{ "user", 1, 0, 'u' }, { "password", 1, 0, 'P' }, { "first", 1, 0, 'f' },
		{ "contacts", 1, 0, 'K' }, { 0, 0, 0, 0 } };
	struct prov p = { .server = "starling", .config = "etc/starling.conf",
			  .domain = "localhost", .user = "user%d", .password = "secret",
			  .first = "1", .contacts = "0" };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "n:c:", lo, NULL)) != -1) {
		switch (ch) {
		case 's': p.server = optarg; break;
		case 'c': p.config = optarg; break;
		case 'D': p.dir = optarg; break;
		case 'd': p.domain = optarg; break;
		case 'u': p.user = optarg; break;
		case 'P': p.password = optarg; break;
		case 'f': p.first = optarg; break;
		case 'K': p.contacts = optarg; break;
		case 'n': p.n = optarg; break;
		default: usage(); return 2;
		}
	}
	if (optind != argc || !p.n) {
		usage();
		return 2;
	}
	if (!strcmp(p.server, "starling"))
		return run_starling(&p);
	if ((!strcmp(p.server, "prosody") || !strcmp(p.server, "ejabberd")) && p.dir)
		return run_peer(&p);
	usage();
	return 2;
}
