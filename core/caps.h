/* caps: what each session's client wants to be notified of, learnt from
 * XEP-0115 entity capabilities, for PEP's filtered notifications (XEP-0163
 * §4.2, §4.3.1).  A presence names its client's feature set by a hash (ver);
 * the core asks one client with that ver for the set (disco#info), checks
 * that the answer hashes to ver (§5.4) and keeps it for every session that
 * names the same ver, so a client version is asked once per core, not once
 * per login.  An answer that does not match serves only the session that
 * gave it. */
#ifndef STARLING_CORE_CAPS_H
#define STARLING_CORE_CAPS_H
#include "core.h"
#include "lib/wire.h"

#define CAPS_NS "http://jabber.org/protocol/caps"
/* Feature sets kept; beyond it unreferenced ones are dropped, and when all
 * are in use a new ver is not learnt (its sessions get no notifications). */
#define CAPS_MAX 4096
/* +notify nodes kept per feature set, and their total bytes. */
#define CAPS_NOTIFY_MAX 128
#define CAPS_NOTIFY_BYTES 8192
/* A client that has not answered in this long is taken for one that never
 * will: the next session naming the ver is asked instead (checked when one
 * comes, so no timer runs for it). */
#define CAPS_ANSWER_MS 30000
/* The longest caps node kept (it is echoed in every query). */
#define CAPS_NODE_MAX 1024

/* s sent available presence with <c hash node ver/> (any NULL: none).
 * Returns 1 when s's +notify set is known now and was not before (the
 * caller sends the last items, pep_send_last), else 0.  A ver not known yet
 * is asked of s (or waits for the client already asked); pep_send_last is
 * called for every waiting session when the answer comes. */
int caps_presence(struct core *c, struct session *s, const char *hash, const char *node,
		  const char *ver);
/* An IQ result or error to the server from origin: 1 when it answered the
 * caps query origin was sent (consumed), else 0. */
int caps_iq_answer(struct core *c, struct session *origin, const struct wire_stanza *st);
/* Whether s's client asked for notifications of node ("node+notify"). */
int caps_wants(const struct session *s, const char *node);
/* 1 when s's +notify set is known and not empty. */
int caps_interested(const struct session *s);
/* s is being freed (session.c): drops its reference, and asks another
 * waiting session when s was the one asked. */
void caps_session_end(struct core *c, struct session *s);
/* At exit, after every session is freed. */
void caps_table_free(struct caps_table *t);

#endif
