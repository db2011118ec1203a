/* authpath.h — the path nginx's auth_request passes in X-Original-URI
 * (API.md 2.6, /+authcheck), reduced to what the permission check needs.
 *
 * X-Original-URI is the raw request target, while nginx resolves "." and
 * ".." and decodes escapes before it serves a file: any path that could
 * come out as another place after such normalization is refused instead
 * of interpreted.  Pure (no I/O), so it is fuzzed (tests/fuzz/fuzz_authpath.c).
 */
#ifndef PROXY_AUTHPATH_H
#define PROXY_AUTHPATH_H

#include <stddef.h>

#define AUTHPATH_NAME_MAX 200

enum authpath_kind {
	AUTHPATH_REFUSE,     /* ambiguous, malformed, or not a route of a stage */
	AUTHPATH_OPEN,       /* /+api or /+login: always allowed */
	AUTHPATH_STAGE,      /* /<user>/<index>[/...]: user and index are set */
};

/* Classifies the uri (len bytes, need not be NUL-terminated; NULL
 * refuses).  For AUTHPATH_STAGE, user and index receive the first two
 * segments (NUL-terminated, at most AUTHPATH_NAME_MAX bytes, valid
 * user/index names); otherwise both are left empty. */
enum authpath_kind authpath_classify(const char *uri, size_t len, char user[AUTHPATH_NAME_MAX + 1],
				     char index[AUTHPATH_NAME_MAX + 1]);

#endif
