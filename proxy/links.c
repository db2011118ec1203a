/* links.c — gather a project's releases along the SRO (see links.h).
 *
 * Per private stage it scans the keys `ver/<stage>/<project>/`, so the
 * cost is one prefix scan per stage plus the records themselves.  The
 * mirror whitelist is evaluated during the same walk, in devpi's order
 * (API.md 5.4): a mirror after a private stage that hosts the project is
 * left out unless the accumulated whitelist names the project or '*'.
 * Mirror pages are added later from their cached records, each link under
 * a synthetic version record so renderers treat both kinds alike.
 */
#include "proxy/links.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "inherit/sro.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/model.h"
#include "proxy/perm.h"
#include "store/store.h"

struct scan_ctx {
	struct project_links *pl;
	const char *stage;
};

static void add_link(struct project_links *pl, const cJSON *l, const cJSON *ver, const char *stage)
{
	const char *fn = json_get_str(l, "filename"), *rel = json_get_str(l, "relpath");
	const char *kind = json_get_str(l, "rel");
	if (!fn || !rel || (kind && strcmp(kind, "releasefile") != 0))
		return;
	if (!strset_add(&pl->seen_files, fn, strlen(fn)))
		return;      /* an earlier stage has this filename */
	if (pl->nlinks == pl->caplinks) {
		pl->caplinks = pl->caplinks ? pl->caplinks * 2 : 16;
		pl->links = xrealloc(pl->links, pl->caplinks * sizeof *pl->links);
	}
	pl->links[pl->nlinks++] = (struct link){ l, ver, stage, fn, rel };
}

static int scan_version(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct scan_ctx *c = arg;
	struct project_links *pl = c->pl;
	cJSON *rec = cJSON_ParseWithLength(val, vlen);
	if (!rec)
		return 0;
	if (pl->nrecs == pl->caprecs) {
		pl->caprecs = pl->caprecs ? pl->caprecs * 2 : 16;
		pl->recs = xrealloc(pl->recs, pl->caprecs * sizeof *pl->recs);
	}
	pl->recs[pl->nrecs++] = rec;
	const char *version = json_get_str(rec, "version");
	if (version && strset_add(&pl->seen_vers, version, strlen(version))) {
		if (pl->nvers == pl->capvers) {
			pl->capvers = pl->capvers ? pl->capvers * 2 : 16;
			pl->vers = xrealloc(pl->vers, pl->capvers * sizeof *pl->vers);
		}
		pl->vers[pl->nvers++] = (struct verinfo){ rec, c->stage, version };
	}
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(rec, "+links"))
		add_link(pl, l, rec, c->stage);
	return 0;
}

static bool in_list(const cJSON *list, const char *s)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, list)
		if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0)
			return true;
	return false;
}

/* acc := acc ∪ wl or acc ∩ wl (API.md 5.4); acc NULL means "first". */
static cJSON *whitelist_merge(cJSON *acc, const cJSON *wl, bool union_mode)
{
	if (!acc)
		return cJSON_IsArray(wl) ? cJSON_Duplicate(wl, 1) : cJSON_CreateArray();
	cJSON *out = cJSON_CreateArray();
	const cJSON *e;
	cJSON_ArrayForEach(e, acc)
		if (union_mode || in_list(wl, e->valuestring))
			cJSON_AddItemToArray(out, cJSON_CreateString(e->valuestring));
	if (union_mode)
		cJSON_ArrayForEach(e, wl)
			if (cJSON_IsString(e) && !in_list(out, e->valuestring))
				cJSON_AddItemToArray(out, cJSON_CreateString(e->valuestring));
	cJSON_Delete(acc);
	return out;
}

