/* fuzz_replentry.c — the lines a replica takes from its primary: changelog
 * stream lines and snapshot lines.
 *
 * Invariants: a line is either refused or has exactly the shape of its
 * kind — an entry's serial is an integer in 0..2^53 and every change key
 * is 1..key_max bytes; a snapshot record has a key and a non-null value; a
 * release leaves nothing behind (LeakSanitizer). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proxy/replentry.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define KEY_MAX 40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct replentry e;
	const char *p = (const char *)data;
	if (replentry_parse(p, size, KEY_MAX, &e) == ERR_OK) {
		CHECK(e.kind == REPLENTRY_HEARTBEAT || e.kind == REPLENTRY_ENTRY);
		if (e.kind == REPLENTRY_ENTRY) {
			CHECK(e.serial >= 0 && e.serial <= REPLENTRY_SERIAL_MAX);
			CHECK(cJSON_IsObject(e.changes));
			for (const cJSON *c = e.changes->child; c; c = c->next)
				CHECK(c->string && *c->string && strlen(c->string) <= KEY_MAX);
		}
		replentry_release(&e);
		CHECK(e.root == NULL);
	} else {
		CHECK(e.root == NULL);
	}
	if (replentry_parse_snapshot(p, size, KEY_MAX, &e) == ERR_OK) {
		switch (e.kind) {
		case REPLENTRY_SNAP_HEAD:
			CHECK(e.serial >= 0 && e.serial <= REPLENTRY_SERIAL_MAX);
			break;
		case REPLENTRY_SNAP_RECORD:
			CHECK(e.key && *e.key && strlen(e.key) <= KEY_MAX && e.value && !cJSON_IsNull(e.value));
			break;
		case REPLENTRY_SNAP_END:
			CHECK(e.count <= (uint64_t)REPLENTRY_SERIAL_MAX);
			break;
		default:
			abort();
		}
		replentry_release(&e);
	} else {
		CHECK(e.root == NULL);
	}
	return 0;
}
