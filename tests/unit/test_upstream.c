/* test_upstream.c — the libcurl-on-libevent upstream client against small
 * loopback HTTP servers started inside the test (a blocking server, one
 * thread per connection, each route scripted byte by byte so that stalls,
 * truncation, oversized heads and redirect loops are exact).
 *
 * Every test runs a real event_base with a safety deadline; callbacks record
 * what they saw and the assertions compare it with what the server sent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/time.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "proxy/upstream.h"

/* ------------------------------------------------------------------ */
/* the test server                                                     */

#define SRV_MAXC 256
#define HELLO_LEN 100000
#define GZ_PLAIN_LEN 200000

struct srv {
	int lfd;
	int port;
	char ip[16];
	char base[64];          /* "http://ip:port" */
	char other_base[64];    /* where /redir-other points */
	int stop[2];
	pthread_t acceptor;
	pthread_mutex_t mu;
	pthread_t th[SRV_MAXC];
	int nth;
	int accepted;
	int requests;
	char *gz;               /* gzip of pattern(GZ_PLAIN_LEN) */
	size_t gz_len;
	char *bomb;             /* gzip of 4 MiB of zeros */
	size_t bomb_len;
	SSL_CTX *tls;           /* set: only a TLS handshake with a self-signed cert */
	int tls_failed;         /* handshakes the client broke off */
};

struct conn {
	struct srv *s;
	int fd;
};

static char pat(size_t i)
{
	return (char)('a' + (i * 31 + i / 97) % 26);
}

static char *pattern(size_t n)
{
	char *p = xmalloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = pat(i);
	return p;
}

static char *gzip_of(const char *p, size_t n, size_t *out_len)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&zs, n) + 64;
	char *out = xmalloc(cap);
	zs.next_in = (Bytef *)p;
	zs.avail_in = (uInt)n;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

static int stopping(struct srv *s, int ms)
{
	struct pollfd pfd = { s->stop[0], POLLIN, 0 };
	return poll(&pfd, 1, ms) > 0;
}

