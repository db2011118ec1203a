/* export.c — devpi's export layout from one read snapshot (see export.h,
 * API.md section 9).
 *
 *   OUTDIR/dataindex.json
 *   OUTDIR/<user>/<index>/<project>/<version>/<release filename>
 *   OUTDIR/<user>/<index>/<project>-<version>.doc.zip
 *   OUTDIR/<user>/<index>/<project>/<hashtype>=<hex of release>/<toxresult>
 *
 * dataindex.json is streamed: users, then per index its config, its
 * projects' version metadata (without "+links") and its files with their
 * logs.  It is written as dataindex.json.partial and renamed when complete,
 * so an interrupted export never looks finished.  Every path written is
 * built from names the store validated when they came in, and checked
 * again here (no "..", no "/" inside a component).
 */
#include "proxy/export.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/util.h"
#include "config/config.h"
#include "inherit/name.h"
#include "proxy/model.h"
#include "store/store.h"

#define PATH_MAX_LEN 4096

struct exp {
	struct store_txn *t;
	const char *outdir;
	FILE *out;
	struct progress *p;
	bool include_mirrored;
	int rc;
};

/* ---- output helpers -------------------------------------------------------- */

static void put_raw(struct exp *e, const char *s)
{
	if (!e->rc && fputs(s, e->out) == EOF)
		e->rc = ERR_IO;
}

static void put_string(struct exp *e, const char *s)
{
	struct buf b = BUF_INIT;
	json_add_string(&b, s, strlen(s));
	if (!e->rc && fwrite(b.p, 1, b.len, e->out) != b.len)
		e->rc = ERR_IO;
	buf_release(&b);
}

static void put_json(struct exp *e, const cJSON *v)
{
	struct buf b = BUF_INIT;
	if (json_print_compact(v, &b) != ERR_OK)
		e->rc = ERR_NOMEM;
	else if (!e->rc && fwrite(b.p, 1, b.len, e->out) != b.len)
		e->rc = ERR_IO;
	buf_release(&b);
}

/* One path component that may be written under OUTDIR. */
static bool safe_component(const char *s)
{
	return *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') && !strchr(s, '\\');
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(path, 0755);
		*p = '/';
		if (r != 0 && errno != EEXIST)
			return ERR_IO;
	}
	return ERR_OK;
}

/* Copies the blob with sha256 hex `hex` to OUTDIR/rel. */
static int write_content(struct exp *e, const char *rel, const char *hex, uint64_t *bytes)
{
	uint8_t sha[32];
	struct store_blob b;
	char path[PATH_MAX_LEN];
	int fd = -1, rc = ERR_OK;
	*bytes = 0;
	if (!hex || hex_decode(hex, strlen(hex), sha, 32) != ERR_OK || store_blob_get(e->t, sha, &b) != ERR_OK) {
		log_err("export: the content of '%s' is missing from the store", rel);
		return ERR_CORRUPT;
	}
	if ((size_t)snprintf(path, sizeof path, "%s/%s", e->outdir, rel) >= sizeof path)
		return ERR_TOOBIG;
	if ((rc = mkdirs(path)))
		return rc;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		log_err("export: cannot write '%s': %s", path, strerror(errno));
		return ERR_IO;
	}
	for (uint32_t i = 0; i < b.nchunks && !rc; i++) {
		const void *p;
		size_t n;
		if (store_chunk_get(e->t, b.id, i, &p, &n) != ERR_OK) {
			log_err("export: chunk %u of '%s' is missing from the store", i, rel);
			rc = ERR_CORRUPT;
			break;
		}
		const char *q = p;
		while (n && !rc) {
			ssize_t w = write(fd, q, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				rc = ERR_IO;
			else {
				q += w;
				n -= (size_t)w;
				*bytes += (uint64_t)w;
			}
		}
	}
	if (close(fd) != 0 && !rc)
		rc = ERR_IO;
	return rc;
}

/* ---- records ------------------------------------------------------------------ */

