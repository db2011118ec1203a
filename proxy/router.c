/* router.c — request head → handler (API.md section 1), credentials
 * (API.md 2.3) and the headers every response carries (API.md 0.3).
 *
 * The path is split on '/' and each segment percent-decoded on its own, so a
 * "%2F" can never create a segment boundary; decoded segments with '/', NUL,
 * "." or ".." are refused before anything looks them up.  Routing is a
 * small decision tree on the segment count and the '+' segments, in the
 * match order of API.md's table.
 */
#include "proxy/router.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/auth.h"
#include "proxy/conn.h"
#include "proxy/cpupool.h"
#include "proxy/forward.h"
#include "proxy/handlers.h"
#include "proxy/http1.h"
#include "proxy/model.h"
#include "proxy/replauth.h"
#include "proxy/throttle.h"
#include "store/store.h"

#define BODY_JSON_MAX (1024 * 1024)

void router_format_common_headers(struct app *a, int64_t serial, struct buf *b)
{
	if (serial < -1)
		serial = atomic_load(&a->serial);
	buf_addf(b,
		 "X-DEVPI-API-VERSION: 2\r\nX-DEVPI-SERVER-VERSION: %s\r\nX-DEVPI-UUID: %s\r\n"
		 "X-DEVPI-PRIMARY-UUID: %s\r\nX-DEVPI-MASTER-UUID: %s\r\nX-DEVPI-SERIAL: %lld\r\n",
		 DEVPI_LIKE_VERSION, a->uuid, a->uuid, a->uuid, (long long)serial);
}

void router_common_headers(struct req *r)
{
	router_format_common_headers(r->app, r->serial, &r->hdrs);
}

/* ---- path ------------------------------------------------------------ */

/* Decodes one segment; ERR_PARSE for a bad escape or a forbidden result. */
static int seg_decode(const char *s, size_t n, char **out)
{
	char *d = xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				xfree(d);
				return ERR_PARSE;
			}
			d[k++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			d[k++] = s[i];
		}
	}
	d[k] = '\0';
	if (memchr(d, '\0', k) || memchr(d, '/', k) || strcmp(d, ".") == 0 || strcmp(d, "..") == 0) {
		xfree(d);
		return ERR_PARSE;
	}
	*out = d;
	return ERR_OK;
}

static int split_path(struct req *r)
{
	const char *p = r->rawpath;
	if (*p != '/')
		return ERR_PARSE;
	size_t len = strlen(p);
	r->trailing_slash = len > 1 && p[len - 1] == '/';
	size_t cap = 8;
	r->segs = xcalloc(cap, sizeof *r->segs);
	const char *s = p + 1;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0) {
			if (!e || !e[1])
				break;      /* the trailing slash */
			return ERR_PARSE;   /* "//" inside the path */
		}
		if (r->nsegs == 64)
			return ERR_PARSE;
		if (r->nsegs == cap) {
			cap *= 2;
			r->segs = xrealloc(r->segs, cap * sizeof *r->segs);
		}
		int rc = seg_decode(s, n, &r->segs[r->nsegs]);
		if (rc)
			return rc;
		r->nsegs++;
		s = e ? e + 1 : s + n;
	}
	return ERR_OK;
}

/* ---- credentials ----------------------------------------------------- */

/* Verified password cache: argon2 costs tens of milliseconds, and twine or
 * pip send the same password on every request.  An entry maps
 * HMAC(secret, user NUL password) to the sha256 of the pwhash it was
 * verified against, so a changed password invalidates it. */
#define PWCACHE_SIZE 256
struct pwcache_entry {
	uint8_t key[SHA256_LEN];
	uint8_t pwhash_sum[SHA256_LEN];
	time_t until;
};
static struct pwcache_entry pwcache[PWCACHE_SIZE];
static pthread_mutex_t pwcache_lock = PTHREAD_MUTEX_INITIALIZER;

