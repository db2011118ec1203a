/* sro.h — the stage resolution order of an index (API.md 5.3).
 *
 * Given a starting stage ("user/index") and a way to look stages up, yields
 * the order in which stages are asked for a project: the start, then its
 * private (non-mirror) bases breadth-first in configured order, then every
 * mirror met on the way, in the order they were first met.  Each stage is
 * visited once (devpi visits a diamond-shaped base twice; API.md 12),
 * cycles terminate, bases that do not exist are skipped (devpi logs a
 * warning; the caller's lookup may too), and mirrors' own bases are never
 * walked (devpi defers mirrors without expanding them).  The start is
 * always first and its bases are walked even if it is a mirror itself.
 *
 * Pure: the caller supplies the records through a callback, typically
 * reading one LMDB read transaction, so the result is consistent.
 */
#ifndef INHERIT_SRO_H
#define INHERIT_SRO_H

#include <stdbool.h>
#include <stddef.h>

/* Filled by the lookup callback.  `bases` (nbases entries, NUL-terminated
 * names; NULL entries are ignored) is borrowed: it must stay valid until
 * the lookup callback is called again or sro_compute returns, whichever
 * comes first.  sro_compute copies every name it keeps before it calls the
 * lookup again, so the callback may reuse one buffer for every answer. */
struct sro_stage {
	bool mirror;
	const char *const *bases;
	size_t nbases;
};

/* Looks up stage `name` (borrowed for the call).  `out` is zeroed before
 * the call.  Returns ERR_OK with *out filled, ERR_NOTFOUND if the stage
 * does not exist (a missing base is skipped), any other rc to abort
 * sro_compute with that rc.  Called at most once per distinct stage name. */
typedef int (*sro_lookup_fn)(void *arg, const char *name, struct sro_stage *out);

/* Computes the SRO of `start` (NUL-terminated, borrowed).
 * On ERR_OK: *names_out is an array of *n_out stage names (each its own
 * allocation) and *mirror_out a parallel array saying which are mirrors;
 * the caller owns both and frees them with sro_free().  n >= 1 and
 * names[0] is start.
 * Errors (the out-params are then NULL / NULL / 0):
 *   ERR_NOTFOUND  start does not exist;
 *   ERR_TOOBIG    more than max_stages stages would be in the result
 *                 (max_stages == 0 always fails this way);
 *   any other rc returned by lookup. */
int sro_compute(const char *start, sro_lookup_fn lookup, void *arg, size_t max_stages,
		char ***names_out, bool **mirror_out, size_t *n_out);

/* Frees what sro_compute returned: each of the n names, then both arrays.
 * NULL-tolerant. */
void sro_free(char **names, bool *mirror, size_t n);

#endif
