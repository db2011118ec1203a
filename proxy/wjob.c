/* wjob.c — the bridge between worker loops and the store's writer thread.
 *
 * The writer calls done() on its own thread; all that does is record the
 * result and activate an event that belongs to the request's loop
 * (event_active is thread-safe once evthread_use_pthreads() ran).  The
 * handler's callback then runs on the loop like any other callback.
 */
#include "proxy/wjob.h"

#include <event2/event.h>
#include <stdatomic.h>

#include "common/alloc.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "store/store.h"

struct wjob {
	struct store_job job;
	struct event *ev;
	struct req *r;                  /* NULL for a worker-level job */
	struct worker *w;
	wjob_run_fn run;
	wjob_done_fn done;
	wjob_wdone_fn wdone;
	void *arg;
	int rc;
	int64_t serial;
};

static _Atomic int64_t in_flight;

int64_t wjob_in_flight(void)
{
	return atomic_load(&in_flight);
}

static int wjob_run(struct store_txn *t, void *arg)
{
	struct wjob *j = arg;
	return j->run(t, j->arg);
}

/* On the writer thread. */
static void wjob_written(void *arg, int rc, int64_t serial)
{
	struct wjob *j = arg;
	j->rc = rc;
	j->serial = serial;
	event_active(j->ev, EV_TIMEOUT, 0);
	atomic_fetch_sub(&in_flight, 1);
}

/* On the request's loop. */
static void wjob_fire(evutil_socket_t fd, short what, void *arg)
{
	struct wjob *j = arg;
	struct req *r = j->r;
	if (j->rc == 0)
		app_note_serial(j->w->app, j->serial);
	if (r) {
		if (j->rc == 0 && j->serial >= 0)
			r->serial = j->serial;
		j->done(r, j->arg, j->rc, j->serial);
	} else {
		j->wdone(j->w, j->arg, j->rc, j->serial);
	}
	event_free(j->ev);
	xfree(j);
	req_unref(r);
}

static void wjob_queue(struct wjob *j)
{
	j->ev = event_new(j->w->base, -1, 0, wjob_fire, j);
	j->job.run = wjob_run;
	j->job.done = wjob_written;
	j->job.arg = j;
	atomic_fetch_add(&in_flight, 1);
	store_writer_submit(j->w->app->store, &j->job);
}

void wjob_submit_worker(struct worker *w, wjob_run_fn run, void *arg, wjob_wdone_fn done)
{
	struct wjob *j = xcalloc(1, sizeof *j);
	j->w = w;
	j->run = run;
	j->wdone = done;
	j->arg = arg;
	wjob_queue(j);
}

void wjob_submit(struct req *r, wjob_run_fn run, void *arg, wjob_done_fn done)
{
	struct wjob *j = xcalloc(1, sizeof *j);
	j->r = r;
	j->w = r->w;
	j->run = run;
	j->done = done;
	j->arg = arg;
	req_ref(r);
	wjob_queue(j);
}
