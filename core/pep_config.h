/* pep_config: a PEP node's configuration as XEP-0004 data forms: read from
 * publish-options (XEP-0060 §7.1.5) and node configuration (§8.2), and
 * written for a configuration request (§8.2.1). */
#ifndef STARLING_CORE_PEP_CONFIG_H
#define STARLING_CORE_PEP_CONFIG_H
#include <libxml/tree.h>

#include "lib/buf.h"
#include "store.h"

#define PEP_FORM_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"
#define PEP_FORM_NODE_CONFIG "http://jabber.org/protocol/pubsub#node_config"

/* XEP-0163 §5: presence access, one item, the last sent on presence. */
extern const struct store_pep_config pep_config_default;

/* The jabber:x:data form among parent's children, or NULL. */
xmlNodePtr pep_config_form_of(xmlNodePtr parent);
/* Reads the form's fields into cfg; *seen gets a bit for each field given.
 * 0; -EBADMSG when its FORM_TYPE is not form_type; -EINVAL for a value this
 * service cannot honour, or (strict) a field it does not know. */
int pep_config_read(xmlNodePtr x, const char *form_type, int strict,
		    struct store_pep_config *cfg, unsigned *seen);
/* XEP-0004 §3.3 boolean ("1", "true", "0", "false"): 1, 0, or -1 when it
 * is none of them. */
int pep_config_bool(const char *v);
/* 1 when a and b agree on every field in seen. */
int pep_config_same(const struct store_pep_config *a, const struct store_pep_config *b,
		    unsigned seen);
/* Appends the node_config form (type "form") describing cfg. */
int pep_config_write(struct buf *b, const struct store_pep_config *cfg);

#endif
