/* buf: a growable byte buffer with a read offset, used for send queues, link
 * output and partial-stanza accumulation.  An empty buffer owns no memory:
 * buf_consume() frees the storage once everything has been read, so idle
 * connections keep no buffers. */
#ifndef STARLING_BUF_H
#define STARLING_BUF_H
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;  /* owned; NULL when cap == 0 */
	uint32_t off; /* first unread byte */
	uint32_t len; /* end of written bytes (off <= len <= cap) */
	uint32_t cap;
};

#define BUF_MAX (1u << 30)

static inline size_t buf_avail(const struct buf *b) { return b->len - b->off; }
/* An empty buffer may have no storage: NULL + 0 is undefined in C, so the
 * offset is added only when there is one (off > 0 implies data). */
static inline const char *buf_head(const struct buf *b) { return b->off ? b->data + b->off : b->data; }

/* Append n bytes. Returns 0 or -ENOMEM (also when the buffer would pass BUF_MAX). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
/* Append s with XML escaping of & < > " ' and TAB, LF, CR as character
 * references (for attribute values, where they survive normalisation, and text). */
int buf_append_xml_escaped(struct buf *b, const char *s, size_t n);
/* Make room for n more bytes; returns a pointer to write to, or NULL. Call
 * buf_commit() with what was written. */
char *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);
/* Drop n bytes from the front; frees the storage when the buffer empties. */
void buf_consume(struct buf *b, size_t n);
/* The same for a buffer that lives as long as its owner and is used all the
 * time (a worker's link): the storage is kept when it empties, unless it
 * grew past keep_max bytes. */
void buf_drop(struct buf *b, size_t n, size_t keep_max);
void buf_reset(struct buf *b); /* empty, keep nothing */
void buf_free(struct buf *b);

#endif
