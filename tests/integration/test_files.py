"""Stored files: +f URLs (API.md 3.1, 3.2, A: Range)."""

import email.utils

import pytest

import pkgbuild as pb
from harness import assert_devpi_headers, connect, http_head_block, raw_exchange, read_response

CACHE_CONTROL = "max-age=365000000, immutable, public"


@pytest.fixture
def files(stage, pkgdir):
    whl = pb.make_wheel(pkgdir, "filepkg", "1.0",
                        extra_files={"filepkg/blob.bin": pb.random_bytes(20000)})
    sd = pb.make_sdist(pkgdir, "filepkg", "1.0")
    stage.upload_ok(whl, sd)
    return stage, whl, sd


def test_relpath_shape(files):
    stage, whl, sd = files
    links = {l["text"]: l["href"] for l in stage.simple_links("filepkg")}
    for d in (whl, sd):
        assert links[d.filename].split("#")[0] == \
            f"../../+f/{d.sha256[:3]}/{d.sha256[3:16]}/{d.filename}"


def test_get_file(files, server):
    stage, whl, sd = files
    for d in (whl, sd):
        r = server.http.get(stage.file_path(d))
        assert r.status_code == 200
        assert r.content == d.data
        assert int(r.headers["Content-Length"]) == d.size
        assert r.headers["Cache-Control"] == CACHE_CONTROL
        lm = email.utils.parsedate_to_datetime(r.headers["Last-Modified"])
        assert lm.tzinfo is not None
        assert r.headers["Last-Modified"].endswith(" GMT")
        assert r.headers.get("Content-Type")
        assert r.headers["Content-Type"] != "None"
        assert_devpi_headers(r.headers, "file")
    r = server.http.get(stage.file_path(whl))
    assert r.headers["Content-Type"] == "application/octet-stream"
    r2 = server.http.get(stage.file_path(whl))
    assert r2.headers["Last-Modified"] == r.headers["Last-Modified"]


def test_head_file(files, server):
    stage, whl, _ = files
    with connect(server) as s, s.makefile("rb") as f:
        s.sendall(http_head_block("HEAD", stage.file_path(whl), [("Host", "x")]) +
                  http_head_block("GET", "/+api", [("Host", "x"), ("Accept", "application/json")]))
        head = read_response(f, method="HEAD")
        after = read_response(f)
    assert head.status == 200
    assert int(head.headers["Content-Length"]) == whl.size
    assert head.headers["Cache-Control"] == CACHE_CONTROL
    assert head.body == b""
    assert after.status == 200 and b"apiconfig" in after.body, "HEAD sent a body"


def test_range(files, server):
    stage, whl, _ = files
    data = whl.data
    r = server.http.get(stage.file_path(whl), headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert r.content == data[10:20]
    assert int(r.headers["Content-Length"]) == 10
    r = server.http.get(stage.file_path(whl), headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = server.http.get(stage.file_path(whl), headers={"Range": f"bytes={len(data) - 3}-"})
    assert r.status_code == 206 and r.content == data[-3:]
    assert r.headers["Content-Range"] == f"bytes {len(data) - 3}-{len(data) - 1}/{len(data)}"


def test_unsatisfiable_range_416(files, server):
    stage, whl, _ = files
    r = server.http.get(stage.file_path(whl), headers={"Range": f"bytes={whl.size + 10}-"})
    assert r.status_code == 416
    assert r.headers.get("Content-Range") == f"bytes */{whl.size}"
    # the server still serves the file normally afterwards
    assert server.http.get(stage.file_path(whl)).content == whl.data


def test_file_meta_json(files, server):
    stage, whl, sd = files
    r = server.http.get(stage.file_path(sd), headers={"Accept": "application/json"})
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "releasefilemeta"
    meta = body["result"]
    assert meta["hash_spec"] == f"sha256={sd.sha256}"
    assert meta["hashes"] == {"sha256": sd.sha256}
    assert meta["project"] == "filepkg"
    assert meta["version"] == "1.0"
    email.utils.parsedate_to_datetime(meta["last_modified"])


def test_unknown_relpath_404(files, server):
    stage, whl, _ = files
    r = server.http.get(f"{stage.path}/+f/000/0000000000000/filepkg-9.9.tar.gz")
    assert r.status_code == 404
    wrong = stage.file_path(whl).replace(whl.filename, "filepkg-1.0-py2-none-any.whl")
    assert server.http.get(wrong).status_code == 404


def test_file_of_other_index_not_served(files, server):
    stage, whl, _ = files
    other = server.new_stage()
    r = server.http.get(other.file_path(whl))
    assert r.status_code == 404


@pytest.mark.parametrize("tmpl", [
    "{stage}/+f/../../../../../../etc/passwd",
    "{stage}/+f/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "{stage}/+f/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "{stage}/+f/{dirs}/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "{stage}/+f/{dirs}/../../../../../../../etc/passwd",
    "{stage}/+f/{dirs}/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fdata.mdb",
    "{stage}/+f/{dirs}/{fn}/../../../../../../../../../etc/passwd",
    "{stage}/+f/{dirs}/{fn}%00.txt",
    "{stage}/+f/{dirs}/..\\..\\..\\..\\etc\\passwd",
])
def test_path_traversal(files, server, tmpl):
    stage, whl, _ = files
    path = tmpl.format(stage=stage.path, dirs=whl.relpath_dirs(), fn=whl.filename)
    resp = raw_exchange(server, http_head_block("GET", path, [("Host", "x")]))
    assert resp.status in (400, 404), f"{path}: {resp.status}"
    assert b"root:" not in resp.body
    assert whl.data[:200] not in resp.body
    assert server.http.get("/+api").status_code == 200
