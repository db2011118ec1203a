/* test_name.c — normalization and name validation (inherit/name.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "inherit/name.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_normalize_table(void **state)
{
	static const struct { const char *in, *out; } t[] = {
		{ "Hello_World", "hello-world" },
		{ "hello-world", "hello-world" },
		{ "a..b", "a-b" },
		{ "--x--", "-x-" },
		{ "A.B-C_D", "a-b-c-d" },
		{ "Django", "django" },
		{ "zope.interface", "zope-interface" },
		{ "foo___bar", "foo-bar" },
		{ "foo-_.-bar", "foo-bar" },
		{ "ABC123xyz", "abc123xyz" },
		{ "", "" },
		{ "-", "-" },
		{ "...", "-" },
		{ "a b", "a-b" },
		{ "caf\xc3\xa9", "caf-" },          /* non-ASCII run -> one '-' */
		{ "\xc3\xa9\xc3\xa9x", "-x" },
		{ "x+y/z", "x-y-z" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char out[64];
		assert_int_equal(name_normalize(t[i].in, strlen(t[i].in), out, sizeof out), ERR_OK);
		assert_string_equal(out, t[i].out);
		char *d = name_normalize_dup(t[i].in, strlen(t[i].in));
		assert_string_equal(d, t[i].out);
		xfree(d);
		assert_true(name_is_normalized(t[i].out, strlen(t[i].out)));
	}
}

static void test_normalize_embedded_nul_and_len(void **state)
{
	char out[16];
	/* a NUL is a byte like any other: it is part of a '-' run */
	assert_int_equal(name_normalize("a\0b", 3, out, sizeof out), ERR_OK);
	assert_string_equal(out, "a-b");
	/* only n bytes are read, no NUL needed */
	assert_int_equal(name_normalize("ABCDEF", 3, out, sizeof out), ERR_OK);
	assert_string_equal(out, "abc");
	char *d = name_normalize_dup("X\0\0Y", 4);
	assert_string_equal(d, "x-y");
	xfree(d);
}

static void test_normalize_toobig(void **state)
{
	char out[4];
	memset(out, 'Z', sizeof out);
	assert_int_equal(name_normalize(S("abc"), out, sizeof out), ERR_OK);
	assert_string_equal(out, "abc");
	assert_int_equal(name_normalize(S("abcd"), out, sizeof out), ERR_TOOBIG);
	assert_string_equal(out, "");
	/* fits after collapsing */
	assert_int_equal(name_normalize(S("a....b"), out, sizeof out), ERR_OK);
	assert_string_equal(out, "a-b");
	assert_int_equal(name_normalize(S(""), out, 0), ERR_TOOBIG);
	assert_int_equal(name_normalize(S(""), out, 1), ERR_OK);
	assert_string_equal(out, "");
}

static void test_normalize_long(void **state)
{
	size_t n = 100000;
	char *in = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (i % 3 == 0) ? '_' : 'A';
	char *d = name_normalize_dup(in, n);
	assert_int_equal(strlen(d), n);
	assert_int_equal(d[0], '-');
	assert_int_equal(d[1], 'a');
	assert_true(name_is_normalized(d, strlen(d)));
	xfree(d);
	xfree(in);
}

static void test_is_normalized(void **state)
{
	assert_true(name_is_normalized(S("hello-world")));
	assert_true(name_is_normalized(S("")));
	assert_true(name_is_normalized(S("-x-")));
	assert_true(name_is_normalized(S("a1-2b")));
	assert_false(name_is_normalized(S("Hello")));
	assert_false(name_is_normalized(S("a--b")));
	assert_false(name_is_normalized(S("a_b")));
	assert_false(name_is_normalized(S("a.b")));
	assert_false(name_is_normalized(S("a\0b")));
	assert_false(name_is_normalized(S("caf\xc3\xa9")));
}

