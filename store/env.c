/* env.c — the LMDB environment and the transaction wrapper.
 *
 * One environment per server directory, opened with MDB_NOTLS because read
 * transactions are begun on several worker threads and a thread may hold
 * more than one; everything else keeps LMDB's defaults (full sync at every
 * commit: MDB_NOSYNC can corrupt the store on power loss).  Opening clears
 * stale reader slots (mdb_reader_check), creates the five named databases
 * and reads back the current serial and the highest blob id.
 *
 * A struct store_txn wraps an MDB_txn with what LMDB does not track: the kv
 * keys changed (for the changelog entry, kv.c), a sticky error (LMDB marks a
 * transaction unusable after most failures; we refuse further operations and
 * abort it at commit), and the bytes written (bounds a writer batch).
 *
 * Read transactions are recycled: on end they are mdb_txn_reset() and kept
 * in a small pool, and the next store_read_begin renews one, which skips the
 * reader-table mutex that mdb_txn_begin takes with MDB_NOTLS.  A reset
 * transaction holds its reader slot but pins no snapshot, so the pool is
 * capped well below max_readers.
 *
 * LMDB codes are translated to ERR_* here (store_mdb_rc) and logged with
 * mdb_strerror.  An I/O error on a commit stops all later writes: after a
 * failed fsync the kernel may have dropped the dirty pages, so a retry that
 * "succeeds" could acknowledge data that is not on disk.
 */
#include "store/store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#define STORE_MAXDBS 8
#define STORE_POOL_MAX 64

/* LMDB forbids opening one environment twice in a process (closing either
 * handle drops the other's fcntl locks), so open stores are listed here by
 * the directory's device and inode. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct store *reg_head;

static int registry_add(struct store *s)
{
	int rc = ERR_OK;
	pthread_mutex_lock(&reg_mu);
	for (struct store *p = reg_head; p; p = p->reg_next) {
		if (p->dev == s->dev && p->ino == s->ino) {
			rc = ERR_BUSY;
			break;
		}
	}
	if (rc == ERR_OK) {
		s->reg_next = reg_head;
		reg_head = s;
	}
	pthread_mutex_unlock(&reg_mu);
	return rc;
}

static void registry_remove(struct store *s)
{
	pthread_mutex_lock(&reg_mu);
	for (struct store **pp = &reg_head; *pp; pp = &(*pp)->reg_next) {
		if (*pp == s) {
			*pp = s->reg_next;
			break;
		}
	}
	pthread_mutex_unlock(&reg_mu);
}

int store_mdb_rc(int mrc, const char *what)
{
	switch (mrc) {
	case 0:
		return ERR_OK;
	case MDB_NOTFOUND:
		return ERR_NOTFOUND;
	case MDB_MAP_FULL:
	case ENOSPC:
		log_warn("store: %s failed: %s", what, mdb_strerror(mrc));
		return ERR_MAPFULL;
	case MDB_TXN_FULL:
		log_warn("store: %s failed: %s", what, mdb_strerror(mrc));
		return ERR_TOOBIG;
	case MDB_READERS_FULL:
		log_err("store: %s failed: %s", what, mdb_strerror(mrc));
		return ERR_BUSY;
	case ENOMEM:
		log_err("store: %s failed: %s", what, mdb_strerror(mrc));
		return ERR_NOMEM;
	case EIO:
		log_err("store: %s failed: %s", what, mdb_strerror(mrc));
		return ERR_IO;
	default:
		log_err("store: %s failed: %s (%d)", what, mdb_strerror(mrc), mrc);
		return ERR_STORE;
	}
}

int store_txn_fail(struct store_txn *t, int mrc, const char *what)
{
	int rc = store_mdb_rc(mrc, what);
	if (rc != ERR_OK && rc != ERR_NOTFOUND && !t->rdonly && !t->err)
		t->err = rc;
	return rc;
}

int store_txn_writable(struct store_txn *t)
{
	if (!t || t->rdonly || !t->txn)
		return ERR_INVAL;
	return t->err;
}

void store_serial_advance(struct store *s, int64_t v)
{
	int64_t cur = atomic_load(&s->serial);
	while (cur < v && !atomic_compare_exchange_weak(&s->serial, &cur, v))
		;
}

int64_t store_serial(struct store *s)
{
	return atomic_load(&s->serial);
}

const char *store_dir(struct store *s)
{
	return s->dir;
}

/* Creates the named databases, checks the format and reads the serial and
 * the highest blob id, in one write transaction. */
