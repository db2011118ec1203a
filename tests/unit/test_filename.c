/* test_filename.c — archive extensions, file name parsing, upload name
 * checks and content types (inherit/filename.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "inherit/filename.h"

static void test_archive_ext(void **state)
{
	static const char *ok[] = {
		"a.exe", "a.tar.gz", "a.bz2", "a.rpm", "a.deb", "a.zip", "a.tgz",
		"a.egg", "a.dmg", "a.msi", "a.whl", "A.WHL", "a.Tar.Gz", "a.tar.bz2",
		".whl", "pkg-1.0-py3-none-any.whl",
	};
	static const char *bad[] = {
		"", "whl", "a.tar", "a.tar.xz", "a.txt", "a.whl.asc", "a.gz",
		"a.whl ", "a.zipx", "a.egg-info",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!filename_has_archive_ext(ok[i], strlen(ok[i])))
			fail_msg("'%s' should be an archive name", ok[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (filename_has_archive_ext(bad[i], strlen(bad[i])))
			fail_msg("'%s' should not be an archive name", bad[i]);
	/* (ptr, len): the extension must be within n */
	assert_false(filename_has_archive_ext("a.whl", 4));
}

struct parse_case {
	const char *fn;
	enum filename_kind kind;
	const char *project, *version, *ext, *build, *python, *abi, *platform;
};

