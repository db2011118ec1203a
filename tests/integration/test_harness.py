"""Self-tests of the harness: package builders (checked with a real pip and
pkginfo, as twine reads them), the multipart builder, and the server/raw-HTTP
machinery against fake_server.py. None of these need the devpi-like binary."""

import email.parser
import base64
import hashlib
import tarfile
import zipfile
from pathlib import Path

import pytest

import pkgbuild as pb
from harness import (DEBIAN_PYTHON, ROOTPW_RE, Server, assert_devpi_headers, connect,
                     http_head_block, multipart_body, raw_exchange, read_response,
                     installed_version, pip_env)

FAKE = [DEBIAN_PYTHON, str(Path(__file__).with_name("fake_server.py"))]


def test_wheel_record_and_metadata(pkgdir):
    d = pb.make_wheel(pkgdir, "Foo_Bar.baz", "1.0.post1", requires_dist=["dep>=1"],
                      requires_python=">=3.8")
    assert d.filename == "Foo_Bar.baz-1.0.post1-py3-none-any.whl"
    with zipfile.ZipFile(d.path) as zf:
        names = zf.namelist()
        distinfo = "Foo_Bar.baz-1.0.post1.dist-info"
        assert f"{distinfo}/METADATA" in names and f"{distinfo}/RECORD" in names
        assert zf.read(f"{distinfo}/METADATA") == d.metadata
        meta = d.metadata.decode()
        assert "Requires-Python: >=3.8" in meta and "Requires-Dist: dep>=1" in meta
        for line in zf.read(f"{distinfo}/RECORD").decode().splitlines():
            arc, h, size = line.split(",")
            if arc.endswith("RECORD"):
                assert h == "" and size == ""
                continue
            data = zf.read(arc)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert h == "sha256=" + want and int(size) == len(data)
    assert d.relpath_dirs() == f"{d.sha256[:3]}/{d.sha256[3:16]}"


def test_wheel_salt_changes_content_and_builds_are_deterministic(pkgdir):
    a = pb.make_wheel(pkgdir / "a", "pkg", "1.0").sha256
    b = pb.make_wheel(pkgdir / "b", "pkg", "1.0").sha256
    c = pb.make_wheel(pkgdir / "c", "pkg", "1.0", salt="x").sha256
    assert a == b != c
    s1 = pb.make_sdist(pkgdir / "a", "pkg", "1.0").sha256
    s2 = pb.make_sdist(pkgdir / "b", "pkg", "1.0").sha256
    s3 = pb.make_sdist(pkgdir / "c", "pkg", "1.0", salt="y").sha256
    assert s1 == s2 != s3


def test_pkginfo_reads_builds_like_twine(pkgdir):
    pkginfo = pytest.importorskip("pkginfo")
    w = pb.make_wheel(pkgdir, "twpkg", "2.0", requires_python=">=3.7", summary="hello")
    s = pb.make_sdist(pkgdir, "twpkg", "2.0", requires_python=">=3.7", summary="hello")
    mw, ms = pkginfo.Wheel(str(w.path)), pkginfo.SDist(str(s.path))
    for m in (mw, ms):
        assert (m.name, m.version, m.summary, m.requires_python) == ("twpkg", "2.0", "hello", ">=3.7")


def test_sdist_layout(pkgdir):
    s = pb.make_sdist(pkgdir, "sdpkg", "1.2")
    assert s.filename == "sdpkg-1.2.tar.gz"
    with tarfile.open(s.path) as tf:
        names = set(tf.getnames())
        assert {"sdpkg-1.2/PKG-INFO", "sdpkg-1.2/setup.py", "sdpkg-1.2/pyproject.toml",
                "sdpkg-1.2/sdpkg/__init__.py"} <= names
        assert tf.extractfile("sdpkg-1.2/PKG-INFO").read() == s.metadata


