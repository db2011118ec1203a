/* push_ext.h — what h_push.c hands to the external push (push_ext.c):
 * the release of one stage to push, read once under a read transaction.
 *
 * A push source is one version of one project in one stage (API.md 6.4):
 * its pure metadata and the stored files linked to it there (release
 * files, tox results, doc zip), each with its record and blob hash, copied
 * out of the store so that nothing borrowed outlives the transaction.
 */
#ifndef PROXY_PUSH_EXT_H
#define PROXY_PUSH_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct req;
struct cJSON;

enum push_rel { PUSH_RELEASE, PUSH_TOXRESULT, PUSH_DOCZIP };

struct push_link {
	enum push_rel rel;
	char *filename;             /* owned */
	char *relpath;              /* owned: its relpath in the source stage */
	char *for_relpath;          /* owned, tox results: the source relpath of their release file */
	uint8_t sha256[32];
	char sha_hex[65];
	uint64_t size;
	char *core_sha_hex;         /* owned: PEP 658 metadata blob of a wheel, or NULL */
	struct cJSON *link;         /* owned copy of the source link (NULL for a mirror file) */
	struct cJSON *file;         /* owned copy of the source file record */
};

struct push_src {
	char *stage;                /* "user/index" */
	bool mirror;
	char *name;                 /* project name as registered */
	char *project;              /* normalized */
	char *version;
	struct cJSON *meta;         /* pure metadata: no "+..." keys */
	struct push_link *links;
	size_t nlinks;
};

void push_src_free(struct push_src *s);

/* Starts the external push of s (API.md 6.4) described by the request's
 * JSON body req (posturl, username, password, register_project, already
 * checked by the caller) and answers r when it is over.  Takes s; req is
 * borrowed for the call. */
void push_ext_start(struct req *r, struct push_src *s, const struct cJSON *req);

#endif
