/* config.c — one table of options drives the command line, the config file
 * and the environment (see config.h).
 *
 * Values are parsed by type (string, int, size with K/M/G suffix, bool) into
 * their field through an offset, so adding a directive is adding a row.  The
 * sample devpi-like.conf at the repository root documents every row.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"

enum opt_type { OPT_STR, OPT_INT, OPT_SIZE, OPT_BOOL };

struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	const char *def;           /* default as text; NULL = none */
	unsigned cmds;             /* bit per enum config_cmd where it applies */
	const char *help;
};

#define SERVE (1u << CMD_SERVE)
#define INIT (1u << CMD_INIT)
#define FSCK (1u << CMD_FSCK)
#define BACKUP (1u << CMD_BACKUP)
#define EXPORT (1u << CMD_EXPORT)
#define IMPORT (1u << CMD_IMPORT)
#define GENCONFIG (1u << CMD_GEN_CONFIG)
#define STORECMDS (FSCK | BACKUP | EXPORT | IMPORT)
#define F(field) offsetof(struct config, field)

static const struct opt opts[] = {
	{ "serverdir", OPT_STR, F(serverdir), "./data", SERVE | INIT | STORECMDS | GENCONFIG, "server directory (the LMDB store)" },
	{ "host", OPT_STR, F(host), "127.0.0.1", SERVE | GENCONFIG, "address to listen on" },
	{ "port", OPT_INT, F(port), "3141", SERVE | GENCONFIG, "port to listen on (0 = any free port)" },
	{ "root-passwd", OPT_STR, F(root_passwd), NULL, SERVE | INIT | IMPORT, "root password at initialization (default: random, printed once)" },
	{ "no-root-pypi", OPT_BOOL, F(no_root_pypi), "false", SERVE | INIT | IMPORT, "do not create the root/pypi mirror at initialization" },
	{ "root-pypi-url", OPT_STR, F(root_pypi_url), "https://pypi.org/simple/", SERVE | INIT | IMPORT, "mirror_url of root/pypi at initialization" },
	{ "threads", OPT_INT, F(threads), "0", SERVE, "worker threads (0 = number of cores)" },
	{ "max-upload-size", OPT_SIZE, F(max_upload_size), "1G", SERVE | GENCONFIG, "largest request body accepted (413 beyond)" },
	{ "map-size", OPT_SIZE, F(map_size), "64G", SERVE | INIT | STORECMDS, "LMDB map size (address space, not disk)" },
	{ "header-timeout", OPT_INT, F(header_timeout), "20", SERVE, "seconds a client has to send a whole request head" },
	{ "body-timeout", OPT_INT, F(body_timeout), "60", SERVE, "seconds of silence allowed while a request body is read" },
	{ "idle-timeout", OPT_INT, F(idle_timeout), "75", SERVE, "seconds an idle keep-alive connection is kept" },
	{ "max-connections", OPT_INT, F(max_connections), "20000", SERVE, "connections served at once across all workers" },
	{ "outside-url", OPT_STR, F(outside_url), NULL, SERVE | GENCONFIG, "URL prefix used in generated absolute URLs" },
	{ "absolute-urls", OPT_BOOL, F(absolute_urls), "false", SERVE, "absolute links in simple pages" },
	{ "offline-mode", OPT_BOOL, F(offline_mode), "false", SERVE, "never contact upstream" },
	{ "mirror-cache-expiry", OPT_INT, F(mirror_cache_expiry), "1800", SERVE, "default mirror_cache_expiry of mirror indexes (seconds)" },
	{ "request-timeout", OPT_INT, F(request_timeout), "5", SERVE, "upstream request timeout (seconds)" },
	{ "allow-anonymous-user-create", OPT_BOOL, F(allow_anonymous_user_create), "false", SERVE, "let anonymous callers create users (devpi's default)" },
	{ "restrict-modify", OPT_STR, F(restrict_modify), NULL, SERVE, "only these principals (comma-separated users, :ANONYMOUS:, :AUTHENTICATED:) may create, modify and delete users and indexes" },
	{ "login-fail-limit", OPT_INT, F(login_fail_limit), "10", SERVE, "failed password checks per user or address in a minute before further attempts get 429" },
	{ "role", OPT_STR, F(role), "auto", SERVE | GENCONFIG, "auto, primary, replica or standalone (primary serves /+changelog to replicas)" },
	{ "secretfile", OPT_STR, F(secretfile), NULL, SERVE | GENCONFIG, "file whose contents sign replica requests and login tokens; the same on a primary and its replicas" },
	{ "primary-url", OPT_STR, F(primary_url), NULL, SERVE | GENCONFIG, "URL of the primary this node replicates (makes it a replica)" },
	{ "proxy-timeout", OPT_INT, F(proxy_timeout), "30", SERVE, "replica: seconds a write forwarded to the primary may take, and then to replicate back" },
	{ "file-replication-threads", OPT_INT, F(file_replication_threads), "5", SERVE, "replica: parallel background file downloads from the primary" },
	{ "file-replication-skip-indexes", OPT_STR, F(file_replication_skip_indexes), NULL, SERVE, "replica: no background download for these (comma-separated user/index, index types such as mirror, or all)" },
	{ "changelog-keep", OPT_SIZE, F(changelog_keep), "0", SERVE, "primary: changelog entries kept (0 = all); a replica further behind does a full sync from /+snapshot" },
	{ "push-private-networks", OPT_BOOL, F(push_private_networks), "false", SERVE, "let external push reach this host and private networks (default: public addresses only)" },
	{ "include-mirrored-files", OPT_BOOL, F(include_mirrored_files), "false", EXPORT, "export: also the files cached from mirror indexes" },
	{ "log-level", OPT_STR, F(log_level), "info", SERVE | INIT | STORECMDS | GENCONFIG, "error, warn, info or debug" },
	{ "no-checksum", OPT_BOOL, F(no_checksum), "false", FSCK, "fsck: do not re-hash file contents" },
	{ "access-log", OPT_STR, F(access_log), "-", SERVE, "access log file ('-' = stderr, '' = off)" },
};
#define NOPTS (sizeof opts / sizeof opts[0])

