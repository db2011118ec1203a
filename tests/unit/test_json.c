/* test_json.c — common/json: Python-identical printing, bounded parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

/* The reference document; the expected texts below are what CPython 3.11
 * prints for it with json.dumps(o, indent=2, ensure_ascii=False) + "\n" and
 * json.dumps(o, separators=(",", ":"), ensure_ascii=False). */
static const char doc[] =
	"{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":{},\"e\":[],\"f\":\"x\\\"y\\n\\u001f\\\\\","
	"\"g\":true,\"h\":1.5,\"u\":\"\xc3\xa9\",\"n\":[[]],\"z\":-0.25}";

static const char doc_pretty[] =
	"{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2,\n    {\n      \"c\": null\n    }\n  ],\n"
	"  \"d\": {},\n  \"e\": [],\n  \"f\": \"x\\\"y\\n\\u001f\\\\\",\n  \"g\": true,\n"
	"  \"h\": 1.5,\n  \"u\": \"\xc3\xa9\",\n  \"n\": [\n    []\n  ],\n  \"z\": -0.25\n}\n";

static const char doc_compact[] =
	"{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":{},\"e\":[],\"f\":\"x\\\"y\\n\\u001f\\\\\","
	"\"g\":true,\"h\":1.5,\"u\":\"\xc3\xa9\",\"n\":[[]],\"z\":-0.25}";

static cJSON *parse_ok(const char *s)
{
	cJSON *v = NULL;
	assert_int_equal(json_parse_bounded(s, strlen(s), 1 << 20, 64, &v), ERR_OK);
	assert_non_null(v);
	return v;
}

static void test_pretty_matches_python(void **state)
{
	struct buf b;
	cJSON *v = parse_ok(doc);
	buf_init(&b, 0);
	assert_int_equal(json_print_pretty(v, &b), ERR_OK);
	assert_string_equal(b.p, doc_pretty);
	buf_release(&b);
	cJSON_Delete(v);
}

static void test_compact_matches_python(void **state)
{
	struct buf b;
	cJSON *v = parse_ok(doc);
	buf_init(&b, 0);
	assert_int_equal(json_print_compact(v, &b), ERR_OK);
	assert_string_equal(b.p, doc_compact);
	buf_release(&b);
	cJSON_Delete(v);
}

