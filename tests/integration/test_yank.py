"""PEP 592 yanking of private releases (API.md section A): PATCH of a
version with {"yanked": ...}, what pages and pip make of it, permissions
and bad bodies."""

import pkgbuild as pb
from harness import SIMPLE_JSON, installed_version, json_message


def test_yank_and_unyank(server, pkgdir, venv, tmp_path):
    st = server.new_stage(volatile=False)
    st.upload_ok(pb.make_wheel(pkgdir, "yankpkg", "1.0"), pb.make_wheel(pkgdir, "yankpkg", "2.0"))
    r = server.jreq("PATCH", f"{st.path}/yankpkg/2.0", {"yanked": "broken build"}, auth=st.auth)
    assert r.status_code == 200, r.text
    assert json_message(r) == "project 'yankpkg' version '2.0' yanked"
    links = {l["text"]: l for l in st.simple_links("yankpkg")}
    assert links["yankpkg-2.0-py3-none-any.whl"]["attrs"].get("data-yanked") == "broken build"
    assert "data-yanked" not in links["yankpkg-1.0-py3-none-any.whl"]["attrs"]
    files = {f["filename"]: f for f in st.simple_json("yankpkg")["files"]}
    assert files["yankpkg-2.0-py3-none-any.whl"]["yanked"] == "broken build"
    assert "yanked" not in files["yankpkg-1.0-py3-none-any.whl"] or \
        files["yankpkg-1.0-py3-none-any.whl"]["yanked"] is False
    assert server.jreq("GET", f"{st.path}/yankpkg/2.0").json()["result"]["yanked"] == "broken build"
    # pip skips the yanked release unless pinned
    venv.install(st.simple_url, "yankpkg", target=tmp_path / "a")
    assert installed_version(tmp_path / "a", "yankpkg") == "1.0"
    venv.install(st.simple_url, "yankpkg==2.0", target=tmp_path / "b")
    assert installed_version(tmp_path / "b", "yankpkg") == "2.0"
    # true: yanked without a reason; false: back
    assert server.jreq("PATCH", f"{st.path}/yankpkg/2.0", {"yanked": True}, auth=st.auth).status_code == 200
    links = {l["text"]: l for l in st.simple_links("yankpkg")}
    assert links["yankpkg-2.0-py3-none-any.whl"]["attrs"].get("data-yanked") == ""
    r = server.jreq("PATCH", f"{st.path}/yankpkg/2.0", {"yanked": False}, auth=st.auth)
    assert r.status_code == 200 and json_message(r) == "project 'yankpkg' version '2.0' unyanked"
    links = {l["text"]: l for l in st.simple_links("yankpkg")}
    assert "data-yanked" not in links["yankpkg-2.0-py3-none-any.whl"]["attrs"]


def test_yank_errors(server, pkgdir):
    st = server.new_stage()
    st.upload_ok(pb.make_sdist(pkgdir, "ypkg", "1.0"))
    other = server.create_user()
    path = f"{st.path}/ypkg/1.0"
    r = server.jreq("PATCH", path, {"yanked": True})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    assert server.jreq("PATCH", path, {"yanked": True}, auth=other).status_code == 403
    r = server.jreq("PATCH", f"{st.path}/ypkg/9.9", {"yanked": True}, auth=st.auth)
    assert r.status_code == 404
    for bad in ({}, {"yanked": 1}, {"yanked": True, "x": 1}, {"yanked": "r" * 2000}, [], "yes"):
        r = server.jreq("PATCH", path, bad, auth=st.auth)
        assert r.status_code == 400, (bad, r.status_code)
    r = server.jreq("PATCH", path, raw_body=b"{nope", auth=st.auth)
    assert r.status_code == 400
    r = server.jreq("PATCH", "/root/pypi/x/1.0", {"yanked": True}, auth=server.root_auth)
    assert r.status_code == 405
    assert "yanked" not in server.jreq("GET", path).json()["result"]