static void pwcache_key(const struct app *a, const char *user, const char *pw, uint8_t out[SHA256_LEN])
{
	size_t ul = strlen(user), pl = strlen(pw);
	char *msg = xmalloc(ul + pl + 1);
	memcpy(msg, user, ul);
	msg[ul] = '\0';
	memcpy(msg + ul + 1, pw, pl);
	hmac_sha256(a->secret, sizeof a->secret, msg, ul + pl + 1, out);
	xfree(msg);
}

static bool pwcache_check(const uint8_t key[SHA256_LEN], const uint8_t sum[SHA256_LEN])
{
	bool hit = false;
	time_t now = time(NULL);
	pthread_mutex_lock(&pwcache_lock);
	struct pwcache_entry *e = &pwcache[key[0] % PWCACHE_SIZE];
	if (e->until > now && ct_equal(e->key, key, SHA256_LEN) && ct_equal(e->pwhash_sum, sum, SHA256_LEN))
		hit = true;
	pthread_mutex_unlock(&pwcache_lock);
	return hit;
}

static void pwcache_store(const uint8_t key[SHA256_LEN], const uint8_t sum[SHA256_LEN])
{
	pthread_mutex_lock(&pwcache_lock);
	struct pwcache_entry *e = &pwcache[key[0] % PWCACHE_SIZE];
	memcpy(e->key, key, SHA256_LEN);
	memcpy(e->pwhash_sum, sum, SHA256_LEN);
	e->until = time(NULL) + 600;
	pthread_mutex_unlock(&pwcache_lock);
}

/* Password checks run on the CPU pool: argon2 takes tens of milliseconds
 * and 64 MiB, which must not stall a loop.  The verified-password cache
 * answers repeated credentials without it. */
struct pwcheck {
	struct app *app;
	char *user;
	char *addr;                     /* the client's, for throttle.c */
	char *pw;
	char *pwhash;                   /* NULL: no such user */
	uint8_t key[SHA256_LEN];
	uint8_t sum[SHA256_LEN];
	int rc;
	void (*then)(struct req *r, const char *user, bool ok, void *arg);
	void *arg;
};

static void pwcheck_free(struct pwcheck *pc)
{
	xfree(pc->user);
	xfree(pc->addr);
	if (pc->pw) {
		memset(pc->pw, 0, strlen(pc->pw));
		xfree(pc->pw);
	}
	xfree(pc->pwhash);
	xfree(pc);
}

static void pwcheck_work(void *arg)
{
	struct pwcheck *pc = arg;
	pc->rc = pc->pwhash ? auth_verify_password(pc->pw, strlen(pc->pw), pc->pwhash) : ERR_AUTH;
	if (pc->rc == ERR_OK)
		pwcache_store(pc->key, pc->sum);
}

static void pwcheck_done(struct req *r, void *arg)
{
	struct pwcheck *pc = arg;
	if (pc->rc != ERR_OK)
		throttle_fail(pc->user, pc->addr, time(NULL));
	pc->then(r, pc->user, pc->rc == ERR_OK, pc->arg);
	pwcheck_free(pc);
}

/* Answers 429 when user or addr is past its bound of failed checks. */
static bool storm_refused(struct req *r, const char *user, const char *addr)
{
	int retry = 0;
	if (!throttle_blocked(user, addr, r->app->cfg->login_fail_limit, time(NULL), &retry))
		return false;
	resp_headerf(r, "Retry-After", "%d", retry);
	resp_message(r, 429, "too many failed logins for '%s' or from this address; retry in %d seconds", user,
		     retry);
	return true;
}

