/* json.c — JSON printing and bounded parsing over cJSON (see json.h).
 *
 * cJSON's own printers differ from Python's json.dumps in every detail that
 * a byte-comparing client notices (tabs, "1.0" vs "1", \u escapes), and
 * devpi's responses are Python's, so the printers are ours: one recursive
 * walk that writes into a bounded struct buf, with the separators as the
 * only difference between the pretty and the compact form.  Parsing stays
 * cJSON's, behind a length bound and a depth scan done first, because cJSON
 * recurses per nesting level and must never see a depth bomb.
 */
#include "common/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

struct json_style {
	int pretty;
};

/* Length (1-4) of the well-formed UTF-8 sequence at s[0..n), 0 if the bytes
 * there are not one (overlong forms, surrogates and > U+10FFFF included). */
static size_t json_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0; /* above U+10FFFF */
		return 4;
	}
	return 0;
}

int json_add_string(struct buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0; /* start of the pending run of bytes copied verbatim */
	int rc = buf_addc(b, '"');
	for (size_t i = 0; i < n && !rc;) {
		unsigned char c = u[i];
		const char *rep = NULL;
		char esc[8];
		size_t adv = 1;
		if (c == '"')
			rep = "\\\"";
		else if (c == '\\')
			rep = "\\\\";
		else if (c == '\n')
			rep = "\\n";
		else if (c == '\r')
			rep = "\\r";
		else if (c == '\t')
			rep = "\\t";
		else if (c == '\b')
			rep = "\\b";
		else if (c == '\f')
			rep = "\\f";
		else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			rep = esc;
		} else if (c >= 0x80) {
			adv = json_utf8_len(u + i, n - i);
			if (adv == 0) {
				rep = "\xef\xbf\xbd"; /* U+FFFD */
				adv = 1;
			}
		}
		if (rep) {
			rc = buf_add(b, s + run, i - run);
			if (!rc)
				rc = buf_adds(b, rep);
			run = i + adv;
		}
		i += adv;
	}
	if (!rc)
		rc = buf_add(b, s + run, n - run);
	if (!rc)
		rc = buf_addc(b, '"');
	return rc;
}

/* Python prints an int without a fraction and a float with repr(), the
 * shortest text that reads back to the same double.  cJSON keeps only a
 * double, so integral values take the int form. */
static int json_add_number(struct buf *b, double d)
{
	char tmp[64];
	if (!isfinite(d))
		return buf_adds(b, "null");
	if (d == 0)
		return buf_adds(b, "0");
	if (d == floor(d) && fabs(d) < 1e21)
		return buf_addf(b, "%.0f", d);
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	return buf_adds(b, tmp);
}

static int json_indent(struct buf *b, const struct json_style *st, int depth)
{
	int rc = ERR_OK;
	if (!st->pretty)
		return ERR_OK;
	rc = buf_addc(b, '\n');
	for (int i = 0; i < depth && !rc; i++)
		rc = buf_add(b, "  ", 2);
	return rc;
}

static int json_print_value(const cJSON *v, struct buf *b, const struct json_style *st, int depth)
{
	int rc = ERR_OK;
	if (!v)
		return ERR_INVAL;
	if (depth > JSON_PRINT_MAX_DEPTH)
		return ERR_TOOBIG;
	switch (v->type & 0xff) {
	case cJSON_False:
		return buf_adds(b, "false");
	case cJSON_True:
		return buf_adds(b, "true");
	case cJSON_NULL:
		return buf_adds(b, "null");
	case cJSON_Number:
		return json_add_number(b, v->valuedouble);
	case cJSON_String: {
		const char *s = v->valuestring ? v->valuestring : "";
		return json_add_string(b, s, strlen(s));
	}
	case cJSON_Raw:
		return v->valuestring ? buf_adds(b, v->valuestring) : ERR_INVAL;
	case cJSON_Array:
	case cJSON_Object:
		break;
	default:
		return ERR_INVAL;
	}
	int obj = (v->type & 0xff) == cJSON_Object;
	const cJSON *c = v->child;
	rc = buf_addc(b, obj ? '{' : '[');
	for (int first = 1; c && !rc; c = c->next, first = 0) {
		if (!first)
			rc = buf_addc(b, ',');
		if (!rc)
			rc = json_indent(b, st, depth + 1);
		if (!rc && obj) {
			const char *k = c->string ? c->string : "";
			rc = json_add_string(b, k, strlen(k));
			if (!rc)
				rc = st->pretty ? buf_add(b, ": ", 2) : buf_addc(b, ':');
		}
		if (!rc)
			rc = json_print_value(c, b, st, depth + 1);
	}
	if (!rc && v->child)
		rc = json_indent(b, st, depth);
	if (!rc)
		rc = buf_addc(b, obj ? '}' : ']');
	return rc;
}

