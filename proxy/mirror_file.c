/* mirror_file.c — one upstream download per mirror file (see mirror_file.h).
 *
 * The first request becomes the owner of a flight (flight.c) and runs the
 * transfer on its worker's upstream client.  Bytes are hashed and cut into
 * 1 MiB chunks written by the writer thread under a fresh blob id.  Until a
 * chunk is committed it lives in a chunk window (chunkwin.c) shared with
 * the waiters, which stream the bytes received so far from memory, and
 * committed chunks from the store; so clients keep pace with the upstream,
 * not with the store's fsyncs, and memory stays bounded however slow a
 * client is (at most DL_INFLIGHT chunks in the writer's queue and a partial
 * one, after which the transfer pauses).  Every response holds back its
 * last byte until the length and the hash have been checked and one write
 * job has stored the last chunk, made the blob visible and written the
 * file record: a client that holds the whole file finds it cached on its
 * next request.  On any failure
 * the chunks are discarded and every unfinished response is cut short (or
 * answered 404/502 if it had not started), never completed as if good.
 *
 * On a replica the same machinery fetches from the primary instead
 * (mirror_file_replica_get): the URL is <primary>/<relpath>, signed as the
 * replica, the expected hash is the record's (or the link's), and only the
 * blob is stored, since every file record is the primary's and arrives
 * through the changelog.  When the primary cannot be reached at all the
 * download starts over from the upstream URL, if the file has one.
 */
#include "proxy/mirror_file.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "inherit/filename.h"
#include "proxy/app.h"
#include "proxy/blobsend.h"
#include "proxy/chunkwin.h"
#include "proxy/conn.h"
#include "proxy/cpupool.h"
#include "proxy/filerepl.h"
#include "proxy/flight.h"
#include "proxy/mirror.h"
#include "proxy/model.h"
#include "proxy/pkginfo.h"
#include "proxy/replauth.h"
#include "proxy/upstream.h"
#include "proxy/wjob.h"
#include "store/store.h"

#define DL_INFLIGHT 4
/* waiters are woken at most once per this many new bytes (and at each end) */
#define DL_WAKE_BYTES (64u * 1024)

/* ---- the download (owner side, on the owner's loop) ----------------------- */

struct dl {
	struct worker *w;
	struct flight *f;
	struct upstream_xfer *x;
	struct chunkwin *cw;           /* the uncommitted chunks; one reference */
	char *url, *user, *pass;       /* user/pass: sent to url (NULL: none) */
	char *fb_url, *fb_user, *fb_pass; /* replica: upstream tried when the primary cannot be reached */
	char *hdrs[3];                 /* replica: extra request headers (owned) */
	size_t nhdrs;
	bool blob_only;                /* replica: store the blob, never a record */
	char *relpath, *filename, *project, *version;
	char *hash_name, *hash_value;  /* expected */
	char *last_modified;
	EVP_MD_CTX *alt;               /* the link's hash when it is not sha256 */
	struct sha256_ctx sha;
	uint64_t blob_id;
	uint64_t final_id;             /* the blob's id once finished (an identical blob's, if stored before) */
	uint64_t size;
	uint64_t woken;                /* size when waiters were last woken */
	int64_t content_length;
	long status;
	char *chunk;                   /* the open chunk, in the window */
	size_t chunk_len;
	uint32_t nchunks;              /* chunks handed to the writer */
	int inflight;
	bool paused;
	bool ended;                    /* transfer over (on_done ran) */
	int rc;
	int refs;                      /* the transfer + each job in flight */
	uint8_t digest[SHA256_LEN];
};

struct dl_chunk {
	struct dl *d;
	uint32_t idx;
	char *data;                    /* in the window until committed */
	size_t len;
};

static void dl_unref(struct dl *d)
{
	if (--d->refs > 0)
		return;
	xfree(d->url);
	xfree(d->user);
	xfree(d->pass);
	xfree(d->fb_url);
	xfree(d->fb_user);
	xfree(d->fb_pass);
	for (size_t i = 0; i < d->nhdrs; i++)
		xfree(d->hdrs[i]);
	xfree(d->relpath);
	xfree(d->filename);
	xfree(d->project);
	xfree(d->version);
	xfree(d->hash_name);
	xfree(d->hash_value);
	xfree(d->last_modified);
	if (d->alt)
		EVP_MD_CTX_free(d->alt);
	sha256_release(&d->sha);
	chunkwin_unref(d->cw);
	xfree(d);
}

