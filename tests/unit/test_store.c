/* test_store.c — store/: kv, serials, changelog, meta, blobs, sweep, map
 * full, reopen.  The writer thread is in test_store_writer.c.  Each test
 * gets a fresh store in a mkdtemp directory under /tmp, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

struct fx {
	char root[64];
	char dir[96];
	struct store *s;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static int open_store(struct fx *f, uint64_t map_size)
{
	struct store_opts o = { .dir = f->dir, .map_size = map_size, .max_readers = 0 };
	return store_open(&o, &f->s);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	snprintf(f->root, sizeof f->root, "/tmp/test_store.XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/data", f->root);   /* store_open creates it */
	if (open_store(f, 0) != ERR_OK)
		return -1;
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

static void reopen(struct fx *f, uint64_t map_size)
{
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(open_store(f, map_size), ERR_OK);
}

static void put1(struct store *s, const char *key, const char *val, int64_t want_serial)
{
	struct store_txn *t;
	int64_t serial = -5;
	assert_int_equal(store_write_begin(s, &t), ERR_OK);
	assert_int_equal(store_put(t, key, val, strlen(val)), ERR_OK);
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, want_serial);
}

/* Value of key in a fresh read txn, copied (NULL when absent). */
static char *get_copy(struct store *s, const char *key)
{
	struct store_txn *t;
	const char *v;
	size_t n;
	char *out = NULL;
	assert_int_equal(store_read_begin(s, &t), ERR_OK);
	int rc = store_get(t, key, &v, &n);
	if (rc == ERR_OK) {
		assert_int_equal(strlen(v), n);   /* NUL-terminated at len */
		out = xstrndup(v, n);
	} else {
		assert_int_equal(rc, ERR_NOTFOUND);
	}
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	return out;
}

/* Parsed changelog entry of serial (NULL when absent); cJSON_Delete it. */
static cJSON *changelog(struct store *s, int64_t serial)
{
	struct store_txn *t;
	const char *v;
	size_t n;
	cJSON *j = NULL;
	assert_int_equal(store_read_begin(s, &t), ERR_OK);
	int rc = store_changelog_get(t, serial, &v, &n);
	if (rc == ERR_OK) {
		assert_int_equal(strlen(v), n);
		j = cJSON_Parse(v);
		assert_non_null(j);
	} else {
		assert_int_equal(rc, ERR_NOTFOUND);
	}
	store_abort(t);
	return j;
}

static int changes_count(const cJSON *entry)
{
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(entry, "changes"));
}

static const cJSON *change(const cJSON *entry, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(entry, "changes"), key);
}

/* ---- kv, serials, changelog ------------------------------------------- */

static void test_empty_store(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	int64_t serial = 7;
	const char *v;
	size_t n;

	assert_int_equal(store_serial(f->s), -1);
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_txn_serial(t), -1);
	assert_int_equal(store_get(t, "user/alice", &v, &n), ERR_NOTFOUND);
	assert_null(v);
	assert_int_equal(store_changelog_get(t, 0, &v, &n), ERR_NOTFOUND);
	assert_int_equal(store_changelog_get(t, -1, &v, &n), ERR_NOTFOUND);
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, -1);
	assert_string_equal(store_dir(f->s), f->dir);
}

