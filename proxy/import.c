/* import.c — an export directory into a new store (see import.h).
 *
 * Three streamed passes over dataindex.json: the dumpversion, then the
 * users, then the indexes (config, version metadata, files).  Each file is
 * copied into the store chunk by chunk while it is hashed, then checked
 * against every hash of its entry before its blob, file record and link are
 * committed.  Records are written the way uploads write them (release.c):
 * relpaths <stage>/+f/<sha256[0:3]>/<sha256[3:16]>/<filename>, tox results
 * beside their release file, links with their logs in the version record.
 */
#include "proxy/import.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/util.h"
#include "config/config.h"
#include "inherit/name.h"
#include "proxy/jstream.h"
#include "proxy/model.h"
#include "store/store.h"

#define RECORD_MAX (16u * 1024 * 1024)   /* one user, config, version or file entry */
#define KEY_MAX 1200
#define REL_MAX 1000

struct imp {
	struct store *st;
	const char *indir;
	int dirfd;                   /* indir, for openat */
	char *buf;                   /* STORE_CHUNK_SIZE */
	struct progress *p;
};

/* ---- small helpers ----------------------------------------------------------- */

/* Names the entry a record read failed in (jstream errors are sticky, so
 * the top level adds only the byte offset). */
static int read_record(struct jstream *js, const char *what, const char *name, cJSON **out)
{
	int rc = jstream_read_value(js, RECORD_MAX, out);
	if (rc == ERR_TOOBIG)
		log_err("import: %s '%.200s': a record over its size bound (%u MiB) or nested too deeply", what, name,
			RECORD_MAX >> 20);
	else if (rc)
		log_err("import: %s '%.200s': not valid JSON", what, name);
	return rc;
}

static int put_record(struct store *st, const char *key, const cJSON *v)
{
	struct store_txn *t = NULL;
	int rc = store_write_begin(st, &t);
	if (rc)
		return rc;
	if ((rc = model_put(t, key, v))) {
		store_abort(t);
		return rc;
	}
	return store_commit(t, NULL);
}

static bool valid_stage(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash || strchr(slash + 1, '/') || (size_t)(slash - s) > 64)
		return false;
	return name_check_user_index(s, (size_t)(slash - s)) == ERR_OK &&
	       name_check_user_index(slash + 1, strlen(slash + 1)) == ERR_OK;
}

/* Opens indir/rel for reading, refusing "..", ".", empty components, an
 * absolute path and symlinks anywhere on the way. */
static int open_relpath(struct imp *im, const char *rel, int *out)
{
	char comp[256];
	int dfd = dup(im->dirfd), fd = -1;
	const char *p = rel;
	if (dfd < 0)
		return ERR_IO;
	if (!*rel || *rel == '/' || strlen(rel) > REL_MAX || strchr(rel, '\\')) {
		close(dfd);
		return ERR_INVAL;
	}
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || n >= sizeof comp || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			close(dfd);
			return ERR_INVAL;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (slash ? O_DIRECTORY : 0);
		fd = openat(dfd, comp, flags);
		close(dfd);
		if (fd < 0)
			return errno == ELOOP ? ERR_INVAL : ERR_NOTFOUND;
		if (!slash)
			break;
		dfd = fd;
		p = slash + 1;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return ERR_INVAL;
	}
	*out = fd;
	return ERR_OK;
}

/* ---- files ------------------------------------------------------------------------ */

struct hashcheck {
	const char *name;
	const char *want;
	EVP_MD_CTX *ctx;
};

/* Copies indir/rel into a new blob, hashing it; checks every hash of
 * `hashes` (name → hex).  *size, sha256 and *blob_id on success. */
