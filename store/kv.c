/* kv.c — kv records, meta names, serials and the changelog.
 *
 * Records are JSON text under path-like keys.  Values are stored with a
 * trailing NUL so that what a reader borrows from the map is already a C
 * string (cJSON_Parse can take it directly); a value without it reads as
 * ERR_CORRUPT.  store_put checks that a value parses as JSON, because the
 * changelog entry embeds it verbatim and replicas parse that entry.
 *
 * A write transaction remembers which kv keys it touched (a list in
 * first-change order plus a strset to de-duplicate), not their values: at
 * commit store_changes_finalize reads each key back from the transaction
 * itself, so a key written twice lists its final value and a key written
 * then deleted lists null, without keeping copies of values in memory.
 * Finalizing takes the next serial from meta, appends the changelog entry
 * (MDB_APPEND: serials only grow; a collision means meta and changelog
 * disagree, which is ERR_CORRUPT) and stores the new serial.  For a writer
 * job this runs inside the job's nested transaction, so a job rolled back
 * takes its serial with it and leaves no gap.
 */
#include "store/store_int.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

int store_key_check(const char *key, size_t *len)
{
	if (!key || !*key)
		return ERR_INVAL;
	size_t n = strnlen(key, STORE_KEY_MAX + 1);
	if (n > STORE_KEY_MAX)
		return ERR_TOOBIG;
	*len = n;
	return ERR_OK;
}

/* 1 if (p, n) is exactly one JSON value (surrounding white space allowed). */
static int json_valid(const char *p, size_t n)
{
	const char *end = NULL;

	if (n == 0 || memchr(p, '\0', n))
		return 0;
	cJSON *j = cJSON_ParseWithLengthOpts(p, n, &end, 0);
	if (!j)
		return 0;
	cJSON_Delete(j);
	while (end && end < p + n && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	return end == p + n;
}

static void touch(struct store_txn *t, const char *key, size_t klen)
{
	if (strset_has(&t->seen, key, klen))
		return;
	if (t->nkeys == t->capkeys) {
		t->capkeys = t->capkeys ? t->capkeys * 2 : 16;
		t->keys = xrealloc(t->keys, t->capkeys * sizeof *t->keys);
	}
	char *copy = xstrndup(key, klen);
	t->keys[t->nkeys++] = copy;
	strset_add(&t->seen, copy, klen);
}

void store_changes_release(struct store_txn *t)
{
	for (size_t i = 0; i < t->nkeys; i++)
		xfree(t->keys[i]);
	xfree(t->keys);
	t->keys = NULL;
	t->nkeys = t->capkeys = 0;
	strset_release(&t->seen);
}

/* ---- kv ---------------------------------------------------------------- */

int store_get(struct store_txn *t, const char *key, const char **val, size_t *len)
{
	size_t klen;
	int rc = store_key_check(key, &klen);

	*val = NULL;
	*len = 0;
	if (rc)
		return rc;
	if (t->err)
		return t->err;
	MDB_val k = { klen, (void *)key }, v;
	int mrc = mdb_get(t->txn, t->s->db_kv, &k, &v);
	if (mrc)
		return store_txn_fail(t, mrc, "get record");
	if (v.mv_size == 0 || ((const char *)v.mv_data)[v.mv_size - 1] != '\0') {
		log_err("store: record '%s' is not NUL-terminated", key);
		return ERR_CORRUPT;
	}
	*val = v.mv_data;
	*len = v.mv_size - 1;
	return ERR_OK;
}

int store_put(struct store_txn *t, const char *key, const char *val, size_t len)
{
	size_t klen;
	int rc = store_key_check(key, &klen);

	if (rc)
		return rc;
	rc = store_txn_writable(t);
	if (rc)
		return rc;
	if (atomic_load(&t->s->replica))
		return ERR_PERM;   /* a replica's records come only from its primary */
	if (len >= UINT32_MAX)
		return ERR_TOOBIG;
	if (!val || !json_valid(val, len))
		return ERR_INVAL;
	rc = store_kv_write(t, key, klen, val, len);
	if (rc == ERR_OK)
		touch(t, key, klen);
	return rc;
}

int store_kv_write(struct store_txn *t, const char *key, size_t klen, const char *val, size_t len)
{
	MDB_val k = { klen, (void *)key }, v = { len + 1, NULL };
	if (len >= UINT32_MAX)
		return ERR_TOOBIG;
	int mrc = mdb_put(t->txn, t->s->db_kv, &k, &v, MDB_RESERVE);
	if (mrc)
		return store_txn_fail(t, mrc, "put record");
	memcpy(v.mv_data, val, len);
	((char *)v.mv_data)[len] = '\0';
	t->bytes += klen + len + 1;
	return ERR_OK;
}

int store_del(struct store_txn *t, const char *key)
{
	size_t klen;
	int rc = store_key_check(key, &klen), mrc;

	if (rc)
		return rc;
	rc = store_txn_writable(t);
	if (rc)
		return rc;
	if (atomic_load(&t->s->replica))
		return ERR_PERM;   /* a replica's records come only from its primary */
	MDB_val k = { klen, (void *)key };
	mrc = mdb_del(t->txn, t->s->db_kv, &k, NULL);
	if (mrc)
		return store_txn_fail(t, mrc, "delete record");
	t->bytes += klen;
	touch(t, key, klen);
	return ERR_OK;
}

int store_scan(struct store_txn *t, const char *prefix, store_scan_fn fn, void *arg)
{
	return store_scan_after(t, prefix, NULL, fn, arg);
}

int store_scan_after(struct store_txn *t, const char *prefix, const char *after, store_scan_fn fn, void *arg)
{
	MDB_cursor *cur = NULL;
	char kb[STORE_KEY_MAX + 1];
	size_t plen, alen = 0;
	int rc = ERR_OK, mrc;

	if (!prefix)
		prefix = "";
	plen = strnlen(prefix, STORE_KEY_MAX + 1);
	if (after)
		alen = strnlen(after, STORE_KEY_MAX + 1);
	if (plen > STORE_KEY_MAX || alen > STORE_KEY_MAX)
		return ERR_TOOBIG;
	if (t->err)
		return t->err;
	mrc = mdb_cursor_open(t->txn, t->s->db_kv, &cur);
	if (mrc)
		return store_txn_fail(t, mrc, "open cursor");

	/* start at the prefix, or past after when that sorts later */
	bool past = after && strcmp(after, prefix) >= 0;
	MDB_val k = { past ? alen : plen, (void *)(past ? after : prefix) }, v;
	mrc = mdb_cursor_get(cur, &k, &v, k.mv_size ? MDB_SET_RANGE : MDB_FIRST);
	if (mrc == 0 && past && k.mv_size == alen && memcmp(k.mv_data, after, alen) == 0)
		mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	while (mrc == 0) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size > STORE_KEY_MAX || v.mv_size == 0 ||
		    ((const char *)v.mv_data)[v.mv_size - 1] != '\0') {
			log_err("store: malformed record under '%s'", prefix);
			rc = ERR_CORRUPT;
			goto out;
		}
		memcpy(kb, k.mv_data, k.mv_size);
		kb[k.mv_size] = '\0';
		rc = fn(arg, kb, k.mv_size, v.mv_data, v.mv_size - 1);
		if (rc)
			goto out;
		mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (mrc && mrc != MDB_NOTFOUND)
		rc = store_txn_fail(t, mrc, "scan records");
out:
	mdb_cursor_close(cur);
	return rc;
}

