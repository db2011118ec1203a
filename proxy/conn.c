/* conn.c — the connection and request state machine on a bufferevent.
 *
 * States: HEAD (waiting for a request head, under the idle or header
 * deadline), BODY (head routed, body bytes going to the handler or into
 * r->body), WAIT (body complete, the handler answers now or later), CLOSING
 * (flush the output, then free).  Every libevent callback is thin: it recovers
 * the conn and calls conn_drive(), which advances the machine.  Nothing is
 * freed from under a callback that may still be on the stack: work that must
 * happen "after this callback" goes through the per-connection kick event.
 *
 * The parser (http1.c) is pure; this file owns all the I/O.  Request bodies
 * are never buffered whole unless the route asked for a bounded body.
 *
 * Writing: the bufferevent's write event is enabled only while output is
 * queued that the socket would not take.  Whatever a pass of the machine
 * queued is written at its end straight away (conn_flush), so a response
 * that fits the socket buffer costs no epoll_ctl and no extra trip through
 * the loop; the rest, and every streamed body, goes out as the socket
 * drains, under the write watermark.
 */
#include "proxy/conn.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "proxy/app.h"
#include "proxy/http1.h"
#include "proxy/router.h"

enum conn_state { CS_HEAD, CS_BODY, CS_WAIT, CS_CLOSING, CS_LINGER };

struct conn {
	struct worker *w;
	struct conn *prev, *next;       /* w->conns */
	struct bufferevent *bev;
	struct event *timer;            /* idle / header deadline */
	struct event *kick;             /* deferred work after a callback */
	struct http1_parser parser;
	enum conn_state st;
	struct req *req;
	bool idle_timer;                /* timer is the idle one (no byte of the next head yet) */
	bool body_paused;
	bool dead;
	bool eof;                       /* the client closed its sending side */
	char peer[64];
};

#define OUT_LOW_WATER (256 * 1024)
#define CORK_MIN_BYTES (64 * 1024)
#define IN_HIGH_WATER (256 * 1024)

static void conn_drive(struct conn *c);
static void conn_free(struct conn *c);

/* ---- request lifetime ------------------------------------------------ */

void req_ref(struct req *r)
{
	r->refs++;
}

static void req_free(struct req *r)
{
	xfree(r->method);
	xfree(r->rawpath);
	xfree(r->query);
	for (size_t i = 0; i < r->nsegs; i++)
		xfree(r->segs[i]);
	xfree(r->segs);
	xfree(r->user);
	buf_release(&r->body);
	buf_release(&r->hdrs);
	xfree(r);
}

void req_unref(struct req *r)
{
	if (r && --r->refs == 0)
		req_free(r);
}

bool req_alive(const struct req *r)
{
	return r->conn != NULL;
}

const char *req_peer(const struct req *r)
{
	return r->conn && r->conn->peer[0] ? r->conn->peer : NULL;
}

/* Ends the connection's hold on r: the handler's on_close runs once. */
static void req_detach(struct req *r)
{
	if (r->hooks && r->hooks->on_close)
		r->hooks->on_close(r);
	r->hooks = NULL;
	r->conn = NULL;
	r->h = NULL;
	req_unref(r);
}

const char *req_header(const struct req *r, const char *name, size_t *len)
{
	if (!r->h)
		return NULL;
	return http1_header(r->h, name, len);
}

bool req_query_has(const struct req *r, const char *name)
{
	size_t n = strlen(name);
	const char *q = r->query;
	while (q && *q) {
		const char *end = strchr(q, '&');
		size_t len = end ? (size_t)(end - q) : strlen(q);
		if (len >= n && strncmp(q, name, n) == 0 && (len == n || q[n] == '='))
			return true;
		q = end ? end + 1 : NULL;
	}
	return false;
}

void req_pause_body(struct req *r, bool pause)
{
	struct conn *c = r->conn;
	if (!c || c->body_paused == pause)
		return;
	c->body_paused = pause;
	if (!pause)
		event_active(c->kick, EV_TIMEOUT, 0);
}

