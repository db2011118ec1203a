/* mirror.c — cached upstream pages and project lists (see mirror.h).
 *
 * A refresh is a flight (flight.c): the first request for a key fetches on
 * its own worker's upstream client, parses the page (mirror_parse.c) and
 * stores the record through the writer thread; every request that asked
 * meanwhile is woken when the record is durable (or the fetch failed) and
 * re-reads the store.  Nothing here answers a client: the handlers decide
 * between a fresh page, a stale one (with no-cache headers) and 502.
 *
 * On a replica (API.md 8.6) the records are the primary's and come only
 * through the changelog, so a refresh does not go to the mirror's upstream
 * and writes no record: it asks the primary for the same page (which makes
 * the primary refresh it from upstream if needed; PyPI is fetched once, by
 * the primary), drops the body, waits until the local serial reaches the
 * primary's X-DEVPI-SERIAL (the primary's record is then here too), and
 * records only the fetch time, in meta.  The same flight keys keep it
 * once per key.  A primary that fails, answers with a stale copy
 * (no-cache), or whose serial does not arrive within the request timeout
 * fails the refresh like an upstream would: a local copy is served stale.
 */
#include "proxy/mirror.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strset.h"
#include "common/util.h"
#include "inherit/filename.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/flight.h"
#include "proxy/links.h"
#include "proxy/mirror_parse.h"
#include "proxy/model.h"
#include "proxy/replauth.h"
#include "proxy/serialwait.h"
#include "proxy/upstream.h"
#include "proxy/web.h"
#include "proxy/wjob.h"
#include "store/store.h"

#define PAGE_BODY_MAX (64u * 1024 * 1024)
#define LIST_BODY_MAX (512u * 1024 * 1024)
#define PAGE_LINKS_MAX 200000
#define LIST_NAMES_MAX 5000000

/* ---- config -------------------------------------------------------------- */

int mirror_cfg_load(const struct app *a, const char *stage, const cJSON *idx, struct mirror_cfg *mc)
{
	memset(mc, 0, sizeof *mc);
	const char *url = json_get_str(idx, "mirror_url");
	char *clean = NULL;
	if (!url || upstream_split_credentials(url, &clean, &mc->user, &mc->pass) != ERR_OK)
		return ERR_INVAL;
	size_t n = strlen(clean);
	mc->url = n && clean[n - 1] == '/' ? clean : xasprintf("%s/", clean);
	if (mc->url != clean)
		xfree(clean);
	mc->stage = xstrdup(stage);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(idx, "mirror_cache_expiry");
	mc->expiry = cJSON_IsNumber(e) ? (int)e->valuedouble : a->cfg->mirror_cache_expiry;
	mc->no_project_list = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(idx, "mirror_no_project_list"));
	mc->use_external_urls = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(idx, "mirror_use_external_urls"));
	mc->ignore_serial = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(idx, "mirror_ignore_serial_header"));
	mc->offline = a->cfg->offline_mode;
	return ERR_OK;
}

void mirror_cfg_release(struct mirror_cfg *mc)
{
	xfree(mc->stage);
	xfree(mc->url);
	xfree(mc->user);
	xfree(mc->pass);
	memset(mc, 0, sizeof *mc);
}

static struct mirror_cfg mirror_cfg_dup(const struct mirror_cfg *mc)
{
	struct mirror_cfg c = *mc;
	c.stage = xstrdup(mc->stage);
	c.url = xstrdup(mc->url);
	c.user = mc->user ? xstrdup(mc->user) : NULL;
	c.pass = mc->pass ? xstrdup(mc->pass) : NULL;
	return c;
}

/* ---- records --------------------------------------------------------------- */

cJSON *mirror_page_get(struct store_txn *t, const char *stage, const char *project)
{
	char key[600];
	snprintf(key, sizeof key, "mirror/%s/%s", stage, project);
	return model_get(t, key);
}

cJSON *mirror_list_get(struct store_txn *t, const char *stage)
{
	char key[600];
	snprintf(key, sizeof key, "mirrorlist/%s", stage);
	return model_get(t, key);
}

/* Fetch times and ETags live in the meta db, outside the changelog, so a
 * revalidation that changes nothing writes no serial: the kv record is
 * rewritten only when its content changes. */
static void fetchinfo_key(const char *key, char *out, size_t n)
{
	snprintf(out, n, "mfetch/%s", key);
}

static cJSON *fetchinfo_get(struct store_txn *t, const char *key)
{
	char mk[700];
	const void *v;
	size_t len;
	fetchinfo_key(key, mk, sizeof mk);
	if (store_meta_get(t, mk, &v, &len) != ERR_OK)
		return NULL;
	return cJSON_ParseWithLength(v, len);
}

static int fetchinfo_put(struct store_txn *t, const char *key, double fetched, const char *etag)
{
	char mk[700];
	struct buf b = BUF_INIT;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "fetched", fetched);
	if (etag)
		cJSON_AddStringToObject(o, "etag", etag);
	json_print_compact(o, &b);
	cJSON_Delete(o);
	fetchinfo_key(key, mk, sizeof mk);
	int rc = store_meta_put(t, mk, b.p, b.len);
	buf_release(&b);
	return rc;
}

