"""Store initialization, users, login, indexes, discovery (API.md B, 2.1-2.5,
5.1, 5.2, 12)."""

import re
import subprocess

import pytest

from harness import ROOTPW_RE, basic, clean_env, json_message, server_binary, xauth

DEFAULT_INDEX = {
    "type": "stage", "bases": [], "volatile": True, "acl_upload": None,
    "acl_toxresult_upload": [":ANONYMOUS:"], "mirror_whitelist": [],
    "mirror_whitelist_inheritance": "intersection",
}


def defaults_for(user, **over):
    d = dict(DEFAULT_INDEX, acl_upload=[user])
    d.update(over)
    return d


# ---------------------------------------------------------------- store init

def test_first_start_with_root_passwd(server):
    r = server.login("root", server.root_passwd)
    assert r.status_code == 200, r.text
    assert server.login("root", "wrong").status_code == 401
    r = server.jreq("GET", "/root/pypi?no_projects")     # no upstream list fetch (offline)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "indexconfig"
    cfg = body["result"]
    assert cfg["type"] == "mirror"
    assert cfg["volatile"] is False
    assert cfg["mirror_url"] == "https://pypi.org/simple/"


def test_random_root_password_printed_once(server_factory):
    s = server_factory(root_passwd=None)
    m = ROOTPW_RE.search(s.log_text())
    assert m, f"no 'root password:' line in output:\n{s.log_text()}"
    pw = m.group(1)
    assert len(pw) >= 8
    r = s.login("root", pw)
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "proxyauth"
    s.restart()
    assert not ROOTPW_RE.search(s.log_text()), "root password printed again on restart"
    assert s.login("root", pw).status_code == 200


def test_init_twice_fails(tmp_path, server_factory):
    d = tmp_path / "data"
    cmd = [server_binary(), "init", "--serverdir", str(d), "--root-passwd", "pw-one"]
    p1 = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), timeout=60)
    assert p1.returncode == 0, p1.stderr
    p2 = subprocess.run(cmd[:-1] + ["pw-two"], capture_output=True, text=True,
                        env=clean_env(), timeout=60)
    assert p2.returncode != 0, "second init on the same serverdir succeeded"
    s = server_factory(root_passwd=None, serverdir=d)
    assert s.login("root", "pw-one").status_code == 200
    assert s.login("root", "pw-two").status_code == 401
    assert not ROOTPW_RE.search(s.log_text())


# ---------------------------------------------------------------- users

def test_create_user_as_root(server):
    name = server.unique("alice")
    r = server.jreq("PUT", f"/{name}", {"password": "pw1", "email": "a@example.com"},
                    auth=server.root_auth)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["type"] == "userconfig"
    res = body["result"]
    assert res["username"] == name
    assert res["email"] == "a@example.com"
    assert res["indexes"] == {}
    assert not {"pwhash", "pwsalt", "password"} & set(res)
    assert "pwhash" not in r.text and "pw1" not in r.text


def test_create_user_with_xdevpi_auth(server):
    name, _ = server.create_user(auth="xauth")
    assert server.jreq("GET", f"/{name}").status_code == 200


def test_duplicate_user_409(server):
    name, _ = server.create_user()
    r = server.jreq("PUT", f"/{name}", {"password": "x"}, auth=server.root_auth)
    assert r.status_code == 409
    assert "user already exists" in json_message(r)


def test_user_missing_password_400(server):
    r = server.jreq("PUT", f"/{server.unique('nopw')}", {"email": "x@example.com"},
                    auth=server.root_auth)
    assert r.status_code == 400
    assert "password needs to be set" in json_message(r)


def test_user_unknown_keys_400(server):
    r = server.jreq("PUT", f"/{server.unique('k')}", {"password": "x", "shoesize": 42},
                    auth=server.root_auth)
    assert r.status_code == 400
    assert "Unknown keys in user config" in json_message(r)


@pytest.mark.parametrize("path", [
    "/a%20b",          # space
    "/a%2Fb",          # encoded slash
    "/x..",            # dot-dot
    "/a%01b",          # control char
    "/a%7Fb",          # DEL
    "/a%3Cb%3E",       # < >
    "/" + "n" * 300,   # longer than any key may be
])
def test_invalid_user_names_400(server, path):
    r = server.jreq("PUT", path, {"password": "x"}, auth=server.root_auth)
    assert r.status_code == 400, f"{path}: {r.status_code} {r.text[:200]}"
    assert json_message(r), "400 without a message"


def test_invalid_name_message_text(server):
    r = server.jreq("PUT", "/a%20b", {"password": "x"}, auth=server.root_auth)
    assert r.status_code == 400
    assert "contains characters that aren't allowed" in json_message(r)


def test_anonymous_user_create_refused(server):
    name = server.unique("anon")
    r = server.jreq("PUT", f"/{name}", {"password": "x"})
    assert r.status_code == 403, r.text
    assert server.jreq("GET", f"/{name}").status_code == 404


