/* test_sro.c — stage resolution order (inherit/sro.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "inherit/sro.h"

/* A fake index table.  The lookup hands out base names from ONE scratch
 * area that it poisons and rewrites on every call, so any name sro_compute
 * kept without copying would show up as garbage. */
#define MAXB 8
struct fake_stage {
	const char *name;
	bool mirror;
	const char *bases[MAXB];   /* NULL-terminated list */
};

struct fake_db {
	const struct fake_stage *stages;
	size_t n;
	const char *fail_on;       /* lookup of this name returns ERR_STORE */
	char scratch[MAXB][64];
	const char *ptrs[MAXB];
	char seen_names[64][64];   /* every name looked up, in order */
	size_t nlookups;
};

static int fake_lookup(void *arg, const char *name, struct sro_stage *out)
{
	struct fake_db *db = arg;
	assert_false(out->mirror);          /* zeroed by the caller */
	assert_null(out->bases);
	assert_int_equal(out->nbases, 0);
	if (db->nlookups < 64)
		snprintf(db->seen_names[db->nlookups], 64, "%s", name);
	db->nlookups++;
	memset(db->scratch, 'X', sizeof db->scratch);
	if (db->fail_on && strcmp(name, db->fail_on) == 0)
		return ERR_STORE;
	for (size_t i = 0; i < db->n; i++) {
		if (strcmp(db->stages[i].name, name) != 0)
			continue;
		size_t nb = 0;
		for (; nb < MAXB && db->stages[i].bases[nb]; nb++) {
			if (strcmp(db->stages[i].bases[nb], "<null>") == 0) {
				db->ptrs[nb] = NULL;
				continue;
			}
			snprintf(db->scratch[nb], sizeof db->scratch[nb], "%s", db->stages[i].bases[nb]);
			db->ptrs[nb] = db->scratch[nb];
		}
		out->mirror = db->stages[i].mirror;
		out->bases = db->ptrs;
		out->nbases = nb;
		return ERR_OK;
	}
	return ERR_NOTFOUND;
}

/* Runs sro_compute and compares with the expected names; a '*' prefix in
 * `want` marks a mirror. */
static void expect_sro(const struct fake_stage *st, size_t nst, const char *start,
		       const char *const *want, size_t nwant)
{
	struct fake_db db;
	memset(&db, 0, sizeof db);
	db.stages = st;
	db.n = nst;
	char **names = NULL;
	bool *mirror = NULL;
	size_t n = 0;
	int rc = sro_compute(start, fake_lookup, &db, 100, &names, &mirror, &n);
	assert_int_equal(rc, ERR_OK);
	if (n != nwant) {
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "  got[%zu] = %s\n", i, names[i]);
		fail_msg("sro(%s): %zu stages, want %zu", start, n, nwant);
	}
	for (size_t i = 0; i < n; i++) {
		bool want_mirror = want[i][0] == '*';
		const char *wname = want[i] + want_mirror;
		if (strcmp(names[i], wname) != 0 || mirror[i] != want_mirror)
			fail_msg("sro(%s)[%zu] = %s%s, want %s", start, i,
				 mirror[i] ? "*" : "", names[i], want[i]);
	}
	/* each distinct name is looked up at most once */
	for (size_t i = 0; i < db.nlookups && i < 64; i++)
		for (size_t j = i + 1; j < db.nlookups && j < 64; j++)
			if (strcmp(db.seen_names[i], db.seen_names[j]) == 0)
				fail_msg("sro(%s): '%s' looked up twice", start, db.seen_names[i]);
	sro_free(names, mirror, n);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_chain(void **state)
{
	static const struct fake_stage st[] = {
		{ "alice/dev", false, { "team/prod" } },
		{ "team/prod", false, { "team/base" } },
		{ "team/base", false, { "root/pypi" } },
		{ "root/pypi", true, { NULL } },
	};
	static const char *const want[] = { "alice/dev", "team/prod", "team/base", "*root/pypi" };
	expect_sro(st, N(st), "alice/dev", want, N(want));
	static const char *const want2[] = { "team/base", "*root/pypi" };
	expect_sro(st, N(st), "team/base", want2, N(want2));
}

static void test_api_example(void **state)
{
	/* API.md 5.3: c bases [a, b], a and b bases [root/pypi] */
	static const struct fake_stage st[] = {
		{ "u/c", false, { "u/a", "u/b" } },
		{ "u/a", false, { "root/pypi" } },
		{ "u/b", false, { "root/pypi" } },
		{ "root/pypi", true, { NULL } },
	};
	static const char *const want[] = { "u/c", "u/a", "u/b", "*root/pypi" };
	expect_sro(st, N(st), "u/c", want, N(want));
}

