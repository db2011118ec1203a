/* h_authcheck.c — GET /+authcheck, for nginx's auth_request (API.md 2.6).
 *
 * nginx serves +f files (and may serve pages) itself and asks here first,
 * passing the client's credentials and the path in X-Original-URI
 * (authpath.c reduces it to a stage, refusing ambiguous paths).  The answer
 * is only a status: 200 allow, 401 needs credentials (403 for devpi-client,
 * which would otherwise drop its stored login), 403 forbidden (a stage the
 * caller may not read, or a path that is not a read route).
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "proxy/app.h"
#include "proxy/authpath.h"
#include "proxy/conn.h"
#include "proxy/handlers.h"
#include "proxy/perm.h"
#include "proxy/web.h"
#include "store/store.h"

static void answer(struct req *r, int status)
{
	size_t n;
	const char *ua = req_header(r, "user-agent", &n);
	bool devpi_client = ua && memmem(ua, n, "devpi-client", 12);
	if (status == 401 && devpi_client)
		status = 403;
	if (status == 401)
		web_challenge(r);
	resp_send(r, status, NULL, "text/plain; charset=utf-8", "", 0);
}

void h_authcheck(struct req *r)
{
	size_t len = 0;
	const char *uri = req_header(r, "x-original-uri", &len);
	char user[AUTHPATH_NAME_MAX + 1], index[AUTHPATH_NAME_MAX + 1];
	enum authpath_kind kind = authpath_classify(uri, len, user, index);
	if (kind != AUTHPATH_STAGE) {
		answer(r, kind == AUTHPATH_OPEN ? 200 : 403);
		return;
	}
	struct store_txn *t = web_read_begin(r);
	if (!t)
		return;
	cJSON *cfg = web_get_index(t, user, index);
	store_abort(t);
	if (!cfg)
		answer(r, 403);
	else if (perm_index(r, PERM_PKG_READ, user, cfg))
		answer(r, 200);
	else
		answer(r, r->user ? 403 : 401);
	cJSON_Delete(cfg);
}
