/* replica.c — the replica's changelog loop (see replica.h).
 *
 * One thread.  Each round it asks the primary for GET /+changelog/<next>-,
 * where next is one past the local store's serial, signed with the shared
 * secret (replauth.h), and reads the NDJSON stream with blocking libcurl.
 * Every complete line is parsed here (bounded: REPL_LINE_MAX), its serial
 * checked against the one expected next, and handed to the writer thread as
 * one job that applies it in its own nested transaction
 * (store_apply_entry, which checks the serial once more against the store
 * itself).  Up to REPL_INFLIGHT jobs / REPL_INFLIGHT_BYTES are queued
 * at once; past that the curl callback waits, which stops reading the socket
 * (back-pressure on the primary instead of memory here).  A job's done()
 * runs on the writer thread: it advances the served serial at once (reads
 * on this replica see the entry as soon as it is durable) and moves the job
 * to a completed list that this thread drains — handing file keys to file
 * replication and freeing the entry — so the writer never waits on us.
 *
 * A stream ends when the primary closes it (at most 300 s), when a line is
 * bad or an apply fails, or when the connection breaks; the thread then
 * waits for its jobs, and starts the next round at the store's next serial
 * (after 1 s doubling to 30 s if the round failed).  A 410 means the
 * primary trimmed the entries this replica needs: the round becomes a full
 * sync from GET /+snapshot, saved to a temporary file first (so its size is
 * bounded by the disk, not by memory, and a cut transfer is noticed before
 * anything changes) and applied in one transaction.
 *
 * The primary's uuid is remembered (meta "primary_uuid") from the first
 * contact; a different one later stops the replica for good.
 */
#include "proxy/replica.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "config/config.h"
#include "proxy/app.h"
#include "proxy/filerepl.h"
#include "proxy/model.h"
#include "proxy/replauth.h"
#include "proxy/replentry.h"
#include "proxy/upstream.h"
#include "store/store.h"

#define REPL_LINE_MAX (64u << 20)          /* one changelog entry or snapshot record */
#define REPL_INFLIGHT 256                  /* entries queued to the writer */
#define REPL_INFLIGHT_BYTES (32u << 20)
#define REPL_BACKOFF_MAX_S 30
#define REPL_IDLE_S 45                     /* no byte (heartbeats come every 15 s): the primary is gone */
#define REPL_ERRMSG 300

struct rjob {
	struct store_job job;
	struct replica *r;
	char *line;                  /* the entry text, owned */
	size_t len;
	struct replentry entry;      /* parsed, owned (file keys for file replication) */
	int64_t serial;
	int rc;                      /* the apply's result */
	struct rjob *next;           /* completed list */
};

struct replica {
	struct app *a;
	void (*stop_server)(int rc);
	pthread_t thr;
	bool thr_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;               /* under mu; also read by curl callbacks */

	/* the writer pipeline (under mu) */
	int inflight;
	size_t inflight_bytes;
	struct rjob *done_head, **done_tail;
	int apply_rc;                /* first failed apply of this round */

	/* one round's stream (the loop thread only) */
	struct buf line;
	int64_t expect;              /* serial the next line must carry */

	/* status (under mu) */
	char primary_uuid[65];       /* "" before first contact */
	int64_t primary_serial;      /* highest serial the primary reported, -1 unknown */
	double primary_serial_ts;    /* its commit time, 0 unknown */
	int64_t applied;             /* highest applied serial */
	double applied_ts;           /* the primary's commit time of that entry */
	double contacted_at, update_at, started_at, in_sync_at;
	char error[REPL_ERRMSG];     /* the last round's failure, "" when fine */
	double error_at;
	bool fatal;
};

static double now_s(void)
{
	return time_now();
}

static void set_error(struct replica *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct replica *r, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&r->mu);
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof r->error, fmt, ap);
	va_end(ap);
	r->error_at = now_s();
	pthread_mutex_unlock(&r->mu);
	log_warn("replica: %s", r->error);
}

static bool stopping(struct replica *r)
{
	pthread_mutex_lock(&r->mu);
	bool s = r->stopping;
	pthread_mutex_unlock(&r->mu);
	return s;
}

