/* import.h — a devpi (dumpversion 1 or 2) or devpi-like export into a new
 * store (API.md section 9, `devpi-like import INDIR`).
 *
 * All or nothing: the store is built in "<serverdir>.importing" and renamed
 * to serverdir only when complete, so a crash at any point leaves
 * serverdir absent (or as it was: empty) and the next start sees a new
 * store.  dataindex.json is read with jstream (bounded memory whatever its
 * size); every file is read through a path checked component by component
 * (no "..", no absolute path, no symlink) and must match every hash its
 * entry records.  Errors name the entry.
 */
#ifndef PROXY_IMPORT_H
#define PROXY_IMPORT_H

struct config;
struct progress;

/* Imports indir into cfg->serverdir (which must not hold a store with
 * users; it may be missing or an empty directory).  cfg gives the root
 * password and --no-root-pypi for the store's initialization.
 * ERR_EXISTS: serverdir already has a store; ERR_PARSE / ERR_INVAL /
 * ERR_HASH / ERR_NOTFOUND: bad input (logged with the entry). */
int import_run(const struct config *cfg, const char *indir, struct progress *p);

#endif
