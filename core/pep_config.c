/* pep_config: node configuration forms (pep_config.h). */
#include "pep_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pep.h"

#define XDATA_NS "jabber:x:data"

const struct store_pep_config pep_config_default = {
	.access = STORE_PEP_PRESENCE,
	.send_last = STORE_PEP_ON_SUB_AND_PRESENCE,
	.notify_retract = 1,
	.max_items = 1,
};

enum { F_ACCESS = 1, F_MAX_ITEMS = 2, F_SEND_LAST = 4, F_NOTIFY_RETRACT = 8 };

static const char *const access_names[] = {"presence", "open", "whitelist"};
static const char *const send_last_names[] = {"never", "on_sub", "on_sub_and_presence"};

xmlNodePtr pep_config_form_of(xmlNodePtr parent)
{
	for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && n->ns &&
		    !strcmp((const char *)n->ns->href, XDATA_NS) && !strcmp((const char *)n->name, "x"))
			return n;
	return NULL;
}

static int name_index(const char *v, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v, names[i]))
			return i;
	return -1;
}

int pep_config_bool(const char *v)
{
	if (!strcmp(v, "1") || !strcmp(v, "true"))
		return 1;
	return !strcmp(v, "0") || !strcmp(v, "false") ? 0 : -1;
}

static int max_items(const char *v)
{
	if (!strcmp(v, "max")) /* XEP-0060 §7.1.2: the service's maximum */
		return PEP_ITEMS_MAX;
	char *end;
	long n = strtol(v, &end, 10);
	return *v && !*end && n >= 1 && n <= PEP_ITEMS_MAX ? (int)n : -1;
}

/* One field: the bit it sets, 0 for a field that is fine as given and not
 * kept, -EINVAL for a value not honoured, -ENOENT for an unknown field. */
static int field(const char *var, const char *v, struct store_pep_config *cfg)
{
	int i;
	if (!strcmp(var, "pubsub#access_model")) {
		if ((i = name_index(v, access_names, 3)) < 0)
			return -EINVAL;
		cfg->access = (uint8_t)i;
		return F_ACCESS;
	}
	if (!strcmp(var, "pubsub#max_items")) {
		if ((i = max_items(v)) < 0)
			return -EINVAL;
		cfg->max_items = (uint16_t)i;
		return F_MAX_ITEMS;
	}
	if (!strcmp(var, "pubsub#send_last_published_item")) {
		if ((i = name_index(v, send_last_names, 3)) < 0)
			return -EINVAL;
		cfg->send_last = (uint8_t)i;
		return F_SEND_LAST;
	}
	if (!strcmp(var, "pubsub#notify_retract")) {
		if ((i = pep_config_bool(v)) < 0)
			return -EINVAL;
		cfg->notify_retract = (uint8_t)i;
		return F_NOTIFY_RETRACT;
	}
	/* Items always persist and notifications always carry payloads. */
	if (!strcmp(var, "pubsub#persist_items") || !strcmp(var, "pubsub#deliver_payloads") ||
	    !strcmp(var, "pubsub#deliver_notifications"))
		return pep_config_bool(v) == 1 ? 0 : -EINVAL;
	return -ENOENT;
}

static char *first_value(xmlNodePtr f)
{
	for (xmlNodePtr v = f->children; v; v = v->next)
		if (v->type == XML_ELEMENT_NODE && !strcmp((const char *)v->name, "value"))
			return (char *)xmlNodeGetContent(v);
	return NULL;
}

int pep_config_read(xmlNodePtr x, const char *form_type, int strict,
		    struct store_pep_config *cfg, unsigned *seen)
{
	int rc = 0;
	for (xmlNodePtr f = x->children; f && !rc; f = f->next) {
		if (f->type != XML_ELEMENT_NODE || strcmp((const char *)f->name, "field"))
			continue;
		char *var = (char *)xmlGetProp(f, (const xmlChar *)"var");
		char *v = var ? first_value(f) : NULL;
		if (!var)
			rc = 0;
		else if (!strcmp(var, "FORM_TYPE"))
			rc = v && !strcmp(v, form_type) ? 0 : -EBADMSG;
		else if ((rc = field(var, v ? v : "", cfg)) > 0) {
			*seen |= (unsigned)rc;
			rc = 0;
		} else if (rc == -ENOENT)
			rc = strict ? -EINVAL : 0;
		xmlFree(v);
		xmlFree(var);
	}
	return rc;
}

int pep_config_same(const struct store_pep_config *a, const struct store_pep_config *b,
		    unsigned seen)
{
	return !((seen & F_ACCESS) && a->access != b->access) &&
	       !((seen & F_MAX_ITEMS) && a->max_items != b->max_items) &&
	       !((seen & F_SEND_LAST) && a->send_last != b->send_last) &&
	       !((seen & F_NOTIFY_RETRACT) && a->notify_retract != b->notify_retract);
}

static int list_field(struct buf *b, const char *var, const char *const *names, int n, int cur)
{
	int rc = buf_append_str(b, "<field var=\"") || buf_append_str(b, var) ||
		 buf_append_str(b, "\" type=\"list-single\"><value>") ||
		 buf_append_str(b, names[cur]) || buf_append_str(b, "</value>");
	for (int i = 0; !rc && i < n; i++)
		rc = buf_append_str(b, "<option><value>") || buf_append_str(b, names[i]) ||
		     buf_append_str(b, "</value></option>");
	return rc || buf_append_str(b, "</field>") ? -ENOMEM : 0;
}

int pep_config_write(struct buf *b, const struct store_pep_config *cfg)
{
	char max[16];
	snprintf(max, sizeof max, "%u", cfg->max_items);
	if (buf_append_str(b, "<x xmlns=\"" XDATA_NS "\" type=\"form\">"
			      "<field var=\"FORM_TYPE\" type=\"hidden\"><value>" PEP_FORM_NODE_CONFIG
			      "</value></field>") ||
	    list_field(b, "pubsub#access_model", access_names, 3, cfg->access) ||
	    buf_append_str(b, "<field var=\"pubsub#max_items\" type=\"text-single\"><value>") ||
	    buf_append_str(b, max) ||
	    buf_append_str(b, "</value></field>"
			      "<field var=\"pubsub#persist_items\" type=\"boolean\"><value>1</value>"
			      "</field>") ||
	    list_field(b, "pubsub#send_last_published_item", send_last_names, 3, cfg->send_last) ||
	    buf_append_str(b, "<field var=\"pubsub#notify_retract\" type=\"boolean\"><value>") ||
	    buf_append_str(b, cfg->notify_retract ? "1" : "0") ||
	    buf_append_str(b, "</value></field></x>"))
		return -ENOMEM;
	return 0;
}
