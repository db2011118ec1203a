/* sro.c — stage resolution order (see sro.h and API.md 5.3).
 *
 * devpi's algorithm is a breadth-first walk with mirrors set aside; this
 * version marks a stage as seen when it is first discovered rather than
 * when it is yielded, which is what makes each stage appear once even in
 * a diamond.  The private-stage array doubles as the BFS queue (stages are
 * yielded in the order they are queued), so the walk is one loop over a
 * growing array.  Every name that outlives a lookup call is copied first:
 * the lookup's answer is only borrowed until its next call, and the copies
 * are what the seen-set (a borrowing strset) points into.
 */
#include "inherit/sro.h"

#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strset.h"

struct sro_ent {
	char *name;     /* owned */
	bool mirror;
	char **bases;   /* owned copies; NULL for deferred mirrors */
	size_t nbases;
};

struct sro_walk {
	sro_lookup_fn lookup;
	void *arg;
	size_t max_stages;
	struct sro_ent *priv;   /* BFS queue == output order */
	size_t npriv, cappriv;
	struct sro_ent *mir;    /* deferred mirrors, discovery order */
	size_t nmir, capmir;
	char **missing;         /* names looked up and not found (owned) */
	size_t nmissing, capmissing;
	struct strset seen;     /* borrows names from priv, mir, missing */
};

static void sro_ent_release(struct sro_ent *e)
{
	for (size_t i = 0; i < e->nbases; i++)
		xfree(e->bases[i]);
	xfree(e->bases);
	xfree(e->name);
}

static void *sro_grow(void *p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 8;
	return xrealloc(p, *cap * elem);
}

/* Looks `name` up unless already seen and files it as private, mirror or
 * missing.  ERR_NOTFOUND only for the start stage. */
static int sro_visit(struct sro_walk *w, const char *name, bool is_start)
{
	struct sro_stage st;
	size_t len = strlen(name);
	int rc;

	if (strset_has(&w->seen, name, len))
		return ERR_OK;
	memset(&st, 0, sizeof st);
	rc = w->lookup(w->arg, name, &st);
	if (rc == ERR_NOTFOUND) {
		if (is_start)
			return ERR_NOTFOUND;
		w->missing = sro_grow(w->missing, &w->capmissing, w->nmissing, sizeof *w->missing);
		char *copy = xstrndup(name, len);
		w->missing[w->nmissing++] = copy;
		strset_add(&w->seen, copy, len);
		return ERR_OK;
	}
	if (rc != ERR_OK)
		return rc;
	if (w->npriv + w->nmir >= w->max_stages)
		return ERR_TOOBIG;

	struct sro_ent e = { xstrndup(name, len), st.mirror, NULL, 0 };
	if (st.mirror && !is_start) {
		w->mir = sro_grow(w->mir, &w->capmir, w->nmir, sizeof *w->mir);
		w->mir[w->nmir++] = e;
	} else {
		if (st.nbases > 0) {
			e.bases = xcalloc(st.nbases, sizeof *e.bases);
			for (size_t i = 0; i < st.nbases; i++)
				if (st.bases[i])
					e.bases[e.nbases++] = xstrdup(st.bases[i]);
		}
		w->priv = sro_grow(w->priv, &w->cappriv, w->npriv, sizeof *w->priv);
		w->priv[w->npriv++] = e;
	}
	strset_add(&w->seen, e.name, len);
	return ERR_OK;
}

int sro_compute(const char *start, sro_lookup_fn lookup, void *arg, size_t max_stages,
		char ***names_out, bool **mirror_out, size_t *n_out)
{
	struct sro_walk w;
	char **names = NULL;
	bool *mirror = NULL;
	size_t n = 0;
	int rc;

	memset(&w, 0, sizeof w);
	w.lookup = lookup;
	w.arg = arg;
	w.max_stages = max_stages;
	strset_init(&w.seen, 16);

	if ((rc = sro_visit(&w, start, true)) != ERR_OK)
		goto fail;
	/* w.priv grows while we walk it: index, never hold a pointer */
	for (size_t i = 0; i < w.npriv; i++)
		for (size_t j = 0; j < w.priv[i].nbases; j++)
			if ((rc = sro_visit(&w, w.priv[i].bases[j], false)) != ERR_OK)
				goto fail;

	n = w.npriv + w.nmir;
	names = xmalloc(n * sizeof *names);
	mirror = xmalloc(n * sizeof *mirror);
	for (size_t i = 0; i < w.npriv; i++) {
		names[i] = w.priv[i].name;
		mirror[i] = w.priv[i].mirror;
		w.priv[i].name = NULL;
	}
	for (size_t i = 0; i < w.nmir; i++) {
		names[w.npriv + i] = w.mir[i].name;
		mirror[w.npriv + i] = true;
		w.mir[i].name = NULL;
	}
	rc = ERR_OK;
fail:
	for (size_t i = 0; i < w.npriv; i++)
		sro_ent_release(&w.priv[i]);
	for (size_t i = 0; i < w.nmir; i++)
		sro_ent_release(&w.mir[i]);
	for (size_t i = 0; i < w.nmissing; i++)
		xfree(w.missing[i]);
	xfree(w.priv);
	xfree(w.mir);
	xfree(w.missing);
	strset_release(&w.seen);
	*names_out = names;
	*mirror_out = mirror;
	*n_out = n;
	return rc;
}

void sro_free(char **names, bool *mirror, size_t n)
{
	if (names)
		for (size_t i = 0; i < n; i++)
			xfree(names[i]);
	xfree(names);
	xfree(mirror);
}
