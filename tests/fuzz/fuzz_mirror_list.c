/* fuzz_mirror_list.c — the upstream project list (proxy/mirror_parse.h):
 * the first byte picks the format (odd: JSON, even: HTML), the rest is the
 * page.  Invariants abort() when broken. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proxy/mirror_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
	size_t n, max_field;
};

static int on_name(void *arg, const char *name, size_t len)
{
	struct count *c = arg;
	if (len == 0 || len > c->max_field || strlen(name) != len)
		abort();
	c->n++;
	/* stop once in a while to exercise the early return */
	return len == 7 && name[0] == '!' ? 77 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct mirror_limits lim = { 500, 1024, 16 };
	struct count c = { 0, lim.max_field };
	enum mirror_format fmt = (data[0] & 1) ? MIRROR_JSON : MIRROR_HTML;
	int rc = mirror_parse_list((const char *)data + 1, size - 1, fmt, "https://pypi.org/simple/", &lim, on_name, &c);
	if (rc != ERR_OK && rc != ERR_PARSE && rc != ERR_TOOBIG && rc != 77)
		abort();
	if (c.n > lim.max_links)
		abort();
	return 0;
}
