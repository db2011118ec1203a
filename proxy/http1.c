/* http1.c — strict incremental HTTP/1.1 request parser (see http1.h).
 *
 * libevent's evhttp reads whole bodies into memory and accepts ambiguous
 * framing (DESIGN.md "The HTTP layer"), so requests are parsed here, with no
 * I/O, in two shapes:
 * - the head (request line and header lines) is copied line by line into one
 *   bounded buffer owned by the parser, so the request's strings stay valid
 *   while the body streams through later calls.  Each completed line is
 *   validated at once; no more bytes are copied than the limits allow, so an
 *   over-long line is refused before its end arrives, and errors are
 *   reported in the order their bytes arrive, so how the input is split never
 *   changes the outcome (the fuzz target checks this).  When the empty line
 *   arrives the buffer is walked once more to build req.headers (pointers are
 *   only taken then, as the buffer may move while it grows) and the framing
 *   headers are checked together.
 * - the body is never copied: Content-Length bodies are handed out as slices
 *   of the caller's input, chunked framing is decoded by a byte-level state
 *   machine that also validates and discards the trailers.
 * Every ambiguity (two lengths, length plus chunked, folded lines, stray CR)
 * is an error: a request smuggled past a front proxy starts with a parser
 * that guesses.
 */
#include "proxy/http1.h"

#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"

enum {
	S_REQLINE,          /* reading (empty lines then) the request line */
	S_HEADERS,          /* reading header lines */
	S_NOBODY,           /* headers reported; next call reports DONE */
	S_BODY,             /* Content-Length body, p->remaining left */
	S_CHUNK_SIZE,       /* hex digits of a chunk-size line */
	S_CHUNK_EXT_WS,     /* whitespace after the size, before ';' */
	S_CHUNK_EXT,        /* chunk extension, ignored up to CRLF */
	S_CHUNK_SIZE_LF,    /* CR seen at the end of the chunk-size line */
	S_CHUNK_DATA,       /* chunk data, p->remaining left */
	S_CHUNK_DATA_CR,    /* CRLF after chunk data */
	S_CHUNK_DATA_LF,
	S_TRAILER_START,    /* start of a trailer line or the final empty line */
	S_TRAILER_NAME,
	S_TRAILER_VALUE,
	S_TRAILER_LF,       /* CR seen at the end of a trailer line */
	S_TRAILER_END_LF,   /* CR seen on the final empty line */
	S_BODY_END,         /* body complete; next call reports DONE */
	S_DONE,
	S_ERROR,
};

#define HTTP1_MAX_EMPTY_LINES 4
#define HTTP1_MAX_CHUNK_EXT 4096      /* bytes of chunk extension per chunk line */
#define HTTP1_MAX_CHUNK_DIGITS 16     /* hex digits, leading zeros included */
#define HTTP1_MAX_CL_DIGITS 19

/* RFC 9110 tchar. */
static const unsigned char http1_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static bool is_tchar(char c)
{
	return http1_tchar[(unsigned char)c] != 0;
}

/* Field-value byte: HT, visible ASCII, SP, obs-text. */
static bool is_vchar(char c)
{
	unsigned char u = (unsigned char)c;
	return u == '\t' || (u >= 0x20 && u != 0x7f);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

/* (s, n) equals the NUL-terminated lower-case lit, ignoring ASCII case. */
static bool eq_ci(const char *s, size_t n, const char *lit)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (lit[i] == '\0' || lower(s[i]) != lit[i])
			return false;
	return lit[i] == '\0';
}

static enum http1_event http1_fail(struct http1_parser *p, int status, const char *msg)
{
	p->state = S_ERROR;
	p->error_status = status;
	p->error_msg = msg;
	return HTTP1_ERROR;
}

void http1_parser_init(struct http1_parser *p, const struct http1_limits *lim)
{
	memset(p, 0, sizeof *p);
	p->lim = *lim;
	buf_init(&p->head, lim->max_request_line + lim->max_header_bytes);
	http1_parser_reset(p);
}

void http1_parser_reset(struct http1_parser *p)
{
	struct http1_header *hdrs = p->req.headers;
	memset(&p->req, 0, sizeof p->req);
	p->req.headers = hdrs;
	p->req.content_length = -1;
	p->error_status = 0;
	p->error_msg = NULL;
	p->state = S_REQLINE;
	buf_reset(&p->head);
	p->line_start = 0;
	p->reqline_len = 0;
	p->hdr_bytes = 0;
	p->nlines = 0;
	p->empty_lines = 0;
	p->remaining = 0;
	p->body_total = 0;
	p->chunk_size = 0;
	p->chunk_digits = 0;
	p->ext_bytes = 0;
	p->trailer_bytes = 0;
	p->trailer_lines = 0;
}

