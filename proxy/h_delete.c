/* h_delete.c — deleting users, indexes, projects, versions and files
 * (API.md 2.5, 3.3, 5.2, 6.3).
 *
 * The handler checks the caller's permission on the worker (a short read
 * transaction); everything else — existence, the non-volatile rules, what
 * goes — is decided again inside one writer job, so a deletion is all or
 * nothing and sees the store as it is at its commit, however requests
 * interleave.  The job records its outcome in `status`/`msg`, and the
 * completion answers from them.
 *
 * What a deletion leaves: private file records become tombstones
 * ({"deleted": true}), so their URLs answer 410; cached mirror files simply
 * go (their links remain and fetch again on demand).  Blobs are content
 * addressed and may be shared by several records, so their bytes stay.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/mirror.h"
#include "proxy/model.h"
#include "proxy/perm.h"
#include "proxy/web.h"
#include "proxy/wjob.h"
#include "store/store.h"

#define KEY_MAX 1100

enum del_kind { DEL_USER, DEL_INDEX, DEL_PROJECT, DEL_VERSION, DEL_FILE };

struct del_job {
	enum del_kind kind;
	char *user, *project, *version, *relpath;  /* as the kind needs */
	char stage[300];
	bool force;
	int status;                   /* the answer, set by the job */
	char msg[1200];
};

static void del_job_free(struct del_job *j)
{
	xfree(j->user);
	xfree(j->project);
	xfree(j->version);
	xfree(j->relpath);
	xfree(j);
}

/* Deletes every key under prefix. */
static int del_prefix(struct store_txn *t, const char *prefix)
{
	struct store_keys kl = { 0 };
	int rc = store_list_keys(t, prefix, &kl);
	for (size_t i = 0; !rc && i < kl.n; i++) {
		rc = store_del(t, kl.keys[i]);
		if (rc == ERR_NOTFOUND)
			rc = ERR_OK;
	}
	store_keys_release(&kl);
	return rc;
}

static bool index_is_mirror(const cJSON *cfg)
{
	const char *type = json_get_str(cfg, "type");
	return type && strcmp(type, "mirror") == 0;
}

/* Deletes the cached files (and extracted .metadata) of project's links
 * on its cached mirror page in stage, only those of version unless NULL:
 * their records go, the links stay.  *on_page: whether the page lists
 * such a link at all. */
static int del_mirror_files(struct store_txn *t, const char *stage, const char *project, const char *version,
			    bool *on_page)
{
	char key[KEY_MAX];
	int rc = ERR_OK;
	*on_page = false;
	snprintf(key, sizeof key, "mirror/%s/%s", stage, project);
	cJSON *page = model_get(t, key);
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(page, "links")) {
		const char *rel = json_get_str(l, "relpath"), *v = json_get_str(l, "version");
		if (!rel || (version && (!v || strcmp(v, version) != 0)))
			continue;
		*on_page = true;
		for (int meta = 0; meta < 2 && !rc; meta++) {
			snprintf(key, sizeof key, "file/%s%s", rel, meta ? ".metadata" : "");
			if ((rc = store_del(t, key)) == ERR_NOTFOUND)
				rc = ERR_OK;
		}
		if (rc)
			break;
	}
	cJSON_Delete(page);
	return rc;
}

/* Whether any link of project's cached mirror page has its file stored. */
static bool mirror_has_cached(struct store_txn *t, const char *stage, const char *project)
{
	char key[KEY_MAX];
	const char *v;
	size_t len;
	bool any = false;
	snprintf(key, sizeof key, "mirror/%s/%s", stage, project);
	cJSON *page = model_get(t, key);
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(page, "links")) {
		const char *rel = json_get_str(l, "relpath");
		snprintf(key, sizeof key, "file/%s", rel ? rel : "");
		if (rel && store_get(t, key, &v, &len) == ERR_OK) {
			any = true;
			break;
		}
	}
	cJSON_Delete(page);
	return any;
}

/* Tombstones every file of a private version record and deletes it; the
 * project record goes too when it was the last version. */
