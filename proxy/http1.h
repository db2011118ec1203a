/* http1.h — a strict, incremental HTTP/1.1 request parser (bytes in, events
 * out, no I/O).
 *
 * The connection layer feeds whatever bytes it has read; the parser consumes
 * a prefix and reports at most one event per call:
 *
 *     size_t off = 0;
 *     for (;;) {
 *         size_t used; const char *b; size_t blen;
 *         enum http1_event ev = http1_parse(&p, in + off, len - off, &used, &b, &blen);
 *         off += used;
 *         switch (ev) {
 *         case HTTP1_NEED_MORE: read more, call again with the new bytes
 *         case HTTP1_HEADERS:   p.req is complete; route it
 *         case HTTP1_BODY:      (b, blen) is the next piece of the body
 *         case HTTP1_DONE:      answer; http1_parser_reset(&p); the rest of
 *                               the input (in + off) is the next request
 *         case HTTP1_ERROR:     answer p.error_status, then close
 *         }
 *     }
 *
 * After HTTP1_HEADERS, call again even with no input left: a request without
 * a body then reports HTTP1_DONE (consuming nothing).  A Content-Length body
 * reports its last HTTP1_BODY and then HTTP1_DONE on the next call; a chunked
 * body reports HTTP1_DONE as soon as its last trailer line is consumed.
 * HTTP1_DONE and HTTP1_ERROR are sticky (consume nothing) until
 * http1_parser_reset().
 *
 * What is accepted (everything else is an error, never a guess):
 * - request line: METHOD SP target SP HTTP/1.x CRLF, exactly one SP between
 *   the parts; the method is any token; the target is origin-form ("/...")
 *   or "*" for OPTIONS, printable ASCII only (400 otherwise); HTTP/1.0 and
 *   HTTP/1.1 only (other HTTP/x.y: 505).  Up to 4 empty lines before the
 *   request line are skipped.  Lines end in CRLF or a bare LF; a bare CR
 *   anywhere is 400.
 * - header lines: token ":" OWS value OWS; whitespace before the colon,
 *   obs-fold and control characters (other than HT) in values are 400.
 * - framing: Content-Length (digits only, at most 19; repeated or listed
 *   values must all be equal) or Transfer-Encoding: chunked (any other coding
 *   is 501), never both (400), no Transfer-Encoding on HTTP/1.0 (400).  A
 *   request with neither has no body.
 * - Host: exactly one on HTTP/1.1, at most one on HTTP/1.0 (400).
 * - limits (struct http1_limits): 414, 431 and 413 as soon as the excess is
 *   known: before the line's end, before any body byte for Content-Length.
 */
#ifndef PROXY_HTTP1_H
#define PROXY_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct http1_limits {
	size_t max_request_line;   /* bytes incl. CRLF; over -> 414 */
	size_t max_header_bytes;   /* all header lines incl. their CRLFs and the final empty line; over -> 431 (also bounds chunked trailers) */
	unsigned max_headers;      /* header lines; over -> 431 (also bounds trailer lines) */
	uint64_t max_body;         /* Content-Length or chunked total; over -> 413 */
};

/* (ptr, len) pairs into the parser's copy of the head; each string is also
 * NUL-terminated there. */
struct http1_header {
	const char *name;
	size_t name_len;
	const char *value;          /* OWS-trimmed */
	size_t value_len;
};

struct http1_request {
	const char *method; size_t method_len;      /* any RFC 9110 token */
	const char *target; size_t target_len;      /* origin-form ("/..."), or "*" for OPTIONS */
	int minor;                                  /* 0 or 1 (HTTP/1.0 or HTTP/1.1) */
	struct http1_header *headers; unsigned nheaders;
	int64_t content_length;                     /* -1 when absent */
	bool chunked;                               /* Transfer-Encoding: chunked */
	bool keep_alive;                            /* 1.1: unless Connection: close; 1.0: only with Connection: keep-alive */
	bool expect_continue;                       /* Expect: 100-continue (HTTP/1.1 only) */
};

enum http1_event {
	HTTP1_NEED_MORE,   /* all input consumed, no event */
	HTTP1_HEADERS,     /* request line + headers complete: p->req valid until http1_parser_reset/release */
	HTTP1_BODY,        /* *body, *body_len point into the caller's input (valid as long as that input) */
	HTTP1_DONE,        /* message complete (body fully read, incl. chunked trailers); call http1_parser_reset for the next one */
	HTTP1_ERROR,       /* p->error_status and p->error_msg set; the connection must close */
};

/* Everything below req/error_* is private to http1.c. */
struct http1_parser {
	struct http1_request req;
	int error_status;            /* 400, 413, 414, 431, 501, 505 (503 if out of memory) */
	const char *error_msg;       /* static string, lower case */

	struct http1_limits lim;
	int state;
	struct buf head;             /* owned copy of the request line and header lines */
	size_t line_start;           /* offset in head of the line being read */
	size_t reqline_len;          /* bytes of the request line in head */
	size_t hdr_bytes;            /* header bytes of completed lines */
	unsigned nlines;             /* header lines so far */
	unsigned empty_lines;        /* skipped before the request line */
	unsigned hdr_cap;            /* capacity of req.headers */
	uint64_t remaining;          /* body bytes left (Content-Length or current chunk) */
	uint64_t body_total;         /* chunked: sum of chunk sizes */
	uint64_t chunk_size;
	unsigned chunk_digits;
	size_t ext_bytes;            /* chunk extension bytes of this chunk line */
	size_t trailer_bytes;
	unsigned trailer_lines;
};

/* Prepares p (zeroed state, no memory yet); *lim is copied. */
void http1_parser_init(struct http1_parser *p, const struct http1_limits *lim);
/* Ready for the next request on the connection: forgets req (its pointers
 * become invalid) and any error, keeps the buffers. */
void http1_parser_reset(struct http1_parser *p);
/* Frees the buffers; p may be init'ed again. */
void http1_parser_release(struct http1_parser *p);

/* Consumes a prefix of in[0..len) (*consumed bytes) and reports at most one
 * event; call again with the rest (in + *consumed).  in may be NULL when len
 * is 0.  On HTTP1_BODY, *body and *body_len borrow from in; otherwise they are
 * NULL/0.  body and body_len may be NULL if the caller ignores them (then it
 * must not expect bodies).  Nothing in `in` is kept past the call. */
enum http1_event http1_parse(struct http1_parser *p, const char *in, size_t len,
	size_t *consumed, const char **body, size_t *body_len);

/* Case-insensitive lookup of the first header called name (NUL-terminated);
 * NULL if absent.  The value borrows from r (valid like r itself); *len gets
 * its length if len is not NULL. */
const char *http1_header(const struct http1_request *r, const char *name, size_t *len);

/* Static reason phrase for a status code ("OK", "Not Found", ...), "Unknown"
 * for codes it does not know. */
const char *http1_reason(int status);

#endif
