/* h_authcheck.c — GET /+authcheck, for nginx's auth_request (API.md 2.6).
 *
 * nginx serves +f files (and may serve pages) itself and asks here first,
 * passing the client's credentials and the path in X-Original-URI.  The
 * answer is only a status: 200 allow, 401 needs credentials (403 for
 * devpi-client, which would otherwise drop its stored login), 403 forbidden
 * (a stage the caller may not read, or a path that is not a read route).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "inherit/name.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/perm.h"
#include "proxy/web.h"
#include "store/store.h"

#define URI_MAX 4096

static void answer(struct req *r, int status)
{
	size_t n;
	const char *ua = req_header(r, "user-agent", &n);
	bool devpi_client = ua && n >= 6 && memmem(ua, n, "devpi-client", 12);
	if (status == 401 && devpi_client)
		status = 403;
	if (status == 401)
		resp_header(r, "WWW-Authenticate", "Basic realm=\"pypi\"");
	resp_send(r, status, NULL, "text/plain; charset=utf-8", "", 0);
}

/* The first n path segments of uri (without query), each at most 200
 * bytes; returns how many there are (up to n). */
static size_t first_segments(const char *uri, size_t len, char seg[][201], size_t n)
{
	size_t k = 0, i = 0;
	while (i < len && uri[i] == '/')
		i++;
	while (i < len && k < n && uri[i] != '?' && uri[i] != '#') {
		size_t start = i;
		while (i < len && uri[i] != '/' && uri[i] != '?' && uri[i] != '#')
			i++;
		size_t l = i - start;
		snprintf(seg[k], 201, "%.*s", (int)(l > 200 ? 200 : l), uri + start);
		k++;
		while (i < len && uri[i] == '/')
			i++;
	}
	return k;
}

void h_authcheck(struct req *r)
{
	size_t len;
	const char *uri = req_header(r, "x-original-uri", &len);
	char seg[3][201];
	if (!uri || len > URI_MAX) {
		answer(r, 403);
		return;
	}
	size_t n = first_segments(uri, len, seg, 3);
	if (n >= 1 && (strcmp(seg[0], "+api") == 0 || strcmp(seg[0], "+login") == 0)) {
		answer(r, 200);
		return;
	}
	if (n < 2 || seg[0][0] == '+' || seg[1][0] == '+' ||
	    name_check_user_index(seg[0], strlen(seg[0])) || name_check_user_index(seg[1], strlen(seg[1]))) {
		answer(r, 403);        /* not a route of a stage */
		return;
	}
	struct store_txn *t = web_read_begin(r);
	if (!t)
		return;
	cJSON *cfg = web_get_index(t, seg[0], seg[1]);
	store_abort(t);
	if (!cfg)
		answer(r, 403);
	else if (perm_index(r, PERM_PKG_READ, seg[0], cfg))
		answer(r, 200);
	else
		answer(r, r->user ? 403 : 401);
	cJSON_Delete(cfg);
}
