"""Writes through a replica (API.md 8.6, 12; issue 7): every mutating request
is proxied to the primary with its body streamed, and answered only once the
replica has replicated the write (read-your-writes), or 504 past
--proxy-timeout; a dead primary gets a 502 naming it.  Mirror indexes on a
replica refresh through the primary, so the upstream is fetched once.

Most tests run a real primary and replica on loopback; the header and
edge-case tests put a scripted fake primary (FakePrimary below) behind a
replica, to see exactly what the replica sends and how it passes answers on.
"""

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import pkgbuild as pb
from fake_upstream import SIMPLE_JSON, get_page, json_files
from harness import (HOST, Stage, connect, http_head_block, json_message, multipart_body,
                     read_response, twine_upload)
from test_big_files import PeakSampler, big_wheel, rss_anon_kb

SECRET = "replica-shared-secret-" + "x" * 24


# --------------------------------------------------------------------------
# helpers

def wait_for(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_synced(replica, primary, timeout=20.0):
    want = primary.serial()
    wait_for(lambda: replica.serial() >= want, timeout, f"replica at serial {want}")


@pytest.fixture
def pair(server_factory, tmp_path):
    """make(primary_args=(), replica_args=(), replica_secret=None) -> (primary,
    replica), the replica in sync with the primary's initial state."""
    def make(primary_args=(), replica_args=(), replica_secret=None, sync=True):
        sec = tmp_path / "secret"
        sec.write_text(SECRET)
        p = server_factory(args=["--role", "primary", "--secretfile", str(sec), *primary_args])
        rsec = sec
        if replica_secret is not None:
            rsec = tmp_path / "secret-replica"
            rsec.write_text(replica_secret)
        r = server_factory(args=["--primary-url", p.url, "--secretfile", str(rsec), *replica_args],
                           root_passwd=None)
        if sync:
            wait_synced(r, p)
        return p, r
    return make


def proxied(resp):
    assert resp.headers.get("X-DEVPI-PROXY") == "replica", dict(resp.headers)
    return resp


def make_user_and_index(p, r, user=None, index="dev", **cfg):
    """Creates a user and an index through the replica r (root of primary p)."""
    user = user or p.unique("ru")
    resp = proxied(r.jreq("PUT", f"/{user}", {"password": "pw-" + user, "email": f"{user}@example.org"},
                          auth=p.root_auth))
    assert resp.status_code == 201, resp.text
    resp = proxied(r.jreq("PUT", f"/{user}/{index}", cfg, auth=(user, "pw-" + user)))
    assert resp.status_code == 200, resp.text
    return Stage(r, user, "pw-" + user, index)


# --------------------------------------------------------------------------
# a real primary and replica

def test_twine_upload_through_replica_is_read_back_at_once(pair, pkgdir):
    p, r = pair()
    st = make_user_and_index(p, r)
    name = p.unique("fwdpkg")
    dist = pb.make_wheel(pkgdir, name, "1.0")
    twine_upload(st.url + "/", st.user, st.password, [dist.path])
    # no sleep: the upload answered only once this replica had it
    resp = r.http.get(f"{st.path}/+simple/{name}/")
    assert resp.status_code == 200, resp.text
    assert dist.filename in resp.text
    resp = r.jreq("GET", f"{st.path}/{name}")
    assert resp.status_code == 200, resp.text
    assert list(resp.json()["result"]) == ["1.0"]
    # it landed on the primary (the replica only forwarded it)
    resp = p.http.get(f"/{st.user}/{st.index}/+simple/{name}/")
    assert resp.status_code == 200 and dist.filename in resp.text
    assert r.serial() >= p.serial()
    # and the uploader can fetch the file from the replica at once
    resp = r.http.get(st.file_path(dist))
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    assert hashlib.sha256(resp.content).hexdigest() == dist.sha256


def test_users_indexes_login_through_replica(pair):
    p, r = pair()
    user = p.unique("crud")
    resp = proxied(r.jreq("PUT", f"/{user}", {"password": "pw1", "email": "a@example.org"}, auth=p.root_auth))
    assert resp.status_code == 201
    assert resp.json()["type"] == "userconfig"
    serial = int(resp.headers["X-DEVPI-SERIAL"])
    assert r.serial() >= serial
    assert r.jreq("GET", f"/{user}").status_code == 200
    assert p.jreq("GET", f"/{user}").status_code == 200

    # login through the replica: the primary's token works on both nodes
    resp = proxied(r.login(user, "pw1"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["type"] == "proxyauth"
    token = resp.json()["result"]["password"]
    for node in (r, p):
        api = node.jreq("GET", "/+api", auth=(user, token)).json()["result"]
        assert api["authstatus"][:2] == ["ok", user], (node.url, api)
    resp = proxied(r.login(user, "wrong"))
    assert resp.status_code == 401

    # index create / patch / delete, each visible on the replica at once
    resp = proxied(r.jreq("PUT", f"/{user}/dev", {"volatile": True}, auth=(user, token)))
    assert resp.status_code == 200, resp.text
    assert r.jreq("GET", f"/{user}/dev").json()["result"]["volatile"] is True
    resp = proxied(r.jreq("PATCH", f"/{user}/dev", {"volatile": False}, auth=(user, token)))
    assert resp.status_code == 200, resp.text
    assert r.jreq("GET", f"/{user}/dev").json()["result"]["volatile"] is False
    assert p.jreq("GET", f"/{user}/dev").json()["result"]["volatile"] is False
    resp = proxied(r.jreq("PATCH", f"/{user}", {"password": "pw2"}, auth=(user, "pw1")))
    assert resp.status_code == 200, resp.text
    assert r.login(user, "pw2").status_code == 200
    assert r.login(user, "pw1").status_code == 401
    resp = proxied(r.jreq("DELETE", f"/{user}/dev", auth=(user, "pw2")))
    assert resp.status_code == 403, "non-volatile: the primary's refusal"
    resp = proxied(r.jreq("PATCH", f"/{user}/dev", {"volatile": True}, auth=(user, "pw2")))
    assert resp.status_code == 200, resp.text
    resp = proxied(r.jreq("DELETE", f"/{user}/dev", auth=(user, "pw2")))
    assert resp.status_code == 201, resp.text
    assert r.jreq("GET", f"/{user}/dev").status_code == 404
    resp = proxied(r.jreq("DELETE", f"/{user}", auth=p.root_auth))
    assert resp.status_code in (200, 201), resp.text
    assert r.jreq("GET", f"/{user}").status_code == 404
    assert p.jreq("GET", f"/{user}").status_code == 404


def test_errors_from_the_primary_pass_through_unchanged(pair, pkgdir):
    p, r = pair()
    st = make_user_and_index(p, r, volatile=False)
    # 409 existing user, with the primary's message
    resp = proxied(r.jreq("PUT", f"/{st.user}", {"password": "x"}, auth=p.root_auth))
    assert resp.status_code == 409
    want = p.jreq("PUT", f"/{st.user}", {"password": "x"}, auth=p.root_auth)
    assert json_message(resp) == json_message(want)
    # 400 bad JSON
    resp = proxied(r.jreq("PUT", f"/{p.unique('bad')}", raw_body="{not json", auth=p.root_auth))
    assert resp.status_code == 400
    assert "could not decode json" in json_message(resp)
    # anonymous upload: 401 with the Basic challenge
    dist = pb.make_wheel(pkgdir, p.unique("errpkg"), "1.0")
    resp = proxied(st.upload(dist, auth=None))
    assert resp.status_code == 401
    assert resp.headers.get("WWW-Authenticate", "").startswith("Basic")
    # an upload error keeps its reason phrase (twine prints it)
    assert st.upload(dist).status_code == 200
    other_bytes = pb.make_wheel(pkgdir / "again", dist.name, "1.0", salt="different")
    resp = proxied(st.upload(other_bytes))
    assert resp.status_code == 409
    assert "already exists" in resp.reason, resp.reason
    assert resp.reason in resp.text
    # another user's index: 403
    other = make_user_and_index(p, r)
    resp = proxied(r.jreq("PATCH", other.path, {"volatile": True}, auth=st.auth))
    assert resp.status_code == 403
    # unknown routes and methods are the primary's to judge
    resp = proxied(r.http.request("PUT", "/+nothing/here", data=b"x"))
    assert resp.status_code in (404, 405)
    resp = proxied(r.http.request("BREW", f"{st.path}"))
    assert resp.status_code in (404, 405)


def test_reads_are_never_forwarded(pair):
    p, r = pair()
    for method in ("GET", "HEAD", "OPTIONS"):
        resp = r.http.request(method, "/+api", headers={"Accept": "application/json"})
        assert "X-DEVPI-PROXY" not in resp.headers, (method, dict(resp.headers))


def test_primary_killed_writes_get_502_reads_go_on(pair):
    p, r = pair()
    st = make_user_and_index(p, r)
    primary_url = p.url
    p.kill9()
    t0 = time.monotonic()
    resp = proxied(r.jreq("PUT", f"/{p.unique('late')}", {"password": "x"}, auth=("root", "root-secret"),
                          timeout=30))
    took = time.monotonic() - t0
    assert resp.status_code in (502, 503), resp.text
    msg = json_message(resp)
    assert primary_url in msg and "unreachable" in msg, msg
    assert took < 5, f"a refused connection took {took:.1f} s"
    # an upload too (its body is not read to the end: the connection closes)
    form_ct, body = multipart_body([(":action", "file_upload"), ("name", "x"), ("version", "1")],
                                   [("content", "x-1.tar.gz", b"y" * 300000)])
    resp = proxied(r.http.post(st.path + "/", data=body, headers={"Content-Type": form_ct},
                               auth=st.auth, timeout=30))
    assert resp.status_code in (502, 503)
    # reads are served from the replica's own copy
    assert r.jreq("GET", f"/{st.user}").status_code == 200
    assert r.jreq("GET", st.path).status_code == 200


def test_replica_that_cannot_follow_answers_504_after_proxy_timeout(pair):
    # a wrong secret: the primary refuses this replica's changelog requests,
    # so nothing replicates; writes (which carry the client's credentials,
    # not the replica's) still succeed on the primary
    p, r = pair(replica_args=["--proxy-timeout", "2"], replica_secret="not-the-secret" * 3, sync=False)
    user = p.unique("lag")
    t0 = time.monotonic()
    resp = proxied(r.jreq("PUT", f"/{user}", {"password": "x"}, auth=p.root_auth))
    took = time.monotonic() - t0
    assert resp.status_code == 504, resp.text
    msg = json_message(resp)
    assert "succeeded on the primary" in msg and "not replicated" in msg, msg
    assert 1.8 <= took < 30, took   # waited for the timeout, and no hang
    assert p.jreq("GET", f"/{user}").status_code == 200
    # errors are not waited for
    t0 = time.monotonic()
    resp = proxied(r.jreq("PUT", f"/{user}", {"password": "x"}, auth=p.root_auth))
    assert resp.status_code == 409
    assert time.monotonic() - t0 < 1.5


@pytest.mark.slow
def test_big_upload_streams_through_replica(pair):
    p, r = pair(replica_args=["--file-replication-skip-indexes", "all"])
    st = make_user_and_index(p, r)
    size = 128 * 2**20
    filename, data, _meta = big_wheel("bigfwd", "1.0", bytes(range(256)) * (size // 256))
    before = rss_anon_kb(r.pid)
    with PeakSampler(r.pid) as peak:
        resp = st.upload(filename=filename, content=data, name="bigfwd", version="1.0")
    assert resp.status_code == 200, (resp.status_code, resp.reason, resp.text[:300])
    proxied(resp)
    grew = peak.peak - before
    # (the bound leaves room for ASan's 32 MiB quarantine, see make asan;
    # a plain build grows by about 1 MiB)
    assert grew < 56 * 1024, f"forwarding a {size >> 20} MiB body grew the replica by {grew >> 10} MiB"
    digest = hashlib.sha256(data).hexdigest()
    path = f"{st.path}/+f/{digest[:3]}/{digest[3:16]}/{filename}"
    got = p.http.get(path)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == digest


def test_client_gone_mid_upload_leaves_replica_healthy(pair):
    p, r = pair()
    st = make_user_and_index(p, r)
    form_ct, body = multipart_body([(":action", "file_upload"), ("name", "gone"), ("version", "1.0")],
                                   [("content", "gone-1.0.tar.gz", b"z" * (8 * 2**20))])
    auth = base64.b64encode(f"{st.user}:{st.password}".encode()).decode()
    for cut in (1000, 3 * 2**20):
        s = connect(r)
        s.sendall(http_head_block("POST", st.path + "/", [
            ("Host", f"{HOST}:{r.port}"), ("Content-Type", form_ct),
            ("Content-Length", str(len(body))), ("Authorization", f"Basic {auth}")]))
        s.sendall(body[:cut])
        time.sleep(0.3)
        s.close()
    time.sleep(0.5)
    assert r.alive()
    resp = r.jreq("GET", f"{st.path}/gone")
    assert resp.status_code == 404, resp.text
    # the replica still forwards
    resp = proxied(r.jreq("PATCH", st.path, {"volatile": False}, auth=st.auth))
    assert resp.status_code == 200


def test_chunked_upload_through_replica(pair, pkgdir):
    p, r = pair()
    st = make_user_and_index(p, r)
    dist = pb.make_sdist(pkgdir, "chunky", "1.0", salt=pb.random_bytes(200000, seed=3).hex())
    content = dist.data
    form_ct, body = multipart_body([(":action", "file_upload"), ("name", "chunky"), ("version", "1.0")],
                                   [("content", dist.filename, content)])
    auth = base64.b64encode(f"{st.user}:{st.password}".encode()).decode()
    with connect(r, timeout=30) as s:
        s.sendall(http_head_block("POST", st.path + "/", [
            ("Host", f"{HOST}:{r.port}"), ("Content-Type", form_ct),
            ("Transfer-Encoding", "chunked"), ("Authorization", f"Basic {auth}")]))
        for i in range(0, len(body), 65536):
            piece = body[i:i + 65536]
            s.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        with s.makefile("rb") as f:
            resp = read_response(f)
    assert resp.status == 200, (resp.status, resp.reason, resp.body[:300])
    assert resp.headers.get("X-DEVPI-PROXY") == "replica"
    digest = hashlib.sha256(content).hexdigest()
    got = p.http.get(f"{st.path}/+f/{digest[:3]}/{digest[3:16]}/{dist.filename}")
    assert got.status_code == 200 and got.content == content


# --------------------------------------------------------------------------
# a scripted fake primary

class FakePrimary:
    """Records every request (method, path, headers, body, chunked) and
    answers from self.routes[path] -> fn(handler) returning (status, reason,
    [(header, value)], body); /+changelog gets 503 (the replica's loop keeps
    retrying and never applies anything)."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.routes = {}
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        n = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if n == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out), True
                        out += self.rfile.read(n)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n), False

            def _any(self):
                if self.path.startswith("/+changelog"):
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, chunked = self._body()
                with fake.lock:
                    fake.requests.append({"method": self.command, "path": self.path,
                                          "headers": self.headers, "body": body, "chunked": chunked})
                fn = fake.routes.get(self.path.split("?")[0])
                status, reason, hdrs, out = fn(self) if fn else (404, "Nope", [], b"{}")
                self.send_response(status, reason)
                for k, v in hdrs:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_PUSH = _any

        self.httpd = ThreadingHTTPServer((HOST, 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://{HOST}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def last(self):
        with self.lock:
            return self.requests[-1]


@pytest.fixture
def fake_primary():
    f = FakePrimary()
    yield f
    f.stop()


@pytest.fixture
def fake_pair(fake_primary, server_factory, tmp_path):
    sec = tmp_path / "secret"
    sec.write_text(SECRET)
    r = server_factory(args=["--primary-url", fake_primary.url, "--secretfile", str(sec),
                             "--proxy-timeout", "2"], root_passwd=None)
    return fake_primary, r


def test_request_headers_and_body_sent_to_the_primary(fake_pair):
    fake, r = fake_pair
    fake.routes["/u/x"] = lambda h: (200, "OK", [("Content-Type", "application/json")], b'{"ok": 1}')
    body = json.dumps({"k": "v" * 1000}).encode()
    resp = r.http.request("PUT", "/u/x?a=1&b=%2F", data=body, headers={
        "Authorization": "Basic dXNlcjpwYXNz",
        "Content-Type": "application/json",
        "X-Custom": "kept",
        "X-Empty": "",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "dropped",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "TE": "trailers",
        "X-Forwarded-For": "10.1.2.3",
        "X-DEVPI-REPLICA-UUID": "spoofed",
    })
    assert resp.status_code == 200, resp.text
    proxied(resp)
    got = fake.last()
    h = got["headers"]
    assert got["method"] == "PUT" and got["path"] == "/u/x?a=1&b=%2F"
    assert got["body"] == body and not got["chunked"]
    assert h["Content-Length"] == str(len(body))
    assert h["Host"] == fake.url.split("//")[1]
    assert h["Authorization"] == "Basic dXNlcjpwYXNz", "the client's credentials pass unchanged"
    assert h["Content-Type"] == "application/json"
    assert h["X-Custom"] == "kept"
    assert "X-Empty" in h and h["X-Empty"] == ""
    for gone in ("X-Hop", "Keep-Alive", "Proxy-Authorization", "TE", "Expect"):
        assert gone not in h, (gone, dict(h))
    assert h.get_all("X-DEVPI-REPLICA-UUID") == [resp.headers["X-DEVPI-UUID"]]
    assert h["X-Forwarded-For"] == "10.1.2.3, 127.0.0.1"
    assert h["X-Forwarded-Host"] == f"{HOST}:{r.port}"
    assert h["X-Forwarded-Proto"] == "http"

    # a body-less DELETE, a PUSH with a body, a POST without Content-Type
    fake.routes["/u/y"] = lambda h: (201, "Created", [], b"")
    assert proxied(r.http.request("DELETE", "/u/y")).status_code == 201
    got = fake.last()
    assert got["method"] == "DELETE" and got["body"] == b""
    assert got["headers"].get("Content-Length") == "0"       # requests sends one
    with connect(r) as s:
        s.sendall(http_head_block("DELETE", "/u/y", [("Host", "h")]))
        with s.makefile("rb") as f:
            assert read_response(f).status == 201
    got = fake.last()
    assert got["method"] == "DELETE" and got["body"] == b""
    assert "Content-Length" not in got["headers"] and "Transfer-Encoding" not in got["headers"]
    assert proxied(r.http.request("PUSH", "/u/y", data=b'{"name": "p"}')).status_code == 201
    assert fake.last()["method"] == "PUSH" and fake.last()["body"] == b'{"name": "p"}'
    with connect(r) as s:
        s.sendall(http_head_block("POST", "/u/y", [("Host", "h"), ("Content-Length", "3")]) + b"abc")
        with s.makefile("rb") as f:
            assert read_response(f).status == 201
    got = fake.last()
    assert got["method"] == "POST" and got["body"] == b"abc"
    assert "Content-Type" not in got["headers"] and "Accept" not in got["headers"]
    # reads stay on the replica
    n = len(fake.requests)
    r.http.get("/u/y")
    r.http.head("/u/y")
    assert len(fake.requests) == n


def test_chunked_request_body_is_sent_chunked(fake_pair):
    fake, r = fake_pair
    fake.routes["/c"] = lambda h: (200, "OK", [], b"")
    data = bytes(range(256)) * 4000
    with connect(r) as s:
        s.sendall(http_head_block("POST", "/c", [("Host", "h"), ("Transfer-Encoding", "chunked"),
                                                 ("Content-Type", "application/octet-stream")]))
        for i in range(0, len(data), 30000):
            piece = data[i:i + 30000]
            s.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        with s.makefile("rb") as f:
            assert read_response(f).status == 200
    got = fake.last()
    assert got["chunked"] and got["body"] == data


def test_answer_passed_on_with_reason_headers_and_location(fake_pair):
    fake, r = fake_pair
    fake.routes["/a"] = lambda h: (
        201, "Made It", [("Content-Type", "application/x-thing"), ("X-Custom-Resp", "v"),
                         ("Set-Cookie", "a=b"), ("Keep-Alive", "timeout=9"), ("Upgrade", "h2c"),
                         ("X-DEVPI-UUID", "f" * 32)], b"payload")
    resp = proxied(r.http.post("/a", data=b"x"))
    assert (resp.status_code, resp.reason, resp.content) == (201, "Made It", b"payload")
    assert resp.headers["Content-Type"] == "application/x-thing"
    assert resp.headers["X-Custom-Resp"] == "v" and resp.headers["Set-Cookie"] == "a=b"
    assert "Keep-Alive" not in resp.headers and "Upgrade" not in resp.headers
    assert resp.headers["X-DEVPI-UUID"] != "f" * 32, "node headers are the replica's own"

    fake.routes["/redir"] = lambda h: (302, "Found", [("Location", fake.url + "/elsewhere/x?y=1")], b"")
    resp = proxied(r.http.post("/redir", data=b"x"))
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"{r.url}/elsewhere/x?y=1"
    resp = proxied(r.http.post("/redir", data=b"x", headers={"X-Outside-Url": "https://pkgs.example.org/py"}))
    assert resp.headers["Location"] == "https://pkgs.example.org/py/elsewhere/x?y=1"
    fake.routes["/redir2"] = lambda h: (302, "Found", [("Location", "https://other.example.org/z")], b"")
    resp = proxied(r.http.post("/redir2", data=b"x"))
    assert resp.headers["Location"] == "https://other.example.org/z"
    # a longer host with the primary's URL as a prefix is not the primary
    fake.routes["/redir3"] = lambda h: (302, "Found", [("Location", fake.url + "0/z")], b"")
    resp = proxied(r.http.post("/redir3", data=b"x"))
    assert resp.headers["Location"] == fake.url + "0/z"


def test_primary_answers_that_are_refused_or_waited_for(fake_pair):
    fake, r = fake_pair
    # more than 16 MiB: 502, not passed on
    fake.routes["/huge"] = lambda h: (200, "OK", [], b"h" * (16 * 2**20 + 1))
    resp = proxied(r.http.post("/huge", data=b"x"))
    assert resp.status_code == 502
    assert fake.url in json_message(resp)
    # a primary that does not answer: 502 after --proxy-timeout (2 s)

    def hang(h):
        time.sleep(6)
        return 200, "OK", [], b""
    fake.routes["/hang"] = hang
    t0 = time.monotonic()
    resp = proxied(r.http.post("/hang", data=b"x", timeout=30))
    took = time.monotonic() - t0
    assert resp.status_code == 502 and "no answer within 2 s" in json_message(resp), resp.text
    assert 1.8 <= took < 30, took
    # a success whose serial never arrives here: 504 after --proxy-timeout
    fake.routes["/lag"] = lambda h: (200, "OK", [("X-DEVPI-SERIAL", "7")], b"{}")
    t0 = time.monotonic()
    resp = proxied(r.http.post("/lag", data=b"x", timeout=30))
    assert resp.status_code == 504, resp.text
    assert "succeeded on the primary" in json_message(resp)
    assert 1.8 <= time.monotonic() - t0 < 30
    # an error is passed on at once, whatever its serial
    fake.routes["/err"] = lambda h: (409, "Conflict", [("X-DEVPI-SERIAL", "99")], b'{"message": "no"}')
    t0 = time.monotonic()
    resp = proxied(r.http.post("/err", data=b"x"))
    assert resp.status_code == 409 and resp.json() == {"message": "no"}
    assert resp.headers["X-DEVPI-SERIAL"] == "99"
    assert time.monotonic() - t0 < 1
    # the client going away while the replica waits does no harm
    with connect(r) as s:
        s.sendall(http_head_block("POST", "/lag", [("Host", "h"), ("Content-Length", "1")]) + b"x")
        time.sleep(0.3)
    time.sleep(2.5)
    assert r.alive()


def test_primary_gone_is_a_clear_502(fake_pair):
    fake, r = fake_pair
    url = fake.url
    fake.stop()
    t0 = time.monotonic()
    resp = proxied(r.jreq("PUT", "/someone", {"password": "x"}))
    assert resp.status_code == 502
    assert json_message(resp).startswith(f"primary {url} unreachable"), json_message(resp)
    assert time.monotonic() - t0 < 3


# --------------------------------------------------------------------------
# mirror indexes on a replica

TREE = {
    "lib": {"1.0": {}, "2.0": {"kinds": ("wheel", "sdist")}},
    "app": {"1.0": {"requires": ["lib"]}},
    "util": {"0.1": {}},
}


@pytest.fixture
def mirror_pair(upstream, server_factory, tmp_path):
    def make(expiry=None):
        upstream.build(TREE)
        sec = tmp_path / "secret"
        sec.write_text(SECRET)
        extra = ["--mirror-cache-expiry", str(expiry)] if expiry else []
        p = server_factory(args=["--role", "primary", "--secretfile", str(sec),
                                 "--root-pypi-url", upstream.simple_url, *extra])
        r = server_factory(args=["--primary-url", p.url, "--secretfile", str(sec), *extra],
                           root_passwd=None)
        wait_synced(r, p)
        return p, r
    return make


def test_mirror_page_on_replica_fetched_once_by_the_primary(upstream, mirror_pair):
    p, r = mirror_pair()
    resp = get_page(r, "lib", accept=SIMPLE_JSON)
    assert resp.status_code == 200, resp.text[:300]
    want = sorted(f.filename for f in upstream.projects["lib"].files)
    assert sorted(json_files(resp)) == want
    assert upstream.count("/simple/lib/") == 1, upstream.paths()
    # only the primary spoke to the upstream
    assert all("devpi" in q.headers.get("User-Agent", "").lower() for q in upstream.requests_for("/simple/lib/"))
    # the primary's own page: from its cache
    resp = get_page(p, "lib", accept=SIMPLE_JSON)
    assert resp.status_code == 200 and sorted(json_files(resp)) == want
    # the replica again: fresh, not even asking the primary
    resp = get_page(r, "lib")
    assert resp.status_code == 200 and all(f in resp.text for f in want)
    assert upstream.count("/simple/lib/") == 1
    # another project, and the project list
    assert get_page(r, "app").status_code == 200
    assert upstream.count("/simple/app/") == 1
    lst = r.http.get("/root/pypi/+simple/", headers={"Accept": SIMPLE_JSON})
    assert lst.status_code == 200
    names = {e["name"] for e in lst.json()["projects"]}
    assert {"lib", "app", "util"} <= names, names
    assert upstream.count("/simple/") == 1, upstream.paths()
    # a project upstream does not have
    assert get_page(r, "does-not-exist").status_code == 404
    # a refresh is a write: the primary's redirect comes back pointing here
    resp = proxied(r.http.post("/root/pypi/+simple/lib/refresh"))
    assert resp.status_code == 302, resp.text
    assert resp.headers["Location"] == f"{r.url}/root/pypi/+simple/lib/"
    assert get_page(p, "lib").status_code == 200
    assert upstream.count("/simple/lib/") == 2, "the primary refetched after the refresh"

    # the primary killed: the replica still serves what it has
    p.kill9()
    resp = get_page(r, "lib", accept=SIMPLE_JSON)
    assert resp.status_code == 200 and sorted(json_files(resp)) == want
    assert get_page(r, "util").status_code == 502, "nothing cached and the primary is down"


def test_mirror_page_on_replica_stale_when_primary_down(upstream, mirror_pair):
    p, r = mirror_pair(expiry=1)
    assert get_page(r, "lib").status_code == 200
    n = upstream.count("/simple/lib/")
    time.sleep(1.3)
    # expired: the refresh goes through the primary, which revalidates upstream
    assert get_page(r, "lib").status_code == 200
    assert upstream.count("/simple/lib/") == n + 1
    p.kill9()
    time.sleep(1.3)
    t0 = time.monotonic()
    resp = get_page(r, "lib", accept=SIMPLE_JSON)
    assert resp.status_code == 200, resp.text[:300]
    assert "no-cache" in resp.headers.get("Cache-Control", ""), dict(resp.headers)
    assert time.monotonic() - t0 < 10
    assert sorted(json_files(resp)) == sorted(f.filename for f in upstream.projects["lib"].files)


def test_acl_read_mirror_readable_through_the_primary(upstream, mirror_pair):
    p, r = mirror_pair()
    resp = proxied(r.jreq("PUT", "/root/privmirror", {"type": "mirror", "mirror_url": upstream.simple_url,
                                                      "acl_read": ["root"]}, auth=p.root_auth))
    assert resp.status_code == 200, resp.text
    resp = get_page(r, "lib", index="root/privmirror", accept=SIMPLE_JSON, auth=p.root_auth)
    assert resp.status_code == 200, resp.text[:300]
    assert sorted(json_files(resp)) == sorted(f.filename for f in upstream.projects["lib"].files)
    assert get_page(r, "lib", index="root/privmirror").status_code in (401, 403)
