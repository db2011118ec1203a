/* repl.c — the store's side of replication: a replica's records change only
 * by applying its primary's changelog entries or a snapshot, and a primary
 * may trim old entries.
 *
 * A replica's store must stay an exact copy of its primary's at each serial,
 * so store_set_replica makes store_put and store_del refuse (ERR_PERM): any
 * code path that would write a record on a replica fails loudly instead of
 * forking the two stores.  Applying an entry writes its changes with raw
 * LMDB calls and stores the primary's entry text verbatim under the same
 * serial, so the replica's changelog equals the primary's byte for byte
 * (an entry whose changes are all no-ops here, e.g. a key written and
 * deleted in one commit, still takes its serial: no gap).
 *
 * A snapshot replaces every record at once (a replica too far behind a
 * trimmed changelog).  The changelog then starts after the snapshot's serial;
 * meta "store.changelog_base" records that serial so fsck does not call the
 * missing entries a gap.  Trimming deletes the oldest entries of a primary,
 * a bounded number per call so one writer job stays short.
 */
#include "store/store_int.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"

#define META_BASE "store.changelog_base"

void store_set_replica(struct store *s, bool on)
{
	atomic_store(&s->replica, on ? 1 : 0);
}

bool store_is_replica(struct store *s)
{
	return atomic_load(&s->replica) != 0;
}

static int put_serial(struct store_txn *t, int64_t serial)
{
	uint8_t sk[8];
	store_be64(sk, (uint64_t)serial);
	MDB_val mk = { strlen(STORE_META_SERIAL), (void *)STORE_META_SERIAL }, mv = { sizeof sk, sk };
	int mrc = mdb_put(t->txn, t->s->db_meta, &mk, &mv, 0);
	return mrc ? store_txn_fail(t, mrc, "put serial") : ERR_OK;
}

/* Writes key = (val, len) or deletes it (val NULL; absent is fine). */
static int raw_set(struct store_txn *t, const char *key, const char *val, size_t len)
{
	size_t klen;
	int rc = store_key_check(key, &klen), mrc;
	if (rc)
		return rc;
	MDB_val k = { klen, (void *)key };
	if (!val) {
		mrc = mdb_del(t->txn, t->s->db_kv, &k, NULL);
		if (mrc && mrc != MDB_NOTFOUND)
			return store_txn_fail(t, mrc, "delete record");
		t->bytes += klen;
		return ERR_OK;
	}
	return store_kv_write(t, key, klen, val, len);
}

int store_apply_entry(struct store_txn *t, const char *p, size_t n, int64_t *serial)
{
	struct buf b = BUF_INIT;
	cJSON *e = NULL;
	int64_t cur = -1;
	uint8_t sk[8];
	int rc = store_txn_writable(t), mrc;

	*serial = -1;
	if (rc)
		goto out;
	rc = ERR_PARSE;
	if (n == 0 || n >= UINT32_MAX || memchr(p, '\0', n))
		goto out;
	e = cJSON_ParseWithLength(p, n);
	const cJSON *sj = cJSON_GetObjectItemCaseSensitive(e, "serial");
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(e, "changes");
	if (!cJSON_IsObject(e) || !cJSON_IsNumber(sj) || !cJSON_IsObject(ch) || sj->valuedouble < 0 ||
	    sj->valuedouble > 9007199254740992.0 || sj->valuedouble != (double)(int64_t)sj->valuedouble)
		goto out;
	int64_t s = (int64_t)sj->valuedouble;
	if ((rc = store_meta_serial(t->s, t->txn, &cur)))
		goto out;
	if (s != cur + 1) {
		log_err("store: replicated entry has serial %" PRId64 ", expected %" PRId64, s, cur + 1);
		rc = ERR_CONFLICT;
		goto out;
	}
	for (const cJSON *c = ch->child; c; c = c->next) {
		if (!c->string) {
			rc = ERR_PARSE;
			goto out;
		}
		if (cJSON_IsNull(c)) {
			rc = raw_set(t, c->string, NULL, 0);
		} else {
			buf_reset(&b);
			rc = json_print_compact(c, &b);
			if (!rc)
				rc = raw_set(t, c->string, b.p, b.len);
		}
		if (rc)
			goto out;
	}
	store_be64(sk, (uint64_t)s);
	MDB_val k = { sizeof sk, sk }, v = { n + 1, NULL };
	mrc = mdb_put(t->txn, t->s->db_changelog, &k, &v, MDB_APPEND | MDB_RESERVE);
	if (mrc) {
		rc = mrc == MDB_KEYEXIST ? ERR_CORRUPT : store_txn_fail(t, mrc, "append changelog");
		goto out;
	}
	memcpy(v.mv_data, p, n);
	((char *)v.mv_data)[n] = '\0';
	t->bytes += n + 1;
	if ((rc = put_serial(t, s)))
		goto out;
	t->assigned = s;
	*serial = s;
out:
	cJSON_Delete(e);
	buf_release(&b);
	return rc;
}