static const struct opt *opt_find(const char *name, size_t n)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == n && strncmp(opts[i].name, name, n) == 0)
			return &opts[i];
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return ERR_OK;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return ERR_OK;
		}
	}
	return ERR_INVAL;
}

static int parse_size(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *v == '-')
		return ERR_INVAL;
	uint64_t mul = 1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mul = 1ull << 10; end++; break;
	case 'M': mul = 1ull << 20; end++; break;
	case 'G': mul = 1ull << 30; end++; break;
	case 'T': mul = 1ull << 40; end++; break;
	default: return ERR_INVAL;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || (n && mul > UINT64_MAX / n))
		return ERR_INVAL;
	*out = n * mul;
	return ERR_OK;
}

static int opt_set(struct config *c, const struct opt *o, const char *v)
{
	char *field = (char *)c + o->off;
	switch (o->type) {
	case OPT_STR: {
		char **s = (char **)(void *)field;
		xfree(*s);
		*s = xstrdup(v);
		return ERR_OK;
	}
	case OPT_INT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < 0 || n > 1000000000)
			return ERR_INVAL;
		*(int *)(void *)field = (int)n;
		return ERR_OK;
	}
	case OPT_SIZE:
		return parse_size(v, (uint64_t *)(void *)field);
	case OPT_BOOL:
		return parse_bool(v, (bool *)(void *)field);
	}
	return ERR_INVAL;
}

struct ini_ctx {
	struct config *c;
	char msg[256];      /* the first error; inih reports its line */
};

