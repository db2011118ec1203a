/* release.c — register a release and store its file in one write job.
 *
 * Runs on the writer thread inside the job's nested transaction, so the
 * checks (index still there, non-volatile overwrite rule) and the writes
 * are atomic: either the blob, the file record, the version record and the
 * project record all appear in one serial, or nothing does.
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

static cJSON *find_link(cJSON *links, const char *filename)
{
	cJSON *l;
	cJSON_ArrayForEach(l, links) {
		const char *fn = json_get_str(l, "filename");
		if (fn && strcmp(fn, filename) == 0)
			return l;
	}
	return NULL;
}

static cJSON *log_entry(const char *what, const char *who, const char *dst)
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

int release_write_run(struct store_txn *t, void *arg)
{
	struct release_write *w = arg;
	char key[700], vkey[700], stage[200];
	cJSON *cfg = NULL, *existing = NULL, *meta = NULL, *fileRec = NULL, *link = NULL;
	int rc;

	snprintf(stage, sizeof stage, "%s/%s", w->user, w->index);
	snprintf(key, sizeof key, "index/%s", stage);
	cfg = model_get(t, key);
	if (!cfg) {
		rc = ERR_NOTFOUND;
		goto fail;
	}
	bool is_volatile = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cfg, "volatile"));
	snprintf(vkey, sizeof vkey, "ver/%s/%s/%s", stage, w->project, w->version);
	existing = model_get(t, vkey);
	meta = build_meta(w, existing);
	cJSON *links = existing ? cJSON_DetachItemFromObjectCaseSensitive(existing, "+links") : NULL;
	if (!links)
		links = cJSON_CreateArray();
	cJSON_AddItemToObject(meta, "+links", links);

	if (!w->register_only) {
		char hex[SHA256_HEX_LEN + 1], relpath[600];
		hex_encode(w->sha256, 32, hex);
		snprintf(relpath, sizeof relpath, "%s/+f/%.3s/%.13s/%s", stage, hex, hex + 3, w->filename);
		cJSON *old = find_link(links, w->filename);
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
			if (oldrel && strcmp(oldrel, relpath) != 0) {
				char fkey[700];
				snprintf(fkey, sizeof fkey, "file/%s", oldrel);
				cJSON *tomb = cJSON_CreateObject();
				cJSON_AddBoolToObject(tomb, "deleted", 1);
				rc = model_put(t, fkey, tomb);
				cJSON_Delete(tomb);
				if (rc)
					goto fail;
			}
			oldlog = cJSON_DetachItemFromObjectCaseSensitive(old, "log");
			const cJSON *e;
			cJSON_ArrayForEach(e, oldlog) {
				const char *what = json_get_str(e, "what");
				const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(e, "count");
				if (what && strcmp(what, "overwrite") == 0 && cJSON_IsNumber(cnt) && cnt->valueint > overwrites)
					overwrites = cnt->valueint;
			}
			cJSON *idx = links->child;
			int i = 0;
			while (idx && idx != old) {
				idx = idx->next;
				i++;
			}
			cJSON_DeleteItemFromArray(links, i);
		}
		rc = store_blob_finish(t, w->blob_id, w->sha256, w->size, w->nchunks);
		if (rc)
			goto fail;
		char core_hex[SHA256_HEX_LEN + 1] = "";
		if (w->core_metadata) {
			uint8_t csum[32];
			sha256_buf(w->core_metadata, w->core_metadata_len, csum);
			hex_encode(csum, 32, core_hex);
			rc = store_chunk_put(t, w->core_blob_id, 0, w->core_metadata, w->core_metadata_len);
			if (!rc)
				rc = store_blob_finish(t, w->core_blob_id, csum, w->core_metadata_len, 1);
			if (rc)
				goto fail;
		}
		time_t now = time(NULL);
		char lm[32], iso[32], spec[80];
		time_rfc1123(now, lm);
		time_iso8601(now, iso);
		snprintf(spec, sizeof spec, "sha256=%s", hex);
		link = cJSON_CreateObject();
		cJSON_AddStringToObject(link, "rel", "releasefile");
		cJSON_AddStringToObject(link, "filename", w->filename);
		cJSON_AddStringToObject(link, "relpath", relpath);
		cJSON_AddStringToObject(link, "hash_spec", spec);
		cJSON *hashes = cJSON_AddObjectToObject(link, "hashes");
		cJSON_AddStringToObject(hashes, "sha256", hex);
		cJSON_AddNumberToObject(link, "size", (double)w->size);
		cJSON_AddStringToObject(link, "upload_time", iso);
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
		cJSON_AddItemToArray(log, log_entry("upload", w->user_name, stage));
		cJSON_AddItemToObject(link, "log", log);
		cJSON_AddItemToArray(links, link);

		fileRec = cJSON_CreateObject();
		cJSON_AddStringToObject(fileRec, "relpath", relpath);
		cJSON_AddStringToObject(fileRec, "hash_spec", spec);
		cJSON_AddItemToObject(fileRec, "hashes", cJSON_Duplicate(hashes, 1));
		cJSON_AddStringToObject(fileRec, "last_modified", lm);
		cJSON_AddStringToObject(fileRec, "project", w->project);
		cJSON_AddStringToObject(fileRec, "version", w->version);
		cJSON_AddNumberToObject(fileRec, "size", (double)w->size);
		cJSON_AddStringToObject(fileRec, "upload_time", iso);
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
