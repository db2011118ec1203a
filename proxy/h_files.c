/* h_files.c — stored files at their +f paths (API.md 3.1, 3.2) and the
 * PEP 658 `.metadata` files beside wheels.
 *
 * The file record says which blob holds the bytes; the body is sent chunk
 * by chunk as the connection's output drains (on_writable), each chunk read
 * under its own short read transaction, so a large file never sits in
 * memory and no transaction stays open while the client is slow.
 *
 * On a replica (API.md 8.5) a file whose record arrived through the
 * changelog but whose bytes have not (yet) is streamed from the primary as
 * the client asks for it (mirror_file_replica_get: one download, hash
 * checked, blob only), and so is a mirror file the replica only knows as a
 * link: the primary fetches it from upstream once for everybody.  A
 * replica never extracts or writes anything that would need a record.  On
 * a primary, a request signed by one of its replicas (the router makes it
 * the user "+replica") may read any file: the replica has checked its own
 * client's permission.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "inherit/filename.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/blobsend.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/mirror.h"
#include "proxy/mirror_file.h"
#include "proxy/model.h"
#include "proxy/web.h"
#include "store/store.h"

struct fstream {
	uint64_t blob_id;
	uint64_t pos, end;          /* byte range still to send: [pos, end) */
};

static void fs_pump(struct req *r)
{
	struct fstream *fs = r->hctx;
	int rc = blobsend_pump(r, fs->blob_id, &fs->pos, fs->end, UINT32_MAX);
	if (rc) {
		log_err("cannot read blob %" PRIu64 " at %" PRIu64 " for '%s': %s", fs->blob_id, fs->pos, r->rawpath,
			err_str(rc));
		resp_abort_stream(r);
	} else if (fs->pos >= fs->end) {
		resp_end(r);
	}
}

static void fs_close(struct req *r)
{
	xfree(r->hctx);
	r->hctx = NULL;
}

static const struct req_hooks fs_hooks = { NULL, NULL, fs_pump, fs_close };

/* Parses a single "bytes=a-b" range against size.  0 = no (usable) range,
 * 1 = range set, -1 = unsatisfiable. */
static int parse_range(const char *v, size_t n, uint64_t size, uint64_t *start, uint64_t *end)
{
	char tmp[128];
	if (n < 7 || n >= sizeof tmp || strncasecmp(v, "bytes=", 6) != 0)
		return 0;
	memcpy(tmp, v + 6, n - 6);
	tmp[n - 6] = '\0';
	if (strchr(tmp, ','))
		return 0;       /* multiple ranges: send the whole file */
	char *dash = strchr(tmp, '-');
	if (!dash)
		return 0;
	*dash = '\0';
	char *a = tmp, *b = dash + 1, *e;
	if (!*a) {
		if (!*b)
			return 0;
		unsigned long long suffix = strtoull(b, &e, 10);
		if (*e || *b == '-' || *b == '+')
			return 0;
		if (suffix == 0 || size == 0)
			return -1;
		*start = suffix >= size ? 0 : size - suffix;
		*end = size;
		return 1;
	}
	if (*a == '-' || *a == '+')
		return 0;
	unsigned long long s = strtoull(a, &e, 10);
	if (*e)
		return 0;
	unsigned long long last = size ? size - 1 : 0;
	if (*b) {
		if (*b == '-' || *b == '+')
			return 0;
		last = strtoull(b, &e, 10);
		if (*e || last < s)
			return 0;
		if (last >= size)
			last = size - 1;
	}
	if (s >= size)
		return -1;
	*start = s;
	*end = last + 1;
	return 1;
}

