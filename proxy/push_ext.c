/* push_ext.c — the external push (API.md 6.4): the server itself uploads
 * one version to an outside index with the legacy upload protocol, as
 * twine would, and answers with an actionlog of what each step returned.
 *
 * The steps run one after the other on the request's worker loop through
 * its upstream client (upstream.c, a POST with a streamed body): an
 * optional `:action=submit` (register_project), one `file_upload` per
 * release file, then a `doc_upload` for the doc zip, stopping at the first
 * step not answered 200/201.  Each body is multipart/form-data built as a
 * head (the version's metadata fields and the file part's header) held in
 * memory, the file's bytes read from the blob store as libcurl asks for
 * them (one short read transaction per piece, so a large file is never in
 * memory and no transaction waits on the network), and a closing boundary.
 * Only the first PX_TEXT_MAX bytes of each answer are kept for the result
 * row.  If the client goes away the transfer is cancelled.
 */
#include "proxy/push_ext.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/upstream.h"
#include "store/store.h"

/* bytes of an external index's answer shown in the action log */
#define EXCERPT_MAX 200

#define PX_TEXT_MAX (16u * 1024)             /* answer text kept per step */
#define PX_HEAD_MAX (16u * 1024 * 1024)      /* metadata fields of one form */

enum px_state { PX_REGISTER, PX_FILES, PX_DOC, PX_END, PX_DONE };   /* PX_DONE: answered */
enum px_step { STEP_REGISTER, STEP_UPLOAD, STEP_DOC };

struct pushx {
	struct req *r;
	struct push_src *src;
	char *url, *user, *pass;
	bool register_project;
	enum px_state st;
	size_t next;                  /* next link to look at in PX_FILES */
	enum px_step step;            /* the step in flight */
	const struct push_link *cur;  /* its file, or NULL */
	struct upstream_xfer *x;
	/* the body being sent */
	char boundary[48];
	struct buf head;
	struct buf tail;
	uint64_t blob_id, blob_size;
	uint64_t pos, total;
	/* the answer */
	struct buf text;
	cJSON *rows;
};

static void px_free(struct pushx *px)
{
	push_src_free(px->src);
	xfree(px->url);
	xfree(px->user);
	if (px->pass) {
		memset(px->pass, 0, strlen(px->pass));
		xfree(px->pass);
	}
	buf_release(&px->head);
	buf_release(&px->tail);
	buf_release(&px->text);
	cJSON_Delete(px->rows);
	xfree(px);
}

static void px_close(struct req *r)
{
	struct pushx *px = r->hctx;
	r->hctx = NULL;
	if (!px)
		return;
	/* At shutdown the upstream client is freed first (with its
	 * transfers, silently): then there is nothing left to cancel. */
	if (px->x && r->w->up)
		upstream_cancel(px->x);
	px->x = NULL;
	px_free(px);
}

static const struct req_hooks px_hooks = { NULL, NULL, NULL, px_close };

/* ---- the form ----------------------------------------------------------- */

/* devpi's get_pyversion_filetype: what twine sends for each kind of file. */
static const char *filetype_of(const char *fn, char *pyver, size_t cap)
{
	size_t n = strlen(fn);
	snprintf(pyver, cap, "any");
#define ENDS(s) (n > strlen(s) && !strcasecmp(fn + n - strlen(s), s))
	if (ENDS(".whl")) {
		/* name-ver(-build)?-PY-ABI-PLAT.whl: the third part from the end */
		const char *dashes[3] = { NULL, NULL, NULL };
		for (const char *p = fn; *p; p++)
			if (*p == '-') {
				dashes[0] = dashes[1];
				dashes[1] = dashes[2];
				dashes[2] = p;
			}
		if (dashes[0])
			snprintf(pyver, cap, "%.*s", (int)(dashes[1] - dashes[0] - 1), dashes[0] + 1);
		return "bdist_wheel";
	}
	if (ENDS(".egg") || ENDS(".exe")) {
		const char *py = strstr(fn, "-py");
		if (py) {
			const char *end = strchr(py + 3, '-');
			if (!end)
				end = fn + n - 4;
			if (end > py + 3)
				snprintf(pyver, cap, "%.*s", (int)(end - py - 3), py + 3);
		}
		return ENDS(".egg") ? "bdist_egg" : "bdist_wininst";
	}
	if (ENDS(".msi"))
		return "bdist_msi";
	if (ENDS(".rpm"))
		return "bdist_rpm";
	if (ENDS(".dmg"))
		return "bdist_dmg";
	if (ENDS(".deb"))
		return "bdist_deb";
#undef ENDS
	snprintf(pyver, cap, "source");
	return "sdist";
}

