/* test_strset.c — the borrowed-string hash set (common/strset.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/strset.h"

static void test_basic(void **state)
{
	struct strset s;
	strset_init(&s, 0);
	assert_int_equal(strset_count(&s), 0);
	assert_false(strset_has(&s, "a", 1));
	assert_int_equal(strset_add(&s, "a", 1), 1);
	assert_int_equal(strset_add(&s, "a", 1), 0);
	assert_int_equal(strset_add(&s, "b", 1), 1);
	assert_true(strset_has(&s, "a", 1));
	assert_true(strset_has(&s, "b", 1));
	assert_false(strset_has(&s, "c", 1));
	assert_int_equal(strset_count(&s), 2);
	/* equality is (len, bytes): prefixes and embedded NULs are distinct */
	assert_int_equal(strset_add(&s, "ab", 1), 0);      /* "a" */
	assert_int_equal(strset_add(&s, "ab", 2), 1);
	assert_int_equal(strset_add(&s, "a\0b", 3), 1);
	assert_int_equal(strset_add(&s, "a\0c", 3), 1);
	assert_true(strset_has(&s, "a\0b", 3));
	assert_false(strset_has(&s, "a\0d", 3));
	/* the empty string, with or without a pointer */
	assert_false(strset_has(&s, NULL, 0));
	assert_int_equal(strset_add(&s, NULL, 0), 1);
	assert_int_equal(strset_add(&s, "", 0), 0);
	assert_true(strset_has(&s, "xyz", 0));
	assert_int_equal(strset_count(&s), 6);
	strset_release(&s);
	assert_int_equal(strset_count(&s), 0);
	assert_false(strset_has(&s, "a", 1));
	/* reusable after release */
	assert_int_equal(strset_add(&s, "a", 1), 1);
	strset_release(&s);
	strset_release(NULL);
}

static void test_many_and_growth(void **state)
{
	enum { N = 50000 };
	char (*keys)[24] = xmalloc(N * sizeof *keys);
	struct strset s;
	strset_init(&s, 10);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof keys[i], "pkg-%d.whl", i);
		assert_int_equal(strset_add(&s, keys[i], strlen(keys[i])), 1);
	}
	assert_int_equal(strset_count(&s), N);
	assert_true(s.cap >= N * 10 / 7);
	for (int i = 0; i < N; i++) {
		/* a different pointer with equal bytes is found */
		char probe[24];
		snprintf(probe, sizeof probe, "pkg-%d.whl", i);
		assert_true(strset_has(&s, probe, strlen(probe)));
		assert_int_equal(strset_add(&s, probe, strlen(probe)), 0);
	}
	assert_false(strset_has(&s, "pkg-50000.whl", 13));
	assert_int_equal(strset_count(&s), N);
	strset_release(&s);
	xfree(keys);
}

static void test_hint(void **state)
{
	struct strset s;
	strset_init(&s, 100);
	size_t cap = s.cap;
	assert_true(cap >= 143);
	char k[100][16];
	for (int i = 0; i < 100; i++) {
		snprintf(k[i], sizeof k[i], "%d", i);
		strset_add(&s, k[i], strlen(k[i]));
	}
	assert_int_equal(s.cap, cap);   /* the hint avoided any growth */
	strset_release(&s);
	/* a huge hint is clamped, not allocated */
	strset_init(&s, (size_t)1 << 40);
	assert_true(s.cap <= ((size_t)1 << 18));
	assert_int_equal(strset_add(&s, "x", 1), 1);
	strset_release(&s);
}

static void test_hash(void **state)
{
	assert_int_equal(strset_hash("abc", 3), strset_hash("abcd", 3));  /* only n bytes */
	assert_true(strset_hash("a", 1) != strset_hash("b", 1));
	assert_true(strset_hash("ab", 2) != strset_hash("ba", 2));
	/* low bits differ for near-identical keys (they pick the slot) */
	int same = 0;
	for (int i = 0; i < 256; i++) {
		char a[16], b[16];
		snprintf(a, sizeof a, "k%03d", i);
		snprintf(b, sizeof b, "k%03d", (i + 1) % 256);
		if ((strset_hash(a, 4) & 0xff) == (strset_hash(b, 4) & 0xff))
			same++;
	}
	assert_true(same < 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_many_and_growth),
		cmocka_unit_test(test_hint),
		cmocka_unit_test(test_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
