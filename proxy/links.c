/* links.c — gather a project's releases along the SRO (see links.h).
 *
 * Per stage it scans the keys `ver/<stage>/<project>/`, so the cost is one
 * prefix scan per stage plus the records themselves.  Mirror stages
 * contribute through the mirror cache once upstream fetching exists; for
 * now a mirror stage without cached data adds nothing.
 */
#include "proxy/links.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "inherit/sro.h"
#include "proxy/model.h"
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

int links_collect(struct store_txn *t, const char *stage, const char *project, bool only_stage,
		  struct project_links *pl)
{
	int rc;
	memset(pl, 0, sizeof *pl);
	strset_init(&pl->seen_files, 32);
	strset_init(&pl->seen_vers, 32);
	if (only_stage) {
		char key[600];
		snprintf(key, sizeof key, "index/%s", stage);
		const char *v;
		size_t len;
		if (store_get(t, key, &v, &len) != ERR_OK)
			return ERR_NOTFOUND;
		pl->stages = xcalloc(1, sizeof *pl->stages);
		pl->mirror = xcalloc(1, sizeof *pl->mirror);
		pl->stages[0] = xstrdup(stage);
		pl->nstages = 1;
	} else {
		rc = model_sro(t, stage, &pl->stages, &pl->mirror, &pl->nstages);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < pl->nstages; i++) {
		char key[700];
		snprintf(key, sizeof key, "proj/%s/%s", pl->stages[i], project);
		cJSON *p = model_get(t, key);
		if (p) {
			pl->known = true;
			if (!pl->name && json_get_str(p, "name"))
				pl->name = xstrdup(json_get_str(p, "name"));
			cJSON_Delete(p);
		}
		if (pl->mirror[i])
			continue;
		snprintf(key, sizeof key, "ver/%s/%s/", pl->stages[i], project);
		struct scan_ctx c = { pl, pl->stages[i] };
		rc = store_scan(t, key, scan_version, &c);
		if (rc)
			return rc;
	}
	return ERR_OK;
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
	sro_free(pl->stages, pl->mirror, pl->nstages);
	xfree(pl->name);
	memset(pl, 0, sizeof *pl);
}
