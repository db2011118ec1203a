/* err.h — the project-wide error enum.
 *
 * Every function that can fail returns an int from this enum (0 = ok) and
 * passes results back through an out-parameter placed last.  Library codes
 * (LMDB, curl, OpenSSL, libarchive) are translated at the module boundary and
 * the original code goes into the log line.
 */
#ifndef COMMON_ERR_H
#define COMMON_ERR_H

enum {
	ERR_OK = 0,
	ERR_NOMEM,      /* allocation failed */
	ERR_INVAL,      /* invalid argument or input */
	ERR_TOOBIG,     /* a bound was exceeded */
	ERR_NOTFOUND,   /* no such key / record / file */
	ERR_EXISTS,     /* already exists */
	ERR_IO,         /* operating system I/O error */
	ERR_STORE,      /* LMDB error other than the ones below */
	ERR_MAPFULL,    /* the store is full (map size or disk) */
	ERR_CORRUPT,    /* stored data does not parse or verify */
	ERR_PARSE,      /* outside input does not parse */
	ERR_AGAIN,      /* need more input / try again */
	ERR_PERM,       /* permission denied */
	ERR_AUTH,       /* not authenticated */
	ERR_UPSTREAM,   /* upstream answered badly */
	ERR_TIMEOUT,    /* a deadline passed */
	ERR_CONFLICT,   /* conflicting state (e.g. non-volatile overwrite) */
	ERR_GONE,       /* existed, deleted later */
	ERR_BUSY,       /* resource busy */
	ERR_HASH,       /* content does not match its hash */
	ERR__COUNT
};

/* A static, lower-case description of rc; never NULL. */
const char *err_str(int rc);

#endif
