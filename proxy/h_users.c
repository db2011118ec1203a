/* h_users.c — users, login, discovery and status (API.md 2.1, 2.2, 2.5, 8.7).
 *
 * Reads run in one short read transaction; writes go to the writer thread
 * as a kvjob and answer from its completion, after the commit is durable.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/auth.h"
#include "proxy/conn.h"
#include "proxy/cpupool.h"
#include "proxy/router.h"
#include "proxy/handlers.h"
#include "proxy/mirror.h"
#include "proxy/model.h"
#include "proxy/perm.h"
#include "proxy/replica.h"
#include "proxy/replwatch.h"
#include "proxy/web.h"
#include "store/store.h"

#define TOKEN_TTL 36000


/* ---- views ------------------------------------------------------------ */

struct idx_scan {
	cJSON *indexes;
	size_t prefix_len;
};

static int add_index(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct idx_scan *s = arg;
	cJSON *cfg = cJSON_ParseWithLength(val, vlen);
	if (!cfg)
		return 0;
	char *name = xstrndup(key + s->prefix_len, klen - s->prefix_len);
	mirror_mask_config(cfg);
	cJSON_AddItemToObject(s->indexes, name, cfg);
	xfree(name);
	return 0;
}

/* The public view of a user: no password hash, plus its indexes. */
static cJSON *user_view(struct store_txn *t, const char *name, cJSON *rec)
{
	cJSON *v = cJSON_Duplicate(rec, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(v, "pwhash");
	cJSON_DeleteItemFromObjectCaseSensitive(v, "pwsalt");
	cJSON_DeleteItemFromObjectCaseSensitive(v, "password");
	if (!cJSON_GetObjectItemCaseSensitive(v, "username"))
		cJSON_AddStringToObject(v, "username", name);
	char prefix[600];
	snprintf(prefix, sizeof prefix, "index/%s/", name);
	struct idx_scan s = { cJSON_CreateObject(), strlen(prefix) };
	store_scan(t, prefix, add_index, &s);
	cJSON_AddItemToObject(v, "indexes", s.indexes);
	return v;
}

struct user_scan {
	struct store_txn *t;
	cJSON *all;
};

static int add_user(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct user_scan *s = arg;
	cJSON *rec = cJSON_ParseWithLength(val, vlen);
	if (!rec)
		return 0;
	char *name = xstrndup(key + 5, klen - 5);
	cJSON_AddItemToObject(s->all, name, user_view(s->t, name, rec));
	xfree(name);
	cJSON_Delete(rec);
	return 0;
}

void h_root_list(struct req *r)
{
	struct store_txn *t = web_read_begin(r);
	if (!t)
		return;
	struct user_scan s = { t, cJSON_CreateObject() };
	store_scan(t, "user/", add_user, &s);
	store_abort(t);
	resp_result(r, 200, "list:userconfig", s.all, NULL);
}

void h_user_get(struct req *r)
{
	const char *name = r->segs[0];
	struct store_txn *t = web_read_begin(r);
	if (!t)
		return;
	cJSON *rec = web_get_user(t, name);
	if (!rec) {
		store_abort(t);
		resp_message(r, 404, "user '%s' does not exist", name);
		return;
	}
	cJSON *v = user_view(t, name, rec);
	store_abort(t);
	cJSON_Delete(rec);
	resp_result(r, 200, "userconfig", v, NULL);
}

void h_api(struct req *r)
{
	char *base = web_base_url(r);
	cJSON *res = cJSON_CreateObject();
	char *u = xasprintf("%s/+login", base);
	cJSON_AddStringToObject(res, "login", u);
	xfree(u);
	cJSON *st = cJSON_AddArrayToObject(res, "authstatus");
	cJSON_AddItemToArray(st, cJSON_CreateString(r->user ? "ok" : "noauth"));
	cJSON_AddItemToArray(st, cJSON_CreateString(r->user ? r->user : ""));
	cJSON_AddItemToArray(st, cJSON_CreateArray());
	static const char *const features[] = { "push-no-docs", "push-only-docs", "push-register-project",
						"server-keyvalue-parsing" };
	cJSON_AddItemToObject(res, "features", cJSON_CreateStringArray(features, 4));
	if (r->nsegs == 3) {
		struct store_txn *t = web_read_begin(r);
		if (!t) {
			cJSON_Delete(res);
			xfree(base);
			return;
		}
		cJSON *cfg = web_get_index(t, r->segs[0], r->segs[1]);
		store_abort(t);
		if (!cfg) {
			resp_abort(r, 404, "The stage %s/%s could not be found.", r->segs[0], r->segs[1]);
			cJSON_Delete(res);
			xfree(base);
			return;
		}
		char *idx = xasprintf("%s/%s/%s", base, r->segs[0], r->segs[1]);
		cJSON_AddStringToObject(res, "index", idx);
		char *simple = xasprintf("%s/+simple/", idx);
		cJSON_AddStringToObject(res, "simpleindex", simple);
		const char *type = json_get_str(cfg, "type");
		if (!type || strcmp(type, "mirror") != 0) {
			char *submit = xasprintf("%s/", idx);
			cJSON_AddStringToObject(res, "pypisubmit", submit);
			xfree(submit);
		}
		xfree(simple);
		xfree(idx);
		cJSON_Delete(cfg);
	}
	xfree(base);
	resp_result(r, 200, "apiconfig", res, NULL);
}

/* The primary's commit time of serial (from its changelog entry), 0 if
 * unknown. */
static double last_commit_time(struct app *a, int64_t serial)
{
	struct store_txn *t = NULL;
	const char *v;
	size_t len;
	double when = 0;
	if (serial < 0 || store_read_begin(a->store, &t) != ERR_OK)
		return 0;
	if (store_changelog_get(t, serial, &v, &len) == ERR_OK) {
		cJSON *e = cJSON_ParseWithLength(v, len);
		when = json_get_num(e, "time", 0);
		cJSON_Delete(e);
	}
	store_abort(t);
	return when;
}

void h_status(struct req *r)
{
	struct app *a = r->app;
	cJSON *res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "serverdir", a->cfg->serverdir);
	cJSON_AddStringToObject(res, "uuid", a->uuid);
	cJSON *vi = cJSON_AddObjectToObject(res, "versioninfo");
	cJSON_AddStringToObject(vi, "devpi-like", DEVPI_LIKE_VERSION);
	cJSON_AddStringToObject(res, "server-code", "devpi-like");
	cJSON_AddStringToObject(res, "host", a->cfg->host);
	cJSON_AddNumberToObject(res, "port", a->listen_port);
	if (a->cfg->outside_url)
		cJSON_AddStringToObject(res, "outside-url", a->cfg->outside_url);
	else
		cJSON_AddNullToObject(res, "outside-url");
	int64_t serial = atomic_load(&a->serial);
	r->serial = serial;
	cJSON_AddNumberToObject(res, "serial", (double)serial);
	double committed = last_commit_time(a, serial);
	if (committed > 0)
		cJSON_AddNumberToObject(res, "last-commit-timestamp", committed);
	else
		cJSON_AddNullToObject(res, "last-commit-timestamp");
	cJSON_AddNumberToObject(res, "event-serial", (double)serial);
	if (committed > 0) {
		cJSON_AddNumberToObject(res, "event-serial-timestamp", committed);
		cJSON_AddNumberToObject(res, "event-serial-in-sync-at", committed);
	} else {
		cJSON_AddNullToObject(res, "event-serial-timestamp");
		cJSON_AddNullToObject(res, "event-serial-in-sync-at");
	}
	cJSON_AddArrayToObject(res, "metrics");
	cJSON_AddStringToObject(res, "role", a->replica ? "REPLICA" : "MASTER");
	cJSON_AddStringToObject(res, "node-role", a->replica ? "replica" : a->primary ? "primary" : "standalone");
	replwatch_status(a->replwatch, cJSON_AddObjectToObject(res, "polling_replicas"));
	if (a->repl)
		replica_status(a->repl, res);
	resp_result(r, 200, "status", res, NULL);
}