static void check_parse(const struct parse_case *c)
{
	struct filename_info fi;
	int rc = filename_parse(c->fn, strlen(c->fn), &fi);
	if (rc != ERR_OK)
		fail_msg("'%s' should parse, got %d", c->fn, rc);
	if (fi.kind != c->kind)
		fail_msg("'%s': kind %d, want %d", c->fn, fi.kind, c->kind);
#define CHECK_FIELD(f)                                                              \
	if (strcmp(fi.f, c->f ? c->f : "") != 0)                                    \
		fail_msg("'%s': " #f " '%s', want '%s'", c->fn, fi.f, c->f ? c->f : "")
	CHECK_FIELD(project);
	CHECK_FIELD(version);
	CHECK_FIELD(ext);
	CHECK_FIELD(build);
	CHECK_FIELD(python);
	CHECK_FIELD(abi);
	CHECK_FIELD(platform);
#undef CHECK_FIELD
}

static void test_parse_wheels(void **state)
{
	static const struct parse_case t[] = {
		{ "pkg-1.0-py3-none-any.whl", FILENAME_WHEEL, "pkg", "1.0", ".whl", NULL, "py3", "none", "any" },
		{ "my_pkg-2.0.1-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", FILENAME_WHEEL, "my_pkg", "2.0.1", ".whl", "1", "cp311", "cp311", "manylinux_2_17_x86_64.manylinux2014_x86_64" },
		{ "Foo-1.0-1abc-py2.py3-none-any.WHL", FILENAME_WHEEL, "Foo", "1.0", ".whl", "1abc", "py2.py3", "none", "any" },
		{ "pkg-1.0_beta-py3-none-win_amd64.whl", FILENAME_WHEEL, "pkg", "1.0_beta", ".whl", NULL, "py3", "none", "win_amd64" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		check_parse(&t[i]);
}

static void test_parse_sdists(void **state)
{
	static const struct parse_case t[] = {
		{ "my-pkg-1.0.tar.gz", FILENAME_SDIST, "my-pkg", "1.0", ".tar.gz", NULL, NULL, NULL, NULL },
		{ "hello_world-1.0.tar.gz", FILENAME_SDIST, "hello_world", "1.0", ".tar.gz", NULL, NULL, NULL, NULL },
		/* a project name part starting with a digit is not a version */
		{ "py-3to2-1.0.tar.gz", FILENAME_SDIST, "py-3to2", "1.0", ".tar.gz", NULL, NULL, NULL, NULL },
		{ "django-2fa-1.0.tar.bz2", FILENAME_SDIST, "django-2fa", "1.0", ".tar.bz2", NULL, NULL, NULL, NULL },
		{ "foo-2-1.0.tgz", FILENAME_SDIST, "foo-2", "1.0", ".tgz", NULL, NULL, NULL, NULL },
		/* dashes in the version: leftmost valid PEP 440 reading wins */
		{ "pkg-1.0-2.tar.gz", FILENAME_SDIST, "pkg", "1.0-2", ".tar.gz", NULL, NULL, NULL, NULL },
		{ "pkg-1.0-beta.tar.gz", FILENAME_SDIST, "pkg", "1.0-beta", ".tar.gz", NULL, NULL, NULL, NULL },
		{ "pkg-1.0-dev-1.zip", FILENAME_SDIST, "pkg", "1.0-dev-1", ".zip", NULL, NULL, NULL, NULL },
		/* no valid reading: the leftmost candidate */
		{ "pkg-1.0-custom-x.tar.gz", FILENAME_SDIST, "pkg", "1.0-custom-x", ".tar.gz", NULL, NULL, NULL, NULL },
		{ "pkg-v2.0.zip", FILENAME_SDIST, "pkg", "v2.0", ".zip", NULL, NULL, NULL, NULL },
		{ "pkg-V2.zip", FILENAME_SDIST, "pkg", "V2", ".zip", NULL, NULL, NULL, NULL },
		{ "vpkg-1.0.tar", FILENAME_SDIST, "vpkg", "1.0", ".tar", NULL, NULL, NULL, NULL },
		{ "PKG-1.0.TAR.GZ", FILENAME_SDIST, "PKG", "1.0", ".tar.gz", NULL, NULL, NULL, NULL },
		{ "pkg-1.0.tar.xz", FILENAME_SDIST, "pkg", "1.0", ".tar.xz", NULL, NULL, NULL, NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		check_parse(&t[i]);
}

static void test_parse_eggs_and_others(void **state)
{
	static const struct parse_case t[] = {
		{ "pkg-1.0.egg", FILENAME_EGG, "pkg", "1.0", ".egg", NULL, NULL, NULL, NULL },
		{ "pkg-1.0-py2.7.egg", FILENAME_EGG, "pkg", "1.0", ".egg", NULL, "py2.7", NULL, NULL },
		{ "my_pkg-1.0_dev-py3.11-linux-x86_64.egg", FILENAME_EGG, "my_pkg", "1.0_dev", ".egg", NULL, "py3.11", NULL, "linux-x86_64" },
		{ "pkg-1.0.doc.zip", FILENAME_OTHER, "pkg", "1.0", ".doc.zip", NULL, NULL, NULL, NULL },
		{ "pkg-1.0.win32.exe", FILENAME_OTHER, "pkg", "1.0.win32", ".exe", NULL, NULL, NULL, NULL },
		{ "pkg-1.0-1.noarch.rpm", FILENAME_OTHER, "pkg", "1.0-1.noarch", ".rpm", NULL, NULL, NULL, NULL },
		{ "pkg-1.0.msi", FILENAME_OTHER, "pkg", "1.0", ".msi", NULL, NULL, NULL, NULL },
		{ "pkg-1.0.dmg", FILENAME_OTHER, "pkg", "1.0", ".dmg", NULL, NULL, NULL, NULL },
		{ "pkg_1.0-1_all.deb", FILENAME_OTHER, "pkg_1.0", "1_all", ".deb", NULL, NULL, NULL, NULL },
		{ "pkg-1.0.bz2", FILENAME_OTHER, "pkg", "1.0", ".bz2", NULL, NULL, NULL, NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		check_parse(&t[i]);
}

static void test_parse_garbage(void **state)
{
	static const char *bad[] = {
		"", ".whl", "pkg.whl", "pkg-1.0-none-any.whl", "pkg-1.0-x-py3-none-any.whl",
		"pkg-1.0-1-2-py3-none-any.whl", "pkg--1.0-py3-none-any.whl",
		"-1.0-py3-none-any.whl", "pkg-1.0-py3-none-.whl", "pkg-1.0-py3-none-any-.whl",
		"pkg.tar.gz", "-1.0.tar.gz", "pkg-.tar.gz", ".tar.gz", "pkg-abc.tar.gz",
		"pkg-v.zip", "pkg.egg", "pkg-.egg", "pkg-1.0-linux.egg", "pkg-1.0-py2.7-.egg",
		"-1.0.egg", "pkg-1.0.txt", "pkg-1.0.tar.gz.asc", "pkg-1.0", "pkg-1.0.metadata",
	};
	struct filename_info fi;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (filename_parse(bad[i], strlen(bad[i]), &fi) != ERR_PARSE)
			fail_msg("'%s' should not parse", bad[i]);
	/* embedded NUL */
	assert_int_equal(filename_parse("pkg-1.0\0.tar.gz", 15, &fi), ERR_PARSE);
	assert_int_equal(filename_parse("pk\0g-1.0-py3-none-any.whl", 25, &fi), ERR_PARSE);
}

static void test_parse_bounds(void **state)
{
	struct filename_info fi;
	char *s = xmalloc(70000);
	/* project of 255 bytes fits, 256 does not */
	memset(s, 'p', 255);
	memcpy(s + 255, "-1.0.tar.gz", 12);
	assert_int_equal(filename_parse(s, strlen(s), &fi), ERR_OK);
	assert_int_equal(strlen(fi.project), 255);
	memset(s, 'p', 256);
	memcpy(s + 256, "-1.0.tar.gz", 12);
	assert_int_equal(filename_parse(s, strlen(s), &fi), ERR_PARSE);
	/* build tag over 63 bytes */
	memcpy(s, "p-1-", 4);
	memset(s + 4, '1', 64);
	memcpy(s + 68, "-py3-none-any.whl", 18);
	assert_int_equal(filename_parse(s, strlen(s), &fi), ERR_PARSE);
	/* a long hostile stem with many candidate split points */
	size_t n = 0;
	memcpy(s, "p", 1);
	n = 1;
	while (n < 60000) {
		memcpy(s + n, "-1-0000", 7);
		n += 7;
	}
	memcpy(s + n, ".tar.gz", 8);
	n += 7;
	assert_int_equal(filename_parse(s, n, &fi), ERR_PARSE);  /* version too long */
	xfree(s);
}

static void test_contains_version(void **state)
{
	static const struct { const char *fn, *v; int want; } t[] = {
		{ "pkg-1.0.tar.gz", "1.0", 1 },
		{ "pkg-1.0.tar.gz", "1.1", 0 },
		{ "pkg-10.tar.gz", "1.0", 0 },
		{ "pkg-1.0.tar.gz", "1", 1 },            /* substring, as devpi */
		{ "pkg-1.0_beta-py3-none-any.whl", "1.0-beta", 1 },  /* PEP 427 */
		{ "pkg-1.0-beta.tar.gz", "1.0-beta", 1 },
		{ "pkg-1.0_beta.tar.gz", "1.0 - beta", 1 },
		{ "pkg-1.0_local-py3-none-any.whl", "1.0+local", 1 },
		{ "pkg-1.0+local.tar.gz", "1.0+local", 1 },
		{ "pkg-1.0local.tar.gz", "1.0+local", 0 },
		/* devpi's escape keeps '_' ... */
		{ "pkg-1.0__a-py3-none-any.whl", "1.0_-a", 1 },
		/* ... the strict one folds it into the run */
		{ "pkg-1.0_a-py3-none-any.whl", "1.0_-a", 1 },
		{ "pkg-1.0-a.tar.gz", "1.0_-a", 0 },
		{ "pkg-1.0.tar.gz", "", 1 },
		{ "", "1.0", 0 },
		{ "pkg-2.0.tar.gz", "1.0-beta", 0 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (filename_contains_version(t[i].fn, t[i].v) != t[i].want)
			fail_msg("contains_version('%s', '%s') should be %d", t[i].fn, t[i].v, t[i].want);
}

static void test_matches_project(void **state)
{
	static const struct { const char *fn, *p; int want; } t[] = {
		{ "hello_world-1.0.tar.gz", "hello-world", 1 },
		{ "hello_world-1.0.tar.gz", "Hello.World", 1 },
		{ "Hello.World-1.0.tar.gz", "hello_world", 1 },
		{ "foo-1.0.tar.gz", "foo", 1 },
		{ "FOO-1.0-py3-none-any.whl", "foo", 1 },
		{ "foo.-_bar-1.0.zip", "foo-bar", 1 },
		{ "foobar-1.0.tar.gz", "foo", 0 },         /* prefix must end at a boundary */
		{ "foo2-1.0.tar.gz", "foo", 0 },
		{ "bar-1.0.tar.gz", "foo", 0 },
		{ "fo-1.0.tar.gz", "foo", 0 },
		{ "foo", "foo", 1 },
		{ "fo", "foo", 0 },
		{ "foo-bar-1.0.tar.gz", "foo", 1 },        /* devpi's looseness, kept */
		{ "foo-1.0.tar.gz", "", 0 },
		{ "foo-1.0.tar.gz", "foo-", 1 },
		{ "foo-1.0.tar.gz", "---", 0 },
		{ "", "foo", 0 },
		{ "caf\xc3\xa9-1.0.zip", "caf", 1 },
		{ "caf\xc3\xa9-1.0.zip", "caf\xc3\xa9", 1 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (filename_matches_project(t[i].fn, t[i].p) != t[i].want)
			fail_msg("matches_project('%s', '%s') should be %d", t[i].fn, t[i].p, t[i].want);
}

static void test_content_type(void **state)
{
	static const struct { const char *fn, *type; } t[] = {
		{ "x-1.0.tar.gz", "application/gzip" },
		{ "x-1.0.TGZ", "application/gzip" },
		{ "x-1.0.tar", "application/x-tar" },
		{ "x-1.0.zip", "application/zip" },
		{ "x-1.0.Zip", "application/zip" },
		{ "x-1.0.doc.zip", "application/zip" },
		{ "x-1.0.tar.bz2", "application/x-bzip2" },
		{ "x-1.0.bz2", "application/x-bzip2" },
		{ "x-1.0.tar.xz", "application/x-xz" },
		{ "x-1.0-py3-none-any.whl", "application/octet-stream" },
		{ "x-1.0.egg", "application/octet-stream" },
		{ "x-1.0.exe", "application/octet-stream" },
		{ "x-1.0.msi", "application/octet-stream" },
		{ "x-1.0.dmg", "application/octet-stream" },
		{ "x-1.0.rpm", "application/octet-stream" },
		{ "x-1.0.deb", "application/octet-stream" },
		{ "x-1.0.whl.metadata", "application/octet-stream" },
		{ "x.gz.exe", "application/octet-stream" },
		{ "noext", "application/octet-stream" },
		{ "", "application/octet-stream" },
		{ "x.", "application/octet-stream" },
		{ "x.targz", "application/octet-stream" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcmp(filename_content_type(t[i].fn), t[i].type) != 0)
			fail_msg("content_type('%s') = '%s', want '%s'", t[i].fn,
				 filename_content_type(t[i].fn), t[i].type);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_archive_ext),
		cmocka_unit_test(test_parse_wheels),
		cmocka_unit_test(test_parse_sdists),
		cmocka_unit_test(test_parse_eggs_and_others),
		cmocka_unit_test(test_parse_garbage),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test(test_contains_version),
		cmocka_unit_test(test_matches_project),
		cmocka_unit_test(test_content_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
