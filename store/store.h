/* store.h — everything LMDB: the environment, kv records with serials and a
 * changelog, content-addressed chunked blobs, and the writer thread.
 *
 * One LMDB environment lives in the server directory with five named
 * databases (docs/store.md has the byte layout):
 *
 *   meta       fixed names → raw bytes (uuid, secret, role, schema, and the
 *              current serial, which this module keeps itself)
 *   kv         path-like key → JSON text (stored with a trailing NUL)
 *   changelog  serial (u64 big-endian) → {"serial":n,"time":t,"changes":{..}}
 *   blobs      sha256 (32 bytes) → size, chunk count, blob id, created
 *   chunks     blob id (u64 BE) + chunk index (u32 BE) → ≤ 1 MiB of content
 *
 * Transactions.  A read transaction sees one snapshot and may be used on any
 * thread (MDB_NOTLS), one thread at a time; a thread may hold several.  Keep
 * them short: never across a wait on the network.  Every pointer a read or
 * get returns is borrowed from the map and stays valid only until its
 * transaction ends (store_commit / store_abort); copy or send it before.
 *
 * Writes.  A running server does all its writes through the writer thread
 * (store_writer_submit): it runs queued jobs in nested transactions of one
 * batch transaction and commits them with one fsync (group commit).  Commands
 * (init, import) and tests may use a direct write transaction
 * (store_write_begin), which blocks on LMDB's write lock and on the fsync.
 * A write transaction belongs to the thread that began it.  When LMDB
 * fails an operation (ERR_MAPFULL, ERR_STORE, ...) the transaction is
 * spoiled: later operations return the same error and store_commit aborts
 * it.  Argument errors (ERR_TOOBIG, ERR_INVAL, ERR_PERM) and ERR_NOTFOUND
 * leave it usable.
 *
 * Serials.  Every commit that changes kv gets the next serial (the first is
 * 0) and exactly one changelog entry listing the keys it changed with their
 * final values (null = deleted).  Commits that only touch meta, blobs or
 * chunks get no serial.  An empty store has serial -1.
 *
 * Errors (common/err.h): ERR_NOTFOUND, ERR_TOOBIG (key over
 * STORE_KEY_MAX, chunk over STORE_CHUNK_SIZE, transaction too large),
 * ERR_MAPFULL (map size or disk full: the store stays usable for reads and
 * for later smaller writes), ERR_CORRUPT (stored bytes do not verify),
 * ERR_BUSY (reader slots exhausted, directory already open in this process),
 * ERR_IO (an I/O error on commit: writes stop until restart), ERR_STORE
 * (anything else from LMDB; the mdb_strerror text is logged).
 *
 * Never use a store across fork(), and never open the same directory twice
 * in one process (store_open refuses with ERR_BUSY).
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;
struct store_txn;   /* a read or a write transaction */

#define STORE_KEY_MAX 500u                    /* bytes in a kv key or meta name */
#define STORE_CHUNK_SIZE (1024u * 1024u)      /* bytes in a full chunk */
#define STORE_MAP_SIZE_DEFAULT (64ull << 30)  /* 64 GiB of address space */
#define STORE_MAX_READERS_DEFAULT 512u

/* ---- environment ------------------------------------------------------ */

struct store_opts {
	const char *dir;        /* the server directory; borrowed during store_open */
	uint64_t map_size;      /* bytes; 0 = STORE_MAP_SIZE_DEFAULT */
	unsigned max_readers;   /* 0 = STORE_MAX_READERS_DEFAULT */
};

/* Opens (creating the directory with mode 0700 and the environment if
 * missing) and clears stale reader slots.  *out is owned by the caller:
 * release with store_close().  ERR_BUSY if dir is already open in this
 * process, ERR_IO if dir cannot be created, ERR_CORRUPT for an unknown
 * store format. */
int store_open(const struct store_opts *o, struct store **out);

/* Stops the writer thread (it first runs every job already queued), then
 * closes the environment and frees s.  Every read and write transaction
 * must have ended.  NULL-tolerant. */
void store_close(struct store *s);

/* The last committed serial as this process knows it (-1 on an empty
 * store); lock-free, for status headers and long-polls. */
int64_t store_serial(struct store *s);

/* Progress of a long store operation: bytes done of about total (0:
 * unknown). */
