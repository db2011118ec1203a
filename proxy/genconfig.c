/* genconfig.c — the deployment examples of `devpi-like gen-config OUTDIR`
 * (see genconfig.h).
 *
 * Two steps.  gc_prepare() checks and normalizes every option that ends up
 * in a file (absolute paths, the address nginx proxies to, the outside URL
 * split into host, port and path prefix), refusing any character outside a
 * small set; the renderers then append text to bounded buffers from those
 * checked values only, so none of them has to escape anything and no value
 * can add an nginx directive, a systemd line or a YAML key.  Nothing is
 * written until every file has rendered; files are created with O_EXCL
 * after checking that none exists (gen-config never overwrites), and a
 * failed run removes the files it created.
 *
 * The topology files (docker-compose.yml, nginx-replicas.conf) use fixed
 * service names (primary, replica1, replica2, nginx) and no path of this
 * machine unless --secretfile is given, so with the defaults they are the
 * files committed in docker/ (a test regenerates and compares them).
 */
#include "proxy/genconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "config/config.h"

#define GC_URL_MAX 512
#define GC_PATH_MAX 1024
#define GC_HOST_MAX 253
#define GC_FILE_MAX (64 * 1024)
#define GC_EXE_DEFAULT "/usr/local/bin/devpi-like"
#define GC_SECRET_NAME "devpi-like-secret"

/* Characters allowed beyond ASCII letters and digits.  None of them is
 * special in nginx (outside regexes: '.' is escaped there), in a systemd
 * ExecStart line or in a double-quoted YAML scalar. */
#define URL_CHARS "-._~:/[]"
#define PATH_CHARS "-._~/+,=@"
#define HOST_CHARS "-.:"

enum { F_NGINX_NODE, F_UNIT, F_COMPOSE, F_NGINX_REPLICAS, F_COUNT };

const char *const genconfig_files[] = { "nginx-devpi-like.conf", "devpi-like.service", "docker-compose.yml",
					"nginx-replicas.conf", NULL };

struct url {
	char *text;     /* the URL without trailing '/'; NULL = not given */
	bool https;
	char *host;     /* as written: an IPv6 literal keeps its brackets */
	int port;       /* 0 = the scheme's */
	char *prefix;   /* the path without trailing '/', "" for none */
};

struct gc {
	const struct config *cfg;
	char *serverdir;          /* absolute */
	char *secretfile;         /* absolute, or NULL */
	char *config_file;        /* absolute, or NULL */
	char *exe;                /* the binary ExecStart runs */
	char *upstream;           /* "host:port" nginx proxies to for this node */
	const char *role;         /* --role when not auto, else NULL */
	struct url outside;
	struct url primary;
	char body_max[32];        /* client_max_body_size */
};

/* A render target: the first error sticks, later appends are skipped. */
struct out {
	struct buf b;
	int rc;
};

