"""Tox results (API.md 6.5, 3.1) and documentation zips (API.md 6.6
doc_upload): paths, +links entries, permissions, overwrite rules, hostile
bodies, and that neither ever shows up on simple pages."""

import hashlib
import io
import json
import re
import zipfile

import pytest

import pkgbuild as pb
from harness import (PIP_UA, SIMPLE_JSON, Stage, assert_upload_error, json_message, xauth)

NO_PERM = ("No permission to upload tox results. You can use the devpi test --no-upload "
           "option to skip the upload.")
TOX = {"reportversion": "1", "toxversion": "4.11.3", "platform": "linux",
       "host": "ci-1", "testenvs": {"py311": {"test": [{"retcode": 0, "command": ["pytest"]}]}}}


def post_tox(stage, path, body=TOX, auth=None, headers=None, raw=None):
    """POST a tox result the way devpi-client does (JSON body, X-Devpi-Auth
    when authenticated)."""
    data = raw if raw is not None else json.dumps(body, indent=1).encode()
    h = {"Content-Type": "application/json", "Accept": "application/json"}
    h.update(headers or {})
    return stage.server.http.post(path, data=data, auth=auth, headers=h)


def version_links(stage, project, version):
    r = stage.server.jreq("GET", f"{stage.path}/{project}/{version}")
    assert r.status_code == 200, r.text
    return r.json()["result"]["+links"]


def rels(links, rel):
    return [l for l in links if l["rel"] == rel]


def make_doczip(seed="", files=None):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for name, text in (files if files is not None else {"index.html": f"<h1>docs {seed}</h1>"}).items():
            z.writestr(name, text)
    return b.getvalue()


def doc_upload(stage, name, version, content, auth="__stage__", headers=None, filename=None):
    """A doc upload shaped like devpi-client's (`devpi upload --with-docs`):
    :action=doc_upload, name, version, file part content=<zip>."""
    return stage.upload(action="doc_upload", name=name, version=version, content=content,
                        filename=filename or f"{name}-{version or 'x'}.doc.zip", auth=auth,
                        headers=headers)


def doc_path(stage, project, version, content):
    h = hashlib.sha256(content).hexdigest()
    return f"{stage.path}/+f/{h[:3]}/{h[3:16]}/{project}-{version}.doc.zip"


def assert_not_on_simple_pages(stage, project, fragment):
    """No simple page flavour (human HTML, installer HTML, PEP 691 JSON,
    with and without the slash) lists fragment."""
    for kw in ({}, {"ua": PIP_UA}, {"accept": SIMPLE_JSON}, {"accept": SIMPLE_JSON, "slash": False},
               {"ua": PIP_UA, "slash": False}):
        r = stage.simple(project, **kw)
        assert r.status_code == 200, (kw, r.status_code, r.text[:300])
        assert fragment not in r.text, (kw, r.text[:2000])
    r = stage.server.http.get(f"{stage.path}/{project}/", headers={"User-Agent": PIP_UA})
    assert r.status_code == 200 and fragment not in r.text


# ---------------------------------------------------------------- tox results

