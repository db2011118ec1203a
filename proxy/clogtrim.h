/* clogtrim.h — keeps a node's changelog to --changelog-keep entries.  A
 * replica further behind than the trimmed part gets 410 from /+changelog
 * and does a full sync from /+snapshot instead. */
#ifndef PROXY_CLOGTRIM_H
#define PROXY_CLOGTRIM_H

struct app;

/* Called periodically (main loop timer): when more than changelog_keep
 * entries are kept, queues one writer job deleting up to CLOGTRIM_BATCH of
 * the oldest (one job at a time, so a long backlog is worked off in short
 * transactions). */
void clogtrim_tick(struct app *a);

#endif