static void test_put_get_del_serials(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	int64_t serial = -5;
	const char *v;
	size_t n;

	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_put(t, "user/alice", "{\"email\":\"a@x\"}", 15), ERR_OK);
	assert_int_equal(store_put(t, "user/bob", "{\"email\":\"b@x\"}", 15), ERR_OK);
	/* visible inside the txn before commit */
	assert_int_equal(store_get(t, "user/bob", &v, &n), ERR_OK);
	assert_string_equal(v, "{\"email\":\"b@x\"}");
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, 0);
	assert_int_equal(store_serial(f->s), 0);

	char *a = get_copy(f->s, "user/alice");
	assert_string_equal(a, "{\"email\":\"a@x\"}");
	xfree(a);

	cJSON *e = changelog(f->s, 0);
	assert_non_null(e);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "serial")->valueint, 0);
	const cJSON *tm = cJSON_GetObjectItemCaseSensitive(e, "time");
	assert_true(cJSON_IsNumber(tm));
	assert_true(tm->valuedouble > 1.6e9);
	assert_int_equal(changes_count(e), 2);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(change(e, "user/alice"), "email")->valuestring, "a@x");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(change(e, "user/bob"), "email")->valuestring, "b@x");
	cJSON_Delete(e);

	/* second commit: overwrite twice (final value listed once), delete,
	 * delete of an absent key (ERR_NOTFOUND, txn stays usable), put then
	 * delete of a new key (listed as null) */
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_txn_serial(t), 0);
	assert_int_equal(store_put(t, "user/alice", "1", 1), ERR_OK);
	assert_int_equal(store_put(t, "user/alice", "[2]", 3), ERR_OK);
	assert_int_equal(store_del(t, "user/bob"), ERR_OK);
	assert_int_equal(store_del(t, "user/nobody"), ERR_NOTFOUND);
	assert_int_equal(store_put(t, "tmp/x", "true", 4), ERR_OK);
	assert_int_equal(store_del(t, "tmp/x"), ERR_OK);
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, 1);

	e = changelog(f->s, 1);
	assert_non_null(e);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "serial")->valueint, 1);
	assert_int_equal(changes_count(e), 3);
	const cJSON *ca = change(e, "user/alice");
	assert_true(cJSON_IsArray(ca));
	assert_int_equal(cJSON_GetArrayItem(ca, 0)->valueint, 2);
	assert_true(cJSON_IsNull(change(e, "user/bob")));
	assert_true(cJSON_IsNull(change(e, "tmp/x")));
	assert_null(change(e, "user/nobody"));
	cJSON_Delete(e);

	char *b = get_copy(f->s, "user/bob");
	assert_null(b);
	assert_null(changelog(f->s, 2));
	assert_int_equal(store_serial(f->s), 1);
}

static void test_changelog_key_escaping(void **state)
{
	struct fx *f = *state;
	const char *key = "odd/\"q\"\\b\x01\ttab";
	put1(f->s, key, "{\"v\":\"x\\\"y\"}", 0);
	cJSON *e = changelog(f->s, 0);
	assert_non_null(e);
	const cJSON *c = change(e, key);
	assert_non_null(c);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(c, "v")->valuestring, "x\"y");
	cJSON_Delete(e);
}

static void test_no_kv_change_no_serial(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	int64_t serial = -5;
	const void *mv;
	size_t n;

	/* empty store, meta-only commit: serial stays -1 */
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_meta_put(t, "uuid", "abcd", 4), ERR_OK);
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, -1);
	assert_null(changelog(f->s, 0));

	put1(f->s, "k", "1", 0);

	/* meta, chunks, an empty txn: current serial, no new entry */
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_meta_put(t, "role", "primary", 7), ERR_OK);
	assert_int_equal(store_chunk_put(t, store_blob_id_new(f->s), 0, "x", 1), ERR_OK);
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, 0);
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, 0);
	assert_null(changelog(f->s, 1));
	assert_int_equal(store_serial(f->s), 0);

	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_meta_get(t, "role", &mv, &n), ERR_OK);
	assert_int_equal(n, 7);
	assert_memory_equal(mv, "primary", 7);
	assert_int_equal(store_meta_get(t, "uuid", &mv, &n), ERR_OK);
	assert_memory_equal(mv, "abcd", 4);
	assert_int_equal(store_meta_get(t, "nothing", &mv, &n), ERR_NOTFOUND);
	/* the module's own serial is readable: u64 BE 0 */
	assert_int_equal(store_meta_get(t, "serial", &mv, &n), ERR_OK);
	assert_int_equal(n, 8);
	assert_memory_equal(mv, "\0\0\0\0\0\0\0\0", 8);
	store_abort(t);

	/* next kv commit continues at 1 */
	put1(f->s, "k", "2", 1);
}

