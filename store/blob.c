/* blob.c — content-addressed blobs stored as chunks, and the orphan sweep.
 *
 * A file's bytes are stored once per sha256, however many records link to
 * them.  `chunks` holds the content under (blob id u64 BE, index u32 BE),
 * up to STORE_CHUNK_SIZE per value, so a large file never has to sit in
 * one LMDB value or in memory, and a reader sends it chunk by chunk, each
 * under its own short read transaction.  `blobs` maps the sha256 to a
 * fixed 28-byte record: size u64 | nchunks u32 | id u64 | created i64, all
 * big-endian.
 *
 * Streaming writes chunks under a fresh id (store_blob_id_new) in as many
 * transactions as it likes; nothing refers to that id yet, so readers cannot
 * see a half-stored file.  store_blob_finish checks the chunks and writes the
 * `blobs` entry that makes them visible: a blob is either complete or
 * absent.  If the same content was stored meanwhile, the new chunks are
 * dropped and the existing blob kept.  Chunks of an aborted stream are
 * deleted by store_blob_discard; a crash leaves them behind for
 * store_sweep_orphans at the next start.
 *
 * Ids must never be reused while something refers to them, also across
 * restarts: ids start above the highest id found in `chunks` and above
 * "store.blob_id_max" in meta, which store_blob_finish raises (an empty blob
 * has no chunks to remember its id by).
 */
#include "store/store_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#define BLOB_REC_LEN 28
#define CHUNK_KEY_LEN 12

static void chunk_key(uint8_t k[CHUNK_KEY_LEN], uint64_t id, uint32_t idx)
{
	store_be64(k, id);
	store_be32(k + 8, idx);
}

static int blob_decode(const MDB_val *v, const uint8_t sha256[32], struct store_blob *out)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size != BLOB_REC_LEN) {
		log_err("store: malformed blob record (%zu bytes)", v->mv_size);
		return ERR_CORRUPT;
	}
	memcpy(out->sha256, sha256, 32);
	out->size = store_get_be64(p);
	out->nchunks = store_get_be32(p + 8);
	out->id = store_get_be64(p + 12);
	out->created = (int64_t)store_get_be64(p + 20);
	return ERR_OK;
}

int store_blob_get(struct store_txn *t, const uint8_t sha256[32], struct store_blob *out)
{
	memset(out, 0, sizeof *out);
	if (t->err)
		return t->err;
	MDB_val k = { 32, (void *)sha256 }, v;
	int mrc = mdb_get(t->txn, t->s->db_blobs, &k, &v);
	if (mrc)
		return store_txn_fail(t, mrc, "get blob");
	return blob_decode(&v, sha256, out);
}

int store_chunk_get(struct store_txn *t, uint64_t blob_id, uint32_t idx, const void **p, size_t *len)
{
	uint8_t kb[CHUNK_KEY_LEN];

	*p = NULL;
	*len = 0;
	if (t->err)
		return t->err;
	chunk_key(kb, blob_id, idx);
	MDB_val k = { sizeof kb, kb }, v;
	int mrc = mdb_get(t->txn, t->s->db_chunks, &k, &v);
	if (mrc)
		return store_txn_fail(t, mrc, "get chunk");
	*p = v.mv_data;
	*len = v.mv_size;
	return ERR_OK;
}

uint64_t store_blob_id_new(struct store *s)
{
	return atomic_fetch_add(&s->next_blob_id, 1);
}

int store_chunk_put(struct store_txn *t, uint64_t blob_id, uint32_t idx, const void *p, size_t len)
{
	uint8_t kb[CHUNK_KEY_LEN];
	int rc = store_txn_writable(t);

	if (rc)
		return rc;
	if (blob_id == 0 || (!p && len))
		return ERR_INVAL;
	if (len > STORE_CHUNK_SIZE)
		return ERR_TOOBIG;
	chunk_key(kb, blob_id, idx);
	MDB_val k = { sizeof kb, kb }, v = { len, (void *)p };
	int mrc = mdb_put(t->txn, t->s->db_chunks, &k, &v, 0);
	if (mrc)
		return store_txn_fail(t, mrc, "put chunk");
	t->bytes += len + sizeof kb;
	return ERR_OK;
}

/* Positions cur at the first chunk of id at or after idx; sets *found to 0
 * when there is none. */
