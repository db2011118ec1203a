/* test_jstream.c — the bounded-memory JSON walker (proxy/jstream.h):
 * containers walked member by member, leaves captured whole, strings with
 * escapes and brackets inside, bounds, and malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "common/alloc.h"

#include "common/buf.h"
#include "common/err.h"
#include "proxy/jstream.h"

static struct jstream js;

static void test_walk(void **state)
{
	const char *doc = " {\"dumpversion\": \"2\", \"users\": {\"a\\u00e9\": {\"pwhash\": \"x}]\\\"\"},"
			  " \"b\": {}}, \"files\": [ {\"relpath\": \"a/b\"}, 5, \"s\", null, [1,[2]] ], \"n\": -1.5e3 } ";
	struct buf key;
	bool done;
	cJSON *v = NULL;
	buf_init(&key, 0);
	jstream_init_mem(&js, doc, strlen(doc));
	assert_int_equal(jstream_object_begin(&js), ERR_OK);
	assert_int_equal(jstream_object_next(&js, &key, &done), ERR_OK);
	assert_false(done);
	assert_string_equal(key.p, "dumpversion");
	assert_int_equal(jstream_read_value(&js, 100, &v), ERR_OK);
	assert_string_equal(v->valuestring, "2");
	cJSON_Delete(v);
	assert_int_equal(jstream_object_next(&js, &key, &done), ERR_OK);
	assert_string_equal(key.p, "users");
	assert_int_equal(jstream_object_begin(&js), ERR_OK);
	assert_int_equal(jstream_object_next(&js, &key, &done), ERR_OK);
	assert_string_equal(key.p, "a\xc3\xa9");
	assert_int_equal(jstream_read_value(&js, 1000, &v), ERR_OK);
	assert_string_equal(cJSON_GetObjectItem(v, "pwhash")->valuestring, "x}]\"");
	cJSON_Delete(v);
	assert_int_equal(jstream_object_next(&js, &key, &done), ERR_OK);
	assert_string_equal(key.p, "b");
	assert_int_equal(jstream_skip_value(&js), ERR_OK);
	assert_int_equal(jstream_object_next(&js, &key, &done), ERR_OK);
	assert_true(done);
	assert_int_equal(jstream_object_next(&js, &key, &done), ERR_OK);
	assert_string_equal(key.p, "files");
	assert_int_equal(jstream_array_begin(&js), ERR_OK);
	int n = 0;
	for (;;) {
		assert_int_equal(jstream_array_next(&js, &done), ERR_OK);
		if (done)
			break;
		assert_int_equal(jstream_read_value(&js, 100, &v), ERR_OK);
		cJSON_Delete(v);
		n++;
	}
	assert_int_equal(n, 5);
	assert_int_equal(jstream_object_next(&js, &key, &done), ERR_OK);
	assert_string_equal(key.p, "n");
	assert_int_equal(jstream_read_value(&js, 100, &v), ERR_OK);
	assert_true(cJSON_GetNumberValue(v) == -1500);
	cJSON_Delete(v);
	assert_int_equal(jstream_object_next(&js, &key, &done), ERR_OK);
	assert_true(done);
	assert_int_equal(jstream_end(&js), ERR_OK);
	buf_release(&key);
}

static void test_bounds_and_errors(void **state)
{
	struct buf key;
	bool done;
	cJSON *v = NULL;
	buf_init(&key, 0);
	/* a leaf over its bound */
	const char *big = "[\"0123456789012345678901234567890123456789\"]";
	jstream_init_mem(&js, big, strlen(big));
	jstream_array_begin(&js);
	jstream_array_next(&js, &done);
	assert_int_equal(jstream_read_value(&js, 10, &v), ERR_TOOBIG);
	assert_null(v);
	assert_int_equal(jstream_array_next(&js, &done), ERR_TOOBIG);   /* sticky */
	/* a missing comma */
	const char *nocomma = "[1 2]";
	jstream_init_mem(&js, nocomma, strlen(nocomma));
	jstream_array_begin(&js);
	jstream_array_next(&js, &done);
	assert_int_equal(jstream_skip_value(&js), ERR_OK);
	assert_int_equal(jstream_array_next(&js, &done), ERR_PARSE);
	/* too deep to skip */
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	jstream_init_mem(&js, deep, sizeof deep);
	assert_int_equal(jstream_skip_value(&js), ERR_TOOBIG);
	/* truncated, non-string key, trailing garbage */
	const char *cases[] = { "{\"a\": [1, 2", "{5: 1}", "{\"a\" 1}", "{} x", "\"unterminated" };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		jstream_init_mem(&js, cases[i], strlen(cases[i]));
		int rc = ERR_OK;
		if (cases[i][0] == '{') {
			rc = jstream_object_begin(&js);
			while (!rc && !(rc = jstream_object_next(&js, &key, &done)) && !done)
				rc = jstream_skip_value(&js);
			if (!rc)
				rc = jstream_end(&js);
		} else {
			rc = jstream_skip_value(&js);
		}
		assert_int_not_equal(rc, ERR_OK);
	}
	/* a huge skipped value costs no memory: only the read buffer */
	size_t n = 3u << 20;
	char *huge = xmalloc(n);
	memset(huge, ' ', n);
	huge[0] = '[';
	for (size_t i = 1; i + 4 <= n - 3; i += 4)
		memcpy(huge + i, "\"x\",", 4);
	huge[n - 3] = '1';
	huge[n - 1] = ']';
	jstream_init_mem(&js, huge, n);
	assert_int_equal(jstream_skip_value(&js), ERR_OK);
	assert_int_equal(jstream_end(&js), ERR_OK);
	xfree(huge);
	buf_release(&key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_bounds_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
