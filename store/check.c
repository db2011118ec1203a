/* check.c — the integrity check behind `devpi-like fsck` (store_check).
 *
 * Everything is read in one read transaction, so the check sees one
 * consistent snapshot even while a server (another process or another
 * thread of this one) keeps committing.  Four passes over that snapshot:
 *
 *   kv         every value NUL-terminated and exactly one JSON value
 *   changelog  keys dense from the oldest kept serial up to meta's
 *              "serial", each entry a JSON object whose "serial" is its key
 *   blobs      per entry, a cursor walk over its chunks (present, full but
 *              the last, none beyond nchunks, sizes adding up) and with
 *              rehash a streaming sha256 over the chunks as they sit in the
 *              map: nothing is copied, so a 1 GB blob costs no heap
 *   chunks     one linear walk; a chunk whose id no blob entry references is
 *              an orphan (or, on a running server, an upload in progress)
 *
 * The only heap that grows with the store is the sorted list of blob ids
 * (id, sha256, flag per entry) that the chunk pass looks ids up in; it also
 * finds two entries sharing one id, which store_blob_delete would turn into
 * a blob with missing chunks.  Problems are counted in the report and
 * described to the caller's callback one line each; the check itself only
 * fails when LMDB cannot read the store.
 */
#include "store/store_int.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"

#define BLOB_REC_LEN 28
#define CHUNK_KEY_LEN 12
#define MSG_MAX 4096              /* bytes in one problem line */
#define BLOB_MSG_MAX 8            /* problem lines per blob before "more" */
#define QUOTE_MAX (STORE_KEY_MAX * 4 + 8)

struct blob_ref {
	uint64_t id;
	uint8_t sha256[32];
	bool bad;                 /* already counted in bad_blobs */
};

struct check {
	MDB_txn *txn;
	struct store *s;
	bool rehash;
	store_check_fn report;
	void *arg;
	store_progress_fn progress; /* per blob: bytes of blobs done, of the total */
	void *parg;
	uint64_t blob_bytes, blob_total;
	struct store_check_report *r;
	int64_t base;             /* serial of the snapshot the changelog starts after, or -1 */
	struct blob_ref *refs;    /* owned */
	size_t nrefs, caprefs;
};

/* What is known about the blob being checked, for its problem lines. */
struct blob_ctx {
	char hex[SHA256_HEX_LEN + 1];
	uint64_t id;
	unsigned nmsg;
	unsigned more;
	bool bad;
};