/* ---- meta -------------------------------------------------------------- */

static int meta_reserved(const char *name, size_t n)
{
	return (n == strlen(STORE_META_SERIAL) && memcmp(name, STORE_META_SERIAL, n) == 0) ||
	       (n >= 6 && memcmp(name, "store.", 6) == 0);
}

int store_meta_get(struct store_txn *t, const char *name, const void **val, size_t *len)
{
	size_t n;
	int rc = store_key_check(name, &n);

	*val = NULL;
	*len = 0;
	if (rc)
		return rc;
	if (t->err)
		return t->err;
	MDB_val k = { n, (void *)name }, v;
	int mrc = mdb_get(t->txn, t->s->db_meta, &k, &v);
	if (mrc)
		return store_txn_fail(t, mrc, "get meta");
	*val = v.mv_data;
	*len = v.mv_size;
	return ERR_OK;
}

int store_meta_put(struct store_txn *t, const char *name, const void *val, size_t len)
{
	size_t n;
	int rc = store_key_check(name, &n), mrc;

	if (rc)
		return rc;
	rc = store_txn_writable(t);
	if (rc)
		return rc;
	if (meta_reserved(name, n))
		return ERR_PERM;
	if (!val && len)
		return ERR_INVAL;
	MDB_val k = { n, (void *)name }, v = { len, (void *)val };
	mrc = mdb_put(t->txn, t->s->db_meta, &k, &v, 0);
	if (mrc)
		return store_txn_fail(t, mrc, "put meta");
	t->bytes += n + len;
	return ERR_OK;
}

int store_meta_serial(struct store *s, MDB_txn *txn, int64_t *out)
{
	MDB_val k = { strlen(STORE_META_SERIAL), (void *)STORE_META_SERIAL }, v;
	int mrc = mdb_get(txn, s->db_meta, &k, &v);

	*out = -1;
	if (mrc == MDB_NOTFOUND)
		return ERR_OK;
	if (mrc)
		return store_mdb_rc(mrc, "get serial");
	if (v.mv_size != 8 || store_get_be64(v.mv_data) > INT64_MAX) {
		log_err("store: malformed serial in meta");
		return ERR_CORRUPT;
	}
	*out = (int64_t)store_get_be64(v.mv_data);
	return ERR_OK;
}

