/* serialwait.c — wait on a loop until the local serial reaches one (see
 * serialwait.h).
 *
 * Polling rather than a signal from the replica loop: the loop applies
 * entries on its own thread through the writer, and a wake-up would need a
 * registry of waiters shared across threads with its own lock and
 * lifetime rules.  A timer per waiter, checking one atomic every
 * POLL_FAST_MS at first and POLL_SLOW_MS after a while, costs nothing when
 * nobody waits and adds at most a few milliseconds to an answer that
 * already waited for a network round trip and a commit.
 */
#include "proxy/serialwait.h"

#include <event2/event.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "proxy/app.h"
#include "proxy/conn.h"

#define POLL_FAST_MS 5
#define POLL_SLOW_MS 20
#define POLL_FAST_FOR_MS 500

struct serialwait {
	struct app *app;
	struct req *r;               /* referenced; NULL for a worker's wait */
	struct worker *w;
	struct event *ev;
	int64_t serial;
	uint64_t started_ms, deadline_ms;
	serialwait_fn done;
	serialwait_wfn wdone;
	void *arg;
};

static void sw_arm(struct serialwait *sw, uint64_t now)
{
	int ms = now - sw->started_ms < POLL_FAST_FOR_MS ? POLL_FAST_MS : POLL_SLOW_MS;
	if (now + (uint64_t)ms > sw->deadline_ms)
		ms = sw->deadline_ms > now ? (int)(sw->deadline_ms - now) : 0;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(sw->ev, &tv);
}

/* Ends the wait: the callback runs, then everything is released. */
static void sw_end(struct serialwait *sw, bool reached)
{
	struct req *r = sw->r;
	event_free(sw->ev);
	if (r) {
		sw->done(r, sw->arg, reached);
		req_unref(r);
	} else {
		sw->wdone(sw->w, sw->arg, reached);
	}
	xfree(sw);
}

static void sw_tick(evutil_socket_t fd, short what, void *arg)
{
	struct serialwait *sw = arg;
	if (atomic_load(&sw->app->serial) >= sw->serial) {
		sw_end(sw, true);
		return;
	}
	uint64_t now = time_mono_ms();
	if (now >= sw->deadline_ms || (sw->r && !req_alive(sw->r))) {
		sw_end(sw, false);
		return;
	}
	sw_arm(sw, now);
}

static int sw_start(struct serialwait *sw, struct event_base *base, int timeout_ms)
{
	sw->ev = evtimer_new(base, sw_tick, sw);
	if (!sw->ev) {
		xfree(sw);
		return ERR_NOMEM;
	}
	sw->started_ms = time_mono_ms();
	sw->deadline_ms = sw->started_ms + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	if (sw->r)
		req_ref(sw->r);
	/* the first check on the next loop turn: done never runs from here */
	struct timeval tv = { 0, 0 };
	evtimer_add(sw->ev, &tv);
	return ERR_OK;
}

int serialwait_start(struct req *r, int64_t serial, int timeout_ms, serialwait_fn done, void *arg)
{
	struct serialwait *sw = xcalloc(1, sizeof *sw);
	sw->app = r->app;
	sw->r = r;
	sw->w = r->w;
	sw->serial = serial;
	sw->done = done;
	sw->arg = arg;
	return sw_start(sw, r->w->base, timeout_ms);
}

int serialwait_start_worker(struct worker *w, int64_t serial, int timeout_ms, serialwait_wfn done, void *arg)
{
	struct serialwait *sw = xcalloc(1, sizeof *sw);
	sw->app = w->app;
	sw->w = w;
	sw->serial = serial;
	sw->wdone = done;
	sw->arg = arg;
	return sw_start(sw, w->base, timeout_ms);
}