static void problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats one line (cut at MSG_MAX) and hands it to the callback. */
static void problem(struct check *c, const char *fmt, ...)
{
	char line[MSG_MAX];
	va_list ap;

	if (!c->report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	c->report(c->arg, line);
}

/* (p, n) as a one-line, printable-ASCII string: bytes outside 0x20..0x7e,
 * the quote and the backslash become \xNN; cut after STORE_KEY_MAX bytes. */
static void quote(char out[QUOTE_MAX], const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t o = 0, lim = n > STORE_KEY_MAX ? STORE_KEY_MAX : n;

	for (size_t i = 0; i < lim; i++) {
		unsigned char ch = s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\') {
			out[o++] = (char)ch;
		} else {
			snprintf(out + o, 5, "\\x%02x", ch);
			o += 4;
		}
	}
	if (lim < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* (p, n) parsed if it is exactly one JSON value (surrounding white space
 * allowed), the rule store_put applies; else NULL.  cJSON_Delete it. */
static cJSON *json_parse_exact(const char *p, size_t n)
{
	const char *end = NULL;

	if (n == 0 || memchr(p, '\0', n))
		return NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(p, n, &end, 0);
	if (!j)
		return NULL;
	while (end && end < p + n && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != p + n) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

static bool json_valid(const char *p, size_t n)
{
	cJSON *j = json_parse_exact(p, n);
	bool ok = j != NULL;

	cJSON_Delete(j);
	return ok;
}

/* ---- kv ----------------------------------------------------------------- */

static int check_kv(struct check *c)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char q[QUOTE_MAX];
	int rc = ERR_OK, mrc;

	mrc = mdb_cursor_open(c->txn, c->s->db_kv, &cur);
	if (mrc)
		return store_mdb_rc(mrc, "open cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *val = v.mv_data;
		c->r->records++;
		quote(q, k.mv_data, k.mv_size);
		if (k.mv_size > STORE_KEY_MAX) {
			c->r->bad_records++;
			problem(c, "record '%s': key of %zu bytes (at most %u)", q, k.mv_size, STORE_KEY_MAX);
		} else if (v.mv_size == 0 || val[v.mv_size - 1] != '\0') {
			c->r->bad_records++;
			problem(c, "record '%s': value is not nul-terminated", q);
		} else if (!json_valid(val, v.mv_size - 1)) {
			c->r->bad_records++;
			problem(c, "record '%s': value is not valid json", q);
		}
	}
	if (mrc != MDB_NOTFOUND)
		rc = store_mdb_rc(mrc, "scan records");
	mdb_cursor_close(cur);
	return rc;
}

/* ---- changelog ---------------------------------------------------------- */

static void changelog_problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void changelog_problem(struct check *c, const char *fmt, ...)
{
	char line[MSG_MAX];
	va_list ap;

	c->r->changelog_problems++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	problem(c, "%s", line);
}

static void check_entry(struct check *c, uint64_t serial, const MDB_val *v)
{
	const char *p = v->mv_data;
	cJSON *j = NULL;

	if (v->mv_size == 0 || p[v->mv_size - 1] != '\0') {
		changelog_problem(c, "changelog %" PRIu64 ": entry is not nul-terminated", serial);
		return;
	}
	j = json_parse_exact(p, v->mv_size - 1);
	if (!cJSON_IsObject(j)) {
		changelog_problem(c, "changelog %" PRIu64 ": entry is not a json object", serial);
		goto out;
	}
	const cJSON *sn = cJSON_GetObjectItemCaseSensitive(j, "serial");
	if (!cJSON_IsNumber(sn) || sn->valuedouble != (double)serial) {
		char got[32] = "nothing";
		if (cJSON_IsNumber(sn))
			snprintf(got, sizeof got, "%.17g", sn->valuedouble);
		changelog_problem(c, "changelog %" PRIu64 ": entry says serial %s", serial, got);
		goto out;
	}
	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "changes")))
		changelog_problem(c, "changelog %" PRIu64 ": entry has no \"changes\" object", serial);
out:
	cJSON_Delete(j);
}

static int check_changelog(struct check *c)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t prev = 0;
	int64_t serial = -1;
	bool have = false, meta_ok = true;
	int rc = ERR_OK, mrc;

	/* the current serial, read here rather than with store_meta_serial so
	 * that a malformed value is a finding, not a failure */
	k.mv_size = strlen(STORE_META_SERIAL);
	k.mv_data = (void *)STORE_META_SERIAL;
	mrc = mdb_get(c->txn, c->s->db_meta, &k, &v);
	if (mrc == 0 && (v.mv_size != 8 || store_get_be64(v.mv_data) > INT64_MAX)) {
		meta_ok = false;
		changelog_problem(c, "meta 'serial': malformed value of %zu bytes", v.mv_size);
	} else if (mrc == 0) {
		serial = (int64_t)store_get_be64(v.mv_data);
	} else if (mrc != MDB_NOTFOUND) {
		return store_mdb_rc(mrc, "get serial");
	}

	mrc = mdb_cursor_open(c->txn, c->s->db_changelog, &cur);
	if (mrc)
		return store_mdb_rc(mrc, "open cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		c->r->serials++;
		if (k.mv_size != 8) {
			char q[QUOTE_MAX];
			quote(q, k.mv_data, k.mv_size);
			changelog_problem(c, "changelog: malformed key '%s' of %zu bytes", q, k.mv_size);
			continue;
		}
		uint64_t n = store_get_be64(k.mv_data);
		if (have && n != prev + 1)
			changelog_problem(c, "changelog: serials %" PRIu64 "..%" PRIu64 " missing",
					  prev + 1, n - 1);
		prev = n;
		have = true;
		check_entry(c, n, &v);
	}
	if (mrc != MDB_NOTFOUND) {
		rc = store_mdb_rc(mrc, "scan changelog");
		goto out;
	}
	if (!meta_ok)
		goto out;
	if (serial < 0 && have)
		changelog_problem(c, "meta 'serial': missing, but the changelog reaches serial %" PRIu64, prev);
	else if (serial >= 0 && !have && serial != c->base)
		changelog_problem(c, "changelog: empty, but the current serial is %" PRId64, serial);
	else if (have && prev < (uint64_t)serial)
		changelog_problem(c, "changelog: serials %" PRIu64 "..%" PRId64 " missing below the current serial",
				  prev + 1, serial);
	else if (have && prev > (uint64_t)serial)
		changelog_problem(c, "changelog: serials up to %" PRIu64 " are above the current serial %" PRId64
				  " in meta", prev, serial);