/* ---- changelog ---------------------------------------------------------- */

/* Appends (p, n) as a JSON string: quotes, backslashes and control bytes
 * escaped, other bytes as they are. */
static int json_string(struct buf *b, const char *p, size_t n)
{
	int rc = buf_addc(b, '"');
	size_t run = 0;

	for (size_t i = 0; i < n && rc == ERR_OK; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = buf_add(b, p + run, i - run);
		if (rc == ERR_OK)
			rc = c < 0x20 ? buf_addf(b, "\\u%04x", c) : buf_addf(b, "\\%c", c);
		run = i + 1;
	}
	if (rc == ERR_OK)
		rc = buf_add(b, p + run, n - run);
	if (rc == ERR_OK)
		rc = buf_addc(b, '"');
	return rc;
}

int store_changes_finalize(struct store_txn *t)
{
	struct store *s = t->s;
	struct buf b;
	int64_t cur = -1;
	uint8_t sk[8];
	int rc, mrc;

	buf_init(&b, 0);
	if (t->nkeys == 0)
		return ERR_OK;
	rc = store_meta_serial(s, t->txn, &cur);
	if (rc)
		goto fail;
	int64_t next = cur + 1;

	rc = buf_addf(&b, "{\"serial\":%" PRId64 ",\"time\":%.6f,\"changes\":{", next, time_now());
	for (size_t i = 0; i < t->nkeys && rc == ERR_OK; i++) {
		MDB_val k = { strlen(t->keys[i]), t->keys[i] }, v;
		if (i)
			rc = buf_addc(&b, ',');
		if (rc == ERR_OK)
			rc = json_string(&b, k.mv_data, k.mv_size);
		if (rc == ERR_OK)
			rc = buf_addc(&b, ':');
		if (rc)
			break;
		mrc = mdb_get(t->txn, s->db_kv, &k, &v);
		if (mrc == MDB_NOTFOUND) {
			rc = buf_adds(&b, "null");
		} else if (mrc) {
			rc = store_txn_fail(t, mrc, "read back record");
		} else if (v.mv_size == 0) {
			rc = ERR_CORRUPT;
		} else {
			rc = buf_add(&b, v.mv_data, v.mv_size - 1);
		}
	}
	if (rc == ERR_OK)
		rc = buf_adds(&b, "}}");
	if (rc)
		goto fail;

	store_be64(sk, (uint64_t)next);
	MDB_val k = { sizeof sk, sk }, v = { b.len + 1, b.p };
	mrc = mdb_put(t->txn, s->db_changelog, &k, &v, MDB_APPEND);
	if (mrc == MDB_KEYEXIST) {
		log_err("store: changelog already holds serial %" PRId64 " (meta and changelog disagree)", next);
		rc = t->err = ERR_CORRUPT;
		goto fail;
	}
	if (mrc) {
		rc = store_txn_fail(t, mrc, "append changelog");
		goto fail;
	}
	MDB_val mk = { strlen(STORE_META_SERIAL), (void *)STORE_META_SERIAL }, mv = { sizeof sk, sk };
	mrc = mdb_put(t->txn, s->db_meta, &mk, &mv, 0);
	if (mrc) {
		rc = store_txn_fail(t, mrc, "put serial");
		goto fail;
	}
	t->bytes += b.len + 1;
	t->assigned = next;
	rc = ERR_OK;
fail:
	buf_release(&b);
	return rc;
}

int store_changelog_get(struct store_txn *t, int64_t serial, const char **val, size_t *len)
{
	uint8_t sk[8];

	*val = NULL;
	*len = 0;
	if (serial < 0)
		return ERR_NOTFOUND;
	if (t->err)
		return t->err;
	store_be64(sk, (uint64_t)serial);
	MDB_val k = { sizeof sk, sk }, v;
	int mrc = mdb_get(t->txn, t->s->db_changelog, &k, &v);
	if (mrc)
		return store_txn_fail(t, mrc, "get changelog");
	if (v.mv_size == 0 || ((const char *)v.mv_data)[v.mv_size - 1] != '\0') {
		log_err("store: changelog entry %" PRId64 " is not NUL-terminated", serial);
		return ERR_CORRUPT;
	}
	*val = v.mv_data;
	*len = v.mv_size - 1;
	return ERR_OK;
}

static int add_key(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct store_keys *k = arg;
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 16;
		k->keys = xrealloc(k->keys, k->cap * sizeof *k->keys);
	}
	k->keys[k->n++] = xstrndup(key, klen);
	return 0;
}

int store_list_keys(struct store_txn *t, const char *prefix, struct store_keys *out)
{
	memset(out, 0, sizeof *out);
	out->plen = strlen(prefix);
	return store_scan(t, prefix, add_key, out);
}

void store_keys_release(struct store_keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		xfree(k->keys[i]);
	xfree(k->keys);
	memset(k, 0, sizeof *k);
}
