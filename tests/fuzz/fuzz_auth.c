/* fuzz_auth.c — the credential headers (Authorization: Basic, X-Devpi-Auth)
 * and token checks over arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "proxy/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t secret[32] = { 1, 2, 3 };
	char *user = NULL, *pass = NULL;
	if (auth_parse_basic((const char *)data, size, &user, &pass) == ERR_OK) {
		if (!user || !pass)
			abort();
		/* whatever decodes, a random token never verifies */
		if (auth_token_check(secret, sizeof secret, pass, strlen(pass), user, 1700000000) == ERR_OK)
			abort();
	}
	xfree(user);
	xfree(pass);
	user = pass = NULL;
	if (auth_parse_xdevpi((const char *)data, size, &user, &pass) == ERR_OK && (!user || !pass))
		abort();
	xfree(user);
	xfree(pass);
	auth_token_check(secret, sizeof secret, (const char *)data, size, "alice", 1700000000);
	return 0;
}
