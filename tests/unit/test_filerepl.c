/* test_filerepl.c — a replica's file queue (proxy/filerepl.c) without its
 * threads: what a changelog entry queues, the order of the queue, the scan
 * in bounded batches over more records than one batch holds, the error
 * list and its bound, retry delays, --file-replication-skip-indexes and the
 * primary's URL of a relpath.  Downloads are covered by
 * tests/integration/test_replica_files.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>

/* small bounds, so the tests cross them quickly */
#define FR_QUEUE_MAX 5000u
#define FR_ERRORS_MAX 100u
#define FR_SCAN_BATCH 100u
#include "proxy/filerepl.c"

struct fx {
	char root[64];
	char dir[96];
	struct store *s;
	struct config cfg;
	struct app a;
	struct filerepl *f;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

/* A filerepl as filerepl_start makes it, with no thread started. */
static struct filerepl *fr_new(struct app *a, const char *skip)
{
	struct filerepl *f = xcalloc(1, sizeof *f);
	f->a = a;
	f->next_due_ms = UINT64_MAX;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	parse_skip(f, skip);
	f->nthreads = 1;             /* queueing is on; no thread is there to work */
	return f;
}

static void fr_free(struct filerepl *f)
{
	f->nthreads = 0;
	curl_global_init(CURL_GLOBAL_DEFAULT);   /* filerepl_stop releases one */
	filerepl_stop(f);
}

static int setup(void **state)
{
	struct fx *x = xcalloc(1, sizeof *x);
	snprintf(x->root, sizeof x->root, "/tmp/test_filerepl.XXXXXX");
	if (!mkdtemp(x->root))
		return -1;
	snprintf(x->dir, sizeof x->dir, "%s/data", x->root);
	struct store_opts o = { .dir = x->dir };
	if (store_open(&o, &x->s) != ERR_OK)
		return -1;
	x->cfg.request_timeout = 5;
	x->cfg.proxy_timeout = 30;
	x->a.cfg = &x->cfg;
	x->a.store = x->s;
	snprintf(x->a.primary_url, sizeof x->a.primary_url, "http://primary:3141");
	x->f = fr_new(&x->a, NULL);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	if (x->f)
		fr_free(x->f);
	store_close(x->s);
	nftw(x->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	xfree(x);
	return 0;
}

static void sha_hex_of(const char *s, char hex[SHA256_HEX_LEN + 1])
{
	uint8_t d[SHA256_LEN];
	sha256_buf(s, strlen(s), d);
	hex_encode(d, SHA256_LEN, hex);
}

/* A file record of relpath whose content is the string content. */
static cJSON *file_rec(const char *content, const char *core)
{
	char hex[SHA256_HEX_LEN + 1];
	sha_hex_of(content, hex);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "hashes"), "sha256", hex);
	cJSON_AddStringToObject(r, "last_modified", "Thu, 11 Feb 2016 12:55:56 GMT");
	cJSON_AddNumberToObject(r, "size", (double)strlen(content));
	if (core) {
		sha_hex_of(core, hex);
		cJSON_AddStringToObject(r, "core_metadata_sha256", hex);
	}
	return r;
}

static void put_json(struct store_txn *t, const char *key, cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);
	assert_int_equal(store_put(t, key, s, strlen(s)), ERR_OK);
	cJSON_free(s);
	cJSON_Delete(v);
}

static void put_blob(struct store *s, struct store_txn *t, const char *content)
{
	uint8_t d[SHA256_LEN];
	sha256_buf(content, strlen(content), d);
	uint64_t id = store_blob_id_new(s);
	assert_int_equal(store_chunk_put(t, id, 0, content, strlen(content)), ERR_OK);
	assert_int_equal(store_blob_finish(t, id, d, strlen(content), 1), ERR_OK);
}

static void put_index(struct store_txn *t, const char *stage, const char *type)
{
	char key[200];
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "type", type);
	snprintf(key, sizeof key, "index/%s", stage);
	put_json(t, key, c);
}

static void relpath_of(const char *stage, const char *content, const char *fn, char *out, size_t cap)
{
	char hex[SHA256_HEX_LEN + 1];
	sha_hex_of(content, hex);
	snprintf(out, cap, "%s/+f/%.3s/%.13s/%s", stage, hex, hex + 3, fn);
}

