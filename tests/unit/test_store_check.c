/* test_store_check.c — store_check (fsck): a clean store, then one kind of
 * damage per test (a flipped byte, a missing, short or extra chunk, an
 * orphan chunk, a shared blob id, a malformed blob entry, a non-JSON record,
 * a record key with control bytes, changelog gaps and bad entries, a bad
 * meta serial), and a check that runs while the writer thread commits.
 * Damage the public API refuses to write goes in through store_int.h.
 * Each test gets a fresh store in a mkdtemp directory under /tmp, removed
 * afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "store/store.h"
#include "store/store_int.h"

#define MAXMSG 64

struct blob_fx {
	uint8_t sha[32];
	char hex[SHA256_HEX_LEN + 1];
	uint64_t id;
	uint64_t size;
	uint32_t nchunks;
	uint8_t *data;     /* owned */
};

struct fx {
	char root[64];
	char dir[96];
	struct store *s;
	struct blob_fx a, b;   /* a: 12 bytes, one chunk; b: 2.5 MiB, three chunks */
};

/* problem lines the callback received, copied */
struct col {
	char *msg[MAXMSG];
	size_t n;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = xmalloc(n ? n : 1);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

static void put1(struct store *s, const char *key, const char *val)
{
	struct store_txn *t;
	assert_int_equal(store_write_begin(s, &t), ERR_OK);
	if (val)
		assert_int_equal(store_put(t, key, val, strlen(val)), ERR_OK);
	else
		assert_int_equal(store_del(t, key), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
}

/* Streams data under a fresh id, one txn per chunk, and finishes it. */
static void blob_store(struct store *s, struct blob_fx *b, size_t size, unsigned seed)
{
	struct store_txn *t;
	uint32_t idx = 0;

	b->data = pattern(size, seed);
	b->size = size;
	b->id = store_blob_id_new(s);
	sha256_buf(b->data, size, b->sha);
	hex_encode(b->sha, 32, b->hex);
	for (size_t off = 0; off < size; off += STORE_CHUNK_SIZE, idx++) {
		size_t len = size - off < STORE_CHUNK_SIZE ? size - off : STORE_CHUNK_SIZE;
		assert_int_equal(store_write_begin(s, &t), ERR_OK);
		assert_int_equal(store_chunk_put(t, b->id, idx, b->data + off, len), ERR_OK);
		assert_int_equal(store_commit(t, NULL), ERR_OK);
	}
	b->nchunks = idx;
	assert_int_equal(store_write_begin(s, &t), ERR_OK);
	assert_int_equal(store_blob_finish(t, b->id, b->sha, size, idx), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
}

/* The clean store: serials 0..3 (records user/alice, index/alice/dev,
 * user/carol; user/bob put then deleted) and two blobs. */
static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	snprintf(f->root, sizeof f->root, "/tmp/test_store_check.XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/data", f->root);
	struct store_opts o = { .dir = f->dir };
	if (store_open(&o, &f->s) != ERR_OK)
		return -1;
	*state = f;

	struct store_txn *t;
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_put(t, "user/alice", "{\"email\":\"a@x\"}", 15), ERR_OK);
	assert_int_equal(store_put(t, "user/bob", "{}", 2), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
	put1(f->s, "index/alice/dev", "{\"bases\":[],\"volatile\":true}");
	put1(f->s, "user/bob", NULL);
	put1(f->s, "user/carol", "[1, 2.5, \"x\"]");
	assert_int_equal(store_serial(f->s), 3);

	blob_store(f->s, &f->a, 12, 1);
	blob_store(f->s, &f->b, 2 * STORE_CHUNK_SIZE + STORE_CHUNK_SIZE / 2, 2);
	assert_int_equal(f->a.nchunks, 1);
	assert_int_equal(f->b.nchunks, 3);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->s);
	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	xfree(f->a.data);
	xfree(f->b.data);
	xfree(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static void collect(void *arg, const char *problem)
{
	struct col *c = arg;
	/* one line, printable, lower case (these tests use lower-case keys) */
	assert_non_null(problem);
	assert_true(strlen(problem) > 0);
	for (const char *p = problem; *p; p++) {
		assert_true(*p >= 0x20 && *p < 0x7f);
		assert_false(isupper((unsigned char)*p));
	}
	if (c->n < MAXMSG)
		c->msg[c->n++] = xstrdup(problem);
}

static void col_free(struct col *c)
{
	for (size_t i = 0; i < c->n; i++)
		xfree(c->msg[i]);
	c->n = 0;
}

/* Number of collected lines containing every one of the (NULL-ended)
 * substrings. */
static size_t col_count(const struct col *c, ...)
{
	size_t hits = 0;
	for (size_t i = 0; i < c->n; i++) {
		va_list ap;
		const char *s;
		int all = 1;
		va_start(ap, c);
		while ((s = va_arg(ap, const char *)) != NULL)
			if (!strstr(c->msg[i], s))
				all = 0;
		va_end(ap);
		hits += all;
	}
	return hits;
}

static void run_check(struct fx *f, bool rehash, struct col *c, struct store_check_report *r)
{
	memset(r, 0xab, sizeof *r);   /* store_check must zero it */
	assert_int_equal(store_check(f->s, rehash, collect, c, r), ERR_OK);
}

static uint64_t problems(const struct store_check_report *r)
{
	return r->bad_records + r->changelog_problems + r->bad_blobs + r->orphan_chunks;
}

enum rawdb { RAW_KV, RAW_CHANGELOG, RAW_BLOBS, RAW_CHUNKS, RAW_META };

static MDB_dbi rawdbi(struct store *s, enum rawdb d)
{
	switch (d) {
	case RAW_KV: return s->db_kv;
	case RAW_CHANGELOG: return s->db_changelog;
	case RAW_BLOBS: return s->db_blobs;
	case RAW_CHUNKS: return s->db_chunks;
	default: return s->db_meta;
	}
}

/* Writes (val, vlen) under (key, klen) straight into LMDB in its own
 * transaction, bypassing every check of the API (no changelog entry, no
 * serial, even a malformed meta serial); val NULL deletes. */
static void raw(struct store *s, enum rawdb d, const void *key, size_t klen, const void *val, size_t vlen)
{
	MDB_txn *txn = NULL;
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	if (val)
		assert_int_equal(mdb_put(txn, rawdbi(s, d), &k, &v, 0), 0);
	else
		assert_int_equal(mdb_del(txn, rawdbi(s, d), &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void chunk_key(uint8_t k[12], uint64_t id, uint32_t idx)
{
	store_be64(k, id);
	store_be32(k + 8, idx);
}

static void serial_key(uint8_t k[8], uint64_t serial)
{
	store_be64(k, serial);
}

static void chunk_put(struct store *s, uint64_t id, uint32_t idx, const void *p, size_t len)
{
	struct store_txn *t;
	assert_int_equal(store_write_begin(s, &t), ERR_OK);
	assert_int_equal(store_chunk_put(t, id, idx, p, len), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);
}

/* ---- tests --------------------------------------------------------------- */

static void test_clean_store(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };

	run_check(f, true, &c, &r);
	assert_int_equal(c.n, 0);
	assert_int_equal(problems(&r), 0);
	assert_int_equal(r.records, 3);
	assert_int_equal(r.serials, 4);
	assert_int_equal(r.blobs, 2);
	assert_int_equal(r.chunks, 4);
	assert_int_equal(r.bytes_hashed, f->a.size + f->b.size);

	run_check(f, false, &c, &r);
	assert_int_equal(c.n, 0);
	assert_int_equal(problems(&r), 0);
	assert_int_equal(r.chunks, 4);
	assert_int_equal(r.bytes_hashed, 0);

	/* a NULL callback is fine; the counts are the same */
	assert_int_equal(store_check(f->s, true, NULL, NULL, &r), ERR_OK);
	assert_int_equal(problems(&r), 0);
	assert_int_equal(r.records, 3);
	assert_int_equal(store_check(f->s, true, NULL, NULL, NULL), ERR_INVAL);
}

static void test_empty_store_and_empty_blobs(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };
	char root[64], dir[96];
	struct store *s = NULL;

	/* a brand-new store: nothing to find */
	snprintf(root, sizeof root, "/tmp/test_store_check.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof dir, "%s/data", root);
	struct store_opts o = { .dir = dir };
	assert_int_equal(store_open(&o, &s), ERR_OK);
	memset(&r, 0xab, sizeof r);
	assert_int_equal(store_check(s, true, collect, &c, &r), ERR_OK);
	assert_int_equal(c.n, 0);
	assert_int_equal(problems(&r) + r.records + r.serials + r.blobs + r.chunks + r.bytes_hashed, 0);
	store_close(s);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

	/* empty blobs: no chunk at all, or one empty chunk */
	uint8_t e0[32], e1[32];
	struct store_txn *t;
	sha256_buf("", 0, e0);
	memcpy(e1, e0, 32);
	e1[0] ^= 1;   /* a second entry needs a second sha256; rehash must flag it */
	uint64_t id0 = store_blob_id_new(f->s), id1 = store_blob_id_new(f->s);
	chunk_put(f->s, id1, 0, "", 0);
	assert_int_equal(store_write_begin(f->s, &t), ERR_OK);
	assert_int_equal(store_blob_finish(t, id0, e0, 0, 0), ERR_OK);
	assert_int_equal(store_blob_finish(t, id1, e1, 0, 1), ERR_OK);
	assert_int_equal(store_commit(t, NULL), ERR_OK);

	run_check(f, false, &c, &r);
	assert_int_equal(c.n, 0);
	assert_int_equal(problems(&r), 0);
	assert_int_equal(r.blobs, 4);
	assert_int_equal(r.chunks, 5);

	char hex1[SHA256_HEX_LEN + 1];
	hex_encode(e1, 32, hex1);
	run_check(f, true, &c, &r);
	assert_int_equal(r.bad_blobs, 1);
	assert_int_equal(c.n, 1);
	assert_int_equal(col_count(&c, hex1, "sha256 mismatch", NULL), 1);
	col_free(&c);
}

static void test_flipped_byte(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };

	/* the API does not refuse rewriting a finished blob's chunk */
	uint8_t *mod = xmalloc(STORE_CHUNK_SIZE);
	memcpy(mod, f->b.data + STORE_CHUNK_SIZE, STORE_CHUNK_SIZE);
	mod[4321] ^= 0x01;
	chunk_put(f->s, f->b.id, 1, mod, STORE_CHUNK_SIZE);
	xfree(mod);

	run_check(f, false, &c, &r);
	assert_int_equal(c.n, 0);
	assert_int_equal(r.bad_blobs, 0);
	assert_int_equal(problems(&r), 0);

	run_check(f, true, &c, &r);
	assert_int_equal(r.blobs, 2);
	assert_int_equal(r.bad_blobs, 1);
	assert_int_equal(problems(&r), 1);
	assert_int_equal(r.bytes_hashed, f->a.size + f->b.size);
	assert_int_equal(c.n, 1);
	assert_int_equal(col_count(&c, f->b.hex, "sha256 mismatch", NULL), 1);
	assert_int_equal(col_count(&c, f->a.hex, NULL), 0);
	col_free(&c);
}

static void test_missing_chunk(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };
	uint8_t k[12];
	char idtext[32];

	chunk_key(k, f->b.id, 1);
	raw(f->s, RAW_CHUNKS, k, sizeof k, NULL, 0);
	snprintf(idtext, sizeof idtext, "(id %llu)", (unsigned long long)f->b.id);

	run_check(f, false, &c, &r);
	assert_int_equal(r.bad_blobs, 1);
	assert_int_equal(r.chunks, 3);
	assert_int_equal(r.orphan_chunks, 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(col_count(&c, f->b.hex, idtext, "chunks 1..1 missing", NULL), 1);
	col_free(&c);

	/* with rehash the same single finding, and nothing of b is hashed */
	run_check(f, true, &c, &r);
	assert_int_equal(r.bad_blobs, 1);
	assert_int_equal(c.n, 1);
	assert_true(r.bytes_hashed < f->a.size + f->b.size);
	col_free(&c);

	/* the last one too: both gaps are named, still one bad blob */
	chunk_key(k, f->b.id, 2);
	raw(f->s, RAW_CHUNKS, k, sizeof k, NULL, 0);
	run_check(f, true, &c, &r);
	assert_int_equal(r.bad_blobs, 1);
	assert_int_equal(c.n, 1);
	assert_int_equal(col_count(&c, f->b.hex, "chunks 1..2 missing", NULL), 1);
	col_free(&c);
}

static void test_short_and_extra_chunks(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };

	chunk_put(f->s, f->b.id, 0, f->b.data, 1000);        /* short, not the last */
	chunk_put(f->s, f->b.id, 3, "tail", 4);             /* beyond nchunks */
	chunk_put(f->s, f->b.id, 7, "more", 4);

	run_check(f, true, &c, &r);
	assert_int_equal(r.bad_blobs, 1);                   /* one blob, several findings */
	assert_int_equal(r.orphan_chunks, 0);               /* extra chunks are b's, not orphans */
	assert_int_equal(r.chunks, 6);
	assert_int_equal(c.n, 2);
	assert_int_equal(col_count(&c, f->b.hex, "chunk 0 has 1000 bytes, expected 1048576", NULL), 1);
	assert_int_equal(col_count(&c, f->b.hex, "2 chunk(s) beyond its 3 (the first is chunk 3)", NULL), 1);
	col_free(&c);

	/* a long last chunk of a: too many bytes */
	chunk_put(f->s, f->a.id, 0, f->b.data, 13);
	run_check(f, false, &c, &r);
	assert_int_equal(r.bad_blobs, 2);
	assert_int_equal(col_count(&c, f->a.hex, "chunk 0 has 13 bytes, expected 12", NULL), 1);
	col_free(&c);
}

static void test_orphan_chunk(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };
	char idtext[32];

	uint64_t id = store_blob_id_new(f->s);
	chunk_put(f->s, id, 0, "partial upload", 14);
	snprintf(idtext, sizeof idtext, "blob id %llu:", (unsigned long long)id);

	run_check(f, true, &c, &r);
	assert_int_equal(r.orphan_chunks, 1);
	assert_int_equal(r.chunks, 5);
	assert_int_equal(r.bad_blobs, 0);
	assert_int_equal(problems(&r), 1);
	assert_int_equal(c.n, 1);
	assert_int_equal(col_count(&c, idtext, "1 orphan chunk(s)", "upload in progress", NULL), 1);
	col_free(&c);

	/* two more chunks of another id: one line per id, chunks counted */
	uint64_t id2 = store_blob_id_new(f->s);
	chunk_put(f->s, id2, 0, f->b.data, STORE_CHUNK_SIZE);
	chunk_put(f->s, id2, 1, "x", 1);
	run_check(f, false, &c, &r);
	assert_int_equal(r.orphan_chunks, 3);
	assert_int_equal(c.n, 2);
	assert_int_equal(col_count(&c, "2 orphan chunk(s)", NULL), 1);
	col_free(&c);

	/* a malformed chunk key is counted as an orphan too */
	raw(f->s, RAW_CHUNKS, "\x00\x00\x00", 3, "zz", 2);
	run_check(f, false, &c, &r);
	assert_int_equal(r.orphan_chunks, 4);
	assert_int_equal(col_count(&c, "malformed key of 3 bytes (000000)", NULL), 1);
	col_free(&c);
}

static void test_shared_blob_id(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };
	struct store_txn *t;
	const uint8_t *rec;
	uint8_t copy[28], sha2[32];
	char hex2[SHA256_HEX_LEN + 1];

	/* a second entry pointing at b's chunks, as if b's id were finished
	 * twice under different hashes */
	assert_int_equal(store_read_begin(f->s, &t), ERR_OK);
	MDB_val k = { 32, f->b.sha }, v;
	assert_int_equal(mdb_get(t->txn, f->s->db_blobs, &k, &v), 0);
	assert_int_equal(v.mv_size, 28);
	rec = v.mv_data;
	memcpy(copy, rec, 28);
	store_abort(t);
	memset(sha2, 0x5a, 32);
	hex_encode(sha2, 32, hex2);
	raw(f->s, RAW_BLOBS, sha2, 32, copy, 28);

	run_check(f, false, &c, &r);
	assert_int_equal(r.blobs, 3);
	assert_int_equal(r.bad_blobs, 2);
	assert_int_equal(c.n, 2);
	assert_int_equal(col_count(&c, f->b.hex, "shared with 1 other blob entry", NULL), 1);
	assert_int_equal(col_count(&c, hex2, "shared with 1 other blob entry", NULL), 1);
	col_free(&c);

	/* with rehash the impostor also fails its hash: still counted once */
	run_check(f, true, &c, &r);
	assert_int_equal(r.bad_blobs, 2);
	assert_int_equal(c.n, 3);
	assert_int_equal(col_count(&c, hex2, "sha256 mismatch", NULL), 1);
	col_free(&c);
}

static void test_malformed_blob_entries(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };
	uint8_t sha[32], rec[28];
	char hex[SHA256_HEX_LEN + 1];

