/* test_http1.c — the strict HTTP/1.1 request parser: real requests fed whole,
 * in odd pieces and byte by byte, and every hostile case with its status. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "proxy/http1.h"

static const struct http1_limits lim_default = {
	.max_request_line = 256,
	.max_header_bytes = 1024,
	.max_headers = 16,
	.max_body = 4096,
};

/* Drives the parser over in[0..len), making `step` more bytes available each
 * time it asks for more, and writes a transcript of the events to *out:
 *   H(METHOD target 1.minor cl=N chunked=0 ka=1 ec=0 n=nheaders)
 *   D(body bytes)          after each complete message
 *   E(status)              on an error (then stops)
 * Also checks the parser's own contract on every call. */
static void drive(const struct http1_limits *lim, const char *in, size_t len, size_t step, struct buf *out)
{
	struct http1_parser p;
	struct buf body;
	http1_parser_init(&p, lim);
	buf_init(&body, 0);
	buf_init(out, 0);
	size_t off = 0, avail = len < step ? len : step;
	int guard = 0;
	bool headers_seen = false;
	for (;;) {
		assert_true(++guard < 1000000);
		size_t used = 12345;
		const char *b = (const char *)1;
		size_t blen = 777;
		enum http1_event ev = http1_parse(&p, in + off, avail - off, &used, &b, &blen);
		assert_true(used <= avail - off);
		if (ev != HTTP1_BODY) {
			assert_null(b);
			assert_int_equal(blen, 0);
		}
		off += used;
		if (ev == HTTP1_NEED_MORE) {
			assert_int_equal(off, avail);
			if (avail == len)
				break;
			avail = len - avail < step ? len : avail + step;
			continue;
		}
		if (ev == HTTP1_HEADERS) {
			const struct http1_request *r = &p.req;
			assert_false(headers_seen);
			headers_seen = true;
			/* strings are NUL-terminated where they end */
			assert_int_equal(strlen(r->method), r->method_len);
			assert_int_equal(strlen(r->target), r->target_len);
			for (unsigned i = 0; i < r->nheaders; i++) {
				assert_int_equal(strlen(r->headers[i].name), r->headers[i].name_len);
				assert_int_equal(strlen(r->headers[i].value), r->headers[i].value_len);
			}
			buf_addf(out, "H(%s %s 1.%d cl=%lld chunked=%d ka=%d ec=%d n=%u)", r->method, r->target,
				r->minor, (long long)r->content_length, r->chunked, r->keep_alive,
				r->expect_continue, r->nheaders);
		} else if (ev == HTTP1_BODY) {
			assert_true(headers_seen);
			assert_true(blen > 0);
			assert_ptr_equal(b, in + off - blen);   /* the data ends the consumed prefix */
			buf_add(&body, b, blen);
		} else if (ev == HTTP1_DONE) {
			assert_true(headers_seen);
			/* sticky until reset */
			size_t u2 = 1;
			assert_int_equal(http1_parse(&p, in + off, avail - off, &u2, NULL, NULL), HTTP1_DONE);
			assert_int_equal(u2, 0);
			buf_addf(out, "D(%s)", body.p ? body.p : "");
			buf_reset(&body);
			http1_parser_reset(&p);
			headers_seen = false;
		} else {
			assert_int_equal(ev, HTTP1_ERROR);
			assert_non_null(p.error_msg);
			buf_addf(out, "E(%d)", p.error_status);
			size_t u2 = 1;
			assert_int_equal(http1_parse(&p, in + off, avail - off, &u2, NULL, NULL), HTTP1_ERROR);
			assert_int_equal(u2, 0);
			break;
		}
	}
	buf_release(&body);
	http1_parser_release(&p);
	if (!out->p)
		buf_adds(out, "");
}

/* Transcript with everything at once; asserts that every feeding pattern
 * (byte by byte, small odd steps) gives the same one.  Caller frees. */
