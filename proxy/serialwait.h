/* serialwait.h — wait, on an event loop, until this node's serial reaches
 * a given one (a replica's read-your-writes, API.md 8.6 and 12).
 *
 * A replica's serial (app->serial) advances as its changelog loop applies
 * the primary's entries, on another thread.  A write forwarded to the
 * primary, or a mirror page the primary refreshed, is visible here once
 * the local serial is at least the X-DEVPI-SERIAL the primary answered
 * with.  The wait polls app->serial from a short timer on the waiter's own
 * loop (every few milliseconds): nothing blocks, nothing is signalled
 * across threads, and the cost is nil when nobody waits.
 *
 * Each wait ends exactly once, through its done callback on the same loop,
 * never from inside the start call: reached=true when the serial arrived,
 * false when timeout_ms passed first (or, for a request, when its client
 * went away: check req_alive() before answering).
 */
#ifndef PROXY_SERIALWAIT_H
#define PROXY_SERIALWAIT_H

#include <stdbool.h>
#include <stdint.h>

struct req;
struct worker;

typedef void (*serialwait_fn)(struct req *r, void *arg, bool reached);
typedef void (*serialwait_wfn)(struct worker *w, void *arg, bool reached);

/* Waits on r's loop until r->app's serial >= serial, for at most
 * timeout_ms (> 0).  r is referenced until done(r, arg, reached) has run;
 * arg is the caller's.  ERR_OK, or ERR_NOMEM and done never runs. */
int serialwait_start(struct req *r, int64_t serial, int timeout_ms, serialwait_fn done, void *arg);

/* The same for work that belongs to worker w rather than to one request
 * (a mirror refresh shared by several requests): done(w, arg, reached)
 * runs on w's loop.  w must outlive the wait (workers live until the
 * server stops; their loops then no longer run). */
int serialwait_start_worker(struct worker *w, int64_t serial, int timeout_ms, serialwait_wfn done, void *arg);

#endif