	/* a record of the wrong length */
	memset(sha, 0x11, 32);
	hex_encode(sha, 32, hex);
	raw(f->s, RAW_BLOBS, sha, 32, "short", 5);
	/* a size that cannot be in nchunks chunks */
	memset(sha, 0x22, 32);
	store_be64(rec, 5 * STORE_CHUNK_SIZE);
	store_be32(rec + 8, 1);
	store_be64(rec + 12, f->a.id);
	store_be64(rec + 20, 0);
	raw(f->s, RAW_BLOBS, sha, 32, rec, 28);
	/* a key that is not 32 bytes */
	raw(f->s, RAW_BLOBS, "key\n", 4, rec, 28);

	run_check(f, true, &c, &r);
	assert_int_equal(r.blobs, 5);
	assert_int_equal(r.bad_blobs, 4);   /* the three, and a now shares its id */
	assert_int_equal(col_count(&c, hex, "entry of 5 bytes, expected 28", NULL), 1);
	assert_int_equal(col_count(&c, "5242880 bytes cannot be in 1 chunk(s)", NULL), 1);
	assert_int_equal(col_count(&c, "blob entry with a malformed key 'key\\x0a' of 4 bytes", NULL), 1);
	assert_int_equal(col_count(&c, "shared with 1 other blob entry", NULL), 2);
	col_free(&c);
}