static void dl_publish(struct dl *d)
{
	struct flight_progress p = { .blob_id = d->blob_id, .content_length = d->content_length,
				     .head_known = true };
	d->woken = d->size;
	flight_progress(d->f, &p);
}

static void dl_release_window(void *p)
{
	chunkwin_unref(p);
}

static int discard_run(struct store_txn *t, void *arg)
{
	struct dl *d = arg;
	return store_blob_discard(t, d->blob_id);
}

static void discard_done(struct worker *w, void *arg, int rc, int64_t serial)
{
	dl_unref(arg);
}

/* Ends the flight with rc; on failure the chunks are discarded (queued
 * after any chunk job still in flight, so none outlives the discard). */
static void dl_fail(struct dl *d, int rc)
{
	if (d->rc)
		return;
	d->rc = rc;
	log_warn("%s download of '%s' failed: %s (status %ld)", d->blob_only ? "replica" : "mirror", d->url,
		 err_str(rc), d->status);
	if (d->x && !d->ended) {
		upstream_cancel(d->x);
		d->x = NULL;
		d->ended = true;
		d->refs--;              /* the transfer's reference; the caller holds one more */
	}
	d->refs++;
	wjob_submit_worker(d->w, discard_run, d, discard_done);
	flight_finish(d->f, rc);
	d->f = NULL;
}

static int chunk_run(struct store_txn *t, void *arg)
{
	struct dl_chunk *c = arg;
	return store_chunk_put(t, c->d->blob_id, c->idx, c->data, c->len);
}

static void chunk_done(struct worker *w, void *arg, int rc, int64_t serial)
{
	struct dl_chunk *c = arg;
	struct dl *d = c->d;
	d->inflight--;
	if (rc)
		dl_fail(d, rc);
	else if (!d->rc) {
		chunkwin_stored(d->cw, c->idx + 1);
		if (d->paused && d->x) {
			d->paused = false;
			upstream_resume(d->x);
		}
	}
	xfree(c);
	dl_unref(d);
}

static void dl_flush(struct dl *d)
{
	struct dl_chunk *c = xcalloc(1, sizeof *c);
	c->d = d;
	c->idx = d->nchunks++;
	c->data = d->chunk;
	c->len = d->chunk_len;
	d->chunk = NULL;
	d->chunk_len = 0;
	d->inflight++;
	d->refs++;
	wjob_submit_worker(d->w, chunk_run, c, chunk_done);
}

static int dl_head(void *arg, long status, const char *eff, const struct upstream_header *h, size_t nh)
{
	struct dl *d = arg;
	d->status = status;
	if (status == 410 && d->blob_only)
		return ERR_GONE;         /* the primary deleted it */
	if (status != 200)
		return status == 404 ? ERR_NOTFOUND : ERR_UPSTREAM;
	for (size_t i = 0; i < nh; i++) {
		if (h[i].name_len == 14 && !strncasecmp(h[i].name, "content-length", 14)) {
			long long v;
			if (upstream_header_num(h[i].value, h[i].value_len, &v) != ERR_OK)
				return ERR_UPSTREAM;
			d->content_length = v;
		} else if (h[i].name_len == 13 && !strncasecmp(h[i].name, "last-modified", 13)) {
			xfree(d->last_modified);
			d->last_modified = xstrndup(h[i].value, h[i].value_len);
		}
	}
	dl_publish(d);
	return ERR_OK;
}

