/* backup.c — a consistent, compacted copy of a store while it is in use
 * (API.md section B, `devpi-like backup DEST`).
 *
 * LMDB copies from one read snapshot (mdb_env_copyfd2 with MDB_CP_COMPACT:
 * free pages are left out and the copy is renumbered), so writers go on
 * while it runs and the copy is exactly one committed serial.  The copy is
 * written by a helper thread into a pipe; this thread moves the bytes to
 * DEST/data.mdb.partial, counting them for the progress line, then fsyncs
 * and renames it to DEST/data.mdb and fsyncs the directory: DEST holds a
 * whole store or no data.mdb at all.  Chunks of uploads still streaming at
 * the snapshot are swept from the copy (as a server's start would), so the
 * copy passes fsck as it is.
 */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#define BUF_SIZE (1u << 20)

struct copier {
	MDB_env *env;
	int fd;          /* the pipe's write end, closed by the thread */
	int mrc;
};

static void *copy_main(void *arg)
{
	struct copier *c = arg;
	c->mrc = mdb_env_copyfd2(c->env, c->fd, MDB_CP_COMPACT);
	close(c->fd);
	return NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return ERR_OK;
}

/* DEST must not hold a store already; it is created if missing. */
static int prepare_dest(const char *dest)
{
	char path[4096];
	struct stat st;
	if (mkdir(dest, 0700) != 0 && errno != EEXIST) {
		log_err("backup: cannot create '%s': %s", dest, strerror(errno));
		return ERR_IO;
	}
	if (stat(dest, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_err("backup: '%s' is not a directory", dest);
		return ERR_INVAL;
	}
	snprintf(path, sizeof path, "%s/data.mdb", dest);
	if (access(path, F_OK) == 0) {
		log_err("backup: '%s' already holds a store; give a new or empty directory", dest);
		return ERR_EXISTS;
	}
	return ERR_OK;
}

/* Removes from the copy in dest the chunks of uploads that were still
 * streaming when the snapshot was taken (no blob entry yet), as a server
 * would at its start: the copy then passes fsck as it is. */
static int sweep_copy(const char *dest)
{
	struct store_opts o = { .dir = dest };
	struct store *c = NULL;
	uint64_t removed = 0;
	int rc = store_open(&o, &c);
	if (!rc)
		rc = store_sweep_orphans(c, &removed);
	if (!rc && removed)
		log_info("backup: left out %llu chunks of uploads in progress", (unsigned long long)removed);
	store_close(c);
	if (rc)
		log_err("backup: cannot sweep the copy in '%s': %s", dest, err_str(rc));
	return rc;
}

int store_backup(struct store *s, const char *dest, store_progress_fn progress, void *arg)
{
	char tmp[4096], final[4096];
	int pfd[2] = { -1, -1 }, out = -1, rc;
	pthread_t th;
	bool started = false;
	struct copier c = { s->env, -1, 0 };
	char *buf = xmalloc(BUF_SIZE);
	MDB_envinfo info;
	MDB_stat mst;
	uint64_t total = 0, done = 0;

	if (strlen(dest) > 4000)
		rc = ERR_TOOBIG;
	else
		rc = prepare_dest(dest);
	if (rc) {
		xfree(buf);
		return rc;
	}
	if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &mst) == 0)
		total = (uint64_t)(info.me_last_pgno + 1) * mst.ms_psize;   /* at most this */
	snprintf(tmp, sizeof tmp, "%s/data.mdb.partial", dest);
	snprintf(final, sizeof final, "%s/data.mdb", dest);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0 || pipe2(pfd, O_CLOEXEC) != 0) {
		log_err("backup: cannot write '%s': %s", tmp, strerror(errno));
		rc = ERR_IO;
		goto out;
	}
	c.fd = pfd[1];
	if (pthread_create(&th, NULL, copy_main, &c) != 0) {
		rc = ERR_NOMEM;
		goto out;
	}
	started = true;
	pfd[1] = -1;                    /* the thread closes it */
	for (;;) {
		ssize_t n = read(pfd[0], buf, BUF_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if ((rc = write_all(out, buf, (size_t)n))) {
			log_err("backup: cannot write '%s': %s", tmp, strerror(errno));
			break;
		}
		done += (uint64_t)n;
		if (progress)
			progress(arg, done, total);
	}
	close(pfd[0]);                  /* a failed write stops the copier (EPIPE) */
	pfd[0] = -1;
	pthread_join(th, NULL);
	started = false;
	if (!rc && c.mrc) {
		log_err("backup: the copy failed: %s", mdb_strerror(c.mrc));
		rc = ERR_IO;
	}
	if (!rc && fsync(out) != 0)
		rc = ERR_IO;
	if (!rc && rename(tmp, final) != 0)
		rc = ERR_IO;
	if (!rc) {
		int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (fsync(dfd) != 0)
				rc = ERR_IO;
			close(dfd);
		}
	}
	if (!rc)
		rc = sweep_copy(dest);
out:
	if (started)
		pthread_join(th, NULL);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (out >= 0)
		close(out);
	if (rc)
		unlink(tmp);
	xfree(buf);
	return rc;
}