def test_get_user_and_list(server):
    alice, pw = server.create_user()
    server.create_index(alice, pw, "dev")
    r = server.jreq("GET", f"/{alice}")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "userconfig"
    assert body["result"]["username"] == alice
    assert body["result"]["indexes"]["dev"] == defaults_for(alice)
    assert "pwhash" not in r.text
    r = server.jreq("GET", f"/{alice}/")     # trailing slash is the same route
    assert r.status_code == 200 and r.json()["result"]["username"] == alice
    r = server.jreq("GET", "/")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "list:userconfig"
    assert {"root", alice} <= set(body["result"])
    assert "pypi" in body["result"]["root"]["indexes"]
    assert "pwhash" not in r.text


def test_unknown_user_404(server):
    r = server.jreq("GET", "/nosuchuser")
    assert r.status_code == 404
    assert "nosuchuser" in json_message(r)
    assert server.jreq("GET", "/nosuchuser/x").status_code == 404


# ---------------------------------------------------------------- login

def test_login_success_and_token(server):
    alice, pw = server.create_user()
    r = server.login(alice, pw)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "proxyauth"
    assert body["message"] == "login successful"
    token = body["result"]["password"]
    assert body["result"]["expiration"] == 36000
    assert isinstance(token, str) and len(token) >= 16 and token != pw
    # the token is accepted as a password, Basic and X-Devpi-Auth
    r = server.jreq("PUT", f"/{alice}/viabasic", {}, auth=(alice, token))
    assert r.status_code == 200, r.text
    r = server.jreq("PUT", f"/{alice}/viaxauth", {}, headers=xauth(alice, token))
    assert r.status_code == 200, r.text
    # ... but only for its own user
    bob, _ = server.create_user()
    r = server.jreq("PUT", f"/{bob}/stolen", {}, auth=(bob, token))
    assert r.status_code in (401, 403), r.text
    # /+login checks real passwords only, not tokens
    assert server.login(alice, token).status_code == 401


def test_login_bad_password_401(server):
    alice, _ = server.create_user()
    r = server.login(alice, "wrong")
    assert r.status_code == 401
    assert json_message(r) == f"user '{alice}' could not be authenticated"
    r = server.login("nosuchuser", "x")
    assert r.status_code == 401
    assert json_message(r) == "user 'nosuchuser' could not be authenticated"


@pytest.mark.parametrize("body", [{"user": "root"}, {"password": "x"}, {}])
def test_login_missing_fields_400(server, body):
    r = server.jreq("POST", "/+login", body)
    assert r.status_code == 400
    assert json_message(r) == "Bad request: no user/password specified"


def test_login_bad_json_400(server):
    r = server.jreq("POST", "/+login", raw_body=b"{not json")
    assert r.status_code == 400
    assert json_message(r) == "Bad request: could not decode json"


def test_wrong_password_is_anonymous_or_refused(server):
    alice, pw = server.create_user()
    r = server.jreq("PUT", f"/{alice}/x", {}, auth=(alice, "wrong"))
    assert r.status_code in (401, 403)
    r = server.jreq("PUT", f"/{alice}/x", {}, headers={"Authorization": "Basic !!!notb64"})
    assert r.status_code in (401, 403)
    assert server.jreq("GET", f"/{alice}/x").status_code == 404


# ---------------------------------------------------------------- indexes

def test_create_index_defaults(server):
    alice, pw = server.create_user()
    r = server.jreq("PUT", f"/{alice}/dev", {}, auth=(alice, pw))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "indexconfig"
    assert body["result"] == defaults_for(alice)


def test_create_index_string_values(server):
    alice, pw = server.create_user()
    r = server.jreq("PUT", f"/{alice}/dev", {"bases": "root/pypi", "volatile": "False"},
                    auth=(alice, pw))
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["bases"] == ["root/pypi"]
    assert res["volatile"] is False
    r = server.jreq("PUT", f"/{alice}/dev2",
                    {"bases": f"/{alice}/dev/", "volatile": "YES",
                     "acl_upload": f"{alice},:anonymous:", "mirror_whitelist": "He_llo,*",
                     "mirror_whitelist_inheritance": "union"}, auth=(alice, pw))
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["bases"] == [f"{alice}/dev"]
    assert res["volatile"] is True
    assert res["acl_upload"] == [alice, ":ANONYMOUS:"]
    assert res["mirror_whitelist"] == ["he-llo", "*"]
    assert res["mirror_whitelist_inheritance"] == "union"


