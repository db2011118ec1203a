/* test_multipart.c — the streaming multipart/form-data parser: a twine-shaped
 * upload, data that nearly contains the delimiter, every split point, and the
 * hostile cases (truncation, missing name, header bomb, too many parts). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "proxy/multipart.h"

#define BOUNDARY "a7f3c2e1b9d84f6a8c0e2d4b6f8a1c3e"

static const struct multipart_limits lim_default = { .max_part_header_bytes = 1024, .max_parts = 16 };

/* Callbacks write a transcript: [name|filename|type] data... <end> */
struct rec {
	struct buf log;
	int fail_at_data;   /* part_data returns ERR_IO on this call (1-based), 0 = never */
	int ndata;
	bool in_part;
};

static int rec_begin(void *arg, const char *name, const char *filename, const char *ctype)
{
	struct rec *r = arg;
	assert_false(r->in_part);
	r->in_part = true;
	buf_addf(&r->log, "[%s|%s|%s]", name, filename ? filename : "(null)", ctype ? ctype : "(null)");
	return 0;
}

static int rec_data(void *arg, const char *p, size_t n)
{
	struct rec *r = arg;
	assert_true(r->in_part);
	assert_true(n > 0);
	if (++r->ndata == r->fail_at_data)
		return ERR_IO;
	for (size_t i = 0; i < n; i++) {   /* NUL is logged as "\\0" */
		if (p[i] == '\0')
			buf_adds(&r->log, "\\0");
		else
			buf_addc(&r->log, p[i]);
	}
	return 0;
}

static int rec_end(void *arg)
{
	struct rec *r = arg;
	assert_true(r->in_part);
	r->in_part = false;
	buf_adds(&r->log, "<end>");
	return 0;
}

static const struct multipart_cbs rec_cbs = { rec_begin, rec_data, rec_end };

static const char *rc_name(int rc)
{
	switch (rc) {
	case ERR_OK: return "OK";
	case ERR_PARSE: return "PARSE";
	case ERR_TOOBIG: return "TOOBIG";
	case ERR_IO: return "IO";
	default: return "OTHER";
	}
}

/* Feeds body in the pieces cut at cuts[0..ncuts) (ascending); returns the
 * transcript (caller frees) with "=rc" of the first failing feed, or of
 * finish, appended. */
static char *feed_cuts(const char *boundary, const struct multipart_limits *lim, const char *body, size_t len,
	const size_t *cuts, size_t ncuts)
{
	struct rec r = { .fail_at_data = 0 };
	struct multipart *m = NULL;
	buf_init(&r.log, 0);
	assert_int_equal(multipart_new(boundary, lim, &rec_cbs, &r, &m), ERR_OK);
	size_t off = 0;
	int rc = ERR_OK;
	for (size_t i = 0; i <= ncuts && rc == ERR_OK; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		rc = multipart_feed(m, body + off, end - off);
		off = end;
	}
	if (rc == ERR_OK)
		rc = multipart_finish(m);
	else
		assert_int_equal(multipart_finish(m), rc);   /* sticky */
	buf_addf(&r.log, "=%s", rc_name(rc));
	multipart_free(m);
	return buf_detach(&r.log, NULL);
}

static char *feed_whole(const char *body, size_t len)
{
	return feed_cuts(BOUNDARY, &lim_default, body, len, NULL, 0);
}

static void expect_body(const char *body, const char *want)
{
	char *got = feed_whole(body, strlen(body));
	if (strcmp(got, want) != 0)
		fail_msg("body '%s':\n got  '%s'\n want '%s'", body, got, want);
	xfree(got);
}

