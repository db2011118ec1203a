/* server.h — start the workers and the writer thread, serve until a signal. */
#ifndef PROXY_SERVER_H
#define PROXY_SERVER_H

struct config;
struct store;

/* Serves on cfg->host:cfg->port with one event loop per worker thread and
 * the store's writer thread, until SIGINT or SIGTERM.  Returns ERR_OK after a
 * clean shutdown, or the error that prevented start-up. */
int server_run(const struct config *cfg, struct store *st);

#endif
