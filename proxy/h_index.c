/* h_index.c — index configs: create and read (API.md 5.1, 5.2).
 *
 * index_config_build validates a client's config against the key table of
 * API.md 5.1 (devpi-client sends every value as a string, so strings are
 * accepted everywhere) and produces the normalized record; every problem
 * found is reported, comma-joined, in one 400.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/strset.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/mirror.h"
#include "proxy/model.h"
#include "proxy/perm.h"
#include "proxy/web.h"
#include "store/store.h"

static void err_add(struct buf *errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err_add(struct buf *errs, const char *fmt, ...)
{
	va_list ap;
	if (errs->len)
		buf_adds(errs, ", ");
	va_start(ap, fmt);
	buf_vaddf(errs, fmt, ap);
	va_end(ap);
}

static bool to_bool(const cJSON *v, struct buf *errs, bool *out)
{
	if (cJSON_IsBool(v)) {
		*out = cJSON_IsTrue(v);
		return true;
	}
	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		if (!strcasecmp(s, "true") || !strcasecmp(s, "yes")) {
			*out = true;
			return true;
		}
		if (!strcasecmp(s, "false") || !strcasecmp(s, "no")) {
			*out = false;
			return true;
		}
		err_add(errs, "Unknown boolean value '%.100s'.", s);
		return false;
	}
	err_add(errs, "Unknown boolean value.");
	return false;
}

/* A list from a JSON list or a comma-separated string; items trimmed,
 * empty ones dropped.  NULL (with an error) for anything else. */
static cJSON *to_list(const cJSON *v, const char *key, struct buf *errs)
{
	cJSON *out = cJSON_CreateArray();
	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		while (*s) {
			const char *e = strchr(s, ',');
			size_t n = e ? (size_t)(e - s) : strlen(s);
			while (n && isspace((unsigned char)*s)) {
				s++;
				n--;
			}
			while (n && isspace((unsigned char)s[n - 1]))
				n--;
			if (n) {
				char *item = xstrndup(s, n);
				cJSON_AddItemToArray(out, cJSON_CreateString(item));
				xfree(item);
			}
			s = e ? e + 1 : s + strlen(s);
		}
		return out;
	}
	if (cJSON_IsArray(v)) {
		const cJSON *e;
		cJSON_ArrayForEach(e, v) {
			if (!cJSON_IsString(e)) {
				err_add(errs, "%s must be a list of strings", key);
				cJSON_Delete(out);
				return NULL;
			}
			if (*e->valuestring)
				cJSON_AddItemToArray(out, cJSON_CreateString(e->valuestring));
		}
		if (cJSON_GetArraySize(out) > 256) {
			err_add(errs, "%s has too many entries", key);
			cJSON_Delete(out);
			return NULL;
		}
		return out;
	}
	cJSON_Delete(out);
	err_add(errs, "%s must be a list or a comma-separated string", key);
	return NULL;
}

static void normalize_acl(cJSON *list)
{
	cJSON *e;
	cJSON_ArrayForEach(e, list) {
		if (!strcasecmp(e->valuestring, ":anonymous:"))
			cJSON_SetValuestring(e, ":ANONYMOUS:");
		else if (!strcasecmp(e->valuestring, ":authenticated:"))
			cJSON_SetValuestring(e, ":AUTHENTICATED:");
	}
}

static cJSON *check_bases(struct store_txn *t, const cJSON *list, struct buf *errs)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *e;
	cJSON_ArrayForEach(e, list) {
		const char *s = e->valuestring;
		size_t n = strlen(s);
		while (*s == '/') {
			s++;
			n--;
		}
		while (n && s[n - 1] == '/')
			n--;
		char *spec = xstrndup(s, n);
		char *slash = strchr(spec, '/');
		if (!slash || strchr(slash + 1, '/') || slash == spec || !slash[1] ||
		    name_check_user_index(spec, (size_t)(slash - spec)) ||
		    name_check_user_index(slash + 1, strlen(slash + 1))) {
			err_add(errs, "invalid base index spec: '%.200s'", e->valuestring);
		} else {
			*slash = '\0';
			cJSON *cfg = web_get_index(t, spec, slash + 1);
			*slash = '/';
			if (!cfg)
				err_add(errs, "base index '%.200s' does not exist", spec);
			else
				cJSON_AddItemToArray(out, cJSON_CreateString(spec));
			cJSON_Delete(cfg);
		}
		xfree(spec);
	}
	return out;
}

