/* conn.h — one client connection and the request being served on it.
 *
 * A connection runs a small state machine (see conn.c): read a request head,
 * route it, stream or collect its body, let the handler answer (possibly
 * later, from a writer-thread completion), write the response, then go on with
 * the next pipelined request or close.  Handlers see only struct req and the
 * resp_* functions below.
 *
 * Lifetime: a struct req is owned by its connection while the connection
 * lives, plus one reference per asynchronous operation in flight (req_ref /
 * req_unref).  When the client goes away, req->conn becomes NULL, the
 * handler's on_close runs, and the req is freed when the last reference
 * drops.  Handlers must check req_alive() before answering from a callback.
 */
#ifndef PROXY_CONN_H
#define PROXY_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct conn;
struct worker;
struct app;
struct http1_request;
struct cJSON;
struct req;

enum method { M_GET, M_HEAD, M_POST, M_PUT, M_PATCH, M_DELETE, M_PUSH, M_OPTIONS, M_OTHER };

/* Streaming hooks a handler may install on its request (all optional). */
struct req_hooks {
	int (*on_body)(struct req *r, const char *p, size_t n);  /* non-zero rc: stop reading; handler answers */
	void (*on_end)(struct req *r);                           /* whole body received */
	void (*on_writable)(struct req *r);                      /* output drained below the low watermark */
	void (*on_close)(struct req *r);                         /* request over (answered or client gone): free hctx */
};

struct req {
	struct conn *conn;              /* NULL once the client is gone */
	struct worker *w;
	struct app *app;
	const struct http1_request *h;  /* valid while conn != NULL */
	enum method m;
	char *method;                   /* owned */
	char *rawpath;                  /* owned: the target without the query */
	char *query;                    /* owned; "" when absent */
	char **segs;                    /* owned: percent-decoded path segments */
	size_t nsegs;
	bool trailing_slash;
	char *user;                     /* authenticated user, or NULL (owned) */
	bool installer;                 /* User-Agent is an installer (API.md 0.7) */
	int64_t serial;                 /* serial reported in X-DEVPI-SERIAL; -2 = current */
	struct buf body;                /* collected body for non-streaming routes */
	void (*handler)(struct req *r); /* runs once the body is collected */
	size_t body_limit;              /* bytes of body the route accepts */
	bool mirror_pass;               /* mirror page refreshes for this request are done */
	bool mirror_list_tried;         /* mirror project lists were refreshed for it */
	bool nocache;                   /* answer with "expire now" caching headers */
	const struct req_hooks *hooks;
	void *hctx;                     /* handler state, freed by hooks->on_close */
	int refs;
	/* response state */
	int status;
	bool head_sent;
	bool finished;
	bool streaming;
	bool close_after;
	bool body_done;
	struct buf hdrs;                /* extra response headers, "Name: value\r\n"... */
	uint64_t bytes_out;
	uint64_t started_ms;
};

void req_ref(struct req *r);
void req_unref(struct req *r);
bool req_alive(const struct req *r);
/* The client's address as text, or NULL (valid while r is alive). */
const char *req_peer(const struct req *r);
/* Case-insensitive request header; NULL if absent or the client is gone. */
const char *req_header(const struct req *r, const char *name, size_t *len);
/* Whether the query string has the parameter `name` (with or without value). */
bool req_query_has(const struct req *r, const char *name);
/* Pauses / resumes reading the request body (flow control for uploads). */
void req_pause_body(struct req *r, bool pause);

/* Adds a response header (copied). */
void resp_header(struct req *r, const char *name, const char *value);
void resp_headerf(struct req *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A whole response.  reason NULL = the standard phrase.  HEAD sends no body. */
void resp_send(struct req *r, int status, const char *reason, const char *ctype, const void *body, size_t len);
/* {"message": msg} as pretty JSON. */
void resp_message(struct req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* {"type": type, "result": result[, "message": msg]} pretty JSON; takes ownership of result. */
void resp_result(struct req *r, int status, const char *type, struct cJSON *result, const char *msg);
/* An upload-style error: the message is the reason phrase and the body is "<status> <message>". */
void resp_reason(struct req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An error in devpi's abort style: JSON if the client accepts JSON, plain text otherwise. */
void resp_abort(struct req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 302 to location (absolute or path). */
void resp_redirect(struct req *r, const char *location);

/* Streaming: send the head with this Content-Length, then resp_write as
 * on_writable asks for more, then resp_end.  resp_abort_stream cuts the
 * connection without completing the body (the client sees a short read). */
void resp_begin(struct req *r, int status, const char *reason, const char *ctype, int64_t content_length);
void resp_write(struct req *r, const void *p, size_t n);
/* Like resp_write, by reference: p stays the caller's until cleanup(p, n,
 * arg) runs (also at once if nothing can be sent). */
void resp_write_ref(struct req *r, const void *p, size_t n, void (*cleanup)(const void *p, size_t n, void *arg),
		    void *arg);
/* Sends n bytes of a libevent file segment (sendfile where possible); the
 * segment is referenced by the output until sent.  ERR_OK, or an error and
 * nothing queued (then send from memory). */
struct evbuffer_file_segment;
int resp_write_segment(struct req *r, struct evbuffer_file_segment *seg, size_t n);
/* Bytes waiting in the connection's output buffer. */
size_t resp_pending(const struct req *r);
void resp_end(struct req *r);
void resp_abort_stream(struct req *r);

/* Accepts a new connection on worker w (called from the listener). */
void conn_accept(struct worker *w, int fd);
/* Closes every connection of w; only after w's loop has stopped. */
void conn_close_all(struct worker *w);

#endif
