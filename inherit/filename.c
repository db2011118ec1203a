/* filename.c — release file names: extension allow-list, splitting into
 * project / version (/ wheel tags), the upload name checks, Content-Type.
 *
 * File names reach us from uploads and from upstream pages, so everything
 * here is bounded and copy-free until the final, length-checked copy into
 * struct filename_info.  Sdist names are inherently ambiguous (both project
 * names and old versions may contain '-' followed by a digit); the split
 * rule prefers the reading whose version is valid PEP 440, which is what a
 * human would pick for "py-3to2-1.0" and "pkg-1.0-2" alike (see
 * filename.h for the exact rule and examples).
 */
#include "inherit/filename.h"

#include <stdbool.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "inherit/version.h"

static int fn_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static bool fn_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

static bool fn_isalnum(int c)
{
	return fn_isdigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* 1 if s[0..n) ends with the lower-case suffix sfx, ignoring ASCII case. */
static bool fn_ends_with(const char *s, size_t n, const char *sfx)
{
	size_t k = strlen(sfx);
	if (n < k)
		return false;
	for (size_t i = 0; i < k; i++)
		if (fn_lower((unsigned char)s[n - k + i]) != sfx[i])
			return false;
	return true;
}

int filename_has_archive_ext(const char *fn, size_t n)
{
	static const char *const ext[] = {
		".exe", ".tar.gz", ".bz2", ".rpm", ".deb", ".zip",
		".tgz", ".egg", ".dmg", ".msi", ".whl",
	};
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
		if (fn_ends_with(fn, n, ext[i]))
			return 1;
	return 0;
}

/* Copies s[0..n) NUL-terminated into dst[cap]; ERR_PARSE if empty or too
 * long. */
static int fn_put(char *dst, size_t cap, const char *s, size_t n)
{
	if (n == 0 || n >= cap)
		return ERR_PARSE;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return ERR_OK;
}

static int fn_parse_wheel(const char *s, size_t n, struct filename_info *out)
{
	const char *part[6];
	size_t plen[6];
	size_t np = 0, start = 0;
	int rc;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '-')
			continue;
		if (np == 6)
			return ERR_PARSE;
		part[np] = s + start;
		plen[np] = i - start;
		if (plen[np] == 0)
			return ERR_PARSE;
		np++;
		start = i + 1;
	}
	if (np != 5 && np != 6)
		return ERR_PARSE;
	size_t t = np - 3;  /* first tag part */
	if (np == 6) {
		if (!fn_isdigit((unsigned char)part[2][0]))
			return ERR_PARSE;
		if ((rc = fn_put(out->build, sizeof out->build, part[2], plen[2])))
			return rc;
	}
	if ((rc = fn_put(out->project, sizeof out->project, part[0], plen[0])) ||
	    (rc = fn_put(out->version, sizeof out->version, part[1], plen[1])) ||
	    (rc = fn_put(out->python, sizeof out->python, part[t], plen[t])) ||
	    (rc = fn_put(out->abi, sizeof out->abi, part[t + 1], plen[t + 1])) ||
	    (rc = fn_put(out->platform, sizeof out->platform, part[t + 2], plen[t + 2])))
		return rc;
	return ERR_OK;
}

static int fn_parse_egg(const char *s, size_t n, struct filename_info *out)
{
	const char *d1 = memchr(s, '-', n);
	int rc;
	if (!d1)
		return ERR_PARSE;
	size_t vstart = (size_t)(d1 - s) + 1;
	const char *d2 = memchr(s + vstart, '-', n - vstart);
	size_t vend = d2 ? (size_t)(d2 - s) : n;
	if ((rc = fn_put(out->project, sizeof out->project, s, (size_t)(d1 - s))) ||
	    (rc = fn_put(out->version, sizeof out->version, s + vstart, vend - vstart)))
		return rc;
	if (!d2)
		return ERR_OK;
	size_t pstart = vend + 1;
	const char *d3 = memchr(s + pstart, '-', n - pstart);
	size_t pend = d3 ? (size_t)(d3 - s) : n;
	if (pend - pstart < 2 || fn_lower((unsigned char)s[pstart]) != 'p' ||
	    fn_lower((unsigned char)s[pstart + 1]) != 'y')
		return ERR_PARSE;
	if ((rc = fn_put(out->python, sizeof out->python, s + pstart, pend - pstart)))
		return rc;
	if (d3 && (rc = fn_put(out->platform, sizeof out->platform, s + pend + 1, n - pend - 1)))
		return rc;
	return ERR_OK;
}

/* Is there a '-' at i that starts a version ("-1", "-v1")? */
static bool fn_is_candidate(const char *s, size_t n, size_t i)
{
	if (s[i] != '-' || i + 1 >= n)
		return false;
	int c = (unsigned char)s[i + 1];
	if (fn_isdigit(c))
		return true;
	return (c == 'v' || c == 'V') && i + 2 < n && fn_isdigit((unsigned char)s[i + 2]);
}

/* The sdist rule of filename.h: leftmost candidate with a valid PEP 440
 * remainder, else the leftmost candidate. */
