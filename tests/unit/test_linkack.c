/* lib/linkack: counting, keeping and acknowledging the link's stanza frames. */
#include <errno.h>

#include "check.h"
#include "lib/linkack.h"

static void put_stanza(struct buf *b, uint32_t sid)
{
	struct wire_stanza s = {.kind = 1, .type = 0, .xml = {"<message/>", 10}};
	CHECK(wire_put_stanza(b, sid, &s) == 0);
}

static struct wire_frame ack_frame(struct buf *b, uint32_t h)
{
	struct wire_frame f;
	buf_free(b);
	CHECK(wire_put_u32_frame(b, WIRE_ACK, 0, h) == 0);
	CHECK(wire_parse((const uint8_t *)buf_head(b), buf_avail(b), &f) > 0);
	return f;
}

int main(void)
{
	struct linkack a = {0};
	struct buf batch = {0}, frame = {0}, out = {0};
	/* Only stanza frames are counted and kept. */
	CHECK(linkack_counted(WIRE_STANZA) && linkack_counted(WIRE_STANZA_MULTI) &&
	      linkack_counted(WIRE_STANZA_RETURN) && linkack_counted(WIRE_SESSION_UNPARKED) &&
	      !linkack_counted(WIRE_SESSION_OPEN) && !linkack_counted(WIRE_SESSION_PARK) &&
	      !linkack_counted(WIRE_ACK) && !linkack_counted(WIRE_HELLO));
	put_stanza(&batch, 1);
	CHECK(wire_put_str_frame(&batch, WIRE_SESSION_OPEN, 2, "a@b/c") == 0);
	put_stanza(&batch, 3);
	put_stanza(&batch, 4);
	CHECK(linkack_keep(&a, buf_head(&batch), buf_avail(&batch)) == 0 && a.kept_n == 3);
	/* The peer counted two: the oldest two copies go. */
	struct wire_frame f = ack_frame(&frame, 2);
	CHECK(linkack_on_ack(&a, &f) == 0 && a.kept_n == 1 && a.tx_acked == 2);
	struct wire_frame left;
	CHECK(wire_parse((const uint8_t *)buf_head(&a.kept), buf_avail(&a.kept), &left) > 0 &&
	      left.sid == 4);
	/* More than was sent, or a count going backwards, is a broken peer. */
	f = ack_frame(&frame, 4);
	CHECK(linkack_on_ack(&a, &f) == -EPROTO && a.kept_n == 1);
	f = ack_frame(&frame, 1);
	CHECK(linkack_on_ack(&a, &f) == -EPROTO);
	f = ack_frame(&frame, 3);
	CHECK(linkack_on_ack(&a, &f) == 0 && a.kept_n == 0 && !a.kept.data);
	/* Receiving: nothing to say when nothing came, even when forced. */
	CHECK(linkack_put_ack(&a, &out, UINT64_MAX) == 0 && !buf_avail(&out) && !linkack_due(&a));
	linkack_received(&a, WIRE_STANZA, 1000);
	linkack_received(&a, WIRE_SESSION_CLOSE, 1001);
	linkack_received(&a, WIRE_STANZA_MULTI, 1002);
	/* Alone, an ACK waits (it would cost the peer a wake-up), due from the
	 * first uncounted frame ... */
	CHECK(a.rx == 2 && linkack_due(&a) == 1000 + LINKACK_DELAY_MS);
	CHECK(linkack_put_ack(&a, &out, 1000 + LINKACK_DELAY_MS - 1) == 0 && !buf_avail(&out));
	/* ... it rides on frames going out anyway ... */
	CHECK(wire_put_u8_frame(&out, WIRE_FLOW, 0, 1) == 0);
	size_t n = buf_avail(&out);
	CHECK(linkack_put_ack(&a, &out, 1000) == 0 && buf_avail(&out) > n && !linkack_due(&a));
	struct wire_frame g;
	CHECK(wire_parse((const uint8_t *)buf_head(&out) + n, buf_avail(&out) - n, &g) > 0 &&
	      g.type == WIRE_ACK && g.plen == 4 && g.payload[3] == 2);
	n = buf_avail(&out);
	CHECK(linkack_put_ack(&a, &out, UINT64_MAX) == 0 && buf_avail(&out) == n);
	/* ... goes alone when due ... */
	buf_free(&out);
	linkack_received(&a, WIRE_STANZA, 2000);
	linkack_received(&a, WIRE_STANZA, 2003);
	CHECK(linkack_due(&a) == 2000 + LINKACK_DELAY_MS);
	CHECK(linkack_put_ack(&a, &out, 2001) == 0 && !buf_avail(&out));
	CHECK(linkack_put_ack(&a, &out, 2000 + LINKACK_DELAY_MS) == 0 && buf_avail(&out) &&
	      !linkack_due(&a));
	/* ... or when LINKACK_EVERY frames wait. */
	buf_free(&out);
	for (unsigned i = 0; i < LINKACK_EVERY - 1; i++)
		linkack_received(&a, WIRE_STANZA, 3000);
	CHECK(linkack_put_ack(&a, &out, 3000) == 0 && !buf_avail(&out));
	linkack_received(&a, WIRE_STANZA, 3000);
	CHECK(linkack_put_ack(&a, &out, 3000) == 0 && buf_avail(&out) && !linkack_due(&a));
	/* A new link starts from zero. */
	CHECK(linkack_keep(&a, buf_head(&batch), buf_avail(&batch)) == 0 && a.kept_n == 3);
	linkack_reset(&a);
	/* Queued: counted by the peer, kept, and still in out (stanza frames
	 * only); covered once the peer's count reaches it. */
	buf_free(&out);
	CHECK(linkack_queued(&a, &out) == 0 && linkack_covers(&a, 0));
	CHECK(linkack_keep(&a, buf_head(&batch), buf_avail(&batch)) == 0);
	CHECK(buf_append(&out, buf_head(&batch), buf_avail(&batch)) == 0);
	uint32_t need = linkack_queued(&a, &out);
	CHECK(need == 6 && !linkack_covers(&a, need) && !linkack_covers(&a, 1));
	f = ack_frame(&frame, 3);
	CHECK(linkack_on_ack(&a, &f) == 0 && linkack_covers(&a, 3) && !linkack_covers(&a, need));
	CHECK(linkack_queued(&a, &out) == need);
	CHECK(linkack_keep(&a, buf_head(&out), buf_avail(&out)) == 0);
	f = ack_frame(&frame, 6);
	CHECK(linkack_on_ack(&a, &f) == 0 && linkack_covers(&a, need));
	linkack_reset(&a);
	CHECK(!a.rx && !a.rx_told && !a.tx_acked && !a.kept_n && !a.kept.data);
	buf_free(&batch);
	buf_free(&frame);
	buf_free(&out);
	CHECK_DONE();
}
