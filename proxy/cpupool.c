/* cpupool.c — worker threads for CPU-heavy jobs (see cpupool.h).
 *
 * One mutex-protected FIFO feeds the threads; a finished item activates an
 * event that belongs to its request's loop, exactly as wjob.c does for the
 * writer thread, and the loop runs done() and frees the item.
 */
#include "proxy/cpupool.h"

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "common/alloc.h"
#include "common/err.h"
#include "proxy/app.h"
#include "proxy/conn.h"

struct cpu_item {
	struct cpu_item *next;
	struct req *r;
	struct event *ev;
	cpu_work_fn work;
	cpu_done_fn done;
	void *arg;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct cpu_item *head, *tail;
static unsigned queued, max_queued, nthreads_running;
static bool stopping;
static pthread_t threads[16];

static void *pool_main(void *unused)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		pthread_mutex_lock(&mu);
		while (!head && !stopping)
			pthread_cond_wait(&cv, &mu);
		struct cpu_item *it = head;
		if (!it) {
			pthread_mutex_unlock(&mu);
			return NULL;
		}
		head = it->next;
		if (!head)
			tail = NULL;
		pthread_mutex_unlock(&mu);
		it->work(it->arg);
		/* Counted out only once the loop's event is active, so
		 * cpupool_stop knows every completion has been handed over. */
		event_active(it->ev, EV_TIMEOUT, 0);
		pthread_mutex_lock(&mu);
		queued--;
		pthread_mutex_unlock(&mu);
	}
}

static void item_fire(evutil_socket_t fd, short what, void *arg)
{
	struct cpu_item *it = arg;
	it->done(it->r, it->arg);
	event_free(it->ev);
	req_unref(it->r);
	xfree(it);
}

int cpupool_start(unsigned n, unsigned max_queue)
{
	if (n < 1)
		n = 1;
	if (n > sizeof threads / sizeof threads[0])
		n = sizeof threads / sizeof threads[0];
	max_queued = max_queue;
	stopping = false;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&threads[i], NULL, pool_main, NULL) != 0) {
			cpupool_stop();
			return ERR_IO;
		}
		nthreads_running++;
	}
	return ERR_OK;
}

void cpupool_stop(void)
{
	pthread_mutex_lock(&mu);
	stopping = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (unsigned i = 0; i < nthreads_running; i++)
		pthread_join(threads[i], NULL);
	nthreads_running = 0;
}

int cpupool_submit(struct req *r, cpu_work_fn work, cpu_done_fn done, void *arg)
{
	struct cpu_item *it = xcalloc(1, sizeof *it);
	pthread_mutex_lock(&mu);
	if (queued >= max_queued || stopping) {
		pthread_mutex_unlock(&mu);
		xfree(it);
		return ERR_BUSY;
	}
	queued++;
	it->r = r;
	it->work = work;
	it->done = done;
	it->arg = arg;
	it->ev = event_new(r->w->base, -1, 0, item_fire, it);
	req_ref(r);
	if (tail)
		tail->next = it;
	else
		head = it;
	tail = it;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	return ERR_OK;
}
