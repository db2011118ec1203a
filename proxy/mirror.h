/* mirror.h — mirror indexes: their config, the cached upstream pages and
 * project lists in the store, and refreshing them from upstream once per
 * key however many requests ask (API.md 5.1 mirror keys, 7, 12).
 *
 * Records (kv, JSON):
 *   mirror/<user>/<index>/<project>  {"serial", "status": "ok"|"notfound",
 *                                     "name", "links": [...]}
 *   mirrorlist/<user>/<index>        {"names": "a\nb\n..."}
 * rewritten only when their content changes; their fetch time and ETag
 * are kept in the meta db under "mfetch/<key>" (no serial per refresh).
 * Each link: filename, url (upstream, without credentials), relpath (our
 * +f/+e path), hash_spec, hashes, version, requires_python, yanked,
 * core_metadata (bool), core_metadata_sha256, size, upload_time.
 */
#ifndef PROXY_MIRROR_H
#define PROXY_MIRROR_H

#include <stdbool.h>

struct req;
struct app;
struct cJSON;
struct store_txn;
struct project_links;

struct mirror_cfg {
	char *stage;                 /* "user/index" */
	char *url;                   /* upstream simple URL, no credentials, ends in '/' */
	char *user, *pass;           /* Basic auth from mirror_url, or NULL */
	int expiry;                  /* seconds a cached page/list stays fresh */
	bool no_project_list;
	bool use_external_urls;
	bool ignore_serial;
	bool offline;
};

/* Fills mc from the stage's index config.  ERR_INVAL (no/invalid
 * mirror_url).  Release with mirror_cfg_release. */
int mirror_cfg_load(const struct app *a, const char *stage, const struct cJSON *idxcfg, struct mirror_cfg *mc);
void mirror_cfg_release(struct mirror_cfg *mc);

/* The cached page record, or NULL; caller frees. */
struct cJSON *mirror_page_get(struct store_txn *t, const char *stage, const char *project);
/* Whether the cached record at key (a page or a list) was fetched less
 * than expiry seconds ago.  Fetch times (and ETags) are kept in the meta
 * db, outside the changelog. */
bool mirror_is_fresh(struct store_txn *t, const char *key, int expiry);
/* When the record at key expires (epoch seconds), 0 if never fetched. */
double mirror_fresh_until(struct store_txn *t, const char *key, int expiry);
/* Marks the record at key as expired (write transactions). */
int mirror_expire(struct store_txn *t, const char *key);

/* Starts or joins the refresh of a project page (key: stage + project).
 * done(r, arg, rc) runs on r's loop when it is over (rc ERR_OK: the
 * record in the store is fresh, or says "notfound"; else it failed and any
 * cached copy is stale).  force: refetch even if a fetch just finished
 * (POST .../refresh).  Returns ERR_BUSY-free: always waits. */
void mirror_refresh_page(struct req *r, const struct mirror_cfg *mc, const char *project,
			 void (*done)(struct req *r, void *arg, int rc), void *arg);
/* The same for the upstream project list (key: stage). */
void mirror_refresh_list(struct req *r, const struct mirror_cfg *mc,
			 void (*done)(struct req *r, void *arg, int rc), void *arg);
/* The cached list record, or NULL; caller frees. */
struct cJSON *mirror_list_get(struct store_txn *t, const char *stage);

/* What adding the mirror stages of a page found. */
struct mirror_outcome {
	bool stale;                  /* some mirror part is from an expired copy (or offline) */
	bool requested_failed;       /* the requested stage is a mirror with nothing usable: 502 */
	bool requested_notfound;     /* the requested mirror says the project does not exist */
	long long serial;            /* X-PYPI-LAST-SERIAL of the requested mirror, or -1 */
	double fresh_until;          /* when the first mirror part used expires; 0 = none */
};

/* Adds every mirror stage listed in pl (in SRO order) from its cached page.
 * Expired pages are refreshed first, once per request: then this returns
 * true after starting (or joining) the refreshes, and r->handler runs
 * again when they are over (r->mirror_pass is set); the caller must release
 * what it holds and return.  Returns false when the links were added. */
bool mirror_add_links(struct req *r, struct store_txn *t, struct project_links *pl, const char *project,
		      struct mirror_outcome *out);

/* The link of a cached page of stage whose relpath is relpath (the file
 * name is the last segment), or NULL.  *project gets the project's name
 * (xmalloc'ed).  Caller frees the link (cJSON_Delete). */
struct cJSON *mirror_find_link(struct store_txn *t, const char *stage, const char *relpath, char **project);

/* mirror_url with any password replaced by "****" (for showing configs);
 * xmalloc'ed. */
char *mirror_url_masked(const char *url);
/* Replaces cfg's mirror_url by its masked form, in place. */
void mirror_mask_config(struct cJSON *cfg);

/* The link of the PEP 658 metadata file of a mirror wheel link (url and
 * relpath + ".metadata", the core-metadata hash if the page gave one), or
 * NULL if the page does not offer it.  Caller frees. */
struct cJSON *mirror_metadata_link(const struct cJSON *wheel_link);

/* Whether project is in the stage's cached upstream name list: 1 yes, 0
 * no, -1 when there is no fresh list to tell (no list, expired, or
 * mirror_no_project_list).  The list is kept in memory per stage and
 * reloaded when a newer one is stored. */
int mirror_list_lookup(struct store_txn *t, const struct mirror_cfg *mc, const char *project);

#endif