def test_toxresult_upload_stores_verbatim_and_links(stage, server, pkgdir):
    whl = pb.make_wheel(pkgdir, "toxpkg", "1.0")
    stage.upload_ok(whl)
    raw = b'{"reportversion": "1",\n  "testenvs": {"py3": {"retcode": 0}}, "x": "\\u00e9"}  \n'
    r = post_tox(stage, stage.file_path(whl), raw=raw)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "toxresultpath"
    rel = body["result"]
    pat = re.escape(stage.file_path(whl)[1:]) + r"\.toxresult-(\d{14})-0"
    assert re.fullmatch(pat, rel), rel
    # stored verbatim, served at its +f path beside the release
    g = server.http.get("/" + rel)
    assert g.status_code == 200
    assert g.content == raw
    meta = server.jreq("GET", "/" + rel)
    assert meta.status_code == 200 and meta.json()["type"] == "releasefilemeta"
    assert meta.json()["result"]["hashes"] == {"sha256": hashlib.sha256(raw).hexdigest()}
    # the next result for the same file counts the existing ones
    r2 = post_tox(stage, stage.file_path(whl), auth=stage.auth)
    assert r2.status_code == 200, r2.text
    rel2 = r2.json()["result"]
    assert re.fullmatch(re.escape(stage.file_path(whl)[1:]) + r"\.toxresult-\d{14}-1", rel2), rel2
    assert json.loads(server.http.get("/" + rel2).content) == TOX

    links = version_links(stage, "toxpkg", "1.0")
    assert len(rels(links, "releasefile")) == 1
    tox = rels(links, "toxresult")
    assert [l["href"] for l in tox] == [server.url + "/" + rel, server.url + "/" + rel2]
    for l in tox:
        assert l["for_href"] == stage.file_url(whl)
    first, second = tox
    sha = hashlib.sha256(raw).hexdigest()
    assert first["hash_spec"] == f"sha256={sha}" and first["hashes"] == {"sha256": sha}
    (log,) = first["log"]
    assert log["what"] == "upload" and log["who"] is None and log["dst"] == stage.name
    assert isinstance(log["when"], list) and len(log["when"]) == 6
    assert second["log"][0]["who"] == stage.user
    # the project view shows them too; the version metadata is unchanged
    pj = server.jreq("GET", f"{stage.path}/toxpkg").json()["result"]["1.0"]
    assert len(rels(pj["+links"], "toxresult")) == 2
    assert pj["name"] == "toxpkg" and pj["version"] == "1.0"


def test_toxresult_numbering_per_file_and_concurrent(stage, server, pkgdir):
    """n counts the results of that release file only; results posted at
    once all get their own name."""
    whl = pb.make_wheel(pkgdir, "toxnum", "1.0")
    sd = pb.make_sdist(pkgdir, "toxnum", "1.0")
    stage.upload_ok(whl, sd)
    assert post_tox(stage, stage.file_path(whl)).json()["result"].endswith("-0")
    assert post_tox(stage, stage.file_path(sd)).json()["result"].endswith("-0")
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        c = server.session()
        r = c.post(stage.file_path(whl), data=json.dumps({"run": i}),
                   headers={"Content-Type": "application/json"})
        return r.status_code, r.json().get("result")

    with ThreadPoolExecutor(6) as ex:
        results = list(ex.map(one, range(6)))
    assert all(st == 200 for st, _ in results), results
    paths = [p for _, p in results]
    assert len(set(paths)) == 6
    assert sorted(int(p.rsplit("-", 1)[1]) for p in paths) == [1, 2, 3, 4, 5, 6]
    links = version_links(stage, "toxnum", "1.0")
    assert sum(1 for l in rels(links, "toxresult") if l["for_href"] == stage.file_url(whl)) == 7
    assert sum(1 for l in rels(links, "toxresult") if l["for_href"] == stage.file_url(sd)) == 1
    got = sorted(json.loads(server.http.get("/" + p).content)["run"] for p in paths)
    assert got == list(range(6))


def test_toxresults_not_on_simple_pages(stage, pkgdir):
    whl = pb.make_wheel(pkgdir, "toxsimple", "1.0")
    stage.upload_ok(whl)
    assert post_tox(stage, stage.file_path(whl)).status_code == 200
    links = stage.simple_links("toxsimple")
    assert [l["text"] for l in links] == [whl.filename]
    files = stage.simple_json("toxsimple")["files"]
    assert [f["filename"] for f in files] == [whl.filename]
    assert_not_on_simple_pages(stage, "toxsimple", "toxresult")