double mirror_fresh_until(struct store_txn *t, const char *key, int expiry)
{
	cJSON *info = fetchinfo_get(t, key);
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(info, "fetched");
	double until = cJSON_IsNumber(f) ? f->valuedouble + expiry : 0;
	cJSON_Delete(info);
	return until;
}

bool mirror_is_fresh(struct store_txn *t, const char *key, int expiry)
{
	cJSON *info = fetchinfo_get(t, key);
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(info, "fetched");
	bool fresh = cJSON_IsNumber(f) && f->valuedouble + expiry > time_now();
	cJSON_Delete(info);
	return fresh;
}

int mirror_expire(struct store_txn *t, const char *key)
{
	cJSON *info = fetchinfo_get(t, key);
	if (!info)
		return ERR_OK;
	cJSON_Delete(info);
	return fetchinfo_put(t, key, 0, NULL);   /* and forget the ETag: refetch in full */
}

/* API.md 3.1: +e/<scheme>_<netloc><path dirs with / → _>/<basename>, every
 * char outside [A-Za-z0-9_.-] → '_'. */
static void e_dir(struct buf *b, const char *url)
{
	const char *p = strstr(url, "://");
	const char *rest = p ? p + 3 : url;
	if (p)
		buf_add(b, url, (size_t)(p - url));
	buf_addc(b, '_');
	const char *last = strrchr(rest, '/');
	size_t n = last ? (size_t)(last - rest) : strlen(rest);
	for (size_t i = 0; i < n; i++) {
		char c = rest[i];
		if (c == '/')
			c = '_';
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			   c == '.' || c == '-'))
			c = '_';
		buf_addc(b, c);
	}
}

static cJSON *link_record(const struct mirror_cfg *mc, const struct mirror_link *l)
{
	if (name_check_filename(l->filename, strlen(l->filename)) != ERR_OK)
		return NULL;
	char *url = NULL, *user = NULL, *pass = NULL;
	if (upstream_split_credentials(l->url, &url, &user, &pass) != ERR_OK)
		return NULL;
	xfree(user);
	xfree(pass);
	cJSON *o = cJSON_CreateObject();
	struct buf rel = BUF_INIT;
	cJSON_AddStringToObject(o, "filename", l->filename);
	cJSON_AddStringToObject(o, "url", url);
	if (l->hash_name && l->hash_value && strlen(l->hash_value) >= 16) {
		char *spec = xasprintf("%s=%s", l->hash_name, l->hash_value);
		cJSON_AddStringToObject(o, "hash_spec", spec);
		xfree(spec);
		cJSON *h = cJSON_AddObjectToObject(o, "hashes");
		cJSON_AddStringToObject(h, l->hash_name, l->hash_value);
		buf_addf(&rel, "%s/+f/%.3s/%.13s/%s", mc->stage, l->hash_value, l->hash_value + 3, l->filename);
	} else {
		cJSON_AddObjectToObject(o, "hashes");
		buf_addf(&rel, "%s/+e/", mc->stage);
		e_dir(&rel, url);
		buf_addf(&rel, "/%s", l->filename);
	}
	cJSON_AddStringToObject(o, "relpath", rel.p);
	buf_release(&rel);
	xfree(url);
	struct filename_info fi;
	if (filename_parse(l->filename, strlen(l->filename), &fi) == ERR_OK)
		cJSON_AddStringToObject(o, "version", fi.version);
	if (l->requires_python)
		cJSON_AddStringToObject(o, "requires_python", l->requires_python);
	if (l->yanked) {
		if (l->yanked_reason && *l->yanked_reason)
			cJSON_AddStringToObject(o, "yanked", l->yanked_reason);
		else
			cJSON_AddBoolToObject(o, "yanked", 1);
	}
	if (l->core_metadata) {
		cJSON_AddBoolToObject(o, "core_metadata", 1);
		if (l->core_metadata_sha256)
			cJSON_AddStringToObject(o, "core_metadata_sha256", l->core_metadata_sha256);
	}
	if (l->size >= 0)
		cJSON_AddNumberToObject(o, "size", (double)l->size);
	if (l->upload_time)
		cJSON_AddStringToObject(o, "upload_time", l->upload_time);
	return o;
}

/* ---- names upstream does not have, in memory -------------------------------- */

#define NEGCACHE_SIZE 4096
static struct { uint64_t h; double until; } negcache[NEGCACHE_SIZE];
static pthread_mutex_t neg_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t neg_hash(const char *stage, const char *project)
{
	char k[700];
	int n = snprintf(k, sizeof k, "%s\n%s", stage, project);
	return strset_hash(k, (size_t)n) | 1;
}

static void negcache_put(const char *stage, const char *project, int expiry)
{
	uint64_t h = neg_hash(stage, project);
	pthread_mutex_lock(&neg_mu);
	negcache[h % NEGCACHE_SIZE].h = h;
	negcache[h % NEGCACHE_SIZE].until = time_now() + (expiry > 0 ? expiry : 60);
	pthread_mutex_unlock(&neg_mu);
}

