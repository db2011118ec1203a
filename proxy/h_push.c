/* h_push.c — devpi's push (API.md 6.4): `POST` (JSON body) or `PUSH` on
 * /<user>/<index> copies one version of a project from this stage to
 * another index of this server (internal push) or uploads it to an
 * outside index with the legacy upload protocol (external push,
 * push_ext.c).
 *
 * The request is checked and the source read in one short read
 * transaction: the version's metadata and its stored files in this stage
 * only (its "+links", or for a mirror the cached page's links of that
 * version; a file not downloaded yet is fetched first, one at a time,
 * and the handler runs again).  An internal push
 * is then one writer job, so it is all or nothing: the target's version
 * metadata, each file record and link (pointing at the blob the source
 * uses — the store is content-addressed, so no byte is copied), their
 * logs without `overwrite` entries plus a `push` entry, and the project
 * record appear in one serial, after the job has re-checked the target
 * and the non-volatile rule against the state it writes over.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/mirror.h"
#include "proxy/mirror_file.h"
#include "proxy/model.h"
#include "proxy/perm.h"
#include "proxy/push_ext.h"
#include "proxy/upstream.h"
#include "proxy/web.h"
#include "proxy/wjob.h"
#include "store/store.h"

#define PUSH_MAX_LINKS 1000         /* files of one version we are willing to push */
#define KEY_MAX 1200

/* ---- the source --------------------------------------------------------- */

void push_src_free(struct push_src *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlinks; i++) {
		struct push_link *l = &s->links[i];
		xfree(l->filename);
		xfree(l->relpath);
		xfree(l->for_relpath);
		xfree(l->core_sha_hex);
		cJSON_Delete(l->link);
		cJSON_Delete(l->file);
	}
	xfree(s->links);
	xfree(s->stage);
	xfree(s->name);
	xfree(s->project);
	xfree(s->version);
	cJSON_Delete(s->meta);
	xfree(s);
}

static bool blob_exists(struct store_txn *t, const char *hex)
{
	uint8_t sha[32];
	struct store_blob b;
	return hex && strlen(hex) == 64 && hex_decode(hex, 64, sha, 32) == ERR_OK && store_blob_get(t, sha, &b) == ERR_OK;
}

static const char *basename_of(const char *relpath)
{
	const char *s = strrchr(relpath, '/');
	return s ? s + 1 : relpath;
}

/* Why reading the source failed: an HTTP status and message. */
struct src_err {
	int status;
	char msg[600];
	char missing[1001];         /* a mirror file not stored: its relpath */
};

static int src_fail(struct src_err *e, int status, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int src_fail(struct src_err *e, int status, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->status = status;
	return rc;
}

/* Appends the stored file at relpath (its record must exist with its
 * blob).  A file whose content is missing is ERR_NOTFOUND with a 502
 * (mirror: not downloaded yet) or a 500 (private: the store lost it). */
static int add_link(struct store_txn *t, struct push_src *s, enum push_rel rel, const char *relpath,
		    const cJSON *link, struct src_err *e)
{
	char key[KEY_MAX];
	if (strlen(relpath) > 1000)
		return src_fail(e, 500, ERR_INVAL, "relpath too long: %.100s", relpath);
	if (s->nlinks == PUSH_MAX_LINKS)
		return src_fail(e, 400, ERR_TOOBIG, "more than %d files in %s %s", PUSH_MAX_LINKS, s->name, s->version);
	snprintf(key, sizeof key, "file/%s", relpath);
	cJSON *file = model_get(t, key);
	const char *hex = file ? json_get_str(json_get_obj(file, "hashes"), "sha256") : NULL;
	bool deleted = file && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(file, "deleted"));
	if (!file || deleted || !blob_exists(t, hex)) {
		cJSON_Delete(file);
		if (s->mirror) {
			snprintf(e->missing, sizeof e->missing, "%s", relpath);
			return src_fail(e, 502, ERR_NOTFOUND,
					"'%s' of %s %s is not cached on mirror %s and cannot be fetched now; "
					"push again later", basename_of(relpath), s->name, s->version, s->stage);
		}
		return src_fail(e, 500, ERR_NOTFOUND, "the content of '%s' is missing from the store", relpath);
	}
	s->links = xrealloc(s->links, (s->nlinks + 1) * sizeof *s->links);
	struct push_link *l = &s->links[s->nlinks++];
	memset(l, 0, sizeof *l);
	l->rel = rel;
	l->relpath = xstrdup(relpath);
	l->filename = xstrdup(basename_of(relpath));
	memcpy(l->sha_hex, hex, 64);
	l->sha_hex[64] = '\0';
	hex_decode(hex, 64, l->sha256, 32);
	l->size = (uint64_t)json_get_num(file, "size", 0);
	l->file = file;
	l->link = link ? cJSON_Duplicate(link, 1) : NULL;
	const char *core = link ? json_get_str(link, "core_metadata_sha256") : NULL;
	if (!core)
		core = json_get_str(file, "core_metadata_sha256");
	if (!core && s->mirror) {
		/* a mirror wheel's PEP 658 metadata, if it was stored */
		snprintf(key, sizeof key, "file/%s.metadata", relpath);
		cJSON *m = model_get(t, key);
		core = m ? json_get_str(json_get_obj(m, "hashes"), "sha256") : NULL;
		if (core && blob_exists(t, core))
			l->core_sha_hex = xstrdup(core);
		cJSON_Delete(m);
	} else if (core && blob_exists(t, core)) {
		l->core_sha_hex = xstrdup(core);
	}
	if (rel == PUSH_TOXRESULT) {
		const char *f = json_get_str(link, "for_relpath");
		if (!f)
			f = json_get_str(link, "for_entrypath");
		if (f)
			l->for_relpath = xstrdup(f);
	}
	return ERR_OK;
}

