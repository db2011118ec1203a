/* test_perm.c — permission decisions (proxy/perm.h, API.md 2.6): the
 * default rules, --restrict-modify, index ACLs and acl_read, for each kind
 * of caller. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "config/config.h"
#include "proxy/app.h"
#include "proxy/conn.h"
#include "proxy/perm.h"

static struct config cfg;
static struct app app;

static struct req caller(const char *user)
{
	struct req r;
	memset(&r, 0, sizeof r);
	r.app = &app;
	r.user = (char *)user;
	return r;
}

static int setup(void **state)
{
	memset(&cfg, 0, sizeof cfg);
	memset(&app, 0, sizeof app);
	app.cfg = &cfg;
	return 0;
}

static void test_user_rules_default(void **state)
{
	struct req anon = caller(NULL), alice = caller("alice"), bob = caller("bob"), root = caller("root");
	assert_false(perm_user(&anon, PERM_USER_CREATE, "x"));
	assert_true(perm_user(&alice, PERM_USER_CREATE, "x"));
	cfg.allow_anonymous_user_create = true;
	assert_true(perm_user(&anon, PERM_USER_CREATE, "x"));
	cfg.allow_anonymous_user_create = false;
	for (int p = PERM_USER_MODIFY; p <= PERM_USER_MODIFY_PASSWORD; p++) {
		assert_true(perm_user(&alice, p, "alice"));
		assert_true(perm_user(&root, p, "alice"));
		assert_false(perm_user(&bob, p, "alice"));
		assert_false(perm_user(&anon, p, "alice"));
	}
	assert_true(perm_user(&alice, PERM_INDEX_CREATE, "alice"));
	assert_false(perm_user(&bob, PERM_INDEX_CREATE, "alice"));
	assert_true(perm_user(&alice, PERM_USER_DELETE, "alice"));
	assert_true(perm_user(&root, PERM_USER_DELETE, "alice"));
	assert_false(perm_user(&root, PERM_USER_DELETE, "root"));   /* nobody deletes root */
	assert_false(perm_user(&bob, PERM_USER_DELETE, "alice"));
	assert_true(perm_mirror_admin(&root));
	assert_false(perm_mirror_admin(&alice));
	assert_false(perm_mirror_admin(&anon));
}

static void test_user_rules_restricted(void **state)
{
	char list[] = " admin , :grp, carol";
	cfg.restrict_modify = list;
	struct req anon = caller(NULL), alice = caller("alice"), admin = caller("admin"), root = caller("root"),
		   carol = caller("carol");
	assert_false(perm_user(&root, PERM_USER_CREATE, "x"));        /* root is not implied */
	assert_true(perm_user(&admin, PERM_USER_CREATE, "x"));
	assert_true(perm_user(&carol, PERM_USER_CREATE, "x"));
	assert_false(perm_user(&alice, PERM_USER_MODIFY, "alice"));
	assert_true(perm_user(&alice, PERM_USER_MODIFY_PASSWORD, "alice"));
	assert_false(perm_user(&alice, PERM_USER_MODIFY_PASSWORD, "bob"));
	assert_false(perm_user(&alice, PERM_INDEX_CREATE, "alice"));
	assert_true(perm_user(&admin, PERM_INDEX_CREATE, "alice"));
	assert_false(perm_user(&admin, PERM_USER_DELETE, "admin"));    /* not themselves */
	assert_true(perm_user(&admin, PERM_USER_DELETE, "alice"));
	assert_false(perm_user(&anon, PERM_USER_CREATE, "x"));
	assert_true(perm_mirror_admin(&admin));
	assert_false(perm_mirror_admin(&root));
	char anyone[] = ":ANONYMOUS:";
	cfg.restrict_modify = anyone;
	assert_true(perm_user(&anon, PERM_INDEX_CREATE, "alice"));
	assert_true(perm_mirror_admin(&anon));                          /* NULL user is fine */
	cfg.restrict_modify = NULL;
}

