/* throttle.h — failed password checks, counted over one-minute windows, so
 * that a login storm is answered 429 at once instead of spending argon2
 * time on every guess (API.md 2.2: repeated failed logins are slowed down,
 * then refused).
 *
 * Three counters per failure, each over a minute from its first failure:
 * the (user, address) pair, bounded by the limit; the user name alone and the address alone, bounded by ten times
 * it — so a guesser is stopped quickly, while many clients behind one
 * proxy address, or a stranger hammering someone's name, take much longer
 * to lock anybody out (a password verified recently is let through
 * anyway, see router.c).
 *
 * The table is fixed-size (memory is bounded whatever the number of names
 * and addresses tried) and two-way set-associative on a hash keyed with a
 * random secret, so slots cannot be aimed at; a full set evicts a dead
 * entry, else the one with the lower count.  Thread-safe (one leaf
 * mutex).
 */
#ifndef PROXY_THROTTLE_H
#define PROXY_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

/* Whether user or addr (either may be NULL) has reached a bound: the
 * failures counted within a minute of the first one.  *retry_after gets
 * the seconds until every bound reached is over (0 if none). */
bool throttle_blocked(const char *user, const char *addr, int limit, int64_t now, int *retry_after);
/* Counts one failure for user and addr (either may be NULL). */
void throttle_fail(const char *user, const char *addr, int64_t now);

#endif