static int import_content(struct imp *im, const char *rel, const cJSON *hashes, uint8_t sha[32], uint64_t *size)
{
	struct hashcheck hc[8];
	size_t nh = 0;
	int fd = -1, rc;
	uint64_t id = store_blob_id_new(im->st);
	uint32_t idx = 0;
	struct sha256_ctx s256;
	const cJSON *h;
	*size = 0;
	rc = open_relpath(im, rel, &fd);
	if (rc) {
		log_err("import: file '%s': %s", rel, rc == ERR_NOTFOUND ? "missing" : "not a plain file inside the export");
		return rc;
	}
	cJSON_ArrayForEach(h, hashes) {
		if (!cJSON_IsString(h) || nh == sizeof hc / sizeof hc[0])
			continue;
		const EVP_MD *md = EVP_get_digestbyname(h->string);
		if (!md) {
			log_err("import: file '%s': unknown hash type '%s'", rel, h->string);
			close(fd);
			return ERR_INVAL;
		}
		hc[nh].name = h->string;
		hc[nh].want = h->valuestring;
		hc[nh].ctx = EVP_MD_CTX_new();
		EVP_DigestInit_ex(hc[nh].ctx, md, NULL);
		nh++;
	}
	sha256_init(&s256);
	for (;;) {
		size_t got = 0;
		while (got < STORE_CHUNK_SIZE) {
			ssize_t n = read(fd, im->buf + got, STORE_CHUNK_SIZE - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = ERR_IO;
				break;
			}
			if (n == 0)
				break;
			got += (size_t)n;
		}
		if (rc || (got == 0 && idx > 0))
			break;
		sha256_update(&s256, im->buf, got);
		for (size_t i = 0; i < nh; i++)
			EVP_DigestUpdate(hc[i].ctx, im->buf, got);
		struct store_txn *t = NULL;
		if (!(rc = store_write_begin(im->st, &t))) {
			if ((rc = store_chunk_put(t, id, idx, im->buf, got)))
				store_abort(t);
			else
				rc = store_commit(t, NULL);
		}
		if (rc)
			break;
		idx++;
		*size += got;
		progress_add(im->p, 0, got);
		if (got < STORE_CHUNK_SIZE)
			break;
	}
	close(fd);
	sha256_final(&s256, sha);
	for (size_t i = 0; i < nh; i++) {
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		char hex[2 * EVP_MAX_MD_SIZE + 1];
		EVP_DigestFinal_ex(hc[i].ctx, md, &n);
		EVP_MD_CTX_free(hc[i].ctx);
		hex_encode(md, n, hex);
		if (!rc && strcasecmp(hex, hc[i].want) != 0) {
			log_err("import: file '%s': %s is %s, the export says %s", rel, hc[i].name, hex, hc[i].want);
			rc = ERR_HASH;
		}
	}
	if (!rc && nh == 0) {
		log_err("import: file '%s' has no hashes to check it against", rel);
		rc = ERR_INVAL;
	}
	struct store_txn *t = NULL;
	if (!store_write_begin(im->st, &t)) {
		int frc = rc ? store_blob_discard(t, id) : store_blob_finish(t, id, sha, *size, idx);
		if (frc) {
			store_abort(t);
			rc = rc ? rc : frc;
		} else {
			frc = store_commit(t, NULL);
			rc = rc ? rc : frc;
		}
	} else if (!rc) {
		rc = ERR_STORE;
	}
	return rc;
}

/* Our relpath for an entry, from its type and content hash. */
static int our_relpath(const char *stage, const char *type, const cJSON *f, const char *filename, const char *hex,
		       char *out, size_t cap)
{
	if (strcmp(type, "toxresult") == 0) {
		const char *for_rel = json_get_str(f, "for_entrypath");
		size_t sl = strlen(stage);
		const char *dirend = for_rel ? strrchr(for_rel, '/') : NULL;
		if (!for_rel || strncmp(for_rel, stage, sl) != 0 || strncmp(for_rel + sl, "/+f/", 4) != 0 || !dirend ||
		    strstr(for_rel, "..") || (size_t)(dirend - for_rel) > REL_MAX)
			return ERR_INVAL;
		snprintf(out, cap, "%.*s/%s", (int)(dirend - for_rel), for_rel, filename);
		return ERR_OK;
	}
	snprintf(out, cap, "%s/+f/%.3s/%.13s/%s", stage, hex, hex + 3, filename);
	return ERR_OK;
}

