"""Uploads (API.md 6.6): twine, exact error reason phrases, overwrite rules,
metadata taken from the archive, hostile archives and bodies."""

import base64
import select
import time

import pytest

import pkgbuild as pb
from harness import (Stage, assert_devpi_headers, assert_upload_error, connect,
                     http_head_block, installed_version, multipart_body, parse_simple_html,
                     read_response, xauth)


def project_json(stage, project):
    return stage.server.jreq("GET", f"{stage.path}/{project}")


def assert_no_project(stage, project):
    r = project_json(stage, project)
    assert r.status_code == 404, f"project {project} exists after a failed upload: {r.text[:300]}"
    assert project not in stage.config()["projects"]


# ---------------------------------------------------------------- twine

def test_twine_upload_then_pip(stage, venv, pkgdir, tmp_path):
    whl = pb.make_wheel(pkgdir, "twinepkg", "1.0", requires_python=">=3.6")
    sd = pb.make_sdist(pkgdir, "twinepkg", "1.0", requires_python=">=3.6")
    p = stage.twine(whl, sd)
    assert p.returncode == 0
    r = project_json(stage, "twinepkg")
    assert r.status_code == 200, r.text
    links = r.json()["result"]["1.0"]["+links"]
    assert sorted(l["href"].rsplit("/", 1)[1] for l in links) == sorted([whl.filename, sd.filename])
    assert r.json()["result"]["1.0"]["requires_python"] == ">=3.6"
    target = tmp_path / "t"
    venv.install(stage.simple_url, "twinepkg", target=target)
    assert installed_version(target, "twinepkg") == "1.0"
    assert (target / "twinepkg" / "__init__.py").exists()
    dl = tmp_path / "dl"
    venv.pip("download", "--index-url", stage.simple_url, "--no-deps", "--no-binary", ":all:",
             "--no-build-isolation", "--no-use-pep517", "-d", dl, "twinepkg==1.0")
    assert (dl / sd.filename).read_bytes() == sd.data


def test_twine_wrong_password_fails(stage, pkgdir):
    whl = pb.make_wheel(pkgdir, "twbad", "1.0")
    p = stage.twine(whl, auth=(stage.user, "wrong"), check=False)
    assert p.returncode != 0
    assert project_json(stage, "twbad").status_code == 404


def test_upload_with_xdevpi_token_and_no_trailing_slash(stage, pkgdir, server):
    token = server.login(stage.user, stage.password).json()["result"]["password"]
    whl = pb.make_wheel(pkgdir, "tokpkg", "1.0")
    r = stage.upload(whl, auth=None, headers=xauth(stage.user, token), path=stage.path)
    assert r.status_code == 200, (r.status_code, r.reason)
    assert server.http.get(stage.file_path(whl)).content == whl.data


# ---------------------------------------------------------------- errors

def test_upload_to_mirror_404(server, pkgdir):
    whl = pb.make_wheel(pkgdir, "mpkg", "1.0")
    root = Stage(server, "root", server.root_passwd, "pypi")
    assert_upload_error(root.upload(whl), 404, "cannot submit to mirror index")


def test_upload_anonymous_401(stage, pkgdir):
    whl = pb.make_wheel(pkgdir, "anonpkg", "1.0")
    r = stage.upload(whl, auth=None)
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="pypi"'
    assert_no_project(stage, "anonpkg")


def test_upload_other_user_403(stage, server, pkgdir):
    bob, bobpw = server.create_user()
    whl = pb.make_wheel(pkgdir, "bobpkg", "1.0")
    assert_upload_error(stage.upload(whl, auth=(bob, bobpw)), 403, "no permission to submit")
    assert_no_project(stage, "bobpkg")


