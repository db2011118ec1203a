/* model.h — devpi's records (users, indexes, projects, versions, files) on
 * top of the store's key/value layer.
 *
 * Keys (kv db, values are JSON):
 *   user/<user>                       user record, with pwhash
 *   index/<user>/<index>              index config
 *   proj/<user>/<index>/<project>     {"name": <name as first registered>}
 *   ver/<user>/<index>/<project>/<v>  version metadata + "+links" (relpaths)
 *   file/<relpath>                    file meta (hashes, size, last_modified, ...)
 * Meta names: "uuid" (32 hex), "secret" (32 bytes), "schema".
 *
 * Returned cJSON trees are owned by the caller (cJSON_Delete).
 */
#ifndef PROXY_MODEL_H
#define PROXY_MODEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_txn;
struct config;
struct cJSON;

#define MODEL_MAX_STAGES 64

/* Reads the node uuid, secret and current serial. ERR_NOTFOUND if the
 * store was never initialized. */
int model_load_node(struct store *st, char uuid[33], uint8_t secret[32], _Atomic int64_t *serial);
/* Initializes an empty store (API.md section B, init): uuid, secret, user
 * root, and unless cfg->no_root_pypi the mirror root/pypi.  ERR_EXISTS if
 * already initialized.  Prints a random root password once when
 * cfg->root_passwd is NULL. */
int model_init(struct store *st, const struct config *cfg);
int model_is_initialized(struct store *st, bool *yes);
/* Writes a new node identity into t's meta: a random uuid and token
 * secret, and the schema version (init, and a replica's first start). */
int model_put_identity(struct store_txn *t);
/* Whether some index config has an acl_read (true when unsure). */
bool model_any_acl_read(struct store *st);

/* The JSON record at key, parsed; NULL if absent or unparsable. */
struct cJSON *model_get(struct store_txn *t, const char *key);
/* Whether an index config is volatile (absent means yes). */
bool model_index_volatile(const struct cJSON *cfg);
/* Replaces the file record of relpath by a tombstone {"deleted": true}:
 * its URL answers 410 from then on. */
int model_file_tombstone(struct store_txn *t, const char *relpath);
/* Serializes v compactly and stores it at key. */
int model_put(struct store_txn *t, const char *key, const struct cJSON *v);

/* The stage resolution order of user/index (API.md 5.3) read from t.
 * ERR_NOTFOUND if the stage itself does not exist.  Free with sro_free. */
int model_sro(struct store_txn *t, const char *stage, char ***names, bool **mirror, size_t *n);

/* Current UTC time as devpi writes it: "2024-05-01T12:00:03Z". */
void model_now_iso(char out[32]);
/* devpi's log "when": [Y, M, D, h, m, s] in UTC. */
struct cJSON *model_when_now(void);

#endif
