/* upstream.c — the upstream HTTP client: libcurl multi-socket on libevent.
 *
 * One struct upstream per worker loop owns one curl multi handle, so all of
 * that loop's transfers share connections (keep-alive, HTTP/2 multiplexing)
 * and the DNS cache.  The glue follows curl's docs/examples/hiperfifo.c:
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION, with our
 * per-socket state attached by curl_multi_assign) and when to call it back
 * (CURLMOPT_TIMERFUNCTION, which only arms a libevent timer: from inside
 * libcurl's callbacks we call nothing of libcurl's but curl_multi_assign and
 * curl_easy_getinfo); every libevent wake-up calls curl_multi_socket_action
 * once and then drains curl_multi_info_read.
 *
 * User callbacks (on_head, on_data) run inside libcurl's header and write
 * callbacks, so whatever they ask for that needs libcurl — cancelling a
 * transfer, starting one, resuming a paused one — is recorded and done from
 * a zero-timeout libevent timer ("deferred") once libcurl has returned.
 * u->busy counts the frames on the stack under which that rule applies.
 *
 * The response head is collected line by line in a bounded buffer; at the
 * blank line ending a header block we decide whether it is the final
 * response (not 1xx, not a 3xx with Location that libcurl will follow) and
 * hand it to on_head.  If libcurl then does something we did not predict —
 * body bytes or completion without another block — the buffered head is
 * delivered late, so on_head always precedes on_data and on_done(ERR_OK).
 */
#include "proxy/upstream.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

#ifndef CURL_WRITEFUNC_ERROR
#define CURL_WRITEFUNC_ERROR 0xFFFFFFFF
#endif

#define UPSTREAM_MAX_HOST_CONNS 16
#define UPSTREAM_MAX_CONNS 64
#define UPSTREAM_DEFAULT_CONNECT_MS 5000L
#define UPSTREAM_DEFAULT_HEADER_BYTES (64 * 1024)
#define UPSTREAM_DEFAULT_REDIRECTS 5L
#define UPSTREAM_MAX_BLOCKS 32   /* 1xx + redirect responses within one transfer */

enum xstate {
	XS_QUEUED,      /* set up, waiting for the deferred timer to add it to the multi */
	XS_RUNNING,     /* in the multi */
	XS_CANCELLED,   /* upstream_cancel'ed; freed from the deferred timer or its DONE */
	XS_DONE,        /* on_done is running; freed right after */
};

struct usock {
	struct upstream *u;
	curl_socket_t fd;
	struct event *ev;
	struct usock *prev, *next;
};

struct upstream {
	struct event_base *base;
	CURLM *multi;
	char *user_agent;
	struct event *timer;        /* libcurl's single timeout */
	struct event *deferred;     /* zero-timeout: queued adds, cancels, resumes */
	struct upstream_xfer *xfers;
	struct usock *socks;
	int busy;                   /* >0: libcurl or a user callback is on the stack */
	int global_init;
};

struct upstream_xfer {
	struct upstream *u;
	struct upstream_xfer *prev, *next;
	enum xstate state;
	CURL *easy;
	struct curl_slist *hdrs;
	struct upstream_cbs cbs;
	void *arg;
	char *url;                  /* for log lines */
	struct event *fb_timer;     /* first-byte deadline; NULL if none */
	long fb_ms;
	int follow;                 /* redirects are followed */
	int in_multi;
	int paused;                 /* receiving paused (on_data said UPSTREAM_PAUSE) */
	int resume_wanted;
	int resume_now;
	int send_paused;            /* sending paused (read_body said UPSTREAM_READ_PAUSE) */
	int send_resume_wanted;
	int send_resume_now;
	int head_done;
	int nobody;                 /* a HEAD: Content-Length is not of a body we get */
	/* the current response header block */
	struct buf head;
	long block_status;          /* -1 when its status line did not parse */
	int block_complete;
	int saw_location;
	unsigned nblocks;
	size_t max_header;
	size_t trailer_bytes;
	uint64_t max_body;
	uint64_t body_bytes;
	long (*read_body)(void *arg, char *buf, size_t n);   /* request body, or NULL */
	int abort_rc;               /* why we made libcurl stop, 0 if we did not */
	char msg[160];
	char errbuf[CURL_ERROR_SIZE];
};

static void xfer_destroy(struct upstream_xfer *x);

/* ---- small helpers ---- */

static void schedule_deferred(struct upstream *u)
{
	struct timeval tv = { 0, 0 };
	evtimer_add(u->deferred, &tv);
}

static void ms_to_tv(long ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

__attribute__((format(printf, 3, 4)))
static void xfer_abort(struct upstream_xfer *x, int rc, const char *fmt, ...)
{
	if (x->abort_rc)
		return;
	x->abort_rc = rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof x->msg, fmt, ap);
	va_end(ap);
}