static int fn_split_sdist(const char *s, size_t n, struct filename_info *out)
{
	size_t first = 0, pick = 0;
	bool have_first = false, have_pick = false;
	struct pep440 v;
	int rc;

	for (size_t i = 1; i < n && !have_pick; i++) {
		if (!fn_is_candidate(s, n, i))
			continue;
		if (!have_first) {
			first = i;
			have_first = true;
		}
		if (pep440_parse(s + i + 1, n - i - 1, &v) == ERR_OK) {
			pick = i;
			have_pick = true;
		}
	}
	if (!have_first)
		return ERR_PARSE;
	if (!have_pick)
		pick = first;
	if ((rc = fn_put(out->project, sizeof out->project, s, pick)) ||
	    (rc = fn_put(out->version, sizeof out->version, s + pick + 1, n - pick - 1)))
		return rc;
	return ERR_OK;
}

int filename_parse(const char *fn, size_t n, struct filename_info *out)
{
	static const struct { const char *ext; enum filename_kind kind; } tab[] = {
		{ ".whl", FILENAME_WHEEL },
		{ ".egg", FILENAME_EGG },
		{ ".tar.gz", FILENAME_SDIST },
		{ ".tar.bz2", FILENAME_SDIST },
		{ ".tar.xz", FILENAME_SDIST },
		{ ".tgz", FILENAME_SDIST },
		{ ".tbz2", FILENAME_SDIST },
		{ ".txz", FILENAME_SDIST },
		{ ".doc.zip", FILENAME_OTHER },
		{ ".zip", FILENAME_SDIST },
		{ ".tar", FILENAME_SDIST },
		{ ".exe", FILENAME_OTHER },
		{ ".msi", FILENAME_OTHER },
		{ ".dmg", FILENAME_OTHER },
		{ ".rpm", FILENAME_OTHER },
		{ ".deb", FILENAME_OTHER },
		{ ".bz2", FILENAME_OTHER },
	};
	size_t k;

	memset(out, 0, sizeof *out);
	if (memchr(fn, '\0', n))
		return ERR_PARSE;
	for (k = 0; k < sizeof tab / sizeof tab[0]; k++)
		if (fn_ends_with(fn, n, tab[k].ext))
			break;
	if (k == sizeof tab / sizeof tab[0])
		return ERR_PARSE;
	size_t elen = strlen(tab[k].ext);
	if (n == elen)
		return ERR_PARSE;
	memcpy(out->ext, tab[k].ext, elen + 1);
	out->kind = tab[k].kind;
	size_t stem = n - elen;
	switch (out->kind) {
	case FILENAME_WHEEL:
		return fn_parse_wheel(fn, stem, out);
	case FILENAME_EGG:
		return fn_parse_egg(fn, stem, out);
	case FILENAME_SDIST:
	case FILENAME_OTHER:
		break;
	}
	return fn_split_sdist(fn, stem, out);
}

/* Writes version escaped into out (strlen(version) + 1 bytes): runs of
 * bytes that are not kept become one '_'.  devpi's form keeps '_' and
 * non-ASCII bytes (\w under re.UNICODE); the strict form keeps only
 * [A-Za-z0-9.]. */
static void fn_escape_version(const char *version, char *out, bool strict)
{
	size_t o = 0;
	bool in_run = false;
	for (const unsigned char *p = (const unsigned char *)version; *p; p++) {
		bool keep = fn_isalnum(*p) || *p == '.' ||
			    (!strict && (*p == '_' || *p >= 0x80));
		if (keep) {
			out[o++] = (char)*p;
			in_run = false;
		} else if (!in_run) {
			out[o++] = '_';
			in_run = true;
		}
	}
	out[o] = '\0';
}

int filename_contains_version(const char *fn, const char *version)
{
	if (strstr(fn, version))
		return 1;
	char *esc = xmalloc(strlen(version) + 1);
	fn_escape_version(version, esc, false);
	int found = strstr(fn, esc) != NULL;
	if (!found) {
		fn_escape_version(version, esc, true);
		found = strstr(fn, esc) != NULL;
	}
	xfree(esc);
	return found;
}

/* Next char of name_normalize(*p) without building the string; -1 at the
 * end.  Advances *p. */
static int fn_norm_next(const char **p)
{
	const unsigned char *s = (const unsigned char *)*p;
	if (!*s)
		return -1;
	if (fn_isalnum(*s)) {
		*p = (const char *)(s + 1);
		return fn_lower(*s);
	}
	while (*s && !fn_isalnum(*s))
		s++;
	*p = (const char *)s;
	return '-';
}

int filename_matches_project(const char *fn, const char *project)
{
	const char *f = fn, *p = project;
	int pc = fn_norm_next(&p), last = -1;
	if (pc < 0)
		return 0;
	while (pc >= 0) {
		if (fn_norm_next(&f) != pc)
			return 0;
		last = pc;
		pc = fn_norm_next(&p);
	}
	if (last == '-')
		return 1;
	int fc = fn_norm_next(&f);
	return fc < 0 || fc == '-';
}

const char *filename_content_type(const char *fn)
{
	static const struct { const char *ext; const char *type; } tab[] = {
		{ ".tar", "application/x-tar" },
		{ ".gz", "application/gzip" },
		{ ".tgz", "application/gzip" },
		{ ".bz2", "application/x-bzip2" },
		{ ".tbz2", "application/x-bzip2" },
		{ ".xz", "application/x-xz" },
		{ ".txz", "application/x-xz" },
		{ ".zip", "application/zip" },
	};
	const char *dot = strrchr(fn, '.');
	if (dot) {
		size_t n = strlen(fn);
		for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
			if (strlen(tab[i].ext) == strlen(dot) && fn_ends_with(fn, n, tab[i].ext))
				return tab[i].type;
	}
	return "application/octet-stream";
}
