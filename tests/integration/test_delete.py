"""Deleting and modifying (API.md 2.5 user PATCH/DELETE, 3.3 file DELETE,
5.2 index DELETE, 6.3 project/version DELETE): permissions, the
non-volatile and ?force rules, 410 for deleted file URLs, and what the pages
show afterwards."""

from urllib.parse import urljoin, urlsplit

import pkgbuild as pb
from harness import json_message


def msg(r):
    return json_message(r)


def project_json(stage, project, **kw):
    return stage.server.jreq("GET", f"{stage.path}/{project}", **kw)


# ---------------------------------------------------------------- versions

def test_delete_version_then_project_goes(server, pkgdir):
    st = server.new_stage()
    a = pb.make_sdist(pkgdir, "delpkg", "1.0")
    b = pb.make_sdist(pkgdir, "delpkg", "2.0")
    st.upload_ok(a, b)
    r = server.jreq("DELETE", f"{st.path}/delpkg/1.0", auth=st.auth)
    assert r.status_code == 200, r.text
    assert msg(r) == "project 'delpkg' version '1.0' deleted"
    assert server.http.get(st.file_path(a)).status_code == 410
    assert server.http.get(st.file_path(b)).status_code == 200
    assert [l["text"] for l in st.simple_links("delpkg")] == [b.filename]
    assert list(project_json(st, "delpkg").json()["result"]) == ["2.0"]
    # again: 404 with devpi's message
    r = server.jreq("DELETE", f"{st.path}/delpkg/1.0", auth=st.auth)
    assert r.status_code == 404
    assert msg(r) == f"version '1.0' of project 'delpkg' not found on stage '{st.name}'"
    # the last version takes the project along
    assert server.jreq("DELETE", f"{st.path}/delpkg/2.0", auth=st.auth).status_code == 200
    assert project_json(st, "delpkg").status_code == 404
    assert "delpkg" not in st.config()["projects"]
    assert server.http.get(st.file_path(b)).status_code == 410


def test_delete_project(server, pkgdir):
    st = server.new_stage()
    dists = [pb.make_sdist(pkgdir, "Del_Proj", v) for v in ("1.0", "1.1")]
    st.upload_ok(*dists)
    r = server.jreq("DELETE", f"{st.path}/del-proj", auth=st.auth)
    assert r.status_code == 200, r.text
    assert msg(r) == f"project del-proj deleted from stage {st.name}"
    for d in dists:
        assert server.http.get(st.file_path(d)).status_code == 410
    assert st.simple("del-proj").status_code == 404
    r = server.jreq("DELETE", f"{st.path}/del-proj", auth=st.auth)
    assert r.status_code == 404 and msg(r) == "project not found"


def test_non_volatile_needs_force(server, pkgdir):
    st = server.new_stage(volatile=False)
    a = pb.make_sdist(pkgdir, "nvpkg", "1.0")
    st.upload_ok(a)
    r = server.jreq("DELETE", f"{st.path}/nvpkg/1.0", auth=st.auth)
    assert r.status_code == 403 and msg(r) == "cannot delete version on non-volatile index"
    r = server.jreq("DELETE", f"{st.path}/nvpkg", auth=st.auth)
    assert r.status_code == 403 and msg(r) == f"project 'nvpkg' is on non-volatile index {st.name}"
    r = server.jreq("DELETE", st.file_path(a), auth=st.auth)
    assert r.status_code == 403
    assert server.http.get(st.file_path(a)).status_code == 200, "refused deletes change nothing"
    r = server.jreq("DELETE", f"{st.path}/nvpkg/1.0?force", auth=st.auth)
    assert r.status_code == 200, r.text
    assert server.http.get(st.file_path(a)).status_code == 410


# ---------------------------------------------------------------- files

def test_delete_file_keeps_the_others(server, pkgdir):
    st = server.new_stage()
    sd = pb.make_sdist(pkgdir, "fpkg", "1.0")
    wh = pb.make_wheel(pkgdir, "fpkg", "1.0")
    st.upload_ok(sd, wh)
    rel = st.file_path(sd).lstrip("/")
    r = server.jreq("DELETE", st.file_path(sd), auth=st.auth)
    assert r.status_code == 200, r.text
    assert msg(r) == f"package '{rel}' deleted"
    assert server.http.get(st.file_path(sd)).status_code == 410
    assert server.http.get(st.file_path(wh)).status_code == 200
    links = project_json(st, "fpkg").json()["result"]["1.0"]["+links"]
    assert [l["href"].rsplit("/", 1)[1] for l in links] == [wh.filename]
    r = server.jreq("DELETE", st.file_path(sd), auth=st.auth)
    assert r.status_code == 410
    # the last file takes the version (and the project) along
    assert server.jreq("DELETE", st.file_path(wh), auth=st.auth).status_code == 200
    assert project_json(st, "fpkg").status_code == 404
    r = server.jreq("DELETE", f"{st.path}/+f/abc/0123456789abc/nope-1.0.tar.gz", auth=st.auth)
    assert r.status_code == 404