static int dl_data(void *arg, const char *p, size_t n)
{
	struct dl *d = arg;
	if (d->rc)
		return d->rc;
	/* Pausing re-delivers these same bytes later: decide before
	 * consuming any of them. */
	if (d->inflight >= DL_INFLIGHT) {
		d->paused = true;
		return UPSTREAM_PAUSE;
	}
	if (d->content_length >= 0 && d->size + n > (uint64_t)d->content_length)
		return ERR_UPSTREAM;     /* more than announced */
	sha256_update(&d->sha, p, n);
	if (d->alt)
		EVP_DigestUpdate(d->alt, p, n);
	d->size += n;
	while (n) {
		if (!d->chunk && !(d->chunk = chunkwin_open(d->cw, d->nchunks)))
			return ERR_NOMEM;  /* cannot happen: paused long before */
		size_t take = STORE_CHUNK_SIZE - d->chunk_len;
		if (take > n)
			take = n;
		memcpy(d->chunk + d->chunk_len, p, take);
		d->chunk_len += take;
		p += take;
		n -= take;
		if (d->chunk_len == STORE_CHUNK_SIZE)
			dl_flush(d);
	}
	chunkwin_received(d->cw, d->size);
	if (d->size - d->woken >= DL_WAKE_BYTES)
		dl_publish(d);
	return ERR_OK;
}

static int finish_run(struct store_txn *t, void *arg)
{
	struct dl *d = arg;
	int rc = ERR_OK;
	if (d->chunk_len || d->nchunks == 0)
		rc = store_chunk_put(t, d->blob_id, d->nchunks, d->chunk ? d->chunk : "", d->chunk_len);
	uint32_t total = d->nchunks + ((d->chunk_len || d->nchunks == 0) ? 1 : 0);
	if (!rc)
		rc = store_blob_finish(t, d->blob_id, d->digest, d->size, total);
	if (rc)
		return rc;
	struct store_blob b;
	d->final_id = store_blob_get(t, d->digest, &b) == ERR_OK ? b.id : d->blob_id;
	if (d->blob_only)
		return ERR_OK;         /* the record is the primary's */
	char hex[SHA256_HEX_LEN + 1], lm[32], spec[200];
	hex_encode(d->digest, 32, hex);
	cJSON *rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "relpath", d->relpath);
	snprintf(spec, sizeof spec, "%s=%s", d->hash_name ? d->hash_name : "sha256", d->hash_value ? d->hash_value : hex);
	cJSON_AddStringToObject(rec, "hash_spec", spec);
	cJSON *h = cJSON_AddObjectToObject(rec, "hashes");
	cJSON_AddStringToObject(h, "sha256", hex);
	if (d->hash_name && strcmp(d->hash_name, "sha256") != 0)
		cJSON_AddStringToObject(h, d->hash_name, d->hash_value);
	if (!d->last_modified) {
		time_rfc1123(time(NULL), lm);
		cJSON_AddStringToObject(rec, "last_modified", lm);
	} else {
		cJSON_AddStringToObject(rec, "last_modified", d->last_modified);
	}
	cJSON_AddStringToObject(rec, "project", d->project);
	if (d->version)
		cJSON_AddStringToObject(rec, "version", d->version);
	cJSON_AddNumberToObject(rec, "size", (double)d->size);
	cJSON_AddStringToObject(rec, "url", d->url);
	char key[700];
	snprintf(key, sizeof key, "file/%s", d->relpath);
	rc = model_put(t, key, rec);
	cJSON_Delete(rec);
	return rc;
}

static void finish_done(struct worker *w, void *arg, int rc, int64_t serial)
{
	struct dl *d = arg;
	if (rc) {
		dl_fail(d, rc);
	} else if (d->f) {
		/* the waiters read the rest from the finished blob (its id
		 * differs when identical content was stored before); blob-only
		 * waiters that never saw a length learn it here */
		struct flight_progress p = { .blob_id = d->final_id, .content_length = d->content_length,
					     .head_known = true };
		if (d->blob_only && p.content_length < 0)
			p.content_length = (int64_t)d->size;
		flight_progress(d->f, &p);
		flight_finish(d->f, ERR_OK);
		d->f = NULL;
	}
	dl_unref(d);
}

static bool hash_matches(struct dl *d)
{
	char hex[SHA256_HEX_LEN + 1];
	if (!d->hash_value)
		return true;             /* +e links: nothing to check against */
	if (!d->hash_name || strcmp(d->hash_name, "sha256") == 0) {
		hex_encode(d->digest, 32, hex);
		return strcasecmp(hex, d->hash_value) == 0;
	}
	if (!d->alt)
		return false;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char alt_hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_DigestFinal_ex(d->alt, md, &n);
	hex_encode(md, n, alt_hex);
	return strcasecmp(alt_hex, d->hash_value) == 0;
}

