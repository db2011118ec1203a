/* pkginfo.c — METADATA / PKG-INFO from stored archives, and its parser
 * (see pkginfo.h).
 *
 * Uploads are archives from outside, read where they lie (LMDB chunks)
 * through libarchive's callback interface: a read callback copying from the
 * caller's random-access reader, plus seek and skip callbacks so that the
 * zip reader works from the central directory instead of guessing its way
 * through local headers.  Only zip, tar, gzip and bzip2 are enabled, so no
 * other decoder (and no external program) is reachable from an upload.
 *
 * Bounds come before work, because libarchive itself trusts the archive:
 * a zip's central directory is walked here first to count its records (the
 * zip reader allocates one struct per record before returning anything) and
 * to check the compression ratio of the metadata member; a member's declared
 * size is checked before it is read and its actual size while it is read;
 * and for a compressed tar the read callback watches the decompressed
 * position against the bytes fed in, stopping a gzip bomb placed in front of
 * PKG-INFO.  A callback that stops libarchive records why in fail_rc so the
 * caller gets ERR_TOOBIG / ERR_IO rather than a generic ERR_CORRUPT.
 *
 * The parser follows what devpi-client and twine send, i.e. the pkginfo
 * library on top of Python's email parser, down to the handling of the
 * message body and of "UNKNOWN".
 */
#include "proxy/pkginfo.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "inherit/name.h"

#define PX_CHUNK (32u << 10)        /* bytes per read callback */
#define PX_OUT (16u << 10)          /* bytes per archive_read_data */
#define PX_WIN (128u << 10)         /* window over the central directory (> 46 + 4096 + 65535) */
#define PX_EOCD_SEARCH (16u << 10)  /* where libarchive looks for the EOCD */
#define PX_CD_NAME_MAX 4096         /* longer central directory names are not matched */
#define PX_SDIST_MAX_DEPTH 4        /* directories above an sdist PKG-INFO */

enum px_kind { PX_WHEEL, PX_EGG, PX_SDIST };
enum px_format { PX_ZIP, PX_TAR };

struct px {
	const struct pkginfo_reader *r;
	const char *filename;
	struct archive *a;
	enum px_kind kind;
	enum px_format fmt;
	uint64_t max_metadata, max_ratio, max_stream;
	unsigned max_entries;
	uint64_t pos;          /* raw offset the read callback copies from next */
	uint64_t raw_read;     /* raw bytes handed to libarchive so far */
	bool compressed;       /* a gzip/bzip2 filter feeds the tar reader */
	int fail_rc;           /* why a callback stopped libarchive, or 0 */
	char why[128];         /* ... in words, for the log */
	uint8_t chunk[PX_CHUNK];
	uint8_t out[PX_OUT];
};

/* ---- the reader ---------------------------------------------------------- */

static ssize_t px_mem_read_at(void *arg, uint64_t off, void *buf, size_t n)
{
	const struct pkginfo_mem *m = arg;
	if (off >= m->n)
		return 0;
	size_t k = m->n - off < n ? (size_t)(m->n - off) : n;
	memcpy(buf, m->p + off, k);
	return (ssize_t)k;
}

void pkginfo_reader_mem(struct pkginfo_reader *r, const void *p, size_t n, struct pkginfo_mem *state)
{
	state->p = p;
	state->n = n;
	r->arg = state;
	r->read_at = px_mem_read_at;
	r->size = n;
}

/* Reads up to n bytes at off, fewer only at the end of the archive. */
static int px_read_full(const struct pkginfo_reader *r, uint64_t off, uint8_t *buf, size_t n, size_t *got)
{
	size_t have = 0;
	while (have < n && off + have < r->size) {
		uint64_t left = r->size - (off + have);
		size_t want = n - have < left ? n - have : (size_t)left;
		ssize_t k = r->read_at(r->arg, off + have, buf + have, want);
		if (k <= 0 || (size_t)k > want)
			return ERR_IO;
		have += (size_t)k;
	}
	*got = have;
	return ERR_OK;
}

