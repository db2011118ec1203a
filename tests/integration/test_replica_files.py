"""File replication on a replica (issue 7; API.md 8.5): the bytes of files
whose records came through the changelog reach the replica in the background
(private indexes first) or on first use, always hash-checked before they are
stored; a corrupt body from the primary is never stored and is listed in
/+status until a retry succeeds; mirror files are fetched through the
primary, so upstream sees one download."""

import hashlib
import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pkgbuild as pb
import pytest
import requests
from fake_upstream import expected_file_url, get_page, html_links, raw_get
from harness import HOST, Stage

JSON = {"Accept": "application/json"}


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def secretfile(tmp_path):
    f = tmp_path / "secret"
    if not f.exists():
        f.write_text("file replication secret, shared by primary and replicas")
    return f


def start_primary(server_factory, tmp_path, args=()):
    return server_factory(args=["--role", "primary", "--secretfile", str(secretfile(tmp_path)), *args])


def start_replica(server_factory, tmp_path, primary_url, args=()):
    return server_factory(args=["--primary-url", primary_url, "--secretfile", str(secretfile(tmp_path)),
                                "--request-timeout", "3", *args], root_passwd=None)


def status(s):
    r = s.http.get("/+status", headers=JSON)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def wait_until(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_serial(s, serial, timeout=30):
    wait_until(lambda: s.serial() >= serial, timeout, f"{s.url} to reach serial {serial}")


def file_errors(st):
    """replication-errors about files (the changelog loop lists its own as +changelog)."""
    return {k: v for k, v in st["replication-errors"].items() if k != "+changelog"}


def wait_files_in_sync(r, since, timeout=30):
    """Until the replica's file queue ran dry after `since` with no error."""
    def ok():
        st = status(r)
        t = st.get("replica-files-in-sync-at")
        return t is not None and t >= since and file_errors(st) == {}
    wait_until(ok, timeout, f"{r.url} files in sync")


def get_file(s, path, auth=None, timeout=30):
    return requests.get(s.url + path, auth=auth, timeout=timeout, proxies={"http": None})


# --------------------------------------------------------------------------
# a fault proxy between a replica and its primary

class FaultProxy:
    """HTTP proxy on loopback that forwards everything to target, and in mode
    "flip" flips one byte of every 200 +f body, in "truncate" sends half of
    it and closes, in "down" answers 503 to +f requests.  Streams
    (the changelog) are forwarded as they come, close-delimited."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.mode = "pass"
        self.faulted = []        # paths whose body was damaged (or slowed)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a):
                pass

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                is_file = "/+f/" in self.path and self.command in ("GET", "HEAD")
                if is_file and proxy.mode == "down":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection", "keep-alive")}
                c = http.client.HTTPConnection(HOST, proxy.target_port, timeout=400)
                try:
                    c.request(self.command, self.path, body=body, headers=hdrs)
                    resp = c.getresponse()
                except OSError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "keep-alive"):
                        self.send_header(k, v)
                self.end_headers()
                cl = resp.getheader("Content-Length")
                if self.command == "HEAD":
                    return
                if is_file and resp.status == 200 and proxy.mode == "slow":
                    proxy.faulted.append(self.path)
                    while True:
                        chunk = resp.read(16384)
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        time.sleep(0.05)
                    return
                if is_file and resp.status == 200 and cl is not None and proxy.mode in ("flip", "truncate"):
                    data = bytearray(resp.read())
                    proxy.faulted.append(self.path)
                    if proxy.mode == "flip":
                        data[len(data) // 2] ^= 0xFF
                        self.wfile.write(data)
                    else:
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                while True:
                    chunk = resp.read1(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    self.wfile.flush()
                c.close()

            def do_GET(self):
                try:
                    self._forward()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture
def fault_proxy_factory():
    made = []

    def make(target_port):
        p = FaultProxy(target_port)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()


# --------------------------------------------------------------------------

def test_background_replication_then_served_without_primary(server_factory, tmp_path):
    p = start_primary(server_factory, tmp_path)
    r = start_replica(server_factory, tmp_path, p.url)
    st = p.new_stage()
    wait_serial(r, p.serial())
    t0 = time.time()
    wheel = pb.make_wheel(tmp_path / "w", "bgpkg", "1.0", extra_files={"bgpkg/data.bin": pb.random_bytes(
        3 * 1024 * 1024 + 17, seed=3)})            # four chunks, the last one short
    sdist = pb.make_sdist(tmp_path / "s", "bgpkg", "1.0")
    st.upload_ok(wheel, sdist)
    wait_serial(r, p.serial())
    wait_files_in_sync(r, t0)
    assert status(r)["replica-init-queue-finished-at"] is not None
    p.kill9()
    rs = Stage(r, st.user, st.password)
    for d in (wheel, sdist):
        g = get_file(r, rs.file_path(d))
        assert g.status_code == 200, (d.filename, g.status_code, g.text[:200])
        assert sha256(g.content) == d.sha256
        assert int(g.headers["Content-Length"]) == d.size
        assert g.headers["Cache-Control"] == "max-age=365000000, immutable, public"
    # the uploaded wheel's PEP 658 metadata is a blob of its own: replicated too
    m = get_file(r, rs.file_path(wheel) + ".metadata")
    assert m.status_code == 200 and m.content == wheel.metadata
    assert file_errors(status(r)) == {}


def test_on_demand_fetch_and_pip_install(server_factory, tmp_path, venv):
    p = start_primary(server_factory, tmp_path)
    r = start_replica(server_factory, tmp_path, p.url, args=["--file-replication-threads", "0"])
    st = p.new_stage()
    d = pb.make_wheel(tmp_path / "w", "odpkg", "2.0")
    other = pb.make_wheel(tmp_path / "w", "odother", "1.0")
    st.upload_ok(d, other)
    wait_serial(r, p.serial())
    rs = Stage(r, st.user, st.password)
    # pip installs from the replica a file it has never fetched
    target = tmp_path / "target"
    venv.install(rs.simple_url, "odpkg==2.0", target=target)
    assert (target / "odpkg" / "__init__.py").exists()
    # JSON view of a file whose bytes are missing: the record answers
    j = r.http.get(rs.file_path(other), headers=JSON)
    assert j.status_code == 200 and j.json()["result"]["hashes"]["sha256"] == other.sha256
    # HEAD then GET of a missing file, several clients at once
    h = r.http.head(rs.file_path(other))
    assert h.status_code == 200 and int(h.headers["Content-Length"]) == other.size
    results = []

    def fetch():
        results.append(get_file(r, rs.file_path(other)))
    ts = [threading.Thread(target=fetch) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert [x.status_code for x in results] == [200] * 4
    assert all(sha256(x.content) == other.sha256 for x in results)
    # both are stored on the replica: they survive the primary
    p.kill9()
    for x in (d, other):
        g = get_file(r, rs.file_path(x))
        assert g.status_code == 200 and sha256(g.content) == x.sha256
    # a file of the replica's records that is not stored, with the primary gone
    missing = pb.make_wheel(tmp_path / "w", "odpkg", "3.0")
    assert get_file(r, rs.file_path(missing)).status_code == 404    # no record at all
    assert r.alive()


def test_unknown_and_deleted_files_on_replica(server_factory, tmp_path):
    p = start_primary(server_factory, tmp_path)
    r = start_replica(server_factory, tmp_path, p.url, args=["--file-replication-threads", "0"])
    st = p.new_stage(volatile=True)
    d = pb.make_wheel(tmp_path / "w", "delpkg", "1.0")
    st.upload_ok(d)
    rel = st.file_path(d)
    assert p.http.delete(rel, auth=st.auth).status_code == 200
    wait_serial(r, p.serial())
    rs = Stage(r, st.user, st.password)
    g = get_file(r, rs.file_path(d))
    assert g.status_code == 410, g.text
    g = get_file(r, f"/{st.user}/dev/+f/abc/0123456789abc/nothere-1.0.tar.gz")
    assert g.status_code == 404
    assert r.alive() and p.alive()


@pytest.mark.parametrize("fault", ["flip", "truncate"])
def test_corrupt_blob_from_primary_never_stored(server_factory, tmp_path, fault_proxy_factory, fault):
    p = start_primary(server_factory, tmp_path)
    proxy = fault_proxy_factory(p.port)
    r = start_replica(server_factory, tmp_path, proxy.url)
    st = p.new_stage()
    wait_serial(r, p.serial())
    proxy.mode = fault
    d = pb.make_wheel(tmp_path / "w", "badpkg", "1.0",
                      extra_files={"badpkg/blob.bin": pb.random_bytes(1536 * 1024, seed=5)})
    st.upload_ok(d)
    wait_serial(r, p.serial())
    rel = st.file_path(d)[1:]

    def listed():
        errs = status(r)["replication-errors"]
        return errs.get(rel)
    e = wait_until(listed, 30, f"{rel} in replication-errors")
    assert e["relpath"] == rel
    assert e["url"] == f"{proxy.url}/{rel}"
    assert ("sha256 mismatch" in e["message"]) if fault == "flip" else e["message"]
    assert rel in [x[1:] for x in proxy.faulted]
    # on first use the client never gets the damaged bytes as a good file
    code, hd, body, complete = raw_get(r, "/" + rel, timeout=30)
    assert not (code == 200 and complete), "a damaged body was served as complete"
    # with the primary's +f unreachable the replica has nothing stored to serve
    proxy.mode = "down"
    code, hd, body, complete = raw_get(r, "/" + rel, timeout=30)
    assert code == 502, (code, body[:200])
    # pass-through: served and stored, and the error entry goes away on the retry
    proxy.mode = "pass"
    g = get_file(r, "/" + rel)
    assert g.status_code == 200 and sha256(g.content) == d.sha256
    wait_until(lambda: listed() is None, 40, f"{rel} to leave replication-errors")
    p.kill9()
    g = get_file(r, "/" + rel)
    assert g.status_code == 200 and sha256(g.content) == d.sha256


def test_skip_indexes(server_factory, tmp_path):
    p = start_primary(server_factory, tmp_path)
    skipped = p.new_stage()
    r = start_replica(server_factory, tmp_path, p.url,
                      args=["--file-replication-skip-indexes", f" mirror, {skipped.user}/dev ,"])
    other = p.new_stage()
    wait_serial(r, p.serial())
    t0 = time.time()
    a = pb.make_wheel(tmp_path / "a", "skipme", "1.0")
    b = pb.make_wheel(tmp_path / "b", "takeme", "1.0")
    skipped.upload_ok(a)
    other.upload_ok(b)
    wait_serial(r, p.serial())
    wait_files_in_sync(r, t0)
    p.kill9()
    g = get_file(r, other.file_path(b))
    assert g.status_code == 200 and sha256(g.content) == b.sha256
    g = get_file(r, skipped.file_path(a))
    assert g.status_code == 502, (g.status_code, g.text[:200])


def test_read_restricted_index_replicates(server_factory, tmp_path):
    """The primary lets its replicas' signed requests read any file (the
    replica checks its own clients); an unsigned Bearer opens nothing."""
    p = start_primary(server_factory, tmp_path)
    r = start_replica(server_factory, tmp_path, p.url)
    secret = p.new_stage(acl_read=[])
    wait_serial(r, p.serial())
    t0 = time.time()
    b = pb.make_wheel(tmp_path / "b", "private", "1.0")
    secret.upload_ok(b)
    assert get_file(p, secret.file_path(b)).status_code in (401, 403)
    assert get_file(p, secret.file_path(b), auth=secret.auth).status_code == 200
    for h in ({"Authorization": "Bearer 1.abcd", "X-DEVPI-REPLICA-UUID": "x" * 32},
              {"Authorization": "Bearer 1.abcd"}, {"X-DEVPI-REPLICA-UUID": "x" * 32},
              {"Authorization": "Bearer " + "9" * 5000, "X-DEVPI-REPLICA-UUID": "x" * 100}):
        g = requests.get(p.url + secret.file_path(b), timeout=10, proxies={"http": None}, headers=h)
        assert g.status_code in (401, 403), h
    wait_serial(r, p.serial())
    wait_files_in_sync(r, t0)
    p.kill9()
    g = get_file(r, secret.file_path(b), auth=secret.auth)
    assert g.status_code == 200 and sha256(g.content) == b.sha256
    assert get_file(r, secret.file_path(b)).status_code in (401, 403)


def test_mirror_file_on_replica_fetched_through_primary(server_factory, tmp_path, upstream):
    f = upstream.build({"mpkg": {"1.0": {"extra_files": {
        "mpkg/blob.bin": pb.random_bytes(1200 * 1024, seed=9)}}}})[("mpkg", "1.0", "wheel")]
    p = start_primary(server_factory, tmp_path, args=["--root-pypi-url", upstream.simple_url])
    r = start_replica(server_factory, tmp_path, p.url)
    wait_serial(r, p.serial())
    page = get_page(r, "mpkg")
    assert page.status_code == 200, page.text[:300]
    url = html_links(page)[f.filename]["url"]
    assert url == expected_file_url(r, f)
    path = url[len(r.url):]
    status_, hd, body, complete = raw_get(r, path)
    assert status_ == 200 and complete and sha256(body) == f.sha256
    assert upstream.count(f"/files/{f.filename}") == 1
    # the primary cached it and committed the record, which replicates
    wait_serial(r, p.serial())
    j = r.http.get(path, headers=JSON)
    assert j.status_code == 200, j.text
    assert j.json()["result"]["hashes"]["sha256"] == f.sha256
    g = get_file(p, path)
    assert g.status_code == 200 and sha256(g.content) == f.sha256
    assert upstream.count(f"/files/{f.filename}") == 1, "the primary fetched it once, for both"
    # stored on the replica: served with the primary gone
    p.kill9()
    status_, hd, body, complete = raw_get(r, path)
    assert status_ == 200 and complete and sha256(body) == f.sha256
    assert upstream.count(f"/files/{f.filename}") == 1


def test_mirror_file_falls_back_to_upstream_when_primary_is_down(server_factory, tmp_path, upstream):
    f = upstream.build({"fbpkg": {"1.0": {}}})[("fbpkg", "1.0", "wheel")]
    p = start_primary(server_factory, tmp_path, args=["--root-pypi-url", upstream.simple_url])
    r = start_replica(server_factory, tmp_path, p.url)
    wait_serial(r, p.serial())
    page = get_page(r, "fbpkg")
    assert page.status_code == 200, page.text[:300]
    path = html_links(page)[f.filename]["url"][len(r.url):]
    p.kill9()
    status_, hd, body, complete = raw_get(r, path)
    assert status_ == 200 and complete and sha256(body) == f.sha256
    assert upstream.count(f"/files/{f.filename}") == 1
    # stored by sha256: served again without upstream
    upstream.refuse()
    status_, hd, body, complete = raw_get(r, path)
    assert status_ == 200 and complete and sha256(body) == f.sha256
    upstream.refuse(False)


def test_replica_stops_promptly_mid_download(server_factory, tmp_path, fault_proxy_factory):
    p = start_primary(server_factory, tmp_path)
    proxy = fault_proxy_factory(p.port)
    r = start_replica(server_factory, tmp_path, proxy.url, args=["--file-replication-threads", "2"])
    st = p.new_stage()
    wait_serial(r, p.serial())
    proxy.mode = "slow"
    big = [pb.make_wheel(tmp_path / f"w{i}", f"slowpkg{i}", "1.0", extra_files={
        "blob.bin": pb.random_bytes(3 * 1024 * 1024, seed=20 + i)}) for i in range(3)]
    st.upload_ok(*big)
    wait_until(lambda: len(proxy.faulted) >= 2, 30, "two downloads to be under way")
    time.sleep(1.5)                              # a few chunks written
    t0 = time.monotonic()
    assert r.stop() == 0
    assert time.monotonic() - t0 < 5, "the download threads did not stop promptly"
    assert not r.sanitizer_reports()
    # restarted, it downloads them again from the start, and verifies them
    proxy.mode = "pass"
    t1 = time.time()
    r.start()
    wait_files_in_sync(r, t1, timeout=60)
    p.kill9()
    for d in big:
        g = get_file(r, st.file_path(d))
        assert g.status_code == 200 and sha256(g.content) == d.sha256


def test_mirror_files_cached_before_the_replica_started(server_factory, tmp_path, upstream):
    """Mirror files are queued only once the replica has been in sync; then
    one scan finds every file the primary cached before."""
    files = upstream.build({"early": {"1.0": {}, "2.0": {}}})
    p = start_primary(server_factory, tmp_path, args=["--root-pypi-url", upstream.simple_url])
    page = get_page(p, "early")
    assert page.status_code == 200
    paths = []
    for key in (("early", "1.0", "wheel"), ("early", "2.0", "wheel")):
        f = files[key]
        path = html_links(page)[f.filename]["url"][len(p.url):]
        assert get_file(p, path).status_code == 200
        paths.append((path, f))
    t0 = time.time()
    r = start_replica(server_factory, tmp_path, p.url)
    wait_serial(r, p.serial())
    wait_until(lambda: (status(r).get("replica-init-queue-finished-at") or 0) >= t0, 30,
               "the initial queue to be worked off")
    wait_files_in_sync(r, t0)
    n = {f.filename: upstream.count(f"/files/{f.filename}") for _, f in paths}
    assert set(n.values()) == {1}
    p.kill9()
    for path, f in paths:
        status_, hd, body, complete = raw_get(r, path)
        assert status_ == 200 and complete and sha256(body) == f.sha256, (path, status_)
        assert upstream.count(f"/files/{f.filename}") == 1


def test_mirror_wheel_metadata_on_replica(server_factory, tmp_path, upstream):
    """PEP 658 metadata of mirror wheels on a replica comes from the primary
    (which passes it through from upstream, or extracts it from the wheel it
    stored); the replica never writes a record of its own."""
    files = upstream.build({"metapkg": {"1.0": {}, "2.0": {"offer_metadata": False}}})
    offered, extracted = files[("metapkg", "1.0", "wheel")], files[("metapkg", "2.0", "wheel")]
    p = start_primary(server_factory, tmp_path, args=["--root-pypi-url", upstream.simple_url])
    r = start_replica(server_factory, tmp_path, p.url)
    wait_serial(r, p.serial())
    page = get_page(r, "metapkg")
    assert page.status_code == 200, page.text[:300]
    links = html_links(page)
    path1 = links[offered.filename]["url"][len(r.url):]
    path2 = links[extracted.filename]["url"][len(r.url):]
    g = get_file(r, path1 + ".metadata")
    assert g.status_code == 200, g.text[:300]
    assert g.content == offered.metadata
    assert upstream.count(f"/files/{offered.filename}.metadata") == 1
    assert upstream.count(f"/files/{offered.filename}") == 0
    # not offered upstream, and the wheel is stored nowhere yet
    assert get_file(r, path2 + ".metadata").status_code == 404
    status_, hd, body, complete = raw_get(r, path2)
    assert status_ == 200 and complete and sha256(body) == extracted.sha256
    g = get_file(r, path2 + ".metadata")
    assert g.status_code == 200, g.text[:300]
    assert g.content == extracted.metadata
    wait_serial(r, p.serial())
    p.kill9()
    for path, f in ((path1, offered), (path2, extracted)):
        g = get_file(r, path + ".metadata")
        assert g.status_code == 200 and g.content == f.metadata, (path, g.status_code)
    assert upstream.count(f"/files/{offered.filename}.metadata") == 1
    assert upstream.count(f"/files/{extracted.filename}.metadata") == 0
