/* fuzz_jstream.c — the bounded-memory JSON walker on arbitrary bytes.
 *
 * The input is walked three ways: containers member by member (recursing
 * a few levels), skipped whole, and captured whole with a small bound.
 * Invariants: nothing reads past the input, an error is sticky, and a
 * value that captures successfully also skips successfully (and the other
 * way round, unless the capture hit its bound). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "proxy/jstream.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static struct jstream js;

static int walk(struct jstream *s, struct buf *key, int depth)
{
	bool done;
	cJSON *v = NULL;
	int rc;
	if (depth < 3 && (rc = jstream_object_begin(s)) == ERR_OK) {
		while (!(rc = jstream_object_next(s, key, &done)) && !done)
			if ((rc = walk(s, key, depth + 1)))
				break;
		return rc;
	}
	rc = jstream_read_value(s, 4096, &v);
	cJSON_Delete(v);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf key;
	cJSON *v = NULL;
	buf_init(&key, 0);
	jstream_init_mem(&js, (const char *)data, size);
	int rc = walk(&js, &key, 0);
	if (!rc)
		rc = jstream_end(&js);
	CHECK(jstream_offset(&js) <= size);
	if (rc) {
		bool done;
		CHECK(jstream_array_next(&js, &done) != ERR_OK);    /* sticky */
	}
	jstream_init_mem(&js, (const char *)data, size);
	int skip = jstream_skip_value(&js);
	CHECK(jstream_offset(&js) <= size);
	jstream_init_mem(&js, (const char *)data, size);
	int cap = jstream_read_value(&js, 1 << 20, &v);
	if (cap == ERR_OK)
		CHECK(skip == ERR_OK);
	cJSON_Delete(v);
	buf_release(&key);
	return 0;
}
