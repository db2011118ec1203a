/* fuzz_version.c — PEP 440 parsing and ordering over arbitrary bytes.
 * Invariants (abort() when broken): a parsed version equals itself; its
 * canonical form parses to an equal version and is a fixed point; the
 * comparison of the two halves of the input is antisymmetric. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "inherit/version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

static void check_one(const char *s, size_t n)
{
	struct pep440 v, w;
	char canon[PEP440_FORMAT_MAX], canon2[PEP440_FORMAT_MAX];

	int rc = pep440_parse(s, n, &v);
	if (rc == ERR_PARSE)
		return;
	if (rc != ERR_OK)
		abort();
	if (pep440_cmp(&v, &v) != 0)
		abort();
	if (pep440_format(&v, canon, sizeof canon) != ERR_OK)
		abort();
	if (pep440_parse(canon, strlen(canon), &w) != ERR_OK)
		abort();
	if (pep440_cmp(&v, &w) != 0 || pep440_cmp(&w, &v) != 0)
		abort();
	if (pep440_format(&w, canon2, sizeof canon2) != ERR_OK || strcmp(canon, canon2) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	check_one(s, size);

	/* split at the first newline (or the middle) into two versions */
	const char *nl = memchr(s, '\n', size);
	size_t na = nl ? (size_t)(nl - s) : size / 2;
	size_t nb = size - na - (nl ? 1 : 0);
	const char *b = s + size - nb;
	check_one(s, na);
	check_one(b, nb);

	char *ca = xstrndup(s, na);   /* stops at an embedded NUL */
	char *cb = xstrndup(b, nb);
	int ab = version_cmp(ca, cb), ba = version_cmp(cb, ca);
	if (sign(ab) != -sign(ba))
		abort();
	if (version_cmp(ca, ca) != 0 || version_cmp_total(ca, ca) != 0)
		abort();
	int tab = version_cmp_total(ca, cb);
	if (sign(tab) != -sign(version_cmp_total(cb, ca)))
		abort();
	if (tab == 0 && strcmp(ca, cb) != 0)
		abort();
	if (ab != 0 && sign(tab) != sign(ab))
		abort();
	xfree(ca);
	xfree(cb);
	return 0;
}
