/* upstream.h — the upstream HTTP client: libcurl's multi-socket interface
 * driven by one libevent event_base (one struct upstream per worker thread).
 *
 * A transfer is a GET of one http/https URL (a POST when it has a request
 * body: upstream_request.read_body; any other method through
 * upstream_request.method).  Its results come back through
 * three callbacks, all run on the loop's thread: on_head once for the final
 * response's head, on_data for each piece of the (content-decoded) body, and
 * on_done exactly once at the end.  Nothing here blocks the loop and nothing
 * buffers a body: bytes go to on_data as libcurl receives them.
 *
 * What each transfer is set up with (and why):
 * - protocols and redirect protocols limited to http,https; redirects
 *   followed up to max_redirects; credentials (CURLOPT_USERNAME/PASSWORD,
 *   Basic) are not sent to a different host on a redirect (libcurl's
 *   default).  URLs carrying user:pass are refused: use
 *   upstream_split_credentials and pass them in the request.
 * - TLS peer and host verification always on, with the system CA bundle.
 * - HTTP/2 when the server offers it over TLS (CURL_HTTP_VERSION_2TLS), with
 *   PIPEWAIT on https so parallel transfers to one host wait for ALPN and
 *   multiplex on one connection; HTTP/1.1 keep-alive otherwise.  All
 *   transfers of one upstream share one connection cache and DNS cache (up
 *   to 16 connections per host — more transfers queue — and 64 kept).
 * - Accept-Encoding: every encoding libcurl supports; on_data sees decoded
 *   bytes.
 * - Proxies come from the environment, libcurl's default: http_proxy (lower
 *   case only), https_proxy / HTTPS_PROXY, all_proxy, no_proxy.  Nothing here
 *   overrides them.
 * - Name resolution: Debian 12's libcurl 7.88 is built with the threaded
 *   resolver (curl_version_info: CURL_VERSION_ASYNCHDNS, no c-ares), so
 *   getaddrinfo runs on a helper thread and never blocks the loop;
 *   upstream_new logs a warning if the linked libcurl lacks AsynchDNS.  The
 *   connect timeout covers resolving, and CURLOPT_QUICK_EXIT makes libcurl
 *   detach (not join) a lookup thread still running when its transfer ends,
 *   so a timeout or cancel during a slow lookup does not block either.
 *
 * Limits (struct upstream_limits) bound time and memory per transfer: the
 * header block is collected in a buffer bounded by max_header_bytes and freed
 * once on_head has run; body bytes are counted as they are delivered.
 *
 * Threading: an upstream and its transfers belong to the thread running its
 * event_base; nothing here is thread-safe.  curl_global_init is reference
 * counted by upstream_new/upstream_free (libcurl 7.88 here is built
 * thread-safe, CURL_VERSION_THREADSAFE).
 */
#ifndef PROXY_UPSTREAM_H
#define PROXY_UPSTREAM_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct upstream;           /* one per event loop (worker thread); not thread-safe */
struct upstream_xfer;      /* one transfer */

/* One response header, names as sent, value without surrounding blanks;
 * obsolete line folding is replaced by spaces.  Not NUL-terminated. */
struct upstream_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct upstream_limits {
	long connect_timeout_ms;     /* DNS + TCP + TLS connect; 0 = 5000 */
	long first_byte_timeout_ms;  /* from upstream_fetch until the final response's
	                                status line + headers are in (time queued for a
	                                free connection counts); 0 = none */
	long total_timeout_ms;       /* whole transfer, paused time included; 0 = none
	                                (big files rely on the low-speed limit) */
	long low_speed_bytes;        /* abort when slower than this many bytes/s ... */
	long low_speed_secs;         /* ... for this many seconds (CURLOPT_LOW_SPEED_*);
	                                0 = off; a paused transfer is not checked.
	                                low_speed_bytes <= 0 with secs > 0 means 1. */
	uint64_t max_body;           /* decoded body bytes; more → ERR_TOOBIG; 0 = unbounded */
	size_t max_header_bytes;     /* bytes of one response's header block (status
	                                line and all header lines; also the trailers);
	                                0 = 64 KiB.  libcurl has its own cap of 100 KiB
	                                per line. */
	long max_redirects;          /* 0 = 5; negative = do not follow redirects */
};