static void test_abort_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	const void *mv;
	size_t n;

	put1(f->s, "keep", "1", 0);
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_put(t, "gone", "1", 1), ERR_OK);
	assert_int_equal(store_del(t, "keep"), ERR_OK);
	assert_int_equal(store_meta_put(t, "m", "x", 1), ERR_OK);
	store_abort(t);
	store_abort(NULL);

	char *v = get_copy(f->s, "gone");
	assert_null(v);
	v = get_copy(f->s, "keep");
	assert_string_equal(v, "1");
	xfree(v);
	assert_null(changelog(f->s, 1));
	assert_int_equal(store_serial(f->s), 0);
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_meta_get(t, "m", &mv, &n), ERR_NOTFOUND);
	store_abort(t);
	put1(f->s, "next", "1", 1);   /* no gap after an abort */
}

struct scan_acc {
	char keys[8][32];
	int n;
	int stop_after;
};

static int scan_cb(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct scan_acc *a = arg;
	assert_int_equal(strlen(key), klen);
	assert_int_equal(strlen(val), vlen);
	assert_true(a->n < 8);
	snprintf(a->keys[a->n], sizeof a->keys[0], "%s", key);
	a->n++;
	return a->stop_after && a->n >= a->stop_after ? 42 : 0;
}

static void test_scan_prefix(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	static const char *const keys[] = { "p/b", "q/a", "p/a", "p", "p/c", "o/z", "p/" };

	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		assert_int_equal(store_put(t, keys[i], "0", 1), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);

	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	struct scan_acc a = { .n = 0 };
	assert_int_equal(store_scan(t, "p/", scan_cb, &a), ERR_OK);
	assert_int_equal(a.n, 4);
	assert_string_equal(a.keys[0], "p/");
	assert_string_equal(a.keys[1], "p/a");
	assert_string_equal(a.keys[2], "p/b");
	assert_string_equal(a.keys[3], "p/c");

	struct scan_acc b = { .n = 0, .stop_after = 2 };
	assert_int_equal(store_scan(t, "p/", scan_cb, &b), 42);
	assert_int_equal(b.n, 2);
	assert_string_equal(b.keys[1], "p/a");

	struct scan_acc c = { .n = 0 };
	assert_int_equal(store_scan(t, "", scan_cb, &c), ERR_OK);
	assert_int_equal(c.n, 7);
	assert_string_equal(c.keys[0], "o/z");
	assert_string_equal(c.keys[6], "q/a");

	struct scan_acc d = { .n = 0 };
	assert_int_equal(store_scan(t, "zzz", scan_cb, &d), ERR_OK);
	assert_int_equal(store_scan(t, "p/d", scan_cb, &d), ERR_OK);
	assert_int_equal(d.n, 0);

	char longp[STORE_KEY_MAX + 2];
	memset(longp, 'p', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	assert_int_equal(store_scan(t, longp, scan_cb, &d), ERR_TOOBIG);
	assert_int_equal(store_scan_after(t, "p/", longp, scan_cb, &d), ERR_TOOBIG);

	/* resuming: strictly after the key given, still under the prefix */
	struct scan_acc e = { .n = 0 };
	assert_int_equal(store_scan_after(t, "p/", "p/a", scan_cb, &e), ERR_OK);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.keys[0], "p/b");
	assert_string_equal(e.keys[1], "p/c");
	struct scan_acc g = { .n = 0 };
	assert_int_equal(store_scan_after(t, "p/", "p/aa", scan_cb, &g), ERR_OK);   /* not a key */
	assert_int_equal(g.n, 2);
	struct scan_acc h = { .n = 0 };
	assert_int_equal(store_scan_after(t, "p/", "a", scan_cb, &h), ERR_OK);      /* before the prefix */
	assert_int_equal(h.n, 4);
	struct scan_acc i = { .n = 0 };
	assert_int_equal(store_scan_after(t, "p/", "p/c", scan_cb, &i), ERR_OK);    /* the last one */
	assert_int_equal(store_scan_after(t, "p/", "q", scan_cb, &i), ERR_OK);      /* past the prefix */
	assert_int_equal(i.n, 0);
	struct scan_acc j = { .n = 0 };
	assert_int_equal(store_scan_after(t, "", "p/b", scan_cb, &j), ERR_OK);
	assert_int_equal(j.n, 2);
	assert_string_equal(j.keys[1], "q/a");
	store_abort(t);
}

