/* mirror_html.c — PEP 503 simple pages (project pages and the project list)
 * read from upstream HTML.
 *
 * Upstream HTML is whatever PyPI, devpi, Artifactory, Nexus or a static
 * file server emits, so this is a forgiving tokenizer after the WHATWG
 * rules rather than a validator: tags and attribute names match ignoring
 * case, values may be double-, single- or un-quoted, comments, doctypes,
 * processing instructions and end tags are skipped, and the raw text of
 * <script> and <style> is never mistaken for markup.  It looks only at
 * start tags <a> and <base>, keeps attribute values as spans into the body
 * and entity-decodes just the few it wants into reused buffers, so a page
 * costs one pass and no allocation except for the links kept.
 *
 * The first <base href> applies to the whole page; when it turns up after
 * an anchor (rare), the page is read a second time with the base known.
 */
#include "proxy/mirror_parse.h"

#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "inherit/name.h"

struct html {
	const char *p, *end;
};

struct html_attr {
	const char *name, *val;
	size_t nn, vn;
};

static bool h_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static bool h_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool h_ieq(const char *s, size_t n, const char *lit)
{
	if (n != strlen(lit))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)lit[i])
			return false;
	}
	return true;
}

/* Next attribute of the tag being read.  1: *a is set (value empty when
 * absent); 0: the tag ended ('>' consumed); -1: the body ended inside the
 * tag (the tag is dropped, as browsers do). */
static int html_next_attr(struct html *t, struct html_attr *a)
{
	const char *p = t->p, *e = t->end;
	while (p < e && (h_ws((unsigned char)*p) || *p == '/'))
		p++;
	if (p >= e) {
		t->p = e;
		return -1;
	}
	if (*p == '>') {
		t->p = p + 1;
		return 0;
	}
	a->name = p++;
	while (p < e && !h_ws((unsigned char)*p) && *p != '/' && *p != '>' && *p != '=')
		p++;
	a->nn = (size_t)(p - a->name);
	a->val = p;
	a->vn = 0;
	while (p < e && h_ws((unsigned char)*p))
		p++;
	if (p < e && *p == '=') {
		p++;
		while (p < e && h_ws((unsigned char)*p))
			p++;
		if (p >= e) {
			t->p = e;
			return -1;
		}
		if (*p == '"' || *p == '\'') {
			const char *q = memchr(p + 1, *p, (size_t)(e - p - 1));
			if (!q) {
				t->p = e;
				return -1;
			}
			a->val = p + 1;
			a->vn = (size_t)(q - p - 1);
			p = q + 1;
		} else if (*p != '>') {
			a->val = p;
			while (p < e && !h_ws((unsigned char)*p) && *p != '>')
				p++;
			a->vn = (size_t)(p - a->val);
		}
	}
	t->p = p;
	return 1;
}

/* Skips the attributes of the current tag.  0 or -1 as html_next_attr(). */
static int html_skip_attrs(struct html *t)
{
	struct html_attr a;
	int r;
	while ((r = html_next_attr(t, &a)) == 1)
		;
	return r;
}

static void html_skip_past(struct html *t, const char *from, char c)
{
	const char *q = from < t->end ? memchr(from, c, (size_t)(t->end - from)) : NULL;
	t->p = q ? q + 1 : t->end;
}

/* Advances to the next start tag: 1 with its name (t->p just after it),
 * or 0 at the end of the body. */