static int dl_begin(struct dl *d, const struct app *a);

/* A replica's download whose primary could not be reached (no response at
 * all) starts over from the upstream URL; true when it did. */
static bool dl_fall_back(struct dl *d, int rc, long status, const char *errmsg)
{
	if (!d->fb_url || d->rc || status != 0 || d->size || (rc != ERR_UPSTREAM && rc != ERR_TIMEOUT))
		return false;
	log_warn("replica download of '%s' failed (%s: %s); trying '%s'", d->url, err_str(rc), errmsg, d->fb_url);
	xfree(d->url);
	xfree(d->user);
	xfree(d->pass);
	d->url = d->fb_url;
	d->user = d->fb_user;
	d->pass = d->fb_pass;
	d->fb_url = d->fb_user = d->fb_pass = NULL;
	for (size_t i = 0; i < d->nhdrs; i++)
		xfree(d->hdrs[i]);
	d->nhdrs = 0;
	d->ended = false;
	return dl_begin(d, d->w->app) == ERR_OK;
}

static void dl_done(void *arg, int rc, long status, const char *errmsg)
{
	struct dl *d = arg;
	d->ended = true;
	d->x = NULL;
	if (rc && dl_fall_back(d, rc, status, errmsg))
		return;                 /* the new transfer holds the transfer's reference */
	d->ended = true;
	if (!rc && status != 200)
		rc = status == 404 ? ERR_NOTFOUND : ERR_UPSTREAM;
	if (!rc && d->content_length >= 0 && d->size != (uint64_t)d->content_length)
		rc = ERR_UPSTREAM;
	if (!rc) {
		sha256_final(&d->sha, d->digest);
		if (!hash_matches(d)) {
			log_warn("mirror download of '%s': content does not match %s=%s", d->url,
				 d->hash_name ? d->hash_name : "sha256", d->hash_value);
			rc = ERR_HASH;
		}
	}
	if (rc) {
		if (errmsg && *errmsg)
			log_info("upstream: %s", errmsg);
		d->refs++;
		dl_fail(d, rc);
		dl_unref(d);            /* the one just taken */
	} else {
		d->refs++;
		wjob_submit_worker(d->w, finish_run, d, finish_done);
	}
	dl_unref(d);                    /* the transfer's reference */
}

static const struct upstream_cbs dl_cbs = { dl_head, dl_data, dl_done };

/* scheme://host[:port] of a and b are the same. */
static bool same_origin(const char *a, const char *b)
{
	const char *ea = strstr(a, "://"), *eb = strstr(b, "://");
	if (!ea || !eb)
		return false;
	ea = strchr(ea + 3, '/');
	eb = strchr(eb + 3, '/');
	size_t na = ea ? (size_t)(ea - a) : strlen(a), nb = eb ? (size_t)(eb - b) : strlen(b);
	return na == nb && strncasecmp(a, b, na) == 0;
}

/* A download for flight f with nothing to fetch yet. */
static struct dl *dl_new(struct req *r, struct flight *f, const char *relpath, const char *hash_spec)
{
	struct dl *d = xcalloc(1, sizeof *d);
	d->w = r->w;
	d->f = f;
	d->refs = 1;
	d->content_length = -1;
	d->relpath = xstrdup(relpath);
	const char *eq = hash_spec ? strchr(hash_spec, '=') : NULL;
	if (eq) {
		d->hash_name = xstrndup(hash_spec, (size_t)(eq - hash_spec));
		d->hash_value = xstrdup(eq + 1);
		if (strcmp(d->hash_name, "sha256") != 0) {
			const EVP_MD *md = EVP_get_digestbyname(d->hash_name);
			if (md) {
				d->alt = EVP_MD_CTX_new();
				EVP_DigestInit_ex(d->alt, md, NULL);
			}
		}
	}
	sha256_init(&d->sha);
	d->blob_id = store_blob_id_new(r->app->store);
	d->cw = chunkwin_new();
	chunkwin_ref(d->cw);
	flight_attach(f, d->cw, dl_release_window);
	return d;
}