def test_pip_installs_wheel_and_downloads_sdist(venv, pkgdir, tmp_path):
    pb.make_wheel(pkgdir, "hdep", "1.0")
    pb.make_wheel(pkgdir, "happ", "1.0", requires_dist=["hdep>=1.0"])
    sd = pb.make_sdist(pkgdir, "hsd", "3.0")
    target = tmp_path / "t"
    venv.pip("install", "--no-index", "--find-links", pkgdir, "--target", target, "happ")
    assert installed_version(target, "happ") == "1.0"
    assert installed_version(target, "hdep") == "1.0"
    out = venv.run_py("import happ, hdep; print(happ.__version__, hdep.__version__)",
                      pythonpath=target)
    assert out.stdout.split() == ["1.0", "1.0"]
    dl = tmp_path / "dl"
    venv.pip("download", "--no-index", "--find-links", pkgdir, "--no-deps",
             "--no-build-isolation", "--no-use-pep517", "-d", dl, "hsd==3.0")
    assert (dl / "hsd-3.0.tar.gz").read_bytes() == sd.data


def test_pip_env_is_scrubbed(monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/nonexistent")
    monkeypatch.setenv("TWINE_PASSWORD", "x")
    env = pip_env()
    assert not [k for k in env if k.startswith("TWINE_")]
    assert env["PIP_CONFIG_FILE"] == "/dev/null" and "PIP_FIND_LINKS" not in env


def test_hostile_builders(pkgdir):
    bomb = pb.make_zip_bomb_wheel(pkgdir / "bomb", "bomb", "1.0")
    assert bomb.size < 2 * 2**20
    with zipfile.ZipFile(bomb.path) as zf:
        info = zf.getinfo("bomb-1.0.dist-info/METADATA")
        assert info.file_size == 100 * 2**20 and info.compress_size < 2**20
    big = pb.make_big_metadata_wheel(pkgdir / "big", "big", "1.0")
    assert big.notes["metadata_size"] > 2 * 2**20
    with zipfile.ZipFile(big.path) as zf:
        assert zf.testzip() is None
        assert len(zf.read("big-1.0.dist-info/METADATA")) > 2 * 2**20
    for d in (pb.make_random_wheel(pkgdir / "r", "rnd", "1.0"),
              pb.make_truncated_wheel(pkgdir / "t", "trunc", "1.0")):
        assert d.filename.endswith("-1.0-py3-none-any.whl")
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(d.path)
    nodi = pb.make_wheel_without_dist_info(pkgdir / "n", "nodi", "1.0")
    with zipfile.ZipFile(nodi.path) as zf:
        assert not [n for n in zf.namelist() if ".dist-info" in n]
        assert "nodi/__init__.py" in zf.namelist()


def test_multipart_body_parses():
    ctype, body = multipart_body([(":action", "file_upload"), ("name", "p")],
                                 [("content", "p-1.0.tar.gz", b"\x00\x01data\r\n--x")])
    msg = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    parts = {p.get_param("name", header="content-disposition"): p for p in msg.get_payload()}
    assert parts[":action"].get_payload() == "file_upload"
    assert parts["content"].get_filename() == "p-1.0.tar.gz"
    assert parts["content"].get_payload(decode=True) == b"\x00\x01data\r\n--x"


def test_server_harness_with_fake_server(tmp_path):
    s = Server(tmp_path / "fake", root_passwd=None, cmd=FAKE)
    try:
        s.start()
        m = ROOTPW_RE.search(s.log_text())
        assert m, s.log_text()
        pw = m.group(1)
        r = s.http.get("/+api")
        assert r.status_code == 200 and r.json()["result"]["path"] == "/+api"
        assert_devpi_headers(r.headers)
        raw = raw_exchange(s, b"GET /+api HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.status == 200 and b"apiconfig" in raw.body
        # pipelining reader: 20 requests in one write, answers in order
        with connect(s) as sock, sock.makefile("rb") as f:
            sock.sendall(b"".join(http_head_block("GET", f"/p{i}", [("Host", "x")])
                                  for i in range(20)))
            for i in range(20):
                resp = read_response(f)
                assert resp.status == 404 and f'"/p{i}"'.encode() in resp.body
        old_pid = s.pid
        s.restart()
        assert s.pid != old_pid and s.http.get("/+api").status_code == 200
        assert not ROOTPW_RE.search(s.log_text()), "password printed on restart"
        assert (s.serverdir / "initialized").read_text() == pw
        assert s.rss_kb() > 0
        s.kill9()
        assert s.proc.returncode == -9
        s.start()
        assert s.http.get("/+api").status_code == 200
    finally:
        s.stop()
    assert not s.alive()
