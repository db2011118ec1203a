/* fuzz_json.c — json_parse_bounded (every JSON request body goes through
 * it) over arbitrary bytes; a parsed value must print and re-parse. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *v = NULL;
	int rc = json_parse_bounded((const char *)data, size, 65536, 16, &v);
	if (rc == ERR_OK) {
		struct buf b = BUF_INIT;
		cJSON *again = NULL;
		if (json_print_compact(v, &b) != ERR_OK)
			abort();
		if (json_parse_bounded(b.p, b.len, b.len + 1, 64, &again) != ERR_OK)
			abort();
		cJSON_Delete(again);
		buf_release(&b);
		b = (struct buf)BUF_INIT;
		if (json_print_pretty(v, &b) != ERR_OK)
			abort();
		buf_release(&b);
	} else if (v) {
		abort();    /* no value may leak out of a failed parse */
	}
	cJSON_Delete(v);
	return 0;
}