static void send_blob(struct req *r, const cJSON *rec, const char *sha_hex, const char *filename, bool immutable)
{
	uint8_t sha[32];
	struct store_blob blob;
	struct store_txn *t = NULL;
	if (!sha_hex || hex_decode(sha_hex, strlen(sha_hex), sha, 32) != ERR_OK) {
		resp_abort(r, 500, "file record without a sha256");
		return;
	}
	int rc = store_read_begin(r->app->store, &t);
	if (!rc)
		rc = store_blob_get(t, sha, &blob);
	store_abort(t);
	if (rc == ERR_NOTFOUND) {
		resp_abort(r, 404, "no such file");
		return;
	}
	if (rc) {
		resp_abort(r, 500, "cannot read file: %s", err_str(rc));
		return;
	}
	uint64_t start = 0, end = blob.size;
	int status = 200;
	size_t n;
	const char *range = req_header(r, "range", &n);
	if (range) {
		int pr = parse_range(range, n, blob.size, &start, &end);
		if (pr < 0) {
			resp_headerf(r, "Content-Range", "bytes */%" PRIu64, blob.size);
			resp_send(r, 416, NULL, "text/plain; charset=utf-8", "range not satisfiable\n", 22);
			return;
		}
		if (pr > 0) {
			status = 206;
			resp_headerf(r, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end - 1, blob.size);
		}
	}
	const char *lm = json_get_str(rec, "last_modified");
	if (lm)
		resp_header(r, "Last-Modified", lm);
	if (immutable)
		resp_header(r, "Cache-Control", "max-age=365000000, immutable, public");
	resp_header(r, "Accept-Ranges", "bytes");
	resp_headerf(r, "ETag", "\"%s\"", sha_hex);
	const char *ctype = filename_content_type(filename);
	resp_begin(r, status, NULL, ctype, (int64_t)(end - start));
	if (r->m == M_HEAD || start == end) {
		resp_end(r);
		return;
	}
	struct fstream *fs = xcalloc(1, sizeof *fs);
	fs->blob_id = blob.id;
	fs->pos = start;
	fs->end = end;
	r->hctx = fs;
	r->hooks = &fs_hooks;
	fs_pump(r);
}

static bool blob_present(struct store_txn *t, const cJSON *rec)
{
	const char *hex = json_get_str(cJSON_GetObjectItemCaseSensitive(rec, "hashes"), "sha256");
	uint8_t sha[32];
	struct store_blob b;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "deleted")))
		return true;    /* answered 410 below */
	return hex && hex_decode(hex, strlen(hex), sha, 32) == ERR_OK && store_blob_get(t, sha, &b) == ERR_OK;
}

/* The sha256 (hex) a link or record promises: hashes.sha256, else a
 * sha256 hash_spec; NULL if neither. */
static const char *sha256_of(const cJSON *o)
{
	const char *hex = json_get_str(cJSON_GetObjectItemCaseSensitive(o, "hashes"), "sha256");
	const char *spec = json_get_str(o, "hash_spec");
	if (!hex && spec && !strncmp(spec, "sha256=", 7))
		hex = spec + 7;
	return hex && strlen(hex) == SHA256_HEX_LEN ? hex : NULL;
}

static bool have_blob(struct store_txn *t, const char *hex)
{
	uint8_t sha[32];
	struct store_blob b;
	return hex && hex_decode(hex, strlen(hex), sha, 32) == ERR_OK && store_blob_get(t, sha, &b) == ERR_OK;
}

/* Streams rel from the primary (see mirror_file_replica_get); url, when
 * not NULL, is the upstream fallback, with the mirror idx's credentials. */
static void replica_fetch(struct req *r, const char *rel, const char *hash_spec, const char *url, const cJSON *idx)
{
	struct mirror_cfg mc;
	bool have_mc = false;
	char stage[200];
	snprintf(stage, sizeof stage, "%s/%s", r->segs[0], r->segs[1]);
	if (url && mirror_cfg_load(r->app, stage, idx, &mc) == ERR_OK) {
		have_mc = true;
		if (mc.use_external_urls) {
			resp_redirect(r, url);
			mirror_cfg_release(&mc);
			return;
		}
	}
	struct mirror_file_src src = { rel, hash_spec, url, have_mc ? &mc : NULL };
	mirror_file_replica_get(r, &src);
	if (have_mc)
		mirror_cfg_release(&mc);
}