/* Validates `in` for a new index owned by `owner` and builds the stored
 * config.  NULL with errs filled on failure. */
static cJSON *index_config_build(struct store_txn *t, const char *owner, const cJSON *in, struct buf *errs)
{
	cJSON *cfg = cJSON_CreateObject();
	const char *type = "stage";
	const cJSON *tv = cJSON_GetObjectItemCaseSensitive(in, "type");
	if (tv) {
		if (!cJSON_IsString(tv) || (strcmp(tv->valuestring, "stage") && strcmp(tv->valuestring, "mirror"))) {
			err_add(errs, "unknown index type '%.100s'", cJSON_IsString(tv) ? tv->valuestring : "?");
			goto fail;
		}
		type = tv->valuestring;
	}
	bool mirror = strcmp(type, "mirror") == 0;
	cJSON_AddStringToObject(cfg, "type", type);
	static const char *const stage_keys[] = { "type", "volatile", "bases", "acl_upload", "acl_toxresult_upload", "acl_read",
						  "mirror_whitelist", "mirror_whitelist_inheritance", "title",
						  "description", "custom_data", NULL };
	static const char *const mirror_keys[] = { "type", "volatile", "mirror_url", "mirror_cache_expiry",
						   "mirror_web_url_fmt", "mirror_use_external_urls",
						   "mirror_no_project_list", "mirror_ignore_serial_header", "title",
						   "description", "custom_data", "bases", "acl_upload",
						   "mirror_whitelist", "acl_read", NULL };
	const char *const *keys = mirror ? mirror_keys : stage_keys;
	struct buf unknown = BUF_INIT;
	const cJSON *e;
	cJSON_ArrayForEach(e, in) {
		bool ok = false;
		for (size_t i = 0; keys[i]; i++)
			ok |= strcmp(e->string, keys[i]) == 0;
		if (!ok && strcmp(e->string, "projects") != 0) {
			char *val = cJSON_PrintUnformatted(e);
			if (unknown.len)
				buf_adds(&unknown, ", ");
			buf_addf(&unknown, "%.100s=%.100s", e->string, val ? val : "?");
			cJSON_free(val);
		}
	}
	if (unknown.len) {
		err_add(errs, "indexconfig got unexpected keyword arguments: %s", unknown.p);
		buf_release(&unknown);
		goto fail;
	}
	bool vol = !mirror ? true : true;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "volatile");
	if (v)
		to_bool(v, errs, &vol);
	cJSON_AddBoolToObject(cfg, "volatile", vol);
	if (!mirror) {
		cJSON *bases = cJSON_CreateArray();
		if ((v = cJSON_GetObjectItemCaseSensitive(in, "bases"))) {
			cJSON *l = to_list(v, "bases", errs);
			if (l) {
				cJSON_Delete(bases);
				bases = check_bases(t, l, errs);
				cJSON_Delete(l);
			}
		}
		cJSON_AddItemToObject(cfg, "bases", bases);
		cJSON *acl = NULL;
		if ((v = cJSON_GetObjectItemCaseSensitive(in, "acl_upload")))
			acl = to_list(v, "acl_upload", errs);
		if (!acl) {
			acl = cJSON_CreateArray();
			if (!v)
				cJSON_AddItemToArray(acl, cJSON_CreateString(owner));
		}
		normalize_acl(acl);
		cJSON_AddItemToObject(cfg, "acl_upload", acl);
		acl = NULL;
		if ((v = cJSON_GetObjectItemCaseSensitive(in, "acl_toxresult_upload")))
			acl = to_list(v, "acl_toxresult_upload", errs);
		if (!acl) {
			acl = cJSON_CreateArray();
			if (!v)
				cJSON_AddItemToArray(acl, cJSON_CreateString(":ANONYMOUS:"));
		}
		normalize_acl(acl);
		cJSON_AddItemToObject(cfg, "acl_toxresult_upload", acl);
		cJSON *wl = cJSON_CreateArray();
		if ((v = cJSON_GetObjectItemCaseSensitive(in, "mirror_whitelist"))) {
			cJSON *l = to_list(v, "mirror_whitelist", errs);
			const cJSON *x;
			cJSON_ArrayForEach(x, l) {
				if (strcmp(x->valuestring, "*") == 0) {
					cJSON_AddItemToArray(wl, cJSON_CreateString("*"));
				} else {
					char *nn = name_normalize_dup(x->valuestring, strlen(x->valuestring));
					cJSON_AddItemToArray(wl, cJSON_CreateString(nn));
					xfree(nn);
				}
			}
			cJSON_Delete(l);
		}
		cJSON_AddItemToObject(cfg, "mirror_whitelist", wl);
		const char *inh = "intersection";
		if ((v = cJSON_GetObjectItemCaseSensitive(in, "mirror_whitelist_inheritance"))) {
			if (cJSON_IsString(v) && (!strcmp(v->valuestring, "intersection") || !strcmp(v->valuestring, "union")))
				inh = v->valuestring;
			else
				err_add(errs, "mirror_whitelist_inheritance needs to be 'intersection' or 'union'");
		}
		cJSON_AddStringToObject(cfg, "mirror_whitelist_inheritance", inh);
	} else {
		v = cJSON_GetObjectItemCaseSensitive(in, "mirror_url");
		if (v) {
			if (!cJSON_IsString(v) || (strncmp(v->valuestring, "http://", 7) && strncmp(v->valuestring, "https://", 8)) ||
			    strlen(v->valuestring) > 2000)
				err_add(errs, "mirror_url needs to start with http:// or https://");
			else
				cJSON_AddStringToObject(cfg, "mirror_url", v->valuestring);
		}
		if ((v = cJSON_GetObjectItemCaseSensitive(in, "mirror_cache_expiry"))) {
			char *end = NULL;
			long n = cJSON_IsNumber(v) ? (long)v->valuedouble : cJSON_IsString(v) ? strtol(v->valuestring, &end, 10) : -1;
			if (n < 0 || (end && *end) || (cJSON_IsNumber(v) && v->valuedouble != (double)n))
				err_add(errs, "mirror_cache_expiry needs to be a non-negative integer");
			else
				cJSON_AddNumberToObject(cfg, "mirror_cache_expiry", (double)n);
		}
		static const char *const bools[] = { "mirror_use_external_urls", "mirror_no_project_list",
						     "mirror_ignore_serial_header" };
		for (size_t i = 0; i < 3; i++) {
			bool b;
			if ((v = cJSON_GetObjectItemCaseSensitive(in, bools[i])) && to_bool(v, errs, &b))
				cJSON_AddBoolToObject(cfg, bools[i], b);
		}
		if ((v = cJSON_GetObjectItemCaseSensitive(in, "mirror_web_url_fmt")) && cJSON_IsString(v))
			cJSON_AddStringToObject(cfg, "mirror_web_url_fmt", v->valuestring);
	}
	/* acl_read (devpi-like's extension): who may read the index;
	 * absent means [":ANONYMOUS:"] */
	if ((v = cJSON_GetObjectItemCaseSensitive(in, "acl_read"))) {
		cJSON *acl = to_list(v, "acl_read", errs);
		if (acl) {
			normalize_acl(acl);
			cJSON_AddItemToObject(cfg, "acl_read", acl);
		}
	}
	static const char *const free_keys[] = { "title", "description", "custom_data" };
	for (size_t i = 0; i < 3; i++)
		if ((v = cJSON_GetObjectItemCaseSensitive(in, free_keys[i])))
			cJSON_AddItemToObject(cfg, free_keys[i], cJSON_Duplicate(v, 1));
	if (errs->len)
		goto fail;
	return cfg;