void h_health(struct req *r)
{
	struct store_txn *t = NULL;
	if (store_read_begin(r->app->store, &t) != ERR_OK) {
		resp_send(r, 503, NULL, "text/plain; charset=utf-8", "store unavailable\n", 18);
		return;
	}
	store_abort(t);
	resp_send(r, 200, NULL, "text/plain; charset=utf-8", "ok\n", 3);
}

/* ---- login ------------------------------------------------------------ */

static void login_checked(struct req *r, const char *user, bool ok, void *arg)
{
	char *token = NULL;
	req_pause_body(r, false);
	if (!req_alive(r))
		return;
	if (!ok) {
		resp_message(r, 401, "user '%s' could not be authenticated", user);
		return;
	}
	if (auth_token_new(r->app->secret, sizeof r->app->secret, user, time(NULL), TOKEN_TTL, &token) != ERR_OK) {
		resp_message(r, 500, "cannot create a token");
		return;
	}
	cJSON *res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "password", token);
	cJSON_AddNumberToObject(res, "expiration", TOKEN_TTL);
	resp_result(r, 200, "proxyauth", res, "login successful");
	xfree(token);
}

void h_login(struct req *r)
{
	cJSON *body = web_json_body(r);
	if (!body)
		return;
	const char *user = json_get_str(body, "user");
	const char *pw = json_get_str(body, "password");
	if (!user || !pw) {
		resp_message(r, 400, "Bad request: no user/password specified");
	} else if (strlen(user) > 64 || name_check_user_index(user, strlen(user)) != ERR_OK || strlen(pw) > 4096) {
		resp_message(r, 401, "user '%s' could not be authenticated", user);
	} else {
		/* /+login checks real passwords only, never tokens (API.md 2.2). */
		router_check_password(r, user, pw, login_checked, NULL);
	}
	cJSON_Delete(body);
}

