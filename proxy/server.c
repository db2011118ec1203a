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
#include "config/config.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/cpupool.h"
#include "proxy/model.h"
#include "proxy/rcache.h"
#include "proxy/replauth.h"
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

/* The node's role (API.md 8.1) and the replication key.  Only a primary
 * serves /+changelog, and only with a --secretfile to check replicas by. */
static int server_role(struct app *a)
{
	const char *role = a->cfg->role ? a->cfg->role : "auto";
	if (strcmp(role, "master") == 0)
		role = "primary";
	if (strcmp(role, "auto") && strcmp(role, "primary") && strcmp(role, "standalone") && strcmp(role, "replica")) {
		log_err("--role must be auto, primary, replica or standalone, not '%s'", role);
		return ERR_INVAL;
	}
	if (strcmp(role, "replica") == 0) {
		log_err("--role replica is not supported yet by this build");
		return ERR_INVAL;
	}
	if (a->cfg->secretfile) {
		int rc = replauth_load_key(a->cfg->secretfile, a->repl_key);
		if (rc) {
			log_err("cannot use --secretfile '%s': %s", a->cfg->secretfile, err_str(rc));
			return rc;
		}
		a->have_repl_key = true;
	}
	a->primary = strcmp(role, "primary") == 0;
	if (a->primary && !a->have_repl_key) {
		log_err("--role primary needs --secretfile (replicas sign their requests with it)");
		return ERR_INVAL;
	}
	return ERR_OK;
}

int server_run(const struct config *cfg, struct store *st)
{
	struct app a;
	struct wthread *ts = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
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
	if ((rc = server_role(&a)))
		return rc;
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
	event_base_dispatch(main_base);
	rc = ERR_OK;
fail:
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