/* ---- which member holds the metadata ------------------------------------- */

static int px_kind_of(const char *filename, enum px_kind *kind, enum px_format *fmt)
{
	static const struct { const char *ext; enum px_kind kind; enum px_format fmt; } exts[] = {
		{ ".whl", PX_WHEEL, PX_ZIP },
		{ ".egg", PX_EGG, PX_ZIP },
		{ ".zip", PX_SDIST, PX_ZIP },
		{ ".tar.gz", PX_SDIST, PX_TAR },
		{ ".tgz", PX_SDIST, PX_TAR },
		{ ".tar.bz2", PX_SDIST, PX_TAR },
		{ ".tar", PX_SDIST, PX_TAR },
	};
	size_t n = strlen(filename);
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		size_t e = strlen(exts[i].ext);
		if (n > e && strcasecmp(filename + n - e, exts[i].ext) == 0) {
			*kind = exts[i].kind;
			*fmt = exts[i].fmt;
			return ERR_OK;
		}
	}
	return ERR_INVAL;
}

static bool px_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* How good a metadata file the member at path (n bytes) is for kind:
 * 1 = the one we want (stop looking), 2.. = a deeper sdist fallback,
 * -1 = not a metadata file. */
static int px_rank(enum px_kind kind, const char *path, size_t n)
{
	const char *comp[PX_SDIST_MAX_DEPTH + 1];
	size_t clen[PX_SDIST_MAX_DEPTH + 1];
	int nc = 0;
	while (n >= 2 && path[0] == '.' && path[1] == '/') {
		path += 2;
		n -= 2;
	}
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && path[i] != '/')
			continue;
		size_t l = i - start;
		const char *c = path + start;
		if (l == 0 || px_eq(c, l, ".") || px_eq(c, l, ".."))
			return -1;
		if (nc == PX_SDIST_MAX_DEPTH + 1)
			return -1;
		comp[nc] = c;
		clen[nc] = l;
		nc++;
		start = i + 1;
	}
	switch (kind) {
	case PX_WHEEL:
		if (nc == 2 && clen[0] > 10 && memcmp(comp[0] + clen[0] - 10, ".dist-info", 10) == 0 &&
		    px_eq(comp[1], clen[1], "METADATA"))
			return 1;
		return -1;
	case PX_EGG:
		return nc == 2 && px_eq(comp[0], clen[0], "EGG-INFO") && px_eq(comp[1], clen[1], "PKG-INFO") ? 1 : -1;
	case PX_SDIST:
		if (!px_eq(comp[nc - 1], clen[nc - 1], "PKG-INFO"))
			return -1;
		return nc <= 2 ? 1 : nc - 1;
	}
	return -1;
}

/* ---- zip: central directory pre-check ------------------------------------ */

struct px_win {
	const struct pkginfo_reader *r;
	uint64_t base;
	size_t len;
	uint8_t buf[PX_WIN];
};

/* Points *p at n (<= PX_WIN) bytes at off, refilling the window if needed.
 * ERR_CORRUPT if the archive ends first. */
static int px_win_get(struct px_win *w, uint64_t off, size_t n, const uint8_t **p)
{
	if (off >= w->base && off - w->base <= w->len && n <= w->len - (off - w->base)) {
		*p = w->buf + (off - w->base);
		return ERR_OK;
	}
	if (off >= w->r->size || n > w->r->size - off)
		return ERR_CORRUPT;
	size_t got = 0;
	int rc = px_read_full(w->r, off, w->buf, PX_WIN, &got);
	if (rc)
		return rc;
	w->base = off;
	w->len = got;
	if (got < n)
		return ERR_CORRUPT;
	*p = w->buf;
	return ERR_OK;
}

static uint16_t px_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t px_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t px_le64(const uint8_t *p)
{
	return (uint64_t)px_le32(p) | (uint64_t)px_le32(p + 4) << 32;
}

/* The zip64 extended-information extra field (id 1) of a central directory
 * record replaces, in this order, those of usize, csize and the local
 * header offset that are 0xffffffff in the record. */
