/* replentry.c — the shapes of what a primary sends a replica (see
 * replentry.h).  cJSON does the parsing (its own nesting limit applies);
 * this file only decides whether the tree has the one shape each line may
 * have.  A serial must be an integral JSON number in 0..2^53, so no double
 * rounding can turn one serial into another. */
#include "proxy/replentry.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <string.h>

#include "common/err.h"

static int serial_of(const cJSON *s, int64_t *out)
{
	if (!cJSON_IsNumber(s) || !(s->valuedouble >= 0) || s->valuedouble > (double)REPLENTRY_SERIAL_MAX ||
	    s->valuedouble != (double)(int64_t)s->valuedouble)
		return ERR_PARSE;
	*out = (int64_t)s->valuedouble;
	return ERR_OK;
}

static bool key_ok(const char *k, size_t key_max)
{
	return k && *k && strlen(k) <= key_max;
}

static int parse_root(const char *p, size_t n, struct replentry *out)
{
	memset(out, 0, sizeof *out);
	if (!p || n == 0 || memchr(p, '\0', n))
		return ERR_PARSE;
	out->root = cJSON_ParseWithLength(p, n);
	return cJSON_IsObject(out->root) ? ERR_OK : ERR_PARSE;
}

int replentry_parse(const char *p, size_t n, size_t key_max, struct replentry *out)
{
	int rc = parse_root(p, n, out);
	if (rc)
		goto fail;
	rc = ERR_PARSE;
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(out->root, "serial");
	if (cJSON_IsNull(s)) {
		out->kind = REPLENTRY_HEARTBEAT;
		return ERR_OK;
	}
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(out->root, "changes");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(out->root, "time");
	if (serial_of(s, &out->serial) || !cJSON_IsObject(ch) || (t && !cJSON_IsNumber(t)))
		goto fail;
	for (const cJSON *c = ch->child; c; c = c->next)
		if (!key_ok(c->string, key_max))
			goto fail;
	out->kind = REPLENTRY_ENTRY;
	out->changes = ch;
	out->time = t ? t->valuedouble : 0;
	return ERR_OK;
fail:
	replentry_release(out);
	return rc ? rc : ERR_PARSE;
}

int replentry_parse_snapshot(const char *p, size_t n, size_t key_max, struct replentry *out)
{
	int rc = parse_root(p, n, out);
	if (rc)
		goto fail;
	const cJSON *end = cJSON_GetObjectItemCaseSensitive(out->root, "end");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(out->root, "key");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(out->root, "serial");
	int64_t count;
	if (cJSON_IsTrue(end)) {
		if (serial_of(cJSON_GetObjectItemCaseSensitive(out->root, "count"), &count))
			goto fail;
		out->kind = REPLENTRY_SNAP_END;
		out->count = (uint64_t)count;
	} else if (key) {
		out->value = cJSON_GetObjectItemCaseSensitive(out->root, "value");
		if (!cJSON_IsString(key) || !key_ok(key->valuestring, key_max) || !out->value ||
		    cJSON_IsNull(out->value))
			goto fail;
		out->kind = REPLENTRY_SNAP_RECORD;
		out->key = key->valuestring;
	} else if (s) {
		if (serial_of(s, &out->serial))
			goto fail;
		out->kind = REPLENTRY_SNAP_HEAD;
	} else {
		goto fail;
	}
	return ERR_OK;
fail:
	replentry_release(out);
	return ERR_PARSE;
}

void replentry_release(struct replentry *e)
{
	cJSON_Delete(e->root);
	memset(e, 0, sizeof *e);
}
