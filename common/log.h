/* log.h — the one logging module.
 *
 * The level is checked before any formatting.  Messages are lower case, say
 * what failed first, quote the subject, then give the library's own error
 * text.  The access log is separate (log_access) and may go to its own file.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_current_level;

/* level: "error", "warn", "info", "debug"; ERR_INVAL for anything else. */
int log_parse_level(const char *s, int *out);
void log_set_level(int level);
/* Opens path for the access log (append); NULL or "-" = stderr; "" = off. */
int log_set_access_file(const char *path);

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_err(...) do { if (log_current_level >= LOG_ERROR) log_write(LOG_ERROR, __VA_ARGS__); } while (0)
#define log_warn(...) do { if (log_current_level >= LOG_WARN) log_write(LOG_WARN, __VA_ARGS__); } while (0)
#define log_info(...) do { if (log_current_level >= LOG_INFO) log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_current_level >= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