def test_upload_acl_upload_grants_other_user(server, pkgdir):
    bob, bobpw = server.create_user()
    alice, pw = server.create_user()
    server.create_index(alice, pw, "shared", acl_upload=f"{alice},{bob}")
    st = Stage(server, alice, pw, "shared")
    whl = pb.make_wheel(pkgdir, "sharedpkg", "1.0")
    r = st.upload(whl, auth=(bob, bobpw))
    assert r.status_code == 200, (r.status_code, r.reason)
    log = project_json(st, "sharedpkg").json()["result"]["1.0"]["+links"][0]["log"]
    assert [e for e in log if e["what"] == "upload"][0]["who"] == bob


def test_upload_missing_action(stage, pkgdir):
    whl = pb.make_wheel(pkgdir, "noact", "1.0")
    assert_upload_error(stage.upload(whl, action=None), 400, ":action field not found")


def test_upload_unsupported_action(stage, pkgdir):
    whl = pb.make_wheel(pkgdir, "badact", "1.0")
    assert_upload_error(stage.upload(whl, action="x"), 400, "action 'x' not supported")


def test_upload_missing_content(stage):
    r = stage.upload(name="nocontent", version="1.0")
    assert_upload_error(r, 400, "content file field not found")


def test_upload_filename_without_version(stage, pkgdir):
    sd = pb.make_sdist(pkgdir, "verpkg", "1.0")
    r = stage.upload(sd, version="2.0")
    assert_upload_error(r, 400, "filename 'verpkg-1.0.tar.gz' does not contain version '2.0'")
    assert_no_project(stage, "verpkg")


def test_upload_bad_extension(stage):
    r = stage.upload(filename="extpkg-1.0.txt", content=b"hello", name="extpkg", version="1.0")
    assert_upload_error(r, 400, "'extpkg-1.0.txt' is not a valid archive name")
    assert_no_project(stage, "extpkg")


def test_upload_filename_project_mismatch(stage, pkgdir):
    sd = pb.make_sdist(pkgdir, "other", "1.0")
    r = stage.upload(sd, name="mine")
    assert_upload_error(r, 400, "filename 'other-1.0.tar.gz' does not match project name 'mine'")
    assert_no_project(stage, "mine")
    assert_no_project(stage, "other")


def test_upload_invalid_metadata_name(stage, pkgdir):
    sd = pb.make_sdist(pkgdir, "bad!name", "1.0")
    r = stage.upload(sd)
    assert_upload_error(r, 400, prefix="invalid metadata")
    assert_no_project(stage, "bad-name")


# ---------------------------------------------------------------- overwrite rules

def test_volatile_reupload_replaces(stage, server, pkgdir):
    a = pb.make_sdist(pkgdir / "a", "volpkg", "1.0", salt="a")
    b = pb.make_sdist(pkgdir / "b", "volpkg", "1.0", salt="b")
    assert a.sha256 != b.sha256
    stage.upload_ok(a)
    assert server.http.get(stage.file_path(a)).content == a.data
    stage.upload_ok(b)
    r = server.http.get(stage.file_path(b))
    assert r.status_code == 200 and r.content == b.data
    assert server.http.get(stage.file_path(a)).status_code == 410
    links = stage.simple_links("volpkg")
    assert [l["text"] for l in links] == ["volpkg-1.0.tar.gz"]
    assert links[0]["href"].endswith("#sha256=" + b.sha256)
    link = project_json(stage, "volpkg").json()["result"]["1.0"]["+links"]
    assert len(link) == 1
    assert {"what": "overwrite", "who": None, "count": 1}.items() <= \
        [e for e in link[0]["log"] if e["what"] == "overwrite"][0].items()


def test_non_volatile_reupload(server, pkgdir):
    st = server.new_stage(volatile=False)
    a = pb.make_sdist(pkgdir / "a", "nvpkg", "1.0", salt="a")
    b = pb.make_sdist(pkgdir / "b", "nvpkg", "1.0", salt="b")
    st.upload_ok(a)
    r = st.upload(a)
    assert r.status_code == 200, (r.status_code, r.reason)
    assert_upload_error(st.upload(b), 409, "nvpkg-1.0.tar.gz already exists in non-volatile index")
    assert server.http.get(st.file_path(a)).content == a.data
    assert server.http.get(st.file_path(b)).status_code == 404
    # a new version is still fine
    st.upload_ok(pb.make_sdist(pkgdir / "c", "nvpkg", "1.1"))


