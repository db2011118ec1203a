/* test_mirror_parse.c — upstream simple pages (proxy/mirror_parse.h):
 * Content-Type dispatch, RFC 3986 resolution, PyPI-shaped HTML and JSON
 * project pages, the project list, limits, and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "proxy/mirror_parse.h"

#define H64A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H64B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define H64C "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
#define H32 "d41d8cd98f00b204e9800998ecf8427e"

static const char *PAGE = "https://pypi.org/simple/foo/";
static const struct mirror_limits LIM = { 100000, 8192, 32 };

static const struct mirror_link *find(const struct mirror_page *p, const char *fn)
{
	for (size_t i = 0; i < p->nlinks; i++)
		if (strcmp(p->links[i].filename, fn) == 0)
			return &p->links[i];
	return NULL;
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want) {
		if (got)
			fail_msg("expected NULL, got '%s'", got);
		return;
	}
	if (!got)
		fail_msg("expected '%s', got NULL", want);
	assert_string_equal(got, want);
}

static int parse(const char *body, enum mirror_format fmt, const char *project, struct mirror_page *p)
{
	return mirror_parse_project(body, strlen(body), fmt, PAGE, project, &LIM, p);
}

/* ---- Content-Type ---------------------------------------------------- */

static void test_content_format(void **state)
{
	enum mirror_format f = MIRROR_JSON;
	assert_int_equal(mirror_content_format(NULL, &f), ERR_OK);
	assert_int_equal(f, MIRROR_HTML);
	f = MIRROR_JSON;
	assert_int_equal(mirror_content_format("", &f), ERR_OK);
	assert_int_equal(f, MIRROR_HTML);
	assert_int_equal(mirror_content_format("text/html", &f), ERR_OK);
	assert_int_equal(f, MIRROR_HTML);
	assert_int_equal(mirror_content_format("application/vnd.pypi.simple.v1+json", &f), ERR_OK);
	assert_int_equal(f, MIRROR_JSON);
	assert_int_equal(mirror_content_format("text/html; charset=utf-8", &f), ERR_OK);
	assert_int_equal(f, MIRROR_HTML);
	assert_int_equal(mirror_content_format(" Application/VND.pypi.simple.v1+JSON ;charset=utf-8", &f), ERR_OK);
	assert_int_equal(f, MIRROR_JSON);
	assert_int_equal(mirror_content_format("application/vnd.pypi.simple.v1+html", &f), ERR_OK);
	assert_int_equal(f, MIRROR_HTML);
	f = MIRROR_HTML;
	assert_int_equal(mirror_content_format("application/json", &f), ERR_PARSE);
	assert_int_equal(mirror_content_format("application/vnd.pypi.simple.latest+json", &f), ERR_PARSE);
	assert_int_equal(mirror_content_format("application/vnd.pypi.simple.v1+jsonx", &f), ERR_PARSE);
	assert_int_equal(mirror_content_format("text/plain", &f), ERR_PARSE);
	assert_int_equal(mirror_content_format("text/html x", &f), ERR_PARSE);
	assert_int_equal(f, MIRROR_HTML);
}

/* ---- URL resolution ------------------------------------------------- */

struct rcase {
	const char *href, *want, *frag;
};

static void check_resolve(const char *base, const struct rcase *c)
{
	char *out = (char *)1, *frag = (char *)1;
	int rc = mirror_resolve_url(base, c->href, &out, &frag);
	if (!c->want) {
		if (rc != ERR_PARSE)
			fail_msg("'%s' against '%s': want ERR_PARSE, got %d (%s)", c->href, base, rc,
				 rc ? "" : out);
		assert_null(out);
		assert_null(frag);
		return;
	}
	if (rc != ERR_OK)
		fail_msg("'%s' against '%s': rc %d", c->href, base, rc);
	if (strcmp(out, c->want) != 0)
		fail_msg("'%s' against '%s': got '%s', want '%s'", c->href, base, out, c->want);
	if (c->frag ? !frag || strcmp(frag, c->frag) != 0 : frag != NULL)
		fail_msg("'%s': fragment '%s', want '%s'", c->href, frag ? frag : "(null)",
			 c->frag ? c->frag : "(null)");
	xfree(out);
	xfree(frag);
}

static void test_resolve_rfc3986(void **state)
{
	/* RFC 3986 5.4.1 and 5.4.2 (with "http://g" given a "/" path, and
	 * non-http results refused) */
	static const struct rcase cases[] = {
		{ "g:h", NULL, NULL },
		{ "g", "http://a/b/c/g", NULL },
		{ "./g", "http://a/b/c/g", NULL },
		{ "g/", "http://a/b/c/g/", NULL },
		{ "/g", "http://a/g", NULL },
		{ "//g", "http://g/", NULL },
		{ "?y", "http://a/b/c/d;p?y", NULL },
		{ "g?y", "http://a/b/c/g?y", NULL },
		{ "#s", "http://a/b/c/d;p?q", "s" },
		{ "g#s", "http://a/b/c/g", "s" },
		{ "g?y#s", "http://a/b/c/g?y", "s" },
		{ ";x", "http://a/b/c/;x", NULL },
		{ "g;x", "http://a/b/c/g;x", NULL },
		{ "g;x?y#s", "http://a/b/c/g;x?y", "s" },
		{ "", "http://a/b/c/d;p?q", NULL },
		{ ".", "http://a/b/c/", NULL },
		{ "./", "http://a/b/c/", NULL },
		{ "..", "http://a/b/", NULL },
		{ "../", "http://a/b/", NULL },
		{ "../g", "http://a/b/g", NULL },
		{ "../..", "http://a/", NULL },
		{ "../../", "http://a/", NULL },
		{ "../../g", "http://a/g", NULL },
		{ "../../../g", "http://a/g", NULL },
		{ "../../../../g", "http://a/g", NULL },
		{ "/./g", "http://a/g", NULL },
		{ "/../g", "http://a/g", NULL },
		{ "g.", "http://a/b/c/g.", NULL },
		{ ".g", "http://a/b/c/.g", NULL },
		{ "g..", "http://a/b/c/g..", NULL },
		{ "..g", "http://a/b/c/..g", NULL },
		{ "./../g", "http://a/b/g", NULL },
		{ "./g/.", "http://a/b/c/g/", NULL },
		{ "g/./h", "http://a/b/c/g/h", NULL },
		{ "g/../h", "http://a/b/c/h", NULL },
		{ "g;x=1/./y", "http://a/b/c/g;x=1/y", NULL },
		{ "g;x=1/../y", "http://a/b/c/y", NULL },
		{ "g?y/./x", "http://a/b/c/g?y/./x", NULL },
		{ "g?y/../x", "http://a/b/c/g?y/../x", NULL },
		{ "g#s/./x", "http://a/b/c/g", "s/./x" },
		{ "g#s/../x", "http://a/b/c/g", "s/../x" },
		{ "http:g", "http://a/b/c/g", NULL },
		/* devpi-like additions */
		{ "HTTPS://Files.PythonHosted.org/p/x.whl#SHA256=AB", "https://files.pythonhosted.org/p/x.whl",
		  "SHA256=AB" },
		{ "https://u:P%40ss@Example.COM:8443/a/../b", "https://u:P%40ss@example.com:8443/b", NULL },
		{ "//mirror.example/x/y", "http://mirror.example/x/y", NULL },
		{ "  g h\n.whl\t ", "http://a/b/c/g%20h.whl", NULL },
		{ "g<\"x\">|{}^`\\", "http://a/b/c/g%3C%22x%22%3E%7C%7B%7D%5E%60%5C", NULL },
		{ "caf\xc3\xa9", "http://a/b/c/caf%C3%A9", NULL },
		{ "g%20h", "http://a/b/c/g%20h", NULL },
		{ "http://[::1]:80/x", "http://[::1]:80/x", NULL },
		{ "http://host:/x", "http://host:/x", NULL },
		{ "ftp://a/b", NULL, NULL },
		{ "javascript:alert(1)", NULL, NULL },
		{ "mailto:x@y", NULL, NULL },
		{ "https:g", NULL, NULL },
		{ "//", NULL, NULL },
		{ "http://", NULL, NULL },
		{ "http://u@/x", NULL, NULL },
		{ "http://a:b/x", NULL, NULL },
		{ "http://a b/x", NULL, NULL },
		{ "http://[::1/x", NULL, NULL },
		{ "http:", "http://a/b/c/d;p?q", NULL },   /* as Python's urljoin */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_resolve("http://a/b/c/d;p?q", &cases[i]);
}

static void test_resolve_bases(void **state)
{
	static const struct rcase rel[] = {
		{ "foo-1.0.tar.gz", "https://host/foo-1.0.tar.gz", NULL },
		{ "../x", "https://host/x", NULL },
	};
	/* a base with an empty path */
	for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++)
		check_resolve("https://host", &rel[i]);
	/* relative hrefs need an http(s) base; absolute ones do not */
	static const struct rcase any[] = {
		{ "g", NULL, NULL },
		{ "//h/x", NULL, NULL },
		{ "https://h/x", "https://h/x", NULL },
	};
	for (size_t i = 0; i < sizeof any / sizeof any[0]; i++) {
		check_resolve("file:///etc/", &any[i]);
		check_resolve("", &any[i]);
		check_resolve("/relative/base/", &any[i]);
	}
	/* fragment may be NULL */
	char *out = NULL;
	assert_int_equal(mirror_resolve_url(PAGE, "../bar/#frag", &out, NULL), ERR_OK);
	assert_string_equal(out, "https://pypi.org/simple/bar/");
	xfree(out);
	/* an empty fragment is a fragment */
	char *frag = NULL;
	assert_int_equal(mirror_resolve_url(PAGE, "x#", &out, &frag), ERR_OK);
	assert_string_equal(out, "https://pypi.org/simple/foo/x");
	assert_non_null(frag);
	assert_string_equal(frag, "");
	xfree(out);
	xfree(frag);
}