static bool negcache_has(const char *stage, const char *project)
{
	uint64_t h = neg_hash(stage, project);
	pthread_mutex_lock(&neg_mu);
	bool hit = negcache[h % NEGCACHE_SIZE].h == h && negcache[h % NEGCACHE_SIZE].until > time_now();
	pthread_mutex_unlock(&neg_mu);
	return hit;
}

/* ---- fetching ---------------------------------------------------------------- */

enum fetch_kind { FETCH_PAGE, FETCH_LIST };

struct fetch {
	enum fetch_kind kind;
	struct worker *w;
	struct flight *f;
	struct mirror_cfg mc;
	char *project;               /* FETCH_PAGE */
	char *key;                   /* the record's key */
	cJSON *old;                  /* cached page record (for its serial and links), or NULL */
	char *old_etag;              /* ETag of the cached copy */
	bool have_old;               /* a cached copy exists (any kind) */
	struct buf body;
	long status;
	char *ctype, *etag, *effective_url;
	long long last_serial;
	cJSON *rec;                  /* the record to store */
	char *errmsg;
	/* a replica's refresh through its primary */
	int64_t primary_serial;      /* the primary's X-DEVPI-SERIAL, -1 if none */
	bool primary_stale;          /* the primary served its copy as stale */
	int timeout_s;
};

static void fetch_free(struct fetch *fe)
{
	mirror_cfg_release(&fe->mc);
	xfree(fe->project);
	xfree(fe->key);
	cJSON_Delete(fe->old);
	xfree(fe->old_etag);
	buf_release(&fe->body);
	xfree(fe->ctype);
	xfree(fe->etag);
	xfree(fe->effective_url);
	cJSON_Delete(fe->rec);
	xfree(fe->errmsg);
	xfree(fe);
}

static void fetch_end(struct fetch *fe, int rc)
{
	if (rc && fe->w->app->replica && rc != ERR_NOTFOUND)
		log_warn("mirror %s: refreshing %s through the primary failed: %s%s%s", fe->mc.stage,
			 fe->project ? fe->project : "the project list", err_str(rc), fe->errmsg ? ": " : "",
			 fe->errmsg ? fe->errmsg : "");
	else if (rc && !fe->w->app->replica)
		log_warn("mirror %s: fetching %s%s failed: %s%s%s", fe->mc.stage, fe->mc.url,
			 fe->project ? fe->project : "", err_str(rc), fe->errmsg ? ": " : "",
			 fe->errmsg ? fe->errmsg : "");
	flight_finish(fe->f, rc);
	fetch_free(fe);
}

static int store_rec_run(struct store_txn *t, void *arg)
{
	struct fetch *fe = arg;
	int rc = ERR_OK;
	if (fe->rec) {
		cJSON *cur = model_get(t, fe->key);
		if (!cur || !cJSON_Compare(cur, fe->rec, 1))
			rc = model_put(t, fe->key, fe->rec);
		cJSON_Delete(cur);
	}
	if (!rc)
		rc = fetchinfo_put(t, fe->key, time_now(), fe->etag);
	return rc;
}

static void store_rec_done(struct worker *w, void *arg, int rc, int64_t serial)
{
	fetch_end(arg, rc);
}

static int on_head(void *arg, long status, const char *eff, const struct upstream_header *h, size_t nh)
{
	struct fetch *fe = arg;
	fe->status = status;
	xfree(fe->effective_url);
	fe->effective_url = xstrdup(eff ? eff : "");
	for (size_t i = 0; i < nh; i++) {
		char **dst = NULL;
		if (h[i].name_len == 12 && !strncasecmp(h[i].name, "content-type", 12))
			dst = &fe->ctype;
		else if (h[i].name_len == 4 && !strncasecmp(h[i].name, "etag", 4))
			dst = &fe->etag;
		else if (h[i].name_len == 18 && !strncasecmp(h[i].name, "x-pypi-last-serial", 18)) {
			char tmp[32];
			size_t n = h[i].value_len < sizeof tmp - 1 ? h[i].value_len : sizeof tmp - 1;
			memcpy(tmp, h[i].value, n);
			tmp[n] = '\0';
			fe->last_serial = strtoll(tmp, NULL, 10);
		}
		if (dst) {
			xfree(*dst);
			*dst = xstrndup(h[i].value, h[i].value_len);
		}
	}
	return ERR_OK;
}

static int on_data(void *arg, const char *p, size_t n)
{
	struct fetch *fe = arg;
	if (fe->status != 200)
		return ERR_OK;          /* error bodies are not kept */
	return buf_add(&fe->body, p, n);
}

struct list_ctx {
	struct buf names;
	size_t count;
};

static int add_list_name(void *arg, const char *name, size_t len)
{
	struct list_ctx *c = arg;
	char norm[256];
	if (len == 0 || name_normalize(name, len, norm, sizeof norm) != ERR_OK || !*norm)
		return 0;
	if (c->count++ >= LIST_NAMES_MAX)
		return ERR_TOOBIG;
	if (c->names.len)
		buf_addc(&c->names, '\n');
	return buf_adds(&c->names, norm);
}

/* Builds fe->rec from a 200 response.  ERR_UPSTREAM when the page is not
 * usable (garbage must never replace a good copy). */
