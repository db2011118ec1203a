"""Durability (DESIGN.md 6): an acknowledged write survives kill -9; an
unacknowledged one leaves nothing behind; the store reopens cleanly."""

import subprocess
import threading
import time

import pytest

import pkgbuild as pb
from harness import (basic, clean_env, connect, http_head_block, installed_version,
                     multipart_body, server_binary, xauth)

pytestmark = pytest.mark.slow


def test_acknowledged_upload_survives_kill9(server_factory, venv, pkgdir, tmp_path):
    srv = server_factory()
    st = srv.new_stage()
    token = srv.login(st.user, st.password).json()["result"]["password"]
    whl = pb.make_wheel(pkgdir, "durable", "1.0", requires_python=">=3.7")
    r = st.upload(whl)
    assert r.status_code == 200
    srv.kill9()                               # right after the 200
    srv.start()
    f = srv.http.get(st.file_path(whl))
    assert f.status_code == 200 and f.content == whl.data
    r = srv.jreq("GET", f"{st.path}/durable/1.0")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["requires_python"] == ">=3.7"
    assert [l["text"] for l in st.simple_links("durable")] == [whl.filename]
    t = tmp_path / "t"
    venv.install(st.simple_url, "durable", target=t)
    assert installed_version(t, "durable") == "1.0"
    # users, passwords and tokens survive too (the secret lives in the serverdir)
    assert srv.login(st.user, st.password).status_code == 200
    r = srv.jreq("PUT", f"/{st.user}/after", {}, headers=xauth(st.user, token))
    assert r.status_code == 200, "token minted before the restart no longer accepted"


def test_config_changes_survive_kill9(server_factory):
    srv = server_factory()
    alice, pw = srv.create_user(email="a@example.com")
    cfg = srv.create_index(alice, pw, "prod", volatile=False, bases="root/pypi",
                           mirror_whitelist="foo")
    serial = srv.serial()
    srv.kill9()
    srv.start()
    assert srv.serial() == serial
    r = srv.jreq("GET", f"/{alice}/prod")
    assert r.status_code == 200
    res = r.json()["result"]
    res.pop("projects", None)
    assert res == cfg
    assert srv.jreq("GET", f"/{alice}").json()["result"]["email"] == "a@example.com"


def test_graceful_restart(server_factory, pkgdir):
    srv = server_factory()
    st = srv.new_stage()
    sd = pb.make_sdist(pkgdir, "graceful", "1.0")
    st.upload_ok(sd)
    rc = srv.stop()
    assert rc == 0, f"SIGTERM exit code {rc}"
    srv.start()
    assert srv.http.get(st.file_path(sd)).content == sd.data


def test_kill9_during_upload_leaves_nothing(server_factory, pkgdir):
    srv = server_factory()
    st = srv.new_stage()
    st.upload_ok(pb.make_wheel(pkgdir / "before", "keeper", "1.0"))
    serial = srv.serial()
    payload = pb.random_bytes(20 * 2**20)
    ctype, body = multipart_body([(":action", "file_upload"), ("name", "halfway"),
                                  ("version", "1.0")], [("content", "halfway-1.0.tar.gz", payload)])
    head = http_head_block("POST", st.path + "/", [
        ("Host", "127.0.0.1"), ("Authorization", basic(*st.auth)["Authorization"]),
        ("Content-Type", ctype), ("Content-Length", str(len(body)))])
    sock = connect(srv, timeout=30)
    try:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)
        srv.kill9()
    finally:
        sock.close()
    srv.start()
    assert srv.serial() == serial, "an unacknowledged upload created a serial"
    assert srv.jreq("GET", f"{st.path}/halfway").status_code == 404
    assert st.simple("halfway").status_code == 404
    assert "halfway" not in st.config()["projects"]
    assert st.config()["projects"] == ["keeper"]
    # a new, complete upload of the same file works
    d = pb.make_sdist(pkgdir / "after", "halfway", "1.0")
    st.upload_ok(d)
    assert srv.http.get(st.file_path(d)).content == d.data
    assert [l["text"] for l in st.simple_links("halfway")] == ["halfway-1.0.tar.gz"]
    # and the store checks clean
    assert srv.stop() == 0
    p = subprocess.run([server_binary(), "fsck", "--serverdir", str(srv.serverdir)],
                       capture_output=True, text=True, env=clean_env(), timeout=120)
    assert p.returncode == 0, f"fsck failed:\n{p.stdout}\n{p.stderr}"


def test_concurrent_uploads_then_kill9(server_factory, pkgdir):
    """Every upload that got its 200 before the kill is there afterwards; the
    others are either complete or absent, never half there."""
    srv = server_factory(threads=2)
    st = srv.new_stage()
    dists = [pb.make_wheel(pkgdir / str(i), f"conc{i}", "1.0",
                           extra_files={f"conc{i}/blob.bin": pb.random_bytes(200000, seed=i)})
             for i in range(24)]
    acked = set()
    lock = threading.Lock()
    enough = threading.Event()

    def worker(chunk):
        http = srv.session(timeout=30)
        for d in chunk:
            try:
                r = http.post(st.path + "/", auth=st.auth, files={
                    "content": (d.filename, d.data, "application/octet-stream")},
                    data={":action": "file_upload", "name": d.name, "version": d.version})
            except Exception:
                return
            if r.status_code == 200:
                with lock:
                    acked.add(d.name)
                    if len(acked) >= 8:
                        enough.set()

    threads = [threading.Thread(target=worker, args=(dists[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    assert enough.wait(60), f"only {len(acked)} uploads acknowledged"
    srv.kill9()
    for t in threads:
        t.join(60)
    with lock:
        acknowledged = set(acked)
    srv.start()
    projects = set(st.config()["projects"])
    assert acknowledged <= projects, f"lost acknowledged uploads: {acknowledged - projects}"
    for d in dists:
        if d.name in projects:
            f = srv.http.get(st.file_path(d))
            assert f.status_code == 200 and f.content == d.data, f"{d.name} half there"
        else:
            assert srv.jreq("GET", f"{st.path}/{d.name}").status_code == 404
