/* auth.c — argon2 password hashes, signed tokens, Basic / X-Devpi-Auth
 * decoding (see auth.h).
 *
 * Everything here handles attacker-chosen bytes: header values, tokens
 * presented as passwords, and PHC strings that an admin may have pasted into
 * a user record or an import.  So each input is length-checked before any
 * work, a PHC string's cost parameters are read and bounded before libargon2
 * is allowed to allocate m KiB for it, a token is parsed from the right
 * (user names may contain dots) with every field validated before the mac is
 * computed, and the mac is compared with ct_equal().  No function keeps a
 * pointer to its inputs.
 */
#include "proxy/auth.h"

#include <argon2.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "inherit/name.h"

static int auth_argon2_rc(int arc)
{
	switch (arc) {
	case ARGON2_OK:
		return ERR_OK;
	case ARGON2_VERIFY_MISMATCH:
		return ERR_AUTH;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		return ERR_NOMEM;
	default:
		return ERR_INVAL;
	}
}

int auth_hash_password(const char *pw, size_t pwlen, char **phc)
{
	int rc = ERR_OK;
	uint8_t salt[AUTH_SALT_LEN];
	char *enc = NULL;
	*phc = NULL;
	if (!pw || pwlen > UINT32_MAX)
		return ERR_INVAL;
	rc = random_bytes(salt, sizeof salt);
	if (rc)
		goto fail;
	size_t enclen = argon2_encodedlen(AUTH_ARGON2_T, AUTH_ARGON2_M_KIB, AUTH_ARGON2_P,
					  AUTH_SALT_LEN, AUTH_HASH_LEN, Argon2_id);
	enc = xmalloc(enclen);
	int arc = argon2id_hash_encoded(AUTH_ARGON2_T, AUTH_ARGON2_M_KIB, AUTH_ARGON2_P, pw, pwlen,
					salt, sizeof salt, AUTH_HASH_LEN, enc, enclen);
	if (arc != ARGON2_OK) {
		log_err("argon2 hashing failed: %s", argon2_error_message(arc));
		rc = auth_argon2_rc(arc);
		goto fail;
	}
	*phc = enc;
	enc = NULL;
fail:
	xfree(enc);
	return rc;
}

/* Reads a decimal uint32 at *p (1-10 digits, no sign) and advances *p. */
static int auth_read_u32(const char **p, uint32_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (++n > 10 || v > UINT32_MAX)
			return ERR_INVAL;
		s++;
	}
	if (n == 0)
		return ERR_INVAL;
	*out = (uint32_t)v;
	*p = s;
	return ERR_OK;
}

/* "$argon2<t>$[v=<n>$]m=<m>,t=<t>,p=<p>$..." → type and bounded costs. The
 * rest (salt, hash) is left to libargon2's decoder. */
static int auth_phc_params(const char *phc, argon2_type *type)
{
	static const struct { const char *prefix; argon2_type type; } kinds[] = {
		{ "$argon2id$", Argon2_id },
		{ "$argon2i$", Argon2_i },
		{ "$argon2d$", Argon2_d },
	};
	const char *p = NULL;
	uint32_t v, m, t, lanes;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		size_t n = strlen(kinds[i].prefix);
		if (strncmp(phc, kinds[i].prefix, n) == 0) {
			p = phc + n;
			*type = kinds[i].type;
			break;
		}
	}
	if (!p)
		return ERR_INVAL;
	if (strncmp(p, "v=", 2) == 0) {
		p += 2;
		if (auth_read_u32(&p, &v) || *p++ != '$')
			return ERR_INVAL;
	}
	if (strncmp(p, "m=", 2) != 0)
		return ERR_INVAL;
	p += 2;
	if (auth_read_u32(&p, &m) || strncmp(p, ",t=", 3) != 0)
		return ERR_INVAL;
	p += 3;
	if (auth_read_u32(&p, &t) || strncmp(p, ",p=", 3) != 0)
		return ERR_INVAL;
	p += 3;
	if (auth_read_u32(&p, &lanes) || *p != '$')
		return ERR_INVAL;
	if (m > AUTH_ARGON2_MAX_M_KIB || t > AUTH_ARGON2_MAX_T || lanes > AUTH_ARGON2_MAX_P) {
		log_warn("argon2 hash refused: costs m=%" PRIu32 ",t=%" PRIu32 ",p=%" PRIu32 " above the bounds",
			 m, t, lanes);
		return ERR_INVAL;
	}
	return ERR_OK;
}

int auth_verify_password(const char *pw, size_t pwlen, const char *phc)
{
	argon2_type type;
	if (!phc || !pw || pwlen > UINT32_MAX || strnlen(phc, AUTH_PHC_MAX + 1) > AUTH_PHC_MAX)
		return ERR_INVAL;
	int rc = auth_phc_params(phc, &type);
	if (rc)
		return rc;
	int arc = argon2_verify(phc, pw, pwlen, type);
	if (arc != ARGON2_OK && arc != ARGON2_VERIFY_MISMATCH)
		log_info("argon2 verification failed: %s", argon2_error_message(arc));
	return auth_argon2_rc(arc);
}