static void test_bad_keys_and_values(void **state)
{
	struct fx *f = *state;
	struct store_txn *t, *r;
	char key[STORE_KEY_MAX + 2];
	const char *v;
	const void *mv;
	size_t n;
	int64_t serial;

	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';          /* 501 bytes */
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_put(t, key, "1", 1), ERR_TOOBIG);
	assert_int_equal(store_get(t, key, &v, &n), ERR_TOOBIG);
	assert_int_equal(store_del(t, key), ERR_TOOBIG);
	assert_int_equal(store_meta_put(t, key, "1", 1), ERR_TOOBIG);
	assert_int_equal(store_meta_get(t, key, &mv, &n), ERR_TOOBIG);
	key[STORE_KEY_MAX] = '\0';           /* exactly 500: fine */
	assert_int_equal(store_put(t, key, "1", 1), ERR_OK);
	assert_int_equal(store_put(t, "", "1", 1), ERR_INVAL);
	/* values must be one JSON value with no NUL */
	assert_int_equal(store_put(t, "j", "{", 1), ERR_INVAL);
	assert_int_equal(store_put(t, "j", "1 2", 3), ERR_INVAL);
	assert_int_equal(store_put(t, "j", "", 0), ERR_INVAL);
	assert_int_equal(store_put(t, "j", "\"a\0b\"", 5), ERR_INVAL);
	assert_int_equal(store_put(t, "j", "nul", 3), ERR_INVAL);
	assert_int_equal(store_put(t, "j", " {\"a\":[1,2]}\n", 13), ERR_OK);
	/* only "1" of a longer buffer is the value */
	assert_int_equal(store_put(t, "n", "123", 1), ERR_OK);
	/* reserved meta names */
	assert_int_equal(store_meta_put(t, "serial", "\0\0\0\0\0\0\0\x09", 8), ERR_PERM);
	assert_int_equal(store_meta_put(t, "store.format", "9", 1), ERR_PERM);
	/* the argument errors above did not spoil the txn */
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, 0);

	char *got = get_copy(f->s, "n");
	assert_string_equal(got, "1");
	xfree(got);
	got = get_copy(f->s, key);
	assert_string_equal(got, "1");
	xfree(got);

	/* writes through a read txn are refused */
	assert_int_equal(store_read_begin(f->s, &r), ERR_OK);
	assert_int_equal(store_put(r, "x", "1", 1), ERR_INVAL);
	assert_int_equal(store_del(r, "n"), ERR_INVAL);
	assert_int_equal(store_meta_put(r, "x", "1", 1), ERR_INVAL);
	assert_int_equal(store_chunk_put(r, 1, 0, "x", 1), ERR_INVAL);
	store_abort(r);
}

static void test_read_snapshots(void **state)
{
	struct fx *f = *state;
	struct store_txn *r1, *r2, *r3;
	const char *v;
	size_t n;

	put1(f->s, "k", "\"old\"", 0);
	/* one thread may hold several read txns (MDB_NOTLS) */
	assert_int_equal(store_read_begin(f->s, &r1), ERR_OK);
	assert_int_equal(store_read_begin(f->s, &r2), ERR_OK);
	put1(f->s, "k", "\"new\"", 1);
	assert_int_equal(store_read_begin(f->s, &r3), ERR_OK);
	assert_int_equal(store_get(r1, "k", &v, &n), ERR_OK);
	assert_string_equal(v, "\"old\"");
	assert_int_equal(store_txn_serial(r2), 0);
	assert_int_equal(store_get(r3, "k", &v, &n), ERR_OK);
	assert_string_equal(v, "\"new\"");
	assert_int_equal(store_txn_serial(r3), 1);
	store_abort(r1);
	store_abort(r2);
	store_abort(r3);
	/* recycled read txns see the newest snapshot */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(store_read_begin(f->s, &r1), ERR_OK);
		assert_int_equal(store_txn_serial(r1), 1 + i);
		store_abort(r1);
		put1(f->s, "k", "0", 2 + i);
	}
}