static int send_all(struct conn *c, const void *p, size_t n)
{
	const char *q = p;
	while (n) {
		struct pollfd pfd[2] = { { c->fd, POLLOUT, 0 }, { c->s->stop[0], POLLIN, 0 } };
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (pfd[1].revents)
			return -1;
		if (!(pfd[0].revents & (POLLOUT | POLLERR | POLLHUP)))
			continue;
		ssize_t w = send(c->fd, q, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

static int sendf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sendf(struct conn *c, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	return send_all(c, tmp, (size_t)n);
}

/* Reads one request head into b (ending "\r\n\r\n"); -1 on EOF or stop. */
static int read_head(struct conn *c, struct buf *b)
{
	buf_reset(b);
	for (;;) {
		if (b->len >= 4 && memcmp(b->p + b->len - 4, "\r\n\r\n", 4) == 0)
			return 0;
		struct pollfd pfd[2] = { { c->fd, POLLIN, 0 }, { c->s->stop[0], POLLIN, 0 } };
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (pfd[1].revents)
			return -1;
		if (!pfd[0].revents)
			continue;
		char ch;     /* byte by byte: GETs have no body, so nothing is over-read */
		ssize_t r = recv(c->fd, &ch, 1, 0);
		if (r <= 0)
			return -1;
		if (buf_add(b, &ch, 1))
			return -1;
	}
}

/* The value of request header name in head, copied into out ("" if none). */
static void req_header(const char *head, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	out[0] = '\0';
	for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		const char *s = l + 2;
		if (strncasecmp(s, name, nl) == 0 && s[nl] == ':') {
			s += nl + 1;
			while (*s == ' ')
				s++;
			const char *e = strstr(s, "\r\n");
			size_t n = (size_t)(e - s);
			if (n >= cap)
				n = cap - 1;
			memcpy(out, s, n);
			out[n] = '\0';
			return;
		}
	}
}

static void send_pattern(struct conn *c, size_t from, size_t n, size_t piece, int gap_ms)
{
	char tmp[8192];
	size_t done = 0;
	while (done < n) {
		size_t k = n - done < piece ? n - done : piece;
		if (k > sizeof tmp)
			k = sizeof tmp;
		for (size_t i = 0; i < k; i++)
			tmp[i] = pat(from + done + i);
		if (send_all(c, tmp, k))
			return;
		done += k;
		if (gap_ms && done < n && stopping(c->s, gap_ms))
			return;
	}
}

/* Reads exactly n bytes of a request body, checking them against the
 * pattern from *off on; -1 on EOF or stop. */
static int recv_body(struct conn *c, size_t n, size_t *off, int *ok)
{
	char tmp[8192];
	while (n) {
		struct pollfd pfd[2] = { { c->fd, POLLIN, 0 }, { c->s->stop[0], POLLIN, 0 } };
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (pfd[1].revents)
			return -1;
		if (!pfd[0].revents)
			continue;
		ssize_t r = recv(c->fd, tmp, n < sizeof tmp ? n : sizeof tmp, 0);
		if (r <= 0)
			return -1;
		for (ssize_t i = 0; i < r; i++)
			if (tmp[i] != pat(*off + (size_t)i))
				*ok = 0;
		*off += (size_t)r;
		n -= (size_t)r;
	}
	return 0;
}

/* One line of a chunked body (up to LF) into out; -1 on EOF. */
static int recv_line(struct conn *c, char *out, size_t cap)
{
	size_t k = 0;
	for (;;) {
		char ch;
		if (recv(c->fd, &ch, 1, 0) != 1)
			return -1;
		if (ch == '\n')
			break;
		if (ch != '\r' && k + 1 < cap)
			out[k++] = ch;
	}
	out[k] = '\0';
	return 0;
}

/* /body: reads the request body (Content-Length or chunked) and answers
 * "<method> <bytes> <ok|bad> <chunked|length> ctype=<Content-Type>". */
static int route_body(struct conn *c, const char *head)
{
	char method[40], v[256], ctype[256];
	size_t total = 0;
	int ok = 1, chunked = 0;
	sscanf(head, "%39s", method);
	req_header(head, "Content-Type", ctype, sizeof ctype);
	req_header(head, "Transfer-Encoding", v, sizeof v);
	if (strcasecmp(v, "chunked") == 0) {
		chunked = 1;
		for (;;) {
			char line[128];
			if (recv_line(c, line, sizeof line))
				return 0;
			size_t n = strtoul(line, NULL, 16);
			if (n == 0)
				break;
			if (recv_body(c, n, &total, &ok) || recv_line(c, line, sizeof line))
				return 0;
		}
		for (;;) {          /* trailers up to the blank line */
			char line[256];
			if (recv_line(c, line, sizeof line))
				return 0;
			if (!line[0])
				break;
		}
	} else {
		req_header(head, "Content-Length", v, sizeof v);
		if (v[0] && recv_body(c, strtoul(v, NULL, 10), &total, &ok))
			return 0;
	}
	char out[512];
	int n = snprintf(out, sizeof out, "%s %zu %s %s ctype=%s", method, total, ok ? "ok" : "bad",
			 chunked ? "chunked" : "length", ctype);
	sendf(c, "HTTP/1.1 201 Made It\r\nContent-Length: %d\r\n\r\n%s", n, out);
	return 1;
}

/* Serves one request; returns 1 to keep the connection, 0 to close it. */
static int route(struct conn *c, const char *head)
{
	struct srv *s = c->s;
	char path[512];
	const char *sp = strchr(head, ' ');
	const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
	if (!sp || !sp2 || (size_t)(sp2 - sp - 1) >= sizeof path)
		return 0;
	memcpy(path, sp + 1, (size_t)(sp2 - sp - 1));
	path[sp2 - sp - 1] = '\0';

	if (!strcmp(path, "/body"))
		return route_body(c, head);
	if (!strcmp(path, "/hello")) {
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", HELLO_LEN);
		if (strncmp(head, "HEAD ", 5) != 0)
			send_pattern(c, 0, HELLO_LEN, 10000, 2);
		return 1;
	}
	if (!strcmp(path, "/status404")) {
		sendf(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
		return 1;
	}
	if (!strcmp(path, "/gzip")) {
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", s->gz_len);
		send_all(c, s->gz, s->gz_len);
		return 1;
	}
	if (!strcmp(path, "/bomb")) {
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", s->bomb_len);
		send_all(c, s->bomb, s->bomb_len);
		return 1;
	}
	if (!strcmp(path, "/redir")) {
		sendf(c, "HTTP/1.1 302 Found\r\nLocation: /hello\r\nContent-Length: 5\r\n\r\nmoved");
		return 1;
	}
	if (!strcmp(path, "/redir-abs")) {
		sendf(c, "HTTP/1.1 301 Moved\r\nLocation: %s/redir\r\nContent-Length: 5\r\n\r\nmoved", s->base);
		return 1;
	}
	if (!strcmp(path, "/redir-other")) {
		sendf(c, "HTTP/1.1 302 Found\r\nLocation: %s/auth\r\nContent-Length: 0\r\n\r\n", s->other_base);
		return 1;
	}
	if (!strcmp(path, "/redir-ftp")) {
		sendf(c, "HTTP/1.1 302 Found\r\nLocation: ftp://%s/x\r\nContent-Length: 0\r\n\r\n", s->ip);
		return 1;
	}
	if (!strcmp(path, "/loop")) {
		sendf(c, "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 4\r\n\r\nloop");
		return 1;
	}
	if (!strcmp(path, "/stall")) {
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
		send_pattern(c, 0, 100, 100, 0);
		stopping(s, -1);
		return 0;
	}
	if (!strcmp(path, "/trunc")) {
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
		send_pattern(c, 0, 500, 500, 0);
		return 0;
	}
	if (!strncmp(path, "/bighdr?n=", 10)) {
		long n = strtol(path + 10, NULL, 10);
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
		for (long i = 0; i < n; i++)
			sendf(c, "X-Pad-%05ld: %.*s\r\n", i, 86, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		sendf(c, "\r\nok");
		return 1;
	}
	if (!strcmp(path, "/auth")) {
		char v[512];
		req_header(head, "Authorization", v, sizeof v);
		if (!v[0])
			snprintf(v, sizeof v, "(none)");
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(v), v);
		return 1;
	}
	if (!strcmp(path, "/echo")) {
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", strlen(head));
		send_all(c, head, strlen(head));
		return 1;
	}
	if (!strcmp(path, "/early")) {
		sendf(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
			 "HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok");
		return 1;
	}
	if (!strcmp(path, "/chunked")) {
		sendf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
		for (int i = 0; i < 5; i++) {
			sendf(c, "3e8\r\n");
			send_pattern(c, (size_t)i * 1000, 1000, 1000, 0);
			sendf(c, "\r\n");
			stopping(s, 2);
		}
		sendf(c, "0\r\nX-Trailer: yes\r\n\r\n");
		return 1;
	}
	if (!strcmp(path, "/fold")) {
		sendf(c, "HTTP/1.1 200 OK\r\nX-Fold: one\r\n   two\r\nX-Empty:\r\nX-Spaces:   padded  \r\n"
			 "Content-Length: 0\r\n\r\n");
		return 1;
	}
	if (!strcmp(path, "/biglen")) {
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n");
		send_pattern(c, 0, 100, 100, 0);
		stopping(s, -1);
		return 0;
	}
	if (!strcmp(path, "/notmod")) {
		sendf(c, "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 50000\r\n\r\n");
		return 1;
	}
	if (!strcmp(path, "/eof")) {
		sendf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
		send_pattern(c, 0, 3000, 1000, 2);
		return 0;
	}
	if (!strncmp(path, "/many1xx?n=", 11)) {
		long n = strtol(path + 11, NULL, 10);
		for (long i = 0; i < n; i++)
			sendf(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
		sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
		return 1;
	}
	if (!strcmp(path, "/bigtrailer")) {
		sendf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n");
		for (int i = 0; i < 30; i++)
			sendf(c, "X-T%02d: %.*s\r\n", i, 90, "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt");
		sendf(c, "\r\n");
		return 1;
	}
	if (!strcmp(path, "/garbage")) {
		sendf(c, "HELLO THERE\r\n\r\n");
		return 0;
	}
	sendf(c, "HTTP/1.1 500 Unknown\r\nContent-Length: 0\r\n\r\n");
	return 1;
}

static void tls_conn(struct conn *c)
{
	struct timeval tv = { 5, 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	SSL *ssl = SSL_new(c->s->tls);
	SSL_set_fd(ssl, c->fd);
	if (SSL_accept(ssl) != 1) {
		pthread_mutex_lock(&c->s->mu);
		c->s->tls_failed++;
		pthread_mutex_unlock(&c->s->mu);
	} else {
		SSL_write(ssl, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct buf head;
	if (c->s->tls) {
		tls_conn(c);
		close(c->fd);
		xfree(c);
		return NULL;
	}
	buf_init(&head, 64 * 1024);
	while (read_head(c, &head) == 0) {
		pthread_mutex_lock(&c->s->mu);
		c->s->requests++;
		pthread_mutex_unlock(&c->s->mu);
		if (!route(c, head.p))
			break;
	}
	buf_release(&head);
	close(c->fd);
	xfree(c);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct srv *s = arg;
	for (;;) {
		struct pollfd pfd[2] = { { s->lfd, POLLIN, 0 }, { s->stop[0], POLLIN, 0 } };
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (!pfd[0].revents)
			continue;
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->mu);
		if (s->nth >= SRV_MAXC) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			continue;
		}
		struct conn *c = xcalloc(1, sizeof *c);
		c->s = s;
		c->fd = fd;
		s->accepted++;
		if (pthread_create(&s->th[s->nth], NULL, conn_main, c) == 0)
			s->nth++;
		else {
			close(fd);
			xfree(c);
		}
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

static int listen_on(const char *ip, int backlog, int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = 0;
	assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	if (backlog > 0)
		assert_int_equal(listen(fd, backlog), 0);
	socklen_t sl = sizeof sa;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static struct srv *srv_start(const char *ip)
{
	struct srv *s = xcalloc(1, sizeof *s);
	snprintf(s->ip, sizeof s->ip, "%s", ip);
	s->lfd = listen_on(ip, 128, &s->port);
	snprintf(s->base, sizeof s->base, "http://%s:%d", ip, s->port);
	snprintf(s->other_base, sizeof s->other_base, "%s", s->base);
	assert_int_equal(pipe(s->stop), 0);
	pthread_mutex_init(&s->mu, NULL);
	char *plain = pattern(GZ_PLAIN_LEN);
	s->gz = gzip_of(plain, GZ_PLAIN_LEN, &s->gz_len);
	xfree(plain);
	char *zeros = xcalloc(1, 4 << 20);
	s->bomb = gzip_of(zeros, 4 << 20, &s->bomb_len);
	xfree(zeros);
	assert_int_equal(pthread_create(&s->acceptor, NULL, accept_main, s), 0);
	return s;
}

static void srv_stop(struct srv *s)
{
	if (!s)
		return;
	assert_int_equal(write(s->stop[1], "x", 1), 1);
	pthread_join(s->acceptor, NULL);
	for (int i = 0; i < s->nth; i++)
		pthread_join(s->th[i], NULL);
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
	pthread_mutex_destroy(&s->mu);
	xfree(s->gz);
	xfree(s->bomb);
	if (s->tls)
		SSL_CTX_free(s->tls);
	xfree(s);
}

/* A server that speaks TLS with a freshly made self-signed certificate for
 * 127.0.0.1, which no system CA vouches for. */
static struct srv *srv_start_tls(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k), 1);
	X509_free(x);
	EVP_PKEY_free(k);
	struct srv *s = srv_start("127.0.0.1");
	pthread_mutex_lock(&s->mu);
	s->tls = ctx;
	pthread_mutex_unlock(&s->mu);
	return s;
}

static int srv_accepted(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->accepted;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ------------------------------------------------------------------ */
/* a slow name server                                                  */

/* This definition interposes on libc's for libcurl's resolver thread: names
 * ending in ".slow.test" take SLOW_DNS_MS and then do not resolve, every
 * other name goes to the real getaddrinfo. */
#define SLOW_DNS_MS 1000

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	size_t n = node ? strlen(node) : 0;
	if (n >= 10 && strcmp(node + n - 10, ".slow.test") == 0) {
		usleep(SLOW_DNS_MS * 1000);
		return EAI_NONAME;
	}
	int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
		(int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
	return real(node, service, hints, res);
}

/* ------------------------------------------------------------------ */
/* the client side                                                     */

struct env {
	struct srv *srv;
	struct event_base *base;
	struct upstream *up;
	int pending;            /* transfers whose on_done the loop waits for */
	int hold;               /* run_for: do not stop when pending reaches 0 */
	int deadline_hit;
};

struct bodysrc;

struct res {
	struct env *env;
	struct upstream_xfer *x;
	int head_calls, data_calls, done_calls;
	long head_status;
	char eff[512];
	struct buf hdrs;        /* "name=value\n" per header */
	struct buf body;
	int rc;
	long status;
	char errmsg[512];
	int after_done_calls;   /* callbacks seen after on_done or a cancel */
	int cancelled;
	/* behaviour */
	int head_rc;            /* on_head returns this */
	int data_rc;            /* on_data returns this (on the first call) */
	int cancel_self_on_head;
	int cancel_self_on_data;
	struct res *cancel_on_data;   /* cancel that one in the first on_data */
	struct res *cancel_on_done;   /* cancel that one in on_done */
	int pause_mode;         /* 1: pause every other call, resume by timer; 2: resume inside on_data */
	int redelivery_action;  /* 1: abort with ERR_HASH on the first redelivery, 2: cancel self there */
	struct buf paused;      /* bytes refused by the last pause */
	int pauses;
	int redelivery_ok;
	struct event *resume_ev;
	struct res *fetch_on_data;    /* start this one from inside on_data */
	const char *fetch_url;
	int fetch_rc;
	int cancel_fetched;     /* cancel the one started from on_data right away */
	struct bodysrc *body_src;     /* the request body, for body_read */
};

static void res_init(struct res *r, struct env *e)
{
	memset(r, 0, sizeof *r);
	r->env = e;
	r->rc = -1;
	r->redelivery_ok = 1;
	buf_init(&r->hdrs, 0);
	buf_init(&r->body, 0);
	buf_init(&r->paused, 0);
}

static void res_release(struct res *r)
{
	buf_release(&r->hdrs);
	buf_release(&r->body);
	buf_release(&r->paused);
	if (r->resume_ev)
		event_free(r->resume_ev);
}

static int cb_head(void *arg, long status, const char *eff, const struct upstream_header *h, size_t nh)
{
	struct res *r = arg;
	if (r->done_calls || r->cancelled)
		r->after_done_calls++;
	r->head_calls++;
	r->head_status = status;
	snprintf(r->eff, sizeof r->eff, "%s", eff);
	for (size_t i = 0; i < nh; i++)
		buf_addf(&r->hdrs, "%.*s=%.*s\n", (int)h[i].name_len, h[i].name, (int)h[i].value_len, h[i].value);
	if (r->cancel_self_on_head) {
		upstream_cancel(r->x);
		r->cancelled = 1;
	}
	return r->head_rc;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct res *r = arg;
	upstream_resume(r->x);
}

static void cb_done(void *arg, int rc, long status, const char *errmsg);
static const struct upstream_cbs cbs;

static int cb_data(void *arg, const char *p, size_t n)
{
	struct res *r = arg;
	if (r->done_calls || r->cancelled)
		r->after_done_calls++;
	r->data_calls++;
	if (!r->head_calls)
		r->after_done_calls += 1000;  /* data before head: contract broken */
	if (r->fetch_on_data && r->data_calls == 1) {
		struct upstream_request rq = { .url = r->fetch_url };
		r->fetch_rc = upstream_fetch(r->env->up, &rq, &cbs, r->fetch_on_data, &r->fetch_on_data->x);
		if (r->fetch_rc == ERR_OK && !r->cancel_fetched)
			r->env->pending++;
		if (r->cancel_fetched) {
			upstream_cancel(r->fetch_on_data->x);
			r->fetch_on_data->cancelled = 1;
		}
	}
	if (r->cancel_on_data && r->data_calls == 1) {
		upstream_cancel(r->cancel_on_data->x);
		if (!r->cancel_on_data->cancelled && !r->cancel_on_data->done_calls)
			r->env->pending--;
		r->cancel_on_data->cancelled = 1;
	}
	if (r->cancel_self_on_data) {
		upstream_cancel(r->x);
		r->cancelled = 1;
		if (--r->env->pending <= 0 && !r->env->hold)
			event_base_loopbreak(r->env->base);
		return ERR_OK;
	}
	if (r->pause_mode) {
		if (r->paused.len) {       /* a redelivery: must start with the refused bytes */
			if (r->redelivery_action == 1)
				return ERR_HASH;
			if (r->redelivery_action == 2) {
				upstream_cancel(r->x);
				r->cancelled = 1;
				if (--r->env->pending <= 0 && !r->env->hold)
					event_base_loopbreak(r->env->base);
				return ERR_OK;
			}
			size_t k = n < r->paused.len ? n : r->paused.len;
			if (memcmp(p, r->paused.p, k) != 0)
				r->redelivery_ok = 0;
			if (k < r->paused.len) {
				/* fewer than refused: the rest must follow next */
				memmove(r->paused.p, r->paused.p + k, r->paused.len - k);
				r->paused.len -= k;
			} else {
				buf_reset(&r->paused);
			}
			buf_add(&r->body, p, n);
			return ERR_OK;
		}
		if (r->data_calls % 2 == 1) {
			buf_reset(&r->paused);
			buf_add(&r->paused, p, n);
			r->pauses++;
			if (r->pause_mode == 2) {
				upstream_resume(r->x);
			} else {
				struct timeval tv = { 0, 5000 };
				if (!r->resume_ev)
					r->resume_ev = evtimer_new(r->env->base, resume_cb, r);
				evtimer_add(r->resume_ev, &tv);
			}
			return UPSTREAM_PAUSE;
		}
	}
	buf_add(&r->body, p, n);
	if (r->data_rc && r->data_calls == 1)
		return r->data_rc;
	return ERR_OK;
}

static void cb_done(void *arg, int rc, long status, const char *errmsg)
{
	struct res *r = arg;
	if (r->done_calls || r->cancelled)
		r->after_done_calls++;
	r->done_calls++;
	r->rc = rc;
	r->status = status;
	assert_non_null(errmsg);
	snprintf(r->errmsg, sizeof r->errmsg, "%s", errmsg);
	r->x = NULL;
	if (r->cancel_on_done) {
		upstream_cancel(r->cancel_on_done->x);
		if (!r->cancel_on_done->cancelled && !r->cancel_on_done->done_calls)
			r->env->pending--;
		r->cancel_on_done->cancelled = 1;
	}
	if (--r->env->pending <= 0 && !r->env->hold)
		event_base_loopbreak(r->env->base);
}

static const struct upstream_cbs cbs = { cb_head, cb_data, cb_done };

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct env *e = arg;
	e->deadline_hit = 1;
	event_base_loopbreak(e->base);
}

/* Runs the loop until e->pending reaches 0 or ms pass. */
static void run_loop(struct env *e, long ms)
{
	struct event *t = evtimer_new(e->base, deadline_cb, e);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	e->deadline_hit = 0;
	evtimer_add(t, &tv);
	if (e->pending > 0 || e->hold)
		event_base_dispatch(e->base);
	event_free(t);
}

/* Runs the loop for exactly ms, whatever completes meanwhile. */
static void run_for(struct env *e, long ms)
{
	e->hold = 1;
	run_loop(e, ms);
	e->hold = 0;
	e->deadline_hit = 0;
}

static int start(struct env *e, struct res *r, const char *path, const struct upstream_request *tmpl)
{
	char url[512];
	struct upstream_request rq;
	if (tmpl)
		rq = *tmpl;
	else
		memset(&rq, 0, sizeof rq);
	if (strncmp(path, "http", 4) == 0)
		snprintf(url, sizeof url, "%s", path);
	else
		snprintf(url, sizeof url, "%s%s", e->srv->base, path);
	rq.url = url;
	int rc = upstream_fetch(e->up, &rq, &cbs, r, &r->x);
	if (rc == ERR_OK)
		e->pending++;
	return rc;
}

/* One transfer of path, run to completion. */
static void fetch1(struct env *e, struct res *r, const char *path, const struct upstream_request *tmpl)
{
	res_init(r, e);
	assert_int_equal(start(e, r, path, tmpl), ERR_OK);
	run_loop(e, 10000);
	assert_false(e->deadline_hit);
	assert_int_equal(r->done_calls, 1);
	assert_int_equal(r->after_done_calls, 0);
}

static int has_header(struct res *r, const char *line)
{
	return r->hdrs.p && strstr(r->hdrs.p, line) != NULL;
}

static void assert_pattern(struct res *r, size_t n)
{
	assert_int_equal(r->body.len, n);
	char *want = pattern(n);
	assert_memory_equal(r->body.p, want, n);
	xfree(want);
}

static int setup(void **state)
{
	struct env *e = xcalloc(1, sizeof *e);
	e->srv = srv_start("127.0.0.1");
	e->base = event_base_new();
	assert_non_null(e->base);
	assert_int_equal(upstream_new(e->base, "devpi-like-test/1.0", &e->up), ERR_OK);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	upstream_free(e->up);
	event_base_free(e->base);
	srv_stop(e->srv);
	xfree(e);
	return 0;
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

static void test_200_in_pieces(void **state)
{
	struct env *e = *state;
	struct res r;
	fetch1(e, &r, "/hello", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.errmsg, "");
	assert_int_equal(r.head_calls, 1);
	assert_int_equal(r.head_status, 200);
	assert_true(r.data_calls > 1);
	assert_pattern(&r, HELLO_LEN);
	assert_true(has_header(&r, "Content-Length=100000\n"));
	assert_true(has_header(&r, "Content-Type=text/plain\n"));
	char want[128];
	snprintf(want, sizeof want, "%s/hello", e->srv->base);
	assert_string_equal(r.eff, want);
	res_release(&r);

	/* the connection is kept and reused by the next transfer */
	struct res r2;
	fetch1(e, &r2, "/hello", NULL);
	assert_int_equal(r2.rc, ERR_OK);
	assert_pattern(&r2, HELLO_LEN);
	assert_int_equal(srv_accepted(e->srv), 1);
	res_release(&r2);
}

static void test_404_passed_through(void **state)
{
	struct env *e = *state;
	struct res r;
	fetch1(e, &r, "/status404", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.head_status, 404);
	assert_int_equal(r.body.len, 9);
	assert_memory_equal(r.body.p, "not found", 9);
	res_release(&r);
}

static void test_gzip_decoded(void **state)
{
	struct env *e = *state;
	struct res r;
	fetch1(e, &r, "/gzip", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.status, 200);
	assert_true(has_header(&r, "Content-Encoding=gzip\n"));
	assert_pattern(&r, GZ_PLAIN_LEN);
	res_release(&r);
}

static void test_request_headers_sent(void **state)
{
	struct env *e = *state;
	struct res r;
	const char *hdrs[] = { "Accept: application/vnd.pypi.simple.v1+json", "If-None-Match: \"abc\"" };
	struct upstream_request rq = { .headers = hdrs, .nheaders = 2 };
	fetch1(e, &r, "/echo", &rq);
	assert_int_equal(r.rc, ERR_OK);
	buf_addc(&r.body, '\0');
	assert_non_null(strstr(r.body.p, "\r\nAccept: application/vnd.pypi.simple.v1+json\r\n"));
	assert_non_null(strstr(r.body.p, "\r\nIf-None-Match: \"abc\"\r\n"));
	assert_non_null(strstr(r.body.p, "\r\nUser-Agent: devpi-like-test/1.0\r\n"));
	assert_non_null(strstr(r.body.p, "\r\nAccept-Encoding: "));
	assert_non_null(strstr(r.body.p, "gzip"));
	assert_null(strstr(r.body.p, "Authorization"));
	res_release(&r);
}

static void test_redirect_followed(void **state)
{
	struct env *e = *state;
	struct res r;
	/* /redir-abs → 301 → /redir → 302 → /hello; the redirect bodies are not delivered */
	fetch1(e, &r, "/redir-abs", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.head_calls, 1);
	assert_int_equal(r.head_status, 200);
	assert_int_equal(r.status, 200);
	char want[128];
	snprintf(want, sizeof want, "%s/hello", e->srv->base);
	assert_string_equal(r.eff, want);
	assert_false(has_header(&r, "Location"));
	assert_pattern(&r, HELLO_LEN);
	res_release(&r);

	/* two redirects needed, one allowed */
	struct upstream_request rq = { .lim.max_redirects = 1 };
	fetch1(e, &r, "/redir-abs", &rq);
	assert_int_equal(r.rc, ERR_UPSTREAM);
	assert_int_equal(r.head_calls, 0);
	assert_int_equal(r.data_calls, 0);
	assert_int_equal(r.status, 302);
	res_release(&r);

	/* not following: the 3xx is the final response */
	rq.lim.max_redirects = -1;
	fetch1(e, &r, "/redir", &rq);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.head_calls, 1);
	assert_int_equal(r.head_status, 302);
	assert_true(has_header(&r, "Location=/hello\n"));
	assert_int_equal(r.body.len, 5);
	assert_memory_equal(r.body.p, "moved", 5);
	res_release(&r);
}

static void test_redirect_loop(void **state)
{
	struct env *e = *state;
	struct res r;
	uint64_t t0 = time_mono_ms();
	fetch1(e, &r, "/loop", NULL);
	assert_int_equal(r.rc, ERR_UPSTREAM);
	assert_int_equal(r.head_calls, 0);
	assert_int_equal(r.data_calls, 0);
	assert_int_equal(r.status, 302);
	assert_true(strlen(r.errmsg) > 0);
	assert_true(time_mono_ms() - t0 < 3000);
	res_release(&r);
}

static void test_redirect_to_ftp_refused(void **state)
{
	struct env *e = *state;
	struct res r;
	fetch1(e, &r, "/redir-ftp", NULL);
	assert_int_equal(r.rc, ERR_UPSTREAM);
	assert_int_equal(r.head_calls, 0);
	res_release(&r);
}

static void test_refused_quickly(void **state)
{
	struct env *e = *state;
	int port;
	int fd = listen_on("127.0.0.1", 0, &port);   /* bound, not listening */
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	struct res r;
	uint64_t t0 = time_mono_ms();
	fetch1(e, &r, url, NULL);
	assert_int_equal(r.rc, ERR_UPSTREAM);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.head_calls, 0);
	assert_true(time_mono_ms() - t0 < 1000);
	assert_true(strlen(r.errmsg) > 0);
	close(fd);
	res_release(&r);
}

/* Name lookups run off the loop, and giving up on one (connect timeout,
 * cancel) does not wait for getaddrinfo to return. */
static void test_slow_dns_does_not_block_loop(void **state)
{
	struct env *e = *state;
	struct res r, c, ok;
	struct upstream_request rq = { .lim.connect_timeout_ms = 200 };
	uint64_t t0 = time_mono_ms();
	res_init(&r, e);
	res_init(&c, e);
	res_init(&ok, e);
	assert_int_equal(start(e, &r, "http://a.slow.test/simple/", &rq), ERR_OK);
	assert_int_equal(start(e, &c, "http://b.slow.test/simple/", NULL), ERR_OK);
	assert_int_equal(start(e, &ok, "/status404", NULL), ERR_OK);
	e->pending--;                      /* c is cancelled below */
	while (!ok.done_calls && time_mono_ms() - t0 < SLOW_DNS_MS * 7 / 10)
		event_base_loop(e->base, EVLOOP_ONCE);
	assert_int_equal(ok.rc, ERR_OK);   /* the loop ran while both lookups hang */
	assert_int_equal(c.done_calls, 0);
	uint64_t tc = time_mono_ms();
	upstream_cancel(c.x);
	c.cancelled = 1;
	assert_true(time_mono_ms() - tc < 100);
	run_loop(e, 5000);
	uint64_t dt = time_mono_ms() - t0;
	assert_false(e->deadline_hit);
	assert_int_equal(r.rc, ERR_TIMEOUT);
	assert_int_equal(r.status, 0);
	assert_true(dt < SLOW_DNS_MS * 7 / 10);
	assert_int_equal(c.done_calls, 0);
	/* let the detached lookup threads finish before the next test */
	usleep((SLOW_DNS_MS + 200) * 1000);
	res_release(&r);
	res_release(&c);
	res_release(&ok);
}

static void test_first_byte_timeout(void **state)
{
	struct env *e = *state;
	int port;
	int fd = listen_on("127.0.0.1", 16, &port);  /* accepts (kernel), never answers */
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	struct upstream_request rq = { .lim.first_byte_timeout_ms = 300 };
	struct res r;
	uint64_t t0 = time_mono_ms();
	fetch1(e, &r, url, &rq);
	uint64_t dt = time_mono_ms() - t0;
	assert_int_equal(r.rc, ERR_TIMEOUT);
	assert_int_equal(r.head_calls, 0);
	assert_int_equal(r.status, 0);
	assert_true(dt >= 280 && dt < 2000);
	assert_non_null(strstr(r.errmsg, "300 ms"));
	/* the deadline is met: nothing more happens on that transfer */
	run_for(e, 100);
	assert_int_equal(r.after_done_calls, 0);
	close(fd);
	res_release(&r);

	/* a head that arrives in time stops the first-byte clock */
	struct upstream_request rq2 = { .lim.first_byte_timeout_ms = 300 };
	fetch1(e, &r, "/chunked", &rq2);
	assert_int_equal(r.rc, ERR_OK);
	res_release(&r);
}

static void test_stall_after_head_total_timeout(void **state)
{
	struct env *e = *state;
	struct upstream_request rq = { .lim.total_timeout_ms = 500, .lim.first_byte_timeout_ms = 300 };
	struct res r;
	uint64_t t0 = time_mono_ms();
	fetch1(e, &r, "/stall", &rq);
	uint64_t dt = time_mono_ms() - t0;
	assert_int_equal(r.rc, ERR_TIMEOUT);
	assert_int_equal(r.head_calls, 1);
	assert_int_equal(r.status, 200);
	assert_pattern(&r, 100);
	assert_true(dt >= 450 && dt < 3000);
	res_release(&r);
}

static void test_stall_after_head_low_speed(void **state)
{
	struct env *e = *state;
	struct upstream_request rq = { .lim.low_speed_bytes = 1000, .lim.low_speed_secs = 1 };
	struct res r;
	uint64_t t0 = time_mono_ms();
	fetch1(e, &r, "/stall", &rq);
	uint64_t dt = time_mono_ms() - t0;
	assert_int_equal(r.rc, ERR_TIMEOUT);
	assert_int_equal(r.head_calls, 1);
	assert_pattern(&r, 100);
	assert_true(dt >= 900 && dt < 5000);
	res_release(&r);
}

static void test_max_body(void **state)
{
	struct env *e = *state;
	struct res r;
	/* Content-Length over the bound: refused before on_head */
	struct upstream_request rq = { .lim.max_body = 5000 };
	fetch1(e, &r, "/hello", &rq);
	assert_int_equal(r.rc, ERR_TOOBIG);
	assert_int_equal(r.head_calls, 0);
	assert_int_equal(r.body.len, 0);
	assert_int_equal(r.status, 200);
	res_release(&r);

	/* a huge Content-Length is refused at once, not read */
	rq.lim.max_body = 1000;
	fetch1(e, &r, "/biglen", &rq);
	assert_int_equal(r.rc, ERR_TOOBIG);
	assert_int_equal(r.head_calls, 0);
	res_release(&r);

	/* no length (chunked): counted as it arrives */
	rq.lim.max_body = 2500;
	fetch1(e, &r, "/chunked", &rq);
	assert_int_equal(r.rc, ERR_TOOBIG);
	assert_int_equal(r.head_calls, 1);
	assert_true(r.body.len <= 2500);
	res_release(&r);

	/* compressed: the decoded bytes count (4 MiB of zeros in ~4 KiB) */
	rq.lim.max_body = 100000;
	fetch1(e, &r, "/bomb", &rq);
	assert_int_equal(r.rc, ERR_TOOBIG);
	assert_int_equal(r.head_calls, 1);
	assert_true(r.body.len <= 100000);
	res_release(&r);

	/* exactly at the bound is fine, with and without a length */
	rq.lim.max_body = HELLO_LEN;
	fetch1(e, &r, "/hello", &rq);
	assert_int_equal(r.rc, ERR_OK);
	assert_pattern(&r, HELLO_LEN);
	res_release(&r);
	rq.lim.max_body = 5000;
	fetch1(e, &r, "/chunked", &rq);
	assert_int_equal(r.rc, ERR_OK);
	assert_pattern(&r, 5000);
	res_release(&r);
	rq.lim.max_body = GZ_PLAIN_LEN;
	fetch1(e, &r, "/gzip", &rq);
	assert_int_equal(r.rc, ERR_OK);
	assert_pattern(&r, GZ_PLAIN_LEN);
	res_release(&r);

	/* a 304 carries the representation's length, not a body */
	rq.lim.max_body = 100;
	fetch1(e, &r, "/notmod", &rq);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.head_status, 304);
	assert_int_equal(r.body.len, 0);
	res_release(&r);
}

static void test_truncated_body(void **state)
{
	struct env *e = *state;
	struct res r;
	fetch1(e, &r, "/trunc", NULL);
	assert_int_equal(r.rc, ERR_UPSTREAM);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.head_calls, 1);
	assert_pattern(&r, 500);
	res_release(&r);

	/* without a length, the close ends the body and that is complete */
	fetch1(e, &r, "/eof", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_pattern(&r, 3000);
	res_release(&r);
}

static void test_header_bound(void **state)
{
	struct env *e = *state;
	struct res r;
	/* 800 lines of 100 bytes: over the 64 KiB default */
	fetch1(e, &r, "/bighdr?n=800", NULL);
	assert_int_equal(r.rc, ERR_TOOBIG);
	assert_int_equal(r.head_calls, 0);
	assert_int_equal(r.data_calls, 0);
	res_release(&r);

	/* 600 lines fit in the default */
	fetch1(e, &r, "/bighdr?n=600", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_true(has_header(&r, "X-Pad-00599=xxx"));
	res_release(&r);

	/* an explicit bound */
	struct upstream_request rq = { .lim.max_header_bytes = 1000 };
	fetch1(e, &r, "/bighdr?n=20", &rq);
	assert_int_equal(r.rc, ERR_TOOBIG);
	assert_int_equal(r.head_calls, 0);
	res_release(&r);
	fetch1(e, &r, "/bighdr?n=5", &rq);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.head_calls, 1);
	assert_int_equal(r.body.len, 2);
	res_release(&r);
}

static void test_header_parsing(void **state)
{
	struct env *e = *state;
	struct res r;
	/* 103 Early Hints never reaches on_head */
	fetch1(e, &r, "/early", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.head_calls, 1);
	assert_int_equal(r.head_status, 200);
	assert_true(has_header(&r, "X-Final=yes\n"));
	assert_false(has_header(&r, "Link"));
	assert_int_equal(r.body.len, 2);
	res_release(&r);

	/* folded, empty and padded values */
	fetch1(e, &r, "/fold", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_true(has_header(&r, "X-Empty=\n"));
	assert_true(has_header(&r, "X-Spaces=padded\n"));
	assert_non_null(strstr(r.hdrs.p, "X-Fold=one"));
	assert_non_null(strstr(r.hdrs.p, "two\n"));
	assert_null(strstr(r.hdrs.p, "\r"));
	res_release(&r);

	/* trailers of a chunked body do not show up as headers */
	fetch1(e, &r, "/chunked", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_false(has_header(&r, "X-Trailer"));
	assert_pattern(&r, 5000);
	res_release(&r);

	/* not HTTP at all */
	fetch1(e, &r, "/garbage", NULL);
	assert_int_equal(r.rc, ERR_UPSTREAM);
	assert_int_equal(r.head_calls, 0);
	res_release(&r);
}

static void test_informational_and_trailer_bounds(void **state)
{
	struct env *e = *state;
	struct res r;
	fetch1(e, &r, "/many1xx?n=10", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.head_calls, 1);
	assert_int_equal(r.head_status, 200);
	res_release(&r);
	/* an endless stream of 1xx is cut off */
	fetch1(e, &r, "/many1xx?n=40", NULL);
	assert_int_equal(r.rc, ERR_UPSTREAM);
	assert_int_equal(r.head_calls, 0);
	res_release(&r);
	/* trailers count against the header bound too */
	struct upstream_request rq = { .lim.max_header_bytes = 1000 };
	fetch1(e, &r, "/bigtrailer", &rq);
	assert_int_equal(r.rc, ERR_TOOBIG);
	assert_int_equal(r.head_calls, 1);
	res_release(&r);
	fetch1(e, &r, "/bigtrailer", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.body.len, 2);
	res_release(&r);
}

static void test_tls_verification_on(void **state)
{
	struct env *e = *state;
	struct srv *t = srv_start_tls();
	char url[64];
	snprintf(url, sizeof url, "https://127.0.0.1:%d/simple/", t->port);
	struct res r;
	fetch1(e, &r, url, NULL);
	assert_int_equal(r.rc, ERR_UPSTREAM);
	assert_int_equal(r.head_calls, 0);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.errmsg, "certificate"));
	res_release(&r);
	srv_stop(t);
}

static void test_basic_auth(void **state)
{
	struct env *e = *state;
	struct res r;
	struct upstream_request rq = { .username = "alice", .password = "s3cr:t" };
	fetch1(e, &r, "/auth", &rq);
	assert_int_equal(r.rc, ERR_OK);
	char b64[64];
	base64_encode((const uint8_t *)"alice:s3cr:t", 12, b64);
	char want[80];
	snprintf(want, sizeof want, "Basic %s", b64);
	assert_int_equal(r.body.len, strlen(want));
	assert_memory_equal(r.body.p, want, strlen(want));
	res_release(&r);

	fetch1(e, &r, "/auth", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.body.len, 6);
	assert_memory_equal(r.body.p, "(none)", 6);
	res_release(&r);

	/* a redirect to another host does not carry the credentials */
	struct srv *other = srv_start("127.0.0.2");
	snprintf(e->srv->other_base, sizeof e->srv->other_base, "%s", other->base);
	fetch1(e, &r, "/redir-other", &rq);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.head_status, 200);
	assert_int_equal(r.body.len, 6);
	assert_memory_equal(r.body.p, "(none)", 6);
	res_release(&r);
	srv_stop(other);
}

static void test_concurrent_20(void **state)
{
	struct env *e = *state;
	struct res r[20];
	for (int i = 0; i < 20; i++) {
		res_init(&r[i], e);
		assert_int_equal(start(e, &r[i], i % 2 ? "/hello" : "/gzip", NULL), ERR_OK);
	}
	run_loop(e, 20000);
	assert_false(e->deadline_hit);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(r[i].done_calls, 1);
		assert_int_equal(r[i].rc, ERR_OK);
		assert_int_equal(r[i].head_calls, 1);
		assert_pattern(&r[i], i % 2 ? HELLO_LEN : GZ_PLAIN_LEN);
		res_release(&r[i]);
	}
	/* capped at 16 connections per host */
	assert_true(srv_accepted(e->srv) <= 16);
	assert_true(srv_accepted(e->srv) >= 1);
}

static void test_abort_from_callbacks(void **state)
{
	struct env *e = *state;
	struct res r;
	res_init(&r, e);
	r.head_rc = ERR_PERM;
	assert_int_equal(start(e, &r, "/hello", NULL), ERR_OK);
	run_loop(e, 5000);
	assert_int_equal(r.done_calls, 1);
	assert_int_equal(r.rc, ERR_PERM);
	assert_int_equal(r.data_calls, 0);
	assert_int_equal(r.status, 200);
	res_release(&r);

	res_init(&r, e);
	r.data_rc = ERR_HASH;
	assert_int_equal(start(e, &r, "/hello", NULL), ERR_OK);
	run_loop(e, 5000);
	assert_int_equal(r.done_calls, 1);
	assert_int_equal(r.rc, ERR_HASH);
	assert_int_equal(r.data_calls, 1);
	assert_int_equal(r.after_done_calls, 0);
	res_release(&r);
}

static void test_cancel_self_in_on_data(void **state)
{
	struct env *e = *state;
	struct res a, b;
	res_init(&a, e);
	res_init(&b, e);
	a.cancel_self_on_data = 1;
	assert_int_equal(start(e, &a, "/hello", NULL), ERR_OK);
	assert_int_equal(start(e, &b, "/hello", NULL), ERR_OK);
	run_loop(e, 5000);
	assert_false(e->deadline_hit);
	run_for(e, 100);
	assert_int_equal(a.data_calls, 1);
	assert_int_equal(a.done_calls, 0);
	assert_int_equal(a.after_done_calls, 0);
	assert_int_equal(b.rc, ERR_OK);
	assert_pattern(&b, HELLO_LEN);
	res_release(&a);
	res_release(&b);

	/* same from on_head */
	res_init(&a, e);
	a.cancel_self_on_head = 1;
	assert_int_equal(start(e, &a, "/hello", NULL), ERR_OK);
	e->pending--;
	run_for(e, 200);
	assert_int_equal(a.head_calls, 1);
	assert_int_equal(a.data_calls, 0);
	assert_int_equal(a.done_calls, 0);
	res_release(&a);
}

static void test_cancel_other_in_on_data(void **state)
{
	struct env *e = *state;
	struct res stall, a;
	res_init(&stall, e);
	res_init(&a, e);
	assert_int_equal(start(e, &stall, "/stall", NULL), ERR_OK);
	run_for(e, 100);           /* the stalled one has its head and 100 bytes */
	assert_int_equal(stall.head_calls, 1);
	a.cancel_on_data = &stall;
	assert_int_equal(start(e, &a, "/hello", NULL), ERR_OK);
	run_loop(e, 5000);
	assert_false(e->deadline_hit);
	run_for(e, 100);
	assert_int_equal(a.rc, ERR_OK);
	assert_pattern(&a, HELLO_LEN);
	assert_int_equal(stall.done_calls, 0);
	assert_int_equal(stall.after_done_calls, 0);
	res_release(&stall);
	res_release(&a);
}

static void test_cancel_other_in_on_done(void **state)
{
	struct env *e = *state;
	struct res stall, a;
	res_init(&stall, e);
	res_init(&a, e);
	assert_int_equal(start(e, &stall, "/stall", NULL), ERR_OK);
	a.cancel_on_done = &stall;
	assert_int_equal(start(e, &a, "/status404", NULL), ERR_OK);
	run_loop(e, 5000);
	assert_false(e->deadline_hit);
	run_for(e, 100);
	assert_int_equal(a.rc, ERR_OK);
	assert_int_equal(stall.done_calls, 0);
	assert_int_equal(stall.after_done_calls, 0);
	res_release(&stall);
	res_release(&a);
}

static void test_fetch_and_cancel_inside_callbacks(void **state)
{
	struct env *e = *state;
	struct res a, b;
	/* a transfer started from inside on_data runs (deferred add) */
	res_init(&a, e);
	res_init(&b, e);
	a.fetch_on_data = &b;
	char url[128];
	snprintf(url, sizeof url, "%s/gzip", e->srv->base);
	a.fetch_url = url;
	assert_int_equal(start(e, &a, "/hello", NULL), ERR_OK);
	run_loop(e, 5000);
	assert_false(e->deadline_hit);
	assert_int_equal(a.fetch_rc, ERR_OK);
	assert_int_equal(a.rc, ERR_OK);
	assert_int_equal(b.rc, ERR_OK);
	assert_pattern(&b, GZ_PLAIN_LEN);
	res_release(&a);
	res_release(&b);

	/* and one cancelled before it ever started leaves nothing behind */
	res_init(&a, e);
	res_init(&b, e);
	a.fetch_on_data = &b;
	a.fetch_url = url;
	a.cancel_fetched = 1;
	assert_int_equal(start(e, &a, "/hello", NULL), ERR_OK);
	run_loop(e, 5000);
	run_for(e, 100);
	assert_int_equal(a.rc, ERR_OK);
	assert_int_equal(b.head_calls + b.data_calls + b.done_calls, 0);
	res_release(&a);
	res_release(&b);
}

static void test_free_with_transfers_running(void **state)
{
	struct env *e = *state;
	struct res r[3];
	for (int i = 0; i < 3; i++) {
		res_init(&r[i], e);
		assert_int_equal(start(e, &r[i], "/stall", NULL), ERR_OK);
	}
	run_for(e, 100);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].head_calls, 1);     /* mid-body */
	upstream_free(e->up);
	e->up = NULL;
	run_for(e, 50);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].done_calls, 0);
		assert_int_equal(r[i].after_done_calls, 0);
		res_release(&r[i]);
	}
	assert_int_equal(upstream_new(e->base, "again", &e->up), ERR_OK);
}

