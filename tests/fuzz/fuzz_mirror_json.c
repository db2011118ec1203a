/* fuzz_mirror_json.c — upstream PEP 691 JSON project pages
 * (proxy/mirror_parse.h) on a fixed page URL, with invariants that abort()
 * when broken. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strset.h"
#include "inherit/name.h"
#include "proxy/mirror_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hex(const char *s, size_t min)
{
	size_t n = strlen(s);
	if (n < min)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mirror_limits lim = { 1000, 4096, 16 };
	struct mirror_page p;
	struct strset seen;

	int rc = mirror_parse_project(s, size, MIRROR_JSON, "https://pypi.org/simple/foo/", "foo", &lim, &p);
	if (rc != ERR_OK && rc != ERR_PARSE && rc != ERR_TOOBIG)
		abort();
	if (rc != ERR_OK && (p.nlinks || p.links || p.nversions || p.versions))
		abort();
	if (p.nlinks > lim.max_links || p.nversions > lim.max_links)
		abort();
	strset_init(&seen, p.nlinks);
	for (size_t i = 0; i < p.nlinks; i++) {
		const struct mirror_link *l = &p.links[i];
		size_t fn = strlen(l->filename);
		if (name_check_filename(l->filename, fn) != ERR_OK)
			abort();
		if (!strset_add(&seen, l->filename, fn))
			abort();
		if ((strncmp(l->url, "http://", 7) != 0 && strncmp(l->url, "https://", 8) != 0) || strchr(l->url, '#') ||
		    strlen(l->url) > lim.max_field)
			abort();
		if (!l->hash_name != !l->hash_value)
			abort();
		if (l->hash_value)
			check_hex(l->hash_value, 16);
		if (l->core_metadata_sha256) {
			if (!l->core_metadata)
				abort();
			check_hex(l->core_metadata_sha256, 64);
		}
		if ((l->yanked_reason && (!l->yanked || !*l->yanked_reason)) ||
		    (l->requires_python && !*l->requires_python))
			abort();
		if (l->size < -1 || (l->upload_time && strlen(l->upload_time) < 16))
			abort();
	}
	strset_release(&seen);
	for (size_t i = 0; i < p.nversions; i++)
		if (!p.versions[i][0] || strlen(p.versions[i]) > lim.max_field)
			abort();
	mirror_page_release(&p);
	return 0;
}