static enum method method_of(const char *m, size_t n)
{
	static const struct { const char *s; enum method m; } tab[] = {
		{ "GET", M_GET }, { "HEAD", M_HEAD }, { "POST", M_POST }, { "PUT", M_PUT },
		{ "PATCH", M_PATCH }, { "DELETE", M_DELETE }, { "PUSH", M_PUSH }, { "OPTIONS", M_OPTIONS },
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (strlen(tab[i].s) == n && memcmp(tab[i].s, m, n) == 0)
			return tab[i].m;
	return M_OTHER;
}

/* ---- response writing ------------------------------------------------ */

void resp_header(struct req *r, const char *name, const char *value)
{
	/* Header values never carry CR/LF: they come from our own code, but
	 * some hold user-controlled text, so strip them defensively. */
	buf_adds(&r->hdrs, name);
	buf_adds(&r->hdrs, ": ");
	for (const char *p = value; *p; p++)
		if (*p != '\r' && *p != '\n')
			buf_addc(&r->hdrs, *p);
	buf_adds(&r->hdrs, "\r\n");
}

void resp_headerf(struct req *r, const char *name, const char *fmt, ...)
{
	char v[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	resp_header(r, name, v);
}

static bool conn_keep_alive(const struct req *r)
{
	return r->conn && r->h && r->h->keep_alive && !r->close_after;
}

void resp_begin(struct req *r, int status, const char *reason, const char *ctype, int64_t content_length)
{
	if (r->head_sent)
		return;
	r->head_sent = true;
	r->status = status;
	if (!r->conn)
		return;
	/* An answer before the whole body arrived ends the connection: the
	 * rest of the body is never read. */
	if (!r->body_done && r->h && (r->h->chunked || r->h->content_length > 0))
		r->close_after = true;
	router_common_headers(r);
	struct evbuffer *out = bufferevent_get_output(r->conn->bev);
	char clean_reason[256];
	size_t k = 0;
	for (const char *p = reason ? reason : http1_reason(status); *p && k < sizeof clean_reason - 1; p++)
		clean_reason[k++] = (*p == '\r' || *p == '\n') ? ' ' : *p;
	clean_reason[k] = '\0';
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, clean_reason);
	if (ctype)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	if (content_length >= 0)
		evbuffer_add_printf(out, "Content-Length: %lld\r\n", (long long)content_length);
	if (!conn_keep_alive(r))
		evbuffer_add(out, "Connection: close\r\n", 19);
	else if (r->h->minor == 0)
		evbuffer_add(out, "Connection: keep-alive\r\n", 24);
	evbuffer_add(out, r->hdrs.p ? r->hdrs.p : "", r->hdrs.len);
	evbuffer_add(out, "\r\n", 2);
	r->streaming = true;
	event_active(r->conn->kick, EV_TIMEOUT, 0);   /* conn_flush */
}

void resp_write(struct req *r, const void *p, size_t n)
{
	if (!r->conn || r->m == M_HEAD || r->finished)
		return;
	evbuffer_add(bufferevent_get_output(r->conn->bev), p, n);
	r->bytes_out += n;
	event_active(r->conn->kick, EV_TIMEOUT, 0);
}

void resp_write_ref(struct req *r, const void *p, size_t n, void (*cleanup)(const void *, size_t, void *),
		    void *arg)
{
	if (!r->conn || r->m == M_HEAD || r->finished || n == 0 ||
	    evbuffer_add_reference(bufferevent_get_output(r->conn->bev), p, n, cleanup, arg) != 0) {
		cleanup(p, n, arg);
		return;
	}
	r->bytes_out += n;
	event_active(r->conn->kick, EV_TIMEOUT, 0);
}

int resp_write_segment(struct req *r, struct evbuffer_file_segment *seg, size_t n)
{
	if (!r->conn || r->m == M_HEAD || r->finished || n == 0)
		return ERR_OK;
	if (evbuffer_add_file_segment(bufferevent_get_output(r->conn->bev), seg, 0, (ev_off_t)n) != 0)
		return ERR_IO;
	r->bytes_out += n;
	event_active(r->conn->kick, EV_TIMEOUT, 0);
	return ERR_OK;
}

size_t resp_pending(const struct req *r)
{
	if (!r->conn)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(r->conn->bev));
}

