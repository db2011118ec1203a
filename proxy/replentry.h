/* replentry.h — one line from a primary, checked before a replica acts on
 * it: a changelog stream line (API.md 8.3) or a /+snapshot line.
 *
 * The primary is trusted with the data, not with the shape: every line is
 * parsed (bounded by the caller's line limit) and checked here, so the
 * loop and the store only see well-formed values.  Pure: no I/O, no store.
 */
#ifndef PROXY_REPLENTRY_H
#define PROXY_REPLENTRY_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* Serials travel as JSON numbers: exact up to 2^53. */
#define REPLENTRY_SERIAL_MAX 9007199254740992LL

enum replentry_kind {
	REPLENTRY_HEARTBEAT,      /* {"serial": null} */
	REPLENTRY_ENTRY,          /* {"serial": n, "time": t, "changes": {key: value|null}} */
	REPLENTRY_SNAP_HEAD,      /* {"serial": n} first snapshot line */
	REPLENTRY_SNAP_RECORD,    /* {"key": k, "value": v} (v not null) */
	REPLENTRY_SNAP_END,       /* {"end": true, "count": n} */
};

struct replentry {
	enum replentry_kind kind;
	int64_t serial;           /* ENTRY, SNAP_HEAD */
	double time;              /* ENTRY: the primary's commit time (0 if absent) */
	uint64_t count;           /* SNAP_END */
	const char *key;          /* SNAP_RECORD (borrowed from root) */
	const struct cJSON *changes;  /* ENTRY: an object whose members are the changes */
	const struct cJSON *value;    /* SNAP_RECORD */
	struct cJSON *root;       /* owned: replentry_release */
};

/* A changelog stream line (p, n): HEARTBEAT or ENTRY.  Keys of changes
 * must be 1..key_max bytes without NUL; ERR_PARSE otherwise (out holds
 * nothing to release then). */
int replentry_parse(const char *p, size_t n, size_t key_max, struct replentry *out);
/* A snapshot line: SNAP_HEAD, SNAP_RECORD or SNAP_END; ERR_PARSE
 * otherwise. */
int replentry_parse_snapshot(const char *p, size_t n, size_t key_max, struct replentry *out);
void replentry_release(struct replentry *e);

#endif