struct upstream_request {
	const char *url;             /* http:// or https:// only, without user:pass */
	const char *const *headers;  /* extra request headers "Name: value" (e.g. Accept,
	                                If-None-Match); "Name;" sends an empty value and
	                                "Name:" removes a header libcurl would add.
	                                CR, LF → ERR_INVAL. */
	size_t nheaders;
	const char *username;        /* Basic auth; NULL = none (NEVER put credentials in the URL) */
	const char *password;        /* NULL = empty */
	struct upstream_limits lim;
	bool raw;                    /* no content decoding: the body as stored upstream
	                                (files, whose hash and length are of those bytes) */
	/* The request method: NULL for GET (POST when read_body is set).
	 * "HEAD" asks for the head only (on_data never runs); any other
	 * token (PUT, PATCH, DELETE, PUSH, ...) is sent as is, with the body
	 * of read_body if there is one.  Not a token (RFC 9110) → ERR_INVAL.
	 * Redirects are followed with the same method, so a caller sending a
	 * body normally sets max_redirects < 0. */
	const char *method;
	/* A request body (NULL: none).  read_body(arg, buf, n), with the
	 * transfer's arg, fills up to n bytes and returns how many (0 at the
	 * end, -1 aborts: on_done gets ERR_IO), or UPSTREAM_READ_PAUSE when it
	 * has no bytes yet: the upload then waits until upstream_resume_body,
	 * after which read_body is called again.  It runs on the loop's
	 * thread, must not block and must not call into this module (other
	 * than upstream_resume_body).  Exactly body_len bytes are sent
	 * (Content-Length), or, with body_chunked, as many as read_body gives
	 * until it returns 0 (Transfer-Encoding: chunked over HTTP/1.1); the
	 * caller sets Content-Type through headers ("Content-Type:" to send
	 * none).  Such a transfer uses a fresh connection that is not kept,
	 * since the body cannot be rewound for a retry on a reused one. */
	long (*read_body)(void *arg, char *buf, size_t n);
	uint64_t body_len;
	bool body_chunked;
	/* Connect only to public addresses: never to this host, private,
	 * link-local, shared or multicast networks (checked on the address
	 * actually connected to, so DNS cannot redirect it).  For URLs a
	 * client chose (external push). */
	bool public_only;
};

/* Everything in the request is copied by upstream_fetch; the caller may free
 * it as soon as upstream_fetch returns. */

struct upstream_cbs {
	/* The final response's head: after redirects, never for 1xx or for a 3xx
	 * that is followed.  status: the HTTP status; effective_url: the URL that
	 * answered (after redirects); h[0..nh): its headers in order.  A non-zero
	 * return aborts the transfer (on_done then gets that rc).  All pointers are
	 * borrowed and valid only during the call.  Runs at most once; when the
	 * response has a Content-Length over max_body (and no Content-Encoding),
	 * it does not run and on_done gets ERR_TOOBIG.  May be NULL. */
	int (*on_head)(void *arg, long status, const char *effective_url,
		       const struct upstream_header *h, size_t nh);
	/* Body bytes, already content-decoded, in order; p is borrowed for the
	 * call.  Runs only after on_head.  Return ERR_OK to take them all,
	 * UPSTREAM_PAUSE to take none of them and pause the transfer, any other rc
	 * to abort (on_done gets it).
	 *
	 * Pausing: the bytes of the refusing call are NOT consumed.  After
	 * upstream_resume, on_data is called again starting with exactly those
	 * bytes (the first call may carry fewer or more bytes than before: libcurl
	 * hands out what it buffered during the pause, possibly in several calls).
	 * So: when returning UPSTREAM_PAUSE, keep nothing of (p, n).  Bytes
	 * refused by a pause do not count towards max_body until taken.  While
	 * paused, libcurl stops reading from the socket, but content decoding
	 * of what was already read goes on into its own buffer (at most 64 MiB
	 * in 7.88; a compressed response can expand that far), and the total
	 * timeout keeps running.  May be NULL (body discarded). */
	int (*on_data)(void *arg, const char *p, size_t n);
	/* Exactly once per transfer unless upstream_cancel was called first.
	 * rc: ERR_OK (complete, any HTTP status), ERR_TIMEOUT (connect, first byte,
	 * total or low speed), ERR_TOOBIG (max_body or header bytes), ERR_UPSTREAM
	 * (DNS, refused, reset, TLS, protocol error, too many redirects, truncated
	 * body vs Content-Length, bad content encoding), ERR_NOMEM, or the rc
	 * returned by on_head / on_data.  status: the last HTTP status seen, 0 if
	 * none.  errmsg: short human text (never NULL, "" on success), valid during
	 * the call.  It is safe to start new transfers or cancel other ones from
	 * here; x is freed when on_done returns and must not be used after. */
	void (*on_done)(void *arg, int rc, long status, const char *errmsg);
};

