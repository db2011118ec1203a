/* alloc.h — the one allocation wrapper.
 *
 * x* functions are for small internal allocations: they abort the process
 * on failure, so callers need not check.  try_* functions are for sizes that
 * a client or upstream controls: they return NULL on failure and the caller
 * turns that into ERR_NOMEM / ERR_TOOBIG.  Everything is released with
 * xfree() (NULL-tolerant).  Raw malloc/free are not used elsewhere.
 */
#ifndef COMMON_ALLOC_H
#define COMMON_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string; caller frees with xfree(). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void xfree(void *p);

void *try_malloc(size_t n);
void *try_realloc(void *p, size_t n);

#endif