/* Pops the whole queue, checking its order; counts per class. */
static size_t drain(struct filerepl *f, size_t per_class[3])
{
	size_t n = 0;
	struct fr_item *prev = NULL;
	memset(per_class, 0, 3 * sizeof *per_class);
	for (struct fr_item *it; (it = heap_pop_locked(f)); n++) {
		if (prev) {
			assert_true(prev->cls <= it->cls);
			if (prev->cls == it->cls)
				assert_true(prev->serial >= it->serial);
			xfree(prev);
		}
		table_del_locked(f, it);
		it->state = FR_WAITING;
		per_class[it->cls]++;
		prev = it;
	}
	xfree(prev);
	return n;
}

static void test_scan_in_batches(void **state)
{
	struct fx *x = *state;
	struct store_txn *t;
	char rel[300], key[320], content[64];
	size_t want_private = 0, want_mirror = 0, want_gone = 0;
	assert_int_equal(store_write_begin(x->s, &t), ERR_OK);
	put_index(t, "u/priv", "stage");
	put_index(t, "root/pypi", "mirror");
	for (int i = 0; i < 2600; i++) {        /* more than two batches in one stage */
		snprintf(content, sizeof content, "private %d", i);
		relpath_of("u/priv", content, "p.tar.gz", rel, sizeof rel);
		snprintf(key, sizeof key, "file/%s", rel);
		bool wheel = i % 500 == 7;
		put_json(t, key, file_rec(content, wheel ? content + 1 : NULL));
		if (i % 10 == 3)
			put_blob(x->s, t, content);     /* already here */
		else
			want_private++;
		if (wheel)
			want_private++;                 /* its core metadata */
	}
	for (int i = 0; i < 1200; i++) {
		snprintf(content, sizeof content, "mirror %d", i);
		relpath_of("root/pypi", content, "m.whl", rel, sizeof rel);
		snprintf(key, sizeof key, "file/%s", rel);
		cJSON *r = file_rec(content, NULL);
		if (i % 100 == 1) {
			cJSON_DeleteItemFromObject(r, "last_modified");   /* a link, never fetched */
		} else if (i % 100 == 2) {
			cJSON_Delete(r);
			r = cJSON_CreateObject();
			cJSON_AddTrueToObject(r, "deleted");
		} else {
			want_mirror++;
		}
		put_json(t, key, r);
	}
	for (int i = 0; i < 40; i++) {
		snprintf(content, sizeof content, "gone %d", i);
		relpath_of("old/idx", content, "g.zip", rel, sizeof rel);
		snprintf(key, sizeof key, "file/%s", rel);
		put_json(t, key, file_rec(content, NULL));
		want_gone++;
	}
	put_json(t, "file/broken", cJSON_CreateString("not a record"));
	assert_int_equal(store_commit(t, NULL), ERR_OK);

	x->f->in_sync_seen = true;
	scan_all(x->f);
	assert_false(x->f->overflow);
	assert_int_equal(x->f->nitems, want_private + want_mirror + want_gone);
	size_t per[3];
	assert_int_equal(drain(x->f, per), want_private + want_mirror + want_gone);
	assert_int_equal(per[FR_PRIVATE], want_private);
	assert_int_equal(per[FR_MIRROR], want_mirror);
	assert_int_equal(per[FR_GONE], want_gone);
	assert_int_equal(x->f->nitems, 0);
}

static void test_scan_skips(void **state)
{
	struct fx *x = *state;
	struct store_txn *t;
	char rel[300], key[320];
	fr_free(x->f);
	x->f = fr_new(&x->a, " mirror , u/b,");
	assert_int_equal(x->f->nskip, 2);
	assert_false(x->f->skip_all);
	assert_int_equal(store_write_begin(x->s, &t), ERR_OK);
	put_index(t, "u/a", "stage");
	put_index(t, "u/b", "stage");
	put_index(t, "root/pypi", "mirror");
	const char *stages[] = { "u/a", "u/b", "root/pypi" };
	for (int i = 0; i < 3; i++) {
		relpath_of(stages[i], stages[i], "x.whl", rel, sizeof rel);
		snprintf(key, sizeof key, "file/%s", rel);
		put_json(t, key, file_rec(stages[i], NULL));
	}
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	x->f->in_sync_seen = true;
	scan_all(x->f);
	assert_int_equal(x->f->nitems, 1);
	assert_non_null(x->f->heap[0]);
	assert_memory_equal(x->f->heap[0]->relpath, "u/a/", 4);

	fr_free(x->f);
	x->f = fr_new(&x->a, "all");
	assert_true(x->f->skip_all);
	x->f->in_sync_seen = true;
	scan_all(x->f);
	assert_int_equal(x->f->nitems, 0);
}

