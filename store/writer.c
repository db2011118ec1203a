/* writer.c — the writer thread: owns every write transaction of a running
 * server and group-commits.
 *
 * Workers must never wait for an fsync, so they queue jobs here (a mutex
 * and a condition variable guard the FIFO; submitting never touches the
 * disk).  The writer takes what is queued and runs each job's run() in a
 * nested transaction of one batch transaction: a job that fails is rolled
 * back alone, and because serial assignment happens inside the job's nested
 * transaction (store_changes_finalize at its commit) a rolled-back job
 * leaves no gap.  One commit — one fsync — then covers the whole batch, and
 * every job's done() is called with its own rc and serial.  If the batch
 * commit fails, every job in it gets that error.  A batch stops at
 * WRITER_MAX_JOBS jobs or WRITER_MAX_BYTES written, so one transaction never
 * grows without limit (and stays far from LMDB's dirty-page limit); what is
 * left runs in the next batch.
 *
 * Shutdown: store_writer_stop sets `wstop`; the thread drains the queue,
 * marks itself exited and returns.  Lock order: wmu is a leaf lock; no
 * other lock is taken while holding it, and run()/done() are called without
 * it.
 */
#include "store/store_int.h"

#include <signal.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

#define WRITER_MAX_JOBS 256
#define WRITER_MAX_BYTES (64u << 20)

static struct store_job *queue_pop(struct store *s)
{
	pthread_mutex_lock(&s->wmu);
	struct store_job *j = s->qhead;
	if (j) {
		s->qhead = j->next;
		if (!s->qhead)
			s->qtail = NULL;
		j->next = NULL;
	}
	pthread_mutex_unlock(&s->wmu);
	return j;
}

static void job_done(struct store *s, struct store_job *j, int rc, int64_t serial)
{
	atomic_fetch_add(&s->stat_jobs, 1);
	/* j may be freed by done(): read nothing from it afterwards */
	if (j->done)
		j->done(j->arg, rc, serial);
}

/* Runs one job in a nested transaction of batch. */
static void job_run(struct store *s, struct store_txn *batch, struct store_job *j)
{
	struct store_txn child;

	j->serial = -1;
	j->rc = store_txn_init_write(s, batch, &child);
	if (j->rc == ERR_OK) {
		j->rc = j->run(&child, j->arg);
		if (j->rc == ERR_OK) {
			j->rc = store_txn_commit_write(&child);
			if (j->rc == ERR_OK) {
				j->serial = child.assigned;
				batch->bytes += child.bytes;
			}
		}
	}
	store_txn_release_write(&child);
}

static void batch_run(struct store *s)
{
	struct store_txn batch;
	struct store_job *head = NULL, **tail = &head, *j;
	int64_t current;
	int rc, n = 0;

	rc = store_txn_init_write(s, NULL, &batch);
	if (rc) {
		/* the store cannot take writes: fail what is queued now */
		store_txn_release_write(&batch);
		atomic_fetch_add(&s->stat_batches, 1);
		while ((j = queue_pop(s)))
			job_done(s, j, rc, store_serial(s));
		return;
	}
	while (n < WRITER_MAX_JOBS && batch.bytes < WRITER_MAX_BYTES && (j = queue_pop(s))) {
		job_run(s, &batch, j);
		*tail = j;
		tail = &j->next;
		n++;
	}
	rc = store_txn_commit_write(&batch);
	current = rc ? store_serial(s) : batch.commit_serial;
	store_txn_release_write(&batch);
	atomic_fetch_add(&s->stat_batches, 1);

	while ((j = head)) {
		head = j->next;
		j->next = NULL;
		if (rc)
			job_done(s, j, rc, current);
		else
			job_done(s, j, j->rc, j->rc == ERR_OK && j->serial >= 0 ? j->serial : current);
	}
}

static void *writer_main(void *arg)
{
	struct store *s = arg;

	for (;;) {
		pthread_mutex_lock(&s->wmu);
		while (!s->qhead && !s->wstop)
			pthread_cond_wait(&s->wcv, &s->wmu);
		if (!s->qhead) {
			s->wexited = 1;
			pthread_mutex_unlock(&s->wmu);
			break;
		}
		pthread_mutex_unlock(&s->wmu);
		batch_run(s);
	}
	return NULL;
}

int store_writer_start(struct store *s)
{
	sigset_t all, old;
	int rc = ERR_OK, prc;

	pthread_mutex_lock(&s->wmu);
	if (s->wstarted || s->wstop) {
		rc = s->wstarted ? ERR_EXISTS : ERR_GONE;
		goto out;
	}
	/* asynchronous signals go to the threads that handle them; faults
	 * stay deliverable so crashes are still reported */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	prc = pthread_create(&s->wthr, NULL, writer_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (prc) {
		log_err("store: cannot start the writer thread: %s", strerror(prc));
		rc = ERR_NOMEM;
		goto out;
	}
	s->wstarted = 1;
out:
	pthread_mutex_unlock(&s->wmu);
	return rc;
}

void store_writer_submit(struct store *s, struct store_job *job)
{
	pthread_mutex_lock(&s->wmu);
	if (s->wexited || (s->wstop && !s->wstarted)) {
		pthread_mutex_unlock(&s->wmu);
		if (job->done)
			job->done(job->arg, ERR_GONE, store_serial(s));
		return;
	}
	job->next = NULL;
	if (s->qtail)
		s->qtail->next = job;
	else
		s->qhead = job;
	s->qtail = job;
	pthread_cond_signal(&s->wcv);
	pthread_mutex_unlock(&s->wmu);
}

void store_writer_stop(struct store *s)
{
	struct store_job *j;
	int started;

	pthread_mutex_lock(&s->wmu);
	s->wstop = 1;
	started = s->wstarted;
	pthread_cond_signal(&s->wcv);
	pthread_mutex_unlock(&s->wmu);
	if (started) {
		pthread_join(s->wthr, NULL);
		return;
	}
	while ((j = queue_pop(s)))
		job_done(s, j, ERR_GONE, store_serial(s));
}

void store_writer_stats(struct store *s, uint64_t *batches, uint64_t *jobs)
{
	if (batches)
		*batches = atomic_load(&s->stat_batches);
	if (jobs)
		*jobs = atomic_load(&s->stat_jobs);
}