/* Regression: with CURLOPT_PIPEWAIT on a plain-http URL, libcurl 7.88 parked
 * every transfer started while the first connection was being set up until
 * that first transfer ended, so one stalled download blocked the host. */
static void test_parallel_not_blocked_by_stalled_transfer(void **state)
{
	struct env *e = *state;
	struct res stall, r[3];
	res_init(&stall, e);
	assert_int_equal(start(e, &stall, "/stall", NULL), ERR_OK);
	e->pending--;
	for (int i = 0; i < 3; i++) {
		res_init(&r[i], e);
		assert_int_equal(start(e, &r[i], "/status404", NULL), ERR_OK);
	}
	run_loop(e, 3000);
	assert_false(e->deadline_hit);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].rc, ERR_OK);
		assert_int_equal(r[i].status, 404);
		res_release(&r[i]);
	}
	assert_int_equal(stall.done_calls, 0);
	res_release(&stall);
}

static void test_pause_resume(void **state)
{
	struct env *e = *state;
	const char *paths[] = { "/hello", "/gzip", "/chunked" };
	const size_t lens[] = { HELLO_LEN, GZ_PLAIN_LEN, 5000 };
	for (int mode = 1; mode <= 2; mode++) {
		for (int i = 0; i < 3; i++) {
			struct res r;
			res_init(&r, e);
			r.pause_mode = mode;
			assert_int_equal(start(e, &r, paths[i], NULL), ERR_OK);
			run_loop(e, 10000);
			assert_false(e->deadline_hit);
			assert_int_equal(r.done_calls, 1);
			assert_int_equal(r.rc, ERR_OK);
			assert_true(r.pauses >= 1);
			assert_true(r.redelivery_ok);
			assert_pattern(&r, lens[i]);
			res_release(&r);
		}
	}
	/* resume of a transfer that is not paused changes nothing */
	struct res r;
	res_init(&r, e);
	assert_int_equal(start(e, &r, "/hello", NULL), ERR_OK);
	upstream_resume(r.x);
	run_loop(e, 5000);
	assert_int_equal(r.rc, ERR_OK);
	assert_pattern(&r, HELLO_LEN);
	res_release(&r);
}

