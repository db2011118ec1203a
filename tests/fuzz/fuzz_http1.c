/* fuzz_http1.c — the HTTP/1.1 request parser over an arbitrary byte stream.
 *
 * The input is parsed as a connection's worth of pipelined requests with
 * small limits (resetting after each DONE, stopping at the first ERROR),
 * once whole and once byte by byte; both feeds must produce the same
 * transcript of events, and every call must keep the parser's contract. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "proxy/http1.h"

static const struct http1_limits fuzz_lim = {
	.max_request_line = 256,
	.max_header_bytes = 1024,
	.max_headers = 16,
	.max_body = 8192,
};

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void transcript(const char *in, size_t len, size_t step, struct buf *out)
{
	struct http1_parser p;
	http1_parser_init(&p, &fuzz_lim);
	size_t off = 0, avail = len < step ? len : step;
	for (;;) {
		size_t used = (size_t)-1, blen = 1;
		const char *b = in;
		enum http1_event ev = http1_parse(&p, in + off, avail - off, &used, &b, &blen);
		CHECK(used <= avail - off);
		off += used;
		if (ev == HTTP1_NEED_MORE) {
			CHECK(off == avail);
			if (avail == len)
				break;
			avail = len - avail < step ? len : avail + step;
			continue;
		}
		if (ev == HTTP1_HEADERS) {
			const struct http1_request *r = &p.req;
			CHECK(strlen(r->method) == r->method_len && r->method_len > 0);
			CHECK(strlen(r->target) == r->target_len && r->target_len > 0);
			CHECK(r->minor == 0 || r->minor == 1);
			CHECK(!(r->chunked && r->content_length >= 0));
			CHECK(r->content_length < 0 || (uint64_t)r->content_length <= fuzz_lim.max_body);
			CHECK(r->nheaders <= fuzz_lim.max_headers);
			buf_addf(out, "H %s %s %d %lld %d %d %d %u\n", r->method, r->target, r->minor,
				(long long)r->content_length, r->chunked, r->keep_alive, r->expect_continue, r->nheaders);
			for (unsigned i = 0; i < r->nheaders; i++) {
				const struct http1_header *h = &r->headers[i];
				CHECK(strlen(h->name) == h->name_len && strlen(h->value) == h->value_len);
				CHECK(http1_header(r, h->name, NULL) != NULL);
				buf_addf(out, "%s: %s\n", h->name, h->value);
			}
		} else if (ev == HTTP1_BODY) {
			CHECK(blen > 0 && b == in + off - blen);
			buf_add(out, b, blen);   /* no marker: pieces differ between feeds */
		} else if (ev == HTTP1_DONE) {
			buf_adds(out, "D\n");
			http1_parser_reset(&p);
		} else {
			CHECK(ev == HTTP1_ERROR);
			CHECK(p.error_status >= 400 && p.error_status <= 505 && p.error_msg);
			CHECK(strcmp(http1_reason(p.error_status), "Unknown") != 0);
			buf_addf(out, "E %d\n", p.error_status);
			break;
		}
		if (ev != HTTP1_BODY)
			CHECK(b == NULL && blen == 0);
	}
	http1_parser_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole, bytes;
	buf_init(&whole, 0);
	buf_init(&bytes, 0);
	transcript((const char *)data, size, size ? size : 1, &whole);
	transcript((const char *)data, size, 1, &bytes);
	CHECK(whole.len == bytes.len && (whole.len == 0 || memcmp(whole.p, bytes.p, whole.len) == 0));
	buf_release(&whole);
	buf_release(&bytes);
	return 0;
}
