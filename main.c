/* main.c — only starts things: reads the subcommand and the config, opens
 * the store, and hands over to the server or to a store command. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/progress.h"
#include "config/config.h"
#include "proxy/export.h"
#include "proxy/fsck.h"
#include "proxy/genconfig.h"
#include "proxy/import.h"
#include "proxy/model.h"
#include "proxy/role.h"
#include "proxy/server.h"
#include "store/store.h"

static int open_store(const struct config *cfg, struct store **st)
{
	struct store_opts o = { .dir = cfg->serverdir, .map_size = cfg->map_size, .max_readers = 0 };
	int rc = store_open(&o, st);
	if (rc)
		log_err("cannot open the store in '%s': %s", cfg->serverdir, err_str(rc));
	return rc;
}

/* The store of an existing, initialized serverdir (the store commands
 * must not create one). */
static int open_existing_store(const struct config *cfg, struct store **st)
{
	bool inited = false;
	*st = NULL;
	if (access(cfg->serverdir, F_OK) != 0) {
		log_err("no serverdir '%s'", cfg->serverdir);
		return ERR_NOTFOUND;
	}
	int rc = open_store(cfg, st);
	if (!rc && !(rc = model_is_initialized(*st, &inited)) && !inited) {
		log_err("'%s' is not an initialized devpi-like serverdir", cfg->serverdir);
		rc = ERR_NOTFOUND;
	}
	return rc;
}

static int cmd_init(const struct config *cfg)
{
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (!rc) {
		rc = model_init(st, cfg);
		if (rc == ERR_EXISTS)
			log_err("serverdir '%s' is already initialized", cfg->serverdir);
		else if (rc)
			log_err("cannot initialize '%s': %s", cfg->serverdir, err_str(rc));
	}
	store_close(st);
	return rc;
}

static int cmd_fsck(const struct config *cfg)
{
	struct store *st = NULL;
	uint64_t problems = 0;
	int rc = open_existing_store(cfg, &st);
	if (!rc) {
		rc = fsck_run(st, !cfg->no_checksum, stdout, &problems);
		if (rc)
			log_err("cannot check '%s': %s", cfg->serverdir, err_str(rc));
		else if (problems)
			rc = ERR_CORRUPT;
	}
	store_close(st);
	return rc;
}

static int cmd_backup(const struct config *cfg)
{
	struct store *st = NULL;
	struct progress p;
	signal(SIGPIPE, SIG_IGN);
	int rc = open_existing_store(cfg, &st);
	if (!rc) {
		progress_start(&p, "backup", 0, 0);
		rc = store_backup(st, cfg->target, progress_bytes, &p);
		p.items = rc ? 0 : 1;
		progress_end(&p, rc == ERR_OK);
		if (rc)
			log_err("backup of '%s' to '%s' failed: %s", cfg->serverdir, cfg->target, err_str(rc));
	}
	store_close(st);
	return rc;
}

static int cmd_export(const struct config *cfg)
{
	struct store *st = NULL;
	struct progress p;
	int rc = open_existing_store(cfg, &st);
	if (!rc) {
		progress_start(&p, "export", 0, 0);
		rc = export_run(st, cfg->target, cfg->include_mirrored_files, &p);
		progress_end(&p, rc == ERR_OK);
		if (rc)
			log_err("export of '%s' to '%s' failed: %s", cfg->serverdir, cfg->target, err_str(rc));
	}
	store_close(st);
	return rc;
}

static int cmd_import(const struct config *cfg)
{
	struct progress p;
	progress_start(&p, "import", 0, 0);
	int rc = import_run(cfg, cfg->target, &p);
	progress_end(&p, rc == ERR_OK);
	if (rc)
		log_err("import of '%s' into '%s' failed (%s): nothing was imported", cfg->target, cfg->serverdir,
			err_str(rc));
	return rc;
}

static int cmd_gen_config(const struct config *cfg)
{
	int rc = genconfig_run(cfg, cfg->target);
	if (rc)
		log_err("gen-config: nothing written to '%s' (%s)", cfg->target, err_str(rc));
	return rc;
}

static int cmd_serve(const struct config *cfg)
{
	struct store *st = NULL;
	uint64_t removed = 0;
	int rc = open_store(cfg, &st);
	if (rc)
		return rc;
	struct role_info ri;
	if ((rc = role_resolve(st, cfg, &ri)))
		goto out;
	if (ri.needs_init && ((rc = model_init(st, cfg)) || (rc = role_persist(st, ri.role)))) {
		log_err("cannot initialize '%s': %s", cfg->serverdir, err_str(rc));
		goto out;
	}
	if ((rc = store_sweep_orphans(st, &removed))) {
		log_err("cannot sweep unfinished uploads: %s", err_str(rc));
		goto out;
	}
	if (removed)
		log_info("removed %llu chunks of unfinished uploads", (unsigned long long)removed);
	rc = server_run(cfg, st, &ri);
out:
	store_close(st);
	return rc;
}

int main(int argc, char **argv)
{
	struct config *cfg = NULL;
	int level, rc;
	if (config_load(argc, argv, &cfg) != ERR_OK)
		return 2;
	if (cfg->cmd == CMD_HELP) {
		config_free(cfg);
		return 0;
	}
	if (cfg->cmd == CMD_VERSION) {
		printf("devpi-like %s\n", DEVPI_LIKE_VERSION);
		config_free(cfg);
		return 0;
	}
	if (log_parse_level(cfg->log_level, &level) != ERR_OK) {
		fprintf(stderr, "devpi-like: invalid --log-level '%s'\n", cfg->log_level);
		config_free(cfg);
		return 2;
	}
	log_set_level(level);
	if (cfg->cmd == CMD_SERVE && log_set_access_file(cfg->access_log) != ERR_OK) {
		fprintf(stderr, "devpi-like: cannot open access log '%s'\n", cfg->access_log);
		config_free(cfg);
		return 2;
	}
	rc = cfg->cmd == CMD_INIT     ? cmd_init(cfg)
	     : cfg->cmd == CMD_FSCK   ? cmd_fsck(cfg)
	     : cfg->cmd == CMD_BACKUP ? cmd_backup(cfg)
	     : cfg->cmd == CMD_EXPORT ? cmd_export(cfg)
	     : cfg->cmd == CMD_IMPORT ? cmd_import(cfg)
	     : cfg->cmd == CMD_GEN_CONFIG ? cmd_gen_config(cfg)
				      : cmd_serve(cfg);
	config_free(cfg);
	return rc ? 1 : 0;
}