static char *run_lim(const struct http1_limits *lim, const char *in, size_t len)
{
	struct buf whole, other;
	drive(lim, in, len, len ? len : 1, &whole);
	static const size_t steps[] = { 1, 2, 3, 7, 64 };
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		drive(lim, in, len, steps[i], &other);
		if (strcmp(whole.p, other.p) != 0)
			fail_msg("step %zu: '%s' != whole '%s'", steps[i], other.p, whole.p);
		buf_release(&other);
	}
	return buf_detach(&whole, NULL);
}

static char *run(const char *in)
{
	return run_lim(&lim_default, in, strlen(in));
}

static void expect(const char *in, const char *transcript)
{
	char *got = run(in);
	if (strcmp(got, transcript) != 0)
		fail_msg("input '%s':\n got  '%s'\n want '%s'", in, got, transcript);
	xfree(got);
}

static void expect_status(const char *in, int status)
{
	char want[32];
	snprintf(want, sizeof want, "E(%d)", status);
	expect(in, want);
}

/* ---- real requests ---- */

static void test_get_pipelined_keepalive(void **state)
{
	const char *in =
		"GET /root/pypi/+simple/ HTTP/1.1\r\nHost: localhost:3141\r\nAccept: text/html\r\nUser-Agent: pip/24.0\r\n\r\n"
		"GET /root/pypi/+simple/requests/ HTTP/1.1\r\nHost: localhost:3141\r\nAccept-Encoding: gzip, deflate\r\n\r\n"
		"GET /+api HTTP/1.1\r\nHost: localhost:3141\r\nConnection: close\r\n\r\n";
	expect(in,
		"H(GET /root/pypi/+simple/ 1.1 cl=-1 chunked=0 ka=1 ec=0 n=3)D()"
		"H(GET /root/pypi/+simple/requests/ 1.1 cl=-1 chunked=0 ka=1 ec=0 n=2)D()"
		"H(GET /+api 1.1 cl=-1 chunked=0 ka=0 ec=0 n=2)D()");

	/* the same through the API directly: consumed lands exactly on each request */
	struct http1_parser p;
	http1_parser_init(&p, &lim_default);
	size_t off = 0, used;
	const char *b;
	size_t blen;
	const char *targets[] = { "/root/pypi/+simple/", "/root/pypi/+simple/requests/", "/+api" };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(http1_parse(&p, in + off, strlen(in) - off, &used, &b, &blen), HTTP1_HEADERS);
		off += used;
		assert_int_equal(p.req.target_len, strlen(targets[i]));
		assert_memory_equal(p.req.target, targets[i], p.req.target_len);
		size_t hl = 0;
		const char *host = http1_header(&p.req, "HOST", &hl);
		assert_non_null(host);
		assert_int_equal(hl, strlen("localhost:3141"));
		assert_memory_equal(host, "localhost:3141", hl);
		assert_int_equal(http1_parse(&p, in + off, strlen(in) - off, &used, &b, &blen), HTTP1_DONE);
		assert_int_equal(used, 0);
		http1_parser_reset(&p);
	}
	assert_int_equal(off, strlen(in));
	assert_int_equal(http1_parse(&p, in + off, 0, &used, &b, &blen), HTTP1_NEED_MORE);
	http1_parser_release(&p);
}