static int open_dbs(struct store *s)
{
	MDB_txn *txn = NULL;
	int rc, mrc;
	int64_t serial = -1;
	uint64_t maxid = 0;

	mrc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (mrc) {
		rc = store_mdb_rc(mrc, "begin open txn");
		goto fail;
	}
	static const char *const names[] = { "meta", "kv", "changelog", "blobs", "chunks" };
	MDB_dbi *dbis[] = { &s->db_meta, &s->db_kv, &s->db_changelog, &s->db_blobs, &s->db_chunks };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		mrc = mdb_dbi_open(txn, names[i], MDB_CREATE, dbis[i]);
		if (mrc) {
			rc = store_mdb_rc(mrc, names[i]);
			goto fail;
		}
	}

	MDB_val k = { strlen(STORE_META_FORMAT), (void *)STORE_META_FORMAT }, v;
	mrc = mdb_get(txn, s->db_meta, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		v.mv_size = strlen(STORE_FORMAT);
		v.mv_data = (void *)STORE_FORMAT;
		mrc = mdb_put(txn, s->db_meta, &k, &v, 0);
	} else if (mrc == 0 && (v.mv_size != strlen(STORE_FORMAT) ||
				memcmp(v.mv_data, STORE_FORMAT, v.mv_size) != 0)) {
		log_err("store: unknown store format '%.*s' in '%s'",
			(int)(v.mv_size > 32 ? 32 : v.mv_size), (const char *)v.mv_data, s->dir);
		rc = ERR_CORRUPT;
		goto fail;
	}
	if (mrc) {
		rc = store_mdb_rc(mrc, "store format");
		goto fail;
	}

	rc = store_meta_serial(s, txn, &serial);
	if (rc)
		goto fail;
	rc = store_blob_id_max(s, txn, &maxid);
	if (rc)
		goto fail;

	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc) {
		rc = store_mdb_rc(mrc, "commit open txn");
		goto fail;
	}
	atomic_store(&s->serial, serial);
	atomic_store(&s->next_blob_id, maxid + 1);
	return ERR_OK;
fail:
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

int store_open(const struct store_opts *o, struct store **out)
{
	struct store *s = NULL;
	struct stat st;
	int rc, mrc, registered = 0, dead = 0;

	*out = NULL;
	if (!o || !o->dir || !*o->dir)
		return ERR_INVAL;
	if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
		log_err("store: cannot create directory '%s': %s", o->dir, strerror(errno));
		return ERR_IO;
	}
	if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_err("store: '%s' is not a directory", o->dir);
		return ERR_IO;
	}

	s = xcalloc(1, sizeof *s);
	s->dir = xstrdup(o->dir);
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	atomic_init(&s->next_blob_id, 1);
	atomic_init(&s->serial, -1);
	atomic_init(&s->write_broken, 0);
	atomic_init(&s->stat_batches, 0);
	atomic_init(&s->stat_jobs, 0);
	pthread_mutex_init(&s->pool_mu, NULL);
	pthread_mutex_init(&s->wmu, NULL);
	pthread_cond_init(&s->wcv, NULL);

	rc = registry_add(s);
	if (rc) {
		log_err("store: '%s' is already open in this process", o->dir);
		goto fail;
	}
	registered = 1;

	unsigned readers = o->max_readers ? o->max_readers : STORE_MAX_READERS_DEFAULT;
	s->pool_max = readers / 8 < STORE_POOL_MAX ? readers / 8 : STORE_POOL_MAX;
	uint64_t map = o->map_size ? o->map_size : STORE_MAP_SIZE_DEFAULT;
	long pg = sysconf(_SC_PAGESIZE);
	if (pg > 0 && map % (uint64_t)pg)
		map += (uint64_t)pg - map % (uint64_t)pg;
	if (map > SIZE_MAX) {
		rc = ERR_INVAL;
		goto fail;
	}

	mrc = mdb_env_create(&s->env);
	if (mrc) {
		s->env = NULL;
		rc = store_mdb_rc(mrc, "create environment");
		goto fail;
	}
	if ((mrc = mdb_env_set_maxreaders(s->env, readers)) ||
	    (mrc = mdb_env_set_maxdbs(s->env, STORE_MAXDBS)) ||
	    (mrc = mdb_env_set_mapsize(s->env, (size_t)map))) {
		rc = store_mdb_rc(mrc, "configure environment");
		goto fail;
	}
	mrc = mdb_env_open(s->env, s->dir, MDB_NOTLS, 0600);
	if (mrc) {
		log_err("store: cannot open '%s'", s->dir);
		rc = store_mdb_rc(mrc, "open environment");
		goto fail;
	}
	mrc = mdb_reader_check(s->env, &dead);
	if (mrc) {
		rc = store_mdb_rc(mrc, "reader check");
		goto fail;
	}
	if (dead)
		log_info("store: cleared %d stale reader slot(s) in '%s'", dead, s->dir);

	rc = open_dbs(s);
	if (rc)
		goto fail;
	log_info("store: opened '%s' at serial %" PRId64, s->dir, store_serial(s));
	*out = s;
	return ERR_OK;
fail:
	if (s->env)
		mdb_env_close(s->env);
	if (registered)
		registry_remove(s);
	pthread_cond_destroy(&s->wcv);
	pthread_mutex_destroy(&s->wmu);
	pthread_mutex_destroy(&s->pool_mu);
	xfree(s->dir);
	xfree(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_writer_stop(s);
	while (s->pool) {
		struct store_txn *t = s->pool;
		s->pool = t->pool_next;
		mdb_txn_abort(t->txn);
		xfree(t);
	}
	mdb_env_close(s->env);
	registry_remove(s);
	pthread_cond_destroy(&s->wcv);
	pthread_mutex_destroy(&s->wmu);
	pthread_mutex_destroy(&s->pool_mu);
	xfree(s->dir);
	xfree(s);
}

