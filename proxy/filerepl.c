/* filerepl.c — a replica's background file downloads (see filerepl.h).
 *
 * One in-memory queue of the files whose records the replica holds but
 * whose bytes it lacks, worked off by plain threads with blocking libcurl
 * easy handles: these threads own no event loop, so blocking on the
 * network and on the writer thread is fine here and keeps each download a
 * straight line of code.  The queue is a binary heap ordered by class
 * (private stages, then mirrors, then stages that no longer exist) and,
 * within a class, newest serial first; a hash table on the relpath
 * de-duplicates it and finds an entry when its record is deleted.  Both
 * are bounded (FR_QUEUE_MAX entries, about 200 bytes each): past the
 * bound a file is dropped, logged, and found again by the rescan at the
 * next filerepl_in_sync.  A file that failed stays in the table in state
 * WAITING, listed in /+status, until its retry time comes.
 *
 * A download streams the body into STORE_CHUNK_SIZE chunks under a fresh
 * blob id, each written by a writer job (at most FR_INFLIGHT in flight, the
 * thread waits for the writer beyond that), hashing as it goes; one last
 * job makes the blob visible only when the size and the sha256 match the
 * record's.  Anything else discards the chunks.  Nothing here writes kv:
 * a replica's records come only through the changelog.
 *
 * The scan that follows the first in_sync walks "file/" in batches of at
 * most FR_SCAN_BATCH keys, each under its own short read transaction and
 * resuming after the last key of the one before (store_scan_after), so no
 * snapshot is held across the whole walk.
 *
 * Locks: f->mu guards the queue, the table, the error list and the status
 * times; each thread's th->mu guards its writer jobs in flight.  Both are
 * leaves: neither is held while taking the other, nor across a network
 * wait, a store call or store_writer_submit.
 */
#include "proxy/filerepl.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strset.h"
#include "common/util.h"
#include "proxy/app.h"
#include "proxy/replauth.h"
#include "proxy/web.h"
#include "store/store.h"

#ifndef FR_QUEUE_MAX                     /* (the unit test sets smaller bounds) */
#define FR_QUEUE_MAX 1000000u            /* files known (queued, running or waiting) */
#define FR_ERRORS_MAX 10000u             /* files listed in replication-errors */
#define FR_SCAN_BATCH 1000u              /* keys per read transaction of the scan */
#endif
#define FR_INFLIGHT 4                    /* chunk jobs of one download in the writer's queue */
#define FR_RETRY_FIRST_MS 11000u         /* first retry delay; x1.5 each time */
#define FR_RETRY_MAX_MS 3600000u
#define FR_ERRBODY_MAX (64u * 1024)      /* bytes of an error response read before giving up on it */
#define FR_UNKNOWN_SIZE_MAX (16ull << 30) /* body bound when the record has no size */
#define FR_MSG_MAX 300

enum fr_class { FR_PRIVATE, FR_MIRROR, FR_GONE };
enum fr_state { FR_QUEUED, FR_RUNNING, FR_WAITING };

/* A file whose blob is missing.  In the table from queueing until it is
 * stored, dropped or deleted. */
struct fr_item {
	struct fr_item *hnext;           /* table chain */
	int64_t size;                    /* bytes, -1 unknown */
	int64_t serial;                  /* of the record */
	uint64_t due_ms;                 /* WAITING: monotonic time of the retry */
	struct fr_err *err;              /* listed in replication-errors, or NULL */
	size_t heap_idx;                 /* QUEUED: position in the heap */
	uint32_t attempts;               /* failures so far */
	uint8_t cls;                     /* enum fr_class */
	uint8_t state;                   /* enum fr_state */
	bool dropped;                    /* RUNNING: its record was deleted meanwhile */
	uint8_t sha[SHA256_LEN];
	char relpath[];
};

struct fr_err {
	char *url;
	char *message;
	size_t idx;                      /* in f->errs */
};

struct filerepl;

/* One download thread and the writer jobs of its current download. */
struct fr_thread {
	struct filerepl *f;
	pthread_t tid;
	bool started;
	CURL *curl;
	pthread_mutex_t mu;              /* inflight, job_rc */
	pthread_cond_t cv;
	int inflight;
	int job_rc;                      /* first writer error of this download */
	/* the download in progress */
	uint64_t blob_id;
	char *chunk;                     /* the open chunk (STORE_CHUNK_SIZE bytes) */
	size_t chunk_len;
	uint32_t nchunks;                /* chunks handed to the writer */
	uint64_t size;                   /* body bytes taken */
	uint64_t cap;                    /* more than this is cut off */
	uint64_t errbody;                /* bytes of a non-200 body seen */
	long status;
	bool too_big;
	struct sha256_ctx sha;
	char errbuf[CURL_ERROR_SIZE];
};