static void test_post_content_length(void **state)
{
	expect("POST /+login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 33\r\n\r\n"
	       "{\"user\": \"root\", \"password\": \"\"}\n"
	       "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"H(POST /+login 1.1 cl=33 chunked=0 ka=1 ec=0 n=3)D({\"user\": \"root\", \"password\": \"\"}\n)"
		"H(GET / 1.1 cl=-1 chunked=0 ka=1 ec=0 n=1)D()");
	/* Content-Length: 0, equal repeated values, a list of equal values */
	expect("PUT /alice HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"H(PUT /alice 1.1 cl=0 chunked=0 ka=1 ec=0 n=2)D()");
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
		"H(POST / 1.1 cl=3 chunked=0 ka=1 ec=0 n=3)D(abc)");
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3 , 3\r\n\r\nabc",
		"H(POST / 1.1 cl=3 chunked=0 ka=1 ec=0 n=2)D(abc)");
	/* truncated body: no DONE */
	expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
		"H(POST / 1.1 cl=10 chunked=0 ka=1 ec=0 n=2)");
	/* exactly max_body is fine */
	char *big = xasprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n%4096s", "z");
	char *got = run(big);
	const char *pre = "H(POST / 1.1 cl=4096 chunked=0 ka=1 ec=0 n=2)D(";
	assert_int_equal(strncmp(got, pre, strlen(pre)), 0);
	assert_int_equal(strlen(got), strlen(pre) + 4096 + 1);
	assert_string_equal(got + strlen(got) - 2, "z)");
	xfree(got);
	xfree(big);
}

