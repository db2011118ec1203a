/* h_upload.c — the legacy upload protocol used by twine, uv and
 * devpi-client (API.md 6.6): `file_upload`, `doc_upload`, `submit`
 * (register) and the checks in devpi's order with devpi's messages as
 * reason phrases.
 *
 * The request body is parsed by the streaming multipart parser.  Small form
 * fields are collected (bounded); the `content` part is hashed and cut into
 * 1 MiB chunks that go to the writer thread as they fill, with at most
 * UPLOAD_INFLIGHT chunks in flight before reading pauses, so an upload of
 * any size takes bounded memory.  When the body is complete the form is
 * validated, the core metadata read from the stored chunks with libarchive,
 * and one final write job makes the blob visible together with the file,
 * version and project records: the 200 goes out only after that commit is
 * durable.  Any failure discards the chunks.
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
#include "inherit/filename.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/cpupool.h"
#include "proxy/handlers.h"
#include "proxy/model.h"
#include "proxy/multipart.h"
#include "proxy/perm.h"
#include "proxy/pkginfo.h"
#include "proxy/release.h"
#include "proxy/web.h"
#include "proxy/wjob.h"
#include "store/store.h"

#define UPLOAD_INFLIGHT 4
#define FORM_MAX (4u * 1024 * 1024)      /* all non-file fields together */
#define METADATA_MAX (1u * 1024 * 1024)

enum upload_state { UP_BODY, UP_FLUSHING, UP_FINISHING, UP_DONE };

struct upload {
	struct req *r;
	enum upload_state st;
	int refs;                        /* the request's hook + each job in flight */
	char *user, *index;
	bool volatile_index;
	struct multipart *mp;
	cJSON *form;                     /* field → string, or array for repeats */
	size_t form_bytes;
	char *field;                     /* name of the non-file part being read */
	struct buf value;
	bool in_content;
	bool have_content;
	char *filename;
	/* content streaming */
	uint64_t blob_id;
	uint32_t nchunks;
	uint64_t size;
	struct sha256_ctx sha;
	uint8_t file_sha[SHA256_LEN];
	uint8_t magic[4];                /* the content's first bytes (doc zips must be zips) */
	size_t magic_len;
	char *chunk;
	size_t chunk_len;
	int inflight;
	int store_err;
	/* metadata read on the CPU pool */
	int meta_rc;
	char *meta_text;
	size_t meta_len;
	cJSON *meta;
	bool blob_done;                  /* finished (or discarded) in the store */
};

struct chunk_job {
	struct upload *u;
	uint64_t id;
	uint32_t idx;
	char *data;
	size_t len;
};

static void upload_advance(struct upload *u);

static void upload_unref(struct upload *u)
{
	if (--u->refs > 0)
		return;
	multipart_free(u->mp);
	cJSON_Delete(u->form);
	xfree(u->field);
	buf_release(&u->value);
	xfree(u->filename);
	xfree(u->chunk);
	xfree(u->meta_text);
	cJSON_Delete(u->meta);
	sha256_release(&u->sha);
	xfree(u->user);
	xfree(u->index);
	xfree(u);
}

/* ---- discarding chunks that will never become a blob ------------------- */

struct discard_job {
	struct store_job job;
	uint64_t id;
};

static int discard_run(struct store_txn *t, void *arg)
{
	struct discard_job *d = arg;
	return store_blob_discard(t, d->id);
}

static void discard_done(void *arg, int rc, int64_t serial)
{
	xfree(arg);
}

static void upload_discard(struct upload *u)
{
	if (u->blob_done || u->nchunks == 0)
		return;
	u->blob_done = true;
	struct discard_job *d = xcalloc(1, sizeof *d);
	d->id = u->blob_id;
	d->job.run = discard_run;
	d->job.done = discard_done;
	d->job.arg = d;
	store_writer_submit(u->r->app->store, &d->job);
}

/* ---- answering ----------------------------------------------------------- */

