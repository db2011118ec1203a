/* server.c — listener sockets, worker threads and shutdown.
 *
 * Each worker thread runs its own event_base with its own listening socket
 * bound to the same address with SO_REUSEPORT, so the kernel spreads
 * connections over the workers and no lock is shared on accept.  The first
 * socket is bound before any thread starts, so `--port 0` learns its port
 * and the others join it.  SIGINT/SIGTERM on the main thread break every
 * loop; in-flight writer jobs are drained by store_close afterwards.
 */
#include "proxy/server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/config.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/cpupool.h"
#include "proxy/model.h"
#include "proxy/rcache.h"
#include "proxy/clogtrim.h"
#include "proxy/filerepl.h"
#include "proxy/replauth.h"
#include "proxy/replica.h"
#include "proxy/replwatch.h"
#include "proxy/role.h"
#include "proxy/upstream.h"
#include "proxy/wjob.h"
#include "store/store.h"

struct wthread {
	struct worker w;
	struct evconnlistener *lis;
	pthread_t tid;
	int fd;
};

void app_note_serial(struct app *a, int64_t serial)
{
	int64_t cur = atomic_load(&a->serial);
	while (serial > cur && !atomic_compare_exchange_weak(&a->serial, &cur, serial))
		;
}

static int listen_socket(const char *host, int port, int *fd_out, int *port_out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char portstr[16];
	int fd = -1, rc = ERR_IO;
	snprintf(portstr, sizeof portstr, "%d", port);
	int g = getaddrinfo(host, portstr, &hints, &res);
	if (g != 0) {
		log_err("cannot resolve listen address '%s': %s", host, gai_strerror(g));
		return ERR_INVAL;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
		log_err("cannot bind '%s:%d': %s", host, port, strerror(errno));
		goto fail;
	}
	if (listen(fd, 1024) != 0)
		goto fail;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						    : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	fd = -1;
	rc = ERR_OK;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return rc;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int slen, void *arg)
{
	struct worker *w = arg;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	conn_accept(w, fd);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();
	log_warn("accept failed: %s", evutil_socket_error_to_string(e));
	/* EMFILE and friends: keep the loop alive, the listener retries. */
}

static void *worker_main(void *arg)
{
	struct wthread *t = arg;
	event_base_dispatch(t->w.base);
	return NULL;
}

static struct event_base *main_base;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(main_base);
}

static _Atomic int stop_rc;
static struct event *stop_ev;

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(main_base);
}

/* Stops the server from any thread (the replica loop when it must not go
 * on); server_run then returns rc.  An activated event, not a loopbreak
 * from here: a break asked for before the loop runs would be lost. */
static void server_stop(int rc)
{
	atomic_store(&stop_rc, rc);
	event_active(stop_ev, EV_READ, 0);
}

/* The role's part of the app (API.md 8.1): flags, the primary's URL, and
 * the keys from --secretfile.  With a secretfile, login tokens are signed
 * with a key derived from it rather than the store's own secret, so a
 * token the primary issued is good on its replicas too. */
static int server_role(struct app *a, const struct role_info *ri)
{
	static const char token_label[] = "devpi-like login tokens";
	a->primary = ri->role == ROLE_PRIMARY;
	a->replica = ri->role == ROLE_REPLICA;
	if (a->replica)
		snprintf(a->primary_url, sizeof a->primary_url, "%s", ri->primary_url);
	if (a->cfg->secretfile) {
		int rc = replauth_load_key(a->cfg->secretfile, a->repl_key);
		if (rc) {
			log_err("cannot use --secretfile '%s': %s", a->cfg->secretfile, err_str(rc));
			return rc;
		}
		a->have_repl_key = true;
		hmac_sha256(a->repl_key, sizeof a->repl_key, token_label, sizeof token_label - 1, a->secret);
	}
	if (a->primary && !a->have_repl_key) {
		log_err("--role primary needs --secretfile (replicas sign their requests with it)");
		return ERR_INVAL;
	}
	store_set_replica(a->store, a->replica);
	return ERR_OK;
}

/* Trims the changelog of a node with --changelog-keep (main loop timer). */
static void on_trim_timer(evutil_socket_t fd, short what, void *arg)
{
	clogtrim_tick(arg);
}