/* A tox result without a for_* field belongs to the release file whose
 * name its own starts with ("<release>.toxresult-..."). */
static void infer_tox_owners(struct push_src *s)
{
	for (size_t i = 0; i < s->nlinks; i++) {
		struct push_link *tl = &s->links[i];
		if (tl->rel != PUSH_TOXRESULT || tl->for_relpath)
			continue;
		const char *mark = strstr(tl->filename, ".toxresult");
		size_t n = mark ? (size_t)(mark - tl->filename) : 0;
		for (size_t k = 0; n && k < s->nlinks; k++) {
			struct push_link *rl = &s->links[k];
			if (rl->rel == PUSH_RELEASE && strlen(rl->filename) == n && !strncmp(rl->filename, tl->filename, n)) {
				tl->for_relpath = xstrdup(rl->relpath);
				break;
			}
		}
	}
}

static cJSON *pure_metadata(const cJSON *rec)
{
	cJSON *m = cJSON_CreateObject();
	const cJSON *e;
	cJSON_ArrayForEach(e, rec)
		if (e->string && e->string[0] != '+')
			cJSON_AddItemToObject(m, e->string, cJSON_Duplicate(e, 1));
	return m;
}

static int read_private(struct store_txn *t, struct push_src *s, bool no_docs, bool only_docs, struct src_err *e)
{
	char key[KEY_MAX];
	snprintf(key, sizeof key, "ver/%s/%s/%s", s->stage, s->project, s->version);
	cJSON *rec = model_get(t, key);
	int rc = ERR_OK;
	if (!rec)
		return src_fail(e, 400, ERR_NOTFOUND, "there are no files for %s %s on stage %s", s->name, s->version,
				s->stage);
	const char *n = json_get_str(rec, "name");
	if (n) {
		xfree(s->name);
		s->name = xstrdup(n);
	}
	s->meta = pure_metadata(rec);
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(rec, "+links")) {
		const char *kind = json_get_str(l, "rel"), *relpath = json_get_str(l, "relpath");
		enum push_rel rel;
		if (!kind || !strcmp(kind, "releasefile"))
			rel = PUSH_RELEASE;
		else if (!strcmp(kind, "toxresult"))
			rel = PUSH_TOXRESULT;
		else if (!strcmp(kind, "doczip"))
			rel = PUSH_DOCZIP;
		else
			continue;
		if (!relpath || (no_docs && rel == PUSH_DOCZIP) || (only_docs && rel != PUSH_DOCZIP))
			continue;
		if ((rc = add_link(t, s, rel, relpath, l, e)))
			goto out;
	}
	infer_tox_owners(s);
out:
	cJSON_Delete(rec);
	return rc;
}

