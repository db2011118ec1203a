/* replwatch.h — the primary's view of the replicas polling its changelog,
 * for /+status "polling_replicas" (API.md 8.7).  A bounded table keyed by
 * replica uuid (the least recently heard-from entry is replaced when
 * full); every function is thread-safe. */
#ifndef PROXY_REPLWATCH_H
#define PROXY_REPLWATCH_H

#include <stdbool.h>
#include <stdint.h>

struct cJSON;
struct replwatch;

struct replwatch *replwatch_new(void);
void replwatch_free(struct replwatch *w);    /* NULL-tolerant */

/* A signed request of replica uuid from ip (outside may be NULL) asking
 * from serial on; in_request/streaming say whether it is still open. */
void replwatch_note(struct replwatch *w, const char *uuid, const char *ip, const char *outside, int64_t serial,
		    bool in_request, bool streaming);
/* Adds one object per known replica to obj. */
void replwatch_status(struct replwatch *w, struct cJSON *obj);

#endif