static void test_double_open_refused(void **state)
{
	struct fx *f = *state;
	struct store *s2 = NULL;
	struct store_opts o = { .dir = f->dir };
	assert_int_equal(store_open(&o, &s2), ERR_BUSY);
	assert_null(s2);
	struct store_opts bad = { .dir = "/proc/definitely/not/here" };
	assert_int_equal(store_open(&bad, &s2), ERR_IO);
	assert_null(s2);
	store_close(NULL);
}

static void test_reopen_keeps_data_and_serial(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	int64_t serial;

	put1(f->s, "a", "1", 0);
	put1(f->s, "b", "2", 1);
	uint64_t id = store_blob_id_new(f->s);
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	uint8_t sha[32];
	sha256_buf("", 0, sha);
	/* an empty blob has no chunks: its id must still not be reused */
	assert_int_equal(store_blob_finish(t, id, sha, 0, 0), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);

	reopen(f, 0);
	assert_int_equal(store_serial(f->s), 1);
	char *v = get_copy(f->s, "b");
	assert_string_equal(v, "2");
	xfree(v);
	cJSON *e = changelog(f->s, 0);
	assert_non_null(e);
	assert_non_null(change(e, "a"));
	cJSON_Delete(e);
	assert_true(store_blob_id_new(f->s) > id);

	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	struct store_blob b;
	assert_int_equal(store_blob_get(t, sha, &b), ERR_OK);
	assert_int_equal(b.size, 0);
	assert_int_equal(b.nchunks, 0);
	assert_int_equal(b.id, id);
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, 1);

	put1(f->s, "c", "3", 2);
}

/* ---- blobs -------------------------------------------------------------- */

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = xmalloc(n);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

/* Streams data under a fresh id in chunks, one txn per chunk; returns id. */
static uint64_t stream(struct store *s, const uint8_t *data, size_t size, uint32_t *nchunks)
{
	uint64_t id = store_blob_id_new(s);
	uint32_t idx = 0;
	for (size_t off = 0; off < size; off += STORE_CHUNK_SIZE, idx++) {
		struct store_txn *t;
		size_t len = size - off < STORE_CHUNK_SIZE ? size - off : STORE_CHUNK_SIZE;
		assert_int_equal(store_write_begin(s, &t), ERR_OK);
		assert_int_equal(store_chunk_put(t, id, idx, data + off, len), ERR_OK);
		assert_int_equal(store_commit(t, NULL), ERR_OK);
	}
	*nchunks = idx;
	return id;
}

static int finish1(struct store *s, uint64_t id, const uint8_t sha[32], uint64_t size, uint32_t nchunks)
{
	struct store_txn *t;
	assert_int_equal(store_write_begin(s, &t), ERR_OK);
	int rc = store_blob_finish(t, id, sha, size, nchunks);
	if (rc) {
		store_abort(t);
		return rc;
	}
	return store_commit(t, NULL);
}

static int chunk_exists(struct store *s, uint64_t id, uint32_t idx)
{
	struct store_txn *t;
	const void *p;
	size_t n;
	assert_int_equal(store_read_begin(s, &t), ERR_OK);
	int rc = store_chunk_get(t, id, idx, &p, &n);
	store_abort(t);
	assert_true(rc == ERR_OK || rc == ERR_NOTFOUND);
	return rc == ERR_OK;
}