int links_collect(struct store_txn *t, const char *stage, const char *project, bool only_stage,
		  const struct req *reader, struct project_links *pl)
{
	int rc;
	cJSON *acc = NULL;
	bool private_hit = false, whitelisted = false, union_mode = false;
	memset(pl, 0, sizeof *pl);
	strset_init(&pl->seen_files, 32);
	strset_init(&pl->seen_vers, 32);
	if (only_stage) {
		char key[600];
		snprintf(key, sizeof key, "index/%s", stage);
		cJSON *cfg = model_get(t, key);
		if (!cfg)
			return ERR_NOTFOUND;
		const char *type = json_get_str(cfg, "type");
		pl->stages = xcalloc(1, sizeof *pl->stages);
		pl->mirror = xcalloc(1, sizeof *pl->mirror);
		pl->stages[0] = xstrdup(stage);
		pl->mirror[0] = type && strcmp(type, "mirror") == 0;
		pl->nstages = 1;
		cJSON_Delete(cfg);
	} else {
		rc = model_sro(t, stage, &pl->stages, &pl->mirror, &pl->nstages);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < pl->nstages; i++) {
		char key[700];
		snprintf(key, sizeof key, "index/%s", pl->stages[i]);
		cJSON *cfg = model_get(t, key);
		if (!cfg)
			continue;
		if (i == 0) {
			/* the requested stage's mode; absent (old data) = union */
			const char *mode = json_get_str(cfg, "mirror_whitelist_inheritance");
			union_mode = !mode || strcmp(mode, "union") == 0;
		}
		bool readable = !reader || !atomic_load(&reader->app->acl_read_used) ||
				perm_can_read_stage(reader, pl->stages[i], cfg);
		if (pl->mirror[i] && !readable) {
			cJSON_Delete(cfg);
			continue;
		}
		if (pl->mirror[i]) {
			if (private_hit && !whitelisted) {
				pl->blocked_mirror = pl->stages[i];
				cJSON_Delete(cfg);
				continue;
			}
			if (pl->nmirrors < sizeof pl->mirrors / sizeof pl->mirrors[0]) {
				pl->mirrors[pl->nmirrors++] = (struct mirror_use){ pl->stages[i], cfg, i == 0 };
				cfg = NULL;
			}
			cJSON_Delete(cfg);
			continue;
		}
		acc = whitelist_merge(acc, cJSON_GetObjectItemCaseSensitive(cfg, "mirror_whitelist"), union_mode);
		cJSON_Delete(cfg);
		bool has = false;
		snprintf(key, sizeof key, "proj/%s/%s", pl->stages[i], project);
		cJSON *p = model_get(t, key);
		if (p) {
			has = true;
			if (readable) {
				pl->known = true;
				if (!pl->name && json_get_str(p, "name"))
					pl->name = xstrdup(json_get_str(p, "name"));
			}
			cJSON_Delete(p);
		}
		/* the whitelist sees every stage, readable or not: a project a
		 * caller may not see still shadows the mirrors behind it */
		if (in_list(acc, "*") || in_list(acc, project))
			whitelisted = true;
		else if (has)
			private_hit = true;
		if (!readable)
			continue;
		snprintf(key, sizeof key, "ver/%s/%s/", pl->stages[i], project);
		struct scan_ctx c = { pl, pl->stages[i] };
		rc = store_scan(t, key, scan_version, &c);
		if (rc) {
			cJSON_Delete(acc);
			return rc;
		}
	}
	cJSON_Delete(acc);
	return ERR_OK;
}

static cJSON *own_rec(struct project_links *pl, cJSON *rec)
{
	if (pl->nrecs == pl->caprecs) {
		pl->caprecs = pl->caprecs ? pl->caprecs * 2 : 16;
		pl->recs = xrealloc(pl->recs, pl->caprecs * sizeof *pl->recs);
	}
	pl->recs[pl->nrecs++] = rec;
	return rec;
}

static bool stored_locally(struct store_txn *t, const char *relpath)
{
	char key[700];
	const char *v;
	size_t len;
	snprintf(key, sizeof key, "file/%s", relpath);
	return store_get(t, key, &v, &len) == ERR_OK;
}

/* A mirror wheel whose page offers no metadata may have had it extracted
 * from the stored wheel since (mirror_metadata_extract): advertise it. */
static void add_extracted_metadata(struct store_txn *t, cJSON *link, const char *relpath)
{
	char key[800];
	const char *v;
	size_t len;
	snprintf(key, sizeof key, "file/%s.metadata", relpath);
	if (store_get(t, key, &v, &len) != ERR_OK)
		return;
	cJSON *rec = cJSON_ParseWithLength(v, len);
	const char *sha = json_get_str(cJSON_GetObjectItemCaseSensitive(rec, "hashes"), "sha256");
	if (sha) {
		cJSON_AddBoolToObject(link, "core_metadata", 1);
		cJSON_AddStringToObject(link, "core_metadata_sha256", sha);
	}
	cJSON_Delete(rec);
}