def test_reupload_after_delete(server, pkgdir):
    st = server.new_stage()
    a = pb.make_sdist(pkgdir, "again", "1.0")
    st.upload_ok(a)
    assert server.jreq("DELETE", f"{st.path}/again/1.0", auth=st.auth).status_code == 200
    st.upload_ok(a)
    r = server.http.get(st.file_path(a))
    assert r.status_code == 200 and r.content == a.data


# ---------------------------------------------------------------- permissions

def test_delete_permissions(server, pkgdir):
    st = server.new_stage()
    other, opw = server.create_user()
    helper, hpw = server.create_user()
    r = server.jreq("PATCH", st.path, ["acl_upload+=" + helper], auth=st.auth)
    assert r.status_code == 200, r.text
    a = pb.make_sdist(pkgdir, "permpkg", "1.0")
    b = pb.make_sdist(pkgdir, "permpkg", "2.0")
    st.upload_ok(a, b)
    for auth in (None, (other, opw)):
        for path in (f"{st.path}/permpkg/1.0", f"{st.path}/permpkg", st.file_path(a)):
            r = server.jreq("DELETE", path, auth=auth)
            assert r.status_code == 403, (auth, path, r.status_code, r.text)
        r = server.jreq("DELETE", st.path, auth=auth)
        assert r.status_code == 403, (auth, r.text)
    assert server.http.get(st.file_path(a)).status_code == 200
    # acl_upload members may delete entries, root may too
    assert server.jreq("DELETE", f"{st.path}/permpkg/1.0", auth=(helper, hpw)).status_code == 200
    assert server.jreq("DELETE", f"{st.path}/permpkg/2.0", auth=server.root_auth).status_code == 200
    # but only owner/root may delete the index
    assert server.jreq("DELETE", st.path, auth=(helper, hpw)).status_code == 403


# ---------------------------------------------------------------- indexes

def test_delete_index(server, pkgdir):
    st = server.new_stage()
    a = pb.make_sdist(pkgdir, "ixpkg", "1.0")
    st.upload_ok(a)
    r = server.jreq("DELETE", st.path, auth=st.auth)
    assert r.status_code == 201, r.text
    assert msg(r) == f"index {st.name} deleted"
    r = server.jreq("GET", st.path)
    assert r.status_code == 404
    assert st.index not in server.jreq("GET", f"/{st.user}").json()["result"]["indexes"]
    assert server.http.get(st.file_path(a)).status_code == 404
    # the name is free again, and empty
    server.create_index(st.user, st.password, st.index)
    assert st.config()["projects"] == []
    r = server.jreq("DELETE", f"/{st.user}/nosuch", auth=st.auth)
    assert r.status_code == 404


def test_non_volatile_index_cannot_be_deleted(server):
    st = server.new_stage(volatile=False)
    r = server.jreq("DELETE", st.path, auth=st.auth)
    assert r.status_code == 403
    assert msg(r) == f"index {st.name} non-volatile, cannot delete"
    assert server.jreq("GET", st.path).status_code == 200
    assert server.jreq("PATCH", st.path, ["volatile=True"], auth=st.auth).status_code == 200
    assert server.jreq("DELETE", st.path, auth=st.auth).status_code == 201


# ---------------------------------------------------------------- users

def test_user_delete(server, pkgdir):
    st = server.new_stage()
    a = pb.make_sdist(pkgdir, "upkg", "1.0")
    st.upload_ok(a)
    other, opw = server.create_user()
    assert server.jreq("DELETE", f"/{st.user}", auth=(other, opw)).status_code == 403
    assert server.jreq("DELETE", f"/{st.user}").status_code == 403
    r = server.jreq("DELETE", f"/{st.user}", auth=st.auth)
    assert r.status_code == 200, r.text
    assert msg(r) == f"user '{st.user}' deleted"
    assert server.jreq("GET", f"/{st.user}").status_code == 404
    assert server.jreq("GET", st.path).status_code == 404
    assert st.user not in server.jreq("GET", "/").json()["result"]
    assert server.login(st.user, st.password).status_code == 401
    r = server.jreq("DELETE", f"/{st.user}", auth=server.root_auth)
    assert r.status_code == 404


def test_user_with_non_volatile_index_and_root(server):
    st = server.new_stage(volatile=False)
    r = server.jreq("DELETE", f"/{st.user}", auth=server.root_auth)
    assert r.status_code == 403
    assert msg(r) == f"user '{st.user}' has non-volatile index: {st.index}"
    assert server.jreq("GET", st.path).status_code == 200
    r = server.jreq("DELETE", "/root", auth=server.root_auth)
    assert r.status_code == 403
    assert server.login("root", server.root_passwd).status_code == 200


