/* router.h — from a request head to a handler (API.md section 1). */
#ifndef PROXY_ROUTER_H
#define PROXY_ROUTER_H

#include <stdint.h>

struct req;
struct app;
struct buf;

/* Called when the head of r is complete.  Splits and decodes the path,
 * resolves credentials, and either answers at once, installs streaming
 * hooks (uploads), or sets r->handler and a bound on r->body for a body to
 * be collected first. */
void router_head(struct req *r);

/* Adds the X-DEVPI-* headers every response carries (API.md 0.3). */
void router_common_headers(struct req *r);
/* The same header lines for a response without a request (parse errors);
 * serial < -1 means the current one. */
void router_format_common_headers(struct app *a, int64_t serial, struct buf *b);

#endif
