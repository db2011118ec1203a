/* release.h — the write job that registers a release and stores its file:
 * version metadata, file record, project record and blob, in one commit.
 * The same job stores a version's documentation zip (:action=doc_upload),
 * and the helpers below build the records every stored file shares (tox
 * results use them too, see h_toxresult.c).
 *
 * A version record's "+links" hold one object per stored file:
 *   {"rel": "releasefile" | "doczip" | "toxresult", "filename", "relpath",
 *    "hash_spec", "hashes", "size", "upload_time", "log": [...],
 *    "for_relpath" (toxresult: the release file's relpath),
 *    "core_metadata_sha256" (wheels)}
 * A link without "rel" is a release file (mirror pages).  Only release
 * files belong on simple pages (links.c filters on rel).
 */
#ifndef PROXY_RELEASE_H
#define PROXY_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cJSON;
struct store_txn;

struct release_write {
	/* inputs (all owned) */
	char *user, *index;
	char *name;                 /* project name as given */
	char *project;              /* normalized */
	char *version;
	struct cJSON *form;         /* upload form fields */
	struct cJSON *archive_meta; /* metadata read from the archive, or NULL */
	bool register_only;         /* :action=submit: metadata only */
	bool doczip;                /* :action=doc_upload: the version's doc zip; version may be
				     * "" (then the latest registered one); filename is set by the
				     * job to <project>-<version>.doc.zip */
	char *filename;
	uint64_t blob_id;           /* streamed chunks, not yet a blob */
	uint32_t nchunks;
	uint64_t size;
	uint8_t sha256[32];
	char *core_metadata;        /* wheel METADATA bytes, or NULL */
	size_t core_metadata_len;
	uint64_t core_blob_id;
	char *user_name;            /* who uploads ("" = anonymous) */
	void *ctx;                  /* the caller's */
	/* outputs */
	bool identical;             /* same file already present (non-volatile) */
	bool no_version;            /* doczip: no version given and none registered (ERR_INVAL) */
};

struct release_write *release_write_new(const char *user, const char *index, const char *name, const char *version);
void release_write_free(struct release_write *w);
/* The writer-thread job (see wjob.h).  ERR_NOTFOUND: index gone;
 * ERR_CONFLICT: different file of that name on a non-volatile index;
 * ERR_INVAL with no_version set: a doc zip without a version to go to. */
int release_write_run(struct store_txn *t, void *arg);

/* A log entry as devpi writes it: {"what", "who" (null when who is NULL
 * or ""), "when": now, "dst" (when dst is not NULL)}.  Caller frees. */
struct cJSON *release_log_entry(const char *what, const char *who, const char *dst);
/* The file record (file/<relpath>) of a stored file whose content has
 * sha256 hex sha_hex.  Caller frees. */
struct cJSON *release_file_record(const char *relpath, const char *sha_hex, uint64_t size, const char *project,
				  const char *version, time_t now);
/* A "+links" entry of kind rel (without "log").  Caller frees. */
struct cJSON *release_link_new(const char *rel, const char *filename, const char *relpath, const char *sha_hex,
			       uint64_t size, time_t now);
/* The link of kind rel (NULL or absent "rel" = "releasefile") and
 * filename in the array links; borrowed from links, NULL if none. */
struct cJSON *release_find_link(struct cJSON *links, const char *rel, const char *filename);
/* The latest (PEP 440) version registered for project in stage, from
 * the version records; *out NULL if none, else the caller's (xfree). */
int release_latest_version(struct store_txn *t, const char *stage, const char *project, char **out);

/* The metadata keys devpi stores per version (API.md 6.6); list keys are
 * flagged.  Terminated by a NULL name. */
struct release_key { const char *name; bool list; };
extern const struct release_key release_keys[];

#endif
