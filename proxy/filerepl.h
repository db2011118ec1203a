/* filerepl.h — a replica's file contents (API.md 8.5): the bytes of files
 * whose records came through the changelog, downloaded from the primary in
 * the background (private indexes first) and verified against their
 * sha256 before the blob becomes visible.
 *
 * Records replicate through the changelog; blobs do not.  Every file
 * record with content whose blob the replica lacks is queued; worker
 * threads (--file-replication-threads, blocking libcurl, never on an event
 * loop) GET <primary>/<relpath> with X-DEVPI-REPLICA-FILEREPL: YES and the
 * replica's signature, hash the bytes as they stream into chunks through the
 * writer thread, and finish the blob only when size and sha256 match (a
 * corrupt or short body is discarded, never stored).  Blob writes create no
 * serial, so the store stays a copy of the primary's.  Failures are retried
 * after 11 s × 1.5^k (at most an hour) and listed in /+status
 * (replication-errors) until they succeed; 410, and 404/502 of mirror
 * files, are dropped.
 *
 * Threading: every function is thread-safe; none blocks on the network.
 * note_changes, in_sync and status accept f == NULL (no file replication:
 * --file-replication-threads 0), as does stop.
 */
#ifndef PROXY_FILEREPL_H
#define PROXY_FILEREPL_H

#include <stdint.h>

struct app;
struct cJSON;
struct filerepl;

/* Starts the worker threads of a replica (a->replica, a->primary_url,
 * a->uuid, a->repl_key set), at most 64 (cfg->file_replication_threads).
 * *out is owned by the caller: filerepl_stop.  ERR_UPSTREAM (libcurl),
 * ERR_NOMEM (a thread could not start). */
int filerepl_start(struct app *a, struct filerepl **out);
/* Stops and joins the threads (a download in progress is abandoned within
 * about a second, its chunks discarded) and frees f.  NULL-tolerant.
 * After the replica loop stopped calling in, before store_close (the
 * writer thread completes the downloads' last jobs). */
void filerepl_stop(struct filerepl *f);

/* The replica loop applied serial, whose "changes" object is changes
 * (borrowed for the call): queue each "file/<relpath>" key whose value is
 * a record with content (hashes.sha256 and last_modified, not deleted)
 * and whose blob the store lacks. */
void filerepl_note_changes(struct filerepl *f, const struct cJSON *changes, int64_t serial);

/* The replica has caught up with its primary (called each time it does;
 * only the first call of a process matters): from now on mirror files are
 * queued too, and one scan queues every stored file record whose blob is
 * missing. */
void filerepl_in_sync(struct filerepl *f);

/* Every record changed without passing through filerepl_note_changes (a
 * snapshot replaced them all): the next filerepl_in_sync scans them all
 * again.  NULL-tolerant. */
void filerepl_rescan(struct filerepl *f);

/* Adds what /+status shows (API.md 8.7) to result: each failing relpath
 * into result's "replication-errors" object ({url, message, relpath}),
 * and "replica-files-in-sync-at" / "replica-init-queue-finished-at"
 * (epoch floats, null before). */
void filerepl_status(struct filerepl *f, struct cJSON *result);

/* The primary's URL of relpath (user/index/+f/...): <primary_url>/ and
 * each segment percent-encoded.  xmalloc'ed; the caller frees. */
char *filerepl_url(const struct app *a, const char *relpath);

#endif