/* One `name = value` line; a 0 return makes inih report this line. */
static int ini_line(void *arg, const char *section, const char *name, const char *value)
{
	struct ini_ctx *ctx = arg;
	if (strcmp(section, "devpi-like") != 0) {
		snprintf(ctx->msg, sizeof ctx->msg, "unknown section '[%s]' (expected [devpi-like])", section);
		return 0;
	}
	char key[64];
	size_t n = strlen(name);
	if (n >= sizeof key)
		n = sizeof key - 1;
	for (size_t i = 0; i < n; i++)
		key[i] = name[i] == '_' ? '-' : name[i];
	key[n] = '\0';
	const struct opt *o = opt_find(key, n);
	if (!o) {
		snprintf(ctx->msg, sizeof ctx->msg, "unknown directive '%s'", name);
		return 0;
	}
	if (opt_set(ctx->c, o, value)) {
		snprintf(ctx->msg, sizeof ctx->msg, "invalid value '%.100s' for '%s'", value, name);
		return 0;
	}
	return 1;
}

static int load_file(struct config *c, const char *path)
{
	struct ini_ctx ctx = { .c = c };
	int r = ini_parse(path, ini_line, &ctx);
	if (r < 0) {
		fprintf(stderr, "config: cannot read '%s'\n", path);
		return ERR_INVAL;
	}
	if (r > 0) {
		fprintf(stderr, "%s:%d: %s\n", path, r, ctx.msg[0] ? ctx.msg : "syntax error");
		return ERR_INVAL;
	}
	return ERR_OK;
}

static int load_env(struct config *c)
{
	for (size_t i = 0; i < NOPTS; i++) {
		char var[96] = "DEVPI_LIKE_";
		size_t k = strlen(var);
		for (const char *p = opts[i].name; *p && k < sizeof var - 1; p++)
			var[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		var[k] = '\0';
		const char *v = getenv(var);
		if (v && opt_set(c, &opts[i], v)) {
			fprintf(stderr, "config: invalid value '%s' in %s\n", v, var);
			return ERR_INVAL;
		}
	}
	return ERR_OK;
}

void config_usage(enum config_cmd cmd)
{
	printf("usage: devpi-like [serve|init|fsck] [options]\n"
	       "       devpi-like backup [options] DEST\n"
	       "       devpi-like export [--include-mirrored-files] [options] OUTDIR\n"
	       "       devpi-like import [--no-root-pypi] [options] INDIR\n"
	       "       devpi-like gen-config [options] OUTDIR\n\n"
	       "  serve   serve the index (default); initializes an empty serverdir first\n"
	       "  init    initialize a new serverdir and exit\n"
	       "  fsck    verify every record and file of a serverdir; non-zero exit on problems\n"
	       "  backup  write a consistent, compacted copy of the serverdir into DEST while\n"
	       "          it is in use; a server started on DEST serves the same data\n"
	       "  export  write the whole state in devpi's export format (dataindex.json and\n"
	       "          the files) into OUTDIR, from one snapshot, while a server runs\n"
	       "  import  read a devpi-server or devpi-like export into a new serverdir; all or\n"
	       "          nothing\n"
	       "  gen-config  write nginx, systemd and docker compose examples for this node\n"
	       "          (and, with --primary-url, its replica topology) into OUTDIR\n\n"
	       "options (also DEVPI_LIKE_<NAME> in the environment, or name = value\n"
	       "under [devpi-like] in the file given with -c FILE):\n");
	bool own = cmd == CMD_INIT || cmd == CMD_FSCK || cmd == CMD_BACKUP || cmd == CMD_EXPORT || cmd == CMD_IMPORT ||
		   cmd == CMD_GEN_CONFIG;
	unsigned bit = 1u << (own ? cmd : CMD_SERVE);
	for (size_t i = 0; i < NOPTS; i++) {
		if (!(opts[i].cmds & bit))
			continue;
		printf("  --%-30s %s%s%s%s\n", opts[i].name, opts[i].help,
		       opts[i].def ? " [" : "", opts[i].def ? opts[i].def : "", opts[i].def ? "]" : "");
	}
	printf("  %-32s %s\n", "-c FILE, --config FILE", "read options from FILE");
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].type == OPT_STR)
			xfree(*(char **)(void *)((char *)c + opts[i].off));
	xfree(c->config_file);
	xfree(c->target);
	xfree(c);
}

