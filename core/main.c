/* starling-core: the routing core.  One thread, one epoll loop: accepts
 * links from starling-cm processes, answers credential lookups and routes
 * stanzas between sessions. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "last.h"
#include "lib/batchwait.h"
#include "lib/config.h"
#include "lib/log.h"
#include "caps.h"
#include "control.h"
#include "lib/mhttp.h"
#include "lib/notify.h"
#include "link.h"
#include "metrics.h"
#include "park.h"

#define EV_LISTEN 1u
#define EV_SIGNAL 2u
#define EV_CONTROL 3u
#define EV_METRICS 4u	   /* the /metrics listener */
#define EV_METRICS_CONN 5u /* + slot: a scrape connection (never a pointer value) */

struct listener {
	int fd;
	int is_unix;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unlinked on exit */
};

static int listen_unix(const char *path, struct listener *ls)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		log_error("link address %s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket from an earlier run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 64)) {
		int e = errno;
		log_error("link address unix:%s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	ls->fd = fd;
	ls->is_unix = 1;
	strcpy(ls->path, path);
	return 0;
}

static int listen_tcp(const char *addr, struct listener *ls)
{
	char host[CONFIG_STR];
	snprintf(host, sizeof host, "%s", addr);
	char *colon = strrchr(host, ':');
	if (!colon) {
		log_error("link address %s: expected unix:PATH or HOST:PORT", addr);
		return -EINVAL;
	}
	*colon = 0;
	char *h = host;
	if (*h == '[' && colon > h && colon[-1] == ']') {
		h++;
		colon[-1] = 0;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai;
	int g = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
	if (g) {
		log_error("link address %s: %s", addr, gai_strerror(g));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	int rc = fd < 0 ? -errno : 0;
	if (!rc && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)))
		rc = -errno;
	freeaddrinfo(ai);
	if (rc) {
		log_error("link address %s: %s", addr, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	ls->fd = fd;
	return 0;
}

/* admin: the control socket's (starlingctl), never a cm. */
static void accept_links(struct core *c, struct listener *ls, int admin)
{
	for (;;) {
		int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		int one = 1;
		if (!ls->is_unix)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		char peer[32];
		static unsigned seq;
		snprintf(peer, sizeof peer, "#%u", ++seq);
		struct link *l = link_new(c, fd, peer);
		if (l)
			l->admin = (uint8_t)admin;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
		if (!l || epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			log_error("cannot accept link: %s", l ? strerror(errno) : "out of memory");
			if (l) {
				l->fd = -1;
				link_close(c, l);
			}
			close(fd);
			continue;
		}
		log_info("link %s connected", peer);
	}
}

/* After the events of a turn: close what failed, then write every batch. */
static void end_of_turn(struct core *c)
{
	park_tick(c);
	for (int again = 1; again;) {
		again = 0;
		for (struct link *l = c->links, *nx; l; l = nx) {
			nx = l->next;
			if (l->dead) {
				link_close(c, l);
				again = 1;
				break; /* the list changed under us */
			}
		}
	}
	for (struct link *l = c->links; l; l = l->next) {
		/* The count rides on what goes out anyway, or goes alone when
		 * due (lib/linkack.h); run() wakes for that. */
		if (linkack_put_ack(&l->ack, &l->out, c->now_ms))
			link_fail(l, "cannot queue an acknowledgement");
		if (buf_avail(&l->out))
			link_flush(c, l);
	}
}

/* RFC 6120 §4.9.3.22 via the cm: every session gets <system-shutdown/>. */
static void shutdown_links(struct core *c)
{
	for (struct link *l = c->links; l; l = l->next) {
		for (uint32_t i = 0; i < l->sids.nb; i++)
			for (struct session *s = l->sids.b[i]; s; s = s->link_next)
				if (wire_put_u8_frame(&l->out, WIRE_SESSION_CLOSE, s->sid,
						      WIRE_CLOSE_SHUTDOWN))
					break; /* best effort: the cm sees the link close anyway */
		if (l->fd >= 0 && !l->dead) {
			/* Blocking with a timeout: a stuck cm must not hold the exit. */
			struct timeval tv = {.tv_sec = 2};
			setsockopt(l->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
			fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) & ~O_NONBLOCK);
			link_flush(c, l);
		}
	}
	/* Everyone logs out now (XEP-0012): one transaction for all the records. */
	int batch = !store_begin(c->store);
	while (c->links) {
		c->links->dead = 1;
		for (uint32_t i = 0; i < c->links->sids.nb; i++)
			while (c->links->sids.b[i]) {
				last_session_end(c, c->links->sids.b[i]);
				session_free(c, c->links->sids.b[i]); /* no broadcast: all go */
			}
		link_close(c, c->links);
	}
	park_free(c);
	if (batch && store_commit(c->store))
		log_warn("last activity at shutdown not recorded");
}

/* At most one WATCHDOG=1 per interval however busy the loop is. */
static void watchdog_feed(unsigned interval_ms)
{
	static uint64_t next;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (now < next)
		return;
	next = now + interval_ms;
	notify_watchdog();
}

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* How long until an acknowledgement must go alone, or -1: none waits. */
static int ack_wait_ms(const struct core *c)
{
	uint64_t first = 0;
	for (const struct link *l = c->links; l; l = l->next) {
		uint64_t due = linkack_due(&l->ack);
		if (due && (!first || due < first))
			first = due;
	}
	if (!first)
		return -1;
	return first > c->now_ms ? (int)(first - c->now_ms) : 0;
}

/* The sooner of two waits in ms, -1 meaning none. */
static int sooner(int a, int b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

/* Scrapes: edge-triggered, since mhttp_step reads and writes until EAGAIN. */
static void metrics_event(struct core *c, struct mhttp *m, uint64_t ev)
{
	if (ev == EV_METRICS) {
		unsigned opened = mhttp_accept(m, mono_ms());
		for (unsigned i = 0; i < MHTTP_MAX_CONNS; i++) {
			struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
						.data.u64 = EV_METRICS_CONN + i};
			if (opened >> i & 1 && epoll_ctl(c->epfd, EPOLL_CTL_ADD, m->c[i].fd, &e))
				mhttp_expire(m, UINT64_MAX); /* cannot watch it: drop them all */
		}
	} else {
		mhttp_step(m, (unsigned)(ev - EV_METRICS_CONN), mono_ms());
	}
}

/* epoll_wait; with [core] batch_wait_us, a poll that, when nothing is
 * ready, first sleeps in the batching ring (lib/batchwait.h). */
static int loop_wait(struct core *c, struct batchwait_epoll *bw, struct epoll_event *evs, int max,
		     int wait_ms)
{
	if (bw->ring.ring_fd < 0 || wait_ms == 0)
		return epoll_wait(c->epfd, evs, max, wait_ms);
	int n = epoll_wait(c->epfd, evs, max, 0);
	if (n)
		return n;
	int rc = batchwait_epoll_wait(bw, wait_ms);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return epoll_wait(c->epfd, evs, max, 0);
}

static void loop_batching(struct core *c, struct batchwait_epoll *bw)
{
	bw->ring.ring_fd = -1;
	unsigned us = c->cfg->core_batch_wait_us;
	int rc = us ? batchwait_epoll_init(bw, c->epfd, us) : 0;
	if (rc == -EOPNOTSUPP)
		log_warn("this kernel has no io_uring minimum wait (Linux 6.12): "
			 "[core] batch_wait_us is ignored");
	else if (rc)
		log_warn("[core] batch_wait_us: io_uring: %s; not batching", strerror(-rc));
	else if (us)
		log_info("each wait gathers wake-ups for up to %u us", us);
}

static int run_loop(struct core *c, struct listener *ls, struct listener *ctl, int sfd,
		    struct mhttp *m, struct batchwait_epoll *bw)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_LISTEN};
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, ls->fd, &ev))
		return -errno;
	ev.data.u64 = EV_CONTROL;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, ctl->fd, &ev))
		return -errno;
	ev.data.u64 = EV_SIGNAL;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, sfd, &ev))
		return -errno;
	/* The watchdog is fed from this loop, so a wedged loop is restarted. */
	unsigned wd_ms = notify_watchdog_interval_ms();
	/* Edge-triggered: when accept fails (EMFILE) the backlog is retried at
	 * the next connection instead of waking the loop without end. */
	struct epoll_event mev = {.events = EPOLLIN | EPOLLET, .data.u64 = EV_METRICS};
	if (m->lfd >= 0 && epoll_ctl(c->epfd, EPOLL_CTL_ADD, m->lfd, &mev))
		return -errno;
	for (;;) {
		struct epoll_event evs[64];
		/* A scrape in progress wakes us to enforce its deadline. */
		int wait_ms = mhttp_busy(m) ? 500 : -1;
		wait_ms = sooner(wait_ms, wd_ms ? (int)wd_ms : -1);
		wait_ms = sooner(sooner(wait_ms, ack_wait_ms(c)), park_wait_ms(c));
		int n = loop_wait(c, bw, evs, 64, wait_ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		c->now_ms = mono_ms();
		if (wd_ms)
			watchdog_feed(wd_ms);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == EV_LISTEN || evs[i].data.u64 == EV_CONTROL) {
				int admin = evs[i].data.u64 == EV_CONTROL;
				accept_links(c, admin ? ctl : ls, admin);
			} else if (evs[i].data.u64 >= EV_METRICS &&
				   evs[i].data.u64 < EV_METRICS_CONN + MHTTP_MAX_CONNS) {
				metrics_event(c, m, evs[i].data.u64);
			} else if (evs[i].data.u64 == EV_SIGNAL) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof si) == sizeof si) {
					log_info("signal %u: shutting down", si.ssi_signo);
					notify_stopping();
					return 0;
				}
			} else {
				struct link *l = evs[i].data.ptr;
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					link_on_readable(c, l);
				if (evs[i].events & EPOLLOUT)
					link_flush(c, l);
			}
		}
		end_of_turn(c);
		mhttp_expire(m, mono_ms());
	}
}