static int import_file(struct imp *im, const char *stage, bool mirror, const cJSON *f)
{
	const char *type = json_get_str(f, "type"), *rel = json_get_str(f, "relpath");
	const char *pname = json_get_str(f, "projectname"), *version = json_get_str(f, "version");
	const cJSON *em = cJSON_GetObjectItemCaseSensitive(f, "entrymapping");
	const cJSON *hashes = cJSON_GetObjectItemCaseSensitive(em, "hashes");
	uint8_t sha[32];
	char hex[SHA256_HEX_LEN + 1], ours[KEY_MAX], key[KEY_MAX + 10], lm[32];
	uint64_t size = 0;
	cJSON *rec = NULL, *ver = NULL, *link = NULL;
	int rc;
	type = type ? type : "releasefile";
	if (!rel || !pname || !version || name_check_project(pname, strlen(pname)) != ERR_OK ||
	    name_check_version(version, strlen(version)) != ERR_OK ||
	    (strcmp(type, "releasefile") && strcmp(type, "doczip") && strcmp(type, "toxresult"))) {
		log_err("import: index %s: a file entry without a valid type, relpath, projectname and version (%.200s)",
			stage, rel ? rel : "?");
		return ERR_INVAL;
	}
	cJSON *from_spec = NULL;
	if (!cJSON_IsObject(hashes)) {
		/* dumpversion 1: only hash_spec "<type>=<hex>" */
		const char *spec = json_get_str(em, "hash_spec");
		const char *eq = spec ? strchr(spec, '=') : NULL;
		from_spec = cJSON_CreateObject();
		if (eq) {
			char hn[32];
			snprintf(hn, sizeof hn, "%.*s", (int)(eq - spec) < 31 ? (int)(eq - spec) : 31, spec);
			cJSON_AddStringToObject(from_spec, hn, eq + 1);
		}
		hashes = from_spec;
	}
	const char *filename = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	if (name_check_filename(filename, strlen(filename)) != ERR_OK) {
		log_err("import: file '%s': invalid filename", rel);
		cJSON_Delete(from_spec);
		return ERR_INVAL;
	}
	rc = import_content(im, rel, hashes, sha, &size);
	cJSON_Delete(from_spec);
	if (rc)
		return rc;
	hex_encode(sha, 32, hex);
	if ((rc = our_relpath(stage, type, f, filename, hex, ours, sizeof ours))) {
		log_err("import: tox result '%s': for_entrypath is not a file of %s", rel, stage);
		return rc;
	}
	char *project = name_normalize_dup(pname, strlen(pname));
	rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "relpath", ours);
	char spec[100];
	snprintf(spec, sizeof spec, "sha256=%s", hex);
	cJSON_AddStringToObject(rec, "hash_spec", spec);
	cJSON *hs = cJSON_AddObjectToObject(rec, "hashes");
	cJSON_AddStringToObject(hs, "sha256", hex);
	const char *lmv = json_get_str(em, "last_modified");
	if (!lmv) {
		time_rfc1123(time(NULL), lm);
		lmv = lm;
	}
	cJSON_AddStringToObject(rec, "last_modified", lmv);
	const char *emp = json_get_str(em, "project");
	cJSON_AddStringToObject(rec, "project", emp && *emp ? emp : pname);
	cJSON_AddStringToObject(rec, "version", version);
	cJSON_AddNumberToObject(rec, "size", (double)size);
	struct store_txn *t = NULL;
	if ((rc = store_write_begin(im->st, &t)))
		goto out;
	snprintf(key, sizeof key, "file/%s", ours);
	rc = model_put(t, key, rec);
	if (!rc && !mirror) {
		snprintf(key, sizeof key, "ver/%s/%s/%s", stage, project, version);
		ver = model_get(t, key);
		if (!ver) {
			ver = cJSON_CreateObject();
			cJSON_AddStringToObject(ver, "name", pname);
			cJSON_AddStringToObject(ver, "version", version);
		}
		cJSON *links = cJSON_GetObjectItemCaseSensitive(ver, "+links");
		if (!cJSON_IsArray(links)) {
			cJSON_DeleteItemFromObjectCaseSensitive(ver, "+links");
			links = cJSON_AddArrayToObject(ver, "+links");
		}
		link = cJSON_CreateObject();
		cJSON_AddStringToObject(link, "rel", type);
		cJSON_AddStringToObject(link, "filename", filename);
		cJSON_AddStringToObject(link, "relpath", ours);
		cJSON_AddStringToObject(link, "hash_spec", spec);
		cJSON_AddItemToObject(link, "hashes", cJSON_Duplicate(hs, 1));
		cJSON_AddNumberToObject(link, "size", (double)size);
		if (strcmp(type, "toxresult") == 0) {
			const char *for_rel = json_get_str(f, "for_entrypath");
			cJSON_AddStringToObject(link, "for_relpath", for_rel);
		}
		const cJSON *log = cJSON_GetObjectItemCaseSensitive(f, "log");
		cJSON *nl = cJSON_IsArray(log) && log->child ? cJSON_Duplicate(log, 1) : cJSON_CreateArray();
		if (!nl->child) {
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "what", "upload");
			cJSON_AddStringToObject(e, "who", "<import>");
			cJSON_AddItemToObject(e, "when", model_when_now());
			cJSON_AddStringToObject(e, "dst", stage);
			cJSON_AddItemToArray(nl, e);
		}
		cJSON_AddItemToObject(link, "log", nl);
		cJSON_AddItemToArray(links, link);
		link = NULL;
		rc = model_put(t, key, ver);
		if (!rc) {
			snprintf(key, sizeof key, "proj/%s/%s", stage, project);
			cJSON *pr = model_get(t, key);
			if (!pr) {
				pr = cJSON_CreateObject();
				cJSON_AddStringToObject(pr, "name", pname);
				rc = model_put(t, key, pr);
			}
			cJSON_Delete(pr);
		}
	}
	if (rc)
		store_abort(t);
	else
		rc = store_commit(t, NULL);
	progress_add(im->p, 1, 0);