fail:
	cJSON_Delete(cfg);
	return NULL;
}

void h_index_put(struct req *r)
{
	const char *user = r->segs[0], *index = r->segs[1];
	struct store_txn *t = NULL;
	cJSON *body = NULL, *cfg = NULL, *urec = NULL;
	struct buf errs = BUF_INIT;
	body = web_json_body(r);
	if (!body)
		return;
	if (cJSON_IsObject(body) && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(body, "result")) &&
	    cJSON_GetObjectItemCaseSensitive(body, "type")) {
		cJSON *inner = cJSON_DetachItemFromObjectCaseSensitive(body, "result");
		cJSON_Delete(body);
		body = inner;
	}
	if (!cJSON_IsObject(body)) {
		resp_message(r, 400, "Bad request: could not decode json");
		goto out;
	}
	if (!(t = web_read_begin(r)))
		goto out;
	urec = web_get_user(t, user);
	if (!urec) {
		resp_message(r, 404, "user '%s' does not exist", user);
		goto out;
	}
	if (!perm_user(r, PERM_INDEX_CREATE, user)) {
		resp_message(r, 403, "no permission to create index %s/%s", user, index);
		goto out;
	}
	const char *type = json_get_str(body, "type");
	if (type && strcmp(type, "mirror") == 0 && !perm_mirror_admin(r)) {
		resp_message(r, 403, "only root may create mirror indexes");
		goto out;
	}
	cJSON *existing = web_get_index(t, user, index);
	if (existing) {
		cJSON_Delete(existing);
		resp_message(r, 409, "index '%s/%s' exists", user, index);
		goto out;
	}
	cfg = index_config_build(t, user, body, &errs);
	if (!cfg) {
		resp_message(r, 400, "%s", errs.p ? errs.p : "invalid index config");
		goto out;
	}
	store_abort(t);
	t = NULL;
	struct kvjob *j = kvjob_new();
	char key[600], ukey[600];
	snprintf(key, sizeof key, "index/%s/%s", user, index);
	snprintf(ukey, sizeof ukey, "user/%s", user);
	j->absent_key = xstrdup(key);
	j->present_key = xstrdup(ukey);
	if (cJSON_GetObjectItemCaseSensitive(cfg, "acl_read"))
		atomic_store(&r->app->acl_read_used, true);
	kvjob_put(j, key, cfg);
	j->reply = cfg;
	mirror_mask_config(j->reply);
	cfg = NULL;
	j->ok_status = 200;
	j->ok_type = "indexconfig";
	j->exists_msg = xasprintf("index '%s/%s' exists", user, index);
	j->notfound_msg = xasprintf("user '%s' does not exist", user);
	kvjob_submit(r, j);
