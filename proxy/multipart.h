/* multipart.h — streaming multipart/form-data parser (RFC 7578, RFC 2046
 * framing), for uploads of any size in bounded memory.
 *
 * The caller feeds the request body in pieces of any size; the parser calls
 * part_begin / part_data / part_end as parts go by.  It never buffers part
 * data: at most the delimiter's length ("\r\n--" + boundary) is held back
 * between feeds, and part headers are collected in one buffer bounded by
 * max_part_header_bytes.  It does no I/O and keeps no field values: the
 * caller collects the small fields it wants from part_data.
 *
 * Accepted: an optional preamble (at most MULTIPART_MAX_PREAMBLE bytes, then
 * ERR_TOOBIG) before the first delimiter, which may also start the body
 * without a CRLF; transport padding (SP/HT) after a delimiter; part headers
 * ending in CRLF, with a Content-Disposition of type form-data that has a
 * name parameter (quoted string with backslash escapes, or a token) and an
 * optional filename parameter, an optional Content-Type; other headers and
 * other parameters (filename* included) are ignored; anything after the
 * close delimiter is ignored.  Everything else (folded header lines, control
 * characters in headers, a repeated Content-Disposition / Content-Type / name
 * / filename, the delimiter followed by anything but "--", padding or CRLF)
 * is ERR_PARSE.
 */
#ifndef PROXY_MULTIPART_H
#define PROXY_MULTIPART_H

#include <stddef.h>

#define MULTIPART_BOUNDARY_MAX 70        /* RFC 2046 */
#define MULTIPART_MAX_PREAMBLE 16384     /* bytes skipped before the first delimiter */

struct multipart;

struct multipart_limits {
	size_t max_part_header_bytes;   /* one part's header lines incl. CRLFs and the empty line; over -> ERR_TOOBIG */
	unsigned max_parts;             /* over -> ERR_TOOBIG */
};

/* Callbacks; a non-zero return stops parsing and is returned by
 * multipart_feed (and again by every later call). */
struct multipart_cbs {
	/* name: the form field name (never NULL); filename: NULL when the part
	 * has no filename parameter; content_type: NULL if absent.  All
	 * NUL-terminated, borrowed: valid only during the call. */
	int (*part_begin)(void *arg, const char *name, const char *filename, const char *content_type);
	/* p borrows from the fed bytes (or the parser) for the call only; any
	 * chunking, n > 0; never includes the delimiter or the CRLF before it. */
	int (*part_data)(void *arg, const char *p, size_t n);
	int (*part_end)(void *arg);
};

/* Extracts the boundary parameter (quoted or not) from a Content-Type value
 * (content_type[0..len), need not be NUL-terminated); the type must be
 * multipart/form-data (case-insensitive).  Writes the boundary NUL-terminated
 * to out.  ERR_PARSE if the type differs, the parameter is missing, repeated
 * or not 1..70 boundary characters; ERR_INVAL if it does not fit in outcap
 * (MULTIPART_BOUNDARY_MAX + 1 always does). */
int multipart_boundary(const char *content_type, size_t len, char *out, size_t outcap);

/* A parser for a body with that boundary (NUL-terminated, copied);
 * ERR_INVAL if it is not 1..70 boundary characters.  *lim and *cbs are
 * copied; arg is passed to the callbacks.  Free with multipart_free. */
int multipart_new(const char *boundary, const struct multipart_limits *lim,
	const struct multipart_cbs *cbs, void *arg, struct multipart **out);

/* Feeds body bytes (any split; p is not kept).  Returns ERR_OK, ERR_PARSE
 * (malformed), ERR_TOOBIG (limits), or the first non-zero rc returned by a
 * callback; after an error parsing has stopped and every call returns it. */
int multipart_feed(struct multipart *m, const char *p, size_t n);

/* Call at the end of the body: ERR_OK only if the close delimiter was seen;
 * the error that stopped parsing, else ERR_PARSE (truncated upload).  No
 * callback runs from here (a part cut short gets no part_end). */
int multipart_finish(struct multipart *m);

/* NULL-tolerant. */
void multipart_free(struct multipart *m);

#endif