static void test_blob_stream_finish_dedup(void **state)
{
	struct fx *f = *state;
	size_t size = 2 * STORE_CHUNK_SIZE + 12345;
	uint8_t *data = pattern(size, 1);
	uint8_t sha[32];
	uint32_t nchunks;
	struct store_txn *t;
	struct store_blob b;
	int64_t serial;

	sha256_buf(data, size, sha);
	uint64_t id = stream(f->s, data, size, &nchunks);
	assert_int_equal(nchunks, 3);
	assert_true(id > 0);

	/* not visible before finish */
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_blob_get(t, sha, &b), ERR_NOTFOUND);
	store_abort(t);

	/* wrong size / wrong count → corrupt, nothing visible */
	assert_int_equal(finish1(f->s, id, sha, size + 1, 3), ERR_CORRUPT);
	assert_int_equal(finish1(f->s, id, sha, size, 2), ERR_CORRUPT);
	assert_int_equal(finish1(f->s, id, sha, size, 4), ERR_CORRUPT);

	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_blob_finish(t, id, sha, size, 3), ERR_OK);
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, -1);   /* blobs are not kv: no serial */

	/* read back chunk by chunk, each under its own short read */
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_blob_get(t, sha, &b), ERR_OK);
	store_abort(t);
	assert_memory_equal(b.sha256, sha, 32);
	assert_int_equal(b.size, size);
	assert_int_equal(b.nchunks, 3);
	assert_int_equal(b.id, id);
	assert_true(b.created > 1600000000);
	struct sha256_ctx c;
	sha256_init(&c);
	size_t total = 0;
	for (uint32_t i = 0; i < b.nchunks; i++) {
		const void *p;
		size_t n;
		assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
		assert_int_equal(store_chunk_get(t, b.id, i, &p, &n), ERR_OK);
		assert_int_equal(n, i < 2 ? STORE_CHUNK_SIZE : 12345);
		assert_memory_equal(p, data + total, n);
		sha256_update(&c, p, n);
		total += n;
		store_abort(t);
	}
	uint8_t got[32];
	sha256_final(&c, got);
	assert_memory_equal(got, sha, 32);
	assert_int_equal(total, size);

	/* the same content again: kept once, second id's chunks dropped */
	uint32_t n2;
	uint64_t id2 = stream(f->s, data, size, &n2);
	assert_true(id2 != id);
	assert_true(chunk_exists(f->s, id2, 0));
	assert_int_equal(finish1(f->s, id2, sha, size, n2), ERR_OK);
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_blob_get(t, sha, &b), ERR_OK);
	store_abort(t);
	assert_int_equal(b.id, id);
	for (uint32_t i = 0; i < 3; i++) {
		assert_false(chunk_exists(f->s, id2, i));
		assert_true(chunk_exists(f->s, id, i));
	}
	/* finishing the kept blob again is harmless */
	assert_int_equal(finish1(f->s, id, sha, size, 3), ERR_OK);
	assert_true(chunk_exists(f->s, id, 0));
	xfree(data);
}

