/* test_auth.c — proxy/auth: argon2 PHC hashes, signed tokens, Basic and
 * X-Devpi-Auth decoding, including hostile inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <argon2.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "proxy/auth.h"

/* Reference vectors of the argon2 authors (phc-winner-argon2 src/test.c and
 * README: password "password", salt "somesalt"), computed independently
 * of this code base. */
static const char ref_id_64m[] =
	"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
static const char ref_id_256k[] =
	"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
static const char ref_i_64m[] =
	"$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA";

static const uint8_t secret[] = "0123456789abcdef0123456789abcdef";
#define SLEN (sizeof secret - 1)

static void test_hash_verify_roundtrip(void **state)
{
	char *h1 = NULL, *h2 = NULL;
	assert_int_equal(auth_hash_password("s3cret", 6, &h1), ERR_OK);
	assert_non_null(h1);
	assert_true(strncmp(h1, "$argon2id$v=19$m=65536,t=2,p=1$", 31) == 0);
	assert_int_equal(auth_verify_password("s3cret", 6, h1), ERR_OK);
	assert_int_equal(auth_verify_password("s3creT", 6, h1), ERR_AUTH);
	assert_int_equal(auth_verify_password("s3cret", 5, h1), ERR_AUTH);
	assert_int_equal(auth_verify_password("", 0, h1), ERR_AUTH);
	/* a fresh salt every time */
	assert_int_equal(auth_hash_password("s3cret", 6, &h2), ERR_OK);
	assert_string_not_equal(h1, h2);
	assert_int_equal(auth_verify_password("s3cret", 6, h2), ERR_OK);
	xfree(h1);
	xfree(h2);
}

static void test_hash_binary_and_empty_password(void **state)
{
	char *h = NULL;
	assert_int_equal(auth_hash_password("a\0b", 3, &h), ERR_OK);
	assert_int_equal(auth_verify_password("a\0b", 3, h), ERR_OK);
	assert_int_equal(auth_verify_password("a", 1, h), ERR_AUTH);
	xfree(h);
	assert_int_equal(auth_hash_password("", 0, &h), ERR_OK);
	assert_int_equal(auth_verify_password("", 0, h), ERR_OK);
	assert_int_equal(auth_verify_password(" ", 1, h), ERR_AUTH);
	xfree(h);
}

static void test_reference_vectors(void **state)
{
	assert_int_equal(auth_verify_password("password", 8, ref_id_64m), ERR_OK);
	assert_int_equal(auth_verify_password("passwore", 8, ref_id_64m), ERR_AUTH);
	assert_int_equal(auth_verify_password("password", 8, ref_id_256k), ERR_OK);
	assert_int_equal(auth_verify_password("password", 8, ref_i_64m), ERR_OK);
	assert_int_equal(auth_verify_password("Password", 8, ref_i_64m), ERR_AUTH);
	/* libargon2 with the same fixed salt gives the same string */
	char enc[128];
	assert_int_equal(argon2id_hash_encoded(2, 65536, 1, "password", 8, "somesalt", 8, 32, enc, sizeof enc),
			 ARGON2_OK);
	assert_string_equal(enc, ref_id_64m);
}

static void test_verify_refuses_bad_phc(void **state)
{
	static const char *const bad[] = {
		"",
		"plain",
		"$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ012",
		"$argon2x$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=abc,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$t=2,m=256,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ",
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$!!!!",
		"$argon2id$v=19$m=256,t=2,p=1$$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		/* costs above the bounds are refused without running argon2 */
		"$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=256,t=1000000,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=256,t=2,p=255$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(auth_verify_password("password", 8, bad[i]), ERR_INVAL);
	assert_int_equal(auth_verify_password("password", 8, NULL), ERR_INVAL);
	char big[AUTH_PHC_MAX + 20];
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, ref_id_256k, strlen(ref_id_256k));
	assert_int_equal(auth_verify_password("password", 8, big), ERR_INVAL);
}

