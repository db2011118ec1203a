/* jstream.h — walk a large JSON document (an export's dataindex.json)
 * with bounded memory.
 *
 * The big containers are walked token by token (object keys, array
 * elements); each leaf record (a user, an index config, a version's
 * metadata, a file entry) is captured as text up to a caller-given bound
 * and parsed with json_parse_bounded.  So memory is the read buffer plus
 * the largest single record allowed, whatever the size of the document.
 * Errors are sticky: after one, every call returns it; jstream_offset
 * tells where it happened.
 */
#ifndef PROXY_JSTREAM_H
#define PROXY_JSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct buf;
struct cJSON;

#define JSTREAM_BUF (64 * 1024)
#define JSTREAM_KEY_MAX 4096      /* longest object key */
#define JSTREAM_DEPTH_MAX 64      /* nesting inside a captured or skipped value */

struct jstream {
	FILE *f;                      /* borrowed; NULL: reading from mem */
	const char *mem;              /* borrowed */
	size_t memlen, mempos;
	char buf[JSTREAM_BUF];
	size_t pos, len;
	uint64_t offset;              /* bytes consumed */
	int err;
	/* the containers being walked: whether each has had a member yet */
	bool started[JSTREAM_DEPTH_MAX];
	int level;
};

void jstream_init_file(struct jstream *js, FILE *f);
void jstream_init_mem(struct jstream *js, const char *p, size_t n);
uint64_t jstream_offset(const struct jstream *js);

/* '{' must come next. */
int jstream_object_begin(struct jstream *js);
/* The next member's key (decoded, at most JSTREAM_KEY_MAX bytes, into
 * key, which is reset), with its ':' consumed; *done when the object
 * ended instead ('}' consumed). */
int jstream_object_next(struct jstream *js, struct buf *key, bool *done);
/* '[' must come next. */
int jstream_array_begin(struct jstream *js);
/* Positions at the next element; *done when the array ended (']'). */
int jstream_array_next(struct jstream *js, bool *done);
/* Reads the next value whole (at most max bytes of text) as a new cJSON
 * tree (the caller frees it).  ERR_TOOBIG past max; ERR_PARSE for bad
 * JSON. */
int jstream_read_value(struct jstream *js, size_t max, struct cJSON **out);
/* Skips the next value, however large, in constant memory. */
int jstream_skip_value(struct jstream *js);
/* Only whitespace may follow. */
int jstream_end(struct jstream *js);

#endif
