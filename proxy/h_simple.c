/* h_simple.c — the simple repository API (API.md 4.1, 4.2; PEP 503, 691,
 * 629, 658/714, 700).
 *
 * Pages are rendered from the links gathered along the SRO (links.c) into
 * one buffer, kept in the worker's render cache (rcache.c) and sent by
 * page_send (ETag, 304, gzip compressed once).  HTML or PEP 691
 * JSON is chosen by Accept negotiation with q-values.
 */
#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/strset.h"
#include "common/util.h"
#include "inherit/name.h"
#include "inherit/version.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/links.h"
#include "inherit/sro.h"
#include "proxy/mirror.h"
#include "proxy/model.h"
#include "proxy/rcache.h"
#include "proxy/web.h"
#include "proxy/wjob.h"
#include "store/store.h"

#define PAGE_MAX (256u * 1024 * 1024)
#define CT_JSON "application/vnd.pypi.simple.v1+json"
#define CT_HTML "text/html; charset=utf-8"

enum fmt { FMT_HTML, FMT_JSON };

/* q of the best-matching range in Accept for a type; -1 if none matches.
 * An exact type beats a wildcard. */
static double accept_q(const char *a, size_t n, const char *const *types, size_t ntypes)
{
	double best = -1;
	int best_spec = -1;
	const char *end = a + n, *p = a;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *item_end = comma ? comma : end;
		while (p < item_end && (*p == ' ' || *p == '\t'))
			p++;
		const char *semi = item_end > p ? memchr(p, ';', (size_t)(item_end - p)) : NULL;
		const char *type_end = semi ? semi : item_end;
		while (type_end > p && (type_end[-1] == ' ' || type_end[-1] == '\t'))
			type_end--;
		size_t tl = (size_t)(type_end - p);
		double q = 1.0;
		if (semi) {
			const char *qp = semi;
			while ((qp = memmem(qp, (size_t)(item_end - qp), "q=", 2))) {
				if (qp[-1] == ';' || qp[-1] == ' ') {
					char tmp[16] = "";
					size_t ql = (size_t)(item_end - qp - 2);
					if (ql > sizeof tmp - 1)
						ql = sizeof tmp - 1;
					memcpy(tmp, qp + 2, ql);
					q = strtod(tmp, NULL);
					break;
				}
				qp += 2;
			}
		}
		int spec = -1;
		if (tl == 3 && memcmp(p, "*/*", 3) == 0)
			spec = 0;
		for (size_t i = 0; i < ntypes && spec < 2; i++) {
			const char *t = types[i];
			const char *slash = strchr(t, '/');
			if (strlen(t) == tl && strncasecmp(p, t, tl) == 0)
				spec = 2;
			else if (tl == (size_t)(slash - t) + 2 && strncasecmp(p, t, tl - 1) == 0 && p[tl - 1] == '*')
				spec = spec < 1 ? 1 : spec;
		}
		if (spec > best_spec || (spec == best_spec && spec >= 0 && q > best)) {
			best_spec = spec;
			best = q;
		}
		p = comma ? comma + 1 : end;
	}
	return best_spec < 0 ? -1 : best;
}

static enum fmt negotiate(const struct req *r)
{
	size_t n;
	const char *a = req_header(r, "accept", &n);
	if (!a || n == 0)
		return FMT_HTML;
	static const char *const html[] = { "text/html" };
	static const char *const json[] = { "application/vnd.pypi.simple.v1+json",
					    "application/vnd.pypi.simple.latest+json" };
	double qh = accept_q(a, n, html, 1), qj = accept_q(a, n, json, 2);
	if (qj > 0 && qj > qh)
		return FMT_JSON;
	return FMT_HTML;
}

static bool project_ascii(struct req *r, const char *p)
{
	for (const unsigned char *s = (const unsigned char *)p; *s; s++)
		if (*s >= 0x80 || *s < 0x20) {
			resp_abort(r, 400, "unicode project names not allowed");
			return false;
		}
	return true;
}

/* 302 to the same route with the path rebuilt from segs, the project
 * segment replaced. */
