/* authpath.c — X-Original-URI → stage, refusing ambiguous paths (see
 * authpath.h).  One pass finds the end of the path (query and fragment are
 * not part of it) and rejects escapes, backslashes, control bytes and "."
 * or ".." segments; a second takes the first two segments.
 */
#include "proxy/authpath.h"

#include <stdbool.h>
#include <string.h>

#include "common/err.h"
#include "inherit/name.h"

#define URI_MAX 4096

static size_t path_end(const char *uri, size_t len)
{
	size_t end = 0;
	while (end < len && uri[end] != '?' && uri[end] != '#')
		end++;
	return end;
}

/* Whether the path could name another place once normalized. */
static bool ambiguous(const char *p, size_t end)
{
	for (size_t i = 0; i < end; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\\' || c < 0x20 || c == 0x7f || c == '%')
			return true;    /* no name of ours needs escaping */
		if (c == '.' && (i == 0 || p[i - 1] == '/')) {
			size_t k = i + 1;
			if (k < end && p[k] == '.')
				k++;
			if (k == end || p[k] == '/')
				return true;   /* a "." or ".." segment */
		}
	}
	return false;
}

/* Copies the next segment starting at *i into out; false if it is empty
 * or too long. */
static bool next_segment(const char *p, size_t end, size_t *i, char out[AUTHPATH_NAME_MAX + 1])
{
	while (*i < end && p[*i] == '/')
		(*i)++;
	size_t start = *i;
	while (*i < end && p[*i] != '/')
		(*i)++;
	size_t n = *i - start;
	if (n == 0 || n > AUTHPATH_NAME_MAX)
		return false;
	memcpy(out, p + start, n);
	out[n] = '\0';
	return true;
}

enum authpath_kind authpath_classify(const char *uri, size_t len, char user[AUTHPATH_NAME_MAX + 1],
				     char index[AUTHPATH_NAME_MAX + 1])
{
	size_t i = 0, end;
	user[0] = index[0] = '\0';
	if (!uri || len > URI_MAX || len == 0 || uri[0] != '/')
		return AUTHPATH_REFUSE;
	end = path_end(uri, len);
	if (ambiguous(uri, end) || !next_segment(uri, end, &i, user))
		return AUTHPATH_REFUSE;
	if (strcmp(user, "+api") == 0 || strcmp(user, "+login") == 0) {
		bool open = i == end || (i + 1 == end && uri[i] == '/');
		user[0] = '\0';
		return open ? AUTHPATH_OPEN : AUTHPATH_REFUSE;
	}
	if (!next_segment(uri, end, &i, index) || user[0] == '+' || index[0] == '+' ||
	    name_check_user_index(user, strlen(user)) != ERR_OK ||
	    name_check_user_index(index, strlen(index)) != ERR_OK) {
		user[0] = index[0] = '\0';
		return AUTHPATH_REFUSE;
	}
	return AUTHPATH_STAGE;
}