struct filerepl {
	struct app *a;
	atomic_bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;               /* work arrived, or stop */
	/* the table: every known item, by relpath */
	struct fr_item **buckets;
	size_t nbuckets, nitems;
	/* the queue: QUEUED items */
	struct fr_item **heap;
	size_t nheap, capheap;
	/* items with an error entry */
	struct fr_item **errs;
	size_t nerrs;
	uint64_t next_due_ms;            /* earliest retry among WAITING items; UINT64_MAX none */
	size_t nrunning;
	bool in_sync_seen;
	bool scan_wanted, scanning;
	bool init_scan_done;             /* the first scan has run */
	bool init_finished;              /* ... and its queue was worked off */
	bool overflow;                   /* something was dropped for a bound: rescan */
	double files_in_sync_at;         /* 0 = never */
	double init_queue_finished_at;
	/* --file-replication-skip-indexes */
	bool skip_all;
	char **skip;                     /* "user/index" or an index type */
	size_t nskip;
	int nthreads;
	struct fr_thread *th;
};

/* ---- time ------------------------------------------------------------------ */

static uint64_t retry_delay_ms(uint32_t attempts)
{
	double d = FR_RETRY_FIRST_MS;
	for (uint32_t i = 1; i < attempts && d < FR_RETRY_MAX_MS; i++)
		d *= 1.5;
	return d > FR_RETRY_MAX_MS ? FR_RETRY_MAX_MS : (uint64_t)d;
}

/* ---- the table --------------------------------------------------------------- */

static size_t bucket_of(const struct filerepl *f, const char *relpath)
{
	return (size_t)(strset_hash(relpath, strlen(relpath)) & (f->nbuckets - 1));
}

static struct fr_item *table_find_locked(struct filerepl *f, const char *relpath)
{
	if (!f->nbuckets)
		return NULL;
	struct fr_item *it = f->buckets[bucket_of(f, relpath)];
	while (it && strcmp(it->relpath, relpath) != 0)
		it = it->hnext;
	return it;
}

static void table_add_locked(struct filerepl *f, struct fr_item *it)
{
	if (f->nitems >= f->nbuckets) {
		size_t n = f->nbuckets ? 2 * f->nbuckets : 1024;
		struct fr_item **nb = xcalloc(n, sizeof *nb);
		for (size_t i = 0; i < f->nbuckets; i++) {
			struct fr_item *x = f->buckets[i], *next;
			for (; x; x = next) {
				next = x->hnext;
				size_t b = (size_t)(strset_hash(x->relpath, strlen(x->relpath)) & (n - 1));
				x->hnext = nb[b];
				nb[b] = x;
			}
		}
		xfree(f->buckets);
		f->buckets = nb;
		f->nbuckets = n;
	}
	size_t b = bucket_of(f, it->relpath);
	it->hnext = f->buckets[b];
	f->buckets[b] = it;
	f->nitems++;
}

static void table_del_locked(struct filerepl *f, struct fr_item *it)
{
	struct fr_item **pp = &f->buckets[bucket_of(f, it->relpath)];
	while (*pp && *pp != it)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = it->hnext;
		f->nitems--;
	}
}

/* ---- the heap ------------------------------------------------------------------- */

/* a comes before b */
static bool before(const struct fr_item *a, const struct fr_item *b)
{
	if (a->cls != b->cls)
		return a->cls < b->cls;
	return a->serial > b->serial;
}

static void heap_set(struct filerepl *f, size_t i, struct fr_item *it)
{
	f->heap[i] = it;
	it->heap_idx = i;
}

static void heap_up(struct filerepl *f, size_t i)
{
	struct fr_item *it = f->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(it, f->heap[p]))
			break;
		heap_set(f, i, f->heap[p]);
		i = p;
	}
	heap_set(f, i, it);
}

static void heap_down(struct filerepl *f, size_t i)
{
	struct fr_item *it = f->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= f->nheap)
			break;
		if (c + 1 < f->nheap && before(f->heap[c + 1], f->heap[c]))
			c++;
		if (!before(f->heap[c], it))
			break;
		heap_set(f, i, f->heap[c]);
		i = c;
	}
	heap_set(f, i, it);
}

static void heap_push_locked(struct filerepl *f, struct fr_item *it)
{
	if (f->nheap == f->capheap) {
		f->capheap = f->capheap ? 2 * f->capheap : 1024;
		f->heap = xrealloc(f->heap, f->capheap * sizeof *f->heap);
	}
	it->state = FR_QUEUED;
	heap_set(f, f->nheap++, it);
	heap_up(f, f->nheap - 1);
}

static void heap_remove_locked(struct filerepl *f, struct fr_item *it)
{
	size_t i = it->heap_idx;
	struct fr_item *last = f->heap[--f->nheap];
	if (i == f->nheap)
		return;
	heap_set(f, i, last);
	heap_down(f, i);
	heap_up(f, last->heap_idx);
}

static struct fr_item *heap_pop_locked(struct filerepl *f)
{
	if (!f->nheap)
		return NULL;
	struct fr_item *it = f->heap[0];
	heap_remove_locked(f, it);
	return it;
}

/* ---- errors ------------------------------------------------------------------- */

static void err_clear_locked(struct filerepl *f, struct fr_item *it)
{
	struct fr_err *e = it->err;
	if (!e)
		return;
	struct fr_item *last = f->errs[--f->nerrs];
	f->errs[e->idx] = last;
	last->err->idx = e->idx;
	xfree(e->url);
	xfree(e->message);
	xfree(e);
	it->err = NULL;
}

