/* bench: shared state of starling-bench, the XMPP load generator.
 *
 * One io_uring per thread.  Connections are non-blocking sockets: the ring
 * connects them and receives into provided buffers shared by the thread's
 * connections; sends are plain send().  An idle connection owns no buffer: after
 * a TLS 1.3 handshake its SSL object is freed and tls/record keeps only the
 * traffic keys. */
#ifndef STARLING_BENCH_H
#define STARLING_BENCH_H
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/buf.h"
#include "lib/bufring.h"
#include "lib/scram.h"
#include "lib/xstream.h"
#include "tls/record.h"
#include "tls/tls.h"

#include "hist.h"

enum bench_scenario { BENCH_LOGIN, BENCH_IDLE, BENCH_CHAT, BENCH_PRESENCE, BENCH_PEP };
enum bench_mech { BENCH_PLAIN, BENCH_SCRAM_SHA1, BENCH_SCRAM_SHA256 };

/* Why a login (or an established session) failed; the report counts each. */
enum bench_fail {
	FAIL_CONNECT,	 /* socket() or TCP connect */
	FAIL_TLS,	 /* STARTTLS refused or handshake error */
	FAIL_AUTH,	 /* SASL <failure/>, mechanism not offered, bad server proof */
	FAIL_BIND,	 /* bind answered with an error */
	FAIL_ROSTER,	 /* roster get answered with an error */
	FAIL_STREAM_ERR, /* <stream:error/> from the server */
	FAIL_CLOSED,	 /* connection closed by the server */
	FAIL_PROTOCOL,	 /* unexpected or malformed element, framing error */
	FAIL_TIMEOUT,	 /* no bind result within --timeout */
	FAIL_NCAUSES,
};

#define BENCH_MAX_PIDS 16
#define BENCH_MAX_STEPS 64
#define BENCH_MAX_PORTS 8

struct bench_opts {
	enum bench_scenario scenario;
	const char *host, *domain, *user_pat, *password, *resource, *json, *ca_file;
	int port, first;     /* first: number substituted for the first account */
	int ports[BENCH_MAX_PORTS]; /* --port P,P..: connection i goes to ports[i % nports] */
	unsigned nports;	    /* 0: port alone */
	unsigned n;	     /* connections (users) */
	double rate;	     /* logins/s (login, idle); msgs/s per pair (chat),
				presence updates/s per user (presence) or items
				published/s per user (pep) */
	double login_rate;   /* logins/s for the setup phase of chat, presence, pep */
	double hold;	     /* idle: seconds to hold N sessions */
	double duration;     /* chat, presence, pep: seconds of sending (per step) */
	double timeout;	     /* seconds for one login; also the final drain wait */
	double step;	     /* > 1: multiply the rate by this after each passing step */
	double max_rate;     /* stepping stops above this rate (same unit as rate) */
	double p99_bound_ms; /* a step whose p99 passes this fails */
	unsigned retries;    /* a step failed on its p99 alone runs again up to this often */
	unsigned contacts;   /* presence, pep: K mutual contacts per user (as provisioned) */
	unsigned src_addrs;  /* > 1: spread connections over 127.0.0.1 .. 127.0.0.K */
	unsigned concurrency; /* login: > 0 caps the logins in progress (closed loop) */
	unsigned threads;     /* worker threads, one ring each (default 1) */
	enum bench_mech mech;
	int direct_tls;
	int sasl2;	/* XEP-0388 SASL2 with XEP-0386 Bind 2 inline: no restart, no bind iq */
	int openssl_records; /* keep the SSL object after the handshake */
	int roster;	/* roster get in the login (default on) */
	int ping;	/* idle: one XEP-0199 ping per session during the hold */
	int faults;	/* chat: account for every message across server faults (faults.c) */
	int pids[BENCH_MAX_PIDS];
	unsigned npids;
};

enum conn_state {
	CS_NEW, CS_CONNECTING, CS_FEATURES_TLS, CS_STARTTLS, CS_HANDSHAKE, CS_FEATURES_SASL,
	CS_AUTH,
	CS_AUTH2, /* --sasl2: <authenticate/> sent; its <success/> ends the bind too */
	CS_FEATURES_BIND, CS_BIND, CS_ROSTER, CS_ONLINE, CS_DEAD,
};

