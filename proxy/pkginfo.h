/* pkginfo.h — core metadata from wheels, sdists and eggs (API.md 6.6).
 *
 * pkginfo_extract() finds and reads METADATA / PKG-INFO inside a stored
 * archive through libarchive, from a random-access reader (the blob lives
 * in LMDB chunks; nothing is ever extracted to disk), within bounds on the
 * member size, the compression ratio, the number of members and the bytes
 * decompressed.  pkginfo_parse() turns the RFC 822 style text into the
 * metadata object devpi stores for a version.
 */
#ifndef PROXY_PKGINFO_H
#define PROXY_PKGINFO_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Random access to the stored archive.  read_at copies up to n bytes at
 * offset off into buf and returns the count (0 at or past EOF, fewer than n
 * near the end) or -1 on error.  arg is passed through; the reader and what
 * it points to must stay valid for the whole pkginfo_extract() call. */
struct pkginfo_reader {
	void *arg;
	ssize_t (*read_at)(void *arg, uint64_t off, void *buf, size_t n);
	uint64_t size;
};

/* Bounds; a field left 0 takes the default below (a NULL limits pointer
 * takes all defaults).
 *  - max_metadata: largest METADATA / PKG-INFO (declared or actual size).
 *  - max_entries: archive members looked at (zip: central directory
 *    records, counted before libarchive reads them).
 *  - max_ratio: uncompressed/compressed ratio.  Checked for a zip member
 *    matching the metadata rule whose central directory sizes are known and
 *    whose size is at least PKGINFO_RATIO_MIN_SIZE, and for the whole
 *    decompressed stream of a .tar.gz/.tar.bz2 once past
 *    PKGINFO_STREAM_RATIO_FLOOR bytes (a gzip bomb in front of PKG-INFO).
 *  - max_stream: decompressed bytes of a compressed tar walked while
 *    looking for PKG-INFO. */
struct pkginfo_limits {
	uint64_t max_metadata;
	unsigned max_entries;
	uint64_t max_ratio;
	uint64_t max_stream;
};

#define PKGINFO_DEFAULT_MAX_METADATA (1u << 20)          /* 1 MiB */
#define PKGINFO_DEFAULT_MAX_ENTRIES 100000
#define PKGINFO_DEFAULT_MAX_RATIO 200
#define PKGINFO_DEFAULT_MAX_STREAM ((uint64_t)1 << 30)  /* 1 GiB */
#define PKGINFO_RATIO_MIN_SIZE (64u << 10)               /* 64 KiB */
#define PKGINFO_STREAM_RATIO_FLOOR ((uint64_t)16 << 20)  /* 16 MiB */
/* pkginfo_parse() refuses longer text (ERR_TOOBIG). */
#define PKGINFO_PARSE_MAX ((size_t)16 << 20)

/* Finds and reads the core metadata file of the archive behind r, chosen by
 * the extension of filename (case-insensitive; only the name is used):
 *  - .whl: zip, `<x>.dist-info/METADATA` exactly one level deep; the first
 *    one in archive order wins.
 *  - .egg: zip, `EGG-INFO/PKG-INFO`.
 *  - .zip, .tar.gz, .tgz, .tar.bz2, .tar: sdist, a file named `PKG-INFO`
 *    containing "Metadata-Version"; at the top (`PKG-INFO`) or one level deep
 *    (`<dir>/PKG-INFO`) wins at once, otherwise the shallowest one up to
 *    4 directories deep (e.g. `<dir>/src/x.egg-info/PKG-INFO`).
 * A leading "./" in member names is ignored; only regular files count.
 * Only the zip and tar formats and the gzip and bzip2 filters are enabled,
 * and a zip metadata member must be stored or deflated (other zip methods
 * would reach libarchive's bzip2/lzma/xz/zstd/PPMd decoders): ERR_CORRUPT.
 * On ERR_OK *out is the text, NUL-terminated (*outlen excludes the NUL), the
 * caller frees it with xfree().  Otherwise *out is NULL and:
 *   ERR_INVAL    extension not one we read (.exe, .rpm, ...), NULL args;
 *   ERR_NOTFOUND the archive reads fine but has no metadata file;
 *   ERR_CORRUPT  not an archive of that kind, truncated, bad CRC, ...;
 *   ERR_TOOBIG   a bound in lim was hit;
 *   ERR_IO       r->read_at failed;
 *   ERR_NOMEM. */
int pkginfo_extract(const struct pkginfo_reader *r, const char *filename, const struct pkginfo_limits *lim,
		    char **out, size_t *outlen);

/* Parses core metadata (Metadata-Version 1.0-2.4, RFC 822 style, the rules
 * of Python's email parser as the pkginfo library applies them) into a new
 * cJSON object with devpi's stored metadata keys: name, version,
 * metadata_version, summary, home_page, author, author_email, maintainer,
 * maintainer_email, license, description, keywords, download_url,
 * requires_python, description_content_type, license_expression (strings)
 * and platform, classifiers, supported_platform, provides, requires,
 * obsoletes, project_urls, provides_dist, obsoletes_dist, requires_dist,
 * requires_external, provides_extras, dynamic, license_file (arrays of
 * strings, one item per repeated header).
 *  - Only keys whose header occurs appear.  Header names are
 *    case-insensitive; unknown headers are ignored; for a string key the
 *    first occurrence wins.
 *  - A header value's continuation lines (starting with space or tab) are
 *    joined with single spaces after stripping each line; for Description
 *    the value is stripped, lines are kept, and each line's 8-space (or
 *    7-space + "|") indent is removed.
 *  - Headers end at the first empty line; a line that is neither a header
 *    ("Name:" with a name of printable ASCII) nor a continuation also ends
 *    them and starts the body.  A non-empty body becomes the description
 *    (overriding a Description header), verbatim.
 *  - "UNKNOWN" becomes "" for string keys and is dropped (like empty
 *    items) from arrays.
 *  - Encoding: text that is valid UTF-8 is read as UTF-8, anything else as
 *    Latin-1 (pkginfo's rule), so every input yields valid UTF-8 strings;
 *    NUL bytes become U+FFFD.  Lines end at \n, \r\n or \r.
 * text is borrowed (need not be NUL-terminated).  ERR_OK with *out set (the
 * caller frees it with cJSON_Delete()); ERR_TOOBIG when len >
 * PKGINFO_PARSE_MAX; ERR_INVAL for NULL text; ERR_NOMEM.  Any bytes parse. */
int pkginfo_parse(const char *text, size_t len, cJSON **out);

/* A reader over n bytes at p (borrowed; must outlive the reader's use).
 * state is caller-provided storage the reader points into. */
struct pkginfo_mem {
	const uint8_t *p;
	size_t n;
};
void pkginfo_reader_mem(struct pkginfo_reader *r, const void *p, size_t n, struct pkginfo_mem *state);

#endif
