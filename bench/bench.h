/* bench: shared state of starling-bench, the XMPP load generator.
 *
 * One thread, one io_uring.  Connections are non-blocking sockets: the ring
 * does the connect and the readiness polls, the reads and writes are plain
 * recv()/send() into one shared buffer, so an idle connection owns no receive
 * buffer (only its SSL object, which releases its record buffers when idle). */
#ifndef STARLING_BENCH_H
#define STARLING_BENCH_H
#include <liburing.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/scram.h"
#include "lib/xstream.h"
#include "tls/tls.h"

#include "hist.h"

enum bench_scenario { BENCH_LOGIN, BENCH_IDLE, BENCH_CHAT };
enum bench_mech { BENCH_PLAIN, BENCH_SCRAM_SHA1, BENCH_SCRAM_SHA256 };

/* Why a login (or an established session) failed; the report counts each. */
enum bench_fail {
	FAIL_CONNECT,	 /* socket() or TCP connect */
	FAIL_TLS,	 /* STARTTLS refused or handshake error */
	FAIL_AUTH,	 /* SASL <failure/>, mechanism not offered, bad server proof */
	FAIL_BIND,	 /* bind answered with an error */
	FAIL_STREAM_ERR, /* <stream:error/> from the server */
	FAIL_CLOSED,	 /* connection closed by the server */
	FAIL_PROTOCOL,	 /* unexpected or malformed element, framing error */
	FAIL_TIMEOUT,	 /* no bind result within --timeout */
	FAIL_NCAUSES,
};

struct bench_opts {
	enum bench_scenario scenario;
	const char *host, *domain, *user_pat, *password, *resource, *json, *ca_file;
	int port, first;     /* first: number substituted for the first account */
	unsigned n;	     /* connections (users) */
	double rate;	     /* logins/s (login, idle) or msgs/s per pair (chat) */
	double login_rate;   /* logins/s for chat's setup phase */
	double hold;	     /* idle: seconds to hold N sessions */
	double duration;     /* chat: seconds of sending */
	double timeout;	     /* seconds for one login; also chat's drain wait */
	enum bench_mech mech;
	int direct_tls;
	int pids[16];
	unsigned npids;
};

enum conn_state {
	CS_NEW, CS_CONNECTING, CS_FEATURES_TLS, CS_STARTTLS, CS_HANDSHAKE, CS_FEATURES_SASL,
	CS_AUTH, CS_FEATURES_BIND, CS_BIND, CS_ONLINE, CS_DEAD,
};

struct bench_conn {
	int fd;
	uint32_t idx;
	uint8_t state;	/* enum conn_state */
	uint8_t poll_in, poll_out; /* a poll of that kind is in flight */
	uint8_t want_presence;
	uint8_t start_tls; /* <proceed/> seen: start the handshake after this chunk */
	SSL *ssl;	/* NULL until TLS starts; SSL_free() on close */
	struct tls_io io;
	struct buf out;	/* bytes to send (ciphertext once TLS runs) */
	struct xs_framer xs;
	struct scram_client scram; /* fields NULL unless a SCRAM exchange runs */
	char *jid;	/* bound full JID, malloc'd, freed on close */
	uint64_t start_ns;	/* intended start of the login */
	uint64_t next_send_ns;	/* chat senders: intended time of the next message */
	uint64_t seq;
};

struct bench_run {
	struct bench_opts opt;
	SSL_CTX *ctx;
	struct io_uring ring;
	struct sockaddr_in addr; /* kept alive for in-flight connects */
	struct bench_conn *conns; /* opt.n of them, calloc'd */
	uint64_t t0;		  /* start of the run (CLOCK_MONOTONIC ns) */
	/* login */
	unsigned started, online, failed, dropped;
	unsigned fail[FAIL_NCAUSES];
	uint64_t first_login_ns, last_login_ns; /* completion times */
	struct hist login_lat;
	/* chat */
	int sending;
	uint64_t chat_start, chat_end, drain_end;
	uint64_t msgs_sent, msgs_recv, msgs_bad;
	struct hist msg_lat;
	/* idle */
	long rss_before_kib, rss_at_n_kib;
	double hold_s, chat_s;
	int aborted; /* SIGINT */
};

uint64_t bench_now(void);
extern const char *const bench_fail_names[FAIL_NCAUSES];

/* xmpp.c: the client protocol of one connection, no I/O (appends to c->out). */
int xmpp_connected(struct bench_run *r, struct bench_conn *c);
/* Bytes received; returns 0, or a negative errno after conn failure
 * (xmpp_fail already called). */
int xmpp_input(struct bench_run *r, struct bench_conn *c, const char *data, size_t len);
int xmpp_send(struct bench_run *r, struct bench_conn *c, const char *s, size_t len);
int xmpp_send_chat(struct bench_run *r, struct bench_conn *from, const struct bench_conn *to,
		   uint64_t intended_ns);
void xmpp_fail(struct bench_run *r, struct bench_conn *c, enum bench_fail why, const char *what);
/* Orderly close of the stream and TLS (bytes queued only). */
void xmpp_close(struct bench_conn *c);
void xmpp_free(struct bench_conn *c);

/* net.c: the ring.  net_start() begins a connection; net_flush() sends c->out;
 * net_wait() waits up to timeout_ns for completions and handles them. */
int net_init(struct bench_run *r);
void net_start(struct bench_run *r, struct bench_conn *c);
void net_flush(struct bench_run *r, struct bench_conn *c);
int net_wait(struct bench_run *r, uint64_t timeout_ns);
void net_close(struct bench_run *r, struct bench_conn *c);
void net_exit(struct bench_run *r);

/* report.c */
long report_rss_kib(const struct bench_opts *o); /* summed VmRSS, -1 on error */
void report_progress(const struct bench_run *r, uint64_t now);
void report_table(const struct bench_run *r);
int report_json(const struct bench_run *r, const char *path);
/* 0 when no login failed and no message was lost. */
int report_errors(const struct bench_run *r);

#endif