static void test_bad_records(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };

	raw(f->s, RAW_KV, "user/evil", 9, "{not json", 10);          /* with its NUL */
	run_check(f, false, &c, &r);
	assert_int_equal(r.records, 4);
	assert_int_equal(r.bad_records, 1);
	assert_int_equal(problems(&r), 1);
	assert_int_equal(c.n, 1);
	assert_int_equal(col_count(&c, "record 'user/evil'", "not valid json", NULL), 1);
	col_free(&c);

	/* trailing garbage after a value, a value without its NUL, an
	 * embedded NUL, an empty value, a key with control bytes and a quote */
	raw(f->s, RAW_KV, "user/a", 6, "{} {}", 6);
	raw(f->s, RAW_KV, "user/b", 6, "{}", 2);
	raw(f->s, RAW_KV, "user/c", 6, "\"a\0b\"", 6);
	raw(f->s, RAW_KV, "user/d", 6, "", 0);
	raw(f->s, RAW_KV, "x\ny'\x01", 5, "nope", 5);
	run_check(f, false, &c, &r);
	assert_int_equal(r.records, 9);
	assert_int_equal(r.bad_records, 6);
	assert_int_equal(c.n, 6);
	assert_int_equal(col_count(&c, "record 'user/a'", "not valid json", NULL), 1);
	assert_int_equal(col_count(&c, "record 'user/b'", "not nul-terminated", NULL), 1);
	assert_int_equal(col_count(&c, "record 'user/c'", "not valid json", NULL), 1);
	assert_int_equal(col_count(&c, "record 'user/d'", "not nul-terminated", NULL), 1);
	assert_int_equal(col_count(&c, "record 'x\\x0ay\\x27\\x01'", "not valid json", NULL), 1);
	col_free(&c);

	/* an oversized key (LMDB allows 511) is named, cut, on one line */
	char big[511];
	memset(big, 'k', sizeof big);
	raw(f->s, RAW_KV, big, sizeof big, "1", 2);
	run_check(f, false, &c, &r);
	assert_int_equal(r.bad_records, 7);
	assert_int_equal(col_count(&c, "kkk...': key of 511 bytes (at most 500)", NULL), 1);
	col_free(&c);
}