static void test_blob_missing_chunk_and_bounds(void **state)
{
	struct fx *f = *state;
	const size_t C = STORE_CHUNK_SIZE, size = 2 * STORE_CHUNK_SIZE + 3000;
	uint8_t *data = pattern(size, 2);
	uint8_t sha[32];
	struct store_txn *t;
	struct store_blob b;

	sha256_buf(data, size, sha);
	uint64_t id = store_blob_id_new(f->s);
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_chunk_put(t, id, 0, data, C), ERR_OK);
	assert_int_equal(store_chunk_put(t, id, 2, data + 2 * C, 3000), ERR_OK);
	/* missing chunk 1, in the same txn as the chunks */
	assert_int_equal(store_blob_finish(t, id, sha, size, 3), ERR_CORRUPT);
	/* chunk count that cannot hold size; an extra chunk after the last */
	assert_int_equal(store_blob_finish(t, id, sha, size, 2), ERR_CORRUPT);
	assert_int_equal(store_blob_finish(t, id, sha, C, 1), ERR_CORRUPT);
	/* a short chunk in the middle: offsets would not map to chunks */
	assert_int_equal(store_chunk_put(t, id, 1, data + C, C - 1), ERR_OK);
	assert_int_equal(store_blob_finish(t, id, sha, size - 1, 3), ERR_CORRUPT);
	/* hostile arguments */
	assert_int_equal(store_chunk_put(t, id, 3, data, STORE_CHUNK_SIZE + 1), ERR_TOOBIG);
	assert_int_equal(store_chunk_put(t, 0, 0, data, 1), ERR_INVAL);
	assert_int_equal(store_blob_finish(t, 0, sha, 0, 0), ERR_INVAL);
	assert_int_equal(store_blob_finish(t, id, sha, 5, 0), ERR_CORRUPT);
	assert_int_equal(store_blob_finish(t, id, sha, 0, 2), ERR_CORRUPT);
	/* an empty blob as one empty chunk is accepted */
	uint8_t sha0[32];
	sha256_buf("", 0, sha0);
	uint64_t id0 = store_blob_id_new(f->s);
	assert_int_equal(store_chunk_put(t, id0, 0, "", 0), ERR_OK);
	assert_int_equal(store_blob_finish(t, id0, sha0, 0, 1), ERR_OK);
	assert_int_equal(store_blob_get(t, sha0, &b), ERR_OK);
	assert_int_equal(b.nchunks, 1);
	/* fill the gap properly: now it verifies */
	assert_int_equal(store_chunk_put(t, id, 1, data + C, C), ERR_OK);
	assert_int_equal(store_blob_finish(t, id, sha, size, 3), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);

	/* missing chunk committed → corrupt, then discard drops the chunks */
	uint8_t sha2[32];
	sha256_buf(data, 10, sha2);
	uint64_t id2 = store_blob_id_new(f->s);
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_chunk_put(t, id2, 1, data, 10), ERR_OK);
	assert_int_equal(store_chunk_put(t, id2, 2, data, 10), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	assert_int_equal(finish1(f->s, id2, sha2, C + 10, 2), ERR_CORRUPT);
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_blob_get(t, sha2, &b), ERR_NOTFOUND);
	store_abort(t);
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_blob_discard(t, id2), ERR_OK);
	assert_int_equal(store_blob_discard(t, id2), ERR_OK);   /* nothing left: still ok */
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	assert_false(chunk_exists(f->s, id2, 1));
	assert_false(chunk_exists(f->s, id2, 2));
	assert_true(chunk_exists(f->s, id, 1));   /* the neighbour is untouched */

	/* delete: entry and chunks */
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_blob_delete(t, sha), ERR_OK);
	assert_int_equal(store_blob_delete(t, sha), ERR_NOTFOUND);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_blob_get(t, sha, &b), ERR_NOTFOUND);
	store_abort(t);
	for (uint32_t i = 0; i < 3; i++)
		assert_false(chunk_exists(f->s, id, i));
	xfree(data);
}

static void test_sweep_orphans_after_crash(void **state)
{
	struct fx *f = *state;
	uint8_t *data = pattern(2 * STORE_CHUNK_SIZE + 5, 3);
	uint8_t sha[32];
	uint32_t no;
	uint64_t removed = 99;

	/* a kept blob, then a "crashed" upload (chunks, no entry) after it,
	 * and another orphan before it */
	uint64_t orphan1 = store_blob_id_new(f->s);
	struct store_txn *t;
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_chunk_put(t, orphan1, 0, data, 7), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	sha256_buf(data, 100, sha);
	uint64_t keep = store_blob_id_new(f->s);
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_chunk_put(t, keep, 0, data, 100), ERR_OK);
	assert_int_equal(store_blob_finish(t, keep, sha, 100, 1), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	uint64_t orphan2 = stream(f->s, data, 2 * STORE_CHUNK_SIZE + 5, &no);
	assert_int_equal(no, 3);

	reopen(f, 0);
	/* ids never go back, even before the sweep */
	assert_true(store_blob_id_new(f->s) > orphan2);
	assert_int_equal(store_sweep_orphans(f->s, &removed), ERR_OK);
	assert_int_equal(removed, 4);
	assert_false(chunk_exists(f->s, orphan1, 0));
	for (uint32_t i = 0; i < 3; i++)
		assert_false(chunk_exists(f->s, orphan2, i));
	assert_true(chunk_exists(f->s, keep, 0));
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	struct store_blob b;
	assert_int_equal(store_blob_get(t, sha, &b), ERR_OK);
	assert_int_equal(b.id, keep);
	store_abort(t);

	assert_int_equal(store_sweep_orphans(f->s, &removed), ERR_OK);
	assert_int_equal(removed, 0);
	/* not while the writer runs (it could be streaming) */
	assert_int_equal(store_writer_start(f->s), ERR_OK);
	assert_int_equal(store_sweep_orphans(f->s, &removed), ERR_BUSY);
	xfree(data);
}