static int px_zip64_extra(const uint8_t *e, size_t n, uint64_t *usize, uint64_t *csize, uint64_t *lho)
{
	while (n >= 4) {
		uint16_t id = px_le16(e), len = px_le16(e + 2);
		if ((size_t)len > n - 4)
			return ERR_CORRUPT;
		if (id == 1) {
			const uint8_t *d = e + 4;
			size_t left = len;
			uint64_t *const fields[] = { usize, csize, lho };
			for (int i = 0; i < 3; i++) {
				if (*fields[i] != 0xffffffffu)
					continue;
				if (left < 8)
					return ERR_CORRUPT;
				*fields[i] = px_le64(d);
				d += 8;
				left -= 8;
			}
			return ERR_OK;
		}
		e += 4 + len;
		n -= 4 + (size_t)len;
	}
	return ERR_OK;
}

/* A member the metadata rule matches: its compression method, in the
 * central directory and in the local header that libarchive decodes from,
 * must be stored or deflate (Debian's libarchive would otherwise reach
 * bzip2, lzma, xz, zstd or PPMd decoders from an upload), and its sizes
 * must not be a bomb's. */
static int px_zip_check_member(struct px *x, struct px_win *w, uint16_t method, uint64_t csize, uint64_t usize,
			       uint64_t lho)
{
	const uint8_t *q;
	if (method != 0 && method != 8) {
		log_info("pkginfo: '%s': metadata member uses zip method %u", x->filename, method);
		return ERR_CORRUPT;
	}
	int rc = px_win_get(w, lho, 30, &q);
	if (rc)
		return rc;
	if (memcmp(q, "PK\3\4", 4) != 0 || px_le16(q + 8) != method) {
		log_info("pkginfo: '%s': metadata member's local header does not match", x->filename);
		return ERR_CORRUPT;
	}
	if (usize >= PKGINFO_RATIO_MIN_SIZE && (csize == 0 || usize / csize > x->max_ratio)) {
		log_info("pkginfo: '%s': metadata member expands %llu -> %llu bytes, over the ratio bound",
			 x->filename, (unsigned long long)csize, (unsigned long long)usize);
		return ERR_TOOBIG;
	}
	return ERR_OK;
}

/* Finds the end-of-central-directory record where libarchive's seekable zip
 * reader does (the last one in the final 16 KiB), then walks the central
 * directory: counts its records against max_entries and checks each member
 * the metadata rule matches (px_zip_check_member).  ERR_CORRUPT for a
 * directory that does not walk cleanly to its end record. */