static void test_changelog_gap(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };
	uint8_t k[8];

	serial_key(k, 1);
	raw(f->s, RAW_CHANGELOG, k, sizeof k, NULL, 0);
	run_check(f, false, &c, &r);
	assert_int_equal(r.serials, 3);
	assert_int_equal(r.changelog_problems, 1);
	assert_int_equal(problems(&r), 1);
	assert_int_equal(c.n, 1);
	assert_int_equal(col_count(&c, "changelog: serials 1..1 missing", NULL), 1);
	col_free(&c);

	/* the newest entry gone: a gap below the current serial */
	serial_key(k, 3);
	raw(f->s, RAW_CHANGELOG, k, sizeof k, NULL, 0);
	run_check(f, false, &c, &r);
	assert_int_equal(r.changelog_problems, 2);
	assert_int_equal(col_count(&c, "serials 3..3 missing below the current serial", NULL), 1);
	col_free(&c);

	/* an old prefix pruned is fine: the oldest kept entry starts the range */
	serial_key(k, 0);
	raw(f->s, RAW_CHANGELOG, k, sizeof k, NULL, 0);
	run_check(f, false, &c, &r);
	assert_int_equal(r.serials, 1);
	assert_int_equal(r.changelog_problems, 1);
	col_free(&c);
}

