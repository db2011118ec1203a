/* model.c — devpi's records over the store's kv layer, and store init.
 *
 * Records are JSON so that the changelog, replicas and export all carry the
 * same text; the handlers parse what they need with cJSON.  The stage
 * resolution order is computed by inherit/sro.c from index configs handed
 * to it through a lookup callback.
 */
#include "proxy/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "config/config.h"
#include "inherit/sro.h"
#include "proxy/auth.h"
#include "store/store.h"

cJSON *model_get(struct store_txn *t, const char *key)
{
	const char *v;
	size_t len;
	if (store_get(t, key, &v, &len) != ERR_OK)
		return NULL;
	return cJSON_ParseWithLength(v, len);
}

int model_put(struct store_txn *t, const char *key, const cJSON *v)
{
	struct buf b = BUF_INIT;
	int rc = json_print_compact(v, &b);
	if (!rc)
		rc = store_put(t, key, b.p, b.len);
	buf_release(&b);
	return rc;
}

void model_now_iso(char out[32])
{
	time_iso8601(time(NULL), out);
}

cJSON *model_when_now(void)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int v[6] = { tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec };
	return cJSON_CreateIntArray(v, 6);
}

int model_is_initialized(struct store *st, bool *yes)
{
	struct store_txn *t = NULL;
	const void *v;
	size_t len;
	int rc = store_read_begin(st, &t);
	if (rc)
		return rc;
	*yes = store_meta_get(t, "uuid", &v, &len) == ERR_OK;
	store_abort(t);
	return ERR_OK;
}

static int has_acl_read(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	cJSON *cfg = cJSON_ParseWithLength(val, vlen);
	bool yes = cfg && cJSON_GetObjectItemCaseSensitive(cfg, "acl_read");
	cJSON_Delete(cfg);
	return yes ? 1 : 0;
}

bool model_any_acl_read(struct store *st)
{
	struct store_txn *t = NULL;
	if (store_read_begin(st, &t) != ERR_OK)
		return true;    /* unknown: check every read */
	int rc = store_scan(t, "index/", has_acl_read, NULL);
	store_abort(t);
	return rc != 0;
}

int model_load_node(struct store *st, char uuid[33], uint8_t secret[32], _Atomic int64_t *serial)
{
	struct store_txn *t = NULL;
	const void *v;
	size_t len;
	int rc = store_read_begin(st, &t);
	if (rc)
		return rc;
	rc = store_meta_get(t, "uuid", &v, &len);
	if (rc)
		goto fail;
	if (len != 32) {
		rc = ERR_CORRUPT;
		goto fail;
	}
	memcpy(uuid, v, 32);
	uuid[32] = '\0';
	rc = store_meta_get(t, "secret", &v, &len);
	if (rc)
		goto fail;
	if (len != 32) {
		rc = ERR_CORRUPT;
		goto fail;
	}
	memcpy(secret, v, 32);
	atomic_store(serial, store_txn_serial(t));
fail:
	store_abort(t);
	return rc;
}

static cJSON *user_record(const char *name, const char *pwhash)
{
	char now[32];
	model_now_iso(now);
	cJSON *u = cJSON_CreateObject();
	cJSON_AddStringToObject(u, "username", name);
	cJSON_AddStringToObject(u, "pwhash", pwhash);
	cJSON_AddStringToObject(u, "created", now);
	return u;
}

int model_put_identity(struct store_txn *t)
{
	uint8_t id[16], secret[32];
	char uuid[33];
	int rc;
	if ((rc = random_bytes(id, sizeof id)) || (rc = random_bytes(secret, sizeof secret)))
		return rc;
	hex_encode(id, sizeof id, uuid);
	if ((rc = store_meta_put(t, "uuid", uuid, 32)) || (rc = store_meta_put(t, "secret", secret, 32)))
		return rc;
	return store_meta_put(t, "schema", "1", 1);
}

