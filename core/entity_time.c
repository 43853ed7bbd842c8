/* entity_time: XEP-0202 Entity Time, answered for the server itself. */
#include "entity_time.h"

#include <stdio.h>
#include <time.h>

#include "router.h"

/* t as an XEP-0082 DateTime in UTC, e.g. "1969-07-21T02:56:15Z". */
static void entity_time_format(time_t t, char *out, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int entity_time_iq(const struct iq_req *r)
{
	if (r->target != IQ_TO_SERVER || !iq_is(r->payload, ENTITY_TIME_NS, "time"))
		return 0; /* an account's time is its clients' business */
	if (r->s->type != STANZA_T_GET) {
		router_error(r->c, r->s, ROUTER_ERR_BAD_REQUEST); /* only get is defined */
		return 1;
	}
	/* XEP-0202 "Protocol": <tzo/> and <utc/> are both required, utc in the
	 * DateTime profile of XEP-0082.  The server keeps UTC: offset zero. */
	char utc[32], xml[128];
	entity_time_format(time(NULL), utc, sizeof utc);
	int n = snprintf(xml, sizeof xml,
			 "<time xmlns=\"" ENTITY_TIME_NS "\"><tzo>+00:00</tzo><utc>%s</utc></time>",
			 utc);
	iq_result(r, xml, (size_t)n);
	return 1;
}
