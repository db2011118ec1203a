/* filename.h — release file names: archive extensions, parsing into
 * project / version / tags, the upload checks of API.md 6.6 and the
 * Content-Type served for a file.
 *
 * Inputs are borrowed; nothing is retained past a call and nothing
 * allocates a result the caller must free.
 */
#ifndef INHERIT_FILENAME_H
#define INHERIT_FILENAME_H

#include <stddef.h>

/* 1 if fn ends, ignoring ASCII case, with one of the upload allow-list
 * extensions .exe .tar.gz .bz2 .rpm .deb .zip .tgz .egg .dmg .msi .whl
 * (API.md 6.6), else 0. */
int filename_has_archive_ext(const char *fn, size_t n);

enum filename_kind {
	FILENAME_WHEEL,
	FILENAME_SDIST,
	FILENAME_EGG,
	FILENAME_OTHER
};

struct filename_info {
	enum filename_kind kind;
	char project[256];   /* as spelled in the file name (not normalized) */
	char version[256];   /* as spelled in the file name */
	char ext[16];        /* the matched extension, lower case, with dot */
	/* wheels only ("" otherwise): */
	char build[64];
	char python[128];    /* wheels; eggs: "py2.7" when present */
	char abi[128];
	char platform[256];  /* wheels; eggs: the platform when present */
};

/* Splits a release file name.  ERR_OK, or ERR_PARSE if it does not have
 * the shape of its kind or a part does not fit its field (*out is then
 * unspecified).  Extensions are matched ignoring ASCII case.
 *
 * Wheels (.whl), PEP 427: {name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl,
 *   exactly 5 or 6 non-empty '-'-separated parts; a build tag must start
 *   with a digit.
 * Sdists (.tar.gz .tgz .tar.bz2 .tbz2 .tar.xz .txz .zip .tar): the stem is
 *   split at a '-' followed by a digit, or by 'v'/'V' and a digit (a
 *   "candidate").  Rule: the leftmost candidate whose remainder is a valid
 *   PEP 440 version; if no remainder is, the leftmost candidate.  So
 *   "my-pkg-1.0" -> my-pkg / 1.0, "py-3to2-1.0" -> py-3to2 / 1.0 ("3to2-1.0"
 *   is not PEP 440), "pkg-1.0-2" -> pkg / 1.0-2 (= 1.0.post2),
 *   "pkg-1.0-beta" -> pkg / 1.0-beta, "pkg-v2.0" -> pkg / v2.0.  No
 *   candidate, or an empty project: ERR_PARSE.
 * Eggs (.egg): {name}-{ver}(-py{X.Y}(-{plat})?)?.egg, split at '-' (egg
 *   names and versions have their dashes escaped); the platform may itself
 *   contain '-' ("linux-x86_64").
 * Other allow-listed or known extensions (.doc.zip .exe .msi .dmg .rpm .deb
 *   .bz2): FILENAME_OTHER, stem split like an sdist (best effort: bdist
 *   installers carry platform text in the "version", e.g. "1.0.win32").
 * Anything else: ERR_PARSE. */
int filename_parse(const char *fn, size_t n, struct filename_info *out);

/* 1 if the NUL-terminated version occurs in fn, or its PEP 427 escaped form
 * does (API.md 6.6: devpi's re.sub(r"[^\w\d.]+", "_", version): each run of
 * bytes outside [A-Za-z0-9_.] and below 0x80 becomes '_'), or the stricter
 * form where '_' also joins the runs (every run outside [A-Za-z0-9.] -> '_').
 * An empty version is contained in every name (as in devpi: callers
 * validate versions first). */
int filename_contains_version(const char *fn, const char *version);

/* 1 if name_normalize(fn) starts with name_normalize(project) and the
 * prefix ends there: the next normalized char is '-' or the end (so "foo"
 * matches "foo-1.0.tar.gz" and "Foo_Bar" matches "foo.bar-1.0.whl", but
 * "foo" does not match "foobar-1.0.tar.gz").  An empty project matches
 * nothing.  Both NUL-terminated; no allocation. */
int filename_matches_project(const char *fn, const char *project);

/* The Content-Type for serving fn, by its last extension (ASCII case
 * ignored): .tar -> application/x-tar, .gz/.tgz -> application/gzip,
 * .bz2/.tbz2 -> application/x-bzip2, .xz/.txz -> application/x-xz,
 * .zip -> application/zip, anything else (.whl .egg .exe .msi .dmg .rpm
 * .deb, none) -> application/octet-stream.  Returns a static string. */
const char *filename_content_type(const char *fn);

#endif