out:
	store_abort(t);
	cJSON_Delete(body);
	cJSON_Delete(cfg);
	cJSON_Delete(urec);
	buf_release(&errs);
}

struct names_scan {
	cJSON *list;
	size_t prefix_len;
};

static int add_name(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct names_scan *s = arg;
	char *n = xstrndup(key + s->prefix_len, klen - s->prefix_len);
	cJSON_AddItemToArray(s->list, cJSON_CreateString(n));
	xfree(n);
	return 0;
}

void h_index_get(struct req *r)
{
	const char *user = r->segs[0], *index = r->segs[1];
	size_t alen;
	const char *accept = req_header(r, "accept", &alen);
	if (!web_read_gate(r, r->segs[0], r->segs[1]))
		return;
	if (accept && memmem(accept, alen, "text/html", 9) && !memmem(accept, alen, "application/json", 16)) {
		resp_abort(r, 404, "no HTML view for %s/%s", user, index);
		return;
	}
	struct store_txn *t = web_read_begin(r);
	if (!t)
		return;
	cJSON *cfg = web_get_index(t, user, index);
	if (!cfg) {
		store_abort(t);
		resp_abort(r, 404, "The stage %s/%s could not be found.", user, index);
		return;
	}
	if (!req_query_has(r, "no_projects")) {
		char prefix[600];
		const char *type = json_get_str(cfg, "type");
		snprintf(prefix, sizeof prefix, "%s/%s/%s/", type && !strcmp(type, "mirror") ? "mirror" : "proj", user, index);
		struct names_scan s = { cJSON_CreateArray(), strlen(prefix) };
		char stage[300];
		snprintf(stage, sizeof stage, "%s/%s", user, index);
		cJSON *list = type && !strcmp(type, "mirror") ? mirror_list_get(t, stage) : NULL;
		const char *names = json_get_str(list, "names");
		if (names) {
			/* a mirror's projects: its cached upstream list */
			for (const char *p = names; *p;) {
				const char *e = strchr(p, '\n');
				size_t n = e ? (size_t)(e - p) : strlen(p);
				if (n) {
					char *nm = xstrndup(p, n);
					cJSON_AddItemToArray(s.list, cJSON_CreateString(nm));
					xfree(nm);
				}
				p = e ? e + 1 : p + n;
			}
		} else {
			store_scan(t, prefix, add_name, &s);
		}
		cJSON_Delete(list);
		cJSON_AddItemToObject(cfg, "projects", s.list);
	}
	store_abort(t);
	mirror_mask_config(cfg);
	resp_result(r, 200, "indexconfig", cfg, NULL);
}

/* ---- modify ------------------------------------------------------------- */

