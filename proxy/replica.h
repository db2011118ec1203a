/* replica.h — a replica's loop (API.md 8.4): follow the primary's changelog
 * stream and apply its entries, strictly in serial order, each in one
 * transaction, to the local store; fall back to a full /+snapshot when the
 * primary has trimmed the entries this replica still needs.
 *
 * The loop runs on its own thread with blocking libcurl (never on an event
 * loop).  Entries go to the writer thread as jobs (several in flight, so a
 * replica far behind catches up in group commits); the store refuses an
 * entry whose serial is not the next (store_apply_entry), so a gap, a
 * repeat or a reordering stops applying.  After a failure the loop waits
 * 1 s doubling to 30 s and resumes at its own next serial.  A primary with
 * another uuid than the one this replica first followed stops the replica:
 * the process exits with the reason (its data would otherwise mix two
 * histories).
 *
 * Thread-safety: replica_status may run on any thread.
 */
#ifndef PROXY_REPLICA_H
#define PROXY_REPLICA_H

struct app;
struct cJSON;
struct replica;

/* Starts the loop of a replica (a->replica, a->primary_url, a->repl_key,
 * a->uuid set; a->frepl may be NULL).  stop_server(rc) is called (from the
 * loop's thread) when the replica must stop.  Release with replica_stop. */
int replica_start(struct app *a, void (*stop_server)(int rc), struct replica **out);
/* Stops the loop (an open stream is cut), waits for its writer jobs and
 * frees r.  NULL-tolerant. */
void replica_stop(struct replica *r);

/* Adds the replica fields of /+status (API.md 8.7) to result. */
void replica_status(struct replica *r, struct cJSON *result);
/* Serials and seconds this replica is behind its primary as last seen
 * (both 0 when in sync, -1 before first contact). */
void replica_lag(struct replica *r, long long *serials, double *seconds);

#endif
