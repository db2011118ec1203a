/* version.h — PEP 440 versions: parsing, ordering, canonical form.
 *
 * pep440_parse accepts exactly what the `packaging` library accepts
 * (packaging.version.VERSION_PATTERN, case-insensitive, surrounding
 * whitespace allowed), with these bounds:
 *   - at most PEP440_MAX_RELEASE release segments (more: ERR_PARSE);
 *   - every number (epoch, release segment, pre/post/dev number) must be
 *     below 10^18, counted after stripping leading zeros ("0000001" is
 *     fine; 19 significant digits: ERR_PARSE), so it fits a uint64_t;
 *   - the normalized local label ("+...") is at most PEP440_MAX_LOCAL bytes
 *     (its numeric segments are kept as digit strings, so they have no
 *     numeric bound of their own).
 * Spelling variants are normalized while parsing: "alpha"->a, "beta"->b,
 * "c"/"pre"/"preview"->rc, "rev"/"r"->post, "1.0-1" is 1.0.post1, missing
 * numbers are 0 ("1.0a" = 1.0a0), a leading 'v' is dropped, and local
 * separators "-_." all become '.'.
 *
 * The struct is self-contained (no pointers): it can be copied, kept in an
 * array and compared long after the string it came from is gone.
 */
#ifndef INHERIT_VERSION_H
#define INHERIT_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEP440_MAX_RELEASE 16
#define PEP440_MAX_LOCAL 128     /* bytes of the normalized local label */
#define PEP440_MAX_NUMBER 999999999999999999ULL  /* 18 digits */

enum pep440_pre {
	PEP440_PRE_NONE = 0,
	PEP440_PRE_A,
	PEP440_PRE_B,
	PEP440_PRE_RC
};

struct pep440 {
	uint64_t epoch;
	uint64_t release[PEP440_MAX_RELEASE];
	size_t nrelease;            /* >= 1 */
	enum pep440_pre pre;        /* PEP440_PRE_NONE: no pre-release */
	uint64_t pre_n;
	bool has_post;
	uint64_t post;
	bool has_dev;
	uint64_t dev;
	/* local label, normalized: lower case, segments joined by '.',
	 * leading zeros of all-digit segments dropped; "" when there is none */
	char local[PEP440_MAX_LOCAL + 1];
};

/* Parses s[0..n) (need not be NUL-terminated) into *out.  ERR_OK, or
 * ERR_PARSE for anything packaging.version.Version would reject or that
 * exceeds the bounds above (*out is then unspecified). */
int pep440_parse(const char *s, size_t n, struct pep440 *out);

/* Full PEP 440 ordering: <0, 0, >0.  Epoch first; release with trailing
 * zeros ignored (1.0 == 1.0.0); then 1.0.dev1 < 1.0a1.dev1 < 1.0a1 <
 * 1.0a1.post1 < 1.0b1 < 1.0rc1 < 1.0 < 1.0.post1.dev1 < 1.0.post1 <
 * 1.0+local; local labels compare segment by segment, numeric segments
 * numerically and above alphanumeric ones, alphanumeric ones by bytes,
 * a shorter label that is a prefix of a longer one sorting first. */
int pep440_cmp(const struct pep440 *a, const struct pep440 *b);

/* 1 for pre-releases and dev releases (what pip skips by default). */
int pep440_is_prerelease(const struct pep440 *v);

/* Writes the canonical string (str(packaging.version.Version(...)), e.g.
 * "1!2.0rc1.post0.dev3+ubuntu.1") NUL-terminated into out.  ERR_OK, or
 * ERR_TOOBIG if it does not fit (out then holds "" when outcap > 0).
 * PEP440_FORMAT_MAX bytes always suffice. */
#define PEP440_FORMAT_MAX (20 * (PEP440_MAX_RELEASE + 5) + PEP440_MAX_LOCAL + 16)
int pep440_format(const struct pep440 *v, char *out, size_t outcap);

/* Compares two NUL-terminated version strings for sorting (ascending; negate
 * for "newest first").  Both valid PEP 440: pep440_cmp (so "1.0" and "1.0.0"
 * compare equal).  Invalid versions sort before every valid one, and among
 * themselves by strcmp.  Neither may be NULL. */
int version_cmp(const char *a, const char *b);

/* version_cmp, then strcmp to break ties between different spellings of
 * one version: a total order, so sorted output is deterministic. */
int version_cmp_total(const char *a, const char *b);

#endif
