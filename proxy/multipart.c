/* multipart.c — streaming multipart/form-data parser (see multipart.h).
 *
 * Uploads are wheels and sdists of any size, so part data is never buffered:
 * it is passed to the caller as it arrives, except for the bytes that might
 * be the start of the delimiter "\r\n--boundary".  Those held-back bytes are
 * always a prefix of the delimiter itself (a boundary cannot contain CR, so
 * after a mismatch no later start of a match can lie inside them), so the
 * parser only remembers how many delimiter bytes it has matched and, on a
 * mismatch, hands out that prefix from its own copy of the delimiter.  The
 * body is treated as if it started with "\r\n", so a first delimiter at
 * offset 0 matches like every other one, and the preamble is just data that
 * is dropped.  Part headers are the only bytes collected, in one buffer of
 * max_part_header_bytes allocated up front.
 */
#include "proxy/multipart.h"

#include <stdbool.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum {
	M_PREAMBLE,      /* before the first delimiter (discarded) */
	M_AFTER_DELIM,   /* first byte after a delimiter */
	M_CLOSE_DASH,    /* "-" seen after a delimiter */
	M_PADDING,       /* transport padding (SP/HT) after a delimiter */
	M_DELIM_LF,      /* CR seen after a delimiter */
	M_HEADERS,       /* collecting part header lines */
	M_DATA,          /* part data */
	M_EPILOGUE,      /* close delimiter seen; everything else is ignored */
	M_ERROR,
};

struct multipart {
	struct multipart_limits lim;
	struct multipart_cbs cbs;
	void *arg;
	char delim[4 + MULTIPART_BOUNDARY_MAX + 1];   /* "\r\n--" boundary */
	size_t dlen;
	int state;
	size_t match;          /* delimiter bytes matched (held back) */
	size_t preamble;       /* preamble bytes skipped */
	unsigned nparts;
	char *hbuf;            /* part headers; lim.max_part_header_bytes */
	size_t hlen;
	size_t line_start;     /* offset in hbuf of the line being read */
	char *scratch;         /* decoded name / filename / content type */
	int rc;                /* sticky error */
};

static bool is_tchar(char c)
{
	unsigned char u = (unsigned char)c;
	if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z'))
		return true;
	return u != 0 && strchr("!#$%&'*+-.^_`|~", u) != NULL;
}