/* ---- writer jobs ------------------------------------------------------- */

static int apply_run(struct store_txn *t, void *arg)
{
	struct rjob *j = arg;
	int64_t serial;
	return store_apply_entry(t, j->line, j->len, &serial);
}

static void apply_done(void *arg, int rc, int64_t serial)
{
	struct rjob *j = arg;
	struct replica *r = j->r;
	if (!rc)
		app_note_serial(r->a, j->serial);
	j->rc = rc;
	pthread_mutex_lock(&r->mu);
	if (rc && !r->apply_rc)
		r->apply_rc = rc;
	if (!rc && j->serial > r->applied) {
		r->applied = j->serial;
		r->applied_ts = j->entry.time;
		r->update_at = now_s();
		if (r->applied >= r->primary_serial)
			r->in_sync_at = r->update_at;
	}
	r->inflight--;
	r->inflight_bytes -= j->len;
	*r->done_tail = j;
	r->done_tail = &j->next;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Takes the completed jobs (under mu) and finishes them here: file keys
 * to file replication, memory freed. */
static void drain_done(struct replica *r)
{
	pthread_mutex_lock(&r->mu);
	struct rjob *j = r->done_head;
	r->done_head = NULL;
	r->done_tail = &r->done_head;
	bool in_sync = r->in_sync_at > 0 && r->applied >= r->primary_serial;
	pthread_mutex_unlock(&r->mu);
	while (j) {
		struct rjob *next = j->next;
		if (r->a->frepl && j->rc == ERR_OK)
			filerepl_note_changes(r->a->frepl, j->entry.changes, j->serial);
		replentry_release(&j->entry);
		xfree(j->line);
		xfree(j);
		j = next;
	}
	if (in_sync && r->a->frepl)
		filerepl_in_sync(r->a->frepl);
}

/* Waits until every job of this round is done. */
static void wait_jobs(struct replica *r)
{
	pthread_mutex_lock(&r->mu);
	while (r->inflight > 0)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	drain_done(r);
}

/* A writer job this thread waits for (blocking is fine here: never an
 * event loop). */
struct wait_job {
	struct store_job job;
	int (*run)(struct store_txn *t, void *arg);
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
};

static int wait_run(struct store_txn *t, void *arg)
{
	struct wait_job *w = arg;
	return w->run(t, w->arg);
}

static void wait_done(void *arg, int rc, int64_t serial)
{
	struct wait_job *w = arg;
	pthread_mutex_lock(&w->mu);
	w->rc = rc;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Runs run(t, arg) as a writer job; its result once durable. */
static int run_and_wait(struct store *st, int (*run)(struct store_txn *t, void *arg), void *arg)
{
	struct wait_job w = { .run = run, .arg = arg };
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	w.job.run = wait_run;
	w.job.done = wait_done;
	w.job.arg = &w;
	store_writer_submit(st, &w.job);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return w.rc;
}

struct meta_put {
	const char *name;
	const void *val;
	size_t len;
};

static int meta_run(struct store_txn *t, void *arg)
{
	struct meta_put *m = arg;
	return store_meta_put(t, m->name, m->val, m->len);
}

/* ---- the primary's identity -------------------------------------------- */

/* Checks the uuid a response of the primary carried against the one this
 * replica follows (remembering it at first contact).  ERR_CONFLICT: a
 * different primary — fatal. */
static int check_primary(struct replica *r, const char *uuid)
{
	if (!*uuid) {
		set_error(r, "the primary at %s sent no X-DEVPI-UUID", r->a->primary_url);
		return ERR_UPSTREAM;
	}
	pthread_mutex_lock(&r->mu);
	char known[65];
	snprintf(known, sizeof known, "%s", r->primary_uuid);
	r->contacted_at = now_s();
	pthread_mutex_unlock(&r->mu);
	if (*known && strcmp(known, uuid) != 0) {
		pthread_mutex_lock(&r->mu);
		r->fatal = true;
		pthread_mutex_unlock(&r->mu);
		set_error(r, "the primary at %s has uuid %s, but this replica follows the primary with uuid %s: "
			  "stopping (a replica cannot mix two primaries' data; start a new replica with an empty "
			  "serverdir to follow this one)", r->a->primary_url, uuid, known);
		return ERR_CONFLICT;
	}
	if (!*known) {
		struct meta_put m = { "primary_uuid", uuid, strlen(uuid) };
		int rc = run_and_wait(r->a->store, meta_run, &m);
		if (rc) {
			set_error(r, "cannot record the primary's uuid: %s", err_str(rc));
			return rc;
		}
		pthread_mutex_lock(&r->mu);
		snprintf(r->primary_uuid, sizeof r->primary_uuid, "%s", uuid);
		pthread_mutex_unlock(&r->mu);
		log_info("replica: following primary %s (uuid %s)", r->a->primary_url, uuid);
	}
	return ERR_OK;
}

/* ---- one HTTP exchange with the primary -------------------------------- */

struct xfer {
	struct replica *r;
	CURL *c;
	long status;
	bool head_checked;
	int rc;                      /* why a callback cut the transfer */
	struct buf errbody;          /* a non-200 body, for the message */
	size_t (*sink)(struct xfer *x, const char *p, size_t n);  /* 200 body bytes */
	int fd;                      /* snapshot: the temporary file */
	uint64_t bytes;              /* snapshot: written to it so far */
	char hdr_uuid[65];           /* the response's X-DEVPI-UUID */
	int64_t hdr_serial;          /* its X-DEVPI-SERIAL, -1 if none */
};

/* The primary says its serial is serial (a response header, or a
 * heartbeat after the last entry): with nothing left to apply, this
 * replica is in sync as of now. */
static void note_primary_serial(struct replica *r, int64_t serial)
{
	pthread_mutex_lock(&r->mu);
	if (serial > r->primary_serial)
		r->primary_serial = serial;
	r->contacted_at = now_s();
	if (r->inflight == 0 && r->applied >= r->primary_serial)
		r->in_sync_at = r->contacted_at;
	pthread_mutex_unlock(&r->mu);
}

/* The value of header line (p, n) if it is name's, trimmed; NULL if not. */
static const char *header_value(const char *p, size_t n, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	if (n <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return NULL;
	const char *v = p + nl + 1, *e = p + n;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*vlen = (size_t)(e - v);
	return v;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *arg)
{
	struct xfer *x = arg;
	size_t n = sz * nm, vl;
	const char *v;
	long long serial;
	if ((n == 2 && p[0] == '\r') || (n == 1 && p[0] == '\n')) {
		long status = 0;
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200 && x->hdr_serial >= 0)
			note_primary_serial(x->r, x->hdr_serial);
	} else if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		x->hdr_uuid[0] = '\0';     /* a new response (after a 1xx) */
		x->hdr_serial = -1;
	} else if ((v = header_value(p, n, "X-DEVPI-UUID", &vl))) {
		snprintf(x->hdr_uuid, sizeof x->hdr_uuid, "%.*s", (int)(vl < 64 ? vl : 64), v);
	} else if ((v = header_value(p, n, "X-DEVPI-SERIAL", &vl)) && upstream_header_num(v, vl, &serial) == ERR_OK) {
		x->hdr_serial = serial;
	}
	return n;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *arg)
{
	struct xfer *x = arg;
	size_t n = sz * nm;
	if (!x->head_checked) {
		x->head_checked = true;
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->status);
		if (x->status == 200) {
			int rc = check_primary(x->r, x->hdr_uuid);
			if (rc) {
				x->rc = rc;
				return 0;
			}
		}
	}
	if (x->status != 200) {
		buf_add(&x->errbody, p, n < 512 ? n : 512);     /* bounded by errbody.max */
		return n;
	}
	return x->sink(x, p, n);
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = arg;
	drain_done(x->r);
	return stopping(x->r) ? 1 : 0;
}