static void access_log_line(struct req *r)
{
	log_access("%s \"%s %s%s%s\" %d %llu %llums", r->conn ? r->conn->peer : "-",
		   r->method ? r->method : "-", r->rawpath ? r->rawpath : "-",
		   r->query && *r->query ? "?" : "", r->query ? r->query : "", r->status,
		   (unsigned long long)r->bytes_out,
		   (unsigned long long)(time_mono_ms() - r->started_ms));
}

void resp_end(struct req *r)
{
	if (r->finished)
		return;
	r->finished = true;
	r->streaming = false;
	access_log_line(r);
	if (r->conn)
		event_active(r->conn->kick, EV_TIMEOUT, 0);
}

void resp_abort_stream(struct req *r)
{
	if (r->finished)
		return;
	r->finished = true;
	r->close_after = true;
	r->streaming = false;
	if (r->conn) {
		/* Cut the connection: the client must not take a short body as
		 * complete, so drop what is queued and close at once. */
		struct conn *c = r->conn;
		log_warn("aborting response to %s for '%s'", c->peer, r->rawpath ? r->rawpath : "");
		shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
		c->dead = true;
		event_active(c->kick, EV_TIMEOUT, 0);
	}
}

void resp_send(struct req *r, int status, const char *reason, const char *ctype, const void *body, size_t len)
{
	if (r->head_sent)
		return;
	resp_begin(r, status, reason, ctype, (int64_t)len);
	resp_write(r, body, len);
	resp_end(r);
}

void resp_message(struct req *r, int status, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "message", msg);
	struct buf b = BUF_INIT;
	json_print_pretty(o, &b);
	cJSON_Delete(o);
	resp_send(r, status, NULL, "application/json", b.p, b.len);
	buf_release(&b);
}

void resp_result(struct req *r, int status, const char *type, cJSON *result, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	if (msg)
		cJSON_AddStringToObject(o, "message", msg);
	if (result) {
		cJSON_AddItemToObject(o, "result", result);
		cJSON_AddStringToObject(o, "type", type);
	}
	struct buf b = BUF_INIT;
	json_print_pretty(o, &b);
	cJSON_Delete(o);
	resp_send(r, status, NULL, "application/json", b.p, b.len);
	buf_release(&b);
}

void resp_reason(struct req *r, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char body[1100];
	int n = snprintf(body, sizeof body, "%d %s", status, msg);
	resp_send(r, status, msg, "text/plain; charset=utf-8", body, (size_t)n);
}

void resp_abort(struct req *r, int status, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t alen;
	const char *accept = req_header(r, "accept", &alen);
	if (accept && memmem(accept, alen, "application/json", 16)) {
		resp_message(r, status, "%s", msg);
		return;
	}
	char body[2200];
	int n = snprintf(body, sizeof body, "%d %s\n\n%s\n", status, http1_reason(status), msg);
	resp_send(r, status, NULL, "text/plain; charset=utf-8", body, (size_t)n);
}

void resp_redirect(struct req *r, const char *location)
{
	resp_header(r, "Location", location);
	resp_send(r, 302, NULL, "text/plain; charset=utf-8", "", 0);
}

/* ---- the state machine ----------------------------------------------- */

static void timer_arm(struct conn *c, int secs, bool idle)
{
	struct timeval tv = { secs > 0 ? secs : 1, 0 };
	c->idle_timer = idle;
	evtimer_add(c->timer, &tv);
}

