"""Regression tests, each named after what broke (found in review)."""

import base64
import concurrent.futures
import socket
import subprocess
import threading
import time

import pkgbuild as pb
from harness import (basic, clean_env, connect, http_head_block, multipart_body, raw_exchange,
                     read_response, server_binary)


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon")


def test_body_on_a_get_route_is_not_buffered(server):
    """GET routes take no body: a big one is refused with 413, not kept."""
    before = rss_anon_kb(server.pid)
    body_len = 128 * 2**20
    head = http_head_block("GET", "/+api", [("Host", "127.0.0.1"), ("Content-Length", str(body_len))])
    with connect(server, timeout=30) as s:
        s.sendall(head)
        sent = 0
        chunk = b"x" * 65536
        try:
            while sent < body_len:
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        with s.makefile("rb") as f:
            resp = read_response(f)
    assert resp.status == 413, resp
    # buffering it would take 128 MiB or more; allow ASan's quarantine
    assert rss_anon_kb(server.pid) - before < 64 * 1024


def test_pipelining_without_reading_is_bounded(server):
    """A client that pipelines requests and never reads answers cannot grow
    the server's output without bound."""
    before = rss_anon_kb(server.pid)
    req = http_head_block("GET", "/+api", [("Host", "127.0.0.1")])
    s = connect(server, timeout=2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stop = threading.Event()

    def pump():
        batch = req * 1000
        try:
            for _ in range(200):        # 200k requests, ~120 MB of answers
                if stop.is_set():
                    return
                s.sendall(batch)
        except OSError:
            pass

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    time.sleep(3)
    grown = rss_anon_kb(server.pid) - before
    stop.set()
    s.close()
    t.join(5)
    assert grown < 48 * 1024, f"server grew by {grown // 1024} MiB for unread answers"
    # and the server still serves others
    assert server.http.get("/+api").status_code == 200


def test_half_close_still_gets_every_answer(server):
    """shutdown(SHUT_WR) after pipelining: every request is still answered."""
    n = 500
    req = http_head_block("GET", "/+api", [("Host", "127.0.0.1")])
    with connect(server, timeout=20) as s:
        s.sendall(req * n)
        s.shutdown(socket.SHUT_WR)
        got = 0
        with s.makefile("rb") as f:
            while True:
                try:
                    resp = read_response(f)
                except EOFError:
                    break
                assert resp.status == 200
                got += 1
    assert got == n


def test_register_with_content_part_leaves_no_orphan_chunks(server_factory):
    srv = server_factory()
    st = srv.new_stage()
    r = st.upload(action="submit", filename="regc-1.0.tar.gz", content=pb.random_bytes(3 * 2**20),
                  name="regc", version="1.0")
    assert r.status_code == 200, (r.status_code, r.reason)
    time.sleep(0.5)     # the discard is its own write
    assert srv.stop() == 0
    p = subprocess.run([server_binary(), "fsck", "--serverdir", str(srv.serverdir)],
                       capture_output=True, text=True, env=clean_env(), timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "orphan" not in p.stdout


def test_wrong_password_storm_answers_401_and_server_stays_usable(server):
    user, _ = server.create_user(password="right-pw")
    wrong = basic(user, "wrong-pw")

    def attempt(i):
        return server.session().get("/+api", headers={**wrong, "Accept": "application/json"}).json()

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(attempt, range(40)))
    # a wrong password is simply anonymous (API.md 2.3)
    assert all(r["result"]["authstatus"][0] == "noauth" for r in results)
    r = server.login(user, "right-pw")
    assert r.status_code == 200
    r = server.login(user, "wrong-pw")
    assert r.status_code == 401


def test_concurrent_index_patches_lose_nothing(server):
    user, _ = server.create_user(password="pw")
    server.create_index(user, "pw", "dev")
    for n in ("bob", "carol", "dave", "erin"):
        server.create_user(name=n, password="pw")
    auth = (user, "pw")

    def add(n):
        return server.session().request("PATCH", f"/{user}/dev", json=[f"acl_upload+={n}"], auth=auth)

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        res = dict(zip(["bob", "carol", "dave", "erin"], ex.map(add, ["bob", "carol", "dave", "erin"])))
    acl = server.jreq("GET", f"/{user}/dev", auth=auth).json()["result"]["acl_upload"]
    for n, r in res.items():
        assert r.status_code in (200, 409), (n, r.status_code, r.text)
        if r.status_code == 200:
            assert n in acl, f"{n} was acknowledged but lost: {acl}"
        else:
            assert "retry" in r.json()["message"]


def test_expect_100_continue_is_answered(stage, server):
    whl = pb.make_wheel(stage.server.basedir / "pkgs100", "contpkg", "1.0")
    ctype, body = multipart_body([(":action", "file_upload"), ("name", "contpkg"), ("version", "1.0")],
                                 [("content", whl.filename, whl.data)])
    auth = base64.b64encode(f"{stage.user}:{stage.password}".encode()).decode()
    head = http_head_block("POST", stage.path + "/", [
        ("Host", "127.0.0.1"), ("Authorization", f"Basic {auth}"), ("Content-Type", ctype),
        ("Content-Length", str(len(body))), ("Expect", "100-continue")])
    with connect(server, timeout=20) as s:
        s.sendall(head)
        first = s.recv(64)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first
        s.sendall(body)
        with s.makefile("rb") as f:
            resp = read_response(f)
    assert resp.status == 200, resp


def test_304_and_416_carry_the_right_headers(stage, server):
    whl = pb.make_wheel(stage.server.basedir / "pkgs304", "hdrpkg", "1.0")
    stage.upload_ok(whl)
    plain = [("Host", "127.0.0.1"), ("Accept-Encoding", "identity")]
    page = raw_exchange(server, http_head_block("GET", f"{stage.path}/+simple/hdrpkg/", plain))
    assert page.status == 200
    etag = page.headers["ETag"]
    resp = raw_exchange(server, http_head_block("GET", f"{stage.path}/+simple/hdrpkg/",
                                                plain + [("If-None-Match", etag)]))
    assert resp.status == 304
    assert "Content-Length" not in resp.headers
    resp = raw_exchange(server, http_head_block("GET", stage.file_path(whl), [
        ("Host", "127.0.0.1"), ("Range", f"bytes={len(whl.data) + 10}-")]))
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(whl.data)}"
    assert "immutable" not in resp.headers.get("Cache-Control", "")


