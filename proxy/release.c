/* release.c — register a release and store its file in one write job.
 *
 * Runs on the writer thread inside the job's nested transaction, so the
 * checks (index still there, non-volatile overwrite rule) and the writes
 * are atomic: either the blob, the file record, the version record and the
 * project record all appear in one serial, or nothing does.  A doc zip
 * (API.md 6.6 doc_upload) is one more kind of file of a version, with the
 * same overwrite rules, so the same job stores it: only the metadata
 * (kept, or a minimal {name, version}), the filename and the link's rel
 * differ.
 */
#include "proxy/release.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "common/util.h"
#include "inherit/version.h"
#include "inherit/name.h"
#include "proxy/model.h"
#include "store/store.h"

const struct release_key release_keys[] = {
	{ "name", false }, { "version", false }, { "metadata_version", false }, { "summary", false },
	{ "home_page", false }, { "author", false }, { "author_email", false }, { "maintainer", false },
	{ "maintainer_email", false }, { "license", false }, { "description", false }, { "keywords", false },
	{ "platform", true }, { "classifiers", true }, { "download_url", false }, { "supported_platform", true },
	{ "comment", false }, { "provides", true }, { "requires", true }, { "obsoletes", true },
	{ "project_urls", true }, { "provides_dist", true }, { "obsoletes_dist", true }, { "requires_dist", true },
	{ "requires_external", true }, { "requires_python", false }, { "description_content_type", false },
	{ "provides_extras", true }, { "dynamic", true }, { "license_expression", false }, { "license_file", true },
	{ NULL, false },
};

struct release_write *release_write_new(const char *user, const char *index, const char *name, const char *version)
{
	struct release_write *w = xcalloc(1, sizeof *w);
	w->user = xstrdup(user);
	w->index = xstrdup(index);
	w->name = xstrdup(name);
	w->project = name_normalize_dup(name, strlen(name));
	w->version = xstrdup(version);
	return w;
}

void release_write_free(struct release_write *w)
{
	if (!w)
		return;
	xfree(w->user);
	xfree(w->index);
	xfree(w->name);
	xfree(w->project);
	xfree(w->version);
	cJSON_Delete(w->form);
	cJSON_Delete(w->archive_meta);
	xfree(w->filename);
	xfree(w->core_metadata);
	xfree(w->user_name);
	xfree(w);
}

/* A form or archive value normalized for storage: "UNKNOWN" → "", lists
 * with empty items dropped.  NULL when v is absent. */
static cJSON *meta_value(const cJSON *v, bool list)
{
	if (!v)
		return NULL;
	if (list) {
		cJSON *out = cJSON_CreateArray();
		if (cJSON_IsArray(v)) {
			const cJSON *e;
			cJSON_ArrayForEach(e, v)
				if (cJSON_IsString(e) && *e->valuestring && strcmp(e->valuestring, "UNKNOWN") != 0)
					cJSON_AddItemToArray(out, cJSON_CreateString(e->valuestring));
		} else if (cJSON_IsString(v) && *v->valuestring && strcmp(v->valuestring, "UNKNOWN") != 0) {
			cJSON_AddItemToArray(out, cJSON_CreateString(v->valuestring));
		}
		return out;
	}
	if (cJSON_IsArray(v))
		v = cJSON_GetArrayItem(v, 0);
	if (!cJSON_IsString(v))
		return cJSON_CreateString("");
	return cJSON_CreateString(strcmp(v->valuestring, "UNKNOWN") == 0 ? "" : v->valuestring);
}

/* Builds the version metadata: the existing record, or a fresh one from
 * the archive's metadata; then every key present in the form on top
 * (API.md 6.6).  A submit replaces the metadata with the form's values. */
static cJSON *build_meta(const struct release_write *w, const cJSON *existing)
{
	cJSON *meta = cJSON_CreateObject();
	for (const struct release_key *k = release_keys; k->name; k++) {
		cJSON *v = NULL;
		const cJSON *form_v = cJSON_GetObjectItemCaseSensitive(w->form, k->name);
		bool form_has = form_v && !(cJSON_IsString(form_v) && !*form_v->valuestring && !w->register_only);
		if (w->register_only) {
			v = meta_value(form_v, k->list);
			if (!v)
				v = k->list ? cJSON_CreateArray() : cJSON_CreateString("");
		} else if (form_has) {
			v = meta_value(form_v, k->list);
		} else if (existing && cJSON_GetObjectItemCaseSensitive(existing, k->name)) {
			v = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(existing, k->name), 1);
		} else if (w->archive_meta && cJSON_GetObjectItemCaseSensitive(w->archive_meta, k->name)) {
			v = meta_value(cJSON_GetObjectItemCaseSensitive(w->archive_meta, k->name), k->list);
		} else if (!existing) {
			v = k->list ? cJSON_CreateArray() : cJSON_CreateString("");
		}
		if (v)
			cJSON_AddItemToObject(meta, k->name, v);
	}
	/* name as registered first, version exactly as given */
	const char *first = existing ? json_get_str(existing, "name") : NULL;
	cJSON_ReplaceItemInObjectCaseSensitive(meta, "name", cJSON_CreateString(first ? first : w->name));
	cJSON_ReplaceItemInObjectCaseSensitive(meta, "version", cJSON_CreateString(w->version));
	return meta;
}