static void conn_start_req(struct conn *c)
{
	const struct http1_request *h = &c->parser.req;
	struct req *r = xcalloc(1, sizeof *r);
	r->conn = c;
	r->w = c->w;
	r->app = c->w->app;
	r->h = h;
	r->refs = 1;
	r->serial = -2;
	r->started_ms = time_mono_ms();
	r->m = method_of(h->method, h->method_len);
	r->method = xstrndup(h->method, h->method_len);
	const char *q = memchr(h->target, '?', h->target_len);
	size_t plen = q ? (size_t)(q - h->target) : h->target_len;
	r->rawpath = xstrndup(h->target, plen);
	r->query = q ? xstrndup(q + 1, h->target_len - plen - 1) : xstrdup("");
	buf_init(&r->body, 64 * 1024);
	buf_init(&r->hdrs, 64 * 1024);
	c->req = r;
	c->st = CS_BODY;
	evtimer_del(c->timer);
	struct timeval tv = { c->w->app->cfg->body_timeout, 0 };
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	router_head(r);
	if (!r->head_sent && h->expect_continue && (h->chunked || h->content_length > 0))
		evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

static void conn_error_response(struct conn *c, int status, const char *msg)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct buf h = BUF_INIT;
	char body[256];
	int n = snprintf(body, sizeof body, "%d %s\n", status, msg ? msg : http1_reason(status));
	router_format_common_headers(c->w->app, -2, &h);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Content-Length: %d\r\nConnection: close\r\n%s\r\n%s",
			    status, http1_reason(status), n, h.p, body);
	buf_release(&h);
	log_access("%s \"-\" %d (%s)", c->peer, status, msg ? msg : "");
	c->st = CS_CLOSING;
}

/* The current request is over on our side: the response is queued and the
 * whole body was read (or the connection must close). */
static void conn_req_done(struct conn *c)
{
	struct req *r = c->req;
	bool keep = conn_keep_alive(r);
	c->req = NULL;
	req_detach(r);
	if (!keep) {
		c->st = CS_CLOSING;
		return;
	}
	http1_parser_reset(&c->parser);
	c->st = CS_HEAD;
	c->body_paused = false;
	/* the timeouts are (none, write) since the body ended (HTTP1_DONE) */
	timer_arm(c, c->w->app->cfg->idle_timeout, true);
	bufferevent_enable(c->bev, EV_READ);
}

static void conn_body(struct conn *c, const char *p, size_t n)
{
	struct req *r = c->req;
	if (r->finished)
		return;         /* answered early: discard */
	if (r->hooks && r->hooks->on_body) {
		if (r->hooks->on_body(r, p, n) != ERR_OK && !r->finished)
			resp_reason(r, 400, "bad request body");
		return;
	}
	if (n > r->body_limit - r->body.len || buf_add(&r->body, p, n) != ERR_OK) {
		r->close_after = true;
		resp_message(r, 413, "request body too large for this route (at most %zu bytes)", r->body_limit);
	}
}