void http1_parser_release(struct http1_parser *p)
{
	buf_release(&p->head);
	xfree(p->req.headers);
	p->req.headers = NULL;
	p->hdr_cap = 0;
	http1_parser_reset(p);
}

/* Splits a validated-or-not header line (without its line end) into name and
 * OWS-trimmed value.  Returns NULL when well-formed, else the reason. */
static const char *split_header(const char *l, size_t n, size_t *name_len, size_t *vstart, size_t *vlen)
{
	size_t i = 0;
	if (n > 0 && is_ows(l[0]))
		return "obsolete line folding in header";
	while (i < n && is_tchar(l[i]))
		i++;
	if (i == n)
		return "header line without colon";
	if (l[i] != ':')
		return is_ows(l[i]) && i > 0 ? "whitespace before colon in header" : "invalid header name";
	if (i == 0)
		return "empty header name";
	*name_len = i;
	i++;
	while (i < n && is_ows(l[i]))
		i++;
	size_t end = n;
	while (end > i && is_ows(l[end - 1]))
		end--;
	for (size_t j = i; j < end; j++)
		if (!is_vchar(l[j]))
			return "invalid character in header value";
	*vstart = i;
	*vlen = end - i;
	return NULL;
}

/* Validates the request line l[0..n) (line end stripped); on success fills
 * the offsets into req through the head buffer later (parse_finish). */
static enum http1_event parse_request_line(struct http1_parser *p, const char *l, size_t n)
{
	size_t i = 0;
	while (i < n && is_tchar(l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ' ')
		return http1_fail(p, 400, "malformed request line");
	size_t mlen = i;
	size_t t = ++i;
	while (i < n && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f)
		i++;
	if (i == n || i == t)
		return http1_fail(p, 400, "malformed request line");
	if (l[i] != ' ')
		return http1_fail(p, 400, "invalid character in request target");
	size_t tlen = i - t;
	const char *v = l + i + 1;
	size_t vlen = n - i - 1;
	if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return http1_fail(p, 400, "malformed http version");
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return http1_fail(p, 505, "http version not supported");
	if (l[t] == '*') {
		if (tlen != 1 || mlen != 7 || memcmp(l, "OPTIONS", 7) != 0)
			return http1_fail(p, 400, "malformed request target");
	} else if (l[t] != '/') {
		return http1_fail(p, 400, "request target must be a path");
	}
	p->req.method_len = mlen;
	p->req.target_len = tlen;
	p->req.minor = v[7] - '0';
	return HTTP1_NEED_MORE;
}

/* One Content-Length header value: a comma list of equal digit strings. */
static bool parse_content_length(const char *v, size_t n, bool *have, uint64_t *cl)
{
	size_t i = 0;
	for (;;) {
		while (i < n && is_ows(v[i]))
			i++;
		size_t d = i;
		uint64_t x = 0;
		while (i < n && v[i] >= '0' && v[i] <= '9') {
			if (i - d == HTTP1_MAX_CL_DIGITS)
				return false;
			x = x * 10 + (uint64_t)(v[i] - '0');
			i++;
		}
		if (i == d)
			return false;
		if (*have && x != *cl)
			return false;
		*have = true;
		*cl = x;
		while (i < n && is_ows(v[i]))
			i++;
		if (i == n)
			return true;
		if (v[i] != ',')
			return false;
		i++;
	}
}

/* Connection header value: comma list of tokens. */
static void parse_connection(const char *v, size_t n, bool *close, bool *keep)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (is_ows(v[i]) || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && !is_ows(v[i]) && v[i] != ',')
			i++;
		if (eq_ci(v + s, i - s, "close"))
			*close = true;
		else if (eq_ci(v + s, i - s, "keep-alive"))
			*keep = true;
	}
}

/* The empty line arrived: build req from the head buffer, check framing. */
static enum http1_event parse_finish(struct http1_parser *p)
{
	struct http1_request *r = &p->req;
	char *h = p->head.p;