static void test_pause_then_fail_on_redelivery(void **state)
{
	struct env *e = *state;
	for (int action = 1; action <= 2; action++) {
		struct res r;
		res_init(&r, e);
		r.pause_mode = 1;
		r.redelivery_action = action;
		assert_int_equal(start(e, &r, "/hello", NULL), ERR_OK);
		run_loop(e, 5000);
		assert_false(e->deadline_hit);
		run_for(e, 50);
		assert_int_equal(r.data_calls, 2);
		assert_int_equal(r.after_done_calls, 0);
		if (action == 1) {
			assert_int_equal(r.done_calls, 1);
			assert_int_equal(r.rc, ERR_HASH);
			assert_int_equal(r.status, 200);
		} else {
			assert_int_equal(r.done_calls, 0);
		}
		res_release(&r);
	}
}

static void test_pause_then_cancel(void **state)
{
	struct env *e = *state;
	struct res r;
	res_init(&r, e);
	r.pause_mode = 2;
	assert_int_equal(start(e, &r, "/hello", NULL), ERR_OK);
	e->pending--;
	/* the resume is queued; cancel before the loop gets to it */
	while (!r.pauses)
		event_base_loop(e->base, EVLOOP_ONCE);
	upstream_cancel(r.x);
	r.cancelled = 1;
	run_for(e, 100);
	assert_int_equal(r.done_calls, 0);
	assert_int_equal(r.after_done_calls, 0);
	res_release(&r);
}


