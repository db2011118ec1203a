/* links.h — the releases of one project along a stage's resolution order.
 *
 * links_collect walks the SRO (API.md 5.3) and gathers, stage by stage,
 * the version records of the project and their release links; the first
 * stage wins per filename, versions are the union.  Everything returned
 * points into records owned by the struct; links_release frees them.
 */
#ifndef PROXY_LINKS_H
#define PROXY_LINKS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/strset.h"

struct cJSON;
struct store_txn;

struct link {
	const struct cJSON *l;       /* the link object in its version record */
	const struct cJSON *ver;     /* that version record */
	const char *stage;           /* "user/index" it lives in */
	const char *filename;
	const char *relpath;
};

struct verinfo {
	const struct cJSON *ver;     /* version record (first stage wins) */
	const char *stage;
	const char *version;
};

struct project_links {
	char **stages;               /* the SRO */
	bool *mirror;
	size_t nstages;
	struct cJSON **recs;         /* every parsed version record (owned) */
	size_t nrecs, caprecs;
	struct link *links;
	size_t nlinks, caplinks;
	struct verinfo *vers;        /* one per distinct version, SRO order */
	size_t nvers, capvers;
	struct strset seen_files;
	struct strset seen_vers;
	bool known;                  /* some stage registered the project */
	char *name;                  /* the project's name as first registered (owned) */
};

/* Collects the project (normalized name) as seen from stage.  ERR_NOTFOUND
 * if stage does not exist.  If only_stage, the SRO is just stage itself
 * (?ignore_bases). */
int links_collect(struct store_txn *t, const char *stage, const char *project, bool only_stage,
		  struct project_links *out);
void links_release(struct project_links *pl);

#endif
