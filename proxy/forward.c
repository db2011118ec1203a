/* forward.c — a replica's writes, proxied to its primary (see forward.h).
 *
 * One struct fwd per forwarded request, in one of three states: PROXY (the
 * transfer to the primary runs: request body in, answer out), WAIT (the
 * answer is in, the local serial is not yet at the primary's) and DONE.
 * The request body flows client → evbuffer → libcurl's read callback with
 * back-pressure both ways: over FWD_IN_HIGH buffered bytes the client's
 * body is paused (req_pause_body), and an empty buffer pauses the upload
 * (UPSTREAM_READ_PAUSE) until the client sends more; each side resumes the
 * other.  The answer is small (JSON, an upload's status line) and is
 * collected whole, bounded, because it may have to wait for replication
 * before the client sees any of it.
 *
 * Lifetime: the fwd is r->hctx and is freed by the request's on_close,
 * which also cancels the transfer; while a serial wait is pending the wait
 * holds the request and the fwd is freed when it ends instead.
 */
#include "proxy/forward.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/http1.h"
#include "proxy/serialwait.h"
#include "proxy/upstream.h"
#include "proxy/web.h"

#define FWD_RESP_MAX (16u * 1024 * 1024)   /* the primary's answer body */
#define FWD_IN_HIGH (1024 * 1024)          /* pause the client above this ... */
#define FWD_IN_LOW (256 * 1024)            /* ... resume it below this */
#define FWD_HDRS_MAX 120                   /* client headers (http1 allows 100) + ours */

enum fwd_state { FS_PROXY, FS_WAIT, FS_DONE };

struct fwd {
	struct req *r;
	enum fwd_state st;
	struct upstream_xfer *x;
	struct event *timer;            /* no progress within proxy_timeout */
	int timeout_s;
	/* request body */
	struct evbuffer *in;
	bool body_ended;                /* the client's body is all in `in` */
	bool send_paused;               /* read_body said UPSTREAM_READ_PAUSE */
	bool client_paused;             /* we paused the client's body */
	bool closed;                    /* on_close ran during the serial wait */
	/* the primary's answer */
	long status;
	char *reason;
	char *ctype;
	struct buf hdrs;                /* "Name:value\n" lines to pass on (bounded by
					   upstream.c's bound on the response head) */
	struct buf body;
	int64_t serial;                 /* its X-DEVPI-SERIAL, -1 if none */
};

/* ---- small helpers ---- */

static bool name_eq(const char *n, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(n, want, len) == 0;
}