out:
	xfree(project);
	cJSON_Delete(rec);
	cJSON_Delete(ver);
	cJSON_Delete(link);
	return rc;
}

/* ---- passes over dataindex.json -------------------------------------------------------- */

static int open_index(struct imp *im, FILE **f, struct jstream *js)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/dataindex.json", im->indir);
	int fd = openat(im->dirfd, "dataindex.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(*f = fdopen(fd, "r"))) {
		if (fd >= 0)
			close(fd);
		log_err("import: cannot read '%s': %s", path, strerror(errno));
		return ERR_NOTFOUND;
	}
	jstream_init_file(js, *f);
	return jstream_object_begin(js);
}

/* Walks the top level, handing the member `want` to fn. */
static int top_member(struct imp *im, const char *want, int (*fn)(struct imp *im, struct jstream *js))
{
	static struct jstream js;
	FILE *f = NULL;
	struct buf key;
	bool done, seen = false;
	buf_init(&key, JSTREAM_KEY_MAX);
	int rc = open_index(im, &f, &js);
	while (!rc && !(rc = jstream_object_next(&js, &key, &done)) && !done) {
		if (strcmp(key.p, want) == 0 && !seen) {
			seen = true;
			rc = fn(im, &js);
		} else {
			rc = jstream_skip_value(&js);
		}
	}
	if (!rc)
		rc = jstream_end(&js);
	if (rc && (rc == ERR_PARSE || rc == ERR_TOOBIG))
		log_err("import: dataindex.json: %s at byte %llu (in or after '%s')",
			rc == ERR_TOOBIG ? "a record over its size bound or nested too deeply" : "not valid JSON",
			(unsigned long long)jstream_offset(&js), key.p ? key.p : "");
	if (!rc && !seen && strcmp(want, "dumpversion") == 0) {
		log_err("import: dataindex.json has no dumpversion");
		rc = ERR_INVAL;
	}
	buf_release(&key);
	if (f)
		fclose(f);
	return rc;
}

