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
	      linkack_counted(WIRE_STANZA_RETURN) && !linkack_counted(WIRE_SESSION_OPEN) &&
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
	/* Receiving: one ACK per change of the count, none when nothing came. */
	CHECK(linkack_put_ack(&a, &out) == 0 && !buf_avail(&out));
	linkack_received(&a, WIRE_STANZA);
	linkack_received(&a, WIRE_SESSION_CLOSE);
	linkack_received(&a, WIRE_STANZA_MULTI);
	CHECK(a.rx == 2 && linkack_put_ack(&a, &out) == 0 && buf_avail(&out));
	struct wire_frame g;
	CHECK(wire_parse((const uint8_t *)buf_head(&out), buf_avail(&out), &g) > 0 &&
	      g.type == WIRE_ACK && g.plen == 4 && g.payload[3] == 2);
	size_t n = buf_avail(&out);
	CHECK(linkack_put_ack(&a, &out) == 0 && buf_avail(&out) == n);
	/* A new link starts from zero. */
	CHECK(linkack_keep(&a, buf_head(&batch), buf_avail(&batch)) == 0 && a.kept_n == 3);
	linkack_reset(&a);
	CHECK(!a.rx && !a.rx_told && !a.tx_acked && !a.kept_n && !a.kept.data);
	buf_free(&batch);
	buf_free(&frame);
	buf_free(&out);
	CHECK_DONE();
}
