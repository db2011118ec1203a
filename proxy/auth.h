/* auth.h — password hashes, login tokens and credential headers
 * (API.md 2.2-2.5 and 12).
 *
 * Passwords are stored as argon2 PHC strings, the form passlib writes, so
 * hashes imported from a devpi export verify unchanged.  Tokens are
 * devpi-like's own, self-contained and signed:
 *
 *     <user>.<expiry unix seconds>.<64 lower-case hex: hmac-sha256(secret, "<user>.<expiry>")>
 *
 * The user name may itself contain dots (the token is split from the right).
 * Credentials arrive base64-encoded in Authorization: Basic or X-Devpi-Auth.
 * Every string argument is borrowed for the call only; every string result
 * is a new allocation the caller frees with xfree().
 */
#ifndef PROXY_AUTH_H
#define PROXY_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* Parameters of new hashes: argon2id, t=2 passes, m=65536 KiB (64 MiB),
 * p=1 lane, 16-byte random salt, 32-byte hash. */
#define AUTH_ARGON2_T 2
#define AUTH_ARGON2_M_KIB 65536
#define AUTH_ARGON2_P 1
#define AUTH_SALT_LEN 16
#define AUTH_HASH_LEN 32

/* Stored hashes asking for more than this are refused (ERR_INVAL) rather
 * than run: a verification costs m KiB of memory and t*m work per login.
 * passlib's and devpi's parameters are well inside. */
#define AUTH_ARGON2_MAX_M_KIB 262144 /* 256 MiB */
#define AUTH_ARGON2_MAX_T 32
#define AUTH_ARGON2_MAX_P 16
#define AUTH_PHC_MAX 512

#define AUTH_TOKEN_TTL 36000   /* seconds, devpi's fixed token lifetime */
#define AUTH_TOKEN_MAX 1024    /* longest token looked at, bytes */
#define AUTH_HEADER_MAX 4096   /* longest credential header value, bytes */

/* Hashes the pwlen bytes at pw into a new PHC string
 * "$argon2id$v=19$m=65536,t=2,p=1$<salt b64>$<hash b64>" (unpadded base64).
 * ERR_OK with *phc set (caller xfree()s); ERR_IO if the RNG fails;
 * ERR_NOMEM; ERR_INVAL if argon2 refuses the input (pwlen >= 2^32). */
int auth_hash_password(const char *pw, size_t pwlen, char **phc);

/* Checks pw against a PHC string ($argon2id$, $argon2i$ or $argon2d$, with or
 * without v=).  ERR_OK on a match; ERR_AUTH on a mismatch; ERR_INVAL if phc
 * is NULL, longer than AUTH_PHC_MAX, not an argon2 PHC string argon2 can
 * decode, or asks for more than the AUTH_ARGON2_MAX_* bounds; ERR_NOMEM.
 * The comparison inside libargon2 is constant-time. */
int auth_verify_password(const char *pw, size_t pwlen, const char *phc);

/* Mints a token for user (non-empty C string) valid until now + ttl.
 * ERR_OK with *token set (caller xfree()s); ERR_INVAL for an empty secret
 * or user, ttl <= 0 or an expiry that overflows. */
int auth_token_new(const uint8_t *secret, size_t slen, const char *user, int64_t now, int64_t ttl, char **token);

/* ERR_OK if the toklen bytes at token are a well-formed token signed with
 * secret, expiring strictly after now, for exactly `user`; ERR_AUTH for
 * anything else (garbage, empty, longer than AUTH_TOKEN_MAX, bad mac,
 * expired, other user, empty secret).  The mac is compared in constant
 * time.  Never reads outside token[0..toklen). */
int auth_token_check(const uint8_t *secret, size_t slen, const char *token, size_t toklen, const char *user, int64_t now);

/* Authorization header value "Basic <base64>" (scheme case-insensitive,
 * spaces/tabs around the parts ignored) → user and password: the decoded
 * bytes are taken as UTF-8 if they are valid UTF-8, else as Latin-1 and
 * converted to UTF-8; they are split at the first ':'.  ERR_OK with *user
 * and *pass set (caller xfree()s both; either may be ""); ERR_TOOBIG when
 * len > AUTH_HEADER_MAX; ERR_PARSE for another scheme, bad base64, no ':'
 * or a NUL byte in the decoded text.  On error both are NULL. */
int auth_parse_basic(const char *value, size_t len, char **user, char **pass);

/* X-Devpi-Auth header value: the bare base64 of "user:password", decoded and
 * split exactly as auth_parse_basic() does; same results. */
int auth_parse_xdevpi(const char *value, size_t len, char **user, char **pass);

#endif
