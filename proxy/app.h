/* app.h — the server's shared context and the per-thread worker.
 *
 * struct app is built once at start-up and read by every worker thread; the
 * only fields that change afterwards are atomics (serial, connection count).
 * struct worker is one event loop thread.
 */
#ifndef PROXY_APP_H
#define PROXY_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

struct store;
struct event_base;

struct app {
	const struct config *cfg;
	struct store *store;
	char uuid[33];                  /* node uuid, 32 hex chars */
	uint8_t secret[32];             /* token signing key */
	_Atomic int64_t serial;         /* last committed serial (-1 empty) */
	atomic_uint nconns;             /* open connections, all workers */
	_Atomic uint64_t cache_epoch;   /* bumped when cached pages go stale without a new serial */
	atomic_bool acl_read_used;      /* some index has (or had, since the start) an acl_read:
					 * reads are then checked per caller and pages cached
					 * per caller */
	int listen_port;                /* the port actually bound */
	bool primary;                   /* --role primary: serves /+changelog */
	bool have_repl_key;
	uint8_t repl_key[32];           /* signs replica requests (--secretfile) */
	bool replica;                   /* --primary-url: follows a primary, forwards writes to it */
	char primary_url[512];          /* the primary's base URL, no trailing '/' (replica only) */
	struct replica *repl;           /* the replica's changelog loop and status (replica.c) */
	struct filerepl *frepl;         /* the replica's background file downloads (filerepl.c) */
	struct replwatch *replwatch;    /* the primary's view of its polling replicas (h_changelog.c) */
};

struct conn;
struct upstream;
struct rcache;

struct worker {
	struct app *app;
	struct event_base *base;
	int index;
	struct conn *conns;             /* open connections of this loop (its thread only) */
	struct upstream *up;            /* this loop's upstream HTTP client */
	struct rcache *rcache;          /* rendered pages (rcache.c); this loop only */
};

/* Records a serial that has just been committed (monotonic max). */
void app_note_serial(struct app *a, int64_t serial);

#endif
