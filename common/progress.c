/* progress.c — one redrawn line on a terminal, one summary line always
 * (see progress.h). */
#include "common/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "common/util.h"

#define REDRAW_MS 250

static void human(uint64_t n, char *out, size_t cap)
{
	const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void draw(const struct progress *p, bool final, bool ok)
{
	uint64_t ms = time_mono_ms() - p->started_ms;
	double secs = ms / 1000.0;
	char done[32], total[32], rate[32] = "", left[48] = "";
	human(p->bytes, done, sizeof done);
	human(p->bytes_total, total, sizeof total);
	if (secs > 0.05) {
		human((uint64_t)(p->bytes / secs), rate, sizeof rate);
		if (!final && p->bytes_total > p->bytes && p->bytes > 0) {
			double rest = (double)(p->bytes_total - p->bytes) * secs / (double)p->bytes;
			snprintf(left, sizeof left, ", %d:%02d left", (int)rest / 60, (int)rest % 60);
		}
	}
	fprintf(stderr, "%s%s: %s%llu", p->tty ? "\r" : "", p->what,
		final ? (ok ? "done, " : "stopped after ") : "", (unsigned long long)p->items);
	if (p->items_total)
		fprintf(stderr, " of %llu", (unsigned long long)p->items_total);
	fprintf(stderr, " items, %s", done);
	if (p->bytes_total)
		fprintf(stderr, " of %s", total);
	if (*rate)
		fprintf(stderr, ", %s/s", rate);
	if (final)
		fprintf(stderr, " in %.1f s%s\n", secs, p->tty ? "\033[K" : "");
	else
		fprintf(stderr, "%s\033[K", left);
	fflush(stderr);
}

void progress_start(struct progress *p, const char *what, uint64_t items_total, uint64_t bytes_total)
{
	p->what = what;
	p->items = p->bytes = 0;
	p->items_total = items_total;
	p->bytes_total = bytes_total;
	p->started_ms = p->drawn_ms = time_mono_ms();
	p->tty = isatty(STDERR_FILENO) == 1;
}

void progress_add(struct progress *p, uint64_t items, uint64_t bytes)
{
	p->items += items;
	p->bytes += bytes;
	uint64_t now = time_mono_ms();
	if (p->tty && now - p->drawn_ms >= REDRAW_MS) {
		p->drawn_ms = now;
		draw(p, false, true);
	}
}

void progress_bytes(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	p->bytes_total = total > done ? total : done;
	progress_add(p, 1, done > p->bytes ? done - p->bytes : 0);
}

void progress_end(struct progress *p, bool ok)
{
	draw(p, true, ok);
}