static void redirect_to(struct req *r, size_t proj_idx, const char *project, bool slash)
{
	struct buf b = BUF_INIT;
	char *base = web_base_url(r);
	buf_adds(&b, base);
	for (size_t i = 0; i < r->nsegs; i++) {
		buf_addc(&b, '/');
		web_add_url_segment(&b, i == proj_idx ? project : r->segs[i]);
	}
	if (slash)
		buf_addc(&b, '/');
	if (r->query && *r->query) {
		buf_addc(&b, '?');
		buf_adds(&b, r->query);
	}
	resp_header(r, "Vary", "Accept, User-Agent");
	resp_redirect(r, b.p);
	buf_release(&b);
	xfree(base);
}

/* ---- project page -------------------------------------------------------- */

static int cmp_version_str(const void *a, const void *b)
{
	return version_cmp(*(const char *const *)a, *(const char *const *)b);
}

/* Per-file data lives on mirror links; private uploads keep it per version. */
static const char *link_requires_python(const struct link *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(k->l, "requires_python");
	if (!v)
		v = cJSON_GetObjectItemCaseSensitive(k->ver, "requires_python");
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *link_yanked(const struct link *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(k->l, "yanked");
	return v ? v : cJSON_GetObjectItemCaseSensitive(k->ver, "yanked");
}

/* Humans get links newest first: by version (PEP 440), then filename. */
static int cmp_link_human(const void *a, const void *b)
{
	const struct link *x = a, *y = b;
	const char *vx = json_get_str(x->ver, "version"), *vy = json_get_str(y->ver, "version");
	int c = version_cmp(vy ? vy : "", vx ? vx : "");
	return c ? c : strcmp(y->filename, x->filename);
}

static void render_html(struct req *r, const char *stage, const char *project, struct project_links *pl, struct buf *b)
{
	if (!r->installer && pl->nlinks > 1)
		qsort(pl->links, pl->nlinks, sizeof *pl->links, cmp_link_human);
	buf_adds(b, "<!DOCTYPE html><html lang=\"en\"><head><meta name=\"pypi:repository-version\" content=\"1.1\">"
		    "<title>");
	buf_add_html(b, stage, strlen(stage));
	buf_adds(b, ": links for ");
	buf_add_html(b, project, strlen(project));
	buf_adds(b, "</title></head><body><h1>");
	buf_add_html(b, stage, strlen(stage));
	buf_adds(b, ": links for ");
	buf_add_html(b, project, strlen(project));
	buf_adds(b, "</h1>\n");
	if (!r->installer && pl->mirror_has) {
		/* API.md 4.1: humans may ask for the mirror's links again */
		buf_adds(b, "<form action=\"");
		struct buf href = BUF_INIT;
		char target[700];
		snprintf(target, sizeof target, "%s/+simple/%s/refresh", stage, project);
		web_add_href(r, &href, target);
		buf_add_html(b, href.p, href.len);
		buf_release(&href);
		buf_addf(b, "\" method=\"post\"><input name=\"refresh\" type=\"submit\" value=\"%s\"></form>\n",
			 pl->nstages && pl->mirror[0] ? "Refresh" : "Refresh mirror links");
	}
	if (!r->installer && pl->blocked_mirror) {
		buf_adds(b, "<p>INFO: Because this project isn't in the mirror_whitelist, no releases from ");
		buf_add_html(b, pl->blocked_mirror, strlen(pl->blocked_mirror));
		buf_adds(b, " are included.</p>\n");
	}
	for (size_t i = 0; i < pl->nlinks; i++) {
		const struct link *k = &pl->links[i];
		const char *sha = json_get_str(cJSON_GetObjectItemCaseSensitive(k->l, "hashes"), "sha256");
		const char *rp = link_requires_python(k);
		const char *core = json_get_str(k->l, "core_metadata_sha256");
		bool core_any = core || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k->l, "core_metadata"));
		const cJSON *yanked = link_yanked(k);
		buf_add_html(b, k->stage, strlen(k->stage));
		buf_adds(b, " <a href=\"");
		struct buf href = BUF_INIT;
		web_add_href(r, &href, k->relpath);
		if (sha) {
			buf_adds(&href, "#sha256=");
			buf_adds(&href, sha);
		}
		buf_add_html(b, href.p, href.len);
		buf_release(&href);
		buf_addc(b, '"');
		if (rp && *rp) {
			buf_adds(b, " data-requires-python=\"");
			buf_add_html(b, rp, strlen(rp));
			buf_addc(b, '"');
		}
		if (core)
			buf_addf(b, " data-dist-info-metadata=\"sha256=%s\" data-core-metadata=\"sha256=%s\"", core, core);
		else if (core_any)
			buf_adds(b, " data-dist-info-metadata=\"true\" data-core-metadata=\"true\"");
		if (cJSON_IsTrue(yanked))
			buf_adds(b, " data-yanked=\"\"");
		else if (cJSON_IsString(yanked) && *yanked->valuestring) {
			buf_adds(b, " data-yanked=\"");
			buf_add_html(b, yanked->valuestring, strlen(yanked->valuestring));
			buf_addc(b, '"');
		}
		buf_addc(b, '>');
		buf_add_html(b, k->filename, strlen(k->filename));
		buf_adds(b, "</a><br>\n");
	}
	buf_adds(b, "</body></html>\n");
}

