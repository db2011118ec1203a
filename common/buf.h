/* buf.h — a growable byte buffer with an optional upper bound.
 *
 * Modelled on git's strbuf and curl's dynbuf: the buffer owns its bytes,
 * keeps them NUL-terminated, and refuses to grow past `max` (ERR_TOOBIG), so
 * anything sized by outside input can be collected into it safely.  max == 0
 * means unbounded (internal use only).
 */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *p;        /* owned; NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;     /* 0 = no bound */
};

#define BUF_INIT { NULL, 0, 0, 0 }

void buf_init(struct buf *b, size_t max);
/* Frees the bytes; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
/* Appends; ERR_TOOBIG past the bound (nothing appended), ERR_NOMEM. */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s with &<>"' escaped for HTML text and attributes. */
int buf_add_html(struct buf *b, const char *s, size_t n);
/* Appends code point cp as UTF-8; surrogates and values past U+10FFFF
 * become U+FFFD (NUL is kept: callers decide about it). */
int buf_add_utf8(struct buf *b, unsigned long cp);
/* Hands the bytes to the caller (free with xfree); the buffer is empty. */
char *buf_detach(struct buf *b, size_t *len);

#endif
