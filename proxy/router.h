/* router.h — from a request head to a handler (API.md section 1). */
#ifndef PROXY_ROUTER_H
#define PROXY_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

struct req;
struct app;
struct buf;

/* Called when the head of r is complete.  Splits and decodes the path,
 * resolves credentials, and either answers at once, installs streaming
 * hooks (uploads), or sets r->handler and a bound on r->body for a body to
 * be collected first. */
void router_head(struct req *r);

/* Checks user's password (the stored argon2 hash) without blocking the
 * loop: then(r, user, ok, arg) runs at once on a cache hit or an unknown
 * user, else later from the CPU pool; the request body is paused
 * meanwhile.  If the pool is full, r is answered 503 and then never runs. */
void router_check_password(struct req *r, const char *user, const char *pw,
			   void (*then)(struct req *r, const char *user, bool ok, void *arg), void *arg);

/* Adds the X-DEVPI-* headers every response carries (API.md 0.3). */
void router_common_headers(struct req *r);
/* The same header lines for a response without a request (parse errors);
 * serial < -1 means the current one. */
void router_format_common_headers(struct app *a, int64_t serial, struct buf *b);

#endif