/* Hop-by-hop headers (RFC 9110 7.6.1 and the usual extras), never passed on. */
static bool hop_by_hop(const char *n, size_t len)
{
	static const char *const names[] = { "connection", "keep-alive", "te", "trailer", "transfer-encoding",
					     "upgrade", "expect" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (name_eq(n, len, names[i]))
			return true;
	return len >= 6 && strncasecmp(n, "proxy-", 6) == 0;
}

/* Whether the Connection header (v, vlen) lists the name (n, len). */
static bool connection_lists(const char *v, size_t vlen, const char *n, size_t len)
{
	size_t i = 0;
	while (v && i < vlen) {
		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < vlen && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (i > s && i - s == len && strncasecmp(v + s, n, len) == 0)
			return true;
	}
	return false;
}

static bool is_token_name(const char *n, size_t len)
{
	if (len == 0 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

static void fwd_free(struct fwd *f)
{
	if (!f)
		return;
	upstream_cancel(f->x);
	if (f->timer)
		event_free(f->timer);
	if (f->in)
		evbuffer_free(f->in);
	xfree(f->reason);
	xfree(f->ctype);
	buf_release(&f->hdrs);
	buf_release(&f->body);
	xfree(f);
}

static void arm_timer(struct fwd *f)
{
	struct timeval tv = { f->timeout_s, 0 };
	evtimer_add(f->timer, &tv);
}

/* Ends the exchange with our own error; the transfer (if any) is dropped. */
static void fwd_fail(struct fwd *f, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fwd_fail(struct fwd *f, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	upstream_cancel(f->x);
	f->x = NULL;
	if (f->timer)
		evtimer_del(f->timer);
	f->st = FS_DONE;
	log_warn("forward %s %s: %s", f->r->method, f->r->rawpath, msg);
	if (req_alive(f->r) && !f->r->head_sent) {
		resp_header(f->r, "X-DEVPI-PROXY", "replica");
		resp_message(f->r, status, "%s", msg);
	}
}

/* ---- the answer ---- */

/* Copies the primary's answer to the client (f->hdrs holds "Name:value"
 * lines; names are tokens, so the first ':' ends them). */
static void fwd_answer(struct fwd *f)
{
	struct req *r = f->r;
	f->st = FS_DONE;
	if (!req_alive(r) || r->head_sent)
		return;
	const char *p = f->hdrs.p ? f->hdrs.p : "";
	while (*p) {
		const char *nl = strchr(p, '\n');
		const char *colon = nl ? memchr(p, ':', (size_t)(nl - p)) : NULL;
		if (!colon)
			break;
		char *name = xstrndup(p, (size_t)(colon - p));
		char *value = xstrndup(colon + 1, (size_t)(nl - colon - 1));
		resp_header(r, name, value);   /* strips any CR */
		xfree(name);
		xfree(value);
		p = nl + 1;
	}
	resp_header(r, "X-DEVPI-PROXY", "replica");
	if (f->serial >= 0)
		r->serial = f->serial;
	resp_send(r, (int)f->status, f->reason && *f->reason ? f->reason : NULL, f->ctype, f->body.p ? f->body.p : "",
		  f->body.len);
}

static void serial_reached(struct req *r, void *arg, bool reached)
{
	struct fwd *f = arg;
	if (f->closed) {               /* the client left while we waited */
		fwd_free(f);
		return;
	}
	if (reached) {
		fwd_answer(f);
		return;
	}
	f->st = FS_DONE;
	long long here = (long long)atomic_load(&r->app->serial);
	log_warn("forward %s %s: primary serial %" PRId64 " not replicated within %d s (at %lld)", r->method,
		 r->rawpath, f->serial, f->timeout_s, here);
	if (!req_alive(r) || r->head_sent)
		return;
	resp_header(r, "X-DEVPI-PROXY", "replica");
	resp_message(r, 504,
		     "the write succeeded on the primary (serial %" PRId64 ", status %ld) but has not "
		     "replicated to this replica yet (serial %lld after %d s); it will show here once "
		     "replication catches up",
		     f->serial, f->status, here, f->timeout_s);
}

/* ---- upstream callbacks ---- */

static int up_head(void *arg, long status, const char *eff, const struct upstream_header *h, size_t nh)
{
	struct fwd *f = arg;
	struct req *r = f->r;
	size_t rlen;
	const char *reason = upstream_reason(f->x, &rlen);
	f->status = status;
	xfree(f->reason);
	f->reason = xstrndup(reason, rlen);
	const char *purl = r->app->primary_url;
	size_t plen = strlen(purl);
	for (size_t i = 0; i < nh; i++) {
		const char *n = h[i].name, *v = h[i].value;
		size_t nl = h[i].name_len, vl = h[i].value_len;
		if (!is_token_name(n, nl) || hop_by_hop(n, nl) || name_eq(n, nl, "content-length") ||
		    name_eq(n, nl, "x-devpi-api-version") || name_eq(n, nl, "x-devpi-server-version") ||
		    name_eq(n, nl, "x-devpi-uuid") || name_eq(n, nl, "x-devpi-primary-uuid") ||
		    name_eq(n, nl, "x-devpi-master-uuid") || name_eq(n, nl, "x-devpi-proxy"))
			continue;
		if (name_eq(n, nl, "content-type")) {
			xfree(f->ctype);
			f->ctype = xstrndup(v, vl);
			continue;
		}
		if (name_eq(n, nl, "x-devpi-serial")) {
			long long s;
			if (upstream_header_num(v, vl, &s) == ERR_OK)
				f->serial = s;
			continue;
		}
		if (name_eq(n, nl, "location") && vl >= plen && memcmp(v, purl, plen) == 0 &&
		    (vl == plen || v[plen] == '/' || v[plen] == '?' || v[plen] == '#')) {
			/* the primary's own URL: this replica's instead */
			char *base = web_base_url(r);
			buf_addf(&f->hdrs, "%.*s:%s%.*s\n", (int)nl, n, base, (int)(vl - plen), v + plen);
			xfree(base);
			continue;
		}
		if (memchr(v, '\n', vl) || memchr(v, '\0', vl))
			continue;
		buf_addf(&f->hdrs, "%.*s:%.*s\n", (int)nl, n, (int)vl, v);
	}
	return ERR_OK;
}

static int up_data(void *arg, const char *p, size_t n)
{
	struct fwd *f = arg;
	return buf_add(&f->body, p, n);
}

static void up_done(void *arg, int rc, long status, const char *errmsg)
{
	struct fwd *f = arg;
	struct req *r = f->r;
	f->x = NULL;
	evtimer_del(f->timer);
	/* nothing more goes to the primary; a client still sending stays
	 * paused, and the connection closes after our answer */
	evbuffer_drain(f->in, evbuffer_get_length(f->in));
	if (rc == ERR_TOOBIG) {
		fwd_fail(f, 502, "primary %s answered %ld with more than %u bytes; not passed on", r->app->primary_url,
			 status, FWD_RESP_MAX);
		return;
	}
	if (rc) {
		fwd_fail(f, 502, "primary %s unreachable: %s", r->app->primary_url,
			 errmsg && *errmsg ? errmsg : err_str(rc));
		return;
	}
	if (f->status < 400 && f->serial >= 0 && atomic_load(&r->app->serial) < f->serial) {
		if (serialwait_start(r, f->serial, f->timeout_s * 1000, serial_reached, f) == ERR_OK) {
			f->st = FS_WAIT;
			return;
		}
		fwd_fail(f, 503, "out of memory waiting for replication");
		return;
	}
	fwd_answer(f);
}

static const struct upstream_cbs fwd_cbs = { up_head, up_data, up_done };

/* libcurl wants body bytes. */
static long up_read_body(void *arg, char *p, size_t n)
{
	struct fwd *f = arg;
	int k = evbuffer_remove(f->in, p, n);
	if (k < 0)
		return -1;
	if (k == 0) {
		if (f->body_ended)
			return 0;
		f->send_paused = true;
		return UPSTREAM_READ_PAUSE;
	}
	arm_timer(f);                   /* progress */
	if (f->client_paused && evbuffer_get_length(f->in) < FWD_IN_LOW) {
		f->client_paused = false;
		req_pause_body(f->r, false);
	}
	return k;
}

/* ---- request hooks ---- */

static int hook_body(struct req *r, const char *p, size_t n)
{
	struct fwd *f = r->hctx;
	if (!f || f->st != FS_PROXY || !f->x)
		return ERR_OK;                  /* the exchange is over: dropped */
	if (evbuffer_add(f->in, p, n) != 0)
		return ERR_NOMEM;
	arm_timer(f);
	if (!f->client_paused && evbuffer_get_length(f->in) >= FWD_IN_HIGH) {
		f->client_paused = true;
		req_pause_body(r, true);
	}
	if (f->send_paused) {
		f->send_paused = false;
		upstream_resume_body(f->x);
	}
	return ERR_OK;
}

static void hook_end(struct req *r)
{
	struct fwd *f = r->hctx;
	if (!f)
		return;
	f->body_ended = true;
	if (f->send_paused && f->x) {
		f->send_paused = false;
		upstream_resume_body(f->x);
	}
}

static void hook_close(struct req *r)
{
	struct fwd *f = r->hctx;
	r->hctx = NULL;
	if (!f)
		return;
	if (f->st == FS_WAIT) {
		/* the serial wait holds r and frees f when it ends */
		f->closed = true;
		return;
	}
	fwd_free(f);
}

static const struct req_hooks fwd_hooks = {
	.on_body = hook_body,
	.on_end = hook_end,
	.on_close = hook_close,
};

/* No progress for timeout_s: the client stopped sending its body (the
 * upload waits for bytes), or the primary stopped taking it or answering. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fwd *f = arg;
	if (f->st != FS_PROXY)
		return;
	if (f->send_paused && !f->body_ended && evbuffer_get_length(f->in) == 0)
		fwd_fail(f, 408, "request body stalled: no byte within %d s", f->timeout_s);
	else
		fwd_fail(f, 502, "primary %s unreachable: no answer within %d s", f->r->app->primary_url,
			 f->timeout_s);
}

/* ---- start ---- */

bool forward_wanted(const struct req *r)
{
	return r->app->replica && r->m != M_GET && r->m != M_HEAD && r->m != M_OPTIONS;
}

/* Builds the header lines for the primary into lines[] (xmalloc'ed each). */
static size_t build_headers(struct req *r, char **lines, size_t cap)
{
	const struct http1_request *h = r->h;
	size_t n = 0, clen = 0, xfflen = 0, xfplen = 0, xfhlen = 0, hostlen = 0;
	const char *conn = http1_header(h, "connection", &clen);
	const char *xff = http1_header(h, "x-forwarded-for", &xfflen);
	const char *xfp = http1_header(h, "x-forwarded-proto", &xfplen);
	const char *xfh = http1_header(h, "x-forwarded-host", &xfhlen);
	const char *host = http1_header(h, "host", &hostlen);
	bool have_ctype = false, have_accept = false;
	for (unsigned i = 0; i < h->nheaders && n + 8 < cap; i++) {
		const struct http1_header *hd = &h->headers[i];
		const char *nm = hd->name;
		size_t nl = hd->name_len;
		if (hop_by_hop(nm, nl) || name_eq(nm, nl, "host") || name_eq(nm, nl, "content-length") ||
		    name_eq(nm, nl, "x-devpi-replica-uuid") || name_eq(nm, nl, "x-forwarded-for") ||
		    name_eq(nm, nl, "x-forwarded-proto") || name_eq(nm, nl, "x-forwarded-host") ||
		    connection_lists(conn, clen, nm, nl))
			continue;
		have_ctype |= name_eq(nm, nl, "content-type");
		have_accept |= name_eq(nm, nl, "accept");
		if (hd->value_len == 0)
			lines[n++] = xasprintf("%.*s;", (int)nl, nm);   /* libcurl's form of an empty value */
		else
			lines[n++] = xasprintf("%.*s: %.*s", (int)nl, nm, (int)hd->value_len, hd->value);
	}
	lines[n++] = xasprintf("X-DEVPI-REPLICA-UUID: %s", r->app->uuid);
	const char *peer = req_peer(r);
	if (xff && xfflen && peer)
		lines[n++] = xasprintf("X-Forwarded-For: %.*s, %s", (int)xfflen, xff, peer);
	else if (xff && xfflen)
		lines[n++] = xasprintf("X-Forwarded-For: %.*s", (int)xfflen, xff);
	else if (peer)
		lines[n++] = xasprintf("X-Forwarded-For: %s", peer);
	const char *ourl = r->app->cfg->outside_url;
	if (xfp && xfplen)
		lines[n++] = xasprintf("X-Forwarded-Proto: %.*s", (int)xfplen, xfp);
	else
		lines[n++] = xasprintf("X-Forwarded-Proto: %s", ourl && !strncasecmp(ourl, "https:", 6) ? "https" : "http");
	if (xfh && xfhlen)
		lines[n++] = xasprintf("X-Forwarded-Host: %.*s", (int)xfhlen, xfh);
	else if (host && hostlen)
		lines[n++] = xasprintf("X-Forwarded-Host: %.*s", (int)hostlen, host);
	/* libcurl adds these unless told not to */
	lines[n++] = xstrdup("Expect:");
	if (!have_ctype)
		lines[n++] = xstrdup("Content-Type:");
	if (!have_accept)
		lines[n++] = xstrdup("Accept:");
	return n;
}

void forward_start(struct req *r)
{
	struct app *a = r->app;
	struct fwd *f = xcalloc(1, sizeof *f);
	char *lines[FWD_HDRS_MAX];
	size_t nlines = 0;
	char *url = NULL;
	f->r = r;
	f->st = FS_PROXY;
	f->serial = -1;
	f->timeout_s = a->cfg->proxy_timeout > 0 ? a->cfg->proxy_timeout : 30;
	f->in = evbuffer_new();
	f->timer = evtimer_new(r->w->base, timer_cb, f);
	buf_init(&f->hdrs, 0);
	buf_init(&f->body, FWD_RESP_MAX);
	r->hooks = &fwd_hooks;
	r->hctx = f;
	if (!f->in || !f->timer) {
		fwd_fail(f, 503, "out of memory forwarding to the primary");
		goto out;
	}
	url = *r->query ? xasprintf("%s%s?%s", a->primary_url, r->rawpath, r->query)
			: xasprintf("%s%s", a->primary_url, r->rawpath);
	nlines = build_headers(r, lines, FWD_HDRS_MAX);
	bool body = r->h->chunked || r->h->content_length >= 0;
	struct upstream_request rq = {
		.url = url,
		.method = r->method,
		.headers = (const char *const *)lines,
		.nheaders = nlines,
		.raw = true,                    /* bytes and Content-Encoding as the primary sent them */
		.read_body = body ? up_read_body : NULL,
		.body_len = body && !r->h->chunked ? (uint64_t)r->h->content_length : 0,
		.body_chunked = body && r->h->chunked,
		.lim = {
			.connect_timeout_ms = f->timeout_s * 1000L,
			.max_body = FWD_RESP_MAX,
			.max_redirects = -1,
		},
	};
	arm_timer(f);
	int rc = upstream_fetch(r->w->up, &rq, &fwd_cbs, f, &f->x);
	if (rc)
		fwd_fail(f, 502, "primary %s unreachable: cannot send %s %s (%s)", a->primary_url, r->method,
			 r->rawpath, err_str(rc));
out:
	for (size_t i = 0; i < nlines; i++)
		xfree(lines[i]);
	xfree(url);
}