static int add_field(struct pushx *px, const char *name, const char *value)
{
	buf_addf(&px->head, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n", px->boundary, name);
	buf_adds(&px->head, value);
	return buf_adds(&px->head, "\r\n");
}

/* The metadata fields (lists as repeated fields), then the action's. */
static int build_head(struct pushx *px, const char *action, const char *filename)
{
	const cJSON *e;
	int rc = ERR_OK;
	buf_reset(&px->head);
	cJSON_ArrayForEach(e, px->src->meta) {
		if (!e->string || strpbrk(e->string, "\"\r\n"))
			continue;
		if (cJSON_IsString(e)) {
			rc |= add_field(px, e->string, e->valuestring);
		} else if (cJSON_IsArray(e)) {
			const cJSON *v;
			cJSON_ArrayForEach(v, e)
				if (cJSON_IsString(v))
					rc |= add_field(px, e->string, v->valuestring);
		}
	}
	rc |= add_field(px, ":action", action);
	rc |= add_field(px, "protocol_version", "1");
	if (px->step == STEP_UPLOAD) {
		char pyver[64];
		rc |= add_field(px, "filetype", filetype_of(filename, pyver, sizeof pyver));
		rc |= add_field(px, "pyversion", pyver);
		rc |= add_field(px, "sha256_digest", px->cur->sha_hex);
	}
	if (filename) {
		buf_addf(&px->head, "--%s\r\nContent-Disposition: form-data; name=\"content\"; filename=\"", px->boundary);
		for (const char *p = filename; *p; p++)
			buf_addc(&px->head, strchr("\"\r\n\\", *p) ? '_' : *p);
		rc |= buf_adds(&px->head, "\"\r\nContent-Type: application/octet-stream\r\n\r\n");
	}
	buf_reset(&px->tail);
	buf_addf(&px->tail, "%s--%s--\r\n", filename ? "\r\n" : "", px->boundary);
	return rc ? ERR_TOOBIG : ERR_OK;
}

/* upstream read_body: head, then the blob, then the tail. */
static long px_read(void *arg, char *out, size_t n)
{
	struct pushx *px = arg;
	size_t done = 0;
	while (done < n && px->pos < px->total) {
		uint64_t hl = px->head.len, bl = px->blob_size;
		size_t take;
		if (px->pos < hl) {
			take = (size_t)(hl - px->pos) < n - done ? (size_t)(hl - px->pos) : n - done;
			memcpy(out + done, px->head.p + px->pos, take);
		} else if (px->pos < hl + bl) {
			uint64_t off = px->pos - hl;
			take = bl - off < n - done ? (size_t)(bl - off) : n - done;
			struct store_txn *t = NULL;
			if (store_read_begin(px->r->app->store, &t) != ERR_OK)
				return -1;
			ssize_t got = store_blob_read_at(t, px->blob_id, off, out + done, take);
			store_abort(t);
			if (got <= 0)
				return -1;
			take = (size_t)got;
		} else {
			uint64_t off = px->pos - hl - bl;
			take = (size_t)(px->tail.len - off) < n - done ? (size_t)(px->tail.len - off) : n - done;
			memcpy(out + done, px->tail.p + off, take);
		}
		done += take;
		px->pos += take;
	}
	return (long)done;
}

/* ---- the steps ---------------------------------------------------------- */

static void px_next(struct pushx *px);

static void row_exception(struct pushx *px, const char *errmsg)
{
	static const char *const what[] = { "exception on register:", "exception on release upload:",
					     "exception on documentation upload:" };
	cJSON *row = cJSON_CreateArray();
	cJSON_AddItemToArray(row, cJSON_CreateNumber(-1));
	cJSON_AddItemToArray(row, cJSON_CreateString(what[px->step]));
	cJSON_AddItemToArray(row, cJSON_CreateString(errmsg));
	cJSON_AddItemToArray(px->rows, row);
}

static void px_finish(struct pushx *px, bool ok)
{
	px->st = PX_DONE;
	if (!req_alive(px->r))
		return;
	log_info("external push of %s %s from %s to %s: %s", px->src->name, px->src->version, px->src->stage, px->url,
		 ok ? "done" : "failed");
	cJSON *rows = px->rows;
	px->rows = NULL;
	resp_result(px->r, ok ? 200 : 502, "actionlog", rows, NULL);
}

static int px_head(void *arg, long status, const char *eff, const struct upstream_header *h, size_t nh)
{
	return ERR_OK;
}

static int px_data(void *arg, const char *p, size_t n)
{
	struct pushx *px = arg;
	if (px->text.len < PX_TEXT_MAX) {
		size_t take = PX_TEXT_MAX - px->text.len < n ? PX_TEXT_MAX - px->text.len : n;
		buf_add(&px->text, p, take);
	}
	return ERR_OK;
}

static void px_done(void *arg, int rc, long status, const char *errmsg)
{
	struct pushx *px = arg;
	px->x = NULL;
	if (rc) {
		row_exception(px, *errmsg ? errmsg : err_str(rc));
		px_finish(px, false);
		return;
	}
	cJSON *row = cJSON_CreateArray();
	cJSON_AddItemToArray(row, cJSON_CreateNumber((double)status));
	if (px->step == STEP_REGISTER) {
		cJSON_AddItemToArray(row, cJSON_CreateString("register"));
		cJSON_AddItemToArray(row, cJSON_CreateString(px->src->name));
		cJSON_AddItemToArray(row, cJSON_CreateString(px->src->version));
	} else if (px->step == STEP_UPLOAD) {
		cJSON_AddItemToArray(row, cJSON_CreateString("upload"));
		cJSON_AddItemToArray(row, cJSON_CreateString(px->cur->relpath));
		/* a short excerpt of the answer, and only valid UTF-8 (cJSON
		 * would pass other bytes through as invalid JSON) */
		size_t n = px->text.p ? strnlen(px->text.p, px->text.len) : 0;
		if (n > EXCERPT_MAX)
			n = EXCERPT_MAX;
		while (n > 0 && ((unsigned char)px->text.p[n] & 0xC0) == 0x80)
			n--;                /* not inside a character */
		char *ex = xstrndup(px->text.p ? px->text.p : "", n);
		bool text = name_utf8_valid(ex, n) == 1;
		cJSON_AddItemToArray(row, cJSON_CreateString(text ? ex : "(answer is not UTF-8 text)"));
		xfree(ex);
	} else {
		cJSON_AddItemToArray(row, cJSON_CreateString("docfile"));
		cJSON_AddItemToArray(row, cJSON_CreateString(px->src->name));
	}
	cJSON_AddItemToArray(px->rows, row);
	if (status != 200 && status != 201) {
		px_finish(px, false);
		return;
	}
	px_next(px);
}

static const struct upstream_cbs px_cbs = { px_head, px_data, px_done };

/* Starts one step; false (with the failure recorded and answered) if it
 * could not start. */
static bool px_start(struct pushx *px, enum px_step step, const struct push_link *file)
{
	static const char *const actions[] = { "submit", "file_upload", "doc_upload" };
	char ctype[120], *docname = NULL;
	const char *filename = NULL;
	int rc;

	px->step = step;
	px->cur = file;
	px->blob_size = 0;
	px->pos = 0;
	buf_reset(&px->text);
	if (file) {
		struct store_txn *t = NULL;
		struct store_blob b;
		rc = store_read_begin(px->r->app->store, &t);
		if (!rc)
			rc = store_blob_get(t, file->sha256, &b);
		store_abort(t);
		if (rc) {
			row_exception(px, rc == ERR_NOTFOUND ? "the file's content is gone from the store" : err_str(rc));
			px_finish(px, false);
			return false;
		}
		px->blob_id = b.id;
		px->blob_size = b.size;
		if (step == STEP_DOC)
			filename = docname = xasprintf("%s.zip", px->src->name);
		else
			filename = file->filename;
	}
	if (build_head(px, actions[step], filename) != ERR_OK) {
		xfree(docname);
		row_exception(px, "the version's metadata is too large to send");
		px_finish(px, false);
		return false;
	}
	xfree(docname);
	px->total = px->head.len + px->blob_size + px->tail.len;
	snprintf(ctype, sizeof ctype, "Content-Type: multipart/form-data; boundary=%s", px->boundary);
	const char *headers[] = { ctype, "Expect:", "Accept: */*" };
	struct upstream_request rq = {
		.url = px->url,
		.headers = headers,
		.nheaders = 3,
		.username = px->user,
		.password = px->pass,
		.lim = {
			.connect_timeout_ms = 10000,
			.total_timeout_ms = 3600 * 1000L,
			.low_speed_bytes = 1,
			.low_speed_secs = 120,
			.max_body = 4u * 1024 * 1024,
			.max_redirects = -1,
		},
		.read_body = px_read,
		.body_len = px->total,
		/* the caller chose the URL: not a way into our own networks */
		.public_only = !px->r->app->cfg->push_private_networks,
	};
	rc = upstream_fetch(px->r->w->up, &rq, &px_cbs, px, &px->x);
	if (rc) {
		row_exception(px, err_str(rc));
		px_finish(px, false);
		return false;
	}
	return true;
}

/* Starts the next step, or answers when there is none. */
static void px_next(struct pushx *px)
{
	for (;;) {
		switch (px->st) {
		case PX_REGISTER:
			px->st = PX_FILES;
			if (px->register_project) {
				px_start(px, STEP_REGISTER, NULL);
				return;
			}
			break;
		case PX_FILES:
			while (px->next < px->src->nlinks && px->src->links[px->next].rel != PUSH_RELEASE)
				px->next++;
			if (px->next < px->src->nlinks) {
				px_start(px, STEP_UPLOAD, &px->src->links[px->next++]);
				return;
			}
			px->st = PX_DOC;
			break;
		case PX_DOC:
			px->st = PX_END;
			for (size_t i = 0; i < px->src->nlinks; i++) {
				if (px->src->links[i].rel == PUSH_DOCZIP) {
					px_start(px, STEP_DOC, &px->src->links[i]);
					return;
				}
			}
			break;
		case PX_END:
			px_finish(px, true);
			return;
		case PX_DONE:
			return;
		}
	}
}

void push_ext_start(struct req *r, struct push_src *s, const cJSON *req)
{
	uint8_t rnd[SHA256_LEN];
	char hex[33];
	struct pushx *px = xcalloc(1, sizeof *px);
	px->r = r;
	px->src = s;
	px->url = xstrdup(json_get_str(req, "posturl"));
	px->user = xstrdup(json_get_str(req, "username"));
	px->pass = xstrdup(json_get_str(req, "password"));
	const cJSON *reg = cJSON_GetObjectItemCaseSensitive(req, "register_project");
	px->register_project = cJSON_IsTrue(reg) || (cJSON_IsNumber(reg) && reg->valuedouble != 0);
	px->rows = cJSON_CreateArray();
	buf_init(&px->head, PX_HEAD_MAX);
	buf_init(&px->tail, 256);
	buf_init(&px->text, PX_TEXT_MAX + 1);
	if (random_bytes(rnd, 16) != ERR_OK) {
		/* unlikely; the boundary only has to be absent from the form */
		uint64_t seed[2] = { time_mono_ms(), (uint64_t)(uintptr_t)px };
		sha256_buf(seed, sizeof seed, rnd);
	}
	hex_encode(rnd, 16, hex);
	snprintf(px->boundary, sizeof px->boundary, "devpilike%s", hex);
	r->hctx = px;
	r->hooks = &px_hooks;
	log_info("external push of %s %s from %s to %s by %s", s->name, s->version, s->stage, px->url,
		 r->user ? r->user : "anonymous");
	px_next(px);
}