static int html_next_start_tag(struct html *t, const char **name, size_t *nn)
{
	const char *e = t->end;
	while (t->p < e) {
		const char *lt = memchr(t->p, '<', (size_t)(e - t->p));
		if (!lt || lt + 1 >= e)
			break;
		const char *q = lt + 1;
		if (h_alpha((unsigned char)*q)) {
			const char *s = q;
			while (q < e && !h_ws((unsigned char)*q) && *q != '/' && *q != '>')
				q++;
			*name = s;
			*nn = (size_t)(q - s);
			t->p = q;
			return 1;
		}
		if (*q == '/') {
			if (q + 1 < e && h_alpha((unsigned char)q[1])) {
				q++;
				while (q < e && !h_ws((unsigned char)*q) && *q != '/' && *q != '>')
					q++;
				t->p = q;
				html_skip_attrs(t);
			} else if (q + 1 < e && q[1] == '>') {
				t->p = q + 2;
			} else {
				html_skip_past(t, q, '>');
			}
		} else if (*q == '!') {
			if (e - q >= 3 && q[1] == '-' && q[2] == '-') {
				const char *c = q + 3;
				if (c < e && *c == '>')
					t->p = c + 1;
				else if (e - c >= 2 && c[0] == '-' && c[1] == '>')
					t->p = c + 2;
				else {
					const char *end = memmem(c, (size_t)(e - c), "-->", 3);
					t->p = end ? end + 3 : e;
				}
			} else {
				html_skip_past(t, q, '>');
			}
		} else if (*q == '?') {
			html_skip_past(t, q, '>');
		} else {
			t->p = q;
		}
	}
	t->p = e;
	return 0;
}

/* After the start tag of a raw-text element (name: "script" or "style"):
 * skips to its end tag. */
static void html_skip_rawtext(struct html *t, const char *name)
{
	const char *p = t->p, *e = t->end;
	size_t nn = strlen(name);
	while (p < e) {
		const char *lt = memchr(p, '<', (size_t)(e - p));
		if (!lt)
			break;
		if ((size_t)(e - lt) >= nn + 2 && lt[1] == '/' && h_ieq(lt + 2, nn, name) &&
		    ((size_t)(e - lt) == nn + 2 || h_ws((unsigned char)lt[nn + 2]) || lt[nn + 2] == '/' ||
		     lt[nn + 2] == '>')) {
			t->p = lt;
			return;
		}
		p = lt + 1;
	}
	t->p = e;
}

/* Skips the rest of a start tag we do not want, and the raw text after
 * it for script and style. */
static void html_skip_tag(struct html *t, const char *name, size_t nn)
{
	if (html_skip_attrs(t) != 0)
		return;
	if (h_ieq(name, nn, "script"))
		html_skip_rawtext(t, "script");
	else if (h_ieq(name, nn, "style"))
		html_skip_rawtext(t, "style");
}

/* ---- character references ------------------------------------------- */

/* The reference at s[0] == '&': *used bytes, code point in *cp; 0 if it is
 * not one (the '&' is then literal).  Numeric references may omit the ';';
 * named ones need it. */
static int h_charref(const char *s, size_t n, size_t *used, unsigned long *cp)
{
	static const struct {
		const char *name;
		unsigned long cp;
	} named[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' }, { "nbsp;", 0xa0 },
	};
	if (n >= 3 && s[1] == '#') {
		size_t i = 2;
		bool hex = s[2] == 'x' || s[2] == 'X';
		if (hex)
			i++;
		size_t ds = i;
		unsigned long v = 0;
		while (i < n) {
			unsigned char c = (unsigned char)s[i];
			int d = c >= '0' && c <= '9' ? c - '0'
				: hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
				: hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
								: -1;
			if (d < 0)
				break;
			v = v * (hex ? 16 : 10) + (unsigned long)d;
			if (v > 0x10ffff)
				v = 0x110000;
			i++;
		}
		if (i == ds)
			return 0;
		if (i < n && s[i] == ';')
			i++;
		*used = i;
		*cp = v;
		return 1;
	}
	for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
		size_t ln = strlen(named[k].name);
		if (n - 1 >= ln && memcmp(s + 1, named[k].name, ln) == 0) {
			*used = ln + 1;
			*cp = named[k].cp;
			return 1;
		}
	}
	return 0;
}

/* Appends (s, n) with character references decoded.  ERR_TOOBIG past b's
 * bound. */
