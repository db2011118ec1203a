"""Permissions (API.md 2.6 and the acl_read extension of section A): a
matrix of roles × routes × methods, --restrict-modify, acl_read through a
chain, and /+authcheck for nginx auth_request."""

import pytest

import pkgbuild as pb
from harness import Stage, json_message

ROLES = ("anonymous", "owner", "other", "root")


def auth_of(server, role, st, other):
    return {"anonymous": None, "owner": st.auth, "other": other, "root": server.root_auth}[role]


@pytest.fixture
def world(server, pkgdir):
    st = server.new_stage()
    other = server.create_user()
    dist = pb.make_sdist(pkgdir, "aclpkg", "1.0")
    st.upload_ok(dist)
    return st, other, dist


# role → expected status for each (method, path template, body) on a fresh
# stage of "owner".  {s} = the stage path, {u} = the owner, {f} = the file.
MATRIX = [
    ("GET", "{s}", None, dict(anonymous=200, owner=200, other=200, root=200)),
    ("GET", "{s}/+simple/aclpkg/", None, dict(anonymous=200, owner=200, other=200, root=200)),
    ("GET", "{f}", None, dict(anonymous=200, owner=200, other=200, root=200)),
    ("GET", "{s}/aclpkg", None, dict(anonymous=200, owner=200, other=200, root=200)),
    ("PATCH", "{s}", {"title": "t"}, dict(anonymous=403, owner=200, other=403, root=200)),
    ("PUT", "/{u}/second", {}, dict(anonymous=403, owner=200, other=403, root=200)),
    ("PATCH", "/{u}", {"title": "x"}, dict(anonymous=403, owner=200, other=403, root=200)),
    ("DELETE", "{s}/aclpkg/9.9", None, dict(anonymous=403, owner=404, other=403, root=404)),
    ("DELETE", "{s}/nosuch", None, dict(anonymous=403, owner=404, other=403, root=404)),
    ("DELETE", "{f}x", None, dict(anonymous=403, owner=404, other=403, root=404)),
    ("GET", "/+authcheck", None, dict(anonymous=403, owner=403, other=403, root=403)),
]


@pytest.mark.parametrize("role", ROLES)
def test_matrix(server, world, role):
    st, other, dist = world
    auth = auth_of(server, role, st, other)
    for method, tpl, body, expect in MATRIX:
        path = tpl.format(s=st.path, u=st.user, f=st.file_path(dist))
        if method == "PUT" and role in ("owner", "root"):
            path = path.replace("second", f"second-{role}")
        r = server.jreq(method, path, body, auth=auth)
        assert r.status_code == expect[role], (role, method, path, r.status_code, r.text[:200])


@pytest.mark.parametrize("role", ROLES)
def test_matrix_uploads(server, world, pkgdir, role):
    st, other, dist = world
    auth = auth_of(server, role, st, other)
    d = pb.make_sdist(pkgdir / role, "uppkg", "1.0")
    r = st.upload(d, auth=auth)
    expect = {"anonymous": 401, "owner": 200, "other": 403, "root": 403}[role]
    assert r.status_code == expect, (role, r.status_code, r.reason)
    if expect == 401:
        assert r.headers.get("WWW-Authenticate", "").startswith("Basic")


@pytest.mark.parametrize("role", ROLES)
def test_matrix_deletes(server, world, role):
    st, other, dist = world
    auth = auth_of(server, role, st, other)
    r = server.jreq("DELETE", st.file_path(dist), auth=auth)
    assert r.status_code == {"anonymous": 403, "owner": 200, "other": 403, "root": 200}[role], r.text
    r = server.jreq("DELETE", st.path, auth=auth)
    assert r.status_code == {"anonymous": 403, "owner": 201, "other": 403, "root": 201}[role], r.text
    r = server.jreq("DELETE", f"/{st.user}", auth=auth)
    assert r.status_code == {"anonymous": 403, "owner": 200, "other": 403, "root": 200}[role], r.text


# ---------------------------------------------------------------- --restrict-modify