static void test_changelog_bad_entries(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };
	uint8_t k[8];
	const char *wrong = "{\"serial\":7,\"time\":1.0,\"changes\":{}}";
	const char *nochanges = "{\"serial\":2,\"time\":1.0}";

	serial_key(k, 0);
	raw(f->s, RAW_CHANGELOG, k, sizeof k, "{\"serial\":0,", 13);
	serial_key(k, 1);
	raw(f->s, RAW_CHANGELOG, k, sizeof k, wrong, strlen(wrong) + 1);
	serial_key(k, 2);
	raw(f->s, RAW_CHANGELOG, k, sizeof k, nochanges, strlen(nochanges) + 1);
	serial_key(k, 3);
	raw(f->s, RAW_CHANGELOG, k, sizeof k, "[3]", 3);   /* no NUL */
	run_check(f, false, &c, &r);
	assert_int_equal(r.serials, 4);
	assert_int_equal(r.changelog_problems, 4);
	assert_int_equal(c.n, 4);
	assert_int_equal(col_count(&c, "changelog 0: entry is not a json object", NULL), 1);
	assert_int_equal(col_count(&c, "changelog 1: entry says serial 7", NULL), 1);
	assert_int_equal(col_count(&c, "changelog 2: entry has no \"changes\" object", NULL), 1);
	assert_int_equal(col_count(&c, "changelog 3: entry is not nul-terminated", NULL), 1);
	col_free(&c);
}

