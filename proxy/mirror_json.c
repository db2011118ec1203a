/* mirror_json.c — PEP 691 simple pages (project pages and the project
 * list) read from upstream JSON.
 *
 * A streaming reader instead of cJSON: PyPI's project list is ~600k
 * objects, and a tree of it would cost millions of allocations and several
 * times the body in memory on every refresh.  The reader validates the
 * whole document (RFC 8259 grammar, nesting bounded by max_json_depth,
 * nothing but whitespace after the value) while walking it once; strings
 * are scanned in place and only the ones wanted are decoded, into reused
 * buffers bounded by max_field.  Anything that is not JSON — a login page,
 * a truncated body — is ERR_PARSE.
 */
#include "proxy/mirror_parse.h"

#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "inherit/name.h"

struct jr {
	const char *p, *end;
	int depth, max_depth;
};

/* A string token: the bytes between the quotes, still escaped when esc. */
struct jstr {
	const char *s;
	size_t n;
	bool esc;
};

static void j_ws(struct jr *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool j_hex4(const char *s, unsigned *v)
{
	unsigned r = 0;
	for (int i = 0; i < 4; i++) {
		int d = hex_digit((unsigned char)s[i]);
		if (d < 0)
			return false;
		r = r * 16 + (unsigned)d;
	}
	*v = r;
	return true;
}

/* Reads the string at j->p (which is '"'). */
static int j_string(struct jr *j, struct jstr *out)
{
	const char *p = j->p + 1, *e = j->end;
	bool esc = false;
	for (;;) {
		if (p >= e)
			return ERR_PARSE;
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c < 0x20)
			return ERR_PARSE;
		if (c != '\\') {
			p++;
			continue;
		}
		esc = true;
		if (p + 1 >= e)
			return ERR_PARSE;
		c = (unsigned char)p[1];
		if (c == 'u') {
			unsigned v;
			if (e - p < 6 || !j_hex4(p + 2, &v))
				return ERR_PARSE;
			p += 6;
		} else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
			   c == 't') {
			p += 2;
		} else {
			return ERR_PARSE;
		}
	}
	out->s = j->p + 1;
	out->n = (size_t)(p - out->s);
	out->esc = esc;
	j->p = p + 1;
	return ERR_OK;
}

/* Decodes a string token (already validated by j_string) into b, which is
 * reset first: escapes resolved, surrogate pairs joined, lone surrogates
 * as U+FFFD.  ERR_TOOBIG past b's bound. */
