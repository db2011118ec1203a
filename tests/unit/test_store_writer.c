/* test_store_writer.c — the store's writer thread: group commit, serials
 * under concurrency, per-job rollback, map full inside a batch, draining on
 * close, readers running alongside. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "store/store.h"

struct fx {
	char root[64];
	char dir[96];
	struct store *s;
};

/* completion counter shared by a test's jobs */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ndone;

static void reset_done(void)
{
	pthread_mutex_lock(&mu);
	ndone = 0;
	pthread_mutex_unlock(&mu);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static int open_store(struct fx *f, uint64_t map_size)
{
	struct store_opts o = { .dir = f->dir, .map_size = map_size };
	return store_open(&o, &f->s);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	snprintf(f->root, sizeof f->root, "/tmp/test_store_writer.XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/data", f->root);
	if (open_store(f, 0) != ERR_OK)
		return -1;
	reset_done();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->s);
	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	xfree(f);
	return 0;
}

/* Waits (up to 30 s) until n jobs are done. */
static void wait_done(int n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&mu);
	while (ndone < n) {
		if (pthread_cond_timedwait(&cv, &mu, &ts) != 0)
			break;
	}
	int got = ndone;
	pthread_mutex_unlock(&mu);
	assert_int_equal(got, n);
}

enum kind { PUT, FAIL_AFTER_PUT, META_ONLY, BIG_CHUNKS, COMMIT_OWN };

struct tjob {
	struct store_job job;
	enum kind kind;
	char key[48];
	atomic_int runs, dones;
	int rc;
	int64_t serial;
};

static int tjob_run(struct store_txn *t, void *arg)
{
	struct tjob *j = arg;
	char val[64];
	int rc;

	atomic_fetch_add(&j->runs, 1);
	switch (j->kind) {
	case PUT:
	case FAIL_AFTER_PUT:
		snprintf(val, sizeof val, "{\"k\":\"%s\"}", j->key);
		rc = store_put(t, j->key, val, strlen(val));
		if (rc)
			return rc;
		return j->kind == FAIL_AFTER_PUT ? ERR_CONFLICT : ERR_OK;
	case META_ONLY:
		return store_meta_put(t, j->key, "m", 1);
	case BIG_CHUNKS: {
		/* 2 MiB of chunks plus a record: cannot fit a 1 MiB map */
		static uint8_t chunk[STORE_CHUNK_SIZE];
		rc = store_put(t, j->key, "1", 1);
		for (uint32_t i = 0; rc == ERR_OK && i < 2; i++)
			rc = store_chunk_put(t, 777777, i, chunk, sizeof chunk);
		return rc;
	}
	case COMMIT_OWN:
		/* a job must not end its txn: refused, txn still usable */
		rc = store_commit(t, NULL);
		if (rc != ERR_INVAL)
			return ERR_STORE;
		store_abort(t);
		return store_put(t, j->key, "1", 1);
	}
	return ERR_INVAL;
}

