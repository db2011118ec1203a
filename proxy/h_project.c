/* h_project.c — JSON views of a project and of one version (API.md 6.1,
 * 6.2), inherited along the SRO: the first stage that has a version
 * provides its data, later stages' data is attached as +shadowing.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/links.h"
#include "proxy/mirror.h"
#include "proxy/model.h"
#include "proxy/web.h"
#include "store/store.h"

/* The public form of a version record: internal link fields replaced by
 * absolute hrefs. */
static cJSON *version_view(const cJSON *rec, const char *base)
{
	cJSON *v = cJSON_Duplicate(rec, 1);
	cJSON *links = cJSON_DetachItemFromObjectCaseSensitive(v, "+links");
	cJSON *out = cJSON_AddArrayToObject(v, "+links");
	const cJSON *l;
	cJSON_ArrayForEach(l, links) {
		cJSON *o = cJSON_CreateObject();
		const char *rel = json_get_str(l, "rel"), *relpath = json_get_str(l, "relpath");
		cJSON_AddStringToObject(o, "rel", rel ? rel : "releasefile");
		if (relpath) {
			char *href = xasprintf("%s/%s", base, relpath);
			cJSON_AddStringToObject(o, "href", href);
			xfree(href);
		}
		const char *for_rel = json_get_str(l, "for_relpath");
		if (for_rel) {
			char *for_href = xasprintf("%s/%s", base, for_rel);
			cJSON_AddStringToObject(o, "for_href", for_href);
			xfree(for_href);
		}
		static const char *const copy[] = { "hash_spec", "hashes", "log" };
		for (size_t i = 0; i < 3; i++) {
			const cJSON *x = cJSON_GetObjectItemCaseSensitive(l, copy[i]);
			if (x)
				cJSON_AddItemToObject(o, copy[i], cJSON_Duplicate(x, 1));
		}
		cJSON_AddItemToArray(out, o);
	}
	cJSON_Delete(links);
	return v;
}

static cJSON *version_with_shadowing(const struct project_links *pl, size_t vi, const char *base)
{
	const struct verinfo *vinfo = &pl->vers[vi];
	cJSON *v = version_view(vinfo->ver, base);
	cJSON *shadow = NULL;
	for (size_t i = 0; i < pl->nrecs; i++) {
		const char *ver = json_get_str(pl->recs[i], "version");
		if (pl->recs[i] == vinfo->ver || !ver || strcmp(ver, vinfo->version) != 0)
			continue;
		if (!shadow)
			shadow = cJSON_AddArrayToObject(v, "+shadowing");
		cJSON_AddItemToArray(shadow, version_view(pl->recs[i], base));
	}
	return v;
}

static bool json_wanted(struct req *r)
{
	size_t n;
	const char *a = req_header(r, "accept", &n);
	if (a && memmem(a, n, "text/html", 9) && !memmem(a, n, "application/json", 16)) {
		resp_abort(r, 404, "no HTML view for %s", r->rawpath);
		return false;
	}
	if (a && !memmem(a, n, "application/json", 16) && !memmem(a, n, "*/*", 3)) {
		resp_abort(r, 415, "unsupported media type; ask for application/json");
		return false;
	}
	return true;
}

/* Collects the project for r; answers and returns false on failure.  On
 * success *project is owned by the caller and pl must be released. */
static bool load_project(struct req *r, struct project_links *pl, char **project)
{
	const char *raw = r->segs[2];
	char stage[200];
	*project = NULL;
	if (!json_wanted(r))
		return false;
	char *p = name_normalize_dup(raw, strlen(raw));
	if (!*p || strlen(p) > NAME_PROJECT_MAX) {
		resp_message(r, 400, "invalid project name '%.100s'", raw);
		xfree(p);
		return false;
	}
	if (r->nsegs == 4 && name_check_version(r->segs[3], strlen(r->segs[3])) != ERR_OK) {
		resp_message(r, 400, "invalid version '%.100s'", r->segs[3]);
		xfree(p);
		return false;
	}
	if (strcmp(p, raw) != 0) {
		struct buf b = BUF_INIT;
		char *base = web_base_url(r);
		buf_adds(&b, base);
		for (size_t i = 0; i < r->nsegs; i++) {
			buf_addc(&b, '/');
			web_add_url_segment(&b, i == 2 ? p : r->segs[i]);
		}
		resp_redirect(r, b.p);
		buf_release(&b);
		xfree(base);
		xfree(p);
		return false;
	}
	snprintf(stage, sizeof stage, "%s/%s", r->segs[0], r->segs[1]);
	struct store_txn *t = web_read_begin(r);
	if (!t) {
		xfree(p);
		return false;
	}
	int rc = links_collect(t, stage, p, req_query_has(r, "ignore_bases"), r, pl);
	struct mirror_outcome mo;
	if (!rc && mirror_add_links(r, t, pl, p, &mo)) {
		/* r->handler runs again once the mirror pages are refreshed */
		store_abort(t);
		links_release(pl);
		xfree(p);
		return false;
	}
	store_abort(t);
	if (!rc && mo.requested_failed && pl->nlinks == 0) {
		links_release(pl);
		resp_abort(r, 502, "upstream error: no page for %s could be fetched from the mirror of %s", p, stage);
		xfree(p);
		return false;
	}
	if (rc) {
		links_release(pl);
		if (rc == ERR_NOTFOUND)
			resp_abort(r, 404, "The stage %s could not be found.", stage);
		else
			resp_abort(r, 500, "cannot read the index: %s", err_str(rc));
		xfree(p);
		return false;
	}
	*project = p;
	return true;
}

void h_project_get(struct req *r)
{
	struct project_links pl;
	char *project;
	if (!web_read_gate(r, r->segs[0], r->segs[1]))
		return;
	if (!load_project(r, &pl, &project))
		return;
	if (pl.nvers == 0 && !pl.known) {
		resp_message(r, 404, "no project '%s'", project);
		goto out;
	}
	char *base = web_base_url(r);
	cJSON *res = cJSON_CreateObject();
	for (size_t i = 0; i < pl.nvers; i++)
		cJSON_AddItemToObject(res, pl.vers[i].version, version_with_shadowing(&pl, i, base));
	xfree(base);
	resp_result(r, 200, "projectconfig", res, NULL);
out:
	links_release(&pl);
	xfree(project);
}

void h_version_get(struct req *r)
{
	struct project_links pl;
	char *project;
	const char *version = r->segs[3];
	if (!web_read_gate(r, r->segs[0], r->segs[1]))
		return;
	if (!load_project(r, &pl, &project))
		return;
	for (size_t i = 0; i < pl.nvers; i++) {
		if (strcmp(pl.vers[i].version, version) == 0) {
			char *base = web_base_url(r);
			cJSON *v = version_with_shadowing(&pl, i, base);
			xfree(base);
			resp_result(r, 200, "versiondata", v, NULL);
			goto out;
		}
	}
	resp_message(r, 404, "The version %s of project %s does not exist.", version, project);
out:
	links_release(&pl);
	xfree(project);
}