static int j_decode(const struct jstr *js, struct buf *b)
{
	int rc = ERR_OK;
	const char *s = js->s;
	size_t n = js->n, i = 0;
	buf_reset(b);
	if (!js->esc)
		return buf_add(b, s, n);
	while (i < n && !rc) {
		const char *bs = memchr(s + i, '\\', n - i);
		size_t run = bs ? (size_t)(bs - (s + i)) : n - i;
		rc = buf_add(b, s + i, run);
		i += run;
		if (!bs || rc)
			break;
		char c = s[i + 1];
		i += 2;
		switch (c) {
		case 'b': rc = buf_addc(b, '\b'); break;
		case 'f': rc = buf_addc(b, '\f'); break;
		case 'n': rc = buf_addc(b, '\n'); break;
		case 'r': rc = buf_addc(b, '\r'); break;
		case 't': rc = buf_addc(b, '\t'); break;
		case 'u': {
			unsigned v = 0, lo = 0;
			j_hex4(s + i, &v);
			i += 4;
			unsigned long cp = v;
			if (v >= 0xd800 && v <= 0xdbff && n - i >= 6 && s[i] == '\\' && s[i + 1] == 'u' &&
			    j_hex4(s + i + 2, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + (((unsigned long)v - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			} else if (v >= 0xd800 && v <= 0xdfff) {
				cp = 0xfffd;
			}
			rc = buf_add_utf8(b, cp);
			break;
		}
		default: rc = buf_addc(b, c); break;
		}
	}
	if (!rc && !b->p)
		rc = buf_add(b, "", 0);
	return rc;
}

/* Compares a string token (key) with a literal; escaped keys are decoded
 * into tmp first. */
static bool j_is(const struct jstr *k, const char *lit, struct buf *tmp)
{
	size_t ln = strlen(lit);
	if (!k->esc)
		return k->n == ln && memcmp(k->s, lit, ln) == 0;
	return j_decode(k, tmp) == ERR_OK && tmp->len == ln && memcmp(tmp->p, lit, ln) == 0;
}

/* Reads a number; *s and *n span it. */
static int j_number(struct jr *j, const char **s, size_t *n)
{
	const char *p = j->p, *e = j->end, *st = p;
	if (p < e && *p == '-')
		p++;
	if (p >= e || !(*p >= '0' && *p <= '9'))
		return ERR_PARSE;
	if (*p == '0')
		p++;
	else
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	if (p < e && *p == '.') {
		p++;
		if (p >= e || !(*p >= '0' && *p <= '9'))
			return ERR_PARSE;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || !(*p >= '0' && *p <= '9'))
			return ERR_PARSE;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	*s = st;
	*n = (size_t)(p - st);
	j->p = p;
	return ERR_OK;
}

static int j_literal(struct jr *j, const char *lit)
{
	size_t ln = strlen(lit);
	if ((size_t)(j->end - j->p) < ln || memcmp(j->p, lit, ln) != 0)
		return ERR_PARSE;
	j->p += ln;
	return ERR_OK;
}

/* The first byte of the next value ('{', '[', '"', 't', 'f', 'n', '-' or a
 * digit), or 0 at the end. */
static char j_peek(struct jr *j)
{
	j_ws(j);
	return j->p < j->end ? *j->p : 0;
}

/* Enters the container at j->p ('{' or '['). */
static int j_enter(struct jr *j)
{
	if (j->depth >= j->max_depth)
		return ERR_TOOBIG;
	j->depth++;
	j->p++;
	return ERR_OK;
}

/* Next member of the object being read: *more with its key (positioned at
 * the value), or !*more after the closing '}'. */
static int j_member(struct jr *j, bool *first, struct jstr *key, bool *more)
{
	int rc;
	char c = j_peek(j);
	*more = false;
	if (c == '}') {
		j->p++;
		j->depth--;
		return ERR_OK;
	}
	if (!*first) {
		if (c != ',')
			return ERR_PARSE;
		j->p++;
		c = j_peek(j);
	}
	*first = false;
	if (c != '"')
		return ERR_PARSE;
	if ((rc = j_string(j, key)))
		return rc;
	if (j_peek(j) != ':')
		return ERR_PARSE;
	j->p++;
	j_ws(j);
	*more = true;
	return ERR_OK;
}

/* Next element of the array being read: *more (positioned at it), or
 * !*more after the closing ']'. */
static int j_element(struct jr *j, bool *first, bool *more)
{
	char c = j_peek(j);
	*more = false;
	if (c == ']') {
		j->p++;
		j->depth--;
		return ERR_OK;
	}
	if (!*first) {
		if (c != ',')
			return ERR_PARSE;
		j->p++;
		c = j_peek(j);
	}
	*first = false;
	if (!c)
		return ERR_PARSE;
	*more = true;
	return ERR_OK;
}

/* Skips one value (recursion bounded by max_depth). */
static int j_skip(struct jr *j)
{
	struct jstr s;
	const char *ns;
	size_t nn;
	bool first = true, more = true;
	int rc;
	switch (j_peek(j)) {
	case '{':
		if ((rc = j_enter(j)))
			return rc;
		while (!(rc = j_member(j, &first, &s, &more)) && more)
			if ((rc = j_skip(j)))
				return rc;
		return rc;
	case '[':
		if ((rc = j_enter(j)))
			return rc;
		while (!(rc = j_element(j, &first, &more)) && more)
			if ((rc = j_skip(j)))
				return rc;
		return rc;
	case '"':
		return j_string(j, &s);
	case 't':
		return j_literal(j, "true");
	case 'f':
		return j_literal(j, "false");
	case 'n':
		return j_literal(j, "null");
	default:
		return j_number(j, &ns, &nn);
	}
}

/* Starts reading: optional UTF-8 BOM, then the top-level object. */
static int j_begin(struct jr *j, const char *body, size_t len, int max_depth)
{
	j->p = body;
	j->end = body + len;
	j->depth = 0;
	j->max_depth = max_depth;
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		j->p += 3;
	if (j_peek(j) != '{')
		return ERR_PARSE;
	return j_enter(j);
}

static int j_end(struct jr *j)
{
	j_ws(j);
	return j->p == j->end ? ERR_OK : ERR_PARSE;
}

/* "meta": an object whose "api-version", if present, is a 1.x string. */
static int j_meta(struct jr *j, struct buf *tmp)
{
	struct jstr k, v;
	bool first = true, more;
	int rc;
	if (j_peek(j) != '{')
		return ERR_PARSE;
	if ((rc = j_enter(j)))
		return rc;
	while (!(rc = j_member(j, &first, &k, &more)) && more) {
		if (!j_is(&k, "api-version", tmp)) {
			rc = j_skip(j);
		} else if (j_peek(j) != '"') {
			rc = ERR_PARSE;
		} else if (!(rc = j_string(j, &v))) {
			rc = j_decode(&v, tmp);
			if (rc == ERR_TOOBIG || (!rc && !mirror_api_version_ok(tmp->p, tmp->len)))
				rc = ERR_PARSE;
		}
		if (rc)
			break;
	}
	return rc;
}

/* Top-level keys seen so far: a repeat is ambiguous. */
static int j_once(bool *seen)
{
	if (*seen)
		return ERR_PARSE;
	*seen = true;
	return ERR_OK;
}

/* ---- project pages ----------------------------------------------------- */

struct j_project {
	struct jr j;
	const char *page_url;
	const struct mirror_limits *lim;
	struct buf key, val;       /* scratch, bounded by max_field */
	struct mirror_builder b;
	size_t vcap;
	struct mirror_page *out;
};

/* The metadata state of one of core-metadata / dist-info-metadata. */
struct j_cm {
	bool given, present;
	char sha256[65];
};

/* One "files" entry while it is read. */
struct j_file {
	struct mirror_link l;
	struct mirror_hash_pick hash;
	struct j_cm core, dist;
	bool bad;                  /* a field was over max_field or held a NUL */
};

/* Reads a string value into jp->val; *ok false (not an error) when it is
 * over max_field or holds a NUL. */
static int j_str_value(struct j_project *jp, bool *ok)
{
	struct jstr s;
	int rc = j_string(&jp->j, &s);
	*ok = false;
	if (rc)
		return rc;
	rc = j_decode(&s, &jp->val);
	if (rc == ERR_TOOBIG)
		return ERR_OK;
	if (rc)
		return rc;
	*ok = !memchr(jp->val.p, '\0', jp->val.len);
	return ERR_OK;
}

/* Replaces *dst with the string value (NULL when it is empty and
 * empty_null); marks f bad when it is unusable. */
static int j_set_str(struct j_project *jp, struct j_file *f, char **dst, bool empty_null)
{
	bool ok;
	int rc = j_str_value(jp, &ok);
	if (rc)
		return rc;
	if (!ok) {
		f->bad = true;
		return ERR_OK;
	}
	xfree(*dst);
	*dst = empty_null && !jp->val.len ? NULL : xstrndup(jp->val.p, jp->val.len);
	return ERR_OK;
}

static int j_hashes(struct j_project *jp, struct mirror_hash_pick *h)
{
	struct jr *j = &jp->j;
	struct jstr k, v;
	bool first = true, more;
	int rc;
	if (j_peek(j) != '{')
		return j_skip(j);
	if ((rc = j_enter(j)))
		return rc;
	while (!(rc = j_member(j, &first, &k, &more)) && more) {
		if (j_peek(j) != '"') {
			rc = j_skip(j);
		} else if (!(rc = j_string(j, &v))) {
			/* both bounded: a hash name or value longer than the
			 * scratch is not a valid one anyway */
			int kr = j_decode(&k, &jp->key), vr = kr ? kr : j_decode(&v, &jp->val);
			if (kr == ERR_NOMEM || vr == ERR_NOMEM)
				rc = ERR_NOMEM;
			else if (!kr && !vr)
				mirror_hash_offer(h, jp->key.p, jp->key.len, jp->val.p, jp->val.len);
		}
		if (rc)
			break;
	}
	return rc;
}

/* core-metadata / dist-info-metadata: null = as if absent, false = not
 * offered, true or a hash dict = offered, a string as the HTML attribute,
 * anything else = offered. */
static int j_core_metadata(struct j_project *jp, struct j_cm *cm)
{
	struct jr *j = &jp->j;
	struct mirror_hash_pick h = { 0 };
	int rc = ERR_OK;
	char c = j_peek(j);
	cm->given = c != 'n';
	cm->present = c != 'n' && c != 'f';
	cm->sha256[0] = '\0';
	if (c == 'f' || c == 'n')
		return j_skip(j);
	if (c == '{') {
		if (!(rc = j_hashes(jp, &h)) && h.rank == 3)
			memcpy(cm->sha256, h.value, 65);
	} else if (c == '"') {
		bool ok;
		if (!(rc = j_str_value(jp, &ok)) && ok)
			mirror_core_metadata_value(jp->val.p, jp->val.len, &cm->present, cm->sha256);
	} else {
		rc = j_skip(j);
	}
	return rc;
}

/* "size": a non-negative integer, else unknown. */
static int j_size(struct jr *j, int64_t *size)
{
	const char *s;
	size_t n;
	if (j_peek(j) != '-' && !(j_peek(j) >= '0' && j_peek(j) <= '9'))
		return j_skip(j);
	int rc = j_number(j, &s, &n);
	if (rc)
		return rc;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - 9) / 10) {
			*size = -1;
			return ERR_OK;
		}
		v = v * 10 + (s[i] - '0');
	}
	*size = v;
	return ERR_OK;
}