out:
	mdb_cursor_close(cur);
	return rc;
}

/* ---- blobs -------------------------------------------------------------- */

static void blob_problem(struct check *c, struct blob_ctx *b, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One line per problem, "blob <sha256> (id n): ...", at most BLOB_MSG_MAX
 * per blob (the rest are summed up by blob_done). */
static void blob_problem(struct check *c, struct blob_ctx *b, const char *fmt, ...)
{
	char line[MSG_MAX];
	va_list ap;

	b->bad = true;
	if (b->nmsg == BLOB_MSG_MAX) {
		b->more++;
		return;
	}
	b->nmsg++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	problem(c, "blob %s (id %" PRIu64 "): %s", b->hex, b->id, line);
}

static void blob_done(struct check *c, struct blob_ctx *b)
{
	if (b->more)
		problem(c, "blob %s (id %" PRIu64 "): %u more problem(s) not listed", b->hex, b->id, b->more);
	if (b->bad)
		c->r->bad_blobs++;
}

/* Walks the chunks of one blob entry in the snapshot; cur is a cursor on
 * chunks.  Only LMDB read errors are returned; findings go to the report. */
static int check_blob(struct check *c, MDB_cursor *cur, const uint8_t sha256[32], uint64_t size,
		      uint32_t nchunks, uint64_t id, bool *bad)
{
	struct blob_ctx b = { .id = id };
	struct sha256_ctx h = { 0 };
	uint8_t kb[CHUNK_KEY_LEN];
	MDB_val k, v;
	uint64_t expect = 0, sum = 0, extra = 0;
	uint32_t first_extra = 0;
	bool hashing = false;
	int rc = ERR_OK, mrc;

	hex_encode(sha256, 32, b.hex);
	/* the rule of store_blob_finish: ceil(size / chunk) chunks, or one
	 * empty chunk for an empty blob */
	bool shape_ok = (size + STORE_CHUNK_SIZE - 1) / STORE_CHUNK_SIZE == nchunks ||
			(size == 0 && nchunks == 1);
	if (!shape_ok)
		blob_problem(c, &b, "%" PRIu64 " bytes cannot be in %" PRIu32 " chunk(s)", size, nchunks);
	if (c->rehash && shape_ok) {
		sha256_init(&h);
		hashing = true;
	}

	store_be64(kb, id);
	store_be32(kb + 8, 0);
	k.mv_size = sizeof kb;
	k.mv_data = kb;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     mrc == 0 && k.mv_size >= 8 && store_get_be64(k.mv_data) == id;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != CHUNK_KEY_LEN)
			continue;   /* reported by the chunk pass */
		uint32_t idx = store_get_be32((const uint8_t *)k.mv_data + 8);
		if (idx >= nchunks) {
			if (extra++ == 0)
				first_extra = idx;
			continue;
		}
		if (idx > expect) {
			blob_problem(c, &b, "chunks %" PRIu64 "..%" PRIu32 " missing", expect, idx - 1);
			hashing = false;
		}
		expect = (uint64_t)idx + 1;
		sum += v.mv_size;
		if (shape_ok) {
			uint64_t want = expect < nchunks ? STORE_CHUNK_SIZE : size - (uint64_t)idx * STORE_CHUNK_SIZE;
			if (v.mv_size != want) {
				blob_problem(c, &b, "chunk %" PRIu32 " has %zu bytes, expected %" PRIu64,
					     idx, v.mv_size, want);
				hashing = false;
			}
		}
		if (hashing) {
			sha256_update(&h, v.mv_data, v.mv_size);
			c->r->bytes_hashed += v.mv_size;
		}
	}
	if (mrc && mrc != MDB_NOTFOUND) {
		rc = store_mdb_rc(mrc, "scan chunks");
		goto out;
	}
	if (expect < nchunks) {
		blob_problem(c, &b, "chunks %" PRIu64 "..%" PRIu32 " missing", expect, nchunks - 1);
		hashing = false;
	}
	if (extra)
		blob_problem(c, &b, "%" PRIu64 " chunk(s) beyond its %" PRIu32 " (the first is chunk %" PRIu32 ")",
			     extra, nchunks, first_extra);
	if (!b.bad && sum != size)
		blob_problem(c, &b, "chunks hold %" PRIu64 " bytes, expected %" PRIu64, sum, size);
	if (hashing && !b.bad) {
		uint8_t got[32];
		char ghex[SHA256_HEX_LEN + 1];
		sha256_final(&h, got);
		if (memcmp(got, sha256, 32) != 0) {
			hex_encode(got, 32, ghex);
			blob_problem(c, &b, "sha256 mismatch, content hashes to %s", ghex);
		}
	}