def test_submit_registers_metadata(stage, server):
    r = stage.upload(action="submit", name="regpkg", version="3.1",
                     fields={"summary": "registered only", "requires_python": ">=3.9",
                             "author": "UNKNOWN"})
    assert r.status_code == 200, (r.status_code, r.reason, r.text)
    r = project_json(stage, "regpkg")
    assert r.status_code == 200, r.text
    ver = r.json()["result"]["3.1"]
    assert ver["summary"] == "registered only"
    assert ver["requires_python"] == ">=3.9"
    assert ver["author"] == ""          # UNKNOWN is stored as ""
    assert ver.get("+links", []) == []
    assert "regpkg" in stage.config()["projects"]
    # known project without files: simple page 200 with no links
    page = stage.simple("regpkg")
    assert page.status_code == 200
    assert parse_simple_html(page.text) == []


def test_metadata_from_archive(stage, server, pkgdir):
    whl = pb.make_wheel(pkgdir, "metapkg", "1.0", requires_python=">=3.8",
                        requires_dist=["dep>=1"], summary="from the archive")
    stage.upload_ok(whl)                   # form: only :action, name, version, content
    r = server.jreq("GET", f"{stage.path}/metapkg/1.0")
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["requires_python"] == ">=3.8"
    assert res["summary"] == "from the archive"
    links = stage.simple_links("metapkg")
    assert len(links) == 1
    assert links[0]["attrs"]["data-requires-python"] == "&gt;=3.8"
    js = stage.simple_json("metapkg")
    assert js["files"][0]["requires-python"] == ">=3.8"


# ---------------------------------------------------------------- hostile input

def test_truncated_multipart_400(stage, server):
    ctype, body = multipart_body([(":action", "file_upload"), ("name", "trunc"),
                                  ("version", "1.0")],
                                 [("content", "trunc-1.0.tar.gz", pb.random_bytes(50000))])
    body = body[: body.rindex(b"\r\n--")]          # drop the closing boundary
    auth = base64.b64encode(f"{stage.user}:{stage.password}".encode()).decode()
    head = http_head_block("POST", stage.path + "/", [
        ("Host", "127.0.0.1"), ("Authorization", f"Basic {auth}"),
        ("Content-Type", ctype), ("Content-Length", str(len(body)))])
    with connect(server, timeout=20) as s, s.makefile("rb") as f:
        s.sendall(head + body)
        resp = read_response(f)
    assert resp.status == 400, resp
    assert_no_project(stage, "trunc")
    assert server.http.get("/+api").status_code == 200


@pytest.mark.parametrize("builder", [pb.make_random_wheel, pb.make_truncated_wheel,
                                     pb.make_wheel_without_dist_info])
def test_broken_wheel_400(stage, server, pkgdir, builder):
    d = builder(pkgdir, "brokenwhl", "1.0")
    r = stage.upload(d)
    assert r.status_code == 400, (r.status_code, r.reason)
    assert r.reason and r.reason.lower() != "bad request", \
        f"no explanatory reason phrase: {r.reason!r}"
    assert_no_project(stage, "brokenwhl")


@pytest.mark.slow
def test_zip_bomb_wheel_rejected_without_ballooning(stage, server, pkgdir):
    bomb = pb.make_zip_bomb_wheel(pkgdir, "bombpkg", "1.0")
    rss0 = server.rss_kb()
    t0 = time.monotonic()
    r = stage.upload(bomb)
    elapsed = time.monotonic() - t0
    rss1 = server.rss_kb()
    assert r.status_code in (400, 413), (r.status_code, r.reason)
    assert elapsed < 15, f"zip bomb took {elapsed:.1f}s"
    assert rss1 - rss0 < 200 * 1024, f"RSS grew by {(rss1 - rss0) // 1024} MB"
    assert_no_project(stage, "bombpkg")


