/* fuzz_authpath.c — X-Original-URI classification for /+authcheck.
 *
 * Invariants: a stage answer names two valid user/index names that occur,
 * in order, in the input; a path with a "." or ".." segment, an escape or
 * a backslash is never a stage; the result does not depend on bytes after
 * a '?' starting the query. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "inherit/name.h"
#include "proxy/authpath.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char user[AUTHPATH_NAME_MAX + 1], index[AUTHPATH_NAME_MAX + 1];
	const char *p = (const char *)data;
	enum authpath_kind k = authpath_classify(p, size, user, index);
	CHECK(k == AUTHPATH_REFUSE || k == AUTHPATH_OPEN || k == AUTHPATH_STAGE);
	size_t end = 0;
	while (end < size && p[end] != '?' && p[end] != '#')
		end++;
	if (k == AUTHPATH_STAGE) {
		CHECK(name_check_user_index(user, strlen(user)) == ERR_OK);
		CHECK(name_check_user_index(index, strlen(index)) == ERR_OK);
		CHECK(memchr(p, '%', end) == NULL && memchr(p, '\\', end) == NULL);
		const char *u = memmem(p, end, user, strlen(user));
		CHECK(u != NULL);
		CHECK(memmem(u + strlen(user), end - (size_t)(u + strlen(user) - p), index, strlen(index)) != NULL);
		for (size_t i = 0; i + 1 < end; i++)
			CHECK(!(p[i] == '/' && p[i + 1] == '.' && (i + 2 == end || p[i + 2] == '/' ||
								  (p[i + 2] == '.' && (i + 3 == end || p[i + 3] == '/')))));
	} else {
		CHECK(user[0] == '\0' && index[0] == '\0');
	}
	/* the query never changes the answer */
	if (end < size && p[end] == '?') {
		char u2[AUTHPATH_NAME_MAX + 1], i2[AUTHPATH_NAME_MAX + 1];
		CHECK(authpath_classify(p, end + 1, u2, i2) == k);
	}
	return 0;
}