static void tjob_done(void *arg, int rc, int64_t serial)
{
	struct tjob *j = arg;
	j->rc = rc;
	j->serial = serial;
	atomic_fetch_add(&j->dones, 1);
	pthread_mutex_lock(&mu);
	ndone++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void tjob_init(struct tjob *j, enum kind kind, const char *key)
{
	memset(j, 0, sizeof *j);
	j->kind = kind;
	snprintf(j->key, sizeof j->key, "%s", key);
	j->job.run = tjob_run;
	j->job.done = tjob_done;
	j->job.arg = j;
	j->rc = -1;
	j->serial = -100;
}

static char *get_copy(struct store *s, const char *key)
{
	struct store_txn *t;
	const char *v;
	size_t n;
	char *out = NULL;
	assert_int_equal(store_read_begin(s, &t), ERR_OK);
	if (store_get(t, key, &v, &n) == ERR_OK)
		out = xstrndup(v, n);
	store_abort(t);
	return out;
}

/* ---- 1000 jobs from 4 threads -------------------------------------------- */

enum { NTHREADS = 4, PER_THREAD = 250, NJOBS = NTHREADS * PER_THREAD };

struct submitter {
	struct store *s;
	struct tjob *jobs;
	int t;
};

static void *submit_main(void *arg)
{
	struct submitter *sb = arg;
	for (int i = 0; i < PER_THREAD; i++)
		store_writer_submit(sb->s, &sb->jobs[i].job);
	return NULL;
}

struct reader {
	struct store *s;
	atomic_int *stop;
	int reads;
	int bad;
};

/* Reads alongside the writer: serials a thread sees never go back, and
 * every record it sees parses. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	int64_t last = -1;
	while (!atomic_load(r->stop)) {
		struct store_txn *t;
		if (store_read_begin(r->s, &t) != ERR_OK) {
			r->bad++;
			break;
		}
		int64_t serial = store_txn_serial(t);
		if (serial < last)
			r->bad++;
		last = serial;
		const char *v;
		size_t n;
		if (store_get(t, "w/0/0", &v, &n) == ERR_OK) {
			cJSON *j = cJSON_Parse(v);
			if (!j)
				r->bad++;
			cJSON_Delete(j);
		}
		store_abort(t);
		r->reads++;
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_concurrent_submit_serials(void **state)
{
	struct fx *f = *state;
	struct tjob *jobs = xcalloc(NJOBS, sizeof *jobs);
	pthread_t th[NTHREADS], rd[2];
	struct submitter sb[NTHREADS];
	struct reader rs[2];
	atomic_int stop;
	uint64_t batches = 0, njobs = 0;

	atomic_init(&stop, 0);
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			char key[48];
			snprintf(key, sizeof key, "w/%d/%d", t, i);
			tjob_init(&jobs[t * PER_THREAD + i], PUT, key);
		}
	assert_int_equal(store_writer_start(f->s), ERR_OK);
	assert_int_equal(store_writer_start(f->s), ERR_EXISTS);
	for (int r = 0; r < 2; r++) {
		rs[r] = (struct reader){ .s = f->s, .stop = &stop };
		assert_int_equal(pthread_create(&rd[r], NULL, reader_main, &rs[r]), 0);
	}
	for (int t = 0; t < NTHREADS; t++) {
		sb[t] = (struct submitter){ .s = f->s, .jobs = jobs + t * PER_THREAD, .t = t };
		assert_int_equal(pthread_create(&th[t], NULL, submit_main, &sb[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	wait_done(NJOBS);
	atomic_store(&stop, 1);
	for (int r = 0; r < 2; r++) {
		pthread_join(rd[r], NULL);
		assert_int_equal(rs[r].bad, 0);
		assert_true(rs[r].reads > 0);
	}

	int64_t *serials = xcalloc(NJOBS, sizeof *serials);
	for (int i = 0; i < NJOBS; i++) {
		assert_int_equal(jobs[i].rc, ERR_OK);
		assert_int_equal(atomic_load(&jobs[i].runs), 1);
		assert_int_equal(atomic_load(&jobs[i].dones), 1);
		serials[i] = jobs[i].serial;
	}
	qsort(serials, NJOBS, sizeof *serials, cmp_i64);
	for (int i = 0; i < NJOBS; i++)
		assert_int_equal(serials[i], i);   /* distinct and consecutive from 0 */
	assert_int_equal(store_serial(f->s), NJOBS - 1);

	/* each job's changelog entry lists exactly its own key */
	struct store_txn *t;
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	for (int i = 0; i < NJOBS; i += 37) {
		const char *v;
		size_t n;
		assert_int_equal(store_changelog_get(t, jobs[i].serial, &v, &n), ERR_OK);
		cJSON *e = cJSON_Parse(v);
		assert_non_null(e);
		const cJSON *ch = cJSON_GetObjectItemCaseSensitive(e, "changes");
		assert_int_equal(cJSON_GetArraySize(ch), 1);
		assert_non_null(cJSON_GetObjectItemCaseSensitive(ch, jobs[i].key));
		assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "serial")->valueint, jobs[i].serial);
		cJSON_Delete(e);
	}
	store_abort(t);

	store_writer_stats(f->s, &batches, &njobs);
	assert_int_equal(njobs, NJOBS);
	assert_true(batches >= 1 && batches <= NJOBS);
	xfree(serials);
	xfree(jobs);
}

/* ---- one failing job in a batch ------------------------------------------ */

static void test_failing_job_rolls_back_alone(void **state)
{
	struct fx *f = *state;
	struct tjob j[6];
	uint64_t batches = 0;

	tjob_init(&j[0], PUT, "a");
	tjob_init(&j[1], FAIL_AFTER_PUT, "b");
	tjob_init(&j[2], PUT, "c");
	tjob_init(&j[3], META_ONLY, "meta1");
	tjob_init(&j[4], COMMIT_OWN, "d");
	tjob_init(&j[5], FAIL_AFTER_PUT, "e");
	/* queued before the writer starts: one batch */
	for (int i = 0; i < 6; i++)
		store_writer_submit(f->s, &j[i].job);
	assert_int_equal(store_writer_start(f->s), ERR_OK);
	wait_done(6);
	store_writer_stats(f->s, &batches, NULL);
	assert_int_equal(batches, 1);

	assert_int_equal(j[0].rc, ERR_OK);
	assert_int_equal(j[0].serial, 0);
	assert_int_equal(j[1].rc, ERR_CONFLICT);
	assert_int_equal(j[2].rc, ERR_OK);
	assert_int_equal(j[2].serial, 1);      /* no gap after b */
	assert_int_equal(j[3].rc, ERR_OK);
	assert_int_equal(j[4].rc, ERR_OK);
	assert_int_equal(j[4].serial, 2);
	assert_int_equal(j[5].rc, ERR_CONFLICT);
	/* jobs without a serial of their own get the current one */
	assert_int_equal(j[1].serial, 2);
	assert_int_equal(j[3].serial, 2);
	assert_int_equal(j[5].serial, 2);
	for (int i = 0; i < 6; i++)
		assert_int_equal(atomic_load(&j[i].dones), 1);

	char *v = get_copy(f->s, "b");
	assert_null(v);
	v = get_copy(f->s, "e");
	assert_null(v);
	v = get_copy(f->s, "c");
	assert_string_equal(v, "{\"k\":\"c\"}");
	xfree(v);
	struct store_txn *t;
	const void *mv;
	const char *cv2;
	size_t n;
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_meta_get(t, "meta1", &mv, &n), ERR_OK);
	assert_int_equal(store_changelog_get(t, 1, &cv2, &n), ERR_OK);
	assert_non_null(strstr(cv2, "\"c\":"));
	assert_null(strstr(cv2, "\"b\":"));
	assert_int_equal(store_changelog_get(t, 3, &cv2, &n), ERR_NOTFOUND);
	store_abort(t);
}

