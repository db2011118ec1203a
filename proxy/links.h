/* links.h — the releases of one project along a stage's resolution order.
 *
 * links_collect walks the SRO (API.md 5.3) and gathers, stage by stage,
 * the version records of the project and their release links, applying
 * the mirror whitelist (API.md 5.4) to decide which mirror stages may
 * contribute.  Mirror stages are only listed in `mirrors`: their cached
 * pages may need a refresh first (asynchronous), after which the handler
 * adds them with links_add_mirror in SRO order.  The first stage wins per
 * filename; versions are the union.  Everything returned points into
 * records owned by the struct; links_release frees them.
 */
#ifndef PROXY_LINKS_H
#define PROXY_LINKS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/strset.h"

struct cJSON;
struct req;
struct store_txn;

struct link {
	const struct cJSON *l;       /* the link object */
	const struct cJSON *ver;     /* its version record (synthetic for mirrors) */
	const char *stage;           /* "user/index" it lives in */
	const char *filename;
	const char *relpath;
};

struct verinfo {
	const struct cJSON *ver;     /* version record (first stage wins) */
	const char *stage;
	const char *version;
};

struct mirror_use {
	const char *stage;           /* points into stages[] */
	struct cJSON *cfg;           /* its index config (owned) */
	bool requested;              /* it is the stage the request named */
};

struct project_links {
	char **stages;               /* the SRO */
	bool *mirror;
	size_t nstages;
	struct cJSON **recs;         /* every version record (owned) */
	size_t nrecs, caprecs;
	struct link *links;
	size_t nlinks, caplinks;
	struct verinfo *vers;        /* one per distinct version, SRO order */
	size_t nvers, capvers;
	struct strset seen_files;
	struct strset seen_vers;
	struct mirror_use mirrors[8];/* mirror stages that may contribute, SRO order */
	size_t nmirrors;
	const char *blocked_mirror;  /* a mirror left out by the whitelist (for the INFO line), or NULL */
	bool known;                  /* some private stage registered the project */
	bool mirror_has;             /* some mirror stage has a page for it */
	char *name;                  /* the project's name as first registered (owned) */
};

/* Collects the private part of project (normalized name) as seen from
 * stage, and lists the mirrors that may contribute.  ERR_NOTFOUND if
 * stage does not exist.  If only_stage, the SRO is just stage itself
 * (?ignore_bases).  With a reader, stages it may not read (acl_read) give
 * no links, though a private one still blocks the mirrors its project
 * would shadow (whitelist), exactly as if the reader could see it. */
int links_collect(struct store_txn *t, const char *stage, const char *project, bool only_stage,
		  const struct req *reader, struct project_links *out);
/* Adds a mirror stage's cached page (record from mirror_page_get) after
 * the stages already added.  offline: only files stored locally. */
void links_add_mirror(struct store_txn *t, struct project_links *pl, const char *stage, const struct cJSON *rec,
		      bool offline);
void links_release(struct project_links *pl);

#endif