/* Records the error of it; false when the list is full (it is not listed). */
static bool err_set_locked(struct filerepl *f, struct fr_item *it, const char *url, const char *message)
{
	if (!it->err) {
		if (f->nerrs >= FR_ERRORS_MAX)
			return false;
		if (!f->errs)
			f->errs = xcalloc(FR_ERRORS_MAX, sizeof *f->errs);
		it->err = xcalloc(1, sizeof *it->err);
		it->err->idx = f->nerrs;
		f->errs[f->nerrs++] = it;
	}
	xfree(it->err->url);
	xfree(it->err->message);
	it->err->url = xstrdup(url);
	it->err->message = xstrdup(message);
	return true;
}

/* Forgets it entirely (not RUNNING). */
static void item_free_locked(struct filerepl *f, struct fr_item *it)
{
	if (it->state == FR_QUEUED)
		heap_remove_locked(f, it);
	err_clear_locked(f, it);
	table_del_locked(f, it);
	xfree(it);
}

/* WAITING items whose time has come go back into the queue. */
static void requeue_due_locked(struct filerepl *f, uint64_t now)
{
	if (now < f->next_due_ms)
		return;
	f->next_due_ms = UINT64_MAX;
	for (size_t i = 0; i < f->nerrs; i++) {
		struct fr_item *it = f->errs[i];
		if (it->state != FR_WAITING)
			continue;
		if (it->due_ms <= now)
			heap_push_locked(f, it);
		else if (it->due_ms < f->next_due_ms)
			f->next_due_ms = it->due_ms;
	}
}

/* The queue may just have run dry: note the status times. */
static void check_idle_locked(struct filerepl *f)
{
	if (f->nheap || f->nrunning || f->scanning || f->scan_wanted)
		return;
	double now = time_now();
	if (!f->nerrs)
		f->files_in_sync_at = now;
	if (f->init_scan_done && !f->init_finished) {
		f->init_finished = true;
		f->init_queue_finished_at = now;
		log_info("file replication: initial queue worked off (%zu errors pending)", f->nerrs);
	}
}

/* ---- queueing ------------------------------------------------------------------- */

/* What a file record asks for: its content's sha256 and size, and the
 * core metadata blob beside a wheel.  False when it has no content. */
struct fr_want {
	char *relpath;                   /* owned */
	uint8_t sha[SHA256_LEN];
	int64_t size;
	uint8_t cls;
};

struct fr_wants {
	struct fr_want *v;
	size_t n, cap;
};

static void wants_release(struct fr_wants *w)
{
	for (size_t i = 0; i < w->n; i++)
		xfree(w->v[i].relpath);
	xfree(w->v);
	memset(w, 0, sizeof *w);
}

static void wants_add(struct fr_wants *w, const char *relpath, const uint8_t sha[SHA256_LEN], int64_t size)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->v = xrealloc(w->v, w->cap * sizeof *w->v);
	}
	struct fr_want *x = &w->v[w->n++];
	x->relpath = xstrdup(relpath);
	memcpy(x->sha, sha, SHA256_LEN);
	x->size = size;
	x->cls = FR_PRIVATE;
}

static bool sha_of(const char *hex, uint8_t out[SHA256_LEN])
{
	return hex && strlen(hex) == SHA256_HEX_LEN && hex_decode(hex, SHA256_HEX_LEN, out, SHA256_LEN) == ERR_OK;
}

/* Adds what the record rec of relpath needs to w (a record with content:
 * hashes.sha256 and last_modified, not deleted). */
static void wants_from_record(struct fr_wants *w, const char *relpath, const cJSON *rec)
{
	uint8_t sha[SHA256_LEN];
	if (!cJSON_IsObject(rec) || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "deleted")) ||
	    !json_get_str(rec, "last_modified") || strlen(relpath) > 1000 || !*relpath)
		return;
	if (!sha_of(json_get_str(cJSON_GetObjectItemCaseSensitive(rec, "hashes"), "sha256"), sha))
		return;
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(rec, "size");
	int64_t size = cJSON_IsNumber(sz) && sz->valuedouble >= 0 && sz->valuedouble < 9e18 ? (int64_t)sz->valuedouble : -1;
	wants_add(w, relpath, sha, size);
	/* an uploaded wheel's PEP 658 metadata is a blob of its own */
	if (sha_of(json_get_str(rec, "core_metadata_sha256"), sha)) {
		char *meta = xasprintf("%s.metadata", relpath);
		wants_add(w, meta, sha, -1);
		xfree(meta);
	}
}

struct stage_cls {
	char stage[256];
	uint8_t cls;
	bool skip;
};

/* The class of relpath's stage and whether --file-replication-skip-indexes
 * excludes it, cached in cache[0..*n) (bounded; past it, looked up each
 * time). */