void router_check_password(struct req *r, const char *user, const char *pw,
			   void (*then)(struct req *r, const char *user, bool ok, void *arg), void *arg)
{
	struct app *a = r->app;
	struct store_txn *t = NULL;
	char key[600];
	struct pwcheck *pc = xcalloc(1, sizeof *pc);
	const char *addr = req_peer(r);
	pc->app = a;
	pc->addr = addr ? xstrdup(addr) : NULL;
	pc->user = xstrdup(user);
	pc->pw = xstrdup(pw);
	pc->then = then;
	pc->arg = arg;
	if (store_read_begin(a->store, &t) == ERR_OK) {
		snprintf(key, sizeof key, "user/%s", user);
		cJSON *u = model_get(t, key);
		store_abort(t);
		const char *h = u ? json_get_str(u, "pwhash") : NULL;
		if (h)
			pc->pwhash = xstrdup(h);
		cJSON_Delete(u);
	}
	if (!pc->pwhash) {
		if (storm_refused(r, user, addr)) {
			pwcheck_free(pc);
			return;
		}
		throttle_fail(user, pc->addr, time(NULL));
		then(r, user, false, arg);
		pwcheck_free(pc);
		return;
	}
	pwcache_key(a, user, pw, pc->key);
	sha256_buf(pc->pwhash, strlen(pc->pwhash), pc->sum);
	if (pwcache_check(pc->key, pc->sum)) {
		then(r, user, true, arg);
		pwcheck_free(pc);
		return;
	}
	/* a password verified recently passes above; anything else waits out
	 * a storm without costing an argon2 run */
	if (storm_refused(r, user, addr)) {
		pwcheck_free(pc);
		return;
	}
	req_pause_body(r, true);
	if (cpupool_submit(r, pwcheck_work, pwcheck_done, pc) != ERR_OK) {
		req_pause_body(r, false);
		pwcheck_free(pc);
		resp_message(r, 503, "server busy checking passwords; retry");
	}
}

static void route(struct req *r);

static void auth_checked(struct req *r, const char *user, bool ok, void *arg)
{
	if (ok)
		r->user = xstrdup(user);
	req_pause_body(r, false);
	if (req_alive(r) && !r->head_sent)
		route(r);
}

/* Resolves credentials, then routes (at once, or after a password check
 * on the CPU pool). */
/* A request a replica of this primary signed (API.md 8.2): its mirror
 * refreshes and file fetches read stages an anonymous caller may not. */
static bool is_replica_request(const struct req *r)
{
	size_t len, ulen;
	char u[65];
	const struct app *a = r->app;
	if (!a->primary || !a->have_repl_key)
		return false;
	const char *auth = req_header(r, "authorization", &len);
	const char *uuid = req_header(r, "x-devpi-replica-uuid", &ulen);
	if (!auth || !uuid || ulen == 0 || ulen > 64 || len < 7 || strncmp(auth, "Bearer ", 7) != 0)
		return false;
	snprintf(u, sizeof u, "%.*s", (int)ulen, uuid);
	return replauth_check(a->repl_key, u, auth, len, time(NULL)) == ERR_OK;
}

static void resolve_auth_then_route(struct req *r)
{
	size_t len;
	char *user = NULL, *pass = NULL;
	const char *v = req_header(r, "x-devpi-auth", &len);
	int rc = ERR_PARSE;
	if (v)
		rc = auth_parse_xdevpi(v, len, &user, &pass);
	if (rc) {
		v = req_header(r, "authorization", &len);
		if (v && len > 6 && strncasecmp(v, "basic ", 6) == 0)
			rc = auth_parse_basic(v, len, &user, &pass);
	}
	if (rc && is_replica_request(r)) {
		r->user = xstrdup(REPLAUTH_USER);  /* perm.c: may read every stage, nothing more */
		route(r);
	} else if (rc || !*user || strlen(user) > 64 || name_check_user_index(user, strlen(user)) ||
		   strlen(pass) > 4096) {
		route(r);
	} else if (auth_token_check(r->app->secret, sizeof r->app->secret, pass, strlen(pass), user, time(NULL)) ==
		   ERR_OK) {
		r->user = user;
		user = NULL;
		route(r);
	} else {
		router_check_password(r, user, pass, auth_checked, NULL);
	}
	xfree(user);
	if (pass) {
		memset(pass, 0, strlen(pass));
		xfree(pass);
	}
}

/* ---- dispatch -------------------------------------------------------- */

