/* fuzz_archive.c — pkginfo_extract() over raw bytes.
 *
 * Every input is tried as each kind of archive we read (wheel, egg, zip
 * sdist, tar sdist with gzip/bzip2/none autodetected), with small bounds so
 * the size, ratio and member-count paths are reached.  Invariants: any
 * result is one of the documented codes, a success returns NUL-terminated
 * text within max_metadata, and that text parses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "proxy/pkginfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "x-1.0-py3-none-any.whl", "x-1.0.egg", "x-1.0.zip", "x-1.0.tar.gz" };
	struct pkginfo_limits lim = { .max_metadata = 64 << 10, .max_entries = 1000, .max_ratio = 100,
				      .max_stream = 4 << 20 };
	log_set_level(LOG_ERROR);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct pkginfo_mem m;
		struct pkginfo_reader r;
		char *text = NULL;
		size_t len = 0;
		pkginfo_reader_mem(&r, data, size, &m);
		int rc = pkginfo_extract(&r, names[i], &lim, &text, &len);
		if (rc == ERR_OK) {
			if (!text || len > lim.max_metadata || text[len] != '\0')
				abort();
			cJSON *obj = NULL;
			if (pkginfo_parse(text, len, &obj) != ERR_OK || !obj)
				abort();
			cJSON_Delete(obj);
		} else if (text || (rc != ERR_NOTFOUND && rc != ERR_CORRUPT && rc != ERR_TOOBIG && rc != ERR_NOMEM)) {
			abort();
		}
		xfree(text);
	}
	return 0;
}