static uint8_t classify(struct filerepl *f, struct store_txn *t, const char *relpath, struct stage_cls *cache,
			size_t *n, size_t cap, bool *skip)
{
	const char *s1 = strchr(relpath, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	size_t sl = s2 ? (size_t)(s2 - relpath) : 0;
	struct stage_cls one;
	*skip = false;
	if (!sl || sl >= sizeof one.stage) {
		*skip = f->skip_all;
		return FR_GONE;
	}
	for (size_t i = 0; i < *n; i++) {
		if (strlen(cache[i].stage) == sl && memcmp(cache[i].stage, relpath, sl) == 0) {
			*skip = cache[i].skip;
			return cache[i].cls;
		}
	}
	memcpy(one.stage, relpath, sl);
	one.stage[sl] = '\0';
	char key[300];
	snprintf(key, sizeof key, "index/%s", one.stage);
	const char *v;
	size_t len;
	const char *type = NULL;
	cJSON *cfg = store_get(t, key, &v, &len) == ERR_OK ? cJSON_ParseWithLength(v, len) : NULL;
	if (!cfg)
		one.cls = FR_GONE;
	else {
		type = json_get_str(cfg, "type");
		one.cls = type && !strcmp(type, "mirror") ? FR_MIRROR : FR_PRIVATE;
	}
	one.skip = f->skip_all;
	for (size_t i = 0; i < f->nskip && !one.skip; i++)
		one.skip = !strcmp(f->skip[i], one.stage) || (type && !strcmp(f->skip[i], type));
	cJSON_Delete(cfg);
	if (*n < cap)
		cache[(*n)++] = one;
	*skip = one.skip;
	return one.cls;
}

/* Drops from w what the store has (or what is skipped) and classifies the
 * rest, in one short read transaction. */
static void wants_filter(struct filerepl *f, struct store_txn *t, struct fr_wants *w)
{
	struct stage_cls cache[16];
	size_t ncache = 0, keep = 0;
	for (size_t i = 0; i < w->n; i++) {
		struct fr_want *x = &w->v[i];
		struct store_blob b;
		bool skip;
		x->cls = classify(f, t, x->relpath, cache, &ncache, sizeof cache / sizeof cache[0], &skip);
		if (skip || store_blob_get(t, x->sha, &b) == ERR_OK) {
			xfree(x->relpath);
			continue;
		}
		w->v[keep++] = *x;
	}
	w->n = keep;
}

/* Queues relpath (not already known); false when the bound is reached. */
static bool add_locked(struct filerepl *f, const struct fr_want *x, int64_t serial)
{
	struct fr_item *it = table_find_locked(f, x->relpath);
	if (it) {
		if (it->state == FR_QUEUED && serial > it->serial) {
			it->serial = serial;
			heap_up(f, it->heap_idx);
		}
		return true;
	}
	if (x->cls == FR_MIRROR && !f->in_sync_seen)
		return true;            /* the scan after the first in_sync finds it */
	if (f->nitems >= FR_QUEUE_MAX) {
		if (!f->overflow)
			log_warn("file replication: more than %u files queued; '%s' and later ones are left for the "
				 "next scan", FR_QUEUE_MAX, x->relpath);
		f->overflow = true;
		return false;
	}
	size_t n = strlen(x->relpath);
	it = xcalloc(1, sizeof *it + n + 1);
	memcpy(it->relpath, x->relpath, n + 1);
	memcpy(it->sha, x->sha, SHA256_LEN);
	it->size = x->size;
	it->serial = serial;
	it->cls = x->cls;
	table_add_locked(f, it);
	heap_push_locked(f, it);
	return true;
}

/* Queues w (filtered); false when the bound was reached. */
static bool wants_queue(struct filerepl *f, const struct fr_wants *w, int64_t serial)
{
	bool ok = true;
	if (!w->n)
		return true;
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < w->n && ok && !atomic_load(&f->stop); i++)
		ok = add_locked(f, &w->v[i], serial);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return ok;
}

void filerepl_note_changes(struct filerepl *f, const cJSON *changes, int64_t serial)
{
	struct fr_wants w = { 0 };
	struct store_txn *t = NULL;
	bool gone = false;
	const cJSON *c;
	if (!f || !f->nthreads || !cJSON_IsObject(changes))
		return;
	cJSON_ArrayForEach(c, changes) {
		if (!c->string || strncmp(c->string, "file/", 5) != 0)
			continue;
		if (cJSON_IsNull(c) || (cJSON_IsObject(c) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "deleted"))))
			gone = true;
		else
			wants_from_record(&w, c->string + 5, c);
	}
	if (gone) {
		/* a deleted file needs no download any more */
		pthread_mutex_lock(&f->mu);
		cJSON_ArrayForEach(c, changes) {
			if (!c->string || strncmp(c->string, "file/", 5) != 0 ||
			    !(cJSON_IsNull(c) || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "deleted"))))
				continue;
			struct fr_item *it = table_find_locked(f, c->string + 5);
			if (it && it->state == FR_RUNNING)
				it->dropped = true;
			else if (it)
				item_free_locked(f, it);
		}
		check_idle_locked(f);
		pthread_mutex_unlock(&f->mu);
	}
	if (!w.n)
		goto out;
	if (store_read_begin(f->a->store, &t) != ERR_OK) {
		log_warn("file replication: cannot read the store for serial %" PRId64 "; left for the next scan", serial);
		pthread_mutex_lock(&f->mu);
		f->overflow = true;
		pthread_mutex_unlock(&f->mu);
		goto out;
	}
	wants_filter(f, t, &w);
	store_abort(t);
	wants_queue(f, &w, serial);
out:
	wants_release(&w);
}