/* ---- map full ------------------------------------------------------------ */

static void test_map_full(void **state)
{
	struct fx *f = *state;
	enum { VAL = 64 * 1024 };
	char *val = xmalloc(VAL + 3);
	char key[32];
	int i, rc = ERR_OK;
	int64_t serial = -1;

	reopen(f, 1024 * 1024);
	val[0] = '"';
	memset(val + 1, 'v', VAL);
	val[VAL + 1] = '"';
	val[VAL + 2] = '\0';
	for (i = 0; i < 64 && rc == ERR_OK; i++) {
		struct store_txn *t;
		snprintf(key, sizeof key, "big/%03d", i);
		val[1] = (char)('a' + i % 26);
		assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
		rc = store_put(t, key, val, VAL + 2);
		if (rc == ERR_OK) {
			rc = store_commit(t, &serial);
			if (rc == ERR_OK)
				assert_int_equal(serial, i);
		} else {
			/* spoiled: later ops repeat the error, commit aborts */
			assert_int_equal(store_put(t, "other", "1", 1), rc);
			assert_int_equal(store_commit(t, NULL), rc);
		}
	}
	assert_int_equal(rc, ERR_MAPFULL);
	int written = i - 1;
	assert_true(written > 4);
	assert_int_equal(store_serial(f->s), written - 1);

	/* everything committed before still reads */
	for (int j = 0; j < written; j++) {
		snprintf(key, sizeof key, "big/%03d", j);
		char *got = get_copy(f->s, key);
		assert_non_null(got);
		assert_int_equal(strlen(got), VAL + 2);
		assert_int_equal(got[1], 'a' + j % 26);
		xfree(got);
	}
	/* and the env still takes a small write, with the next serial */
	put1(f->s, "small", "1", written);
	/* freeing space makes room for big writes again */
	struct store_txn *t;
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	for (int j = 0; j < written; j++) {
		snprintf(key, sizeof key, "big/%03d", j);
		assert_int_equal(store_del(t, key), ERR_OK);
	}
	assert_int_equal(store_commit(t, &serial), ERR_OK);
	assert_int_equal(serial, written + 1);
	/* pages freed by a commit are reusable from the second commit after
	 * it (the previous snapshot still references them until then) */
	put1(f->s, "tick", "1", written + 2);
	put1(f->s, "big/again", val, written + 3);

	/* survives a reopen with the default map size */
	reopen(f, 0);
	char *got = get_copy(f->s, "small");
	assert_string_equal(got, "1");
	xfree(got);
	assert_int_equal(store_serial(f->s), written + 3);
	xfree(val);
}

static void test_readers_full(void **state)
{
	struct fx *f = *state;
	enum { LIMIT = 4096 };
	struct store_txn **r = xcalloc(LIMIT, sizeof *r);
	int n, rc = ERR_OK;

	put1(f->s, "k", "1", 0);
	for (n = 0; n < LIMIT; n++) {
		rc = store_read_begin(f->s, &r[n]);
		if (rc)
			break;
	}
	assert_int_equal(rc, ERR_BUSY);
	assert_null(r[n]);
	assert_true(n >= (int)STORE_MAX_READERS_DEFAULT - 1);
	/* writes still work while every reader slot is taken */
	put1(f->s, "k", "2", 1);
	store_abort(r[0]);
	assert_int_equal(store_read_begin(f->s, &r[0]), ERR_OK);
	assert_int_equal(store_txn_serial(r[0]), 1);
	assert_int_equal(store_txn_serial(r[1]), 0);
	for (int i = 0; i < n; i++)
		store_abort(r[i]);
	char *v = get_copy(f->s, "k");
	assert_string_equal(v, "2");
	xfree(v);
	xfree(r);
}

int main(void)
{
	log_set_level(getenv("STORE_TEST_LOG") ? LOG_DEBUG : -1);   /* expected errors stay quiet */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_get_del_serials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changelog_key_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_kv_change_no_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys_and_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_snapshots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_open_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data_and_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_stream_finish_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_missing_chunk_and_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_orphans_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readers_full, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