out:
	sha256_release(&h);   /* NULL-tolerant; sha256_final already released it */
	blob_done(c, &b);
	*bad = b.bad;
	return rc;
}

static void refs_add(struct check *c, uint64_t id, const uint8_t sha256[32], bool bad)
{
	if (c->nrefs == c->caprefs) {
		c->caprefs = c->caprefs ? c->caprefs * 2 : 256;
		c->refs = xrealloc(c->refs, c->caprefs * sizeof *c->refs);
	}
	struct blob_ref *r = &c->refs[c->nrefs++];
	r->id = id;
	memcpy(r->sha256, sha256, 32);
	r->bad = bad;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct blob_ref *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return memcmp(x->sha256, y->sha256, 32);
}

/* Two entries with one id share chunks: deleting either loses the other's. */
static void check_shared_ids(struct check *c)
{
	for (size_t i = 0, j; i < c->nrefs; i = j) {
		for (j = i + 1; j < c->nrefs && c->refs[j].id == c->refs[i].id; j++)
			;
		if (j - i < 2)
			continue;
		for (size_t m = i; m < j; m++) {
			char hex[SHA256_HEX_LEN + 1];
			hex_encode(c->refs[m].sha256, 32, hex);
			problem(c, "blob %s (id %" PRIu64 "): blob id shared with %zu other blob entr%s",
				hex, c->refs[m].id, j - i - 1, j - i - 1 == 1 ? "y" : "ies");
			if (!c->refs[m].bad)
				c->r->bad_blobs++;
			c->refs[m].bad = true;
		}
	}
}

