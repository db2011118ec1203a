/* release.h — the write job that registers a release and stores its file:
 * version metadata, file record, project record and blob, in one commit.
 */
#ifndef PROXY_RELEASE_H
#define PROXY_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
};

struct release_write *release_write_new(const char *user, const char *index, const char *name, const char *version);
void release_write_free(struct release_write *w);
/* The writer-thread job (see wjob.h).  ERR_NOTFOUND: index gone;
 * ERR_CONFLICT: different file of that name on a non-volatile index. */
int release_write_run(struct store_txn *t, void *arg);

/* The metadata keys devpi stores per version (API.md 6.6); list keys are
 * flagged.  Terminated by a NULL name. */
struct release_key { const char *name; bool list; };
extern const struct release_key release_keys[];

#endif