/* ---- HTML project pages ---------------------------------------------- */

static const char PYPI_HTML[] =
	"<!DOCTYPE html>\n<html>\n  <head>\n"
	"    <meta name=\"pypi:repository-version\" content=\"1.1\">\n"
	"    <title>Links for foo</title>\n  </head>\n  <body>\n    <h1>Links for foo</h1>\n"
	"    <a href=\"https://files.pythonhosted.org/packages/12/34/56/foo-1.0.tar.gz#sha256=" H64A "\" "
	"data-requires-python=\"&gt;=3.8\" >foo-1.0.tar.gz</a><br />\n"
	"    <a href=\"https://files.pythonhosted.org/packages/ab/cd/ef/foo-1.0-py3-none-any.whl#sha256=" H64B "\" "
	"data-requires-python=\"&gt;=3.8,&lt;4\" data-dist-info-metadata=\"sha256=" H64C "\" "
	"data-core-metadata=\"sha256=" H64C "\">foo-1.0-py3-none-any.whl</a><br />\n"
	"    <a href=\"https://files.pythonhosted.org/packages/00/11/22/foo-0.9.tar.gz#md5=" H32 "\" "
	"data-yanked=\"broken &quot;build&quot; &#39;x&#x27;\">foo-0.9.tar.gz</a><br />\n"
	"    <a href=\"https://files.pythonhosted.org/packages/00/11/22/foo-0.8-py2.py3-none-any.whl\" "
	"data-yanked=\"\" data-core-metadata=\"true\">foo-0.8-py2.py3-none-any.whl</a><br />\n"
	"    <a href=\"https://files.pythonhosted.org/packages/00/11/22/foo-0.7-py3-none-any.whl#sha256=" H64A "\" "
	"data-dist-info-metadata=\"true\" data-core-metadata=\"false\">foo-0.7-py3-none-any.whl</a><br />\n"
	"    <a href=\"https://files.pythonhosted.org/packages/00/11/22/foo-0.6-py3-none-any.whl\" "
	"data-dist-info-metadata=\"true\">foo-0.6-py3-none-any.whl</a><br />\n"
	"    <a href=\"https://files.pythonhosted.org/packages/00/11/22/foo-0.5.zip\" "
	"data-requires-python=\"\">foo-0.5.zip</a><br />\n"
	"  </body>\n</html>\n<!--SERIAL 12345-->\n";

static void test_html_pypi(void **state)
{
	struct mirror_page p;
	assert_int_equal(parse(PYPI_HTML, MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 7);
	assert_int_equal(p.nversions, 0);
	/* page order */
	assert_string_equal(p.links[0].filename, "foo-1.0.tar.gz");
	assert_string_equal(p.links[6].filename, "foo-0.5.zip");

	const struct mirror_link *l = &p.links[0];
	assert_string_equal(l->url, "https://files.pythonhosted.org/packages/12/34/56/foo-1.0.tar.gz");
	assert_string_equal(l->hash_name, "sha256");
	assert_string_equal(l->hash_value, H64A);
	assert_string_equal(l->requires_python, ">=3.8");
	assert_false(l->yanked);
	assert_null(l->yanked_reason);
	assert_false(l->core_metadata);
	assert_null(l->core_metadata_sha256);
	assert_int_equal(l->size, -1);
	assert_null(l->upload_time);

	l = find(&p, "foo-1.0-py3-none-any.whl");
	assert_non_null(l);
	assert_string_equal(l->hash_value, H64B);
	assert_string_equal(l->requires_python, ">=3.8,<4");
	assert_true(l->core_metadata);
	assert_string_equal(l->core_metadata_sha256, H64C);

	l = find(&p, "foo-0.9.tar.gz");
	assert_string_equal(l->hash_name, "md5");
	assert_string_equal(l->hash_value, H32);
	assert_true(l->yanked);
	assert_string_equal(l->yanked_reason, "broken \"build\" 'x'");

	l = find(&p, "foo-0.8-py2.py3-none-any.whl");
	assert_null(l->hash_name);
	assert_null(l->hash_value);
	assert_true(l->yanked);
	assert_null(l->yanked_reason);
	assert_true(l->core_metadata);
	assert_null(l->core_metadata_sha256);

	/* data-core-metadata wins over data-dist-info-metadata (PEP 714) */
	l = find(&p, "foo-0.7-py3-none-any.whl");
	assert_false(l->core_metadata);
	l = find(&p, "foo-0.6-py3-none-any.whl");
	assert_true(l->core_metadata);
	assert_null(l->core_metadata_sha256);

	/* per link: requires_python, yanked_reason, core_metadata_sha256 */
	static const char *const want[][4] = {
		{ "foo-1.0.tar.gz", ">=3.8", NULL, NULL },
		{ "foo-1.0-py3-none-any.whl", ">=3.8,<4", NULL, H64C },
		{ "foo-0.9.tar.gz", NULL, "broken \"build\" 'x'", NULL },
		{ "foo-0.8-py2.py3-none-any.whl", NULL, NULL, NULL },
		{ "foo-0.7-py3-none-any.whl", NULL, NULL, NULL },
		{ "foo-0.6-py3-none-any.whl", NULL, NULL, NULL },
		{ "foo-0.5.zip", NULL, NULL, NULL },
	};
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(p.links[i].filename, want[i][0]);
		assert_str_or_null(p.links[i].requires_python, want[i][1]);
		assert_str_or_null(p.links[i].yanked_reason, want[i][2]);
		assert_str_or_null(p.links[i].core_metadata_sha256, want[i][3]);
	}
	mirror_page_release(&p);
	assert_int_equal(p.nlinks, 0);
	assert_null(p.links);
	mirror_page_release(&p);
	mirror_page_release(NULL);
}

