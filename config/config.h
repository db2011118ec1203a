/* config.h — command line + devpi-like.conf + environment → one immutable
 * struct.
 *
 * Every option is one row of a table in config.c: its long name, its type,
 * its default and where it lands in struct config.  The same table drives
 * the command line (`--name value`), the config file (`name = value` under
 * `[devpi-like]`, given with -c FILE) and the environment
 * (`DEVPI_LIKE_NAME`, dashes as underscores).  Precedence: command line over
 * environment over file over default.  Errors name the file and line, or the
 * option.
 */
#ifndef CONFIG_CONFIG_H
#define CONFIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

enum config_cmd { CMD_SERVE, CMD_INIT, CMD_FSCK, CMD_BACKUP, CMD_EXPORT, CMD_IMPORT, CMD_GEN_CONFIG, CMD_HELP, CMD_VERSION };

struct config {
	enum config_cmd cmd;
	char *serverdir;
	char *host;
	int port;                  /* 0 = ephemeral */
	char *root_passwd;         /* NULL = random, printed once */
	bool no_root_pypi;
	char *root_pypi_url;
	int threads;               /* 0 = number of cores */
	uint64_t max_upload_size;
	uint64_t map_size;
	int header_timeout;        /* seconds to receive a whole request head */
	int body_timeout;          /* seconds of silence allowed while reading a body */
	int idle_timeout;          /* seconds a keep-alive connection may idle */
	unsigned max_connections;
	char *outside_url;
	bool absolute_urls;
	bool offline_mode;
	int mirror_cache_expiry;
	int request_timeout;
	bool allow_anonymous_user_create;
	char *restrict_modify;     /* comma-separated principals, or NULL */
	int login_fail_limit;
	bool push_private_networks; /* external push may reach loopback/private addresses */
	char *role;                /* auto, primary, replica, standalone */
	char *secretfile;          /* shared by a primary and its replicas, or NULL */
	char *primary_url;         /* makes this node a replica of that primary */
	int proxy_timeout;         /* seconds: a write forwarded by a replica, and its replication */
	int file_replication_threads;
	char *file_replication_skip_indexes; /* all, mirror, or user/index,... : no background download */
	uint64_t changelog_keep;   /* serials of changelog a primary keeps; 0 = all */
	char *log_level;
	char *access_log;
	bool no_checksum;          /* fsck: skip re-hashing file contents */
	char *config_file;
	char *target;              /* the positional argument: backup DEST, export OUTDIR, import INDIR, gen-config OUTDIR */
	bool include_mirrored_files; /* export: also files cached from mirrors */
};

#define DEVPI_LIKE_VERSION "0.1.0"

/* Parses argv (argv[1] may be a subcommand: serve, init).  On success *out
 * is heap-owned; free with config_free().  On error a message naming the
 * option, file or line is printed to stderr and ERR_INVAL returned. */
int config_load(int argc, char **argv, struct config **out);
void config_free(struct config *c);
/* The --help text for cmd. */
void config_usage(enum config_cmd cmd);

#endif