int config_load(int argc, char **argv, struct config **out)
{
	struct config *c = xcalloc(1, sizeof *c);
	int rc = ERR_INVAL;
	int i = 1;
	c->cmd = CMD_SERVE;
	if (i < argc && argv[i][0] != '-') {
		if (strcmp(argv[i], "serve") == 0)
			c->cmd = CMD_SERVE;
		else if (strcmp(argv[i], "init") == 0)
			c->cmd = CMD_INIT;
		else if (strcmp(argv[i], "fsck") == 0)
			c->cmd = CMD_FSCK;
		else if (strcmp(argv[i], "backup") == 0)
			c->cmd = CMD_BACKUP;
		else if (strcmp(argv[i], "export") == 0)
			c->cmd = CMD_EXPORT;
		else if (strcmp(argv[i], "import") == 0)
			c->cmd = CMD_IMPORT;
		else if (strcmp(argv[i], "gen-config") == 0)
			c->cmd = CMD_GEN_CONFIG;
		else {
			fprintf(stderr, "devpi-like: unknown command '%s' (try --help)\n", argv[i]);
			goto fail;
		}
		i++;
	}
	for (size_t k = 0; k < NOPTS; k++)
		if (opts[k].def && opt_set(c, &opts[k], opts[k].def))
			goto fail;
	/* First pass: -c FILE, --help, --version. */
	for (int j = i; j < argc; j++) {
		if ((strcmp(argv[j], "-c") == 0 || strcmp(argv[j], "--config") == 0) && j + 1 < argc) {
			xfree(c->config_file);
			c->config_file = xstrdup(argv[++j]);
		} else if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
			config_usage(c->cmd);
			c->cmd = CMD_HELP;
			*out = c;
			return ERR_OK;
		} else if (strcmp(argv[j], "--version") == 0) {
			c->cmd = CMD_VERSION;
			*out = c;
			return ERR_OK;
		}
	}
	if (c->config_file && load_file(c, c->config_file))
		goto fail;
	if (load_env(c))
		goto fail;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			if ((c->cmd == CMD_BACKUP || c->cmd == CMD_EXPORT || c->cmd == CMD_IMPORT || c->cmd == CMD_GEN_CONFIG) &&
			    !c->target) {
				c->target = xstrdup(a);
				continue;
			}
			fprintf(stderr, "devpi-like: unexpected argument '%s'\n", a);
			goto fail;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t n = eq ? (size_t)(eq - name) : strlen(name);
		const struct opt *o = opt_find(name, n);
		if (!o || !(o->cmds & (1u << c->cmd))) {
			fprintf(stderr, "devpi-like: unknown option '--%.*s' (try --help)\n", (int)n, name);
			goto fail;
		}
		const char *v = eq ? eq + 1 : NULL;
		if (!v && o->type == OPT_BOOL)
			v = "true";
		if (!v) {
			if (i + 1 >= argc) {
				fprintf(stderr, "devpi-like: option '--%s' needs a value\n", o->name);
				goto fail;
			}
			v = argv[++i];
		}
		if (opt_set(c, o, v)) {
			fprintf(stderr, "devpi-like: invalid value '%s' for '--%s'\n", v, o->name);
			goto fail;
		}
	}
	if (c->cmd == CMD_BACKUP && (!c->target || !*c->target)) {
		fprintf(stderr, "devpi-like: backup needs a destination directory (devpi-like backup DEST)\n");
		goto fail;
	}
	if (c->cmd == CMD_IMPORT && (!c->target || !*c->target)) {
		fprintf(stderr, "devpi-like: import needs the export directory (devpi-like import INDIR)\n");
		goto fail;
	}
	if (c->cmd == CMD_EXPORT && (!c->target || !*c->target)) {
		fprintf(stderr, "devpi-like: export needs an output directory (devpi-like export OUTDIR)\n");
		goto fail;
	}
	if (c->cmd == CMD_GEN_CONFIG && (!c->target || !*c->target)) {
		fprintf(stderr, "devpi-like: gen-config needs an output directory (devpi-like gen-config OUTDIR)\n");
		goto fail;
	}
	if (c->port > 65535) {
		fprintf(stderr, "devpi-like: invalid port %d\n", c->port);
		goto fail;
	}
	*out = c;
	return ERR_OK;
fail:
	config_free(c);
	return rc;
}