static void test_changelog_vs_meta(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };
	uint8_t k[8], sv[8];
	const char *e10 = "{\"serial\":10,\"time\":1.0,\"changes\":{}}";

	/* an entry beyond meta's serial, after a gap */
	serial_key(k, 10);
	raw(f->s, RAW_CHANGELOG, k, sizeof k, e10, strlen(e10) + 1);
	run_check(f, false, &c, &r);
	assert_int_equal(r.serials, 5);
	assert_int_equal(r.changelog_problems, 2);
	assert_int_equal(col_count(&c, "serials 4..9 missing", NULL), 1);
	assert_int_equal(col_count(&c, "up to 10 are above the current serial 3", NULL), 1);
	col_free(&c);
	raw(f->s, RAW_CHANGELOG, k, sizeof k, NULL, 0);

	/* a malformed meta serial is a finding, not a failure */
	raw(f->s, RAW_META, "serial", 6, "xyz", 3);
	run_check(f, false, &c, &r);
	assert_int_equal(r.changelog_problems, 1);
	assert_int_equal(col_count(&c, "meta 'serial': malformed value of 3 bytes", NULL), 1);
	col_free(&c);

	/* meta serial gone while the changelog holds entries */
	raw(f->s, RAW_META, "serial", 6, NULL, 0);
	run_check(f, false, &c, &r);
	assert_int_equal(r.changelog_problems, 1);
	assert_int_equal(col_count(&c, "meta 'serial': missing, but the changelog reaches serial 3", NULL), 1);
	col_free(&c);

	/* and the other way: a serial with no changelog at all */
	store_be64(sv, 3);
	raw(f->s, RAW_META, "serial", 6, sv, 8);
	for (uint64_t i = 0; i < 4; i++) {
		serial_key(k, i);
		raw(f->s, RAW_CHANGELOG, k, sizeof k, NULL, 0);
	}
	run_check(f, false, &c, &r);
	assert_int_equal(r.serials, 0);
	assert_int_equal(r.changelog_problems, 1);
	assert_int_equal(col_count(&c, "changelog: empty, but the current serial is 3", NULL), 1);
	col_free(&c);
}