static int chunk_seek(struct store_txn *t, MDB_cursor *cur, uint64_t id, uint32_t idx,
		      MDB_val *k, MDB_val *v, int *found)
{
	uint8_t kb[CHUNK_KEY_LEN];

	*found = 0;
	chunk_key(kb, id, idx);
	k->mv_size = sizeof kb;
	k->mv_data = kb;
	int mrc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (mrc == MDB_NOTFOUND)
		return ERR_OK;
	if (mrc)
		return store_txn_fail(t, mrc, "seek chunk");
	if (k->mv_size != CHUNK_KEY_LEN) {
		log_err("store: malformed chunk key (%zu bytes)", k->mv_size);
		return ERR_CORRUPT;
	}
	*found = store_get_be64(k->mv_data) == id;
	return ERR_OK;
}

/* Deletes every chunk of id; adds the count to *n when n != NULL.  Re-seeks
 * after each delete rather than rely on cursor placement after
 * mdb_cursor_del. */
static int chunks_delete(struct store_txn *t, uint64_t id, uint64_t *n)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, mrc, found;

	mrc = mdb_cursor_open(t->txn, t->s->db_chunks, &cur);
	if (mrc)
		return store_txn_fail(t, mrc, "open cursor");
	for (;;) {
		rc = chunk_seek(t, cur, id, 0, &k, &v, &found);
		if (rc || !found)
			break;
		mrc = mdb_cursor_del(cur, 0);
		if (mrc) {
			rc = store_txn_fail(t, mrc, "delete chunk");
			break;
		}
		if (n)
			(*n)++;
	}
	mdb_cursor_close(cur);
	return rc;
}

/* Checks that id has exactly chunks 0..nchunks-1, every one full
 * (STORE_CHUNK_SIZE) but the last, which holds the rest: a reader then finds
 * byte offset o in chunk o / STORE_CHUNK_SIZE without reading the others. */
static int chunks_verify(struct store_txn *t, uint64_t id, uint64_t size, uint32_t nchunks)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t expect = 0;
	int rc, mrc, found;

	/* an empty blob may also come as one empty chunk */
	if ((size + STORE_CHUNK_SIZE - 1) / STORE_CHUNK_SIZE != nchunks && !(size == 0 && nchunks == 1)) {
		log_err("store: blob %" PRIu64 " of %" PRIu64 " bytes cannot have %" PRIu32 " chunk(s)",
			id, size, nchunks);
		return ERR_CORRUPT;
	}
	mrc = mdb_cursor_open(t->txn, t->s->db_chunks, &cur);
	if (mrc)
		return store_txn_fail(t, mrc, "open cursor");
	rc = chunk_seek(t, cur, id, 0, &k, &v, &found);
	while (rc == ERR_OK && found) {
		uint32_t idx = store_get_be32((const uint8_t *)k.mv_data + 8);
		if (idx != expect || expect >= nchunks) {
			log_err("store: blob %" PRIu64 " has chunk %" PRIu32 " where %" PRIu64
				" of %" PRIu32 " was expected", id, idx, expect, nchunks);
			rc = ERR_CORRUPT;
			goto out;
		}
		uint64_t want = size - expect * STORE_CHUNK_SIZE;
		if (want > STORE_CHUNK_SIZE)
			want = STORE_CHUNK_SIZE;
		if (v.mv_size != want) {
			log_err("store: chunk %" PRIu32 " of blob %" PRIu64 " has %zu bytes, expected %" PRIu64,
				idx, id, v.mv_size, want);
			rc = ERR_CORRUPT;
			goto out;
		}
		expect++;
		mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		if (mrc == MDB_NOTFOUND)
			break;
		if (mrc) {
			rc = store_txn_fail(t, mrc, "next chunk");
			goto out;
		}
		found = k.mv_size == CHUNK_KEY_LEN && store_get_be64(k.mv_data) == id;
	}
	if (rc == ERR_OK && expect != nchunks) {
		log_err("store: blob %" PRIu64 " has %" PRIu64 " of its %" PRIu32 " chunk(s)",
			id, expect, nchunks);
		rc = ERR_CORRUPT;
	}
out:
	mdb_cursor_close(cur);
	return rc;
}

