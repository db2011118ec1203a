/* flight.h — single flight: one upstream operation per key (a mirror page,
 * a project list, a file), however many requests on however many worker
 * threads want it at the same moment.
 *
 * The first request to join a key becomes the owner and starts the work on
 * its own loop; later ones wait.  The owner reports progress (file chunks
 * stored) and the end; every waiter is woken on its own request's loop
 * through an event, like writer-job completions.  A waiter holds a
 * reference on its request until its last wake.
 *
 * Lock: one process-wide mutex (a leaf, see docs/threads.md) guards the
 * table, every flight's waiter list and the shared fields below.
 */
#ifndef PROXY_FLIGHT_H
#define PROXY_FLIGHT_H

#include <stdbool.h>
#include <stdint.h>

struct req;
struct flight;

/* rc: ERR_AGAIN for progress (more wakes follow), else the final result
 * (this waiter's last wake). */
typedef void (*flight_wake_fn)(struct req *r, void *arg, int rc);

/* The shared state a file download publishes to its waiters; read it with
 * flight_snapshot.  Owner-written under the lock. */
struct flight_progress {
	uint64_t blob_id;            /* chunks stored so far live under this id */
	int64_t content_length;      /* -1 until the head is known / if absent */
	bool head_known;
	void *shared;                /* what the owner attached, if anything */
};

/* Joins the flight for key or creates it.  Returns true when the caller is
 * the owner: it must start the work and end it with flight_finish().
 * Either way r waits: wake(r, arg, rc) runs on r's loop for progress and at
 * the end.  *out (may be NULL) gets the flight (valid while r waits). */
bool flight_join(const char *key, struct req *r, flight_wake_fn wake, void *arg, struct flight **out);
/* Joins key's flight if there is one (returning true: r waits as above),
 * never creating it (false). */
bool flight_wait(const char *key, struct req *r, flight_wake_fn wake, void *arg);
/* Owner: publishes progress and wakes every waiter with ERR_AGAIN. */
void flight_progress(struct flight *f, const struct flight_progress *p);
/* Owner: ends the flight with rc; every waiter gets its last wake.  The
 * key is free for a new flight at once; f must not be used after. */
void flight_finish(struct flight *f, int rc);
/* Owner: attaches p to the flight (once, before the first progress);
 * release(p) runs when the flight is freed, after every waiter's last
 * wake.  Waiters find p in their snapshots. */
void flight_attach(struct flight *f, void *p, void (*release)(void *p));
/* A copy of the published progress. */
void flight_snapshot(struct flight *f, struct flight_progress *out);

#endif
