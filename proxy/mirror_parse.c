/* mirror_parse.c — what the HTML and JSON readers of upstream simple pages
 * share: Content-Type dispatch, RFC 3986 URL resolution, hash and PEP 658
 * value checks, the "archive of this project" filter, and the builder that
 * de-duplicates links by file name.
 *
 * The readers themselves live in mirror_html.c (a forgiving HTML tokenizer)
 * and mirror_json.c (a streaming JSON reader), so each format is a single
 * pass over the body with no tree built and no allocation except for the
 * links kept.  Upstream pages are large (10,000+ links, 600k project names)
 * and are parsed on the refresh path, so everything here is linear: the
 * builder uses two string sets instead of searching, and dot-segment
 * removal pops segments off its output instead of rescanning.
 */
#include "proxy/mirror_parse.h"

#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"

static bool mp_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool mp_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool mp_alnum(unsigned char c)
{
	return mp_alpha(c) || mp_digit(c);
}

static unsigned char mp_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Case-insensitive equality of (s, n) with the lower-case literal lit. */
static bool mp_ieq(const char *s, size_t n, const char *lit)
{
	size_t ln = strlen(lit);
	if (n != ln)
		return false;
	for (size_t i = 0; i < n; i++)
		if (mp_lower((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

/* ---- Content-Type and limits ------------------------------------------ */

int mirror_content_format(const char *content_type, enum mirror_format *out)
{
	if (!content_type) {
		*out = MIRROR_HTML;
		return ERR_OK;
	}
	const char *s = content_type;
	while (*s == ' ' || *s == '\t')
		s++;
	const char *e = s;
	while (*e && *e != ';' && *e != ' ' && *e != '\t')
		e++;
	const char *rest = e;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (*rest && *rest != ';')
		return ERR_PARSE;
	size_t n = (size_t)(e - s);
	if (n == 0 && !*rest) {
		*out = MIRROR_HTML;
		return ERR_OK;
	}
	if (mp_ieq(s, n, "application/vnd.pypi.simple.v1+json")) {
		*out = MIRROR_JSON;
		return ERR_OK;
	}
	if (mp_ieq(s, n, "text/html") || mp_ieq(s, n, "application/vnd.pypi.simple.v1+html")) {
		*out = MIRROR_HTML;
		return ERR_OK;
	}
	return ERR_PARSE;
}

void mirror_limits_fill(const struct mirror_limits *lim, struct mirror_limits *out)
{
	out->max_links = lim && lim->max_links ? lim->max_links : MIRROR_MAX_LINKS_DEFAULT;
	out->max_field = lim && lim->max_field ? lim->max_field : MIRROR_MAX_FIELD_DEFAULT;
	out->max_json_depth = lim && lim->max_json_depth > 0 ? lim->max_json_depth : MIRROR_MAX_JSON_DEPTH_DEFAULT;
	/* the JSON reader recurses once per level: keep the stack small */
	if (out->max_json_depth > 512)
		out->max_json_depth = 512;
}

int mirror_api_version_ok(const char *v, size_t n)
{
	if (n == 0 || v[0] != '1')
		return 0;
	size_t i = 1;
	while (i < n) {
		if (v[i] != '.' || i + 1 >= n || !mp_digit((unsigned char)v[i + 1]))
			return 0;
		i++;
		while (i < n && mp_digit((unsigned char)v[i]))
			i++;
	}
	return 1;
}

/* ---- pages and links --------------------------------------------------- */

void mirror_link_release(struct mirror_link *l)
{
	if (!l)
		return;
	xfree(l->filename);
	xfree(l->url);
	xfree(l->hash_name);
	xfree(l->hash_value);
	xfree(l->requires_python);
	xfree(l->yanked_reason);
	xfree(l->core_metadata_sha256);
	xfree(l->upload_time);
	memset(l, 0, sizeof *l);
	l->size = -1;
}

void mirror_page_release(struct mirror_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nlinks; i++)
		mirror_link_release(&p->links[i]);
	for (size_t i = 0; i < p->nversions; i++)
		xfree(p->versions[i]);
	xfree(p->links);
	xfree(p->versions);
	memset(p, 0, sizeof *p);
}

void mirror_builder_init(struct mirror_builder *b, struct mirror_page *page, const struct mirror_limits *lim)
{
	b->page = page;
	b->cap = page->nlinks;
	b->lim = lim;
	strset_init(&b->seen, 0);
	strset_init(&b->hashed, 0);
}

void mirror_builder_release(struct mirror_builder *b)
{
	strset_release(&b->seen);
	strset_release(&b->hashed);
}

/* Per file name the page keeps the first link, plus the first link with a
 * hash if that came later; mirror_builder_finish() drops the former then. */
int mirror_builder_add(struct mirror_builder *b, struct mirror_link *l)
{
	int rc = ERR_OK;
	struct mirror_page *pg = b->page;
	size_t fn = strlen(l->filename);
	bool hashed = l->hash_value != NULL;
	if (strset_has(&b->seen, l->filename, fn)) {
		if (!hashed || strset_has(&b->hashed, l->filename, fn))
			goto drop;
	} else if (strset_count(&b->seen) >= b->lim->max_links) {
		rc = ERR_TOOBIG;
		goto drop;
	}
	if (pg->nlinks == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct mirror_link *nl = cap < ((size_t)-1) / sizeof *nl ? try_realloc(pg->links, cap * sizeof *nl) : NULL;
		if (!nl) {
			rc = ERR_NOMEM;
			goto drop;
		}
		pg->links = nl;
		b->cap = cap;
	}
	/* the strings are heap blocks of their own: moving the array later
	 * leaves the pointers the sets borrow valid */
	pg->links[pg->nlinks++] = *l;
	strset_add(&b->seen, l->filename, fn);
	if (hashed)
		strset_add(&b->hashed, l->filename, fn);
	memset(l, 0, sizeof *l);
	l->size = -1;
	return ERR_OK;
drop:
	mirror_link_release(l);
	return rc;
}

void mirror_builder_finish(struct mirror_builder *b)
{
	struct mirror_page *pg = b->page;
	size_t w = 0;
	strset_release(&b->seen);
	for (size_t r = 0; r < pg->nlinks; r++) {
		struct mirror_link *l = &pg->links[r];
		if (!l->hash_value && strset_has(&b->hashed, l->filename, strlen(l->filename))) {
			mirror_link_release(l);
			continue;
		}
		if (w != r)
			pg->links[w] = *l;
		w++;
	}
	pg->nlinks = w;
	strset_release(&b->hashed);
}

/* ---- hashes and PEP 658 values ----------------------------------------- */

static const struct {
	const char *name;
	size_t hexlen;
	int rank;
} mp_hashes[] = {
	{ "sha256", 64, 3 }, { "md5", 32, 2 },      { "sha1", 40, 1 },     { "sha224", 56, 1 },
	{ "sha384", 96, 1 }, { "sha512", 128, 1 },  { "blake2b", 128, 1 }, { "blake2s", 64, 1 },
	{ "sha3_224", 56, 1 }, { "sha3_256", 64, 1 }, { "sha3_384", 96, 1 }, { "sha3_512", 128, 1 },
};

int mirror_hash_offer(struct mirror_hash_pick *h, const char *name, size_t nn, const char *val, size_t vn)
{
	char lname[33];
	if (nn == 0 || nn >= sizeof lname || vn >= sizeof h->value)
		return 0;
	for (size_t i = 0; i < nn; i++) {
		unsigned char c = mp_lower((unsigned char)name[i]);
		if (!mp_alnum(c) && c != '_')
			return 0;
		lname[i] = (char)c;
	}
	lname[nn] = '\0';
	for (size_t i = 0; i < vn; i++)
		if (hex_digit((unsigned char)val[i]) < 0)
			return 0;
	int rank = 1;
	size_t want = 0;
	for (size_t i = 0; i < sizeof mp_hashes / sizeof mp_hashes[0]; i++) {
		if (strcmp(mp_hashes[i].name, lname) == 0) {
			rank = mp_hashes[i].rank;
			want = mp_hashes[i].hexlen;
			break;
		}
	}
	if (want ? vn != want : (vn < 16 || vn % 2))
		return 0;
	if (rank > h->rank) {
		h->rank = rank;
		memcpy(h->name, lname, nn + 1);
		for (size_t i = 0; i < vn; i++)
			h->value[i] = (char)mp_lower((unsigned char)val[i]);
		h->value[vn] = '\0';
	}
	return 1;
}

void mirror_hash_offer_fragment(struct mirror_hash_pick *h, const char *frag, size_t n)
{
	size_t i = 0;
	while (i < n) {
		const char *amp = memchr(frag + i, '&', n - i);
		size_t end = amp ? (size_t)(amp - frag) : n;
		const char *eq = memchr(frag + i, '=', end - i);
		if (eq)
			mirror_hash_offer(h, frag + i, (size_t)(eq - (frag + i)), eq + 1,
					  end - (size_t)(eq + 1 - frag));
		i = end + 1;
	}
}

void mirror_hash_take(const struct mirror_hash_pick *h, struct mirror_link *l)
{
	if (!h->rank)
		return;
	xfree(l->hash_name);
	xfree(l->hash_value);
	l->hash_name = xstrdup(h->name);
	l->hash_value = xstrdup(h->value);
}

void mirror_core_metadata_value(const char *v, size_t n, bool *present, char sha256[65])
{
	sha256[0] = '\0';
	*present = !mp_ieq(v, n, "false");
	const char *eq = memchr(v, '=', n);
	if (*present && eq && mp_ieq(v, (size_t)(eq - v), "sha256")) {
		struct mirror_hash_pick h = { 0 };
		if (mirror_hash_offer(&h, "sha256", 6, eq + 1, n - (size_t)(eq + 1 - v)))
			memcpy(sha256, h.value, 65);
	}
}

/* ---- the "archive of this project" filter ------------------------------ */

static const char *const mp_archive_exts[] = {
	".doc.zip", ".tar.bz2", ".tar.gz", ".tar", ".tgz", ".zip", ".whl",
	".egg", ".exe", ".msi", ".rpm", ".deb", ".dmg",
};

/* Next char of name_normalize() of [*p, end) without building it; -1 at
 * the end. */
static int mp_norm_next(const unsigned char **p, const unsigned char *end)
{
	const unsigned char *s = *p;
	if (s >= end)
		return -1;
	if (mp_alnum(*s)) {
		*p = s + 1;
		return mp_lower(*s);
	}
	while (s < end && !mp_alnum(*s))
		s++;
	*p = s;
	return '-';
}

int mirror_archive_of_project(const char *fn, size_t n, const char *project)
{
	size_t stem = 0;
	bool found = false;
	for (size_t i = 0; i < sizeof mp_archive_exts / sizeof mp_archive_exts[0] && !found; i++) {
		size_t el = strlen(mp_archive_exts[i]);
		if (n > el && mp_ieq(fn + n - el, el, mp_archive_exts[i])) {
			stem = n - el;
			found = true;
		}
	}
	if (!found)
		return 0;
	const unsigned char *f = (const unsigned char *)fn, *fend = f + stem;
	const unsigned char *p = (const unsigned char *)project, *pend = p + strlen(project);
	int pc = mp_norm_next(&p, pend), last = -1;
	if (pc < 0)
		return 0;
	while (pc >= 0) {
		if (mp_norm_next(&f, fend) != pc)
			return 0;
		last = pc;
		pc = mp_norm_next(&p, pend);
	}
	if (last == '-')
		return 1;
	int fc = mp_norm_next(&f, fend);
	return fc < 0 || fc == '-';
}

/* ---- URLs --------------------------------------------------------------- */

int mirror_pct_decode(const char *s, size_t n, struct buf *b)
{
	int rc = ERR_OK;
	buf_reset(b);
	size_t i = 0;
	while (i < n && !rc) {
		const char *pc = memchr(s + i, '%', n - i);
		size_t run = pc ? (size_t)(pc - (s + i)) : n - i;
		rc = buf_add(b, s + i, run);
		i += run;
		if (!pc || rc)
			break;
		int hi = i + 2 < n ? hex_digit((unsigned char)s[i + 1]) : -1;
		int lo = hi >= 0 ? hex_digit((unsigned char)s[i + 2]) : -1;
		if (lo >= 0) {
			rc = buf_addc(b, (char)(hi * 16 + lo));
			i += 3;
		} else {
			rc = buf_addc(b, '%');
			i++;
		}
	}
	if (!rc && !b->p)
		rc = buf_add(b, "", 0);
	return rc;
}

/* RFC 3986 components of a reference, as spans into it (appendix B). */
struct mp_ref {
	const char *scheme, *auth, *path, *query, *frag;
	size_t scheme_n, auth_n, path_n, query_n, frag_n;
	bool has_auth, has_query, has_frag;
};

static void mp_ref_split(const char *s, size_t n, struct mp_ref *u)
{
	size_t i = 0;
	memset(u, 0, sizeof *u);
	if (n && mp_alpha((unsigned char)s[0])) {
		size_t j = 1;
		while (j < n && (mp_alnum((unsigned char)s[j]) || s[j] == '+' || s[j] == '-' || s[j] == '.'))
			j++;
		if (j < n && s[j] == ':') {
			u->scheme = s;
			u->scheme_n = j;
			i = j + 1;
		}
	}
	if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
		i += 2;
		size_t a = i;
		while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#')
			i++;
		u->has_auth = true;
		u->auth = s + a;
		u->auth_n = i - a;
	}
	size_t ps = i;
	while (i < n && s[i] != '?' && s[i] != '#')
		i++;
	u->path = s + ps;
	u->path_n = i - ps;
	if (i < n && s[i] == '?') {
		size_t q = ++i;
		while (i < n && s[i] != '#')
			i++;
		u->has_query = true;
		u->query = s + q;
		u->query_n = i - q;
	}
	if (i < n && s[i] == '#') {
		i++;
		u->has_frag = true;
		u->frag = s + i;
		u->frag_n = n - i;
	}
}

/* 1 for http, 2 for https, 0 otherwise. */
static int mp_http_scheme(const char *s, size_t n)
{
	if (mp_ieq(s, n, "http"))
		return 1;
	if (mp_ieq(s, n, "https"))
		return 2;
	return 0;
}

static bool mp_url_bad_byte(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
	       c == '`' || c == '{' || c == '|' || c == '}';
}

/* Appends (s, n) with the bytes a URL may not carry percent-encoded. */
static int mp_add_encoded(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = ERR_OK;
	size_t i = 0;
	while (i < n && !rc) {
		size_t j = i;
		while (j < n && !mp_url_bad_byte((unsigned char)s[j]))
			j++;
		rc = buf_add(b, s + i, j - i);
		if (j < n && !rc) {
			unsigned char c = (unsigned char)s[j];
			char enc[3] = { '%', hex[c >> 4], hex[c & 15] };
			rc = buf_add(b, enc, 3);
			j++;
		}
		i = j;
	}
	return rc;
}

/* The host in the authority a[0..n): [*hs, *he) after any "user:pass@",
 * a bracketed IPv6 address whole.  False when it is empty or a '[' is
 * never closed. */
static bool mp_host_span(const char *a, size_t n, size_t *hs, size_t *he)
{
	*hs = 0;
	for (size_t i = n; i > 0; i--) {
		if (a[i - 1] == '@') {
			*hs = i;
			break;
		}
	}
	*he = *hs;
	if (*he < n && a[*he] == '[') {
		const char *rb = memchr(a + *he, ']', n - *he);
		if (!rb)
			return false;
		*he = (size_t)(rb - a) + 1;
	} else {
		while (*he < n && a[*he] != ':')
			(*he)++;
	}
	return *he > *hs;
}

/* Appends an authority after checking it: userinfo@host:port with a
 * non-empty host, a numeric port, no byte a URL may not carry; the host
 * lower-cased.  ERR_PARSE if it is not one. */
static int mp_add_authority(struct buf *b, const char *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (mp_url_bad_byte((unsigned char)a[i]))
			return ERR_PARSE;
	size_t hs, he;
	if (!mp_host_span(a, n, &hs, &he))
		return ERR_PARSE;
	if (he < n) {
		if (a[he] != ':')
			return ERR_PARSE;
		for (size_t i = he + 1; i < n; i++)
			if (!mp_digit((unsigned char)a[i]))
				return ERR_PARSE;
	}
	int rc = buf_add(b, a, hs);
	for (size_t i = hs; i < he && !rc; i++)
		rc = buf_addc(b, (char)mp_lower((unsigned char)a[i]));
	if (!rc)
		rc = buf_add(b, a + he, n - he);
	return rc;
}

/* Removes the last segment (and the '/' before it) of the path written at
 * b->p[start..]. */
static void mp_pop_segment(struct buf *b, size_t start)
{
	size_t i = b->len;
	while (i > start && b->p[i - 1] != '/')
		i--;
	b->len = i > start ? i - 1 : start;
	b->p[b->len] = '\0';
}

static bool mp_at(const char *s, size_t n, size_t i, const char *lit)
{
	size_t ln = strlen(lit);
	return n - i >= ln && memcmp(s + i, lit, ln) == 0;
}

/* RFC 3986 5.2.4 remove_dot_segments of (in, n), appended to b (encoded). */
static int mp_add_path(struct buf *b, const char *in, size_t n)
{
	size_t start = b->len, i = 0;
	int rc = ERR_OK;
	while (i < n && !rc) {
		if (mp_at(in, n, i, "../")) {
			i += 3;
		} else if (mp_at(in, n, i, "./")) {
			i += 2;
		} else if (mp_at(in, n, i, "/./")) {
			i += 2;
		} else if (n - i == 2 && mp_at(in, n, i, "/.")) {
			rc = buf_addc(b, '/');
			i = n;
		} else if (mp_at(in, n, i, "/../")) {
			i += 3;
			mp_pop_segment(b, start);
		} else if (n - i == 3 && mp_at(in, n, i, "/..")) {
			mp_pop_segment(b, start);
			rc = buf_addc(b, '/');
			i = n;
		} else if ((n - i == 1 && in[i] == '.') || (n - i == 2 && mp_at(in, n, i, ".."))) {
			i = n;
		} else {
			size_t j = i + (in[i] == '/');
			while (j < n && in[j] != '/')
				j++;
			rc = mp_add_encoded(b, in + i, j - i);
			i = j;
		}
	}
	return rc;
}

/* Leading/trailing C0 controls and spaces dropped, tabs and newlines
 * inside removed (WHATWG URL parsing); borrowed when nothing to remove
 * inside, else copied into tmp. */
static int mp_clean_href(const char *href, struct buf *tmp, const char **s, size_t *n)
{
	size_t len = strlen(href);
	while (len && (unsigned char)href[0] <= 0x20) {
		href++;
		len--;
	}
	while (len && (unsigned char)href[len - 1] <= 0x20)
		len--;
	*s = href;
	*n = len;
	if (!memchr(href, '\t', len) && !memchr(href, '\n', len) && !memchr(href, '\r', len))
		return ERR_OK;
	int rc = ERR_OK;
	buf_reset(tmp);
	for (size_t i = 0; i < len && !rc; i++)
		if (href[i] != '\t' && href[i] != '\n' && href[i] != '\r')
			rc = buf_addc(tmp, href[i]);
	*s = tmp->p ? tmp->p : "";
	*n = tmp->len;
	return rc;
}

int mirror_resolve_url(const char *base, const char *href, char **out, char **fragment)
{
	int rc = ERR_OK;
	struct buf res, tmp, merged;
	struct mp_ref b, r;
	const char *hs;
	size_t hn;
	buf_init(&res, 0);
	buf_init(&tmp, 0);
	buf_init(&merged, 0);
	*out = NULL;
	if (fragment)
		*fragment = NULL;
	if ((rc = mp_clean_href(href, &tmp, &hs, &hn)))
		goto fail;
	mp_ref_split(base, strlen(base), &b);
	mp_ref_split(hs, hn, &r);
	int bscheme = mp_http_scheme(b.scheme, b.scheme_n);
	bool base_ok = bscheme && b.has_auth;
	/* RFC 3986 5.2.2 (non-strict: "http:g" against an http base is relative) */
	if (r.scheme_n && base_ok && mp_http_scheme(r.scheme, r.scheme_n) == bscheme && !r.has_auth)
		r.scheme_n = 0;
	int scheme = r.scheme_n ? mp_http_scheme(r.scheme, r.scheme_n) : bscheme;
	if (!scheme || (!r.scheme_n && !base_ok)) {
		rc = ERR_PARSE;
		goto fail;
	}
	rc = buf_adds(&res, scheme == 2 ? "https://" : "http://");
	const char *path = NULL, *query = NULL;
	size_t path_n = 0, query_n = 0;
	bool has_query = false, dots = true;
	if (r.scheme_n || r.has_auth) {
		if (!r.has_auth) {
			rc = ERR_PARSE;
			goto fail;
		}
		if (!rc)
			rc = mp_add_authority(&res, r.auth, r.auth_n);
		path = r.path, path_n = r.path_n;
		query = r.query, query_n = r.query_n, has_query = r.has_query;
	} else {
		if (!rc)
			rc = mp_add_authority(&res, b.auth, b.auth_n);
		if (r.path_n == 0) {
			path = b.path, path_n = b.path_n, dots = false;
			if (r.has_query)
				query = r.query, query_n = r.query_n, has_query = true;
			else
				query = b.query, query_n = b.query_n, has_query = b.has_query;
		} else {
			query = r.query, query_n = r.query_n, has_query = r.has_query;
			if (r.path[0] == '/') {
				path = r.path, path_n = r.path_n;
			} else {
				size_t keep = b.path_n;
				while (keep && b.path[keep - 1] != '/')
					keep--;
				if (!rc)
					rc = b.path_n ? buf_add(&merged, b.path, keep) : buf_addc(&merged, '/');
				if (!rc)
					rc = buf_add(&merged, r.path, r.path_n);
				path = merged.p, path_n = merged.len;
			}
		}
	}
	if (rc)
		goto fail;
	if (path_n == 0 || path[0] != '/')
		rc = buf_addc(&res, '/');
	if (!rc)
		rc = dots ? mp_add_path(&res, path, path_n) : mp_add_encoded(&res, path, path_n);
	if (!rc && has_query) {
		rc = buf_addc(&res, '?');
		if (!rc)
			rc = mp_add_encoded(&res, query, query_n);
	}
	if (rc)
		goto fail;
	if (fragment && r.has_frag)
		*fragment = xstrndup(r.frag, r.frag_n);
	*out = buf_detach(&res, NULL);
fail:
	if (rc)
		rc = rc == ERR_NOMEM ? ERR_NOMEM : ERR_PARSE;
	buf_release(&res);
	buf_release(&tmp);
	buf_release(&merged);
	return rc;
}

/* Spans of an http(s) URL as mirror_resolve_url() writes it. */
static int mp_url_spans(const char *url, const char **auth, size_t *an, const char **path, size_t *pn)
{
	const char *s = strstr(url, "://");
	if (!s)
		return 0;
	if (!mp_http_scheme(url, (size_t)(s - url)))
		return 0;
	s += 3;
	*auth = s;
	while (*s && *s != '/' && *s != '?' && *s != '#')
		s++;
	*an = (size_t)(s - *auth);
	*path = s;
	while (*s && *s != '?' && *s != '#')
		s++;
	*pn = (size_t)(s - *path);
	return *an > 0;
}

int mirror_url_host_path(const char *url, const char **host, size_t *hn, const char **path, size_t *pn)
{
	const char *a;
	size_t an;
	if (!mp_url_spans(url, &a, &an, path, pn))
		return 0;
	size_t hs, he;
	if (!mp_host_span(a, an, &hs, &he))
		return 0;
	*host = a + hs;
	*hn = he - hs;
	return 1;
}

int mirror_url_basename(const char *url, struct buf *b)
{
	const char *a, *path;
	size_t an, pn;
	if (!mp_url_spans(url, &a, &an, &path, &pn))
		return ERR_PARSE;
	size_t i = pn;
	while (i > 0 && path[i - 1] != '/')
		i--;
	return mirror_pct_decode(path + i, pn - i, b);
}

/* ---- entry points ------------------------------------------------------- */

int mirror_parse_project(const char *body, size_t len, enum mirror_format fmt, const char *page_url,
			 const char *project, const struct mirror_limits *lim, struct mirror_page *out)
{
	struct mirror_limits l;
	int rc;
	memset(out, 0, sizeof *out);
	mirror_limits_fill(lim, &l);
	if (!body && len)
		return ERR_INVAL;
	if (!body)
		body = "";
	if (fmt == MIRROR_JSON)
		rc = mirror_json_project(body, len, page_url ? page_url : "", &l, out);
	else if (fmt == MIRROR_HTML)
		rc = mirror_html_project(body, len, page_url ? page_url : "", project ? project : "", &l, out);
	else
		rc = ERR_INVAL;
	if (rc)
		mirror_page_release(out);
	return rc;
}

int mirror_parse_list(const char *body, size_t len, enum mirror_format fmt, const char *page_url,
		      const struct mirror_limits *lim, int (*fn)(void *arg, const char *name, size_t len),
		      void *arg)
{
	struct mirror_limits l;
	mirror_limits_fill(lim, &l);
	if (!body && len)
		return ERR_INVAL;
	if (!body)
		body = "";
	if (fmt == MIRROR_JSON)
		return mirror_json_list(body, len, &l, fn, arg);
	if (fmt == MIRROR_HTML)
		return mirror_html_list(body, len, page_url ? page_url : "", &l, fn, arg);
	return ERR_INVAL;
}
