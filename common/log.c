/* log.c — error log on stderr, access log on stderr or a file.
 *
 * Each line is formatted into a stack buffer and written with one write(2),
 * so lines from different threads never interleave.
 */
#include "common/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

int log_current_level = LOG_INFO;
static int access_fd = 2;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_parse_level(const char *s, int *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = i;
			return ERR_OK;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = LOG_WARN;
		return ERR_OK;
	}
	return ERR_INVAL;
}

void log_set_level(int level)
{
	log_current_level = level;
}

int log_set_access_file(const char *path)
{
	if (!path || strcmp(path, "-") == 0) {
		access_fd = 2;
		return ERR_OK;
	}
	if (!*path) {
		access_fd = -1;
		return ERR_OK;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return ERR_IO;
	access_fd = fd;
	return ERR_OK;
}

static void log_vline(int fd, const char *tag, const char *fmt, va_list ap)
{
	char line[2048];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	if (tag)
		n += (size_t)snprintf(line + n, sizeof line - n, "%s: ", tag);
	int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (m < 0)
		return;
	n += (size_t)m;
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	ssize_t w = write(fd, line, n);
	(void)w;
}

void log_write(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(2, level_names[level < 0 ? 0 : level > 3 ? 3 : level], fmt, ap);
	va_end(ap);
}

void log_access(const char *fmt, ...)
{
	if (access_fd < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vline(access_fd, NULL, fmt, ap);
	va_end(ap);
}
