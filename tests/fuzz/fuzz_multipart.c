/* fuzz_multipart.c — the streaming multipart/form-data parser.
 *
 * The first line of the input is the boundary (or a Content-Type value
 * carrying it), the rest the body.  The body
 * is fed in two halves, then whole, then byte by byte; all three must give
 * the same callback transcript and result.  multipart_boundary() also gets
 * the first line as a Content-Type value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "proxy/multipart.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

struct fz {
	struct buf log;
	int in_part;
};

static int fz_begin(void *arg, const char *name, const char *filename, const char *ctype)
{
	struct fz *f = arg;
	CHECK(!f->in_part && name);
	f->in_part = 1;
	buf_addf(&f->log, "[%s|%s|%s]", name, filename ? filename : "-", ctype ? ctype : "-");
	return 0;
}

static int fz_data(void *arg, const char *p, size_t n)
{
	struct fz *f = arg;
	CHECK(f->in_part && n > 0);
	buf_add(&f->log, p, n);
	return 0;
}

static int fz_end(void *arg)
{
	struct fz *f = arg;
	CHECK(f->in_part);
	f->in_part = 0;
	buf_adds(&f->log, "<end>");
	return 0;
}

static const struct multipart_cbs fz_cbs = { fz_begin, fz_data, fz_end };
static const struct multipart_limits fz_lim = { .max_part_header_bytes = 512, .max_parts = 16 };

/* Feeds body in pieces of `step` bytes (the first piece is `first`). */
static void run(const char *boundary, const char *body, size_t len, size_t first, size_t step, struct buf *out)
{
	struct fz f = { .in_part = 0 };
	struct multipart *m = NULL;
	buf_init(&f.log, 0);
	CHECK(multipart_new(boundary, &fz_lim, &fz_cbs, &f, &m) == ERR_OK);
	int rc = ERR_OK;
	size_t off = 0, n = first < len ? first : len;
	while (rc == ERR_OK) {
		rc = multipart_feed(m, body + off, n);
		off += n;
		if (off == len)
			break;
		n = len - off < step ? len - off : step;
	}
	int frc = multipart_finish(m);
	CHECK(rc == ERR_OK || frc == rc);
	buf_addf(&f.log, "=%d", frc);
	multipart_free(m);
	*out = f.log;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nl = memchr(in, '\n', size);
	if (!nl)
		return 0;
	size_t blen = (size_t)(nl - in);
	/* a Content-Type line gives its boundary parameter, else the line is it */
	char out[MULTIPART_BOUNDARY_MAX + 1];
	char *boundary;
	if (multipart_boundary(in, blen, out, sizeof out) == ERR_OK) {
		CHECK(strlen(out) >= 1 && strlen(out) <= MULTIPART_BOUNDARY_MAX);
		boundary = xstrdup(out);
	} else {
		boundary = xstrndup(in, blen);
		if (strlen(boundary) != blen) {
			xfree(boundary);
			return 0;
		}
	}
	const char *body = nl + 1;
	size_t len = size - blen - 1;
	struct multipart *m = NULL;
	if (multipart_new(boundary, &fz_lim, &fz_cbs, NULL, &m) != ERR_OK) {
		xfree(boundary);
		return 0;
	}
	multipart_free(m);
	struct buf halves, whole, bytes;
	run(boundary, body, len, len / 2, len, &halves);
	run(boundary, body, len, len, len, &whole);
	run(boundary, body, len, 1, 1, &bytes);
	CHECK(halves.len == whole.len && memcmp(halves.p, whole.p, whole.len) == 0);
	CHECK(bytes.len == whole.len && memcmp(bytes.p, whole.p, whole.len) == 0);
	buf_release(&halves);
	buf_release(&whole);
	buf_release(&bytes);
	xfree(boundary);
	return 0;
}
