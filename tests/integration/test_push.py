"""Push (API.md 6.4): `POST` (JSON body) or `PUSH` on /<user>/<index>.

Internal push copies one version (metadata, release files, tox results, doc
zip, logs) to another index of the same server in one commit; external push
makes the server upload the version to another index with the legacy upload
protocol (here: a second devpi-like on loopback)."""

import hashlib
import io
import json
import socket
import time
import zipfile

import pytest

import pkgbuild as pb
from fake_upstream import expected_file_url, get_page, html_links
from harness import Stage, installed_version, json_message


def push(server, src_path, body, auth=None, method="POST", headers=None, raw=None):
    h = {"Content-Type": "application/json", "Accept": "application/json"}
    h.update(headers or {})
    data = raw if raw is not None else json.dumps(body)
    return server.http.request(method, src_path, data=data, auth=auth, headers=h, timeout=120)


def version_json(stage, project, version):
    r = stage.server.jreq("GET", f"{stage.path}/{project}/{version}", params={"ignore_bases": 1})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def file_meta(server, path):
    r = server.http.get(path, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def relpath(stage, dist):
    return f"{stage.name}/+f/{dist.relpath_dirs()}/{dist.filename}"


def assert_msg(r, status, message):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:300]}"
    assert json_message(r) == message, json_message(r)


@pytest.fixture
def server(server_factory):
    """The external index of these tests is a second devpi-like on loopback:
    external push may reach private addresses only when told so."""
    return server_factory(args=["--push-private-networks"])


@pytest.fixture
def two(server):
    """alice with alice/dev (volatile, the source) and alice/prod."""
    alice, pw = server.create_user()
    server.create_index(alice, pw, "dev")
    server.create_index(alice, pw, "prod")
    return Stage(server, alice, pw, "dev"), Stage(server, alice, pw, "prod")


def make_doczip(seed=""):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("index.html", f"<h1>docs {seed}</h1>")
    return b.getvalue()


# ---------------------------------------------------------------- internal push

def test_internal_push_copies_release_and_pip_installs(two, pkgdir, venv, tmp_path):
    dev, prod = two
    s = dev.server
    whl = pb.make_wheel(pkgdir, "pushpkg", "1.0", requires_python=">=3.6")
    sd = pb.make_sdist(pkgdir, "pushpkg", "1.0")
    dev.upload_ok(whl, sd, minimal=False)
    before = {d.filename: file_meta(s, dev.file_path(d)) for d in (whl, sd)}

    r = push(s, dev.path, {"name": "pushpkg", "version": "1.0", "targetindex": prod.name}, auth=dev.auth)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["type"] == "actionlog"
    res = j["result"]
    assert res[0] == [200, "register", "pushpkg", "1.0", "->", prod.name]
    assert sorted(res[1:]) == sorted([[200, "store_releasefile", relpath(prod, whl)],
                                      [200, "store_releasefile", relpath(prod, sd)]])

    # files at their target paths, same bytes, last_modified preserved
    for d in (whl, sd):
        got = s.http.get(prod.file_path(d))
        assert got.status_code == 200 and got.content == d.data
        meta = file_meta(s, prod.file_path(d))
        assert meta["last_modified"] == before[d.filename]["last_modified"]
        assert meta["hashes"]["sha256"] == d.sha256
    # the source is untouched
    assert s.http.get(dev.file_path(whl)).content == whl.data

    v = version_json(prod, "pushpkg", "1.0")
    src = version_json(dev, "pushpkg", "1.0")
    assert v["requires_python"] == ">=3.6"
    assert {k: x for k, x in v.items() if not k.startswith("+")} == \
        {k: x for k, x in src.items() if not k.startswith("+")}
    assert len(v["+links"]) == 2
    for link in v["+links"]:
        whats = [e["what"] for e in link["log"]]
        assert whats == ["upload", "push"], link["log"]
        up, pu = link["log"]
        assert up["dst"] == dev.name and up["who"] == dev.user
        assert pu["who"] == dev.user and pu["src"] == dev.name and pu["dst"] == prod.name
        assert len(pu["when"]) == 6
        assert link["href"].endswith("/" + prod.name + "/+f/" + link["href"].split("/+f/")[1])
    assert "pushpkg" in prod.config()["projects"]

    target = tmp_path / "t"
    venv.install(prod.simple_url, "pushpkg==1.0", target=target)
    assert installed_version(target, "pushpkg") == "1.0"