static int px_zip_precheck(struct px *x)
{
	int rc = ERR_OK;
	struct px_win *w = xmalloc(sizeof *w);
	const uint8_t *p, *q;
	uint64_t size = x->r->size, start;
	int64_t correction = 0; /* bytes prepended to the zip (self-extractors) */
	w->r = x->r;
	w->base = 0;
	w->len = 0;
	if (size < 22) {
		rc = ERR_CORRUPT;
		goto fail;
	}
	size_t tail = size < PX_EOCD_SEARCH ? (size_t)size : PX_EOCD_SEARCH;
	rc = px_win_get(w, size - tail, tail, &p);
	if (rc)
		goto fail;
	size_t i = tail - 22;
	while (memcmp(p + i, "PK\5\6", 4) != 0) {
		if (i == 0) {
			rc = ERR_CORRUPT;
			goto fail;
		}
		i--;
	}
	uint64_t eocd = size - tail + i;
	uint32_t cd_size = px_le32(p + i + 12), cd_off = px_le32(p + i + 16);
	if (i >= 20 && memcmp(p + i - 20, "PK\6\7", 4) == 0) {
		uint64_t z64 = px_le64(p + i - 20 + 8);
		rc = px_win_get(w, z64, 56, &q);
		if (rc)
			goto fail;
		if (memcmp(q, "PK\6\6", 4) != 0) {
			rc = ERR_CORRUPT;
			goto fail;
		}
		start = px_le64(q + 48);
	} else {
		if (cd_size > eocd) {
			rc = ERR_CORRUPT;
			goto fail;
		}
		start = eocd - cd_size;
		correction = (int64_t)start - (int64_t)cd_off;
	}
	unsigned count = 0;
	for (uint64_t off = start;;) {
		rc = px_win_get(w, off, 4, &q);
		if (rc)
			goto fail;
		if (memcmp(q, "PK\5\6", 4) == 0 || memcmp(q, "PK\6\6", 4) == 0)
			break;
		if (memcmp(q, "PK\1\2", 4) != 0) {
			rc = ERR_CORRUPT;
			goto fail;
		}
		if (++count > x->max_entries) {
			log_info("pkginfo: '%s' has more than %u members", x->filename, x->max_entries);
			rc = ERR_TOOBIG;
			goto fail;
		}
		rc = px_win_get(w, off, 46, &q);
		if (rc)
			goto fail;
		uint16_t method = px_le16(q + 10);
		uint64_t csize = px_le32(q + 20), usize = px_le32(q + 24), lho = px_le32(q + 42);
		size_t nlen = px_le16(q + 28), elen = px_le16(q + 30), clen = px_le16(q + 32);
		if (nlen <= PX_CD_NAME_MAX) {
			rc = px_win_get(w, off + 46, nlen + elen, &q);
			if (rc)
				goto fail;
			if (px_rank(x->kind, (const char *)q, nlen) > 0) {
				rc = px_zip64_extra(q + nlen, elen, &usize, &csize, &lho);
				if (!rc && ((int64_t)lho + correction < 0 || lho > (uint64_t)INT64_MAX))
					rc = ERR_CORRUPT;
				if (!rc)
					rc = px_zip_check_member(x, w, method, csize, usize,
								 (uint64_t)((int64_t)lho + correction));
				if (rc)
					goto fail;
			}
		}
		off += 46 + nlen + elen + clen;
	}
fail:
	xfree(w);
	return rc;
}

/* ---- libarchive callbacks ------------------------------------------------ */

static bool px_stream_over(const struct px *x, uint64_t plain)
{
	if (plain > x->max_stream)
		return true;
	return plain > PKGINFO_STREAM_RATIO_FLOOR && plain / (x->raw_read ? x->raw_read : 1) > x->max_ratio;
}

static la_ssize_t px_read_cb(struct archive *a, void *arg, const void **buf)
{
	struct px *x = arg;
	*buf = x->chunk;
	if (x->compressed) {
		la_int64_t plain = archive_filter_bytes(a, 0);
		if (plain > 0 && px_stream_over(x, (uint64_t)plain)) {
			x->fail_rc = ERR_TOOBIG;
			snprintf(x->why, sizeof x->why, "decompressed %lld bytes from %llu, over the bounds",
				 (long long)plain, (unsigned long long)x->raw_read);
			archive_set_error(a, ERANGE, "%s", x->why);
			return ARCHIVE_FATAL;
		}
	}
	if (x->pos >= x->r->size)
		return 0;
	uint64_t left = x->r->size - x->pos;
	size_t want = left < PX_CHUNK ? (size_t)left : PX_CHUNK;
	ssize_t got = x->r->read_at(x->r->arg, x->pos, x->chunk, want);
	if (got <= 0 || (size_t)got > want) {
		x->fail_rc = ERR_IO;
		snprintf(x->why, sizeof x->why, "archive reader failed at offset %llu", (unsigned long long)x->pos);
		archive_set_error(a, EIO, "%s", x->why);
		return ARCHIVE_FATAL;
	}
	x->pos += (uint64_t)got;
	x->raw_read += (uint64_t)got;
	return got;
}

static la_int64_t px_seek_cb(struct archive *a, void *arg, la_int64_t off, int whence)
{
	struct px *x = arg;
	int64_t base;
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)x->pos;
		break;
	case SEEK_END:
		base = (int64_t)x->r->size;
		break;
	default:
		return ARCHIVE_FATAL;
	}
	if ((off < 0 && off < -base) || (off > 0 && off > INT64_MAX - base))
		return ARCHIVE_FATAL;
	x->pos = (uint64_t)(base + off);
	return (la_int64_t)x->pos;
}