static void test_diamond_visited_once(void **state)
{
	static const struct fake_stage st[] = {
		{ "u/d", false, { "u/b", "u/c" } },
		{ "u/b", false, { "u/a" } },
		{ "u/c", false, { "u/a" } },
		{ "u/a", false, { "root/pypi" } },
		{ "root/pypi", true, { NULL } },
	};
	static const char *const want[] = { "u/d", "u/b", "u/c", "u/a", "*root/pypi" };
	expect_sro(st, N(st), "u/d", want, N(want));
}

static void test_breadth_first(void **state)
{
	/* level order, not depth order: b's base x comes after c */
	static const struct fake_stage st[] = {
		{ "u/a", false, { "u/b", "u/c" } },
		{ "u/b", false, { "u/x" } },
		{ "u/c", false, { "u/y" } },
		{ "u/x", false, { NULL } },
		{ "u/y", false, { NULL } },
	};
	static const char *const want[] = { "u/a", "u/b", "u/c", "u/x", "u/y" };
	expect_sro(st, N(st), "u/a", want, N(want));
}

static void test_cycles_terminate(void **state)
{
	static const struct fake_stage st[] = {
		{ "u/a", false, { "u/b" } },
		{ "u/b", false, { "u/a" } },
		{ "u/self", false, { "u/self", "u/self" } },
		{ "u/p", false, { "u/q", "root/pypi" } },
		{ "u/q", false, { "u/r" } },
		{ "u/r", false, { "u/p", "u/q", "root/pypi" } },
		{ "root/pypi", true, { NULL } },
	};
	static const char *const want[] = { "u/a", "u/b" };
	expect_sro(st, N(st), "u/a", want, N(want));
	static const char *const want2[] = { "u/b", "u/a" };
	expect_sro(st, N(st), "u/b", want2, N(want2));
	static const char *const want3[] = { "u/self" };
	expect_sro(st, N(st), "u/self", want3, N(want3));
	static const char *const want4[] = { "u/p", "u/q", "u/r", "*root/pypi" };
	expect_sro(st, N(st), "u/p", want4, N(want4));
}

static void test_mirrors_last_in_discovery_order(void **state)
{
	static const struct fake_stage st[] = {
		{ "u/s", false, { "m/one", "u/p1", "m/two" } },
		{ "u/p1", false, { "m/three", "m/one", "u/p2" } },
		{ "u/p2", false, { "m/four" } },
		{ "m/one", true, { NULL } },
		{ "m/two", true, { NULL } },
		{ "m/three", true, { NULL } },
		{ "m/four", true, { "u/hidden" } },   /* a mirror's bases are not walked */
		{ "u/hidden", false, { NULL } },
	};
	static const char *const want[] = {
		"u/s", "u/p1", "u/p2", "*m/one", "*m/two", "*m/three", "*m/four",
	};
	expect_sro(st, N(st), "u/s", want, N(want));
}

static void test_start_is_mirror(void **state)
{
	static const struct fake_stage st[] = {
		{ "root/pypi", true, { "u/x" } },
		{ "u/x", false, { NULL } },
	};
	/* the start is always first, and its bases are walked */
	static const char *const want[] = { "*root/pypi", "u/x" };
	expect_sro(st, N(st), "root/pypi", want, N(want));
}

static void test_missing_bases_skipped(void **state)
{
	static const struct fake_stage st[] = {
		{ "u/a", false, { "u/ghost", "u/b", "u/ghost", "<null>", "u/c" } },
		{ "u/b", false, { "u/ghost", "m/gone" } },
		{ "u/c", false, { NULL } },
	};
	static const char *const want[] = { "u/a", "u/b", "u/c" };
	/* expect_sro also checks u/ghost is looked up only once */
	expect_sro(st, N(st), "u/a", want, N(want));
}

static void test_start_missing_and_errors(void **state)
{
	static const struct fake_stage st[] = {
		{ "u/a", false, { "u/b" } },
		{ "u/b", false, { "u/boom" } },
	};
	struct fake_db db;
	memset(&db, 0, sizeof db);
	db.stages = st;
	db.n = N(st);
	char **names = (char **)1;
	bool *mirror = (bool *)1;
	size_t n = 99;

	assert_int_equal(sro_compute("u/none", fake_lookup, &db, 10, &names, &mirror, &n), ERR_NOTFOUND);
	assert_null(names);
	assert_null(mirror);
	assert_int_equal(n, 0);

	db.fail_on = "u/boom";
	assert_int_equal(sro_compute("u/a", fake_lookup, &db, 10, &names, &mirror, &n), ERR_STORE);
	assert_null(names);
	assert_int_equal(n, 0);

	db.fail_on = "u/a";
	assert_int_equal(sro_compute("u/a", fake_lookup, &db, 10, &names, &mirror, &n), ERR_STORE);
}