static int build_record(struct fetch *fe)
{
	enum mirror_format fmt;
	const char *base = fe->effective_url && *fe->effective_url ? fe->effective_url : fe->mc.url;
	struct mirror_limits lim = { .max_links = fe->kind == FETCH_PAGE ? PAGE_LINKS_MAX : LIST_NAMES_MAX,
				     .max_field = 8192, .max_json_depth = 32 };
	if (mirror_content_format(fe->ctype, &fmt) != ERR_OK) {
		fe->errmsg = xasprintf("unexpected content type '%s'", fe->ctype ? fe->ctype : "");
		return ERR_UPSTREAM;
	}
	fe->rec = cJSON_CreateObject();
	if (fe->kind == FETCH_LIST) {
		struct list_ctx c = { BUF_INIT, 0 };
		int rc = mirror_parse_list(fe->body.p ? fe->body.p : "", fe->body.len, fmt, base, &lim, add_list_name, &c);
		if (rc || c.count == 0) {
			/* an empty list (a login page, an outage page) would hide
			 * every project: never store one */
			buf_release(&c.names);
			fe->errmsg = xstrdup(rc ? "project list does not parse" : "project list is empty; not cached");
			return ERR_UPSTREAM;
		}
		cJSON_AddStringToObject(fe->rec, "names", c.names.p ? c.names.p : "");
		buf_release(&c.names);
		return ERR_OK;
	}
	struct mirror_page page;
	memset(&page, 0, sizeof page);
	int rc = mirror_parse_project(fe->body.p ? fe->body.p : "", fe->body.len, fmt, base, fe->project, &lim, &page);
	if (rc) {
		mirror_page_release(&page);
		fe->errmsg = xasprintf("page does not parse (%s)", err_str(rc));
		return ERR_UPSTREAM;
	}
	if (page.nlinks == 0) {
		/* a page without a single file of the project is far more often
		 * a broken answer (a login or error page) than a real project:
		 * never let it replace or stand in for a real page */
		mirror_page_release(&page);
		fe->errmsg = xstrdup("page has no files of the project; not cached");
		return ERR_UPSTREAM;
	}
	cJSON_AddNumberToObject(fe->rec, "serial", (double)fe->last_serial);
	cJSON_AddStringToObject(fe->rec, "status", "ok");
	cJSON_AddStringToObject(fe->rec, "name", fe->project);
	cJSON *links = cJSON_AddArrayToObject(fe->rec, "links");
	for (size_t i = 0; i < page.nlinks; i++) {
		cJSON *l = link_record(&fe->mc, &page.links[i]);
		if (l)
			cJSON_AddItemToArray(links, l);
	}
	mirror_page_release(&page);
	return ERR_OK;
}

static void on_done(void *arg, int rc, long status, const char *errmsg)
{
	struct fetch *fe = arg;
	if (rc) {
		fe->errmsg = xstrdup(errmsg ? errmsg : "");
		fetch_end(fe, rc == ERR_TIMEOUT ? ERR_TIMEOUT : ERR_UPSTREAM);
		return;
	}
	if (status == 304 && fe->have_old) {
		/* unchanged: only the fetch time is renewed (fe->rec stays NULL) */
		xfree(fe->etag);
		fe->etag = fe->old_etag ? xstrdup(fe->old_etag) : NULL;
	} else if (status == 404 && fe->kind == FETCH_PAGE) {
		if (!fe->old) {
			/* never seen: remembered in memory only (a stream of
			 * unknown names must not grow the store) */
			negcache_put(fe->mc.stage, fe->project, fe->mc.expiry);
			fetch_end(fe, ERR_NOTFOUND);
			return;
		}
		fe->rec = cJSON_CreateObject();
		cJSON_AddStringToObject(fe->rec, "status", "notfound");
		cJSON_AddStringToObject(fe->rec, "name", fe->project);
		if (cJSON_GetObjectItemCaseSensitive(fe->old, "links"))
			cJSON_AddItemToObject(fe->rec, "links",
					      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(fe->old, "links"), 1));
	} else if (status == 200) {
		const cJSON *os = fe->old ? cJSON_GetObjectItemCaseSensitive(fe->old, "serial") : NULL;
		if (!fe->mc.ignore_serial && cJSON_IsNumber(os) && fe->last_serial > 0 && fe->last_serial < os->valuedouble) {
			fe->errmsg = xasprintf("X-PYPI-LAST-SERIAL %lld is older than the cached %.0f", fe->last_serial,
					       os->valuedouble);
			fetch_end(fe, ERR_UPSTREAM);
			return;
		}
		int brc = build_record(fe);
		if (brc) {
			fetch_end(fe, brc);
			return;
		}
	} else {
		fe->errmsg = xasprintf("upstream answered %ld", status);
		fetch_end(fe, ERR_UPSTREAM);
		return;
	}
	wjob_submit_worker(fe->w, store_rec_run, fe, store_rec_done);
}

static const struct upstream_cbs fetch_cbs = { on_head, on_data, on_done };

