/* perm.h — who may do what (API.md 2.6, plus the acl_read extension of
 * section A): one place for every permission decision, so that the routes,
 * the page builders and /+authcheck agree.
 *
 * Principals are user names, ":ANONYMOUS:" (everyone) and
 * ":AUTHENTICATED:" (any logged-in caller), compared as devpi does (the two
 * special names case-insensitively).  With --restrict-modify, only its
 * principals may create, modify and delete users and indexes (root is not
 * implied); without it, root and each user for their own.
 */
#ifndef PROXY_PERM_H
#define PROXY_PERM_H

#include <stdbool.h>

struct req;
struct cJSON;

enum perm {
	PERM_USER_CREATE,
	PERM_USER_MODIFY,
	PERM_USER_MODIFY_PASSWORD,
	PERM_USER_DELETE,
	PERM_INDEX_CREATE,
	PERM_INDEX_MODIFY,
	PERM_INDEX_DELETE,
	PERM_UPLOAD,               /* also pypi_submit, push target */
	PERM_TOXRESULT_UPLOAD,
	PERM_DEL_ENTRY,            /* del_entry, del_project, del_verdata */
	PERM_PKG_READ,             /* pages, files, JSON views, push source */
};

/* A user-level permission (PERM_USER_*, PERM_INDEX_CREATE) on `user`. */
bool perm_user(const struct req *r, enum perm p, const char *user);
/* An index-level permission on user/<index> whose config is cfg (borrowed).
 * Mirror indexes take no uploads; unknown index types are read-only. */
bool perm_index(const struct req *r, enum perm p, const char *user, const struct cJSON *cfg);

/* Whether r's caller may create and modify mirror indexes (their
 * mirror_url makes the server fetch from anywhere): root, or with
 * --restrict-modify one of its principals. */
bool perm_mirror_admin(const struct req *r);

/* acl_read of an index config: its list, or the default [":ANONYMOUS:"]. */
bool perm_can_read(const struct req *r, const char *user, const struct cJSON *cfg);
/* The same for a stage named "user/index". */
bool perm_can_read_stage(const struct req *r, const char *stage, const struct cJSON *cfg);

/* Answers r for a refused index/user permission the devpi way: 401 with a
 * Basic challenge for an anonymous caller when challenge is set, else 403;
 * msg is the message. */
void perm_refuse(struct req *r, bool challenge, const char *msg);

#endif