	if (p->nlines > p->hdr_cap) {
		xfree(r->headers);
		r->headers = xcalloc(p->nlines, sizeof *r->headers);
		p->hdr_cap = p->nlines;
	}
	/* request line: "METHOD SP target SP ..." -> NUL-terminate both */
	r->method = h;
	h[r->method_len] = '\0';
	r->target = h + r->method_len + 1;
	h[r->method_len + 1 + r->target_len] = '\0';

	size_t off = p->reqline_len;
	unsigned nh = 0;
	unsigned nhost = 0, nte = 0;
	bool have_cl = false, cl_bad = false, te_chunked = false, conn_close = false, conn_keep = false;
	uint64_t cl = 0;
	while (nh < p->nlines) {
		char *l = h + off;
		char *lf = memchr(l, '\n', p->head.len - off);
		size_t n = (size_t)(lf - l);
		off += n + 1;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		size_t nlen = 0, vs = 0, vlen = 0;
		if (split_header(l, n, &nlen, &vs, &vlen))
			return http1_fail(p, 400, "malformed header"); /* validated already */
		struct http1_header *hd = &r->headers[nh++];
		hd->name = l;
		hd->name_len = nlen;
		hd->value = l + vs;
		hd->value_len = vlen;
		l[nlen] = '\0';        /* the colon */
		l[vs + vlen] = '\0';   /* OWS, CR or LF */

		if (eq_ci(l, nlen, "host")) {
			nhost++;
		} else if (eq_ci(l, nlen, "content-length")) {
			if (!parse_content_length(hd->value, vlen, &have_cl, &cl))
				cl_bad = true;
		} else if (eq_ci(l, nlen, "transfer-encoding")) {
			nte++;
			te_chunked = eq_ci(hd->value, vlen, "chunked");
		} else if (eq_ci(l, nlen, "connection")) {
			parse_connection(hd->value, vlen, &conn_close, &conn_keep);
		} else if (eq_ci(l, nlen, "expect")) {
			if (eq_ci(hd->value, vlen, "100-continue") && r->minor == 1)
				r->expect_continue = true;
		}
	}
	r->nheaders = nh;
	r->keep_alive = r->minor == 1 ? !conn_close : (conn_keep && !conn_close);

	if (nhost > 1)
		return http1_fail(p, 400, "more than one host header");
	if (nhost == 0 && r->minor == 1)
		return http1_fail(p, 400, "missing host header");
	if (cl_bad)
		return http1_fail(p, 400, "invalid content-length");
	if (nte > 0) {
		if (have_cl)
			return http1_fail(p, 400, "both content-length and transfer-encoding");
		if (r->minor == 0)
			return http1_fail(p, 400, "transfer-encoding in http/1.0 request");
		if (nte > 1 || !te_chunked)
			return http1_fail(p, 501, "unsupported transfer-encoding");
		r->chunked = true;
		p->state = S_CHUNK_SIZE;
		return HTTP1_HEADERS;
	}
	if (have_cl) {
		if (cl > p->lim.max_body || cl > (uint64_t)INT64_MAX)
			return http1_fail(p, 413, "request body too large");
		r->content_length = (int64_t)cl;
		p->remaining = cl;
	}
	p->state = p->remaining > 0 ? S_BODY : S_NOBODY;
	return HTTP1_HEADERS;
}