/* ---- methods and request bodies ---- */

/* A request body source for read_body: the pattern, in pieces of at most
 * piece bytes, pausing every other call when pause_mode is set (1: resumed
 * by a 5 ms timer; 2: resumed from inside read_body before it pauses; 3:
 * never resumed). */
struct bodysrc {
	struct env *env;
	struct res *res;
	size_t len, off, piece;
	int pause_mode;
	int calls, pauses;
	struct event *ev;
};

static void body_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bodysrc *b = arg;
	upstream_resume_body(b->res->x);
}

static long body_read(void *arg, char *buf, size_t n)
{
	struct res *r = arg;
	struct bodysrc *b = r->body_src;
	b->calls++;
	if (b->pause_mode && b->calls % 2 == 1) {
		b->pauses++;
		if (b->pause_mode == 2) {
			upstream_resume_body(r->x);
		} else if (b->pause_mode == 1) {
			struct timeval tv = { 0, 5000 };
			if (!b->ev)
				b->ev = evtimer_new(b->env->base, body_resume_cb, b);
			evtimer_add(b->ev, &tv);
		}
		return UPSTREAM_READ_PAUSE;
	}
	size_t k = b->len - b->off;
	if (k > n)
		k = n;
	if (k > b->piece)
		k = b->piece;
	for (size_t i = 0; i < k; i++)
		buf[i] = pat(b->off + i);
	b->off += k;
	return (long)k;
}

