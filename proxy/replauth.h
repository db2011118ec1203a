/* replauth.h — the identity of replica requests (API.md 8.2).
 *
 * A replica signs each request with the secret it shares with its primary
 * (the --secretfile contents):
 *
 *     Authorization: Bearer <ts>.<64 hex: hmac-sha256(key, "replica:" uuid ":" ts)>
 *     X-DEVPI-REPLICA-UUID: <uuid>
 *
 * where key = sha256(secretfile contents) and ts is unix seconds.  The
 * primary accepts a token at most REPLAUTH_MAX_AGE seconds old (and not
 * from the future beyond that), compared in constant time.
 */
#ifndef PROXY_REPLAUTH_H
#define PROXY_REPLAUTH_H

#include <stddef.h>
#include <stdint.h>

#define REPLAUTH_MAX_AGE 60
#define REPLAUTH_SECRET_MAX 4096       /* bytes read from a secretfile */
#define REPLAUTH_HDR_MAX 200
/* The user a validly signed replica request is served as (router.c): it
 * may read every stage (perm.c) and nothing more. */
#define REPLAUTH_USER "+replica"

/* Reads path and derives the signing key.  ERR_NOTFOUND (missing),
 * ERR_TOOBIG (over REPLAUTH_SECRET_MAX), ERR_INVAL (empty). */
int replauth_load_key(const char *path, uint8_t key[32]);
/* The Authorization header value for uuid at now, into out (at least 100
 * bytes). */
void replauth_token(const uint8_t key[32], const char *uuid, int64_t now, char *out, size_t cap);
/* ERR_OK when value (an Authorization header, len bytes) is a valid,
 * fresh token for uuid; ERR_AUTH otherwise. */
int replauth_check(const uint8_t key[32], const char *uuid, const char *value, size_t len, int64_t now);

/* The headers that identify this replica on every request to its primary
 * (API.md 8.2), as "Name: value" lines for upstream_request.headers:
 * auth = "Authorization: Bearer ...", id = "X-DEVPI-REPLICA-UUID: <uuid>". */
void replauth_headers(const uint8_t key[32], const char *uuid, int64_t now, char auth[REPLAUTH_HDR_MAX],
		      char id[REPLAUTH_HDR_MAX]);

#endif