static void upload_fail(struct upload *u, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void upload_fail(struct upload *u, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	u->st = UP_DONE;
	if (req_alive(u->r))
		resp_reason(u->r, status, "%s", msg);
	if (u->inflight == 0)
		upload_discard(u);
}

/* ---- chunks ------------------------------------------------------------- */

static int chunk_run(struct store_txn *t, void *arg)
{
	struct chunk_job *c = arg;
	return store_chunk_put(t, c->id, c->idx, c->data, c->len);
}

static void chunk_done(struct req *r, void *arg, int rc, int64_t serial)
{
	struct chunk_job *c = arg;
	struct upload *u = c->u;
	u->inflight--;
	if (rc && !u->store_err)
		u->store_err = rc;
	xfree(c->data);
	xfree(c);
	upload_advance(u);
	upload_unref(u);
}

static void chunk_flush(struct upload *u)
{
	if (u->chunk_len == 0)
		return;
	struct chunk_job *c = xcalloc(1, sizeof *c);
	c->u = u;
	c->id = u->blob_id;
	c->idx = u->nchunks++;
	c->data = u->chunk;
	c->len = u->chunk_len;
	u->chunk = NULL;
	u->chunk_len = 0;
	u->inflight++;
	u->refs++;
	wjob_submit(u->r, chunk_run, c, chunk_done);
	if (u->inflight >= UPLOAD_INFLIGHT)
		req_pause_body(u->r, true);
}

/* ---- multipart callbacks ------------------------------------------------- */

static int part_begin(void *arg, const char *name, const char *filename, const char *ctype)
{
	struct upload *u = arg;
	if (strcmp(name, "content") == 0 && filename) {
		if (u->have_content)
			return ERR_PARSE;
		u->have_content = true;
		u->in_content = true;
		u->filename = xstrdup(filename);
		u->blob_id = store_blob_id_new(u->r->app->store);
		sha256_init(&u->sha);
		return ERR_OK;
	}
	u->in_content = false;
	xfree(u->field);
	u->field = xstrdup(name);
	buf_reset(&u->value);
	return ERR_OK;
}

static int part_data(void *arg, const char *p, size_t n)
{
	struct upload *u = arg;
	if (!u->in_content) {
		u->form_bytes += n;
		if (u->form_bytes > FORM_MAX)
			return ERR_TOOBIG;
		return buf_add(&u->value, p, n);
	}
	sha256_update(&u->sha, p, n);
	u->size += n;
	for (size_t i = 0; i < n && u->magic_len < sizeof u->magic; i++)
		u->magic[u->magic_len++] = (uint8_t)p[i];
	while (n) {
		if (!u->chunk)
			u->chunk = xmalloc(STORE_CHUNK_SIZE);
		size_t take = STORE_CHUNK_SIZE - u->chunk_len;
		if (take > n)
			take = n;
		memcpy(u->chunk + u->chunk_len, p, take);
		u->chunk_len += take;
		p += take;
		n -= take;
		if (u->chunk_len == STORE_CHUNK_SIZE)
			chunk_flush(u);
	}
	return ERR_OK;
}

static int part_end(void *arg)
{
	struct upload *u = arg;
	if (u->in_content) {
		u->in_content = false;
		chunk_flush(u);
		return ERR_OK;
	}
	cJSON *v = cJSON_CreateString(u->value.p ? u->value.p : "");
	if (!v)
		return ERR_PARSE;   /* not valid text */
	cJSON *old = cJSON_GetObjectItemCaseSensitive(u->form, u->field);
	if (!old) {
		cJSON_AddItemToObject(u->form, u->field, v);
	} else if (cJSON_IsArray(old)) {
		cJSON_AddItemToArray(old, v);
	} else {
		cJSON *arr = cJSON_CreateArray();
		cJSON_AddItemToArray(arr, cJSON_Duplicate(old, 1));
		cJSON_AddItemToArray(arr, v);
		cJSON_ReplaceItemInObjectCaseSensitive(u->form, u->field, arr);
	}
	if (cJSON_GetArraySize(u->form) > 200)
		return ERR_TOOBIG;
	return ERR_OK;
}

static const struct multipart_cbs mp_cbs = { part_begin, part_data, part_end };

/* ---- request hooks ------------------------------------------------------ */

static int up_body(struct req *r, const char *p, size_t n)
{
	struct upload *u = r->hctx;
	if (u->st != UP_BODY)
		return ERR_OK;
	int rc = multipart_feed(u->mp, p, n);
	if (rc == ERR_TOOBIG)
		upload_fail(u, 400, "upload form too large (fields or parts over their bounds)");
	else if (rc)
		upload_fail(u, 400, "malformed multipart/form-data body");
	return ERR_OK;
}

static void up_end(struct req *r)
{
	struct upload *u = r->hctx;
	if (u->st != UP_BODY)
		return;
	if (multipart_finish(u->mp) != ERR_OK) {
		upload_fail(u, 400, "truncated or malformed multipart/form-data body");
		return;
	}
	u->st = UP_FLUSHING;
	upload_advance(u);
}

static void up_close(struct req *r)
{
	struct upload *u = r->hctx;
	r->hctx = NULL;
	if (u->st != UP_DONE && u->st != UP_FINISHING) {
		u->st = UP_DONE;
		if (u->inflight == 0)
			upload_discard(u);
	}
	upload_unref(u);
}

static const struct req_hooks upload_hooks = { up_body, up_end, NULL, up_close };

/* ---- after the body -------------------------------------------------------- */

static const char *form_str(const struct upload *u, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(u->form, key);
	if (cJSON_IsArray(v))
		v = cJSON_GetArrayItem(v, 0);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct chunk_reader {
	struct store_txn *t;
	uint64_t id;
};

static ssize_t chunks_read_at(void *arg, uint64_t off, void *buf, size_t n)
{
	struct chunk_reader *c = arg;
	return store_blob_read_at(c->t, c->id, off, buf, n);
}

/* Reads core metadata from the streamed chunks.  *meta_text (may stay
 * NULL) and *meta are the caller's. */
static int upload_read_metadata(struct upload *u, char **meta_text, size_t *meta_len, cJSON **meta)
{
	struct store_txn *t = NULL;
	int rc = store_read_begin(u->r->app->store, &t);
	if (rc)
		return rc;
	struct chunk_reader cr = { t, u->blob_id };
	struct pkginfo_reader rd = { &cr, chunks_read_at, u->size };
	struct pkginfo_limits lim = { .max_metadata = METADATA_MAX, .max_entries = 100000, .max_ratio = 1000 };
	rc = pkginfo_extract(&rd, u->filename, &lim, meta_text, meta_len);
	store_abort(t);
	if (rc == ERR_OK)
		rc = pkginfo_parse(*meta_text, *meta_len, meta);
	return rc;
}

static void finish_done(struct req *r, void *arg, int rc, int64_t serial)
{
	struct release_write *w = arg;
	struct upload *u = w->ctx;
	u->st = UP_DONE;
	/* On success the chunks became the blob (or were dropped as a
	 * duplicate by the job); on failure the job rolled back and
	 * upload_fail discards them. */
	if (rc == ERR_OK)
		u->blob_done = true;
	if (rc == ERR_CONFLICT) {
		upload_fail(u, 409, "%s already exists in non-volatile index", w->filename ? w->filename : u->filename);
	} else if (rc == ERR_INVAL && w->no_version) {
		upload_fail(u, 400, "doczip has no version and '%s' has no releases to derive one from", w->name);
	} else if (rc == ERR_NOTFOUND) {
		upload_fail(u, 404, "The stage %s/%s could not be found.", u->user, u->index);
	} else if (rc == ERR_MAPFULL) {
		upload_fail(u, 507, "store full: upload not stored");
	} else if (rc) {
		upload_fail(u, 500, "upload not stored: %s", err_str(rc));
	} else if (req_alive(r)) {
		if (w->identical)
			resp_send(r, 200, NULL, "text/plain; charset=utf-8", "Upload of identical file to non volatile index.",
				  47);
		else
			resp_send(r, 200, NULL, "text/plain; charset=utf-8", "", 0);
	}
	release_write_free(w);
	upload_unref(u);
}

static bool check_name_version(struct upload *u, const char *name, const char *version)
{
	if (!name || !*name) {
		upload_fail(u, 400, "invalid metadata: name is required");
		return false;
	}
	if (name_check_project(name, strlen(name)) != ERR_OK || strpbrk(name, "<>%#\"")) {
		upload_fail(u, 400, "invalid metadata: '%.200s' is an invalid value for name. Error: "
			    "Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'.", name);
		return false;
	}
	if (version && (name_check_version(version, strlen(version)) != ERR_OK || strpbrk(version, "<>%#\""))) {
		upload_fail(u, 400, "invalid metadata: '%.200s' is an invalid value for version.", version);
		return false;
	}
	return true;
}

static void upload_register(struct upload *u)
{
	const char *name = form_str(u, "name"), *version = form_str(u, "version");
	if (!check_name_version(u, name, version))
		return;
	if (!version || !*version) {
		upload_fail(u, 400, "invalid metadata: version is required");
		return;
	}
	/* A register carries no file: drop any content part that came along. */
	upload_discard(u);
	struct release_write *w = release_write_new(u->user, u->index, name, version);
	w->form = cJSON_Duplicate(u->form, 1);
	w->register_only = true;
	w->ctx = u;
	u->st = UP_FINISHING;
	u->refs++;
	wjob_submit(u->r, release_write_run, w, finish_done);
}

/* :action=doc_upload: name, optional version, content = a zip.  The job
 * derives a missing version and stores <project>-<version>.doc.zip. */
static void upload_doc(struct upload *u)
{
	const char *name = form_str(u, "name"), *version = form_str(u, "version");
	if (version && !*version)
		version = NULL;
	if (!check_name_version(u, name, version))
		return;
	/* a zip starts with a local file header, or is empty (end record) */
	if (u->magic_len < 4 || (memcmp(u->magic, "PK\x03\x04", 4) != 0 && memcmp(u->magic, "PK\x05\x06", 4) != 0)) {
		upload_fail(u, 400, "doc upload '%.200s' is not a zip file", u->filename);
		return;
	}
	struct release_write *w = release_write_new(u->user, u->index, name, version ? version : "");
	w->doczip = true;
	w->blob_id = u->blob_id;
	w->nchunks = u->nchunks;
	w->size = u->size;
	memcpy(w->sha256, u->file_sha, sizeof w->sha256);
	w->user_name = xstrdup(u->r->user ? u->r->user : "");
	w->ctx = u;
	u->st = UP_FINISHING;
	u->refs++;
	wjob_submit(u->r, release_write_run, w, finish_done);
}

static void meta_work(void *arg)
{
	struct upload *u = arg;
	u->meta_rc = upload_read_metadata(u, &u->meta_text, &u->meta_len, &u->meta);
}

static void upload_file_continue(struct upload *u);

static void meta_done(struct req *r, void *arg)
{
	struct upload *u = arg;
	if (u->st == UP_FINISHING)
		upload_file_continue(u);
	upload_unref(u);
}

/* Validates the form against the filename, then reads the core metadata
 * on the CPU pool (decompression must not stall the loop). */
static void upload_file(struct upload *u)
{
	const char *name = form_str(u, "name"), *version = form_str(u, "version");
	const char *fn = u->filename;
	if (!check_name_version(u, name, version))
		return;
	if (name_check_filename(fn, strlen(fn)) != ERR_OK) {
		upload_fail(u, 400, "invalid filename '%.200s'", fn);
		return;
	}
	if (!version || !*version || !filename_contains_version(fn, version)) {
		upload_fail(u, 400, "filename '%s' does not contain version '%s'", fn, version ? version : "");
		return;
	}
	if (!filename_has_archive_ext(fn, strlen(fn))) {
		upload_fail(u, 400, "'%s' is not a valid archive name", fn);
		return;
	}
	if (!filename_matches_project(fn, name)) {
		upload_fail(u, 400, "filename '%s' does not match project name '%s'", fn, name);
		return;
	}
	u->st = UP_FINISHING;
	u->refs++;
	if (cpupool_submit(u->r, meta_work, meta_done, u) != ERR_OK) {
		u->refs--;
		u->st = UP_FLUSHING;
		upload_fail(u, 503, "server busy reading uploads; retry");
	}
}

static void upload_file_continue(struct upload *u)
{
	const char *name = form_str(u, "name"), *version = form_str(u, "version");
	const char *fn = u->filename;
	char *meta_text = u->meta_text;
	size_t meta_len = u->meta_len;
	cJSON *meta = u->meta;
	int rc = u->meta_rc;
	u->meta_text = NULL;
	u->meta = NULL;
	if (!req_alive(u->r)) {
		u->st = UP_DONE;
		upload_discard(u);
		goto out;
	}
	if (name_check_filename(fn, strlen(fn)) != ERR_OK) {
		upload_fail(u, 400, "invalid filename '%.200s'", fn);
		goto out;
	}
	if (!version || !*version || !filename_contains_version(fn, version)) {
		upload_fail(u, 400, "filename '%s' does not contain version '%s'", fn, version ? version : "");
		goto out;
	}
	if (!filename_has_archive_ext(fn, strlen(fn))) {
		upload_fail(u, 400, "'%s' is not a valid archive name", fn);
		goto out;
	}
	if (!filename_matches_project(fn, name)) {
		upload_fail(u, 400, "filename '%s' does not match project name '%s'", fn, name);
		goto out;
	}
	if (rc == ERR_TOOBIG) {
		upload_fail(u, 400, "'%s': metadata over its bound (%u bytes) or a compression bomb", fn, METADATA_MAX);
		goto out;
	}
	if (rc == ERR_CORRUPT || rc == ERR_PARSE) {
		upload_fail(u, 400, "'%s' is not a valid archive: it cannot be read", fn);
		goto out;
	}
	if (rc == ERR_NOTFOUND && strlen(fn) > 4 && !strcasecmp(fn + strlen(fn) - 4, ".whl")) {
		upload_fail(u, 400, "'%s' is not a valid wheel: no .dist-info/METADATA", fn);
		goto out;
	}
	if (rc && rc != ERR_NOTFOUND && rc != ERR_INVAL) {
		upload_fail(u, 500, "cannot read '%s': %s", fn, err_str(rc));
		goto out;
	}
	if (meta) {
		const char *mname = json_get_str(meta, "name"), *mver = json_get_str(meta, "version");
		char *a = mname ? name_normalize_dup(mname, strlen(mname)) : NULL;
		char *b = name_normalize_dup(name, strlen(name));
		bool mismatch = (a && strcmp(a, b) != 0) || (mver && strcmp(mver, version) != 0);
		xfree(a);
		xfree(b);
		if (mismatch) {
			upload_fail(u, 400, "'%s': its metadata names %s %s, the form %s %s", fn, mname ? mname : "?",
				    mver ? mver : "?", name, version);
			goto out;
		}
	}
	struct release_write *w = release_write_new(u->user, u->index, name, version);
	w->form = cJSON_Duplicate(u->form, 1);
	w->archive_meta = meta;
	meta = NULL;
	w->filename = xstrdup(fn);
	w->blob_id = u->blob_id;
	w->nchunks = u->nchunks;
	w->size = u->size;
	memcpy(w->sha256, u->file_sha, sizeof w->sha256);
	if (meta_text && strlen(fn) > 4 && !strcasecmp(fn + strlen(fn) - 4, ".whl")) {
		w->core_metadata = meta_text;
		w->core_metadata_len = meta_len;
		w->core_blob_id = store_blob_id_new(u->r->app->store);
		meta_text = NULL;
	}
	w->user_name = xstrdup(u->r->user ? u->r->user : "");
	w->ctx = u;
	u->st = UP_FINISHING;
	u->refs++;
	wjob_submit(u->r, release_write_run, w, finish_done);
out:
	xfree(meta_text);
	cJSON_Delete(meta);
}

/* Called whenever something the upload waits for happened. */
static void upload_advance(struct upload *u)
{
	if (u->st == UP_BODY && u->inflight < UPLOAD_INFLIGHT)
		req_pause_body(u->r, false);
	if (u->st == UP_DONE && u->inflight == 0) {
		upload_discard(u);
		return;
	}
	if (u->st != UP_FLUSHING || u->inflight > 0)
		return;
	if (u->store_err) {
		upload_fail(u, u->store_err == ERR_MAPFULL ? 507 : 500, "upload not stored: %s", err_str(u->store_err));
		return;
	}
	const char *action = form_str(u, ":action");
	if (!action) {
		upload_fail(u, 400, ":action field not found");
		return;
	}
	if (strcmp(action, "submit") == 0) {
		upload_register(u);
		return;
	}
	bool doc = strcmp(action, "doc_upload") == 0;
	if (!doc && strcmp(action, "file_upload") != 0) {
		upload_fail(u, 400, "action '%.100s' not supported", action);
		return;
	}
	if (!u->have_content) {
		upload_fail(u, 400, "content file field not found");
		return;
	}
	if (u->size == 0) {
		upload_fail(u, 400, "'%s' is empty", u->filename);
		return;
	}
	sha256_final(&u->sha, u->file_sha);
	if (doc)
		upload_doc(u);
	else
		upload_file(u);
}

void h_upload_head(struct req *r)
{
	const char *user = r->segs[0], *index = r->segs[1];
	struct store_txn *t = web_read_begin(r);
	cJSON *cfg = NULL;
	char boundary[MULTIPART_BOUNDARY_MAX + 1];
	if (!t)
		return;
	cfg = web_get_index(t, user, index);
	store_abort(t);
	if (!cfg) {
		resp_abort(r, 404, "The stage %s/%s could not be found.", user, index);
		return;
	}
	const char *type = json_get_str(cfg, "type");
	if (type && strcmp(type, "mirror") == 0) {
		resp_reason(r, 404, "cannot submit to mirror index");
		goto out;
	}
	if (!perm_index(r, PERM_UPLOAD, user, cfg)) {
		if (!r->user) {
			web_challenge(r);
			resp_reason(r, 401, "unauthorized: please authenticate to upload");
		} else {
			resp_reason(r, 403, "no permission to submit");
		}
		goto out;
	}
	size_t n;
	const char *ct = req_header(r, "content-type", &n);
	if (!ct || multipart_boundary(ct, n, boundary, sizeof boundary) != ERR_OK) {
		resp_reason(r, 400, "expected a multipart/form-data body (JSON push is not supported yet)");
		goto out;
	}
	struct upload *u = xcalloc(1, sizeof *u);
	u->r = r;
	u->refs = 1;
	u->user = xstrdup(user);
	u->index = xstrdup(index);
	u->volatile_index = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cfg, "volatile"));
	u->form = cJSON_CreateObject();
	buf_init(&u->value, FORM_MAX);
	struct multipart_limits lim = { 16384, 256 };
	if (multipart_new(boundary, &lim, &mp_cbs, u, &u->mp) != ERR_OK) {
		upload_unref(u);
		resp_reason(r, 400, "bad multipart boundary");
		goto out;
	}
	r->hctx = u;
	r->hooks = &upload_hooks;
out:
	cJSON_Delete(cfg);
}
