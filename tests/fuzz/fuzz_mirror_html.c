/* fuzz_mirror_html.c — upstream HTML project pages (proxy/mirror_parse.h)
 * for project "foo" on a fixed page URL, plus URL resolution of the first
 * line, with invariants that abort() when broken. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strset.h"
#include "inherit/name.h"
#include "proxy/mirror_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const PAGE = "https://pypi.org/simple/foo/";

static void check_hex(const char *s, size_t min)
{
	size_t n = strlen(s);
	if (n < min)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			abort();
}

/* An absolute URL as mirror_resolve_url() writes it resolves to itself. */
static void check_url(const char *url)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		abort();
	if (strchr(url, '#'))
		abort();
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			abort();
	char *again = NULL, *frag = NULL;
	if (mirror_resolve_url(PAGE, url, &again, &frag) != ERR_OK || strcmp(again, url) != 0 || frag)
		abort();
	xfree(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mirror_limits lim = { 1000, 4096, 32 };
	struct mirror_page p;
	struct strset seen;

	int rc = mirror_parse_project(s, size, MIRROR_HTML, PAGE, "foo", &lim, &p);
	if (rc != ERR_OK && rc != ERR_PARSE && rc != ERR_TOOBIG)
		abort();
	if (rc != ERR_OK && (p.nlinks || p.links))
		abort();
	if (p.nlinks > lim.max_links || p.nversions)
		abort();
	strset_init(&seen, p.nlinks);
	for (size_t i = 0; i < p.nlinks; i++) {
		const struct mirror_link *l = &p.links[i];
		size_t fn = strlen(l->filename);
		if (name_check_filename(l->filename, fn) != ERR_OK || !mirror_archive_of_project(l->filename, fn, "foo"))
			abort();
		if (!strset_add(&seen, l->filename, fn))
			abort();   /* one link per file name */
		if (strlen(l->url) > lim.max_field)
			abort();
		check_url(l->url);
		if (!l->hash_name != !l->hash_value)
			abort();
		if (l->hash_value)
			check_hex(l->hash_value, 16);
		if (l->core_metadata_sha256) {
			if (!l->core_metadata || strlen(l->core_metadata_sha256) != 64)
				abort();
			check_hex(l->core_metadata_sha256, 64);
		}
		if (l->yanked_reason && (!l->yanked || !*l->yanked_reason))
			abort();
		if (l->requires_python && !*l->requires_python)
			abort();
		if (l->size != -1 || l->upload_time)
			abort();   /* HTML has neither */
	}
	strset_release(&seen);
	mirror_page_release(&p);

	/* the first line as an href against the page */
	const char *nl = memchr(s, '\n', size);
	if (nl) {
		char *href = xstrndup(s, (size_t)(nl - s));
		char *url = NULL, *frag = NULL;
		rc = mirror_resolve_url(PAGE, href, &url, &frag);
		if (rc == ERR_OK)
			check_url(url);
		else if (rc != ERR_PARSE || url || frag)
			abort();
		xfree(url);
		xfree(frag);
		xfree(href);
	}
	return 0;
}