int json_print_pretty(const cJSON *v, struct buf *b)
{
	static const struct json_style st = { 1 };
	int rc = json_print_value(v, b, &st, 0);
	if (!rc)
		rc = buf_addc(b, '\n');
	return rc;
}

int json_print_compact(const cJSON *v, struct buf *b)
{
	static const struct json_style st = { 0 };
	return json_print_value(v, b, &st, 0);
}

/* Deepest nesting of [ and { outside strings; -1 on a NUL byte. */
static long json_scan_depth(const char *text, size_t len, long limit)
{
	long depth = 0, max = 0;
	int in_str = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == '\0')
			return -1;
		if (in_str) {
			if (c == '\\')
				i++; /* the escaped byte cannot end the string */
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max) {
				max = depth;
				if (max > limit)
					return max; /* no need to look further */
			}
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return max;
}

int json_parse_bounded(const char *text, size_t len, size_t max_len, int max_depth, cJSON **out)
{
	int rc = ERR_OK;
	char *copy = NULL;
	cJSON *root = NULL;
	const char *end = NULL;
	*out = NULL;
	if (!text || len > max_len)
		return text ? ERR_TOOBIG : ERR_INVAL;
	long depth = json_scan_depth(text, len, max_depth < 0 ? 0 : max_depth);
	if (depth < 0)
		return ERR_PARSE;
	if (depth > max_depth)
		return ERR_TOOBIG;
	/* cJSON gets a NUL-terminated copy so no code path of it can read past
	 * the caller's bytes (older releases over-read unterminated input). */
	copy = try_malloc(len + 1);
	if (!copy) {
		rc = ERR_NOMEM;
		goto fail;
	}
	if (len)
		memcpy(copy, text, len);
	copy[len] = '\0';
	root = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
	if (!root) {
		rc = ERR_PARSE;
		goto fail;
	}
	for (const char *p = end; p < copy + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			rc = ERR_PARSE;
			goto fail;
		}
	}
	*out = root;
	root = NULL;
fail:
	cJSON_Delete(root);
	xfree(copy);
	return rc;
}

static const cJSON *json_get(const cJSON *obj, const char *key)
{
	if (!obj || !key || !cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

const char *json_get_str(const cJSON *obj, const char *key)
{
	const cJSON *v = json_get(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double json_get_num(const cJSON *obj, const char *key, double def)
{
	const cJSON *v = json_get(obj, key);
	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

int json_get_bool(const cJSON *obj, const char *key, int def)
{
	const cJSON *v = json_get(obj, key);
	if (cJSON_IsTrue(v))
		return 1;
	if (cJSON_IsFalse(v))
		return 0;
	return def;
}

const cJSON *json_get_obj(const cJSON *obj, const char *key)
{
	const cJSON *v = json_get(obj, key);
	return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *json_get_arr(const cJSON *obj, const char *key)
{
	const cJSON *v = json_get(obj, key);
	return cJSON_IsArray(v) ? v : NULL;
}

bool json_truthy(const cJSON *v)
{
	if (!v || cJSON_IsFalse(v) || cJSON_IsNull(v))
		return false;
	if (cJSON_IsNumber(v))
		return v->valuedouble != 0;
	if (cJSON_IsString(v))
		return *v->valuestring != '\0';
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return v->child != NULL;
	return true;
}