static int export_users(struct exp *e)
{
	struct store_keys kl;
	int rc = store_list_keys(e->t, "user/", &kl);
	put_raw(e, "\"users\":{");
	for (size_t i = 0; !rc && i < kl.n; i++) {
		cJSON *u = model_get(e->t, kl.keys[i]);
		if (!u)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(u, "indexes");
		if (!cJSON_GetObjectItemCaseSensitive(u, "username"))
			cJSON_AddStringToObject(u, "username", kl.keys[i] + kl.plen);
		put_raw(e, i ? "," : "");
		put_string(e, kl.keys[i] + kl.plen);
		put_raw(e, ":");
		put_json(e, u);
		cJSON_Delete(u);
		progress_add(e->p, 1, 0);
	}
	put_raw(e, "}");
	store_keys_release(&kl);
	return rc ? rc : e->rc;
}

/* The release link of a version whose relpath is rel, or NULL. */
static const cJSON *link_at(const cJSON *links, const char *rel)
{
	const cJSON *l;
	cJSON_ArrayForEach(l, links) {
		const char *r = json_get_str(l, "relpath");
		if (r && strcmp(r, rel) == 0)
			return l;
	}
	return NULL;
}

/* The entry of one stored file in "files", and its content. */
static int export_file(struct exp *e, const char *stage, const char *project, const char *name,
		       const char *version, const cJSON *links, const cJSON *l, bool *first)
{
	const char *rel = json_get_str(l, "relpath"), *kind = json_get_str(l, "rel");
	const char *filename = rel ? strrchr(rel, '/') : NULL;
	char key[1200], out[1200];
	int rc = ERR_OK;
	if (!rel || !filename)
		return ERR_OK;
	filename++;
	kind = kind ? kind : "releasefile";
	snprintf(key, sizeof key, "file/%s", rel);
	cJSON *rec = model_get(e->t, key);
	if (!rec || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "deleted"))) {
		cJSON_Delete(rec);
		return ERR_OK;          /* deleted data is not exported */
	}
	if (!safe_component(project) || !safe_component(version) || !safe_component(filename)) {
		log_err("export: refusing the unsafe path of '%s'", rel);
		cJSON_Delete(rec);
		return ERR_CORRUPT;
	}
	const char *for_rel = NULL;
	if (strcmp(kind, "doczip") == 0) {
		snprintf(out, sizeof out, "%s/%s-%s.doc.zip", stage, project, version);
	} else if (strcmp(kind, "toxresult") == 0) {
		for_rel = json_get_str(l, "for_relpath");
		const cJSON *rl = for_rel ? link_at(links, for_rel) : NULL;
		const char *rh = rl ? json_get_str(json_get_obj(rl, "hashes"), "sha256") : NULL;
		if (!rh) {
			cJSON_Delete(rec);
			return ERR_OK;  /* a result whose release is gone */
		}
		snprintf(out, sizeof out, "%s/%s/sha256=%s/%s", stage, project, rh, filename);
	} else {
		snprintf(out, sizeof out, "%s/%s/%s/%s", stage, project, version, filename);
	}
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "type", kind);
	cJSON_AddStringToObject(f, "projectname", name);
	cJSON_AddStringToObject(f, "version", version);
	cJSON_AddStringToObject(f, "relpath", out);
	if (for_rel)
		cJSON_AddStringToObject(f, "for_entrypath", for_rel);
	cJSON *em = cJSON_AddObjectToObject(f, "entrymapping");
	static const char *const keep[] = { "hash_spec", "hashes", "last_modified", "project", "version" };
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, keep[i]);
		if (v)
			cJSON_AddItemToObject(em, keep[i], cJSON_Duplicate(v, 1));
	}
	const cJSON *log = cJSON_GetObjectItemCaseSensitive(l, "log");
	cJSON_AddItemToObject(f, "log", log ? cJSON_Duplicate(log, 1) : cJSON_CreateArray());
	put_raw(e, *first ? "" : ",");
	*first = false;
	put_json(e, f);
	cJSON_Delete(f);
	uint64_t bytes = 0;
	rc = write_content(e, out, json_get_str(json_get_obj(rec, "hashes"), "sha256"), &bytes);
	progress_add(e->p, 1, bytes);
	cJSON_Delete(rec);
	return rc ? rc : e->rc;
}