def test_oversized_metadata_rejected(stage, pkgdir):
    big = pb.make_big_metadata_wheel(pkgdir, "bigmeta", "1.0")
    r = stage.upload(big)
    assert r.status_code == 400, (r.status_code, r.reason)
    assert_no_project(stage, "bigmeta")


def _send_until_answered(sock, head, body_iter, first_wait=2.0):
    """Send head, then body chunks, reading the response as soon as one
    arrives. Returns (response, bytes_of_body_sent, total_would_send_done)."""
    sock.sendall(head)
    f = sock.makefile("rb")
    sent = 0
    r, _, _ = select.select([sock], [], [], first_wait)
    if r:
        return read_response(f), sent, False
    done = True
    for chunk in body_iter:
        r, _, _ = select.select([sock], [], [], 0)
        if r:
            done = False
            break
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            done = False
            break
        sent += len(chunk)
    sock.settimeout(20)
    return read_response(f), sent, done


@pytest.mark.slow
def test_body_over_max_upload_size_413(server_factory):
    srv = server_factory(args=["--max-upload-size", "1048576"])
    st = srv.new_stage()
    payload = pb.random_bytes(5 * 2**20)
    ctype, body = multipart_body([(":action", "file_upload"), ("name", "huge"),
                                  ("version", "1.0")], [("content", "huge-1.0.tar.gz", payload)])
    auth = base64.b64encode(f"{st.user}:{st.password}".encode()).decode()
    head = http_head_block("POST", st.path + "/", [
        ("Host", "127.0.0.1"), ("Authorization", f"Basic {auth}"),
        ("Content-Type", ctype), ("Content-Length", str(len(body)))])
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    with connect(srv, timeout=30) as s:
        resp, sent, done = _send_until_answered(s, head, chunks)
    assert resp.status == 413, resp
    assert_devpi_headers(resp.headers, "413")
    assert not done, f"server only answered after the whole body ({sent} bytes) was sent"
    assert srv.http.get("/+api").status_code == 200
    assert_no_project(st, "huge")


@pytest.mark.slow
def test_chunked_body_over_max_upload_size_413(server_factory):
    srv = server_factory(args=["--max-upload-size", "1048576"])
    st = srv.new_stage()
    ctype, body = multipart_body([(":action", "file_upload"), ("name", "hugec"),
                                  ("version", "1.0")],
                                 [("content", "hugec-1.0.tar.gz", pb.random_bytes(3 * 2**20))])
    auth = base64.b64encode(f"{st.user}:{st.password}".encode()).decode()
    head = http_head_block("POST", st.path + "/", [
        ("Host", "127.0.0.1"), ("Authorization", f"Basic {auth}"),
        ("Content-Type", ctype), ("Transfer-Encoding", "chunked")])

    def chunks():
        for i in range(0, len(body), 65536):
            c = body[i:i + 65536]
            yield b"%x\r\n" % len(c) + c + b"\r\n"
        yield b"0\r\n\r\n"

    with connect(srv, timeout=30) as s:
        resp, sent, done = _send_until_answered(s, head, chunks(), first_wait=0.2)
    assert resp.status == 413, resp
    assert srv.http.get("/+api").status_code == 200
    assert_no_project(st, "hugec")


def test_upload_just_under_limit_ok(server_factory, pkgdir):
    srv = server_factory(args=["--max-upload-size", "1048576"])
    st = srv.new_stage()
    whl = pb.make_wheel(pkgdir, "smallpkg", "1.0",
                        extra_files={"smallpkg/data.bin": pb.random_bytes(300000)})
    st.upload_ok(whl)
    assert srv.http.get(st.file_path(whl)).content == whl.data
