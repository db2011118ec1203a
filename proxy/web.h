/* web.h — helpers shared by the handlers: URLs, JSON bodies, read
 * transactions, permission checks. */
#ifndef PROXY_WEB_H
#define PROXY_WEB_H

#include <stdbool.h>
#include <stddef.h>

struct req;
struct cJSON;
struct store_txn;
struct buf;

/* The application URL without a trailing slash: --outside-url, or the
 * X-Outside-Url header, else "http://<Host>".  xmalloc'ed. */
char *web_base_url(struct req *r);
/* Parses r->body as a JSON value with bounds; on failure answers 400
 * "Bad request: could not decode json" and returns NULL.  Caller frees. */
struct cJSON *web_json_body(struct req *r);
/* The same, and it must be a JSON object (else 400). */
struct cJSON *web_json_object(struct req *r);
/* Begins a read txn and sets r->serial; on failure answers 500 and returns NULL. */
struct store_txn *web_read_begin(struct req *r);
/* A parsed user / index config record; NULL if absent.  Caller frees. */
struct cJSON *web_get_user(struct store_txn *t, const char *user);
struct cJSON *web_get_index(struct store_txn *t, const char *user, const char *index);
/* Whether r may read the stage user/index (acl_read, perm.h).  Cheap
 * when no index uses acl_read.  If not, answers 401 with a Basic challenge
 * to an anonymous caller (so pip retries with credentials) or 403 (503 if
 * the store cannot be read), and returns false.  A stage that does not exist passes (the handler says
 * 404). */
bool web_read_gate(struct req *r, const char *user, const char *index);
/* Whether r may read stage "user/index" (read through t); true when no
 * index uses acl_read. */
bool web_stage_readable(const struct req *r, struct store_txn *t, const char *stage);
/* Appends r's decoded path segments joined by '/' (a file's relpath for
 * the +f/+e routes) to rel. */
void web_relpath(const struct req *r, struct buf *rel);
/* Sets a 401 challenge (WWW-Authenticate) header on r. */
void web_challenge(struct req *r);

/* A write job of a few records with optional preconditions, for
 * wjob_submit(r, kvjob_run, job, ...). */
#define KVJOB_MAX 8
struct kvjob {
	size_t n;
	char *keys[KVJOB_MAX];          /* owned */
	char *vals[KVJOB_MAX];          /* owned JSON text; NULL = delete */
	size_t lens[KVJOB_MAX];
	char *absent_key;               /* owned; ERR_EXISTS if this key exists */
	char *present_key;              /* owned; ERR_NOTFOUND if this key is missing */
	char *expect_key;               /* owned; ERR_CONFLICT unless its record equals expect */
	struct cJSON *expect;           /* owned */
	/* The answer kvjob_done gives: */
	int ok_status;                  /* e.g. 200, 201 */
	const char *ok_type;            /* envelope type, static */
	struct cJSON *reply;            /* owned; the result sent on success */
	char *ok_msg;                   /* owned; message sent on success (or NULL) */
	char *exists_msg;               /* owned; 409 message for ERR_EXISTS */
	char *notfound_msg;             /* owned; 404 message for ERR_NOTFOUND */
};
struct kvjob *kvjob_new(void);
/* Adds key = JSON of v (v is not consumed). */
void kvjob_put(struct kvjob *j, const char *key, const struct cJSON *v);
int kvjob_run(struct store_txn *t, void *arg);
void kvjob_free(struct kvjob *j);
/* Submits j on r's behalf; answers from the fields above and frees j. */
void kvjob_submit(struct req *r, struct kvjob *j);

/* Appends s percent-encoded for use in a URL path segment. */
void web_add_url_segment(struct buf *b, const char *s);
/* A link from the directory of r's path to the absolute path `target`
 * (segments joined by '/', starting with the user): relative by default,
 * absolute with --absolute-urls or an X-Devpi-Absolute-Urls header. */
void web_add_href(struct req *r, struct buf *b, const char *target);

#endif