static bool is_list_key(const char *k)
{
	return !strcmp(k, "bases") || !strcmp(k, "acl_upload") || !strcmp(k, "acl_toxresult_upload") ||
	       !strcmp(k, "mirror_whitelist") || !strcmp(k, "acl_read");
}

/* Applies the key=value / key+=value / key-=value / key-= list form
 * (API.md 5.2) to cfg.  false with errs set on a bad operation. */
static bool apply_kv_ops(cJSON *cfg, const cJSON *ops, struct buf *errs)
{
	const cJSON *op;
	cJSON_ArrayForEach(op, ops) {
		if (!cJSON_IsString(op)) {
			err_add(errs, "modification operations must be strings");
			return false;
		}
		const char *s = op->valuestring, *eq = strchr(s, '=');
		if (!eq || eq == s) {
			err_add(errs, "invalid modification '%.100s'", s);
			return false;
		}
		char mode = (eq[-1] == '+' || eq[-1] == '-') ? eq[-1] : 0;
		char *key = xstrndup(s, (size_t)(eq - s) - (mode ? 1 : 0));
		const char *val = eq + 1;
		bool ok = true;
		if (!mode) {
			cJSON_DeleteItemFromObjectCaseSensitive(cfg, key);
			cJSON_AddStringToObject(cfg, key, val);
		} else if (mode == '-' && !*val) {
			static const char *const defaults[] = { "type", "volatile", "bases", "acl_upload",
								"acl_toxresult_upload", "mirror_whitelist",
								"mirror_whitelist_inheritance", "mirror_url", NULL };
			for (size_t i = 0; defaults[i]; i++)
				if (!strcmp(key, defaults[i])) {
					err_add(errs, "Default values can't be removed.");
					ok = false;
				}
			if (ok)
				cJSON_DeleteItemFromObjectCaseSensitive(cfg, key);
		} else if (!is_list_key(key)) {
			err_add(errs, "The '%.100s' setting is not a list", key);
			ok = false;
		} else {
			cJSON *list = cJSON_GetObjectItemCaseSensitive(cfg, key);
			if (!cJSON_IsArray(list)) {
				cJSON_DeleteItemFromObjectCaseSensitive(cfg, key);
				list = cJSON_AddArrayToObject(cfg, key);
			}
			int found = -1, i = 0;
			const cJSON *e;
			cJSON_ArrayForEach(e, list) {
				if (cJSON_IsString(e) && !strcmp(e->valuestring, val))
					found = i;
				i++;
			}
			if (mode == '+' && found < 0)
				cJSON_AddItemToArray(list, cJSON_CreateString(val));
			else if (mode == '-' && found < 0) {
				err_add(errs, "The '%.100s' setting doesn't have value '%.100s'", key, val);
				ok = false;
			} else if (mode == '-')
				cJSON_DeleteItemFromArray(list, found);
		}
		xfree(key);
		if (!ok)
			return false;
	}
	return true;
}

struct cycle_ctx {
	struct store_txn *t;
	const char *self;
	const cJSON *new_bases;
	int depth;
};

/* Whether `self` is reachable from the stages in `bases` (the new bases of
 * self), following stored configs.  Bounded by depth and stage count. */
static bool reaches(struct cycle_ctx *c, const cJSON *bases, struct strset *seen, char **keep, size_t *nkeep)
{
	const cJSON *b;
	cJSON_ArrayForEach(b, bases) {
		if (!cJSON_IsString(b))
			continue;
		const char *name = b->valuestring;
		if (!strcmp(name, c->self))
			return true;
		if (*nkeep >= MODEL_MAX_STAGES * 4 || !strset_add(seen, name, strlen(name)))
			continue;
		keep[(*nkeep)++] = xstrdup(name);
		char key[600];
		snprintf(key, sizeof key, "index/%s", name);
		cJSON *cfg = model_get(c->t, key);
		bool hit = cfg && reaches(c, cJSON_GetObjectItemCaseSensitive(cfg, "bases"), seen, keep, nkeep);
		cJSON_Delete(cfg);
		if (hit)
			return true;
	}
	return false;
}

static bool creates_cycle(struct store_txn *t, const char *self, const cJSON *bases)
{
	struct cycle_ctx c = { t, self, bases, 0 };
	struct strset seen;
	char *keep[MODEL_MAX_STAGES * 4];
	size_t nkeep = 0;
	strset_init(&seen, 16);
	bool hit = reaches(&c, bases, &seen, keep, &nkeep);
	strset_release(&seen);
	for (size_t i = 0; i < nkeep; i++)
		xfree(keep[i]);
	return hit;
}

