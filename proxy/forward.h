/* forward.h — a replica's writes, proxied to its primary (API.md 8.6, 12).
 *
 * A replica's records come only through the changelog, so every request
 * with a mutating method (anything but GET, HEAD and OPTIONS: PUT, POST,
 * PATCH, DELETE, PUSH, including /+login, uploads, refreshes, tox results
 * and yanks) is sent to <primary_url><path>?<query> as it came, before
 * credentials are resolved: the primary checks them.
 *
 * What goes to the primary: the method; every request header except Host,
 * Content-Length (set again from the body) and the hop-by-hop ones
 * (Connection and the headers it names, Keep-Alive, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-*, Expect); the client's Authorization
 * unchanged; X-DEVPI-REPLICA-UUID (never the replica's own signature, so
 * the primary sees the client, not the replica); X-Forwarded-For (the
 * client's address appended), X-Forwarded-Proto and X-Forwarded-Host.
 * The body is streamed, never held whole: at most about 1 MiB is buffered,
 * and the client is paused beyond that until the primary takes more.  A
 * chunked request body is sent on chunked (with its length unknown).
 *
 * What comes back: the primary's answer is collected (at most 16 MiB;
 * more → 502) and, if its status is below 400, held until this replica's
 * serial reaches the answer's X-DEVPI-SERIAL (read-your-writes), for at
 * most --proxy-timeout seconds: past that the client gets 504 saying the
 * write succeeded on the primary but has not replicated here yet.  The
 * client then gets the primary's status, reason phrase, headers (without
 * hop-by-hop ones; the X-DEVPI-* node headers are this node's, and
 * X-DEVPI-SERIAL is the primary's), body, and X-DEVPI-PROXY: replica; a
 * Location on the primary's URL is moved to this replica's URL.
 *
 * Failures: a primary that cannot be reached, resets, or sends no answer
 * within --proxy-timeout (counted from the last body byte that moved) gets
 * the client a 502 JSON message naming the primary's URL.  Nothing waits
 * without a bound.
 */
#ifndef PROXY_FORWARD_H
#define PROXY_FORWARD_H

#include <stdbool.h>

struct req;

/* Whether r (on a replica) must go to the primary: its method mutates. */
bool forward_wanted(const struct req *r);

/* Proxies r to r->app's primary; r is answered later (or at once with 502
 * when the transfer cannot start).  Installs r's body hooks: called from
 * router_head, before any body byte is read. */
void forward_start(struct req *r);

#endif
