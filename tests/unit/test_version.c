/* test_version.c — PEP 440 parsing, ordering and version_cmp
 * (inherit/version.h).  Expected values were taken from the `packaging`
 * library (str(Version(s)) and its ordering). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "inherit/version.h"

static int parse(const char *s, struct pep440 *v)
{
	return pep440_parse(s, strlen(s), v);
}

/* canonical form of s, or "INVALID" */
static const char *canon(const char *s)
{
	static char out[PEP440_FORMAT_MAX];
	struct pep440 v;
	if (parse(s, &v) != ERR_OK)
		return "INVALID";
	assert_int_equal(pep440_format(&v, out, sizeof out), ERR_OK);
	return out;
}

static void test_normalization_table(void **state)
{
	static const struct { const char *in, *out; } t[] = {
		{ "1.0", "1.0" },
		{ "1.0.0", "1.0.0" },
		{ "1.0a", "1.0a0" },
		{ "1.0.alpha1", "1.0a1" },
		{ "1.0-beta.2", "1.0b2" },
		{ "1.0c1", "1.0rc1" },
		{ "1.0pre1", "1.0rc1" },
		{ "1.0preview1", "1.0rc1" },
		{ "1.0-rc-1", "1.0rc1" },
		{ "1.0RC1", "1.0rc1" },
		{ "1.0rev", "1.0.post0" },
		{ "1.0r1", "1.0.post1" },
		{ "1.0-1", "1.0.post1" },
		{ "1.0_post_2", "1.0.post2" },
		{ "1.0POST1", "1.0.post1" },
		{ "1.0.dev", "1.0.dev0" },
		{ "1.0-dev3", "1.0.dev3" },
		{ "1.0.DEV1", "1.0.dev1" },
		{ "v1.0", "1.0" },
		{ "V1.0", "1.0" },
		{ " 1.0\t", "1.0" },
		{ "\n1.0\n", "1.0" },
		{ "1.0+Ubuntu-1_02", "1.0+ubuntu.1.2" },
		{ "1.0+UBUNTU.0001", "1.0+ubuntu.1" },
		{ "01.02.003", "1.2.3" },
		{ "1!1.0", "1!1.0" },
		{ "0!1.0", "1.0" },
		{ "1.0a1-1", "1.0a1.post1" },
		{ "1.0.post1.dev2", "1.0.post1.dev2" },
		{ "2012.10", "2012.10" },
		{ "1.0.0.0a", "1.0.0.0a0" },
		{ "1.0.a-", "1.0a0" },           /* trailing separators allowed */
		{ "1.0a.", "1.0a0" },
		{ "1.0-r-", "1.0.post0" },
		{ "1.0a..post1", "1.0a0.post1" },
		{ "1!2.0rc1.post0.dev3+ubuntu.1", "1!2.0rc1.post0.dev3+ubuntu.1" },
		{ "999999999999999999", "999999999999999999" },
		{ "0000000000000000000000001", "1" },
		{ "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16", "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		const char *got = canon(t[i].in);
		if (strcmp(got, t[i].out) != 0)
			fail_msg("'%s': expected '%s', got '%s'", t[i].in, t[i].out, got);
		/* the canonical form parses to an equal version */
		struct pep440 a, b;
		assert_int_equal(parse(t[i].in, &a), ERR_OK);
		assert_int_equal(parse(t[i].out, &b), ERR_OK);
		assert_int_equal(pep440_cmp(&a, &b), 0);
	}
}

static void test_parse_fields(void **state)
{
	struct pep440 v;
	assert_int_equal(parse("3!1.2.3rc4.post5.dev6+abc.07", &v), ERR_OK);
	assert_int_equal(v.epoch, 3);
	assert_int_equal(v.nrelease, 3);
	assert_int_equal(v.release[0], 1);
	assert_int_equal(v.release[1], 2);
	assert_int_equal(v.release[2], 3);
	assert_int_equal(v.pre, PEP440_PRE_RC);
	assert_int_equal(v.pre_n, 4);
	assert_true(v.has_post);
	assert_int_equal(v.post, 5);
	assert_true(v.has_dev);
	assert_int_equal(v.dev, 6);
	assert_string_equal(v.local, "abc.7");

	assert_int_equal(parse("2.0", &v), ERR_OK);
	assert_int_equal(v.pre, PEP440_PRE_NONE);
	assert_false(v.has_post);
	assert_false(v.has_dev);
	assert_string_equal(v.local, "");
	assert_false(pep440_is_prerelease(&v));
	assert_int_equal(parse("2.0b1", &v), ERR_OK);
	assert_true(pep440_is_prerelease(&v));
	assert_int_equal(parse("2.0.dev1", &v), ERR_OK);
	assert_true(pep440_is_prerelease(&v));
	assert_int_equal(parse("2.0.post1", &v), ERR_OK);
	assert_false(pep440_is_prerelease(&v));

	/* (ptr, len): only n bytes are read */
	assert_int_equal(pep440_parse("1.0junk", 3, &v), ERR_OK);
	assert_int_equal(v.nrelease, 2);
}

static void test_invalid(void **state)
{
	static const char *bad[] = {
		"", " ", "x", "1.", ".1", "1..0", "1.0-", "1.0+", "1.0+a..b",
		"1.0+.a", "1.0+a.", "1!", "!1", "1!!1", "1.0.post1.post2",
		"1.0.dev1.post1", "1.0a1b1", "vv1", "1.0 a1", "1.0+a+b", "1.0_1",
		"1.0-x", "a1.0", "1.0+a-", "1.0rc1.0", "1.0--1", "rc1",
		"1.0+\xc3\xa9", "1,0", "1.0 1", "v", "1.0a1.a2", "-1.0", "+1",
		"1.0.dev1.dev2", "1.0++a",
		/* bounds */
		"1000000000000000000",              /* 19 digits */
		"1.0.post1000000000000000000",
		"1.0a99999999999999999999",
		"1000000000000000000!1.0",
		"1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17",  /* 17 segments */
	};
	struct pep440 v;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (parse(bad[i], &v) != ERR_PARSE)
			fail_msg("'%s' should not parse", bad[i]);
	/* embedded NUL */
	assert_int_equal(pep440_parse("1.0\0", 4, &v), ERR_PARSE);
	assert_int_equal(pep440_parse("1\0.0", 4, &v), ERR_PARSE);
	/* local label longer than the bound */
	char buf[300] = "1.0+";
	memset(buf + 4, 'a', PEP440_MAX_LOCAL);
	buf[4 + PEP440_MAX_LOCAL] = '\0';
	assert_int_equal(parse(buf, &v), ERR_OK);
	buf[4 + PEP440_MAX_LOCAL] = 'a';
	buf[5 + PEP440_MAX_LOCAL] = '\0';
	assert_int_equal(parse(buf, &v), ERR_PARSE);
}

static void test_ordering_chain(void **state)
{
	/* strictly increasing, checked with packaging.version.Version */
	static const char *chain[] = {
		"0.9", "1.0.dev0", "1.0.dev1", "1.0a1.dev1", "1.0a1",
		"1.0a1.post1.dev1", "1.0a1.post1", "1.0a2", "1.0b1.dev456",
		"1.0b1", "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev1",
		"1.0rc1", "1.0", "1.0+abc", "1.0+abc.1", "1.0+abd", "1.0+0",
		"1.0+1", "1.0+1.abc", "1.0+2", "1.0+10", "1.0.post0.dev0",
		"1.0.post0", "1.0.post1.dev1", "1.0.post1", "1.0.post456",
		"1.0.1", "1.0.15", "1.1.dev0", "1.1", "2.0", "10.0",
		"1!0.1", "1!1.0", "2!0",
	};
	size_t n = sizeof chain / sizeof chain[0];
	struct pep440 *v = xcalloc(n, sizeof *v);
	for (size_t i = 0; i < n; i++)
		if (parse(chain[i], &v[i]) != ERR_OK)
			fail_msg("'%s' should parse", chain[i]);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			int want = i < j ? -1 : i > j ? 1 : 0;
			int got = pep440_cmp(&v[i], &v[j]);
			if ((got > 0) - (got < 0) != want)
				fail_msg("cmp('%s', '%s') = %d, want %d", chain[i], chain[j], got, want);
			got = version_cmp(chain[i], chain[j]);
			if (got != want)
				fail_msg("version_cmp('%s', '%s') = %d, want %d", chain[i], chain[j], got, want);
		}
	}
	xfree(v);
}