static bool is_installer(const struct req *r)
{
	size_t n;
	const char *ua = req_header(r, "user-agent", &n);
	if (!ua)
		return false;
	/* ([^ ]* )*(distribute|setuptools|pip|pex|uv)/.* from the start */
	static const char *const names[] = { "distribute/", "setuptools/", "pip/", "pex/", "uv/" };
	size_t pos = 0;
	while (pos < n) {
		for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
			size_t l = strlen(names[k]);
			if (n - pos >= l && memcmp(ua + pos, names[k], l) == 0)
				return true;
		}
		const char *sp = memchr(ua + pos, ' ', n - pos);
		if (!sp)
			break;
		pos = (size_t)(sp - ua) + 1;
	}
	return false;
}

/* fn runs once the body is in; max bounds it (0: the route takes no body,
 * and any body byte is answered 413). */
static void collect(struct req *r, void (*fn)(struct req *), size_t max)
{
	r->body_limit = max;
	if (r->body.max < max)
		r->body.max = max;      /* conn.c starts every body buffer at 64 KiB */
	r->handler = fn;
}

static bool method_is(struct req *r, enum method m)
{
	return r->m == m || (m == M_GET && r->m == M_HEAD);
}

static void not_allowed(struct req *r)
{
	resp_message(r, 405, "method %s not allowed on %s", r->method, r->rawpath);
}

static bool check_user_index_names(struct req *r, size_t upto)
{
	for (size_t i = 0; i < upto && i < r->nsegs; i++) {
		const char *s = r->segs[i];
		if (name_check_user_index(s, strlen(s)) != ERR_OK) {
			if (i == 0)
				resp_message(r, 400, "username '%s' contains characters that aren't allowed. Any ascii symbol besides -.@_ is blocked.", s);
			else
				resp_message(r, 400, "indexname '%s' contains characters that aren't allowed. Any ascii symbol besides -.@_ is blocked.", s);
			return false;
		}
	}
	return true;
}

static void route_plus(struct req *r)
{
	const char *s = r->segs[0];
	if (r->nsegs == 2 && strcmp(s, "+changelog") == 0) {
		method_is(r, M_GET) ? collect(r, h_changelog, 0) : not_allowed(r);
		return;
	}
	if (r->nsegs != 1) {
		resp_abort(r, 404, "not found");
	} else if (strcmp(s, "+api") == 0) {
		collect(r, h_api, 0);
	} else if (strcmp(s, "+snapshot") == 0) {
		method_is(r, M_GET) ? collect(r, h_snapshot, 0) : not_allowed(r);
	} else if (strcmp(s, "+status") == 0) {
		method_is(r, M_GET) ? collect(r, h_status, 0) : not_allowed(r);
	} else if (strcmp(s, "+authcheck") == 0) {
		method_is(r, M_GET) ? collect(r, h_authcheck, 0) : not_allowed(r);
	} else if (strcmp(s, "+health") == 0) {
		method_is(r, M_GET) ? collect(r, h_health, 0) : not_allowed(r);
	} else if (strcmp(s, "+login") == 0) {
		r->m == M_POST ? collect(r, h_login, BODY_JSON_MAX) : not_allowed(r);
	} else {
		resp_abort(r, 404, "not found");
	}
}

static void route_index_plus(struct req *r)
{
	const char *s = r->segs[2];
	if (strcmp(s, "+api") == 0 && r->nsegs == 3) {
		collect(r, h_api, 0);
	} else if (strcmp(s, "+simple") == 0) {
		if (r->nsegs == 3)
			method_is(r, M_GET) ? collect(r, h_simple_list, 0) : not_allowed(r);
		else if (r->nsegs == 4)
			method_is(r, M_GET) ? collect(r, h_simple_project, 0) : not_allowed(r);
		else if (r->nsegs == 5 && strcmp(r->segs[4], "refresh") == 0)
			r->m == M_POST ? collect(r, h_simple_refresh, BODY_JSON_MAX) : not_allowed(r);
		else
			resp_abort(r, 404, "not found");
	} else if ((strcmp(s, "+f") == 0 || strcmp(s, "+e") == 0) && r->nsegs >= 4) {
		if (r->m == M_DELETE)
			collect(r, h_file_delete, 0);
		else if (r->m == M_POST && strcmp(s, "+f") == 0)
			collect(r, h_toxresult_post, BODY_JSON_MAX);
		else
			method_is(r, M_GET) ? collect(r, h_file_get, 0) : not_allowed(r);
	} else {
		resp_abort(r, 404, "not found");
	}
}

