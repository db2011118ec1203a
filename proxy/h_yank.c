/* h_yank.c — PEP 592 yanking of private releases (API.md section A):
 * PATCH /<user>/<index>/<project>/<version> with {"yanked": "<reason>"}
 * (or true) yanks, {"yanked": false} unyanks.
 *
 * The state lives in the version record's "yanked" key, which the simple
 * pages already render (data-yanked / "yanked") for every link of the
 * version, and the JSON views show.  Needs upload permission; allowed on
 * non-volatile indexes (a yank changes no file).  One writer job: the
 * version must still exist at its commit.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/model.h"
#include "proxy/perm.h"
#include "proxy/web.h"
#include "proxy/wjob.h"
#include "store/store.h"

#define REASON_MAX 1024

struct yank_job {
	char key[1100];
	char *project, *version;
	cJSON *yanked;                /* true, a reason string, or NULL to unyank */
	bool found;
};

static int yank_run(struct store_txn *t, void *arg)
{
	struct yank_job *j = arg;
	cJSON *ver = model_get(t, j->key);
	int rc = ERR_OK;
	j->found = ver != NULL;
	if (ver) {
		cJSON_DeleteItemFromObjectCaseSensitive(ver, "yanked");
		if (j->yanked)
			cJSON_AddItemToObject(ver, "yanked", cJSON_Duplicate(j->yanked, 1));
		rc = model_put(t, j->key, ver);
	}
	cJSON_Delete(ver);
	return rc;
}

static void yank_done(struct req *r, void *arg, int rc, int64_t serial)
{
	struct yank_job *j = arg;
	if (!req_alive(r))
		;
	else if (rc)
		resp_message(r, rc == ERR_MAPFULL ? 507 : 500, "cannot change the version: %s", err_str(rc));
	else if (!j->found)
		resp_message(r, 404, "The version %s of project %s does not exist.", j->version, j->project);
	else
		resp_message(r, 200, "project '%s' version '%s' %s", j->project, j->version,
			     j->yanked ? "yanked" : "unyanked");
	xfree(j->project);
	xfree(j->version);
	cJSON_Delete(j->yanked);
	xfree(j);
}

void h_version_patch(struct req *r)
{
	const char *p = r->segs[2], *v = r->segs[3];
	cJSON *body = NULL, *cfg = NULL;
	struct store_txn *t = NULL;
	if (name_check_project(p, strlen(p)) != ERR_OK || name_check_version(v, strlen(v)) != ERR_OK) {
		resp_message(r, 400, "invalid project or version name");
		return;
	}
	if (!(body = web_json_body(r)))
		return;
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(body, "yanked");
	if (!cJSON_IsObject(body) || !y || cJSON_GetArraySize(body) != 1) {
		resp_message(r, 400, "expected a JSON object with only the key 'yanked'");
		goto out;
	}
	if (!cJSON_IsBool(y) && !(cJSON_IsString(y) && strlen(y->valuestring) <= REASON_MAX)) {
		resp_message(r, 400, "'yanked' must be true, false or a reason of at most %d bytes", REASON_MAX);
		goto out;
	}
	if (!(t = web_read_begin(r)))
		goto out;
	cfg = web_get_index(t, r->segs[0], r->segs[1]);
	store_abort(t);
	if (!cfg) {
		resp_message(r, 404, "The stage %s/%s could not be found.", r->segs[0], r->segs[1]);
		goto out;
	}
	const char *type = json_get_str(cfg, "type");
	if (type && strcmp(type, "stage") != 0) {
		resp_message(r, 405, "only releases of private indexes can be yanked");
		goto out;
	}
	if (!perm_index(r, PERM_UPLOAD, r->segs[0], cfg)) {
		perm_refuse(r, true, "no permission to yank on this index");
		goto out;
	}
	struct yank_job *j = xcalloc(1, sizeof *j);
	j->project = name_normalize_dup(p, strlen(p));
	j->version = xstrdup(v);
	snprintf(j->key, sizeof j->key, "ver/%s/%s/%s/%s", r->segs[0], r->segs[1], j->project, v);
	if (cJSON_IsTrue(y) || (cJSON_IsString(y) && *y->valuestring))
		j->yanked = cJSON_Duplicate(y, 1);
	else if (cJSON_IsString(y))
		j->yanked = cJSON_CreateTrue();     /* "" = yanked without a reason */
	wjob_submit(r, yank_run, j, yank_done);
out:
	cJSON_Delete(body);
	cJSON_Delete(cfg);
}
