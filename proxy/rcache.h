/* rcache.h — rendered pages and the per-worker render cache.
 *
 * A struct page is a rendered simple page (or project list): its body, its
 * gzip form (made once, on first need), and their ETags.  Pages are
 * reference counted; a response sends the bytes by reference (no copy) and
 * holds a reference until the socket has taken them.
 *
 * Each worker keeps its own cache (no locks on the hot path), keyed by what
 * the page was built from: the route, stage, project, format and URL shape.
 * An entry is valid while the store's serial is the one it was rendered at
 * and, for pages with mirror parts, until the earliest of their mirror
 * pages expires.  The cache is bounded in bytes; when full it is emptied.
 */
#ifndef PROXY_RCACHE_H
#define PROXY_RCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct req;
struct worker;
struct buf;

struct page;

/* Takes body (xmalloc'ed).  extra_headers: "Name: value\r\n" lines added to
 * every response of this page (copied; may be NULL).  One reference. */
struct page *page_new(const char *ctype, char *body, size_t len, const char *extra_headers);
void page_ref(struct page *p);
void page_unref(struct page *p);
/* Answers r with p: ETag, If-None-Match → 304, gzip when accepted. */
void page_send(struct req *r, struct page *p);

/* A cache key, built on the stack: no allocation on the hot path. */
struct rc_key {
	char s[1024];
	size_t len;
};
/* The cache key of r for a page built from stage/project (project may be
 * NULL for lists) in format fmt.  false if r must not be cached. */
bool rcache_key(const struct req *r, const char *kind, const char *stage, const char *project, int fmt,
		struct rc_key *key);
/* A valid entry for key at serial, with a new reference, or NULL. */
struct page *rcache_get(struct worker *w, const char *key, size_t klen, int64_t serial);
/* Stores p (takes a reference of its own) valid at serial until
 * fresh_until (epoch seconds; 0 = no time limit). */
void rcache_put(struct worker *w, const char *key, size_t klen, int64_t serial, double fresh_until, struct page *p);
/* Frees the worker's cache (at shutdown). */
void rcache_free(struct worker *w);

#endif
