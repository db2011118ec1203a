/* fsck.c — integrity check of a serverdir (see fsck.h).
 *
 * store_check() covers what the store knows (records parse, serials have no
 * gaps, blobs are complete and re-hash to their sha256, no orphan chunks);
 * this file adds the cross-record checks: every live file record points at
 * a blob of the recorded size, and every release link of a version record
 * has a live file record.  Everything is read in short read transactions.
 */
#include "proxy/fsck.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/util.h"
#include "store/store.h"

struct fsck_ctx {
	FILE *out;
	uint64_t problems;
	uint64_t files;
	struct store_txn *t;
};

static void problem(struct fsck_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fsck_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fsck: ", c->out);
	vfprintf(c->out, fmt, ap);
	fputc('\n', c->out);
	va_end(ap);
	c->problems++;
}

static void on_store_problem(void *arg, const char *msg)
{
	struct fsck_ctx *c = arg;
	fprintf(c->out, "fsck: %s\n", msg);
}

static bool blob_ok(struct fsck_ctx *c, const char *what, const char *key, const char *hex, const cJSON *size)
{
	uint8_t sha[32];
	struct store_blob b;
	if (!hex || hex_decode(hex, strlen(hex), sha, 32) != ERR_OK) {
		problem(c, "%s '%s' has no valid sha256", what, key);
		return false;
	}
	if (store_blob_get(c->t, sha, &b) != ERR_OK) {
		problem(c, "%s '%s': blob %s is missing", what, key, hex);
		return false;
	}
	if (cJSON_IsNumber(size) && (uint64_t)size->valuedouble != b.size) {
		problem(c, "%s '%s': size %.0f, blob has %llu bytes", what, key, size->valuedouble,
			(unsigned long long)b.size);
		return false;
	}
	return true;
}

static int check_file(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct fsck_ctx *c = arg;
	cJSON *rec = cJSON_ParseWithLength(val, vlen);
	c->files++;
	if (!rec) {
		problem(c, "file record '%.*s' does not parse", (int)klen, key);
		return 0;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "deleted"))) {
		blob_ok(c, "file record", key, json_get_str(cJSON_GetObjectItemCaseSensitive(rec, "hashes"), "sha256"),
			cJSON_GetObjectItemCaseSensitive(rec, "size"));
		const char *core = json_get_str(rec, "core_metadata_sha256");
		if (core)
			blob_ok(c, "core metadata of", key, core, NULL);
	}
	cJSON_Delete(rec);
	return 0;
}

static int check_version(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct fsck_ctx *c = arg;
	cJSON *rec = cJSON_ParseWithLength(val, vlen);
	if (!rec) {
		problem(c, "version record '%.*s' does not parse", (int)klen, key);
		return 0;
	}
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(rec, "+links")) {
		const char *rel = json_get_str(l, "relpath");
		char fkey[1200];
		const char *v;
		size_t len;
		if (!rel) {
			problem(c, "version record '%.*s' has a link without relpath", (int)klen, key);
			continue;
		}
		snprintf(fkey, sizeof fkey, "file/%s", rel);
		cJSON *f = store_get(c->t, fkey, &v, &len) == ERR_OK ? cJSON_ParseWithLength(v, len) : NULL;
		if (!f || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "deleted")))
			problem(c, "version record '%.*s' links '%s', which has no live file record", (int)klen, key, rel);
		cJSON_Delete(f);
	}
	cJSON_Delete(rec);
	return 0;
}

int fsck_run(struct store *st, bool rehash, FILE *out, uint64_t *problems)
{
	struct fsck_ctx c = { out, 0, 0, NULL };
	struct store_check_report rep;
	struct progress p;
	progress_start(&p, "fsck", 0, 0);
	p.tty = p.tty && out == stdout;      /* only the command draws */
	int rc = store_check_progress(st, rehash, on_store_problem, &c, progress_bytes, &p, &rep);
	if (p.tty)
		fputs("\r\033[K", stderr);
	if (rc)
		return rc;
	c.problems += rep.bad_records + rep.changelog_problems + rep.bad_blobs + rep.orphan_chunks;
	if ((rc = store_read_begin(st, &c.t)))
		return rc;
	if (!rc)
		rc = store_scan(c.t, "file/", check_file, &c);
	if (!rc)
		rc = store_scan(c.t, "ver/", check_version, &c);
	store_abort(c.t);
	fprintf(out, "fsck: %llu records, %llu serials, %llu files, %llu blobs (%llu bytes hashed), %llu problems\n",
		(unsigned long long)rep.records, (unsigned long long)rep.serials, (unsigned long long)c.files,
		(unsigned long long)rep.blobs, (unsigned long long)rep.bytes_hashed, (unsigned long long)c.problems);
	*problems = c.problems;
	return rc;
}
