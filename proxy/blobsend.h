/* blobsend.h — send a byte range of a stored blob to a client, chunk by
 * chunk as the connection's output drains (stored files and mirror
 * downloads in progress alike). */
#ifndef PROXY_BLOBSEND_H
#define PROXY_BLOBSEND_H

#include <stdint.h>

struct req;

/* At most this many bytes wait in a connection's output. */
#define BLOBSEND_AHEAD (512u * 1024)

/* Writes bytes [*pos, limit) of blob_id's chunks to r while its output
 * holds less than the send-ahead bound, each chunk read under its own short
 * read transaction; *pos advances.  Only chunks below avail are read
 * (UINT32_MAX: any).  ERR_OK when it stopped for room or reached limit or
 * avail; ERR_NOTFOUND for a missing chunk; another rc for a store error.
 * The caller ends or aborts the response. */
int blobsend_pump(struct req *r, uint64_t blob_id, uint64_t *pos, uint64_t limit, uint32_t avail);

#endif