/* On a replica: answers r when the content it asks for is missing here
 * (true; t has ended), or returns false with t still open for the usual
 * answer (content present, a JSON view, 404, 410). */
static bool replica_get(struct req *r, struct store_txn *t, const cJSON *idx, const cJSON *rec, const cJSON *meta_of,
			struct buf *rel)
{
	const char *type = json_get_str(idx, "type");
	bool mirror = type && !strcmp(type, "mirror");
	bool is_meta = rel->len > 9 && strcmp(rel->p + rel->len - 9, ".metadata") == 0;
	size_t n;
	const char *accept = req_header(r, "accept", &n);
	char spec[80];
	if (rec && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "deleted")))
		return false;                           /* 410 */
	if (rec && sha256_of(rec) && json_get_str(rec, "last_modified")) {
		/* the record came through the changelog, the bytes did not */
		const char *hex = sha256_of(rec);
		if (have_blob(t, hex) || (accept && memmem(accept, n, "application/json", 16)))
			return false;
		store_abort(t);
		snprintf(spec, sizeof spec, "sha256=%s", hex);
		replica_fetch(r, rel->p, spec, mirror ? json_get_str(rec, "url") : NULL, idx);
		return true;
	}
	if (!mirror) {
		const char *core = meta_of && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta_of, "deleted"))
					   ? json_get_str(meta_of, "core_metadata_sha256")
					   : NULL;
		if (rec || !core || have_blob(t, core))
			return false;
		store_abort(t);
		snprintf(spec, sizeof spec, "sha256=%.64s", core);
		replica_fetch(r, rel->p, spec, NULL, idx);
		return true;
	}
	/* a mirror file this replica knows only as a link of a cached page */
	char stage[200], *project = NULL;
	snprintf(stage, sizeof stage, "%s/%s", r->segs[0], r->segs[1]);
	cJSON *link = mirror_find_link(t, stage, rel->p, &project), *wheel = NULL;
	if (!link && is_meta) {
		rel->p[rel->len - 9] = '\0';
		wheel = mirror_find_link(t, stage, rel->p, &project);
		rel->p[rel->len - 9] = '.';
		link = wheel ? mirror_metadata_link(wheel) : NULL;
	}
	xfree(project);
	if (!link && !wheel)
		return false;                           /* 404 */
	const char *hex = link ? sha256_of(link) : NULL;
	if (hex && have_blob(t, hex)) {
		/* fetched before; its record has not arrived yet */
		store_abort(t);
		send_blob(r, link, hex, r->segs[r->nsegs - 1], true);
	} else {
		/* a wheel whose page offers no metadata: the primary extracts it */
		store_abort(t);
		replica_fetch(r, rel->p, link ? json_get_str(link, "hash_spec") : NULL,
			      link ? json_get_str(link, "url") : NULL, idx);
	}
	cJSON_Delete(link);
	cJSON_Delete(wheel);
	return true;
}