static bool link_is(const cJSON *l, const char *rel)
{
	const char *kind = json_get_str(l, "rel");
	return strcmp(kind ? kind : "releasefile", rel ? rel : "releasefile") == 0;
}

cJSON *release_find_link(cJSON *links, const char *rel, const char *filename)
{
	cJSON *l;
	cJSON_ArrayForEach(l, links) {
		const char *fn = json_get_str(l, "filename");
		if (fn && strcmp(fn, filename) == 0 && link_is(l, rel))
			return l;
	}
	return NULL;
}

cJSON *release_log_entry(const char *what, const char *who, const char *dst)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "what", what);
	if (who && *who)
		cJSON_AddStringToObject(e, "who", who);
	else
		cJSON_AddNullToObject(e, "who");
	cJSON_AddItemToObject(e, "when", model_when_now());
	if (dst)
		cJSON_AddStringToObject(e, "dst", dst);
	return e;
}

cJSON *release_file_record(const char *relpath, const char *sha_hex, uint64_t size, const char *project,
			   const char *version, time_t now)
{
	char lm[32], iso[32], spec[80];
	time_rfc1123(now, lm);
	time_iso8601(now, iso);
	snprintf(spec, sizeof spec, "sha256=%s", sha_hex);
	cJSON *f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "relpath", relpath);
	cJSON_AddStringToObject(f, "hash_spec", spec);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(f, "hashes"), "sha256", sha_hex);
	cJSON_AddStringToObject(f, "last_modified", lm);
	cJSON_AddStringToObject(f, "project", project);
	cJSON_AddStringToObject(f, "version", version);
	cJSON_AddNumberToObject(f, "size", (double)size);
	cJSON_AddStringToObject(f, "upload_time", iso);
	return f;
}

cJSON *release_link_new(const char *rel, const char *filename, const char *relpath, const char *sha_hex,
			uint64_t size, time_t now)
{
	char iso[32], spec[80];
	time_iso8601(now, iso);
	snprintf(spec, sizeof spec, "sha256=%s", sha_hex);
	cJSON *l = cJSON_CreateObject();
	cJSON_AddStringToObject(l, "rel", rel);
	cJSON_AddStringToObject(l, "filename", filename);
	cJSON_AddStringToObject(l, "relpath", relpath);
	cJSON_AddStringToObject(l, "hash_spec", spec);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(l, "hashes"), "sha256", sha_hex);
	cJSON_AddNumberToObject(l, "size", (double)size);
	cJSON_AddStringToObject(l, "upload_time", iso);
	return l;
}

struct latest_ctx {
	size_t prefix_len;
	char *best;
};

static int latest_scan(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct latest_ctx *c = arg;
	(void)val;
	(void)vlen;
	if (klen <= c->prefix_len)
		return 0;
	const char *v = key + c->prefix_len;
	if (!c->best || version_cmp_total(v, c->best) > 0) {
		xfree(c->best);
		c->best = xstrdup(v);
	}
	return 0;
}

int release_latest_version(struct store_txn *t, const char *stage, const char *project, char **out)
{
	char prefix[700];
	int n = snprintf(prefix, sizeof prefix, "ver/%s/%s/", stage, project);
	struct latest_ctx c = { (size_t)n, NULL };
	int rc = store_scan(t, prefix, latest_scan, &c);
	if (rc) {
		xfree(c.best);
		c.best = NULL;
	}
	*out = c.best;
	return rc;
}