void filerepl_in_sync(struct filerepl *f)
{
	if (!f || !f->nthreads)
		return;
	pthread_mutex_lock(&f->mu);
	if (!f->in_sync_seen) {
		f->in_sync_seen = true;
		f->scan_wanted = true;
	} else if (f->overflow && f->nitems < FR_QUEUE_MAX / 2 && !f->scanning && !f->scan_wanted) {
		f->overflow = false;
		f->scan_wanted = true;
		log_info("file replication: rescanning for files left out before");
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

void filerepl_rescan(struct filerepl *f)
{
	if (!f || !f->nthreads)
		return;
	pthread_mutex_lock(&f->mu);
	f->overflow = true;             /* the next in_sync scans every record again */
	pthread_mutex_unlock(&f->mu);
}

/* ---- the scan ------------------------------------------------------------------- */

struct scan {
	struct filerepl *f;
	char last[STORE_KEY_MAX + 1];    /* the last key seen; "" before the first */
	struct fr_wants w;
	size_t seen;                     /* keys of this batch */
	size_t queued;
	bool full;                       /* the queue bound was reached */
};

static int scan_key(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct scan *sc = arg;
	if (sc->seen == FR_SCAN_BATCH)
		return ERR_AGAIN;                /* the next batch resumes after last */
	sc->seen++;
	memcpy(sc->last, key, klen + 1);
	cJSON *rec = cJSON_ParseWithLength(val, vlen);
	wants_from_record(&sc->w, key + 5, rec);
	cJSON_Delete(rec);
	return ERR_OK;
}

/* Queues every stored file record whose blob is missing, FR_SCAN_BATCH
 * records per short read transaction. */
static void scan_all(struct filerepl *f)
{
	struct scan *sc = xcalloc(1, sizeof *sc);
	uint64_t t0 = time_mono_ms();
	int rc = ERR_AGAIN;
	sc->f = f;
	while (rc == ERR_AGAIN && !atomic_load(&f->stop) && !sc->full) {
		struct store_txn *t = NULL;
		sc->seen = 0;
		if ((rc = store_read_begin(f->a->store, &t)))
			break;
		rc = store_scan_after(t, "file/", *sc->last ? sc->last : NULL, scan_key, sc);
		if (rc == ERR_OK || rc == ERR_AGAIN)
			wants_filter(f, t, &sc->w);
		store_abort(t);
		if (rc == ERR_OK || rc == ERR_AGAIN) {
			sc->queued += sc->w.n;
			if (!wants_queue(f, &sc->w, -1))
				sc->full = true;
		}
		wants_release(&sc->w);
	}
	if (rc && rc != ERR_AGAIN)
		log_warn("file replication: scan of the file records failed: %s", err_str(rc));
	else
		log_info("file replication: scan queued %zu missing files in %" PRIu64 " ms%s", sc->queued,
			 time_mono_ms() - t0, sc->full ? " (queue full: the rest later)" : "");
	xfree(sc);
}

/* ---- one download ------------------------------------------------------------- */

struct fr_job {
	struct store_job job;
	struct fr_thread *th;            /* NULL: nobody waits (discard) */
	uint64_t blob_id;
	uint32_t idx;                    /* chunk: its index; finish: chunks in all */
	char *data;                      /* owned */
	size_t len;
	uint64_t size;
	uint8_t sha[SHA256_LEN];
};

static int chunk_run(struct store_txn *t, void *arg)
{
	struct fr_job *j = arg;
	return store_chunk_put(t, j->blob_id, j->idx, j->data, j->len);
}

static int finish_run(struct store_txn *t, void *arg)
{
	struct fr_job *j = arg;
	int rc = ERR_OK;
	uint32_t total = j->idx;
	if (j->len || total == 0) {
		rc = store_chunk_put(t, j->blob_id, total, j->data ? j->data : "", j->len);
		total++;
	}
	if (!rc)
		rc = store_blob_finish(t, j->blob_id, j->sha, j->size, total);
	return rc;
}

static int discard_run(struct store_txn *t, void *arg)
{
	struct fr_job *j = arg;
	return store_blob_discard(t, j->blob_id);
}

static void job_done(void *arg, int rc, int64_t serial)
{
	struct fr_job *j = arg;
	struct fr_thread *th = j->th;
	xfree(j->data);
	xfree(j);
	if (!th) {
		if (rc)
			log_warn("file replication: cannot discard chunks: %s", err_str(rc));
		return;
	}
	pthread_mutex_lock(&th->mu);
	th->inflight--;
	if (rc && !th->job_rc)
		th->job_rc = rc;
	pthread_cond_broadcast(&th->cv);
	pthread_mutex_unlock(&th->mu);
}

/* Hands j to the writer; with th, counts it in flight (waiting while
 * FR_INFLIGHT are). */
static void job_submit(struct filerepl *f, struct fr_thread *th, struct fr_job *j,
		       int (*run)(struct store_txn *, void *))
{
	j->job.run = run;
	j->job.done = job_done;
	j->job.arg = j;
	if (th) {
		pthread_mutex_lock(&th->mu);
		while (th->inflight >= FR_INFLIGHT)
			pthread_cond_wait(&th->cv, &th->mu);
		th->inflight++;
		pthread_mutex_unlock(&th->mu);
	}
	store_writer_submit(f->a->store, &j->job);
}

static int wait_jobs(struct fr_thread *th)
{
	pthread_mutex_lock(&th->mu);
	while (th->inflight > 0)
		pthread_cond_wait(&th->cv, &th->mu);
	int rc = th->job_rc;
	pthread_mutex_unlock(&th->mu);
	return rc;
}

static void flush_chunk(struct fr_thread *th)
{
	struct fr_job *j = xcalloc(1, sizeof *j);
	j->th = th;
	j->blob_id = th->blob_id;
	j->idx = th->nchunks++;
	j->data = th->chunk;
	j->len = th->chunk_len;
	th->chunk = NULL;
	th->chunk_len = 0;
	job_submit(th->f, th, j, chunk_run);
}

static size_t on_body(char *p, size_t sz, size_t nm, void *arg)
{
	struct fr_thread *th = arg;
	size_t n = sz * nm, total = n;
	if (!th->status)
		curl_easy_getinfo(th->curl, CURLINFO_RESPONSE_CODE, &th->status);
	if (th->status != 200) {
		th->errbody += n;
		return th->errbody > FR_ERRBODY_MAX ? 0 : n;
	}
	if (atomic_load(&th->f->stop))
		return 0;
	if (th->size + n > th->cap) {
		th->too_big = true;      /* more than the record says: cut off at once */
		return 0;
	}
	sha256_update(&th->sha, p, n);
	th->size += n;
	while (n) {
		if (!th->chunk)
			th->chunk = xmalloc(STORE_CHUNK_SIZE);
		size_t take = STORE_CHUNK_SIZE - th->chunk_len;
		if (take > n)
			take = n;
		memcpy(th->chunk + th->chunk_len, p, take);
		th->chunk_len += take;
		p += take;
		n -= take;
		if (th->chunk_len == STORE_CHUNK_SIZE)
			flush_chunk(th);
	}
	return total;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct filerepl *f = arg;
	return atomic_load(&f->stop) ? 1 : 0;
}

enum fr_outcome { FR_STORED, FR_DROP, FR_FAILED, FR_ABANDONED };

/* Downloads it (copied out of the table: relpath, sha, size, cls) and
 * stores its blob.  msg gets the error text of FR_FAILED. */
static enum fr_outcome fetch(struct fr_thread *th, const char *relpath, const uint8_t want[SHA256_LEN], int64_t size,
			     uint8_t cls, const char *url, char msg[FR_MSG_MAX])
{
	struct filerepl *f = th->f;
	struct app *a = f->a;
	struct curl_slist *hl = NULL;
	char auth[REPLAUTH_HDR_MAX], id[REPLAUTH_HDR_MAX];
	enum fr_outcome out = FR_FAILED;
	int t = a->cfg->request_timeout > 0 ? a->cfg->request_timeout : 5;
	int slow = a->cfg->proxy_timeout > 30 ? a->cfg->proxy_timeout : 30;

	replauth_headers(a->repl_key, a->uuid, time(NULL), auth, id);
	hl = curl_slist_append(hl, "X-DEVPI-REPLICA-FILEREPL: YES");
	hl = curl_slist_append(hl, auth);
	hl = curl_slist_append(hl, id);
	th->blob_id = store_blob_id_new(a->store);
	th->chunk = NULL;
	th->chunk_len = 0;
	th->nchunks = 0;
	th->size = 0;
	th->errbody = 0;
	th->status = 0;
	th->too_big = false;
	th->job_rc = 0;
	th->errbuf[0] = '\0';
	th->cap = size >= 0 ? (uint64_t)size
			    : (a->cfg->max_upload_size ? 4 * a->cfg->max_upload_size : FR_UNKNOWN_SIZE_MAX);
	sha256_init(&th->sha);

	CURL *c = th->curl;
	curl_easy_reset(c);              /* keeps the connection to the primary */
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "devpi-like/" DEVPI_LIKE_VERSION " (replica)");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, th->errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)t * 1000L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)slow);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, th);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
	CURLcode res = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	uint8_t got[SHA256_LEN];
	sha256_final(&th->sha, got);
	int jrc = wait_jobs(th);

	if (atomic_load(&f->stop)) {
		out = FR_ABANDONED;
	} else if (status == 200 && res == CURLE_OK && !jrc) {
		char gh[SHA256_HEX_LEN + 1], wh[SHA256_HEX_LEN + 1];
		hex_encode(got, SHA256_LEN, gh);
		hex_encode(want, SHA256_LEN, wh);
		if (size >= 0 && th->size != (uint64_t)size) {
			snprintf(msg, FR_MSG_MAX, "size mismatch: got %" PRIu64 " bytes, expected %" PRId64, th->size, size);
		} else if (!ct_equal(got, want, SHA256_LEN)) {
			snprintf(msg, FR_MSG_MAX, "sha256 mismatch: got %s, expected %s", gh, wh);
		} else {
			struct fr_job *j = xcalloc(1, sizeof *j);
			j->th = th;
			j->blob_id = th->blob_id;
			j->idx = th->nchunks;
			j->data = th->chunk;
			j->len = th->chunk_len;
			j->size = th->size;
			memcpy(j->sha, got, SHA256_LEN);
			th->chunk = NULL;
			th->chunk_len = 0;
			job_submit(f, th, j, finish_run);
			jrc = wait_jobs(th);
			if (!jrc)
				out = FR_STORED;
			else
				snprintf(msg, FR_MSG_MAX, "cannot store the file: %s", err_str(jrc));
		}
	} else if (status == 200 && th->too_big) {
		snprintf(msg, FR_MSG_MAX, "body longer than the %" PRIu64 " bytes expected", th->cap);
	} else if (status == 200 && jrc) {
		snprintf(msg, FR_MSG_MAX, "cannot store the file: %s", err_str(jrc));
	} else if (status == 410 || status == 302 || (cls != FR_PRIVATE && (status == 404 || status == 502))) {
		out = FR_DROP;
	} else if (status && status != 200) {
		snprintf(msg, FR_MSG_MAX, "primary answered %ld", status);
	} else {
		snprintf(msg, FR_MSG_MAX, "%s", th->errbuf[0] ? th->errbuf : curl_easy_strerror(res));
	}
	xfree(th->chunk);
	th->chunk = NULL;
	if (out != FR_STORED && th->nchunks) {
		struct fr_job *j = xcalloc(1, sizeof *j);
		j->blob_id = th->blob_id;
		job_submit(f, NULL, j, discard_run);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	return out;
}

