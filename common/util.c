/* util.c — hashing, hex, base64, random, time formats, a directory test
 * (see util.h). */
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

void sha256_init(struct sha256_ctx *c)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort();
	c->md = md;
}

void sha256_update(struct sha256_ctx *c, const void *p, size_t n)
{
	if (n)
		EVP_DigestUpdate(c->md, p, n);
}

void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
	unsigned int len = SHA256_LEN;
	EVP_DigestFinal_ex(c->md, out, &len);
	sha256_release(c);
}

void sha256_release(struct sha256_ctx *c)
{
	if (c && c->md) {
		EVP_MD_CTX_free(c->md);
		c->md = NULL;
	}
}

void sha256_buf(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
	struct sha256_ctx c;
	sha256_init(&c);
	sha256_update(&c, p, n);
	sha256_final(&c, out);
}

void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[SHA256_LEN])
{
	unsigned int len = SHA256_LEN;
	if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &len))
		abort();
}

void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen != 2 * n)
		return ERR_PARSE;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit((unsigned char)s[2 * i]), lo = hex_digit((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return ERR_PARSE;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return ERR_OK;
}

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const uint8_t *p, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int b64val(char c)
{
	const char *q = c ? strchr(b64chars, c) : NULL;
	return q ? (int)(q - b64chars) : -1;
}

int base64_decode(const char *s, size_t slen, uint8_t *out, size_t *outlen)
{
	while (slen && s[slen - 1] == '=')
		slen--;
	if (slen % 4 == 1)
		return ERR_PARSE;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < slen; i++) {
		int v = b64val(s[i]);
		if (v < 0)
			return ERR_PARSE;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*outlen = o;
	return ERR_OK;
}

int random_bytes(void *p, size_t n)
{
	return RAND_bytes(p, (int)n) == 1 ? ERR_OK : ERR_IO;
}

int ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void time_rfc1123(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void time_iso8601(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int time_parse_rfc1123(const char *s, time_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return ERR_PARSE;
	*out = timegm(&tm);
	return ERR_OK;
}

double time_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int dir_is_empty(const char *path, bool *exists)
{
	DIR *d = opendir(path);
	*exists = false;
	if (!d)
		return errno == ENOENT ? ERR_OK : errno == ENOTDIR ? ERR_INVAL : ERR_IO;
	*exists = true;
	struct dirent *de;
	int rc = ERR_OK;
	while (!rc && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = ERR_EXISTS;
	closedir(d);
	return rc;
}