def test_user_patch(server):
    user, pw = server.create_user(email="a@example.org", title="T")
    other, opw = server.create_user()
    r = server.jreq("PATCH", f"/{user}", {"email": "b@example.org"}, auth=(other, opw))
    assert r.status_code == 403
    r = server.jreq("PATCH", f"/{user}", {"email": "b@example.org", "title": "",
                                         "created": "2000-01-01T00:00:00Z", "indexes": {"x": {}}},
                    auth=(user, pw))
    assert r.status_code == 200, r.text
    assert msg(r) == "user updated"
    got = server.jreq("GET", f"/{user}").json()["result"]
    assert got["email"] == "b@example.org"
    assert "title" not in got, "a falsy value drops the key"
    assert got["created"] != "2000-01-01T00:00:00Z" and got["indexes"] == {}
    assert "pwhash" not in got
    r = server.jreq("PATCH", "/nosuchuser", {"email": "x"}, auth=server.root_auth)
    assert r.status_code == 404 and msg(r) == "no user 'nosuchuser'"


def test_password_change_gives_a_token(server):
    user, pw = server.create_user()
    r = server.jreq("PATCH", f"/{user}", {"password": "new-secret"}, auth=(user, pw))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "userpassword"
    assert body["message"] == "user updated, new proxy auth"
    assert body["result"]["expiration"] == 36000
    token = body["result"]["password"]
    assert server.jreq("GET", "/+api", auth=(user, token)).json()["result"]["authstatus"][:2] == ["ok", user]
    assert server.login(user, pw).status_code == 401
    assert server.login(user, "new-secret").status_code == 200
    assert "modified" in server.jreq("GET", f"/{user}").json()["result"]
    # root may change anyone's password; others may not
    other, opw = server.create_user()
    assert server.jreq("PATCH", f"/{user}", {"password": "x2"}, auth=(other, opw)).status_code == 403
    assert server.jreq("PATCH", f"/{user}", {"password": "x3"}, auth=server.root_auth).status_code == 200
    for bad in ({"password": ""}, {"password": 5}, {"password": "x" * 5000}):
        assert server.jreq("PATCH", f"/{user}", bad, auth=server.root_auth).status_code == 400
    for raw in (b"[1,2", b"\"str\"", b"[]"):
        r = server.jreq("PATCH", f"/{user}", raw_body=raw, auth=server.root_auth)
        assert r.status_code == 400, raw


def test_delete_on_mirror_drops_cache_only(upstream, mirror_server):
    s = mirror_server
    f = upstream.build({"delmir": {"1.0": {}}})[("delmir", "1.0", "wheel")]
    r = s.http.get("/root/pypi/+simple/delmir/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert r.status_code == 200, r.text
    url = r.json()["files"][0]["url"]
    got = s.http.get(url if "://" in url else f"/root/pypi/+simple/delmir/{url}")
    assert got.status_code == 200 and got.content == f.data
    fetched = upstream.count(f"/files/{f.filename}")
    r = s.jreq("DELETE", "/root/pypi/delmir/1.0", auth=s.root_auth)
    assert r.status_code == 200, r.text
    got = s.http.get(url if "://" in url else f"/root/pypi/+simple/delmir/{url}")
    assert got.status_code == 200 and got.content == f.data
    assert upstream.count(f"/files/{f.filename}") == fetched + 1, "deleted from the cache: fetched again"
    r = s.jreq("DELETE", "/root/pypi/delmir/9.9", auth=s.root_auth)
    assert r.status_code == 404, r.text
    # deleting the last cached file drops the cached page too
    file_path = urlsplit(urljoin(s.url + "/root/pypi/+simple/delmir/", url)).path
    r = s.jreq("DELETE", file_path, auth=s.root_auth)
    assert r.status_code == 200, r.text
    pages = upstream.count("/simple/delmir/")
    r = s.http.get("/root/pypi/+simple/delmir/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert r.status_code == 200
    assert upstream.count("/simple/delmir/") == pages + 1, "the page was fetched again"
    r = s.jreq("DELETE", "/root/pypi/delmir", auth=s.root_auth)
    assert r.status_code == 200, r.text
    pages = upstream.count("/simple/delmir/")
    r = s.http.get("/root/pypi/+simple/delmir/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert r.status_code == 200, "fetched again after the delete"
    assert upstream.count("/simple/delmir/") == pages + 1
    assert s.jreq("DELETE", "/root/pypi", auth=s.root_auth).status_code == 403, "root/pypi is non-volatile"
