/* rcache.c — rendered pages and the per-worker render cache (see rcache.h).
 *
 * The hot path of a warm simple page is: build the key, one hash lookup,
 * compare the serial, and hand the cached bytes to the socket by reference
 * (evbuffer_add_reference): no rendering, no store access, no allocation
 * or copy proportional to the page.
 */
#include "proxy/rcache.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/strset.h"
#include "common/util.h"
#include "proxy/app.h"
#include "proxy/conn.h"

#define RCACHE_BUCKETS 1024
#define RCACHE_MAX_BYTES (64u * 1024 * 1024)

struct page {
	int refs;                    /* one thread only: its worker's */
	char *ctype;
	char *extra;                 /* header lines, or NULL */
	char *body;
	size_t len;
	char *gz;                    /* gzip form, made on first need */
	size_t gzlen;
	bool gz_failed;
	char etag[80], etag_gz[84];
	/* Large bodies are also kept in an anonymous memory file, so the
	 * kernel can send them with sendfile (no copy through user space),
	 * as nginx does for static files. */
	struct evbuffer_file_segment *seg, *gzseg;
	bool seg_tried, gzseg_tried;
};

/* Below this a page goes by reference in one writev with its head, which
 * measured faster than writev + sendfile (100 links, 17 KB: 63k → 70k
 * req/s); above it sendfile wins (1000 links, 175 KB: 16k → 19k). */
#define SEG_MIN_BYTES (64u * 1024)

/* A file segment holding p[0..n), or NULL (the caller then sends from
 * memory).  The segment owns the memfd. */
static struct evbuffer_file_segment *segment_of(const char *p, size_t n)
{
	int fd = memfd_create("devpi-like-page", MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		if (w <= 0) {
			close(fd);
			return NULL;
		}
		done += (size_t)w;
	}
	struct evbuffer_file_segment *seg =
		evbuffer_file_segment_new(fd, 0, (ev_off_t)n, EVBUF_FS_CLOSE_ON_FREE | EVBUF_FS_DISABLE_LOCKING);
	if (!seg)
		close(fd);
	return seg;
}

struct rc_entry {
	struct rc_entry *next;
	char *key;
	size_t klen;
	uint64_t hash;
	int64_t serial;
	uint64_t epoch;
	double fresh_until;
	struct page *page;
};

struct rcache {
	struct rc_entry *b[RCACHE_BUCKETS];
	size_t bytes;
};

struct page *page_new(const char *ctype, char *body, size_t len, const char *extra)
{
	struct page *p = xcalloc(1, sizeof *p);
	uint8_t sum[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	p->refs = 1;
	p->ctype = xstrdup(ctype);
	p->extra = extra && *extra ? xstrdup(extra) : NULL;
	p->body = body;
	p->len = len;
	sha256_buf(body, len, sum);
	hex_encode(sum, 20, hex);
	snprintf(p->etag, sizeof p->etag, "\"%s\"", hex);
	snprintf(p->etag_gz, sizeof p->etag_gz, "\"%s-gz\"", hex);
	return p;
}

void page_ref(struct page *p)
{
	p->refs++;
}

void page_unref(struct page *p)
{
	if (!p || --p->refs > 0)
		return;
	if (p->seg)
		evbuffer_file_segment_free(p->seg);
	if (p->gzseg)
		evbuffer_file_segment_free(p->gzseg);
	xfree(p->ctype);
	xfree(p->extra);
	xfree(p->body);
	xfree(p->gz);
	xfree(p);
}

static void page_gzip(struct page *p)
{
	z_stream zs;
	if (p->gz || p->gz_failed)
		return;
	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		p->gz_failed = true;
		return;
	}
	size_t cap = deflateBound(&zs, (uLong)p->len);
	char *out = try_malloc(cap);
	if (!out) {
		deflateEnd(&zs);
		p->gz_failed = true;
		return;
	}
	zs.next_in = (Bytef *)p->body;
	zs.avail_in = (uInt)p->len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		xfree(out);
		p->gz_failed = true;
	} else {
		p->gz = out;
		p->gzlen = cap - zs.avail_out;
	}
	deflateEnd(&zs);
}

static bool accepts_gzip(const struct req *r)
{
	size_t n;
	const char *ae = req_header(r, "accept-encoding", &n);
	const char *g = ae ? memmem(ae, n, "gzip", 4) : NULL;
	if (!g)
		return false;
	/* "gzip;q=0" refuses it */
	const char *end = ae + n, *p = g + 4;
	while (p < end && *p == ' ')
		p++;
	if (p < end && *p == ';') {
		const char *q = memmem(p, (size_t)(end - p), "q=0", 3);
		const char *comma = memchr(p, ',', (size_t)(end - p));
		if (q && (!comma || q < comma) && !(q + 4 < end && q[3] == '.' && q[4] != '0'))
			return false;
	}
	return true;
}

static bool etag_matches(const struct req *r, const char *etag)
{
	size_t n;
	const char *inm = req_header(r, "if-none-match", &n);
	if (!inm)
		return false;
	if (n == 1 && inm[0] == '*')
		return true;
	return memmem(inm, n, etag, strlen(etag)) != NULL;
}

static void page_cleanup(const void *data, size_t len, void *arg)
{
	page_unref(arg);
}