static void render_json(struct req *r, const char *project, struct project_links *pl, struct buf *b)
{
	buf_adds(b, "{\"meta\":{\"api-version\":\"1.1\"},\"name\":");
	json_add_string(b, project, strlen(project));
	buf_adds(b, ",\"versions\":[");
	const char **vs = xcalloc(pl->nvers + 1, sizeof *vs);
	for (size_t i = 0; i < pl->nvers; i++)
		vs[i] = pl->vers[i].version;
	qsort(vs, pl->nvers, sizeof *vs, cmp_version_str);
	for (size_t i = 0; i < pl->nvers; i++) {
		if (i)
			buf_addc(b, ',');
		json_add_string(b, vs[i], strlen(vs[i]));
	}
	xfree(vs);
	buf_adds(b, "],\"files\":[");
	for (size_t i = 0; i < pl->nlinks; i++) {
		const struct link *k = &pl->links[i];
		const char *sha = json_get_str(cJSON_GetObjectItemCaseSensitive(k->l, "hashes"), "sha256");
		const char *rp = link_requires_python(k);
		const char *core = json_get_str(k->l, "core_metadata_sha256");
		bool core_any = core || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k->l, "core_metadata"));
		const char *up = json_get_str(k->l, "upload_time");
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(k->l, "size");
		const cJSON *yanked = link_yanked(k);
		if (i)
			buf_addc(b, ',');
		buf_adds(b, "{\"filename\":");
		json_add_string(b, k->filename, strlen(k->filename));
		buf_adds(b, ",\"url\":");
		struct buf href = BUF_INIT;
		web_add_href(r, &href, k->relpath);
		json_add_string(b, href.p, href.len);
		buf_release(&href);
		buf_adds(b, ",\"hashes\":{");
		if (sha)
			buf_addf(b, "\"sha256\":\"%s\"", sha);
		buf_addc(b, '}');
		if (rp && *rp) {
			buf_adds(b, ",\"requires-python\":");
			json_add_string(b, rp, strlen(rp));
		}
		if (cJSON_IsNumber(size))
			buf_addf(b, ",\"size\":%.0f", size->valuedouble);
		if (up) {
			buf_adds(b, ",\"upload-time\":");
			json_add_string(b, up, strlen(up));
		}
		if (core)
			/* PEP 714's key only: pip 23.0 (Debian 12) crashes on the
			 * dict form of the old "dist-info-metadata" key. */
			buf_addf(b, ",\"core-metadata\":{\"sha256\":\"%s\"}", core);
		else if (core_any)
			buf_adds(b, ",\"core-metadata\":true");
		if (cJSON_IsTrue(yanked))
			buf_adds(b, ",\"yanked\":true");
		else if (cJSON_IsString(yanked) && *yanked->valuestring) {
			buf_adds(b, ",\"yanked\":");
			json_add_string(b, yanked->valuestring, strlen(yanked->valuestring));
		}
		buf_addc(b, '}');
	}
	buf_adds(b, "]}");
}