__attribute__((format(printf, 2, 3))) static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	if (o->rc)
		return;
	va_start(ap, fmt);
	o->rc = buf_vaddf(&o->b, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* checking the options */

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(unsigned char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9');
}

/* Offset of the first character of s outside letters, digits and extra,
 * or SIZE_MAX when there is none. */
static size_t bad_char(const char *s, const char *extra)
{
	for (size_t i = 0; s[i]; i++)
		if (!is_alnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return i;
	return SIZE_MAX;
}

static int check_chars(const char *opt, const char *s, const char *extra)
{
	size_t i = bad_char(s, extra);
	if (i == SIZE_MAX)
		return ERR_OK;
	log_err("gen-config: %s: character 0x%02x at offset %zu is not allowed (only letters, digits and '%s' are "
		"written into the generated files)",
		opt, (unsigned char)s[i], i, extra);
	return ERR_INVAL;
}

static void url_release(struct url *u)
{
	xfree(u->text);
	xfree(u->host);
	xfree(u->prefix);
	memset(u, 0, sizeof *u);
}

/* http(s)://host[:port][/path], host a name, an IPv4 address or [IPv6];
 * no credentials, query or fragment; path segments not "." or "..". */
static int parse_url(const char *opt, const char *s, struct url *u)
{
	size_t n = strlen(s);
	const char *p, *hend, *seg;
	int rc = ERR_INVAL;
	if (n == 0 || n > GC_URL_MAX) {
		log_err("gen-config: %s must be 1 to %d characters", opt, GC_URL_MAX);
		goto fail;
	}
	if (strchr(s, '@')) {
		log_err("gen-config: %s must not contain credentials", opt);
		goto fail;
	}
	if (check_chars(opt, s, URL_CHARS))
		goto fail;
	if (strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else if (strncmp(s, "https://", 8) == 0) {
		p = s + 8;
		u->https = true;
	} else {
		log_err("gen-config: %s must start with http:// or https://", opt);
		goto fail;
	}
	if (*p == '[') {
		for (hend = p + 1; is_hex((unsigned char)*hend) || *hend == ':' || *hend == '.'; hend++)
			;
		if (*hend != ']' || hend == p + 1) {
			log_err("gen-config: %s has an invalid IPv6 address", opt);
			goto fail;
		}
		hend++;
	} else {
		for (hend = p; is_alnum((unsigned char)*hend) || *hend == '-' || *hend == '.'; hend++)
			;
		if (hend == p) {
			log_err("gen-config: %s has no host", opt);
			goto fail;
		}
	}
	u->host = xstrndup(p, (size_t)(hend - p));
	p = hend;
	if (*p == ':') {
		long port = 0;
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
			port = port * 10 + (*p - '0');
		if (digits == 0 || digits > 5 || port < 1 || port > 65535) {
			log_err("gen-config: %s has an invalid port", opt);
			goto fail;
		}
		u->port = (int)port;
	}
	if (*p && *p != '/') {
		log_err("gen-config: %s: unexpected '%c' after the host", opt, *p);
		goto fail;
	}
	if (strchr(p, '[') || strchr(p, ']')) {
		log_err("gen-config: %s: brackets are only allowed around an IPv6 address", opt);
		goto fail;
	}
	for (seg = p; *seg; seg++) {
		if (seg[0] != '/')
			continue;
		size_t len = strcspn(seg + 1, "/");
		if ((len == 1 && seg[1] == '.') || (len == 2 && seg[1] == '.' && seg[2] == '.')) {
			log_err("gen-config: %s must not contain '.' or '..' path segments", opt);
			goto fail;
		}
	}
	size_t plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
	u->prefix = xstrndup(p, plen);
	while (n && s[n - 1] == '/')
		n--;
	u->text = xstrndup(s, n);
	rc = ERR_OK;
fail:
	if (rc)
		url_release(u);
	return rc;
}

/* s made absolute (against the current directory) with empty and "."
 * segments dropped; *out is xmalloc'ed. */
static int abs_path(const char *opt, const char *s, char **out)
{
	struct buf b;
	char cwd[GC_PATH_MAX + 1];
	int rc = ERR_INVAL;
	buf_init(&b, 0);
	*out = NULL;
	if (!*s || strlen(s) > GC_PATH_MAX) {
		log_err("gen-config: %s must be 1 to %d characters", opt, GC_PATH_MAX);
		goto fail;
	}
	if (check_chars(opt, s, PATH_CHARS))
		goto fail;
	if (s[0] != '/') {
		if (!getcwd(cwd, sizeof cwd)) {
			log_err("gen-config: cannot make %s absolute: %s", opt, strerror(errno));
			goto fail;
		}
		if (check_chars("the current directory (a relative path is made absolute)", cwd, PATH_CHARS))
			goto fail;
		if (strcmp(cwd, "/") != 0 && (rc = buf_adds(&b, cwd)))
			goto fail;
	}
	for (const char *p = s; *p;) {
		size_t len = strcspn(p, "/");
		if (len && !(len == 1 && p[0] == '.')) {
			if ((rc = buf_addc(&b, '/')) || (rc = buf_add(&b, p, len)))
				goto fail;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	if (!b.len && (rc = buf_addc(&b, '/')))
		goto fail;
	if (b.len > GC_PATH_MAX) {
		log_err("gen-config: %s is longer than %d characters once absolute", opt, GC_PATH_MAX);
		rc = ERR_INVAL;
		goto fail;
	}
	*out = buf_detach(&b, NULL);
	rc = ERR_OK;
fail:
	buf_release(&b);
	return rc;
}

/* The running binary when its path is writable as is, else the usual
 * install location. */
static char *exe_path(void)
{
	char p[GC_PATH_MAX + 1];
	ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
	if (n <= 0 || n >= (ssize_t)sizeof p - 1)
		return xstrdup(GC_EXE_DEFAULT);
	p[n] = '\0';
	if (p[0] != '/' || bad_char(p, PATH_CHARS) != SIZE_MAX)
		return xstrdup(GC_EXE_DEFAULT);
	return xstrdup(p);
}

/* nginx size syntax: the largest exact unit. */
static void size_text(uint64_t n, char *out, size_t cap)
{
	static const struct {
		uint64_t mul;
		char suffix;
	} units[] = { { 1ull << 30, 'g' }, { 1ull << 20, 'm' }, { 1ull << 10, 'k' } };
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (n && n % units[i].mul == 0) {
			snprintf(out, cap, "%llu%c", (unsigned long long)(n / units[i].mul), units[i].suffix);
			return;
		}
	}
	snprintf(out, cap, "%llu", (unsigned long long)n);
}

static int gc_prepare(struct gc *g, const struct config *cfg)
{
	const char *host = cfg->host ? cfg->host : "";
	int rc = ERR_INVAL;
	g->cfg = cfg;
	if (cfg->port < 1 || cfg->port > 65535) {
		log_err("gen-config: needs a fixed --port (1-65535), not %d", cfg->port);
		goto fail;
	}
	if (!*host || strlen(host) > GC_HOST_MAX) {
		log_err("gen-config: --host must be 1 to %d characters", GC_HOST_MAX);
		goto fail;
	}
	if (check_chars("--host", host, HOST_CHARS))
		goto fail;
	if (strchr(host, ':') && strspn(host, "0123456789abcdefABCDEF:.") != strlen(host)) {
		log_err("gen-config: --host with ':' must be an IPv6 address");
		goto fail;
	}
	/* nginx reaches a node listening on every address through loopback */
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	g->upstream = strchr(host, ':') ? xasprintf("[%s]:%d", host, cfg->port) : xasprintf("%s:%d", host, cfg->port);
	if (cfg->role && strcmp(cfg->role, "auto") != 0) {
		if (strcmp(cfg->role, "primary") != 0 && strcmp(cfg->role, "master") != 0 &&
		    strcmp(cfg->role, "replica") != 0 && strcmp(cfg->role, "standalone") != 0) {
			log_err("gen-config: --role must be auto, primary, replica or standalone");
			goto fail;
		}
		g->role = cfg->role;
	}
	if ((rc = abs_path("--serverdir", cfg->serverdir ? cfg->serverdir : "", &g->serverdir)))
		goto fail;
	if (cfg->secretfile && (rc = abs_path("--secretfile", cfg->secretfile, &g->secretfile)))
		goto fail;
	if (cfg->config_file && (rc = abs_path("-c", cfg->config_file, &g->config_file)))
		goto fail;
	if (cfg->outside_url && (rc = parse_url("--outside-url", cfg->outside_url, &g->outside)))
		goto fail;
	if (cfg->primary_url && (rc = parse_url("--primary-url", cfg->primary_url, &g->primary)))
		goto fail;
	rc = ERR_INVAL;
	if ((g->primary.text || (g->role && strcmp(g->role, "replica") == 0)) && !g->secretfile) {
		log_err("gen-config: a replica needs --secretfile (the primary's secret signs its requests)");
		goto fail;
	}
	if (g->role && (strcmp(g->role, "primary") == 0 || strcmp(g->role, "master") == 0)) {
		if (!g->secretfile) {
			log_err("gen-config: --role primary needs --secretfile (replicas sign their requests with it)");
			goto fail;
		}
		if (g->primary.text) {
			log_err("gen-config: a primary cannot have --primary-url");
			goto fail;
		}
	}
	g->exe = exe_path();
	size_text(cfg->max_upload_size, g->body_max, sizeof g->body_max);
	rc = ERR_OK;
fail:
	return rc;
}

static void gc_release(struct gc *g)
{
	xfree(g->serverdir);
	xfree(g->secretfile);
	xfree(g->config_file);
	xfree(g->exe);
	xfree(g->upstream);
	url_release(&g->outside);
	url_release(&g->primary);
}

/* ---------------------------------------------------------------------- */
/* nginx */

/* server_name and listen of the server block: the outside URL's host and
 * port when given. */
static void nginx_listen(struct out *o, const struct gc *g)
{
	const struct url *u = &g->outside;
	int port = u->port ? u->port : u->https ? 443 : 80;
	if (u->text && u->https) {
		outf(o,
		     "    listen %d ssl;\n"
		     "    server_name %s;\n"
		     "    # --outside-url is https: point these at the certificate and key for %s\n"
		     "    ssl_certificate /etc/ssl/certs/devpi-like.pem;\n"
		     "    ssl_certificate_key /etc/ssl/private/devpi-like.key;\n",
		     port, u->host, u->host);
	} else {
		outf(o, "    listen %d;\n    server_name %s;\n", port, u->text ? u->host : "_");
	}
}

/* Everything a server block proxying to devpi-like sets once. */
static void nginx_common(struct out *o, const struct gc *g)
{
	const struct url *u = &g->outside;
	outf(o,
	     "\n"
	     "    # the largest upload devpi-like accepts (--max-upload-size)\n"
	     "    client_max_body_size %s;\n"
	     "\n"
	     "    gzip on;\n"
	     "    gzip_min_length 2000;\n"
	     "    gzip_proxied any;\n"
	     "    gzip_types text/plain text/css application/json application/vnd.pypi.simple.v1+json;\n"
	     "\n"
	     "    proxy_http_version 1.1;\n"
	     "    proxy_set_header Connection \"\";\n"
	     "    proxy_set_header Host $http_host;\n"
	     "    # devpi-like builds the URLs it returns from this header\n",
	     g->body_max);
	if (u->text)
		outf(o, "    proxy_set_header X-Outside-Url \"%s\";\n", u->text);
	else
		outf(o, "    proxy_set_header X-Outside-Url $scheme://$http_host;\n");
	outf(o,
	     "    proxy_set_header X-Real-IP $remote_addr;\n"
	     "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
	     "    proxy_set_header X-Forwarded-Proto $scheme;\n"
	     "    proxy_connect_timeout 5s;\n"
	     "    proxy_send_timeout 60s;\n"
	     "    proxy_read_timeout 60s;\n");
	if (u->prefix && *u->prefix) {
		/* the prefix is in the URLs devpi-like returns; it serves from / */
		outf(o, "\n    # devpi-like serves from /: strip the --outside-url path\n    rewrite ^");
		for (const char *p = u->prefix; *p; p++)
			outf(o, "%s%c", *p == '.' ? "\\" : "", *p);
		outf(o, "(?:/(.*))?$ /$1 break;\n");
	}
}

/* The three locations: files streamed unbuffered, the replication
 * endpoints with a long read timeout, everything else.  pass is the
 * proxy_pass target of files and the rest, repl that of the replication
 * endpoints. */
static void nginx_locations(struct out *o, const char *pass, const char *repl)
{
	outf(o,
	     "\n"
	     "    # release files stream through unbuffered, whatever their size\n"
	     "    location ~ /\\+f/ {\n"
	     "        proxy_buffering off;\n"
	     "        proxy_pass %s;\n"
	     "    }\n"
	     "\n"
	     "    # the replication stream stays open (a heartbeat every 15 s, 300 s at most)\n"
	     "    location ~ /\\+(changelog|snapshot)(/|$) {\n"
	     "        proxy_buffering off;\n"
	     "        proxy_read_timeout 330s;\n"
	     "        proxy_pass %s;\n"
	     "    }\n"
	     "\n"
	     "    location / {\n"
	     "        proxy_pass %s;\n"
	     "    }\n",
	     pass, repl, pass);
}

static void render_nginx_node(struct out *o, const struct gc *g)
{
	outf(o,
	     "# nginx-devpi-like.conf, written by `devpi-like gen-config`: nginx in front\n"
	     "# of the devpi-like node at %s (serverdir %s).\n"
	     "# It belongs inside http {}: copy it to /etc/nginx/conf.d/ and reload nginx.\n"
	     "\n"
	     "upstream devpi_like {\n"
	     "    server %s;\n"
	     "    keepalive 32;\n"
	     "}\n"
	     "\n"
	     "server {\n",
	     g->upstream, g->serverdir, g->upstream);
	nginx_listen(o, g);
	nginx_common(o, g);
	nginx_locations(o, "http://devpi_like", "http://devpi_like");
	outf(o, "}\n");
}

static void render_nginx_replicas(struct out *o, const struct gc *g)
{
	int port = g->cfg->port;
	outf(o,
	     "# nginx-replicas.conf, written by `devpi-like gen-config`: nginx in front of\n"
	     "# one devpi-like primary and two read replicas (docker-compose.yml).\n"
	     "# Reads (GET, HEAD) are balanced over the replicas; every other method,\n"
	     "# /+login and the replication endpoints go to the primary.  A replica\n"
	     "# forwards any write that reaches it to the primary all the same.\n"
	     "# It belongs inside http {} (conf.d/default.conf in the nginx image).\n"
	     "\n"
	     "upstream devpi_like_primary {\n"
	     "    server primary:%d;\n"
	     "    keepalive 16;\n"
	     "}\n"
	     "\n"
	     "upstream devpi_like_replicas {\n"
	     "    server replica1:%d;\n"
	     "    server replica2:%d;\n"
	     "    keepalive 32;\n"
	     "}\n"
	     "\n"
	     "map $request_method $devpi_like_by_method {\n"
	     "    GET     devpi_like_replicas;\n"
	     "    HEAD    devpi_like_replicas;\n"
	     "    default devpi_like_primary;\n"
	     "}\n"
	     "\n"
	     "map $request_uri $devpi_like_upstream {\n"
	     "    \"~^[^?]*/\\+login(\\?|$)\" devpi_like_primary;\n"
	     "    default                 $devpi_like_by_method;\n"
	     "}\n"
	     "\n"
	     "server {\n",
	     port, port, port);
	nginx_listen(o, g);
	nginx_common(o, g);
	nginx_locations(o, "http://$devpi_like_upstream", "http://devpi_like_primary");
	outf(o, "}\n");
}

/* ---------------------------------------------------------------------- */
/* systemd */

static void render_unit(struct out *o, const struct gc *g)
{
	const struct config *cfg = g->cfg;
	bool low_port = cfg->port < 1024;
	outf(o,
	     "# devpi-like.service, written by `devpi-like gen-config`: the devpi-like\n"
	     "# node serving %s on %s.\n"
	     "#\n"
	     "#   useradd --system --home-dir %s devpi-like\n"
	     "#   install -d -o devpi-like -g devpi-like -m 0750 %s\n"
	     "#   cp devpi-like.service /etc/systemd/system/\n"
	     "#   systemctl daemon-reload && systemctl enable --now devpi-like\n"
	     "#   journalctl -u devpi-like    (the first start prints the root password)\n"
	     "\n"
	     "[Unit]\n"
	     "Description=devpi-like package index (%s)\n"
	     "After=network-online.target\n"
	     "Wants=network-online.target\n"
	     "\n"
	     "[Service]\n"
	     "Type=simple\n"
	     "User=devpi-like\n"
	     "Group=devpi-like\n"
	     "ExecStart=%s serve",
	     g->serverdir, g->upstream, g->serverdir, g->serverdir, g->upstream, g->exe);
	if (g->config_file)
		outf(o, " -c %s", g->config_file);
	outf(o, " --serverdir %s --host %s --port %d", g->serverdir, cfg->host, cfg->port);
	if (g->role)
		outf(o, " --role %s", g->role);
	if (g->outside.text)
		outf(o, " --outside-url %s", g->outside.text);
	if (g->primary.text)
		outf(o, " --primary-url %s", g->primary.text);
	if (g->secretfile)
		outf(o, " --secretfile %s", g->secretfile);
	outf(o,
	     "\n"
	     "Restart=on-failure\n"
	     "RestartSec=5s\n"
	     "LimitNOFILE=65536\n"
	     "UMask=0027\n"
	     "\n"
	     "# hardening: the store is the only place it writes\n"
	     "NoNewPrivileges=yes\n"
	     "ProtectSystem=strict\n"
	     "ReadWritePaths=%s\n"
	     "ProtectHome=read-only\n"
	     "PrivateTmp=yes\n"
	     "PrivateDevices=yes\n"
	     "ProtectKernelTunables=yes\n"
	     "ProtectKernelModules=yes\n"
	     "ProtectKernelLogs=yes\n"
	     "ProtectControlGroups=yes\n"
	     "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"
	     "RestrictNamespaces=yes\n"
	     "RestrictRealtime=yes\n"
	     "RestrictSUIDSGID=yes\n"
	     "LockPersonality=yes\n"
	     "MemoryDenyWriteExecute=yes\n"
	     "SystemCallArchitectures=native\n"
	     "CapabilityBoundingSet=%s\n"
	     "%s"
	     "\n"
	     "[Install]\n"
	     "WantedBy=multi-user.target\n",
	     g->serverdir, low_port ? "CAP_NET_BIND_SERVICE" : "",
	     low_port ? "AmbientCapabilities=CAP_NET_BIND_SERVICE\n" : "");
}

/* ---------------------------------------------------------------------- */
/* docker compose */

static void compose_node(struct out *o, const char *name, const struct gc *g, bool primary)
{
	int port = g->cfg->port;
	outf(o,
	     "  %s:\n"
	     "    image: devpi-like\n",
	     name);
	if (primary)
		outf(o, "    command: [\"--port\", \"%d\", \"--role\", \"primary\",\n", port);
	else
		outf(o, "    command: [\"--port\", \"%d\", \"--primary-url\", \"http://primary:%d\",\n", port, port);
	outf(o,
	     "              \"--secretfile\", \"/run/secrets/" GC_SECRET_NAME "\"]\n"
	     "    secrets: [" GC_SECRET_NAME "]\n"
	     "    volumes:\n"
	     "      - %s-data:/data\n",
	     name);
	if (!primary)
		outf(o, "    depends_on: [primary]\n");
	outf(o, "    restart: unless-stopped\n\n");
}

static void render_compose(struct out *o, const struct gc *g)
{
	outf(o,
	     "# docker-compose.yml, written by `devpi-like gen-config`: one devpi-like\n"
	     "# primary, two read replicas following it, and nginx in front\n"
	     "# (nginx-replicas.conf) balancing reads over the replicas and sending\n"
	     "# writes and /+login to the primary.  Each node has its own store (a\n"
	     "# named volume); all three share one secret file, mounted read-only.\n"
	     "#\n"
	     "#   docker build -f docker/Dockerfile -t devpi-like .    (in the source tree)\n"
	     "#   head -c 48 /dev/urandom | base64 > %s\n"
	     "#   chown 3141 %s && chmod 0400 %s    (the image's devpi user)\n"
	     "#   docker compose up -d\n"
	     "#   docker compose logs primary    (the first start prints the root password)\n"
	     "\n"
	     "services:\n",
	     g->secretfile ? g->secretfile : "secret", g->secretfile ? g->secretfile : "secret",
	     g->secretfile ? g->secretfile : "secret");
	compose_node(o, "primary", g, true);
	compose_node(o, "replica1", g, false);
	compose_node(o, "replica2", g, false);
	outf(o,
	     "  nginx:\n"
	     "    image: nginx:stable\n"
	     "    ports:\n"
	     "      - \"%d:%d\"\n"
	     "    volumes:\n"
	     "      - ./nginx-replicas.conf:/etc/nginx/conf.d/default.conf:ro\n"
	     "    depends_on: [primary, replica1, replica2]\n"
	     "    restart: unless-stopped\n"
	     "\n"
	     "volumes:\n"
	     "  primary-data:\n"
	     "  replica1-data:\n"
	     "  replica2-data:\n"
	     "\n"
	     "secrets:\n"
	     "  " GC_SECRET_NAME ":\n"
	     "    file: \"%s\"\n",
	     g->cfg->port, g->outside.port ? g->outside.port : g->outside.https ? 443 : 80,
	     g->secretfile ? g->secretfile : "./secret");
}

/* ---------------------------------------------------------------------- */
/* writing */

/* Creates outdir if missing; ERR_EXISTS (each named) when it holds any of
 * the files. */
static int prepare_outdir(const char *outdir)
{
	struct stat st;
	int rc = ERR_OK;
	if (stat(outdir, &st) != 0) {
		if (errno != ENOENT) {
			log_err("gen-config: cannot use '%s': %s", outdir, strerror(errno));
			return ERR_IO;
		}
		if (mkdir(outdir, 0755) != 0) {
			log_err("gen-config: cannot create '%s': %s", outdir, strerror(errno));
			return ERR_IO;
		}
		return ERR_OK;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("gen-config: '%s' is not a directory", outdir);
		return ERR_INVAL;
	}
	for (int i = 0; genconfig_files[i]; i++) {
		char *path = xasprintf("%s/%s", outdir, genconfig_files[i]);
		if (lstat(path, &st) == 0 || errno != ENOENT) {
			log_err("gen-config: '%s' already exists; gen-config never overwrites (remove it or choose "
				"another OUTDIR)",
				path);
			rc = ERR_EXISTS;
		}
		xfree(path);
	}
	return rc;
}

/* Creates dir/name (never over an existing file) with b's bytes; *path is
 * set (xmalloc'ed) once the file exists, so the caller can remove it. */
static int write_new(const char *dir, const char *name, const struct buf *b, char **path)
{
	int rc = ERR_IO;
	size_t off = 0;
	char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	*path = NULL;
	if (fd < 0) {
		rc = errno == EEXIST ? ERR_EXISTS : ERR_IO;
		log_err("gen-config: cannot create '%s': %s", p, strerror(errno));
		xfree(p);
		goto fail;
	}
	*path = p;
	while (off < b->len) {
		ssize_t n = write(fd, b->p + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_err("gen-config: cannot write '%s': %s", p, strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	rc = ERR_OK;
fail:
	if (fd >= 0 && close(fd) != 0 && rc == ERR_OK) {
		log_err("gen-config: cannot write '%s': %s", p, strerror(errno));
		rc = ERR_IO;
	}
	return rc;
}

int genconfig_run(const struct config *cfg, const char *outdir)
{
	struct gc g;
	struct out o[F_COUNT];
	char *written[F_COUNT] = { NULL };
	int rc, i;
	memset(&g, 0, sizeof g);
	for (i = 0; i < F_COUNT; i++) {
		buf_init(&o[i].b, GC_FILE_MAX);
		o[i].rc = ERR_OK;
	}
	if ((rc = gc_prepare(&g, cfg)))
		goto out;
	render_nginx_node(&o[F_NGINX_NODE], &g);
	render_unit(&o[F_UNIT], &g);
	render_compose(&o[F_COMPOSE], &g);
	render_nginx_replicas(&o[F_NGINX_REPLICAS], &g);
	for (i = 0; i < F_COUNT; i++) {
		if ((rc = o[i].rc)) {
			log_err("gen-config: cannot render '%s': %s", genconfig_files[i], err_str(rc));
			goto out;
		}
	}
	if ((rc = prepare_outdir(outdir)))
		goto out;
	for (i = 0; i < F_COUNT; i++)
		if ((rc = write_new(outdir, genconfig_files[i], &o[i].b, &written[i])))
			goto out;
	for (i = 0; i < F_COUNT; i++)
		printf("wrote %s\n", written[i]);
out:
	for (i = 0; i < F_COUNT; i++) {
		if (rc && written[i])
			unlink(written[i]);
		xfree(written[i]);
		buf_release(&o[i].b);
	}
	gc_release(&g);
	return rc;
}