/* Loose ISO 8601 check for upload-time: "YYYY-MM-DDTHH:MM" then
 * [0-9:.+-Z] (PyPI: "2023-05-22T15:12:44.175467Z"). */
static bool j_iso8601(const char *s, size_t n)
{
	static const char shape[] = "dddd-dd-ddTdd:dd";
	if (n < sizeof shape - 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool digit = c >= '0' && c <= '9';
		if (i < sizeof shape - 1 ? (shape[i] == 'd' ? !digit : c != shape[i])
					 : !(digit || c == ':' || c == '.' || c == '+' || c == '-' || c == 'Z'))
			return false;
	}
	return true;
}

static int j_file_member(struct j_project *jp, struct j_file *f, const struct jstr *k)
{
	struct jr *j = &jp->j;
	struct buf *t = &jp->key;
	char c = j_peek(j);
	int rc;
	if (j_is(k, "filename", t) || j_is(k, "url", t)) {
		if (c != '"') {
			f->bad = true;
			return j_skip(j);
		}
		return j_set_str(jp, f, j_is(k, "url", t) ? &f->l.url : &f->l.filename, false);
	}
	if (j_is(k, "hashes", t))
		return j_hashes(jp, &f->hash);
	if (j_is(k, "requires-python", t)) {
		if (c != '"') {
			xfree(f->l.requires_python);
			f->l.requires_python = NULL;
			return j_skip(j);
		}
		return j_set_str(jp, f, &f->l.requires_python, true);
	}
	if (j_is(k, "yanked", t)) {
		f->l.yanked = c == 't' || c == '"';
		xfree(f->l.yanked_reason);
		f->l.yanked_reason = NULL;
		if (c == '"')
			return j_set_str(jp, f, &f->l.yanked_reason, true);
		return j_skip(j);
	}
	if (j_is(k, "core-metadata", t))
		return j_core_metadata(jp, &f->core);
	if (j_is(k, "dist-info-metadata", t))
		return j_core_metadata(jp, &f->dist);
	if (j_is(k, "size", t))
		return j_size(j, &f->l.size);
	if (j_is(k, "upload-time", t)) {
		xfree(f->l.upload_time);
		f->l.upload_time = NULL;
		if (c != '"')
			return j_skip(j);
		if ((rc = j_set_str(jp, f, &f->l.upload_time, true)))
			return rc;
		if (f->l.upload_time && !j_iso8601(f->l.upload_time, strlen(f->l.upload_time))) {
			xfree(f->l.upload_time);
			f->l.upload_time = NULL;
		}
		return ERR_OK;
	}
	return j_skip(j);
}

