/* clogtrim.c — changelog trimming (see clogtrim.h).  The oldest kept
 * serial is read in a short read transaction; the deletion runs as a writer
 * job.  Trimming never creates a serial, so replicas and caches are not
 * disturbed, and the newest entry always stays. */
#include "proxy/clogtrim.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/err.h"
#include "common/log.h"
#include "config/config.h"
#include "proxy/app.h"
#include "store/store.h"

#define CLOGTRIM_BATCH 10000

struct trim_job {
	struct store_job job;
	int64_t below;
	size_t removed;
};

static atomic_bool busy;
static struct trim_job the_job;

static int trim_run(struct store_txn *t, void *arg)
{
	struct trim_job *j = arg;
	return store_changelog_trim(t, j->below, CLOGTRIM_BATCH, &j->removed);
}

static void trim_done(void *arg, int rc, int64_t serial)
{
	struct trim_job *j = arg;
	if (rc)
		log_warn("changelog trim failed: %s", err_str(rc));
	else if (j->removed)
		log_debug("changelog: trimmed %zu entries below serial %" PRId64, j->removed, j->below);
	atomic_store(&busy, false);
}

void clogtrim_tick(struct app *a)
{
	struct store_txn *t = NULL;
	int64_t oldest = 0;
	int64_t serial = atomic_load(&a->serial);
	uint64_t keep = a->cfg->changelog_keep;
	if (keep == 0 || serial < 0 || (uint64_t)serial + 1 <= keep || atomic_load(&busy))
		return;
	int64_t below = serial + 1 - (int64_t)keep;
	if (store_read_begin(a->store, &t) != ERR_OK)
		return;
	int rc = store_changelog_oldest(t, &oldest);
	store_abort(t);
	if (rc || oldest >= below)
		return;
	atomic_store(&busy, true);
	the_job = (struct trim_job){ .below = below };
	the_job.job.run = trim_run;
	the_job.job.done = trim_done;
	the_job.job.arg = &the_job;
	store_writer_submit(a->store, &the_job.job);
}