/* ---- batches are bounded ------------------------------------------------- */

static void test_batches_bounded(void **state)
{
	struct fx *f = *state;
	enum { N = 600 };
	struct tjob *jobs = xcalloc(N, sizeof *jobs);
	uint64_t batches = 0;

	for (int i = 0; i < N; i++) {
		char key[48];
		snprintf(key, sizeof key, "n/%04d", i);
		tjob_init(&jobs[i], PUT, key);
		store_writer_submit(f->s, &jobs[i].job);
	}
	assert_int_equal(store_writer_start(f->s), ERR_OK);
	wait_done(N);
	store_writer_stats(f->s, &batches, NULL);
	assert_int_equal(batches, 3);   /* 256 + 256 + 88 */
	for (int i = 0; i < N; i++) {
		assert_int_equal(jobs[i].rc, ERR_OK);
		assert_int_equal(jobs[i].serial, i);   /* FIFO order */
	}
	xfree(jobs);
}

/* ---- map full inside a batch --------------------------------------------- */

static void test_map_full_fails_only_that_job(void **state)
{
	struct fx *f = *state;
	struct tjob j[4];

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(open_store(f, 1024 * 1024), ERR_OK);
	tjob_init(&j[0], PUT, "x1");
	tjob_init(&j[1], BIG_CHUNKS, "big");
	tjob_init(&j[2], PUT, "x2");
	tjob_init(&j[3], BIG_CHUNKS, "big2");
	for (int i = 0; i < 4; i++)
		store_writer_submit(f->s, &j[i].job);
	assert_int_equal(store_writer_start(f->s), ERR_OK);
	wait_done(4);
	assert_int_equal(j[0].rc, ERR_OK);
	assert_int_equal(j[0].serial, 0);
	assert_int_equal(j[1].rc, ERR_MAPFULL);
	assert_int_equal(j[2].rc, ERR_OK);
	assert_int_equal(j[2].serial, 1);
	assert_int_equal(j[3].rc, ERR_MAPFULL);
	char *v = get_copy(f->s, "big");
	assert_null(v);
	v = get_copy(f->s, "x2");
	assert_non_null(v);
	xfree(v);

	/* later small jobs still work */
	reset_done();
	tjob_init(&j[0], PUT, "x3");
	store_writer_submit(f->s, &j[0].job);
	wait_done(1);
	assert_int_equal(j[0].rc, ERR_OK);
	assert_int_equal(j[0].serial, 2);
}

/* ---- close drains; submit without a writer -------------------------------- */

static void test_close_drains_queue(void **state)
{
	struct fx *f = *state;
	enum { N = 50 };
	struct tjob *jobs = xcalloc(N, sizeof *jobs);

	assert_int_equal(store_writer_start(f->s), ERR_OK);
	for (int i = 0; i < N; i++) {
		char key[48];
		snprintf(key, sizeof key, "d/%02d", i);
		tjob_init(&jobs[i], PUT, key);
		store_writer_submit(f->s, &jobs[i].job);
	}
	store_close(f->s);   /* returns only after every queued job is done */
	f->s = NULL;
	pthread_mutex_lock(&mu);
	assert_int_equal(ndone, N);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < N; i++)
		assert_int_equal(jobs[i].rc, ERR_OK);

	assert_int_equal(open_store(f, 0), ERR_OK);
	assert_int_equal(store_serial(f->s), N - 1);
	char *v = get_copy(f->s, "d/49");
	assert_non_null(v);
	xfree(v);

	/* never started: close completes queued jobs with ERR_GONE, unrun */
	reset_done();
	tjob_init(&jobs[0], PUT, "never");
	store_writer_submit(f->s, &jobs[0].job);
	store_close(f->s);
	f->s = NULL;
	wait_done(1);
	assert_int_equal(jobs[0].rc, ERR_GONE);
	assert_int_equal(atomic_load(&jobs[0].runs), 0);
	assert_int_equal(open_store(f, 0), ERR_OK);
	v = get_copy(f->s, "never");
	assert_null(v);
	xfree(jobs);
}

int main(void)
{
	log_set_level(getenv("STORE_TEST_LOG") ? LOG_DEBUG : -1);   /* expected errors stay quiet */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_submit_serials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_job_rolls_back_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_full_fails_only_that_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_drains_queue, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