static void fetch_start(struct fetch *fe, int timeout_s)
{
	char inm[600];
	const char *hdrs[2];
	size_t nh = 0;
	hdrs[nh++] = "Accept: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
		     "text/html;q=0.01";
	const char *etag = fe->old_etag;
	if (etag && strlen(etag) < 500 && !strpbrk(etag, "\r\n")) {
		snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
		hdrs[nh++] = inm;
	}
	char *url = fe->kind == FETCH_PAGE ? xasprintf("%s%s/", fe->mc.url, fe->project) : xstrdup(fe->mc.url);
	struct upstream_request rq = {
		.url = url,
		.headers = hdrs,
		.nheaders = nh,
		.username = fe->mc.user,
		.password = fe->mc.pass,
		.lim = {
			.connect_timeout_ms = timeout_s * 1000L,
			.first_byte_timeout_ms = timeout_s * 1000L,
			/* inactivity bounds, plus a generous total: a big page on a
			 * slow link must not time out while bytes keep coming */
			.total_timeout_ms = (timeout_s < 6 ? 60 : 10 * timeout_s) * 1000L * (fe->kind == FETCH_LIST ? 5 : 1),
			.low_speed_bytes = 1024,
			.low_speed_secs = timeout_s,
			.max_body = fe->kind == FETCH_PAGE ? PAGE_BODY_MAX : LIST_BODY_MAX,
		},
	};
	buf_init(&fe->body, fe->kind == FETCH_PAGE ? PAGE_BODY_MAX : LIST_BODY_MAX);
	fe->last_serial = -1;
	struct upstream_xfer *x;
	int rc = upstream_fetch(fe->w->up, &rq, &fetch_cbs, fe, &x);
	xfree(url);
	if (rc) {
		fe->errmsg = xstrdup("cannot start the upstream request");
		fetch_end(fe, rc);
	}
}

/* ---- a replica's refresh: through the primary ------------------------------ */

static int repl_on_head(void *arg, long status, const char *eff, const struct upstream_header *h, size_t nh)
{
	struct fetch *fe = arg;
	fe->status = status;
	for (size_t i = 0; i < nh; i++) {
		long long v;
		if (h[i].name_len == 14 && !strncasecmp(h[i].name, "x-devpi-serial", 14)) {
			if (upstream_header_num(h[i].value, h[i].value_len, &v) == ERR_OK)
				fe->primary_serial = v;
		} else if (h[i].name_len == 13 && !strncasecmp(h[i].name, "cache-control", 13) &&
			   memmem(h[i].value, h[i].value_len, "no-cache", 8)) {
			fe->primary_stale = true;
		}
	}
	return ERR_OK;
}

static int repl_on_data(void *arg, const char *p, size_t n)
{
	return ERR_OK;               /* the page is read from the local records */
}

static void repl_serial_done(struct worker *w, void *arg, bool reached)
{
	struct fetch *fe = arg;
	if (!reached) {
		fe->errmsg = xasprintf("the primary's serial %" PRId64 " did not replicate within %d s (at %lld)",
				       fe->primary_serial, fe->timeout_s, (long long)atomic_load(&w->app->serial));
		fetch_end(fe, ERR_TIMEOUT);
		return;
	}
	if (fe->status == 404 && fe->kind == FETCH_PAGE) {
		/* the primary does not know the project: it kept a "notfound"
		 * record if it had a page, else only its memory says so */
		struct store_txn *t = NULL;
		bool have = false;
		if (store_read_begin(w->app->store, &t) == ERR_OK) {
			const char *v;
			size_t len;
			have = store_get(t, fe->key, &v, &len) == ERR_OK;
			store_abort(t);
		}
		if (!have) {
			negcache_put(fe->mc.stage, fe->project, fe->mc.expiry);
			fetch_end(fe, ERR_NOTFOUND);
			return;
		}
	} else if (fe->primary_stale) {
		/* the primary could not refresh it either: the copy is stale
		 * here too, and the next request asks again */
		fe->errmsg = xstrdup("the primary serves a stale copy (its upstream failed)");
		fetch_end(fe, ERR_UPSTREAM);
		return;
	}
	/* the record is here: only the fetch time is ours to write (meta) */
	cJSON_Delete(fe->rec);
	fe->rec = NULL;
	xfree(fe->etag);
	fe->etag = NULL;
	wjob_submit_worker(fe->w, store_rec_run, fe, store_rec_done);
}

static void repl_on_done(void *arg, int rc, long status, const char *errmsg)
{
	struct fetch *fe = arg;
	if (rc) {
		fe->errmsg = xasprintf("primary %s: %s", fe->w->app->primary_url, errmsg ? errmsg : "");
		fetch_end(fe, rc == ERR_TIMEOUT ? ERR_TIMEOUT : ERR_UPSTREAM);
		return;
	}
	if (status != 200 && !(status == 404 && fe->kind == FETCH_PAGE)) {
		fe->errmsg = xasprintf("primary %s answered %ld", fe->w->app->primary_url, status);
		fetch_end(fe, ERR_UPSTREAM);
		return;
	}
	if (fe->primary_serial < 0) {
		fe->errmsg = xasprintf("primary %s sent no X-DEVPI-SERIAL", fe->w->app->primary_url);
		fetch_end(fe, ERR_UPSTREAM);
		return;
	}
	if (serialwait_start_worker(fe->w, fe->primary_serial, fe->timeout_s * 1000, repl_serial_done, fe) != ERR_OK) {
		fe->errmsg = xstrdup("cannot wait for replication");
		fetch_end(fe, ERR_NOMEM);
	}
}

