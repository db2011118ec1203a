/* store_int.h — what the files of store/ share and nobody else sees.
 *
 * Only store/ includes this header and only store/ sees MDB_val.  The
 * structs are defined here so that env.c (environment, transactions),
 * kv.c (records, changelog), blob.c (blobs, chunks, sweep) and writer.c
 * (group commit) can each stay one concern.
 */
#ifndef STORE_STORE_INT_H
#define STORE_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/strset.h"
#include "store/store.h"

/* meta names the module keeps itself (store_meta_put refuses them) */
#define STORE_META_SERIAL "serial"
#define STORE_META_FORMAT "store.format"
#define STORE_META_BLOB_ID_MAX "store.blob_id_max"
#define STORE_FORMAT "1"

struct store {
	MDB_env *env;
	MDB_dbi db_meta, db_kv, db_changelog, db_blobs, db_chunks;
	char *dir;                       /* owned */
	dev_t dev;                       /* identity of dir, for the open-twice guard */
	ino_t ino;
	struct store *reg_next;          /* the process-wide list of open stores */

	_Atomic uint64_t next_blob_id;
	_Atomic int64_t serial;          /* last committed serial, -1 = none */
	_Atomic int write_broken;        /* ERR_* after an I/O error on commit, else 0 */
	_Atomic int replica;             /* records change only through repl.c (store_set_replica) */

	/* read transactions kept reset (reader slot held, no snapshot pinned)
	 * for reuse: mdb_txn_renew avoids the reader-table mutex */
	pthread_mutex_t pool_mu;
	struct store_txn *pool;
	unsigned npool, pool_max;

	/* the writer thread; wmu protects the queue and the flags */
	pthread_mutex_t wmu;
	pthread_cond_t wcv;
	struct store_job *qhead, *qtail;
	int wstarted, wstop, wexited;
	pthread_t wthr;
	_Atomic uint64_t stat_batches, stat_jobs;
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	int rdonly;
	int child;               /* a writer job's nested txn: the writer ends it */
	int err;                 /* sticky error: later ops fail, commit aborts */
	uint64_t bytes;          /* bytes written (bounds a writer batch) */
	int64_t assigned;        /* serial given by store_changes_finalize, or -1 */
	int64_t commit_serial;   /* after a commit: the serial it left current */
	/* kv keys changed, in first-change order; `seen` borrows from keys[] */
	char **keys;
	size_t nkeys, capkeys;
	struct strset seen;
	struct store_txn *pool_next;
};

/* env.c */
/* Translates an LMDB (or errno) code to ERR_*, logging what failed. */
int store_mdb_rc(int mrc, const char *what);
/* Same, and marks t spoiled unless the result is ERR_OK/ERR_NOTFOUND. */
int store_txn_fail(struct store_txn *t, int mrc, const char *what);
/* ERR_INVAL unless t is a usable write txn; t->err if spoiled. */
int store_txn_writable(struct store_txn *t);
/* Raises s->serial to at least v (commits may finish out of order). */
void store_serial_advance(struct store *s, int64_t v);
/* Begins a write txn (child of parent when parent != NULL) into the
 * caller's *t (zeroed here; release with store_txn_release_write). */
int store_txn_init_write(struct store *s, struct store_txn *parent, struct store_txn *t);
/* Finalizes the changelog and commits t->txn; t->txn is gone afterwards
 * whatever the result.  Does not free t. */
int store_txn_commit_write(struct store_txn *t);
/* Aborts t->txn if still open and frees what t owns (not t itself). */
void store_txn_release_write(struct store_txn *t);

/* writer.c */
/* Lets the writer drain its queue and joins it (no-op if never started;
 * queued jobs then get ERR_GONE). */
void store_writer_stop(struct store *s);

/* kv.c */
/* Length of key if 1..STORE_KEY_MAX bytes; ERR_TOOBIG / ERR_INVAL. */
int store_key_check(const char *key, size_t *len);
/* If t changed kv: takes the next serial, appends the changelog entry and
 * stores the new serial in meta; sets t->assigned.  Else nothing. */
int store_changes_finalize(struct store_txn *t);
/* Writes key (klen bytes, checked) = (val, len) with its trailing NUL,
 * without listing it in the changelog (store_put lists it; replication
 * writes the primary's entry itself). */
int store_kv_write(struct store_txn *t, const char *key, size_t klen, const char *val, size_t len);
/* Frees the list of changed keys. */
void store_changes_release(struct store_txn *t);
/* Reads the serial stored in meta within txn; -1 if absent. */
int store_meta_serial(struct store *s, MDB_txn *txn, int64_t *out);

/* blob.c */
/* Highest blob id in chunks or meta (0 if none). */
int store_blob_id_max(struct store *s, MDB_txn *txn, uint64_t *out);

/* big-endian helpers */
static inline void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t store_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint32_t store_get_be32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = v << 8 | p[i];
	return v;
}

#endif