static int check_blobs(struct check *c)
{
	MDB_cursor *bcur = NULL, *ccur = NULL;
	MDB_val k, v;
	int rc = ERR_OK, mrc;

	mrc = mdb_cursor_open(c->txn, c->s->db_blobs, &bcur);
	if (mrc == 0)
		mrc = mdb_cursor_open(c->txn, c->s->db_chunks, &ccur);
	if (mrc) {
		rc = store_mdb_rc(mrc, "open cursor");
		goto out;
	}
	for (mrc = mdb_cursor_get(bcur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(bcur, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;
		char hex[SHA256_HEX_LEN + 1];
		bool bad = false;

		c->r->blobs++;
		if (c->progress && v.mv_size == BLOB_REC_LEN) {
			c->blob_bytes += store_get_be64(v.mv_data);
			c->progress(c->parg, c->blob_bytes, c->blob_total);
		}
		if (k.mv_size != 32) {
			char q[QUOTE_MAX];
			quote(q, k.mv_data, k.mv_size);
			c->r->bad_blobs++;
			problem(c, "blob entry with a malformed key '%s' of %zu bytes", q, k.mv_size);
			continue;
		}
		if (v.mv_size != BLOB_REC_LEN) {
			hex_encode(k.mv_data, 32, hex);
			c->r->bad_blobs++;
			problem(c, "blob %s: entry of %zu bytes, expected %d", hex, v.mv_size, BLOB_REC_LEN);
			continue;
		}
		uint64_t id = store_get_be64(p + 12);
		rc = check_blob(c, ccur, k.mv_data, store_get_be64(p), store_get_be32(p + 8), id, &bad);
		if (rc)
			goto out;
		refs_add(c, id, k.mv_data, bad);
	}
	if (mrc != MDB_NOTFOUND) {
		rc = store_mdb_rc(mrc, "scan blobs");
		goto out;
	}
	if (c->nrefs)
		qsort(c->refs, c->nrefs, sizeof *c->refs, cmp_ref);
	check_shared_ids(c);
out:
	if (ccur)
		mdb_cursor_close(ccur);
	if (bcur)
		mdb_cursor_close(bcur);
	return rc;
}

/* ---- chunks ------------------------------------------------------------- */

static bool id_referenced(struct check *c, uint64_t id)
{
	size_t lo = 0, hi = c->nrefs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->refs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nrefs && c->refs[lo].id == id;
}

static void orphans_flush(struct check *c, uint64_t id, uint64_t n)
{
	if (n)
		problem(c, "blob id %" PRIu64 ": %" PRIu64 " orphan chunk(s) that no blob entry references"
			" (left by a crash, or an upload in progress)", id, n);
}

static int check_chunks(struct check *c)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t id = 0, norphan = 0;
	bool have = false, orphan = false;
	int rc = ERR_OK, mrc;

	mrc = mdb_cursor_open(c->txn, c->s->db_chunks, &cur);
	if (mrc)
		return store_mdb_rc(mrc, "open cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		c->r->chunks++;
		if (k.mv_size != CHUNK_KEY_LEN) {
			char hex[2 * 16 + 1];
			hex_encode(k.mv_data, k.mv_size > 16 ? 16 : k.mv_size, hex);
			c->r->orphan_chunks++;
			problem(c, "chunk with a malformed key of %zu bytes (%s%s)", k.mv_size, hex,
				k.mv_size > 16 ? "..." : "");
			continue;
		}
		uint64_t kid = store_get_be64(k.mv_data);
		if (!have || kid != id) {
			if (have)
				orphans_flush(c, id, norphan);
			id = kid;
			have = true;
			norphan = 0;
			orphan = !id_referenced(c, id);
		}
		if (orphan) {
			norphan++;
			c->r->orphan_chunks++;
		}
	}
	if (mrc != MDB_NOTFOUND)
		rc = store_mdb_rc(mrc, "scan chunks");
	else if (have)
		orphans_flush(c, id, norphan);
	mdb_cursor_close(cur);
	return rc;
}

/* ---- entry point -------------------------------------------------------- */

int store_check(struct store *s, bool rehash, store_check_fn report, void *arg, struct store_check_report *out)
{
	return store_check_progress(s, rehash, report, arg, NULL, NULL, out);
}

int store_check_progress(struct store *s, bool rehash, store_check_fn report, void *arg, store_progress_fn progress,
			 void *parg, struct store_check_report *out)
{
	struct check c = { .s = s, .rehash = rehash, .report = report, .arg = arg, .progress = progress,
			   .parg = parg, .r = out };
	if (s && progress) {
		MDB_envinfo info;
		MDB_stat st;
		if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0)
			c.blob_total = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;   /* about the content */
	}
	struct store_txn *t = NULL;
	int rc;

	if (!out)
		return ERR_INVAL;
	memset(out, 0, sizeof *out);
	if (!s)
		return ERR_INVAL;
	rc = store_read_begin(s, &t);
	if (rc)
		goto fail;
	c.txn = t->txn;
	rc = store_changelog_base(t, &c.base);
	if (rc)
		goto fail;
	rc = check_kv(&c);
	if (rc)
		goto fail;
	rc = check_changelog(&c);
	if (rc)
		goto fail;
	rc = check_blobs(&c);
	if (rc)
		goto fail;
	rc = check_chunks(&c);
fail:
	store_abort(t);
	xfree(c.refs);
	return rc;
}