/* One element of "files": kept when it has a usable filename and url. */
static int j_file(struct j_project *jp)
{
	struct jr *j = &jp->j;
	struct j_file f;
	struct jstr k;
	char *url = NULL, *frag = NULL;
	bool first = true, more;
	int rc;
	if (j_peek(j) != '{')
		return j_skip(j);
	memset(&f, 0, sizeof f);
	f.l.size = -1;
	if ((rc = j_enter(j)))
		return rc;
	while (!(rc = j_member(j, &first, &k, &more)) && more)
		if ((rc = j_file_member(jp, &f, &k)))
			break;
	if (rc || f.bad || !f.l.filename || !f.l.url)
		goto skip;
	if (name_check_filename(f.l.filename, strlen(f.l.filename)))
		goto skip;
	if (mirror_resolve_url(jp->page_url, f.l.url, &url, &frag) || strlen(url) > jp->lim->max_field)
		goto skip;
	xfree(f.l.url);
	f.l.url = url;
	url = NULL;
	if (!f.hash.rank && frag)
		mirror_hash_offer_fragment(&f.hash, frag, strlen(frag));
	mirror_hash_take(&f.hash, &f.l);
	struct j_cm *cm = f.core.given ? &f.core : f.dist.given ? &f.dist : NULL;
	if (cm && cm->present) {
		f.l.core_metadata = true;
		if (cm->sha256[0])
			f.l.core_metadata_sha256 = xstrdup(cm->sha256);
	}
	xfree(frag);
	return mirror_builder_add(&jp->b, &f.l);
skip:
	xfree(url);
	xfree(frag);
	mirror_link_release(&f.l);
	return rc;
}

