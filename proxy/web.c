/* web.c — small helpers shared by the handlers (see web.h). */
#include "proxy/web.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include <stdlib.h>
#include <stdint.h>
#include "common/util.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "proxy/app.h"
#include "proxy/perm.h"
#include "proxy/conn.h"
#include "proxy/model.h"
#include "proxy/wjob.h"
#include "store/store.h"

char *web_base_url(struct req *r)
{
	size_t n;
	const char *v = req_header(r, "x-outside-url", &n);
	char *url;
	if (v && n > 0 && n < 1024)
		url = xstrndup(v, n);
	else if (r->app->cfg->outside_url)
		url = xstrdup(r->app->cfg->outside_url);
	else {
		const char *host = req_header(r, "host", &n);
		if (!host || n == 0 || n > 255)
			url = xasprintf("http://%s:%d", r->app->cfg->host, r->app->listen_port);
		else
			url = xasprintf("http://%.*s", (int)n, host);
	}
	size_t len = strlen(url);
	while (len && url[len - 1] == '/')
		url[--len] = '\0';
	return url;
}

cJSON *web_json_body(struct req *r)
{
	cJSON *v = NULL;
	if (json_parse_bounded(r->body.p ? r->body.p : "", r->body.len, 1024 * 1024, 32, &v) != ERR_OK) {
		resp_message(r, 400, "Bad request: could not decode json");
		return NULL;
	}
	return v;
}

cJSON *web_json_object(struct req *r)
{
	cJSON *v = web_json_body(r);
	if (v && !cJSON_IsObject(v)) {
		resp_message(r, 400, "Bad request: expected a JSON object");
		cJSON_Delete(v);
		v = NULL;
	}
	return v;
}

struct store_txn *web_read_begin(struct req *r)
{
	struct store_txn *t = NULL;
	int rc = store_read_begin(r->app->store, &t);
	if (rc) {
		log_err("cannot begin a read transaction: %s", err_str(rc));
		resp_message(r, 500, "store unavailable: %s", err_str(rc));
		return NULL;
	}
	r->serial = store_txn_serial(t);
	return t;
}

cJSON *web_get_user(struct store_txn *t, const char *user)
{
	char key[600];
	snprintf(key, sizeof key, "user/%s", user);
	return model_get(t, key);
}

cJSON *web_get_index(struct store_txn *t, const char *user, const char *index)
{
	char key[600];
	snprintf(key, sizeof key, "index/%s/%s", user, index);
	return model_get(t, key);
}

void web_challenge(struct req *r)
{
	resp_header(r, "WWW-Authenticate", "Basic realm=\"pypi\"");
}

struct kvjob *kvjob_new(void)
{
	return xcalloc(1, sizeof(struct kvjob));
}

void kvjob_put(struct kvjob *j, const char *key, const cJSON *v)
{
	if (j->n == KVJOB_MAX)
		abort();
	struct buf b = BUF_INIT;
	if (v)
		json_print_compact(v, &b);
	j->keys[j->n] = xstrdup(key);
	j->lens[j->n] = b.len;
	j->vals[j->n] = v ? buf_detach(&b, NULL) : NULL;
	j->n++;
}

int kvjob_run(struct store_txn *t, void *arg)
{
	struct kvjob *j = arg;
	const char *v;
	size_t len;
	int rc = ERR_OK;
	if (j->absent_key && store_get(t, j->absent_key, &v, &len) == ERR_OK)
		return ERR_EXISTS;
	if (j->present_key && store_get(t, j->present_key, &v, &len) != ERR_OK)
		return ERR_NOTFOUND;
	if (j->expect_key) {
		/* read-modify-write guard: the record must still be what the
		 * handler read, or a concurrent change would be lost */
		cJSON *cur = model_get(t, j->expect_key);
		bool same = cur && cJSON_Compare(cur, j->expect, 1);
		cJSON_Delete(cur);
		if (!same)
			return ERR_CONFLICT;
	}
	for (size_t i = 0; i < j->n && !rc; i++) {
		if (j->vals[i])
			rc = store_put(t, j->keys[i], j->vals[i], j->lens[i]);
		else
			rc = store_del(t, j->keys[i]);
	}
	return rc;
}