static void test_index_rules(void **state)
{
	struct req anon = caller(NULL), alice = caller("alice"), bob = caller("bob"), root = caller("root");
	cJSON *ix = cJSON_Parse("{\"type\":\"stage\",\"acl_upload\":[\"alice\"],"
				"\"acl_toxresult_upload\":[\":AUTHENTICATED:\"]}");
	assert_true(perm_index(&alice, PERM_UPLOAD, "alice", ix));
	assert_false(perm_index(&root, PERM_UPLOAD, "alice", ix));     /* only acl_upload */
	assert_false(perm_index(&anon, PERM_UPLOAD, "alice", ix));
	assert_true(perm_index(&bob, PERM_TOXRESULT_UPLOAD, "alice", ix));
	assert_false(perm_index(&anon, PERM_TOXRESULT_UPLOAD, "alice", ix));
	assert_true(perm_index(&root, PERM_INDEX_MODIFY, "alice", ix));
	assert_false(perm_index(&bob, PERM_INDEX_DELETE, "alice", ix));
	assert_true(perm_index(&root, PERM_DEL_ENTRY, "alice", ix));
	assert_false(perm_index(&bob, PERM_DEL_ENTRY, "alice", ix));
	for (int i = 0; i < 4; i++)
		assert_true(perm_index((struct req *[]){ &anon, &alice, &bob, &root }[i], PERM_PKG_READ, "alice", ix));
	cJSON *mirror = cJSON_Parse("{\"type\":\"mirror\",\"acl_upload\":[\":ANONYMOUS:\"]}");
	assert_false(perm_index(&alice, PERM_UPLOAD, "root", mirror));  /* no uploads to mirrors */
	assert_true(perm_index(&root, PERM_DEL_ENTRY, "root", mirror));
	cJSON *plugin = cJSON_Parse("{\"type\":\"someplugin\",\"acl_upload\":[\":ANONYMOUS:\"]}");
	assert_false(perm_index(&root, PERM_INDEX_MODIFY, "alice", plugin));   /* read-only */
	assert_false(perm_index(&alice, PERM_UPLOAD, "alice", plugin));
	cJSON *any = cJSON_Parse("{\"acl_upload\":[\":anonymous:\"],\"acl_toxresult_upload\":5}");
	assert_true(perm_index(&anon, PERM_UPLOAD, "alice", any));     /* case-insensitive, type defaults to stage */
	assert_false(perm_index(&anon, PERM_TOXRESULT_UPLOAD, "alice", any));  /* not a list: nobody */
	cJSON_Delete(ix);
	cJSON_Delete(mirror);
	cJSON_Delete(plugin);
	cJSON_Delete(any);
}

static void test_acl_read(void **state)
{
	struct req anon = caller(NULL), alice = caller("alice"), bob = caller("bob"), root = caller("root"),
		   replica = caller("+replica");
	cJSON *priv = cJSON_Parse("{\"type\":\"stage\",\"acl_read\":[\"bob\"]}");
	assert_false(perm_can_read(&anon, "alice", priv));
	assert_true(perm_can_read(&bob, "alice", priv));
	assert_true(perm_can_read(&alice, "alice", priv));     /* the owner */
	assert_true(perm_can_read(&root, "alice", priv));
	assert_true(perm_can_read(&replica, "alice", priv));
	struct req carol = caller("carol"), admin = caller("admin");
	assert_false(perm_can_read(&carol, "alice", priv));
	cJSON *open = cJSON_Parse("{\"type\":\"stage\"}");
	assert_true(perm_can_read(&anon, "alice", open));
	cJSON *auth = cJSON_Parse("{\"acl_read\":[\":AUTHENTICATED:\"]}");
	assert_false(perm_can_read(&anon, "alice", auth));
	assert_true(perm_can_read(&bob, "alice", auth));
	char list[] = "admin";
	cfg.restrict_modify = list;
	assert_false(perm_can_read(&alice, "alice", priv));    /* owner rights go to the principals */
	assert_true(perm_can_read(&admin, "alice", priv));
	cfg.restrict_modify = NULL;
	cJSON_Delete(priv);
	cJSON_Delete(open);
	cJSON_Delete(auth);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_user_rules_default, setup),
		cmocka_unit_test_setup(test_user_rules_restricted, setup),
		cmocka_unit_test_setup(test_index_rules, setup),
		cmocka_unit_test_setup(test_acl_read, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
