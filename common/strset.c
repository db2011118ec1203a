/* strset.c — open-addressing hash set of borrowed (ptr, len) strings.
 *
 * The merge paths (simple pages along an index chain, version lists, the
 * SRO walk) need "have I seen this filename/version/stage?" thousands of
 * times per request.  Storing borrowed pointers and the full 64-bit hash
 * in the slot keeps an insert to one hash computation and, on a hit, one
 * memcmp; growing never rehashes the strings.  Linear probing over a
 * power-of-two table, resized at 70 % load.
 */
#include "common/strset.h"

#include <string.h>

#include "common/alloc.h"

#define STRSET_MIN_CAP 8
/* An initial hint larger than this is not trusted: the table grows on
 * demand instead of allocating a huge block up front. */
#define STRSET_MAX_HINT ((size_t)1 << 16)

static const char strset_empty[1] = "";

uint64_t strset_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	/* murmur3 fmix64: every input bit reaches the low bits we index by */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static size_t strset_cap_for(size_t count)
{
	size_t cap = STRSET_MIN_CAP;
	/* smallest power of two with count <= 0.7 * cap */
	while (count * 10 > cap * 7)
		cap <<= 1;
	return cap;
}

void strset_init(struct strset *set, size_t hint)
{
	set->slots = NULL;
	set->cap = 0;
	set->count = 0;
	if (hint == 0)
		return;
	if (hint > STRSET_MAX_HINT)
		hint = STRSET_MAX_HINT;
	set->cap = strset_cap_for(hint);
	set->slots = xcalloc(set->cap, sizeof *set->slots);
}

void strset_release(struct strset *set)
{
	if (!set)
		return;
	xfree(set->slots);
	set->slots = NULL;
	set->cap = 0;
	set->count = 0;
}

/* Index of the slot holding (s, n), or of the empty slot where it would go.
 * Requires cap > 0 and at least one empty slot (load <= 0.7 guarantees it). */
static size_t strset_find(const struct strset *set, const char *s, size_t n, uint64_t h)
{
	size_t mask = set->cap - 1;
	size_t i = (size_t)h & mask;
	for (;;) {
		const struct strset_slot *sl = &set->slots[i];
		if (!sl->s)
			return i;
		if (sl->h == h && sl->n == n && memcmp(sl->s, s, n) == 0)
			return i;
		i = (i + 1) & mask;
	}
}

static void strset_grow(struct strset *set)
{
	size_t ncap = set->cap ? set->cap * 2 : STRSET_MIN_CAP;
	struct strset_slot *old = set->slots;
	size_t ocap = set->cap;
	set->slots = xcalloc(ncap, sizeof *set->slots);
	set->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i].s)
			continue;
		size_t mask = ncap - 1;
		size_t j = (size_t)old[i].h & mask;
		while (set->slots[j].s)
			j = (j + 1) & mask;
		set->slots[j] = old[i];
	}
	xfree(old);
}

int strset_add(struct strset *set, const char *s, size_t n)
{
	if (!s)
		s = strset_empty;  /* only valid with n == 0 */
	/* keep count + 1 <= 0.7 * cap, so a free slot always remains */
	if (set->cap == 0 || (set->count + 1) * 10 > set->cap * 7)
		strset_grow(set);
	uint64_t h = strset_hash(s, n);
	size_t i = strset_find(set, s, n, h);
	if (set->slots[i].s)
		return 0;
	set->slots[i].s = s;
	set->slots[i].n = n;
	set->slots[i].h = h;
	set->count++;
	return 1;
}

int strset_has(const struct strset *set, const char *s, size_t n)
{
	if (set->cap == 0)
		return 0;
	if (!s)
		s = strset_empty;
	uint64_t h = strset_hash(s, n);
	size_t i = strset_find(set, s, n, h);
	return set->slots[i].s != NULL;
}

size_t strset_count(const struct strset *set)
{
	return set->count;
}