/* ---- read transactions ------------------------------------------------- */

int store_read_begin(struct store *s, struct store_txn **out)
{
	struct store_txn *t;
	int mrc;

	*out = NULL;
	pthread_mutex_lock(&s->pool_mu);
	t = s->pool;
	if (t) {
		s->pool = t->pool_next;
		s->npool--;
	}
	pthread_mutex_unlock(&s->pool_mu);

	if (t) {
		if (mdb_txn_renew(t->txn) == 0)
			goto ok;
		mdb_txn_abort(t->txn);
		t->txn = NULL;
	} else {
		t = xcalloc(1, sizeof *t);
	}
	mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
	if (mrc) {
		xfree(t);
		return store_mdb_rc(mrc, "begin read txn");
	}
ok:
	t->s = s;
	t->rdonly = 1;
	t->assigned = -1;
	t->pool_next = NULL;
	*out = t;
	return ERR_OK;
}

static void read_end(struct store_txn *t)
{
	struct store *s = t->s;

	mdb_txn_reset(t->txn);
	pthread_mutex_lock(&s->pool_mu);
	if (s->npool < s->pool_max) {
		t->pool_next = s->pool;
		s->pool = t;
		s->npool++;
		t = NULL;
	}
	pthread_mutex_unlock(&s->pool_mu);
	if (t) {
		mdb_txn_abort(t->txn);
		xfree(t);
	}
}

/* ---- write transactions ------------------------------------------------ */

int store_txn_init_write(struct store *s, struct store_txn *parent, struct store_txn *t)
{
	int rc, mrc;

	memset(t, 0, sizeof *t);
	t->s = s;
	t->assigned = -1;
	t->commit_serial = -1;
	strset_init(&t->seen, 0);
	rc = atomic_load(&s->write_broken);
	if (rc) {
		log_err("store: writes are stopped after an earlier i/o error in '%s'", s->dir);
		return rc;
	}
	mrc = mdb_txn_begin(s->env, parent ? parent->txn : NULL, 0, &t->txn);
	if (mrc) {
		t->txn = NULL;
		return store_mdb_rc(mrc, "begin write txn");
	}
	t->child = parent != NULL;
	return ERR_OK;
}

void store_txn_release_write(struct store_txn *t)
{
	if (t->txn)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
	store_changes_release(t);
}

int store_txn_commit_write(struct store_txn *t)
{
	int rc = t->err, mrc;
	int64_t cur = -1;

	if (rc)
		goto fail;
	rc = store_changes_finalize(t);
	if (rc)
		goto fail;
	rc = store_meta_serial(t->s, t->txn, &cur);
	if (rc)
		goto fail;
	mrc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	if (mrc) {
		t->assigned = -1;
		rc = store_mdb_rc(mrc, "commit");
		if (!t->child && (mrc == EIO || mrc == MDB_PANIC)) {
			log_err("store: stopping all writes to '%s' until restart", t->s->dir);
			atomic_store(&t->s->write_broken, mrc == EIO ? ERR_IO : ERR_STORE);
		}
		return rc;
	}
	t->commit_serial = cur;
	if (!t->child)
		store_serial_advance(t->s, cur);
	return ERR_OK;
fail:
	if (t->txn)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
	t->assigned = -1;
	return rc;
}

int store_write_begin(struct store *s, struct store_txn **out)
{
	struct store_txn *t = xmalloc(sizeof *t);
	int rc = store_txn_init_write(s, NULL, t);

	*out = NULL;
	if (rc) {
		store_txn_release_write(t);
		xfree(t);
		return rc;
	}
	*out = t;
	return ERR_OK;
}

int store_commit(struct store_txn *t, int64_t *serial)
{
	int rc;

	if (serial)
		*serial = -1;
	if (!t)
		return ERR_INVAL;
	if (t->child) {
		log_err("store: a writer job tried to commit its own transaction");
		return ERR_INVAL;
	}
	if (t->rdonly) {
		int64_t cur = -1;
		store_meta_serial(t->s, t->txn, &cur);
		if (serial)
			*serial = cur;
		read_end(t);
		return ERR_OK;
	}
	rc = store_txn_commit_write(t);
	if (serial)
		*serial = rc ? store_serial(t->s) : t->commit_serial;
	store_txn_release_write(t);
	xfree(t);
	return rc;
}

void store_abort(struct store_txn *t)
{
	if (!t)
		return;
	if (t->child) {
		log_err("store: a writer job tried to abort its own transaction");
		return;
	}
	if (t->rdonly) {
		read_end(t);
		return;
	}
	store_txn_release_write(t);
	xfree(t);
}

int64_t store_txn_serial(struct store_txn *t)
{
	int64_t v = -1;

	if (!t || !t->txn)
		return -1;
	if (store_meta_serial(t->s, t->txn, &v) != ERR_OK)
		return -1;
	return v;
}