@pytest.mark.parametrize("config,check", [
    ({"volatile": "maybe"}, lambda m: "Unknown boolean value 'maybe'." in m),
    ({"foo": "bar"}, lambda m: m.startswith("indexconfig got unexpected keyword arguments")
                               and "foo" in m),
    ({"bases": "x/y"}, lambda m: "base index 'x/y' does not exist" in m),
    ({"bases": ["notanindex"]}, lambda m: "invalid base index spec" in m),
    ({"type": "weird"}, lambda m: "unknown index type" in m),
    ({"mirror_whitelist_inheritance": "sometimes"}, lambda m: bool(m)),
])
def test_create_index_invalid_400(server, config, check):
    alice, pw = server.create_user()
    r = server.jreq("PUT", f"/{alice}/bad", config, auth=(alice, pw))
    assert r.status_code == 400, f"{config}: {r.status_code} {r.text[:200]}"
    assert check(json_message(r)), f"{config}: message {json_message(r)!r}"
    assert server.jreq("GET", f"/{alice}/bad").status_code == 404


def test_create_index_empty_body_400(server):
    alice, pw = server.create_user()
    r = server.http.put(f"/{alice}/dev", data=b"", auth=(alice, pw),
                        headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert json_message(r) == "Bad request: could not decode json"


def test_create_index_in_other_namespace_403(server):
    alice, _ = server.create_user()
    bob, bobpw = server.create_user()
    r = server.jreq("PUT", f"/{alice}/evil", {}, auth=(bob, bobpw))
    assert r.status_code == 403
    r = server.jreq("PUT", f"/{alice}/anon", {})
    assert r.status_code in (401, 403)
    assert server.jreq("GET", f"/{alice}/evil").status_code == 404


def test_non_root_cannot_create_mirror(server):
    alice, pw = server.create_user()
    r = server.jreq("PUT", f"/{alice}/mir",
                    {"type": "mirror", "mirror_url": "http://127.0.0.1:9/simple/"}, auth=(alice, pw))
    assert r.status_code == 403, r.text
    r = server.jreq("PUT", f"/{alice}/mir",
                    {"type": "mirror", "mirror_url": "http://127.0.0.1:9/simple/"},
                    auth=server.root_auth)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["type"] == "mirror"


def test_duplicate_index_409(server):
    alice, pw = server.create_user()
    server.create_index(alice, pw, "dev")
    r = server.jreq("PUT", f"/{alice}/dev", {}, auth=(alice, pw))
    assert r.status_code == 409
    assert json_message(r) == f"index '{alice}/dev' exists"


def test_index_for_unknown_user_404(server):
    r = server.jreq("PUT", "/ghost/dev", {}, auth=server.root_auth)
    assert r.status_code == 404


def test_get_index_with_projects(server, pkgdir):
    import pkgbuild as pb
    st = server.new_stage()
    r = st.get_json()
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "indexconfig"
    assert body["result"]["projects"] == []
    assert {k: v for k, v in body["result"].items() if k != "projects"} == defaults_for(st.user)
    st.upload_ok(pb.make_wheel(pkgdir, "Zeta_Pkg", "1.0"), pb.make_wheel(pkgdir, "alpha", "1.0"))
    res = st.config()
    assert res["projects"] == ["alpha", "zeta-pkg"]
    r = server.jreq("GET", st.path + "/")
    assert r.status_code == 200 and r.json()["result"]["projects"] == ["alpha", "zeta-pkg"]
    r = server.jreq("GET", f"/{st.user}/nosuchindex")
    assert r.status_code == 404


def test_api_discovery(server):
    r = server.jreq("GET", "/+api")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "apiconfig"
    res = body["result"]
    assert res["login"] == server.url + "/+login"
    assert res["authstatus"] == ["noauth", "", []]
    assert res["features"] == sorted(res["features"])
    assert "server-keyvalue-parsing" in res["features"]
    assert "index" not in res and "pypisubmit" not in res


def test_api_discovery_index_scoped(server):
    st = server.new_stage()
    r = server.jreq("GET", st.path + "/+api", auth=st.auth)
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["login"] == server.url + "/+login"
    assert res["authstatus"][:2] == ["ok", st.user]
    assert res["features"] == sorted(res["features"])
    assert res["index"] == st.url
    assert res["simpleindex"] == st.url + "/+simple/"
    assert res["pypisubmit"] == st.url + "/"
    r = server.jreq("GET", "/root/pypi/+api")
    assert r.status_code == 200
    res = r.json()["result"]
    assert res["index"] == server.url + "/root/pypi"
    assert "pypisubmit" not in res          # mirrors take no uploads
    assert server.jreq("GET", f"/{st.user}/nope/+api").status_code == 404


def test_api_authstatus_with_xdevpi_token(server):
    alice, pw = server.create_user()
    token = server.login(alice, pw).json()["result"]["password"]
    r = server.jreq("GET", "/+api", headers=xauth(alice, token))
    assert r.json()["result"]["authstatus"][:2] == ["ok", alice]
    r = server.jreq("GET", "/+api", headers=basic(alice, "wrong"))
    assert r.json()["result"]["authstatus"][0] != "ok"


def test_json_envelope_is_pretty_and_has_no_status_key(server):
    r = server.jreq("GET", "/+api")
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.text.endswith("\n")
    assert re.search(r'^\{\n  "', r.text), r.text[:80]
    assert "status" not in r.json()