#define STALE_HEADERS "Cache-Control: max-age=0, no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\nExpires: 0\r\n"

/* A warm page: one lookup, the serial compared, bytes sent by reference. */
static bool serve_cached(struct req *r, const struct rc_key *key)
{
	int64_t serial = atomic_load(&r->app->serial);
	struct page *p = rcache_get(r->w, key->s, key->len, serial);
	if (!p)
		return false;
	r->serial = serial;
	page_send(r, p);
	page_unref(p);
	return true;
}

/* Sends the rendered body in b (taken) and, when key is given, keeps it in
 * the render cache at the serial the page was read at. */
static void send_rendered(struct req *r, const struct rc_key *key, double fresh_until, enum fmt f, struct buf *b,
			  const char *extra, bool stale)
{
	struct buf hdrs = BUF_INIT;
	buf_adds(&hdrs, extra);
	if (stale)
		buf_adds(&hdrs, STALE_HEADERS);    /* API.md 4.1 "expire now" */
	size_t len;
	char *body = buf_detach(b, &len);
	struct page *p = page_new(f == FMT_JSON ? CT_JSON : CT_HTML, body, len, hdrs.p);
	if (key)
		rcache_put(r->w, key->s, key->len, r->serial, fresh_until, p);
	page_send(r, p);
	page_unref(p);
	buf_release(&hdrs);
}

void h_simple_project(struct req *r)
{
	const char *user = r->segs[0], *index = r->segs[1];
	size_t pidx = r->nsegs == 4 ? 3 : 2;
	const char *raw = r->segs[pidx];
	enum fmt f = negotiate(r);
	struct project_links pl;
	struct buf b;
	char stage[200];
	if (!web_read_gate(r, r->segs[0], r->segs[1]))
		return;
	if (!project_ascii(r, raw))
		return;
	char *project = name_normalize_dup(raw, strlen(raw));
	if (strlen(project) > NAME_PROJECT_MAX || !*project) {
		resp_abort(r, 400, "invalid project name");
		xfree(project);
		return;
	}
	if (strcmp(project, raw) != 0) {
		redirect_to(r, pidx, project, r->trailing_slash || pidx == 3);
		xfree(project);
		return;
	}
	if (!r->trailing_slash && pidx == 3 && f == FMT_HTML && !r->installer) {
		redirect_to(r, pidx, project, true);
		xfree(project);
		return;
	}
	snprintf(stage, sizeof stage, "%s/%s", user, index);
	struct rc_key key;
	bool cacheable = rcache_key(r, "P", stage, project, f, &key);
	if (cacheable && serve_cached(r, &key)) {
		xfree(project);
		return;
	}
	struct store_txn *t = web_read_begin(r);
	if (!t) {
		xfree(project);
		return;
	}
	int rc = links_collect(t, stage, project, false, r, &pl);
	if (rc == ERR_NOTFOUND) {
		resp_abort(r, 404, "The stage %s could not be found.", stage);
		goto out;
	}
	if (rc) {
		resp_abort(r, 500, "cannot read the index: %s", err_str(rc));
		goto out;
	}
	struct mirror_outcome mo;
	if (mirror_add_links(r, t, &pl, project, &mo))
		goto out;       /* r->handler runs again once the mirrors are refreshed */
	if (mo.requested_failed && pl.nlinks == 0) {
		resp_abort(r, 502, "upstream error: no page for %s could be fetched from the mirror of %s", project, stage);
		goto out;
	}
	if (pl.nlinks == 0 && !pl.known) {
		resp_abort(r, 404, "The project %s does not exist.", project);
		goto out;
	}
	char extra[64] = "";
	if (mo.serial > 0)
		snprintf(extra, sizeof extra, "X-PYPI-LAST-SERIAL: %lld\r\n", mo.serial);
	buf_init(&b, PAGE_MAX);
	if (f == FMT_JSON)
		render_json(r, project, &pl, &b);
	else
		render_html(r, stage, project, &pl, &b);
	store_abort(t);
	t = NULL;
	send_rendered(r, cacheable && !mo.stale ? &key : NULL, mo.fresh_until, f, &b, extra, mo.stale);
out:
	store_abort(t);
	links_release(&pl);
	xfree(project);
}