/* Request line and header lines. */
static enum http1_event parse_head(struct http1_parser *p, const char *in, size_t len, size_t *pos)
{
	while (*pos < len) {
		/* The line may grow to `room` more bytes, the last of which must be
		 * its LF.  Errors are reported in the order their bytes arrive (a
		 * bare CR before the byte that passes the limit wins), so any split
		 * of the input gives the same result. */
		size_t cur = p->head.len - p->line_start;
		size_t limit = p->state == S_REQLINE ? p->lim.max_request_line : p->lim.max_header_bytes - p->hdr_bytes;
		size_t room = limit > cur ? limit - cur : 0;
		const char *s = in + *pos;
		size_t scanlen = len - *pos < room ? len - *pos : room;
		const char *lf = memchr(s, '\n', scanlen);
		size_t take = lf ? (size_t)(lf - s) + 1 : scanlen;
		size_t old = p->head.len;
		if (buf_add(&p->head, s, take) != ERR_OK)
			return http1_fail(p, 503, "out of memory");
		*pos += take;

		/* a CR anywhere but right before the LF */
		char *l = p->head.p + p->line_start;
		size_t scan = old > p->line_start ? old - 1 : p->line_start;
		char *end = p->head.p + p->head.len - 1;
		for (char *c = p->head.p + scan; c < end && (c = memchr(c, '\r', (size_t)(end - c))); c++)
			if (c[1] != '\n')
				return http1_fail(p, 400, "bare cr in request head");
		if (!lf && p->head.len - p->line_start >= limit) {
			if (p->state == S_REQLINE)
				return http1_fail(p, 414, "request line too long");
			return http1_fail(p, 431, "request headers too large");
		}
		if (!lf)
			break;

		size_t linelen = p->head.len - p->line_start;
		size_t n = linelen - 1;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (p->state == S_REQLINE) {
			if (n == 0) {
				if (++p->empty_lines > HTTP1_MAX_EMPTY_LINES)
					return http1_fail(p, 400, "too many empty lines before request");
				buf_reset(&p->head);
				continue;
			}
			if (parse_request_line(p, l, n) == HTTP1_ERROR)
				return HTTP1_ERROR;
			p->reqline_len = linelen;
			p->state = S_HEADERS;
		} else {
			p->hdr_bytes += linelen;
			if (n == 0)
				return parse_finish(p);
			size_t nlen, vs, vlen;
			const char *why = split_header(l, n, &nlen, &vs, &vlen);
			if (why)
				return http1_fail(p, 400, why);
			if (++p->nlines > p->lim.max_headers)
				return http1_fail(p, 431, "too many request headers");
		}
		p->line_start = p->head.len;
	}
	return HTTP1_NEED_MORE;
}

/* End of a chunk-size line. */
static enum http1_event chunk_size_done(struct http1_parser *p)
{
	if (p->chunk_size == 0) {
		p->state = S_TRAILER_START;
		return HTTP1_NEED_MORE;
	}
	if (p->chunk_size > p->lim.max_body - p->body_total)
		return http1_fail(p, 413, "request body too large");
	p->body_total += p->chunk_size;
	p->remaining = p->chunk_size;
	p->state = S_CHUNK_DATA;
	return HTTP1_NEED_MORE;
}

/* Chunked framing outside chunk data, one byte at a time. */
static enum http1_event parse_chunk_byte(struct http1_parser *p, char c)
{
	switch (p->state) {
	case S_CHUNK_SIZE: {
		int v = hex_digit(c);
		if (v >= 0) {
			if (++p->chunk_digits > HTTP1_MAX_CHUNK_DIGITS || p->chunk_size > (UINT64_MAX >> 4))
				return http1_fail(p, 400, "chunk size too large");
			p->chunk_size = (p->chunk_size << 4) | (uint64_t)v;
			return HTTP1_NEED_MORE;
		}
		if (p->chunk_digits == 0)
			return http1_fail(p, 400, "invalid chunk size");
		if (c == ';') {
			p->state = S_CHUNK_EXT;
		} else if (is_ows(c)) {
			p->state = S_CHUNK_EXT_WS;
		} else if (c == '\r') {
			p->state = S_CHUNK_SIZE_LF;
		} else if (c == '\n') {
			return chunk_size_done(p);
		} else {
			return http1_fail(p, 400, "invalid chunk size");
		}
		return HTTP1_NEED_MORE;
	}
	case S_CHUNK_EXT_WS:
		if (++p->ext_bytes > HTTP1_MAX_CHUNK_EXT)
			return http1_fail(p, 400, "chunk extension too long");
		if (c == ';')
			p->state = S_CHUNK_EXT;
		else if (!is_ows(c))
			return http1_fail(p, 400, "invalid chunk size");
		return HTTP1_NEED_MORE;
	case S_CHUNK_EXT:
		if (c == '\r') {
			p->state = S_CHUNK_SIZE_LF;
			return HTTP1_NEED_MORE;
		}
		if (c == '\n')
			return chunk_size_done(p);
		if (!is_vchar(c))
			return http1_fail(p, 400, "invalid character in chunk extension");
		if (++p->ext_bytes > HTTP1_MAX_CHUNK_EXT)
			return http1_fail(p, 400, "chunk extension too long");
		return HTTP1_NEED_MORE;
	case S_CHUNK_SIZE_LF:
		if (c != '\n')
			return http1_fail(p, 400, "bare cr in chunk size line");
		return chunk_size_done(p);
	case S_CHUNK_DATA_CR:
	case S_CHUNK_DATA_LF:
		if (c == '\r' && p->state == S_CHUNK_DATA_CR) {
			p->state = S_CHUNK_DATA_LF;
			return HTTP1_NEED_MORE;
		}
		if (c != '\n')   /* CRLF or a bare LF */
			return http1_fail(p, 400, "missing crlf after chunk data");
		p->state = S_CHUNK_SIZE;
		p->chunk_size = 0;
		p->chunk_digits = 0;
		p->ext_bytes = 0;
		return HTTP1_NEED_MORE;
	default:
		break;
	}

