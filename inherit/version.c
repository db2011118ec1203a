/* version.c — PEP 440 parsing and ordering.
 *
 * Versions decide which release pages list first, what "latest" means and
 * which upload shadows which, so the parser follows the reference regular
 * expression of the `packaging` library (VERSION_PATTERN) rule for rule
 * instead of approximating it.  It is hand-written rather than a regex: one
 * left-to-right pass with a cursor, each optional part tried and rolled back
 * by restoring the cursor.  Every optional separator in the reference
 * pattern is followed either by a keyword or by optional digits, so greedy
 * matching with rollback accepts exactly the same language.
 *
 * Numbers are bounded (< 10^18) so they fit uint64_t; the comparison is the
 * `packaging` sort key (_cmpkey) spelled out field by field.
 */
#include "inherit/version.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

struct vcur {
	const char *s;
	size_t n;
	size_t i;
};

static int vcur_at(const struct vcur *c, size_t k)
{
	return c->i + k < c->n ? (unsigned char)c->s[c->i + k] : -1;
}

static bool v_isdigit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool v_isalnum(int ch)
{
	return v_isdigit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool v_issep(int ch)
{
	return ch == '-' || ch == '_' || ch == '.';
}

/* Python's \s restricted to ASCII: space, \t \n \v \f \r and \x1c-\x1f. */
static bool v_isspace(int ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

static int v_lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

/* Consumes [0-9]+ (the caller has checked the first is a digit) into *out.
 * ERR_PARSE when the value has more than 18 significant digits. */
static int vcur_number(struct vcur *c, uint64_t *out)
{
	uint64_t v = 0;
	int sig = 0;
	while (v_isdigit(vcur_at(c, 0))) {
		int d = vcur_at(c, 0) - '0';
		if (sig > 0 || d != 0) {
			if (++sig > 18)
				return ERR_PARSE;
			v = v * 10 + (uint64_t)d;
		}
		c->i++;
	}
	*out = v;
	return ERR_OK;
}

/* If the input continues with kw (case-insensitive), consumes it. */
static bool vcur_keyword(struct vcur *c, const char *kw)
{
	size_t k = strlen(kw);
	if (c->n - c->i < k)
		return false;
	for (size_t j = 0; j < k; j++)
		if (v_lower((unsigned char)c->s[c->i + j]) != kw[j])
			return false;
	c->i += k;
	return true;
}

static void vcur_opt_sep(struct vcur *c)
{
	if (v_issep(vcur_at(c, 0)))
		c->i++;
}

/* "[-_.]? (digits)?" after a keyword; missing number = 0. */
static int vcur_opt_number(struct vcur *c, uint64_t *out)
{
	vcur_opt_sep(c);
	*out = 0;
	if (v_isdigit(vcur_at(c, 0)))
		return vcur_number(c, out);
	return ERR_OK;
}

static int v_parse_pre(struct vcur *c, struct pep440 *v)
{
	/* longest spelling first within each family (alpha/a, beta/b,
	 * preview/pre); equivalent to the reference alternation because
	 * no shorter match could be continued where the longer one failed */
	static const struct { const char *kw; enum pep440_pre kind; } pre[] = {
		{ "alpha", PEP440_PRE_A }, { "a", PEP440_PRE_A },
		{ "beta", PEP440_PRE_B }, { "b", PEP440_PRE_B },
		{ "preview", PEP440_PRE_RC }, { "pre", PEP440_PRE_RC },
		{ "rc", PEP440_PRE_RC }, { "c", PEP440_PRE_RC },
	};
	size_t save = c->i;
	vcur_opt_sep(c);
	for (size_t k = 0; k < sizeof pre / sizeof pre[0]; k++) {
		if (vcur_keyword(c, pre[k].kw)) {
			v->pre = pre[k].kind;
			return vcur_opt_number(c, &v->pre_n);
		}
	}
	c->i = save;
	return ERR_OK;
}

static int v_parse_post(struct vcur *c, struct pep440 *v)
{
	static const char *const post[] = { "post", "rev", "r" };
	if (vcur_at(c, 0) == '-' && v_isdigit(vcur_at(c, 1))) {
		/* implicit post release: "1.0-1" */
		c->i++;
		v->has_post = true;
		return vcur_number(c, &v->post);
	}
	size_t save = c->i;
	vcur_opt_sep(c);
	for (size_t k = 0; k < sizeof post / sizeof post[0]; k++) {
		if (vcur_keyword(c, post[k])) {
			v->has_post = true;
			return vcur_opt_number(c, &v->post);
		}
	}
	c->i = save;
	return ERR_OK;
}

static int v_parse_dev(struct vcur *c, struct pep440 *v)
{
	size_t save = c->i;
	vcur_opt_sep(c);
	if (vcur_keyword(c, "dev")) {
		v->has_dev = true;
		return vcur_opt_number(c, &v->dev);
	}
	c->i = save;
	return ERR_OK;
}

/* "+" [a-z0-9]+ ([-_.][a-z0-9]+)* ; the '+' is consumed by the caller. */
static int v_parse_local(struct vcur *c, struct pep440 *v)
{
	size_t o = 0;
	for (;;) {
		if (!v_isalnum(vcur_at(c, 0)))
			return ERR_PARSE;
		size_t start = c->i;
		bool numeric = true;
		while (v_isalnum(vcur_at(c, 0))) {
			if (!v_isdigit(vcur_at(c, 0)))
				numeric = false;
			c->i++;
		}
		if (numeric) {
			/* canonical form drops leading zeros (int(part)) */
			while (start + 1 < c->i && c->s[start] == '0')
				start++;
		}
		size_t len = c->i - start;
		if (o + (o > 0) + len > PEP440_MAX_LOCAL)
			return ERR_PARSE;
		if (o > 0)
			v->local[o++] = '.';
		for (size_t j = 0; j < len; j++)
			v->local[o++] = (char)v_lower((unsigned char)c->s[start + j]);
		v->local[o] = '\0';
		if (v_issep(vcur_at(c, 0)) && v_isalnum(vcur_at(c, 1)))
			c->i++;
		else
			return ERR_OK;
	}
}

int pep440_parse(const char *s, size_t n, struct pep440 *out)
{
	struct vcur c = { s, n, 0 };
	struct pep440 *v = out;
	uint64_t x;
	int rc;

	memset(v, 0, sizeof *v);
	while (v_isspace(vcur_at(&c, 0)))
		c.i++;
	if (vcur_at(&c, 0) == 'v' || vcur_at(&c, 0) == 'V')
		c.i++;
	if (!v_isdigit(vcur_at(&c, 0)))
		return ERR_PARSE;
	if ((rc = vcur_number(&c, &x)) != ERR_OK)
		return rc;
	if (vcur_at(&c, 0) == '!') {
		v->epoch = x;
		c.i++;
		if (!v_isdigit(vcur_at(&c, 0)))
			return ERR_PARSE;
		if ((rc = vcur_number(&c, &x)) != ERR_OK)
			return rc;
	}
	v->release[0] = x;
	v->nrelease = 1;
	while (vcur_at(&c, 0) == '.' && v_isdigit(vcur_at(&c, 1))) {
		if (v->nrelease == PEP440_MAX_RELEASE)
			return ERR_PARSE;
		c.i++;
		if ((rc = vcur_number(&c, &v->release[v->nrelease])) != ERR_OK)
			return rc;
		v->nrelease++;
	}
	if ((rc = v_parse_pre(&c, v)) != ERR_OK)
		return rc;
	if ((rc = v_parse_post(&c, v)) != ERR_OK)
		return rc;
	if ((rc = v_parse_dev(&c, v)) != ERR_OK)
		return rc;
	if (vcur_at(&c, 0) == '+') {
		c.i++;
		if ((rc = v_parse_local(&c, v)) != ERR_OK)
			return rc;
	}
	while (v_isspace(vcur_at(&c, 0)))
		c.i++;
	return c.i == c.n ? ERR_OK : ERR_PARSE;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_int(int a, int b)
{
	return a < b ? -1 : a > b;
}

/* The pre-release part of packaging's sort key, as a rank and a number:
 * a dev release of a final version (1.0.dev0) sorts before every pre
 * release, a final or post release after them. */
static int v_pre_rank(const struct pep440 *v)
{
	if (v->pre == PEP440_PRE_NONE)
		return (!v->has_post && v->has_dev) ? 0 : 10;
	return 1 + (int)v->pre;
}

static size_t v_seglen(const char *s)
{
	size_t k = 0;
	while (s[k] && s[k] != '.')
		k++;
	return k;
}

static bool v_all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!v_isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int v_cmp_local(const char *a, const char *b)
{
	/* no local label sorts before any local label */
	if (!*a || !*b)
		return cmp_int(*a != '\0', *b != '\0');
	for (;;) {
		size_t la = v_seglen(a), lb = v_seglen(b);
		bool na = v_all_digits(a, la), nb = v_all_digits(b, lb);
		int r;
		if (na != nb) {
			r = na ? 1 : -1;          /* numbers above strings */
		} else if (na) {
			/* no leading zeros (normalized): longer is larger */
			r = la != lb ? cmp_u64(la, lb) : memcmp(a, b, la);
		} else {
			r = memcmp(a, b, la < lb ? la : lb);
			if (r == 0)
				r = cmp_u64(la, lb);
		}
		if (r != 0)
			return r < 0 ? -1 : 1;
		a += la;
		b += lb;
		if (!*a || !*b)
			return cmp_int(*a != '\0', *b != '\0');
		a++;
		b++;
	}
}

int pep440_cmp(const struct pep440 *a, const struct pep440 *b)
{
	int r;
	if ((r = cmp_u64(a->epoch, b->epoch)) != 0)
		return r;
	size_t nr = a->nrelease > b->nrelease ? a->nrelease : b->nrelease;
	for (size_t i = 0; i < nr; i++) {
		uint64_t x = i < a->nrelease ? a->release[i] : 0;
		uint64_t y = i < b->nrelease ? b->release[i] : 0;
		if ((r = cmp_u64(x, y)) != 0)
			return r;
	}
	if ((r = cmp_int(v_pre_rank(a), v_pre_rank(b))) != 0)
		return r;
	if (a->pre != PEP440_PRE_NONE && (r = cmp_u64(a->pre_n, b->pre_n)) != 0)
		return r;
	/* no post release sorts before post0 */
	if ((r = cmp_int(a->has_post, b->has_post)) != 0)
		return r;
	if (a->has_post && (r = cmp_u64(a->post, b->post)) != 0)
		return r;
	/* no dev release sorts after every dev release */
	if ((r = cmp_int(!a->has_dev, !b->has_dev)) != 0)
		return r;
	if (a->has_dev && (r = cmp_u64(a->dev, b->dev)) != 0)
		return r;
	return v_cmp_local(a->local, b->local);
}

int pep440_is_prerelease(const struct pep440 *v)
{
	return v->pre != PEP440_PRE_NONE || v->has_dev;
}

int pep440_format(const struct pep440 *v, char *out, size_t outcap)
{
	static const char *const pre[] = { "", "a", "b", "rc" };
	size_t o = 0;
	int k;

#define V_PUT(...)                                                          \
	do {                                                                \
		k = snprintf(out + o, o < outcap ? outcap - o : 0, __VA_ARGS__); \
		if (k < 0 || (size_t)k >= (o < outcap ? outcap - o : 0))    \
			goto toobig;                                        \
		o += (size_t)k;                                             \
	} while (0)

	if (v->epoch)
		V_PUT("%llu!", (unsigned long long)v->epoch);
	for (size_t i = 0; i < v->nrelease; i++)
		V_PUT("%s%llu", i ? "." : "", (unsigned long long)v->release[i]);
	if (v->pre != PEP440_PRE_NONE)
		V_PUT("%s%llu", pre[v->pre], (unsigned long long)v->pre_n);
	if (v->has_post)
		V_PUT(".post%llu", (unsigned long long)v->post);
	if (v->has_dev)
		V_PUT(".dev%llu", (unsigned long long)v->dev);
	if (v->local[0])
		V_PUT("+%s", v->local);
	return ERR_OK;
#undef V_PUT
toobig:
	if (outcap > 0)
		out[0] = '\0';
	return ERR_TOOBIG;
}

int version_cmp(const char *a, const char *b)
{
	struct pep440 va, vb;
	bool oka = pep440_parse(a, strlen(a), &va) == ERR_OK;
	bool okb = pep440_parse(b, strlen(b), &vb) == ERR_OK;
	if (oka && okb)
		return pep440_cmp(&va, &vb);
	if (oka != okb)
		return oka ? 1 : -1;
	int r = strcmp(a, b);
	return r < 0 ? -1 : r > 0;
}

int version_cmp_total(const char *a, const char *b)
{
	int r = version_cmp(a, b);
	if (r != 0)
		return r;
	r = strcmp(a, b);
	return r < 0 ? -1 : r > 0;
}
