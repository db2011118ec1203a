/* perm.c — permission decisions (see perm.h; API.md 2.6).
 *
 * Pure functions of the caller (r->user), the server options and the
 * stored config: no store access, so they are cheap enough to run per link
 * when a page is built through a chain.
 */
#include "proxy/perm.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/replauth.h"
#include "proxy/web.h"

static bool principal_matches(const struct req *r, const char *p, size_t n)
{
	if (n == 11 && strncasecmp(p, ":ANONYMOUS:", 11) == 0)
		return true;
	if (!r->user)
		return false;
	if (n == 15 && strncasecmp(p, ":AUTHENTICATED:", 15) == 0)
		return true;
	return strlen(r->user) == n && strncmp(p, r->user, n) == 0;
}

/* Whether r's caller is among the principals of list (a JSON array of
 * strings; anything else allows nobody). */
static bool perm_in_list(const struct req *r, const cJSON *list)
{
	const cJSON *e;
	if (!cJSON_IsArray(list))
		return false;
	cJSON_ArrayForEach(e, list) {
		if (cJSON_IsString(e) && principal_matches(r, e->valuestring, strlen(e->valuestring)))
			return true;
	}
	return false;
}

/* Whether r's caller is one of the --restrict-modify principals. */
static bool perm_is_modifier(const struct req *r)
{
	const char *s = r->app->cfg->restrict_modify;
	while (s && *s) {
		const char *end = strchr(s, ',');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		const char *p = s;
		while (n && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n && principal_matches(r, p, n))
			return true;
		s = end ? end + 1 : NULL;
	}
	return false;
}

static bool restricted(const struct req *r)
{
	return r->app->cfg->restrict_modify && *r->app->cfg->restrict_modify;
}

static bool is_root(const struct req *r)
{
	return r->user && strcmp(r->user, "root") == 0;
}

static bool is_self(const struct req *r, const char *user)
{
	return r->user && strcmp(r->user, user) == 0;
}

bool perm_user(const struct req *r, enum perm p, const char *user)
{
	switch (p) {
	case PERM_USER_CREATE:
		if (restricted(r))
			return perm_is_modifier(r);
		return r->user || r->app->cfg->allow_anonymous_user_create;
	case PERM_USER_MODIFY_PASSWORD:
		if (restricted(r))
			return is_self(r, user) || perm_is_modifier(r);
		return is_root(r) || is_self(r, user);
	case PERM_USER_MODIFY:
	case PERM_INDEX_CREATE:
		if (restricted(r))
			return perm_is_modifier(r);
		return is_root(r) || is_self(r, user);
	case PERM_USER_DELETE:
		if (restricted(r))
			return perm_is_modifier(r) && !is_self(r, user);
		return strcmp(user, "root") != 0 && (is_root(r) || is_self(r, user));
	default:
		return false;
	}
}

bool perm_mirror_admin(const struct req *r)
{
	return restricted(r) ? perm_is_modifier(r) : is_root(r);
}

bool perm_can_read(const struct req *r, const char *user, const cJSON *cfg)
{
	const cJSON *acl = cJSON_GetObjectItemCaseSensitive(cfg, "acl_read");
	if (r->user && strcmp(r->user, REPLAUTH_USER) == 0)
		return true;
	if (!acl)
		return true;     /* default [":ANONYMOUS:"] */
	if (perm_in_list(r, acl))
		return true;
	return restricted(r) ? perm_is_modifier(r) : (is_root(r) || is_self(r, user));
}

bool perm_can_read_stage(const struct req *r, const char *stage, const cJSON *cfg)
{
	const char *slash = strchr(stage, '/');
	char owner[300];
	snprintf(owner, sizeof owner, "%.*s", slash ? (int)(slash - stage) : 0, stage);
	return perm_can_read(r, owner, cfg);
}

bool perm_index(const struct req *r, enum perm p, const char *user, const cJSON *cfg)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(cfg, "type");
	const char *t = cJSON_IsString(type) ? type->valuestring : "stage";
	bool stage = strcmp(t, "stage") == 0, known = stage || strcmp(t, "mirror") == 0;
	bool admin = restricted(r) ? perm_is_modifier(r) : (is_root(r) || is_self(r, user));
	switch (p) {
	case PERM_PKG_READ:
		return perm_can_read(r, user, cfg);
	case PERM_UPLOAD:
		return stage && perm_in_list(r, cJSON_GetObjectItemCaseSensitive(cfg, "acl_upload"));
	case PERM_TOXRESULT_UPLOAD: {
		const cJSON *acl = cJSON_GetObjectItemCaseSensitive(cfg, "acl_toxresult_upload");
		return stage && (acl ? perm_in_list(r, acl) : true);
	}
	case PERM_INDEX_MODIFY:
	case PERM_INDEX_DELETE:
		return known && admin;
	case PERM_DEL_ENTRY:
		return known &&
		       (admin || (stage && perm_in_list(r, cJSON_GetObjectItemCaseSensitive(cfg, "acl_upload"))));
	default:
		return false;
	}
}

void perm_refuse(struct req *r, bool challenge, const char *msg)
{
	if (challenge && !r->user) {
		web_challenge(r);
		resp_message(r, 401, "%s", msg);
	} else {
		resp_message(r, 403, "%s", msg);
	}
}