/* ---- a check while the writer thread commits --------------------------- */

#define NJOBS 60

static atomic_int jobs_done;
static atomic_int jobs_failed;

struct put_job {
	struct store_job job;
	struct store *s;
	int n;
};

/* One record and one complete two-chunk blob per job, in one transaction:
 * a snapshot never sees the chunks without their blob entry. */
static int put_job_run(struct store_txn *t, void *arg)
{
	struct put_job *j = arg;
	char key[32], val[32];
	uint8_t *data = NULL, sha[32];
	size_t size = STORE_CHUNK_SIZE + 100 + (size_t)j->n;
	int rc;

	snprintf(key, sizeof key, "job/%d", j->n);
	snprintf(val, sizeof val, "{\"n\":%d}", j->n);
	rc = store_put(t, key, val, strlen(val));
	if (rc)
		return rc;
	data = pattern(size, 100 + (unsigned)j->n);
	sha256_buf(data, size, sha);
	uint64_t id = store_blob_id_new(j->s);
	rc = store_chunk_put(t, id, 0, data, STORE_CHUNK_SIZE);
	if (rc == ERR_OK)
		rc = store_chunk_put(t, id, 1, data + STORE_CHUNK_SIZE, size - STORE_CHUNK_SIZE);
	if (rc == ERR_OK)
		rc = store_blob_finish(t, id, sha, size, 2);
	xfree(data);
	return rc;
}

static void put_job_done(void *arg, int rc, int64_t serial)
{
	(void)arg; (void)serial;
	if (rc)
		atomic_fetch_add(&jobs_failed, 1);
	atomic_fetch_add(&jobs_done, 1);
}

static void test_check_while_writing(void **state)
{
	struct fx *f = *state;
	struct store_check_report r;
	struct col c = { 0 };
	struct put_job *jobs = xcalloc(NJOBS, sizeof *jobs);
	int checks = 0;

	atomic_store(&jobs_done, 0);
	atomic_store(&jobs_failed, 0);
	assert_int_equal(store_writer_start(f->s), ERR_OK);
	for (int i = 0; i < NJOBS; i++) {
		jobs[i].s = f->s;
		jobs[i].n = i;
		jobs[i].job.run = put_job_run;
		jobs[i].job.done = put_job_done;
		jobs[i].job.arg = &jobs[i];
		store_writer_submit(f->s, &jobs[i].job);
	}
	uint64_t last_records = 0;
	do {
		int before = atomic_load(&jobs_done);
		run_check(f, true, &c, &r);
		checks++;
		assert_int_equal(c.n, 0);
		assert_int_equal(problems(&r), 0);
		/* one snapshot: records, serials, blobs and chunks agree */
		assert_true(r.records >= 3 + (uint64_t)before);
		assert_true(r.records >= last_records);
		assert_int_equal(r.serials, r.records + 1);
		assert_int_equal(r.blobs, 2 + (r.records - 3));
		assert_int_equal(r.chunks, 4 + 2 * (r.records - 3));
		last_records = r.records;
	} while (atomic_load(&jobs_done) < NJOBS);
	assert_int_equal(atomic_load(&jobs_failed), 0);
	assert_true(checks >= 1);
	print_message("%d check(s) ran alongside the writer\n", checks);

	run_check(f, true, &c, &r);
	assert_int_equal(problems(&r), 0);
	assert_int_equal(r.records, 3 + NJOBS);
	assert_int_equal(r.blobs, 2 + NJOBS);
	col_free(&c);
	store_close(f->s);   /* joins the writer before the jobs are freed */
	f->s = NULL;
	xfree(jobs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_store_and_empty_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_and_extra_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphan_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_blob_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_blob_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changelog_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changelog_bad_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changelog_vs_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_while_writing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
