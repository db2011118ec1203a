/* flight.c — single-flight table with cross-thread wake-ups (see flight.h).
 *
 * Each waiter owns one libevent event on its request's loop.  Waking is
 * event_active() under the table lock (thread-safe with libevent's pthreads
 * support); the loop then runs the waiter's callback.  A flight is freed
 * when its owner has finished it and every waiter has had its last wake.
 */
#include "proxy/flight.h"

#include <event2/event.h>
#include <pthread.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strset.h"
#include "proxy/app.h"
#include "proxy/conn.h"

struct waiter {
	struct waiter *next;
	struct flight *f;
	struct req *r;
	struct event *ev;
	flight_wake_fn wake;
	void *arg;
	bool progress_pending;       /* a progress wake is queued */
	bool final_pending;          /* the last wake is queued */
};

struct flight {
	struct flight *next;         /* table chain */
	char *key;
	struct waiter *waiters;
	int refs;                    /* owner (until finish) + one per waiter */
	bool finished;
	int rc;
	struct flight_progress prog;
	void (*release)(void *p);    /* of prog.shared */
};

#define NBUCKETS 256
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct flight *table[NBUCKETS];

static struct flight **slot_locked(const char *key)
{
	struct flight **pp = &table[strset_hash(key, strlen(key)) % NBUCKETS];
	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void flight_unref_locked(struct flight *f)
{
	if (--f->refs > 0)
		return;
	if (f->release)
		f->release(f->prog.shared);
	xfree(f->key);
	xfree(f);
}

static void waiter_fire(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	struct flight *f = w->f;
	pthread_mutex_lock(&mu);
	bool last = w->final_pending;
	int rc = last ? f->rc : ERR_AGAIN;
	w->progress_pending = false;
	if (last) {
		struct waiter **pp = &f->waiters;
		while (*pp && *pp != w)
			pp = &(*pp)->next;
		if (*pp)
			*pp = w->next;
	}
	pthread_mutex_unlock(&mu);
	w->wake(w->r, w->arg, rc);
	if (last) {
		struct req *r = w->r;
		event_free(w->ev);
		pthread_mutex_lock(&mu);
		flight_unref_locked(f);
		pthread_mutex_unlock(&mu);
		xfree(w);
		req_unref(r);
	}
}

/* Joins key's flight; creates it (and *owner = true) if create, else
 * returns false when there is none. */
static bool join(const char *key, bool create, struct req *r, flight_wake_fn wake, void *arg,
		 struct flight **out, bool *owner)
{
	struct waiter *w = xcalloc(1, sizeof *w);
	w->r = r;
	w->wake = wake;
	w->arg = arg;
	w->ev = event_new(r->w->base, -1, 0, waiter_fire, w);
	pthread_mutex_lock(&mu);
	struct flight **pp = slot_locked(key);
	struct flight *f = *pp;
	if (!f && !create) {
		pthread_mutex_unlock(&mu);
		event_free(w->ev);
		xfree(w);
		return false;
	}
	req_ref(r);
	if (!f) {
		f = xcalloc(1, sizeof *f);
		f->key = xstrdup(key);
		f->refs = 1;            /* the owner's */
		f->prog.content_length = -1;
		*pp = f;
		*owner = true;
	}
	w->f = f;
	f->refs++;
	w->next = f->waiters;
	f->waiters = w;
	pthread_mutex_unlock(&mu);
	if (out)
		*out = f;
	return true;
}

bool flight_join(const char *key, struct req *r, flight_wake_fn wake, void *arg, struct flight **out)
{
	bool owner = false;
	join(key, true, r, wake, arg, out, &owner);
	return owner;
}

bool flight_wait(const char *key, struct req *r, flight_wake_fn wake, void *arg)
{
	bool owner = false;
	return join(key, false, r, wake, arg, NULL, &owner);
}

void flight_attach(struct flight *f, void *p, void (*release)(void *p))
{
	pthread_mutex_lock(&mu);
	f->prog.shared = p;
	f->release = release;
	pthread_mutex_unlock(&mu);
}

void flight_progress(struct flight *f, const struct flight_progress *p)
{
	pthread_mutex_lock(&mu);
	void *shared = f->prog.shared;
	f->prog = *p;
	f->prog.shared = shared;
	for (struct waiter *w = f->waiters; w; w = w->next) {
		if (!w->progress_pending && !w->final_pending) {
			w->progress_pending = true;
			event_active(w->ev, EV_TIMEOUT, 0);
		}
	}
	pthread_mutex_unlock(&mu);
}

void flight_finish(struct flight *f, int rc)
{
	pthread_mutex_lock(&mu);
	struct flight **pp = slot_locked(f->key);
	if (*pp == f)
		*pp = f->next;
	f->finished = true;
	f->rc = rc;
	for (struct waiter *w = f->waiters; w; w = w->next) {
		w->final_pending = true;
		if (!w->progress_pending)
			event_active(w->ev, EV_TIMEOUT, 0);
	}
	flight_unref_locked(f);
	pthread_mutex_unlock(&mu);
}

void flight_snapshot(struct flight *f, struct flight_progress *out)
{
	pthread_mutex_lock(&mu);
	*out = f->prog;
	pthread_mutex_unlock(&mu);
}