static int read_mirror(struct store_txn *t, struct push_src *s, bool only_docs, struct src_err *e)
{
	cJSON *page = mirror_page_get(t, s->stage, s->project);
	const char *requires_python = NULL;
	bool found = false;
	int rc = ERR_OK;
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(page, "links")) {
		const char *v = json_get_str(l, "version"), *relpath = json_get_str(l, "relpath");
		if (!v || strcmp(v, s->version) != 0 || !relpath)
			continue;
		found = true;
		if (!requires_python)
			requires_python = json_get_str(l, "requires_python");
		if (only_docs)
			continue;
		if ((rc = add_link(t, s, PUSH_RELEASE, relpath, NULL, e)))
			goto out;
	}
	if (!found) {
		rc = src_fail(e, 400, ERR_NOTFOUND, "there are no files for %s %s on stage %s", s->name, s->version,
			      s->stage);
		goto out;
	}
	const char *n = json_get_str(page, "name");
	if (n) {
		xfree(s->name);
		s->name = xstrdup(n);
	}
	s->meta = cJSON_CreateObject();
	cJSON_AddStringToObject(s->meta, "name", s->name);
	cJSON_AddStringToObject(s->meta, "version", s->version);
	if (requires_python && *requires_python)
		cJSON_AddStringToObject(s->meta, "requires_python", requires_python);
out:
	cJSON_Delete(page);
	return rc;
}

/* ---- the internal push job --------------------------------------------- */

struct push_job {
	struct push_src *src;       /* owned */
	char *dst;                  /* "user/index" */
	char *who;                  /* NULL: anonymous */
	/* outputs */
	cJSON *result;              /* the actionlog rows */
	char conflict[400];         /* ERR_CONFLICT: the file */
	char gone[400];             /* ERR_GONE: the source file whose content vanished */
};

static void push_job_free(struct push_job *j)
{
	push_src_free(j->src);
	xfree(j->dst);
	xfree(j->who);
	cJSON_Delete(j->result);
	xfree(j);
}

static const char *rel_name(enum push_rel rel)
{
	return rel == PUSH_RELEASE ? "releasefile" : rel == PUSH_TOXRESULT ? "toxresult" : "doczip";
}

static cJSON *find_target_link(cJSON *links, enum push_rel rel, const char *filename)
{
	cJSON *l;
	cJSON_ArrayForEach(l, links) {
		const char *kind = json_get_str(l, "rel"), *fn = json_get_str(l, "filename");
		const char *relpath = json_get_str(l, "relpath");
		if (!kind)
			kind = "releasefile";
		if (strcmp(kind, rel_name(rel)) != 0)
			continue;
		if (!fn && relpath)
			fn = basename_of(relpath);
		if (rel == PUSH_DOCZIP || (fn && !strcmp(fn, filename)))
			return l;
	}
	return NULL;
}

static int count_overwrites(const cJSON *log)
{
	int n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, log) {
		const char *what = json_get_str(e, "what");
		const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(e, "count");
		if (what && !strcmp(what, "overwrite") && cJSON_IsNumber(cnt) && cnt->valueint > n)
			n = cnt->valueint;
	}
	return n;
}

static void detach_link(cJSON *links, cJSON *l)
{
	cJSON_Delete(cJSON_DetachItemViaPointer(links, l));
}

/* The log of a pushed link: an overwrite entry if it replaces one, the
 * source's entries but its overwrites, then the push. */
static cJSON *pushed_log(const struct push_job *j, const struct push_link *pl, int overwrites)
{
	cJSON *log = cJSON_CreateArray();
	if (overwrites > 0) {
		cJSON *ow = cJSON_CreateObject();
		cJSON_AddStringToObject(ow, "what", "overwrite");
		cJSON_AddNullToObject(ow, "who");
		cJSON_AddItemToObject(ow, "when", model_when_now());
		cJSON_AddNumberToObject(ow, "count", overwrites);
		cJSON_AddItemToArray(log, ow);
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, json_get_arr(pl->link, "log")) {
		const char *what = json_get_str(e, "what");
		if (!what || strcmp(what, "overwrite") != 0)
			cJSON_AddItemToArray(log, cJSON_Duplicate(e, 1));
	}
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "what", "push");
	if (j->who)
		cJSON_AddStringToObject(p, "who", j->who);
	else
		cJSON_AddNullToObject(p, "who");
	cJSON_AddStringToObject(p, "src", j->src->stage);
	cJSON_AddStringToObject(p, "dst", j->dst);
	cJSON_AddItemToObject(p, "when", model_when_now());
	cJSON_AddItemToArray(log, p);
	return log;
}