def test_push_method_works_like_post(two, pkgdir):
    dev, prod = two
    whl = pb.make_wheel(pkgdir, "pushm", "2.0")
    dev.upload_ok(whl)
    r = push(dev.server, dev.path, {"name": "pushm", "version": "2.0", "targetindex": prod.name},
             auth=dev.auth, method="PUSH")
    assert r.status_code == 200, r.text
    assert r.json()["result"] == [[200, "register", "pushm", "2.0", "->", prod.name],
                                  [200, "store_releasefile", relpath(prod, whl)]]
    assert dev.server.http.get(prod.file_path(whl)).content == whl.data
    # PUSH without a content type is a push too
    r = dev.server.http.request("PUSH", dev.path, auth=dev.auth,
                                data=json.dumps({"name": "pushm", "version": "2.0",
                                                 "targetindex": prod.name}))
    assert r.status_code == 200, r.text


def test_push_overwrites_target_metadata_and_keeps_other_versions(two, pkgdir):
    dev, prod = two
    old = pb.make_wheel(pkgdir / "o", "metapkg", "1.0", summary="old summary")
    other = pb.make_wheel(pkgdir / "o", "metapkg", "0.9")
    prod.upload_ok(old, other, minimal=False)
    new = pb.make_wheel(pkgdir / "n", "metapkg", "1.0", summary="new summary", salt="n")
    dev.upload_ok(new, minimal=False)
    r = push(dev.server, dev.path, {"name": "metapkg", "version": "1.0", "targetindex": prod.name},
             auth=dev.auth)
    assert r.status_code == 200, r.text
    v = version_json(prod, "metapkg", "1.0")
    assert v["summary"] == "new summary"
    (link,) = v["+links"]       # prod is volatile: the file was replaced
    assert link["hashes"]["sha256"] == new.sha256
    assert [e["what"] for e in link["log"]] == ["overwrite", "upload", "push"]
    assert link["log"][0]["count"] == 1
    assert dev.server.http.get(prod.file_path(new)).content == new.data
    # the replaced file is gone, the other version stays
    assert dev.server.http.get(prod.file_path(old)).status_code == 410
    assert version_json(prod, "metapkg", "0.9")["+links"][0]["hashes"]["sha256"] == other.sha256


def test_push_logs_drop_overwrite_entries(two, pkgdir):
    dev, prod = two
    a = pb.make_wheel(pkgdir / "a", "owpkg", "1.0")
    b = pb.make_wheel(pkgdir / "b", "owpkg", "1.0", salt="b")
    dev.upload_ok(a)
    dev.upload_ok(b)      # volatile source: overwrite entry in its log
    src_log = version_json(dev, "owpkg", "1.0")["+links"][0]["log"]
    assert "overwrite" in [e["what"] for e in src_log]
    r = push(dev.server, dev.path, {"name": "owpkg", "version": "1.0", "targetindex": prod.name},
             auth=dev.auth)
    assert r.status_code == 200, r.text
    log = version_json(prod, "owpkg", "1.0")["+links"][0]["log"]
    assert log[:-1] == [e for e in src_log if e["what"] != "overwrite"]
    assert log[-1]["what"] == "push"