void links_add_mirror(struct store_txn *t, struct project_links *pl, const char *stage, const cJSON *rec,
		      bool offline)
{
	/* Synthetic version records, one per version, so that mirror
	 * links look like private ones to the renderers and JSON views. */
	cJSON *byver = cJSON_CreateArray();
	struct strset vset;          /* versions seen */
	cJSON **vrecs = NULL, *last = NULL;
	size_t nv = 0, capv = 0;
	const cJSON *l;
	const char *name = json_get_str(rec, "name");
	pl->mirror_has = true;
	strset_init(&vset, 64);
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(rec, "links")) {
		const char *fn = json_get_str(l, "filename"), *rel = json_get_str(l, "relpath");
		const char *version = json_get_str(l, "version");
		if (!fn || !rel || strset_has(&pl->seen_files, fn, strlen(fn)))
			continue;
		if (offline && !stored_locally(t, rel))
			continue;
		if (!version)
			version = "";
		/* find the version's record: the previous link's (files of a
		 * version are adjacent on real pages), none for a new version
		 * (the set says so), else a search; no quadratic cost on a page
		 * of many versions */
		cJSON *ver = NULL;
		if (last && strcmp(json_get_str(last, "version"), version) == 0)
			ver = last;
		else if (strset_has(&vset, version, strlen(version)))
			for (size_t k = nv; k-- > 0 && !ver;)
				if (strcmp(json_get_str(vrecs[k], "version"), version) == 0)
					ver = vrecs[k];
		if (!ver) {
			ver = cJSON_CreateObject();
			cJSON_AddStringToObject(ver, "name", name ? name : "");
			cJSON_AddStringToObject(ver, "version", version);
			cJSON_AddArrayToObject(ver, "+links");
			cJSON_AddItemToArray(byver, ver);
			if (nv == capv) {
				capv = capv ? capv * 2 : 16;
				vrecs = xrealloc(vrecs, capv * sizeof *vrecs);
			}
			vrecs[nv++] = ver;
			const char *vs = json_get_str(ver, "version");
			strset_add(&vset, vs, strlen(vs));
		}
		last = ver;
		cJSON *dup = cJSON_Duplicate(l, 1);
		size_t fl = strlen(fn);
		if (!cJSON_GetObjectItemCaseSensitive(l, "core_metadata") && fl > 4 && !strcmp(fn + fl - 4, ".whl"))
			add_extracted_metadata(t, dup, rel);
		cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(ver, "+links"), dup);
	}
	strset_release(&vset);
	xfree(vrecs);
	/* Move each version record into pl, then index its links. */
	while (byver->child) {
		cJSON *ver = cJSON_DetachItemViaPointer(byver, byver->child);
		own_rec(pl, ver);
		const char *version = json_get_str(ver, "version");
		if (version && *version && strset_add(&pl->seen_vers, version, strlen(version))) {
			if (pl->nvers == pl->capvers) {
				pl->capvers = pl->capvers ? pl->capvers * 2 : 16;
				pl->vers = xrealloc(pl->vers, pl->capvers * sizeof *pl->vers);
			}
			pl->vers[pl->nvers++] = (struct verinfo){ ver, stage, version };
		}
		cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(ver, "+links"))
			add_link(pl, l, ver, stage);
	}
	cJSON_Delete(byver);
}

void links_release(struct project_links *pl)
{
	strset_release(&pl->seen_files);
	strset_release(&pl->seen_vers);
	for (size_t i = 0; i < pl->nrecs; i++)
		cJSON_Delete(pl->recs[i]);
	xfree(pl->recs);
	xfree(pl->links);
	xfree(pl->vers);
	for (size_t i = 0; i < pl->nmirrors; i++)
		cJSON_Delete(pl->mirrors[i].cfg);
	sro_free(pl->stages, pl->mirror, pl->nstages);
	xfree(pl->name);
	memset(pl, 0, sizeof *pl);
}
