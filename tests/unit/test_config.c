/* test_config.c — option table, precedence (command line > environment >
 * file > default), value parsing and error reporting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "config/config.h"

static char conf_path[64];

static void write_conf(const char *text)
{
	strcpy(conf_path, "/tmp/test-config-XXXXXX");
	int fd = mkstemp(conf_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static struct config *load(int argc, char **argv, int expect_rc)
{
	struct config *c = NULL;
	int rc = config_load(argc, argv, &c);
	assert_int_equal(rc, expect_rc);
	return c;
}

static void test_defaults(void **state)
{
	char *argv[] = { "devpi-like", NULL };
	struct config *c = load(1, argv, ERR_OK);
	assert_int_equal(c->cmd, CMD_SERVE);
	assert_string_equal(c->serverdir, "./data");
	assert_string_equal(c->host, "127.0.0.1");
	assert_int_equal(c->port, 3141);
	assert_true(c->max_upload_size == 1ull << 30);
	assert_null(c->root_passwd);
	assert_false(c->allow_anonymous_user_create);
	config_free(c);
}

static void test_command_line_values_and_subcommands(void **state)
{
	char *argv[] = { "devpi-like", "init", "--serverdir", "/srv/x", "--root-passwd=pw", "--no-root-pypi", NULL };
	struct config *c = load(6, argv, ERR_OK);
	assert_int_equal(c->cmd, CMD_INIT);
	assert_string_equal(c->serverdir, "/srv/x");
	assert_string_equal(c->root_passwd, "pw");
	assert_true(c->no_root_pypi);
	config_free(c);

	char *argv2[] = { "devpi-like", "fsck", "--no-checksum", NULL };
	c = load(3, argv2, ERR_OK);
	assert_int_equal(c->cmd, CMD_FSCK);
	assert_true(c->no_checksum);
	config_free(c);
}

static void test_sizes(void **state)
{
	char *argv[] = { "devpi-like", "--max-upload-size", "5M", "--map-size", "2G", NULL };
	struct config *c = load(5, argv, ERR_OK);
	assert_true(c->max_upload_size == 5ull << 20);
	assert_true(c->map_size == 2ull << 30);
	config_free(c);
	char *bad[] = { "devpi-like", "--max-upload-size", "-1", NULL };
	assert_null(load(3, bad, ERR_INVAL));
	char *over[] = { "devpi-like", "--max-upload-size", "99999999999999999999T", NULL };
	assert_null(load(3, over, ERR_INVAL));
}

static void test_bad_options(void **state)
{
	char *unknown[] = { "devpi-like", "--no-such-option", "1", NULL };
	assert_null(load(3, unknown, ERR_INVAL));
	char *port[] = { "devpi-like", "--port", "70000", NULL };
	assert_null(load(3, port, ERR_INVAL));
	char *notnum[] = { "devpi-like", "--threads", "four", NULL };
	assert_null(load(3, notnum, ERR_INVAL));
	char *missing[] = { "devpi-like", "--host", NULL };
	assert_null(load(2, missing, ERR_INVAL));
	char *cmd[] = { "devpi-like", "frobnicate", NULL };
	assert_null(load(2, cmd, ERR_INVAL));
	/* an option of another subcommand */
	char *wrong_cmd[] = { "devpi-like", "init", "--port", "1", NULL };
	assert_null(load(4, wrong_cmd, ERR_INVAL));
}

static void test_precedence_file_env_cli(void **state)
{
	write_conf("[devpi-like]\nport = 1111\nhost = 10.0.0.1\nthreads = 3\n");
	char *argv[] = { "devpi-like", "-c", conf_path, "--port", "2222", NULL };
	setenv("DEVPI_LIKE_HOST", "127.0.0.2", 1);
	struct config *c = load(5, argv, ERR_OK);
	assert_int_equal(c->port, 2222);                 /* command line wins */
	assert_string_equal(c->host, "127.0.0.2");        /* environment over file */
	assert_int_equal(c->threads, 3);                 /* file over default */
	config_free(c);
	unsetenv("DEVPI_LIKE_HOST");
	unlink(conf_path);
}

static void test_file_errors(void **state)
{
	write_conf("[devpi-like]\nport = 1\nbogus = 2\n");
	char *argv[] = { "devpi-like", "-c", conf_path, NULL };
	assert_null(load(3, argv, ERR_INVAL));
	unlink(conf_path);
	write_conf("[elsewhere]\nport = 1\n");
	assert_null(load(3, argv, ERR_INVAL));
	unlink(conf_path);
	write_conf("[devpi-like]\nport = many\n");
	assert_null(load(3, argv, ERR_INVAL));
	unlink(conf_path);
	char *nofile[] = { "devpi-like", "-c", "/nonexistent/devpi-like.conf", NULL };
	assert_null(load(3, nofile, ERR_INVAL));
}

static void test_env_bad_value(void **state)
{
	setenv("DEVPI_LIKE_OFFLINE_MODE", "perhaps", 1);
	char *argv[] = { "devpi-like", NULL };
	assert_null(load(1, argv, ERR_INVAL));
	setenv("DEVPI_LIKE_OFFLINE_MODE", "yes", 1);
	struct config *c = load(1, argv, ERR_OK);
	assert_true(c->offline_mode);
	config_free(c);
	unsetenv("DEVPI_LIKE_OFFLINE_MODE");
}

static void test_sample_conf_loads(void **state)
{
	char *argv[] = { "devpi-like", "-c", "devpi-like.conf", NULL };
	struct config *c = load(3, argv, ERR_OK);
	assert_int_equal(c->port, 3141);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_command_line_values_and_subcommands),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_precedence_file_env_cli),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_env_bad_value),
		cmocka_unit_test(test_sample_conf_loads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