static const struct upstream_cbs repl_cbs = { repl_on_head, repl_on_data, repl_on_done };

/* Asks the primary for the stage's page of fe->project (a GET, its body
 * dropped) or for its project list (a HEAD: PyPI's list is tens of MB, and
 * only the serial matters). */
static void repl_fetch_start(struct fetch *fe, int timeout_s)
{
	struct app *a = fe->w->app;
	char auth[REPLAUTH_HDR_MAX], id[REPLAUTH_HDR_MAX];
	const char *hdrs[3];
	size_t nh = 0;
	struct buf url = BUF_INIT;
	hdrs[nh++] = "Accept: application/vnd.pypi.simple.v1+json";
	if (a->have_repl_key) {
		/* signed, so stages with an acl_read are readable (as "+replica") */
		replauth_headers(a->repl_key, a->uuid, time(NULL), auth, id);
		hdrs[nh++] = auth;
		hdrs[nh++] = id;
	}
	const char *slash = strchr(fe->mc.stage, '/');
	char *user = xstrndup(fe->mc.stage, slash ? (size_t)(slash - fe->mc.stage) : strlen(fe->mc.stage));
	buf_adds(&url, a->primary_url);
	buf_addc(&url, '/');
	web_add_url_segment(&url, user);
	buf_addc(&url, '/');
	web_add_url_segment(&url, slash ? slash + 1 : "");
	buf_adds(&url, "/+simple/");
	if (fe->project) {
		web_add_url_segment(&url, fe->project);
		buf_addc(&url, '/');
	}
	xfree(user);
	/* the primary may itself wait up to its request timeout for upstream
	 * (a list: at least 30 s) before it answers */
	int wait_s = fe->kind == FETCH_LIST ? (timeout_s > 30 ? timeout_s : 30) : timeout_s;
	struct upstream_request rq = {
		.url = url.p,
		.method = fe->kind == FETCH_LIST ? "HEAD" : NULL,
		.headers = hdrs,
		.nheaders = nh,
		.lim = {
			.connect_timeout_ms = timeout_s * 1000L,
			.first_byte_timeout_ms = (2L * wait_s + 5) * 1000L,
			.total_timeout_ms = (4L * wait_s + 10) * 1000L,
			.max_body = PAGE_BODY_MAX,
			.max_redirects = -1,
		},
	};
	fe->primary_serial = -1;
	fe->timeout_s = timeout_s;
	struct upstream_xfer *x;
	int rc = upstream_fetch(fe->w->up, &rq, &repl_cbs, fe, &x);
	buf_release(&url);
	if (rc) {
		fe->errmsg = xstrdup("cannot start the request to the primary");
		fetch_end(fe, rc);
	}
}

static void refresh(struct req *r, const struct mirror_cfg *mc, const char *project,
		    void (*done)(struct req *r, void *arg, int rc), void *arg)
{
	char fkey[700], key[700];
	struct flight *f;
	if (project) {
		snprintf(fkey, sizeof fkey, "page\n%s\n%s", mc->stage, project);
		snprintf(key, sizeof key, "mirror/%s/%s", mc->stage, project);
	} else {
		snprintf(fkey, sizeof fkey, "list\n%s", mc->stage);
		snprintf(key, sizeof key, "mirrorlist/%s", mc->stage);
	}
	if (mc->offline) {
		done(r, arg, ERR_UPSTREAM);
		return;
	}
	if (!flight_join(fkey, r, (flight_wake_fn)done, arg, &f))
		return;
	struct fetch *fe = xcalloc(1, sizeof *fe);
	fe->kind = project ? FETCH_PAGE : FETCH_LIST;
	fe->w = r->w;
	fe->f = f;
	fe->mc = mirror_cfg_dup(mc);
	fe->project = project ? xstrdup(project) : NULL;
	fe->key = xstrdup(key);
	struct store_txn *t = NULL;
	if (store_read_begin(r->app->store, &t) == ERR_OK) {
		const char *v;
		size_t len;
		fe->have_old = store_get(t, key, &v, &len) == ERR_OK;
		if (project && fe->have_old)
			fe->old = model_get(t, key);   /* pages only: lists can be huge */
		cJSON *info = fetchinfo_get(t, key);
		const char *et = json_get_str(info, "etag");
		/* an ETag without the copy it names (deleted since) would
		 * only earn a 304 with nothing to show */
		fe->old_etag = et && fe->have_old ? xstrdup(et) : NULL;
		cJSON_Delete(info);
		store_abort(t);
	}
	int timeout_s = r->app->cfg->request_timeout > 0 ? r->app->cfg->request_timeout : 5;
	if (r->app->replica)
		repl_fetch_start(fe, timeout_s);
	else
		fetch_start(fe, timeout_s);
}

