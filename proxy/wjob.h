/* wjob.h — run a store write on the writer thread and resume the request
 * on its own event loop when the write is durable.
 *
 * The request is referenced while the job is in flight, so the callback
 * always runs (to release what the job holds) even if the client left;
 * it checks req_alive() before answering.
 */
#ifndef PROXY_WJOB_H
#define PROXY_WJOB_H

#include <stdint.h>

struct req;
struct store_txn;
struct app;

typedef int (*wjob_run_fn)(struct store_txn *t, void *arg);
typedef void (*wjob_done_fn)(struct req *r, void *arg, int rc, int64_t serial);
struct worker;
typedef void (*wjob_wdone_fn)(struct worker *w, void *arg, int rc, int64_t serial);

/* Queues run(arg) on the writer thread; done(r, arg, rc, serial) runs later
 * on r's worker loop.  arg is the caller's until done runs. */
void wjob_submit(struct req *r, wjob_run_fn run, void *arg, wjob_done_fn done);

/* The same for work that belongs to a worker rather than to one request
 * (an upstream fetch that outlives the request that started it): done runs
 * on w's loop. */
void wjob_submit_worker(struct worker *w, wjob_run_fn run, void *arg, wjob_wdone_fn done);

/* Jobs the writer has not completed yet, over all workers (shutdown waits for 0). */
int64_t wjob_in_flight(void);

#endif