/* Raises meta store.blob_id_max to id. */
static int blob_id_remember(struct store_txn *t, uint64_t id)
{
	uint8_t vb[8];
	MDB_val k = { strlen(STORE_META_BLOB_ID_MAX), (void *)STORE_META_BLOB_ID_MAX }, v;
	int mrc = mdb_get(t->txn, t->s->db_meta, &k, &v);

	if (mrc && mrc != MDB_NOTFOUND)
		return store_txn_fail(t, mrc, "get blob id max");
	if (mrc == 0 && v.mv_size == 8 && store_get_be64(v.mv_data) >= id)
		return ERR_OK;
	store_be64(vb, id);
	v.mv_size = sizeof vb;
	v.mv_data = vb;
	mrc = mdb_put(t->txn, t->s->db_meta, &k, &v, 0);
	if (mrc)
		return store_txn_fail(t, mrc, "put blob id max");
	return ERR_OK;
}

int store_blob_finish(struct store_txn *t, uint64_t blob_id, const uint8_t sha256[32], uint64_t size, uint32_t nchunks)
{
	uint8_t rec[BLOB_REC_LEN];
	struct store_blob old;
	int rc = store_txn_writable(t), mrc;

	if (rc)
		return rc;
	if (blob_id == 0 || !sha256)
		return ERR_INVAL;
	MDB_val k = { 32, (void *)sha256 }, v;
	mrc = mdb_get(t->txn, t->s->db_blobs, &k, &v);
	if (mrc == 0) {
		rc = blob_decode(&v, sha256, &old);
		if (rc)
			return rc;
		if (old.id == blob_id)
			return ERR_OK;
		return chunks_delete(t, blob_id, NULL);
	}
	if (mrc != MDB_NOTFOUND)
		return store_txn_fail(t, mrc, "get blob");

	rc = chunks_verify(t, blob_id, size, nchunks);
	if (rc)
		return rc;
	store_be64(rec, size);
	store_be32(rec + 8, nchunks);
	store_be64(rec + 12, blob_id);
	store_be64(rec + 20, (uint64_t)(int64_t)time(NULL));
	v.mv_size = sizeof rec;
	v.mv_data = rec;
	mrc = mdb_put(t->txn, t->s->db_blobs, &k, &v, MDB_NOOVERWRITE);
	if (mrc)
		return store_txn_fail(t, mrc, "put blob");
	t->bytes += sizeof rec + 32;
	return blob_id_remember(t, blob_id);
}

int store_blob_discard(struct store_txn *t, uint64_t blob_id)
{
	int rc = store_txn_writable(t);

	if (rc)
		return rc;
	if (blob_id == 0)
		return ERR_INVAL;
	return chunks_delete(t, blob_id, NULL);
}

int store_blob_delete(struct store_txn *t, const uint8_t sha256[32])
{
	struct store_blob b;
	int rc = store_txn_writable(t), mrc;

	if (rc)
		return rc;
	MDB_val k = { 32, (void *)sha256 }, v;
	mrc = mdb_get(t->txn, t->s->db_blobs, &k, &v);
	if (mrc)
		return store_txn_fail(t, mrc, "get blob");
	rc = blob_decode(&v, sha256, &b);
	if (rc)
		return rc;
	rc = chunks_delete(t, b.id, NULL);
	if (rc)
		return rc;
	mrc = mdb_del(t->txn, t->s->db_blobs, &k, NULL);
	if (mrc)
		return store_txn_fail(t, mrc, "delete blob");
	return ERR_OK;
}

int store_blob_id_max(struct store *s, MDB_txn *txn, uint64_t *out)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t max = 0;
	int rc = ERR_OK, mrc;

	*out = 0;
	mrc = mdb_cursor_open(txn, s->db_chunks, &cur);
	if (mrc)
		return store_mdb_rc(mrc, "open cursor");
	mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (mrc == 0 && k.mv_size == CHUNK_KEY_LEN)
		max = store_get_be64(k.mv_data);
	else if (mrc && mrc != MDB_NOTFOUND)
		rc = store_mdb_rc(mrc, "last chunk");
	mdb_cursor_close(cur);
	if (rc)
		return rc;

	k.mv_size = strlen(STORE_META_BLOB_ID_MAX);
	k.mv_data = (void *)STORE_META_BLOB_ID_MAX;
	mrc = mdb_get(txn, s->db_meta, &k, &v);
	if (mrc == 0 && v.mv_size == 8 && store_get_be64(v.mv_data) > max)
		max = store_get_be64(v.mv_data);
	else if (mrc && mrc != MDB_NOTFOUND)
		return store_mdb_rc(mrc, "get blob id max");
	if (max == UINT64_MAX) {
		log_err("store: blob ids exhausted");
		return ERR_CORRUPT;
	}
	*out = max;
	return ERR_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The ids every `blobs` entry references, sorted. */
