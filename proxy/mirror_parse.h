/* mirror_parse.h — parsers for an upstream (PyPI-like) simple index:
 * project pages and the project list, in PEP 503 HTML and PEP 691 JSON,
 * with the PEP 592 (yank), PEP 658/714 (core metadata) and PEP 700 (size,
 * upload time, versions) extensions; plus the RFC 3986 URL resolution they
 * need (API.md 7.1 and 7.2).
 *
 * Everything here is pure: no I/O, no global state, no logging.  Inputs are
 * borrowed (ptr, len) and need not be NUL-terminated; nothing keeps a pointer
 * into them past the call.  Every size an upstream controls is bounded by a
 * struct mirror_limits: the number of links or names (ERR_TOOBIG past it),
 * the size of any one field (the link or name carrying it is skipped), and
 * the JSON nesting depth (ERR_TOOBIG past it).
 */
#ifndef PROXY_MIRROR_PARSE_H
#define PROXY_MIRROR_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/strset.h"

/* One release file offered by the upstream page.  Every string is owned by
 * the link (xmalloc'ed, NUL-terminated, never containing a NUL byte) and
 * freed by mirror_page_release(); a caller may steal one by setting the
 * field to NULL. */
struct mirror_link {
	char *filename;          /* HTML: last path segment of the URL, percent-decoded;
				    JSON: the "filename" key.  Always passes
				    name_check_filename() (inherit/name.h). */
	char *url;               /* absolute http(s) URL (resolved against the page URL or
				    <base href>), without fragment */
	char *hash_name;         /* "sha256" preferred, else "md5", else the first offered;
				    lower case [a-z0-9_]; NULL if none */
	char *hash_value;        /* lower-case hex, at least 16 digits (the +f path needs
				    them, API.md 3.1); NULL if none */
	char *requires_python;   /* NULL if absent/empty; HTML entities decoded */
	bool yanked;
	char *yanked_reason;     /* NULL if none (yanked may still be true) */
	bool core_metadata;      /* PEP 658/714 metadata offered (data-core-metadata /
				    data-dist-info-metadata, JSON core-metadata /
				    dist-info-metadata present and not false) */
	char *core_metadata_sha256; /* 64 lower-case hex digits; NULL if no sha256 given */
	int64_t size;            /* PEP 700, -1 if unknown */
	char *upload_time;       /* PEP 700 ISO 8601 string, NULL if unknown */
};

/* A parsed project page.  Owns links[] and versions[] and everything in
 * them; release with mirror_page_release(). */
struct mirror_page {
	struct mirror_link *links;
	size_t nlinks;
	char **versions;         /* PEP 700 "versions" if the JSON page has it, else empty */
	size_t nversions;
};

struct mirror_limits {
	size_t max_links;        /* links (distinct file names) or list names; ERR_TOOBIG past it */
	size_t max_field;        /* bytes of any one URL / attribute / name / string; a link or
				    name with a longer one is skipped (not fatal) */
	int max_json_depth;      /* JSON nesting (arrays + objects); ERR_TOOBIG past it */
};

/* The limits used when a function is given lim == NULL (or a zero field). */
#define MIRROR_MAX_LINKS_DEFAULT 100000
#define MIRROR_MAX_FIELD_DEFAULT 8192
#define MIRROR_MAX_JSON_DEPTH_DEFAULT 32

enum mirror_format { MIRROR_HTML, MIRROR_JSON };

/* Chooses the format from a Content-Type header value (borrowed, may be
 * NULL): application/vnd.pypi.simple.v1+json (parameters allowed, ASCII
 * case ignored) -> MIRROR_JSON; text/html, application/vnd.pypi.simple.v1+html,
 * NULL or empty -> MIRROR_HTML; anything else -> ERR_PARSE (*out untouched).
 * ERR_OK otherwise. */
int mirror_content_format(const char *content_type, enum mirror_format *out);

