/* util.h — small helpers: hashing, hex, base64, random, time formats,
 * constant-time compare.  All pure except the random and clock reads. */
#ifndef COMMON_UTIL_H
#define COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

/* Streaming sha256 (OpenSSL EVP underneath). */
struct sha256_ctx { void *md; };
void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *p, size_t n);
/* Writes 32 bytes and releases the context. */
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);
/* Releases a context without a result (NULL-tolerant). */
void sha256_release(struct sha256_ctx *c);
void sha256_buf(const void *p, size_t n, uint8_t out[SHA256_LEN]);

/* HMAC-SHA256 of msg under key. */
void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[SHA256_LEN]);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void hex_encode(const uint8_t *p, size_t n, char *out);
/* Decodes exactly 2n hex chars into n bytes; ERR_PARSE on a bad digit. */
int hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);
/* Whether path is a directory that holds nothing: ERR_OK with *exists
 * false if it is missing, ERR_OK with *exists true if it is an empty
 * directory, ERR_EXISTS if it holds anything, ERR_INVAL if it is not a
 * directory, ERR_IO otherwise. */
int dir_is_empty(const char *path, bool *exists);
/* The value of one hex digit (either case), or -1. */
int hex_digit(int c);

/* Standard base64 with padding; out needs 4*ceil(n/3)+1 bytes. */
size_t base64_encode(const uint8_t *p, size_t n, char *out);
/* Decodes standard base64 (padding optional); out needs 3*slen/4+3 bytes.
 * ERR_PARSE on invalid input. */
int base64_decode(const char *s, size_t slen, uint8_t *out, size_t *outlen);

/* Cryptographically random bytes; ERR_IO if the RNG fails. */
int random_bytes(void *p, size_t n);

/* 1 when equal; time independent of where they differ. */
int ct_equal(const void *a, const void *b, size_t n);

/* "Thu, 11 Feb 2016 12:55:56 GMT" into out[30]. */
void time_rfc1123(time_t t, char out[32]);
/* "2016-02-11T12:55:56Z" into out[21]. */
void time_iso8601(time_t t, char out[32]);
/* Parses an RFC 1123 date; ERR_PARSE otherwise. */
int time_parse_rfc1123(const char *s, time_t *out);
/* Wall clock as a float of seconds. */
double time_now(void);
/* Monotonic milliseconds. */
uint64_t time_mono_ms(void);

#endif