int store_snapshot_begin(struct store_txn *t)
{
	int rc = store_txn_writable(t), mrc;
	if (rc)
		return rc;
	if ((mrc = mdb_drop(t->txn, t->s->db_kv, 0)))
		return store_txn_fail(t, mrc, "drop records");
	if ((mrc = mdb_drop(t->txn, t->s->db_changelog, 0)))
		return store_txn_fail(t, mrc, "drop changelog");
	return ERR_OK;
}

int store_snapshot_put(struct store_txn *t, const char *key, const char *val, size_t len)
{
	int rc = store_txn_writable(t);
	if (rc)
		return rc;
	if (!val || len == 0 || memchr(val, '\0', len))
		return ERR_INVAL;
	return raw_set(t, key, val, len);
}

int store_snapshot_end(struct store_txn *t, int64_t serial)
{
	uint8_t sk[8];
	int rc = store_txn_writable(t), mrc;
	if (rc)
		return rc;
	if (serial < 0)
		return ERR_INVAL;
	store_be64(sk, (uint64_t)serial);
	MDB_val k = { strlen(META_BASE), (void *)META_BASE }, v = { sizeof sk, sk };
	if ((mrc = mdb_put(t->txn, t->s->db_meta, &k, &v, 0)))
		return store_txn_fail(t, mrc, "put changelog base");
	if ((rc = put_serial(t, serial)))
		return rc;
	t->assigned = serial;
	return ERR_OK;
}

int store_changelog_base(struct store_txn *t, int64_t *base)
{
	MDB_val k = { strlen(META_BASE), (void *)META_BASE }, v;
	*base = -1;
	if (t->err)
		return t->err;
	int mrc = mdb_get(t->txn, t->s->db_meta, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return ERR_OK;
	if (mrc)
		return store_txn_fail(t, mrc, "get changelog base");
	if (v.mv_size != 8 || store_get_be64(v.mv_data) > INT64_MAX)
		return ERR_CORRUPT;
	*base = (int64_t)store_get_be64(v.mv_data);
	return ERR_OK;
}

int store_changelog_oldest(struct store_txn *t, int64_t *oldest)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int64_t serial = -1;
	int rc, mrc;

	*oldest = 0;
	if (t->err)
		return t->err;
	if ((rc = store_meta_serial(t->s, t->txn, &serial)))
		return rc;
	if ((mrc = mdb_cursor_open(t->txn, t->s->db_changelog, &cur)))
		return store_txn_fail(t, mrc, "open cursor");
	mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (mrc == 0 && k.mv_size == 8)
		*oldest = (int64_t)store_get_be64(k.mv_data);
	else if (mrc == MDB_NOTFOUND)
		*oldest = serial + 1;
	else
		rc = mrc ? store_txn_fail(t, mrc, "first changelog entry") : ERR_CORRUPT;
	mdb_cursor_close(cur);
	return rc;
}

int store_changelog_trim(struct store_txn *t, int64_t below, size_t max, size_t *removed)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int64_t serial = -1;
	int rc = store_txn_writable(t), mrc;

	*removed = 0;
	if (rc)
		return rc;
	if ((rc = store_meta_serial(t->s, t->txn, &serial)))
		return rc;
	if (below > serial)
		below = serial;         /* the newest entry always stays */
	if ((mrc = mdb_cursor_open(t->txn, t->s->db_changelog, &cur)))
		return store_txn_fail(t, mrc, "open cursor");
	while (*removed < max && (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size != 8 || (int64_t)store_get_be64(k.mv_data) >= below)
			break;
		t->bytes += v.mv_size;
		if ((mrc = mdb_cursor_del(cur, 0))) {
			rc = store_txn_fail(t, mrc, "trim changelog");
			break;
		}
		(*removed)++;
	}
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = store_txn_fail(t, mrc, "trim changelog");
	mdb_cursor_close(cur);
	return rc;
}