/* ---- the threads ---------------------------------------------------------------- */

static bool blob_stored(struct filerepl *f, const uint8_t sha[SHA256_LEN])
{
	struct store_txn *t = NULL;
	struct store_blob b;
	bool yes = false;
	if (store_read_begin(f->a->store, &t) == ERR_OK) {
		yes = store_blob_get(t, sha, &b) == ERR_OK;
		store_abort(t);
	}
	return yes;
}

/* Records how the download of it went (it is RUNNING). */
static void settle_locked(struct filerepl *f, struct fr_item *it, enum fr_outcome out, const char *url, const char *msg)
{
	f->nrunning--;
	if (out == FR_FAILED && !it->dropped) {
		it->attempts++;
		if (!err_set_locked(f, it, url, msg)) {
			if (!f->overflow)
				log_warn("file replication: more than %u files failing; '%s' is left for the next scan",
					 FR_ERRORS_MAX, it->relpath);
			f->overflow = true;
		} else {
			uint64_t delay = retry_delay_ms(it->attempts);
			log_warn("file replication of '%s' failed: %s (retry in %" PRIu64 " s)", it->relpath, msg,
				 delay / 1000);
			it->state = FR_WAITING;
			it->due_ms = time_mono_ms() + delay;
			if (it->due_ms < f->next_due_ms)
				f->next_due_ms = it->due_ms;
			return;
		}
	}
	if (out == FR_STORED)
		log_info("file replication: stored '%s'", it->relpath);
	else if (out == FR_DROP)
		log_info("file replication: '%s' is not to be had from the primary; dropped", it->relpath);
	it->state = FR_WAITING;              /* not in the heap: item_free_locked leaves the heap alone */
	item_free_locked(f, it);
}