static void test_note_changes(void **state)
{
	struct fx *x = *state;
	struct store_txn *t;
	char a[300], b[300], m[300], ka[320], kb[320], km[320];
	assert_int_equal(store_write_begin(x->s, &t), ERR_OK);
	put_index(t, "u/priv", "stage");
	put_index(t, "root/pypi", "mirror");
	put_blob(x->s, t, "present");
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	relpath_of("u/priv", "one", "a.tar.gz", a, sizeof a);
	relpath_of("u/priv", "present", "b.tar.gz", b, sizeof b);
	relpath_of("root/pypi", "mirrored", "m.whl", m, sizeof m);
	snprintf(ka, sizeof ka, "file/%s", a);
	snprintf(kb, sizeof kb, "file/%s", b);
	snprintf(km, sizeof km, "file/%s", m);

	cJSON *ch = cJSON_CreateObject();
	cJSON_AddItemToObject(ch, ka, file_rec("one", NULL));
	cJSON_AddItemToObject(ch, kb, file_rec("present", NULL));   /* blob here: nothing to do */
	cJSON_AddItemToObject(ch, km, file_rec("mirrored", NULL));  /* before in_sync: not yet */
	cJSON_AddItemToObject(ch, "index/u/priv", cJSON_CreateObject());
	cJSON_AddItemToObject(ch, "file/", file_rec("empty relpath", NULL));
	filerepl_note_changes(x->f, ch, 5);
	assert_int_equal(x->f->nitems, 1);
	assert_string_equal(x->f->heap[0]->relpath, a);
	assert_int_equal(x->f->heap[0]->serial, 5);
	/* the same again, later: still one entry, with the newer serial */
	filerepl_note_changes(x->f, ch, 9);
	assert_int_equal(x->f->nitems, 1);
	assert_int_equal(x->f->heap[0]->serial, 9);
	x->f->in_sync_seen = true;
	filerepl_note_changes(x->f, ch, 10);
	assert_int_equal(x->f->nitems, 2);
	assert_string_equal(x->f->heap[0]->relpath, a);    /* private before mirror */
	assert_string_equal(x->f->heap[1]->relpath, m);
	cJSON_Delete(ch);

	/* deletions take queued files out of the queue */
	ch = cJSON_CreateObject();
	cJSON_AddNullToObject(ch, ka);
	cJSON *tomb = cJSON_CreateObject();
	cJSON_AddTrueToObject(tomb, "deleted");
	cJSON_AddItemToObject(ch, km, tomb);
	filerepl_note_changes(x->f, ch, 11);
	cJSON_Delete(ch);
	assert_int_equal(x->f->nitems, 0);
	assert_int_equal(x->f->nheap, 0);
	assert_true(x->f->files_in_sync_at > 0);          /* the queue ran dry with no error */

	/* not a changes object: ignored */
	filerepl_note_changes(x->f, NULL, 12);
	cJSON *arr = cJSON_CreateArray();
	filerepl_note_changes(x->f, arr, 12);
	cJSON_Delete(arr);
	filerepl_note_changes(NULL, NULL, 12);
}

