/* name.h — project-name normalization and the validation of user, index,
 * project, version and file names (API.md 0.5 and 6.6).
 *
 * Every function takes borrowed (ptr, len) input: the bytes need not be
 * NUL-terminated and may contain NULs (which every check rejects and
 * normalization turns into '-').  Nothing here allocates except
 * name_normalize_dup(), and nothing keeps a pointer past the call.
 */
#ifndef INHERIT_NAME_H
#define INHERIT_NAME_H

#include <stddef.h>

#define NAME_USER_INDEX_MAX 64   /* bytes, user and index names */
#define NAME_PROJECT_MAX 200     /* bytes */
#define NAME_VERSION_MAX 128     /* bytes */
#define NAME_FILENAME_MAX 255    /* bytes */

/* devpi's normalize_name: every run of bytes outside [A-Za-z0-9] becomes
 * one '-', ASCII letters are lower-cased ("Hello_World" -> "hello-world",
 * "--x--" -> "-x-", "a..b" -> "a-b"; each run of non-ASCII bytes also
 * becomes one '-').  The result is never longer than n.  Writes it
 * NUL-terminated to out; ERR_TOOBIG if it does not fit in outcap bytes
 * (then out holds "" when outcap > 0).  ERR_OK otherwise. */
int name_normalize(const char *s, size_t n, char *out, size_t outcap);

/* Same as name_normalize into a new string; never NULL (aborts on OOM).
 * The caller frees it with xfree(). */
char *name_normalize_dup(const char *s, size_t n);

/* 1 if name_normalize(s) == s (so "" is normalized), else 0. */
int name_is_normalized(const char *s, size_t n);

/* 1 if s is well-formed UTF-8 (no overlongs, no surrogates, nothing above
 * U+10FFFF; NUL bytes count as valid here), else 0. */
int name_utf8_valid(const char *s, size_t n);

/* User or index name: non-empty, at most 64 bytes, valid UTF-8, no ASCII
 * control character (0x00-0x1f, 0x7f), no space, none of
 * ! " # $ % & ' ( ) * + , / : ; < = > ? [ \ ] ^ ` { | } ~
 * and not "." or "..".  Letters, digits, "-.@_" and non-ASCII pass.
 * ERR_OK or ERR_INVAL. */
int name_check_user_index(const char *s, size_t n);

/* Project name as registered: [A-Za-z0-9._-]+, first and last byte
 * alphanumeric, at most 200 bytes.  ERR_OK or ERR_INVAL. */
int name_check_project(const char *s, size_t n);

/* Version string as given by a client: non-empty, at most 128 bytes,
 * printable ASCII without space (0x21-0x7e), none of / \ < > % # ",
 * not "." or "..".  It need not be PEP 440 (see inherit/version.h).
 * ERR_OK or ERR_INVAL. */
int name_check_version(const char *s, size_t n);

/* Stored file name (the basename in +f paths and links): non-empty, at most
 * 255 bytes, valid UTF-8, no '/' or '\', no control character or NUL, not
 * starting with '.' (so never "." or "..").  ERR_OK or ERR_INVAL.
 * (UTF-8 validity is devpi-like's addition: file names go into JSON.) */
int name_check_filename(const char *s, size_t n);

#endif
