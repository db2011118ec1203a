/* fuzz_config.c — devpi-like.conf parsing over arbitrary bytes: the input
 * is written to a file and loaded with -c, as the server would. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/err.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz-config-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	char *argv[] = { "devpi-like", "serve", "-c", path, NULL };
	struct config *c = NULL;
	FILE *saved = stderr;
	stderr = fopen("/dev/null", "w");
	int rc = config_load(4, argv, &c);
	fclose(stderr);
	stderr = saved;
	if (rc == ERR_OK) {
		if (!c || !c->serverdir || !c->host || c->port < 0 || c->port > 65535)
			abort();
		config_free(c);
	} else if (c) {
		abort();
	}
	unlink(path);
	return 0;
}