void h_index_patch(struct req *r)
{
	const char *user = r->segs[0], *index = r->segs[1];
	struct store_txn *t = NULL;
	cJSON *body = NULL, *old = NULL, *merged = NULL, *cfg = NULL;
	struct buf errs = BUF_INIT;
	char stage[200];
	snprintf(stage, sizeof stage, "%s/%s", user, index);
	if (!(body = web_json_body(r)))
		return;
	if (!(t = web_read_begin(r)))
		goto out;
	old = web_get_index(t, user, index);
	if (!old) {
		resp_abort(r, 404, "The stage %s could not be found.", stage);
		goto out;
	}
	if (!perm_index(r, PERM_INDEX_MODIFY, user, old)) {
		resp_message(r, 403, "no permission to modify index %s", stage);
		goto out;
	}
	const char *type = json_get_str(old, "type");
	bool mirror = type && !strcmp(type, "mirror");
	if (mirror && !perm_mirror_admin(r)) {
		resp_message(r, 403, "only root may modify mirror indexes");
		goto out;
	}
	merged = cJSON_Duplicate(old, 1);
	if (cJSON_IsArray(body)) {
		if (!apply_kv_ops(merged, body, &errs)) {
			resp_message(r, 400, "%s", errs.p);
			goto out;
		}
	} else if (cJSON_IsObject(body)) {
		cJSON *src = body;
		if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(body, "result")) && cJSON_GetObjectItemCaseSensitive(body, "type"))
			src = cJSON_GetObjectItemCaseSensitive(body, "result");
		const cJSON *e;
		cJSON_ArrayForEach(e, src) {
			if (!strcmp(e->string, "projects"))
				continue;
			cJSON_DeleteItemFromObjectCaseSensitive(merged, e->string);
			cJSON_AddItemToObject(merged, e->string, cJSON_Duplicate(e, 1));
		}
	} else {
		resp_message(r, 400, "Bad request: expected a JSON object or a list of modifications");
		goto out;
	}
	const char *old_url = json_get_str(old, "mirror_url"), *new_url = json_get_str(merged, "mirror_url");
	if (old_url && new_url) {
		char *masked = mirror_url_masked(old_url);
		if (strcmp(masked, new_url) == 0)
			cJSON_ReplaceItemInObjectCaseSensitive(merged, "mirror_url", cJSON_CreateString(old_url));
		xfree(masked);
	}
	const char *newtype = json_get_str(merged, "type");
	if (!newtype || strcmp(newtype, type ? type : "stage") != 0) {
		resp_message(r, 400, "the 'type' of an index can't be changed");
		goto out;
	}
	cfg = index_config_build(t, user, merged, &errs);
	if (!cfg) {
		resp_message(r, 400, "%s", errs.p ? errs.p : "invalid index config");
		goto out;
	}
	cJSON *bases = cJSON_GetObjectItemCaseSensitive(cfg, "bases");
	if (bases && creates_cycle(t, stage, bases)) {
		resp_message(r, 400, "bases of %s would form a cycle", stage);
		goto out;
	}
	if (req_query_has(r, "error_on_noop") && cJSON_Compare(cfg, old, 1)) {
		resp_message(r, 400, "The requested modifications resulted in no changes");
		goto out;
	}
	store_abort(t);
	t = NULL;
	struct kvjob *j = kvjob_new();
	char key[600];
	snprintf(key, sizeof key, "index/%s", stage);
	j->present_key = xstrdup(key);
	j->expect_key = xstrdup(key);
	j->expect = old;
	old = NULL;
	if (cJSON_GetObjectItemCaseSensitive(cfg, "acl_read"))
		atomic_store(&r->app->acl_read_used, true);
	kvjob_put(j, key, cfg);
	j->reply = cfg;
	mirror_mask_config(j->reply);
	cfg = NULL;
	j->ok_status = 200;
	j->ok_type = "indexconfig";
	j->notfound_msg = xasprintf("The stage %s could not be found.", stage);
	kvjob_submit(r, j);
out:
	store_abort(t);
	cJSON_Delete(body);
	cJSON_Delete(old);
	cJSON_Delete(merged);
	cJSON_Delete(cfg);
	buf_release(&errs);
}