/* Parses a project page (API.md 7.2 step 6) into *out, which the caller
 * releases with mirror_page_release() whatever the result (it is empty on
 * error).  body/len, page_url (the URL the page was fetched from, after
 * redirects) and project (its normalized name) are borrowed for the call.
 *
 * HTML: every <a href> whose file name is an archive of project (the name
 * before the extension, normalized, starts with the normalized project name
 * followed by '-' or the end; extension one of .deb .dmg .doc.zip .egg .exe
 * .msi .rpm .tar .tar.bz2 .tar.gz .tgz .whl .zip, ASCII case ignored), read
 * with data-requires-python, data-yanked, data-core-metadata /
 * data-dist-info-metadata and a #<hash>=<hex> fragment; the first
 * <base href> applies to the whole page.  Real-world markup is tolerated
 * (attribute order, quoting, case, entities, comments, <script>/<style>
 * raw text); a body with a NUL byte, or one that looks like JSON, is not
 * HTML (ERR_PARSE).
 * JSON (PEP 691): "meta"."api-version" must be 1.x (absent = 1.0); "files"
 * must be an array; entries without a string filename/url are skipped;
 * hashes (sha256, else md5, else the first valid one; the URL fragment
 * when "hashes" gives none), requires-python, yanked (bool or reason),
 * core-metadata / dist-info-metadata (bool or hash dict), size,
 * upload-time; top-level "versions" (PEP 700).  A repeated top-level key is
 * ambiguous: ERR_PARSE.
 * Both: a link whose URL does not resolve to http(s), whose file name fails
 * name_check_filename(), or with a field over lim->max_field is skipped.
 * Duplicates per file name: a link with a hash beats one without, otherwise
 * the first wins; links keep page order (a replacing link sits where it was
 * found).  lim may be NULL (defaults above).
 * Returns ERR_OK, ERR_PARSE, ERR_TOOBIG (more than lim->max_links distinct
 * files or versions, or JSON nested deeper than lim->max_json_depth),
 * ERR_NOMEM. */
int mirror_parse_project(const char *body, size_t len, enum mirror_format fmt, const char *page_url,
			 const char *project, const struct mirror_limits *lim, struct mirror_page *out);

/* Frees everything p owns; p is empty afterwards.  NULL-tolerant. */
void mirror_page_release(struct mirror_page *p);

/* Frees the strings of one link and clears it.  NULL-tolerant. */
void mirror_link_release(struct mirror_link *l);

/* Parses the root project list page (API.md 7.1).  JSON: "projects"[]."name"
 * (api-version checked as above; entries without a string name skipped).
 * HTML: every <a href>: a relative href gives its last path segment
 * ("name/" -> "name", query and fragment ignored); an absolute or
 * scheme-relative href counts only if it resolves to http(s) on the same
 * host as page_url and below page_url's path, and gives its last segment.
 * Names are percent-decoded (HTML), raw otherwise (not normalized: the
 * caller normalizes); empty names, names with a NUL and names over
 * lim->max_field are skipped.  fn(arg, name, len) is called per name as
 * found, name borrowed for the call only (NUL-terminated at len); a
 * non-zero return stops the parse and is returned.  Names may have been
 * delivered before an error is found (a bad api-version after "projects",
 * a syntax error at the end): on any non-zero result the caller discards
 * what it collected.  More than lim->max_links names -> ERR_TOOBIG.
 * Returns ERR_OK, ERR_PARSE, ERR_TOOBIG, ERR_NOMEM or fn's value. */
int mirror_parse_list(const char *body, size_t len, enum mirror_format fmt, const char *page_url,
		      const struct mirror_limits *lim, int (*fn)(void *arg, const char *name, size_t len),
		      void *arg);

/* Resolves href against base (RFC 3986 section 5.2 for http/https:
 * absolute, scheme-relative, absolute-path, relative-path, query-only,
 * empty, with dot-segment removal).  Leading/trailing whitespace of href is
 * ignored and tabs/newlines inside it removed (as browsers do); the scheme
 * and host are lower-cased; bytes not allowed in a URL (controls, space,
 * non-ASCII, " < > \ ^ ` { | }) are percent-encoded.  Both inputs are
 * borrowed NUL-terminated strings.  On ERR_OK *out is the result without
 * fragment, and *fragment (if fragment is non-NULL) the fragment without
 * '#' or NULL when there is none; both xmalloc'ed, the caller frees them
 * with xfree().  ERR_PARSE (both outputs NULL) when the result is not an
 * http(s) URL with a host, or a relative href meets a base that is not
 * one. */