/* A body as twine sends it (requests' encode_multipart_formdata). */
static char *twine_body(size_t *len)
{
	struct buf b;
	buf_init(&b, 0);
	static const char *const fields[][2] = {
		{ ":action", "file_upload" }, { "protocol_version", "1" }, { "name", "hello-world" },
		{ "version", "1.0" }, { "filetype", "sdist" }, { "pyversion", "source" },
		{ "metadata_version", "2.1" }, { "summary", "caf\xc3\xa9 \"quoted\"" },
		{ "sha256_digest", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" },
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		buf_addf(&b, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n",
			fields[i][0], fields[i][1]);
	buf_adds(&b, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"content\"; filename=\"hello-world-1.0.tar.gz\"\r\n"
		     "Content-Type: application/octet-stream\r\n\r\n");
	/* binary content with CR, LF, NUL and near-delimiter sequences */
	static const char data[] = "\x1f\x8b\x08\0\r\n\r\n--\r\n--" "a7f3c2e1b9d84f6a8c0e2d4b6f8a1c3" "\r\r\n-"
		"\r\n--a7f3\n--" BOUNDARY "\r\n" "-" BOUNDARY "\r" "\0\xff";
	buf_add(&b, data, sizeof data - 1);
	buf_adds(&b, "\r\n--" BOUNDARY "--\r\n");
	*len = b.len;
	return buf_detach(&b, NULL);
}

static const char twine_transcript_head[] =
	"[:action|(null)|(null)]file_upload<end>"
	"[protocol_version|(null)|(null)]1<end>"
	"[name|(null)|(null)]hello-world<end>"
	"[version|(null)|(null)]1.0<end>"
	"[filetype|(null)|(null)]sdist<end>"
	"[pyversion|(null)|(null)]source<end>"
	"[metadata_version|(null)|(null)]2.1<end>"
	"[summary|(null)|(null)]caf\xc3\xa9 \"quoted\"<end>"
	"[sha256_digest|(null)|(null)]9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08<end>"
	"[content|hello-world-1.0.tar.gz|application/octet-stream]";

static const char twine_data_logged[] =
	"\x1f\x8b\x08\\0\r\n\r\n--\r\n--" "a7f3c2e1b9d84f6a8c0e2d4b6f8a1c3" "\r\r\n-"
	"\r\n--a7f3\n--" BOUNDARY "\r\n" "-" BOUNDARY "\r" "\\0\xff";

static void test_twine_upload(void **state)
{
	size_t len;
	char *body = twine_body(&len);
	char *got = feed_whole(body, len);
	char *want = xasprintf("%s%s<end>=OK", twine_transcript_head, twine_data_logged);
	assert_string_equal(got, want);
	xfree(want);
	xfree(got);
	xfree(body);
}

/* Every split point (and every pair of split points on a small body, and
 * byte by byte) gives the same transcript as the whole body. */
static void test_every_split_point(void **state)
{
	size_t len;
	char *body = twine_body(&len);
	char *whole = feed_whole(body, len);
	assert_string_equal(whole + strlen(whole) - 8, "<end>=OK");
	for (size_t i = 0; i <= len; i++) {
		char *got = feed_cuts(BOUNDARY, &lim_default, body, len, &i, 1);
		if (strcmp(got, whole) != 0)
			fail_msg("cut at %zu: '%s'", i, got);
		xfree(got);
	}
	size_t *cuts = xmalloc(len * sizeof *cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i;
	char *got = feed_cuts(BOUNDARY, &lim_default, body, len, cuts, len);
	assert_string_equal(got, whole);
	xfree(got);
	xfree(cuts);
	xfree(whole);
	xfree(body);

	const char *small = "pre\r\n--bb\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n"
			    "\r\n-\r\n--\r\n--b\r\r\n--bx\r\n--b-\r\n"
			    "--bb \t\r\nContent-Disposition: form-data; name=e\r\n\r\n"
			    "\r\n--bb--\r\nepilogue \r\n--bb\r\n";
	const char *want = "[f|(null)|(null)]\r\n-\r\n--\r\n--b\r\r\n--bx\r\n--b-<end>[e|(null)|(null)]<end>=OK";
	size_t sl = strlen(small);
	char *w = feed_cuts("bb", &lim_default, small, sl, NULL, 0);
	assert_string_equal(w, want);
	xfree(w);
	for (size_t i = 0; i <= sl; i++) {
		for (size_t j = i; j <= sl; j++) {
			size_t c[2] = { i, j };
			char *g = feed_cuts("bb", &lim_default, small, sl, c, 2);
			if (strcmp(g, want) != 0)
				fail_msg("cuts %zu,%zu: '%s'", i, j, g);
			xfree(g);
		}
	}
}

static void test_truncated(void **state)
{
	size_t len;
	char *body = twine_body(&len);
	/* every proper prefix is a truncated upload (the last 2 bytes are the
	 * CRLF after the close delimiter, which is epilogue) */
	for (size_t i = 0; i < len; i++) {
		char *got = feed_cuts(BOUNDARY, &lim_default, body, i, NULL, 0);
		const char *want = i >= len - 2 ? "<end>=OK" : "=PARSE";
		size_t gl = strlen(got), wl = strlen(want);
		if (gl < wl || strcmp(got + gl - wl, want) != 0)
			fail_msg("prefix %zu: '%s'", i, got);
		xfree(got);
	}
	/* precise: cut inside the close delimiter, after it */
	const char *b = "--bb\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--bb-";
	char *got = feed_cuts("bb", &lim_default, b, strlen(b), NULL, 0);
	assert_string_equal(got, "[a|(null)|(null)]x<end>=PARSE");
	xfree(got);
	b = "--bb\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b";
	got = feed_cuts("bb", &lim_default, b, strlen(b), NULL, 0);
	assert_string_equal(got, "[a|(null)|(null)]x=PARSE");
	xfree(got);
	b = "--bb\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--bb--";
	got = feed_cuts("bb", &lim_default, b, strlen(b), NULL, 0);
	assert_string_equal(got, "[a|(null)|(null)]x<end>=OK");
	xfree(got);
	got = feed_cuts("bb", &lim_default, "", 0, NULL, 0);
	assert_string_equal(got, "=PARSE");
	xfree(got);
	xfree(body);
}

static void test_truncated_status(void **state)
{
	/* every prefix of a body without NULs in its data */
	const char *b = "--bb\r\nContent-Disposition: form-data; name=\"a\"; filename=\"f.whl\"\r\n"
			"Content-Type: application/zip\r\n\r\nPK\r\n-\r\n--bb--\r\n";
	size_t n = strlen(b);
	for (size_t i = 0; i <= n; i++) {
		char *got = feed_cuts("bb", &lim_default, b, i, NULL, 0);
		const char *want = i >= n - 2 ? "=OK" : "=PARSE";
		size_t gl = strlen(got), wl = strlen(want);
		if (gl < wl || strcmp(got + gl - wl, want) != 0)
			fail_msg("prefix %zu: '%s'", i, got);
		xfree(got);
	}
}

static void test_part_headers(void **state)
{
	/* quoted strings with escapes, token values, parameters in any order and
	 * case, unknown parameters and headers ignored, padding */
	expect_body("--" BOUNDARY "  \r\n"
		    "content-disposition: Form-Data; filename=\"a\\\"b\\\\c.txt\"; NAME=\"x y\"; foo=bar;"
		    " filename*=utf-8''%e2%82%ac.txt\r\n"
		    "X-Other: whatever\r\n"
		    "CONTENT-TYPE:  text/plain; charset=utf-8 \r\n\r\n"
		    "hi\r\n--" BOUNDARY "--",
		"[x y|a\"b\\c.txt|text/plain; charset=utf-8]hi<end>=OK");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data;name=tok;filename=f.tar.gz\r\n\r\n\r\n--" BOUNDARY "--",
		"[tok|f.tar.gz|(null)]<end>=OK");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"\"; filename=\"\"\r\n\r\nz\r\n--" BOUNDARY "--",
		"[||(null)]z<end>=OK");
	/* preamble and epilogue */
	expect_body("This is a preamble.\r\n--" BOUNDARY "\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--" BOUNDARY
		    "--\r\nepilogue --" BOUNDARY "\r\n garbage",
		"[a|(null)|(null)]v<end>=OK");
	/* a body starting with CRLF before the first delimiter */
	expect_body("\r\n--" BOUNDARY "\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--" BOUNDARY "--",
		"[a|(null)|(null)]v<end>=OK");
}

static void test_hostile(void **state)
{
	/* no Content-Disposition, no name, wrong type, bad syntax */
	expect_body("--" BOUNDARY "\r\nContent-Type: text/plain\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"a\"; name=\"b\"\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"a\" junk\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"a\x01\"\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition : form-data; name=\"a\"\r\n\r\nv\r\n--" BOUNDARY "--", "=PARSE");
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"a\"\n\r\n", "=PARSE");     /* bare LF */
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"a\"\r\r\n\r\n", "=PARSE"); /* bare CR */
	const char nul[] = "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"a\0b\"\r\n\r\nv\r\n--" BOUNDARY "--";
	char *got = feed_whole(nul, sizeof nul - 1);
	assert_string_equal(got, "=PARSE");
	xfree(got);
	/* what follows a delimiter */
	expect_body("--" BOUNDARY "x\r\n", "=PARSE");
	expect_body("--" BOUNDARY "\n", "=PARSE");
	expect_body("--" BOUNDARY "-x", "=PARSE");
	expect_body("--" BOUNDARY " x\r\n", "=PARSE");
	expect_body("--" BOUNDARY "\rx", "=PARSE");
	/* the delimiter inside part data, followed by other bytes */
	expect_body("--" BOUNDARY "\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--" BOUNDARY "x\r\n",
		"[a|(null)|(null)]v<end>=PARSE");
	/* preamble bound */
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < MULTIPART_MAX_PREAMBLE + 1; i++)
		buf_addc(&b, 'p');
	buf_adds(&b, "\r\n--" BOUNDARY "--");
	got = feed_whole(b.p, b.len);
	assert_string_equal(got, "=TOOBIG");
	xfree(got);
	buf_release(&b);
}

