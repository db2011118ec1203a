/* h_changelog.c — the primary's changelog for replicas (API.md 8.2, 8.3).
 *
 * GET /+changelog/<N>- streams NDJSON: every stored entry from serial N
 * on (the store keeps them in exactly the wire form), then each new commit
 * as it lands, a heartbeat line {"serial": null} every 15 s, for at most
 * 300 s; the replica then asks again from its next serial.  GET
 * /+changelog/<N> answers the one entry N, waiting up to 30 s for it when
 * N is the next serial (202 with X-DEVPI-SERIAL when it does not come).
 *
 * Only a --role primary answers, and only a request signed by a replica
 * (replauth.c): the changelog carries password hashes.  New commits are
 * noticed by a 10 ms timer per waiting request comparing the committed
 * serial, so the writer needs no list of listeners; output is produced as
 * the connection drains (back-pressure: a slow replica costs at most the
 * send-ahead bound in memory, and reads one entry at a time).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/replauth.h"
#include "proxy/replwatch.h"
#include "store/store.h"

#define POLL_MS 10
#define HEARTBEAT_MS 15000
#define STREAM_MAX_MS 300000
#define WAIT_ONE_MS 30000
#define SEND_AHEAD (256u * 1024)

struct clog {
	struct event *timer;
	struct replwatch *watch;
	char uuid[65], ip[64], outside[200];
	int64_t next;                /* the next serial to send */
	bool stream;                 /* <N>-: a stream; else one entry */
	uint64_t started_ms, last_line_ms;
};

/* What the replica of c has been sent, for /+status. */
static void clog_note(struct clog *c, bool open)
{
	replwatch_note(c->watch, c->uuid, c->ip, *c->outside ? c->outside : NULL, c->next - 1, open, c->stream);
}

static void clog_close(struct req *r)
{
	struct clog *c = r->hctx;
	r->hctx = NULL;
	if (c) {
		clog_note(c, false);
		event_free(c->timer);
		xfree(c);
	}
}

static void clog_arm(struct clog *c)
{
	struct timeval tv = { 0, POLL_MS * 1000 };
	evtimer_add(c->timer, &tv);
}

/* Writes entries from c->next while the output has room; false on a
 * store error (the stream is cut). */
static bool clog_pump(struct req *r, struct clog *c)
{
	int64_t current = atomic_load(&r->app->serial);
	while (c->next <= current && resp_pending(r) < SEND_AHEAD) {
		struct store_txn *t = NULL;
		const char *v;
		size_t len;
		if (store_read_begin(r->app->store, &t) != ERR_OK)
			return false;
		int rc = store_changelog_get(t, c->next, &v, &len);
		if (rc == ERR_OK) {
			resp_write(r, v, len);
			resp_write(r, "\n", 1);
		}
		store_abort(t);
		if (rc)
			return false;
		c->next++;
		c->last_line_ms = time_mono_ms();
		clog_note(c, true);
	}
	return true;
}

static void clog_writable(struct req *r)
{
	struct clog *c = r->hctx;
	if (c && !clog_pump(r, c))
		resp_abort_stream(r);
}

static const struct req_hooks clog_hooks = { NULL, NULL, clog_writable, clog_close };

static void clog_tick(evutil_socket_t fd, short what, void *arg)
{
	struct req *r = arg;
	struct clog *c = r->hctx;
	if (!c || !req_alive(r) || r->finished)
		return;
	uint64_t now = time_mono_ms();
	int64_t current = atomic_load(&r->app->serial);
	if (!c->stream) {
		if (current >= c->next) {
			struct store_txn *t = NULL;
			const char *v;
			size_t len;
			if (store_read_begin(r->app->store, &t) == ERR_OK &&
			    store_changelog_get(t, c->next, &v, &len) == ERR_OK)
				resp_send(r, 200, NULL, "application/json", v, len);
			else
				resp_message(r, 500, "cannot read serial %lld", (long long)c->next);
			store_abort(t);
		} else if (now - c->started_ms >= WAIT_ONE_MS) {
			r->serial = current;
			resp_send(r, 202, NULL, "text/plain; charset=utf-8", "", 0);
		} else {
			clog_arm(c);
		}
		return;
	}
	if (now - c->started_ms >= STREAM_MAX_MS) {
		resp_end(r);
		return;
	}
	if (resp_pending(r) < SEND_AHEAD) {
		if (!clog_pump(r, c)) {
			resp_abort_stream(r);
			return;
		}
		if (now - c->last_line_ms >= HEARTBEAT_MS) {
			resp_write(r, "{\"serial\":null}\n", 16);
			c->last_line_ms = now;
		}
	}
	clog_arm(c);
}

