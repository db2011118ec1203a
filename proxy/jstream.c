/* jstream.c — bounded-memory walk of a JSON document (see jstream.h).
 *
 * One scanner serves both capture and skip: it follows nesting and string
 * state byte by byte (escapes included) to find where a value ends, copying
 * the bytes into a bounded buffer when capturing.  Keys are decoded with
 * cJSON (a key is a JSON string, so it is captured and parsed like a
 * value), which keeps escape handling in one well-tested place.
 */
#include "proxy/jstream.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

static void init(struct jstream *js)
{
	js->f = NULL;
	js->mem = NULL;
	js->memlen = js->mempos = js->pos = js->len = 0;
	js->offset = 0;
	js->err = 0;
	js->level = 0;
}

void jstream_init_file(struct jstream *js, FILE *f)
{
	init(js);
	js->f = f;
}

void jstream_init_mem(struct jstream *js, const char *p, size_t n)
{
	init(js);
	js->mem = p;
	js->memlen = n;
}

uint64_t jstream_offset(const struct jstream *js)
{
	return js->offset;
}

/* The next byte (not consumed), or -1 at the end. */
static int peek_byte(struct jstream *js)
{
	if (js->pos == js->len) {
		js->pos = 0;
		if (js->f) {
			js->len = fread(js->buf, 1, sizeof js->buf, js->f);
			if (js->len == 0 && ferror(js->f))
				js->err = ERR_IO;
		} else {
			size_t n = js->memlen - js->mempos;
			if (n > sizeof js->buf)
				n = sizeof js->buf;
			memcpy(js->buf, js->mem + js->mempos, n);
			js->mempos += n;
			js->len = n;
		}
		if (js->len == 0)
			return -1;
	}
	return (unsigned char)js->buf[js->pos];
}

static void take(struct jstream *js)
{
	js->pos++;
	js->offset++;
}

static int peek_token(struct jstream *js)
{
	int c;
	while ((c = peek_byte(js)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		take(js);
	return c;
}

static int fail(struct jstream *js, int rc)
{
	if (!js->err)
		js->err = rc;
	return js->err;
}

static int expect(struct jstream *js, char ch)
{
	if (js->err)
		return js->err;
	if (peek_token(js) != (unsigned char)ch)
		return fail(js, ERR_PARSE);
	take(js);
	return ERR_OK;
}

/* Scans one value; appends its bytes to out when out is not NULL. */
static int scan_value(struct jstream *js, struct buf *out)
{
	int depth = 0, c;
	bool in_str = false, esc = false, started = false;
	if (js->err)
		return js->err;
	c = peek_token(js);
	if (c < 0 || c == ',' || c == ':' || c == '}' || c == ']')
		return fail(js, ERR_PARSE);
	for (;;) {
		c = peek_byte(js);
		if (c < 0)
			return fail(js, js->err ? js->err : ERR_PARSE);
		if (!in_str && depth == 0 && started &&
		    (c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t'))
			return ERR_OK;          /* the end of a scalar */
		if (out && buf_addc(out, (char)c) != ERR_OK)
			return fail(js, ERR_TOOBIG);
		take(js);
		started = true;
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"') {
				in_str = false;
				if (depth == 0)
					return ERR_OK;  /* a string value */
			}
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > JSTREAM_DEPTH_MAX)
				return fail(js, ERR_TOOBIG);
		} else if (c == '}' || c == ']') {
			if (--depth < 0)
				return fail(js, ERR_PARSE);
			if (depth == 0)
				return ERR_OK;
		}
	}
}

int jstream_read_value(struct jstream *js, size_t max, cJSON **out)
{
	struct buf b;
	*out = NULL;
	buf_init(&b, max);
	int rc = scan_value(js, &b);
	if (!rc && json_parse_bounded(b.p ? b.p : "", b.len, max, JSTREAM_DEPTH_MAX, out) != ERR_OK)
		rc = fail(js, ERR_PARSE);
	buf_release(&b);
	return rc;
}

int jstream_skip_value(struct jstream *js)
{
	return scan_value(js, NULL);
}

static int begin(struct jstream *js, char open)
{
	if (expect(js, open))
		return js->err;
	if (js->level == JSTREAM_DEPTH_MAX)
		return fail(js, ERR_TOOBIG);
	js->started[js->level++] = false;
	return ERR_OK;
}

int jstream_object_begin(struct jstream *js)
{
	return begin(js, '{');
}

int jstream_array_begin(struct jstream *js)
{
	return begin(js, '[');
}

/* Before a member: the close of the container, or (after the first
 * member) a ','. */
static int next_member(struct jstream *js, char close, bool *done)
{
	*done = false;
	if (js->err)
		return js->err;
	if (js->level == 0)
		return fail(js, ERR_INVAL);
	int c = peek_token(js);
	if (c == (unsigned char)close) {
		take(js);
		js->level--;
		*done = true;
		return ERR_OK;
	}
	if (js->started[js->level - 1]) {
		if (c != ',')
			return fail(js, ERR_PARSE);
		take(js);
	}
	js->started[js->level - 1] = true;
	return ERR_OK;
}

int jstream_object_next(struct jstream *js, struct buf *key, bool *done)
{
	cJSON *k = NULL;
	buf_reset(key);
	if (next_member(js, '}', done) || *done)
		return js->err;
	if (peek_token(js) != '"')
		return fail(js, ERR_PARSE);
	int rc = jstream_read_value(js, JSTREAM_KEY_MAX + 2, &k);
	if (!rc && !cJSON_IsString(k))
		rc = fail(js, ERR_PARSE);
	if (!rc && buf_adds(key, k->valuestring) != ERR_OK)
		rc = fail(js, ERR_TOOBIG);
	cJSON_Delete(k);
	return rc ? rc : expect(js, ':');
}

int jstream_array_next(struct jstream *js, bool *done)
{
	return next_member(js, ']', done);
}

int jstream_end(struct jstream *js)
{
	if (js->err)
		return js->err;
	return peek_token(js) < 0 ? ERR_OK : fail(js, ERR_PARSE);
}
