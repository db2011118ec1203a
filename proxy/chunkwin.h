/* chunkwin.h — the bytes of a mirror download in progress, shared with the
 * requests that stream it on any worker thread.
 *
 * The owner of a download (mirror_file.c) cuts the upstream body into
 * STORE_CHUNK_SIZE chunks.  A chunk lives here from the moment its first
 * byte arrives until the writer has committed it; readers take the bytes
 * received so far straight from memory, so a client is never held back by
 * the store's fsyncs.  Chunks already committed are read from the store
 * (blobsend.c): the window holds at most the chunks the owner has not yet
 * seen committed, which the owner bounds by pausing the transfer.
 *
 * Ownership: a window is reference counted (atomically); the owner, the
 * flight and each reader hold one.  A chunk is reference counted too: the
 * window holds one while it is in memory, and each chunkwin_read hands the
 * caller one, dropped with chunkwin_release (made to be the cleanup of
 * resp_write_ref).  Lock: one mutex per window, a leaf.
 */
#ifndef PROXY_CHUNKWIN_H
#define PROXY_CHUNKWIN_H

#include <stddef.h>
#include <stdint.h>

struct chunkwin;

struct chunkwin *chunkwin_new(void);
void chunkwin_ref(struct chunkwin *cw);
void chunkwin_unref(struct chunkwin *cw);

/* ---- owner ---- */
/* Chunk idx (the next one) starts: a STORE_CHUNK_SIZE buffer for the owner
 * to fill, owned by the window.  Bytes in it become readable only through
 * chunkwin_received. */
char *chunkwin_open(struct chunkwin *cw, uint32_t idx);
/* Bytes [0, total) of the download have arrived (in the open chunks). */
void chunkwin_received(struct chunkwin *cw, uint64_t total);
/* Chunks [0, n) are committed: they leave memory (once no reader holds
 * them) and are read from the store from now on. */
void chunkwin_stored(struct chunkwin *cw, uint32_t n);

/* ---- readers ---- */
enum chunkwin_where {
	CW_WAIT,        /* pos has not arrived yet */
	CW_MEM,         /* *p, *n: bytes from pos on, in memory; release *ref */
	CW_STORE,       /* pos lies in a committed chunk: read the store */
};
enum chunkwin_where chunkwin_read(struct chunkwin *cw, uint64_t pos, const char **p, size_t *n, void **ref);
/* Drops a reference from chunkwin_read (the signature of resp_write_ref's
 * cleanup; ref is the last argument). */
void chunkwin_release(const void *p, size_t n, void *ref);

#endif