static la_int64_t px_skip_cb(struct archive *a, void *arg, la_int64_t request)
{
	struct px *x = arg;
	if (request <= 0 || x->pos >= x->r->size)
		return 0;
	uint64_t left = x->r->size - x->pos;
	uint64_t k = (uint64_t)request < left ? (uint64_t)request : left;
	x->pos += k;
	return (la_int64_t)k;
}

/* ---- extraction ---------------------------------------------------------- */

/* The error for a libarchive failure: a callback's reason if it stopped
 * libarchive (libarchive may have replaced the callback's error text by
 * then), else what libarchive says, logged with its own text. */
static int px_archive_rc(struct px *x, const char *what)
{
	const char *msg = x->fail_rc ? x->why : archive_error_string(x->a);
	log_info("pkginfo: %s '%s' failed: %s", what, x->filename, msg ? msg : "unknown libarchive error");
	if (x->fail_rc)
		return x->fail_rc;
	return archive_errno(x->a) == ENOMEM ? ERR_NOMEM : ERR_CORRUPT;
}

static int px_open(struct px *x)
{
	struct archive *a = archive_read_new();
	int ar;
	if (!a)
		return ERR_NOMEM;
	x->a = a;
	if (x->fmt == PX_ZIP) {
		ar = archive_read_support_format_zip_seekable(a);
	} else {
		ar = archive_read_support_format_tar(a);
		/* ARCHIVE_WARN here would mean an external gzip/bzip2 program. */
		if (ar == ARCHIVE_OK)
			ar = archive_read_support_filter_gzip(a);
		if (ar == ARCHIVE_OK)
			ar = archive_read_support_filter_bzip2(a);
	}
	if (ar != ARCHIVE_OK) {
		log_err("pkginfo: libarchive cannot decode '%s' in-process: %s", x->filename,
			archive_error_string(a) ? archive_error_string(a) : "no built-in support");
		return ERR_IO;
	}
	if (archive_read_set_read_callback(a, px_read_cb) != ARCHIVE_OK ||
	    archive_read_set_seek_callback(a, px_seek_cb) != ARCHIVE_OK ||
	    archive_read_set_skip_callback(a, px_skip_cb) != ARCHIVE_OK ||
	    archive_read_set_callback_data(a, x) != ARCHIVE_OK)
		return px_archive_rc(x, "setting up");
	if (archive_read_open1(a) != ARCHIVE_OK)
		return px_archive_rc(x, "opening");
	x->compressed = archive_filter_count(a) > 1;
	return ERR_OK;
}

/* Walks past the current member of a compressed tar block by block, with
 * the stream bound checked after each block.  (Left to libarchive, the skip
 * happens inside archive_read_next_header(), where the read callback only
 * runs once per PX_CHUNK of compressed input: ~32 MiB of output for gzip,
 * gigabytes for a bzip2 bomb.) */
static int px_drain(struct px *x)
{
	const void *p;
	size_t n;
	la_int64_t off;
	for (;;) {
		int ar = archive_read_data_block(x->a, &p, &n, &off);
		if (ar == ARCHIVE_EOF)
			return ERR_OK;
		if (ar < ARCHIVE_WARN)
			return px_archive_rc(x, "reading a member of");
		la_int64_t plain = archive_filter_bytes(x->a, 0);
		if (plain > 0 && px_stream_over(x, (uint64_t)plain)) {
			x->fail_rc = ERR_TOOBIG;
			snprintf(x->why, sizeof x->why, "decompressed %lld bytes from %llu, over the bounds",
				 (long long)plain, (unsigned long long)x->raw_read);
			return px_archive_rc(x, "reading a member of");
		}
	}
}