static void test_token_roundtrip(void **state)
{
	char *tok = NULL;
	assert_int_equal(auth_token_new(secret, SLEN, "alice", 1000, AUTH_TOKEN_TTL, &tok), ERR_OK);
	assert_non_null(tok);
	assert_true(strncmp(tok, "alice.37000.", 12) == 0);
	assert_int_equal(strlen(tok), 12 + 64);
	/* the mac is hmac-sha256(secret, "alice.37000") in lower-case hex */
	uint8_t mac[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	hmac_sha256(secret, SLEN, "alice.37000", 11, mac);
	hex_encode(mac, sizeof mac, hex);
	assert_string_equal(tok + 12, hex);
	assert_int_equal(auth_token_check(secret, SLEN, tok, strlen(tok), "alice", 1000), ERR_OK);
	assert_int_equal(auth_token_check(secret, SLEN, tok, strlen(tok), "alice", 36999), ERR_OK);
	xfree(tok);
}

static void test_token_expired(void **state)
{
	char *tok = NULL;
	assert_int_equal(auth_token_new(secret, SLEN, "alice", 1000, 10, &tok), ERR_OK);
	assert_int_equal(auth_token_check(secret, SLEN, tok, strlen(tok), "alice", 1009), ERR_OK);
	assert_int_equal(auth_token_check(secret, SLEN, tok, strlen(tok), "alice", 1010), ERR_AUTH);
	assert_int_equal(auth_token_check(secret, SLEN, tok, strlen(tok), "alice", 99999999), ERR_AUTH);
	xfree(tok);
}

static void test_token_wrong_user_or_secret(void **state)
{
	char *tok = NULL;
	assert_int_equal(auth_token_new(secret, SLEN, "alice", 1000, 100, &tok), ERR_OK);
	size_t n = strlen(tok);
	assert_int_equal(auth_token_check(secret, SLEN, tok, n, "bob", 1000), ERR_AUTH);
	assert_int_equal(auth_token_check(secret, SLEN, tok, n, "alic", 1000), ERR_AUTH);
	assert_int_equal(auth_token_check(secret, SLEN, tok, n, "alice2", 1000), ERR_AUTH);
	assert_int_equal(auth_token_check(secret, SLEN, tok, n, "", 1000), ERR_AUTH);
	assert_int_equal(auth_token_check((const uint8_t *)"other", 5, tok, n, "alice", 1000), ERR_AUTH);
	assert_int_equal(auth_token_check(secret, 0, tok, n, "alice", 1000), ERR_AUTH);
	xfree(tok);
}

static void test_token_user_with_dots(void **state)
{
	char *tok = NULL;
	assert_int_equal(auth_token_new(secret, SLEN, "a.b.c", 5, 100, &tok), ERR_OK);
	assert_int_equal(auth_token_check(secret, SLEN, tok, strlen(tok), "a.b.c", 5), ERR_OK);
	assert_int_equal(auth_token_check(secret, SLEN, tok, strlen(tok), "a", 5), ERR_AUTH);
	assert_int_equal(auth_token_check(secret, SLEN, tok, strlen(tok), "a.b", 5), ERR_AUTH);
	xfree(tok);
}

static void test_token_tampered(void **state)
{
	char *tok = NULL;
	assert_int_equal(auth_token_new(secret, SLEN, "alice", 1000, 100, &tok), ERR_OK);
	size_t n = strlen(tok);
	/* every single-byte change is refused */
	for (size_t i = 0; i < n; i++) {
		char saved = tok[i];
		tok[i] = saved == 'a' ? 'b' : (saved == '1' ? '2' : 'a');
		assert_int_equal(auth_token_check(secret, SLEN, tok, n, "alice", 1000), ERR_AUTH);
		tok[i] = saved;
	}
	/* upper-case hex of the right mac is not the token we minted */
	char *up = xstrdup(tok);
	for (size_t i = n - 64; i < n; i++)
		if (up[i] >= 'a' && up[i] <= 'f')
			up[i] = (char)(up[i] - 'a' + 'A');
	if (strcmp(up, tok) != 0)
		assert_int_equal(auth_token_check(secret, SLEN, up, n, "alice", 1000), ERR_AUTH);
	/* extending the expiry breaks the mac */
	char *ext = xasprintf("alice.9%s", tok + 6);
	assert_int_equal(auth_token_check(secret, SLEN, ext, strlen(ext), "alice", 1000), ERR_AUTH);
	/* truncated or extended */
	assert_int_equal(auth_token_check(secret, SLEN, tok, n - 1, "alice", 1000), ERR_AUTH);
	char *longer = xasprintf("%s0", tok);
	assert_int_equal(auth_token_check(secret, SLEN, longer, n + 1, "alice", 1000), ERR_AUTH);
	xfree(longer);
	xfree(ext);
	xfree(up);
	xfree(tok);
}

static void test_token_garbage(void **state)
{
	static const char *const garbage[] = {
		"",
		"abc",
		"a.b.c",
		"...",
		"alice.123.",
		".123.0000000000000000000000000000000000000000000000000000000000000000",
		"alice..0000000000000000000000000000000000000000000000000000000000000000",
		"alice.12a.0000000000000000000000000000000000000000000000000000000000000000",
		"alice.-12.0000000000000000000000000000000000000000000000000000000000000000",
		"alice.99999999999999999999999.0000000000000000000000000000000000000000000000000000000000000000",
		"alice.123.zz00000000000000000000000000000000000000000000000000000000000000",
		"alice.123-0000000000000000000000000000000000000000000000000000000000000000",
	};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
		assert_int_equal(auth_token_check(secret, SLEN, garbage[i], strlen(garbage[i]), "alice", 0), ERR_AUTH);
	assert_int_equal(auth_token_check(secret, SLEN, NULL, 0, "alice", 0), ERR_AUTH);
	/* huge */
	size_t big = 1 << 20;
	char *h = xmalloc(big);
	memset(h, '.', big);
	assert_int_equal(auth_token_check(secret, SLEN, h, big, "alice", 0), ERR_AUTH);
	memset(h, '7', big);
	assert_int_equal(auth_token_check(secret, SLEN, h, big, "alice", 0), ERR_AUTH);
	xfree(h);
	/* a NUL inside the user part */
	char *tok = NULL;
	assert_int_equal(auth_token_new(secret, SLEN, "alice", 1000, 100, &tok), ERR_OK);
	tok[2] = '\0';
	assert_int_equal(auth_token_check(secret, SLEN, tok, strlen(tok + 3) + 3, "al", 1000), ERR_AUTH);
	xfree(tok);
}

static void test_token_new_invalid(void **state)
{
	char *tok = (char *)1;
	assert_int_equal(auth_token_new(secret, 0, "alice", 1, 10, &tok), ERR_INVAL);
	assert_null(tok);
	assert_int_equal(auth_token_new(secret, SLEN, "", 1, 10, &tok), ERR_INVAL);
	assert_int_equal(auth_token_new(secret, SLEN, "alice", 1, 0, &tok), ERR_INVAL);
	assert_int_equal(auth_token_new(secret, SLEN, "alice", INT64_MAX - 5, 10, &tok), ERR_INVAL);
	assert_null(tok);
}

static char *b64(const char *s, size_t n)
{
	char *out = xmalloc(4 * (n / 3 + 1) + 1);
	base64_encode((const uint8_t *)s, n, out);
	return out;
}

static void test_basic(void **state)
{
	char *u = NULL, *p = NULL;
	const char *v = "Basic YWxpY2U6c2VjcmV0"; /* alice:secret */
	assert_int_equal(auth_parse_basic(v, strlen(v), &u, &p), ERR_OK);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "secret");
	xfree(u);
	xfree(p);
	v = "  bAsIc \t YWxpY2U6c2VjcmV0  ";
	assert_int_equal(auth_parse_basic(v, strlen(v), &u, &p), ERR_OK);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "secret");
	xfree(u);
	xfree(p);
	/* only the given length counts */
	v = "Basic YWxpY2U6c2VjcmV0garbage";
	assert_int_equal(auth_parse_basic(v, 22, &u, &p), ERR_OK);
	assert_string_equal(p, "secret");
	xfree(u);
	xfree(p);
}