def test_toxresult_acl(server, pkgdir):
    stage = server.new_stage()
    whl = pb.make_wheel(pkgdir, "toxacl", "1.0")
    stage.upload_ok(whl)
    # default acl_toxresult_upload is [":ANONYMOUS:"]
    assert stage.config()["acl_toxresult_upload"] == [":ANONYMOUS:"]
    assert post_tox(stage, stage.file_path(whl)).status_code == 200
    r = server.jreq("PATCH", stage.path, ["acl_toxresult_upload=" + stage.user], auth=stage.auth)
    assert r.status_code == 200, r.text
    r = post_tox(stage, stage.file_path(whl))
    assert r.status_code == 403
    assert json_message(r) == NO_PERM
    bob, bobpw = server.create_user()
    r = post_tox(stage, stage.file_path(whl), auth=(bob, bobpw))
    assert r.status_code == 403 and json_message(r) == NO_PERM
    r = post_tox(stage, stage.file_path(whl), headers=xauth(stage.user, stage.password))
    assert r.status_code == 200, r.text
    assert r.json()["result"].endswith("-1")
    # refused results left nothing behind
    assert len(rels(version_links(stage, "toxacl", "1.0"), "toxresult")) == 2


def test_toxresult_acl_authenticated(server, pkgdir):
    stage = server.new_stage(acl_toxresult_upload=":AUTHENTICATED:")
    whl = pb.make_wheel(pkgdir, "toxauth", "1.0")
    stage.upload_ok(whl)
    assert post_tox(stage, stage.file_path(whl)).status_code == 403
    bob, bobpw = server.create_user()
    assert post_tox(stage, stage.file_path(whl), auth=(bob, bobpw)).status_code == 200


def test_toxresult_unknown_release_404(stage, pkgdir):
    whl = pb.make_wheel(pkgdir, "tox404", "1.0")
    stage.upload_ok(whl)
    for path in (f"{stage.path}/+f/abc/def0123456789/tox404-9.9-py3-none-any.whl",
                 f"{stage.path}/+f/{whl.relpath_dirs()}/other-1.0.tar.gz"):
        r = post_tox(stage, path)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert json_message(r) == f"no release file found at {path[1:]}"
    # a tox result is not a release file
    rel = post_tox(stage, stage.file_path(whl)).json()["result"]
    r = post_tox(stage, "/" + rel)
    assert r.status_code == 404 and json_message(r) == f"no release file found at {rel}"
    # another stage's file is not this stage's release
    other = stage.server.new_stage()
    path = f"{other.path}/+f/{whl.relpath_dirs()}/{whl.filename}"
    assert post_tox(other, path).status_code == 404
    # unknown index
    r = post_tox(stage, f"/{stage.user}/nope/+f/{whl.relpath_dirs()}/{whl.filename}")
    assert r.status_code == 404


def test_toxresult_for_overwritten_file_404(stage, pkgdir):
    a = pb.make_wheel(pkgdir, "toxgone", "1.0", salt="a")
    stage.upload_ok(a)
    old = stage.file_path(a)
    b = pb.make_wheel(pkgdir, "toxgone", "1.0", salt="b")
    stage.upload_ok(b)
    assert old != stage.file_path(b)
    assert stage.server.http.get(old).status_code == 410
    r = post_tox(stage, old)
    assert r.status_code == 404
    assert post_tox(stage, stage.file_path(b)).status_code == 200


@pytest.mark.parametrize("raw", [b"", b"{not json", b'{"a": 1', b"\xff\xfe", b"[1, 2,]",
                                 b"[" * 5000 + b"]" * 5000])
def test_toxresult_invalid_json_400(stage, pkgdir, raw):
    whl = pb.make_wheel(pkgdir, stage.server.unique("toxbad"), "1.0")
    stage.upload_ok(whl)
    r = post_tox(stage, stage.file_path(whl), raw=raw)
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert json_message(r) == "Bad request: could not decode json"
    assert rels(version_links(stage, whl.name, "1.0"), "toxresult") == []