void page_send(struct req *r, struct page *p)
{
	bool gz = accepts_gzip(r);
	if (gz)
		page_gzip(p);
	if (gz && !p->gz)
		gz = false;
	const char *etag = gz ? p->etag_gz : p->etag;
	resp_header(r, "Vary", "Accept, User-Agent, Accept-Encoding");
	resp_header(r, "ETag", etag);
	if (p->extra)
		buf_adds(&r->hdrs, p->extra);
	if (etag_matches(r, etag)) {
		resp_begin(r, 304, NULL, NULL, -1);     /* no body, no Content-Length */
		resp_end(r);
		return;
	}
	if (gz)
		resp_header(r, "Content-Encoding", "gzip");
	const char *data = gz ? p->gz : p->body;
	size_t len = gz ? p->gzlen : p->len;
	resp_begin(r, 200, NULL, p->ctype, (int64_t)len);
	struct evbuffer_file_segment **segp = gz ? &p->gzseg : &p->seg;
	bool *tried = gz ? &p->gzseg_tried : &p->seg_tried;
	if (!*tried && len >= SEG_MIN_BYTES && p->refs > 1) {
		/* only pages the cache keeps (more than the caller's reference) */
		*tried = true;
		*segp = segment_of(data, len);
	}
	if (*segp && resp_write_segment(r, *segp, len) == ERR_OK) {
		resp_end(r);
		return;
	}
	page_ref(p);
	resp_write_ref(r, data, len, page_cleanup, p);
	resp_end(r);
}

/* ---- the cache ------------------------------------------------------------ */

bool rcache_key(const struct req *r, const char *kind, const char *stage, const char *project, int fmt,
		struct rc_key *key)
{
	size_t n;
	if (r->app->cfg->absolute_urls || req_header(r, "x-devpi-absolute-urls", &n) ||
	    req_header(r, "x-outside-url", &n))
		return false;   /* absolute links depend on headers: not cached */
	/* relative links depend on the request path's shape: its segment count
	 * and trailing slash; the human/installer split changes the page */
	/* with acl_read in use, what a page shows depends on the caller */
	const char *who = atomic_load(&r->app->acl_read_used) ? (r->user ? r->user : "-") : "";
	int len = snprintf(key->s, sizeof key->s, "%s|%s|%s|%d|%d|%zu|%d|%s", kind, stage, project ? project : "", fmt,
			   r->installer, r->nsegs, r->trailing_slash, who);
	if (len < 0 || (size_t)len >= sizeof key->s)
		return false;
	key->len = (size_t)len;
	return true;
}

static struct rcache *cache_of(struct worker *w)
{
	if (!w->rcache)
		w->rcache = xcalloc(1, sizeof(struct rcache));
	return w->rcache;
}

struct page *rcache_get(struct worker *w, const char *key, size_t klen, int64_t serial)
{
	struct rcache *c = cache_of(w);
	uint64_t h = strset_hash(key, klen);
	for (struct rc_entry *e = c->b[h % RCACHE_BUCKETS]; e; e = e->next) {
		if (e->hash != h || e->klen != klen || memcmp(e->key, key, klen) != 0)
			continue;
		if (e->serial != serial || e->epoch != atomic_load(&w->app->cache_epoch) ||
		    (e->fresh_until > 0 && e->fresh_until <= time_now()))
			return NULL;
		page_ref(e->page);
		return e->page;
	}
	return NULL;
}

static void rcache_clear(struct rcache *c)
{
	for (size_t i = 0; i < RCACHE_BUCKETS; i++) {
		while (c->b[i]) {
			struct rc_entry *e = c->b[i];
			c->b[i] = e->next;
			page_unref(e->page);
			xfree(e->key);
			xfree(e);
		}
	}
	c->bytes = 0;
}

void rcache_put(struct worker *w, const char *key, size_t klen, int64_t serial, double fresh_until, struct page *p)
{
	struct rcache *c = cache_of(w);
	uint64_t h = strset_hash(key, klen);
	size_t cost = p->len + klen + sizeof(struct rc_entry);
	if (cost > RCACHE_MAX_BYTES / 4)
		return;         /* too big to be worth keeping */
	if (c->bytes + cost > RCACHE_MAX_BYTES)
		rcache_clear(c);
	struct rc_entry **pp = &c->b[h % RCACHE_BUCKETS];
	while (*pp && !((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0))
		pp = &(*pp)->next;
	if (*pp) {
		struct rc_entry *old = *pp;
		*pp = old->next;
		c->bytes -= old->page->len + old->klen + sizeof *old;
		page_unref(old->page);
		xfree(old->key);
		xfree(old);
	}
	struct rc_entry *e = xcalloc(1, sizeof *e);
	e->key = xstrndup(key, klen);
	e->klen = klen;
	e->hash = h;
	e->serial = serial;
	e->epoch = atomic_load(&w->app->cache_epoch);
	e->fresh_until = fresh_until;
	page_ref(p);
	e->page = p;
	e->next = c->b[h % RCACHE_BUCKETS];
	c->b[h % RCACHE_BUCKETS] = e;
	c->bytes += cost;
}

void rcache_free(struct worker *w)
{
	if (!w->rcache)
		return;
	rcache_clear(w->rcache);
	xfree(w->rcache);
	w->rcache = NULL;
}
