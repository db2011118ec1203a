/* fuzz_name.c — every name check and normalization over arbitrary bytes,
 * with invariants that abort() when broken. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "inherit/name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char small[32];

	int ui = name_check_user_index(s, size);
	int pr = name_check_project(s, size);
	int ve = name_check_version(s, size);
	int fi = name_check_filename(s, size);
	if ((ui != ERR_OK && ui != ERR_INVAL) || (pr != ERR_OK && pr != ERR_INVAL) ||
	    (ve != ERR_OK && ve != ERR_INVAL) || (fi != ERR_OK && fi != ERR_INVAL))
		abort();
	/* no check accepts a NUL, "." or ".." */
	if (memchr(s, '\0', size) && (ui == ERR_OK || pr == ERR_OK || ve == ERR_OK || fi == ERR_OK))
		abort();
	if ((size == 1 && s[0] == '.') || (size == 2 && s[0] == '.' && s[1] == '.'))
		if (ui == ERR_OK || pr == ERR_OK || ve == ERR_OK || fi == ERR_OK)
			abort();
	/* valid names of every kind are valid UTF-8 */
	if ((ui == ERR_OK || pr == ERR_OK || ve == ERR_OK || fi == ERR_OK) && !name_utf8_valid(s, size))
		abort();

	char *norm = name_normalize_dup(s, size);
	size_t nlen = strlen(norm);
	if (nlen > size || !name_is_normalized(norm, nlen))
		abort();
	/* normalization is idempotent */
	char *again = name_normalize_dup(norm, nlen);
	if (strcmp(again, norm) != 0)
		abort();
	xfree(again);
	/* is_normalized(s) iff normalize(s) == s */
	if (name_is_normalized(s, size) != (nlen == size && memcmp(norm, s, size) == 0))
		abort();
	/* a valid project normalizes to [a-z0-9]... without edge dashes */
	if (pr == ERR_OK && (nlen == 0 || norm[0] == '-' || norm[nlen - 1] == '-'))
		abort();
	/* the bounded form agrees with the allocating one */
	int rc = name_normalize(s, size, small, sizeof small);
	if (rc == ERR_OK ? strcmp(small, norm) != 0 : (rc != ERR_TOOBIG || nlen < sizeof small || small[0]))
		abort();
	xfree(norm);
	return 0;
}
