/* strset.h — an open-addressing hash set of borrowed strings.
 *
 * Used to de-duplicate on hot paths (links by filename while merging a
 * chain, versions, project names, stages in the SRO).  The set stores
 * (ptr, len) pairs WITHOUT copying the bytes: the caller keeps every added
 * string alive and unchanged until strset_release() (typically the strings
 * live in the records being merged, or in an arena the caller owns).
 * Strings are compared by length and bytes, so they may contain NULs.
 *
 * Linear probing, capacity a power of two, grows at 0.7 load.  The hash is
 * FNV-1a 64 with a final avalanche mix; it is not keyed, so the number of
 * strings a client can put into one set must be bounded by the caller (it
 * is: pages and chains are size-bounded upstream of this).
 *
 * Not thread-safe; one set per request or per merge.
 */
#ifndef COMMON_STRSET_H
#define COMMON_STRSET_H

#include <stddef.h>
#include <stdint.h>

struct strset_slot {
	const char *s;  /* borrowed; NULL = empty slot */
	size_t n;
	uint64_t h;
};

struct strset {
	struct strset_slot *slots;  /* owned */
	size_t cap;                 /* 0 or a power of two */
	size_t count;
};

#define STRSET_INIT { NULL, 0, 0 }

/* Prepares an empty set sized for about `hint` strings (0 = allocate on the
 * first add).  Large hints are clamped; the set grows as needed anyway. */
void strset_init(struct strset *set, size_t hint);

/* Frees the slot table (not the strings, which were never owned).  The set
 * is empty and reusable afterwards.  NULL-tolerant. */
void strset_release(struct strset *set);

/* Adds (s, n).  Returns 1 if it was not present (the set now borrows s:
 * keep it alive until strset_release), 0 if an equal string was already
 * there (s is not retained).  s may be NULL when n == 0.  Never fails
 * (allocation aborts on OOM, see common/alloc.h). */
int strset_add(struct strset *set, const char *s, size_t n);

/* 1 if an equal string is in the set, else 0. */
int strset_has(const struct strset *set, const char *s, size_t n);

size_t strset_count(const struct strset *set);

/* The hash used by the set (exposed for tests and callers that want to
 * shard); FNV-1a 64 over the bytes, then a 64-bit finaliser. */
uint64_t strset_hash(const char *s, size_t n);

#endif