static void test_chunked_extensions_trailers(void **state)
{
	expect("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
	       "5;name=val\r\nhello\r\n"
	       "6 ; a=\"b c\"\r\n world\r\n"
	       "0000A\r\n0123456789\r\n"
	       "0;last\r\nX-Checksum: abc\r\nX-Other:\tdef \r\n\r\n"
	       "GET /next HTTP/1.1\r\nHost: x\r\n\r\n",
		"H(POST /up 1.1 cl=-1 chunked=1 ka=1 ec=1 n=3)D(hello world0123456789)"
		"H(GET /next 1.1 cl=-1 chunked=0 ka=1 ec=0 n=1)D()");
	/* no trailers, bare LF line ends, mixed-case coding name */
	expect("POST /up HTTP/1.1\nHost: x\nTransfer-Encoding: Chunked\n\n3\nabc\n0\n\n",
		"H(POST /up 1.1 cl=-1 chunked=1 ka=1 ec=0 n=2)D(abc)");
	/* a body that is only the last chunk */
	expect("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"H(POST /up 1.1 cl=-1 chunked=1 ka=1 ec=0 n=2)D()");
}

static void test_methods_and_versions(void **state)
{
	expect("PUSH /root/dev HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
		"H(PUSH /root/dev 1.1 cl=2 chunked=0 ka=1 ec=0 n=2)D({})");
	expect("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"H(OPTIONS * 1.1 cl=-1 chunked=0 ka=1 ec=0 n=1)D()");
	expect("M-SEARCH! /x?a=b&c=%20 HTTP/1.1\r\nHost: x\r\n\r\n",
		"H(M-SEARCH! /x?a=b&c=%20 1.1 cl=-1 chunked=0 ka=1 ec=0 n=1)D()");
	/* HTTP/1.0: no Host needed, keep-alive only on request, no 100-continue */
	expect("GET / HTTP/1.0\r\n\r\n", "H(GET / 1.0 cl=-1 chunked=0 ka=0 ec=0 n=0)D()");
	expect("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nExpect: 100-continue\r\n\r\n",
		"H(GET / 1.0 cl=-1 chunked=0 ka=1 ec=0 n=2)D()");
	expect("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
		"H(GET / 1.0 cl=-1 chunked=0 ka=0 ec=0 n=1)D()");
	expect("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, CLOSE\r\n\r\n",
		"H(GET / 1.1 cl=-1 chunked=0 ka=0 ec=0 n=2)D()");
	/* a few empty lines before the request line are skipped */
	expect("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"H(GET / 1.1 cl=-1 chunked=0 ka=1 ec=0 n=1)D()");
}

static void test_header_values(void **state)
{
	const char *in = "GET / HTTP/1.1\r\nHost:x\r\nX-Empty:\r\nX-Pad: \t a b \t\r\nX-Utf8: caf\xc3\xa9\r\n\r\n";
	struct http1_parser p;
	size_t used, l;
	http1_parser_init(&p, &lim_default);
	assert_int_equal(http1_parse(&p, in, strlen(in), &used, NULL, NULL), HTTP1_HEADERS);
	assert_int_equal(used, strlen(in));
	assert_int_equal(p.req.nheaders, 4);
	assert_string_equal(http1_header(&p.req, "host", &l), "x");
	assert_string_equal(http1_header(&p.req, "x-empty", &l), "");
	assert_int_equal(l, 0);
	assert_string_equal(http1_header(&p.req, "X-PAD", &l), "a b");
	assert_int_equal(l, 3);
	assert_string_equal(http1_header(&p.req, "x-utf8", NULL), "caf\xc3\xa9");
	assert_null(http1_header(&p.req, "x-missing", &l));
	assert_null(http1_header(&p.req, "hos", &l));
	/* reset forgets the request; the parser is reusable */
	http1_parser_reset(&p);
	assert_int_equal(p.req.nheaders, 0);
	assert_null(http1_header(&p.req, "host", &l));
	assert_int_equal(http1_parse(&p, in, strlen(in), &used, NULL, NULL), HTTP1_HEADERS);
	assert_string_equal(http1_header(&p.req, "x-pad", NULL), "a b");
	http1_parser_release(&p);
}

/* ---- limits ---- */

static void test_414_before_crlf(void **state)
{
	/* 300 bytes of request line, never terminated: refused as soon as the
	 * limit is passed, without waiting for the CRLF */
	char line[301];
	memcpy(line, "GET /", 5);
	memset(line + 5, 'a', sizeof line - 6);
	line[300] = '\0';
	expect_status(line, 414);

	struct http1_parser p;
	size_t used;
	http1_parser_init(&p, &lim_default);
	assert_int_equal(http1_parse(&p, line, 255, &used, NULL, NULL), HTTP1_NEED_MORE);
	assert_int_equal(http1_parse(&p, line + 255, 1, &used, NULL, NULL), HTTP1_ERROR);
	assert_int_equal(p.error_status, 414);
	http1_parser_release(&p);

	/* exactly at the limit (incl. CRLF) passes, one more byte does not */
	struct http1_limits lim = lim_default;
	lim.max_request_line = strlen("GET /abc HTTP/1.1\r\n");
	const char *ok = "GET /abc HTTP/1.1\r\nHost: x\r\n\r\n";
	char *got = run_lim(&lim, ok, strlen(ok));
	assert_string_equal(got, "H(GET /abc 1.1 cl=-1 chunked=0 ka=1 ec=0 n=1)D()");
	xfree(got);
	const char *over = "GET /abcd HTTP/1.1\r\nHost: x\r\n\r\n";
	got = run_lim(&lim, over, strlen(over));
	assert_string_equal(got, "E(414)");
	xfree(got);
}

static void test_431_headers(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	buf_adds(&b, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 16; i++)
		buf_addf(&b, "X-H%d: v\r\n", i);
	buf_adds(&b, "\r\n");
	expect_status(b.p, 431);   /* 17 headers, limit 16 */

	/* header bytes over the limit, before any line end */
	buf_reset(&b);
	buf_adds(&b, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
	for (int i = 0; i < 1100; i++)
		buf_addc(&b, 'v');
	expect_status(b.p, 431);

	/* 16 headers is fine */
	buf_reset(&b);
	buf_adds(&b, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 15; i++)
		buf_addf(&b, "X-H%d: v\r\n", i);
	buf_adds(&b, "\r\n");
	expect(b.p, "H(GET / 1.1 cl=-1 chunked=0 ka=1 ec=0 n=16)D()");
	buf_release(&b);

	/* trailers are bounded by max_header_bytes too */
	struct http1_limits lim = lim_default;
	lim.max_header_bytes = 64;
	const char *in = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "0\r\nX-T: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	char *got = run_lim(&lim, in, strlen(in));
	assert_string_equal(got, "H(POST / 1.1 cl=-1 chunked=1 ka=1 ec=0 n=2)E(431)");
	xfree(got);
}

static void test_413(void **state)
{
	/* from Content-Length, at HEADERS time: no body byte is needed */
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4097\r\n\r\n", 413);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999999999999999\r\n\r\n", 413);
	/* chunked: the running total */
	expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n",
		"H(POST / 1.1 cl=-1 chunked=1 ka=1 ec=0 n=2)");
	char *in = xasprintf("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n%2048s\r\n801\r\n", "x");
	char *got = run(in);
	assert_string_equal(got, "H(POST / 1.1 cl=-1 chunked=1 ka=1 ec=0 n=2)E(413)");
	xfree(got);
	xfree(in);
	expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1001\r\n",
		"H(POST / 1.1 cl=-1 chunked=1 ka=1 ec=0 n=2)E(413)");
}

/* ---- hostile framing and syntax ---- */

static void test_content_length_hostile(void **state)
{
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\nhello", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,\r\n\r\nhello", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5.0\r\n\r\nhello", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 00000000000000000005\r\n\r\nhello", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400);
}

