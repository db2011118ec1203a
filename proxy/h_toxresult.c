/* h_toxresult.c — tox results posted to a release file's URL (API.md 6.5,
 * 3.1): `POST /<user>/<index>/+f/<release relpath>` with a JSON body.
 *
 * The checks run in devpi's order on the worker loop under one short read
 * transaction: the toxresult_upload permission (403 with devpi's hint),
 * then that the path names a live release file of this stage (404), then
 * that the body is JSON (400; the router bounds it, 413 beyond).  The body
 * is stored verbatim, as a file beside the release
 * (<release relpath>.toxresult-<UTC YYYYmmddHHMMSS>-<n>) with a file record,
 * a blob and a "toxresult" link in the version's "+links" that names the
 * release in "for_relpath".  The write job re-checks the release link and
 * counts the existing results itself, so two results posted in the same
 * second get different names.  Tox results are allowed on non-volatile
 * indexes and never change the version's metadata.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/model.h"
#include "proxy/perm.h"
#include "proxy/release.h"
#include "proxy/web.h"
#include "proxy/wjob.h"
#include "store/store.h"

#define TOXRESULT_RELPATH_MAX 400      /* release relpaths beyond cannot get a result key */
#define TOXRESULTS_PER_FILE_MAX 100    /* the version record holds every link */

static const char no_perm_msg[] =
	"No permission to upload tox results. You can use the devpi test --no-upload option to skip the upload.";

struct tox_job {
	char *stage;                   /* "user/index" */
	char *for_relpath;             /* the release file's relpath */
	char *project, *version;       /* from its file record */
	char *who;                     /* NULL: anonymous */
	char *data;                    /* the body, verbatim */
	size_t len;
	uint64_t blob_id;
	uint8_t sha256[SHA256_LEN];
	/* output */
	char *relpath;                 /* the stored result's */
};

static void tox_job_free(struct tox_job *j)
{
	if (!j)
		return;
	xfree(j->stage);
	xfree(j->for_relpath);
	xfree(j->project);
	xfree(j->version);
	xfree(j->who);
	xfree(j->data);
	xfree(j->relpath);
	xfree(j);
}

/* The release link of relpath in a version's links; borrowed, or NULL. */
static cJSON *find_release(cJSON *links, const char *relpath)
{
	cJSON *l;
	cJSON_ArrayForEach(l, links) {
		const char *rel = json_get_str(l, "rel"), *rp = json_get_str(l, "relpath");
		if (rp && strcmp(rp, relpath) == 0 && (!rel || strcmp(rel, "releasefile") == 0))
			return l;
	}
	return NULL;
}

static bool key_exists(struct store_txn *t, const char *key)
{
	const char *v;
	size_t len;
	return store_get(t, key, &v, &len) == ERR_OK;
}

/* Writer thread.  ERR_NOTFOUND: the index, version or release link went
 * away; ERR_EXISTS: too many results for this file; ERR_TOOBIG: the
 * result's key would be too long. */
static int tox_run(struct store_txn *t, void *arg)
{
	struct tox_job *j = arg;
	char key[800], vkey[800], relpath[700], ts[32];
	cJSON *ver = NULL, *file = NULL, *link = NULL;
	int rc;

	snprintf(key, sizeof key, "index/%s", j->stage);
	if (!key_exists(t, key)) {
		rc = ERR_NOTFOUND;
		goto fail;
	}
	snprintf(vkey, sizeof vkey, "ver/%s/%s/%s", j->stage, j->project, j->version);
	ver = model_get(t, vkey);
	cJSON *links = cJSON_GetObjectItemCaseSensitive(ver, "+links");
	if (!find_release(links, j->for_relpath)) {
		rc = ERR_NOTFOUND;
		goto fail;
	}
	int n = 0;
	const cJSON *l;
	cJSON_ArrayForEach(l, links) {
		const char *rel = json_get_str(l, "rel"), *fr = json_get_str(l, "for_relpath");
		if (rel && strcmp(rel, "toxresult") == 0 && fr && strcmp(fr, j->for_relpath) == 0)
			n++;
	}
	if (n >= TOXRESULTS_PER_FILE_MAX) {
		rc = ERR_EXISTS;
		goto fail;
	}
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm);
	/* n results exist; a deleted one may have left its name behind */
	for (int tries = 0;; tries++, n++) {
		snprintf(relpath, sizeof relpath, "%s.toxresult-%s-%d", j->for_relpath, ts, n);
		snprintf(key, sizeof key, "file/%s", relpath);
		if (strlen(key) > STORE_KEY_MAX) {
			rc = ERR_TOOBIG;
			goto fail;
		}
		if (!key_exists(t, key))
			break;
		if (tries == TOXRESULTS_PER_FILE_MAX) {
			rc = ERR_EXISTS;
			goto fail;
		}
	}
	uint32_t nchunks = 0;
	for (size_t off = 0; off < j->len; off += STORE_CHUNK_SIZE, nchunks++) {
		size_t take = j->len - off < STORE_CHUNK_SIZE ? j->len - off : STORE_CHUNK_SIZE;
		if ((rc = store_chunk_put(t, j->blob_id, nchunks, j->data + off, take)))
			goto fail;
	}
	if ((rc = store_blob_finish(t, j->blob_id, j->sha256, j->len, nchunks)))
		goto fail;
	char hex[SHA256_HEX_LEN + 1];
	hex_encode(j->sha256, SHA256_LEN, hex);
	file = release_file_record(relpath, hex, j->len, j->project, j->version, now);
	if ((rc = model_put(t, key, file)))
		goto fail;
	const char *filename = strrchr(relpath, '/') + 1;
	link = release_link_new("toxresult", filename, relpath, hex, j->len, now);
	cJSON_AddStringToObject(link, "for_relpath", j->for_relpath);
	cJSON *log = cJSON_AddArrayToObject(link, "log");
	cJSON_AddItemToArray(log, release_log_entry("upload", j->who, j->stage));
	cJSON_AddItemToArray(links, link);
	link = NULL;
	if ((rc = model_put(t, vkey, ver)))
		goto fail;
	j->relpath = xstrdup(relpath);
