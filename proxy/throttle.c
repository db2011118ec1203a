/* throttle.c — bounded counters of failed password checks (see
 * throttle.h).  Keys are hashed ("u\n<user>", "a\n<addr>") to 64 bits;
 * a slot keeps the full hash, the window (minute) and the count.
 */
#include "proxy/throttle.h"

#include <pthread.h>
#include <string.h>

#include "common/strset.h"

#define SLOTS 4096
#define WINDOW 60

struct slot {
	uint64_t key;
	int64_t window;
	int count;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot table[SLOTS];

static uint64_t key_of(char kind, const char *s)
{
	char buf[300];
	size_t n = strlen(s);
	if (n > sizeof buf - 2)
		n = sizeof buf - 2;
	buf[0] = kind;
	buf[1] = '\n';
	memcpy(buf + 2, s, n);
	uint64_t h = strset_hash(buf, n + 2);
	return h ? h : 1;
}

/* The count of key in the window of now (0 if the slot holds another). */
static int count_locked(uint64_t key, int64_t now)
{
	struct slot *s = &table[key % SLOTS];
	return s->key == key && s->window == now / WINDOW ? s->count : 0;
}

static void add_locked(uint64_t key, int64_t now)
{
	struct slot *s = &table[key % SLOTS];
	if (s->key != key || s->window != now / WINDOW) {
		s->key = key;
		s->window = now / WINDOW;
		s->count = 0;
	}
	if (s->count < 1000000)
		s->count++;
}

bool throttle_blocked(const char *user, const char *addr, int limit, int64_t now, int *retry_after)
{
	bool blocked = false;
	if (limit <= 0)
		return false;
	pthread_mutex_lock(&mu);
	if (user && count_locked(key_of('u', user), now) >= limit)
		blocked = true;
	if (addr && count_locked(key_of('a', addr), now) >= limit)
		blocked = true;
	pthread_mutex_unlock(&mu);
	*retry_after = (int)(WINDOW - now % WINDOW);
	return blocked;
}

void throttle_fail(const char *user, const char *addr, int64_t now)
{
	pthread_mutex_lock(&mu);
	if (user)
		add_locked(key_of('u', user), now);
	if (addr)
		add_locked(key_of('a', addr), now);
	pthread_mutex_unlock(&mu);
}