void h_file_get(struct req *r)
{
	struct buf rel = BUF_INIT;
	cJSON *rec = NULL, *meta_of = NULL;
	const char *fn = r->segs[r->nsegs - 1];
	if (!web_read_gate(r, r->segs[0], r->segs[1]))   /* a replica's signed fetch is "+replica" (perm.c) */
		return;
	if (name_check_filename(fn, strlen(fn)) != ERR_OK) {
		resp_abort(r, 400, "invalid filename '%.100s'", fn);
		return;
	}
	web_relpath(r, &rel);
	struct store_txn *t = web_read_begin(r);
	if (!t)
		goto out;
	char key[1200];
	if (rel.len > 1000) {
		store_abort(t);
		resp_abort(r, 404, "no such file");
		goto out;
	}
	snprintf(key, sizeof key, "file/%s", rel.p);
	rec = model_get(t, key);
	if (!rec && rel.len > 9 && strcmp(rel.p + rel.len - 9, ".metadata") == 0) {
		snprintf(key, sizeof key, "file/%.*s", (int)(rel.len - 9), rel.p);
		meta_of = model_get(t, key);
	}
	cJSON *idx = web_get_index(t, r->segs[0], r->segs[1]);
	if (!idx) {
		store_abort(t);
		resp_abort(r, 404, "The stage %s/%s could not be found.", r->segs[0], r->segs[1]);
		goto out;
	}
	if (r->app->replica && replica_get(r, t, idx, rec, meta_of, &rel)) {
		cJSON_Delete(idx);
		goto out;
	}
	const char *type = json_get_str(idx, "type");
	if (!r->app->replica && type && !strcmp(type, "mirror") && (!rec || !blob_present(t, rec))) {
		/* a mirror file not stored (yet, or any more): fetch it */
		char stage[200], *project = NULL;
		struct mirror_cfg mc;
		snprintf(stage, sizeof stage, "%s/%s", r->segs[0], r->segs[1]);
		cJSON *link = mirror_find_link(t, stage, rel.p, &project);
		if (!link && rel.len > 9 && strcmp(rel.p + rel.len - 9, ".metadata") == 0) {
			/* PEP 658: the wheel's metadata file, passed through from
			 * upstream when its page offers it */
			rel.p[rel.len - 9] = '\0';
			cJSON *wheel = mirror_find_link(t, stage, rel.p, &project);
			rel.p[rel.len - 9] = '.';
			link = wheel ? mirror_metadata_link(wheel) : NULL;
			cJSON_Delete(wheel);
			if (wheel && !link && meta_of && blob_present(t, meta_of)) {
				/* not offered upstream, but the wheel is stored */
				store_abort(t);
				rel.p[rel.len - 9] = '\0';
				mirror_metadata_extract(r, rel.p, meta_of);
				cJSON_Delete(idx);
				xfree(project);
				goto out;
			}
			if (wheel && !link) {
				/* the wheel may be on its way into the store */
				rel.p[rel.len - 9] = '\0';
				bool waiting = mirror_file_await(r, rel.p);
				rel.p[rel.len - 9] = '.';
				if (waiting) {
					store_abort(t);
					cJSON_Delete(idx);
					xfree(project);
					goto out;
				}
			}
		}
		store_abort(t);
		if (!link)
			resp_abort(r, 404, "no such file");
		else if (mirror_cfg_load(r->app, stage, idx, &mc) != ERR_OK)
			resp_abort(r, 502, "mirror %s has no usable mirror_url", stage);
		else {
			mirror_file_get(r, &mc, link, project);
			mirror_cfg_release(&mc);
		}
		cJSON_Delete(link);
		cJSON_Delete(idx);
		xfree(project);
		goto out;
	}
	store_abort(t);
	cJSON_Delete(idx);
	if (meta_of && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta_of, "deleted"))) {
		const char *core = json_get_str(meta_of, "core_metadata_sha256");
		if (!core) {
			resp_abort(r, 404, "no such file");
			goto out;
		}
		send_blob(r, meta_of, core, "METADATA", true);
		goto out;
	}
	if (!rec) {
		resp_abort(r, 404, "no such file");
		goto out;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "deleted"))) {
		resp_abort(r, 410, "file existed, deleted in later serial");
		goto out;
	}
	size_t n;
	const char *accept = req_header(r, "accept", &n);
	if (accept && memmem(accept, n, "application/json", 16)) {
		cJSON *m = cJSON_Duplicate(rec, 1);
		cJSON_DeleteItemFromObjectCaseSensitive(m, "relpath");
		cJSON_DeleteItemFromObjectCaseSensitive(m, "core_metadata_sha256");
		resp_result(r, 200, "releasefilemeta", m, NULL);
		goto out;
	}
	send_blob(r, rec, json_get_str(cJSON_GetObjectItemCaseSensitive(rec, "hashes"), "sha256"),
		  r->segs[r->nsegs - 1], true);
out:
	cJSON_Delete(rec);
	cJSON_Delete(meta_of);
	buf_release(&rel);
}
