/* name.c — PEP 503 / devpi name normalization and name validation.
 *
 * These are the first checks applied to every name that arrives in a URL,
 * a form or an export, before it becomes part of an LMDB key or a path, so
 * they are byte-exact, allocation-free and take (ptr, len): a NUL inside the
 * input is just another forbidden byte, never a silent truncation.  The
 * rules are devpi's (API.md 0.5, 6.6); the length bounds are devpi-like's,
 * chosen so that every key built from them stays under LMDB's 511 bytes.
 */
#include "inherit/name.h"

#include <stdbool.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

static bool name_isalnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char name_lower(unsigned char c)
{
	return (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
}

static bool name_is_dot_or_dotdot(const char *s, size_t n)
{
	return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

int name_normalize(const char *s, size_t n, char *out, size_t outcap)
{
	size_t o = 0;
	bool in_run = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (name_isalnum(c)) {
			if (o + 1 >= outcap)
				goto toobig;
			out[o++] = name_lower(c);
			in_run = false;
		} else if (!in_run) {
			if (o + 1 >= outcap)
				goto toobig;
			out[o++] = '-';
			in_run = true;
		}
	}
	if (o >= outcap)
		goto toobig;
	out[o] = '\0';
	return ERR_OK;
toobig:
	if (outcap > 0)
		out[0] = '\0';
	return ERR_TOOBIG;
}

char *name_normalize_dup(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	/* the result is never longer than the input: this cannot fail */
	name_normalize(s, n, out, n + 1);
	return out;
}

int name_is_normalized(const char *s, size_t n)
{
	bool prev_dash = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '-') {
			if (prev_dash)
				return 0;
			prev_dash = true;
		} else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) {
			prev_dash = false;
		} else {
			return 0;
		}
	}
	return 1;
}

int name_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		unsigned char lo = 0x80, hi = 0xbf;  /* range of the 2nd byte */
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0;          /* no overlongs */
			else if (c == 0xed)
				hi = 0x9f;          /* no surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90;          /* no overlongs */
			else if (c == 0xf4)
				hi = 0x8f;          /* nothing above U+10FFFF */
		} else {
			return 0;                   /* continuation, c0, c1, f5.. */
		}
		if (n - i < len)
			return 0;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return 0;
		for (size_t k = 2; k < len; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return 0;
		i += len;
	}
	return 1;
}

static bool name_user_index_forbidden(unsigned char c)
{
	if (c < 0x20 || c == 0x7f || c == ' ')
		return true;
	return c < 0x80 && strchr("!\"#$%&'()*+,/:;<=>?[\\]^`{|}~", c) != NULL;
}

int name_check_user_index(const char *s, size_t n)
{
	if (n == 0 || n > NAME_USER_INDEX_MAX || name_is_dot_or_dotdot(s, n))
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		if (name_user_index_forbidden((unsigned char)s[i]))
			return ERR_INVAL;
		/* ".." anywhere: such a name reads like a path step in URLs,
		 * logs and exports, so it is refused outright. */
		if (s[i] == '.' && i + 1 < n && s[i + 1] == '.')
			return ERR_INVAL;
	}
	return name_utf8_valid(s, n) ? ERR_OK : ERR_INVAL;
}

int name_check_project(const char *s, size_t n)
{
	if (n == 0 || n > NAME_PROJECT_MAX)
		return ERR_INVAL;
	if (!name_isalnum((unsigned char)s[0]) || !name_isalnum((unsigned char)s[n - 1]))
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!name_isalnum(c) && c != '.' && c != '_' && c != '-')
			return ERR_INVAL;
	}
	return ERR_OK;
}

int name_check_version(const char *s, size_t n)
{
	if (n == 0 || n > NAME_VERSION_MAX || name_is_dot_or_dotdot(s, n))
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return ERR_INVAL;
		if (strchr("/\\<>%#\"", c))
			return ERR_INVAL;
	}
	return ERR_OK;
}

int name_check_filename(const char *s, size_t n)
{
	if (n == 0 || n > NAME_FILENAME_MAX || s[0] == '.')
		return ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return ERR_INVAL;
	}
	return name_utf8_valid(s, n) ? ERR_OK : ERR_INVAL;
}