	/* trailer section, bounded like the header section */
	if (++p->trailer_bytes > p->lim.max_header_bytes)
		return http1_fail(p, 431, "request trailers too large");
	switch (p->state) {
	case S_TRAILER_START:
		if (c == '\r') {
			p->state = S_TRAILER_END_LF;
		} else if (c == '\n') {
			p->state = S_BODY_END;
			return HTTP1_DONE;
		} else if (is_ows(c)) {
			return http1_fail(p, 400, "obsolete line folding in trailer");
		} else if (is_tchar(c)) {
			if (++p->trailer_lines > p->lim.max_headers)
				return http1_fail(p, 431, "too many request trailers");
			p->state = S_TRAILER_NAME;
		} else {
			return http1_fail(p, 400, "invalid trailer name");
		}
		return HTTP1_NEED_MORE;
	case S_TRAILER_NAME:
		if (c == ':')
			p->state = S_TRAILER_VALUE;
		else if (!is_tchar(c))
			return http1_fail(p, 400, "invalid trailer name");
		return HTTP1_NEED_MORE;
	case S_TRAILER_VALUE:
		if (c == '\r')
			p->state = S_TRAILER_LF;
		else if (c == '\n')
			p->state = S_TRAILER_START;
		else if (!is_vchar(c))
			return http1_fail(p, 400, "invalid character in trailer");
		return HTTP1_NEED_MORE;
	case S_TRAILER_LF:
		if (c != '\n')
			return http1_fail(p, 400, "bare cr in trailer");
		p->state = S_TRAILER_START;
		return HTTP1_NEED_MORE;
	case S_TRAILER_END_LF:
		if (c != '\n')
			return http1_fail(p, 400, "bare cr in trailer");
		p->state = S_BODY_END;
		return HTTP1_DONE;
	default:
		return http1_fail(p, 400, "internal parser state");
	}
}

enum http1_event http1_parse(struct http1_parser *p, const char *in, size_t len,
	size_t *consumed, const char **body, size_t *body_len)
{
	size_t pos = 0;
	enum http1_event ev = HTTP1_NEED_MORE;
	const char *b = NULL;
	size_t blen = 0;

	switch (p->state) {
	case S_ERROR:
		ev = HTTP1_ERROR;
		break;
	case S_DONE:
		ev = HTTP1_DONE;
		break;
	case S_NOBODY:
	case S_BODY_END:
		p->state = S_DONE;
		ev = HTTP1_DONE;
		break;
	case S_REQLINE:
	case S_HEADERS:
		ev = parse_head(p, in, len, &pos);
		break;
	case S_BODY:
		if (len == 0)
			break;
		b = in;
		blen = (uint64_t)len < p->remaining ? len : (size_t)p->remaining;
		pos = blen;
		p->remaining -= blen;
		if (p->remaining == 0)
			p->state = S_BODY_END;
		ev = HTTP1_BODY;
		break;
	default:
		while (pos < len) {
			if (p->state == S_CHUNK_DATA) {
				b = in + pos;
				blen = (uint64_t)(len - pos) < p->remaining ? len - pos : (size_t)p->remaining;
				pos += blen;
				p->remaining -= blen;
				if (p->remaining == 0)
					p->state = S_CHUNK_DATA_CR;
				ev = HTTP1_BODY;
				break;
			}
			ev = parse_chunk_byte(p, in[pos++]);
			if (ev != HTTP1_NEED_MORE)
				break;
		}
		if (ev == HTTP1_DONE)
			p->state = S_DONE;
		break;
	}
	*consumed = pos;
	if (body)
		*body = b;
	if (body_len)
		*body_len = blen;
	return ev;
}

const char *http1_header(const struct http1_request *r, const char *name, size_t *len)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < r->nheaders; i++) {
		const struct http1_header *h = &r->headers[i];
		if (h->name_len != n)
			continue;
		size_t j = 0;
		while (j < n && lower(h->name[j]) == lower(name[j]))
			j++;
		if (j == n) {
			if (len)
				*len = h->value_len;
			return h->value;
		}
	}
	return NULL;
}

const char *http1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 451: return "Unavailable For Legal Reasons";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
