"""Project and version JSON views (API.md 6.1, 6.2)."""

import datetime

import pytest

import pkgbuild as pb
from harness import json_message, resolve


@pytest.fixture
def released(stage, pkgdir):
    sd = pb.make_sdist(pkgdir, "jsonpkg", "1.0", summary="json one", requires_python=">=3.7")
    whl = pb.make_wheel(pkgdir, "jsonpkg", "2.0", summary="json two")
    stage.upload_ok(sd, minimal=False)
    stage.upload_ok(whl, minimal=False)
    return stage, sd, whl


def check_link(link, stage, dist):
    assert link["rel"] == "releasefile"
    assert link["href"] == stage.file_url(dist), "hrefs in JSON are absolute"
    assert link["hash_spec"] == f"sha256={dist.sha256}"
    assert link["hashes"] == {"sha256": dist.sha256}
    uploads = [e for e in link["log"] if e["what"] == "upload"]
    assert len(uploads) == 1
    e = uploads[0]
    assert e["who"] == stage.user
    assert e["dst"] == stage.name
    assert len(e["when"]) == 6 and all(isinstance(x, int) for x in e["when"])
    when = datetime.datetime(*e["when"], tzinfo=datetime.timezone.utc)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) < 300


def test_project_view(released, server):
    stage, sd, whl = released
    r = server.jreq("GET", f"{stage.path}/jsonpkg")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "projectconfig"
    res = body["result"]
    assert set(res) == {"1.0", "2.0"}
    v1 = res["1.0"]
    assert v1["name"] == "jsonpkg" and v1["version"] == "1.0"
    assert v1["summary"] == "json one"
    assert v1["requires_python"] == ">=3.7"
    assert len(v1["+links"]) == 1
    check_link(v1["+links"][0], stage, sd)
    assert res["2.0"]["summary"] == "json two"
    check_link(res["2.0"]["+links"][0], stage, whl)
    # trailing slash is the same route
    r2 = server.jreq("GET", f"{stage.path}/jsonpkg/")
    assert r2.status_code == 200 and r2.json() == body


def test_version_view(released, server):
    stage, sd, _ = released
    for path in (f"{stage.path}/jsonpkg/1.0", f"{stage.path}/jsonpkg/1.0/"):
        r = server.jreq("GET", path)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["type"] == "versiondata"
        assert body["result"]["version"] == "1.0"
        assert body["result"]["summary"] == "json one"
        check_link(body["result"]["+links"][0], stage, sd)


def test_missing_version_404(released, server):
    stage, _, _ = released
    r = server.jreq("GET", f"{stage.path}/jsonpkg/9.9")
    assert r.status_code == 404
    assert json_message(r) == "The version 9.9 of project jsonpkg does not exist."


def test_unknown_project_404(stage, server):
    r = server.jreq("GET", f"{stage.path}/nosuchproject")
    assert r.status_code == 404
    assert json_message(r) == "no project 'nosuchproject'"


def test_non_normalized_project_302(released, server):
    stage, _, _ = released
    for sub, want in (("/JSONPKG", "/jsonpkg"), ("/JsonPkg/1.0", "/jsonpkg/1.0")):
        r = server.jreq("GET", stage.path + sub)
        assert r.status_code == 302, sub
        assert resolve(stage.url + sub, r.headers["Location"]) == stage.url + want


def test_mixed_name_stored_normalized(stage, server, pkgdir):
    stage.upload_ok(pb.make_wheel(pkgdir, "My.Mixed_Name", "0.1"))
    r = server.jreq("GET", f"{stage.path}/my-mixed-name")
    assert r.status_code == 200
    assert r.json()["result"]["0.1"]["version"] == "0.1"
    r = server.jreq("GET", f"{stage.path}/My.Mixed_Name")
    assert r.status_code == 302