static void test_max_stages(void **state)
{
	static const struct fake_stage st[] = {
		{ "u/1", false, { "u/2", "m/x" } },
		{ "u/2", false, { "u/3" } },
		{ "u/3", false, { "u/4" } },
		{ "u/4", false, { NULL } },
		{ "m/x", true, { NULL } },
	};
	struct fake_db db;
	memset(&db, 0, sizeof db);
	db.stages = st;
	db.n = N(st);
	char **names = NULL;
	bool *mirror = NULL;
	size_t n = 0;

	assert_int_equal(sro_compute("u/1", fake_lookup, &db, 5, &names, &mirror, &n), ERR_OK);
	assert_int_equal(n, 5);
	assert_string_equal(names[4], "m/x");
	assert_true(mirror[4]);
	sro_free(names, mirror, n);

	/* mirrors count too */
	assert_int_equal(sro_compute("u/1", fake_lookup, &db, 4, &names, &mirror, &n), ERR_TOOBIG);
	assert_null(names);
	assert_null(mirror);
	assert_int_equal(n, 0);
	assert_int_equal(sro_compute("u/1", fake_lookup, &db, 1, &names, &mirror, &n), ERR_TOOBIG);
	assert_int_equal(sro_compute("u/4", fake_lookup, &db, 1, &names, &mirror, &n), ERR_OK);
	assert_int_equal(n, 1);
	sro_free(names, mirror, n);
	assert_int_equal(sro_compute("u/4", fake_lookup, &db, 0, &names, &mirror, &n), ERR_TOOBIG);
	/* not found wins over the bound */
	assert_int_equal(sro_compute("u/none", fake_lookup, &db, 0, &names, &mirror, &n), ERR_NOTFOUND);
	sro_free(NULL, NULL, 0);
}

/* A generated world: stage i has bases i+1 .. i+fan (mod count), names long. */
struct gen_db {
	size_t count, fan;
	char buf[16][300];
	const char *ptrs[16];
	size_t lookups;
};

static void gen_name(char *out, size_t cap, size_t i)
{
	char pad[201];
	memset(pad, 'x', 200);
	pad[200] = '\0';
	snprintf(out, cap, "user%zu/%s%zu", i, pad, i);
}

static int gen_lookup(void *arg, const char *name, struct sro_stage *out)
{
	struct gen_db *g = arg;
	size_t i;
	g->lookups++;
	if (sscanf(name, "user%zu/", &i) != 1 || i >= g->count)
		return ERR_NOTFOUND;
	for (size_t k = 0; k < g->fan; k++) {
		gen_name(g->buf[k], sizeof g->buf[k], (i + 1 + k) % g->count);
		g->ptrs[k] = g->buf[k];
	}
	out->bases = g->ptrs;
	out->nbases = g->fan;
	out->mirror = (i % 7) == 6;
	return ERR_OK;
}

static void test_large_graph(void **state)
{
	struct gen_db g;
	memset(&g, 0, sizeof g);
	g.count = 3000;
	g.fan = 5;
	char start[300];
	gen_name(start, sizeof start, 0);
	char **names = NULL;
	bool *mirror = NULL;
	size_t n = 0;
	assert_int_equal(sro_compute(start, gen_lookup, &g, 5000, &names, &mirror, &n), ERR_OK);
	/* every stage reachable (the walk continues past mirrors through the
	 * other bases), each exactly once, each looked up once */
	assert_int_equal(n, 3000);
	assert_int_equal(g.lookups, 3000);
	assert_string_equal(names[0], start);
	size_t first_mirror = n;
	for (size_t i = 0; i < n; i++) {
		if (mirror[i] && first_mirror == n && i > 0)
			first_mirror = i;
		if (i > 0 && i > first_mirror)
			assert_true(mirror[i]);   /* mirrors form the tail */
	}
	assert_int_equal(n - first_mirror, 3000 / 7);
	sro_free(names, mirror, n);

	memset(&g, 0, sizeof g);
	g.count = 3000;
	g.fan = 5;
	assert_int_equal(sro_compute(start, gen_lookup, &g, 2999, &names, &mirror, &n), ERR_TOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_api_example),
		cmocka_unit_test(test_diamond_visited_once),
		cmocka_unit_test(test_breadth_first),
		cmocka_unit_test(test_cycles_terminate),
		cmocka_unit_test(test_mirrors_last_in_discovery_order),
		cmocka_unit_test(test_start_is_mirror),
		cmocka_unit_test(test_missing_bases_skipped),
		cmocka_unit_test(test_start_missing_and_errors),
		cmocka_unit_test(test_max_stages),
		cmocka_unit_test(test_large_graph),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
