/* throttle.c — bounded counters of failed password checks (see
 * throttle.h).  A key is hashed as secret || kind || text to 64 bits; each
 * entry keeps the full hash, when its window started (its first failure,
 * so a storm is never split by a calendar minute) and the count.
 */
#include "proxy/throttle.h"

#include <pthread.h>
#include <string.h>

#include "common/strset.h"
#include "common/util.h"

#define SETS 2048
#define WAYS 2
#define WINDOW 60
#define WIDE 10          /* user-only and address-only bounds: WIDE × limit */
#define KEY_TEXT_MAX 300

struct entry {
	uint64_t key;
	int64_t start;           /* first failure of the window */
	int count;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry table[SETS][WAYS];
static uint8_t secret[16];
static bool seeded;

/* Under mu. */
static uint64_t key_of(char kind, const char *a, const char *b)
{
	char buf[sizeof secret + 2 + 2 * KEY_TEXT_MAX + 1];
	size_t n = 0, la = strnlen(a, KEY_TEXT_MAX), lb = b ? strnlen(b, KEY_TEXT_MAX) : 0;
	if (!seeded) {
		if (random_bytes(secret, sizeof secret) != 0)
			memset(secret, 0x5a, sizeof secret);    /* still bounded, only guessable */
		seeded = true;
	}
	memcpy(buf, secret, sizeof secret);
	n = sizeof secret;
	buf[n++] = kind;
	memcpy(buf + n, a, la);
	n += la;
	buf[n++] = '\n';
	if (b) {
		memcpy(buf + n, b, lb);
		n += lb;
	}
	uint64_t h = strset_hash(buf, n);
	return h ? h : 1;
}

static bool live(const struct entry *e, int64_t now)
{
	return e->count > 0 && now - e->start < WINDOW && now >= e->start;
}

/* The count of key now; *ends: when its window ends. */
static int count_locked(uint64_t key, int64_t now, int64_t *ends)
{
	struct entry *set = table[key % SETS];
	for (int i = 0; i < WAYS; i++)
		if (set[i].key == key && live(&set[i], now)) {
			*ends = set[i].start + WINDOW;
			return set[i].count;
		}
	return 0;
}

static void add_locked(uint64_t key, int64_t now)
{
	struct entry *set = table[key % SETS], *e = NULL;
	for (int i = 0; i < WAYS && !e; i++)
		if (set[i].key == key)
			e = &set[i];
	if (!e) {
		e = &set[0];    /* the victim: a dead entry, then the lower count */
		for (int i = 1; i < WAYS; i++) {
			bool dead_i = !live(&set[i], now), dead_e = !live(e, now);
			if ((dead_i && !dead_e) || (dead_i == dead_e && set[i].count < e->count))
				e = &set[i];
		}
		e->key = key;
		e->count = 0;
	}
	if (!live(e, now)) {
		e->start = now;
		e->count = 0;
	}
	if (e->count < 1000000)
		e->count++;
}

bool throttle_blocked(const char *user, const char *addr, int limit, int64_t now, int *retry_after)
{
	int64_t until = now, ends = now;
	*retry_after = 0;
	if (limit <= 0)
		return false;
	pthread_mutex_lock(&mu);
	if (user && addr && count_locked(key_of('p', user, addr), now, &ends) >= limit && ends > until)
		until = ends;
	if (user && count_locked(key_of('u', user, NULL), now, &ends) >= WIDE * limit && ends > until)
		until = ends;
	if (addr && count_locked(key_of('a', addr, NULL), now, &ends) >= WIDE * limit && ends > until)
		until = ends;
	pthread_mutex_unlock(&mu);
	*retry_after = (int)(until - now);
	return until > now;
}

void throttle_fail(const char *user, const char *addr, int64_t now)
{
	pthread_mutex_lock(&mu);
	if (user && addr)
		add_locked(key_of('p', user, addr), now);
	if (user)
		add_locked(key_of('u', user, NULL), now);
	if (addr)
		add_locked(key_of('a', addr, NULL), now);
	pthread_mutex_unlock(&mu);
}