int model_init(struct store *st, const struct config *cfg)
{
	struct store_txn *t = NULL;
	cJSON *root = NULL, *pypi = NULL;
	char *pwhash = NULL;
	char genpw[33];
	const char *pw = cfg->root_passwd;
	const void *v;
	size_t len;
	int rc;

	if (!pw) {
		uint8_t rnd[16];
		rc = random_bytes(rnd, sizeof rnd);
		if (rc)
			return rc;
		hex_encode(rnd, sizeof rnd, genpw);
		pw = genpw;
	}
	rc = auth_hash_password(pw, strlen(pw), &pwhash);
	if (rc)
		goto fail;
	rc = store_write_begin(st, &t);
	if (rc)
		goto fail;
	if (store_meta_get(t, "uuid", &v, &len) == ERR_OK) {
		rc = ERR_EXISTS;
		goto fail;
	}
	if ((rc = model_put_identity(t)))
		goto fail;
	root = user_record("root", pwhash);
	if ((rc = model_put(t, "user/root", root)))
		goto fail;
	if (!cfg->no_root_pypi) {
		pypi = cJSON_CreateObject();
		cJSON_AddStringToObject(pypi, "type", "mirror");
		cJSON_AddBoolToObject(pypi, "volatile", 0);
		cJSON_AddStringToObject(pypi, "title", "PyPI");
		cJSON_AddStringToObject(pypi, "mirror_url", cfg->root_pypi_url);
		cJSON_AddStringToObject(pypi, "mirror_web_url_fmt", "https://pypi.org/project/{name}/");
		if ((rc = model_put(t, "index/root/pypi", pypi)))
			goto fail;
	}
	rc = store_commit(t, NULL);
	t = NULL;
	if (rc)
		goto fail;
	if (!cfg->root_passwd) {
		fprintf(stderr, "initialized store in '%s'; root password: %s\n", cfg->serverdir, genpw);
		fprintf(stderr, "(shown once; change it with the API or re-init with --root-passwd)\n");
	} else {
		log_info("initialized store in '%s'", cfg->serverdir);
	}
fail:
	store_abort(t);
	cJSON_Delete(root);
	cJSON_Delete(pypi);
	xfree(pwhash);
	return rc;
}

/* ---- SRO ------------------------------------------------------------- */

struct sro_ctx {
	struct store_txn *t;
	cJSON *cfg;                  /* the last looked-up config, kept until the next lookup */
	const char **bases;
	size_t nbases;
};

static int sro_lookup(void *arg, const char *name, struct sro_stage *out)
{
	struct sro_ctx *c = arg;
	char key[600];
	cJSON_Delete(c->cfg);
	c->cfg = NULL;
	xfree(c->bases);
	c->bases = NULL;
	snprintf(key, sizeof key, "index/%s", name);
	c->cfg = model_get(c->t, key);
	if (!c->cfg)
		return ERR_NOTFOUND;
	const char *type = json_get_str(c->cfg, "type");
	out->mirror = type && strcmp(type, "mirror") == 0;
	cJSON *bases = cJSON_GetObjectItemCaseSensitive(c->cfg, "bases");
	size_t n = 0;
	int nb = cJSON_IsArray(bases) ? cJSON_GetArraySize(bases) : 0;
	c->bases = xcalloc((size_t)nb + 1, sizeof *c->bases);
	for (int i = 0; i < nb; i++) {
		cJSON *b = cJSON_GetArrayItem(bases, i);
		if (cJSON_IsString(b))
			c->bases[n++] = b->valuestring;
	}
	out->bases = c->bases;
	out->nbases = out->mirror ? 0 : n;
	return ERR_OK;
}

int model_sro(struct store_txn *t, const char *stage, char ***names, bool **mirror, size_t *n)
{
	struct sro_ctx c = { t, NULL, NULL, 0 };
	int rc = sro_compute(stage, sro_lookup, &c, MODEL_MAX_STAGES, names, mirror, n);
	cJSON_Delete(c.cfg);
	xfree(c.bases);
	return rc;
}

int model_file_tombstone(struct store_txn *t, const char *relpath)
{
	char key[1100];
	snprintf(key, sizeof key, "file/%s", relpath);
	cJSON *tomb = cJSON_CreateObject();
	cJSON_AddBoolToObject(tomb, "deleted", 1);
	int rc = model_put(t, key, tomb);
	cJSON_Delete(tomb);
	return rc;
}

bool model_index_volatile(const cJSON *cfg)
{
	return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cfg, "volatile"));
}
