/* cpupool.h — a few threads for CPU-heavy work that must not stall an
 * event loop: argon2 password hashing and verification, and reading
 * metadata out of uploaded archives.
 *
 * work(arg) runs on a pool thread; done(r, arg) runs afterwards on r's own
 * loop (like wjob.h).  The request is referenced while the work is queued or
 * running, so done() always runs and must check req_alive() before
 * answering.  The queue is bounded: a full pool answers ERR_BUSY at once,
 * and the caller turns that into 503.
 */
#ifndef PROXY_CPUPOOL_H
#define PROXY_CPUPOOL_H

#include <stdint.h>

struct req;

typedef void (*cpu_work_fn)(void *arg);
typedef void (*cpu_done_fn)(struct req *r, void *arg);

/* Starts nthreads threads with room for max_queue waiting items. */
int cpupool_start(unsigned nthreads, unsigned max_queue);
/* Finishes queued work, then joins the threads (after the loops stopped
 * and before their bases are freed: completions touch their events). */
void cpupool_stop(void);
/* ERR_OK, or ERR_BUSY when the queue is full (nothing was queued). */
int cpupool_submit(struct req *r, cpu_work_fn work, cpu_done_fn done, void *arg);

#endif