/* RFC 2046 bchars (space allowed, but not last; checked by the caller). */
static bool is_bchar(char c)
{
	unsigned char u = (unsigned char)c;
	if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z'))
		return true;
	return u != 0 && strchr("'()+_,-./:=? ", u) != NULL;
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

static bool boundary_valid(const char *b, size_t n)
{
	if (n < 1 || n > MULTIPART_BOUNDARY_MAX || b[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_bchar(b[i]))
			return false;
	return true;
}

/* One "; name=value" parameter of a header value, starting at *i (which
 * points after the previous item).  Returns 1 with the parameter's raw parts
 * (the value still quoted if *quoted), 0 at the end of the value, -1 when
 * malformed. */
static int param_next(const char *v, size_t n, size_t *i, const char **pn, size_t *pnlen,
	const char **pv, size_t *pvlen, bool *quoted)
{
	size_t k = *i;
	while (k < n && is_ows(v[k]))
		k++;
	if (k == n)
		return 0;
	if (v[k] != ';')
		return -1;
	k++;
	while (k < n && is_ows(v[k]))
		k++;
	size_t s = k;
	while (k < n && is_tchar(v[k]))
		k++;
	if (k == s)
		return -1;
	*pn = v + s;
	*pnlen = k - s;
	while (k < n && is_ows(v[k]))
		k++;
	if (k == n || v[k] != '=')
		return -1;
	k++;
	while (k < n && is_ows(v[k]))
		k++;
	s = k;
	if (k < n && v[k] == '"') {
		k++;
		for (;;) {
			if (k == n)
				return -1;
			if (v[k] == '"')
				break;
			if (v[k] == '\\' && ++k == n)
				return -1;
			k++;
		}
		k++;
		*quoted = true;
	} else {
		while (k < n && is_tchar(v[k]))
			k++;
		if (k == s)
			return -1;
		*quoted = false;
	}
	*pv = v + s;
	*pvlen = k - s;
	*i = k;
	return 1;
}

/* Decodes a raw parameter value (from param_next) into out, NUL-terminated;
 * returns its length, or (size_t)-1 if it does not fit in cap bytes. */
static size_t param_decode(const char *v, size_t n, bool quoted, char *out, size_t cap)
{
	size_t o = 0;
	if (quoted) {
		v++;
		n -= 2;
	}
	for (size_t k = 0; k < n; k++) {
		if (quoted && v[k] == '\\')
			k++;
		if (o + 1 >= cap)
			return (size_t)-1;
		out[o++] = v[k];
	}
	if (o >= cap)
		return (size_t)-1;
	out[o] = '\0';
	return o;
}

int multipart_boundary(const char *content_type, size_t len, char *out, size_t outcap)
{
	const char *v = content_type;
	size_t i = 0;
	while (i < len && is_ows(v[i]))
		i++;
	size_t s = i;
	while (i < len && (is_tchar(v[i]) || v[i] == '/'))
		i++;
	if (!eq_ci(v + s, i - s, "multipart/form-data"))
		return ERR_PARSE;
	char b[MULTIPART_BOUNDARY_MAX + 2];
	size_t blen = 0;
	bool have = false;
	const char *pn, *pv;
	size_t pnlen, pvlen;
	bool quoted;
	int r;
	while ((r = param_next(v, len, &i, &pn, &pnlen, &pv, &pvlen, &quoted)) == 1) {
		if (!eq_ci(pn, pnlen, "boundary"))
			continue;
		if (have)
			return ERR_PARSE;
		have = true;
		blen = param_decode(pv, pvlen, quoted, b, sizeof b);
		if (blen == (size_t)-1 || !boundary_valid(b, blen))
			return ERR_PARSE;
	}
	if (r < 0 || !have)
		return ERR_PARSE;
	if (blen + 1 > outcap)
		return ERR_INVAL;
	memcpy(out, b, blen + 1);
	return ERR_OK;
}

int multipart_new(const char *boundary, const struct multipart_limits *lim,
	const struct multipart_cbs *cbs, void *arg, struct multipart **out)
{
	size_t blen = strlen(boundary);
	*out = NULL;
	if (!boundary_valid(boundary, blen) || lim->max_part_header_bytes == 0)
		return ERR_INVAL;
	struct multipart *m = xcalloc(1, sizeof *m);
	m->lim = *lim;
	m->cbs = *cbs;
	m->arg = arg;
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, boundary, blen);
	m->dlen = 4 + blen;
	m->state = M_PREAMBLE;
	m->match = 2;   /* the body counts as starting with CRLF */
	m->hbuf = xmalloc(lim->max_part_header_bytes + 1);
	m->scratch = xmalloc(lim->max_part_header_bytes + 3);
	*out = m;
	return ERR_OK;
}

void multipart_free(struct multipart *m)
{
	if (!m)
		return;
	xfree(m->hbuf);
	xfree(m->scratch);
	xfree(m);
}

static int mp_fail(struct multipart *m, int rc)
{
	m->state = M_ERROR;
	m->rc = rc;
	return rc;
}

/* Part data or preamble bytes that are certainly not delimiter. */
static int mp_emit(struct multipart *m, const char *p, size_t n)
{
	if (n == 0)
		return ERR_OK;
	if (m->state == M_PREAMBLE) {
		/* + 2: the CRLF the body is taken to start with */
		if (n > MULTIPART_MAX_PREAMBLE + 2 - m->preamble)
			return mp_fail(m, ERR_TOOBIG);
		m->preamble += n;
		return ERR_OK;
	}
	int rc = m->cbs.part_data ? m->cbs.part_data(m->arg, p, n) : 0;
	return rc ? mp_fail(m, rc) : ERR_OK;
}

/* The header block hbuf[0..hlen) is complete (it ends with the empty line):
 * find Content-Disposition and Content-Type, start the part. */
static int mp_headers_done(struct multipart *m)
{
	const char *name = NULL, *filename = NULL, *ctype = NULL;
	bool have_cd = false;
	size_t cap = m->lim.max_part_header_bytes + 3, used = 0;
	size_t off = 0;
	while (off + 2 < m->hlen) {
		const char *l = m->hbuf + off;
		const char *lf = memchr(l, '\n', m->hlen - off);
		size_t n = (size_t)(lf - l) - 1;   /* without CRLF (checked on arrival) */
		off += n + 2;
		if (is_ows(l[0]))
			return mp_fail(m, ERR_PARSE);   /* obs-fold */
		size_t k = 0;
		while (k < n && is_tchar(l[k]))
			k++;
		if (k == 0 || k == n || l[k] != ':')
			return mp_fail(m, ERR_PARSE);
		size_t nlen = k++;
		while (k < n && is_ows(l[k]))
			k++;
		size_t end = n;
		while (end > k && is_ows(l[end - 1]))
			end--;
		for (size_t j = k; j < end; j++) {
			unsigned char c = (unsigned char)l[j];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return mp_fail(m, ERR_PARSE);
		}
		const char *v = l + k;
		size_t vlen = end - k;
		if (eq_ci(l, nlen, "content-type")) {
			if (ctype || vlen + 1 > cap - used)
				return mp_fail(m, ERR_PARSE);
			memcpy(m->scratch + used, v, vlen);
			m->scratch[used + vlen] = '\0';
			ctype = m->scratch + used;
			used += vlen + 1;
		} else if (eq_ci(l, nlen, "content-disposition")) {
			if (have_cd)
				return mp_fail(m, ERR_PARSE);
			have_cd = true;
			size_t i = 0;
			while (i < vlen && is_tchar(v[i]))
				i++;
			if (!eq_ci(v, i, "form-data"))
				return mp_fail(m, ERR_PARSE);
			const char *pn, *pv;
			size_t pnlen, pvlen;
			bool quoted;
			int r;
			while ((r = param_next(v, vlen, &i, &pn, &pnlen, &pv, &pvlen, &quoted)) == 1) {
				const char **dst;
				if (eq_ci(pn, pnlen, "name"))
					dst = &name;
				else if (eq_ci(pn, pnlen, "filename"))
					dst = &filename;
				else
					continue;
				if (*dst)
					return mp_fail(m, ERR_PARSE);
				size_t dlen = param_decode(pv, pvlen, quoted, m->scratch + used, cap - used);
				if (dlen == (size_t)-1)
					return mp_fail(m, ERR_PARSE);
				*dst = m->scratch + used;
				used += dlen + 1;
			}
			if (r < 0)
				return mp_fail(m, ERR_PARSE);
		}
	}
	if (!name)
		return mp_fail(m, ERR_PARSE);
	if (++m->nparts > m->lim.max_parts)
		return mp_fail(m, ERR_TOOBIG);
	int rc = m->cbs.part_begin ? m->cbs.part_begin(m->arg, name, filename, ctype) : 0;
	if (rc)
		return mp_fail(m, rc);
	m->state = M_DATA;
	m->match = 0;
	return ERR_OK;
}

/* Collects header bytes from p[0..n); returns bytes used, sets *rc. */
static size_t mp_headers(struct multipart *m, const char *p, size_t n, int *rc)
{
	size_t pos = 0;
	*rc = ERR_OK;
	while (pos < n) {
		/* take at most what still fits; errors come in byte order (a bare CR
		 * before the byte that passes the bound wins), whatever the split */
		size_t room = m->lim.max_part_header_bytes - m->hlen;
		size_t scanlen = n - pos < room ? n - pos : room;
		const char *lf = memchr(p + pos, '\n', scanlen);
		size_t take = lf ? (size_t)(lf - (p + pos)) + 1 : scanlen;
		memcpy(m->hbuf + m->hlen, p + pos, take);
		size_t old = m->hlen;
		m->hlen += take;
		pos += take;
		/* a CR anywhere but right before the LF */
		const char *c = m->hbuf + (old > m->line_start ? old - 1 : m->line_start);
		const char *end = m->hbuf + m->hlen - 1;
		for (; c < end && (c = memchr(c, '\r', (size_t)(end - c))); c++)
			if (c[1] != '\n') {
				*rc = mp_fail(m, ERR_PARSE);
				return pos;
			}
		if (!lf && m->hlen == m->lim.max_part_header_bytes) {
			*rc = mp_fail(m, ERR_TOOBIG);
			return pos;
		}
		if (!lf)
			break;
		size_t linelen = m->hlen - m->line_start;
		if (linelen < 2 || m->hbuf[m->hlen - 2] != '\r') {
			*rc = mp_fail(m, ERR_PARSE);   /* bare LF */
			return pos;
		}
		if (linelen == 2) {
			*rc = mp_headers_done(m);
			return pos;
		}
		m->line_start = m->hlen;
	}
	return pos;
}

/* Preamble or part data: look for the delimiter; returns bytes used. */
static size_t mp_data(struct multipart *m, const char *p, size_t n, int *rc)
{
	size_t pos = 0;
	*rc = ERR_OK;
	while (pos < n) {
		if (m->match == 0) {
			const char *cr = memchr(p + pos, '\r', n - pos);
			size_t upto = cr ? (size_t)(cr - p) : n;
			if ((*rc = mp_emit(m, p + pos, upto - pos)) != ERR_OK)
				return upto;
			pos = upto;
			if (!cr)
				break;
			m->match = 1;
			pos++;
			continue;
		}
		if (p[pos] == m->delim[m->match]) {
			pos++;
			if (++m->match < m->dlen)
				continue;
			m->match = 0;
			if (m->state == M_DATA && m->cbs.part_end) {
				int r = m->cbs.part_end(m->arg);
				if (r) {
					*rc = mp_fail(m, r);
					return pos;
				}
			}
			m->state = M_AFTER_DELIM;
			return pos;
		}
		/* mismatch: the held-back bytes were data; p[pos] is looked at again */
		size_t held = m->match;
		m->match = 0;
		if ((*rc = mp_emit(m, m->delim, held)) != ERR_OK)
			return pos;
	}
	return pos;
}

int multipart_feed(struct multipart *m, const char *p, size_t n)
{
	size_t pos = 0;
	int rc = ERR_OK;
	while (pos < n && rc == ERR_OK) {
		char c = p[pos];
		switch (m->state) {
		case M_ERROR:
			return m->rc;
		case M_EPILOGUE:
			return ERR_OK;
		case M_PREAMBLE:
		case M_DATA:
			pos += mp_data(m, p + pos, n - pos, &rc);
			break;
		case M_HEADERS:
			pos += mp_headers(m, p + pos, n - pos, &rc);
			break;
		case M_AFTER_DELIM:
			pos++;
			if (c == '-')
				m->state = M_CLOSE_DASH;
			else if (is_ows(c))
				m->state = M_PADDING;
			else if (c == '\r')
				m->state = M_DELIM_LF;
			else
				rc = mp_fail(m, ERR_PARSE);
			break;
		case M_CLOSE_DASH:
			pos++;
			if (c == '-')
				m->state = M_EPILOGUE;
			else
				rc = mp_fail(m, ERR_PARSE);
			break;
		case M_PADDING:
			pos++;
			if (c == '\r')
				m->state = M_DELIM_LF;
			else if (!is_ows(c))
				rc = mp_fail(m, ERR_PARSE);
			break;
		case M_DELIM_LF:
			pos++;
			if (c == '\n') {
				m->state = M_HEADERS;
				m->hlen = 0;
				m->line_start = 0;
			} else {
				rc = mp_fail(m, ERR_PARSE);
			}
			break;
		default:
			rc = mp_fail(m, ERR_PARSE);
			break;
		}
	}
	return m->state == M_ERROR ? m->rc : rc;
}

int multipart_finish(struct multipart *m)
{
	if (m->state == M_EPILOGUE)
		return ERR_OK;
	if (m->state == M_ERROR)
		return m->rc;
	return ERR_PARSE;
}