static int del_private_version(struct store_txn *t, const char *stage, const char *project, const char *version)
{
	char key[KEY_MAX];
	snprintf(key, sizeof key, "ver/%s/%s/%s", stage, project, version);
	cJSON *ver = model_get(t, key);
	int rc = ERR_OK;
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(ver, "+links")) {
		const char *rel = json_get_str(l, "relpath");
		if (rel && (rc = model_file_tombstone(t, rel)))
			break;
	}
	cJSON_Delete(ver);
	if (!rc)
		rc = store_del(t, key);
	return rc == ERR_NOTFOUND ? ERR_OK : rc;
}

/* Deletes the project record when no version of it remains. */
static int drop_project_if_empty(struct store_txn *t, const char *stage, const char *project)
{
	struct store_keys kl = { 0 };
	char prefix[KEY_MAX];
	snprintf(prefix, sizeof prefix, "ver/%s/%s/", stage, project);
	int rc = store_list_keys(t, prefix, &kl);
	if (!rc && kl.n == 0) {
		snprintf(prefix, sizeof prefix, "proj/%s/%s", stage, project);
		rc = store_del(t, prefix);
		if (rc == ERR_NOTFOUND)
			rc = ERR_OK;
	}
	store_keys_release(&kl);
	return rc;
}

static int del_private_project(struct store_txn *t, const char *stage, const char *project)
{
	struct store_keys kl = { 0 };
	char prefix[KEY_MAX];
	snprintf(prefix, sizeof prefix, "ver/%s/%s/", stage, project);
	int rc = store_list_keys(t, prefix, &kl);
	for (size_t i = 0; !rc && i < kl.n; i++)
		rc = del_private_version(t, stage, project, kl.keys[i] + kl.plen);
	store_keys_release(&kl);
	if (!rc) {
		snprintf(prefix, sizeof prefix, "proj/%s/%s", stage, project);
		rc = store_del(t, prefix);
		if (rc == ERR_NOTFOUND)
			rc = ERR_OK;
	}
	return rc;
}

/* Everything of one index: its config, projects, versions, files, mirror
 * caches. */
static int del_index_records(struct store_txn *t, const char *stage)
{
	static const char *const kinds[] = { "proj/", "ver/", "file/", "mirror/" };
	char prefix[KEY_MAX];
	int rc = ERR_OK;
	for (size_t i = 0; !rc && i < sizeof kinds / sizeof kinds[0]; i++) {
		snprintf(prefix, sizeof prefix, "%s%s/", kinds[i], stage);
		rc = del_prefix(t, prefix);
	}
	snprintf(prefix, sizeof prefix, "mirrorlist/%s", stage);
	if (!rc && (rc = store_del(t, prefix)) == ERR_NOTFOUND)
		rc = ERR_OK;
	snprintf(prefix, sizeof prefix, "index/%s", stage);
	if (!rc && (rc = store_del(t, prefix)) == ERR_NOTFOUND)
		rc = ERR_OK;
	return rc;
}

/* ---- the jobs ------------------------------------------------------------ */

#define ANSWER(j, st, ...) do { (j)->status = (st); snprintf((j)->msg, sizeof (j)->msg, __VA_ARGS__); } while (0)

static int run_user(struct store_txn *t, struct del_job *j)
{
	char key[KEY_MAX];
	struct store_keys kl = { 0 };
	snprintf(key, sizeof key, "user/%s", j->user);
	cJSON *u = model_get(t, key);
	int rc = ERR_OK;
	if (!u) {
		ANSWER(j, 404, "user '%s' does not exist", j->user);
		goto out;
	}
	char prefix[KEY_MAX];
	snprintf(prefix, sizeof prefix, "index/%s/", j->user);
	if ((rc = store_list_keys(t, prefix, &kl)))
		goto out;
	for (size_t i = 0; i < kl.n; i++) {
		cJSON *cfg = model_get(t, kl.keys[i]);
		bool vol = model_index_volatile(cfg);
		cJSON_Delete(cfg);
		if (!vol) {
			ANSWER(j, 403, "user '%s' has non-volatile index: %s", j->user, kl.keys[i] + kl.plen);
			goto out;
		}
	}
	for (size_t i = 0; !rc && i < kl.n; i++)
		rc = del_index_records(t, kl.keys[i] + strlen("index/"));
	if (!rc)
		rc = store_del(t, key);
	if (!rc)
		ANSWER(j, 200, "user '%s' deleted", j->user);
out:
	store_keys_release(&kl);
	cJSON_Delete(u);
	return rc;
}