/* Whether r comes from one of this primary's replicas (answered 403 / 409
 * if not); u gets its uuid. */
static bool replica_request(struct req *r, char u[65])
{
	struct app *a = r->app;
	size_t ulen, elen;
	if (!a->primary) {
		resp_message(r, 403, "Replication protocol disabled");
		return false;
	}
	/* the router checked the signature: a signed request is REPLAUTH_USER */
	const char *uuid = req_header(r, "x-devpi-replica-uuid", &ulen);
	if (!r->user || strcmp(r->user, REPLAUTH_USER) != 0 || !uuid) {
		resp_message(r, 403, "replica authentication failed: the changelog is only for this primary's replicas");
		return false;
	}
	snprintf(u, 65, "%.*s", (int)(ulen < 64 ? ulen : 64), uuid);
	const char *exp = req_header(r, "x-devpi-expected-primary-id", &elen);
	if (exp && elen > 0 && (elen != strlen(a->uuid) || memcmp(exp, a->uuid, elen) != 0)) {
		resp_message(r, 409, "this primary has uuid %s, the replica expects %.*s", a->uuid,
			     (int)(elen < 64 ? elen : 64), exp);
		return false;
	}
	return true;
}

void h_changelog(struct req *r)
{
	struct app *a = r->app;
	const char *arg = r->segs[1];
	char u[65];
	if (!replica_request(r, u))
		return;
	char *end = NULL;
	size_t al = strlen(arg);
	bool stream = al > 0 && arg[al - 1] == '-';
	errno = 0;
	long long n = strtoll(arg, &end, 10);
	if (al == 0 || al > 20 || arg[0] < '0' || arg[0] > '9' || errno || (*end && !(stream && end == arg + al - 1))) {
		resp_message(r, 400, "invalid serial '%.40s'", arg);
		return;
	}
	int64_t current = atomic_load(&a->serial), oldest = 0;
	if (n > current + 1) {
		resp_message(r, 404, "can only wait for next serial");
		return;
	}
	struct store_txn *t = NULL;
	int rc = store_read_begin(a->store, &t);
	if (!rc)
		rc = store_changelog_oldest(t, &oldest);
	store_abort(t);
	if (rc) {
		resp_message(r, 500, "cannot read the changelog: %s", err_str(rc));
		return;
	}
	if (n < oldest) {
		r->serial = current;
		resp_message(r, 410, "serials below %lld were trimmed from the changelog: full sync from /+snapshot",
			     (long long)oldest);
		return;
	}
	struct clog *c = xcalloc(1, sizeof *c);
	size_t olen;
	const char *o = req_header(r, "x-devpi-replica-outside-url", &olen);
	c->next = n;
	c->stream = stream;
	c->watch = a->replwatch;
	snprintf(c->uuid, sizeof c->uuid, "%s", u);
	snprintf(c->ip, sizeof c->ip, "%s", req_peer(r) ? req_peer(r) : "");
	snprintf(c->outside, sizeof c->outside, "%.*s", o ? (int)(olen < 199 ? olen : 199) : 0, o ? o : "");
	clog_note(c, true);
	c->started_ms = c->last_line_ms = time_mono_ms();
	c->timer = evtimer_new(r->w->base, clog_tick, r);
	r->hctx = c;
	r->hooks = &clog_hooks;
	r->serial = current;
	if (!stream) {
		clog_tick(-1, 0, r);
		return;
	}
	r->close_after = true;          /* the stream ends when the connection does */
	resp_begin(r, 200, NULL, "application/x-ndjson", -1);
	if (!clog_pump(r, c)) {
		resp_abort_stream(r);
		return;
	}
	clog_arm(c);
}