static int check_dumpversion(struct imp *im, struct jstream *js)
{
	cJSON *v = NULL;
	int rc = jstream_read_value(js, 100, &v);
	if (!rc && !(cJSON_IsString(v) && (strcmp(v->valuestring, "1") == 0 || strcmp(v->valuestring, "2") == 0))) {
		log_err("import: unsupported dumpversion (devpi-like reads 1 and 2)");
		rc = ERR_INVAL;
	}
	cJSON_Delete(v);
	return rc;
}

static int import_users(struct imp *im, struct jstream *js)
{
	struct buf name;
	bool done;
	buf_init(&name, JSTREAM_KEY_MAX);
	int rc = jstream_object_begin(js);
	while (!rc && !(rc = jstream_object_next(js, &name, &done)) && !done) {
		cJSON *u = NULL;
		if ((rc = read_record(js, "user", name.p, &u)))
			break;
		if (!cJSON_IsObject(u) || name_check_user_index(name.p, name.len) != ERR_OK || name.p[0] == '+') {
			log_err("import: user '%.100s': invalid name or record", name.p);
			rc = ERR_INVAL;
		} else {
			char key[600];
			cJSON_DeleteItemFromObjectCaseSensitive(u, "indexes");
			cJSON_DeleteItemFromObjectCaseSensitive(u, "password");
			cJSON_DeleteItemFromObjectCaseSensitive(u, "username");
			cJSON_AddStringToObject(u, "username", name.p);
			snprintf(key, sizeof key, "user/%s", name.p);
			rc = put_record(im->st, key, u);
			progress_add(im->p, 1, 0);
		}
		cJSON_Delete(u);
	}
	buf_release(&name);
	return rc;
}

/* An index's "projects": {name: {version: metadata}} → project and
 * version records (mirrors: none, their files carry what they need). */
static int import_projects(struct imp *im, struct jstream *js, const char *stage, bool mirror)
{
	char k[KEY_MAX];
	int rc;
	struct buf pname;
	bool pdone;
	buf_init(&pname, JSTREAM_KEY_MAX);
	rc = jstream_object_begin(js);
	while (!rc && !(rc = jstream_object_next(js, &pname, &pdone)) && !pdone) {
		cJSON *vers = NULL;
		if ((rc = read_record(js, "project", pname.p, &vers)))
			break;
		if (!cJSON_IsObject(vers) || name_check_project(pname.p, pname.len) != ERR_OK) {
			log_err("import: index %s: project '%.100s': invalid name or record", stage, pname.p);
			rc = ERR_INVAL;
		}
		char *project = rc ? NULL : name_normalize_dup(pname.p, pname.len);
		const cJSON *v;
		cJSON_ArrayForEach(v, (rc || mirror ? NULL : vers)) {
			if (!cJSON_IsObject(v) || name_check_version(v->string, strlen(v->string)) != ERR_OK) {
				log_err("import: index %s: %s version '%.100s': invalid", stage, pname.p, v->string);
				rc = ERR_INVAL;
				break;
			}
			cJSON *meta = cJSON_Duplicate(v, 1);
			cJSON_DeleteItemFromObjectCaseSensitive(meta, "+links");
			cJSON_DeleteItemFromObjectCaseSensitive(meta, "+elinks");
			cJSON_AddItemToObject(meta, "+links", cJSON_CreateArray());
			snprintf(k, sizeof k, "ver/%s/%s/%s", stage, project, v->string);
			rc = put_record(im->st, k, meta);
			cJSON_Delete(meta);
			if (rc)
				break;
		}
		if (!rc && project && !mirror) {
			cJSON *pr = cJSON_CreateObject();
			cJSON_AddStringToObject(pr, "name", pname.p);
			snprintf(k, sizeof k, "proj/%s/%s", stage, project);
			rc = put_record(im->st, k, pr);
			cJSON_Delete(pr);
		}
		xfree(project);
		cJSON_Delete(vers);
	}
	buf_release(&pname);
	return rc;
}