/* on_data's return value that pauses the transfer. */
#define UPSTREAM_PAUSE 1000
/* read_body's return value that pauses the upload (see upstream_request). */
#define UPSTREAM_READ_PAUSE (-2L)

/* Creates the upstream client for base (which must outlive it) sending
 * user_agent (copied).  Free with upstream_free.  ERR_NOMEM, ERR_UPSTREAM
 * when libcurl cannot be initialised. */
int upstream_new(struct event_base *base, const char *user_agent, struct upstream **out);

/* Cancels every transfer without calling callbacks, then frees u.  NULL is
 * fine.  Not from inside a callback of one of u's transfers. */
void upstream_free(struct upstream *u);

/* Starts a GET of rq->url.  cbs (copied) and arg are the transfer's
 * callbacks; arg is passed through untouched.  *out is a handle for
 * upstream_cancel / upstream_resume, valid until on_done returns or
 * upstream_cancel is called (out may be NULL).  No callback runs before
 * upstream_fetch returns.  May be called from inside any callback.
 * Errors (nothing started, no callback will run): ERR_INVAL (not an http(s)
 * URL, credentials in the URL, CR/LF in a header), ERR_NOMEM, ERR_UPSTREAM
 * (libcurl refused the transfer). */
int upstream_fetch(struct upstream *u, const struct upstream_request *rq,
		   const struct upstream_cbs *cbs, void *arg, struct upstream_xfer **out);

/* Stops x; no callback of x runs after this returns and x is freed (maybe at
 * the next loop turn; don't use it again).  Safe from inside any callback of
 * this or another transfer, except x's own on_done (there it is a no-op).
 * NULL is fine. */
void upstream_cancel(struct upstream_xfer *x);

/* Resumes a transfer paused by on_data returning UPSTREAM_PAUSE.  The
 * refused bytes are delivered again from the loop shortly after, never from
 * inside this call.  Harmless when x is not paused (then it has no effect,
 * also not on a later pause).  Safe from inside any callback, including x's
 * on_data just before it returns UPSTREAM_PAUSE. */
void upstream_resume(struct upstream_xfer *x);

/* Resumes the upload of a transfer whose read_body returned
 * UPSTREAM_READ_PAUSE: read_body is called again from the loop shortly
 * after, never from inside this call.  Harmless when the upload is not
 * paused (then it has no effect, also not on a later pause).  Independent
 * of upstream_resume: a transfer may have both directions paused.  Safe
 * from inside any callback, including read_body itself.  NULL is fine. */
void upstream_resume_body(struct upstream_xfer *x);

/* The reason phrase of the final response's status line ("Not Found";
 * empty for HTTP/2, which has none), borrowed: valid only during x's
 * on_head.  *len gets its length. */
const char *upstream_reason(const struct upstream_xfer *x, size_t *len);

/* Parses "scheme://user:pass@host/..." into a URL without credentials and
 * the percent-decoded user and password.  All three are xmalloc'ed, the
 * caller frees them with xfree; *user and *pass are NULL when absent (a user
 * with no password gives *pass NULL).  ERR_INVAL for anything but a
 * well-formed http/https URL, or credentials that decode to control
 * characters; nothing is returned then. */
int upstream_split_credentials(const char *url, char **clean_url, char **user, char **pass);

/* A header value (v, n) that is a whole non-negative decimal number (a
 * Content-Length, an X-DEVPI-SERIAL) into *out: ERR_OK, else ERR_PARSE
 * (*out untouched). */
int upstream_header_num(const char *v, size_t n, long long *out);

#endif