static void test_empty_containers_and_scalars(void **state)
{
	static const struct { const char *in, *pretty; } cases[] = {
		{ "{}", "{}\n" },
		{ "[]", "[]\n" },
		{ "[{}]", "[\n  {}\n]\n" },
		{ "\"s\"", "\"s\"\n" },
		{ "null", "null\n" },
		{ "false", "false\n" },
		{ "42", "42\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		cJSON *v = parse_ok(cases[i].in);
		buf_init(&b, 0);
		assert_int_equal(json_print_pretty(v, &b), ERR_OK);
		assert_string_equal(b.p, cases[i].pretty);
		buf_release(&b);
		cJSON_Delete(v);
	}
}

static void test_numbers(void **state)
{
	/* Python: [0.1, -3, 1e-07, 123456789, 1.5e+300, 2.5e-05, 3.14159]; an
	 * integral double prints as an int (Python would print 100.0 for a float). */
	cJSON *v = parse_ok("[0.1,-3,1e-7,123456789,1.5e300,2.5e-5,3.14159,100.0,-0.0]");
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(json_print_compact(v, &b), ERR_OK);
	assert_string_equal(b.p, "[0.1,-3,1e-07,123456789,1.5e+300,2.5e-05,3.14159,100,0]");
	buf_release(&b);
	cJSON_Delete(v);

	v = cJSON_CreateArray();
	cJSON_AddItemToArray(v, cJSON_CreateNumber(0.0 / 0.0));
	cJSON_AddItemToArray(v, cJSON_CreateNumber(1e300 * 1e300));
	cJSON_AddItemToArray(v, cJSON_CreateNumber(4294967296.0 * 1024));
	buf_init(&b, 0);
	assert_int_equal(json_print_compact(v, &b), ERR_OK);
	assert_string_equal(b.p, "[null,null,4398046511104]");
	buf_release(&b);
	cJSON_Delete(v);
}

static void test_add_string_escapes(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	/* NUL, \x01, \x7f (not escaped by Python), tab, a valid 3-byte char,
	 * then invalid UTF-8: lone continuation, truncated sequence, overlong. */
	static const char in[] = "a\0b\x01\x7f\t\xe2\x82\xac\x80x\xe2\x82y\xc0\xaf";
	assert_int_equal(json_add_string(&b, in, sizeof in - 1), ERR_OK);
	assert_string_equal(b.p, "\"a\\u0000b\\u0001\x7f\\t\xe2\x82\xac"
				 "\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd\"");
	buf_reset(&b);
	assert_int_equal(json_add_string(&b, "", 0), ERR_OK);
	assert_string_equal(b.p, "\"\"");
	buf_release(&b);
}

static void test_print_respects_buf_bound(void **state)
{
	struct buf b;
	cJSON *v = parse_ok(doc);
	buf_init(&b, 20);
	assert_int_equal(json_print_pretty(v, &b), ERR_TOOBIG);
	assert_true(b.len <= 20);
	buf_release(&b);
	buf_init(&b, sizeof doc_pretty - 1);
	assert_int_equal(json_print_pretty(v, &b), ERR_OK);
	buf_release(&b);
	cJSON_Delete(v);
}

static void test_print_invalid(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(json_print_pretty(NULL, &b), ERR_INVAL);
	buf_release(&b);
}

static void test_depth_bomb(void **state)
{
	size_t n = 10000;
	char *s = xmalloc(2 * n + 1);
	cJSON *v = (cJSON *)1;
	memset(s, '[', n);
	memset(s + n, ']', n);
	s[2 * n] = '\0';
	assert_int_equal(json_parse_bounded(s, 2 * n, 1 << 20, 64, &v), ERR_TOOBIG);
	assert_null(v);
	/* unbalanced: only openers */
	assert_int_equal(json_parse_bounded(s, n, 1 << 20, 64, &v), ERR_TOOBIG);
	/* at the bound exactly */
	assert_int_equal(json_parse_bounded(s + n - 64, 128, 1 << 20, 64, &v), ERR_OK);
	cJSON_Delete(v);
	assert_int_equal(json_parse_bounded(s + n - 65, 130, 1 << 20, 64, &v), ERR_TOOBIG);
	/* objects count too */
	assert_int_equal(json_parse_bounded("{\"a\":{\"b\":{}}}", 14, 100, 2, &v), ERR_TOOBIG);
	assert_int_equal(json_parse_bounded("{\"a\":{\"b\":{}}}", 14, 100, 3, &v), ERR_OK);
	cJSON_Delete(v);
	/* scalars only */
	assert_int_equal(json_parse_bounded("1", 1, 100, 0, &v), ERR_OK);
	cJSON_Delete(v);
	assert_int_equal(json_parse_bounded("[]", 2, 100, 0, &v), ERR_TOOBIG);
	xfree(s);
}

static void test_brackets_in_strings_do_not_count(void **state)
{
	cJSON *v = NULL;
	const char *s = "[\"[[[[[[\\\"[[[[\", \"{{{{\"]";
	assert_int_equal(json_parse_bounded(s, strlen(s), 100, 1, &v), ERR_OK);
	assert_int_equal(cJSON_GetArraySize(v), 2);
	assert_string_equal(cJSON_GetArrayItem(v, 0)->valuestring, "[[[[[[\"[[[[");
	cJSON_Delete(v);
}

static void test_trailing_and_garbage(void **state)
{
	cJSON *v = NULL;
	assert_int_equal(json_parse_bounded("{\"a\":1} \r\n\t", 11, 100, 4, &v), ERR_OK);
	assert_true(cJSON_IsObject(v));
	cJSON_Delete(v);
	v = NULL;
	assert_int_equal(json_parse_bounded("{\"a\":1} x", 9, 100, 4, &v), ERR_PARSE);
	assert_null(v);
	assert_int_equal(json_parse_bounded("{\"a\":1}{}", 9, 100, 4, &v), ERR_PARSE);
	assert_int_equal(json_parse_bounded("[1,2", 4, 100, 4, &v), ERR_PARSE);
	assert_int_equal(json_parse_bounded("", 0, 100, 4, &v), ERR_PARSE);
	assert_int_equal(json_parse_bounded("   ", 3, 100, 4, &v), ERR_PARSE);
	assert_int_equal(json_parse_bounded("\"\\", 2, 100, 4, &v), ERR_PARSE);
	assert_int_equal(json_parse_bounded("{\"a\":\"x\0y\"}", 11, 100, 4, &v), ERR_PARSE);
	assert_int_equal(json_parse_bounded("[1] \0", 5, 100, 4, &v), ERR_PARSE);
	assert_int_equal(json_parse_bounded("{'a':1}", 7, 100, 4, &v), ERR_PARSE);
	assert_null(v);
	/* only the given length is looked at */
	assert_int_equal(json_parse_bounded("[1]garbage", 3, 100, 4, &v), ERR_OK);
	cJSON_Delete(v);
}

static void test_length_bound(void **state)
{
	cJSON *v = NULL;
	assert_int_equal(json_parse_bounded("[1,2,3]", 7, 6, 4, &v), ERR_TOOBIG);
	assert_null(v);
	assert_int_equal(json_parse_bounded("[1,2,3]", 7, 7, 4, &v), ERR_OK);
	cJSON_Delete(v);
}

static void test_getters(void **state)
{
	cJSON *v = parse_ok("{\"s\":\"x\",\"n\":3,\"t\":true,\"f\":false,\"o\":{},\"a\":[1]}");
	assert_string_equal(json_get_str(v, "s"), "x");
	assert_null(json_get_str(v, "n"));
	assert_null(json_get_str(v, "missing"));
	assert_null(json_get_str(v, "S"));
	assert_null(json_get_str(NULL, "s"));
	assert_true(json_get_num(v, "n", -1) == 3);
	assert_true(json_get_num(v, "s", -1) == -1);
	assert_int_equal(json_get_bool(v, "t", 7), 1);
	assert_int_equal(json_get_bool(v, "f", 7), 0);
	assert_int_equal(json_get_bool(v, "n", 7), 7);
	assert_non_null(json_get_obj(v, "o"));
	assert_null(json_get_obj(v, "a"));
	assert_non_null(json_get_arr(v, "a"));
	assert_null(json_get_arr(v, "o"));
	cJSON *arr = parse_ok("[\"s\"]");
	assert_null(json_get_str(arr, "s"));
	cJSON_Delete(arr);
	cJSON_Delete(v);
}

static void test_roundtrip_nonascii_key(void **state)
{
	cJSON *v = parse_ok("{\"\\u00e9\\n\":\"\\ud83d\\ude00\"}");
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(json_print_compact(v, &b), ERR_OK);
	assert_string_equal(b.p, "{\"\xc3\xa9\\n\":\"\xf0\x9f\x98\x80\"}");
	buf_release(&b);
	cJSON_Delete(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pretty_matches_python),
		cmocka_unit_test(test_compact_matches_python),
		cmocka_unit_test(test_empty_containers_and_scalars),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_add_string_escapes),
		cmocka_unit_test(test_print_respects_buf_bound),
		cmocka_unit_test(test_print_invalid),
		cmocka_unit_test(test_depth_bomb),
		cmocka_unit_test(test_brackets_in_strings_do_not_count),
		cmocka_unit_test(test_trailing_and_garbage),
		cmocka_unit_test(test_length_bound),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_roundtrip_nonascii_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