static void test_errors_and_status(void **state)
{
	struct fx *x = *state;
	struct filerepl *f = x->f;
	struct fr_want w = { .size = 3, .cls = FR_PRIVATE };
	char rel[64];
	memset(w.sha, 7, sizeof w.sha);
	/* FR_ERRORS_MAX + 5 failures (newest serial first): the last ones, f0..f4,
	 * are dropped for the rescan */
	for (unsigned i = 0; i < FR_ERRORS_MAX + 5; i++) {
		snprintf(rel, sizeof rel, "u/i/+f/abc/def/f%u.zip", i);
		w.relpath = rel;
		assert_true(add_locked(f, &w, i));
	}
	for (unsigned i = 0; i < FR_ERRORS_MAX + 5; i++) {
		struct fr_item *it = heap_pop_locked(f);
		assert_non_null(it);
		it->state = FR_RUNNING;
		f->nrunning++;
		settle_locked(f, it, FR_FAILED, "http://primary/x", "primary answered 500");
	}
	assert_int_equal(f->nerrs, FR_ERRORS_MAX);
	assert_int_equal(f->nitems, FR_ERRORS_MAX);
	assert_true(f->overflow);
	assert_true(f->next_due_ms > time_mono_ms() + 10000);
	check_idle_locked(f);
	assert_true(f->files_in_sync_at == 0);            /* errors pending: not in sync */

	cJSON *res = cJSON_CreateObject();
	cJSON *errs = cJSON_AddObjectToObject(res, "replication-errors");
	cJSON *cl = cJSON_AddObjectToObject(errs, "+changelog");
	cJSON_AddStringToObject(cl, "message", "kept");
	filerepl_status(f, res);
	errs = cJSON_GetObjectItemCaseSensitive(res, "replication-errors");
	assert_int_equal(cJSON_GetArraySize(errs), FR_ERRORS_MAX + 1);
	cJSON *e = cJSON_GetObjectItemCaseSensitive(errs, "u/i/+f/abc/def/f50.zip");
	assert_non_null(e);
	assert_string_equal(json_get_str(e, "relpath"), "u/i/+f/abc/def/f50.zip");
	assert_string_equal(json_get_str(e, "url"), "http://primary/x");
	assert_string_equal(json_get_str(e, "message"), "primary answered 500");
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(res, "replica-files-in-sync-at")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(res, "replica-init-queue-finished-at")));
	cJSON_Delete(res);

	/* retries come due: back in the queue, still listed until they succeed */
	requeue_due_locked(f, f->next_due_ms);
	assert_int_equal(f->nheap, FR_ERRORS_MAX);
	while (f->nheap) {
		struct fr_item *it = heap_pop_locked(f);
		it->state = FR_RUNNING;
		f->nrunning++;
		settle_locked(f, it, it->attempts % 2 ? FR_STORED : FR_DROP, NULL, NULL);
	}
	assert_int_equal(f->nerrs, 0);
	assert_int_equal(f->nitems, 0);
	check_idle_locked(f);
	assert_true(f->files_in_sync_at > 0);
	res = cJSON_CreateObject();
	filerepl_status(f, res);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "replication-errors")), 0);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(res, "replica-files-in-sync-at")));
	cJSON_Delete(res);
	/* the rescan for what was dropped comes at the next in_sync */
	f->in_sync_seen = true;
	filerepl_in_sync(f);
	assert_true(f->scan_wanted);
	assert_false(f->overflow);
}

static void test_queue_bound(void **state)
{
	struct fx *x = *state;
	struct filerepl *f = x->f;
	struct fr_want w = { .size = -1, .cls = FR_PRIVATE };
	char rel[64];
	memset(w.sha, 1, sizeof w.sha);
	w.relpath = rel;
	for (unsigned i = 0; i < FR_QUEUE_MAX; i++) {
		snprintf(rel, sizeof rel, "u/i/+f/%u", i);
		assert_true(add_locked(f, &w, i % 1000));
	}
	snprintf(rel, sizeof rel, "u/i/+f/one-more");
	assert_false(add_locked(f, &w, 5));
	assert_true(f->overflow);
	assert_int_equal(f->nitems, FR_QUEUE_MAX);
	/* newest serial first within a class */
	assert_int_equal(f->heap[0]->serial, 999);
	for (unsigned i = 0; i < FR_QUEUE_MAX; i++) {
		struct fr_item *it = heap_pop_locked(f);
		assert_int_equal(it->serial, 999 - i / (FR_QUEUE_MAX / 1000));
		table_del_locked(f, it);
		xfree(it);
	}
}

static void test_retry_delays(void **state)
{
	(void)state;
	assert_int_equal(retry_delay_ms(1), 11000);
	assert_int_equal(retry_delay_ms(2), 16500);
	assert_int_equal(retry_delay_ms(3), 24750);
	assert_int_equal(retry_delay_ms(15), (uint64_t)(11000 * pow(1.5, 14)));
	assert_int_equal(retry_delay_ms(16), 3600000);
	assert_int_equal(retry_delay_ms(1000000), 3600000);
}

static void test_url(void **state)
{
	struct fx *x = *state;
	char *u = filerepl_url(&x->a, "u/i/+f/abc/0123456789abc/a b%c+d-1.0.tar.gz");
	assert_string_equal(u, "http://primary:3141/u/i/+f/abc/0123456789abc/a%20b%25c+d-1.0.tar.gz");
	xfree(u);
	u = filerepl_url(&x->a, "root/pypi/+e/https_files.example_x/p\xc3\xa9-1.zip");
	assert_string_equal(u, "http://primary:3141/root/pypi/+e/https_files.example_x/p%C3%A9-1.zip");
	xfree(u);
}

static void test_status_without_filerepl(void **state)
{
	(void)state;
	cJSON *res = cJSON_CreateObject();
	filerepl_status(NULL, res);
	assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(res, "replication-errors")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(res, "replica-files-in-sync-at")));
	cJSON_Delete(res);
	filerepl_in_sync(NULL);
	filerepl_stop(NULL);
}

int main(void)
{
	log_set_level(getenv("FILEREPL_TEST_LOG") ? LOG_DEBUG : -1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scan_in_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_skips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_note_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_delays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_without_filerepl, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