def test_restrict_modify(server_factory, pkgdir):
    s = server_factory(args=["--restrict-modify", "admin,root"])
    admin, apw = s.create_user("admin")
    # root is listed here, so it may create users; a plain user may not
    alice, alpw = s.create_user("alice")
    r = s.jreq("PUT", "/bob", {"password": "x"}, auth=(alice, alpw))
    assert r.status_code == 403
    # alice may not create her own index; admin may, for her
    r = s.jreq("PUT", f"/{alice}/dev", {}, auth=(alice, alpw))
    assert r.status_code == 403
    r = s.jreq("PUT", f"/{alice}/dev", {}, auth=(admin, apw))
    assert r.status_code == 200, r.text
    st = Stage(s, alice, alpw)
    # the owner still uploads (acl_upload) but may not modify the index
    st.upload_ok(pb.make_sdist(pkgdir, "rmpkg", "1.0"))
    assert s.jreq("PATCH", st.path, {"title": "x"}, auth=(alice, alpw)).status_code == 403
    assert s.jreq("PATCH", st.path, {"title": "x"}, auth=(admin, apw)).status_code == 200
    # every user keeps changing their own password
    assert s.jreq("PATCH", f"/{alice}", {"password": "new-pw"}, auth=(alice, alpw)).status_code == 200
    assert s.jreq("PATCH", f"/{alice}", {"email": "a@b"}, auth=(alice, "new-pw")).status_code == 403
    # principals cannot delete themselves; they can delete others
    assert s.jreq("DELETE", f"/{admin}", auth=(admin, apw)).status_code == 403
    assert s.jreq("DELETE", f"/{alice}", auth=(admin, apw)).status_code == 200


def test_restrict_modify_root_not_implied(server_factory):
    s = server_factory(args=["--restrict-modify", "admin"])
    r = s.jreq("PUT", "/someone", {"password": "x"}, auth=s.root_auth)
    assert r.status_code == 403, "root is not a principal unless listed"


# ---------------------------------------------------------------- acl_read

def test_acl_read_private_index(server, pkgdir, venv, tmp_path):
    st = server.new_stage()
    r = server.jreq("PATCH", st.path, [f"acl_read={st.user}"], auth=st.auth)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["acl_read"] == [st.user]
    d = pb.make_wheel(pkgdir, "secretpkg", "1.0")
    st.upload_ok(d)
    other = server.create_user()
    # anonymous: 401 with a challenge (pip retries with credentials)
    for path in (f"{st.path}/+simple/secretpkg/", f"{st.path}/+simple/", st.file_path(d),
                 f"{st.path}/secretpkg", st.path):
        r = server.http.get(path, headers={"Accept": "application/json"})
        assert r.status_code == 401, (path, r.status_code)
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        r = server.jreq("GET", path, auth=other)
        assert r.status_code == 403, (path, r.status_code)
        r = server.jreq("GET", path, auth=st.auth)
        assert r.status_code == 200, (path, r.status_code)
    # pip with credentials in the URL installs
    url = st.simple_url.replace("://", f"://{st.user}:{st.password}@")
    venv.install(url, "secretpkg", target=tmp_path / "t")
    assert (tmp_path / "t" / "secretpkg").exists()


def test_acl_read_through_a_chain(server, pkgdir):
    base = server.new_stage()
    assert server.jreq("PATCH", base.path, [f"acl_read={base.user}"], auth=base.auth).status_code == 200
    base.upload_ok(pb.make_sdist(pkgdir, "hidden", "1.0"))
    base.upload_ok(pb.make_sdist(pkgdir, "shared", "1.0"))
    user, pw = server.create_user()
    server.create_index(user, pw, "dev", bases=[base.name])
    child = Stage(server, user, pw)
    child.upload_ok(pb.make_sdist(pkgdir / "c", "shared", "2.0"))
    # the child's owner may not read base: its links are left out
    links = child.simple_links("shared", auth=(user, pw))
    assert [l["text"] for l in links] == ["shared-2.0.tar.gz"]
    assert child.simple("hidden", auth=(user, pw)).status_code == 404
    names = child.server.http.get(child.path + "/+simple/", auth=(user, pw)).text
    assert "hidden" not in names
    # root sees everything through the same chain (and the cache keeps them apart)
    links = child.simple_links("shared", auth=server.root_auth)
    assert sorted(l["text"] for l in links) == ["shared-1.0.tar.gz", "shared-2.0.tar.gz"]
    links = child.simple_links("shared", auth=(user, pw))
    assert [l["text"] for l in links] == ["shared-2.0.tar.gz"]


def test_acl_read_survives_restart(server_factory, pkgdir):
    s = server_factory()
    st = s.new_stage()
    assert s.jreq("PATCH", st.path, [f"acl_read={st.user}"], auth=st.auth).status_code == 200
    s.restart()
    assert s.http.get(st.path + "/+simple/").status_code == 401