static void test_utf8(void **state)
{
	assert_true(name_utf8_valid(S("plain")));
	assert_true(name_utf8_valid(S("caf\xc3\xa9")));
	assert_true(name_utf8_valid(S("\xe2\x82\xac")));          /* euro */
	assert_true(name_utf8_valid(S("\xf0\x9f\x98\x80")));      /* emoji */
	assert_true(name_utf8_valid(S("\xf4\x8f\xbf\xbf")));      /* U+10FFFF */
	assert_false(name_utf8_valid(S("\xc3")));                 /* truncated */
	assert_false(name_utf8_valid(S("\xe2\x82")));
	assert_false(name_utf8_valid(S("\x80")));                 /* lone continuation */
	assert_false(name_utf8_valid(S("\xc0\xaf")));             /* overlong '/' */
	assert_false(name_utf8_valid(S("\xe0\x80\xaf")));         /* overlong */
	assert_false(name_utf8_valid(S("\xf0\x80\x80\xaf")));     /* overlong */
	assert_false(name_utf8_valid(S("\xed\xa0\x80")));         /* surrogate */
	assert_false(name_utf8_valid(S("\xf4\x90\x80\x80")));     /* > U+10FFFF */
	assert_false(name_utf8_valid(S("\xff")));
	assert_false(name_utf8_valid(S("\xc3\x28")));             /* bad continuation */
}

static void test_user_index_valid(void **state)
{
	static const char *ok[] = {
		"root", "pypi", "alice", "dev", "a", "a-b", "a.b", "a_b", "a@b",
		"user@example.com", "-lead", "trail-", ".x", "x.", "a.b.c",
		"UPPER", "123", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (name_check_user_index(ok[i], strlen(ok[i])) != ERR_OK)
			fail_msg("'%s' should be a valid user/index name", ok[i]);
	}
}

static void test_user_index_dotdot_rejected(void **state)
{
	static const char *bad[] = { "..x", "x..", "...", "a..b", "..", "." };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (name_check_user_index(bad[i], strlen(bad[i])) != ERR_INVAL)
			fail_msg("'%s' should be rejected (contains '..')", bad[i]);
}

static void test_user_index_each_forbidden_char(void **state)
{
	const char *bad = "!\"#$%&'()*+,/:;<=>?[\\]^`{|}~ ";
	for (const char *p = bad; *p; p++) {
		char name[8];
		snprintf(name, sizeof name, "ab%cc", *p);
		if (name_check_user_index(name, strlen(name)) != ERR_INVAL)
			fail_msg("'%s' (char 0x%02x) should be rejected", name, (unsigned char)*p);
		snprintf(name, sizeof name, "%c", *p);
		if (name_check_user_index(name, 1) != ERR_INVAL)
			fail_msg("single char 0x%02x should be rejected", (unsigned char)*p);
	}
	/* every ASCII control char and DEL */
	for (int c = 0; c < 0x20; c++) {
		char name[3] = { 'a', (char)c, 'b' };
		if (name_check_user_index(name, 3) != ERR_INVAL)
			fail_msg("control char 0x%02x should be rejected", c);
	}
	assert_int_equal(name_check_user_index(S("a\x7f" "b")), ERR_INVAL);
	/* everything printable that is not in the list passes */
	for (int c = 0x21; c < 0x7f; c++) {
		char name[3] = { 'a', (char)c, 'b' };
		int expect = strchr(bad, c) ? ERR_INVAL : ERR_OK;
		if (name_check_user_index(name, 3) != expect)
			fail_msg("char 0x%02x: wrong verdict", c);
	}
}

static void test_user_index_shape(void **state)
{
	char buf[80];
	assert_int_equal(name_check_user_index(S("")), ERR_INVAL);
	assert_int_equal(name_check_user_index(S(".")), ERR_INVAL);
	assert_int_equal(name_check_user_index(S("..")), ERR_INVAL);
	memset(buf, 'u', sizeof buf);
	assert_int_equal(name_check_user_index(buf, 64), ERR_OK);
	assert_int_equal(name_check_user_index(buf, 65), ERR_INVAL);
	assert_int_equal(name_check_user_index(S("a\0b")), ERR_INVAL);
	/* non-UTF-8 */
	assert_int_equal(name_check_user_index(S("caf\xe9")), ERR_INVAL);
	assert_int_equal(name_check_user_index(S("\xc0\xaf")), ERR_INVAL);
	assert_int_equal(name_check_user_index(S("\xed\xa0\x80")), ERR_INVAL);
	/* length is bytes, not characters: 22 three-byte chars = 66 bytes */
	size_t o = 0;
	for (int i = 0; i < 22; i++) {
		memcpy(buf + o, "\xe2\x82\xac", 3);
		o += 3;
	}
	assert_int_equal(name_check_user_index(buf, o), ERR_INVAL);
	assert_int_equal(name_check_user_index(buf, 63), ERR_OK);
}