/* Records rc as the reason libcurl is told to stop, keeping x->msg. */
static void xfer_abort_rc(struct upstream_xfer *x, int rc)
{
	if (!x->abort_rc)
		x->abort_rc = rc;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* "HTTP/1.1 200 OK", "HTTP/2 404": the three digits after the first space. */
static long parse_status(const char *p, size_t n)
{
	const char *sp = memchr(p, ' ', n);
	if (!sp || (size_t)(p + n - sp) < 4)
		return -1;
	if (sp[1] < '1' || sp[1] > '9' || sp[2] < '0' || sp[2] > '9' || sp[3] < '0' || sp[3] > '9')
		return -1;
	if ((size_t)(p + n - sp) > 4 && !(sp[4] == ' ' || sp[4] == '\r' || sp[4] == '\n'))
		return -1;
	return (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
}

/* An RFC 9110 token (a method name), at most 32 characters. */
static bool is_token(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

static int name_is(const struct upstream_header *h, const char *name)
{
	size_t n = strlen(name);
	return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

/* ---- the response head ---- */

/* Splits the buffered block (status line, header lines, blank line) into
 * headers pointing into the buffer, which is edited in place for folded
 * lines.  *out is try_malloc'ed (NULL when there are no headers). */
static int head_parse(struct upstream_xfer *x, struct upstream_header **out, size_t *nout)
{
	char *p = x->head.p, *end = p + x->head.len;
	size_t lines = 0, nh = 0;
	struct upstream_header *h = NULL;

	*out = NULL;
	*nout = 0;
	for (char *q = p; q < end; q++)
		lines += *q == '\n';
	if (lines < 2)
		return ERR_OK;
	h = try_malloc(lines * sizeof *h);
	if (!h)
		return ERR_NOMEM;

	char *ls = memchr(p, '\n', (size_t)(end - p));
	ls = ls ? ls + 1 : end;          /* skip the status line */
	int attach = 0;                  /* a folded line may extend h[nh - 1] */
	while (ls < end) {
		char *nl = memchr(ls, '\n', (size_t)(end - ls));
		char *next = nl ? nl + 1 : end;
		char *le = nl ? nl : end;
		if (le > ls && le[-1] == '\r')
			le--;
		if (le == ls)
			break;                   /* the blank line */
		if (is_blank(*ls)) {         /* obs-fold: continues the previous value */
			char *cs = ls, *ce = le;
			while (cs < ce && is_blank(*cs))
				cs++;
			while (ce > cs && is_blank(ce[-1]))
				ce--;
			if (attach && cs < ce) {
				struct upstream_header *prev = &h[nh - 1];
				if (prev->value_len == 0) {
					prev->value = cs;
				} else {
					char *ve = (char *)prev->value + prev->value_len;
					memset(ve, ' ', (size_t)(cs - ve));
				}
				prev->value_len = (size_t)(ce - prev->value);
			}
			ls = next;
			continue;
		}
		char *colon = memchr(ls, ':', (size_t)(le - ls));
		attach = 0;
		if (colon && colon > ls) {
			char *ne = colon;
			while (ne > ls && is_blank(ne[-1]))
				ne--;
			char *vs = colon + 1, *ve = le;
			while (vs < ve && is_blank(*vs))
				vs++;
			while (ve > vs && is_blank(ve[-1]))
				ve--;
			if (ne > ls) {
				h[nh].name = ls;
				h[nh].name_len = (size_t)(ne - ls);
				h[nh].value = vs;
				h[nh].value_len = (size_t)(ve - vs);
				nh++;
				attach = 1;
			}
		}
		ls = next;
	}
	*out = h;
	*nout = nh;
	return ERR_OK;
}

/* Content-Length of a response with a body and no content coding, or -1. */
static int64_t head_plain_length(long status, const struct upstream_header *h, size_t nh)
{
	int64_t len = -1;
	if (status < 200 || status == 204 || status == 304)
		return -1;
	for (size_t i = 0; i < nh; i++) {
		if (name_is(&h[i], "content-encoding") &&
		    !(h[i].value_len == 8 && strncasecmp(h[i].value, "identity", 8) == 0))
			return -1;
		if (name_is(&h[i], "content-length")) {
			int64_t v = 0;
			if (h[i].value_len == 0 || h[i].value_len > 18)
				continue;
			size_t k;
			for (k = 0; k < h[i].value_len && h[i].value[k] >= '0' && h[i].value[k] <= '9'; k++)
				v = v * 10 + (h[i].value[k] - '0');
			if (k == h[i].value_len && v > len)
				len = v;
		}
	}
	return len;
}

/* Delivers the buffered block as the final head.  Returns ERR_OK or the rc
 * that should stop the transfer (the caller records it).  The caller checks
 * x->state afterwards: on_head may have cancelled x. */
static int head_deliver(struct upstream_xfer *x)
{
	struct upstream_header *h = NULL;
	size_t nh = 0;
	int rc;

	x->head_done = 1;
	if (x->fb_timer)
		evtimer_del(x->fb_timer);
	rc = head_parse(x, &h, &nh);
	if (rc) {
		snprintf(x->msg, sizeof x->msg, "no memory for the response headers");
		goto done;
	}
	int64_t clen = x->nobody ? -1 : head_plain_length(x->block_status, h, nh);
	if (x->max_body && clen >= 0 && (uint64_t)clen > x->max_body) {
		rc = ERR_TOOBIG;
		snprintf(x->msg, sizeof x->msg, "response body of %" PRId64 " bytes is over the %" PRIu64 " byte bound",
			 clen, x->max_body);
		goto done;
	}
	if (x->cbs.on_head) {
		char *url = NULL;
		if (curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || !url)
			url = x->url;
		rc = x->cbs.on_head(x->arg, x->block_status, url, h, nh);
		if (rc)
			snprintf(x->msg, sizeof x->msg, "aborted by on_head: %s", err_str(rc));
	}
done:
	xfree(h);
	buf_release(&x->head);
	return rc;
}

/* ---- libcurl's header and write callbacks ---- */

static size_t header_cb(char *p, size_t size, size_t nitems, void *ud)
{
	struct upstream_xfer *x = ud;
	size_t n = size * nitems;

	if (x->state != XS_RUNNING)
		return 0;
	if (x->head_done) {          /* trailers: bounded, otherwise ignored */
		x->trailer_bytes += n;
		if (x->trailer_bytes > x->max_header) {
			xfer_abort(x, ERR_TOOBIG, "response trailers over %zu bytes", x->max_header);
			return 0;
		}
		return n;
	}
	int is_status = n >= 5 && memcmp(p, "HTTP/", 5) == 0;
	if (is_status && (x->head.len == 0 || x->block_complete)) {
		if (++x->nblocks > UPSTREAM_MAX_BLOCKS) {
			xfer_abort(x, ERR_UPSTREAM, "more than %d responses in one transfer", UPSTREAM_MAX_BLOCKS);
			return 0;
		}
		buf_reset(&x->head);
		x->block_complete = 0;
		x->saw_location = 0;
		x->block_status = parse_status(p, n);
	} else if (x->head.len == 0 || x->block_complete) {
		/* outside any block we track (trailers of a skipped response) */
		x->trailer_bytes += n;
		if (x->trailer_bytes > x->max_header) {
			xfer_abort(x, ERR_TOOBIG, "response trailers over %zu bytes", x->max_header);
			return 0;
		}
		return n;
	}
	int rc = buf_add(&x->head, p, n);
	if (rc) {
		if (rc == ERR_TOOBIG)
			xfer_abort(x, rc, "response headers over %zu bytes", x->max_header);
		else
			xfer_abort(x, rc, "no memory for the response headers");
		return 0;
	}
	if (!is_status && (n == 1 || (n == 2 && p[0] == '\r')) && p[n - 1] == '\n') {
		x->block_complete = 1;
		if (x->block_status >= 100 && x->block_status < 200)
			return n;            /* informational: the real one follows */
		if (x->block_status >= 300 && x->block_status < 400 && x->saw_location && x->follow)
			return n;            /* libcurl follows it (or fails: too many) */
		if (x->block_status < 0) {
			xfer_abort(x, ERR_UPSTREAM, "unparsable response status line");
			return 0;
		}
		rc = head_deliver(x);
		if (x->state != XS_RUNNING)
			return 0;
		if (rc) {
			xfer_abort_rc(x, rc);
			return 0;
		}
		return n;
	}
	if (!is_status && x->block_status >= 300 && x->block_status < 400 &&
	    n > 9 && strncasecmp(p, "location:", 9) == 0) {
		for (size_t i = 9; i < n; i++)
			if (!is_blank(p[i]) && p[i] != '\r' && p[i] != '\n')
				x->saw_location = 1;
	}
	return n;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct upstream_xfer *x = ud;
	size_t n = size * nmemb;
	int rc;

	if (x->state != XS_RUNNING)
		return CURL_WRITEFUNC_ERROR;
	if (!x->head_done) {
		if (!x->block_complete || x->block_status < 200) {
			xfer_abort(x, ERR_UPSTREAM, "response body without a final response head");
			return CURL_WRITEFUNC_ERROR;
		}
		rc = head_deliver(x);
		if (x->state != XS_RUNNING)
			return CURL_WRITEFUNC_ERROR;
		if (rc) {
			xfer_abort_rc(x, rc);
			return CURL_WRITEFUNC_ERROR;
		}
	}
	if (n == 0)
		return 0;
	if (x->max_body && n > x->max_body - x->body_bytes) {
		xfer_abort(x, ERR_TOOBIG, "response body over the %" PRIu64 " byte bound", x->max_body);
		return CURL_WRITEFUNC_ERROR;
	}
	rc = x->cbs.on_data ? x->cbs.on_data(x->arg, p, n) : ERR_OK;
	if (x->state != XS_RUNNING)
		return CURL_WRITEFUNC_ERROR;
	if (rc == UPSTREAM_PAUSE) {
		x->paused = 1;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (rc) {
		xfer_abort(x, rc, "aborted by on_data: %s", err_str(rc));
		return CURL_WRITEFUNC_ERROR;
	}
	x->body_bytes += n;
	return n;
}

/* The request body (upstream_request.read_body). */
static size_t read_cb(char *p, size_t size, size_t nitems, void *ud)
{
	struct upstream_xfer *x = ud;
	if (x->state != XS_RUNNING)
		return CURL_READFUNC_ABORT;
	long n = x->read_body(x->arg, p, size * nitems);
	if (x->state != XS_RUNNING)
		return CURL_READFUNC_ABORT;
	if (n == UPSTREAM_READ_PAUSE) {
		x->send_paused = 1;
		return CURL_READFUNC_PAUSE;
	}
	if (n < 0 || (size_t)n > size * nitems) {
		xfer_abort(x, ERR_IO, "request body could not be read");
		return CURL_READFUNC_ABORT;
	}
	return (size_t)n;
}

/* ---- ending a transfer ---- */

static int map_result(struct upstream_xfer *x, CURLcode res)
{
	if (res == CURLE_OK)
		return ERR_OK;
	if (x->abort_rc)
		return x->abort_rc;
	switch (res) {
	case CURLE_OPERATION_TIMEDOUT:
		return ERR_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return ERR_TOOBIG;
	case CURLE_OUT_OF_MEMORY:
		return ERR_NOMEM;
	default:
		return ERR_UPSTREAM;
	}
}

/* Calls on_done(rc) and frees x.  Not with libcurl on the stack. */
static void xfer_end(struct upstream_xfer *x, int rc, CURLcode res)
{
	long status = 0;
	const char *msg = "";

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (x->in_multi) {
		curl_multi_remove_handle(x->u->multi, x->easy);
		x->in_multi = 0;
	}
	x->state = XS_DONE;
	if (x->fb_timer)
		evtimer_del(x->fb_timer);
	if (rc) {
		if (x->msg[0])
			msg = x->msg;
		else if (x->errbuf[0])
			msg = x->errbuf;
		else if (res != CURLE_OK)
			msg = curl_easy_strerror(res);
		else
			msg = err_str(rc);
		log_debug("upstream: fetching '%s' failed: %s (curl %d: %s)", x->url, err_str(rc), (int)res, msg);
	}
	if (x->cbs.on_done)
		x->cbs.on_done(x->arg, rc, status, msg);
	xfer_destroy(x);
}

/* libcurl says x is finished with res. */
static void xfer_complete(struct upstream_xfer *x, CURLcode res)
{
	int rc;

	if (x->state == XS_CANCELLED) {
		xfer_destroy(x);
		return;
	}
	rc = map_result(x, res);
	if (rc == ERR_OK && !x->head_done) {
		if (x->block_complete && x->block_status >= 200) {
			x->u->busy++;
			rc = head_deliver(x);
			x->u->busy--;
			if (x->state == XS_CANCELLED) {
				xfer_destroy(x);
				return;
			}
		} else {
			rc = ERR_UPSTREAM;
			snprintf(x->msg, sizeof x->msg, "no final response head");
		}
	}
	xfer_end(x, rc, res);
}

/* ---- the multi-socket glue ---- */

static void drain(struct upstream *u)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(u->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode res = m->data.result;   /* m is gone after remove_handle */
		char *priv = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		if (priv)
			xfer_complete((struct upstream_xfer *)(void *)priv, res);
	}
}

static void kick(struct upstream *u, curl_socket_t fd, int action)
{
	int running = 0;
	u->busy++;
	CURLMcode mc = curl_multi_socket_action(u->multi, fd, action, &running);
	u->busy--;
	if (mc != CURLM_OK)
		log_warn("upstream: curl_multi_socket_action failed: %s", curl_multi_strerror(mc));
	drain(u);
}

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct usock *s = arg;
	struct upstream *u = s->u;   /* s may be freed inside kick */
	int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	kick(u, fd, action);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	kick(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void usock_free(struct usock *s)
{
	struct upstream *u = s->u;
	if (s->ev)
		event_free(s->ev);
	if (s->prev)
		s->prev->next = s->next;
	else
		u->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	xfree(s);
}

/* CURLMOPT_SOCKETFUNCTION.  socketp is our struct usock or NULL for a socket
 * libcurl has not told us about (or told us to forget): it may report such
 * a socket with REMOVE (ignored) or bring a removed one back (new state). */
static int curl_socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct upstream *u = userp;
	struct usock *s = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (s)
			usock_free(s);
		return 0;
	}
	short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (!s) {
		s = xcalloc(1, sizeof *s);
		s->u = u;
		s->fd = fd;
		s->next = u->socks;
		if (u->socks)
			u->socks->prev = s;
		u->socks = s;
		curl_multi_assign(u->multi, fd, s);
	}
	if (s->ev && event_get_events(s->ev) == kind)
		return 0;
	if (s->ev)
		event_free(s->ev);
	s->fd = fd;
	s->ev = event_new(u->base, fd, kind, sock_event_cb, s);
	if (!s->ev || event_add(s->ev, NULL) != 0) {
		log_err("upstream: cannot watch socket %d", (int)fd);
		return -1;
	}
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms u->timer. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct upstream *u = userp;
	if (timeout_ms < 0) {
		evtimer_del(u->timer);
	} else {
		struct timeval tv;
		ms_to_tv(timeout_ms, &tv);
		evtimer_add(u->timer, &tv);
	}
	return 0;
}

static void xfer_start(struct upstream_xfer *x)
{
	CURLMcode mc = curl_multi_add_handle(x->u->multi, x->easy);
	if (mc != CURLM_OK) {
		snprintf(x->msg, sizeof x->msg, "cannot start the transfer: %s", curl_multi_strerror(mc));
		xfer_end(x, ERR_UPSTREAM, CURLE_OK);
		return;
	}
	x->in_multi = 1;
	x->state = XS_RUNNING;
}

/* Tells libcurl the pause state we want: curl_easy_pause takes the whole
 * new state, so unpausing one direction must keep the other's. */
static void xfer_do_resume(struct upstream_xfer *x)
{
	struct upstream *u = x->u;
	int mask = (x->paused ? CURLPAUSE_RECV : 0) | (x->send_paused ? CURLPAUSE_SEND : 0);
	u->busy++;
	CURLcode res = curl_easy_pause(x->easy, mask);
	u->busy--;
	if (x->state == XS_CANCELLED) {
		xfer_destroy(x);
		return;
	}
	if (res != CURLE_OK) {
		/* the redelivery failed (on_data aborted, or a bound): libcurl
		 * reports it here, not through the multi, so we end x ourselves */
		xfer_end(x, x->abort_rc ? x->abort_rc : ERR_UPSTREAM, res);
	}
}

/* The zero-timeout timer: frees cancelled transfers, adds queued ones,
 * resumes paused ones.  User code may run (on_data on resume, on_done on a
 * failure) and change the list, so the walk restarts after it; resumes
 * requested while this runs wait for the next loop turn. */
static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;
	struct upstream_xfer *x, *next;

	for (x = u->xfers; x; x = x->next) {
		x->resume_now = x->resume_wanted;
		x->resume_wanted = 0;
		x->send_resume_now = x->send_resume_wanted;
		x->send_resume_wanted = 0;
	}
again:
	for (x = u->xfers; x; x = next) {
		next = x->next;
		if (x->state == XS_CANCELLED) {
			xfer_destroy(x);
		} else if (x->state == XS_QUEUED) {
			xfer_start(x);
			if (x->state != XS_RUNNING)
				goto again;      /* on_done ran */
			x->resume_now = 0;
			x->send_resume_now = 0;
		} else if (x->state == XS_RUNNING && (x->resume_now || x->send_resume_now)) {
			bool recv = x->resume_now && x->paused, send = x->send_resume_now && x->send_paused;
			x->resume_now = 0;
			x->send_resume_now = 0;
			if (recv || send) {
				if (recv)
					x->paused = 0;
				if (send)
					x->send_paused = 0;
				xfer_do_resume(x);
				goto again;
			}
		}
	}
	/* libcurl may have finished transfers while resuming */
	drain(u);
}

/* ---- transfers ---- */

/* Removes x from everything and frees it; no callback runs. */
static void xfer_destroy(struct upstream_xfer *x)
{
	struct upstream *u = x->u;
	if (x->in_multi)
		curl_multi_remove_handle(u->multi, x->easy);
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->hdrs);
	if (x->fb_timer)
		event_free(x->fb_timer);
	buf_release(&x->head);
	if (x->prev)
		x->prev->next = x->next;
	else if (u->xfers == x)
		u->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	xfree(x->url);
	xfree(x);
}

static void fb_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_xfer *x = arg;
	if ((x->state != XS_RUNNING && x->state != XS_QUEUED) || x->head_done)
		return;
	snprintf(x->msg, sizeof x->msg, "no response head within %ld ms", x->fb_ms);
	xfer_end(x, ERR_TIMEOUT, CURLE_OK);
}

