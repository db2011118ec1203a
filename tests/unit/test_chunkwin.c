/* test_chunkwin.c — a download's uncommitted chunks shared with readers
 * (proxy/chunkwin.h): what a reader may see, and when it must go to the
 * store instead. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proxy/chunkwin.h"
#include "store/store.h"

#define CS ((uint64_t)STORE_CHUNK_SIZE)

static void test_nothing_before_received(void **state)
{
	struct chunkwin *cw = chunkwin_new();
	const char *p;
	size_t n;
	void *ref;
	assert_int_equal(chunkwin_read(cw, 0, &p, &n, &ref), CW_WAIT);
	char *c0 = chunkwin_open(cw, 0);
	assert_non_null(c0);
	memcpy(c0, "hello", 5);
	/* written but not announced: still nothing to read */
	assert_int_equal(chunkwin_read(cw, 0, &p, &n, &ref), CW_WAIT);
	chunkwin_received(cw, 3);
	assert_int_equal(chunkwin_read(cw, 0, &p, &n, &ref), CW_MEM);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "hel", 3);
	chunkwin_release(p, n, ref);
	assert_int_equal(chunkwin_read(cw, 1, &p, &n, &ref), CW_MEM);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "el", 2);
	chunkwin_release(p, n, ref);
	assert_int_equal(chunkwin_read(cw, 3, &p, &n, &ref), CW_WAIT);
	chunkwin_unref(cw);
}

static void test_reads_stop_at_chunk_end(void **state)
{
	struct chunkwin *cw = chunkwin_new();
	const char *p;
	size_t n;
	void *ref;
	char *c0 = chunkwin_open(cw, 0);
	memset(c0, 'a', CS);
	char *c1 = chunkwin_open(cw, 1);
	memset(c1, 'b', 10);
	chunkwin_received(cw, CS + 10);
	assert_int_equal(chunkwin_read(cw, CS - 4, &p, &n, &ref), CW_MEM);
	assert_int_equal(n, 4);                 /* never across a chunk boundary */
	assert_int_equal(p[0], 'a');
	chunkwin_release(p, n, ref);
	assert_int_equal(chunkwin_read(cw, CS, &p, &n, &ref), CW_MEM);
	assert_int_equal(n, 10);
	assert_int_equal(p[9], 'b');
	chunkwin_release(p, n, ref);
	/* chunks must be opened in order */
	assert_null(chunkwin_open(cw, 3));
	chunkwin_unref(cw);
}

static void test_stored_chunks_go_to_the_store(void **state)
{
	struct chunkwin *cw = chunkwin_new();
	const char *p, *held;
	size_t n, heldn;
	void *ref, *heldref;
	char *c0 = chunkwin_open(cw, 0);
	memset(c0, 'x', CS);
	chunkwin_open(cw, 1);
	chunkwin_received(cw, CS + 1);
	/* a reader holds chunk 0 (its bytes are in a connection's output) */
	assert_int_equal(chunkwin_read(cw, 5, &held, &heldn, &heldref), CW_MEM);
	chunkwin_stored(cw, 1);
	assert_int_equal(chunkwin_read(cw, 5, &p, &n, &ref), CW_STORE);
	assert_int_equal(chunkwin_read(cw, CS, &p, &n, &ref), CW_MEM);
	chunkwin_release(p, n, ref);
	/* the held bytes stay valid until released (ASan would see a use
	 * after free otherwise) */
	assert_int_equal(held[0], 'x');
	assert_int_equal(held[heldn - 1], 'x');
	chunkwin_release(held, heldn, heldref);
	chunkwin_unref(cw);
}

static void test_window_is_bounded(void **state)
{
	struct chunkwin *cw = chunkwin_new();
	uint32_t i = 0;
	while (chunkwin_open(cw, i))
		i++;
	assert_true(i >= 5 && i <= 16);          /* DL_INFLIGHT + 1 fit, not many more */
	chunkwin_stored(cw, 2);
	assert_non_null(chunkwin_open(cw, i));   /* room again once committed */
	assert_non_null(chunkwin_open(cw, i + 1));
	assert_null(chunkwin_open(cw, i + 2));
	chunkwin_unref(cw);
}

static void test_reader_reference_outlives_window(void **state)
{
	struct chunkwin *cw = chunkwin_new();
	const char *p;
	size_t n;
	void *ref;
	char *c0 = chunkwin_open(cw, 0);
	memcpy(c0, "abc", 3);
	chunkwin_received(cw, 3);
	chunkwin_ref(cw);                        /* a reader's */
	assert_int_equal(chunkwin_read(cw, 0, &p, &n, &ref), CW_MEM);
	chunkwin_unref(cw);                      /* the owner goes */
	chunkwin_unref(cw);                      /* the reader goes */
	assert_memory_equal(p, "abc", 3);        /* the chunk is still referenced */
	chunkwin_release(p, n, ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_before_received),
		cmocka_unit_test(test_reads_stop_at_chunk_end),
		cmocka_unit_test(test_stored_chunks_go_to_the_store),
		cmocka_unit_test(test_window_is_bounded),
		cmocka_unit_test(test_reader_reference_outlives_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
