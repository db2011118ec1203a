/* test_store_repl.c — store/repl.c: a replica's store takes records only
 * from its primary's entries, in serial order, verbatim; snapshots replace
 * everything; trimming keeps the newest entries.  Two stores in mkdtemp
 * directories play primary and replica. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "store/store.h"

struct fx {
	char root[64];
	struct store *p, *r;     /* primary, replica */
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static int open_at(struct fx *f, const char *name, struct store **s)
{
	char dir[128];
	snprintf(dir, sizeof dir, "%s/%s", f->root, name);
	struct store_opts o = { .dir = dir };
	return store_open(&o, s);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	snprintf(f->root, sizeof f->root, "/tmp/test_store_repl.XXXXXX");
	if (!mkdtemp(f->root) || open_at(f, "p", &f->p) || open_at(f, "r", &f->r))
		return -1;
	store_set_replica(f->r, true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->p);
	store_close(f->r);
	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	xfree(f);
	return 0;
}

/* One commit on the primary: key = val (val NULL deletes). */
static void commit_p(struct fx *f, const char *key, const char *val)
{
	struct store_txn *t;
	assert_int_equal(store_write_begin(f->p, &t), ERR_OK);
	if (val)
		assert_int_equal(store_put(t, key, val, strlen(val)), ERR_OK);
	else
		assert_int_equal(store_del(t, key), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
}

/* The primary's entry of serial, copied. */
static char *entry_p(struct fx *f, int64_t serial)
{
	struct store_txn *t;
	const char *v;
	size_t n;
	assert_int_equal(store_read_begin(f->p, &t), ERR_OK);
	assert_int_equal(store_changelog_get(t, serial, &v, &n), ERR_OK);
	char *c = xstrndup(v, n);
	store_abort(t);
	return c;
}

static int apply_r(struct fx *f, const char *entry)
{
	struct store_txn *t;
	int64_t serial;
	assert_int_equal(store_write_begin(f->r, &t), ERR_OK);
	int rc = store_apply_entry(t, entry, strlen(entry), &serial);
	if (rc) {
		store_abort(t);
		return rc;
	}
	return store_commit(t, NULL);
}

static char *get_r(struct fx *f, const char *key)
{
	struct store_txn *t;
	const char *v;
	size_t n;
	char *c = NULL;
	assert_int_equal(store_read_begin(f->r, &t), ERR_OK);
	if (store_get(t, key, &v, &n) == ERR_OK)
		c = xstrndup(v, n);
	store_abort(t);
	return c;
}

static void test_replica_refuses_local_writes(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	assert_int_equal(store_write_begin(f->r, &t), ERR_OK);
	assert_int_equal(store_put(t, "user/x", "{}", 2), ERR_PERM);
	assert_int_equal(store_del(t, "user/x"), ERR_PERM);
	assert_int_equal(store_meta_put(t, "m", "v", 1), ERR_OK);   /* meta stays writable */
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	assert_int_equal(store_serial(f->r), -1);
	assert_true(store_is_replica(f->r));
	assert_false(store_is_replica(f->p));
}

static void test_entries_apply_in_order_verbatim(void **state)
{
	struct fx *f = *state;
	commit_p(f, "user/a", "{\"n\":1}");
	commit_p(f, "user/b", "{\"n\":[1,2.5,\"\\u00e9\"]}");
	commit_p(f, "user/a", NULL);
	/* a commit whose key is written then deleted: a serial with a null */
	struct store_txn *t;
	assert_int_equal(store_write_begin(f->p, &t), ERR_OK);
	assert_int_equal(store_put(t, "tmp/x", "1", 1), ERR_OK);
	assert_int_equal(store_del(t, "tmp/x"), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	char *e[4];
	for (int i = 0; i < 4; i++)
		e[i] = entry_p(f, i);
	/* out of order: refused, nothing written */
	assert_int_equal(apply_r(f, e[1]), ERR_CONFLICT);
	assert_int_equal(store_serial(f->r), -1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(apply_r(f, e[i]), ERR_OK);
	assert_int_equal(store_serial(f->r), 3);
	/* twice: refused */
	assert_int_equal(apply_r(f, e[3]), ERR_CONFLICT);
	char *a = get_r(f, "user/a"), *b = get_r(f, "user/b");
	assert_null(a);
	assert_non_null(b);
	assert_int_equal(strstr(b, "2.5") != NULL, 1);
	xfree(b);
	/* the replica's changelog holds the same bytes */
	const char *v;
	size_t n;
	assert_int_equal(store_read_begin(f->r, &t), ERR_OK);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(store_changelog_get(t, i, &v, &n), ERR_OK);
		assert_int_equal(n, strlen(e[i]));
		assert_memory_equal(v, e[i], n);
	}
	store_abort(t);
	for (int i = 0; i < 4; i++)
		xfree(e[i]);
	struct store_check_report rep;
	assert_int_equal(store_check(f->r, true, NULL, NULL, &rep), ERR_OK);
	assert_int_equal(rep.changelog_problems, 0);
	assert_int_equal(rep.bad_records, 0);
}

static void test_malformed_entries_refused(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"", "{", "[]", "{\"serial\":0}", "{\"serial\":0,\"changes\":[]}", "{\"serial\":\"0\",\"changes\":{}}",
		"{\"serial\":-1,\"changes\":{}}", "{\"serial\":0.5,\"changes\":{}}", "{\"serial\":1e300,\"changes\":{}}",
		"{\"serial\":0,\"changes\":{\"\":1}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_not_equal(apply_r(f, bad[i]), ERR_OK);
	char big[700];
	int n = snprintf(big, sizeof big, "{\"serial\":0,\"changes\":{\"%0600d\":1}}", 0);
	assert_true(n > 600);
	assert_int_equal(apply_r(f, big), ERR_TOOBIG);
	assert_int_equal(store_serial(f->r), -1);
	assert_int_equal(apply_r(f, "{\"serial\":0,\"time\":1,\"changes\":{\"k\":{\"v\":1}}}"), ERR_OK);
	assert_int_equal(store_serial(f->r), 0);
}

static void test_snapshot_replaces_everything(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	assert_int_equal(apply_r(f, "{\"serial\":0,\"changes\":{\"old\":1,\"keep\":2}}"), ERR_OK);
	assert_int_equal(store_write_begin(f->r, &t), ERR_OK);
	assert_int_equal(store_snapshot_begin(t), ERR_OK);
	assert_int_equal(store_snapshot_put(t, "keep", "3", 1), ERR_OK);
	assert_int_equal(store_snapshot_put(t, "new", "{\"a\":1}", 7), ERR_OK);
	assert_int_equal(store_snapshot_put(t, "bad", "", 0), ERR_INVAL);
	assert_int_equal(store_snapshot_end(t, 41), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	assert_int_equal(store_serial(f->r), 41);
	char *o = get_r(f, "old"), *k = get_r(f, "keep");
	assert_null(o);
	assert_string_equal(k, "3");
	xfree(k);
	int64_t base, oldest;
	assert_int_equal(store_read_begin(f->r, &t), ERR_OK);
	assert_int_equal(store_changelog_base(t, &base), ERR_OK);
	assert_int_equal(store_changelog_oldest(t, &oldest), ERR_OK);
	store_abort(t);
	assert_int_equal(base, 41);
	assert_int_equal(oldest, 42);
	/* the next entry continues from the snapshot */
	assert_int_equal(apply_r(f, "{\"serial\":40,\"changes\":{}}"), ERR_CONFLICT);
	assert_int_equal(apply_r(f, "{\"serial\":42,\"changes\":{\"new\":null}}"), ERR_OK);
	struct store_check_report rep;
	assert_int_equal(store_check(f->r, true, NULL, NULL, &rep), ERR_OK);
	assert_int_equal(rep.changelog_problems, 0);
}

static void test_trim_keeps_the_newest(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	size_t removed;
	int64_t oldest;
	char key[16];
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof key, "k%d", i);
		commit_p(f, key, "1");
	}
	assert_int_equal(store_write_begin(f->p, &t), ERR_OK);
	assert_int_equal(store_changelog_trim(t, 4, 2, &removed), ERR_OK);   /* bounded per call */
	assert_int_equal(removed, 2);
	assert_int_equal(store_changelog_trim(t, 4, 100, &removed), ERR_OK);
	assert_int_equal(removed, 2);
	assert_int_equal(store_changelog_trim(t, 1000, 100, &removed), ERR_OK);   /* never the last */
	assert_int_equal(removed, 5);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	assert_int_equal(store_read_begin(f->p, &t), ERR_OK);
	assert_int_equal(store_changelog_oldest(t, &oldest), ERR_OK);
	store_abort(t);
	assert_int_equal(oldest, 9);
	commit_p(f, "k10", "2");
	struct store_check_report rep;
	assert_int_equal(store_check(f->p, false, NULL, NULL, &rep), ERR_OK);
	assert_int_equal(rep.changelog_problems, 0);
	assert_int_equal(rep.serials, 2);
}

int main(void)
{
	log_set_level(getenv("STORE_TEST_LOG") ? LOG_DEBUG : -1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replica_refuses_local_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entries_apply_in_order_verbatim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_entries_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_replaces_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_keeps_the_newest, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