void mirror_refresh_page(struct req *r, const struct mirror_cfg *mc, const char *project,
			 void (*done)(struct req *r, void *arg, int rc), void *arg)
{
	refresh(r, mc, project, done, arg);
}

void mirror_refresh_list(struct req *r, const struct mirror_cfg *mc,
			 void (*done)(struct req *r, void *arg, int rc), void *arg)
{
	refresh(r, mc, NULL, done, arg);
}

/* ---- mirror stages of a page ---------------------------------------------- */

struct rerun {
	int pending;
};

static void rerun_done(struct req *r, void *arg, int rc)
{
	struct rerun *rr = arg;
	if (--rr->pending > 0)
		return;
	xfree(rr);
	if (req_alive(r) && !r->head_sent && r->handler)
		r->handler(r);
}

bool mirror_add_links(struct req *r, struct store_txn *t, struct project_links *pl, const char *project,
		      struct mirror_outcome *out)
{
	struct mirror_cfg mcs[8];
	bool is_list[8];
	size_t nrefresh = 0;
	memset(out, 0, sizeof *out);
	out->serial = -1;
	bool lists = false;
	for (size_t i = 0; i < pl->nmirrors; i++) {
		struct mirror_use *m = &pl->mirrors[i];
		struct mirror_cfg mc;
		if (mirror_cfg_load(r->app, m->stage, m->cfg, &mc) != ERR_OK) {
			log_warn("mirror %s has no usable mirror_url", m->stage);
			if (m->requested)
				out->requested_failed = true;
			continue;
		}
		cJSON *rec = mirror_page_get(t, m->stage, project);
		if (!rec && !mc.offline && negcache_has(m->stage, project)) {
			if (m->requested)
				out->requested_notfound = true;
			mirror_cfg_release(&mc);
			continue;
		}
		if (!rec) {
			/* API.md 7.2 step 4: a project missing from the upstream
			 * list is not asked for; without a fresh list, get the list
			 * first (once), then decide */
			int in = mirror_list_lookup(t, &mc, project);
			if (in < 0 && !mc.offline && !mc.no_project_list && !r->mirror_list_tried) {
				is_list[nrefresh] = true;
				mcs[nrefresh++] = mc;
				lists = true;
				continue;
			}
			if (in == 0) {
				if (m->requested)
					out->requested_notfound = true;
				mirror_cfg_release(&mc);
				continue;
			}
		}
		char pkey[700];
		snprintf(pkey, sizeof pkey, "mirror/%s/%s", m->stage, project);
		bool fresh = rec && mirror_is_fresh(t, pkey, mc.expiry);
		if (!fresh && !mc.offline && !r->mirror_pass) {
			is_list[nrefresh] = false;
			mcs[nrefresh++] = mc;
			cJSON_Delete(rec);
			continue;
		}
		const char *status = json_get_str(rec, "status");
		if (!fresh || mc.offline)
			out->stale = true;
		else {
			double until = mirror_fresh_until(t, pkey, mc.expiry);
			if (out->fresh_until == 0 || until < out->fresh_until)
				out->fresh_until = until;
		}
		if (rec && status && strcmp(status, "ok") == 0) {
			links_add_mirror(t, pl, m->stage, rec, mc.offline);
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "serial");
			if (m->requested && cJSON_IsNumber(s))
				out->serial = (long long)s->valuedouble;
		} else if (rec && status && strcmp(status, "notfound") == 0) {
			if (m->requested)
				out->requested_notfound = true;
		} else if (m->requested) {
			out->requested_failed = true;
		}
		cJSON_Delete(rec);
		mirror_cfg_release(&mc);
	}
	if (nrefresh == 0)
		return false;
	struct rerun *rr = xcalloc(1, sizeof *rr);
	rr->pending = (int)nrefresh;
	if (lists) {
		/* this round fetches lists only; pages come next round */
		r->mirror_list_tried = true;
		rr->pending = 0;
		for (size_t i = 0; i < nrefresh; i++)
			rr->pending += is_list[i];
		for (size_t i = 0; i < nrefresh; i++) {
			if (is_list[i])
				mirror_refresh_list(r, &mcs[i], rerun_done, rr);
			mirror_cfg_release(&mcs[i]);
		}
		return true;
	}
	r->mirror_pass = true;
	for (size_t i = 0; i < nrefresh; i++) {
		mirror_refresh_page(r, &mcs[i], project, rerun_done, rr);
		mirror_cfg_release(&mcs[i]);
	}
	return true;
}

/* ---- links of files ----------------------------------------------------------- */

static cJSON *link_in_page(struct store_txn *t, const char *stage, const char *project, const char *relpath)
{
	cJSON *rec = mirror_page_get(t, stage, project), *found = NULL;
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(rec, "links")) {
		const char *rp = json_get_str(l, "relpath");
		if (rp && strcmp(rp, relpath) == 0) {
			found = cJSON_Duplicate(l, 1);
			break;
		}
	}
	cJSON_Delete(rec);
	return found;
}