def test_overlong_names_in_read_routes_are_400(stage, server):
    """Names too long for a key are refused before any lookup (a truncated
    key could match another record)."""
    long = "p" * 600
    for path in (f"{stage.path}/{long}", f"{stage.path}/{long}/1.0", f"{stage.path}/+simple/{long}/"):
        r = server.http.get(path, headers={"Accept": "application/json"})
        assert r.status_code == 400, (path[:60], r.status_code)
    r = server.http.get(f"{stage.path}/pkg/" + "1" * 300, headers={"Accept": "application/json"})
    assert r.status_code == 400
    r = server.http.get(f"{stage.path}/+f/abc/def/bad%01name.whl")
    assert r.status_code == 400
    r = server.http.get(f"{stage.path}/+f/abc/def/" + "x" * 300 + ".whl")
    assert r.status_code == 400


def test_cached_page_follows_every_write(stage, server):
    """The render cache never serves a page older than the last write: a
    new upload shows at once, on both workers, in both formats."""
    d1 = pb.make_wheel(stage.server.basedir / "pkgsrc", "cachepkg", "1.0")
    stage.upload_ok(d1)
    for _ in range(4):      # warm the caches of both workers
        assert [l["text"] for l in stage.simple_links("cachepkg")] == [d1.filename]
        assert d1.filename in stage.simple("cachepkg", accept="application/vnd.pypi.simple.v1+json").text
    d2 = pb.make_wheel(stage.server.basedir / "pkgsrc", "cachepkg", "2.0")
    stage.upload_ok(d2)
    for _ in range(4):
        names = {l["text"] for l in stage.simple_links("cachepkg")}
        assert names == {d1.filename, d2.filename}, names
        assert d2.filename in stage.simple("cachepkg", accept="application/vnd.pypi.simple.v1+json").text
    r = server.http.get(f"{stage.path}/+simple/")
    assert "cachepkg" in r.text
