/* replauth.c — replica request signatures (see replauth.h). */
#include "proxy/replauth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"

int replauth_load_key(const char *path, uint8_t key[32])
{
	char buf[REPLAUTH_SECRET_MAX + 1];
	FILE *f = fopen(path, "rb");
	if (!f)
		return ERR_NOTFOUND;
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	if (n > REPLAUTH_SECRET_MAX)
		return ERR_TOOBIG;
	if (n == 0)
		return ERR_INVAL;
	sha256_buf(buf, n, key);
	return ERR_OK;
}

static void mac_hex(const uint8_t key[32], const char *uuid, long long ts, char hex[SHA256_HEX_LEN + 1])
{
	char msg[200];
	uint8_t mac[SHA256_LEN];
	int n = snprintf(msg, sizeof msg, "replica:%.64s:%lld", uuid, ts);
	hmac_sha256(key, 32, msg, (size_t)n, mac);
	hex_encode(mac, SHA256_LEN, hex);
}

void replauth_token(const uint8_t key[32], const char *uuid, int64_t now, char *out, size_t cap)
{
	char hex[SHA256_HEX_LEN + 1];
	mac_hex(key, uuid, (long long)now, hex);
	snprintf(out, cap, "Bearer %lld.%s", (long long)now, hex);
}

int replauth_check(const uint8_t key[32], const char *uuid, const char *value, size_t len, int64_t now)
{
	char tok[120], hex[SHA256_HEX_LEN + 1];
	if (!uuid || !*uuid || strlen(uuid) > 64 || len < 8 || len >= sizeof tok || strncmp(value, "Bearer ", 7) != 0)
		return ERR_AUTH;
	memcpy(tok, value + 7, len - 7);
	tok[len - 7] = '\0';
	char *dot = strchr(tok, '.'), *end = NULL;
	if (!dot || dot == tok)
		return ERR_AUTH;
	*dot = '\0';
	errno = 0;
	long long ts = strtoll(tok, &end, 10);
	if (errno || *end || ts > now + REPLAUTH_MAX_AGE || now - ts > REPLAUTH_MAX_AGE)
		return ERR_AUTH;
	if (strlen(dot + 1) != SHA256_HEX_LEN)
		return ERR_AUTH;
	mac_hex(key, uuid, ts, hex);
	return ct_equal(hex, dot + 1, SHA256_HEX_LEN) ? ERR_OK : ERR_AUTH;
}

void replauth_headers(const uint8_t key[32], const char *uuid, int64_t now, char auth[REPLAUTH_HDR_MAX],
		      char id[REPLAUTH_HDR_MAX])
{
	char tok[120];
	replauth_token(key, uuid, now, tok, sizeof tok);
	snprintf(auth, REPLAUTH_HDR_MAX, "Authorization: %s", tok);
	snprintf(id, REPLAUTH_HDR_MAX, "X-DEVPI-REPLICA-UUID: %.64s", uuid);
}