int release_write_run(struct store_txn *t, void *arg)
{
	struct release_write *w = arg;
	char key[700], vkey[700], stage[200];
	cJSON *cfg = NULL, *existing = NULL, *meta = NULL, *fileRec = NULL, *link = NULL;
	const char *rel = w->doczip ? "doczip" : "releasefile";
	int rc;

	snprintf(stage, sizeof stage, "%s/%s", w->user, w->index);
	snprintf(key, sizeof key, "index/%s", stage);
	cfg = model_get(t, key);
	if (!cfg) {
		rc = ERR_NOTFOUND;
		goto fail;
	}
	bool is_volatile = model_index_volatile(cfg);
	if (w->doczip && !*w->version) {
		char *latest = NULL;
		if ((rc = release_latest_version(t, stage, w->project, &latest)))
			goto fail;
		if (!latest) {
			w->no_version = true;
			rc = ERR_INVAL;
			goto fail;
		}
		xfree(w->version);
		w->version = latest;
	}
	if (w->doczip) {
		xfree(w->filename);
		w->filename = xasprintf("%s-%s.doc.zip", w->project, w->version);
	}
	snprintf(vkey, sizeof vkey, "ver/%s/%s/%s", stage, w->project, w->version);
	existing = model_get(t, vkey);
	cJSON *links = existing ? cJSON_DetachItemFromObjectCaseSensitive(existing, "+links") : NULL;
	if (w->doczip && existing) {
		meta = cJSON_Duplicate(existing, 1);     /* a doc upload leaves the metadata alone */
	} else if (w->doczip) {
		meta = cJSON_CreateObject();
		cJSON_AddStringToObject(meta, "name", w->name);
		cJSON_AddStringToObject(meta, "version", w->version);
	} else {
		meta = build_meta(w, existing);
	}
	if (!links)
		links = cJSON_CreateArray();
	cJSON_AddItemToObject(meta, "+links", links);

	if (!w->register_only) {
		char hex[SHA256_HEX_LEN + 1], relpath[600];
		hex_encode(w->sha256, 32, hex);
		snprintf(relpath, sizeof relpath, "%s/+f/%.3s/%.13s/%s", stage, hex, hex + 3, w->filename);
		cJSON *old = release_find_link(links, rel, w->filename);
		cJSON *oldlog = NULL;
		int overwrites = 0;
		if (old) {
			const char *oldsha = json_get_str(cJSON_GetObjectItemCaseSensitive(old, "hashes"), "sha256");
			bool same = oldsha && strcmp(oldsha, hex) == 0;
			if (!is_volatile) {
				if (!same) {
					rc = ERR_CONFLICT;
					goto fail;
				}
				w->identical = true;
				rc = store_blob_discard(t, w->blob_id);
				goto fail;
			}
			const char *oldrel = json_get_str(old, "relpath");
			if (oldrel && strcmp(oldrel, relpath) != 0 && (rc = model_file_tombstone(t, oldrel)))
				goto fail;
			oldlog = cJSON_DetachItemFromObjectCaseSensitive(old, "log");
			const cJSON *e;
			cJSON_ArrayForEach(e, oldlog) {
				const char *what = json_get_str(e, "what");
				const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(e, "count");
				if (what && strcmp(what, "overwrite") == 0 && cJSON_IsNumber(cnt) && cnt->valueint > overwrites)
					overwrites = cnt->valueint;
			}
			cJSON_Delete(cJSON_DetachItemViaPointer(links, old));
		}
		rc = store_blob_finish(t, w->blob_id, w->sha256, w->size, w->nchunks);
		if (rc) {
			cJSON_Delete(oldlog);
			goto fail;
		}
		char core_hex[SHA256_HEX_LEN + 1] = "";
		if (w->core_metadata) {
			uint8_t csum[32];
			sha256_buf(w->core_metadata, w->core_metadata_len, csum);
			hex_encode(csum, 32, core_hex);
			rc = store_chunk_put(t, w->core_blob_id, 0, w->core_metadata, w->core_metadata_len);
			if (!rc)
				rc = store_blob_finish(t, w->core_blob_id, csum, w->core_metadata_len, 1);
			if (rc) {
				cJSON_Delete(oldlog);
				goto fail;
			}
		}
		time_t now = time(NULL);
		link = release_link_new(rel, w->filename, relpath, hex, w->size, now);
		if (*core_hex)
			cJSON_AddStringToObject(link, "core_metadata_sha256", core_hex);
		cJSON *log = oldlog ? oldlog : cJSON_CreateArray();
		if (old) {
			cJSON *ow = cJSON_CreateObject();
			cJSON_AddStringToObject(ow, "what", "overwrite");
			cJSON_AddNullToObject(ow, "who");
			cJSON_AddItemToObject(ow, "when", model_when_now());
			cJSON_AddNumberToObject(ow, "count", overwrites + 1);
			cJSON_AddItemToArray(log, ow);
		}
		cJSON_AddItemToArray(log, release_log_entry("upload", w->user_name, stage));
		cJSON_AddItemToObject(link, "log", log);
		cJSON_AddItemToArray(links, link);

		fileRec = release_file_record(relpath, hex, w->size, w->project, w->version, now);
		if (*core_hex)
			cJSON_AddStringToObject(fileRec, "core_metadata_sha256", core_hex);
		snprintf(key, sizeof key, "file/%s", relpath);
		if ((rc = model_put(t, key, fileRec)))
			goto fail;
	}
	if ((rc = model_put(t, vkey, meta)))
		goto fail;
	snprintf(key, sizeof key, "proj/%s/%s", stage, w->project);
	const char *v;
	size_t len;
	if (store_get(t, key, &v, &len) == ERR_NOTFOUND) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", w->name);
		rc = model_put(t, key, p);
		cJSON_Delete(p);
	}
fail:
	cJSON_Delete(cfg);
	cJSON_Delete(existing);
	cJSON_Delete(meta);
	cJSON_Delete(fileRec);
	return rc;
}