/* One index: {"indexconfig", "projects", "files"} in any order. */
static int import_index(struct imp *im, struct jstream *js, const char *stage)
{
	struct buf key;
	bool done, mirror = false, have_cfg = false;
	char k[KEY_MAX];
	buf_init(&key, JSTREAM_KEY_MAX);
	int rc = jstream_object_begin(js);
	while (!rc && !(rc = jstream_object_next(js, &key, &done)) && !done) {
		if (strcmp(key.p, "indexconfig") == 0) {
			cJSON *cfg = NULL;
			if ((rc = read_record(js, "the indexconfig of", stage, &cfg)))
				break;
			const char *type = json_get_str(cfg, "type");
			if (!cJSON_IsObject(cfg) || !type || (strcmp(type, "stage") && strcmp(type, "mirror"))) {
				log_err("import: index %s: unknown index type '%s'", stage, type ? type : "?");
				rc = ERR_INVAL;
			} else {
				mirror = strcmp(type, "mirror") == 0;
				cJSON *legacy = cJSON_DetachItemFromObjectCaseSensitive(cfg, "pypi_whitelist");
				if (legacy && !cJSON_GetObjectItemCaseSensitive(cfg, "mirror_whitelist"))
					cJSON_AddItemToObject(cfg, "mirror_whitelist", legacy);
				else
					cJSON_Delete(legacy);
				snprintf(k, sizeof k, "index/%s", stage);
				rc = put_record(im->st, k, cfg);
				have_cfg = true;
			}
			cJSON_Delete(cfg);
		} else if (strcmp(key.p, "projects") == 0) {
			rc = import_projects(im, js, stage, mirror);
		} else if (strcmp(key.p, "files") == 0) {
			bool fdone;
			if (!have_cfg) {
				log_err("import: index %s: files come before its indexconfig", stage);
				rc = ERR_INVAL;
				break;
			}
			rc = jstream_array_begin(js);
			while (!rc && !(rc = jstream_array_next(js, &fdone)) && !fdone) {
				cJSON *f = NULL;
				if (!(rc = read_record(js, "a file entry of", stage, &f)))
					rc = cJSON_IsObject(f) ? import_file(im, stage, mirror, f) : ERR_INVAL;
				cJSON_Delete(f);
			}
		} else {
			rc = jstream_skip_value(js);
		}
	}
	if (!rc && !have_cfg) {
		log_err("import: index %s has no indexconfig", stage);
		rc = ERR_INVAL;
	}
	buf_release(&key);
	return rc;
}

static int import_indexes(struct imp *im, struct jstream *js)
{
	struct buf stage;
	bool done;
	buf_init(&stage, JSTREAM_KEY_MAX);
	int rc = jstream_object_begin(js);
	while (!rc && !(rc = jstream_object_next(js, &stage, &done)) && !done) {
		if (!valid_stage(stage.p)) {
			log_err("import: index '%.100s': not a valid user/index name", stage.p);
			rc = ERR_INVAL;
			break;
		}
		char key[600];
		const char *v;
		size_t len;
		struct store_txn *t = NULL;
		snprintf(key, sizeof key, "user/%.*s", (int)(strchr(stage.p, '/') - stage.p), stage.p);
		if (!(rc = store_read_begin(im->st, &t))) {
			if (store_get(t, key, &v, &len) != ERR_OK) {
				log_err("import: index %s: its user does not exist", stage.p);
				rc = ERR_INVAL;
			}
			store_abort(t);
		}
		if (!rc)
			rc = import_index(im, js, stage.p);
	}
	buf_release(&stage);
	return rc;
}