static int h_add_decoded(struct buf *b, const char *s, size_t n)
{
	int rc = ERR_OK;
	size_t i = 0;
	while (i < n && !rc) {
		const char *amp = memchr(s + i, '&', n - i);
		size_t run = amp ? (size_t)(amp - (s + i)) : n - i;
		rc = buf_add(b, s + i, run);
		i += run;
		if (!amp || rc)
			break;
		size_t used;
		unsigned long cp;
		if (h_charref(s + i, n - i, &used, &cp)) {
			rc = buf_add_utf8(b, cp ? cp : 0xfffd);   /* &#0; is U+FFFD in HTML */
			i += used;
		} else {
			rc = buf_addc(b, '&');
			i++;
		}
	}
	if (!rc && !b->p)
		rc = buf_add(b, "", 0);
	return rc;
}

/* A body with a NUL byte is binary, one starting with '{' or '[' is JSON:
 * neither is an HTML page (an upstream serving either as text/html is
 * broken, not a project without files). */
static bool h_not_html(const char *body, size_t len)
{
	if (memchr(body, '\0', len))
		return true;
	size_t i = 0;
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && h_ws((unsigned char)body[i]))
		i++;
	return i < len && (body[i] == '{' || body[i] == '[');
}

/* ---- the wanted attributes of one tag --------------------------------- */

enum { A_HREF, A_REQUIRES_PYTHON, A_YANKED, A_CORE, A_DIST_INFO, A__COUNT };

static const char *const h_attr_names[A__COUNT] = {
	"href", "data-requires-python", "data-yanked", "data-core-metadata", "data-dist-info-metadata",
};

struct h_attrs {
	struct buf v[A__COUNT];    /* decoded values, bounded by max_field */
	bool set[A__COUNT];
	bool overlong;             /* a wanted value was over max_field */
};

static void h_attrs_init(struct h_attrs *as, size_t max_field)
{
	memset(as, 0, sizeof *as);
	for (int i = 0; i < A__COUNT; i++)
		buf_init(&as->v[i], max_field);
}

static void h_attrs_release(struct h_attrs *as)
{
	for (int i = 0; i < A__COUNT; i++)
		buf_release(&as->v[i]);
}

/* Reads the attributes of the current tag, keeping the first of each
 * wanted one (nwanted of h_attr_names).  Returns 0 when the tag ended
 * normally, -1 at the end of the body (or on an error, which goes to
 * *rc: ERR_NOMEM). */
static int h_read_attrs(struct html *t, struct h_attrs *as, int nwanted, int *rc)
{
	struct html_attr a;
	int r;
	*rc = ERR_OK;
	for (int i = 0; i < nwanted; i++) {
		buf_reset(&as->v[i]);
		as->set[i] = false;
	}
	as->overlong = false;
	while ((r = html_next_attr(t, &a)) == 1) {
		for (int i = 0; i < nwanted; i++) {
			if (as->set[i] || !h_ieq(a.name, a.nn, h_attr_names[i]))
				continue;
			as->set[i] = true;
			*rc = h_add_decoded(&as->v[i], a.val, a.vn);
			if (*rc == ERR_TOOBIG) {
				as->overlong = true;
				*rc = ERR_OK;
			} else if (*rc) {
				return -1;
			}
			break;
		}
	}
	return r;
}

/* ---- project pages ----------------------------------------------------- */

struct h_project {
	const char *page_url, *project;
	const struct mirror_limits *lim;
	char *base;                /* resolved <base href>, owned; NULL = page_url */
	bool base_fixed;           /* second pass: the base is known */
	bool base_seen;
	bool base_late;            /* a <base> came after an anchor */
	size_t anchors;            /* anchors with an href so far */
	struct h_attrs as;
	struct buf name;           /* file name scratch */
	struct mirror_builder b;
};