static void conn_parse(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (!c->dead && (c->st == CS_HEAD || c->st == CS_BODY) && !c->body_paused) {
		if (c->req && c->req->finished && c->req->close_after && c->st == CS_BODY) {
			/* Answered before the body was read: stop here. */
			break;
		}
		/* During a request the parser may have an event without input
		 * (the end of a body-less message), so call it with none. */
		struct evbuffer_iovec v = { NULL, 0 };
		size_t avail = evbuffer_get_length(in);
		if (avail)
			evbuffer_peek(in, -1, NULL, &v, 1);
		else if (c->st != CS_BODY)
			break;
		/* Output back-pressure: a client that pipelines requests but
		 * does not read the answers gets no more parsed. */
		if (c->st == CS_HEAD && evbuffer_get_length(bufferevent_get_output(c->bev)) > OUT_LOW_WATER)
			break;
		if (c->st == CS_HEAD && c->idle_timer)
			timer_arm(c, c->w->app->cfg->header_timeout, false);
		size_t consumed = 0, blen = 0;
		const char *body = NULL;
		enum http1_event ev = http1_parse(&c->parser, v.iov_base, v.iov_len, &consumed, &body, &blen);
		switch (ev) {
		case HTTP1_NEED_MORE:
			evbuffer_drain(in, consumed);
			if (consumed == 0)
				return;  /* no input, or no progress: wait for bytes */
			break;
		case HTTP1_HEADERS:
			evbuffer_drain(in, consumed);
			conn_start_req(c);
			break;
		case HTTP1_BODY:
			conn_body(c, body, blen);
			evbuffer_drain(in, consumed);
			break;
		case HTTP1_DONE: {
			evbuffer_drain(in, consumed);
			struct req *r = c->req;
			c->st = CS_WAIT;
			r->body_done = true;
			struct timeval wtv = { c->w->app->cfg->body_timeout, 0 };
			bufferevent_set_timeouts(c->bev, NULL, &wtv);
			if (!r->finished) {
				if (r->hooks && r->hooks->on_end)
					r->hooks->on_end(r);
				else if (r->handler)
					r->handler(r);
				else if (!r->head_sent)
					resp_message(r, 404, "not found");
			}
			break;
		}
		case HTTP1_ERROR:
			evbuffer_drain(in, evbuffer_get_length(in));
			if (c->req && c->req->head_sent) {
				c->req->close_after = true;
				c->st = CS_CLOSING;
			} else {
				conn_error_response(c, c->parser.error_status, c->parser.error_msg);
			}
			break;
		}
	}
}

/* Writes what is queued now, without waiting for the loop; the write event
 * is armed only for what the socket did not take, or while a streamed body
 * wants more (its on_writable runs from on_write). */