/* Parses url as an http/https URL; *out is the curl_url handle, *https
 * whether it is https (may be NULL). */
static int parse_http_url(const char *url, CURLU **out, int *https)
{
	CURLU *h = NULL;
	char *scheme = NULL;
	int rc = ERR_INVAL;

	*out = NULL;
	if (!url)
		goto fail;
	h = curl_url();
	if (!h) {
		rc = ERR_NOMEM;
		goto fail;
	}
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto fail;
	if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto fail;
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		goto fail;
	if (https)
		*https = strcasecmp(scheme, "https") == 0;
	curl_free(scheme);
	*out = h;
	return ERR_OK;
fail:
	curl_free(scheme);
	curl_url_cleanup(h);
	return rc;
}

/* An http(s) URL without user:pass in it. */
static int check_url(const char *url, int *https)
{
	CURLU *h = NULL;
	char *part = NULL;
	int rc = parse_http_url(url, &h, https);
	if (rc)
		return rc;
	if (curl_url_get(h, CURLUPART_USER, &part, 0) != CURLUE_NO_USER ||
	    curl_url_get(h, CURLUPART_PASSWORD, &part, 0) != CURLUE_NO_PASSWORD)
		rc = ERR_INVAL;
	curl_free(part);
	curl_url_cleanup(h);
	return rc;
}