/* Reads the current member into b (bounded by max_metadata). */
static int px_read_member(struct px *x, struct buf *b)
{
	for (;;) {
		la_ssize_t n = archive_read_data(x->a, x->out, sizeof x->out);
		if (n == 0)
			return ERR_OK;
		if (n < 0)
			return px_archive_rc(x, "reading the metadata of");
		int rc = buf_add(b, x->out, (size_t)n);
		if (rc) {
			if (rc == ERR_TOOBIG)
				log_info("pkginfo: metadata in '%s' is larger than %llu bytes", x->filename,
					 (unsigned long long)x->max_metadata);
			return rc;
		}
	}
}

int pkginfo_extract(const struct pkginfo_reader *r, const char *filename, const struct pkginfo_limits *lim,
		    char **out, size_t *outlen)
{
	int rc = ERR_OK;
	struct px *x = NULL;
	struct buf best = BUF_INIT, cur = BUF_INIT;
	int best_rank = INT_MAX;
	enum px_kind kind;
	enum px_format fmt;
	if (out)
		*out = NULL;
	if (outlen)
		*outlen = 0;
	if (!r || !r->read_at || !filename || !out || r->size > INT64_MAX)
		return ERR_INVAL;
	if (px_kind_of(filename, &kind, &fmt))
		return ERR_INVAL;
	if (r->size == 0)
		return ERR_CORRUPT;
	x = xcalloc(1, sizeof *x);
	x->r = r;
	x->filename = filename;
	x->kind = kind;
	x->fmt = fmt;
	x->max_metadata = lim && lim->max_metadata ? lim->max_metadata : PKGINFO_DEFAULT_MAX_METADATA;
	x->max_entries = lim && lim->max_entries ? lim->max_entries : PKGINFO_DEFAULT_MAX_ENTRIES;
	x->max_ratio = lim && lim->max_ratio ? lim->max_ratio : PKGINFO_DEFAULT_MAX_RATIO;
	x->max_stream = lim && lim->max_stream ? lim->max_stream : PKGINFO_DEFAULT_MAX_STREAM;
	if (fmt == PX_ZIP) {
		rc = px_zip_precheck(x);
		if (rc)
			goto fail;
	}
	rc = px_open(x);
	if (rc)
		goto fail;
	for (unsigned entries = 0;;) {
		struct archive_entry *e = NULL;
		int ar = archive_read_next_header(x->a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			rc = px_archive_rc(x, "reading a member header of");
			goto fail;
		}
		if (++entries > x->max_entries) {
			log_info("pkginfo: '%s' has more than %u members", filename, x->max_entries);
			rc = ERR_TOOBIG;
			goto fail;
		}
		const char *path = archive_entry_pathname(e);
		if (!path)
			path = archive_entry_pathname_utf8(e);
		int rank = -1;
		if (path && archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e))
			rank = px_rank(kind, path, strlen(path));
		if (rank < 0 || rank >= best_rank) {
			if (x->compressed) {
				rc = px_drain(x);
				if (rc)
					goto fail;
			}
			continue;
		}
		if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > x->max_metadata) {
			log_info("pkginfo: '%s' in '%s' declares %lld bytes, over %llu", path, filename,
				 (long long)archive_entry_size(e), (unsigned long long)x->max_metadata);
			rc = ERR_TOOBIG;
			goto fail;
		}
		buf_release(&cur);
		buf_init(&cur, x->max_metadata);
		rc = px_read_member(x, &cur);
		if (rc)
			goto fail;
		if (kind == PX_SDIST && !(cur.p && memmem(cur.p, cur.len, "Metadata-Version", 16)))
			continue;
		struct buf t = best;
		best = cur;
		cur = t;
		best_rank = rank;
		if (rank == 1)
			break;
	}
	if (best_rank == INT_MAX) {
		rc = ERR_NOTFOUND;
		goto fail;
	}
	*out = buf_detach(&best, outlen);
fail:
	buf_release(&cur);
	buf_release(&best);
	if (x && x->a)
		archive_read_free(x->a);
	xfree(x);
	return rc;
}

