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
 * noticed by a 100 ms timer per waiting request comparing the committed
 * serial, so the writer needs no list of listeners; output is produced as
 * the connection drains (back-pressure: a slow replica costs at most the
 * send-ahead bound in memory, and reads one entry at a time).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/replauth.h"
#include "store/store.h"

#define POLL_MS 100
#define HEARTBEAT_MS 15000
#define STREAM_MAX_MS 300000
#define WAIT_ONE_MS 30000
#define SEND_AHEAD (256u * 1024)

struct clog {
	struct event *timer;
	int64_t next;                /* the next serial to send */
	bool stream;                 /* <N>-: a stream; else one entry */
	uint64_t started_ms, last_line_ms;
};

static void clog_close(struct req *r)
{
	struct clog *c = r->hctx;
	r->hctx = NULL;
	if (c) {
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

void h_changelog(struct req *r)
{
	struct app *a = r->app;
	size_t len, ulen;
	const char *arg = r->segs[1];
	if (!a->primary) {
		resp_message(r, 403, "Replication protocol disabled");
		return;
	}
	const char *auth = req_header(r, "authorization", &len);
	const char *uuid = req_header(r, "x-devpi-replica-uuid", &ulen);
	char u[65];
	snprintf(u, sizeof u, "%.*s", uuid ? (int)(ulen < 64 ? ulen : 64) : 0, uuid ? uuid : "");
	if (!auth || !uuid || ulen > 64 || !a->have_repl_key ||
	    replauth_check(a->repl_key, u, auth, len, time(NULL)) != ERR_OK) {
		resp_message(r, 403, "replica authentication failed: the changelog is only for this primary's replicas");
		return;
	}
	char *end = NULL;
	size_t al = strlen(arg);
	bool stream = al > 0 && arg[al - 1] == '-';
	errno = 0;
	long long n = strtoll(arg, &end, 10);
	if (al == 0 || al > 20 || arg[0] < '0' || arg[0] > '9' || errno || (*end && !(stream && end == arg + al - 1))) {
		resp_message(r, 400, "invalid serial '%.40s'", arg);
		return;
	}
	int64_t current = atomic_load(&a->serial);
	if (n > current + 1) {
		resp_message(r, 404, "can only wait for next serial");
		return;
	}
	struct clog *c = xcalloc(1, sizeof *c);
	c->next = n;
	c->stream = stream;
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