struct bench_conn {
	int fd;
	uint32_t idx;
	uint8_t state;	/* enum conn_state */
	uint8_t recv_armed;	/* a multishot recv is in flight */
	uint8_t poll_out;	/* a POLLOUT poll is in flight */
	uint8_t want_presence;
	uint8_t start_tls; /* <proceed/> seen: start the handshake after this chunk */
	uint8_t pinged;	   /* idle: the ping was sent */
	uint8_t gen;	   /* bumped per connection attempt: completions of an older
			    * socket of this slot are told apart (net.c) */
	uint8_t parked;	   /* senders: out of the send schedule until online (run.c) */
	SSL *ssl;	/* during the handshake (and after it with --openssl-records
			 * or a server without TLS 1.3); SSL_free() on close */
	struct tls_io io;
	struct rec_state rec;	/* after a TLS 1.3 handshake: the lean record layer */
	struct buf out;	/* bytes to send (ciphertext once TLS runs) */
	struct xs_framer xs;
	struct scram_client scram; /* fields NULL unless a SCRAM exchange runs */
	char *jid;	/* bound full JID, malloc'd, freed on close */
	uint64_t start_ns;	/* intended start of the login */
	uint64_t next_send_ns;	/* senders: intended time of the next message/ping */
	uint64_t seq;
	uint64_t last_rx_stamp;	/* chat receivers: stamp of the last message (one sender) */
	struct fault_conn *fl;	/* --faults only (faults.c), else NULL */
};

/* --faults: a slot's state across its sessions. */
struct fault_conn {
	uint8_t *marks;		/* senders: the fates of message k (bit per fate) */
	size_t marks_cap;
	uint64_t retry_at;	/* when to log in again; 0: not due */
	uint32_t backoff_ms;	/* delay before the next attempt after a failure */
	uint8_t again;		/* this login takes a lost session up again */
	/* senders, XEP-0198 without resumption: what the server has not
	 * acknowledged when a session dies is sent again in the next (§4,
	 * duplicates allowed) */
	uint8_t sm_on, sm_was_on; /* <enable/> sent (and not refused), this or last session */
	uint8_t sm_enabled;	/* <enabled/> came: count what the server sends */
	uint32_t sm_out;	/* stanzas sent since <enable/> */
	uint32_t sm_in;		/* stanzas received since <enabled/> */
	uint64_t sm_base;	/* number of this session's first message */
	uint64_t acked;		/* messages 0 .. acked - 1 acknowledged */
	uint32_t other[4];	/* places (in sm_out) of the session's non-messages */
	unsigned nother;
};

/* --faults: what became of every numbered chat message.  Each number is
 * counted once, by its first fate; whatever arrives again is a duplicate. */
struct bench_faults {
	uint64_t delivered;	/* reached the receiver's live session */
	uint64_t offline;	/* reached it from offline storage (XEP-0203 <delay/>) */
	uint64_t bounced;	/* came back to the sender as <message type='error'/> */
	uint64_t duplicates;	/* arrived (or bounced) again after its first fate */
	uint64_t missing;	/* sent, and none of the above by the end */
	uint64_t relogins;	/* lost sessions taken up again */
	uint64_t relogin_failures; /* attempts that failed (and were tried again) */
};

/* CPU and memory read from /proc at one moment. */
struct bench_usage {
	uint64_t t;				/* CLOCK_MONOTONIC ns */
	double server_cpu_s[BENCH_MAX_PIDS];	/* utime+stime of each --pids process */
	double server_cpu_total_s;		/* their sum; -1 if one could not be read */
	long server_rss_kib;			/* summed VmRSS; -1 if unreadable */
	double self_cpu_s;			/* the bench's own user+system time */
	long self_rss_kib;
};

/* One step of the traffic phase (one fixed rate for --duration seconds). */
struct bench_step {
	double rate;		/* per sender */
	double offered_per_s;	/* all senders */
	uint64_t sent, delivered, expected;
	double duration_s, delivered_per_s;
	double server_cpu_s, self_cpu_s;
	uint64_t p50_ns, p99_ns, p999_ns, max_ns;
	int behind;		/* not all delivered within the grace time */
	int over_bound;		/* p99 above --p99-bound */
};