def test_toxresult_huge_body_413(stage, pkgdir):
    whl = pb.make_wheel(pkgdir, "toxhuge", "1.0")
    stage.upload_ok(whl)
    raw = b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    try:
        r = post_tox(stage, stage.file_path(whl), raw=raw)
        assert r.status_code == 413
    except Exception as e:  # the server may close before the whole body is sent
        import requests
        assert isinstance(e, requests.ConnectionError), e
    assert rels(version_links(stage, "toxhuge", "1.0"), "toxresult") == []
    # a result just under the bound is fine
    raw = b'{"x": "' + b"b" * (1024 * 1024 - 16) + b'"}'
    r = post_tox(stage, stage.file_path(whl), raw=raw)
    assert r.status_code == 200, r.text[:300]
    assert stage.server.http.get("/" + r.json()["result"]).content == raw


def test_toxresult_non_volatile_allowed(server, pkgdir):
    stage = server.new_stage(volatile=False)
    whl = pb.make_wheel(pkgdir, "toxnv", "1.0")
    stage.upload_ok(whl)
    for n in range(2):
        r = post_tox(stage, stage.file_path(whl))
        assert r.status_code == 200, r.text
        assert r.json()["result"].endswith(f"-{n}")


def test_toxresult_to_mirror_refused(server):
    r = post_tox(Stage(server, "root", server.root_passwd, "pypi"),
                 "/root/pypi/+f/abc/def0123456789/pkg-1.0.tar.gz")
    assert r.status_code == 403
    r = post_tox(Stage(server, "root", server.root_passwd, "pypi"),
                 "/root/pypi/+f/abc/def0123456789/pkg-1.0.tar.gz", auth=server.root_auth)
    assert r.status_code == 403


def test_toxresult_post_on_e_path_not_allowed(stage):
    r = post_tox(stage, f"{stage.path}/+e/https_example.org/pkg-1.0.tar.gz")
    assert r.status_code == 405


# ---------------------------------------------------------------- doc zips

def test_doc_upload_with_version(stage, server, pkgdir):
    sd = pb.make_sdist(pkgdir, "Doc.Pkg", "1.0", summary="the summary")
    stage.upload_ok(sd, minimal=False)
    z = make_doczip("one")
    r = doc_upload(stage, "Doc.Pkg", "1.0", z, headers=xauth(*stage.auth), auth=None)
    assert r.status_code == 200, (r.status_code, r.reason, r.text)
    links = version_links(stage, "doc-pkg", "1.0")
    (doc,) = rels(links, "doczip")
    assert doc["href"] == server.url + doc_path(stage, "doc-pkg", "1.0", z)
    sha = hashlib.sha256(z).hexdigest()
    assert doc["hash_spec"] == f"sha256={sha}" and doc["hashes"] == {"sha256": sha}
    (log,) = doc["log"]
    assert log["what"] == "upload" and log["who"] == stage.user and log["dst"] == stage.name
    assert len(rels(links, "releasefile")) == 1
    g = server.http.get(doc_path(stage, "doc-pkg", "1.0", z))
    assert g.status_code == 200 and g.content == z
    # the version's metadata stays as registered
    v = server.jreq("GET", f"{stage.path}/doc-pkg/1.0").json()["result"]
    assert v["summary"] == "the summary" and v["name"] == "Doc.Pkg"
    # never on simple pages
    assert [l["text"] for l in stage.simple_links("doc-pkg")] == [sd.filename]
    assert [f["filename"] for f in stage.simple_json("doc-pkg")["files"]] == [sd.filename]
    assert_not_on_simple_pages(stage, "doc-pkg", ".doc.zip")