static void test_equal_spellings(void **state)
{
	static const char *eq[][2] = {
		{ "1.0", "1.0.0" },
		{ "1", "1.0.0.0.0" },
		{ "1.0", "v1.0" },
		{ "1.0", "0!1.0" },
		{ "1.0a", "1.0a0" },
		{ "1.0alpha1", "1.0a1" },
		{ "1.0-1", "1.0.post1" },
		{ "1.0rev1", "1.0.post1" },
		{ "1.0c1", "1.0rc1" },
		{ "1.0+ABC.01", "1.0+abc.1" },
		{ "1.0+a-b_c", "1.0+a.b.c" },
		{ "01.0", "1.0" },
		{ "1.0.0+1", "1.0+1" },
	};
	for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++)
		if (version_cmp(eq[i][0], eq[i][1]) != 0)
			fail_msg("'%s' should equal '%s'", eq[i][0], eq[i][1]);
}

static void test_specific_orderings(void **state)
{
	assert_true(version_cmp("1!0.1", "2.0") > 0);
	assert_true(version_cmp("1.0+local", "1.0") > 0);
	assert_true(version_cmp("1.0rc1", "1.0") < 0);
	assert_true(version_cmp("1.0", "1.0.post1") < 0);
	assert_true(version_cmp("1.0.post1", "1.1.dev0") < 0);
	assert_true(version_cmp("1.0.dev1", "1.0a1") < 0);
	assert_true(version_cmp("1.0a1", "1.0a1.post1") < 0);
	assert_true(version_cmp("1.10", "1.9") > 0);        /* numeric, not lexical */
	assert_true(version_cmp("1.0.10", "1.0.9") > 0);
	assert_true(version_cmp("999999999999999999", "999999999999999998") > 0);
	/* numeric local segments compare as numbers of any length */
	assert_true(version_cmp("1.0+100000000000000000000000", "1.0+99999999999999999999999") > 0);
}

