/* server.h — start the workers and the writer thread, serve until a signal. */
#ifndef PROXY_SERVER_H
#define PROXY_SERVER_H

struct config;
struct store;

struct role_info;

/* Serves on cfg->host:cfg->port with one event loop per worker thread and
 * the store's writer thread, in the role ri decided (role.h; a replica also
 * runs its changelog loop and file replication), until SIGINT or SIGTERM.
 * Returns ERR_OK after a clean shutdown, the error that prevented start-up,
 * or why a replica had to stop. */
int server_run(const struct config *cfg, struct store *st, const struct role_info *ri);

#endif