static void test_transfer_encoding_hostile(void **state)
{
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501);
	expect_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

static void test_chunk_hostile(void **state)
{
	const char *h = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
	const char *head = "H(POST / 1.1 cl=-1 chunked=1 ka=1 ec=0 n=2)E(400)";
	static const char *const bodies[] = {
		"zz\r\nhello\r\n0\r\n\r\n",            /* not hex */
		"\r\nhello\r\n0\r\n\r\n",              /* no digits */
		"-5\r\nhello\r\n0\r\n\r\n",
		"+5\r\nhello\r\n0\r\n\r\n",
		"0x5\r\nhello\r\n0\r\n\r\n",
		"FFFFFFFFFFFFFFFFF\r\n",               /* 17 digits: overflow */
		"10000000000000000\r\n",
		"00000000000000001\r\n",               /* too many digits even if small */
		"5 \r\nhello\r\n0\r\n\r\n",            /* whitespace without extension */
		"5\rhello\r\n0\r\n\r\n",               /* bare CR */
		"5;a\x01\r\nhello\r\n0\r\n\r\n",       /* control char in extension */
		"5\r\nhelloX\r\n0\r\n\r\n",            /* no CRLF after data */
		"5\r\nhello\r0\r\n\r\n",
		"5\r\nhello\r\n0\r\n X: y\r\n\r\n",    /* folded trailer */
		"5\r\nhello\r\n0\r\nX : y\r\n\r\n",    /* space before colon */
		"5\r\nhello\r\n0\r\nX: y\r\r\n\r\n",
		"5\r\nhello\r\n0\r\n\rX",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		char *in = xasprintf("%s%s", h, bodies[i]);
		char *got = run(in);
		if (strcmp(got, head) != 0)
			fail_msg("body %zu '%s': got '%s'", i, bodies[i], got);
		xfree(got);
		xfree(in);
	}
	/* NUL inside a trailer value (length given explicitly) */
	const char in[] = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\0b\r\n\r\n";
	char *got = run_lim(&lim_default, in, sizeof in - 1);
	assert_string_equal(got, head);
	xfree(got);
	/* an over-long chunk extension */
	char *ext = xasprintf("%s5;%5000s\r\nhello\r\n0\r\n\r\n", h, "e");
	got = run(ext);
	assert_string_equal(got, head);
	xfree(got);
	xfree(ext);
}

