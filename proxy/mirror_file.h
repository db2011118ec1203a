/* mirror_file.h — the first GET of a mirror file not stored yet: one
 * upstream download however many clients ask, streamed to all of them as
 * its bytes arrive, kept only if its length and hash match the link
 * (API.md 7.4, section 12). */
#ifndef PROXY_MIRROR_FILE_H
#define PROXY_MIRROR_FILE_H

#include <stdbool.h>

struct req;
struct cJSON;
struct mirror_cfg;

/* Answers r with the file described by link (a link object of a cached
 * mirror page: url, relpath, hashes, filename, version) of project, fetching
 * it from upstream if needed. */
void mirror_file_get(struct req *r, const struct mirror_cfg *mc, const struct cJSON *link, const char *project);

/* Where a replica gets the bytes of a file whose record (or mirror link)
 * it has but whose content it lacks (API.md 8.5).  All borrowed for the
 * call. */
struct mirror_file_src {
	const char *relpath;          /* user/index/+f/...: the flight key and the primary's path */
	const char *hash_spec;        /* "<type>=<hex>" the bytes must match; NULL: not checked */
	const char *fallback_url;     /* upstream URL tried when the primary cannot be reached; NULL: none */
	const struct mirror_cfg *mc;  /* whose credentials go to fallback_url's origin; NULL: none */
};

/* On a replica: answers r with the file, streamed as it arrives from
 * GET <primary>/<relpath> (signed as this replica, with
 * X-DEVPI-REPLICA-FILEREPL: YES), or from fallback_url when the primary
 * does not answer at all; one download per relpath however many clients
 * ask.  Only the blob is stored, after its length and hash check out: the
 * file record is the primary's and comes through the changelog.  Primary
 * 404 → 404, 410 → 410, anything else → 502 (or a cut stream). */
void mirror_file_replica_get(struct req *r, const struct mirror_file_src *src);

/* Downloads the file of link into the store with no response attached
 * (push needs mirror files stored): joins or starts its download; when it
 * is over r->handler runs again, or r is answered 502 if it failed. */
void mirror_file_fetch(struct req *r, const struct mirror_cfg *mc, const struct cJSON *link, const char *project);

/* If relpath is being downloaded, r waits for the download to be over
 * (stored or failed) and r->handler runs again; returns false, doing
 * nothing, when it is not. */
bool mirror_file_await(struct req *r, const char *relpath);

/* The PEP 658 metadata of a stored mirror wheel whose page does not offer
 * it: read METADATA from the stored wheel (on the CPU pool), store it as
 * <wheel relpath>.metadata, then run r->handler again to serve it. */
void mirror_metadata_extract(struct req *r, const char *wheel_relpath, const struct cJSON *wheel_rec);

#endif