static void body_fetch(struct env *e, struct res *r, struct bodysrc *b, const char *method, size_t len, bool chunked,
		       int pause_mode)
{
	memset(b, 0, sizeof *b);
	b->env = e;
	b->res = r;
	b->len = len;
	b->piece = 7000;
	b->pause_mode = pause_mode;
	res_init(r, e);
	r->body_src = b;
	const char *hdrs[] = { "Content-Type: application/x-test", "Expect:" };
	struct upstream_request rq = {
		.method = method, .read_body = body_read, .body_len = len, .body_chunked = chunked,
		.headers = hdrs, .nheaders = 2, .lim = { .max_redirects = -1 },
	};
	assert_int_equal(start(e, r, "/body", &rq), ERR_OK);
	run_loop(e, 10000);
	assert_false(e->deadline_hit);
	assert_int_equal(r->done_calls, 1);
	assert_int_equal(r->after_done_calls, 0);
	buf_addc(&r->body, '\0');
	r->body.len--;
}

static void test_methods_without_body(void **state)
{
	struct env *e = *state;
	const char *methods[] = { "PUT", "PATCH", "DELETE", "PUSH", "POST", "OPTIONS", "GET" };
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		struct res r;
		struct upstream_request rq = { .method = methods[i] };
		fetch1(e, &r, "/echo", &rq);
		assert_int_equal(r.rc, ERR_OK);
		assert_int_equal(r.status, 200);
		char want[64];
		snprintf(want, sizeof want, "%s /echo HTTP/1.1\r\n", methods[i]);
		buf_addc(&r.body, '\0');
		assert_true(strncmp(r.body.p, want, strlen(want)) == 0);
		assert_null(strstr(r.body.p, "Content-Length"));
		assert_null(strstr(r.body.p, "Transfer-Encoding"));
		res_release(&r);
	}
	/* HEAD: the head only, its Content-Length is no body over max_body */
	struct res r;
	struct upstream_request rq = { .method = "HEAD", .lim = { .max_body = 10 } };
	fetch1(e, &r, "/hello", &rq);
	assert_int_equal(r.rc, ERR_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.head_calls, 1);
	assert_int_equal(r.data_calls, 0);
	assert_true(has_header(&r, "Content-Length=100000\n"));
	res_release(&r);
	/* and the connection is still good for a GET */
	fetch1(e, &r, "/hello", NULL);
	assert_int_equal(r.rc, ERR_OK);
	assert_pattern(&r, HELLO_LEN);
	res_release(&r);
}