static void wait_work_locked(struct filerepl *f)
{
	if (f->next_due_ms == UINT64_MAX) {
		pthread_cond_wait(&f->cv, &f->mu);
		return;
	}
	uint64_t now = time_mono_ms();
	if (f->next_due_ms <= now)
		return;
	uint64_t ms = f->next_due_ms - now;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&f->cv, &f->mu, &ts);
}

static void *thread_main(void *arg)
{
	struct fr_thread *th = arg;
	struct filerepl *f = th->f;
	char msg[FR_MSG_MAX];
	pthread_mutex_lock(&f->mu);
	while (!atomic_load(&f->stop)) {
		if (f->scan_wanted && !f->scanning) {
			f->scan_wanted = false;
			f->scanning = true;
			pthread_mutex_unlock(&f->mu);
			scan_all(f);
			pthread_mutex_lock(&f->mu);
			f->scanning = false;
			f->init_scan_done = true;
			check_idle_locked(f);
			continue;
		}
		requeue_due_locked(f, time_mono_ms());
		struct fr_item *it = heap_pop_locked(f);
		if (!it) {
			wait_work_locked(f);
			continue;
		}
		it->state = FR_RUNNING;
		f->nrunning++;
		char *relpath = xstrdup(it->relpath);
		uint8_t sha[SHA256_LEN];
		memcpy(sha, it->sha, SHA256_LEN);
		int64_t size = it->size;
		uint8_t cls = it->cls;
		pthread_mutex_unlock(&f->mu);

		/* an on-demand download may have stored it meanwhile */
		enum fr_outcome out = FR_STORED;
		char *url = filerepl_url(f->a, relpath);
		msg[0] = '\0';
		if (!blob_stored(f, sha))
			out = fetch(th, relpath, sha, size, cls, url, msg);

		pthread_mutex_lock(&f->mu);
		if (out == FR_ABANDONED) {
			f->nrunning--;
			it->state = FR_WAITING;
			item_free_locked(f, it);
		} else {
			settle_locked(f, it, out, url, msg);
		}
		check_idle_locked(f);
		xfree(relpath);
		xfree(url);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---- start, stop, status --------------------------------------------------------- */

static void parse_skip(struct filerepl *f, const char *spec)
{
	const char *s = spec;
	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		const char *p = s;
		s = e ? e + 1 : NULL;
		while (n && *p == ' ') {
			p++;
			n--;
		}
		while (n && p[n - 1] == ' ')
			n--;
		if (!n)
			continue;
		if (n == 3 && !memcmp(p, "all", 3)) {
			f->skip_all = true;
			continue;
		}
		f->skip = xrealloc(f->skip, (f->nskip + 1) * sizeof *f->skip);
		f->skip[f->nskip++] = xstrndup(p, n);
	}
}

int filerepl_start(struct app *a, struct filerepl **out)
{
	struct filerepl *f = xcalloc(1, sizeof *f);
	pthread_condattr_t ca;
	int rc = ERR_OK;
	f->a = a;
	atomic_init(&f->stop, false);
	f->next_due_ms = UINT64_MAX;
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	int n = a->cfg->file_replication_threads;
	if (n < 0)
		n = 0;
	if (n > 64)
		n = 64;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("file replication: curl_global_init failed");
		pthread_mutex_destroy(&f->mu);
		pthread_cond_destroy(&f->cv);
		xfree(f);
		return ERR_UPSTREAM;
	}
	parse_skip(f, a->cfg->file_replication_skip_indexes);
	f->th = n ? xcalloc((size_t)n, sizeof *f->th) : NULL;
	for (int i = 0; i < n; i++) {
		struct fr_thread *th = &f->th[i];
		th->f = f;
		pthread_mutex_init(&th->mu, NULL);
		pthread_cond_init(&th->cv, NULL);
		th->curl = curl_easy_init();
		f->nthreads = i + 1;
		if (!th->curl) {
			rc = ERR_NOMEM;
			break;
		}
		if (pthread_create(&th->tid, NULL, thread_main, th) != 0) {
			rc = ERR_NOMEM;
			break;
		}
		th->started = true;
	}
	if (rc) {
		log_err("file replication: cannot start %d threads", n);
		filerepl_stop(f);
		return rc;
	}
	log_info("file replication: %d threads from %s%s", n, a->primary_url,
		 f->skip_all ? " (background downloads skipped: all)" : "");
	*out = f;
	return ERR_OK;
}