static void test_project(void **state)
{
	static const char *ok[] = {
		"a", "A", "0", "requests", "zope.interface", "hello_world",
		"my-pkg", "Django", "a.b-c_d", "x1", "1x", "a--b", "a..b",
	};
	static const char *bad[] = {
		"", "-a", "a-", ".a", "a.", "_a", "a_", "a b", "a/b", "a+b",
		"caf\xc3\xa9", "a<b", "a\"b", "a%b", "a#b", "-", ".",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (name_check_project(ok[i], strlen(ok[i])) != ERR_OK)
			fail_msg("'%s' should be a valid project", ok[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (name_check_project(bad[i], strlen(bad[i])) != ERR_INVAL)
			fail_msg("'%s' should be an invalid project", bad[i]);
	assert_int_equal(name_check_project(S("a\0b")), ERR_INVAL);
	char buf[256];
	memset(buf, 'p', sizeof buf);
	assert_int_equal(name_check_project(buf, 200), ERR_OK);
	assert_int_equal(name_check_project(buf, 201), ERR_INVAL);
}

static void test_version_check(void **state)
{
	static const char *ok[] = {
		"1.0", "1.0.0", "2!1.0rc1.post2.dev3+local.1", "v1", "1.0-beta",
		"not-pep440", "a", "x_y", "1,2", "..1", "1..", "~1",
	};
	static const char *bad[] = {
		"", ".", "..", "1.0 ", " 1.0", "1/0", "1\\0", "1<0", "1>0",
		"1%0", "1#0", "1\"0", "1\t0", "1\n", "caf\xc3\xa9", "1\x7f",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (name_check_version(ok[i], strlen(ok[i])) != ERR_OK)
			fail_msg("'%s' should be a valid version string", ok[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (name_check_version(bad[i], strlen(bad[i])) != ERR_INVAL)
			fail_msg("'%s' should be an invalid version string", bad[i]);
	assert_int_equal(name_check_version(S("1\0")), ERR_INVAL);
	char buf[200];
	memset(buf, '1', sizeof buf);
	assert_int_equal(name_check_version(buf, 128), ERR_OK);
	assert_int_equal(name_check_version(buf, 129), ERR_INVAL);
}

static void test_filename_check(void **state)
{
	static const char *ok[] = {
		"pkg-1.0.tar.gz", "pkg-1.0-py3-none-any.whl", "a", "a b.zip",
		"caf\xc3\xa9-1.0.zip", "x..y", "pkg-1.0.tar.gz.toxresult-20240101000000-0",
	};
	static const char *bad[] = {
		"", ".", "..", ".hidden", "../x", "a/b", "a\\b", "a\nb", "a\rb",
		"a\tb", "a\x7f" "b", "\x1b[31m", "caf\xe9.zip", "\xc0\xae\xc0\xae",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (name_check_filename(ok[i], strlen(ok[i])) != ERR_OK)
			fail_msg("'%s' should be a valid file name", ok[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (name_check_filename(bad[i], strlen(bad[i])) != ERR_INVAL)
			fail_msg("'%s' should be an invalid file name", bad[i]);
	assert_int_equal(name_check_filename(S("a\0b.zip")), ERR_INVAL);
	char buf[300];
	memset(buf, 'f', sizeof buf);
	assert_int_equal(name_check_filename(buf, 255), ERR_OK);
	assert_int_equal(name_check_filename(buf, 256), ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize_table),
		cmocka_unit_test(test_normalize_embedded_nul_and_len),
		cmocka_unit_test(test_normalize_toobig),
		cmocka_unit_test(test_normalize_long),
		cmocka_unit_test(test_is_normalized),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_user_index_valid),
		cmocka_unit_test(test_user_index_dotdot_rejected),
		cmocka_unit_test(test_user_index_each_forbidden_char),
		cmocka_unit_test(test_user_index_shape),
		cmocka_unit_test(test_project),
		cmocka_unit_test(test_version_check),
		cmocka_unit_test(test_filename_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