#define SETOPT(opt, val) do { \
		if (curl_easy_setopt(x->easy, opt, val) != CURLE_OK) { \
			log_err("upstream: curl_easy_setopt(" #opt ") failed"); \
			rc = ERR_UPSTREAM; \
			goto fail; \
		} \
	} while (0)

/* Every option of one transfer; ERR_UPSTREAM if libcurl refuses one. */
/* Whether sa is an address of this host or of a network that is not the
 * public internet (RFC 1918, 6598, 3927, 4193, 4291 special blocks). */
static bool addr_is_private(const struct sockaddr *sa)
{
	const uint8_t *a;
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *b = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		static const uint8_t zero[15] = { 0 };
		if (memcmp(b, mapped, 12) == 0) {
			a = b + 12;         /* ::ffff:a.b.c.d: judge the IPv4 address */
		} else {
			return memcmp(b, zero, 15) == 0 ||       /* :: and ::1 */
			       (b[0] & 0xfe) == 0xfc ||          /* fc00::/7 unique local */
			       (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 */
			       b[0] == 0xff;                     /* multicast */
		}
	} else {
		return true;
	}
	return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 100 && (a[1] & 0xc0) == 64) ||
	       (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	       (a[0] == 192 && a[1] == 168) || a[0] >= 224;
}