/* ---- the metadata parser ------------------------------------------------- */

struct px_field {
	const char *header;
	const char *key;
	bool list;
};

static const struct px_field px_fields[] = {
	{ "Metadata-Version", "metadata_version", false },
	{ "Name", "name", false },
	{ "Version", "version", false },
	{ "Summary", "summary", false },
	{ "Home-page", "home_page", false },
	{ "Author", "author", false },
	{ "Author-email", "author_email", false },
	{ "Maintainer", "maintainer", false },
	{ "Maintainer-email", "maintainer_email", false },
	{ "License", "license", false },
	{ "Description", "description", false },
	{ "Keywords", "keywords", false },
	{ "Platform", "platform", true },
	{ "Classifier", "classifiers", true },
	{ "Download-URL", "download_url", false },
	{ "Supported-Platform", "supported_platform", true },
	{ "Provides", "provides", true },
	{ "Requires", "requires", true },
	{ "Obsoletes", "obsoletes", true },
	{ "Project-URL", "project_urls", true },
	{ "Provides-Dist", "provides_dist", true },
	{ "Obsoletes-Dist", "obsoletes_dist", true },
	{ "Requires-Dist", "requires_dist", true },
	{ "Requires-External", "requires_external", true },
	{ "Requires-Python", "requires_python", false },
	{ "Description-Content-Type", "description_content_type", false },
	{ "Provides-Extra", "provides_extras", true },
	{ "Dynamic", "dynamic", true },
	{ "License-Expression", "license_expression", false },
	{ "License-File", "license_file", true },
};

static const struct px_field *px_field_find(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof px_fields / sizeof px_fields[0]; i++)
		if (strlen(px_fields[i].header) == n && strncasecmp(px_fields[i].header, name, n) == 0)
			return &px_fields[i];
	return NULL;
}

/* The text as UTF-8: unchanged if it is valid UTF-8, else read as Latin-1;
 * NUL becomes U+FFFD either way.  NULL when out of memory. */
static char *px_to_utf8(const char *s, size_t n, size_t *outlen)
{
	bool utf8 = name_utf8_valid(s, n);
	char *o = try_malloc(3 * n + 1);
	size_t k = 0;
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0) {
			memcpy(o + k, "\xef\xbf\xbd", 3);
			k += 3;
		} else if (c < 0x80 || utf8) {
			o[k++] = (char)c;
		} else {
			o[k++] = (char)(0xc0 | c >> 6);
			o[k++] = (char)(0x80 | (c & 0x3f));
		}
	}
	o[k] = '\0';
	*outlen = k;
	return o;
}

/* The line starting at pos: its end (before the terminator) and the start
 * of the next line (after \n, \r\n or \r). */
static void px_line(const char *t, size_t n, size_t pos, size_t *end, size_t *next)
{
	size_t i = pos;
	while (i < n && t[i] != '\n' && t[i] != '\r')
		i++;
	*end = i;
	if (i < n && t[i] == '\r' && i + 1 < n && t[i + 1] == '\n')
		i++;
	*next = i < n ? i + 1 : n;
}

static bool px_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* pkginfo's _collapse_leading_ws: for Description strip the value, keep
 * lines, drop each line's 8-column indent; otherwise strip every line and
 * join them with one space. */
static int px_collapse(const char *v, size_t n, bool description, struct buf *b)
{
	int rc = ERR_OK;
	size_t pos = 0;
	if (description) {
		while (n && px_ws(v[n - 1]))
			n--;
		while (pos < n && px_ws(v[pos]))
			pos++;
	}
	for (bool first = true; pos < n && !rc; first = false) {
		size_t end, next;
		px_line(v, n, pos, &end, &next);
		size_t s = pos, e = end;
		if (description) {
			if (e - s >= 8 && (memcmp(v + s, "        ", 8) == 0 || memcmp(v + s, "       |", 8) == 0))
				s += 8;
		} else {
			while (s < e && px_ws(v[s]))
				s++;
			while (e > s && px_ws(v[e - 1]))
				e--;
		}
		if (!first)
			rc = buf_addc(b, description ? '\n' : ' ');
		if (!rc)
			rc = buf_add(b, v + s, e - s);
		pos = next;
	}
	return rc;
}