static void set_str(cJSON *o, const char *key, const char *v)
{
	if (cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_ReplaceItemInObjectCaseSensitive(o, key, cJSON_CreateString(v));
	else
		cJSON_AddStringToObject(o, key, v);
}

static void add_row(cJSON *result, const char *what, const char *a, const char *b)
{
	cJSON *row = cJSON_CreateArray();
	cJSON_AddItemToArray(row, cJSON_CreateNumber(200));
	cJSON_AddItemToArray(row, cJSON_CreateString(what));
	cJSON_AddItemToArray(row, cJSON_CreateString(a));
	if (b) {
		cJSON_AddItemToArray(row, cJSON_CreateString(b));
		cJSON_AddItemToArray(row, cJSON_CreateString("->"));
	}
	cJSON_AddItemToArray(result, row);
}

/* Stores one source file in the target version's links.  for_target: a
 * tox result's release file in the target.  *out_relpath (xmalloc'ed) is
 * the file's relpath in the target. */
static int push_one(struct store_txn *t, struct push_job *j, const struct push_link *pl, cJSON *links,
		    bool is_volatile, const char *for_target, char **out_relpath)
{
	char key[KEY_MAX], filename[400];
	char *relpath = NULL;
	cJSON *link = NULL, *file = NULL;
	int overwrites = 0, rc = ERR_OK;

	*out_relpath = NULL;
	snprintf(filename, sizeof filename, "%s", pl->filename);
	if (pl->rel == PUSH_TOXRESULT) {
		const char *slash = strrchr(for_target, '/');
		relpath = xasprintf("%.*s/%s", (int)(slash - for_target), for_target, filename);
	} else {
		relpath = xasprintf("%s/+f/%.3s/%.13s/%s", j->dst, pl->sha_hex, pl->sha_hex + 3, filename);
	}
	cJSON *old = find_target_link(links, pl->rel, filename);
	if (old) {
		const char *oldsha = json_get_str(json_get_obj(old, "hashes"), "sha256");
		const char *oldrel = json_get_str(old, "relpath");
		bool same = oldsha && !strcmp(oldsha, pl->sha_hex);
		if (same && (!is_volatile || pl->rel == PUSH_TOXRESULT)) {
			/* already there: nothing to write */
			if (oldrel) {
				xfree(relpath);
				relpath = xstrdup(oldrel);
			}
			*out_relpath = relpath;
			return ERR_OK;
		}
		if (pl->rel == PUSH_TOXRESULT) {
			/* another result under that name: take the next free one */
			int n = 0;
			const cJSON *l;
			cJSON_ArrayForEach(l, links) {
				const char *kind = json_get_str(l, "rel"), *fr = json_get_str(l, "for_relpath");
				if (kind && !strcmp(kind, "toxresult") && fr && !strcmp(fr, for_target))
					n++;
			}
			const char *mark = strstr(pl->filename, ".toxresult");
			int baselen = (int)(mark ? (size_t)(mark - pl->filename) : strlen(pl->filename));
			char stamp[32];
			time_t now = time(NULL);
			struct tm tm;
			gmtime_r(&now, &tm);
			strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
			char *dir = xstrndup(relpath, (size_t)(strrchr(relpath, '/') - relpath));
			/* a free name: not in the links, and no record (a tombstone
			 * keeps answering 410) */
			for (int tries = 0;; tries++, n++) {
				const char *v;
				size_t vlen;
				snprintf(filename, sizeof filename, "%.*s.toxresult-%s-%d", baselen, pl->filename, stamp, n);
				xfree(relpath);
				relpath = xasprintf("%s/%s", dir, filename);
				snprintf(key, sizeof key, "file/%s", relpath);
				if (store_get(t, key, &v, &vlen) == ERR_NOTFOUND)
					break;
				if (tries >= 1000) {
					xfree(dir);
					rc = ERR_TOOBIG;
					goto fail;
				}
			}
			xfree(dir);
		} else {
			if (!same && !is_volatile) {
				const char *ofn = json_get_str(old, "filename");
				snprintf(j->conflict, sizeof j->conflict, "%s", ofn ? ofn : filename);
				rc = ERR_CONFLICT;
				goto fail;
			}
			overwrites = count_overwrites(json_get_arr(old, "log")) + 1;
			if (oldrel && strcmp(oldrel, relpath) != 0 && (rc = model_file_tombstone(t, oldrel)))
				goto fail;
			detach_link(links, old);
		}
	}
	if (strlen(relpath) > 1000) {
		rc = ERR_INVAL;
		goto fail;
	}
	char spec[80];
	snprintf(spec, sizeof spec, "sha256=%s", pl->sha_hex);
	/* the link: the source's, or for a mirror file a fresh one */
	link = pl->link ? cJSON_Duplicate(pl->link, 1) : cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(link, "log");
	set_str(link, "rel", rel_name(pl->rel));
	set_str(link, "filename", filename);
	set_str(link, "relpath", relpath);
	set_str(link, "hash_spec", spec);
	if (!cJSON_GetObjectItemCaseSensitive(link, "hashes")) {
		cJSON *h = cJSON_AddObjectToObject(link, "hashes");
		cJSON_AddStringToObject(h, "sha256", pl->sha_hex);
	}
	if (!cJSON_GetObjectItemCaseSensitive(link, "size"))
		cJSON_AddNumberToObject(link, "size", (double)pl->size);
	cJSON_DeleteItemFromObjectCaseSensitive(link, "core_metadata_sha256");
	if (pl->core_sha_hex)
		cJSON_AddStringToObject(link, "core_metadata_sha256", pl->core_sha_hex);
	if (pl->rel == PUSH_TOXRESULT) {
		if (cJSON_GetObjectItemCaseSensitive(link, "for_entrypath"))
			set_str(link, "for_entrypath", for_target);
		if (cJSON_GetObjectItemCaseSensitive(link, "for_relpath") ||
		    !cJSON_GetObjectItemCaseSensitive(link, "for_entrypath"))
			set_str(link, "for_relpath", for_target);
	}
	cJSON_AddItemToObject(link, "log", pushed_log(j, pl, overwrites));

	/* the file record: the source's, relocated; last_modified kept */
	file = cJSON_Duplicate(pl->file, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(file, "url");
	set_str(file, "relpath", relpath);
	set_str(file, "hash_spec", spec);
	set_str(file, "project", j->src->project);
	set_str(file, "version", j->src->version);
	cJSON_DeleteItemFromObjectCaseSensitive(file, "core_metadata_sha256");
	if (pl->core_sha_hex)
		cJSON_AddStringToObject(file, "core_metadata_sha256", pl->core_sha_hex);
	if (!cJSON_GetObjectItemCaseSensitive(file, "last_modified")) {
		char lm[32];
		time_rfc1123(time(NULL), lm);
		cJSON_AddStringToObject(file, "last_modified", lm);
	}
	snprintf(key, sizeof key, "file/%s", relpath);
	if ((rc = model_put(t, key, file)))
		goto fail;
	cJSON_AddItemToArray(links, link);
	link = NULL;
	*out_relpath = relpath;
	relpath = NULL;
fail:
	xfree(relpath);
	cJSON_Delete(link);
	cJSON_Delete(file);
	return rc;
}

static int push_run(struct store_txn *t, void *arg)
{
	struct push_job *j = arg;
	struct push_src *s = j->src;
	char key[KEY_MAX], vkey[KEY_MAX];
	cJSON *cfg = NULL, *existing = NULL, *meta = NULL;
	char *rel_target = NULL;
	int rc = ERR_OK;

	cJSON_Delete(j->result);
	j->result = cJSON_CreateArray();
	snprintf(key, sizeof key, "index/%s", j->dst);
	if (!(cfg = model_get(t, key))) {
		rc = ERR_NOTFOUND;
		goto fail;
	}
	const char *ttype = json_get_str(cfg, "type");
	if (ttype && strcmp(ttype, "stage") != 0) {
		rc = ERR_NOTFOUND;      /* replaced by a mirror since the check */
		goto fail;
	}
	bool is_volatile = model_index_volatile(cfg);
	for (size_t i = 0; i < s->nlinks; i++) {
		struct store_blob b;
		if (store_blob_get(t, s->links[i].sha256, &b) != ERR_OK) {
			snprintf(j->gone, sizeof j->gone, "%s", s->links[i].filename);
			rc = ERR_GONE;
			goto fail;
		}
	}
	snprintf(vkey, sizeof vkey, "ver/%s/%s/%s", j->dst, s->project, s->version);
	existing = model_get(t, vkey);
	meta = cJSON_Duplicate(s->meta, 1);
	set_str(meta, "name", s->name);
	set_str(meta, "version", s->version);
	cJSON *links = existing ? cJSON_DetachItemFromObjectCaseSensitive(existing, "+links") : NULL;
	if (!cJSON_IsArray(links)) {
		cJSON_Delete(links);
		links = cJSON_CreateArray();
	}
	cJSON_AddItemToObject(meta, "+links", links);
	{
		cJSON *row = cJSON_CreateArray();
		cJSON_AddItemToArray(row, cJSON_CreateNumber(200));
		cJSON_AddItemToArray(row, cJSON_CreateString("register"));
		cJSON_AddItemToArray(row, cJSON_CreateString(s->name));
		cJSON_AddItemToArray(row, cJSON_CreateString(s->version));
		cJSON_AddItemToArray(row, cJSON_CreateString("->"));
		cJSON_AddItemToArray(row, cJSON_CreateString(j->dst));
		cJSON_AddItemToArray(j->result, row);
	}
	for (size_t i = 0; i < s->nlinks; i++) {
		const struct push_link *pl = &s->links[i];
		if (pl->rel != PUSH_RELEASE)
			continue;
		if ((rc = push_one(t, j, pl, links, is_volatile, NULL, &rel_target)))
			goto fail;
		add_row(j->result, "store_releasefile", rel_target, NULL);
		for (size_t k = 0; k < s->nlinks; k++) {
			const struct push_link *tl = &s->links[k];
			char *tox_rel = NULL;
			if (tl->rel != PUSH_TOXRESULT || !tl->for_relpath || strcmp(tl->for_relpath, pl->relpath) != 0)
				continue;
			if ((rc = push_one(t, j, tl, links, is_volatile, rel_target, &tox_rel)))
				goto fail;
			add_row(j->result, "store_toxresult", tox_rel, NULL);
			xfree(tox_rel);
		}
		xfree(rel_target);
		rel_target = NULL;
	}
	for (size_t i = 0; i < s->nlinks; i++) {
		const struct push_link *pl = &s->links[i];
		if (pl->rel != PUSH_DOCZIP)
			continue;
		if ((rc = push_one(t, j, pl, links, is_volatile, NULL, &rel_target)))
			goto fail;
		cJSON *row = cJSON_CreateArray();
		cJSON_AddItemToArray(row, cJSON_CreateNumber(200));
		cJSON_AddItemToArray(row, cJSON_CreateString("store_doczip"));
		cJSON_AddItemToArray(row, cJSON_CreateString(s->name));
		cJSON_AddItemToArray(row, cJSON_CreateString(s->version));
		cJSON_AddItemToArray(row, cJSON_CreateString("->"));
		cJSON_AddItemToArray(row, cJSON_CreateString(j->dst));
		cJSON_AddItemToArray(j->result, row);
		break;      /* one doc zip per version */
	}
	if ((rc = model_put(t, vkey, meta)))
		goto fail;
	snprintf(key, sizeof key, "proj/%s/%s", j->dst, s->project);
	const char *v;
	size_t len;
	if (store_get(t, key, &v, &len) == ERR_NOTFOUND) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", s->name);
		rc = model_put(t, key, p);
		cJSON_Delete(p);
	}
fail:
	xfree(rel_target);
	cJSON_Delete(cfg);
	cJSON_Delete(existing);
	cJSON_Delete(meta);
	return rc;
}

static void push_done(struct req *r, void *arg, int rc, int64_t serial)
{
	struct push_job *j = arg;
	if (!req_alive(r))
		;
	else if (rc == ERR_CONFLICT)
		resp_message(r, 409, "%s already exists in non-volatile index", j->conflict);
	else if (rc == ERR_NOTFOUND)
		resp_message(r, 404, "The stage %s could not be found.", j->dst);
	else if (rc == ERR_GONE)
		resp_message(r, 409, "'%s' was deleted from %s during the push; nothing was pushed", j->gone, j->src->stage);
	else if (rc == ERR_MAPFULL)
		resp_message(r, 507, "store full: nothing was pushed");
	else if (rc)
		resp_message(r, 500, "push failed, nothing was pushed: %s", err_str(rc));
	else {
		log_info("pushed %s %s from %s to %s by %s", j->src->name, j->src->version, j->src->stage, j->dst,
			 j->who ? j->who : "anonymous");
		resp_result(r, 200, "actionlog", j->result, NULL);
		j->result = NULL;
	}
	push_job_free(j);
}

/* ---- the request ------------------------------------------------------- */

static const char *const internal_keys[] = { "name", "version", "targetindex", "no_docs", "only_docs", NULL };

/* Checks the internal push's own fields and the target; answers and
 * returns false when it cannot go on.  *dst gets "user/index". */
static bool check_internal(struct req *r, const cJSON *body, const struct push_src *s, char **dst)
{
	struct buf extra = BUF_INIT;
	const cJSON *e;
	char *names[64];
	size_t nextra = 0;
	cJSON_ArrayForEach(e, body) {
		bool known = false;
		for (size_t i = 0; internal_keys[i]; i++)
			known |= !strcmp(e->string, internal_keys[i]);
		if (!known && nextra < 64)
			names[nextra++] = e->string;
	}
	if (nextra) {
		/* sorted, as devpi lists them */
		for (size_t i = 1; i < nextra; i++)
			for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
				char *tmp = names[k];
				names[k] = names[k - 1];
				names[k - 1] = tmp;
			}
		for (size_t i = 0; i < nextra; i++) {
			if (i)
				buf_adds(&extra, ", ");
			buf_addf(&extra, "%.100s", names[i]);
		}
		resp_message(r, 400, "unknown additional options: %s", extra.p);
		buf_release(&extra);
		return false;
	}
	const char *target = json_get_str(body, "targetindex");
	const char *slash = target ? strchr(target, '/') : NULL;
	if (!target || !slash || strchr(slash + 1, '/') || slash == target || !slash[1] ||
	    name_check_user_index(target, (size_t)(slash - target)) != ERR_OK ||
	    name_check_user_index(slash + 1, strlen(slash + 1)) != ERR_OK || strlen(target) > 200) {
		resp_message(r, 400, "targetindex not in format user/index: '%.200s'", target ? target : "");
		return false;
	}
	if (!strcmp(target, s->stage)) {
		resp_message(r, 400, "cannot push %s %s to the index it is in (%s)", s->name, s->version, target);
		return false;
	}
	char *tuser = xstrndup(target, (size_t)(slash - target));
	struct store_txn *t = web_read_begin(r);
	cJSON *cfg = t ? web_get_index(t, tuser, slash + 1) : NULL;
	store_abort(t);
	bool ok = false;
	if (!t)
		;
	else if (!cfg)
		resp_message(r, 404, "The stage %s could not be found.", target);
	else if (!perm_index(r, PERM_UPLOAD, tuser, cfg))
		resp_message(r, 401, "user '%s' cannot upload to '%s'", r->user ? r->user : "anonymous", target);
	else
		ok = true;
	cJSON_Delete(cfg);
	xfree(tuser);
	if (ok)
		*dst = xstrdup(target);
	return ok;
}

