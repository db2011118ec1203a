/* export.h — the whole state of a store in devpi's export format
 * (API.md section 9, dumpversion 2), for `devpi-like export OUTDIR`.
 *
 * Everything is read from one read transaction, so the export is one
 * consistent serial while a server keeps writing.  dataindex.json is
 * written as it goes (one index, one version at a time), so memory is
 * bounded by the largest record and one stage's key list, not by the
 * store (with --include-mirrored-files also a small record per cached
 * mirror version); file contents are copied chunk by chunk.
 */
#ifndef PROXY_EXPORT_H
#define PROXY_EXPORT_H

#include <stdbool.h>

struct store;
struct progress;

/* Writes the export into outdir, which must not exist or be empty.
 * include_mirrored: also the files cached from mirrors (with minimal
 * version data).  Progress goes to p (items = files, bytes = their
 * contents).  ERR_EXISTS for a non-empty outdir, ERR_IO for a write error,
 * ERR_CORRUPT when a file's content is missing from the store (named in
 * the log). */
int export_run(struct store *st, const char *outdir, bool include_mirrored, struct progress *p);

#endif