static curl_socket_t open_public_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	if (purpose == CURLSOCKTYPE_IPCXN && addr_is_private(&a->addr)) {
		log_warn("upstream: refusing to connect to a non-public address for a client-chosen URL");
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int xfer_configure(struct upstream_xfer *x, const struct upstream_request *rq, int https)
{
	const struct upstream_limits *lim = &rq->lim;
	int rc = ERR_OK;

	long redirects = lim->max_redirects ? lim->max_redirects : UPSTREAM_DEFAULT_REDIRECTS;
	x->follow = redirects > 0;
	SETOPT(CURLOPT_URL, rq->url);
	SETOPT(CURLOPT_PRIVATE, (void *)x);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	/* With the threaded resolver, ending a transfer whose name lookup is
	 * still running would join that thread (block the loop until
	 * getaddrinfo returns); QUICK_EXIT detaches it instead. */
	SETOPT(CURLOPT_QUICK_EXIT, 1L);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, x->follow ? 1L : 0L);
	SETOPT(CURLOPT_MAXREDIRS, x->follow ? redirects : 0L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* PIPEWAIT: wait for a connection being set up to say whether it can
	 * multiplex rather than open another.  Only for https: libcurl 7.88
	 * learns that from ALPN and then wakes the waiters, while over plain
	 * HTTP/1.1 it never wakes them before the first transfer ends. */
	if (https)
		SETOPT(CURLOPT_PIPEWAIT, 1L);
	SETOPT(CURLOPT_HTTP09_ALLOWED, 0L);
	SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	if (!rq->raw)
		SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	else    /* files: fewer, larger reads (libcurl's default is 16 KiB) */
		SETOPT(CURLOPT_BUFFERSIZE, 256L * 1024);
	SETOPT(CURLOPT_USERAGENT, x->u->user_agent);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	if (x->hdrs)
		SETOPT(CURLOPT_HTTPHEADER, x->hdrs);
	if (rq->username) {
		SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(CURLOPT_USERNAME, rq->username);
		SETOPT(CURLOPT_PASSWORD, rq->password ? rq->password : "");
	}
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, lim->connect_timeout_ms > 0 ? lim->connect_timeout_ms : UPSTREAM_DEFAULT_CONNECT_MS);
	if (lim->total_timeout_ms > 0)
		SETOPT(CURLOPT_TIMEOUT_MS, lim->total_timeout_ms);
	if (lim->low_speed_secs > 0) {
		SETOPT(CURLOPT_LOW_SPEED_LIMIT, lim->low_speed_bytes > 0 ? lim->low_speed_bytes : 1L);
		SETOPT(CURLOPT_LOW_SPEED_TIME, lim->low_speed_secs);
	}
	/* No CURLOPT_MAXFILESIZE: it compares the encoded Content-Length, while
	 * max_body bounds decoded bytes; head_deliver checks a plain
	 * Content-Length up front and write_cb counts every byte. */
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, (void *)x);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, (void *)x);
	if (rq->public_only)
		SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_public_socket);
	if (rq->read_body) {
		/* libcurl's POST machinery sends a body with any method (the
		 * method name is replaced below); chunked when the size is -1 */
		x->read_body = rq->read_body;
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, rq->body_chunked ? (curl_off_t)-1 : (curl_off_t)rq->body_len);
		SETOPT(CURLOPT_READFUNCTION, read_cb);
		SETOPT(CURLOPT_READDATA, (void *)x);
		SETOPT(CURLOPT_FRESH_CONNECT, 1L);
		SETOPT(CURLOPT_FORBID_REUSE, 1L);
	}
	if (rq->method && strcmp(rq->method, "HEAD") == 0 && !rq->read_body) {
		x->nobody = 1;
		SETOPT(CURLOPT_NOBODY, 1L);
	} else if (rq->method && strcmp(rq->method, rq->read_body ? "POST" : "GET") != 0) {
		SETOPT(CURLOPT_CUSTOMREQUEST, rq->method);
	}