static void test_bad_methods(void **state)
{
	struct env *e = *state;
	const char *bad[] = { "", "GET /x", "PU\r\nT", "P(T", "M\xc3\xa9THOD", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct res r;
		res_init(&r, e);
		struct upstream_request rq = { .method = bad[i] };
		assert_int_equal(start(e, &r, "/echo", &rq), ERR_INVAL);
		res_release(&r);
	}
	run_for(e, 50);
	assert_int_equal(srv_accepted(e->srv), 0);
}

static void test_body_with_methods(void **state)
{
	struct env *e = *state;
	const char *methods[] = { NULL, "POST", "PUT", "PATCH", "PUSH", "DELETE" };
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		for (int chunked = 0; chunked <= 1; chunked++) {
			struct res r;
			struct bodysrc b;
			body_fetch(e, &r, &b, methods[i], 300000, chunked, 0);
			assert_int_equal(r.rc, ERR_OK);
			assert_int_equal(r.status, 201);
			char want[128];
			snprintf(want, sizeof want, "%s 300000 ok %s ctype=application/x-test",
				 methods[i] ? methods[i] : "POST", chunked ? "chunked" : "length");
			assert_string_equal(r.body.p, want);
			res_release(&r);
		}
	}
	/* an empty body still says Content-Length: 0 */
	struct res r;
	struct bodysrc b;
	body_fetch(e, &r, &b, "PUT", 0, false, 0);
	assert_int_equal(r.rc, ERR_OK);
	assert_string_equal(r.body.p, "PUT 0 ok length ctype=application/x-test");
	res_release(&r);
}

static void test_body_pause_resume(void **state)
{
	struct env *e = *state;
	for (int mode = 1; mode <= 2; mode++) {
		for (int chunked = 0; chunked <= 1; chunked++) {
			struct res r;
			struct bodysrc b;
			body_fetch(e, &r, &b, "PUT", 200000, chunked, mode);
			assert_int_equal(r.rc, ERR_OK);
			assert_int_equal(r.status, 201);
			assert_true(b.pauses >= 10);
			char want[128];
			snprintf(want, sizeof want, "PUT 200000 ok %s ctype=application/x-test",
				 chunked ? "chunked" : "length");
			assert_string_equal(r.body.p, want);
			if (b.ev)
				event_free(b.ev);
			res_release(&r);
		}
	}
	/* a resume_body of a transfer that is not paused changes nothing */
	struct res r;
	res_init(&r, e);
	assert_int_equal(start(e, &r, "/hello", NULL), ERR_OK);
	upstream_resume_body(r.x);
	run_loop(e, 5000);
	assert_int_equal(r.rc, ERR_OK);
	assert_pattern(&r, HELLO_LEN);
	res_release(&r);
	upstream_resume_body(NULL);
}