typedef void (*store_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* Writes a consistent, compacted copy of s (one read snapshot; writers go
 * on) into the directory dest, created if missing, as a store a server can
 * open (chunks of uploads unfinished at the snapshot are swept from it).  ERR_EXISTS if dest already holds one; ERR_IO on a write error
 * (then no data.mdb is left in dest).  progress may be NULL.  Not for a
 * worker loop: it runs as long as the copy does. */
int store_backup(struct store *s, const char *dest, store_progress_fn progress, void *arg);

/* The server directory (owned by s, valid until store_close). */
const char *store_dir(struct store *s);

/* ---- transactions ----------------------------------------------------- */

/* Begins a read transaction; *out is ended with store_commit or
 * store_abort (either frees it).  ERR_BUSY when every reader slot is
 * taken. */
int store_read_begin(struct store *s, struct store_txn **out);

/* Begins a direct write transaction, blocking on LMDB's write lock and
 * (at commit) on fsync: for commands (init, import) and tests; servers use
 * the writer thread.  Never call it from a writer job (that deadlocks).
 * *out is ended with store_commit or store_abort on the same thread. */
int store_write_begin(struct store *s, struct store_txn **out);

/* Commits a write transaction (a read transaction just ends).  *serial
 * (may be NULL) receives the serial of this commit if it changed kv, else
 * the current serial (on failure: the last committed serial).  Always frees
 * t.  Not for the transaction handed to a writer job. */
int store_commit(struct store_txn *t, int64_t *serial);

/* Ends t discarding its writes and frees it.  NULL-tolerant.  Not for the
 * transaction handed to a writer job (return non-zero from run instead). */
void store_abort(struct store_txn *t);

/* The serial visible in t (including t's own earlier commits of nested
 * jobs); -1 on an empty store. */
int64_t store_txn_serial(struct store_txn *t);

/* ---- kv records ------------------------------------------------------- */

/* Looks key up.  *val is a NUL-terminated JSON text borrowed until t ends;
 * *len excludes the NUL.  ERR_NOTFOUND, ERR_TOOBIG for a key over
 * STORE_KEY_MAX, ERR_CORRUPT for a stored value without its NUL. */
int store_get(struct store_txn *t, const char *key, const char **val, size_t *len);

/* Sets key (1..STORE_KEY_MAX bytes) to the JSON text (val, len), which is
 * copied and must parse as one JSON value with no NUL byte (ERR_INVAL).
 * Write transactions only.  The key is listed in this commit's changelog
 * entry with its final value. */
int store_put(struct store_txn *t, const char *key, const char *val, size_t len);

/* Deletes key; ERR_NOTFOUND if absent (the transaction stays usable).
 * Listed in the changelog entry as null. */
int store_del(struct store_txn *t, const char *key);

/* Called once per key: key is a NUL-terminated copy valid during the call
 * (klen excludes the NUL), val is borrowed like store_get's. */
typedef int (*store_scan_fn)(void *arg, const char *key, size_t klen, const char *val, size_t vlen);

/* Calls fn for every key starting with prefix ("" = all), in byte order.
 * A non-zero return from fn stops the scan and is returned.  fn must not
 * end t nor write keys under prefix. */
int store_scan(struct store_txn *t, const char *prefix, store_scan_fn fn, void *arg);

/* The same for the keys under prefix that sort after after (NULL: all of
 * them): a walk that pauses between batches (each in its own read
 * transaction, or as a connection drains) resumes after the last key it
 * saw.  fn's non-zero return stops the scan and is returned. */
int store_scan_after(struct store_txn *t, const char *prefix, const char *after, store_scan_fn fn, void *arg);

/* The keys under prefix, in byte order, for callers that then write under
 * prefix (a scan must not) or walk nested prefixes.  keys[i] + plen is a
 * key without its prefix.  Release with store_keys_release. */
struct store_keys {
	char **keys;                 /* n xmalloc'ed keys */
	size_t n, cap;
	size_t plen;                 /* strlen(prefix) */
};
int store_list_keys(struct store_txn *t, const char *prefix, struct store_keys *out);
void store_keys_release(struct store_keys *k);

/* ---- meta ------------------------------------------------------------- */

/* Raw bytes stored under name; *val borrowed until t ends.  ERR_NOTFOUND.
 * The module's own names ("serial", "store.*") may be read but not
 * written (store_meta_put: ERR_PERM).  "serial" holds the current serial
 * as a u64 big-endian. */
int store_meta_get(struct store_txn *t, const char *name, const void **val, size_t *len);
/* Copies (val, len) under name; write transactions only; no serial. */
int store_meta_put(struct store_txn *t, const char *name, const void *val, size_t len);

/* ---- changelog -------------------------------------------------------- */

/* The entry of serial: NUL-terminated JSON
 * {"serial":n,"time":<epoch float>,"changes":{"<key>":<value or null>,...}}
 * borrowed until t ends; *len excludes the NUL.  ERR_NOTFOUND. */
int store_changelog_get(struct store_txn *t, int64_t serial, const char **val, size_t *len);

/* ---- replication (repl.c) ---------------------------------------------- */

/* Makes s a replica's store (or not): from then on store_put and store_del
 * refuse with ERR_PERM, and records change only through store_apply_entry
 * and the snapshot functions.  Meta, blobs and chunks stay writable. */
void store_set_replica(struct store *s, bool on);
bool store_is_replica(struct store *s);

/* Applies one changelog entry of the primary, the JSON text (p, n) as the
 * primary's /+changelog sent it: {"serial":n,"time":t,"changes":{..}}, in
 * write transaction t.  Its serial must be the next one here (else
 * ERR_CONFLICT: nothing written); each change is written (null deletes,
 * an absent key is fine) and the entry text itself is stored as this
 * store's entry for that serial.  ERR_PARSE for a malformed entry,
 * ERR_TOOBIG for a key over STORE_KEY_MAX.  *serial = the entry's serial. */
int store_apply_entry(struct store_txn *t, const char *p, size_t n, int64_t *serial);

/* A snapshot replaces every record in one write transaction: begin drops
 * all records and the changelog, put writes one record (JSON text, not
 * checked here: the caller parsed it), end makes serial current; the
 * changelog then continues at serial + 1 and store_changelog_base reports
 * serial. */
int store_snapshot_begin(struct store_txn *t);
int store_snapshot_put(struct store_txn *t, const char *key, const char *val, size_t len);
int store_snapshot_end(struct store_txn *t, int64_t serial);
/* The serial of the last snapshot loaded, or -1. */
int store_changelog_base(struct store_txn *t, int64_t *base);

/* The oldest serial whose entry is kept (current + 1 when none is). */
int store_changelog_oldest(struct store_txn *t, int64_t *oldest);
/* Deletes up to max entries with serials below below (never the current
 * serial's); *removed = how many. */
int store_changelog_trim(struct store_txn *t, int64_t below, size_t max, size_t *removed);

/* ---- blobs ------------------------------------------------------------ */

struct store_blob {
	uint8_t sha256[32];
	uint64_t size;       /* bytes of content */
	uint32_t nchunks;    /* chunks 0..nchunks-1, each STORE_CHUNK_SIZE but the last */
	uint64_t id;         /* key prefix of its chunks */
	int64_t created;     /* epoch seconds when first stored */
};

/* Copies the entry of sha256 into *out.  ERR_NOTFOUND, ERR_CORRUPT. */
int store_blob_get(struct store_txn *t, const uint8_t sha256[32], struct store_blob *out);

/* Chunk idx of blob_id: *p borrowed (straight from the map, no copy) until
 * t ends.  ERR_NOTFOUND. */
int store_chunk_get(struct store_txn *t, uint64_t blob_id, uint32_t idx, const void **p, size_t *len);

/* Copies up to n bytes at byte offset off of blob_id's chunks (finished or
 * still streaming) into buf; returns the bytes copied (short at the end of
 * the stored chunks) or -1 on a store error.  For readers such as
 * libarchive callbacks. */
ssize_t store_blob_read_at(struct store_txn *t, uint64_t blob_id, uint64_t off, void *buf, size_t n);

/* A fresh blob id for streaming a new blob: unique in this process,
 * thread-safe, above every id already stored. */
uint64_t store_blob_id_new(struct store *s);

/* Writes chunk idx of an unfinished blob (copies p; len ≤ STORE_CHUNK_SIZE,
 * else ERR_TOOBIG; every chunk but the last must be full, see
 * store_blob_finish).  Write transactions only.  Never write under the id of
 * a finished blob. */
int store_chunk_put(struct store_txn *t, uint64_t blob_id, uint32_t idx, const void *p, size_t len);

/* Makes a streamed blob visible under sha256 (which the caller computed
 * while streaming; the content is not hashed again here).  Verifies that
 * nchunks == ceil(size / STORE_CHUNK_SIZE), that chunks 0..nchunks-1 exist
 * with nothing after them, and that every chunk is full but the last, which
 * holds the rest (so byte offset o is in chunk o / STORE_CHUNK_SIZE); an
 * empty blob has no chunks or one empty chunk.  ERR_CORRUPT otherwise (the chunks stay:
 * discard them or roll back).  If a blob with that sha256 exists already,
 * this id's chunks are deleted and the existing blob kept (still ERR_OK). */
int store_blob_finish(struct store_txn *t, uint64_t blob_id, const uint8_t sha256[32], uint64_t size, uint32_t nchunks);

/* Deletes the chunks of an unfinished blob (ERR_OK if there were none).
 * Never call it with the id of a finished blob. */
int store_blob_discard(struct store_txn *t, uint64_t blob_id);

/* Deletes the entry of sha256 and its chunks.  ERR_NOTFOUND. */
int store_blob_delete(struct store_txn *t, const uint8_t sha256[32]);

/* Start-up sweep, before serving and before store_writer_start (ERR_BUSY
 * after): deletes the chunks of every blob id that no `blobs` entry
 * references (left by a crash mid-upload).  *removed (may be NULL) = the
 * number of chunks deleted. */
int store_sweep_orphans(struct store *s, uint64_t *removed);

/* ---- the writer thread ------------------------------------------------ */

struct store_job {
	/* Runs on the writer thread inside a nested transaction of the batch's
	 * transaction.  Non-zero rc rolls back only this job.  t is valid only
	 * during the call; never commit or abort it, never begin another write
	 * transaction (read transactions are fine). */
	int  (*run)(struct store_txn *t, void *arg);
	/* Runs (if not NULL) on the writer thread after the batch commit is
	 * durable (or failed): rc = run's rc or the commit's error (e.g. ERR_MAPFULL);
	 * serial = this job's serial if it changed kv, else the current
	 * serial.  The job memory is the caller's and must stay valid until
	 * done() is called; done() may free it.  Keep it short (hand the result
	 * to a loop through its notify fd). */
	void (*done)(void *arg, int rc, int64_t serial);
	void *arg;
	struct store_job *next;  /* internal */
	int rc; int64_t serial;  /* internal */
};

/* Starts the writer thread (asynchronous signals blocked in it).
 * ERR_EXISTS if it runs already, ERR_GONE after store_close began. */
int  store_writer_start(struct store *s);

/* Queues job; thread-safe, never blocks on I/O.  Jobs queued before
 * store_writer_start run once it starts.  After store_close began and the
 * writer exited, done(arg, ERR_GONE, serial) is called at once on the
 * calling thread. */
void store_writer_submit(struct store *s, struct store_job *job);

/* Counters since open: batches committed (or failed) and jobs completed. */
void store_writer_stats(struct store *s, uint64_t *batches, uint64_t *jobs);

/* ---- integrity check (fsck) -------------------------------------------- */

#include <stdbool.h>

struct store_check_report {
	uint64_t records;            /* kv records seen */
	uint64_t bad_records;        /* kv values that are not valid JSON (or lack their NUL, or a key over STORE_KEY_MAX) */
	uint64_t serials;            /* changelog entries seen */
	uint64_t changelog_problems; /* gaps below the current serial, entries that do not parse, serial in meta inconsistent */
	uint64_t blobs;              /* blob entries */
	uint64_t bad_blobs;          /* missing/short/extra chunks, size mismatch, or (rehash) sha256 mismatch */
	uint64_t chunks;             /* chunk entries */
	uint64_t orphan_chunks;      /* chunks whose blob id no blobs entry references */
	uint64_t bytes_hashed;
};

/* Called once per problem found, with a one-line lower-case message that
 * names the key / serial / blob (hex sha256) / blob id.  problem is
 * NUL-terminated and valid only during the call (copy it to keep it); key
 * bytes that are not printable ASCII appear as \xNN.  The callback must
 * not use s. */
typedef void (*store_check_fn)(void *arg, const char *problem);

/* Verifies the whole store in one read snapshot (works while a server runs
 * in another process or thread): every kv value is valid JSON; changelog
 * entries exist for every serial from the oldest kept one to the current
 * serial with no gap and each parses as JSON with the right "serial";
 * every blob entry's chunks are all present, full-sized except the last,
 * add up to its size, no chunk beyond nchunks, and with rehash its content
 * re-hashes to its sha256; every chunk belongs to a blob entry (orphans
 * counted).  Streams chunk by chunk (bounded memory; a 1 GB blob must not
 * be loaded whole).  Returns ERR_OK when the scan ran (problems are counted
 * in *out, the caller decides the exit code), or an error if the store
 * could not be read.
 *
 * report may be NULL; out is required and is zeroed first (after an error
 * it holds the counts so far).  Heap use is about 48 bytes per blob entry;
 * chunk content is read straight from the map, never copied.  Orphans: the chunks of an upload still streaming (written, not
 * yet finished) have no blob entry yet, so on a running server they are
 * counted and reported as orphan chunks; run fsck on a quiescent store, or
 * read orphan_chunks as "orphans or uploads in progress" (the start-up
 * sweep, store_sweep_orphans, removes real ones).  The snapshot is held for
 * the whole scan: on a running server the data file grows meanwhile, since
 * pages freed by later commits cannot be reused until the check ends. */
int store_check(struct store *s, bool rehash, store_check_fn report, void *arg, struct store_check_report *out);
/* The same, calling progress(parg, bytes of blobs checked, about the total)
 * once per blob. */
int store_check_progress(struct store *s, bool rehash, store_check_fn report, void *arg, store_progress_fn progress,
			 void *parg, struct store_check_report *out);

#endif