/* ---- project list -------------------------------------------------------- */

struct list_scan {
	double fresh_until;          /* earliest expiry of a mirror list used; 0 = none */
	struct strset seen;
	char **names;
	size_t n, cap;
	size_t prefix_len;
};

static int add_project(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct list_scan *s = arg;
	char *name = xstrndup(key + s->prefix_len, klen - s->prefix_len);
	if (!strset_add(&s->seen, name, strlen(name))) {
		xfree(name);
		return 0;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->names = xrealloc(s->names, s->cap * sizeof *s->names);
	}
	s->names[s->n++] = name;
	return 0;
}

static void list_refreshed(struct req *r, void *arg, int rc)
{
	int *pending = arg;
	if (--*pending > 0)
		return;
	xfree(pending);
	if (req_alive(r) && !r->head_sent && r->handler)
		r->handler(r);
}

/* Starts the refresh of every expired mirror list in the SRO; true if one
 * was started (r->handler runs again when all are over). */
static bool list_refresh_needed(struct req *r, struct store_txn *t, char **stages, bool *mirror, size_t n)
{
	struct mirror_cfg todo[8];
	size_t ntodo = 0;
	for (size_t i = 0; i < n && ntodo < 8; i++) {
		if (!mirror[i])
			continue;
		char key[300];
		snprintf(key, sizeof key, "index/%s", stages[i]);
		cJSON *cfg = model_get(t, key);
		struct mirror_cfg mc;
		if (cfg && mirror_cfg_load(r->app, stages[i], cfg, &mc) == ERR_OK) {
			char lkey[300];
			snprintf(lkey, sizeof lkey, "mirrorlist/%s", stages[i]);
			if (!mc.no_project_list && !mc.offline && !mirror_is_fresh(t, lkey, mc.expiry))
				todo[ntodo++] = mc;
			else
				mirror_cfg_release(&mc);
		}
		cJSON_Delete(cfg);
	}
	if (ntodo == 0)
		return false;
	int *pending = xmalloc(sizeof *pending);
	*pending = (int)ntodo;
	r->mirror_pass = true;
	for (size_t i = 0; i < ntodo; i++) {
		mirror_refresh_list(r, &todo[i], list_refreshed, pending);
		mirror_cfg_release(&todo[i]);
	}
	return true;
}

static int add_cached_project(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	/* mirror/<user>/<index>/<project>: only pages that exist upstream */
	if (!memmem(val, vlen, "\"status\":\"ok\"", 13))
		return 0;
	return add_project(arg, key, klen, val, vlen);
}

/* A mirror's names: its upstream list, or (no list, offline, or a failed
 * first fetch) the projects it has cached pages for.  *failed: nothing
 * usable from upstream at all. */
