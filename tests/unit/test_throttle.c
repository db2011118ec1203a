/* test_throttle.c — failed-login counters (proxy/throttle.h): the pair,
 * user and address bounds, windows that start at the first failure, and
 * the retry time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "proxy/throttle.h"

static void test_pair_bound(void **state)
{
	int retry = -1;
	int64_t t0 = 1000000;
	for (int i = 0; i < 3; i++) {
		assert_false(throttle_blocked("alice", "10.0.0.1", 3, t0 + i, &retry));
		throttle_fail("alice", "10.0.0.1", t0 + i);
	}
	assert_true(throttle_blocked("alice", "10.0.0.1", 3, t0 + 3, &retry));
	assert_int_equal(retry, 57);                 /* the window began at t0 */
	/* another address, or another name: only the wider bounds apply */
	assert_false(throttle_blocked("alice", "10.0.0.2", 3, t0 + 3, &retry));
	assert_false(throttle_blocked("bob", "10.0.0.1", 3, t0 + 3, &retry));
	/* the window ends a minute after its first failure, not on the minute */
	assert_true(throttle_blocked("alice", "10.0.0.1", 3, t0 + 59, &retry));
	assert_int_equal(retry, 1);
	assert_false(throttle_blocked("alice", "10.0.0.1", 3, t0 + 60, &retry));
	assert_int_equal(retry, 0);
	/* and a new one starts at the next failure */
	throttle_fail("alice", "10.0.0.1", t0 + 100);
	assert_false(throttle_blocked("alice", "10.0.0.1", 3, t0 + 100, &retry));
}

static void test_wide_bounds(void **state)
{
	int retry;
	int64_t t0 = 2000000;
	char name[32];
	/* one address, many names: blocked at 10 × limit */
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "n%d", i);
		assert_false(throttle_blocked(name, "192.0.2.7", 2, t0, &retry));
		throttle_fail(name, "192.0.2.7", t0);
	}
	assert_true(throttle_blocked("fresh-name", "192.0.2.7", 2, t0, &retry));
	assert_false(throttle_blocked("fresh-name", "192.0.2.8", 2, t0, &retry));
	/* one name, many addresses: blocked at 10 × limit too */
	for (int i = 0; i < 20; i++) {
		char addr[32];
		snprintf(addr, sizeof addr, "198.51.100.%d", i);
		throttle_fail("carol", addr, t0);
	}
	assert_true(throttle_blocked("carol", "203.0.113.1", 2, t0, &retry));
	assert_true(throttle_blocked("carol", NULL, 2, t0, &retry));
	assert_false(throttle_blocked(NULL, NULL, 2, t0, &retry));
}

static void test_limit_off_and_bounded(void **state)
{
	int retry;
	int64_t t0 = 3000000;
	throttle_fail("dave", "a", t0);
	assert_false(throttle_blocked("dave", "a", 0, t0, &retry));
	/* a flood of distinct keys neither crashes nor grows anything; a
	 * counter pushed out early only ever lets through, never blocks */
	char name[32];
	for (int i = 0; i < 200000; i++) {
		snprintf(name, sizeof name, "flood%d", i);
		throttle_fail(name, NULL, t0);
	}
	assert_false(throttle_blocked("never-failed", "never", 5, t0, &retry));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_bound),
		cmocka_unit_test(test_wide_bounds),
		cmocka_unit_test(test_limit_off_and_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