static int blob_ids_collect(struct store_txn *t, uint64_t **ids, size_t *nids)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0, cap = 0;
	uint64_t *a = NULL;
	struct store_blob b;
	int rc = ERR_OK, mrc;

	mrc = mdb_cursor_open(t->txn, t->s->db_blobs, &cur);
	if (mrc)
		return store_txn_fail(t, mrc, "open cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 32) {
			log_err("store: malformed blob key (%zu bytes)", k.mv_size);
			rc = ERR_CORRUPT;
			goto out;
		}
		rc = blob_decode(&v, k.mv_data, &b);
		if (rc)
			goto out;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			a = xrealloc(a, cap * sizeof *a);
		}
		a[n++] = b.id;
	}
	if (mrc != MDB_NOTFOUND)
		rc = store_txn_fail(t, mrc, "scan blobs");
	else if (n)
		qsort(a, n, sizeof *a, cmp_u64);
out:
	mdb_cursor_close(cur);
	if (rc) {
		xfree(a);
		a = NULL;
		n = 0;
	}
	*ids = a;
	*nids = n;
	return rc;
}

int store_sweep_orphans(struct store *s, uint64_t *removed)
{
	struct store_txn *t = NULL;
	MDB_cursor *cur = NULL;
	uint64_t *ids = NULL, n = 0;
	size_t nids = 0;
	int rc, mrc, started;

	if (removed)
		*removed = 0;
	pthread_mutex_lock(&s->wmu);
	started = s->wstarted;
	pthread_mutex_unlock(&s->wmu);
	if (started)
		return ERR_BUSY;

	rc = store_write_begin(s, &t);
	if (rc)
		goto fail;
	rc = blob_ids_collect(t, &ids, &nids);
	if (rc)
		goto fail;
	mrc = mdb_cursor_open(t->txn, s->db_chunks, &cur);
	if (mrc) {
		rc = store_txn_fail(t, mrc, "open cursor");
		goto fail;
	}
	/* Walk chunks id by id: a referenced id is skipped in one seek, an
	 * orphaned one is deleted chunk by chunk. */
	MDB_val k, v;
	uint8_t kb[CHUNK_KEY_LEN];
	mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (mrc == 0) {
		if (k.mv_size != CHUNK_KEY_LEN) {
			log_err("store: malformed chunk key (%zu bytes)", k.mv_size);
			rc = ERR_CORRUPT;
			goto fail;
		}
		uint64_t id = store_get_be64(k.mv_data);
		if (bsearch(&id, ids, nids, sizeof *ids, cmp_u64)) {
			if (id == UINT64_MAX)
				break;
			chunk_key(kb, id + 1, 0);
		} else {
			mrc = mdb_cursor_del(cur, 0);
			if (mrc) {
				rc = store_txn_fail(t, mrc, "delete chunk");
				goto fail;
			}
			n++;
			chunk_key(kb, id, 0);
		}
		k.mv_size = sizeof kb;
		k.mv_data = kb;
		mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	if (mrc && mrc != MDB_NOTFOUND) {
		rc = store_txn_fail(t, mrc, "scan chunks");
		goto fail;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	rc = store_commit(t, NULL);
	t = NULL;
	if (rc)
		goto fail;
	if (n)
		log_info("store: swept %" PRIu64 " orphaned chunk(s) in '%s'", n, s->dir);
	if (removed)
		*removed = n;
fail:
	if (cur)
		mdb_cursor_close(cur);
	store_abort(t);
	xfree(ids);
	return rc;
}

ssize_t store_blob_read_at(struct store_txn *t, uint64_t blob_id, uint64_t off, void *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		const void *p;
		size_t len;
		uint32_t idx = (uint32_t)((off + done) / STORE_CHUNK_SIZE);
		size_t within = (size_t)((off + done) % STORE_CHUNK_SIZE);
		int rc = store_chunk_get(t, blob_id, idx, &p, &len);
		if (rc == ERR_NOTFOUND || (!rc && within >= len))
			break;
		if (rc)
			return -1;
		size_t take = len - within < n - done ? len - within : n - done;
		memcpy((char *)buf + done, (const char *)p + within, take);
		done += take;
	}
	return (ssize_t)done;
}