/* Runs a GET of path on the primary with the replica's signature; the 200
 * body goes to x->sink.  ERR_OK when the transfer completed (any status:
 * see x->status), else why not. */
static int primary_get(struct replica *r, struct xfer *x, const char *path, bool stream)
{
	struct app *a = r->a;
	struct curl_slist *hl = NULL;
	char url[700], auth[REPLAUTH_HDR_MAX], id[REPLAUTH_HDR_MAX], exp[120], outside[600];
	int rc = ERR_OK;

	x->r = r;
	x->status = 0;
	x->hdr_uuid[0] = '\0';
	x->hdr_serial = -1;
	x->head_checked = false;
	x->rc = ERR_OK;
	buf_init(&x->errbody, 1024);
	x->c = curl_easy_init();
	if (!x->c)
		return ERR_NOMEM;
	snprintf(url, sizeof url, "%s%s", a->primary_url, path);
	replauth_headers(a->repl_key, a->uuid, (int64_t)time(NULL), auth, id);
	pthread_mutex_lock(&r->mu);
	snprintf(exp, sizeof exp, "X-DEVPI-EXPECTED-PRIMARY-ID: %s", r->primary_uuid);
	pthread_mutex_unlock(&r->mu);
	hl = curl_slist_append(hl, auth);
	hl = curl_slist_append(hl, id);
	hl = curl_slist_append(hl, exp);
	if (a->cfg->outside_url) {
		snprintf(outside, sizeof outside, "X-DEVPI-REPLICA-OUTSIDE-URL: %.500s", a->cfg->outside_url);
		hl = curl_slist_append(hl, outside);
	}
	long t = a->cfg->request_timeout > 0 ? a->cfg->request_timeout : 5;
	curl_easy_setopt(x->c, CURLOPT_URL, url);
	curl_easy_setopt(x->c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(x->c, CURLOPT_USERAGENT, "devpi-like-replica/" DEVPI_LIKE_VERSION);
	curl_easy_setopt(x->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->c, CURLOPT_CONNECTTIMEOUT, t);
	curl_easy_setopt(x->c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(x->c, CURLOPT_LOW_SPEED_TIME, stream ? (long)REPL_IDLE_S : 4 * t + 30);
	curl_easy_setopt(x->c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(x->c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(x->c, CURLOPT_NOPROGRESS, 0L);
	CURLcode cc = curl_easy_perform(x->c);
	if (!x->head_checked)
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->rc)
		rc = x->rc;
	else if (cc != CURLE_OK)
		rc = cc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT : ERR_UPSTREAM;
	if (rc && rc != ERR_CONFLICT && !stopping(r) && !x->rc)
		set_error(r, "GET %s: %s", url, curl_easy_strerror(cc));
	curl_easy_cleanup(x->c);
	x->c = NULL;
	curl_slist_free_all(hl);
	return rc;
}

/* A non-200 answer as a status message (and ERR_CONFLICT for a primary
 * that says it is not the one this replica expects). */
static int bad_status(struct replica *r, struct xfer *x, const char *what)
{
	int len = (int)(x->errbody.len < 200 ? x->errbody.len : 200);
	for (int i = 0; i < len; i++)
		if ((unsigned char)x->errbody.p[i] < 0x20)
			x->errbody.p[i] = ' ';
	set_error(r, "%s: the primary at %s answered %ld: %.*s", what, r->a->primary_url, x->status, len,
		  x->errbody.p ? x->errbody.p : "");
	if (x->status == 409) {             /* the primary is not the one this replica follows */
		pthread_mutex_lock(&r->mu);
		r->fatal = true;
		pthread_mutex_unlock(&r->mu);
		return ERR_CONFLICT;
	}
	return x->status == 410 ? ERR_GONE : ERR_UPSTREAM;
}

/* ---- the changelog stream ---------------------------------------------- */

/* An index config with acl_read is about to be applied: reads are checked
 * per caller from now on (app.h), before the record is visible. */
static void note_acl_read(struct app *a, const cJSON *changes)
{
	for (const cJSON *c = changes ? changes->child : NULL; c; c = c->next)
		if (c->string && strncmp(c->string, "index/", 6) == 0 &&
		    cJSON_GetObjectItemCaseSensitive(c, "acl_read"))
			atomic_store(&a->acl_read_used, true);
}

/* One complete line of the stream. */
static int stream_line(struct replica *r, char *p, size_t n)
{
	struct replentry e;
	int rc = replentry_parse(p, n, STORE_KEY_MAX, &e);
	if (rc) {
		set_error(r, "malformed changelog line (%zu bytes) after serial %" PRId64, n, r->expect - 1);
		return rc;
	}
	if (e.kind == REPLENTRY_HEARTBEAT) {
		note_primary_serial(r, -1);
		drain_done(r);
		goto out;
	}
	if (e.serial != r->expect) {
		set_error(r, "changelog stream sent serial %" PRId64 " where %" PRId64 " was due", e.serial, r->expect);
		rc = ERR_CONFLICT;
		goto out;
	}
	note_acl_read(r->a, e.changes);
	struct rjob *j = xcalloc(1, sizeof *j);
	j->r = r;
	j->line = xstrndup(p, n);
	j->len = n;
	j->entry = e;
	memset(&e, 0, sizeof e);
	j->serial = r->expect++;
	j->job.run = apply_run;
	j->job.done = apply_done;
	j->job.arg = j;
	pthread_mutex_lock(&r->mu);
	while (!r->stopping && !r->apply_rc &&
	       (r->inflight >= REPL_INFLIGHT || r->inflight_bytes + n > REPL_INFLIGHT_BYTES) && r->inflight > 0)
		pthread_cond_wait(&r->cv, &r->mu);
	rc = r->stopping ? ERR_GONE : r->apply_rc;
	if (!rc) {
		r->inflight++;
		r->inflight_bytes += n;
		if (j->serial > r->primary_serial) {
			r->primary_serial = j->serial;
			r->primary_serial_ts = j->entry.time;
		}
		r->contacted_at = now_s();
	}
	pthread_mutex_unlock(&r->mu);
	if (rc) {
		replentry_release(&j->entry);
		xfree(j->line);
		xfree(j);
		goto out;
	}
	store_writer_submit(r->a->store, &j->job);
	drain_done(r);
out:
	replentry_release(&e);
	return rc;
}

static size_t stream_sink(struct xfer *x, const char *p, size_t n)
{
	struct replica *r = x->r;
	size_t off = 0;
	while (off < n) {
		const char *nl = memchr(p + off, '\n', n - off);
		size_t take = nl ? (size_t)(nl - (p + off)) : n - off;
		if (buf_add(&r->line, p + off, take) != ERR_OK) {
			set_error(r, "changelog line over %u bytes after serial %" PRId64, REPL_LINE_MAX, r->expect - 1);
			x->rc = ERR_TOOBIG;
			return 0;
		}
		off += take;
		if (!nl)
			break;
		off++;
		if (r->line.len) {
			int rc = stream_line(r, r->line.p, r->line.len);
			buf_reset(&r->line);
			if (rc) {
				x->rc = rc;
				return 0;
			}
		}
	}
	return n;
}

/* One round of the changelog stream from the store's next serial. */
static int follow(struct replica *r)
{
	struct xfer x = { .sink = stream_sink, .fd = -1 };
	char path[64];
	int64_t next = store_serial(r->a->store) + 1;
	r->expect = next;
	buf_reset(&r->line);
	pthread_mutex_lock(&r->mu);
	r->apply_rc = ERR_OK;
	pthread_mutex_unlock(&r->mu);
	snprintf(path, sizeof path, "/+changelog/%" PRId64 "-", next);
	log_info("replica: following the changelog of %s from serial %" PRId64, r->a->primary_url, next);
	int rc = primary_get(r, &x, path, true);
	wait_jobs(r);
	pthread_mutex_lock(&r->mu);
	int arc = r->apply_rc;
	pthread_mutex_unlock(&r->mu);
	if (arc) {
		set_error(r, "applying serial %" PRId64 " failed: %s", store_serial(r->a->store) + 1, err_str(arc));
		rc = arc;
	} else if (!rc && x.status != 200) {
		rc = bad_status(r, &x, "changelog");
	}
	buf_release(&x.errbody);
	return rc;
}

/* ---- full sync from /+snapshot ----------------------------------------- */

static size_t file_sink(struct xfer *x, const char *p, size_t n)
{
	size_t off = 0;
	uint64_t cap = x->r->a->cfg->map_size ? x->r->a->cfg->map_size : STORE_MAP_SIZE_DEFAULT;
	x->bytes += n;
	if (x->bytes > cap) {                /* more than this store could ever hold */
		set_error(x->r, "the snapshot is larger than --map-size (%llu bytes)", (unsigned long long)cap);
		x->rc = ERR_TOOBIG;
		return 0;
	}
	while (off < n) {
		ssize_t w = write(x->fd, p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			set_error(x->r, "cannot write the snapshot file: %s", strerror(errno));
			x->rc = ERR_IO;
			return 0;
		}
		off += (size_t)w;
	}
	return n;
}

struct snap_job {
	const char *path;
	int64_t serial;
	char why[200];
};

/* Reads the next line of f into b (without the newline); 0 at EOF. */
static int read_line(FILE *f, struct buf *b, int *rc)
{
	int c;
	buf_reset(b);
	while ((c = getc(f)) != EOF && c != '\n') {
		if (buf_addc(b, (char)c) != ERR_OK) {
			*rc = ERR_TOOBIG;
			return 0;
		}
	}
	return c != EOF || b->len > 0;
}

static int snap_run(struct store_txn *t, void *arg)
{
	struct snap_job *s = arg;
	struct buf line, val;
	struct replentry e = { 0 };
	uint64_t count = 0;
	bool ended = false;
	int rc = ERR_OK;
	FILE *f = fopen(s->path, "rb");
	buf_init(&line, REPL_LINE_MAX);
	buf_init(&val, REPL_LINE_MAX);
	if (!f) {
		rc = ERR_IO;
		goto out;
	}
	if (!read_line(f, &line, &rc) || replentry_parse_snapshot(line.p, line.len, STORE_KEY_MAX, &e) ||
	    e.kind != REPLENTRY_SNAP_HEAD) {
		snprintf(s->why, sizeof s->why, "the snapshot does not start with its serial");
		rc = rc ? rc : ERR_PARSE;
		goto out;
	}
	s->serial = e.serial;
	replentry_release(&e);
	if (s->serial < store_txn_serial(t)) {
		snprintf(s->why, sizeof s->why, "the snapshot's serial %" PRId64 " is older than this replica's",
			 s->serial);
		rc = ERR_CONFLICT;
		goto out;
	}
	if ((rc = store_snapshot_begin(t)))
		goto out;
	while (!ended && read_line(f, &line, &rc)) {
		if (replentry_parse_snapshot(line.p, line.len, STORE_KEY_MAX, &e) || e.kind == REPLENTRY_SNAP_HEAD) {
			snprintf(s->why, sizeof s->why, "malformed snapshot line after %" PRIu64 " records", count);
			rc = ERR_PARSE;
		} else if (e.kind == REPLENTRY_SNAP_END) {
			ended = true;
			if (e.count != count) {
				snprintf(s->why, sizeof s->why, "the snapshot's count does not match its records");
				rc = ERR_PARSE;
			}
		} else {
			buf_reset(&val);
			rc = json_print_compact(e.value, &val);
			if (!rc)
				rc = store_snapshot_put(t, e.key, val.p, val.len);
			count++;
		}
		replentry_release(&e);
		if (rc)
			goto out;
	}
	if (!rc && !ended) {
		snprintf(s->why, sizeof s->why, "the snapshot is incomplete (no end line)");
		rc = ERR_PARSE;
	}
	if (!rc)
		rc = store_snapshot_end(t, s->serial);
out:
	replentry_release(&e);
	if (f)
		fclose(f);
	buf_release(&line);
	buf_release(&val);
	return rc;
}

static int snapshot(struct replica *r)
{
	struct xfer x = { .sink = file_sink, .fd = -1 };
	char path[4200];
	struct snap_job s = { .path = path };
	int rc;
	snprintf(path, sizeof path, "%s/replica-snapshot.tmp", store_dir(r->a->store));
	x.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (x.fd < 0) {
		set_error(r, "cannot create '%s': %s", path, strerror(errno));
		return ERR_IO;
	}
	log_info("replica: the primary trimmed its changelog below serial %" PRId64 ": full sync from /+snapshot",
		 store_serial(r->a->store) + 1);
	rc = primary_get(r, &x, "/+snapshot", false);
	if (close(x.fd) != 0 && !rc)
		rc = ERR_IO;
	if (!rc && x.status != 200)
		rc = bad_status(r, &x, "snapshot");
	buf_release(&x.errbody);
	if (rc)
		goto out;
	rc = run_and_wait(r->a->store, snap_run, &s);
	if (rc) {
		set_error(r, "cannot load the snapshot: %s%s%s", err_str(rc), *s.why ? ": " : "", s.why);
		goto out;
	}
	if (model_any_acl_read(r->a->store))
		atomic_store(&r->a->acl_read_used, true);
	filerepl_rescan(r->a->frepl);
	app_note_serial(r->a, s.serial);
	pthread_mutex_lock(&r->mu);
	r->applied = s.serial;
	r->update_at = now_s();
	if (s.serial > r->primary_serial)
		r->primary_serial = s.serial;
	pthread_mutex_unlock(&r->mu);
	log_info("replica: loaded the primary's snapshot at serial %" PRId64, s.serial);
out:
	unlink(path);
	return rc;
}

/* ---- the loop ----------------------------------------------------------- */

/* Sleeps secs unless stopped first. */
static void pause_s(struct replica *r, int secs)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += secs;
	pthread_mutex_lock(&r->mu);
	while (!r->stopping && pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&r->mu);
}

static void *loop_main(void *arg)
{
	struct replica *r = arg;
	int backoff = 1;
	while (!stopping(r)) {
		uint64_t began = time_mono_ms();
		int rc = follow(r);
		if (rc == ERR_GONE && !stopping(r))
			rc = snapshot(r);
		pthread_mutex_lock(&r->mu);
		bool fatal = r->fatal;
		pthread_mutex_unlock(&r->mu);
		if (fatal && !stopping(r)) {
			log_err("replica: stopping the server: %s", r->error);
			r->stop_server(ERR_CONFLICT);
			break;
		}
		if (stopping(r))
			break;
		if (rc == ERR_OK) {
			backoff = 1;
			pthread_mutex_lock(&r->mu);
			r->error[0] = '\0';
			pthread_mutex_unlock(&r->mu);
			/* a primary (or a proxy before it) that ends streams at
			 * once must not make this a busy loop */
			if (time_mono_ms() - began < 1000)
				pause_s(r, 1);
			continue;
		}
		pause_s(r, backoff);
		backoff = backoff * 2 > REPL_BACKOFF_MAX_S ? REPL_BACKOFF_MAX_S : backoff * 2;
	}
	wait_jobs(r);
	return NULL;
}

int replica_start(struct app *a, void (*stop_server)(int rc), struct replica **out)
{
	struct replica *r = xcalloc(1, sizeof *r);
	struct store_txn *t = NULL;
	const void *v;
	size_t len;
	r->a = a;
	r->stop_server = stop_server;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->done_tail = &r->done_head;
	buf_init(&r->line, REPL_LINE_MAX);
	r->primary_serial = -1;
	r->applied = store_serial(a->store);
	r->started_at = now_s();
	if (store_read_begin(a->store, &t) == ERR_OK) {
		if (store_meta_get(t, "primary_uuid", &v, &len) == ERR_OK && len < sizeof r->primary_uuid) {
			memcpy(r->primary_uuid, v, len);
			r->primary_uuid[len] = '\0';
		}
		store_abort(t);
	}
	if (pthread_create(&r->thr, NULL, loop_main, r) != 0) {
		replica_stop(r);
		return ERR_NOMEM;
	}
	r->thr_started = true;
	*out = r;
	return ERR_OK;
}

void replica_stop(struct replica *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (r->thr_started)
		pthread_join(r->thr, NULL);
	drain_done(r);
	buf_release(&r->line);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	xfree(r);
}

static void add_time(cJSON *o, const char *name, double t)
{
	if (t > 0)
		cJSON_AddNumberToObject(o, name, t);
	else
		cJSON_AddNullToObject(o, name);
}

void replica_lag(struct replica *r, long long *serials, double *seconds)
{
	pthread_mutex_lock(&r->mu);
	if (r->primary_serial < 0) {
		*serials = -1;
		*seconds = -1;
	} else if (r->applied >= r->primary_serial) {
		*serials = 0;
		*seconds = 0;
	} else {
		*serials = r->primary_serial - r->applied;
		*seconds = r->primary_serial_ts > r->applied_ts && r->applied_ts > 0 ? r->primary_serial_ts - r->applied_ts
										       : now_s() - r->update_at;
	}
	pthread_mutex_unlock(&r->mu);
}

void replica_status(struct replica *r, cJSON *res)
{
	long long lag;
	double lag_s;
	replica_lag(r, &lag, &lag_s);
	pthread_mutex_lock(&r->mu);
	const char *url = r->a->primary_url;
	cJSON_AddStringToObject(res, "primary-url", url);
	cJSON_AddStringToObject(res, "master-url", url);
	if (*r->primary_uuid) {
		cJSON_AddStringToObject(res, "primary-uuid", r->primary_uuid);
		cJSON_AddStringToObject(res, "master-uuid", r->primary_uuid);
	} else {
		cJSON_AddNullToObject(res, "primary-uuid");
		cJSON_AddNullToObject(res, "master-uuid");
	}
	if (r->primary_serial >= 0) {
		cJSON_AddNumberToObject(res, "primary-serial", (double)r->primary_serial);
		cJSON_AddNumberToObject(res, "master-serial", (double)r->primary_serial);
	} else {
		cJSON_AddNullToObject(res, "primary-serial");
		cJSON_AddNullToObject(res, "master-serial");
	}
	add_time(res, "primary-serial-timestamp", r->primary_serial_ts);
	add_time(res, "master-serial-timestamp", r->primary_serial_ts);
	add_time(res, "primary-contacted-at", r->contacted_at);
	add_time(res, "master-contacted-at", r->contacted_at);
	add_time(res, "update-from-primary-at", r->update_at);
	add_time(res, "update-from-master-at", r->update_at);
	add_time(res, "replica-started-at", r->started_at);
	add_time(res, "replica-metadata-in-sync-at", r->in_sync_at);
	if (lag >= 0) {
		cJSON_AddNumberToObject(res, "replica-lag-serials", (double)lag);
		cJSON_AddNumberToObject(res, "replica-lag-seconds", lag_s);
	} else {
		cJSON_AddNullToObject(res, "replica-lag-serials");
		cJSON_AddNullToObject(res, "replica-lag-seconds");
	}
	cJSON *errs = cJSON_AddObjectToObject(res, "replication-errors");
	if (*r->error) {
		cJSON *e = cJSON_AddObjectToObject(errs, "+changelog");
		cJSON_AddStringToObject(e, "url", url);
		cJSON_AddStringToObject(e, "message", r->error);
		cJSON_AddStringToObject(e, "relpath", "+changelog");
		cJSON_AddNumberToObject(e, "at", r->error_at);
	}
	double meta_at = r->in_sync_at;
	pthread_mutex_unlock(&r->mu);
	double files_at = 0, init_at = 0;
	if (r->a->frepl) {
		filerepl_status(r->a->frepl, res);
		files_at = json_get_num(res, "replica-files-in-sync-at", 0);
		init_at = json_get_num(res, "replica-init-queue-finished-at", 0);
	} else {
		add_time(res, "replica-files-in-sync-at", meta_at);
		add_time(res, "replica-init-queue-finished-at", meta_at);
		files_at = init_at = meta_at;
	}
	double in_sync = meta_at;
	if (files_at > in_sync)
		in_sync = files_at;
	if (init_at > in_sync)
		in_sync = init_at;
	add_time(res, "replica-in-sync-at", meta_at > 0 && files_at > 0 && init_at > 0 ? in_sync : 0);
}
