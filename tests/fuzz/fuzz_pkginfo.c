/* fuzz_pkginfo.c — pkginfo_parse() over raw metadata text.
 *
 * Invariants: any bytes parse to an object; every value is a string or an
 * array of strings; the object prints (pretty and compact) and the compact
 * print parses back to an equal tree, i.e. the parser never produces
 * strings the JSON layer cannot carry. */
#include <stdint.h>
#include <stdlib.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "proxy/pkginfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *obj = NULL, *back = NULL;
	struct buf b;
	if (pkginfo_parse((const char *)data, size, &obj) != ERR_OK || !cJSON_IsObject(obj))
		abort();
	for (const cJSON *c = obj->child; c; c = c->next) {
		if (cJSON_IsArray(c)) {
			for (const cJSON *s = c->child; s; s = s->next)
				if (!cJSON_IsString(s) || !s->valuestring[0])
					abort();
		} else if (!cJSON_IsString(c)) {
			abort();
		}
	}
	buf_init(&b, 0);
	if (json_print_pretty(obj, &b) != ERR_OK)
		abort();
	buf_reset(&b);
	if (json_print_compact(obj, &b) != ERR_OK)
		abort();
	if (json_parse_bounded(b.p, b.len, b.len, 8, &back) != ERR_OK || !cJSON_Compare(obj, back, 1))
		abort();
	cJSON_Delete(back);
	cJSON_Delete(obj);
	buf_release(&b);
	return 0;
}
