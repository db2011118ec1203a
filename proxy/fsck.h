/* fsck.h — `devpi-like fsck`: the store's own integrity check plus the
 * checks that need devpi's record layout (every file record has its blob,
 * every release link has its file record). */
#ifndef PROXY_FSCK_H
#define PROXY_FSCK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct store;

/* Checks st; one line per problem goes to out.  *problems = their count.
 * ERR_OK when the check ran (whatever it found). */
int fsck_run(struct store *st, bool rehash, FILE *out, uint64_t *problems);

#endif
