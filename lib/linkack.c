/* linkack: the counts and copies behind the link's acknowledgements. */
#include "linkack.h"

#include <errno.h>

int linkack_counted(uint8_t type)
{
	/* SESSION_UNPARKED carries a session's queued stanzas (core/park.c). */
	return type == WIRE_STANZA || type == WIRE_STANZA_MULTI || type == WIRE_STANZA_RETURN ||
	       type == WIRE_SESSION_UNPARKED;
}

int linkack_keep(struct linkack *a, const void *frames, size_t len)
{
	const uint8_t *p = frames;
	struct wire_frame f;
	long n;
	while (len && (n = wire_parse(p, len, &f)) > 0) {
		if (linkack_counted(f.type)) {
			if (buf_append(&a->kept, p, (size_t)n))
				return -ENOMEM;
			a->kept_n++;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

uint32_t linkack_queued(const struct linkack *a, const struct buf *out)
{
	uint32_t n = a->tx_acked + a->kept_n;
	const uint8_t *p = (const uint8_t *)buf_head(out);
	size_t len = buf_avail(out);
	struct wire_frame f;
	long k;
	while (len && (k = wire_parse(p, len, &f)) > 0) {
		n += (uint32_t)linkack_counted(f.type);
		p += k;
		len -= (size_t)k;
	}
	return n;
}

int linkack_put_ack(struct linkack *a, struct buf *out, uint64_t now_ms)
{
	if (a->rx == a->rx_told)
		return 0;
	if (!buf_avail(out) && a->rx - a->rx_told < LINKACK_EVERY && now_ms < a->due_ms)
		return 0;
	int rc = wire_put_u32_frame(out, WIRE_ACK, 0, a->rx);
	if (!rc)
		a->rx_told = a->rx;
	return rc;
}

int linkack_on_ack(struct linkack *a, const struct wire_frame *f)
{
	struct wire_reader r;
	wire_reader_init(&r, f);
	uint32_t h = wire_get_u32(&r);
	uint32_t k = h - a->tx_acked;
	if (r.err || r.p != r.end || k > a->kept_n)
		return -EPROTO;
	for (; k; k--, a->kept_n--) {
		struct wire_frame g;
		long n = wire_parse((const uint8_t *)buf_head(&a->kept), buf_avail(&a->kept), &g);
		if (n <= 0)
			return -EPROTO; /* cannot happen: kept holds whole frames */
		buf_consume(&a->kept, (size_t)n);
	}
	if (!a->kept_n)
		buf_free(&a->kept); /* an idle link keeps no buffer */
	a->tx_acked = h;
	return 0;
}

void linkack_reset(struct linkack *a)
{
	buf_free(&a->kept);
	*a = (struct linkack){0};
}

void linkack_free(struct linkack *a) { linkack_reset(a); }