/* "projects" and "files" of a private stage: two passes over its version
 * records, one for the metadata, one for the files. */
static int export_stage_data(struct exp *e, const char *stage)
{
	struct store_keys projects;
	char prefix[700];
	snprintf(prefix, sizeof prefix, "proj/%s/", stage);
	int rc = store_list_keys(e->t, prefix, &projects);
	for (int pass = 0; pass < 2 && !rc; pass++) {
		bool first = true;
		put_raw(e, pass == 0 ? ",\"projects\":{" : ",\"files\":[");
		for (size_t i = 0; !rc && i < projects.n; i++) {
			const char *project = projects.keys[i] + projects.plen;
			char key[800];
			snprintf(key, sizeof key, "proj/%s/%s", stage, project);
			cJSON *prec = model_get(e->t, key);
			const char *name = json_get_str(prec, "name") ? json_get_str(prec, "name") : project;
			struct store_keys versions;
			snprintf(prefix, sizeof prefix, "ver/%s/%s/", stage, project);
			rc = store_list_keys(e->t, prefix, &versions);
			if (pass == 0) {
				put_raw(e, i ? "," : "");
				put_string(e, name);
				put_raw(e, ":{");
			}
			for (size_t k = 0; !rc && k < versions.n; k++) {
				snprintf(key, sizeof key, "ver/%s/%s/%s", stage, project, versions.keys[k] + versions.plen);
				cJSON *ver = model_get(e->t, key);
				if (!ver)
					continue;
				cJSON *links = cJSON_DetachItemFromObjectCaseSensitive(ver, "+links");
				cJSON_DeleteItemFromObjectCaseSensitive(ver, "+elinks");
				if (pass == 0) {
					put_raw(e, k ? "," : "");
					put_string(e, versions.keys[k] + versions.plen);
					put_raw(e, ":");
					put_json(e, ver);
				} else {
					const cJSON *l;
					cJSON_ArrayForEach(l, links) {
						if ((rc = export_file(e, stage, project, name, versions.keys[k] + versions.plen, links, l,
								      &first)))
							break;
					}
				}
				cJSON_Delete(links);
				cJSON_Delete(ver);
			}
			if (pass == 0)
				put_raw(e, "}");
			store_keys_release(&versions);
			cJSON_Delete(prec);
		}
		put_raw(e, pass == 0 ? "}" : "]");
	}
	store_keys_release(&projects);
	return rc ? rc : e->rc;
}

/* A mirror's cached files (--include-mirrored-files), with minimal version
 * data: one pass to list, then the entries.  The file records are the
 * truth (an imported mirror cache has no pages); the (project, version)
 * set is held in memory to dedupe, a small record per cached version. */
static int export_mirror_files(struct exp *e, const char *stage)
{
	struct store_keys files;
	char prefix[700];
	snprintf(prefix, sizeof prefix, "file/%s/", stage);
	int rc = store_list_keys(e->t, prefix, &files);
	cJSON *projects = cJSON_CreateObject();   /* project → {version: {name, version}}: small records */
	for (size_t i = 0; !rc && i < files.n; i++) {
		cJSON *rec = model_get(e->t, files.keys[i]);
		const char *p = json_get_str(rec, "project"), *v = json_get_str(rec, "version");
		if (p && v && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "deleted"))) {
			char *norm = name_normalize_dup(p, strlen(p));
			cJSON *pv = cJSON_GetObjectItemCaseSensitive(projects, norm);
			if (!pv)
				pv = cJSON_AddObjectToObject(projects, norm);
			if (!cJSON_GetObjectItemCaseSensitive(pv, v)) {
				cJSON *vd = cJSON_AddObjectToObject(pv, v);
				cJSON_AddStringToObject(vd, "name", p);
				cJSON_AddStringToObject(vd, "version", v);
			}
			xfree(norm);
		}
		cJSON_Delete(rec);
	}
	put_raw(e, ",\"projects\":");
	put_json(e, projects);
	put_raw(e, ",\"files\":[");
	bool first = true;
	for (size_t i = 0; !rc && i < files.n; i++) {
		cJSON *rec = model_get(e->t, files.keys[i]);
		const char *p = json_get_str(rec, "project"), *v = json_get_str(rec, "version");
		if (p && v && json_get_str(rec, "relpath")) {
			char *norm = name_normalize_dup(p, strlen(p));
			cJSON *l = cJSON_CreateObject();
			cJSON_AddStringToObject(l, "relpath", json_get_str(rec, "relpath"));
			cJSON_AddStringToObject(l, "rel", "releasefile");
			rc = export_file(e, stage, norm, p, v, NULL, l, &first);
			cJSON_Delete(l);
			xfree(norm);
		}
		cJSON_Delete(rec);
	}
	put_raw(e, "]");
	cJSON_Delete(projects);
	store_keys_release(&files);
	return rc ? rc : e->rc;
}