static bool check_external(struct req *r, const cJSON *body)
{
	const char *url = json_get_str(body, "posturl");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(body, "username");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "password");
	if (!url || !cJSON_IsString(u) || !cJSON_IsString(p)) {
		resp_message(r, 400, "external push needs the string fields posturl, username and password");
		return false;
	}
	if (!r->user) {
		/* unlike devpi: an anonymous reader must not make the server
		 * POST to arbitrary URLs */
		perm_refuse(r, true, "external push needs an authenticated user");
		return false;
	}
	if (strlen(url) > 2000 || strlen(u->valuestring) > 1000 || strlen(p->valuestring) > 4096 ||
	    strpbrk(u->valuestring, "\r\n") || strpbrk(p->valuestring, "\r\n")) {
		resp_message(r, 400, "posturl, username or password too long or with line breaks");
		return false;
	}
	char *clean = NULL, *cu = NULL, *cp = NULL;
	int rc = upstream_split_credentials(url, &clean, &cu, &cp);
	bool ok = rc == ERR_OK && !cu && !cp;
	if (rc)
		resp_message(r, 400, "posturl '%.200s' is not an http or https URL", url);
	else if (!ok)
		resp_message(r, 400, "posturl must not carry credentials: send them as username and password");
	xfree(clean);
	xfree(cu);
	if (cp) {
		memset(cp, 0, strlen(cp));
		xfree(cp);
	}
	return ok;
}