/* One second of the run, for the JSON series and the plot. */
struct bench_sample {
	double t_s;
	unsigned online, failed;
	uint64_t sent, delivered;	/* cumulative */
	uint64_t p50_ns, p99_ns;	/* of the logins or deliveries done in this second */
	double server_cpu_s, self_cpu_s; /* cumulative since the start */
	long server_rss_kib;
};

/* What the worker threads of one run share.  Phase changes that must happen
 * together (logins settled, a step's end, the end) are barriers that a
 * thread arrives at and then polls while it keeps serving its ring; the
 * last to arrive samples /proc and decides for all.  With one thread every
 * barrier passes at once. */
struct bench_sync {
	pthread_mutex_t mu;
	const struct bench_opts *opt;	/* the run's (server PIDs, step settings) */
	unsigned nthreads;
	unsigned arrived, gen;		/* the current barrier's arrivals; passes bump gen */
	uint64_t msgs_sent, msgs_recv, msgs_expected; /* traffic of all threads */
	struct bench_usage u_login, u_end, u_step; /* u_step: start of the current step */
	/* a step's figures, summed over the threads at its end */
	struct hist step_lat;
	uint64_t step_sent, step_recv, step_expected;
	double rate, duration_s;	/* the current step's rate per sender */
	int go_on;			/* after the last step's end: another step */
	unsigned retries_left;		/* --retry left for the current rate */
	struct bench_step steps[BENCH_MAX_STEPS];
	unsigned nsteps;
	/* logins of all threads, for the progress line; dropped also stops stepping */
	unsigned started, online, failed, dropped;
	unsigned ready;			/* threads with their ring set up */
	int go;				/* t0 is set: start */
};

/* Adds n to a count of this thread's (r->field) and to the run's total of
 * it that other threads read (r->sync->field, when there is a run). */
#define BENCH_COUNT(r, field, n)                                                       \
	do {                                                                           \
		(r)->field += (n);                                                     \
		if ((r)->sync)                                                         \
			__atomic_fetch_add(&(r)->sync->field, (n), __ATOMIC_RELAXED); \
	} while (0)

struct bench_run {
	struct bench_opts opt;
	struct bench_sync *sync;	/* shared by the threads of the run */
	unsigned nconns;		/* connections of this thread (opt.n in all) */
	int barrier;			/* enum barrier being waited for, or -1 */
	unsigned wait_gen;
	SSL_CTX *ctx;
	struct io_uring ring;
	struct bufring rx;		/* provided receive buffers (net.c) */
	struct sockaddr_storage addr[BENCH_MAX_PORTS]; /* the server, one per port; kept
							  * alive for in-flight connects */
	socklen_t addr_len;
	struct sockaddr_in *src; /* opt.src_addrs source addresses, or NULL */
	struct bench_conn *conns; /* opt.n of them, calloc'd */
	uint64_t t0;		  /* start of the run (CLOCK_MONOTONIC ns) */
	uint64_t next_expire;
	/* login */
	unsigned started, online, failed, dropped;
	unsigned max_in_progress; /* most logins under way at once */
	unsigned tls_lean;	/* connections handed to tls/record after the handshake */
	unsigned fail[FAIL_NCAUSES];
	uint64_t first_login_ns, last_login_ns; /* completion times */
	struct hist login_lat;
	/* traffic: chat messages or presence broadcasts, in steps */
	double cur_rate;
	unsigned *sched;		/* senders' places in conns, a min-heap by
					 * next_send_ns (run.c); calloc'd, freed in teardown */
	unsigned nsched, nparked;
	uint64_t chat_end;		/* the current step's sending ends */
	uint64_t step_sent0, step_recv0, step_expected0;
	uint64_t msgs_sent, msgs_recv, msgs_bad, msgs_expected;
	uint64_t msgs_reordered; /* chat: a stamp not after the previous one from the same sender */
	/* pep: publishes the server refused, last items of an earlier run sent
	 * at login (not counted as deliveries), disco#info queries answered */
	uint64_t pub_errors, pep_last, disco_answers;
	struct hist msg_lat, step_lat, sec_lat;
	struct bench_step steps[BENCH_MAX_STEPS];
	unsigned nsteps;
	/* idle */
	long rss_before_kib, rss_at_n_kib;
	double hold_s, chat_s;
	uint64_t pings_sent, pongs, ping_errors;
	unsigned ping_next;	/* next connection to ping */
	uint64_t ping_start, ping_span;
	struct hist ping_lat;
	struct bench_faults fl;	/* --faults */
	uint64_t fl_progress_ns; /* --faults: when a number was last accounted for */
	/* usage at the phase marks: start, logins settled, end */
	struct bench_usage u_start, u_login, u_end;
	struct bench_sample *series; /* one per second; realloc'd, freed in teardown */
	size_t nseries, series_cap;
	int aborted; /* SIGINT */
};