/* ---- writing a user record (create, modify) --------------------------- */

/* A user record on its way to the store, through the CPU pool when a
 * password must be hashed first. */
struct user_write {
	char *name;
	char *pw;                       /* to hash on the CPU pool, or NULL */
	cJSON *old;                     /* modify: the record as read (lost-update guard); create: NULL */
	cJSON *rec;                     /* the record, pwhash set once known */
	int rc;
};

static void user_write_free(struct user_write *uw)
{
	xfree(uw->name);
	if (uw->pw) {
		memset(uw->pw, 0, strlen(uw->pw));
		xfree(uw->pw);
	}
	cJSON_Delete(uw->old);
	cJSON_Delete(uw->rec);
	xfree(uw);
}

/* Writes the record (create: if the user is still absent; modify: if the
 * record is still what was read) and answers from the commit; frees uw. */
static void user_write_store(struct req *r, struct user_write *uw)
{
	struct kvjob *j = kvjob_new();
	char key[600];
	snprintf(key, sizeof key, "user/%s", uw->name);
	kvjob_put(j, key, uw->rec);
	if (!uw->old) {
		j->absent_key = xstrdup(key);
		j->reply = cJSON_Duplicate(uw->rec, 1);
		cJSON_DeleteItemFromObjectCaseSensitive(j->reply, "pwhash");
		cJSON_AddObjectToObject(j->reply, "indexes");
		j->ok_status = 201;
		j->ok_type = "userconfig";
		j->exists_msg = xstrdup("user already exists");
	} else {
		j->expect_key = xstrdup(key);
		j->expect = uw->old;
		uw->old = NULL;
		j->ok_status = 200;
		if (uw->pw) {
			/* a password change answers with a fresh token (API.md 2.5) */
			char *token = NULL;
			if (auth_token_new(r->app->secret, sizeof r->app->secret, uw->name, time(NULL), TOKEN_TTL,
					   &token) == ERR_OK) {
				j->reply = cJSON_CreateObject();
				cJSON_AddStringToObject(j->reply, "password", token);
				cJSON_AddNumberToObject(j->reply, "expiration", TOKEN_TTL);
				j->ok_type = "userpassword";
			}
			xfree(token);
			j->ok_msg = xstrdup("user updated, new proxy auth");
		} else {
			j->ok_msg = xstrdup("user updated");
		}
	}
	kvjob_submit(r, j);
	user_write_free(uw);
}

static void user_hash_work(void *arg)
{
	struct user_write *uw = arg;
	char *pwhash = NULL;
	uw->rc = auth_hash_password(uw->pw, strlen(uw->pw), &pwhash);
	if (uw->rc == ERR_OK) {
		cJSON_DeleteItemFromObjectCaseSensitive(uw->rec, "pwhash");
		cJSON_AddStringToObject(uw->rec, "pwhash", pwhash);
	}
	xfree(pwhash);
}

static void user_hash_done(struct req *r, void *arg)
{
	struct user_write *uw = arg;
	if (!req_alive(r)) {
		user_write_free(uw);
	} else if (uw->rc) {
		resp_message(r, 500, "cannot hash the password");
		user_write_free(uw);
	} else {
		user_write_store(r, uw);
	}
}

/* Stores uw, hashing its password on the CPU pool first if it has one;
 * takes uw. */
static void user_write_submit(struct req *r, struct user_write *uw)
{
	if (!uw->pw) {
		user_write_store(r, uw);
	} else if (cpupool_submit(r, user_hash_work, user_hash_done, uw) != ERR_OK) {
		user_write_free(uw);
		resp_message(r, 503, "server busy hashing passwords; retry");
	}
}