fail:
	cJSON_Delete(ver);
	cJSON_Delete(file);
	cJSON_Delete(link);
	return rc;
}

static void tox_done(struct req *r, void *arg, int rc, int64_t serial)
{
	struct tox_job *j = arg;
	if (!req_alive(r))
		goto out;
	if (rc == ERR_OK)
		resp_result(r, 200, "toxresultpath", cJSON_CreateString(j->relpath), NULL);
	else if (rc == ERR_NOTFOUND)
		resp_message(r, 404, "no release file found at %s", j->for_relpath);
	else if (rc == ERR_EXISTS)
		resp_message(r, 409, "too many tox results for %s (at most %d)", j->for_relpath,
			     TOXRESULTS_PER_FILE_MAX);
	else if (rc == ERR_TOOBIG)
		resp_message(r, 400, "relpath too long for a tox result of %s", j->for_relpath);
	else if (rc == ERR_MAPFULL)
		resp_message(r, 507, "store full: tox result not stored");
	else
		resp_message(r, 500, "tox result not stored: %s", err_str(rc));
out:
	tox_job_free(j);
}

void h_toxresult_post(struct req *r)
{
	const char *user = r->segs[0], *index = r->segs[1];
	struct buf rel = BUF_INIT;
	cJSON *cfg = NULL, *file = NULL, *ver = NULL, *body = NULL;
	struct store_txn *t = NULL;
	char stage[200], key[800];

	web_relpath(r, &rel);
	if (!(t = web_read_begin(r)))
		goto out;
	snprintf(stage, sizeof stage, "%s/%s", user, index);
	cfg = web_get_index(t, user, index);
	if (!cfg) {
		resp_abort(r, 404, "The stage %s could not be found.", stage);
		goto out;
	}
	if (!perm_can_read(r, user, cfg)) {
		perm_refuse(r, true, "no permission to read this index");
		goto out;
	}
	if (!perm_index(r, PERM_TOXRESULT_UPLOAD, user, cfg)) {
		perm_refuse(r, false, no_perm_msg);
		goto out;
	}
	const char *project = NULL, *version = NULL;
	if (rel.len <= TOXRESULT_RELPATH_MAX) {
		snprintf(key, sizeof key, "file/%s", rel.p);
		file = model_get(t, key);
	}
	if (file && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(file, "deleted"))) {
		project = json_get_str(file, "project");
		version = json_get_str(file, "version");
	}
	if (project && version) {
		snprintf(key, sizeof key, "ver/%s/%s/%s", stage, project, version);
		ver = model_get(t, key);
	}
	if (!ver || !find_release(cJSON_GetObjectItemCaseSensitive(ver, "+links"), rel.p)) {
		resp_message(r, 404, "no release file found at %s", rel.p);
		goto out;
	}
	store_abort(t);
	t = NULL;
	if (!(body = web_json_body(r)))
		goto out;    /* 400 sent */
	struct tox_job *j = xcalloc(1, sizeof *j);
	j->stage = xstrdup(stage);
	j->for_relpath = xstrdup(rel.p);
	j->project = xstrdup(project);
	j->version = xstrdup(version);
	j->who = r->user ? xstrdup(r->user) : NULL;
	j->data = buf_detach(&r->body, &j->len);      /* stored verbatim */
	sha256_buf(j->data, j->len, j->sha256);
	j->blob_id = store_blob_id_new(r->app->store);
	wjob_submit(r, tox_run, j, tox_done);
out:
	if (t)
		store_abort(t);
	cJSON_Delete(cfg);
	cJSON_Delete(file);
	cJSON_Delete(ver);
	cJSON_Delete(body);
	buf_release(&rel);
}
