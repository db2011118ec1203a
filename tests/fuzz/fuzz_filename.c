/* fuzz_filename.c — file name parsing and the upload name checks.
 * Input: "<filename>\n<version>\n<project>" (missing parts are empty).
 * Invariants (abort() when broken): a parsed name reassembles into the
 * input, its own project and version pass the upload checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"
#include "inherit/filename.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* next '\n'-separated field of [*p, end) */
static char *take_line(const char **p, const char *end)
{
	const char *s = *p;
	const char *nl = memchr(s, '\n', (size_t)(end - s));
	size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
	*p = nl ? nl + 1 : end;
	return xstrndup(s, n);
}

static void check_reassembly(const char *fn, size_t n, const struct filename_info *fi)
{
	size_t lp = strlen(fi->project), lv = strlen(fi->version), le = strlen(fi->ext);
	if (lp == 0 || lv == 0 || le == 0)
		abort();
	if (strncasecmp(fn + n - le, fi->ext, le) != 0)
		abort();
	if (memcmp(fn, fi->project, lp) != 0 || fn[lp] != '-' || memcmp(fn + lp + 1, fi->version, lv) != 0)
		abort();
	if (fi->kind == FILENAME_SDIST || fi->kind == FILENAME_OTHER) {
		if (lp + 1 + lv + le != n)
			abort();
		if (!filename_contains_version(fn, fi->version))
			abort();
		if (!filename_matches_project(fn, fi->project))
			abort();
	}
	if (fi->kind == FILENAME_WHEEL) {
		size_t lb = strlen(fi->build);
		size_t total = lp + 1 + lv + 1 + (lb ? lb + 1 : 0) + strlen(fi->python) + 1 +
			       strlen(fi->abi) + 1 + strlen(fi->platform) + le;
		if (total != n || !fi->python[0] || !fi->abi[0] || !fi->platform[0])
			abort();
		if (lb && !(fi->build[0] >= '0' && fi->build[0] <= '9'))
			abort();
	}
	if (fi->kind == FILENAME_EGG && !filename_matches_project(fn, fi->project))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char *fn = take_line(&p, end);
	char *version = take_line(&p, end);
	char *project = take_line(&p, end);
	size_t n = strlen(fn);
	struct filename_info fi;

	/* the raw bytes too, NULs and all */
	(void)filename_parse((const char *)data, size, &fi);
	(void)filename_has_archive_ext((const char *)data, size);

	int rc = filename_parse(fn, n, &fi);
	if (rc == ERR_OK)
		check_reassembly(fn, n, &fi);
	else if (rc != ERR_PARSE)
		abort();

	int cv = filename_contains_version(fn, version);
	if (cv != 0 && cv != 1)
		abort();
	if (strstr(fn, version) && !cv)
		abort();
	int mp = filename_matches_project(fn, project);
	if (mp != 0 && mp != 1)
		abort();
	if (mp && !project[0])
		abort();
	const char *ct = filename_content_type(fn);
	if (!ct || !ct[0])
		abort();
	(void)filename_has_archive_ext(fn, n);

	xfree(fn);
	xfree(version);
	xfree(project);
	return 0;
}
