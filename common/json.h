/* json.h — JSON output and bounded input on top of cJSON.
 *
 * Output is written into a caller's struct buf (so its bound applies) in the
 * exact shapes devpi's Python produces: json_print_pretty() matches
 * json.dumps(obj, indent=2, ensure_ascii=False) + "\n", json_print_compact()
 * matches json.dumps(obj, separators=(",", ":"), ensure_ascii=False).
 * Strings are always emitted as valid UTF-8: an invalid byte sequence in a
 * cJSON string becomes U+FFFD, never raw garbage in the output.
 *
 * Input from outside goes through json_parse_bounded(), which checks length
 * and nesting depth before cJSON sees a byte.
 */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* Deepest nesting the printers follow (ERR_TOOBIG beyond); cJSON's own
 * parser stops at CJSON_NESTING_LIMIT (1000) as well. */
#define JSON_PRINT_MAX_DEPTH 1000

/* Appends v pretty-printed like Python's json.dumps(v, indent=2) followed by
 * "\n": 2-space indent, "," at line ends, ": " after keys, empty containers
 * as "{}" / "[]", non-ASCII kept as UTF-8.  Numbers: integral values with
 * |v| < 1e21 print without a fraction ("3", not "3.0"); others print with the
 * shortest %.Ng (N <= 17) that reads back to the same double ("0.1");
 * NaN/Infinity print as null.  Raw items are copied verbatim.  v and b are
 * borrowed.  ERR_OK; ERR_TOOBIG past b's bound or JSON_PRINT_MAX_DEPTH (b then
 * holds a partial document: reset it); ERR_INVAL for NULL or invalid items;
 * ERR_NOMEM. */
int json_print_pretty(const cJSON *v, struct buf *b);

/* As json_print_pretty() but compact: separators "," and ":", no spaces, no
 * newline at the end. */
int json_print_compact(const cJSON *v, struct buf *b);

/* Appends the n bytes at s as a JSON string literal: quotes; \" \\ \b \f \n
 * \r \t; other bytes below 0x20 (NUL included) as \u00xx; valid UTF-8 copied
 * as is; each byte of an invalid UTF-8 sequence as U+FFFD.  s is borrowed.
 * ERR_OK, ERR_TOOBIG, ERR_NOMEM. */
int json_add_string(struct buf *b, const char *s, size_t n);

/* Parses untrusted JSON text (len bytes at text, need not be NUL-terminated,
 * borrowed).  ERR_TOOBIG when len > max_len or when arrays/objects nest
 * deeper than max_depth (checked by a scan that skips strings, before
 * parsing; max_depth 0 allows scalars only); ERR_PARSE for anything cJSON
 * rejects, for an embedded NUL, and for anything but JSON whitespace after
 * the value; ERR_NOMEM.  On ERR_OK *out is a new tree the caller frees with
 * cJSON_Delete(); otherwise *out is NULL. */
int json_parse_bounded(const char *text, size_t len, size_t max_len, int max_depth, cJSON **out);

/* Getters on an object; all return the default when obj is not an object,
 * the key is absent (case-sensitive lookup) or holds another type.  Returned
 * pointers are borrowed from obj and live as long as that item. */
const char *json_get_str(const cJSON *obj, const char *key);
double json_get_num(const cJSON *obj, const char *key, double def);
/* 1 for true, 0 for false, def otherwise. */
int json_get_bool(const cJSON *obj, const char *key, int def);
const cJSON *json_get_obj(const cJSON *obj, const char *key);
const cJSON *json_get_arr(const cJSON *obj, const char *key);
/* Python's truthiness of a JSON value, as devpi applies it: NULL, null,
 * false, 0, "", [] and {} are false; everything else is true. */
bool json_truthy(const cJSON *v);

#endif