static void test_html_relative_and_base(void **state)
{
	struct mirror_page p;
	/* devpi-shaped relative links */
	const char *devpi = "<html><body>root/pypi <a href=\"../../+f/ed7/002b439e9ac84/foo-1.0.tar.gz#sha256=" H64A
			    "\">foo-1.0.tar.gz</a><br>\n<a href=\"/abs/foo-2.0.tar.gz\">x</a>"
			    "<a href=\"foo-3.0.tar.gz?download=1#md5=" H32 "\">y</a></body></html>";
	assert_int_equal(parse(devpi, MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 3);
	assert_string_equal(p.links[0].url, "https://pypi.org/+f/ed7/002b439e9ac84/foo-1.0.tar.gz");
	assert_string_equal(p.links[1].url, "https://pypi.org/abs/foo-2.0.tar.gz");
	assert_string_equal(p.links[2].url, "https://pypi.org/simple/foo/foo-3.0.tar.gz?download=1");
	assert_string_equal(p.links[2].filename, "foo-3.0.tar.gz");
	assert_string_equal(p.links[2].hash_name, "md5");
	mirror_page_release(&p);

	/* <base href>, relative to the page, before the anchors */
	const char *based = "<html><head><BASE HREF='../../packages/'></head>"
			    "<a href=\"foo-1.0.tar.gz\">a</a><a href='sub/foo-1.1.tar.gz'>b</a></html>";
	assert_int_equal(parse(based, MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 2);
	assert_string_equal(p.links[0].url, "https://pypi.org/packages/foo-1.0.tar.gz");
	assert_string_equal(p.links[1].url, "https://pypi.org/packages/sub/foo-1.1.tar.gz");
	mirror_page_release(&p);

	/* the first <base> applies to anchors before it too; later ones are ignored */
	const char *late = "<a href=\"foo-1.0.tar.gz\">a</a><base href=\"https://cdn.example/x/\">"
			   "<base href=\"https://other.example/\"><a href=\"foo-2.0.tar.gz\">b</a>";
	assert_int_equal(parse(late, MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 2);
	assert_string_equal(p.links[0].url, "https://cdn.example/x/foo-1.0.tar.gz");
	assert_string_equal(p.links[1].url, "https://cdn.example/x/foo-2.0.tar.gz");
	mirror_page_release(&p);

	/* an unusable base falls back to the page URL */
	const char *bad = "<base href=\"javascript:x\"><a href=\"foo-1.0.tar.gz\">a</a>";
	assert_int_equal(parse(bad, MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 1);
	assert_string_equal(p.links[0].url, "https://pypi.org/simple/foo/foo-1.0.tar.gz");
	mirror_page_release(&p);
}

static void test_html_markup(void **state)
{
	struct mirror_page p;
	const char *html =
		"<!-- <a href=\"foo-9.0.tar.gz\">commented out</a> -->"
		"<!----><!---><!-- x -- y --->"
		"<script>var s = '<a href=\"foo-8.0.tar.gz\">';</script >"
		"<STYLE>a[href=\"<a href=foo-7.0.tar.gz>\"]{}</style>"
		"<?xml x?><!doctype html></p></A foo=\"<a href=foo-6.0.tar.gz>\">"
		"<A HREF=foo-1.0.tar.gz#sha256=" H64A " Data-Requires-Python=&gt;=3.6>x</A>"
		"<a\ndata-yanked\nhref\n=\n'foo-1.1.tar.gz'>y</a>"
		"<a title=\"a > b\" href=\"foo-1.2.tar.gz\" href=\"foo-5.0.tar.gz\">first href wins</a>"
		"<a href=\"foo-1.3.tar.gz\"/>"
		"<a href=\"&#x66;oo-1.4.tar.gz\">entity in href</a>"
		"<a href=\"foo-1.5.tar.gz\" data-requires-python=\"&#62;=3&#46;7&amp;&bogus;&#0;\">rp</a>"
		"<a name=x>no href</a>"
		"<a href=\"foo-1.6.tar.gz\"";   /* unterminated tag: dropped */
	assert_int_equal(parse(html, MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 6);
	assert_string_equal(p.links[0].filename, "foo-1.0.tar.gz");
	assert_string_equal(p.links[0].hash_value, H64A);
	assert_string_equal(p.links[0].requires_python, ">=3.6");
	assert_string_equal(p.links[1].filename, "foo-1.1.tar.gz");
	assert_true(p.links[1].yanked);
	assert_null(p.links[1].yanked_reason);
	assert_string_equal(p.links[2].filename, "foo-1.2.tar.gz");
	assert_string_equal(p.links[3].filename, "foo-1.3.tar.gz");
	assert_string_equal(p.links[4].filename, "foo-1.4.tar.gz");
	assert_string_equal(p.links[5].filename, "foo-1.5.tar.gz");
	assert_string_equal(p.links[5].requires_python, ">=3.7&&bogus;\xef\xbf\xbd");
	mirror_page_release(&p);

	/* an unterminated comment hides the rest */
	assert_int_equal(parse("<a href=foo-1.0.zip>a</a><!-- <a href=foo-2.0.zip>", MIRROR_HTML, "foo", &p),
			 ERR_OK);
	assert_int_equal(p.nlinks, 1);
	mirror_page_release(&p);
	/* an empty page is a page without links */
	assert_int_equal(parse("", MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 0);
	mirror_page_release(&p);
}

static void test_html_filter(void **state)
{
	struct mirror_page p;
	const char *html =
		"<a href=\"foo-1.0.tar.gz\">ok</a>"
		"<a href=\"foobar-1.0.tar.gz\">other project</a>"
		"<a href=\"foo-1.0.tar.gz.asc\">signature</a>"
		"<a href=\"foo-1.0.txt\">text</a>"
		"<a href=\"Foo-1.1-py3-none-any.whl\">case</a>"
		"<a href=\"foo-1.2.TAR.GZ\">ext case</a>"
		"<a href=\"foo-1.3.tar.bz2\">a</a><a href=\"foo-1.3.tgz\">a</a><a href=\"foo-1.3.tar\">a</a>"
		"<a href=\"foo-1.3.zip\">a</a><a href=\"foo-1.3.egg\">a</a><a href=\"foo-1.3.exe\">a</a>"
		"<a href=\"foo-1.3.msi\">a</a><a href=\"foo-1.3.rpm\">a</a><a href=\"foo-1.3.deb\">a</a>"
		"<a href=\"foo-1.3.dmg\">a</a><a href=\"foo-1.3.doc.zip\">a</a>"
		"<a href=\"foo-1.3.tar.xz\">not allowed</a>"
		"<a href=\"fo-1.0.tar.gz\">shorter</a>"
		"<a href=\"dir/\">directory</a>"
		"<a href=\"foo-1.4.tar.gz/\">trailing slash</a>"
		"<a href=\"mailto:foo-1.0.tar.gz\">non-http</a>"
		"<a href=\"%2e%2e%2ffoo-1.5.tar.gz\">encoded slash</a>"
		"<a href=\"foo%2D1.6.tar.gz\">encoded dash</a>"
		"<a href=\"foo-1.7%00.tar.gz\">NUL</a>"
		"<a href=\".foo-1.8.tar.gz\">hidden</a>";
	assert_int_equal(parse(html, MIRROR_HTML, "foo", &p), ERR_OK);
	static const char *want[] = {
		"foo-1.0.tar.gz", "Foo-1.1-py3-none-any.whl", "foo-1.2.TAR.GZ", "foo-1.3.tar.bz2", "foo-1.3.tgz",
		"foo-1.3.tar", "foo-1.3.zip", "foo-1.3.egg", "foo-1.3.exe", "foo-1.3.msi", "foo-1.3.rpm",
		"foo-1.3.deb", "foo-1.3.dmg", "foo-1.3.doc.zip", "foo-1.6.tar.gz",
	};
	if (p.nlinks != sizeof want / sizeof want[0]) {
		for (size_t i = 0; i < p.nlinks; i++)
			print_message("got %s\n", p.links[i].filename);
		fail_msg("%zu links, want %zu", p.nlinks, sizeof want / sizeof want[0]);
	}
	for (size_t i = 0; i < p.nlinks; i++)
		assert_string_equal(p.links[i].filename, want[i]);
	mirror_page_release(&p);

	/* foo_bar: normalized names, wheel and sdist spellings */
	const char *under = "<a href=\"foo_bar-1.0-py3-none-any.whl\">w</a>"
			    "<a href=\"Foo.Bar-1.0.tar.gz\">s</a>"
			    "<a href=\"foo-bar-2.0.tar.gz\">s</a>"
			    "<a href=\"foo_barbaz-1.0.tar.gz\">other</a>"
			    "<a href=\"foo-1.0.tar.gz\">other</a>"
			    "<a href=\"foo_bar.tar.gz\">no version</a>";
	assert_int_equal(parse(under, MIRROR_HTML, "foo-bar", &p), ERR_OK);
	assert_int_equal(p.nlinks, 4);
	assert_non_null(find(&p, "foo_bar-1.0-py3-none-any.whl"));
	assert_non_null(find(&p, "Foo.Bar-1.0.tar.gz"));
	assert_non_null(find(&p, "foo-bar-2.0.tar.gz"));
	assert_non_null(find(&p, "foo_bar.tar.gz"));
	mirror_page_release(&p);
	/* the project name given unnormalized matches the same */
	assert_int_equal(parse(under, MIRROR_HTML, "Foo_Bar", &p), ERR_OK);
	assert_int_equal(p.nlinks, 4);
	mirror_page_release(&p);
	/* an empty project matches nothing */
	assert_int_equal(parse(under, MIRROR_HTML, "", &p), ERR_OK);
	assert_int_equal(p.nlinks, 0);
	mirror_page_release(&p);
}

static void test_html_duplicates(void **state)
{
	struct mirror_page p;
	const char *html =
		"<a href=\"a/foo-1.0.tar.gz\" data-requires-python=\"&gt;=3\">no hash, first</a>"
		"<a href=\"b/foo-1.0.tar.gz#sha256=" H64A "\">hash</a>"
		"<a href=\"c/foo-1.0.tar.gz#sha256=" H64B "\">later hash</a>"
		"<a href=\"d/foo-1.0.tar.gz\">later no hash</a>"
		"<a href=\"a/foo-2.0.tar.gz\">first</a>"
		"<a href=\"b/foo-2.0.tar.gz\">second</a>"
		"<a href=\"a/foo-3.0.tar.gz#sha256=" H64A "\">hash first</a>"
		"<a href=\"b/foo-3.0.tar.gz\">then none</a>"
		"<a href=\"b/foo-3.0.tar.gz#md5=" H32 "\">then md5</a>";
	assert_int_equal(parse(html, MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 3);
	const struct mirror_link *l = find(&p, "foo-1.0.tar.gz");
	assert_string_equal(l->url, "https://pypi.org/simple/foo/b/foo-1.0.tar.gz");
	assert_string_equal(l->hash_value, H64A);
	assert_null(l->requires_python);
	l = find(&p, "foo-2.0.tar.gz");
	assert_string_equal(l->url, "https://pypi.org/simple/foo/a/foo-2.0.tar.gz");
	l = find(&p, "foo-3.0.tar.gz");
	assert_string_equal(l->url, "https://pypi.org/simple/foo/a/foo-3.0.tar.gz");
	/* order: a replacing link sits where it was found */
	assert_string_equal(p.links[0].filename, "foo-1.0.tar.gz");
	assert_string_equal(p.links[1].filename, "foo-2.0.tar.gz");
	assert_string_equal(p.links[2].filename, "foo-3.0.tar.gz");
	mirror_page_release(&p);
}

static void test_html_hashes(void **state)
{
	struct mirror_page p;
	const char *html =
		"<a href=\"foo-1.0.tar.gz#SHA256=" H64A "\">upper name</a>"
		"<a href=\"foo-1.1.tar.gz#sha256=ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\">upper hex</a>"
		"<a href=\"foo-1.2.tar.gz#egg=foo&md5=" H32 "&sha256=" H64B "\">several</a>"
		"<a href=\"foo-1.3.tar.gz#sha256=abc\">short</a>"
		"<a href=\"foo-1.4.tar.gz#sha256=" H64A "zz\">not hex</a>"
		"<a href=\"foo-1.5.tar.gz#sha512=" H64A H64B "\">sha512</a>"
		"<a href=\"foo-1.6.tar.gz#egg=foo-1.6\">egg</a>"
		"<a href=\"foo-1.7.tar.gz#custom=0123456789abcdef\">unknown algorithm</a>"
		"<a href=\"foo-1.8.tar.gz#md5=" H32 "&sha1=" H32 "12345678\">md5 beats sha1</a>";
	assert_int_equal(parse(html, MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 9);
	assert_string_equal(p.links[0].hash_name, "sha256");
	assert_string_equal(p.links[0].hash_value, H64A);
	assert_string_equal(p.links[1].hash_value,
			    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	assert_string_equal(p.links[2].hash_name, "sha256");
	assert_string_equal(p.links[2].hash_value, H64B);
	assert_null(p.links[3].hash_name);
	assert_null(p.links[4].hash_name);
	assert_string_equal(p.links[5].hash_name, "sha512");
	assert_null(p.links[6].hash_name);
	assert_string_equal(p.links[7].hash_name, "custom");
	assert_string_equal(p.links[8].hash_name, "md5");
	mirror_page_release(&p);
}

static void test_html_not_html(void **state)
{
	struct mirror_page p;
	static const char nul[] = "<a href=\"foo-1.0.tar.gz\">x</a>\0<a href=\"foo-2.0.tar.gz\">";
	assert_int_equal(mirror_parse_project(nul, sizeof nul - 1, MIRROR_HTML, PAGE, "foo", &LIM, &p),
			 ERR_PARSE);
	assert_int_equal(p.nlinks, 0);
	assert_int_equal(parse("  {\"meta\":{\"api-version\":\"1.0\"},\"files\":[]}", MIRROR_HTML, "foo", &p),
			 ERR_PARSE);
	assert_int_equal(parse("\xef\xbb\xbf[1]", MIRROR_HTML, "foo", &p), ERR_PARSE);
	int cnt = 0;
	assert_int_equal(mirror_parse_list(nul, sizeof nul - 1, MIRROR_HTML, PAGE, &LIM, NULL, &cnt), ERR_PARSE);
}

static void test_html_limits(void **state)
{
	struct mirror_page p;
	struct buf b;
	buf_init(&b, 0);
	/* an over-long attribute skips that link only */
	char *big = xmalloc(9000);
	memset(big, 'x', 8999);
	big[8999] = '\0';
	buf_addf(&b, "<a href=\"foo-1.0.tar.gz\" data-requires-python=\"%s\">a</a>", big);
	buf_addf(&b, "<a href=\"foo-1.1.tar.gz\" class=\"%s\">unwanted attributes may be long</a>", big);
	buf_addf(&b, "<a href=\"foo-1.2.tar.gz#%s\">long fragment</a>", big);
	buf_addf(&b, "<a href=\"%s/foo-1.3.tar.gz\">long href</a>", big);
	buf_adds(&b, "<a href=\"foo-1.4.tar.gz\">ok</a>");
	assert_int_equal(parse(b.p, MIRROR_HTML, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 2);
	assert_string_equal(p.links[0].filename, "foo-1.1.tar.gz");
	assert_string_equal(p.links[1].filename, "foo-1.4.tar.gz");
	mirror_page_release(&p);
	/* a resolved URL over the bound is skipped too */
	struct mirror_limits small = { 100, 40, 32 };
	const char *two = "<a href=\"foo-1.0.tar.gz\">a</a><a href=\"/f/foo-1.1.tar.gz\">b</a>";
	assert_int_equal(mirror_parse_project(two, strlen(two), MIRROR_HTML, "https://pypi.org/simple/foo/long/",
					      "foo", &small, &p),
			 ERR_OK);
	assert_int_equal(p.nlinks, 1);
	assert_string_equal(p.links[0].url, "https://pypi.org/f/foo-1.1.tar.gz");
	mirror_page_release(&p);
	xfree(big);

	/* max_links counts distinct files */
	buf_reset(&b);
	for (int i = 0; i < 11; i++)
		buf_addf(&b, "<a href=\"foo-%d.0.tar.gz\">x</a><a href=\"foo-%d.0.tar.gz\">dup</a>\n", i, i);
	struct mirror_limits ten = { 10, 8192, 32 };
	assert_int_equal(mirror_parse_project(b.p, b.len, MIRROR_HTML, PAGE, "foo", &ten, &p), ERR_TOOBIG);
	assert_int_equal(p.nlinks, 0);
	assert_null(p.links);
	struct mirror_limits eleven = { 11, 8192, 32 };
	assert_int_equal(mirror_parse_project(b.p, b.len, MIRROR_HTML, PAGE, "foo", &eleven, &p), ERR_OK);
	assert_int_equal(p.nlinks, 11);
	mirror_page_release(&p);
	/* NULL limits: the defaults */
	assert_int_equal(mirror_parse_project(b.p, b.len, MIRROR_HTML, PAGE, "foo", NULL, &p), ERR_OK);
	assert_int_equal(p.nlinks, 11);
	mirror_page_release(&p);
	buf_release(&b);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_html_big_page(void **state)
{
	struct mirror_page p;
	struct buf b;
	buf_init(&b, 0);
	buf_adds(&b, "<!DOCTYPE html><html><head><title>Links for foo</title></head><body><h1>Links for foo</h1>\n");
	for (int i = 0; i < 10000; i++)
		buf_addf(&b,
			 "<a href=\"https://files.pythonhosted.org/packages/%02x/%02x/%056d/foo-%d.%d-cp311-cp311-"
			 "manylinux_2_17_x86_64.whl#sha256=%064d\" data-requires-python=\"&gt;=3.8\" "
			 "data-dist-info-metadata=\"sha256=%064d\" data-core-metadata=\"sha256=%064d\">"
			 "foo-%d.%d-cp311-cp311-manylinux_2_17_x86_64.whl</a><br />\n",
			 i & 0xff, (i >> 8) & 0xff, i, i / 100, i % 100, i, i, i, i / 100, i % 100);
	buf_adds(&b, "</body></html>\n");
	double t0 = now_ms();
	assert_int_equal(mirror_parse_project(b.p, b.len, MIRROR_HTML, PAGE, "foo", &LIM, &p), ERR_OK);
	double ms = now_ms() - t0;
	assert_int_equal(p.nlinks, 10000);
	assert_string_equal(p.links[9999].filename, "foo-99.99-cp311-cp311-manylinux_2_17_x86_64.whl");
	assert_true(p.links[9999].core_metadata);
	print_message("10000-link HTML page (%zu bytes): %.1f ms\n", b.len, ms);
	/* generous even under ASan; a quadratic parser takes seconds */
	assert_true(ms < 1500);
	mirror_page_release(&p);
	buf_release(&b);
}

/* ---- JSON project pages ---------------------------------------------- */

static const char PYPI_JSON[] =
	"{\"meta\":{\"_last-serial\":12345,\"api-version\":\"1.1\"},\"name\":\"foo\",\"files\":["
	"{\"filename\":\"foo-1.0.tar.gz\",\"url\":\"https://files.pythonhosted.org/packages/12/34/foo-1.0.tar.gz\","
	"\"hashes\":{\"sha256\":\"" H64A "\"},\"requires-python\":\">=3.8\",\"yanked\":false,"
	"\"size\":12345,\"upload-time\":\"2023-05-22T15:12:44.175467Z\",\"data-dist-info-metadata\":false},"
	"{\"filename\":\"foo-1.0-py3-none-any.whl\",\"url\":\"../../packages/foo-1.0-py3-none-any.whl\","
	"\"hashes\":{\"md5\":\"" H32 "\",\"sha256\":\"" H64B "\"},\"requires-python\":null,"
	"\"core-metadata\":{\"sha256\":\"" H64C "\"},\"dist-info-metadata\":{\"sha256\":\"" H64C "\"},"
	"\"gpg-sig\":false,\"yanked\":\"broken \\\"build\\\" \\u00e9\\ud83d\\ude00\",\"size\":0},"
	"{\"filename\":\"foo-0.9.tar.gz\",\"url\":\"foo-0.9.tar.gz#md5=" H32 "\",\"hashes\":{},"
	"\"yanked\":true,\"core-metadata\":true,\"size\":-1,\"upload-time\":\"yesterday\"},"
	"{\"filename\":\"foo-0.8.tar.gz\",\"url\":\"foo-0.8.tar.gz\",\"hashes\":{\"blake2b\":\"" H64A H64B "\"},"
	"\"core-metadata\":false,\"dist-info-metadata\":true,\"size\":1.5},"
	"{\"filename\":\"foo-0.7.tar.gz\",\"url\":\"foo-0.7.tar.gz\",\"dist-info-metadata\":{},"
	"\"requires-python\":\"\",\"yanked\":\"\"},"
	"{\"url\":\"foo-0.6.tar.gz\"},"
	"{\"filename\":\"foo-0.5.tar.gz\"},"
	"{\"filename\":42,\"url\":\"foo-0.4.tar.gz\"},"
	"{\"filename\":\"../evil.tar.gz\",\"url\":\"evil.tar.gz\"},"
	"{\"filename\":\"foo-0.3.tar.gz\",\"url\":\"ftp://x/foo-0.3.tar.gz\"},"
	"\"not an object\",[1,2],null,"
	"{\"filename\":\"bar-1.0.tar.gz\",\"url\":\"bar-1.0.tar.gz\",\"extra\":{\"nested\":[{}]}}"
	"],\"versions\":[\"0.7\",\"0.8\",\"0.9\",\"1.0\",42,\"\"]}";

static void test_json_pypi(void **state)
{
	struct mirror_page p;
	assert_int_equal(parse(PYPI_JSON, MIRROR_JSON, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 6);
	const struct mirror_link *l = &p.links[0];
	assert_string_equal(l->filename, "foo-1.0.tar.gz");
	assert_string_equal(l->url, "https://files.pythonhosted.org/packages/12/34/foo-1.0.tar.gz");
	assert_string_equal(l->hash_name, "sha256");
	assert_string_equal(l->hash_value, H64A);
	assert_string_equal(l->requires_python, ">=3.8");
	assert_false(l->yanked);
	assert_null(l->yanked_reason);
	assert_false(l->core_metadata);
	assert_int_equal(l->size, 12345);
	assert_string_equal(l->upload_time, "2023-05-22T15:12:44.175467Z");

	l = &p.links[1];
	assert_string_equal(l->url, "https://pypi.org/packages/foo-1.0-py3-none-any.whl");
	assert_string_equal(l->hash_name, "sha256");
	assert_string_equal(l->hash_value, H64B);
	assert_null(l->requires_python);
	assert_true(l->yanked);
	assert_string_equal(l->yanked_reason, "broken \"build\" \xc3\xa9\xf0\x9f\x98\x80");
	assert_true(l->core_metadata);
	assert_string_equal(l->core_metadata_sha256, H64C);
	assert_int_equal(l->size, 0);
	assert_null(l->upload_time);

	l = &p.links[2];
	assert_string_equal(l->filename, "foo-0.9.tar.gz");
	assert_string_equal(l->url, "https://pypi.org/simple/foo/foo-0.9.tar.gz");
	assert_string_equal(l->hash_name, "md5");  /* from the URL fragment */
	assert_true(l->yanked);
	assert_null(l->yanked_reason);
	assert_true(l->core_metadata);
	assert_null(l->core_metadata_sha256);
	assert_int_equal(l->size, -1);
	assert_null(l->upload_time);

	l = &p.links[3];
	assert_string_equal(l->hash_name, "blake2b");
	assert_false(l->core_metadata);  /* core-metadata wins over dist-info-metadata */
	assert_int_equal(l->size, -1);

	l = &p.links[4];
	assert_true(l->core_metadata);
	assert_null(l->core_metadata_sha256);
	assert_null(l->requires_python);
	assert_true(l->yanked);
	assert_null(l->yanked_reason);
	assert_null(l->hash_name);

	/* JSON pages are not filtered by project name */
	assert_string_equal(p.links[5].filename, "bar-1.0.tar.gz");

	assert_int_equal(p.nversions, 4);
	assert_string_equal(p.versions[0], "0.7");
	assert_string_equal(p.versions[3], "1.0");
	mirror_page_release(&p);
	assert_int_equal(p.nversions, 0);
	assert_null(p.versions);
}

static void test_json_bad(void **state)
{
	struct mirror_page p;
	static const char *bad[] = {
		/* a login page served as JSON */
		"<!DOCTYPE html><html><body><form action=\"/login\">Sign in</form></body></html>",
		"",
		"   ",
		"null",
		"[]",
		"\"files\"",
		"{}",
		"{\"files\":[]}",                                          /* no meta */
		"{\"meta\":{\"api-version\":\"1.0\"}}",                    /* no files */
		"{\"meta\":{\"api-version\":\"2.0\"},\"files\":[]}",
		"{\"files\":[],\"meta\":{\"api-version\":\"2.0\"}}",
		"{\"meta\":{\"api-version\":\"0.9\"},\"files\":[]}",
		"{\"meta\":{\"api-version\":\"10\"},\"files\":[]}",
		"{\"meta\":{\"api-version\":\"1.\"},\"files\":[]}",
		"{\"meta\":{\"api-version\":1.0},\"files\":[]}",
		"{\"meta\":[],\"files\":[]}",
		"{\"meta\":{},\"files\":{}}",
		"{\"meta\":{},\"files\":[]} x",
		"{\"meta\":{},\"files\":[]}{}",
		"{\"meta\":{},\"files\":[],}",
		"{\"meta\":{},\"files\":[1,]}",
		"{\"meta\":{},\"files\":[] \"x\":1}",
		"{\"meta\":{},\"files\":[],\"x\":01}",
		"{\"meta\":{},\"files\":[],\"x\":1.}",
		"{\"meta\":{},\"files\":[],\"x\":-}",
		"{\"meta\":{},\"files\":[],\"x\":tru}",
		"{\"meta\":{},\"files\":[],\"x\":\"\\x\"}",
		"{\"meta\":{},\"files\":[],\"x\":\"\\u12\"}",
		"{\"meta\":{},\"files\":[],\"x\":\"a\tb\"}",
		"{\"meta\":{},\"files\":[],\"x\":'a'}",
		"{\"meta\":{},\"files\":[]",
		"{\"meta\":{},\"files\":[],\"files\":[]}",                 /* repeated key */
		"{\"meta\":{},\"meta\":{},\"files\":[]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse(bad[i], MIRROR_JSON, "foo", &p);
		if (rc != ERR_PARSE)
			fail_msg("'%s': rc %d, want ERR_PARSE", bad[i], rc);
		assert_int_equal(p.nlinks, 0);
	}
	static const char *good[] = {
		"{\"meta\":{},\"files\":[]}",
		"\xef\xbb\xbf {\"meta\":{\"api-version\":\"1\"},\"files\":[]}\n",
		"{\"meta\":{\"api-version\":\"1.10\"},\"files\":[],\"x\":[-0.5e+3,true,false,null,{\"a\":\"\\/\"}]}",
		"{\"meta\":{\"api-version\":\"1.0\"},\"files\":[],\"versions\":{\"not\":\"a list\"}}",
		"{\"\\u006deta\":{\"api-\\u0076ersion\":\"1.0\"},\"files\":[]}",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		int rc = parse(good[i], MIRROR_JSON, "foo", &p);
		if (rc != ERR_OK)
			fail_msg("'%s': rc %d, want ERR_OK", good[i], rc);
		mirror_page_release(&p);
	}
	/* a page with links and a bad api-version after them gives nothing */
	const char *late = "{\"files\":[{\"filename\":\"foo-1.0.tar.gz\",\"url\":\"foo-1.0.tar.gz\"}],"
			   "\"meta\":{\"api-version\":\"2.0\"}}";
	assert_int_equal(parse(late, MIRROR_JSON, "foo", &p), ERR_PARSE);
	assert_int_equal(p.nlinks, 0);
	assert_null(p.links);
}

static void test_json_limits(void **state)
{
	struct mirror_page p;
	struct buf b;
	buf_init(&b, 0);
	/* depth */
	buf_adds(&b, "{\"meta\":{},\"files\":[],\"x\":");
	for (int i = 0; i < 40; i++)
		buf_addc(&b, '[');
	for (int i = 0; i < 40; i++)
		buf_addc(&b, ']');
	buf_addc(&b, '}');
	assert_int_equal(parse(b.p, MIRROR_JSON, "foo", &p), ERR_TOOBIG);
	struct mirror_limits deep = { 100, 8192, 64 };
	assert_int_equal(mirror_parse_project(b.p, b.len, MIRROR_JSON, PAGE, "foo", &deep, &p), ERR_OK);
	mirror_page_release(&p);
	/* a very deep document does not exhaust the stack */
	buf_reset(&b);
	buf_adds(&b, "{\"meta\":{},\"files\":[],\"x\":");
	for (int i = 0; i < 1000000; i++)
		buf_addc(&b, '[');
	assert_int_equal(parse(b.p, MIRROR_JSON, "foo", &p), ERR_TOOBIG);

	/* over-long fields skip their link */
	char *big = xmalloc(9000);
	memset(big, 'x', 8999);
	big[8999] = '\0';
	buf_reset(&b);
	buf_addf(&b,
		 "{\"meta\":{\"api-version\":\"1.0\"},\"files\":["
		 "{\"filename\":\"foo-1.0.tar.gz\",\"url\":\"%s/foo-1.0.tar.gz\"},"
		 "{\"filename\":\"foo-1.1.tar.gz\",\"url\":\"foo-1.1.tar.gz\",\"requires-python\":\"%s\"},"
		 "{\"filename\":\"foo-1.2.tar.gz\",\"url\":\"foo-1.2.tar.gz\",\"unknown\":\"%s\"},"
		 "{\"filename\":\"foo-1.3.tar.gz\",\"url\":\"foo-1.3.tar.gz\",\"hashes\":{\"sha256\":\"%s\"}},"
		 "{\"filename\":\"foo-1.4.tar.gz\",\"url\":\"foo-1.4.tar.gz\",\"yanked\":\"\\u0000\"}"
		 "],\"versions\":[\"%s\",\"1.0\",\"a\\u0000b\"]}",
		 big, big, big, big, big);
	assert_int_equal(parse(b.p, MIRROR_JSON, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 2);
	assert_string_equal(p.links[0].filename, "foo-1.2.tar.gz");
	assert_string_equal(p.links[1].filename, "foo-1.3.tar.gz");
	assert_null(p.links[1].hash_name);
	assert_int_equal(p.nversions, 1);
	assert_string_equal(p.versions[0], "1.0");
	mirror_page_release(&p);
	xfree(big);

	/* max_links: files and versions */
	buf_reset(&b);
	buf_adds(&b, "{\"meta\":{},\"files\":[");
	for (int i = 0; i < 11; i++)
		buf_addf(&b, "%s{\"filename\":\"foo-%d.tar.gz\",\"url\":\"foo-%d.tar.gz\"}", i ? "," : "", i, i);
	buf_adds(&b, "]}");
	struct mirror_limits ten = { 10, 8192, 32 };
	assert_int_equal(mirror_parse_project(b.p, b.len, MIRROR_JSON, PAGE, "foo", &ten, &p), ERR_TOOBIG);
	assert_int_equal(p.nlinks, 0);
	const char *vers = "{\"meta\":{},\"files\":[],\"versions\":[\"1\",\"2\",\"3\"]}";
	struct mirror_limits two = { 2, 8192, 32 };
	assert_int_equal(mirror_parse_project(vers, strlen(vers), MIRROR_JSON, PAGE, "foo", &two, &p), ERR_TOOBIG);
	assert_int_equal(p.nversions, 0);
	buf_release(&b);
}

static void test_json_duplicates(void **state)
{
	struct mirror_page p;
	const char *json = "{\"meta\":{\"api-version\":\"1.0\"},\"files\":["
			   "{\"filename\":\"foo-1.0.tar.gz\",\"url\":\"a/foo-1.0.tar.gz\",\"hashes\":{}},"
			   "{\"filename\":\"foo-1.0.tar.gz\",\"url\":\"b/foo-1.0.tar.gz\",\"hashes\":{\"sha256\":\"" H64A "\"}},"
			   "{\"filename\":\"foo-1.0.tar.gz\",\"url\":\"c/foo-1.0.tar.gz\",\"hashes\":{\"sha256\":\"" H64B "\"}},"
			   "{\"filename\":\"foo-2.0.tar.gz\",\"url\":\"a/foo-2.0.tar.gz\"},"
			   "{\"filename\":\"foo-2.0.tar.gz\",\"url\":\"b/foo-2.0.tar.gz\"}]}";
	assert_int_equal(parse(json, MIRROR_JSON, "foo", &p), ERR_OK);
	assert_int_equal(p.nlinks, 2);
	assert_string_equal(p.links[0].url, "https://pypi.org/simple/foo/b/foo-1.0.tar.gz");
	assert_string_equal(p.links[1].url, "https://pypi.org/simple/foo/a/foo-2.0.tar.gz");
	mirror_page_release(&p);
}

static void test_json_big_page(void **state)
{
	struct mirror_page p;
	struct buf b;
	buf_init(&b, 0);
	buf_adds(&b, "{\"meta\":{\"api-version\":\"1.1\"},\"name\":\"foo\",\"files\":[");
	for (int i = 0; i < 10000; i++)
		buf_addf(&b,
			 "%s{\"filename\":\"foo-%d.%d.tar.gz\",\"url\":\"https://files.pythonhosted.org/packages/%02x/"
			 "%056d/foo-%d.%d.tar.gz\",\"hashes\":{\"sha256\":\"%064d\"},\"requires-python\":\">=3.8\","
			 "\"core-metadata\":{\"sha256\":\"%064d\"},\"size\":%d,\"upload-time\":"
			 "\"2024-01-01T00:00:00.000000Z\",\"yanked\":false}",
			 i ? "," : "", i / 100, i % 100, i & 0xff, i, i / 100, i % 100, i, i, i * 10);
	buf_adds(&b, "],\"versions\":[");
	for (int i = 0; i < 10000; i++)
		buf_addf(&b, "%s\"%d.%d\"", i ? "," : "", i / 100, i % 100);
	buf_adds(&b, "]}");
	double t0 = now_ms();
	assert_int_equal(mirror_parse_project(b.p, b.len, MIRROR_JSON, PAGE, "foo", &LIM, &p), ERR_OK);
	double ms = now_ms() - t0;
	assert_int_equal(p.nlinks, 10000);
	assert_int_equal(p.nversions, 10000);
	assert_int_equal(p.links[9999].size, 99990);
	print_message("10000-file JSON page (%zu bytes): %.1f ms\n", b.len, ms);
	assert_true(ms < 1500);
	mirror_page_release(&p);
	buf_release(&b);
}

/* ---- the project list ------------------------------------------------ */

struct names {
	struct buf all;   /* "name\n" per name */
	int count, stop_at;
};

static int collect(void *arg, const char *name, size_t len)
{
	struct names *n = arg;
	assert_int_equal(strlen(name), len);   /* NUL-terminated at len */
	buf_add(&n->all, name, len);
	buf_addc(&n->all, '\n');
	n->count++;
	return n->stop_at && n->count == n->stop_at ? 4242 : 0;
}

static void test_list_html(void **state)
{
	struct names n = { BUF_INIT, 0, 0 };
	const char *html =
		"<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.1\">"
		"<title>Simple index</title></head><body>\n"
		"<a href=\"/simple/0/\">0</a>\n"
		"<a href=\"/simple/django/\">Django</a>\n"
		"<a href=\"ploy-ansible/\">ploy_ansible</a>\n"
		"<a href=\"Foo.Bar\">Foo.Bar</a>\n"
		"<a href=\"https://pypi.org/simple/requests/\">requests</a>\n"
		"<a href=\"https://PyPI.org/simple/a/b/\">nested</a>\n"
		"<a href=\"https://evil.example/simple/attacker/\">foreign host</a>\n"
		"<a href=\"https://pypi.org/other/outside/\">outside the path</a>\n"
		"<a href=\"https://pypi.org/simple/\">the page itself</a>\n"
		"<a href=\"https://pypi.org/simplex/y/\">sibling path</a>\n"
		"<a href=\"//pypi.org/simple/scheme-relative/\">x</a>\n"
		"<a href=\"//evil.example/simple/x/\">x</a>\n"
		"<a href=\"javascript:void(0)\">js</a>\n"
		"<a href=\"name%2Dwith%2Dpct/?page=2#top\">pct</a>\n"
		"<a href=\"?page=2\">query only</a>\n"
		"<a href=\"\">empty</a>\n"
		"<a href=\"nul%00name/\">nul</a>\n"
		"<a>no href</a>\n"
		"<!-- <a href=\"commented/\">x</a> -->\n"
		"</body></html>\n";
	int rc = mirror_parse_list(html, strlen(html), MIRROR_HTML, "https://pypi.org/simple/", &LIM, collect, &n);
	assert_int_equal(rc, ERR_OK);
	assert_string_equal(n.all.p, "0\ndjango\nploy-ansible\nFoo.Bar\nrequests\nb\nscheme-relative\n"
				     "name-with-pct\n");
	buf_release(&n.all);

	/* a page URL without the trailing slash means the same directory */
	struct names m = { BUF_INIT, 0, 0 };
	const char *abs = "<a href='https://pypi.org/simple/x/'>x</a><a href='https://pypi.org/simplex/y/'>y</a>";
	assert_int_equal(mirror_parse_list(abs, strlen(abs), MIRROR_HTML, "https://pypi.org/simple", &LIM, collect, &m),
			 ERR_OK);
	assert_string_equal(m.all.p, "x\n");
	buf_release(&m.all);

	/* fn's non-zero return stops the parse and is returned */
	struct names s = { BUF_INIT, 0, 2 };
	rc = mirror_parse_list(html, strlen(html), MIRROR_HTML, "https://pypi.org/simple/", &LIM, collect, &s);
	assert_int_equal(rc, 4242);
	assert_int_equal(s.count, 2);
	buf_release(&s.all);

	/* max_links */
	struct names t = { BUF_INIT, 0, 0 };
	struct mirror_limits three = { 3, 8192, 32 };
	rc = mirror_parse_list(html, strlen(html), MIRROR_HTML, "https://pypi.org/simple/", &three, collect, &t);
	assert_int_equal(rc, ERR_TOOBIG);
	assert_int_equal(t.count, 3);
	buf_release(&t.all);
}

static void test_list_json(void **state)
{
	struct names n = { BUF_INIT, 0, 0 };
	const char *json = "{\"meta\":{\"_last-serial\":1,\"api-version\":\"1.1\"},\"projects\":["
			   "{\"_last-serial\":5,\"name\":\"Django\"},{\"name\":\"ploy_ansible\"},"
			   "{\"name\":\"\"},{\"name\":42},{\"other\":\"x\"},\"str\",7,"
			   "{\"name\":\"a\\u0000b\"},{\"name\":\"caf\\u00e9\"}]}";
	int rc = mirror_parse_list(json, strlen(json), MIRROR_JSON, "https://pypi.org/simple/", &LIM, collect, &n);
	assert_int_equal(rc, ERR_OK);
	assert_string_equal(n.all.p, "Django\nploy_ansible\ncaf\xc3\xa9\n");
	buf_release(&n.all);

	static const char *bad[] = {
		"<html>login</html>",
		"{\"meta\":{\"api-version\":\"2.0\"},\"projects\":[]}",
		"{\"meta\":{\"api-version\":\"1.0\"}}",
		"{\"projects\":[]}",
		"{\"meta\":{},\"projects\":{}}",
		"{\"meta\":{},\"projects\":[],\"projects\":[]}",
		"{\"meta\":{},\"projects\":[{\"name\":\"x\"}]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct names m = { BUF_INIT, 0, 0 };
		rc = mirror_parse_list(bad[i], strlen(bad[i]), MIRROR_JSON, "https://pypi.org/simple/", &LIM, collect,
				       &m);
		if (rc != ERR_PARSE)
			fail_msg("'%s': rc %d, want ERR_PARSE", bad[i], rc);
		buf_release(&m.all);
	}

	struct names s = { BUF_INIT, 0, 1 };
	rc = mirror_parse_list(json, strlen(json), MIRROR_JSON, "https://pypi.org/simple/", &LIM, collect, &s);
	assert_int_equal(rc, 4242);
	buf_release(&s.all);
	struct names t = { BUF_INIT, 0, 0 };
	struct mirror_limits one = { 1, 8192, 32 };
	rc = mirror_parse_list(json, strlen(json), MIRROR_JSON, "https://pypi.org/simple/", &one, collect, &t);
	assert_int_equal(rc, ERR_TOOBIG);
	assert_int_equal(t.count, 1);
	buf_release(&t.all);
}

static int count_only(void *arg, const char *name, size_t len)
{
	(*(size_t *)arg)++;
	return 0;
}

static void test_list_big(void **state)
{
	struct buf h, j;
	buf_init(&h, 0);
	buf_init(&j, 0);
	buf_adds(&h, "<!DOCTYPE html><html><body>\n");
	buf_adds(&j, "{\"meta\":{\"api-version\":\"1.1\",\"_last-serial\":1},\"projects\":[");
	for (int i = 0; i < 600000; i++) {
		buf_addf(&h, "<a href=\"/simple/project-%d/\">project-%d</a>\n", i, i);
		buf_addf(&j, "%s{\"name\":\"project-%d\",\"_last-serial\":%d}", i ? "," : "", i, i);
	}
	buf_adds(&h, "</body></html>\n");
	buf_adds(&j, "]}");
	struct mirror_limits lim = { 1000000, 8192, 32 };
	size_t nh = 0, nj = 0;
	double t0 = now_ms();
	assert_int_equal(mirror_parse_list(h.p, h.len, MIRROR_HTML, "https://pypi.org/simple/", &lim, count_only, &nh),
			 ERR_OK);
	double t1 = now_ms();
	assert_int_equal(mirror_parse_list(j.p, j.len, MIRROR_JSON, "https://pypi.org/simple/", &lim, count_only, &nj),
			 ERR_OK);
	double t2 = now_ms();
	assert_int_equal(nh, 600000);
	assert_int_equal(nj, 600000);
	print_message("600k-name list: HTML %zu bytes %.1f ms, JSON %zu bytes %.1f ms\n", h.len, t1 - t0, j.len,
		      t2 - t1);
	assert_true(t1 - t0 < 5000 && t2 - t1 < 5000);
	buf_release(&h);
	buf_release(&j);
}

/* ---- hostile input --------------------------------------------------- */

static int noop(void *arg, const char *name, size_t len)
{
	return 0;
}

static void test_garbage(void **state)
{
	/* deterministic xorshift; every parser over random bytes and over
	 * random mutations of the real-shaped pages */
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char *buf = xmalloc(4096);
	const char *seeds[] = { PYPI_HTML, PYPI_JSON };
	for (int round = 0; round < 4000; round++) {
		size_t n;
		if (round % 2) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			n = x % 4096;
			for (size_t i = 0; i < n; i++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				buf[i] = (char)(x & 0xff);
			}
		} else {
			const char *s = seeds[(round / 2) % 2];
			n = strlen(s) < 4096 ? strlen(s) : 4096;
			memcpy(buf, s, n);
			for (int k = 0; k < 8; k++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				buf[x % n] = "<>\"'&#=/\\{}[],:x\0"[(x >> 32) % 17];
			}
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			n = x % (n + 1);
		}
		struct mirror_page p;
		for (int f = 0; f < 2; f++) {
			int rc = mirror_parse_project(buf, n, f ? MIRROR_JSON : MIRROR_HTML, PAGE, "foo", &LIM, &p);
			assert_true(rc == ERR_OK || rc == ERR_PARSE || rc == ERR_TOOBIG);
			if (rc)
				assert_int_equal(p.nlinks, 0);
			for (size_t i = 0; i < p.nlinks; i++) {
				assert_non_null(p.links[i].filename);
				assert_true(strncmp(p.links[i].url, "http", 4) == 0);
			}
			mirror_page_release(&p);
			rc = mirror_parse_list(buf, n, f ? MIRROR_JSON : MIRROR_HTML, PAGE, &LIM, noop, NULL);
			assert_true(rc == ERR_OK || rc == ERR_PARSE || rc == ERR_TOOBIG);
		}
	}
	xfree(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_format),
		cmocka_unit_test(test_resolve_rfc3986),
		cmocka_unit_test(test_resolve_bases),
		cmocka_unit_test(test_html_pypi),
		cmocka_unit_test(test_html_relative_and_base),
		cmocka_unit_test(test_html_markup),
		cmocka_unit_test(test_html_filter),
		cmocka_unit_test(test_html_duplicates),
		cmocka_unit_test(test_html_hashes),
		cmocka_unit_test(test_html_not_html),
		cmocka_unit_test(test_html_limits),
		cmocka_unit_test(test_html_big_page),
		cmocka_unit_test(test_json_pypi),
		cmocka_unit_test(test_json_bad),
		cmocka_unit_test(test_json_limits),
		cmocka_unit_test(test_json_duplicates),
		cmocka_unit_test(test_json_big_page),
		cmocka_unit_test(test_list_html),
		cmocka_unit_test(test_list_json),
		cmocka_unit_test(test_list_big),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