cJSON *mirror_find_link(struct store_txn *t, const char *stage, const char *relpath, char **project)
{
	const char *fn = strrchr(relpath, '/');
	fn = fn ? fn + 1 : relpath;
	char norm[300];
	struct filename_info fi;
	*project = NULL;
	/* The parsed project first, then every '-' split of the name (sdist
	 * names are ambiguous), shortest last. */
	if (filename_parse(fn, strlen(fn), &fi) == ERR_OK &&
	    name_normalize(fi.project, strlen(fi.project), norm, sizeof norm) == ERR_OK) {
		cJSON *l = link_in_page(t, stage, norm, relpath);
		if (l) {
			*project = xstrdup(norm);
			return l;
		}
	}
	for (size_t i = strlen(fn); i > 0; i--) {
		if (fn[i - 1] != '-' || i - 1 == 0)
			continue;
		if (name_normalize(fn, i - 1, norm, sizeof norm) != ERR_OK)
			continue;
		cJSON *l = link_in_page(t, stage, norm, relpath);
		if (l) {
			*project = xstrdup(norm);
			return l;
		}
	}
	return NULL;
}

/* ---- credentials are never shown ------------------------------------------ */

char *mirror_url_masked(const char *url)
{
	const char *scheme = strstr(url, "://");
	if (!scheme)
		return xstrdup(url);
	const char *host = scheme + 3;
	const char *slash = strchr(host, '/');
	const char *at = memrchr(host, '@', slash ? (size_t)(slash - host) : strlen(host));
	if (!at)
		return xstrdup(url);
	/* the whole userinfo: a token may be the user name */
	return xasprintf("%.*s****%s", (int)(host - url), url, at);
}

void mirror_mask_config(cJSON *cfg)
{
	const char *url = json_get_str(cfg, "mirror_url");
	if (!url)
		return;
	char *m = mirror_url_masked(url);
	cJSON_ReplaceItemInObjectCaseSensitive(cfg, "mirror_url", cJSON_CreateString(m));
	xfree(m);
}

cJSON *mirror_metadata_link(const cJSON *wl)
{
	const char *url = json_get_str(wl, "url"), *rel = json_get_str(wl, "relpath");
	const char *fn = json_get_str(wl, "filename");
	if (!url || !rel || !fn || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(wl, "core_metadata")))
		return NULL;
	cJSON *l = cJSON_CreateObject();
	char *s = xasprintf("%s.metadata", url);
	cJSON_AddStringToObject(l, "url", s);
	xfree(s);
	s = xasprintf("%s.metadata", rel);
	cJSON_AddStringToObject(l, "relpath", s);
	xfree(s);
	s = xasprintf("%s.metadata", fn);
	cJSON_AddStringToObject(l, "filename", s);
	xfree(s);
	const char *sha = json_get_str(wl, "core_metadata_sha256");
	if (sha) {
		s = xasprintf("sha256=%s", sha);
		cJSON_AddStringToObject(l, "hash_spec", s);
		xfree(s);
	}
	if (json_get_str(wl, "version"))
		cJSON_AddStringToObject(l, "version", json_get_str(wl, "version"));
	return l;
}

/* ---- the upstream name list, in memory ------------------------------------------ */

struct listcache {
	struct listcache *next;
	char *stage;
	double fetched;
	char *names;                 /* NUL-separated; the set borrows from it */
	struct strset set;
};

static pthread_mutex_t lc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct listcache *lcs;

static struct listcache *lc_get_locked(struct store_txn *t, const char *stage, double fetched)
{
	struct listcache *c = lcs;
	while (c && strcmp(c->stage, stage) != 0)
		c = c->next;
	if (c && c->fetched == fetched)
		return c;
	cJSON *rec = mirror_list_get(t, stage);
	const char *names = json_get_str(rec, "names");
	if (!names) {
		cJSON_Delete(rec);
		return NULL;
	}
	if (!c) {
		c = xcalloc(1, sizeof *c);
		c->stage = xstrdup(stage);
		c->next = lcs;
		lcs = c;
	} else {
		strset_release(&c->set);
		xfree(c->names);
	}
	c->fetched = fetched;
	c->names = xstrdup(names);
	cJSON_Delete(rec);
	strset_init(&c->set, 1024);
	for (char *p = c->names; *p;) {
		char *e = strchr(p, '\n');
		if (e)
			*e = '\0';
		if (*p)
			strset_add(&c->set, p, strlen(p));
		p = e ? e + 1 : p + strlen(p);
	}
	return c;
}

int mirror_list_lookup(struct store_txn *t, const struct mirror_cfg *mc, const char *project)
{
	char key[600];
	snprintf(key, sizeof key, "mirrorlist/%s", mc->stage);
	cJSON *info = fetchinfo_get(t, key);
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(info, "fetched");
	int res = -1;
	if (mc->no_project_list || !cJSON_IsNumber(f) ||
	    (!mc->offline && !(f->valuedouble + mc->expiry > time_now()))) {
		cJSON_Delete(info);
		return -1;
	}
	pthread_mutex_lock(&lc_mu);
	struct listcache *c = lc_get_locked(t, mc->stage, f->valuedouble);
	if (c)
		res = strset_has(&c->set, project, strlen(project)) ? 1 : 0;
	pthread_mutex_unlock(&lc_mu);
	cJSON_Delete(info);
	return res;
}