static int run_index(struct store_txn *t, struct del_job *j, const cJSON *cfg)
{
	if (!model_index_volatile(cfg)) {
		ANSWER(j, 403, "index %s non-volatile, cannot delete", j->stage);
		return ERR_OK;
	}
	int rc = del_index_records(t, j->stage);
	if (!rc)
		ANSWER(j, 201, "index %s deleted", j->stage);
	return rc;
}

static int run_project(struct store_txn *t, struct del_job *j, const cJSON *cfg)
{
	char key[KEY_MAX];
	const char *v;
	size_t len;
	int rc = ERR_OK;
	if (index_is_mirror(cfg)) {
		/* the cached page and files go; the next request fetches again */
		bool on_page = false;
		snprintf(key, sizeof key, "mirror/%s/%s", j->stage, j->project);
		bool had_page = store_get(t, key, &v, &len) == ERR_OK;
		rc = del_mirror_files(t, j->stage, j->project, NULL, &on_page);
		if (!rc && had_page && !(rc = store_del(t, key)))
			rc = mirror_expire(t, key);
		if (!rc && !had_page)
			ANSWER(j, 404, "project not found");
		else if (!rc)
			ANSWER(j, 200, "project %s deleted from stage %s", j->project, j->stage);
		return rc;
	}
	snprintf(key, sizeof key, "proj/%s/%s", j->stage, j->project);
	if (store_get(t, key, &v, &len) != ERR_OK) {
		ANSWER(j, 404, "project not found");
		return ERR_OK;
	}
	if (!model_index_volatile(cfg) && !j->force) {
		ANSWER(j, 403, "project '%s' is on non-volatile index %s", j->project, j->stage);
		return ERR_OK;
	}
	rc = del_private_project(t, j->stage, j->project);
	if (!rc)
		ANSWER(j, 200, "project %s deleted from stage %s", j->project, j->stage);
	return rc;
}

static int run_version(struct store_txn *t, struct del_job *j, const cJSON *cfg)
{
	char key[KEY_MAX];
	const char *v;
	size_t len;
	int rc = ERR_OK;
	if (index_is_mirror(cfg)) {
		/* only the downloaded files go; the links stay */
		bool on_page = false;
		rc = del_mirror_files(t, j->stage, j->project, j->version, &on_page);
		if (!rc && !on_page)
			ANSWER(j, 404, "version '%s' of project '%s' not found on stage '%s'", j->version, j->project,
			       j->stage);
		else if (!rc)
			ANSWER(j, 200, "project '%s' version '%s' deleted", j->project, j->version);
		return rc;
	}
	snprintf(key, sizeof key, "ver/%s/%s/%s", j->stage, j->project, j->version);
	if (store_get(t, key, &v, &len) != ERR_OK) {
		ANSWER(j, 404, "version '%s' of project '%s' not found on stage '%s'", j->version, j->project, j->stage);
		return ERR_OK;
	}
	if (!model_index_volatile(cfg) && !j->force) {
		ANSWER(j, 403, "cannot delete version on non-volatile index");
		return ERR_OK;
	}
	rc = del_private_version(t, j->stage, j->project, j->version);
	if (!rc)
		rc = drop_project_if_empty(t, j->stage, j->project);
	if (!rc)
		ANSWER(j, 200, "project '%s' version '%s' deleted", j->project, j->version);
	return rc;
}

/* Whether link l is the release file at relpath or a tox result for it. */
static bool link_goes_with(const cJSON *l, const char *relpath)
{
	const char *rel = json_get_str(l, "relpath"), *for_rel = json_get_str(l, "for_relpath");
	return (rel && strcmp(rel, relpath) == 0) || (for_rel && strcmp(for_rel, relpath) == 0);
}