static int export_indexes(struct exp *e)
{
	struct store_keys stages;
	int rc = store_list_keys(e->t, "index/", &stages);
	put_raw(e, ",\"indexes\":{");
	for (size_t i = 0; !rc && i < stages.n; i++) {
		cJSON *cfg = model_get(e->t, stages.keys[i]);
		if (!cfg)
			continue;
		const char *type = json_get_str(cfg, "type");
		bool mirror = type && strcmp(type, "mirror") == 0;
		put_raw(e, i ? "," : "");
		put_string(e, stages.keys[i] + stages.plen);
		put_raw(e, ":{\"indexconfig\":");
		put_json(e, cfg);
		if (!mirror)
			rc = export_stage_data(e, stages.keys[i] + stages.plen);
		else if (e->include_mirrored)
			rc = export_mirror_files(e, stages.keys[i] + stages.plen);
		else
			put_raw(e, ",\"projects\":{},\"files\":[]");
		put_raw(e, "}");
		cJSON_Delete(cfg);
	}
	put_raw(e, "}");
	store_keys_release(&stages);
	return rc ? rc : e->rc;
}

/* outdir must be new or empty. */
static int prepare_outdir(const char *outdir)
{
	bool exists;
	int rc = dir_is_empty(outdir, &exists);
	if (rc)
		log_err("export: '%s' is %s", outdir, rc == ERR_EXISTS ? "not empty" : "not a usable directory");
	else if (!exists && mkdir(outdir, 0755) != 0) {
		log_err("export: cannot create '%s': %s", outdir, strerror(errno));
		rc = ERR_IO;
	}
	return rc;
}

int export_run(struct store *st, const char *outdir, bool include_mirrored, struct progress *p)
{
	char tmp[PATH_MAX_LEN], final[PATH_MAX_LEN];
	struct exp e = { .outdir = outdir, .p = p, .include_mirrored = include_mirrored };
	int rc;
	if (strlen(outdir) > PATH_MAX_LEN - 100)
		return ERR_TOOBIG;
	if ((rc = prepare_outdir(outdir)))
		return rc;
	snprintf(tmp, sizeof tmp, "%s/dataindex.json.partial", outdir);
	snprintf(final, sizeof final, "%s/dataindex.json", outdir);
	if ((rc = store_read_begin(st, &e.t)))
		return rc;
	if (!(e.out = fopen(tmp, "wx"))) {
		log_err("export: cannot write '%s': %s", tmp, strerror(errno));
		store_abort(e.t);
		return ERR_IO;
	}
	put_raw(&e, "{\"dumpversion\":\"2\",\"pythonversion\":[3,11,2,\"final\",0],"
		    "\"devpi_server\":\"6.19.1+devpi.like." DEVPI_LIKE_VERSION "\",");
	rc = export_users(&e);
	if (!rc)
		rc = export_indexes(&e);
	put_raw(&e, "}\n");
	if (!rc)
		rc = e.rc;
	store_abort(e.t);
	if (fflush(e.out) != 0 || fsync(fileno(e.out)) != 0)
		rc = rc ? rc : ERR_IO;
	if (fclose(e.out) != 0)
		rc = rc ? rc : ERR_IO;
	if (!rc && rename(tmp, final) != 0)
		rc = ERR_IO;
	return rc;
}