/* Starts the download of a mirror file the push needs (API.md 6.4:
 * missing mirror files are fetched first); false if it cannot be. */
static bool fetch_missing(struct req *r, const struct push_src *s, const char *relpath)
{
	struct store_txn *t = NULL;
	struct mirror_cfg mc;
	char *project = NULL;
	bool started = false;
	if (store_read_begin(r->app->store, &t) != ERR_OK)
		return false;
	cJSON *link = mirror_find_link(t, s->stage, relpath, &project);
	char key[KEY_MAX];
	snprintf(key, sizeof key, "index/%s", s->stage);
	cJSON *cfg = model_get(t, key);
	store_abort(t);
	if (link && cfg && mirror_cfg_load(r->app, s->stage, cfg, &mc) == ERR_OK) {
		mirror_file_fetch(r, &mc, link, project ? project : s->project);
		mirror_cfg_release(&mc);
		started = true;
	}
	cJSON_Delete(link);
	cJSON_Delete(cfg);
	xfree(project);
	return started;
}

void h_push(struct req *r)
{
	const char *user = r->segs[0], *index = r->segs[1];
	struct push_src *s = NULL;
	cJSON *body = NULL, *cfg = NULL;
	char *dst = NULL;
	struct src_err err = { 0, "", "" };

	struct store_txn *t = web_read_begin(r);
	if (!t)
		return;
	cfg = web_get_index(t, user, index);
	store_abort(t);
	t = NULL;
	if (!cfg) {
		resp_message(r, 404, "The stage %s/%s could not be found.", user, index);
		goto out;
	}
	if (!perm_index(r, PERM_PKG_READ, user, cfg)) {
		resp_message(r, 403, "package read forbidden: user '%s' may not read %s/%s",
			     r->user ? r->user : "anonymous", user, index);
		goto out;
	}
	if (!(body = web_json_object(r)))
		goto out;
	const char *name = json_get_str(body, "name"), *version = json_get_str(body, "version");
	if (!name || !version || !*name || !*version) {
		resp_message(r, 400, "there are no files for %.200s %.200s: name and version are required",
			     name ? name : "?", version ? version : "?");
		goto out;
	}
	bool no_docs = json_truthy(cJSON_GetObjectItemCaseSensitive(body, "no_docs"));
	bool only_docs = json_truthy(cJSON_GetObjectItemCaseSensitive(body, "only_docs"));
	if (no_docs && only_docs) {
		resp_message(r, 400, "can't use 'no_docs' and 'only_docs' together");
		goto out;
	}
	bool internal = cJSON_GetObjectItemCaseSensitive(body, "targetindex") != NULL;
	if (!internal && !cJSON_GetObjectItemCaseSensitive(body, "posturl")) {
		resp_message(r, 400, "push needs either targetindex (user/index) or posturl");
		goto out;
	}
	if (name_check_project(name, strlen(name)) != ERR_OK || name_check_version(version, strlen(version)) != ERR_OK) {
		resp_message(r, 400, "there are no files for %.200s %.200s on stage %s/%s", name, version, user, index);
		goto out;
	}

	s = xcalloc(1, sizeof *s);
	s->stage = xasprintf("%s/%s", user, index);
	const char *type = json_get_str(cfg, "type");
	s->mirror = type && !strcmp(type, "mirror");
	s->name = xstrdup(name);
	s->project = name_normalize_dup(name, strlen(name));
	s->version = xstrdup(version);
	if (!(t = web_read_begin(r)))
		goto out;
	int rc = s->mirror ? read_mirror(t, s, only_docs, &err) : read_private(t, s, no_docs, only_docs, &err);
	store_abort(t);
	if (rc && *err.missing && (mirror_file_await(r, err.missing) || fetch_missing(r, s, err.missing))) {
		/* being downloaded now: h_push runs again when it is over */
		goto out;
	}
	if (rc) {
		resp_message(r, err.status, "%s", err.msg);
		goto out;
	}
	bool has_files = false;
	for (size_t i = 0; i < s->nlinks; i++)
		has_files |= s->links[i].rel != PUSH_TOXRESULT;
	if (!has_files) {
		resp_message(r, 404, "no release/files found for %s %s", s->name, s->version);
		goto out;
	}

	if (!internal) {
		if (check_external(r, body)) {
			push_ext_start(r, s, body);
			s = NULL;
		}
		goto out;
	}
	if (!check_internal(r, body, s, &dst))
		goto out;
	struct push_job *j = xcalloc(1, sizeof *j);
	j->src = s;
	s = NULL;
	j->dst = dst;
	dst = NULL;
	j->who = r->user ? xstrdup(r->user) : NULL;
	wjob_submit(r, push_run, j, push_done);
out:
	push_src_free(s);
	cJSON_Delete(body);
	cJSON_Delete(cfg);
	xfree(dst);
}