static void test_request_line_hostile(void **state)
{
	expect_status("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
	expect_status("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505);
	expect_status("GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505);
	expect_status("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400);
	expect_status("GET / http/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400);
	expect_status("GET / HTTP/11\r\nHost: x\r\n\r\n", 400);
	expect_status("GET /\r\nHost: x\r\n\r\n", 400);
	expect_status("GET\r\n\r\n", 400);
	expect_status("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status(" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET /\tHTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET http://example.com/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\rHost: x\r\n\r\n", 400);
	expect_status("GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	const char nul[] = "GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n";
	char *got = run_lim(&lim_default, nul, sizeof nul - 1);
	assert_string_equal(got, "E(400)");
	xfree(got);
	/* regression (fuzz): a bare CR early in an over-long line is a 400 however
	 * the bytes are split (whole: the limit used to be checked first) */
	char *cr = xasprintf("GET /\rx%300s HTTP/1.1\r\nHost: x\r\n\r\n", "a");
	expect_status(cr, 400);
	xfree(cr);
	cr = xasprintf("GET / HTTP/1.1\r\nHost: x\r\nX-A: \rb%2000s\r\n\r\n", "a");
	expect_status(cr, 400);
	xfree(cr);
	/* the bare CR is found before any line end arrives */
	struct http1_parser p;
	size_t used;
	http1_parser_init(&p, &lim_default);
	assert_int_equal(http1_parse(&p, "GET /\rx", 7, &used, NULL, NULL), HTTP1_ERROR);
	assert_int_equal(p.error_status, 400);
	http1_parser_release(&p);
}

static void test_header_hostile(void **state)
{
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400);     /* obs-fold */
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);                     /* space before colon */
	expect_status("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400);
	expect_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400);          /* bare CR */
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\n\r\r\n", 400);
	expect_status("GET / HTTP/1.1\r\n\r\n", 400);                                  /* no Host */
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);            /* two Host */
	expect_status("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400);
	const char nul_value[] = "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n";
	const char nul_name[] = "GET / HTTP/1.1\r\nHost: x\r\nX-\0A: b\r\n\r\n";
	char *got = run_lim(&lim_default, nul_value, sizeof nul_value - 1);
	assert_string_equal(got, "E(400)");
	xfree(got);
	got = run_lim(&lim_default, nul_name, sizeof nul_name - 1);
	assert_string_equal(got, "E(400)");
	xfree(got);
}

static void test_error_sticky_and_reason(void **state)
{
	struct http1_parser p;
	size_t used;
	const char *b;
	size_t bl;
	http1_parser_init(&p, &lim_default);
	assert_int_equal(http1_parse(&p, "GET / HTTP/3.0\r\n", 16, &used, &b, &bl), HTTP1_ERROR);
	assert_int_equal(p.error_status, 505);
	assert_string_equal(p.error_msg, "http version not supported");
	assert_int_equal(http1_parse(&p, "GET / HTTP/1.1\r\n", 16, &used, &b, &bl), HTTP1_ERROR);
	assert_int_equal(used, 0);
	/* reset clears the error */
	http1_parser_reset(&p);
	assert_int_equal(p.error_status, 0);
	assert_int_equal(http1_parse(&p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, &used, &b, &bl), HTTP1_HEADERS);
	assert_int_equal(used, 27);
	http1_parser_release(&p);

	assert_string_equal(http1_reason(200), "OK");
	assert_string_equal(http1_reason(404), "Not Found");
	assert_string_equal(http1_reason(413), "Content Too Large");
	assert_string_equal(http1_reason(414), "URI Too Long");
	assert_string_equal(http1_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http1_reason(505), "HTTP Version Not Supported");
	assert_string_equal(http1_reason(299), "Unknown");
	assert_string_equal(http1_reason(-1), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_pipelined_keepalive),
		cmocka_unit_test(test_post_content_length),
		cmocka_unit_test(test_chunked_extensions_trailers),
		cmocka_unit_test(test_methods_and_versions),
		cmocka_unit_test(test_header_values),
		cmocka_unit_test(test_414_before_crlf),
		cmocka_unit_test(test_431_headers),
		cmocka_unit_test(test_413),
		cmocka_unit_test(test_content_length_hostile),
		cmocka_unit_test(test_transfer_encoding_hostile),
		cmocka_unit_test(test_chunk_hostile),
		cmocka_unit_test(test_request_line_hostile),
		cmocka_unit_test(test_header_hostile),
		cmocka_unit_test(test_error_sticky_and_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
