/* chunkwin.c — a download's uncommitted chunks, shared across threads (see
 * chunkwin.h).
 *
 * The window is a ring of CW_SLOTS chunk pointers: chunk idx sits in slot
 * idx % CW_SLOTS while first <= idx < next.  Bytes are readable below
 * `received`; the owner only ever appends past it, so a reader never sees a
 * byte change under it.
 */
#include "proxy/chunkwin.h"

#include <pthread.h>
#include <stdatomic.h>

#include "common/alloc.h"
#include "store/store.h"

#define CW_SLOTS 8

struct mchunk {
	atomic_int refs;
	char data[];
};

struct chunkwin {
	atomic_int refs;
	pthread_mutex_t mu;
	struct mchunk *slot[CW_SLOTS];
	uint32_t first;           /* lowest chunk still in memory */
	uint32_t next;            /* next chunk to open */
	uint32_t stored;          /* chunks [0, stored) are committed */
	uint64_t received;        /* bytes [0, received) have arrived */
};

/* Chunk buffers are recycled: a fresh megabyte costs 256 page faults and
 * the kernel's zeroing of every page, which showed as much CPU as the
 * copying of the bytes themselves.  At most CW_POOL wait here. */
#define CW_POOL 8
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mchunk *pool[CW_POOL];
static int npool;

static struct mchunk *mchunk_new(void)
{
	struct mchunk *c = NULL;
	pthread_mutex_lock(&pool_mu);
	if (npool > 0)
		c = pool[--npool];
	pthread_mutex_unlock(&pool_mu);
	if (!c)
		c = xmalloc(sizeof *c + STORE_CHUNK_SIZE);
	atomic_init(&c->refs, 1);
	return c;
}

static void mchunk_unref(struct mchunk *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	pthread_mutex_lock(&pool_mu);
	if (npool < CW_POOL) {
		pool[npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&pool_mu);
	xfree(c);
}

struct chunkwin *chunkwin_new(void)
{
	struct chunkwin *cw = xcalloc(1, sizeof *cw);
	atomic_init(&cw->refs, 1);
	pthread_mutex_init(&cw->mu, NULL);
	return cw;
}

void chunkwin_ref(struct chunkwin *cw)
{
	atomic_fetch_add(&cw->refs, 1);
}

void chunkwin_unref(struct chunkwin *cw)
{
	if (!cw || atomic_fetch_sub(&cw->refs, 1) != 1)
		return;
	for (uint32_t i = cw->first; i < cw->next; i++)
		mchunk_unref(cw->slot[i % CW_SLOTS]);
	pthread_mutex_destroy(&cw->mu);
	xfree(cw);
}

char *chunkwin_open(struct chunkwin *cw, uint32_t idx)
{
	char *p = NULL;
	pthread_mutex_lock(&cw->mu);
	/* the owner pauses its transfer long before the ring fills */
	if (idx == cw->next && cw->next - cw->first < CW_SLOTS) {
		struct mchunk *c = mchunk_new();
		cw->slot[idx % CW_SLOTS] = c;
		cw->next++;
		p = c->data;
	}
	pthread_mutex_unlock(&cw->mu);
	return p;
}

void chunkwin_received(struct chunkwin *cw, uint64_t total)
{
	pthread_mutex_lock(&cw->mu);
	if (total > cw->received)
		cw->received = total;
	pthread_mutex_unlock(&cw->mu);
}

void chunkwin_stored(struct chunkwin *cw, uint32_t n)
{
	pthread_mutex_lock(&cw->mu);
	if (n > cw->stored)
		cw->stored = n;
	while (cw->first < cw->next && cw->first < cw->stored) {
		mchunk_unref(cw->slot[cw->first % CW_SLOTS]);
		cw->slot[cw->first % CW_SLOTS] = NULL;
		cw->first++;
	}
	pthread_mutex_unlock(&cw->mu);
}

enum chunkwin_where chunkwin_read(struct chunkwin *cw, uint64_t pos, const char **p, size_t *n, void **ref)
{
	enum chunkwin_where where = CW_WAIT;
	uint64_t idx = pos / STORE_CHUNK_SIZE;
	pthread_mutex_lock(&cw->mu);
	if (idx < cw->stored) {
		where = CW_STORE;
	} else if (pos < cw->received && idx >= cw->first && idx < cw->next) {
		struct mchunk *c = cw->slot[idx % CW_SLOTS];
		uint64_t end = (idx + 1) * STORE_CHUNK_SIZE;
		if (end > cw->received)
			end = cw->received;
		atomic_fetch_add(&c->refs, 1);
		*p = c->data + (pos - idx * STORE_CHUNK_SIZE);
		*n = (size_t)(end - pos);
		*ref = c;
		where = CW_MEM;
	}
	pthread_mutex_unlock(&cw->mu);
	return where;
}

void chunkwin_release(const void *p, size_t n, void *ref)
{
	(void)p;
	(void)n;
	mchunk_unref(ref);
}