static int h_project_anchor(struct h_project *h)
{
	struct h_attrs *as = &h->as;
	struct mirror_link l = { .size = -1 };
	char *frag = NULL;
	int rc = ERR_OK;
	if (!as->set[A_HREF] || as->overlong)
		goto skip;
	if (mirror_resolve_url(h->base ? h->base : h->page_url, as->v[A_HREF].p, &l.url, &frag))
		goto skip;
	if (strlen(l.url) > h->lim->max_field)
		goto skip;
	rc = mirror_url_basename(l.url, &h->name);
	if (rc) {
		rc = rc == ERR_NOMEM ? rc : ERR_OK;
		goto skip;
	}
	if (name_check_filename(h->name.p, h->name.len) ||
	    !mirror_archive_of_project(h->name.p, h->name.len, h->project))
		goto skip;
	l.filename = xstrndup(h->name.p, h->name.len);
	if (frag) {
		struct mirror_hash_pick hp = { 0 };
		mirror_hash_offer_fragment(&hp, frag, strlen(frag));
		mirror_hash_take(&hp, &l);
	}
	if (as->set[A_REQUIRES_PYTHON] && as->v[A_REQUIRES_PYTHON].len)
		l.requires_python = xstrndup(as->v[A_REQUIRES_PYTHON].p, as->v[A_REQUIRES_PYTHON].len);
	if (as->set[A_YANKED]) {
		l.yanked = true;
		if (as->v[A_YANKED].len)
			l.yanked_reason = xstrndup(as->v[A_YANKED].p, as->v[A_YANKED].len);
	}
	int cm = as->set[A_CORE] ? A_CORE : as->set[A_DIST_INFO] ? A_DIST_INFO : -1;
	if (cm >= 0) {
		char sha[65];
		mirror_core_metadata_value(as->v[cm].p, as->v[cm].len, &l.core_metadata, sha);
		if (sha[0])
			l.core_metadata_sha256 = xstrdup(sha);
	}
	xfree(frag);
	return mirror_builder_add(&h->b, &l);
skip:
	mirror_link_release(&l);
	xfree(frag);
	return rc;
}

static int h_project_base(struct h_project *h)
{
	if (h->base_fixed || h->base_seen || !h->as.set[A_HREF])
		return ERR_OK;
	h->base_seen = true;
	if (h->as.overlong)
		return ERR_OK;
	int rc = mirror_resolve_url(h->page_url, h->as.v[A_HREF].p, &h->base, NULL);
	if (rc == ERR_NOMEM)
		return rc;
	if (rc == ERR_OK && h->anchors)
		h->base_late = true;
	return ERR_OK;
}

/* One pass over the page; stops early (base_late) when a <base> follows an
 * anchor on the first pass. */
static int h_project_pass(struct h_project *h, const char *body, size_t len, struct mirror_page *out)
{
	struct html t = { body, body + len };
	const char *name;
	size_t nn;
	int rc = ERR_OK;
	mirror_builder_init(&h->b, out, h->lim);
	while (!rc && !h->base_late && html_next_start_tag(&t, &name, &nn)) {
		bool is_a = h_ieq(name, nn, "a"), is_base = h_ieq(name, nn, "base");
		if (!is_a && !is_base) {
			html_skip_tag(&t, name, nn);
			continue;
		}
		int r = h_read_attrs(&t, &h->as, is_a ? A__COUNT : A_HREF + 1, &rc);
		if (rc || r != 0)
			continue;
		if (is_base)
			rc = h_project_base(h);
		else {
			if (h->as.set[A_HREF])
				h->anchors++;
			rc = h_project_anchor(h);
		}
	}
	if (!rc)
		mirror_builder_finish(&h->b);
	mirror_builder_release(&h->b);
	return rc;
}

int mirror_html_project(const char *body, size_t len, const char *page_url, const char *project,
			const struct mirror_limits *lim, struct mirror_page *out)
{
	struct h_project h = { .page_url = page_url, .project = project, .lim = lim };
	int rc;
	if (h_not_html(body, len))
		return ERR_PARSE;
	h_attrs_init(&h.as, lim->max_field);
	buf_init(&h.name, lim->max_field);
	rc = h_project_pass(&h, body, len, out);
	if (!rc && h.base_late) {
		mirror_page_release(out);
		h.base_fixed = true;
		h.base_late = false;
		rc = h_project_pass(&h, body, len, out);
	}
	xfree(h.base);
	h_attrs_release(&h.as);
	buf_release(&h.name);
	return rc;
}

/* ---- the project list -------------------------------------------------- */

struct h_list {
	const struct mirror_limits *lim;
	const char *page_url;
	const char *host, *path;   /* of page_url; host NULL if it is not an http(s) URL */
	size_t hn, pn;
	size_t count;
	struct buf name;
	int (*fn)(void *arg, const char *name, size_t len);
	void *arg;
};