static void test_header_bomb_and_parts(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	buf_adds(&b, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=a\r\n");
	for (int i = 0; i < 200; i++)
		buf_adds(&b, "X-Bomb: aaaaaaaaaaaaaaaa\r\n");
	buf_adds(&b, "\r\nv\r\n--" BOUNDARY "--");
	char *got = feed_whole(b.p, b.len);
	assert_string_equal(got, "=TOOBIG");
	xfree(got);
	/* regression (fuzz): a bare CR before the bound is a parse error
	 * whatever the split (whole: the bound used to be checked first) */
	buf_reset(&b);
	buf_adds(&b, "--bb\r\nContent-Disposition: form-data; name=a\rb");
	for (int i = 0; i < 2000; i++)
		buf_addc(&b, 'a');
	buf_adds(&b, "\r\n\r\nv\r\n--bb--");
	for (size_t cut = 0; cut <= b.len; cut += 7) {
		got = feed_cuts("bb", &lim_default, b.p, b.len, &cut, 1);
		assert_string_equal(got, "=PARSE");
		xfree(got);
	}
	/* one long header line without a line end */
	buf_reset(&b);
	buf_adds(&b, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=");
	for (int i = 0; i < 2000; i++)
		buf_addc(&b, 'a');
	got = feed_whole(b.p, b.len);
	assert_string_equal(got, "=TOOBIG");
	xfree(got);

	/* 16 parts pass, 17 do not */
	struct multipart_limits lim = lim_default;
	for (int nparts = 16; nparts <= 17; nparts++) {
		buf_reset(&b);
		for (int i = 0; i < nparts; i++)
			buf_addf(&b, "--bb\r\nContent-Disposition: form-data; name=f%d\r\n\r\n%d\r\n", i, i);
		buf_adds(&b, "--bb--\r\n");
		got = feed_cuts("bb", &lim, b.p, b.len, NULL, 0);
		size_t gl = strlen(got);
		if (nparts == 16) {
			assert_string_equal(got + gl - 3, "=OK");
			assert_non_null(strstr(got, "[f15|(null)|(null)]15<end>"));
		} else {
			assert_string_equal(got + gl - 7, "=TOOBIG");
			assert_null(strstr(got, "[f16"));
		}
		xfree(got);
	}
	buf_release(&b);
}

static void test_callback_error(void **state)
{
	size_t len;
	char *body = twine_body(&len);
	struct rec r = { .fail_at_data = 3 };
	struct multipart *m = NULL;
	buf_init(&r.log, 0);
	assert_int_equal(multipart_new(BOUNDARY, &lim_default, &rec_cbs, &r, &m), ERR_OK);
	assert_int_equal(multipart_feed(m, body, len), ERR_IO);
	assert_int_equal(multipart_feed(m, "x", 1), ERR_IO);
	assert_int_equal(multipart_feed(m, NULL, 0), ERR_IO);
	assert_int_equal(multipart_finish(m), ERR_IO);
	assert_string_equal(r.log.p, "[:action|(null)|(null)]file_upload<end>[protocol_version|(null)|(null)]1<end>[name|(null)|(null)]");
	multipart_free(m);
	multipart_free(NULL);
	buf_release(&r.log);
	xfree(body);
}

static void test_boundary(void **state)
{
	char out[MULTIPART_BOUNDARY_MAX + 1];
#define CT(s) s, strlen(s)
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=" BOUNDARY), out, sizeof out), ERR_OK);
	assert_string_equal(out, BOUNDARY);
	assert_int_equal(multipart_boundary(CT("Multipart/Form-Data;charset=utf-8;BOUNDARY=\"a b:\\c=?\""), out, sizeof out), ERR_OK);
	assert_string_equal(out, "a b:c=?");
	/* '"' is no boundary character, even escaped */
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=\"a\\\"b\""), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("  multipart/form-data ; boundary = x  "), out, sizeof out), ERR_OK);
	assert_string_equal(out, "x");
	/* 70 is the maximum */
	char ct[200];
	snprintf(ct, sizeof ct, "multipart/form-data; boundary=%070d", 7);
	assert_int_equal(multipart_boundary(CT(ct), out, sizeof out), ERR_OK);
	assert_int_equal(strlen(out), 70);
	snprintf(ct, sizeof ct, "multipart/form-data; boundary=%071d", 7);
	assert_int_equal(multipart_boundary(CT(ct), out, sizeof out), ERR_PARSE);
	/* not 0-terminated input: only len counts */
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=abcdef", 34, out, sizeof out), ERR_OK);
	assert_string_equal(out, "abcd");

	assert_int_equal(multipart_boundary(CT("multipart/mixed; boundary=x"), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-data"), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-datax; boundary=x"), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("text/plain; boundary=x"), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary="), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=\"\""), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=\"x \""), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=\"a\rb\""), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=\"ab"), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=a; boundary=a"), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=a b"), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT("multipart/form-data boundary=a"), out, sizeof out), ERR_PARSE);
	assert_int_equal(multipart_boundary(CT(""), out, sizeof out), ERR_PARSE);
	char tiny[3];
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=abc"), tiny, sizeof tiny), ERR_INVAL);
	assert_int_equal(multipart_boundary(CT("multipart/form-data; boundary=ab"), tiny, sizeof tiny), ERR_OK);
	assert_string_equal(tiny, "ab");
#undef CT

	struct multipart *m = (struct multipart *)1;
	assert_int_equal(multipart_new("", &lim_default, &rec_cbs, NULL, &m), ERR_INVAL);
	assert_null(m);
	assert_int_equal(multipart_new("a\rb", &lim_default, &rec_cbs, NULL, &m), ERR_INVAL);
	assert_int_equal(multipart_new("ab ", &lim_default, &rec_cbs, NULL, &m), ERR_INVAL);
	snprintf(ct, sizeof ct, "%071d", 7);
	assert_int_equal(multipart_new(ct, &lim_default, &rec_cbs, NULL, &m), ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_twine_upload),
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_truncated_status),
		cmocka_unit_test(test_part_headers),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_header_bomb_and_parts),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_boundary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