fail:
	return rc;
}

#undef SETOPT

int upstream_fetch(struct upstream *u, const struct upstream_request *rq,
		   const struct upstream_cbs *cbs, void *arg, struct upstream_xfer **out)
{
	struct upstream_xfer *x = NULL;
	const struct upstream_limits *lim;
	int rc;

	if (out)
		*out = NULL;
	if (!u || !rq || !cbs)
		return ERR_INVAL;
	lim = &rq->lim;
	int https = 0;
	rc = check_url(rq->url, &https);
	if (rc)
		goto fail;
	for (size_t i = 0; i < rq->nheaders; i++) {
		const char *hd = rq->headers[i];
		if (!hd || !*hd || strpbrk(hd, "\r\n")) {
			rc = ERR_INVAL;
			goto fail;
		}
	}
	if ((rq->username && strpbrk(rq->username, "\r\n")) || (rq->password && strpbrk(rq->password, "\r\n"))) {
		rc = ERR_INVAL;
		goto fail;
	}
	if (rq->method && !is_token(rq->method)) {
		rc = ERR_INVAL;
		goto fail;
	}

	x = xcalloc(1, sizeof *x);
	x->u = u;
	x->cbs = *cbs;
	x->arg = arg;
	x->url = xstrdup(rq->url);
	x->max_header = lim->max_header_bytes ? lim->max_header_bytes : UPSTREAM_DEFAULT_HEADER_BYTES;
	x->max_body = lim->max_body;
	x->block_status = -1;
	buf_init(&x->head, x->max_header);
	x->easy = curl_easy_init();
	if (!x->easy) {
		rc = ERR_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < rq->nheaders; i++) {
		struct curl_slist *l = curl_slist_append(x->hdrs, rq->headers[i]);
		if (!l) {
			rc = ERR_NOMEM;
			goto fail;
		}
		x->hdrs = l;
	}

	rc = xfer_configure(x, rq, https);
	if (rc)
		goto fail;

	if (lim->first_byte_timeout_ms > 0) {
		struct timeval tv;
		x->fb_ms = lim->first_byte_timeout_ms;
		x->fb_timer = evtimer_new(u->base, fb_timer_cb, x);
		if (!x->fb_timer) {
			rc = ERR_NOMEM;
			goto fail;
		}
		ms_to_tv(x->fb_ms, &tv);
		evtimer_add(x->fb_timer, &tv);
	}

	if (u->busy) {
		x->state = XS_QUEUED;
		schedule_deferred(u);
	} else {
		CURLMcode mc = curl_multi_add_handle(u->multi, x->easy);
		if (mc != CURLM_OK) {
			log_err("upstream: curl_multi_add_handle failed: %s", curl_multi_strerror(mc));
			rc = ERR_UPSTREAM;
			goto fail;
		}
		x->in_multi = 1;
		x->state = XS_RUNNING;
	}
	x->next = u->xfers;
	if (u->xfers)
		u->xfers->prev = x;
	u->xfers = x;
	if (out)
		*out = x;
	return ERR_OK;
fail:
	if (x)
		xfer_destroy(x);    /* not linked yet: only frees */
	return rc;
}