static bool h_has_scheme(const char *s, size_t n)
{
	if (!n || !h_alpha((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ':')
			return true;
		if (!h_alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.')
			return false;
	}
	return false;
}

/* The name an anchor's href gives, decoded into hl->name; "" for none. */
static int h_list_name(struct h_list *hl, const char *href)
{
	int rc = ERR_OK;
	char *url = NULL;
	const char *s = href;
	size_t n = strlen(href);
	while (n && (unsigned char)s[0] <= 0x20)
		s++, n--;
	while (n && (unsigned char)s[n - 1] <= 0x20)
		n--;
	buf_reset(&hl->name);
	if (h_has_scheme(s, n) || (n >= 2 && s[0] == '/' && s[1] == '/')) {
		const char *host, *path;
		size_t hn, pn;
		if (!hl->host || mirror_resolve_url(hl->page_url, href, &url, NULL))
			goto done;
		/* same host (ignoring case; mirror_resolve_url lower-cased url's) */
		if (!mirror_url_host_path(url, &host, &hn, &path, &pn) || hn != hl->hn)
			goto done;
		for (size_t i = 0; i < hn; i++) {
			unsigned char a = (unsigned char)host[i], b = (unsigned char)hl->host[i];
			if (a >= 'A' && a <= 'Z')
				a = (unsigned char)(a - 'A' + 'a');
			if (b >= 'A' && b <= 'Z')
				b = (unsigned char)(b - 'A' + 'a');
			if (a != b)
				goto done;
		}
		while (pn && path[pn - 1] == '/')
			pn--;
		/* below the page path: it, plus '/', is a proper prefix */
		size_t bp = hl->pn;
		while (bp && hl->path[bp - 1] == '/')
			bp--;
		if (pn <= bp + 1 || memcmp(path, hl->path, bp) != 0 || path[bp] != '/')
			goto done;
		s = path, n = pn;
	} else {
		const char *cut = memchr(s, '#', n);
		if (cut)
			n = (size_t)(cut - s);
		cut = memchr(s, '?', n);
		if (cut)
			n = (size_t)(cut - s);
		while (n && s[n - 1] == '/')
			n--;
	}
	size_t i = n;
	while (i && s[i - 1] != '/')
		i--;
	rc = mirror_pct_decode(s + i, n - i, &hl->name);
	if (rc == ERR_TOOBIG) {
		buf_reset(&hl->name);
		rc = ERR_OK;
	}
done:
	xfree(url);
	return rc;
}

int mirror_html_list(const char *body, size_t len, const char *page_url, const struct mirror_limits *lim,
		     int (*fn)(void *arg, const char *name, size_t len), void *arg)
{
	struct h_list hl = { .lim = lim, .page_url = page_url, .fn = fn, .arg = arg };
	struct h_attrs as;
	struct html t = { body, body + len };
	const char *name;
	size_t nn;
	int rc = ERR_OK;
	if (h_not_html(body, len))
		return ERR_PARSE;
	if (!mirror_url_host_path(page_url, &hl.host, &hl.hn, &hl.path, &hl.pn))
		hl.host = NULL;
	h_attrs_init(&as, lim->max_field);
	buf_init(&hl.name, lim->max_field);
	while (!rc && html_next_start_tag(&t, &name, &nn)) {
		if (!h_ieq(name, nn, "a")) {
			html_skip_tag(&t, name, nn);
			continue;
		}
		int r = h_read_attrs(&t, &as, A_HREF + 1, &rc);
		if (rc)
			break;
		if (r != 0 || !as.set[A_HREF] || as.overlong)
			continue;
		rc = h_list_name(&hl, as.v[A_HREF].p);
		if (rc || !hl.name.len || memchr(hl.name.p, '\0', hl.name.len))
			continue;
		if (++hl.count > lim->max_links) {
			rc = ERR_TOOBIG;
			break;
		}
		rc = fn(arg, hl.name.p, hl.name.len);
	}
	h_attrs_release(&as);
	buf_release(&hl.name);
	return rc;
}