static void add_mirror_names(struct req *r, struct store_txn *t, const char *stage, struct list_scan *s, bool *failed)
{
	char key[300];
	snprintf(key, sizeof key, "index/%s", stage);
	cJSON *cfg = model_get(t, key);
	struct mirror_cfg mc;
	bool have_cfg = cfg && mirror_cfg_load(r->app, stage, cfg, &mc) == ERR_OK;
	cJSON *rec = have_cfg && !mc.no_project_list ? mirror_list_get(t, stage) : NULL;
	const char *names = json_get_str(rec, "names");
	char lkey[300];
	snprintf(lkey, sizeof lkey, "mirrorlist/%s", stage);
	if (have_cfg && !mc.no_project_list && (!rec || !mirror_is_fresh(t, lkey, mc.expiry) || mc.offline))
		r->nocache = true;
	else if (have_cfg) {
		double until = mc.no_project_list ? time_now() + mc.expiry : mirror_fresh_until(t, lkey, mc.expiry);
		if (s->fresh_until == 0 || until < s->fresh_until)
			s->fresh_until = until;
	}
	if (names) {
		const char *p = names;
		while (*p) {
			const char *e = strchr(p, '\n');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			if (n && !strset_has(&s->seen, p, n)) {
				char *name = xstrndup(p, n);
				strset_add(&s->seen, name, n);   /* borrows the copy the list keeps */
				if (s->n == s->cap) {
					s->cap = s->cap ? s->cap * 2 : 64;
					s->names = xrealloc(s->names, s->cap * sizeof *s->names);
				}
				s->names[s->n++] = name;
			}
			p = e ? e + 1 : p + n;
		}
	} else {
		if (have_cfg && !mc.no_project_list && !mc.offline)
			*failed = true;
		snprintf(key, sizeof key, "mirror/%s/", stage);
		s->prefix_len = strlen(key);
		store_scan(t, key, add_cached_project, s);
		if (s->n)
			*failed = false;
	}
	if (have_cfg)
		mirror_cfg_release(&mc);
	cJSON_Delete(rec);
	cJSON_Delete(cfg);
}

void h_simple_list(struct req *r)
{
	const char *user = r->segs[0], *index = r->segs[1];
	enum fmt f = negotiate(r);
	char stage[200];
	char **stages = NULL;
	bool *mirror = NULL;
	size_t nstages = 0;
	struct list_scan s;
	struct buf b;
	bool simple_route = r->nsegs == 3;
	if (!web_read_gate(r, r->segs[0], r->segs[1]))
		return;
	if (simple_route && !r->trailing_slash && f == FMT_HTML && !r->installer) {
		redirect_to(r, (size_t)-1, NULL, true);
		return;
	}
	snprintf(stage, sizeof stage, "%s/%s", user, index);
	struct rc_key key;
	bool cacheable = rcache_key(r, "L", stage, NULL, f, &key);
	if (cacheable && serve_cached(r, &key)) {
		return;
	}
	struct store_txn *t = web_read_begin(r);
	if (!t) {
		return;
	}
	memset(&s, 0, sizeof s);
	strset_init(&s.seen, 64);
	int rc = model_sro(t, stage, &stages, &mirror, &nstages);
	if (rc) {
		resp_abort(r, rc == ERR_NOTFOUND ? 404 : 500, "The stage %s could not be found.", stage);
		goto out;
	}
	/* Mirrors whose list is expired are refreshed first (once), then
	 * this handler runs again. */
	if (!r->mirror_pass && list_refresh_needed(r, t, stages, mirror, nstages))
		goto out;
	for (size_t i = 0; i < nstages; i++) {
		char prefix[300];
		if (i > 0 && !web_stage_readable(r, t, stages[i]))
			continue;       /* acl_read: an inherited stage it may not see */
		if (mirror[i]) {
			bool failed = false;
			add_mirror_names(r, t, stages[i], &s, &failed);
			if (failed && i == 0) {
				resp_abort(r, 502, "upstream error: the project list of %s could not be fetched", stage);
				goto out;
			}
			continue;
		}
		snprintf(prefix, sizeof prefix, "proj/%s/", stages[i]);
		s.prefix_len = strlen(prefix);
		store_scan(t, prefix, add_project, &s);
	}
	store_abort(t);
	t = NULL;
	buf_init(&b, PAGE_MAX);
	if (f == FMT_JSON) {
		buf_adds(&b, "{\"meta\":{\"api-version\":\"1.1\"},\"projects\":[");
		for (size_t i = 0; i < s.n; i++) {
			buf_adds(&b, i ? ",{\"name\":" : "{\"name\":");
			json_add_string(&b, s.names[i], strlen(s.names[i]));
			buf_addc(&b, '}');
		}
		buf_adds(&b, "]}");
	} else {
		buf_adds(&b, "<!DOCTYPE html><html lang=\"en\"><head><meta name=\"pypi:repository-version\" content=\"1.1\">"
			     "<title>");
		buf_add_html(&b, stage, strlen(stage));
		buf_adds(&b, ": simple list (including inherited indices)</title></head><body>\n");
		for (size_t i = 0; i < s.n; i++) {
			char target[600];
			snprintf(target, sizeof target, "%s/+simple/%s/", stage, s.names[i]);
			buf_adds(&b, "<a href=\"");
			struct buf href = BUF_INIT;
			web_add_href(r, &href, target);
			buf_add_html(&b, href.p, href.len);
			buf_release(&href);
			buf_adds(&b, "\">");
			buf_add_html(&b, s.names[i], strlen(s.names[i]));
			buf_adds(&b, "</a>\n");
		}
		buf_adds(&b, "</body></html>\n");
	}
	send_rendered(r, cacheable && !r->nocache ? &key : NULL, s.fresh_until, f, &b, "", r->nocache);
out:
	store_abort(t);
	for (size_t i = 0; i < s.n; i++)
		xfree(s.names[i]);
	xfree(s.names);
	strset_release(&s.seen);
	sro_free(stages, mirror, nstages);
}