static void test_version_cmp_invalid(void **state)
{
	/* invalid versions sort before valid ones, among themselves by strcmp */
	assert_true(version_cmp("garbage", "0") < 0);
	assert_true(version_cmp("0.0.dev0", "zzz") > 0);
	assert_true(version_cmp("abc", "abd") < 0);
	assert_true(version_cmp("abd", "abc") > 0);
	assert_int_equal(version_cmp("abc", "abc"), 0);
	assert_int_equal(version_cmp("", ""), 0);
	assert_true(version_cmp("", "x") < 0);
	assert_true(version_cmp("1.0-x", "0.1") < 0);

	/* sorting a mixed list ascending */
	const char *list[] = { "2.0", "bogus", "1.0rc1", "1.0", "1!0.0", "1.0.0", "alpha", "1.0.post1" };
	size_t n = sizeof list / sizeof list[0];
	for (size_t i = 1; i < n; i++)   /* insertion sort with version_cmp_total */
		for (size_t j = i; j > 0 && version_cmp_total(list[j - 1], list[j]) > 0; j--) {
			const char *t = list[j];
			list[j] = list[j - 1];
			list[j - 1] = t;
		}
	const char *want[] = { "alpha", "bogus", "1.0rc1", "1.0", "1.0.0", "1.0.post1", "2.0", "1!0.0" };
	for (size_t i = 0; i < n; i++)
		assert_string_equal(list[i], want[i]);
	assert_int_equal(version_cmp("1.0", "1.0.0"), 0);
	assert_true(version_cmp_total("1.0", "1.0.0") < 0);
	assert_int_equal(version_cmp_total("1.0", "1.0"), 0);
}

static void test_format_toobig(void **state)
{
	struct pep440 v;
	char out[8];
	assert_int_equal(parse("1.0", &v), ERR_OK);
	assert_int_equal(pep440_format(&v, out, 4), ERR_OK);
	assert_string_equal(out, "1.0");
	assert_int_equal(pep440_format(&v, out, 3), ERR_TOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(pep440_format(&v, NULL, 0), ERR_TOOBIG);
	/* the documented maximum suffices for the largest version */
	char big[600];
	size_t o = 0;
	o += (size_t)snprintf(big + o, sizeof big - o, "999999999999999999!");
	for (int i = 0; i < PEP440_MAX_RELEASE; i++)
		o += (size_t)snprintf(big + o, sizeof big - o, "%s999999999999999999", i ? "." : "");
	o += (size_t)snprintf(big + o, sizeof big - o,
			      "rc999999999999999999.post999999999999999999.dev999999999999999999+");
	memset(big + o, 'z', PEP440_MAX_LOCAL);
	big[o + PEP440_MAX_LOCAL] = '\0';
	assert_int_equal(parse(big, &v), ERR_OK);
	char fmt[PEP440_FORMAT_MAX];
	assert_int_equal(pep440_format(&v, fmt, sizeof fmt), ERR_OK);
	assert_string_equal(fmt, big);
}

static void test_hostile(void **state)
{
	struct pep440 v;
	size_t n = 1 << 20;
	char *s = xmalloc(n + 1);
	/* a megabyte of leading zeros is still the number 1 */
	memset(s, '0', n);
	s[n - 1] = '1';
	s[n] = '\0';
	assert_int_equal(pep440_parse(s, n, &v), ERR_OK);
	assert_int_equal(v.release[0], 1);
	/* a megabyte of digits is too big */
	memset(s, '9', n);
	assert_int_equal(pep440_parse(s, n, &v), ERR_PARSE);
	/* many segments */
	for (size_t i = 0; i < n; i++)
		s[i] = (i % 2) ? '.' : '1';
	assert_int_equal(pep440_parse(s, n, &v), ERR_PARSE);
	/* all bytes, one at a time, after a valid prefix: never crashes */
	for (int c = 0; c < 256; c++) {
		char b[4] = { '1', '.', (char)c, '0' };
		(void)pep440_parse(b, 4, &v);
	}
	/* non-UTF-8 */
	assert_int_equal(pep440_parse("1.0\xff", 4, &v), ERR_PARSE);
	xfree(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalization_table),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_ordering_chain),
		cmocka_unit_test(test_equal_spellings),
		cmocka_unit_test(test_specific_orderings),
		cmocka_unit_test(test_version_cmp_invalid),
		cmocka_unit_test(test_format_toobig),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