static int run_file(struct store_txn *t, struct del_job *j, const cJSON *cfg)
{
	char key[KEY_MAX];
	snprintf(key, sizeof key, "file/%s", j->relpath);
	cJSON *rec = model_get(t, key), *ver = NULL;
	int rc = ERR_OK;
	if (!rec) {
		ANSWER(j, 404, "no such file");
		goto out;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "deleted"))) {
		ANSWER(j, 410, "file existed, deleted in later serial");
		goto out;
	}
	if (index_is_mirror(cfg)) {
		/* the cached file goes, and the project's cached page once no
		 * file of it is cached any more */
		const char *p = json_get_str(rec, "project");
		char *project = p ? name_normalize_dup(p, strlen(p)) : NULL;
		rc = store_del(t, key);
		if (!rc && project && !mirror_has_cached(t, j->stage, project)) {
			char pkey[KEY_MAX];
			snprintf(pkey, sizeof pkey, "mirror/%s/%s", j->stage, project);
			if ((rc = store_del(t, pkey)) == ERR_NOTFOUND)
				rc = ERR_OK;
			else if (!rc)
				rc = mirror_expire(t, pkey);
		}
		xfree(project);
		if (!rc)
			ANSWER(j, 200, "package '%s' deleted", j->relpath);
		goto out;
	}
	if (!model_index_volatile(cfg) && !j->force) {
		ANSWER(j, 403, "cannot delete version on non-volatile index");
		goto out;
	}
	const char *p = json_get_str(rec, "project"), *v = json_get_str(rec, "version");
	char *project = p ? name_normalize_dup(p, strlen(p)) : NULL;
	char vkey[KEY_MAX];
	if (project && v) {
		snprintf(vkey, sizeof vkey, "ver/%s/%s/%s", j->stage, project, v);
		ver = model_get(t, vkey);
	}
	cJSON *links = cJSON_GetObjectItemCaseSensitive(ver, "+links");
	if (cJSON_IsArray(links)) {
		/* the file and its tox results leave the version's links */
		int i = 0;
		cJSON *l = links->child;
		while (l && !rc) {
			cJSON *next = l->next;
			if (link_goes_with(l, j->relpath)) {
				const char *rel = json_get_str(l, "relpath");
				if (rel && strcmp(rel, j->relpath) != 0)
					rc = model_file_tombstone(t, rel);
				cJSON_DeleteItemFromArray(links, i);
			} else {
				i++;
			}
			l = next;
		}
		bool any_release = false;
		cJSON_ArrayForEach(l, links) {
			const char *rel = json_get_str(l, "rel");
			any_release |= !rel || strcmp(rel, "releasefile") == 0;
		}
		if (!rc && !any_release) {
			/* the last file of a version takes the version along */
			rc = del_private_version(t, j->stage, project, v);
			if (!rc)
				rc = drop_project_if_empty(t, j->stage, project);
		} else if (!rc) {
			rc = model_put(t, vkey, ver);
		}
	}
	if (!rc)
		rc = model_file_tombstone(t, j->relpath);
	if (!rc)
		ANSWER(j, 200, "package '%s' deleted", j->relpath);
	xfree(project);
out:
	cJSON_Delete(rec);
	cJSON_Delete(ver);
	return rc;
}

static int del_run(struct store_txn *t, void *arg)
{
	struct del_job *j = arg;
	char key[KEY_MAX];
	int rc;
	if (j->kind == DEL_USER)
		return run_user(t, j);
	snprintf(key, sizeof key, "index/%s", j->stage);
	cJSON *cfg = model_get(t, key);
	if (!cfg) {
		ANSWER(j, 404, "The stage %s could not be found.", j->stage);
		return ERR_OK;
	}
	switch (j->kind) {
	case DEL_INDEX:
		rc = run_index(t, j, cfg);
		break;
	case DEL_PROJECT:
		rc = run_project(t, j, cfg);
		break;
	case DEL_VERSION:
		rc = run_version(t, j, cfg);
		break;
	default:
		rc = run_file(t, j, cfg);
		break;
	}
	cJSON_Delete(cfg);
	return rc;
}

