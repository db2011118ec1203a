/* throttle.h — failed password checks, counted per user name and per
 * client address over one-minute windows, so that a login storm is
 * answered 429 at once instead of spending argon2 time on every guess
 * (API.md 2.2: repeated failed logins are slowed down, then refused).
 *
 * The table is fixed-size and direct-mapped: memory is bounded whatever
 * the number of names and addresses tried; a slot taken by another key
 * starts that key over (so an attacker can at worst reset counters, never
 * grow memory).  Thread-safe (one leaf mutex).
 */
#ifndef PROXY_THROTTLE_H
#define PROXY_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

/* Whether user (may be NULL) or addr (may be NULL) has reached limit
 * failures in the current window; *retry_after gets the seconds left. */
bool throttle_blocked(const char *user, const char *addr, int limit, int64_t now, int *retry_after);
/* Counts one failure for user and for addr (either may be NULL). */
void throttle_fail(const char *user, const char *addr, int64_t now);

#endif