/* The signed part is "<user>.<expiry>"; writes its mac as 64 hex + NUL. */
static void auth_token_mac(const uint8_t *secret, size_t slen, const char *msg, size_t mlen,
			   char hex[SHA256_HEX_LEN + 1])
{
	uint8_t mac[SHA256_LEN];
	hmac_sha256(secret, slen, msg, mlen, mac);
	hex_encode(mac, sizeof mac, hex);
}

int auth_token_new(const uint8_t *secret, size_t slen, const char *user, int64_t now, int64_t ttl, char **token)
{
	char hex[SHA256_HEX_LEN + 1];
	char *signed_part = NULL;
	*token = NULL;
	if (!secret || slen == 0 || !user || !*user || ttl <= 0 || now < 0 || now > INT64_MAX - ttl)
		return ERR_INVAL;
	signed_part = xasprintf("%s.%" PRId64, user, now + ttl);
	auth_token_mac(secret, slen, signed_part, strlen(signed_part), hex);
	*token = xasprintf("%s.%s", signed_part, hex);
	xfree(signed_part);
	return ERR_OK;
}

int auth_token_check(const uint8_t *secret, size_t slen, const char *token, size_t toklen, const char *user, int64_t now)
{
	char hex[SHA256_HEX_LEN + 1];
	if (!secret || slen == 0 || !token || !user || toklen == 0 || toklen > AUTH_TOKEN_MAX)
		return ERR_AUTH;
	/* <user> . <expiry> . <mac>: the mac is the fixed-size tail. */
	if (toklen < SHA256_HEX_LEN + 4 || token[toklen - SHA256_HEX_LEN - 1] != '.')
		return ERR_AUTH;
	size_t signed_len = toklen - SHA256_HEX_LEN - 1;
	const char *mac = token + signed_len;
	size_t dot = signed_len; /* the dot between user and expiry */
	while (dot > 0 && token[dot - 1] >= '0' && token[dot - 1] <= '9')
		dot--;
	size_t ndigits = signed_len - dot;
	if (dot < 2 || token[dot - 1] != '.' || ndigits == 0 || ndigits > 18)
		return ERR_AUTH;
	int64_t expiry = 0;
	for (size_t i = dot; i < signed_len; i++)
		expiry = expiry * 10 + (token[i] - '0');
	size_t ulen = dot - 1;
	auth_token_mac(secret, slen, token, signed_len, hex);
	int ok = ct_equal(hex, mac + 1, SHA256_HEX_LEN);
	if (!ok)
		return ERR_AUTH;
	if (strlen(user) != ulen || memcmp(user, token, ulen) != 0)
		return ERR_AUTH;
	if (expiry <= now)
		return ERR_AUTH;
	return ERR_OK;
}

/* base64 → "user:password", UTF-8 or Latin-1, split at the first ':'. */
static int auth_decode_pair(const char *b64, size_t n, char **user, char **pass)
{
	int rc = ERR_OK;
	uint8_t *raw = NULL;
	char *text = NULL;
	size_t rawlen = 0, tlen = 0;
	if (n == 0)
		return ERR_PARSE;
	raw = xmalloc(3 * n / 4 + 3);
	rc = base64_decode(b64, n, raw, &rawlen);
	if (rc) {
		rc = ERR_PARSE;
		goto fail;
	}
	if (memchr(raw, '\0', rawlen)) {
		rc = ERR_PARSE;
		goto fail;
	}
	if (name_utf8_valid((const char *)raw, rawlen)) {
		text = xstrndup((const char *)raw, rawlen);
		tlen = rawlen;
	} else {
		/* Latin-1: every byte is the code point of the same value. */
		text = xmalloc(2 * rawlen + 1);
		for (size_t i = 0; i < rawlen; i++) {
			if (raw[i] < 0x80) {
				text[tlen++] = (char)raw[i];
			} else {
				text[tlen++] = (char)(0xc0 | raw[i] >> 6);
				text[tlen++] = (char)(0x80 | (raw[i] & 0x3f));
			}
		}
		text[tlen] = '\0';
	}
	char *colon = memchr(text, ':', tlen);
	if (!colon) {
		rc = ERR_PARSE;
		goto fail;
	}
	*user = xstrndup(text, (size_t)(colon - text));
	*pass = xstrdup(colon + 1);
fail:
	xfree(text);
	xfree(raw);
	return rc;
}

static int auth_is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims spaces and tabs from both ends of [*s, *s + *n). */
static void auth_trim(const char **s, size_t *n)
{
	while (*n && auth_is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && auth_is_space((*s)[*n - 1]))
		(*n)--;
}

int auth_parse_basic(const char *value, size_t len, char **user, char **pass)
{
	*user = *pass = NULL;
	if (!value)
		return ERR_PARSE;
	if (len > AUTH_HEADER_MAX)
		return ERR_TOOBIG;
	auth_trim(&value, &len);
	if (len < 6 || strncasecmp(value, "basic", 5) != 0 || !auth_is_space(value[5]))
		return ERR_PARSE;
	value += 6;
	len -= 6;
	auth_trim(&value, &len);
	return auth_decode_pair(value, len, user, pass);
}

int auth_parse_xdevpi(const char *value, size_t len, char **user, char **pass)
{
	*user = *pass = NULL;
	if (!value)
		return ERR_PARSE;
	if (len > AUTH_HEADER_MAX)
		return ERR_TOOBIG;
	auth_trim(&value, &len);
	return auth_decode_pair(value, len, user, pass);
}
