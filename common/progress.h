/* progress.h — progress of a long command (export, import, backup, fsck)
 * on stderr.
 *
 * On a terminal a single line is redrawn at most a few times a second:
 * items and bytes done of the total, the rate and the time left.  Not on
 * a terminal nothing is printed until progress_end, which prints one
 * summary line either way.  A total of 0 means unknown (no percentage, no
 * time left).
 */
#ifndef COMMON_PROGRESS_H
#define COMMON_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	const char *what;            /* e.g. "backup"; borrowed */
	uint64_t items, items_total;
	uint64_t bytes, bytes_total;
	uint64_t started_ms, drawn_ms;
	bool tty;
};

void progress_start(struct progress *p, const char *what, uint64_t items_total, uint64_t bytes_total);
/* Adds to the counts done and redraws when due. */
void progress_add(struct progress *p, uint64_t items, uint64_t bytes);
/* A store_progress_fn for long store operations (backup, fsck): arg is
 * the struct progress; done bytes of about total, one item per call. */
void progress_bytes(void *arg, uint64_t done, uint64_t total);
/* Prints the summary line (ok: finished, else "stopped"). */
void progress_end(struct progress *p, bool ok);

#endif