static void del_done(struct req *r, void *arg, int rc, int64_t serial)
{
	struct del_job *j = arg;
	if (!req_alive(r))
		;
	else if (rc == ERR_MAPFULL)
		resp_message(r, 507, "store full: nothing was deleted");
	else if (rc)
		resp_message(r, 500, "cannot delete: %s", err_str(rc));
	else
		resp_message(r, j->status, "%s", j->msg);
	del_job_free(j);
}

/* ---- handlers --------------------------------------------------------------- */

static struct del_job *job_for(struct req *r, enum del_kind kind)
{
	struct del_job *j = xcalloc(1, sizeof *j);
	j->kind = kind;
	j->user = xstrdup(r->segs[0]);
	if (r->nsegs >= 2)
		snprintf(j->stage, sizeof j->stage, "%s/%s", r->segs[0], r->segs[1]);
	j->force = req_query_has(r, "force");
	return j;
}

/* The index config for a permission check, or NULL having answered 404. */
static cJSON *index_for_check(struct req *r)
{
	struct store_txn *t = web_read_begin(r);
	if (!t)
		return NULL;
	cJSON *cfg = web_get_index(t, r->segs[0], r->segs[1]);
	store_abort(t);
	if (!cfg)
		resp_message(r, 404, "The stage %s/%s could not be found.", r->segs[0], r->segs[1]);
	return cfg;
}

void h_user_delete(struct req *r)
{
	const char *user = r->segs[0];
	if (!perm_user(r, PERM_USER_DELETE, user)) {
		if (strcmp(user, "root") == 0)
			resp_message(r, 403, "root user cannot be deleted");
		else
			resp_message(r, 403, "no permission to delete user %s", user);
		return;
	}
	wjob_submit(r, del_run, job_for(r, DEL_USER), del_done);
}

void h_index_delete(struct req *r)
{
	cJSON *cfg = index_for_check(r);
	if (!cfg)
		return;
	if (!perm_index(r, PERM_INDEX_DELETE, r->segs[0], cfg))
		resp_message(r, 403, "no permission to delete index %s/%s", r->segs[0], r->segs[1]);
	else
		wjob_submit(r, del_run, job_for(r, DEL_INDEX), del_done);
	cJSON_Delete(cfg);
}

/* DELETE /<user>/<index>/<project>[/<version>] */
void h_project_delete(struct req *r)
{
	const char *p = r->segs[2];
	if (name_check_project(p, strlen(p)) != ERR_OK ||
	    (r->nsegs == 4 && name_check_version(r->segs[3], strlen(r->segs[3])) != ERR_OK)) {
		resp_message(r, 400, "invalid project or version name");
		return;
	}
	cJSON *cfg = index_for_check(r);
	if (!cfg)
		return;
	if (!perm_index(r, PERM_DEL_ENTRY, r->segs[0], cfg)) {
		resp_message(r, 403, "no permission to delete from %s/%s", r->segs[0], r->segs[1]);
	} else {
		struct del_job *j = job_for(r, r->nsegs == 4 ? DEL_VERSION : DEL_PROJECT);
		j->project = name_normalize_dup(p, strlen(p));
		if (r->nsegs == 4)
			j->version = xstrdup(r->segs[3]);
		wjob_submit(r, del_run, j, del_done);
	}
	cJSON_Delete(cfg);
}

/* DELETE /<user>/<index>/+f/<relpath> (and +e) */
void h_file_delete(struct req *r)
{
	struct buf rel = BUF_INIT;
	web_relpath(r, &rel);
	cJSON *cfg = rel.len < 1000 ? index_for_check(r) : NULL;
	if (rel.len >= 1000)
		resp_message(r, 404, "no such file");
	if (!cfg)
		goto out;
	if (!perm_index(r, PERM_DEL_ENTRY, r->segs[0], cfg)) {
		resp_message(r, 403, "no permission to delete from %s/%s", r->segs[0], r->segs[1]);
	} else {
		struct del_job *j = job_for(r, DEL_FILE);
		j->relpath = xstrdup(rel.p);
		wjob_submit(r, del_run, j, del_done);
	}
	cJSON_Delete(cfg);
out:
	buf_release(&rel);
}