static void test_body_paused_then_cancel_or_timeout(void **state)
{
	struct env *e = *state;
	/* never resumed: the total timeout still ends it */
	struct res r;
	struct bodysrc b;
	memset(&b, 0, sizeof b);
	b.env = e;
	b.res = &r;
	b.len = 100000;
	b.piece = 1000;
	b.pause_mode = 3;
	res_init(&r, e);
	r.body_src = &b;
	struct upstream_request rq = { .method = "PUT", .read_body = body_read, .body_len = b.len,
				       .lim = { .total_timeout_ms = 300, .max_redirects = -1 } };
	assert_int_equal(start(e, &r, "/body", &rq), ERR_OK);
	run_loop(e, 5000);
	assert_false(e->deadline_hit);
	assert_int_equal(r.done_calls, 1);
	assert_int_equal(r.rc, ERR_TIMEOUT);
	assert_int_equal(b.pauses, 1);
	res_release(&r);

	/* cancelled while the upload is paused: no callback afterwards */
	memset(&b, 0, sizeof b);
	b.env = e;
	b.res = &r;
	b.len = 100000;
	b.piece = 1000;
	b.pause_mode = 3;
	res_init(&r, e);
	r.body_src = &b;
	rq.lim.total_timeout_ms = 0;
	assert_int_equal(start(e, &r, "/body", &rq), ERR_OK);
	e->pending--;
	while (!b.pauses)
		event_base_loop(e->base, EVLOOP_ONCE);
	upstream_resume_body(r.x);      /* queued, then cancelled before it runs */
	upstream_cancel(r.x);
	r.cancelled = 1;
	run_for(e, 100);
	assert_int_equal(r.done_calls, 0);
	assert_int_equal(r.after_done_calls, 0);
	assert_int_equal(b.calls, 1);
	res_release(&r);
}

/* the reason phrase of the final response, during on_head */
static int reason_head(void *arg, long status, const char *eff, const struct upstream_header *h, size_t nh)
{
	struct res *r = arg;
	size_t n;
	const char *p = upstream_reason(r->x, &n);
	buf_add(&r->hdrs, p, n);
	return ERR_OK;
}

static void test_reason_phrase(void **state)
{
	struct env *e = *state;
	const char *paths[] = { "/status404", "/early", "/unknown-route", "/body" };
	const char *want[] = { "Not Found", "OK", "Unknown", "Made It" };
	for (size_t i = 0; i < 4; i++) {
		struct res r;
		res_init(&r, e);
		struct upstream_cbs c = cbs;
		c.on_head = reason_head;
		char url[256];
		snprintf(url, sizeof url, "%s%s", e->srv->base, paths[i]);
		struct upstream_request rq = { .url = url };
		assert_int_equal(upstream_fetch(e->up, &rq, &c, &r, &r.x), ERR_OK);
		e->pending++;
		run_loop(e, 5000);
		assert_int_equal(r.rc, ERR_OK);
		buf_addc(&r.hdrs, '\0');
		assert_string_equal(r.hdrs.p, want[i]);
		res_release(&r);
	}
}

static void test_bad_requests(void **state)
{
	struct env *e = *state;
	struct res r;
	res_init(&r, e);
	struct upstream_request rq = { .url = "ftp://127.0.0.1/x" };
	struct upstream_xfer *x = (void *)1;
	assert_int_equal(upstream_fetch(e->up, &rq, &cbs, &r, &x), ERR_INVAL);
	assert_null(x);
	rq.url = "http://user:pw@127.0.0.1/x";
	assert_int_equal(upstream_fetch(e->up, &rq, &cbs, &r, &x), ERR_INVAL);
	rq.url = "http://127.0.0.1/x y";
	assert_int_equal(upstream_fetch(e->up, &rq, &cbs, &r, &x), ERR_INVAL);
	rq.url = "http://127.0.0.1/x\r\nX-Injected: 1";
	assert_int_equal(upstream_fetch(e->up, &rq, &cbs, &r, &x), ERR_INVAL);
	rq.url = "file:///etc/passwd";
	assert_int_equal(upstream_fetch(e->up, &rq, &cbs, &r, &x), ERR_INVAL);
	rq.url = "not a url";
	assert_int_equal(upstream_fetch(e->up, &rq, &cbs, &r, &x), ERR_INVAL);
	rq.url = NULL;
	assert_int_equal(upstream_fetch(e->up, &rq, &cbs, &r, &x), ERR_INVAL);
	char url[128];
	snprintf(url, sizeof url, "%s/echo", e->srv->base);
	rq.url = url;
	const char *bad[] = { "X-Ok: 1", "X-Evil: a\r\nHost: evil" };
	rq.headers = bad;
	rq.nheaders = 2;
	assert_int_equal(upstream_fetch(e->up, &rq, &cbs, &r, &x), ERR_INVAL);
	rq.nheaders = 0;
	rq.username = "a\nb";
	assert_int_equal(upstream_fetch(e->up, &rq, &cbs, &r, &x), ERR_INVAL);
	run_for(e, 50);
	assert_int_equal(r.head_calls + r.data_calls + r.done_calls, 0);
	assert_int_equal(srv_accepted(e->srv), 0);
	res_release(&r);
	upstream_cancel(NULL);
	upstream_resume(NULL);
	upstream_free(NULL);
}

static void split_ok(const char *in, const char *url, const char *user, const char *pass)
{
	char *u = (char *)1, *us = (char *)1, *pw = (char *)1;
	assert_int_equal(upstream_split_credentials(in, &u, &us, &pw), ERR_OK);
	assert_string_equal(u, url);
	if (user)
		assert_string_equal(us, user);
	else
		assert_null(us);
	if (pass)
		assert_string_equal(pw, pass);
	else
		assert_null(pw);
	xfree(u);
	xfree(us);
	xfree(pw);
}

static void split_bad(const char *in)
{
	char *u = (char *)1, *us = (char *)1, *pw = (char *)1;
	assert_int_equal(upstream_split_credentials(in, &u, &us, &pw), ERR_INVAL);
	assert_null(u);
	assert_null(us);
	assert_null(pw);
}

static void test_split_credentials(void **state)
{
	split_ok("https://pypi.org/simple/", "https://pypi.org/simple/", NULL, NULL);
	split_ok("https://alice:secret@pypi.example.com/simple/", "https://pypi.example.com/simple/", "alice", "secret");
	split_ok("http://bob:p%40ss%3Aw%2Fd%20x@host:8080/a/b?c=d", "http://host:8080/a/b?c=d", "bob", "p@ss:w/d x");
	split_ok("https://tok%40en@host/", "https://host/", "tok@en", NULL);
	split_ok("https://:onlypass@host/", "https://host/", "", "onlypass");
	split_ok("https://u:@host/x", "https://host/x", "u", "");
	split_ok("HTTPS://u:p@Host/x", "https://Host/x", "u", "p");
	split_ok("https://u:p@[::1]:3141/root/pypi/+simple/", "https://[::1]:3141/root/pypi/+simple/", "u", "p");
	split_bad("ftp://u:p@host/x");
	split_bad("file:///etc/passwd");
	split_bad("gopher://host/");
	split_bad("host/simple");
	split_bad("");
	split_bad(NULL);
	split_bad("http://");
	split_bad("http://u:p@/x");
	split_bad("http://host/a b");
	split_bad("http://u:p%00x@host/");        /* NUL in the password */
	split_bad("http://u:p%0d%0aX:1@host/");   /* CR LF in the password */
	split_bad("\x01\x02garbage");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_200_in_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_404_passed_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_headers_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirect_to_ftp_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_quickly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_dns_does_not_block_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_byte_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_after_head_total_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_after_head_low_speed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_informational_and_trailer_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_verification_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_basic_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_20, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_from_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_self_in_on_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_other_in_on_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_other_in_on_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_and_cancel_inside_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_transfers_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_not_blocked_by_stalled_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_then_fail_on_redelivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_then_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_methods_without_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_with_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_paused_then_cancel_or_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reason_phrase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test(test_split_credentials),
	};
	if (getenv("UPSTREAM_TEST_DEBUG"))
		log_set_level(LOG_DEBUG);
	/* proxies from the environment would route loopback tests elsewhere */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