static int px_field_add(cJSON *obj, const struct px_field *f, const char *v, size_t n)
{
	int rc = ERR_OK;
	struct buf b;
	cJSON *item = NULL;
	if (!f)
		return ERR_OK;
	cJSON *have = cJSON_GetObjectItemCaseSensitive(obj, f->key);
	if (have && !f->list)
		return ERR_OK; /* the first occurrence wins */
	buf_init(&b, n ? n : 1);
	rc = px_collapse(v, n, strcasecmp(f->header, "Description") == 0, &b);
	if (rc)
		goto fail;
	const char *s = b.p ? b.p : "";
	bool unknown = strcmp(s, "UNKNOWN") == 0;
	if (f->list) {
		if (!have) {
			have = cJSON_AddArrayToObject(obj, f->key);
			if (!have) {
				rc = ERR_NOMEM;
				goto fail;
			}
		}
		if (!*s || unknown)
			goto fail; /* dropped, rc stays ERR_OK */
		item = cJSON_CreateString(s);
		if (!item || !cJSON_AddItemToArray(have, item)) {
			rc = ERR_NOMEM;
			goto fail;
		}
	} else {
		item = cJSON_CreateString(unknown ? "" : s);
		if (!item || !cJSON_AddItemToObject(obj, f->key, item)) {
			rc = ERR_NOMEM;
			goto fail;
		}
	}
	item = NULL;
fail:
	cJSON_Delete(item);
	buf_release(&b);
	return rc;
}

int pkginfo_parse(const char *text, size_t len, cJSON **out)
{
	int rc = ERR_OK;
	char *t = NULL;
	cJSON *obj = NULL, *desc = NULL;
	size_t n = 0, pos = 0, body, vstart = 0, vend = 0;
	const struct px_field *field = NULL;
	bool in_header = false; /* a header is being collected */
	*out = NULL;
	if (!text)
		return ERR_INVAL;
	if (len > PKGINFO_PARSE_MAX)
		return ERR_TOOBIG;
	t = px_to_utf8(text, len, &n);
	obj = cJSON_CreateObject();
	if (!t || !obj) {
		rc = ERR_NOMEM;
		goto fail;
	}
	body = n;
	while (pos < n) {
		size_t end, next, colon = pos;
		px_line(t, n, pos, &end, &next);
		if (end == pos) {
			body = next; /* the empty line ends the headers */
			break;
		}
		if (t[pos] == ' ' || t[pos] == '\t') {
			if (in_header)
				vend = end;
			pos = next;
			continue;
		}
		while (colon < end && t[colon] > 0x20 && t[colon] < 0x7f && t[colon] != ':')
			colon++;
		if (colon == end || t[colon] != ':') {
			body = pos; /* not a header: the body starts here */
			break;
		}
		if (in_header) {
			rc = px_field_add(obj, field, t + vstart, vend - vstart);
			if (rc)
				goto fail;
		}
		in_header = true;
		field = px_field_find(t + pos, colon - pos);
		vstart = colon + 1;
		while (vstart < end && (t[vstart] == ' ' || t[vstart] == '\t'))
			vstart++;
		vend = end;
		pos = next;
	}
	if (in_header) {
		rc = px_field_add(obj, field, t + vstart, vend - vstart);
		if (rc)
			goto fail;
	}
	if (body < n) {
		desc = cJSON_CreateString(t + body);
		if (!desc) {
			rc = ERR_NOMEM;
			goto fail;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "description");
		if (!cJSON_AddItemToObject(obj, "description", desc)) {
			rc = ERR_NOMEM;
			goto fail;
		}
		desc = NULL;
	}
	*out = obj;
	obj = NULL;
fail:
	cJSON_Delete(desc);
	cJSON_Delete(obj);
	xfree(t);
	return rc;
}