def test_doc_upload_derives_latest_version(stage, server, pkgdir):
    for v in ("1.9", "1.10", "1.10rc1"):
        stage.upload_ok(pb.make_wheel(pkgdir, "docderive", v))
    z = make_doczip("derived")
    r = doc_upload(stage, "docderive", "", z)
    assert r.status_code == 200, (r.status_code, r.reason)
    assert len(rels(version_links(stage, "docderive", "1.10"), "doczip")) == 1
    for v in ("1.9", "1.10rc1"):
        assert rels(version_links(stage, "docderive", v), "doczip") == []
    assert server.http.get(doc_path(stage, "docderive", "1.10", z)).content == z
    # a form without any version field derives it too
    r = stage.upload(action="doc_upload", name="docderive", content=make_doczip("nofield"),
                     filename="docs.zip")
    assert r.status_code == 200, (r.status_code, r.reason)
    (doc,) = rels(version_links(stage, "docderive", "1.10"), "doczip")
    assert doc["href"].endswith("/docderive-1.10.doc.zip")


def test_doc_upload_without_version_or_releases_400(stage):
    r = doc_upload(stage, "docnorel", "", make_doczip())
    assert_upload_error(r, 400, "doczip has no version and 'docnorel' has no releases to derive one from")
    assert server_has_no_project(stage, "docnorel")


def server_has_no_project(stage, project):
    return stage.server.jreq("GET", f"{stage.path}/{project}").status_code == 404


def test_doc_upload_creates_minimal_version(stage, server, pkgdir):
    z = make_doczip("min")
    r = doc_upload(stage, "DocOnly", "2.0", z)
    assert r.status_code == 200, (r.status_code, r.reason)
    v = server.jreq("GET", f"{stage.path}/doconly/2.0")
    assert v.status_code == 200, v.text
    res = v.json()["result"]
    assert res["name"] == "DocOnly" and res["version"] == "2.0"
    assert [l["rel"] for l in res["+links"]] == ["doczip"]
    assert res["+links"][0]["href"].endswith("/doconly-2.0.doc.zip")
    assert "doconly" in stage.config()["projects"]
    # the project exists but has no installable files
    r = stage.simple("doconly")
    assert r.status_code == 200 and ".doc.zip" not in r.text
    assert stage.simple_json("doconly")["files"] == []
    assert_not_on_simple_pages(stage, "doconly", ".doc.zip")
    # a release uploaded later keeps the doc zip beside it
    whl = pb.make_wheel(pkgdir, "DocOnly", "2.0")
    stage.upload_ok(whl)
    links = version_links(stage, "doconly", "2.0")
    assert len(rels(links, "doczip")) == 1 and len(rels(links, "releasefile")) == 1
    assert [l["text"] for l in stage.simple_links("doconly")] == [whl.filename]


def test_doc_upload_overwrite_volatile_410(stage, server):
    z1, z2 = make_doczip("first"), make_doczip("second")
    assert doc_upload(stage, "docover", "1.0", z1).status_code == 200
    assert doc_upload(stage, "docover", "1.0", z2).status_code == 200
    (doc,) = rels(version_links(stage, "docover", "1.0"), "doczip")
    assert doc["href"] == server.url + doc_path(stage, "docover", "1.0", z2)
    assert [e["what"] for e in doc["log"]] == ["upload", "overwrite", "upload"]
    assert doc["log"][1]["count"] == 1
    assert server.http.get(doc_path(stage, "docover", "1.0", z1)).status_code == 410
    assert server.http.get(doc_path(stage, "docover", "1.0", z2)).content == z2
    # the same content again: same URL, still one link
    assert doc_upload(stage, "docover", "1.0", z2).status_code == 200
    (doc,) = rels(version_links(stage, "docover", "1.0"), "doczip")
    assert doc["log"][-2]["count"] == 2
    assert server.http.get(doc_path(stage, "docover", "1.0", z2)).status_code == 200