struct expire_job {
	char **keys;
	size_t n;
	char *location;
};

static int expire_run(struct store_txn *t, void *arg)
{
	struct expire_job *j = arg;
	int rc = ERR_OK;
	/* expired, not dropped: a failing upstream still has the stale copy
	 * to fall back on */
	for (size_t i = 0; i < j->n && !rc; i++)
		rc = mirror_expire(t, j->keys[i]);
	return rc;
}

static void expire_done(struct req *r, void *arg, int rc, int64_t serial)
{
	struct expire_job *j = arg;
	/* fetch times live outside the serial: tell the render caches */
	atomic_fetch_add(&r->app->cache_epoch, 1);
	if (req_alive(r)) {
		if (rc)
			resp_abort(r, 500, "cannot refresh: %s", err_str(rc));
		else
			resp_redirect(r, j->location);
	}
	for (size_t i = 0; i < j->n; i++)
		xfree(j->keys[i]);
	xfree(j->keys);
	xfree(j->location);
	xfree(j);
}

/* POST .../+simple/<project>/refresh (API.md 4.3): every mirror of the SRO
 * forgets the freshness of its page, so the next request refetches it. */
void h_simple_refresh(struct req *r)
{
	const char *raw = r->segs[3];
	char stage[200];
	char **stages = NULL;
	bool *mirror = NULL;
	size_t nstages = 0;
	if (!web_read_gate(r, r->segs[0], r->segs[1]))
		return;
	if (!project_ascii(r, raw))
		return;
	char *project = name_normalize_dup(raw, strlen(raw));
	if (!*project || strlen(project) > NAME_PROJECT_MAX) {
		resp_abort(r, 400, "invalid project name");
		xfree(project);
		return;
	}
	snprintf(stage, sizeof stage, "%s/%s", r->segs[0], r->segs[1]);
	struct store_txn *t = web_read_begin(r);
	if (!t) {
		xfree(project);
		return;
	}
	int rc = model_sro(t, stage, &stages, &mirror, &nstages);
	store_abort(t);
	if (rc) {
		resp_abort(r, 404, "The stage %s could not be found.", stage);
		xfree(project);
		return;
	}
	struct expire_job *j = xcalloc(1, sizeof *j);
	j->keys = xcalloc(nstages + 1, sizeof *j->keys);
	for (size_t i = 0; i < nstages; i++)
		if (mirror[i])
			j->keys[j->n++] = xasprintf("mirror/%s/%s", stages[i], project);
	sro_free(stages, mirror, nstages);
	struct buf b = BUF_INIT;
	char *base = web_base_url(r);
	buf_addf(&b, "%s/", base);
	web_add_url_segment(&b, r->segs[0]);
	buf_addc(&b, '/');
	web_add_url_segment(&b, r->segs[1]);
	buf_adds(&b, "/+simple/");
	web_add_url_segment(&b, project);
	buf_addc(&b, '/');
	j->location = buf_detach(&b, NULL);
	xfree(base);
	xfree(project);
	wjob_submit(r, expire_run, j, expire_done);
}
