/* role.h — the node's role (API.md 8.1): standalone, primary or replica,
 * decided from --role / --primary-url and the role kept in the store, with
 * the forbidden transitions refused. */
#ifndef PROXY_ROLE_H
#define PROXY_ROLE_H

#include <stdbool.h>

struct store;
struct config;

enum role { ROLE_STANDALONE, ROLE_PRIMARY, ROLE_REPLICA };

struct role_info {
	enum role role;
	bool needs_init;            /* empty serverdir of a standalone/primary: model_init, then role_persist */
	bool fresh;                 /* an empty serverdir just given a replica's identity */
	char primary_url[512];      /* replica: the primary, without trailing '/' */
};

/* Decides the role, refusing (logged, ERR_INVAL / ERR_CONFLICT) what
 * API.md 8.1 forbids, and records it in st.  An empty serverdir of a
 * replica gets its node identity here (no records). */
int role_resolve(struct store *st, const struct config *cfg, struct role_info *out);
/* Records role in st (after model_init of a new serverdir). */
int role_persist(struct store *st, enum role role);
const char *role_name(enum role role);

#endif