void upstream_cancel(struct upstream_xfer *x)
{
	if (!x || (x->state != XS_RUNNING && x->state != XS_QUEUED))
		return;
	x->state = XS_CANCELLED;
	if (x->fb_timer)
		evtimer_del(x->fb_timer);
	if (x->u->busy)
		schedule_deferred(x->u);
	else
		xfer_destroy(x);
}

void upstream_resume(struct upstream_xfer *x)
{
	if (!x || (x->state != XS_RUNNING && x->state != XS_QUEUED))
		return;
	x->resume_wanted = 1;
	schedule_deferred(x->u);
}

void upstream_resume_body(struct upstream_xfer *x)
{
	if (!x || (x->state != XS_RUNNING && x->state != XS_QUEUED))
		return;
	x->send_resume_wanted = 1;
	schedule_deferred(x->u);
}

const char *upstream_reason(const struct upstream_xfer *x, size_t *len)
{
	/* the status line heads the block on_head is being given */
	const char *p = x && x->head.p ? x->head.p : "";
	size_t n = x && x->head.p ? x->head.len : 0;
	const char *nl = memchr(p, '\n', n);
	size_t ll = nl ? (size_t)(nl - p) : n;
	const char *sp = memchr(p, ' ', ll);
	*len = 0;
	if (!sp || (size_t)(p + ll - sp) < 5 || sp[4] != ' ')
		return "";
	const char *r = sp + 5, *e = p + ll;
	if (e > r && e[-1] == '\r')
		e--;
	*len = (size_t)(e - r);
	return r;
}