void router_head(struct req *r)
{
	if (split_path(r) != ERR_OK) {
		resp_message(r, 400, "invalid path '%s'", r->rawpath);
		return;
	}
	r->installer = is_installer(r);
	if (forward_wanted(r)) {         /* a replica's write: the primary decides (API.md 8.6) */
		forward_start(r);
		return;
	}
	resolve_auth_then_route(r);
}

static void route(struct req *r)
{
	if (r->nsegs == 0) {
		method_is(r, M_GET) ? collect(r, h_root_list, 0) : not_allowed(r);
		return;
	}
	if (r->segs[0][0] == '+') {
		route_plus(r);
		return;
	}
	if (!check_user_index_names(r, r->nsegs >= 2 && r->segs[1][0] != '+' ? 2 : 1))
		return;
	if (r->nsegs == 1) {
		if (method_is(r, M_GET))
			collect(r, h_user_get, 0);
		else if (r->m == M_PUT)
			collect(r, h_user_put, BODY_JSON_MAX);
		else if (r->m == M_PATCH)
			collect(r, h_user_patch, BODY_JSON_MAX);
		else if (r->m == M_DELETE)
			collect(r, h_user_delete, 0);
		else
			not_allowed(r);
		return;
	}
	if (r->segs[1][0] == '+') {
		if (r->nsegs == 2 && strcmp(r->segs[1], "+api") == 0)
			collect(r, h_api, 0);
		else
			resp_abort(r, 404, "not found");
		return;
	}
	if (r->nsegs == 2) {
		if (method_is(r, M_GET)) {
			size_t alen;
			const char *accept = req_header(r, "accept", &alen);
			bool pep691 = accept && memmem(accept, alen, "application/vnd.pypi.simple", 27) &&
				      !memmem(accept, alen, "application/json", 16);
			collect(r, (r->installer || pep691) ? h_simple_list : h_index_get, 0);
		} else if (r->m == M_PUT) {
			collect(r, h_index_put, BODY_JSON_MAX);
		} else if (r->m == M_PATCH) {
			collect(r, h_index_patch, BODY_JSON_MAX);
		} else if (r->m == M_DELETE) {
			collect(r, h_index_delete, 0);
		} else if (r->m == M_POST || r->m == M_PUSH) {
			/* a multipart form is an upload, anything else a push (API.md 6.4) */
			size_t clen;
			const char *ct = req_header(r, "content-type", &clen);
			if (r->m == M_POST && ct && clen >= 10 && strncasecmp(ct, "multipart/", 10) == 0) {
				h_upload_head(r);
			} else {
				collect(r, h_push, BODY_JSON_MAX);
			}
		} else {
			not_allowed(r);
		}
		return;
	}
	if (r->segs[2][0] == '+') {
		route_index_plus(r);
		return;
	}
	if (r->nsegs == 3) {
		if (r->m == M_DELETE)
			collect(r, h_project_delete, 0);
		else if (!method_is(r, M_GET))
			not_allowed(r);
		else
			collect(r, r->installer ? h_simple_project : h_project_get, 0);
		return;
	}
	if (r->nsegs == 4) {
		if (r->m == M_DELETE)
			collect(r, h_project_delete, 0);
		else if (r->m == M_PATCH)
			collect(r, h_version_patch, BODY_JSON_MAX);
		else
			method_is(r, M_GET) ? collect(r, h_version_get, 0) : not_allowed(r);
		return;
	}
	resp_abort(r, 404, "not found");
}