/* Starts the transfer of d->url (with d->user/pass and d->hdrs). */
static int dl_begin(struct dl *d, const struct app *a)
{
	int t = a->cfg->request_timeout > 0 ? a->cfg->request_timeout : 5;
	/* a primary may itself be fetching the file from its upstream */
	int first = d->nhdrs && a->cfg->proxy_timeout > t ? a->cfg->proxy_timeout : t;
	struct upstream_request rq = {
		.url = d->url,
		.headers = (const char *const *)d->hdrs,
		.nheaders = d->nhdrs,
		.username = d->user,
		.password = d->pass,
		.raw = true,
		.lim = {
			.connect_timeout_ms = t * 1000L,
			.first_byte_timeout_ms = first * 1000L,
			.low_speed_bytes = 1024,
			.low_speed_secs = t < 10 ? 10 : t,
			.max_body = a->cfg->max_upload_size ? 4 * a->cfg->max_upload_size : 0,
		},
	};
	return upstream_fetch(d->w->up, &rq, &dl_cbs, d, &d->x);
}

/* Starts d; on failure ends the flight at once. */
static void dl_go(struct dl *d, const struct app *a)
{
	if (dl_begin(d, a) != ERR_OK) {
		d->ended = true;
		d->refs++;
		dl_fail(d, ERR_UPSTREAM);
		dl_unref(d);
		dl_unref(d);
	}
}

static void dl_start(struct req *r, struct flight *f, const struct mirror_cfg *mc, const cJSON *link, const char *project)
{
	struct dl *d = dl_new(r, f, json_get_str(link, "relpath"), json_get_str(link, "hash_spec"));
	d->url = xstrdup(json_get_str(link, "url"));
	/* the mirror's credentials go only to the mirror's own origin */
	if (same_origin(d->url, mc->url)) {
		d->user = mc->user ? xstrdup(mc->user) : NULL;
		d->pass = mc->pass ? xstrdup(mc->pass) : NULL;
	}
	d->filename = xstrdup(json_get_str(link, "filename"));
	d->project = xstrdup(project);
	d->version = json_get_str(link, "version") ? xstrdup(json_get_str(link, "version")) : NULL;
	dl_go(d, r->app);
}

/* ---- a waiting request (on its own loop) ----------------------------------- */

struct fwait {
	struct flight *f;
	struct chunkwin *cw;          /* the download's window; one reference */
	char *url;
	char *relpath;
	uint64_t blob_id;
	uint64_t sent;                /* bytes written to the client */
	int64_t length;
	bool final;                   /* the download is over and stored: read the store */
	bool streaming;
	bool blob_only;               /* a replica's download: no record to re-run the handler on */
	int refs;                     /* the flight wait + the request's hooks */
};

static void fwait_unref(struct fwait *fw)
{
	if (--fw->refs > 0)
		return;
	chunkwin_unref(fw->cw);
	xfree(fw->url);
	xfree(fw->relpath);
	xfree(fw);
}

static void fw_pump(struct req *r)
{
	struct fwait *fw = r->hctx;
	if (!fw)
		return;
	/* Until the download is verified and stored, the last byte is held
	 * back: a client must never hold a complete-looking file that turns
	 * out bad, and once it holds the file the next request must find it
	 * cached (answering at verification, before the commit, let a request
	 * sent right after the answer start a second download under load). */
	uint64_t limit = fw->final ? (uint64_t)fw->length : (fw->length > 0 ? (uint64_t)fw->length - 1 : 0);
	int rc = ERR_OK;
	while (!rc && fw->sent < limit && resp_pending(r) < BLOBSEND_AHEAD) {
		const char *p;
		size_t n;
		void *ref;
		enum chunkwin_where where = fw->final ? CW_STORE : chunkwin_read(fw->cw, fw->sent, &p, &n, &ref);
		if (where == CW_WAIT)
			return;
		if (where == CW_MEM) {
			if (n > limit - fw->sent)
				n = (size_t)(limit - fw->sent);
			resp_write_ref(r, p, n, chunkwin_release, ref);
			fw->sent += n;
			continue;
		}
		uint64_t end = limit;
		uint32_t upto = UINT32_MAX;
		if (!fw->final) {            /* only the committed chunk pos is in */
			upto = (uint32_t)(fw->sent / STORE_CHUNK_SIZE) + 1;
			if (end > (uint64_t)upto * STORE_CHUNK_SIZE)
				end = (uint64_t)upto * STORE_CHUNK_SIZE;
		}
		rc = blobsend_pump(r, fw->blob_id, &fw->sent, end, upto);
	}
	if (rc && !fw->final)
		return;     /* chunks of a duplicate were just dropped for the stored
			     * blob: the final wake switches to it */
	if (rc) {
		resp_abort_stream(r);
		return;
	}
	if (fw->final && fw->sent >= (uint64_t)fw->length)
		resp_end(r);
}