static void conn_flush(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	bool more = c->req && c->req->streaming && !c->req->finished;
	if (evbuffer_get_length(out) > 0) {
		/* a socket bufferevent keeps its output's front frozen for
		 * everyone but its own write callback, which thaws it the same
		 * way around its write */
		int fd = bufferevent_getfd(c->bev);
		/* A large answer goes out as a head (writev) and a body
		 * (sendfile): corked, they leave in full segments, not as a
		 * small packet first (nginx's tcp_nopush) */
		int cork = evbuffer_get_length(out) >= CORK_MIN_BYTES;
		if (cork)
			setsockopt(fd, IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
		evbuffer_unfreeze(out, 1);
		/* one call stops at a file segment (memory goes by writev,
		 * files by sendfile): go on while the socket takes it */
		size_t budget = 1024 * 1024;
		while (budget > 0 && evbuffer_get_length(out) > 0) {
			int n = evbuffer_write_atmost(out, fd, (ev_ssize_t)budget);
			if (n <= 0)
				break;
			budget -= (size_t)n < budget ? (size_t)n : budget;
		}
		evbuffer_freeze(out, 1);
		if (cork) {
			cork = 0;
			setsockopt(fd, IPPROTO_TCP, TCP_CORK, &cork, sizeof cork);
		}
		if (evbuffer_get_length(out) > 0)
			more = true;    /* EAGAIN, a short write, or an error the
					 * bufferevent will meet again and report */
	}
	if (more)
		bufferevent_enable(c->bev, EV_WRITE);
}

static void conn_drive(struct conn *c)
{
	if (c->dead) {
		conn_free(c);
		return;
	}
	conn_parse(c);
	if (c->req && c->req->finished && (c->req->body_done || c->req->close_after)) {
		if (!c->req->body_done)
			c->req->close_after = true;
		conn_req_done(c);
		if (c->st == CS_HEAD)
			conn_parse(c);
	}
	if (!c->dead)
		conn_flush(c);
	/* After the client's EOF: once every complete request it sent is
	 * answered, flush and close. */
	if (c->eof && c->st == CS_HEAD && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
		c->st = CS_CLOSING;
	if (c->st == CS_CLOSING && c->eof && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_free(c);
		return;
	}
	if (c->st == CS_CLOSING && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		/* Lingering close: half-close our side, then read and discard
		 * for a moment, so a client still sending a body it will never
		 * get to finish reads our answer instead of a reset. */
		shutdown(bufferevent_getfd(c->bev), SHUT_WR);
		c->st = CS_LINGER;
		timer_arm(c, 2, true);
	}
	if (c->st == CS_LINGER) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		bufferevent_enable(c->bev, EV_READ);
		return;
	}
	if (c->st == CS_CLOSING) {
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	/* Apply back-pressure: stop reading while the body is paused or the
	 * request is being answered. */
	bool out_full = evbuffer_get_length(bufferevent_get_output(c->bev)) > OUT_LOW_WATER;
	if (!c->eof && ((c->st == CS_HEAD && !out_full) || (c->st == CS_BODY && !c->body_paused)))
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

/* ---- libevent callbacks: thin ----------------------------------------- */

static void on_read(struct bufferevent *bev, void *arg)
{
	conn_drive(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);     /* re-armed by conn_flush */
	if (c->req && c->req->streaming && !c->req->finished && c->req->hooks && c->req->hooks->on_writable) {
		c->req->hooks->on_writable(c->req);
		return;
	}
	if (c->st == CS_CLOSING || c->st == CS_HEAD)
		conn_drive(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_TIMEOUT)
		log_info("closing connection from %s: %s timed out", c->peer,
			 (what & BEV_EVENT_READING) ? "read" : "write");
	/* A half-close (EOF on reading) still gets the answers to what was
	 * sent, unless it cut a request body short. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && c->st != CS_LINGER &&
	    !(c->st == CS_BODY && c->req && !c->req->body_done && !c->req->finished)) {
		c->eof = true;
		if (c->req)
			c->req->close_after = true;
		bufferevent_disable(c->bev, EV_READ);
		conn_drive(c);
		return;
	}
	conn_free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (!c->idle_timer)
		log_info("closing connection from %s: request head not received in time", c->peer);
	conn_free(c);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	conn_drive(arg);
}

static void conn_free(struct conn *c)
{
	if (c->req) {
		struct req *r = c->req;
		c->req = NULL;
		r->close_after = true;
		req_detach(r);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		c->w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	http1_parser_release(&c->parser);
	event_free(c->timer);
	event_free(c->kick);
	bufferevent_free(c->bev);
	atomic_fetch_sub(&c->w->app->nconns, 1);
	xfree(c);
}

void conn_accept(struct worker *w, int fd)
{
	struct app *a = w->app;
	if (atomic_fetch_add(&a->nconns, 1) >= a->cfg->max_connections) {
		atomic_fetch_sub(&a->nconns, 1);
		static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		ssize_t wr = write(fd, busy, sizeof busy - 1);
		(void)wr;
		close(fd);
		return;
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->w = w;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		evutil_inet_ntop(ss.ss_family,
				 ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
							  : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
				 c->peer, sizeof c->peer);
	c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(w->base, on_timer, c);
	c->kick = event_new(w->base, -1, 0, on_kick, c);
	struct http1_limits lim = {
		.max_request_line = 8192,
		.max_header_bytes = 32768,
		.max_headers = 100,
		.max_body = a->cfg->max_upload_size,
	};
	http1_parser_init(&c->parser, &lim);
	c->st = CS_HEAD;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW_WATER, 0);
	/* libevent writes and reads at most 16 KiB per call by default: a
	 * page just over that would cost a second trip through the loop */
	bufferevent_set_max_single_write(c->bev, 1024 * 1024);
	bufferevent_set_max_single_read(c->bev, 256 * 1024);
	bufferevent_setwatermark(c->bev, EV_READ, 0, IN_HIGH_WATER);
	timer_arm(c, a->cfg->header_timeout, false);
	bufferevent_disable(c->bev, EV_WRITE);  /* a new bufferevent has it on */
	bufferevent_enable(c->bev, EV_READ);
}

void conn_close_all(struct worker *w)
{
	while (w->conns)
		conn_free(w->conns);
}