int mirror_resolve_url(const char *base, const char *href, char **out, char **fragment);

/* ------------------------------------------------------------------------
 * Internal: shared by proxy/mirror_parse.c, proxy/mirror_html.c and
 * proxy/mirror_json.c only.  Other modules use the functions above.
 */

/* Collects the links of one page: de-duplication by file name (strset),
 * the max_links bound, and the final order. */
struct mirror_builder {
	struct mirror_page *page;       /* borrowed: the caller's output */
	size_t cap;                     /* allocated slots of page->links */
	struct strset seen, hashed;     /* owned; borrow file names from page->links */
	const struct mirror_limits *lim;
};

/* The best hash offered so far for one link; bounded copies, no
 * allocation. */
struct mirror_hash_pick {
	int rank;                       /* 0 none, 1 other, 2 md5, 3 sha256 */
	char name[33];
	char value[257];
};

/* Resolves lim (NULL or zero fields -> defaults) into *out. */
void mirror_limits_fill(const struct mirror_limits *lim, struct mirror_limits *out);
void mirror_builder_init(struct mirror_builder *b, struct mirror_page *page, const struct mirror_limits *lim);
/* Takes *l (always: kept in the page or released) and clears it.
 * ERR_OK, ERR_TOOBIG, ERR_NOMEM. */
int mirror_builder_add(struct mirror_builder *b, struct mirror_link *l);
/* Drops the links a later hashed duplicate replaced; releases the sets. */
void mirror_builder_finish(struct mirror_builder *b);
/* Releases the sets only (the page is released by its owner). */
void mirror_builder_release(struct mirror_builder *b);
/* Offers (name, value) as a hash: taken when valid ([A-Za-z0-9_] name up to
 * 32 bytes, hex value of the length the algorithm needs, else 16..256 hex
 * digits) and better than the current pick.  1 if valid, else 0. */
int mirror_hash_offer(struct mirror_hash_pick *h, const char *name, size_t nn, const char *val, size_t vn);
/* Offers every "name=value" of a '&'-separated fragment. */
void mirror_hash_offer_fragment(struct mirror_hash_pick *h, const char *frag, size_t n);
/* Copies the pick into l->hash_name/hash_value (xmalloc'ed) if there is one. */
void mirror_hash_take(const struct mirror_hash_pick *h, struct mirror_link *l);
/* Parses a PEP 658 attribute value ("true", "false", "" or
 * "<hash>=<hex>"): *present false for "false"; *sha256 (65 bytes) filled
 * with a valid sha256, else "". */
void mirror_core_metadata_value(const char *v, size_t n, bool *present, char sha256[65]);
/* 1 if the file name is an archive of project (see mirror_parse_project). */
int mirror_archive_of_project(const char *fn, size_t n, const char *project);
/* Percent-decodes (s, n) into b (reset first); ERR_TOOBIG past b's bound. */
int mirror_pct_decode(const char *s, size_t n, struct buf *b);
/* The last path segment of an absolute URL produced by mirror_resolve_url,
 * percent-decoded into b (reset first); "" when the path ends with '/'. */
int mirror_url_basename(const char *url, struct buf *b);
/* Splits an http(s) URL into host (lower case as produced by
 * mirror_resolve_url, no userinfo, no port) and path spans; 0 if not one. */
int mirror_url_host_path(const char *url, const char **host, size_t *hn, const char **path, size_t *pn);
/* 1 if v is an acceptable api-version ("1" or "1.<digits>..."), else 0. */
int mirror_api_version_ok(const char *v, size_t n);

int mirror_html_project(const char *body, size_t len, const char *page_url, const char *project,
			const struct mirror_limits *lim, struct mirror_page *out);
int mirror_html_list(const char *body, size_t len, const char *page_url, const struct mirror_limits *lim,
		     int (*fn)(void *arg, const char *name, size_t len), void *arg);
int mirror_json_project(const char *body, size_t len, const char *page_url, const struct mirror_limits *lim,
			struct mirror_page *out);
int mirror_json_list(const char *body, size_t len, const struct mirror_limits *lim,
		     int (*fn)(void *arg, const char *name, size_t len), void *arg);

#endif