static void fw_close(struct req *r)
{
	struct fwait *fw = r->hctx;
	r->hctx = NULL;
	if (fw)
		fwait_unref(fw);
}

static const struct req_hooks fw_hooks = { NULL, NULL, fw_pump, fw_close };

/* r's response starts: length bytes of the download, from the window
 * (or, once final, from the finished blob blob_id). */
static void fw_begin(struct req *r, struct fwait *fw, uint64_t blob_id, int64_t length, bool final)
{
	fw->blob_id = blob_id;
	fw->length = length;
	fw->streaming = true;
	fw->final = final;
	fw->refs++;
	r->hctx = fw;
	r->hooks = &fw_hooks;
	resp_header(r, "Cache-Control", "max-age=365000000, immutable, public");
	resp_begin(r, 200, NULL, filename_content_type(r->segs[r->nsegs - 1]), length);
	if (r->m == M_HEAD)
		resp_end(r);
	else
		fw_pump(r);
}

static void fw_wake(struct req *r, void *arg, int rc)
{
	struct fwait *fw = arg;
	struct flight_progress p;
	bool last = rc != ERR_AGAIN;
	if (!req_alive(r) || r->finished) {
		if (last)
			fwait_unref(fw);
		return;
	}
	if (!last) {
		flight_snapshot(fw->f, &p);
		if (!fw->cw && p.shared) {
			fw->cw = p.shared;
			chunkwin_ref(fw->cw);
		}
		if (!r->head_sent && p.head_known && p.content_length >= 0 && fw->cw)
			fw_begin(r, fw, p.blob_id, p.content_length, false);
		else if (fw->streaming)
			fw_pump(r);
		return;
	}
	/* the download is over */
	if (rc == ERR_OK) {
		/* the last progress names the finished blob */
		flight_snapshot(fw->f, &p);
		if (fw->streaming) {
			fw->blob_id = p.blob_id;
			fw->final = true;
			fw_pump(r);
		} else if (fw->blob_only && !r->head_sent && p.content_length >= 0) {
			fw_begin(r, fw, p.blob_id, p.content_length, true);
		} else if (r->handler) {
			r->handler(r);   /* the file record exists now: serve it */
		}
	} else if (fw->streaming || r->head_sent) {
		resp_abort_stream(r);
	} else if (rc == ERR_NOTFOUND) {
		resp_abort(r, 404, "no such file upstream: %s", fw->url);
	} else if (rc == ERR_GONE) {
		resp_abort(r, 410, "file existed, deleted in later serial");
	} else {
		resp_abort(r, 502, "error %s getting %s", err_str(rc), fw->url);
	}
	fwait_unref(fw);
}

void mirror_file_get(struct req *r, const struct mirror_cfg *mc, const cJSON *link, const char *project)
{
	const char *url = json_get_str(link, "url"), *relpath = json_get_str(link, "relpath");
	if (!url || !relpath) {
		resp_abort(r, 404, "no such file");
		return;
	}
	if (mc->use_external_urls) {
		resp_redirect(r, url);
		return;
	}
	if (mc->offline) {
		resp_abort(r, 502, "offline mode: '%s' is not cached", relpath);
		return;
	}
	struct fwait *fw = xcalloc(1, sizeof *fw);
	fw->url = xstrdup(url);
	fw->relpath = xstrdup(relpath);
	fw->refs = 1;
	char key[800];
	snprintf(key, sizeof key, "file\n%s", relpath);
	if (flight_join(key, r, fw_wake, fw, &fw->f))
		dl_start(r, fw->f, mc, link, project);
}