static void test_basic_split_at_first_colon(void **state)
{
	char *u = NULL, *p = NULL;
	char *enc = b64("bob:pa:ss:", 10);
	char *v = xasprintf("Basic %s", enc);
	assert_int_equal(auth_parse_basic(v, strlen(v), &u, &p), ERR_OK);
	assert_string_equal(u, "bob");
	assert_string_equal(p, "pa:ss:");
	xfree(u);
	xfree(p);
	xfree(v);
	xfree(enc);
	enc = b64(":pw", 3);
	v = xasprintf("Basic %s", enc);
	assert_int_equal(auth_parse_basic(v, strlen(v), &u, &p), ERR_OK);
	assert_string_equal(u, "");
	assert_string_equal(p, "pw");
	xfree(u);
	xfree(p);
	xfree(v);
	xfree(enc);
}

static void test_basic_latin1_and_utf8(void **state)
{
	char *u = NULL, *p = NULL;
	/* Latin-1 bytes: "jörg:päss" */
	char *enc = b64("j\xf6rg:p\xe4ss", 9);
	assert_int_equal(auth_parse_xdevpi(enc, strlen(enc), &u, &p), ERR_OK);
	assert_string_equal(u, "j\xc3\xb6rg");
	assert_string_equal(p, "p\xc3\xa4ss");
	xfree(u);
	xfree(p);
	xfree(enc);
	/* the same text already in UTF-8 stays as it is */
	enc = b64("j\xc3\xb6rg:\xe2\x82\xac", 9);
	char *v = xasprintf("Basic %s", enc);
	assert_int_equal(auth_parse_basic(v, strlen(v), &u, &p), ERR_OK);
	assert_string_equal(u, "j\xc3\xb6rg");
	assert_string_equal(p, "\xe2\x82\xac");
	xfree(u);
	xfree(p);
	xfree(v);
	xfree(enc);
}