uint64_t bench_now(void);
extern const char *const bench_fail_names[FAIL_NCAUSES];
extern const char *const bench_scenario_names[];
extern const char *const bench_mech_names[];

/* xmpp.c: the client protocol of one connection, no I/O (appends to c->out). */
int xmpp_connected(struct bench_run *r, struct bench_conn *c);
/* Bytes received; returns 0, or a negative errno after conn failure
 * (xmpp_fail already called). */
int xmpp_input(struct bench_run *r, struct bench_conn *c, const char *data, size_t len);
int xmpp_send(struct bench_run *r, struct bench_conn *c, const char *s, size_t len);
/* Message k (its id m<k>) from from to to; 0 or a negative errno. */
int xmpp_send_chat(struct bench_run *r, struct bench_conn *from, const char *to, uint64_t k,
		   uint64_t intended_ns);
/* The value of attribute name in el's start tag (still XML escaped), its
 * quote in *q; 0 when absent or longer than cap - 1. */
int xmpp_attr(const char *el, size_t len, const char *name, char *out, size_t cap, char *q);
/* A presence update stamped with its intended time (presence scenario). */
int xmpp_send_presence(struct bench_run *r, struct bench_conn *c, uint64_t intended_ns);
/* An item stamped with its intended time, published to the bench's PEP node
 * (pep scenario). */
int xmpp_send_publish(struct bench_run *r, struct bench_conn *c, uint64_t intended_ns);
/* XEP-0199 §4.2: client-to-server ping. */
int xmpp_send_ping(struct bench_run *r, struct bench_conn *c);
void xmpp_fail(struct bench_run *r, struct bench_conn *c, enum bench_fail why, const char *what);
/* Orderly close of the stream and TLS (bytes queued only). */
void xmpp_close(struct bench_conn *c);
void xmpp_free(struct bench_conn *c);

/* faults.c: --faults (chat).  Senders number their messages; what arrives
 * or bounces marks its number; a session that drops logs in again. */
enum fault_fate { FATE_LIVE, FATE_OFFLINE, FATE_BOUNCED };
/* Every slot's struct fault_conn. */
int faults_init(struct bench_run *r);
void faults_free(struct bench_conn *c);
/* Whether c's login takes a lost session up again. */
int faults_again(const struct bench_conn *c);
/* Message a->seq from sender a to b's bare JID. */
int faults_send_chat(struct bench_run *r, struct bench_conn *a, const struct bench_conn *b,
		     uint64_t intended_ns);
/* Message k of c's pair met its fate; 1 the first time, 0 again, -1 when
 * k was never sent. */
int faults_arrived(struct bench_run *r, struct bench_conn *c, uint64_t k, enum fault_fate fate);
/* c's session is up (roster received): Stream Management for senders, the
 * initial presence, and what the last session left unacknowledged. */
void faults_online(struct bench_run *r, struct bench_conn *c);
/* An XEP-0198 nonza from the server; 1 when it was one. */
int faults_nonza(struct bench_run *r, struct bench_conn *c, const char *el, size_t len);
/* A stanza received, and one sent that is not a chat message. */
void faults_stanza_in(struct bench_conn *c);
void faults_stanza_out(struct bench_conn *c);
/* The session (or a later login) of c failed: the next attempt, with backoff. */
void faults_lost(struct bench_conn *c);
/* A fresh login of c at time at (the final offline pass). */
void faults_relogin(struct bench_conn *c, uint64_t at);
/* The end: counts (and logs a few of) the numbers never accounted for. */
void faults_count_missing(struct bench_run *r);