def test_doc_upload_non_volatile(server):
    stage = server.new_stage(volatile=False)
    z1, z2 = make_doczip("nv1"), make_doczip("nv2")
    assert doc_upload(stage, "docnv", "1.0", z1).status_code == 200
    r = doc_upload(stage, "docnv", "1.0", z1)
    assert r.status_code == 200
    assert r.text == "Upload of identical file to non volatile index."
    r = doc_upload(stage, "docnv", "1.0", z2)
    assert_upload_error(r, 409, "docnv-1.0.doc.zip already exists in non-volatile index")
    (doc,) = rels(version_links(stage, "docnv", "1.0"), "doczip")
    assert doc["href"] == server.url + doc_path(stage, "docnv", "1.0", z1)
    assert server.http.get(doc_path(stage, "docnv", "1.0", z2)).status_code == 404


@pytest.mark.parametrize("content", [b"<html>not a zip</html>", b"PK", b"\x1f\x8b\x08\x00rest",
                                     b"PK\x01\x02 central dir first"])
def test_doc_upload_not_a_zip_400(stage, content):
    r = doc_upload(stage, "docbad", "1.0", content, filename="docs.zip")
    assert r.status_code == 400, (r.status_code, r.reason)
    assert "not a zip file" in r.reason
    assert server_has_no_project(stage, "docbad")


def test_doc_upload_empty_zip_accepted(stage, server):
    z = make_doczip(files={})
    assert z.startswith(b"PK\x05\x06")
    assert doc_upload(stage, "docempty", "1.0", z).status_code == 200
    assert server.http.get(doc_path(stage, "docempty", "1.0", z)).content == z


def test_doc_upload_form_errors(stage):
    z = make_doczip()
    r = stage.upload(action="doc_upload", name="docerr", version="1.0", content=None)
    assert_upload_error(r, 400, "content file field not found")
    r = doc_upload(stage, "bad name!", "1.0", z)
    assert r.status_code == 400 and r.reason.startswith("invalid metadata")
    r = stage.upload(action="doc_upload", version="1.0", content=z, filename="d.zip")
    assert r.status_code == 400 and r.reason.startswith("invalid metadata")
    r = doc_upload(stage, "docerr", "1.0<script>", z)
    assert r.status_code == 400 and r.reason.startswith("invalid metadata")
    r = doc_upload(stage, "docerr", "1.0", b"")
    assert r.status_code == 400
    assert server_has_no_project(stage, "docerr")


def test_doc_upload_permissions(server, stage):
    z = make_doczip()
    r = doc_upload(stage, "docperm", "1.0", z, auth=None)
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="pypi"'
    bob, bobpw = server.create_user()
    assert_upload_error(doc_upload(stage, "docperm", "1.0", z, auth=(bob, bobpw)), 403,
                        "no permission to submit")
    root = Stage(server, "root", server.root_passwd, "pypi")
    assert_upload_error(doc_upload(root, "docperm", "1.0", z), 404, "cannot submit to mirror index")
    assert server_has_no_project(stage, "docperm")


def test_doc_zip_and_toxresult_together(stage, server, pkgdir):
    """A version with a release, its tox result and a doc zip: the JSON
    views show all three rels, the simple pages only the release."""
    sd = pb.make_sdist(pkgdir, "alltogether", "3.0")
    stage.upload_ok(sd)
    tox = post_tox(stage, stage.file_path(sd)).json()["result"]
    assert doc_upload(stage, "alltogether", "3.0", make_doczip("all")).status_code == 200
    links = version_links(stage, "alltogether", "3.0")
    assert sorted(l["rel"] for l in links) == ["doczip", "releasefile", "toxresult"]
    assert rels(links, "toxresult")[0]["href"] == server.url + "/" + tox
    assert [l["text"] for l in stage.simple_links("alltogether")] == [sd.filename]
    assert_not_on_simple_pages(stage, "alltogether", "toxresult")
    assert_not_on_simple_pages(stage, "alltogether", ".doc.zip")
    # a tox result cannot be posted for the doc zip
    (doc,) = rels(links, "doczip")
    r = post_tox(stage, doc["href"][len(server.url):])
    assert r.status_code == 404
