/* subscribe: both halves of a subscription exchange between local accounts.
 * The user's outbound transition and the contact's inbound one (RFC 6121
 * Appendix A.2/A.3) are committed in one transaction, then pushed and
 * delivered (§3.1.2 - §3.3.3). */
#include "subscribe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "pep.h"
#include "presence.h"
#include "roster.h"
#include "router.h"
#include "subscription.h"

static const char *type_name(uint8_t type)
{
	switch (type) {
	case STANZA_T_SUBSCRIBE: return "subscribe";
	case STANZA_T_SUBSCRIBED: return "subscribed";
	case STANZA_T_UNSUBSCRIBE: return "unsubscribe";
	default: return "unsubscribed";
	}
}

/* Loads user's item for contact, or a fresh hidden one. */
static int item_load(struct core *c, const char *user, const char *contact,
		     struct store_item *it)
{
	memset(it, 0, sizeof *it);
	int rc = store_roster_get(c->store, user, contact, it);
	if (rc != -ENOENT)
		return rc;
	memset(it, 0, sizeof *it);
	it->hidden = 1;
	it->contact = strdup(contact);
	return it->contact ? 0 : -ENOMEM;
}

/* A hidden row that no longer records anything is dropped. */
static int item_save(struct core *c, const char *user, const struct store_item *it)
{
	if (it->hidden && !it->sub && !it->ask && !it->pending_in && !it->approved) {
		int rc = store_roster_del(c->store, user, it->contact);
		return rc == -ENOENT ? 0 : rc;
	}
	return store_roster_put(c->store, user, it);
}

/* Applies one transition to user's item for contact; persists when changed. */
static int side_apply(struct core *c, const char *user, const char *contact,
		      enum sub_dir dir, uint8_t type, struct store_item *it, unsigned *act)
{
	int rc = item_load(c, user, contact, it);
	if (rc)
		return rc;
	struct sub_state st = {it->sub, it->ask, it->pending_in, it->approved};
	*act = sub_apply(dir, type, &st);
	if (!(*act & SUB_CHANGED))
		return 0;
	it->sub = st.sub;
	it->ask = st.ask;
	it->pending_in = st.pending_in;
	it->approved = st.approved;
	/* RFC 6121 §3.1.2 (the user's roster gets the item), §3.1.5 (an
	 * approved contact appears in the roster) and §3.4.1 (so does a
	 * pre-approved one). */
	if (it->sub || it->approved || (dir == SUB_OUTBOUND && type == STANZA_T_SUBSCRIBE))
		it->hidden = 0;
	return item_save(c, user, it);
}

static void deliver_sub(struct core *c, struct core_user *to, const char *from_bare,
			const char *to_bare, uint8_t type, struct wire_str xml)
{
	char synth[48];
	if (!to)
		return;
	if (!xml.len) {
		snprintf(synth, sizeof synth, "<presence type=\"%s\"/>", type_name(type));
		xml = core_wstr(synth);
	}
	struct wire_stanza st = {.kind = STANZA_PRESENCE, .type = type,
				 .from = core_wstr(from_bare), .to = core_wstr(to_bare),
				 .xml = xml};
	presence_to_available(c, to, &st, NULL);
}

/* An answer the contact's server gives on its own (auto "subscribed" or
 * "unsubscribed" for an unknown account): only the user's inbound side. */
static void auto_reply(struct core *c, const char *user, const char *ubare,
		       const char *contact, uint8_t type)
{
	struct store_item it;
	unsigned act = 0;
	if (store_begin(c->store))
		return;
	if (side_apply(c, user, contact, SUB_INBOUND, type, &it, &act) ||
	    store_commit(c->store)) {
		store_rollback(c->store);
		store_item_free(&it);
		return;
	}
	if (act & SUB_CHANGED)
		roster_push(c, user, &it, 0);
	struct core_user *uu = session_user(c, user, strlen(user));
	deliver_sub(c, uu, contact, ubare, type, core_wstr(NULL));
	struct core_user *cu = NULL;
	struct jid_view v;
	core_jid_split(core_wstr(contact), &v);
	if (v.has_local && !v.has_resource)
		cu = session_user(c, contact, strlen(contact));
	if (type == STANZA_T_SUBSCRIBED && cu && uu) {
		presence_send_current(c, cu, uu, 0);
		pep_send_subscribed(c, cu, uu);
	}
	store_item_free(&it);
}

/* After both sides are committed: what the contact's server does (§3.x.3). */
static void after_inbound(struct core *c, struct core_user *uu, struct core_user *cu,
			  uint8_t type)
{
	if (!uu || !cu)
		return;
	if (type == STANZA_T_SUBSCRIBED) {
		presence_send_current(c, uu, cu, 0); /* §3.1.5 */
		pep_send_subscribed(c, uu, cu);	     /* XEP-0163 §4.3.2 */
	} else if (type == STANZA_T_UNSUBSCRIBED)
		presence_send_current(c, uu, cu, 1); /* §3.2.2 */
	else if (type == STANZA_T_UNSUBSCRIBE)
		presence_send_current(c, cu, uu, 1); /* §3.3.3 */
}

void subscribe_handle(struct core *c, const char *local, const char *contact, uint8_t type,
		      struct wire_str xml, int quiet_user)
{
	/* Both accounts are keyed by their bare JIDs, which may be in
	 * different hosted domains. */
	const char *ubare = local, *clocal = contact;
	struct jid_view v;
	core_jid_split(core_wstr(contact), &v);
	if (!strcmp(ubare, contact) || !v.has_local || v.has_resource ||
	    !core_is_local_domain(c, v.domain))
		return;
	int exists = store_user_exists(c->store, clocal);
	if (exists < 0)
		return;
	struct store_item ui = {0}, ci = {0};
	unsigned ua = 0, ca = 0;
	int rc = store_begin(c->store);
	if (!rc)
		rc = side_apply(c, local, contact, SUB_OUTBOUND, type, &ui, &ua);
	if (!rc && (ua & SUB_FORWARD) && exists)
		rc = side_apply(c, clocal, ubare, SUB_INBOUND, type, &ci, &ca);
	if (!rc)
		rc = store_commit(c->store);
	if (rc) {
		store_rollback(c->store);
		log_error("subscription %s from %s to %s not saved: %s", type_name(type), ubare,
			  contact, strerror(-rc));
		goto out;
	}
	if ((ua & SUB_CHANGED) && !quiet_user)
		roster_push(c, local, &ui, 0);
	if (ca & SUB_CHANGED)
		roster_push(c, clocal, &ci, 0);
	struct core_user *uu = session_user(c, local, strlen(local));
	struct core_user *cu = session_user(c, clocal, strlen(clocal));
	if (ca & SUB_FORWARD) {
		deliver_sub(c, cu, ubare, contact, type, xml);
		after_inbound(c, uu, cu, type);
	}
	if (ca & SUB_AUTO_REPLY)
		auto_reply(c, local, ubare, contact, STANZA_T_SUBSCRIBED); /* §3.1.3 */
	else if (!exists && type == STANZA_T_SUBSCRIBE)
		auto_reply(c, local, ubare, contact, STANZA_T_UNSUBSCRIBED); /* §8.5.1 */
out:
	store_item_free(&ui);
	store_item_free(&ci);
}