def test_push_toxresults_and_doczip(two, pkgdir):
    dev, prod = two
    s = dev.server
    whl = pb.make_wheel(pkgdir, "toxdoc", "1.0")
    dev.upload_ok(whl)
    tox = {"reportversion": "1", "testenvs": {"py3": {"test": [{"retcode": 0}]}}}
    r = s.http.post(dev.file_path(whl), data=json.dumps(tox),
                    headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert r.status_code == 200, r.text
    tox_rel = r.json()["result"]
    doc = make_doczip("v1")
    r = dev.upload(action="doc_upload", name="toxdoc", version="1.0", content=doc,
                   filename="toxdoc-1.0.doc.zip")
    assert r.status_code == 200, (r.status_code, r.reason)

    r = push(s, dev.path, {"name": "toxdoc", "version": "1.0", "targetindex": prod.name}, auth=dev.auth)
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    tox_target = prod.name + tox_rel[len(dev.name):]
    assert res == [[200, "register", "toxdoc", "1.0", "->", prod.name],
                   [200, "store_releasefile", relpath(prod, whl)],
                   [200, "store_toxresult", tox_target],
                   [200, "store_doczip", "toxdoc", "1.0", "->", prod.name]]
    got = s.http.get("/" + tox_target)
    assert got.status_code == 200 and got.json() == tox
    links = version_json(prod, "toxdoc", "1.0")["+links"]
    assert sorted(l["rel"] for l in links) == ["doczip", "releasefile", "toxresult"]
    (doclink,) = [l for l in links if l["rel"] == "doczip"]
    assert s.http.get(doclink["href"]).content == doc
    assert doclink["log"][-1]["what"] == "push"

    # no_docs / only_docs
    s.create_index(dev.user, dev.password, "prod2")
    s.create_index(dev.user, dev.password, "prod3")
    prod2, prod3 = Stage(s, dev.user, dev.password, "prod2"), Stage(s, dev.user, dev.password, "prod3")
    r = push(s, dev.path, {"name": "toxdoc", "version": "1.0", "targetindex": prod2.name,
                           "no_docs": True}, auth=dev.auth)
    assert r.status_code == 200, r.text
    assert [row[1] for row in r.json()["result"]] == ["register", "store_releasefile", "store_toxresult"]
    r = push(s, dev.path, {"name": "toxdoc", "version": "1.0", "targetindex": prod3.name,
                           "only_docs": True}, auth=dev.auth)
    assert r.status_code == 200, r.text
    assert [row[1] for row in r.json()["result"]] == ["register", "store_doczip"]
    assert [l["rel"] for l in version_json(prod3, "toxdoc", "1.0")["+links"]] == ["doczip"]


# ---------------------------------------------------------------- validation

def test_push_validation_errors(two, pkgdir):
    dev, prod = two
    s = dev.server
    whl = pb.make_wheel(pkgdir, "valpkg", "1.0")
    dev.upload_ok(whl)
    ok = {"name": "valpkg", "version": "1.0", "targetindex": prod.name}

    r = push(s, dev.path, {"version": "1.0", "targetindex": prod.name}, auth=dev.auth)
    assert r.status_code == 400 and json_message(r).startswith("there are no files for"), r.text
    r = push(s, dev.path, {"name": "valpkg", "targetindex": prod.name}, auth=dev.auth)
    assert r.status_code == 400 and json_message(r).startswith("there are no files for"), r.text
    r = push(s, dev.path, {**ok, "version": "9.9"}, auth=dev.auth)
    assert_msg(r, 400, f"there are no files for valpkg 9.9 on stage {dev.name}")
    r = push(s, dev.path, {**ok, "name": "nosuchpkg"}, auth=dev.auth)
    assert_msg(r, 400, f"there are no files for nosuchpkg 1.0 on stage {dev.name}")
    r = push(s, dev.path, {**ok, "no_docs": True, "only_docs": True}, auth=dev.auth)
    assert_msg(r, 400, "can't use 'no_docs' and 'only_docs' together")
    r = push(s, dev.path, {**ok, "zzz": 1, "bogus": "x"}, auth=dev.auth)
    assert_msg(r, 400, "unknown additional options: bogus, zzz")
    for bad in ("prod", "a/b/c", "/prod", f"{dev.user}/", "", 5, f"{dev.user}/p%d"):
        r = push(s, dev.path, {**ok, "targetindex": bad}, auth=dev.auth)
        assert r.status_code == 400, (bad, r.text)
        assert json_message(r).startswith("targetindex not in format user/index"), (bad, r.text)
    r = push(s, dev.path, {**ok, "targetindex": f"{dev.user}/nosuch"}, auth=dev.auth)
    assert_msg(r, 404, f"The stage {dev.user}/nosuch could not be found.")
    r = push(s, dev.path, {**ok, "targetindex": "nosuchuser/prod"}, auth=dev.auth)
    assert_msg(r, 404, "The stage nosuchuser/prod could not be found.")
    r = push(s, "/nosuchuser/dev", ok, auth=dev.auth)
    assert r.status_code == 404, r.text
    # registered (submit) but no files in this stage
    r = dev.upload(action="submit", name="valpkg", version="2.0")
    assert r.status_code == 200, r.reason
    r = push(s, dev.path, {**ok, "version": "2.0"}, auth=dev.auth)
    assert_msg(r, 404, "no release/files found for valpkg 2.0")
    # only_docs with no doc zip: nothing to push
    r = push(s, dev.path, {**ok, "only_docs": True}, auth=dev.auth)
    assert_msg(r, 404, "no release/files found for valpkg 1.0")
    # neither target nor posturl
    r = push(s, dev.path, {"name": "valpkg", "version": "1.0"}, auth=dev.auth)
    assert r.status_code == 400, r.text
    # nothing of the failed pushes reached the target
    assert "valpkg" not in prod.config()["projects"]


def test_push_files_only_from_this_stage(server, pkgdir):
    """A version that the source only inherits is not pushed."""
    base = server.new_stage()
    whl = pb.make_wheel(pkgdir, "inhpkg", "1.0")
    base.upload_ok(whl)
    child = server.new_stage(bases=[base.name])
    assert server.jreq("GET", f"{child.path}/inhpkg/1.0").status_code == 200
    server.create_index(child.user, child.password, "prod")
    r = push(server, child.path, {"name": "inhpkg", "version": "1.0", "targetindex": f"{child.user}/prod"},
             auth=child.auth)
    assert_msg(r, 400, f"there are no files for inhpkg 1.0 on stage {child.name}")


def test_push_bad_bodies(two, pkgdir):
    dev, prod = two
    s = dev.server
    for raw in ("{", "not json", '{"name": "x", "version": ', "\xff\xfe"):
        r = push(s, dev.path, None, auth=dev.auth, raw=raw.encode("latin-1"))
        assert r.status_code == 400, (raw, r.status_code, r.text)
    for raw in ("[1, 2]", '"str"', "null", "42"):
        r = push(s, dev.path, None, auth=dev.auth, raw=raw)
        assert r.status_code == 400, (raw, r.status_code, r.text)
    deep = "[" * 5000 + "]" * 5000
    r = push(s, dev.path, None, auth=dev.auth, raw=deep)
    assert r.status_code == 400, r.text
    huge = json.dumps({"name": "x", "version": "1.0", "targetindex": prod.name, "pad": "a" * (2 << 20)})
    r = push(s, dev.path, None, auth=dev.auth, raw=huge)
    assert r.status_code == 413, r.status_code
    assert s.alive()
    # a non-multipart POST is a push, a multipart one stays an upload
    r = s.http.post(dev.path, data=b"name=x&version=1", auth=dev.auth,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400, r.text
    whl = pb.make_wheel(pkgdir, "stillupload", "1.0")
    dev.upload_ok(whl)


# ---------------------------------------------------------------- permissions

def test_push_permissions(server, two, pkgdir):
    dev, prod = two
    whl = pb.make_wheel(pkgdir, "permpkg", "1.0")
    dev.upload_ok(whl)
    body = {"name": "permpkg", "version": "1.0", "targetindex": prod.name}
    # anonymous: may read the source, may not upload to the target
    r = push(server, dev.path, body)
    assert_msg(r, 401, f"user 'anonymous' cannot upload to '{prod.name}'")
    bob, bobpw = server.create_user()
    r = push(server, dev.path, body, auth=(bob, bobpw))
    assert_msg(r, 401, f"user '{bob}' cannot upload to '{prod.name}'")
    # a mirror is never a push target
    r = push(server, dev.path, {**body, "targetindex": "root/pypi"}, auth=server.root_auth)
    assert r.status_code == 401, r.text
    # bob may push to his own index: reading alice/dev is open to all
    server.create_index(bob, bobpw, "mine")
    r = push(server, dev.path, {**body, "targetindex": f"{bob}/mine"}, auth=(bob, bobpw))
    assert r.status_code == 200, r.text
    log = version_json(Stage(server, bob, bobpw, "mine"), "permpkg", "1.0")["+links"][0]["log"]
    assert log[-1]["what"] == "push" and log[-1]["who"] == bob
    # acl_upload grants a push target
    r = server.jreq("PATCH", prod.path, {"acl_upload": [prod.user, bob]}, auth=prod.auth)
    assert r.status_code == 200, r.text
    r = push(server, dev.path, body, auth=(bob, bobpw))
    assert r.status_code == 200, r.text


def test_push_needs_pkg_read_on_source(server, pkgdir):
    alice, pw = server.create_user()
    server.create_index(alice, pw, "secret", acl_read=[alice])
    server.create_index(alice, pw, "prod")
    src = Stage(server, alice, pw, "secret")
    whl = pb.make_wheel(pkgdir, "readpkg", "1.0")
    src.upload_ok(whl)
    bob, bobpw = server.create_user()
    server.create_index(bob, bobpw, "mine")
    body = {"name": "readpkg", "version": "1.0", "targetindex": f"{bob}/mine"}
    r = push(server, src.path, body, auth=(bob, bobpw))
    assert r.status_code == 403, r.text
    r = push(server, src.path, body)
    assert r.status_code == 403, r.text
    r = push(server, src.path, {**body, "targetindex": f"{alice}/prod"}, auth=(alice, pw))
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- non-volatile

def test_push_non_volatile_conflict_is_atomic(server, pkgdir):
    alice, pw = server.create_user()
    server.create_index(alice, pw, "dev")
    server.create_index(alice, pw, "prod", volatile=False)
    dev, prod = Stage(server, alice, pw, "dev"), Stage(server, alice, pw, "prod")
    whl = pb.make_wheel(pkgdir / "1", "nvpkg", "1.0")
    dev.upload_ok(whl)
    body = {"name": "nvpkg", "version": "1.0", "targetindex": prod.name}
    r = push(server, dev.path, body, auth=dev.auth)
    assert r.status_code == 200, r.text
    serial = server.serial()
    # identical content again: fine, nothing changes
    r = push(server, dev.path, body, auth=dev.auth)
    assert r.status_code == 200, r.text
    assert r.json()["result"][1] == [200, "store_releasefile", relpath(prod, whl)]
    log = version_json(prod, "nvpkg", "1.0")["+links"][0]["log"]
    assert [e["what"] for e in log] == ["upload", "push"]
    # the source gets a new sdist and a different wheel of the same name
    sd = pb.make_sdist(pkgdir / "2", "nvpkg", "1.0")
    whl2 = pb.make_wheel(pkgdir / "2", "nvpkg", "1.0", salt="different")
    dev.upload_ok(sd, whl2)
    r = push(server, dev.path, body, auth=dev.auth)
    assert_msg(r, 409, f"{whl.filename} already exists in non-volatile index")
    # all or nothing: the sdist did not get in either
    links = version_json(prod, "nvpkg", "1.0")["+links"]
    assert [l["hashes"]["sha256"] for l in links] == [whl.sha256]
    assert server.http.get(prod.file_path(sd)).status_code == 404
    assert server.http.get(prod.file_path(whl)).content == whl.data
    assert server.serial() >= serial


# ---------------------------------------------------------------- external push

@pytest.fixture
def remote(server_factory):
    """A second devpi-like (the external index) with carol/ext."""
    r = server_factory()
    carol, pw = r.create_user("carol")
    r.create_index(carol, pw, "ext")
    return Stage(r, carol, pw, "ext")


def external(stage, remote, name, version, password=None, **extra):
    body = {"name": name, "version": version, "posturl": remote.url + "/",
            "username": remote.user, "password": password or remote.password, **extra}
    return push(stage.server, stage.path, body, auth=stage.auth)


def test_external_push_uploads_files(server, remote, pkgdir):
    dev = server.new_stage()
    whl = pb.make_wheel(pkgdir, "extpkg", "1.0", requires_python=">=3.7",
                        extra_files={"extpkg/blob.bin": pb.random_bytes(3 << 20, seed=5)})
    sd = pb.make_sdist(pkgdir, "extpkg", "1.0")
    dev.upload_ok(whl, sd, minimal=False)
    r = external(dev, remote, "extpkg", "1.0")
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["type"] == "actionlog"
    rows = j["result"]
    assert sorted(rows) == sorted([[200, "upload", relpath(dev, whl), ""],
                                   [200, "upload", relpath(dev, sd), ""]])
    for d in (whl, sd):
        got = remote.server.http.get(remote.file_path(d))
        assert got.status_code == 200 and got.content == d.data
    v = version_json(remote, "extpkg", "1.0")
    assert v["requires_python"] == ">=3.7"
    assert v["summary"] == version_json(dev, "extpkg", "1.0")["summary"]
    assert v["+links"][0]["log"][0]["who"] == remote.user


def test_external_push_register_and_docs(server, remote, pkgdir):
    dev = server.new_stage()
    whl = pb.make_wheel(pkgdir, "extreg", "2.0")
    dev.upload_ok(whl, minimal=False)
    doc = make_doczip("ext")
    r = dev.upload(action="doc_upload", name="extreg", version="2.0", content=doc,
                   filename="extreg-2.0.doc.zip")
    assert r.status_code == 200, r.reason
    r = external(dev, remote, "extreg", "2.0", register_project=True)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == [[200, "register", "extreg", "2.0"],
                                  [200, "upload", relpath(dev, whl), ""],
                                  [200, "docfile", "extreg"]]
    links = version_json(remote, "extreg", "2.0")["+links"]
    assert sorted(l["rel"] for l in links) == ["doczip", "releasefile"]
    (doclink,) = [l for l in links if l["rel"] == "doczip"]
    assert remote.server.http.get(doclink["href"]).content == doc


def test_external_push_wrong_password_502(server, remote, pkgdir):
    dev = server.new_stage()
    whl = pb.make_wheel(pkgdir, "extbad", "1.0")
    sd = pb.make_sdist(pkgdir, "extbad", "1.0")
    dev.upload_ok(whl, sd)
    r = external(dev, remote, "extbad", "1.0", password="wrong")
    assert r.status_code == 502, r.text
    rows = r.json()["result"]
    assert len(rows) == 1, rows          # stops at the first refused step
    assert rows[0][0] in (401, 403) and rows[0][1] == "upload", rows
    assert remote.server.jreq("GET", f"{remote.path}/extbad").status_code == 404
    # register refused: no upload is tried
    r = external(dev, remote, "extbad", "1.0", password="wrong", register_project=True)
    assert r.status_code == 502, r.text
    rows = r.json()["result"]
    assert len(rows) == 1 and rows[0][0] in (401, 403) and rows[0][1] == "register", rows


def test_external_push_unreachable_502(server, pkgdir):
    dev = server.new_stage()
    whl = pb.make_wheel(pkgdir, "extdown", "1.0")
    dev.upload_ok(whl)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()         # nothing listens there now
    body = {"name": "extdown", "version": "1.0", "posturl": f"http://127.0.0.1:{port}/x/y/",
            "username": "u", "password": "p"}
    r = push(server, dev.path, body, auth=dev.auth)
    assert r.status_code == 502, r.text
    (row,) = r.json()["result"]
    assert row[0] == -1 and row[1] == "exception on release upload:", row
    assert server.alive()


def test_external_push_bad_requests(server, pkgdir):
    dev = server.new_stage()
    whl = pb.make_wheel(pkgdir, "extval", "1.0")
    dev.upload_ok(whl)
    base = {"name": "extval", "version": "1.0", "username": "u", "password": "p"}
    for url in ("ftp://example.invalid/", "not a url", "http://user:pw@127.0.0.1:1/"):
        r = push(server, dev.path, {**base, "posturl": url}, auth=dev.auth)
        assert r.status_code == 400, (url, r.text)
    r = push(server, dev.path, {"name": "extval", "version": "1.0", "posturl": "http://127.0.0.1:1/"},
             auth=dev.auth)
    assert r.status_code == 400, r.text
    r = push(server, dev.path, {**base, "posturl": "http://127.0.0.1:1/", "version": "3.0"}, auth=dev.auth)
    assert_msg(r, 400, f"there are no files for extval 3.0 on stage {dev.name}")


def test_external_push_big_answer_is_bounded(server, pkgdir, tmp_path):
    """An index that answers with a huge body: the row keeps a bounded text."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers["Content-Length"])
            left = n
            while left:
                left -= len(self.rfile.read(min(left, 65536)))
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            self.wfile.write(b"x" * (1 << 20))

        def log_message(self, *a):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        dev = server.new_stage()
        whl = pb.make_wheel(pkgdir, "extbig", "1.0")
        dev.upload_ok(whl)
        body = {"name": "extbig", "version": "1.0", "posturl": f"http://127.0.0.1:{httpd.server_port}/",
                "username": "u", "password": "p"}
        r = push(server, dev.path, body, auth=dev.auth)
        assert r.status_code == 200, r.text[:300]
        (row,) = r.json()["result"]
        assert row[0] == 200 and row[1] == "upload"
        assert 0 < len(row[3]) <= 64 * 1024
    finally:
        httpd.shutdown()


# ---------------------------------------------------------------- mirror source

def test_push_from_mirror_fetches_missing_files(upstream, mirror_factory, pkgdir):
    """API.md 6.4: mirror files not cached yet are fetched first."""
    s = mirror_factory()
    t = upstream.build({"mirpkg": {"1.0": {"kinds": ("wheel", "sdist")}}})
    f = t[("mirpkg", "1.0", "wheel")]
    alice, pw = s.create_user()
    s.create_index(alice, pw, "prod")
    body = {"name": "mirpkg", "version": "1.0", "targetindex": f"{alice}/prod"}
    page = get_page(s, "mirpkg")            # page fetched, no file downloaded yet
    assert page.status_code == 200, page.text[:300]
    assert upstream.count(f"/files/{f.filename}") == 0
    r = push(s, "/root/pypi", body, auth=(alice, pw))
    assert r.status_code == 200, r.text
    assert upstream.count(f"/files/{f.filename}") == 1, "fetched once, for the push"
    prod = Stage(s, alice, pw, "prod")
    rel = f"{alice}/prod/+f/{f.sha256[:3]}/{f.sha256[3:16]}/{f.filename}"
    assert [200, "store_releasefile", rel] in r.json()["result"]
    got = s.http.get("/" + rel)
    assert got.status_code == 200 and got.content == f.data
    links = version_json(prod, "mirpkg", "1.0")["+links"]
    assert len(links) == len([k for k in t if k[:2] == ("mirpkg", "1.0")])
    log = next(l for l in links if l["href"].endswith(f.filename))["log"]
    assert [e["what"] for e in log] == ["push"] and log[0]["src"] == "root/pypi"
    # the mirror copy is now cached: served without asking upstream again
    url = html_links(page)[f.filename]["url"]
    assert s.http.get(url[len(s.url):]).status_code == 200
    assert upstream.count(f"/files/{f.filename}") == 1


def test_push_from_mirror_upstream_failure_502(upstream, mirror_factory, pkgdir):
    s = mirror_factory()
    f = upstream.build({"mirbad": {"1.0": {}}})[("mirbad", "1.0", "wheel")]
    alice, pw = s.create_user()
    s.create_index(alice, pw, "prod")
    assert get_page(s, "mirbad").status_code == 200
    upstream.fault(f"/files/{f.filename}", "status", code=503)
    r = push(s, "/root/pypi", {"name": "mirbad", "version": "1.0", "targetindex": f"{alice}/prod"},
             auth=(alice, pw))
    assert r.status_code == 502, r.text
    assert s.jreq("GET", f"/{alice}/prod/mirbad?ignore_bases").status_code == 404


def test_external_push_client_gone_and_shutdown_mid_push(server_factory, pkgdir):
    """The outside index accepts and never answers: a client that gives up
    cancels the upload, and a server stopped mid-push exits cleanly."""
    import threading
    import requests

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    held = []

    def accept_forever():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            held.append(c)          # read nothing, answer nothing

    threading.Thread(target=accept_forever, daemon=True).start()
    try:
        s = server_factory(args=["--push-private-networks"])
        dev = s.new_stage()
        whl = pb.make_wheel(pkgdir, "exthang", "1.0")
        dev.upload_ok(whl)
        body = {"name": "exthang", "version": "1.0",
                "posturl": f"http://127.0.0.1:{lsock.getsockname()[1]}/", "username": "u", "password": "p"}
        with pytest.raises(requests.exceptions.ReadTimeout):
            s.http.request("POST", dev.path, data=json.dumps(body), auth=dev.auth,
                           headers={"Content-Type": "application/json"}, timeout=1.5)
        assert s.jreq("GET", "/+api").status_code == 200
        # another one in flight while the server stops
        def bg():
            try:
                push(s, dev.path, body, auth=dev.auth)
            except requests.RequestException:
                pass        # the server went away: expected

        t = threading.Thread(target=bg, daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while len(held) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(held) >= 2, "the push never connected"
        assert s.stop(timeout=15) == 0
    finally:
        lsock.close()
        for c in held:
            c.close()


def test_external_push_needs_an_authenticated_caller(server, pkgdir):
    """Unlike devpi: an anonymous reader must not make the server POST to
    an arbitrary URL (loopback included)."""
    dev = server.new_stage()
    dev.upload_ok(pb.make_wheel(pkgdir, "extanon", "1.0"))
    body = {"name": "extanon", "version": "1.0", "posturl": "http://127.0.0.1:1/",
            "username": "u", "password": "p"}
    r = push(server, dev.path, body)
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_external_push_refuses_private_addresses_by_default(server_factory, remote, pkgdir):
    s = server_factory()                  # without --push-private-networks
    dev = s.new_stage()
    dev.upload_ok(pb.make_wheel(pkgdir, "extpriv", "1.0"))
    for url in (remote.url + "/", "http://localhost:%d/" % remote.server.port,
                "http://[::1]:%d/" % remote.server.port, "http://10.0.0.1:1/"):
        r = push(s, dev.path, {"name": "extpriv", "version": "1.0", "posturl": url,
                                "username": remote.user, "password": remote.password}, auth=dev.auth)
        assert r.status_code == 502, (url, r.text)
        assert r.json()["result"][0][0] == -1, r.json()
    assert remote.server.jreq("GET", f"{remote.path}/extpriv").status_code == 404, "nothing arrived"