static int j_files(struct j_project *jp)
{
	struct jr *j = &jp->j;
	bool first = true, more;
	int rc;
	if (j_peek(j) != '[')
		return ERR_PARSE;
	if ((rc = j_enter(j)))
		return rc;
	while (!(rc = j_element(j, &first, &more)) && more)
		if ((rc = j_file(jp)))
			break;
	return rc;
}

static int j_versions(struct j_project *jp)
{
	struct jr *j = &jp->j;
	struct mirror_page *pg = jp->out;
	bool first = true, more, ok;
	int rc;
	if (j_peek(j) != '[')
		return j_skip(j);
	if ((rc = j_enter(j)))
		return rc;
	while (!(rc = j_element(j, &first, &more)) && more) {
		if (j_peek(j) != '"') {
			if ((rc = j_skip(j)))
				break;
			continue;
		}
		if ((rc = j_str_value(jp, &ok)))
			break;
		if (!ok || !jp->val.len)
			continue;
		if (pg->nversions >= jp->lim->max_links) {
			rc = ERR_TOOBIG;
			break;
		}
		if (pg->nversions == jp->vcap) {
			size_t cap = jp->vcap ? jp->vcap * 2 : 32;
			char **nv = try_realloc(pg->versions, cap * sizeof *nv);
			if (!nv) {
				rc = ERR_NOMEM;
				break;
			}
			pg->versions = nv;
			jp->vcap = cap;
		}
		pg->versions[pg->nversions++] = xstrndup(jp->val.p, jp->val.len);
	}
	return rc;
}