static void test_basic_hostile(void **state)
{
	char *u = (char *)1, *p = (char *)1;
	char *nocolon = b64("alicesecret", 11);
	char *nul = b64("al\0ice:pw", 9);
	char *v1 = xasprintf("Basic %s", nocolon);
	char *v2 = xasprintf("Basic %s", nul);
	const char *const bad[] = {
		v1, v2, "", "Basic", "Basic ", "Basic    ", "Bearer YWxpY2U6c2VjcmV0", "BasicYWxpY2U6c2VjcmV0",
		"Basic YWxpY2U6c2VjcmV0!", "Basic YWxp Y2U6c2VjcmV0", "Basic Y", "Digest abc",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(auth_parse_basic(bad[i], strlen(bad[i]), &u, &p), ERR_PARSE);
		assert_null(u);
		assert_null(p);
	}
	assert_int_equal(auth_parse_xdevpi(nocolon, strlen(nocolon), &u, &p), ERR_PARSE);
	assert_int_equal(auth_parse_xdevpi("", 0, &u, &p), ERR_PARSE);
	assert_int_equal(auth_parse_xdevpi("%%%%", 4, &u, &p), ERR_PARSE);
	assert_null(u);
	/* the size bound */
	size_t big = AUTH_HEADER_MAX + 1;
	char *h = xmalloc(big);
	memset(h, 'Y', big);
	memcpy(h, "Basic ", 6);
	assert_int_equal(auth_parse_basic(h, big, &u, &p), ERR_TOOBIG);
	assert_int_equal(auth_parse_xdevpi(h, big, &u, &p), ERR_TOOBIG);
	/* just under the bound the size is fine and the content decides */
	assert_int_equal(auth_parse_basic(h, big - 3, &u, &p), ERR_PARSE);
	assert_null(u);
	xfree(h);
	xfree(v1);
	xfree(v2);
	xfree(nocolon);
	xfree(nul);
}

static void test_xdevpi(void **state)
{
	char *u = NULL, *p = NULL;
	const char *v = " YWxpY2U6c2VjcmV0 ";
	assert_int_equal(auth_parse_xdevpi(v, strlen(v), &u, &p), ERR_OK);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "secret");
	xfree(u);
	xfree(p);
	/* X-Devpi-Auth has no scheme word */
	v = "Basic YWxpY2U6c2VjcmV0";
	assert_int_equal(auth_parse_xdevpi(v, strlen(v), &u, &p), ERR_PARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_verify_roundtrip),
		cmocka_unit_test(test_hash_binary_and_empty_password),
		cmocka_unit_test(test_reference_vectors),
		cmocka_unit_test(test_verify_refuses_bad_phc),
		cmocka_unit_test(test_token_roundtrip),
		cmocka_unit_test(test_token_expired),
		cmocka_unit_test(test_token_wrong_user_or_secret),
		cmocka_unit_test(test_token_user_with_dots),
		cmocka_unit_test(test_token_tampered),
		cmocka_unit_test(test_token_garbage),
		cmocka_unit_test(test_token_new_invalid),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_basic_split_at_first_colon),
		cmocka_unit_test(test_basic_latin1_and_utf8),
		cmocka_unit_test(test_basic_hostile),
		cmocka_unit_test(test_xdevpi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