/* Bases that do not exist are dropped, with a warning (as devpi does). */
static int check_bases(struct store *st)
{
	struct store_txn *t = NULL;
	struct store_keys names = { 0 };
	int rc = store_write_begin(st, &t);
	if (rc)
		return rc;
	rc = store_list_keys(t, "index/", &names);
	for (size_t i = 0; !rc && i < names.n; i++) {
		const char *key = names.keys[i], *stage = key + names.plen;
		char bkey[600];
		cJSON *cfg = model_get(t, key);
		cJSON *bases = cJSON_GetObjectItemCaseSensitive(cfg, "bases");
		bool changed = false;
		int at = 0;
		cJSON *b = cJSON_IsArray(bases) ? bases->child : NULL;
		while (b) {
			cJSON *next = b->next;
			const char *v;
			size_t len;
			snprintf(bkey, sizeof bkey, "index/%s", cJSON_IsString(b) ? b->valuestring : "");
			if (!cJSON_IsString(b) || store_get(t, bkey, &v, &len) != ERR_OK) {
				log_warn("import: index %s: base '%s' does not exist; dropped", stage,
					 cJSON_IsString(b) ? b->valuestring : "?");
				cJSON_DeleteItemFromArray(bases, at);
				changed = true;
			} else {
				at++;
			}
			b = next;
		}
		if (changed)
			rc = model_put(t, key, cfg);
		cJSON_Delete(cfg);
		if (rc)
			break;
	}
	store_keys_release(&names);
	if (rc) {
		store_abort(t);
		return rc;
	}
	return store_commit(t, NULL);
}

/* Removes a previous import's leftover: only LMDB's own two files. */
static void remove_partial(const char *dir)
{
	char p[4300];
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

int import_run(const struct config *cfg, const char *indir, struct progress *p)
{
	char tmp[4200];
	bool exists = false;
	struct imp im = { .indir = indir, .dirfd = -1, .p = p };
	struct config c2 = *cfg;
	int rc;
	if (strlen(cfg->serverdir) > 4000)
		return ERR_TOOBIG;
	if ((rc = dir_is_empty(cfg->serverdir, &exists))) {
		log_err("import: serverdir '%s' is not empty; import needs a new store", cfg->serverdir);
		return rc;
	}
	im.dirfd = open(indir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (im.dirfd < 0) {
		log_err("import: cannot open '%s': %s", indir, strerror(errno));
		return ERR_NOTFOUND;
	}
	snprintf(tmp, sizeof tmp, "%s.importing", cfg->serverdir);
	remove_partial(tmp);
	c2.serverdir = tmp;
	struct store_opts o = { .dir = tmp, .map_size = cfg->map_size };
	if ((rc = store_open(&o, &im.st)))
		goto out;
	im.buf = xmalloc(STORE_CHUNK_SIZE);
	if ((rc = top_member(&im, "dumpversion", check_dumpversion)))
		goto out;
	if ((rc = model_init(im.st, &c2)))
		goto out;
	if ((rc = top_member(&im, "users", import_users)))
		goto out;
	if ((rc = top_member(&im, "indexes", import_indexes)))
		goto out;
	rc = check_bases(im.st);
out:
	store_close(im.st);
	im.st = NULL;
	xfree(im.buf);
	if (im.dirfd >= 0)
		close(im.dirfd);
	if (!rc) {
		if (exists)
			rmdir(cfg->serverdir);
		if (rename(tmp, cfg->serverdir) != 0) {
			log_err("import: cannot move the new store into place: %s", strerror(errno));
			rc = ERR_IO;
		}
	}
	if (rc)
		remove_partial(tmp);
	return rc;
}