/* ---- the client ---- */

int upstream_new(struct event_base *base, const char *user_agent, struct upstream **out)
{
	struct upstream *u = xcalloc(1, sizeof *u);
	int rc = ERR_UPSTREAM;
	CURLcode res;

	*out = NULL;
	u->base = base;
	u->user_agent = xstrdup(user_agent ? user_agent : "devpi-like");
	res = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (res != CURLE_OK) {
		log_err("upstream: curl_global_init failed: %s", curl_easy_strerror(res));
		goto fail;
	}
	u->global_init = 1;
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	if (!(vi->features & CURL_VERSION_ASYNCHDNS))
		log_warn("upstream: libcurl %s resolves names synchronously; DNS lookups will block the event loop",
			 vi->version);
	u->multi = curl_multi_init();
	u->timer = evtimer_new(base, timer_event_cb, u);
	u->deferred = evtimer_new(base, deferred_cb, u);
	if (!u->multi || !u->timer || !u->deferred) {
		rc = ERR_NOMEM;
		goto fail;
	}
	if (curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb) != CURLM_OK ||
	    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, (void *)u) != CURLM_OK ||
	    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, (void *)u) != CURLM_OK ||
	    curl_multi_setopt(u->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) != CURLM_OK ||
	    curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)UPSTREAM_MAX_HOST_CONNS) != CURLM_OK ||
	    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, (long)UPSTREAM_MAX_CONNS) != CURLM_OK) {
		log_err("upstream: curl_multi_setopt failed");
		goto fail;
	}
	*out = u;
	return ERR_OK;
fail:
	upstream_free(u);
	return rc;
}

void upstream_free(struct upstream *u)
{
	if (!u)
		return;
	while (u->xfers)
		xfer_destroy(u->xfers);
	if (u->multi)
		curl_multi_cleanup(u->multi);   /* may still call curl_socket_cb */
	while (u->socks)
		usock_free(u->socks);
	if (u->timer)
		event_free(u->timer);
	if (u->deferred)
		event_free(u->deferred);
	if (u->global_init)
		curl_global_cleanup();
	xfree(u->user_agent);
	xfree(u);
}

int upstream_split_credentials(const char *url, char **clean_url, char **user, char **pass)
{
	CURLU *h = NULL;
	char *cu = NULL, *cp = NULL, *cc = NULL;
	char *ou = NULL, *op = NULL;
	CURLUcode uc;
	int rc;

	*clean_url = NULL;
	*user = NULL;
	*pass = NULL;
	rc = parse_http_url(url, &h, NULL);
	if (rc)
		goto fail;
	rc = ERR_INVAL;
	uc = curl_url_get(h, CURLUPART_USER, &cu, CURLU_URLDECODE);
	if (uc == CURLUE_OK)
		ou = xstrdup(cu);
	else if (uc != CURLUE_NO_USER)
		goto fail;
	uc = curl_url_get(h, CURLUPART_PASSWORD, &cp, CURLU_URLDECODE);
	if (uc == CURLUE_OK)
		op = xstrdup(cp);
	else if (uc != CURLUE_NO_PASSWORD)
		goto fail;
	if (curl_url_set(h, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_set(h, CURLUPART_OPTIONS, NULL, 0) != CURLUE_OK)
		goto fail;
	if (curl_url_get(h, CURLUPART_URL, &cc, 0) != CURLUE_OK)
		goto fail;
	*clean_url = xstrdup(cc);
	*user = ou;
	*pass = op;
	ou = op = NULL;
	rc = ERR_OK;
fail:
	curl_free(cu);
	curl_free(cp);
	curl_free(cc);
	xfree(ou);
	xfree(op);
	curl_url_cleanup(h);
	return rc;
}

int upstream_header_num(const char *v, size_t n, long long *out)
{
	char tmp[24], *end = NULL;
	if (n == 0 || n >= sizeof tmp || v[0] < '0' || v[0] > '9')
		return ERR_PARSE;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	errno = 0;
	long long x = strtoll(tmp, &end, 10);
	if (errno || *end)
		return ERR_PARSE;
	*out = x;
	return ERR_OK;
}