static int run(struct core *c, struct listener *ls, struct listener *ctl, int sfd,
	       struct mhttp *m)
{
	struct batchwait_epoll bw;
	loop_batching(c, &bw);
	int rc = run_loop(c, ls, ctl, sfd, m, &bw);
	batchwait_epoll_free(&bw);
	return rc;
}

static int setup(const char *cfg_path, struct config *cfg)
{
	char err[512];
	config_defaults(cfg);
	if (config_load(cfg_path, cfg, err, sizeof err)) {
		fprintf(stderr, "starling-core: %s\n", err);
		return -1;
	}
	int lvl = log_level_parse(cfg->log_level);
	log_init("starling-core", lvl < 0 ? LOG_LEVEL_INFO : (enum log_level)lvl);
	int rc = log_output((enum log_format)log_format_parse(cfg->log_format), cfg->log_file);
	if (rc)
		fprintf(stderr, "starling-core: log_file %s: %s\n", cfg->log_file, strerror(-rc));
	return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *cfg_path = "etc/starling.conf";
	int opt;
	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		if (opt == 'c') {
			cfg_path = optarg;
		} else {
			fprintf(stderr, "usage: %s [-c CONFIG]\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	static struct config cfg;
	if (setup(cfg_path, &cfg))
		return 1;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	static const char *hosts[CONFIG_MAX_HOSTS];
	for (unsigned i = 0; i < cfg.nhosts; i++)
		hosts[i] = cfg.hosts[i];
	struct core c = {.domain = cfg.domain, .max_sessions = cfg.max_sessions, .hosts = hosts, .nhosts = cfg.nhosts,
			 .epfd = -1, .started = now.tv_sec, .cfg = &cfg, .cfg_path = cfg_path};
	struct listener ls = {.fd = -1}, ctl = {.fd = -1, .is_unix = 1};
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || store_open(cfg.database, cfg.domain, &c.store))
		return 1;
	const char *a = cfg.link_address;
	int rc = !strncmp(a, "unix:", 5) ? listen_unix(a + 5, &ls) : listen_tcp(a, &ls);
	if (!rc && (ctl.fd = control_listen(cfg.control, cfg.control_group)) < 0) {
		log_error("control socket %s: %s", cfg.control, strerror(-ctl.fd));
		rc = ctl.fd;
	}
	if (ctl.fd >= 0) /* control_listen checked it fits */
		memcpy(ctl.path, cfg.control, strlen(cfg.control) + 1);
	c.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rc || c.epfd < 0) {
		store_close(c.store);
		return 1;
	}
	static struct mhttp metrics;
	rc = mhttp_open(&metrics, cfg.core_metrics, core_metrics_render, &c);
	if (rc) {
		log_error("[core] metrics %s: %s", cfg.core_metrics, strerror(-rc));
		store_close(c.store);
		return 1;
	}
	log_info("starting: domain %s (+%u hosts), link %s, database %s, metrics %s", c.domain,
		 c.nhosts, a, cfg.database, *cfg.core_metrics ? cfg.core_metrics : "off");
	char status[CONFIG_STR + 32];
	snprintf(status, sizeof status, "routing for %s, link %s", c.domain, a);
	notify_ready(status);
	rc = run(&c, &ls, &ctl, sfd, &metrics);
	mhttp_close(&metrics);
	if (rc)
		log_error("event loop: %s", strerror(-rc));
	shutdown_links(&c);
	close(ls.fd);
	if (ls.is_unix)
		unlink(ls.path);
	close(ctl.fd);
	unlink(ctl.path);
	session_user_table_free(&c.users);
	caps_table_free(&c.caps);
	store_close(c.store);
	close(c.epfd);
	close(sfd);
	log_info("stopped");
	return rc ? 1 : 0;
}