/* ---- GET /+snapshot ------------------------------------------------------ */

/* Every record at one serial, for a replica behind a trimmed changelog:
 * {"serial":S}, then {"key":k,"value":v} per record in key order, then
 * {"end":true,"count":n} so that a cut stream is never taken as complete.
 * The one read transaction stays open for the whole stream (the only place
 * that holds one across network waits: the records must be those of one
 * serial); a timer cuts a stream still running after SNAP_MAX_MS so a stuck
 * replica cannot pin old pages for ever.  Records are sent as the
 * connection drains, SEND_AHEAD at a time. */

#define SNAP_MAX_MS (30 * 60 * 1000)

struct snap {
	struct store_txn *t;
	struct event *timer;
	char last[STORE_KEY_MAX + 1];
	bool started;
	uint64_t count;
};

static void snap_close(struct req *r)
{
	struct snap *s = r->hctx;
	r->hctx = NULL;
	if (s) {
		store_abort(s->t);
		event_free(s->timer);
		xfree(s);
	}
}

/* One record into the stream; ERR_AGAIN (a pause, not a failure) once
 * SEND_AHEAD bytes wait in the output. */
static int snap_record(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct req *r = arg;
	struct snap *s = r->hctx;
	struct buf b = BUF_INIT;
	if (resp_pending(r) >= SEND_AHEAD)
		return ERR_AGAIN;
	cJSON *ks = cJSON_CreateString(key);
	int rc = buf_adds(&b, "{\"key\":") || json_print_compact(ks, &b) || buf_adds(&b, ",\"value\":") ||
			 buf_add(&b, val, vlen) || buf_adds(&b, "}\n") ? ERR_NOMEM : ERR_OK;
	cJSON_Delete(ks);
	if (!rc) {
		resp_write(r, b.p, b.len);
		memcpy(s->last, key, klen + 1);
		s->started = true;
		s->count++;
	}
	buf_release(&b);
	return rc;
}

static void snap_pump(struct req *r)
{
	struct snap *s = r->hctx;
	if (!s)
		return;
	int rc = store_scan_after(s->t, "", s->started ? s->last : NULL, snap_record, r);
	if (rc == ERR_OK) {
		char end[64];
		int n = snprintf(end, sizeof end, "{\"end\":true,\"count\":%llu}\n", (unsigned long long)s->count);
		resp_write(r, end, (size_t)n);
		resp_end(r);
	} else if (rc != ERR_AGAIN) {
		log_err("snapshot: cannot read the store after '%s': %s", s->last, err_str(rc));
		resp_abort_stream(r);
	}
}

static void snap_expired(evutil_socket_t fd, short what, void *arg)
{
	struct req *r = arg;
	if (r->hctx && req_alive(r) && !r->finished) {
		log_warn("snapshot: stream still running after %d s: cut", SNAP_MAX_MS / 1000);
		resp_abort_stream(r);
	}
}

static const struct req_hooks snap_hooks = { NULL, NULL, snap_pump, snap_close };

void h_snapshot(struct req *r)
{
	char u[65], head[64];
	if (!replica_request(r, u))
		return;
	struct snap *s = xcalloc(1, sizeof *s);
	int rc = store_read_begin(r->app->store, &s->t);
	if (rc) {
		xfree(s);
		resp_message(r, 503, "cannot read the store: %s", err_str(rc));
		return;
	}
	int64_t serial = store_txn_serial(s->t);
	struct timeval tv = { SNAP_MAX_MS / 1000, 0 };
	s->timer = evtimer_new(r->w->base, snap_expired, r);
	evtimer_add(s->timer, &tv);
	r->hctx = s;
	r->hooks = &snap_hooks;
	r->serial = serial;
	r->close_after = true;
	resp_begin(r, 200, NULL, "application/x-ndjson", -1);
	int n = snprintf(head, sizeof head, "{\"serial\":%lld}\n", (long long)serial);
	resp_write(r, head, (size_t)n);
	snap_pump(r);
}
