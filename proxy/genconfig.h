/* genconfig.h — `devpi-like gen-config OUTDIR`: example deployment files
 * for this node and for a primary + two replicas topology.
 *
 * Writes into OUTDIR (created if missing, one level):
 *   nginx-devpi-like.conf  a server block proxying to this node (--host,
 *                          --port), client_max_body_size = --max-upload-size,
 *                          X-Outside-Url set, files streamed unbuffered,
 *                          long timeouts for /+changelog and /+snapshot;
 *   devpi-like.service     a hardened systemd unit running `serve` with
 *                          this node's options;
 *   docker-compose.yml     primary, replica1, replica2 and nginx, one named
 *   nginx-replicas.conf    volume per node and one shared secret; nginx
 *                          balances GET/HEAD over the replicas and sends
 *                          every other method, /+login and the replication
 *                          endpoints to the primary.
 * The last two depend only on --port, --max-upload-size, --outside-url and
 * --secretfile, so with the defaults they are docker/'s committed files.
 *
 * Every value written into these files is checked against a small
 * character set first (no quotes, semicolons, braces, '$', '%', '#', spaces
 * or control characters): a value that could change the meaning of nginx,
 * systemd or YAML syntax is refused with a message naming the option.
 */
#ifndef PROXY_GENCONFIG_H
#define PROXY_GENCONFIG_H

struct config;

/* Names of the files gen-config writes, NULL-terminated. */
extern const char *const genconfig_files[];

/* Writes the files above into outdir.  Refuses (ERR_EXISTS, nothing
 * written) when outdir already holds any of them; ERR_INVAL for an option
 * that cannot be written safely (logged, naming the option); ERR_IO when a
 * file cannot be written (the files of this run are removed again).  Prints
 * each file written to stdout. */
int genconfig_run(const struct config *cfg, const char *outdir);

#endif