void mirror_file_replica_get(struct req *r, const struct mirror_file_src *src)
{
	struct app *a = r->app;
	char key[1100];
	if (!src->relpath || strlen(src->relpath) > 1000) {
		resp_abort(r, 404, "no such file");
		return;
	}
	struct fwait *fw = xcalloc(1, sizeof *fw);
	fw->url = filerepl_url(a, src->relpath);
	fw->relpath = xstrdup(src->relpath);
	fw->blob_only = true;
	fw->refs = 1;
	snprintf(key, sizeof key, "file\n%s", src->relpath);
	if (!flight_join(key, r, fw_wake, fw, &fw->f))
		return;
	struct dl *d = dl_new(r, fw->f, src->relpath, src->hash_spec);
	d->blob_only = true;
	d->url = xstrdup(fw->url);
	char auth[REPLAUTH_HDR_MAX], id[REPLAUTH_HDR_MAX];
	replauth_headers(a->repl_key, a->uuid, time(NULL), auth, id);
	d->hdrs[d->nhdrs++] = xstrdup("X-DEVPI-REPLICA-FILEREPL: YES");
	d->hdrs[d->nhdrs++] = xstrdup(auth);
	d->hdrs[d->nhdrs++] = xstrdup(id);
	if (src->fallback_url && (!strncmp(src->fallback_url, "http://", 7) || !strncmp(src->fallback_url, "https://", 8))) {
		d->fb_url = xstrdup(src->fallback_url);
		if (src->mc && same_origin(d->fb_url, src->mc->url)) {
			d->fb_user = src->mc->user ? xstrdup(src->mc->user) : NULL;
			d->fb_pass = src->mc->pass ? xstrdup(src->mc->pass) : NULL;
		}
	}
	dl_go(d, a);
}

static void await_wake(struct req *r, void *arg, int rc)
{
	if (rc != ERR_AGAIN && req_alive(r) && !r->head_sent && r->handler)
		r->handler(r);   /* the download is over: answer afresh */
}

static void fetch_wake(struct req *r, void *arg, int rc)
{
	char *relpath = arg;
	if (rc == ERR_AGAIN)
		return;
	if (req_alive(r) && !r->head_sent) {
		if (rc)
			resp_message(r, 502, "error %s getting '%s' from the mirror", err_str(rc), relpath);
		else if (r->handler)
			r->handler(r);
	}
	xfree(relpath);
}

void mirror_file_fetch(struct req *r, const struct mirror_cfg *mc, const cJSON *link, const char *project)
{
	const char *relpath = json_get_str(link, "relpath");
	char key[800];
	struct flight *f = NULL;
	if (!relpath || !json_get_str(link, "url") || mc->use_external_urls || mc->offline) {
		resp_message(r, 502, "'%s' is not cached on the mirror and cannot be fetched now", relpath ? relpath : "?");
		return;
	}
	snprintf(key, sizeof key, "file\n%s", relpath);
	if (flight_join(key, r, fetch_wake, xstrdup(relpath), &f))
		dl_start(r, f, mc, link, project);
}

bool mirror_file_await(struct req *r, const char *relpath)
{
	char key[800];
	snprintf(key, sizeof key, "file\n%s", relpath);
	return flight_wait(key, r, await_wake, NULL);
}

/* ---- core metadata of a stored wheel ----------------------------------------- */

struct mx {
	struct app *app;
	uint64_t blob_id;
	uint64_t size;
	char *wheel_relpath;
	char *project, *version;
	char *text;                   /* METADATA, from the pool */
	size_t len;
	int rc;
};

static void mx_free(struct mx *m)
{
	xfree(m->wheel_relpath);
	xfree(m->project);
	xfree(m->version);
	xfree(m->text);
	xfree(m);
}

struct mx_reader {
	struct store_txn *t;
	uint64_t id;
};

static ssize_t mx_read_at(void *arg, uint64_t off, void *buf, size_t n)
{
	struct mx_reader *c = arg;
	return store_blob_read_at(c->t, c->id, off, buf, n);
}

