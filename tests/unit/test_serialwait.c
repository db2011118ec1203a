/* test_serialwait.c — waiting on a loop for the local serial (serialwait.c):
 * reached when another thread advances app->serial, not reached past the
 * timeout, ended early when a request's client goes away, and never
 * finished from inside the start call. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/serialwait.h"

struct env {
	struct app app;
	struct worker w;
	int calls;
	bool reached;
	uint64_t at_ms;
};

static void wdone(struct worker *w, void *arg, bool reached)
{
	struct env *e = arg;
	e->calls++;
	e->reached = reached;
	e->at_ms = time_mono_ms();
	event_base_loopbreak(w->base);
}

static void rdone(struct req *r, void *arg, bool reached)
{
	struct env *e = arg;
	e->calls++;
	e->reached = reached;
	e->at_ms = time_mono_ms();
	assert_true(r->refs >= 2);          /* the wait's reference is still held */
	event_base_loopbreak(e->w.base);
}

static void run(struct env *e, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	event_base_loopexit(e->w.base, &tv);
	event_base_dispatch(e->w.base);
}

static int setup(void **state)
{
	struct env *e = xcalloc(1, sizeof *e);
	atomic_store(&e->app.serial, 10);
	e->w.app = &e->app;
	e->w.base = event_base_new();
	assert_non_null(e->w.base);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	event_base_free(e->w.base);
	xfree(e);
	return 0;
}

struct bump {
	struct app *app;
	int delay_ms;
	int64_t to;
};

static void *bump_main(void *arg)
{
	struct bump *b = arg;
	usleep((useconds_t)b->delay_ms * 1000);
	app_note_serial(b->app, b->to);
	return NULL;
}

static void test_already_there_is_async(void **state)
{
	struct env *e = *state;
	assert_int_equal(serialwait_start_worker(&e->w, 10, 1000, wdone, e), ERR_OK);
	assert_int_equal(e->calls, 0);      /* never from inside start */
	run(e, 1000);
	assert_int_equal(e->calls, 1);
	assert_true(e->reached);
}

static void test_reached_from_another_thread(void **state)
{
	struct env *e = *state;
	struct bump b = { &e->app, 100, 12 };
	pthread_t t;
	uint64_t t0 = time_mono_ms();
	assert_int_equal(serialwait_start_worker(&e->w, 12, 5000, wdone, e), ERR_OK);
	assert_int_equal(pthread_create(&t, NULL, bump_main, &b), 0);
	run(e, 5000);
	pthread_join(t, NULL);
	assert_int_equal(e->calls, 1);
	assert_true(e->reached);
	assert_true(e->at_ms - t0 >= 100);
	assert_true(e->at_ms - t0 < 1000);
}

static void test_timeout(void **state)
{
	struct env *e = *state;
	uint64_t t0 = time_mono_ms();
	assert_int_equal(serialwait_start_worker(&e->w, 11, 150, wdone, e), ERR_OK);
	run(e, 3000);
	assert_int_equal(e->calls, 1);
	assert_false(e->reached);
	assert_true(e->at_ms - t0 >= 150);
	assert_true(e->at_ms - t0 < 1000);
}

static void test_request_wait_and_client_gone(void **state)
{
	struct env *e = *state;
	struct req *r = xcalloc(1, sizeof *r);
	r->app = &e->app;
	r->w = &e->w;
	r->refs = 1;
	r->conn = (struct conn *)(void *)r;  /* alive: never dereferenced by req_alive */

	/* reached */
	atomic_store(&e->app.serial, 20);
	assert_int_equal(serialwait_start(r, 20, 1000, rdone, e), ERR_OK);
	assert_int_equal(r->refs, 2);
	run(e, 1000);
	assert_int_equal(e->calls, 1);
	assert_true(e->reached);
	assert_int_equal(r->refs, 1);

	/* the client goes away: the wait ends soon, not at its timeout */
	uint64_t t0 = time_mono_ms();
	assert_int_equal(serialwait_start(r, 99, 10000, rdone, e), ERR_OK);
	r->conn = NULL;
	run(e, 3000);
	assert_int_equal(e->calls, 2);
	assert_false(e->reached);
	assert_true(e->at_ms - t0 < 500);
	assert_int_equal(r->refs, 1);
	xfree(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_already_there_is_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reached_from_another_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_wait_and_client_gone, setup, teardown),
	};
	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