void kvjob_free(struct kvjob *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		xfree(j->keys[i]);
		xfree(j->vals[i]);
	}
	xfree(j->absent_key);
	xfree(j->present_key);
	xfree(j->expect_key);
	cJSON_Delete(j->expect);
	cJSON_Delete(j->reply);
	xfree(j->ok_msg);
	xfree(j->exists_msg);
	xfree(j->notfound_msg);
	xfree(j);
}

static void kvjob_done(struct req *r, void *arg, int rc, int64_t serial)
{
	struct kvjob *j = arg;
	if (!req_alive(r))
		;
	else if (rc == ERR_EXISTS)
		resp_message(r, 409, "%s", j->exists_msg ? j->exists_msg : "already exists");
	else if (rc == ERR_NOTFOUND)
		resp_message(r, 404, "%s", j->notfound_msg ? j->notfound_msg : "not found");
	else if (rc == ERR_CONFLICT)
		resp_message(r, 409, "changed concurrently by another request; retry");
	else if (rc == ERR_MAPFULL)
		resp_message(r, 507, "store full: the write was not done");
	else if (rc)
		resp_message(r, 500, "write failed: %s", err_str(rc));
	else if (j->reply) {
		resp_result(r, j->ok_status, j->ok_type, j->reply, j->ok_msg);
		j->reply = NULL;
	} else
		resp_message(r, j->ok_status, "%s", j->ok_msg ? j->ok_msg : "ok");
	kvjob_free(j);
}

void kvjob_submit(struct req *r, struct kvjob *j)
{
	wjob_submit(r, kvjob_run, j, kvjob_done);
}

void web_add_url_segment(struct buf *b, const char *s)
{
	static const char hexd[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~!$&'()*+,;=:@", *p)) {
			buf_addc(b, (char)*p);
		} else {
			char e[3] = { '%', hexd[*p >> 4], hexd[*p & 15] };
			buf_add(b, e, 3);
		}
	}
}

static void add_path(struct buf *b, const char *target)
{
	/* target segments are already safe except for the filename: encode each */
	const char *s = target;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char *seg = xstrndup(s, n);
		web_add_url_segment(b, seg);
		xfree(seg);
		if (!e)
			break;
		buf_addc(b, '/');
		s = e + 1;
	}
}

void web_add_href(struct req *r, struct buf *b, const char *target)
{
	size_t n;
	if (r->app->cfg->absolute_urls || req_header(r, "x-devpi-absolute-urls", &n)) {
		char *base = web_base_url(r);
		buf_adds(b, base);
		buf_addc(b, '/');
		xfree(base);
		add_path(b, target);
		return;
	}
	/* The directory of the request path: every segment if the path ends
	 * with '/', else all but the last. */
	size_t ndir = r->trailing_slash ? r->nsegs : (r->nsegs ? r->nsegs - 1 : 0);
	size_t common = 0;
	const char *s = target;
	while (common < ndir) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (!e || strlen(r->segs[common]) != len || memcmp(r->segs[common], s, len) != 0)
			break;
		common++;
		s = e + 1;
	}
	for (size_t i = common; i < ndir; i++)
		buf_adds(b, "../");
	add_path(b, s);
}

bool web_read_gate(struct req *r, const char *user, const char *index)
{
	if (!atomic_load(&r->app->acl_read_used))
		return true;
	struct store_txn *t = NULL;
	if (store_read_begin(r->app->store, &t) != ERR_OK) {
		resp_message(r, 503, "store unavailable; retry");
		return false;   /* never open by failure */
	}
	cJSON *cfg = web_get_index(t, user, index);
	store_abort(t);
	bool ok = !cfg || perm_can_read(r, user, cfg);
	cJSON_Delete(cfg);
	if (!ok)
		perm_refuse(r, true, "no permission to read this index");
	return ok;
}

bool web_stage_readable(const struct req *r, struct store_txn *t, const char *stage)
{
	if (!atomic_load(&r->app->acl_read_used))
		return true;
	char key[700];
	snprintf(key, sizeof key, "index/%s", stage);
	cJSON *cfg = model_get(t, key);
	bool ok = !cfg || perm_can_read_stage(r, stage, cfg);
	cJSON_Delete(cfg);
	return ok;
}

void web_relpath(const struct req *r, struct buf *rel)
{
	for (size_t i = 0; i < r->nsegs; i++) {
		if (i)
			buf_addc(rel, '/');
		buf_adds(rel, r->segs[i]);
	}
}
