/* err.c — descriptions for the project-wide error enum. */
#include "common/err.h"

static const char *const err_names[ERR__COUNT] = {
	[ERR_OK] = "ok",
	[ERR_NOMEM] = "out of memory",
	[ERR_INVAL] = "invalid argument",
	[ERR_TOOBIG] = "too big",
	[ERR_NOTFOUND] = "not found",
	[ERR_EXISTS] = "already exists",
	[ERR_IO] = "i/o error",
	[ERR_STORE] = "store error",
	[ERR_MAPFULL] = "store full",
	[ERR_CORRUPT] = "corrupt data",
	[ERR_PARSE] = "parse error",
	[ERR_AGAIN] = "try again",
	[ERR_PERM] = "permission denied",
	[ERR_AUTH] = "not authenticated",
	[ERR_UPSTREAM] = "upstream error",
	[ERR_TIMEOUT] = "timed out",
	[ERR_CONFLICT] = "conflict",
	[ERR_GONE] = "gone",
	[ERR_BUSY] = "busy",
	[ERR_HASH] = "hash mismatch",
};

const char *err_str(int rc)
{
	if (rc < 0 || rc >= ERR__COUNT || !err_names[rc])
		return "unknown error";
	return err_names[rc];
}