/* net.c: the ring.  net_start() begins a connection; net_flush() sends c->out;
 * net_wait() waits up to timeout_ns for completions and handles them. */
int net_init(struct bench_run *r);
void net_start(struct bench_run *r, struct bench_conn *c);
void net_flush(struct bench_run *r, struct bench_conn *c);
int net_wait(struct bench_run *r, uint64_t timeout_ns);
void net_close(struct bench_run *r, struct bench_conn *c);
void net_exit(struct bench_run *r);

/* run.c: one scenario against one server.  bench_setup() allocates what
 * bench_teardown() frees; bench_run() returns 0 or a negative errno (ring
 * failure) with every figure in r, however many threads ran.
 * bench_interrupted is set by SIGINT/SIGTERM. */
extern volatile int bench_interrupted;
int bench_setup(struct bench_run *r);
int bench_run(struct bench_run *r);
void bench_teardown(struct bench_run *r);
/* One thread's share: its connections are conns[0..nconns) (global indexes
 * in .idx); net_init() then follows in the thread that runs bench_loop(),
 * the phase machine until the run's end (the ring accepts submissions from
 * the thread that created it only).  For workers.c. */
int bench_thread_setup(struct bench_run *r, unsigned thread, unsigned nthreads);
int bench_loop(struct bench_run *r);
/* After the threads: the /proc marks and steps the barriers left in s, into
 * the run's figures (an end mark is taken now if the run was interrupted). */
void bench_collect_marks(struct bench_run *r, struct bench_sync *s);

/* workers.c: several threads, each a bench_run over every T-th pair of
 * connections; merges their figures into total. */
int workers_run(struct bench_run *total);
void sync_init(struct bench_sync *s, unsigned nthreads, const struct bench_opts *o);
void sync_destroy(struct bench_sync *s);

/* sample.c: /proc readings. */
long sample_rss_kib(int pid);	/* VmRSS, -1 on error */
double sample_cpu_s(int pid);	/* utime+stime in seconds, -1 on error */
void sample_usage(const struct bench_opts *o, struct bench_usage *u);
/* Server CPU seconds from a to b, of --pids entry i or (i < 0) of all;
 * -1 when a reading failed. */
double sample_cpu_delta(const struct bench_usage *a, const struct bench_usage *b, int i);

/* report.c */
void report_progress(const struct bench_run *r, uint64_t now);
void report_table(const struct bench_run *r);
int report_json(const struct bench_run *r, const char *path);
/* A JSON string literal of s (quotes and control characters escaped). */
void report_json_str(FILE *f, const char *s);
/* 0 when no login failed and no message was lost. */
int report_errors(const struct bench_run *r);
/* Derived figures shared by the table, the JSON and compare. */
double report_login_rate(const struct bench_run *r);
double report_traffic_rate(const struct bench_run *r);
double report_kib_per_conn(const struct bench_run *r);
/* Server CPU ms per login and µs per delivered message/presence; -1 if unknown. */
double report_server_ms_per_login(const struct bench_run *r);
double report_server_us_per_msg(const struct bench_run *r);
double report_self_ms_per_login(const struct bench_run *r);
double report_self_us_per_msg(const struct bench_run *r);
/* Highest delivered rate of a passing step (stepping), else the run's rate. */
double report_sustained_rate(const struct bench_run *r);

/* compare.c: `starling-bench compare`; argv after the subcommand. */
int compare_main(int argc, char **argv);

/* opts.c: command-line parsing shared by the scenarios and compare. */
void opts_defaults(struct bench_opts *o);
/* Parses options from argv[optind..]; unknown options return -EINVAL.
 * extra (may be NULL) is offered options this parser does not know first:
 * it returns 1 when it took one, 0 when not, negative on a bad value. */
int opts_parse(struct bench_opts *o, int argc, char **argv,
	       int (*extra)(void *ctx, int ch, const char *arg), void *ctx);
int opts_scenario(const char *name, struct bench_opts *o);
/* PIDs separated by ',' or '+' into o->pids. */
int opts_pids(struct bench_opts *o, const char *s);
void opts_usage(FILE *f);

#endif