def test_acl_read_validation(server):
    st = server.new_stage()
    r = server.jreq("PATCH", st.path, ["acl_read+=:anonymous:"], auth=st.auth)
    assert r.status_code == 200 and r.json()["result"]["acl_read"] == [":ANONYMOUS:"]
    r = server.jreq("PATCH", st.path, {"acl_read": 5}, auth=st.auth)
    assert r.status_code == 400


# ---------------------------------------------------------------- /+authcheck

def test_authcheck(server, pkgdir):
    st = server.new_stage()
    d = pb.make_sdist(pkgdir, "acpkg", "1.0")
    st.upload_ok(d)
    other = server.create_user()

    def check(uri, auth=None, ua=None):
        h = {"X-Original-URI": uri}
        if ua:
            h["User-Agent"] = ua
        return server.http.get("/+authcheck", headers=h, auth=auth).status_code

    assert check(st.file_path(d)) == 200
    assert check("/+api") == 200 and check("/+login") == 200
    assert check("/nosuch/index/+f/x") == 403
    assert check("/+changelog/1") == 403
    assert server.http.get("/+authcheck").status_code == 403, "no X-Original-URI"
    assert server.jreq("PATCH", st.path, [f"acl_read={st.user}"], auth=st.auth).status_code == 200
    assert check(st.file_path(d)) == 401
    assert check(st.file_path(d), ua="devpi-client/7.0") == 403
    assert check(st.file_path(d), auth=other) == 403
    assert check(st.file_path(d), auth=st.auth) == 200
    assert check(st.file_path(d) + "?x=1", auth=server.root_auth) == 200
    assert check("/" + "a" * 5000) == 403
    # paths a front end would normalize to another stage are refused, not
    # interpreted (nginx resolves them before try_files)
    pub = server.new_stage()
    for uri in (f"{pub.path}/../..{st.file_path(d)}", f"{pub.path}/%2e%2e/%2e%2e{st.file_path(d)}",
                f"{pub.path}/./../..{st.file_path(d)}", f"{pub.path}\\..\\..{st.file_path(d)}",
                f"{pub.path}/+f/%2F..%2F..{st.file_path(d)}"):
        assert check(uri) == 403, uri
    assert check(pub.path + "/+f/a/b/x-1.0.tar.gz") == 200
    assert check(pub.path + "/+simple/x/?a=../..") == 200, "a query is not part of the path"


# ---------------------------------------------------------------- login storms

def test_login_storm_gets_429(server_factory):
    s = server_factory(args=["--login-fail-limit", "5"])
    user, pw = s.create_user()
    slow, spw = s.create_user()
    token = s.login(user, pw).json()["result"]["password"]
    for i in range(5):
        r = s.login(user, f"wrong-{i}")
        assert r.status_code == 401, (i, r.status_code)
    r = s.login(user, "wrong-again")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "too many failed logins" in json_message(r)
    # credentials on any request count the same
    assert s.jreq("GET", "/+api", auth=(user, "nope")).status_code == 429
    # a password verified recently still passes, and so does a token
    assert s.login(user, pw).status_code == 200
    r = s.jreq("GET", "/+api", auth=(user, token))
    assert r.status_code == 200 and r.json()["result"]["authstatus"][:2] == ["ok", user]
    # a password not verified lately waits out the window like a guess
    for i in range(5):
        assert s.login(slow, f"bad-{i}").status_code == 401
    assert s.login(slow, spw).status_code == 429


def test_login_storm_by_address(server_factory):
    """Many names from one address: the address's wider bound (10 × limit)."""
    s = server_factory(args=["--login-fail-limit", "4"])
    codes = [s.login(f"ghost{i}", "bad").status_code for i in range(45)]
    assert codes[:40] == [401] * 40
    assert set(codes[40:]) == {429}, codes[38:]


def test_login_storm_on_one_name(server_factory):
    """One name from one address: the pair's bound; the user's own wider
    bound keeps a stranger from locking the name out as fast."""
    s = server_factory(args=["--login-fail-limit", "3"])
    user, pw = s.create_user()
    codes = [s.login(user, "bad").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_login_storm_bounded_time_and_memory(server_factory):
    import time
    s = server_factory(args=["--login-fail-limit", "3"])
    rss0 = s.rss_kb()
    t0 = time.monotonic()
    codes = set()
    for i in range(300):
        codes.add(s.login(f"nobody{i}", "x").status_code)
    elapsed = time.monotonic() - t0
    assert codes == {401, 429}
    assert s.rss_kb() - rss0 < 20 * 1024, "the failure table is bounded"
    assert elapsed < 60