int mirror_json_project(const char *body, size_t len, const char *page_url, const struct mirror_limits *lim,
			struct mirror_page *out)
{
	struct j_project jp = { .page_url = page_url, .lim = lim, .out = out };
	struct jr *j = &jp.j;
	struct jstr k;
	bool first = true, more, seen_meta = false, seen_files = false, seen_versions = false;
	int rc;
	buf_init(&jp.key, lim->max_field);
	buf_init(&jp.val, lim->max_field);
	mirror_builder_init(&jp.b, out, lim);
	if ((rc = j_begin(j, body, len, lim->max_json_depth)))
		goto fail;
	while (!(rc = j_member(j, &first, &k, &more)) && more) {
		if (j_is(&k, "meta", &jp.key))
			rc = j_once(&seen_meta) ? ERR_PARSE : j_meta(j, &jp.key);
		else if (j_is(&k, "files", &jp.key))
			rc = j_once(&seen_files) ? ERR_PARSE : j_files(&jp);
		else if (j_is(&k, "versions", &jp.key))
			rc = j_once(&seen_versions) ? ERR_PARSE : j_versions(&jp);
		else
			rc = j_skip(j);
		if (rc)
			break;
	}
	if (!rc)
		rc = j_end(j);
	if (!rc && (!seen_meta || !seen_files))
		rc = ERR_PARSE;
	if (!rc)
		mirror_builder_finish(&jp.b);
fail:
	mirror_builder_release(&jp.b);
	buf_release(&jp.key);
	buf_release(&jp.val);
	return rc;
}

/* ---- the project list -------------------------------------------------- */

int mirror_json_list(const char *body, size_t len, const struct mirror_limits *lim,
		     int (*fn)(void *arg, const char *name, size_t len), void *arg)
{
	struct jr j;
	struct jstr k, v;
	struct buf key, val;
	bool first = true, more, seen_meta = false, seen_projects = false;
	size_t count = 0;
	int rc;
	buf_init(&key, lim->max_field);
	buf_init(&val, lim->max_field);
	if ((rc = j_begin(&j, body, len, lim->max_json_depth)))
		goto fail;
	while (!(rc = j_member(&j, &first, &k, &more)) && more) {
		if (j_is(&k, "meta", &key)) {
			rc = j_once(&seen_meta) ? ERR_PARSE : j_meta(&j, &key);
		} else if (!j_is(&k, "projects", &key)) {
			rc = j_skip(&j);
		} else if (j_once(&seen_projects) || j_peek(&j) != '[') {
			rc = ERR_PARSE;
		} else if (!(rc = j_enter(&j))) {
			bool efirst = true, emore;
			while (!rc && !(rc = j_element(&j, &efirst, &emore)) && emore) {
				if (j_peek(&j) != '{') {
					rc = j_skip(&j);
					continue;
				}
				bool mfirst = true, mmore;
				if ((rc = j_enter(&j)))
					break;
				while (!rc && !(rc = j_member(&j, &mfirst, &k, &mmore)) && mmore) {
					if (!j_is(&k, "name", &key) || j_peek(&j) != '"') {
						rc = j_skip(&j);
						continue;
					}
					if ((rc = j_string(&j, &v)))
						break;
					rc = j_decode(&v, &val);
					if (rc == ERR_TOOBIG || (!rc && (!val.len || memchr(val.p, '\0', val.len)))) {
						rc = ERR_OK;
						continue;
					}
					if (rc)
						break;
					if (++count > lim->max_links) {
						rc = ERR_TOOBIG;
						break;
					}
					rc = fn(arg, val.p, val.len);
				}
			}
		}
		if (rc)
			break;
	}
	if (!rc)
		rc = j_end(&j);
	if (!rc && (!seen_meta || !seen_projects))
		rc = ERR_PARSE;
fail:
	buf_release(&key);
	buf_release(&val);
	return rc;
}