static void mx_work(void *arg)
{
	struct mx *m = arg;
	struct store_txn *t = NULL;
	m->rc = store_read_begin(m->app->store, &t);
	if (m->rc)
		return;
	struct mx_reader c = { t, m->blob_id };
	struct pkginfo_reader rd = { &c, mx_read_at, m->size };
	struct pkginfo_limits lim = { .max_metadata = 1024 * 1024, .max_entries = 100000, .max_ratio = 1000 };
	const char *fn = strrchr(m->wheel_relpath, '/');
	m->rc = pkginfo_extract(&rd, fn ? fn + 1 : m->wheel_relpath, &lim, &m->text, &m->len);
	store_abort(t);
}

static int mx_store_run(struct store_txn *t, void *arg)
{
	struct mx *m = arg;
	uint8_t sha[32];
	char hex[SHA256_HEX_LEN + 1], lm[32], key[800];
	sha256_buf(m->text, m->len, sha);
	hex_encode(sha, 32, hex);
	uint64_t id = store_blob_id_new(m->app->store);
	int rc = store_chunk_put(t, id, 0, m->text, m->len);
	if (!rc)
		rc = store_blob_finish(t, id, sha, m->len, 1);
	if (rc)
		return rc;
	cJSON *rec = cJSON_CreateObject();
	char *rel = xasprintf("%s.metadata", m->wheel_relpath);
	cJSON_AddStringToObject(rec, "relpath", rel);
	char *spec = xasprintf("sha256=%s", hex);
	cJSON_AddStringToObject(rec, "hash_spec", spec);
	xfree(spec);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(rec, "hashes"), "sha256", hex);
	time_rfc1123(time(NULL), lm);
	cJSON_AddStringToObject(rec, "last_modified", lm);
	cJSON_AddStringToObject(rec, "project", m->project);
	if (m->version)
		cJSON_AddStringToObject(rec, "version", m->version);
	cJSON_AddNumberToObject(rec, "size", (double)m->len);
	snprintf(key, sizeof key, "file/%s", rel);
	xfree(rel);
	rc = model_put(t, key, rec);
	cJSON_Delete(rec);
	return rc;
}

static void mx_stored(struct req *r, void *arg, int rc, int64_t serial)
{
	struct mx *m = arg;
	if (req_alive(r) && !r->head_sent) {
		if (rc)
			resp_abort(r, 500, "cannot store the metadata: %s", err_str(rc));
		else if (r->handler)
			r->handler(r);
	}
	mx_free(m);
}

static void mx_done(struct req *r, void *arg)
{
	struct mx *m = arg;
	if (!req_alive(r) || r->head_sent) {
		mx_free(m);
		return;
	}
	if (m->rc) {
		resp_abort(r, 404, "no metadata in the stored wheel (%s)", err_str(m->rc));
		mx_free(m);
		return;
	}
	wjob_submit(r, mx_store_run, m, mx_stored);
}

void mirror_metadata_extract(struct req *r, const char *wheel_relpath, const cJSON *wheel_rec)
{
	const char *hex = json_get_str(cJSON_GetObjectItemCaseSensitive(wheel_rec, "hashes"), "sha256");
	uint8_t sha[32];
	struct store_blob b;
	struct store_txn *t = NULL;
	int rc = ERR_NOTFOUND;
	if (hex && hex_decode(hex, strlen(hex), sha, 32) == ERR_OK && store_read_begin(r->app->store, &t) == ERR_OK) {
		rc = store_blob_get(t, sha, &b);
		store_abort(t);
	}
	if (rc) {
		resp_abort(r, 404, "no such file");
		return;
	}
	struct mx *m = xcalloc(1, sizeof *m);
	m->app = r->app;
	m->blob_id = b.id;
	m->size = b.size;
	m->wheel_relpath = xstrdup(wheel_relpath);
	m->project = xstrdup(json_get_str(wheel_rec, "project") ? json_get_str(wheel_rec, "project") : "");
	m->version = json_get_str(wheel_rec, "version") ? xstrdup(json_get_str(wheel_rec, "version")) : NULL;
	if (cpupool_submit(r, mx_work, mx_done, m) != ERR_OK) {
		mx_free(m);
		resp_abort(r, 503, "server busy; retry");
	}
}
