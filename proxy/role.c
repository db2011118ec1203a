/* role.c — which role a node runs in, and the transitions API.md 8.1
 * forbids (see role.h).
 *
 * The role is kept in the store's meta db ("role": standalone, primary or
 * replica; a store from before roles were kept counts as standalone).  The
 * rules are checked before anything serves, so a misconfigured node stops
 * with a message instead of forking its data:
 *   - a node that held a standalone's or a primary's data never becomes a
 *     replica (its records would not be a copy of the primary's);
 *   - a replica's store is never served as a standalone by accident: without
 *     --primary-url it needs an explicit --role primary or standalone, which
 *     promotes it;
 *   - --role primary is given on every start; with auto a former primary
 *     runs as standalone.
 * A replica's serverdir starts empty: it gets a node uuid and no records,
 * which all come from the primary.
 */
#include "proxy/role.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "config/config.h"
#include "proxy/model.h"
#include "proxy/upstream.h"
#include "store/store.h"

static const char *const names[] = { "standalone", "primary", "replica" };

/* The role stored in st ("" if none is), into out. */
static int stored_role(struct store *st, bool *inited, char out[16])
{
	struct store_txn *t = NULL;
	const void *v;
	size_t len;
	int rc = store_read_begin(st, &t);
	out[0] = '\0';
	*inited = false;
	if (rc)
		return rc;
	*inited = store_meta_get(t, "uuid", &v, &len) == ERR_OK;
	if (store_meta_get(t, "role", &v, &len) == ERR_OK && len < 16) {
		memcpy(out, v, len);
		out[len] = '\0';
	} else if (*inited) {
		snprintf(out, 16, "standalone");
	}
	store_abort(t);
	return ERR_OK;
}

/* The role the options ask for, or -1 (logged). */
static int wanted_role(const struct config *cfg)
{
	const char *r = cfg->role ? cfg->role : "auto";
	if (!strcmp(r, "master"))
		r = "primary";
	if (cfg->primary_url && *cfg->primary_url) {
		if (strcmp(r, "auto") && strcmp(r, "replica")) {
			log_err("--primary-url makes a replica; it cannot go with --role %s", r);
			return -1;
		}
		return ROLE_REPLICA;
	}
	if (!strcmp(r, "replica")) {
		log_err("--role replica needs --primary-url (the primary to follow)");
		return -1;
	}
	if (!strcmp(r, "primary"))
		return ROLE_PRIMARY;
	if (!strcmp(r, "standalone") || !strcmp(r, "auto"))
		return ROLE_STANDALONE;
	log_err("--role must be auto, primary, replica or standalone, not '%s'", r);
	return -1;
}

/* Checks the primary URL: http(s), no credentials, no query; copies it
 * without trailing slashes into out. */
static int check_primary_url(const char *url, char *out, size_t cap)
{
	char *clean = NULL, *user = NULL, *pass = NULL;
	int rc = upstream_split_credentials(url, &clean, &user, &pass);
	if (rc || user || pass || strchr(url, '?') || strchr(url, '#')) {
		log_err("--primary-url must be an http(s) URL without credentials, query or fragment: '%s'", url);
		rc = ERR_INVAL;
		goto out;
	}
	size_t n = strlen(clean);
	while (n > 0 && clean[n - 1] == '/')
		n--;
	if (n >= cap) {
		log_err("--primary-url is too long");
		rc = ERR_TOOBIG;
		goto out;
	}
	memcpy(out, clean, n);
	out[n] = '\0';
out:
	xfree(clean);
	xfree(user);
	xfree(pass);
	return rc;
}

/* Writes the role (and for a fresh replica the node identity) into st. */
static int persist(struct store *st, enum role role, bool fresh_replica)
{
	struct store_txn *t = NULL;
	int rc = store_write_begin(st, &t);
	if (rc)
		return rc;
	if (fresh_replica)
		rc = model_put_identity(t);
	if (!rc)
		rc = store_meta_put(t, "role", names[role], strlen(names[role]));
	if (rc) {
		store_abort(t);
		return rc;
	}
	return store_commit(t, NULL);
}

int role_resolve(struct store *st, const struct config *cfg, struct role_info *out)
{
	char stored[16];
	bool inited;
	int want = wanted_role(cfg), rc;

	memset(out, 0, sizeof *out);
	if (want < 0)
		return ERR_INVAL;
	if ((rc = stored_role(st, &inited, stored)))
		return rc;
	out->role = (enum role)want;
	if (want == ROLE_REPLICA) {
		if ((rc = check_primary_url(cfg->primary_url, out->primary_url, sizeof out->primary_url)))
			return rc;
		if (!cfg->secretfile) {
			log_err("a replica needs --secretfile, the same file as its primary's");
			return ERR_INVAL;
		}
		if (inited && strcmp(stored, "replica") != 0) {
			log_err("serverdir '%s' holds the data of a %s: a node cannot become a replica (start the "
				"replica with an empty serverdir)", cfg->serverdir, stored);
			return ERR_CONFLICT;
		}
		out->fresh = !inited;
	} else if (!strcmp(stored, "replica")) {
		const char *r = cfg->role ? cfg->role : "auto";
		if (!strcmp(r, "auto")) {
			log_err("serverdir '%s' is a replica's: give --primary-url to go on following its primary, "
				"or --role primary / --role standalone to promote it", cfg->serverdir);
			return ERR_CONFLICT;
		}
		log_warn("promoting the replica in '%s' to %s", cfg->serverdir, names[want]);
	}
	out->needs_init = !inited && want != ROLE_REPLICA;
	if (out->needs_init)
		return ERR_OK;          /* persisted by role_persist after model_init */
	if (strcmp(stored, names[want]) == 0)
		return ERR_OK;
	return persist(st, out->role, out->fresh);
}

int role_persist(struct store *st, enum role role)
{
	return persist(st, role, false);
}

const char *role_name(enum role role)
{
	return names[role];
}
