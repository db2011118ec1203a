/* blobsend.c — blob ranges to clients (see blobsend.h).
 *
 * At most BLOBSEND_AHEAD bytes wait in a connection's output; the rest is read
 * from the store when on_writable asks, so a large file never sits in
 * memory and no read transaction stays open while a client is slow.
 */
#include "proxy/blobsend.h"

#include "common/err.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "store/store.h"

int blobsend_pump(struct req *r, uint64_t blob_id, uint64_t *pos, uint64_t limit, uint32_t avail)
{
	while (*pos < limit && resp_pending(r) < BLOBSEND_AHEAD) {
		uint32_t idx = (uint32_t)(*pos / STORE_CHUNK_SIZE);
		size_t within = (size_t)(*pos % STORE_CHUNK_SIZE);
		struct store_txn *t = NULL;
		const void *p;
		size_t len;
		if (idx >= avail)
			return ERR_OK;   /* wait for the next stored chunk */
		int rc = store_read_begin(r->app->store, &t);
		if (!rc)
			rc = store_chunk_get(t, blob_id, idx, &p, &len);
		if (!rc && within >= len)
			rc = ERR_NOTFOUND;
		if (rc) {
			store_abort(t);
			return rc;
		}
		size_t take = len - within;
		if (take > limit - *pos)
			take = (size_t)(limit - *pos);
		resp_write(r, (const char *)p + within, take);
		store_abort(t);
		*pos += take;
	}
	return ERR_OK;
}