void h_user_put(struct req *r)
{
	const char *name = r->segs[0];
	cJSON *body = NULL, *rec = NULL;
	struct buf unknown = BUF_INIT;
	if (!perm_user(r, PERM_USER_CREATE, name)) {
		if (r->user)
			resp_message(r, 403, "no permission to create user %s", name);
		else
			resp_message(r, 403, "anonymous user creation is not allowed; authenticate first");
		return;
	}
	if (name[0] == '+') {              /* e.g. REPLAUTH_USER */
		resp_message(r, 400, "username '%s' is not allowed", name);
		return;
	}
	body = web_json_object(r);
	if (!body)
		return;
	static const char *const allowed[] = { "password", "pwhash", "email", "title", "description", "custom_data" };
	const cJSON *e;
	cJSON_ArrayForEach(e, body) {
		bool ok = false;
		for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
			ok |= strcmp(e->string, allowed[i]) == 0;
		if (!ok) {
			if (unknown.len)
				buf_adds(&unknown, ", ");
			buf_adds(&unknown, e->string);
		}
	}
	if (unknown.len) {
		resp_message(r, 400, "Unknown keys in user config: %s", unknown.p);
		goto out;
	}
	const cJSON *pw = cJSON_GetObjectItemCaseSensitive(body, "password");
	const char *given_hash = json_get_str(body, "pwhash");
	if (!pw || (!cJSON_IsString(pw) && !(cJSON_IsNull(pw) && given_hash))) {
		resp_message(r, 400, "password needs to be set");
		goto out;
	}
	if (given_hash && strcmp(r->user ? r->user : "", "root") != 0) {
		resp_message(r, 403, "only root may set a password hash");
		goto out;
	}
	if (cJSON_IsString(pw) && strlen(pw->valuestring) > 1024) {
		resp_message(r, 400, "password too long");
		goto out;
	}
	char now[32];
	model_now_iso(now);
	rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "username", name);
	if (!cJSON_IsString(pw))
		cJSON_AddStringToObject(rec, "pwhash", given_hash);
	static const char *const info[] = { "email", "title", "description", "custom_data" };
	for (size_t i = 0; i < 4; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, info[i]);
		if (v && !cJSON_IsNull(v))
			cJSON_AddItemToObject(rec, info[i], cJSON_Duplicate(v, 1));
	}
	cJSON_AddStringToObject(rec, "created", now);
	struct user_write *uw = xcalloc(1, sizeof *uw);
	uw->rec = rec;
	rec = NULL;
	uw->name = xstrdup(name);
	if (cJSON_IsString(pw))
		uw->pw = xstrdup(pw->valuestring);
	user_write_submit(r, uw);
out:
	cJSON_Delete(body);
	cJSON_Delete(rec);
	buf_release(&unknown);
}

/* ---- modify user ------------------------------------------------------ */

void h_user_patch(struct req *r)
{
	const char *name = r->segs[0];
	cJSON *body = NULL, *old = NULL;
	struct store_txn *t = NULL;
	char key[600];
	body = web_json_object(r);
	if (!body)
		return;
	if (!(t = web_read_begin(r)))
		goto out;
	snprintf(key, sizeof key, "user/%s", name);
	old = model_get(t, key);
	store_abort(t);
	if (!old) {
		resp_message(r, 404, "no user '%s'", name);
		goto out;
	}
	const cJSON *pw = cJSON_GetObjectItemCaseSensitive(body, "password");
	bool only_pw = pw && cJSON_GetArraySize(body) == 1;
	if (!perm_user(r, only_pw ? PERM_USER_MODIFY_PASSWORD : PERM_USER_MODIFY, name)) {
		resp_message(r, 403, "no permission to modify user %s", name);
		goto out;
	}
	if (pw && (!cJSON_IsString(pw) || !*pw->valuestring || strlen(pw->valuestring) > 1024)) {
		resp_message(r, 400, "password must be a non-empty string of at most 1024 bytes");
		goto out;
	}
	struct user_write *up = xcalloc(1, sizeof *up);
	up->name = xstrdup(name);
	up->old = old;
	up->rec = cJSON_Duplicate(old, 1);
	old = NULL;
	/* info keys: set, or dropped by a falsy value; everything else
	 * (created, modified, username, indexes, unknown) is ignored */
	static const char *const info[] = { "email", "title", "description", "custom_data" };
	for (size_t i = 0; i < sizeof info / sizeof info[0]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, info[i]);
		if (!v)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(up->rec, info[i]);
		if (json_truthy(v))
			cJSON_AddItemToObject(up->rec, info[i], cJSON_Duplicate(v, 1));
	}
	if (pw) {
		char now[32];
		model_now_iso(now);
		cJSON_DeleteItemFromObjectCaseSensitive(up->rec, "modified");
		cJSON_AddStringToObject(up->rec, "modified", now);
		up->pw = xstrdup(pw->valuestring);
	}
	user_write_submit(r, up);
out:
	cJSON_Delete(body);
	cJSON_Delete(old);
}
