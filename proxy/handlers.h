/* handlers.h — the route handlers (one file per group, see each .c).
 *
 * Every handler takes the routed request; r->segs holds the decoded path
 * segments (user, index, ...).  Handlers named *_head run when the request
 * head arrives and may install streaming hooks; the others run once the
 * (bounded) body is collected.
 */
#ifndef PROXY_HANDLERS_H
#define PROXY_HANDLERS_H

struct req;

/* h_users.c */
void h_root_list(struct req *r);         /* GET / */
void h_api(struct req *r);               /* /+api, /<user>/+api, /<user>/<index>/+api */
void h_status(struct req *r);            /* GET /+status */
void h_health(struct req *r);            /* GET /+health */
void h_login(struct req *r);             /* POST /+login */
void h_user_get(struct req *r);          /* GET /<user> */
void h_user_put(struct req *r);          /* PUT /<user> */
void h_user_patch(struct req *r);        /* PATCH /<user> */

/* h_index.c */
void h_index_get(struct req *r);         /* GET /<user>/<index> (JSON config) */
void h_index_put(struct req *r);         /* PUT /<user>/<index> */
void h_index_patch(struct req *r);       /* PATCH /<user>/<index> */

/* h_upload.c */
void h_upload_head(struct req *r);       /* POST /<user>/<index>/ multipart */

/* h_push.c */
void h_push(struct req *r);              /* POST (JSON) or PUSH /<user>/<index> */

/* h_simple.c */
void h_simple_list(struct req *r);       /* +simple/ project list (HTML / PEP 691) */
void h_simple_project(struct req *r);    /* +simple/<project>/ (project in segs[3]) */
void h_simple_refresh(struct req *r);    /* POST +simple/<project>/refresh */

/* h_files.c */
void h_file_get(struct req *r);          /* GET/HEAD /<user>/<index>/+f/<relpath> */

/* h_toxresult.c */
void h_toxresult_post(struct req *r);    /* POST /<user>/<index>/+f/<release relpath> (JSON) */

/* h_project.c */
void h_project_get(struct req *r);       /* GET /<user>/<index>/<project> (JSON) */
void h_version_get(struct req *r);       /* GET /<user>/<index>/<project>/<version> (JSON) */

/* h_yank.c */
void h_version_patch(struct req *r);     /* PATCH /<user>/<index>/<project>/<version> (yank) */

/* h_changelog.c */
void h_changelog(struct req *r);         /* GET /+changelog/<N>[-] (primary, replicas only) */
void h_snapshot(struct req *r);          /* GET /+snapshot (primary, replicas only) */

/* h_authcheck.c */
void h_authcheck(struct req *r);         /* GET /+authcheck (nginx auth_request) */

/* h_delete.c */
void h_user_delete(struct req *r);       /* DELETE /<user> */
void h_index_delete(struct req *r);      /* DELETE /<user>/<index> */
void h_project_delete(struct req *r);    /* DELETE /<user>/<index>/<project>[/<version>] */
void h_file_delete(struct req *r);       /* DELETE /<user>/<index>/+f|+e/<relpath> */

#endif