int server_run(const struct config *cfg, struct store *st, const struct role_info *ri)
{
	struct app a;
	struct wthread *ts = NULL;
	struct event *sigint = NULL, *sigterm = NULL, *trim = NULL;
	int nthreads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int rc, started = 0;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > 64)
		nthreads = 64;
	memset(&a, 0, sizeof a);
	a.cfg = cfg;
	a.store = st;
	rc = model_load_node(st, a.uuid, a.secret, &a.serial);
	if (rc) {
		log_err("cannot read node identity from the store: %s", err_str(rc));
		return rc;
	}
	atomic_store(&a.acl_read_used, model_any_acl_read(st));
	if ((rc = server_role(&a, ri)))
		return rc;
	atomic_store(&stop_rc, ERR_OK);
	if (a.primary)
		a.replwatch = replwatch_new();
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	rc = store_writer_start(st);
	if (rc) {
		log_err("cannot start the writer thread: %s", err_str(rc));
		return rc;
	}
	/* Two threads bound argon2's memory (64 MiB each) and leave the
	 * cores to the loops; a long queue answers 503. */
	rc = cpupool_start(2, 1024);
	if (rc) {
		log_err("cannot start the CPU pool: %s", err_str(rc));
		return rc;
	}
	ts = xcalloc((size_t)nthreads, sizeof *ts);
	int port = cfg->port;
	for (int i = 0; i < nthreads; i++) {
		rc = listen_socket(cfg->host, port, &ts[i].fd, &port);
		if (rc)
			goto fail;
	}
	a.listen_port = port;
	for (int i = 0; i < nthreads; i++) {
		ts[i].w.app = &a;
		ts[i].w.index = i;
		ts[i].w.base = event_base_new();
		ts[i].lis = evconnlistener_new(ts[i].w.base, on_accept, &ts[i].w,
					       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 0, ts[i].fd);   /* 0: keep our listen(1024) */
		if (!ts[i].w.base || !ts[i].lis ||
		    upstream_new(ts[i].w.base, "devpi-like/" DEVPI_LIKE_VERSION, &ts[i].w.up) != ERR_OK) {
			rc = ERR_IO;
			goto fail;
		}
		evconnlistener_set_error_cb(ts[i].lis, on_accept_error);
	}
	main_base = event_base_new();
	stop_ev = event_new(main_base, -1, 0, on_stop, NULL);
	sigint = evsignal_new(main_base, SIGINT, on_signal, NULL);
	sigterm = evsignal_new(main_base, SIGTERM, on_signal, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&ts[i].tid, NULL, worker_main, &ts[i]) != 0) {
			rc = ERR_IO;
			goto fail;
		}
		started++;
	}
	log_info("devpi-like %s: %d workers, serverdir '%s', serial %lld", DEVPI_LIKE_VERSION, nthreads,
		 cfg->serverdir, (long long)atomic_load(&a.serial));
	fprintf(stderr, "listening on http://%s:%d\n", cfg->host, port);
	fflush(stderr);
	if (cfg->changelog_keep > 0) {
		struct timeval every = { 2, 0 };
		trim = event_new(main_base, -1, EV_PERSIST, on_trim_timer, &a);
		event_add(trim, &every);
	}
	if (a.replica && cfg->file_replication_threads > 0 && (rc = filerepl_start(&a, &a.frepl))) {
		log_err("cannot start file replication: %s", err_str(rc));
		goto fail;
	}
	if (a.replica && (rc = replica_start(&a, server_stop, &a.repl))) {
		log_err("cannot start the replica loop: %s", err_str(rc));
		goto fail;
	}
	if (a.replica)
		log_info("replica of %s", a.primary_url);
	event_base_dispatch(main_base);
	rc = atomic_load(&stop_rc);
fail:
	/* the replica threads first: their writer jobs complete into them */
	replica_stop(a.repl);
	a.repl = NULL;
	filerepl_stop(a.frepl);
	a.frepl = NULL;
	for (int i = 0; i < started; i++)
		event_base_loopbreak(ts[i].w.base);
	for (int i = 0; i < started; i++)
		pthread_join(ts[i].tid, NULL);
	/* The writer may still complete jobs whose events live on these
	 * loops: wait for it before freeing them. */
	cpupool_stop();
	/* No upstream transfer may start writes from here on. */
	for (int i = 0; ts && i < nthreads; i++) {
		upstream_free(ts[i].w.up);
		ts[i].w.up = NULL;
	}
	/* Completions may queue further writes: settle twice, running what
	 * they activated on the stopped loops, then close what is open. */
	for (int round = 0; round < 2; round++) {
		while (wjob_in_flight() > 0)
			usleep(1000);
		for (int i = 0; i < started; i++)
			event_base_loop(ts[i].w.base, EVLOOP_NONBLOCK);
	}
	for (int i = 0; i < started; i++) {
		conn_close_all(&ts[i].w);
		rcache_free(&ts[i].w);
	}
	for (int i = 0; ts && i < nthreads; i++) {
		if (ts[i].lis)
			evconnlistener_free(ts[i].lis);
		else if (ts[i].fd > 0)
			close(ts[i].fd);
		if (ts[i].w.base)
			event_base_free(ts[i].w.base);
	}
	if (trim)
		event_free(trim);
	if (stop_ev)
		event_free(stop_ev);
	stop_ev = NULL;
	replwatch_free(a.replwatch);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	if (main_base)
		event_base_free(main_base);
	main_base = NULL;
	xfree(ts);
	return rc;
}