void filerepl_stop(struct filerepl *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	atomic_store(&f->stop, true);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	for (int i = 0; i < f->nthreads; i++) {
		struct fr_thread *th = &f->th[i];
		if (th->started)
			pthread_join(th->tid, NULL);
		if (th->curl)
			curl_easy_cleanup(th->curl);
		pthread_mutex_destroy(&th->mu);
		pthread_cond_destroy(&th->cv);
	}
	for (size_t i = 0; i < f->nbuckets; i++) {
		struct fr_item *it = f->buckets[i], *next;
		for (; it; it = next) {
			next = it->hnext;
			if (it->err) {
				xfree(it->err->url);
				xfree(it->err->message);
				xfree(it->err);
			}
			xfree(it);
		}
	}
	for (size_t i = 0; i < f->nskip; i++)
		xfree(f->skip[i]);
	xfree(f->skip);
	xfree(f->buckets);
	xfree(f->heap);
	xfree(f->errs);
	xfree(f->th);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	xfree(f);
	curl_global_cleanup();
}

static void add_time(cJSON *o, const char *name, double t)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, name);
	if (t > 0)
		cJSON_AddNumberToObject(o, name, t);
	else
		cJSON_AddNullToObject(o, name);
}

void filerepl_status(struct filerepl *f, cJSON *result)
{
	if (!result)
		return;
	cJSON *errs = cJSON_GetObjectItemCaseSensitive(result, "replication-errors");
	if (!cJSON_IsObject(errs)) {
		cJSON_DeleteItemFromObjectCaseSensitive(result, "replication-errors");
		errs = cJSON_AddObjectToObject(result, "replication-errors");
	}
	if (!f) {
		add_time(result, "replica-files-in-sync-at", 0);
		add_time(result, "replica-init-queue-finished-at", 0);
		return;
	}
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->nerrs; i++) {
		const struct fr_item *it = f->errs[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "url", it->err->url);
		cJSON_AddStringToObject(e, "message", it->err->message);
		cJSON_AddStringToObject(e, "relpath", it->relpath);
		cJSON_DeleteItemFromObjectCaseSensitive(errs, it->relpath);
		cJSON_AddItemToObject(errs, it->relpath, e);
	}
	double in_sync = f->files_in_sync_at, init = f->init_queue_finished_at;
	pthread_mutex_unlock(&f->mu);
	add_time(result, "replica-files-in-sync-at", in_sync);
	add_time(result, "replica-init-queue-finished-at", init);
}

char *filerepl_url(const struct app *a, const char *relpath)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, a->primary_url);
	const char *s = relpath;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char *seg = xstrndup(s, n);
		buf_addc(&b, '/');
		web_add_url_segment(&b, seg);
		xfree(seg);
		s += n;
		if (*s == '/')
			s++;
	}
	size_t len;
	return buf_detach(&b, &len);
}
