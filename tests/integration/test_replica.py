"""Replica nodes (issue 7; API.md 8): a primary and replicas on loopback, each
with its own store.  Replicas follow the primary's changelog, serve reads
from their own copy, keep serving when the primary is gone, resume where
they stopped, catch up from a trimmed changelog through /+snapshot, and
refuse to follow another primary."""

import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import lmdb
import pkgbuild as pb
import pytest
import requests
from harness import HOST, Stage, clean_env, parse_simple_html, server_binary

from test_changelog import headers as signed

JSON = {"Accept": "application/json"}


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def secretfile(tmp_path, text="replication secret shared by the nodes " * 2):
    f = tmp_path / "secret"
    if not f.exists():
        f.write_text(text)
    return f


def start_primary(server_factory, tmp_path, args=(), port=None):
    a = ["--role", "primary", "--secretfile", str(secretfile(tmp_path))]
    if port:
        a += ["--port", str(port)]
    return server_factory(args=a + list(args))


def start_replica(server_factory, tmp_path, primary_url, args=(), serverdir=None, start=True):
    return server_factory(args=["--primary-url", primary_url, "--secretfile", str(secretfile(tmp_path)),
                                *args], root_passwd=None, serverdir=serverdir, start=start)


def status(s):
    r = s.http.get("/+status", headers=JSON)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def wait_until(pred, timeout=30.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def link_names(s, stage, project):
    """File names on the simple page of project in stage on node s ([] while
    the page is not there yet)."""
    r = Stage(s, stage.user, stage.password).simple(project)
    return [l["text"] for l in parse_simple_html(r.text)] if r.status_code == 200 else []


def wait_files(r, stage, *dists, timeout=60.0):
    """Until node r holds the files of dists, and the PEP 658 metadata of
    wheels (background file replication, or on-demand fetches)."""
    for d in dists:
        for path in (stage.file_path(d),) + ((stage.file_path(d) + ".metadata",) if d.kind == "wheel" else ()):
            wait_until(lambda: r.http.head(path).status_code == 200, timeout, f"{path} on {r.url}")


def wait_serial(s, serial, timeout=30.0):
    wait_until(lambda: s.serial() >= serial, timeout, f"{s.url} to reach serial {serial}")


def run_cmd(*args, timeout=120):
    return subprocess.run([server_binary(), *map(str, args)], capture_output=True, text=True, env=clean_env(),
                          timeout=timeout)


def export_state(s, out):
    """dataindex.json and the exported files of a node's store (works while it runs)."""
    p = run_cmd("export", "--serverdir", s.serverdir, out)
    assert p.returncode == 0, p.stderr
    data = json.loads((out / "dataindex.json").read_text())
    files = sorted(str(f.relative_to(out)) for f in out.rglob("*") if f.is_file() and f.name != "dataindex.json")
    return data, files


def test_upload_on_primary_shows_on_both_replicas(server_factory, tmp_path):
    p = start_primary(server_factory, tmp_path)
    r1 = start_replica(server_factory, tmp_path, p.url)
    r2 = start_replica(server_factory, tmp_path, p.url)
    wait_serial(r1, p.serial())
    wait_serial(r2, p.serial())
    st = p.new_stage()
    lags = []
    for i in range(5):
        d = pb.make_wheel(tmp_path / f"w{i}", "replpkg", f"1.{i}")
        t0 = time.monotonic()
        st.upload_ok(d)
        for r in (r1, r2):
            wait_until(lambda: d.filename in link_names(r, st, "replpkg"), 10, f"{d.filename} on {r.url}")
        lags.append(time.monotonic() - t0)
    print(f"\nreplication lag, upload answered → visible on both replicas: "
          f"median {sorted(lags)[2] * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms")
    for r in (r1, r2):
        s = status(r)
        assert s["role"] == "REPLICA"
        assert s["primary-url"] == p.url and s["master-url"] == p.url
        assert s["primary-uuid"] == status(p)["uuid"]
        assert s["serial"] == p.serial() and s["primary-serial"] == p.serial()
        assert s["replica-lag-serials"] == 0 and s["replica-lag-seconds"] == 0
        for k in ("primary-contacted-at", "update-from-primary-at", "replica-started-at",
                  "replica-metadata-in-sync-at", "primary-serial-timestamp", "last-commit-timestamp"):
            assert isinstance(s[k], float), (k, s[k])
        assert s["replication-errors"] == {}
        # the replica's copy answers the same JSON views as the primary
        assert r.http.get(f"/{st.user}/dev/replpkg", headers=JSON).json()["result"].keys() == \
            p.http.get(f"/{st.user}/dev/replpkg", headers=JSON).json()["result"].keys()
        # a user's password works on the replica (the record came through the changelog)
        api = r.http.get("/+api", auth=st.auth, headers=JSON).json()["result"]
        assert api["authstatus"][:2] == ["ok", st.user]
        assert r.http.get("/+api", auth=(st.user, "wrong"), headers=JSON).json()["result"]["authstatus"][0] == \
            "noauth"
        # a token the primary minted (login through the replica is forwarded) works on the replica
        login = r.login(st.user, st.password)
        assert login.status_code == 200 and login.headers["X-DEVPI-PROXY"] == "replica", login.text
        tok = login.json()["result"]["password"]
        api = r.http.get("/+api", auth=(st.user, tok), headers=JSON).json()["result"]
        assert api["authstatus"][:2] == ["ok", st.user]
    ps = status(p)
    assert ps["role"] == "MASTER"
    polling = ps["polling_replicas"]
    for r in (r1, r2):
        u = status(r)["uuid"]
        assert u in polling, polling
        assert polling[u]["remote-ip"] == HOST and polling[u]["is-streaming"] is True
        assert polling[u]["serial"] == p.serial()


def test_twine_upload_and_index_change_through_a_replica_reach_every_node(server_factory, tmp_path):
    p = start_primary(server_factory, tmp_path)
    r1 = start_replica(server_factory, tmp_path, p.url)
    r2 = start_replica(server_factory, tmp_path, p.url)
    st = p.new_stage()
    via = Stage(r1, st.user, st.password)
    d = pb.make_wheel(tmp_path / "tw", "twinerepl", "1.0")
    via.twine(d)
    # the uploader reads its own write from the replica it used, at once
    assert link_names(r1, st, "twinerepl") == [d.filename]
    ch = r1.jreq("PATCH", st.path, {"title": "set through a replica"}, auth=st.auth)
    assert ch.status_code == 200 and ch.headers["X-DEVPI-PROXY"] == "replica", ch.text
    assert r1.http.get(st.path, headers=JSON).json()["result"]["title"] == "set through a replica"
    # the primary has both, and so does the other replica once it follows
    assert link_names(p, st, "twinerepl") == [d.filename]
    assert p.http.get(st.path, headers=JSON).json()["result"]["title"] == "set through a replica"
    wait_serial(r2, p.serial())
    assert link_names(r2, st, "twinerepl") == [d.filename]
    assert r2.http.get(st.path, headers=JSON).json()["result"]["title"] == "set through a replica"
    wait_files(r2, st, d)
    assert r2.http.get(st.file_path(d)).content == d.data


def test_replica_applies_entries_identically(server_factory, tmp_path):
    """Same changelog entries byte for byte, same records: index configs,
    users, deletions, a yank."""
    p = start_primary(server_factory, tmp_path)
    r = start_replica(server_factory, tmp_path, p.url)
    st = p.new_stage()
    d1 = pb.make_wheel(tmp_path / "a", "idpkg", "1.0")
    d2 = pb.make_wheel(tmp_path / "a", "idpkg", "2.0")
    st.upload_ok(d1, d2)
    assert p.jreq("PATCH", f"/{st.user}/dev", {"bases": ["root/pypi"]}, auth=st.auth).status_code == 200
    assert p.jreq("PATCH", f"/{st.user}/dev/idpkg/1.0", {"yanked": "broken"}, auth=st.auth).status_code == 200
    assert p.http.delete(f"/{st.user}/dev/idpkg/2.0", auth=st.auth).status_code == 200
    wait_serial(r, p.serial())
    rs = Stage(r, st.user, st.password)
    links = rs.simple_links("idpkg")
    assert [l["text"] for l in links] == [d1.filename]
    assert links[0]["attrs"].get("data-yanked") == "broken"
    assert r.http.get(f"/{st.user}/dev", headers=JSON).json()["result"]["bases"] == ["root/pypi"]
    wait_files(r, st, d1)
    assert export_state(p, tmp_path / "ep")[0] == export_state(r, tmp_path / "er")[0]
    # the replica's changelog is the primary's, entry for entry, byte for byte
    r.stop()
    env = lmdb.open(str(r.serverdir), max_dbs=8, map_size=1 << 30, subdir=True, readonly=True, lock=False)
    with env.begin() as t:
        stored = {int.from_bytes(k, "big"): bytes(v) for k, v in t.cursor(env.open_db(b"changelog", txn=t))}
    env.close()
    assert sorted(stored) == list(range(p.serial() + 1))
    ok = signed(secret=secretfile(tmp_path).read_bytes())
    for n, v in stored.items():
        a = p.http.get(f"/+changelog/{n}", headers=ok)
        assert a.status_code == 200 and a.content + b"\0" == v, n


def test_roles_and_refused_transitions(server_factory, tmp_path):
    sec = secretfile(tmp_path)
    p = start_primary(server_factory, tmp_path)
    # a standalone's (or a primary's) serverdir never becomes a replica
    s = server_factory()
    s.stop()
    out = run_cmd("serve", "--serverdir", s.serverdir, "--port", "0", "--primary-url", p.url, "--secretfile", sec)
    assert out.returncode != 0 and "cannot become a replica" in out.stderr, out.stderr
    # a replica
    r = start_replica(server_factory, tmp_path, p.url)
    wait_serial(r, p.serial())
    assert r.http.get("/+changelog/0-", headers=signed(secret=sec.read_bytes())).json()["message"] == \
        "Replication protocol disabled"
    r.stop()
    # ...is not served as a standalone by accident
    out = run_cmd("serve", "--serverdir", r.serverdir, "--port", "0")
    assert out.returncode != 0 and "is a replica's" in out.stderr and "--primary-url" in out.stderr, out.stderr
    for bad, msg in ((["--primary-url", "http://u:pw@127.0.0.1:1/", "--secretfile", sec], "without credentials"),
                     (["--primary-url", "ftp://127.0.0.1/", "--secretfile", sec], "http(s) URL"),
                     (["--primary-url", p.url], "needs --secretfile"),
                     (["--primary-url", p.url, "--secretfile", sec, "--role", "standalone"], "cannot go with"),
                     (["--role", "replica", "--secretfile", sec], "needs --primary-url")):
        out = run_cmd("serve", "--serverdir", tmp_path / "fresh", "--port", "0", *bad)
        assert out.returncode != 0 and msg in out.stderr, (bad, out.stderr)
    # promotion is explicit: --role primary on a replica's serverdir
    prom = server_factory(args=["--role", "primary", "--secretfile", str(sec)], serverdir=r.serverdir,
                          root_passwd=None)
    assert status(prom)["role"] == "MASTER" and "promoting the replica" in prom.log_text()
    assert prom.serial() >= p.serial()
    # with auto, a former primary runs as a standalone (API.md 8.1)
    prom.stop()
    again = server_factory(serverdir=r.serverdir, root_passwd=None)
    assert again.http.get("/+changelog/0-", headers=signed(secret=sec.read_bytes())).status_code == 403


def test_anonymous_and_unsigned_replication_requests_get_403(server_factory, tmp_path):
    p = start_primary(server_factory, tmp_path)
    for path in ("/+changelog/0-", "/+changelog/0", "/+snapshot"):
        assert p.http.get(path).status_code == 403
        assert p.http.get(path, auth=p.root_auth).status_code == 403
        assert p.http.get(path, headers=signed(secret=b"wrong")).status_code == 403
    ok = signed(secret=secretfile(tmp_path).read_bytes())
    assert p.http.get("/+changelog/0", headers=ok).status_code == 200
    # what a replica says of itself is bounded before /+status shows it
    long = dict(ok, **{"X-DEVPI-REPLICA-OUTSIDE-URL": "http://r.example/" + "x" * 6000})
    assert p.http.get("/+changelog/0", headers=long).status_code == 200
    seen = status(p)["polling_replicas"]
    assert len(seen) == 1 and 0 < len(list(seen.values())[0]["outside-url"]) < 200
    toolong = signed(secret=secretfile(tmp_path).read_bytes(), uuid="u" * 65)
    assert p.http.get("/+changelog/0", headers=toolong).status_code == 403
    # a replica that expects another primary is told so
    h = dict(ok, **{"X-DEVPI-EXPECTED-PRIMARY-ID": "f" * 32})
    r = p.http.get("/+changelog/0-", headers=h)
    assert r.status_code == 409 and status(p)["uuid"] in r.json()["message"]


def test_replica_pointed_at_another_primary_stops_and_says_why(server_factory, tmp_path):
    p1 = start_primary(server_factory, tmp_path)
    r = start_replica(server_factory, tmp_path, p1.url)
    wait_serial(r, p1.serial())
    r.stop()
    p2 = start_primary(server_factory, tmp_path)
    out = run_cmd("serve", "--serverdir", r.serverdir, "--port", "0", "--primary-url", p2.url,
                  "--secretfile", secretfile(tmp_path), timeout=60)
    log = out.stderr
    assert out.returncode != 0
    assert status(p2)["uuid"] in log and status(p1)["uuid"] in log and "stopping" in log, log[-2000:]
    # nothing of the other primary's was applied
    assert r.start().serial() == p1.serial()


def test_kill9_primary_replicas_serve_then_resume_with_no_gap(server_factory, tmp_path):
    port = free_port()
    p = start_primary(server_factory, tmp_path, port=port)
    r1 = start_replica(server_factory, tmp_path, p.url)
    r2 = start_replica(server_factory, tmp_path, p.url)
    st = p.new_stage()
    d = pb.make_wheel(tmp_path / "k", "killpkg", "1.0")
    st.upload_ok(d)
    for r in (r1, r2):
        wait_serial(r, p.serial())
        # the file has come over too (background file replication)
        wait_until(lambda: r.http.head(st.file_path(d)).status_code == 200, 30, "the file on the replica")
    p.kill9()
    for r in (r1, r2):
        rs = Stage(r, st.user, st.password)
        assert [l["text"] for l in rs.simple_links("killpkg")] == [d.filename]
        f = r.http.get(st.file_path(d))
        assert f.status_code == 200 and f.content == d.data
        # writes get a clear error, never a hang
        t0 = time.monotonic()
        w = r.jreq("PUT", "/someone", {"password": "x"})
        assert w.status_code in (502, 503), (w.status_code, w.text)
        assert "primary" in w.text
        assert time.monotonic() - t0 < 20
        assert status(r)["primary-serial"] is not None
    p.start()
    assert p.port == port
    d2 = pb.make_wheel(tmp_path / "k", "killpkg", "2.0")
    st.upload_ok(d2)
    assert p.jreq("PATCH", f"/{st.user}/dev", {"description": "after the restart"}, auth=st.auth).status_code == 200
    for r in (r1, r2):
        wait_serial(r, p.serial(), timeout=60)
        wait_until(lambda: r.http.head(st.file_path(d2)).status_code == 200, 60, "the new file on the replica")
    want = export_state(p, tmp_path / "xp")
    for i, r in enumerate((r1, r2)):
        assert export_state(r, tmp_path / f"xr{i}") == want


def test_kill9_replica_mid_stream_resumes_at_its_own_serial(server_factory, tmp_path):
    p = start_primary(server_factory, tmp_path)
    r = start_replica(server_factory, tmp_path, p.url)
    st = p.new_stage()
    stop = threading.Event()
    errors = []

    def writer():
        i = 0
        s = requests.Session()
        while not stop.is_set():
            i += 1
            resp = s.patch(f"{p.url}/{st.user}/dev", json={"description": f"d{i}"}, auth=st.auth,
                           headers=JSON, timeout=30)
            if resp.status_code != 200:
                errors.append(resp.text)

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_until(lambda: r.serial() > 20, 30, "the replica to follow")
        r.kill9()
        killed_at = max(int(line.rsplit(" ", 1)[1]) for line in r.log_text().splitlines()
                        if "following the changelog" in line)
        time.sleep(0.3)
        r.start()
    finally:
        stop.set()
        t.join(30)
    assert not errors
    wait_serial(r, p.serial(), 60)
    starts = [int(line.rsplit(" ", 1)[1]) for line in r.log_text().splitlines()
              if "following the changelog" in line]
    # it asked from its own next serial: past what it had when killed, not
    # from 0 and not from the primary's current serial
    assert starts[0] > 20 and starts[0] > killed_at, (starts, killed_at)
    assert starts[0] <= p.serial()
    assert export_state(p, tmp_path / "p")[0] == export_state(r, tmp_path / "r")[0]


def make_serials(p, stage, n, workers=8):
    """n more serials on p (index PATCHes from parallel clients)."""
    target = p.serial() + n
    left = [n]
    lock = threading.Lock()

    def work():
        s = requests.Session()
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
                i = left[0]
            while True:
                resp = s.patch(f"{p.url}/{stage.user}/dev", json={"description": f"v{i}"}, auth=stage.auth,
                               headers=JSON, timeout=60)
                if resp.status_code != 409:      # changed concurrently: retry
                    break
            assert resp.status_code == 200, resp.text

    ts = [threading.Thread(target=work) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert p.serial() >= target
    return target


def test_replica_started_after_10000_serials_catches_up(server_factory, tmp_path):
    p = start_primary(server_factory, tmp_path)
    st = p.new_stage()
    t0 = time.monotonic()
    make_serials(p, st, 10000)
    made = time.monotonic() - t0
    t0 = time.monotonic()
    r = start_replica(server_factory, tmp_path, p.url)
    wait_serial(r, p.serial(), timeout=300)
    took = time.monotonic() - t0
    print(f"\n10,000 serials: made on the primary in {made:.1f} s; a new replica caught up "
          f"(start to last serial applied) in {took:.2f} s")
    assert status(r)["replica-lag-serials"] == 0
    assert r.http.get(f"/{st.user}/dev", headers=JSON).json()["result"]["description"] == \
        p.http.get(f"/{st.user}/dev", headers=JSON).json()["result"]["description"]


def test_trimmed_changelog_full_sync_from_snapshot(server_factory, tmp_path):
    p = start_primary(server_factory, tmp_path, args=["--changelog-keep", "5"])
    st = p.new_stage()
    d = pb.make_wheel(tmp_path / "t", "trimpkg", "1.0")
    st.upload_ok(d)
    make_serials(p, st, 30, workers=2)
    ok = signed(secret=secretfile(tmp_path).read_bytes())
    wait_until(lambda: p.http.get("/+changelog/0", headers=ok).status_code == 410, 20, "the trim")
    gone = p.http.get("/+changelog/0-", headers=ok)
    assert "/+snapshot" in gone.json()["message"]
    assert p.http.get(f"/+changelog/{p.serial() - 2}", headers=ok).status_code == 200
    snap = p.http.get("/+snapshot", headers=ok)
    lines = [json.loads(x) for x in snap.text.splitlines()]
    assert lines[0] == {"serial": p.serial()} and lines[-1] == {"end": True, "count": len(lines) - 2}
    assert any(x.get("key") == f"user/{st.user}" for x in lines[1:-1])
    r = start_replica(server_factory, tmp_path, p.url)
    wait_serial(r, p.serial())
    assert "full sync from /+snapshot" in r.log_text()
    # and it streams normally from there on
    d2 = pb.make_wheel(tmp_path / "t", "trimpkg", "2.0")
    st.upload_ok(d2)
    wait_serial(r, p.serial())
    rs = Stage(r, st.user, st.password)
    assert sorted(l["text"] for l in rs.simple_links("trimpkg")) == sorted([d.filename, d2.filename])
    wait_files(r, st, d, d2)
    assert export_state(p, tmp_path / "p")[0] == export_state(r, tmp_path / "r")[0]
    r.stop()
    f = run_cmd("fsck", "--serverdir", r.serverdir)
    assert f.returncode == 0, f.stdout + f.stderr


# ---- a fake primary sending hostile streams --------------------------------

class FakePrimary:
    """Serves /+changelog/<n>- from a list of lines, with a fixed uuid."""

    def __init__(self, uuid="a" * 32):
        self.uuid = uuid
        self.lines = []
        self.gone = False            # /+changelog answers 410: the replica asks /+snapshot
        self.snapshot = b""
        self.requests = []
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                fake.requests.append(self.path)
                if self.path == "/+snapshot":
                    body = fake.snapshot
                elif self.path.startswith("/+changelog/") and fake.gone:
                    self.send_response(410)
                    self.send_header("X-DEVPI-UUID", fake.uuid)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                elif self.path.startswith("/+changelog/"):
                    body = b"".join(l if isinstance(l, bytes) else (json.dumps(l) + "\n").encode()
                                    for l in fake.lines)
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("X-DEVPI-UUID", fake.uuid)
                self.send_header("X-DEVPI-SERIAL", "100")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((HOST, 0), H)
        self.url = f"http://{HOST}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture
def fake_primary():
    f = FakePrimary()
    yield f
    f.close()


def entry(n, changes):
    return {"serial": n, "time": 1700000000.0 + n, "changes": changes}


def test_hostile_changelog_streams_never_apply_out_of_order(server_factory, tmp_path, fake_primary):
    user = {"username": "eve", "pwhash": "x", "created": "2024-01-01T00:00:00Z"}
    fake_primary.lines = [entry(0, {"user/eve": user}),
                          entry(2, {"user/mallory": user})]           # a gap: serial 1 missing
    r = start_replica(server_factory, tmp_path, fake_primary.url)
    wait_until(lambda: "serial 2 where 1 was due" in json.dumps(status(r)["replication-errors"]), 20,
               "the gap to be reported")
    assert r.serial() == 0
    assert r.http.get("/mallory", headers=JSON).status_code == 404
    # it retried with backoff, each time from its own next serial
    wait_until(lambda: fake_primary.requests.count("/+changelog/1-") >= 2, 20, "a retry from serial 1")
    assert "/+changelog/0-" in fake_primary.requests[:1]
    # malformed lines, wrong types, an oversized key: nothing applied
    for bad, why in ((b"{not json\n", "malformed changelog line"),
                     (b'{"serial": 1, "changes": []}\n', "malformed changelog line"),
                     (b'{"serial": "1", "changes": {}}\n', "malformed changelog line"),
                     ((json.dumps(entry(1, {"k" * 600: 1})) + "\n").encode(), "malformed changelog line"),
                     ((json.dumps(entry(1, {"user/x": None, "": 1})) + "\n").encode(), "malformed changelog line"),
                     (b"x" * (65 << 20) + b"\n", "line over")):
        fake_primary.lines = [bad]
        wait_until(lambda: why in json.dumps(status(r)["replication-errors"]), 40, why)
        assert r.serial() == 0 and r.alive()
        # a clean round in between resets the backoff
        fake_primary.lines = []
        wait_until(lambda: status(r)["replication-errors"] == {}, 40, "a clean round")
    assert r.rss_kb() < 400 * 1024
    # then a good entry goes in
    fake_primary.lines = [entry(1, {"user/bob": user})]
    wait_serial(r, 1, 40)
    assert r.http.get("/bob", headers=JSON).status_code == 200
    # the primary changes identity: the replica stops
    fake_primary.uuid = "b" * 32
    wait_until(lambda: not r.alive(), 60, "the replica to stop")
    r.expected_exit = True
    assert r.proc.returncode != 0 and "b" * 32 in r.log_text()


def snapshot_body(serial, records, count=None, end=True):
    lines = [{"serial": serial}] + [{"key": k, "value": v} for k, v in records]
    if end:
        lines.append({"end": True, "count": len(records) if count is None else count})
    return b"".join((json.dumps(l) + "\n").encode() for l in lines)


def test_hostile_snapshots_never_replace_the_records(server_factory, tmp_path, fake_primary):
    user = {"username": "eve", "pwhash": "x", "created": "2024-01-01T00:00:00Z"}
    fake_primary.lines = [entry(0, {"user/eve": user}), entry(1, {"user/bob": user})]
    r = start_replica(server_factory, tmp_path, fake_primary.url)
    wait_serial(r, 1)
    fake_primary.gone = True
    good = [("user/zed", user), ("index/zed/dev", {"type": "stage", "bases": []})]
    for body, why in ((snapshot_body(40, good, end=False), "incomplete (no end line)"),
                      (snapshot_body(40, good, count=5), "count does not match"),
                      (snapshot_body(40, good)[:-30], "malformed snapshot line"),
                      (b'{"key": "user/x", "value": {}}\n', "does not start with its serial"),
                      (snapshot_body(40, good).replace(b'"user/zed"', b'""'), "malformed snapshot line"),
                      (snapshot_body(40, [("user/x", None)]), "malformed snapshot line"),
                      (snapshot_body(0, good), "older than this replica's"),
                      (b"{" * 100000 + b"\n", "does not start with its serial")):
        fake_primary.snapshot = body
        wait_until(lambda: why in json.dumps(status(r)["replication-errors"]), 60, why)
        # nothing replaced: the old records and serial stand
        assert r.serial() == 1
        assert r.http.get("/bob", headers=JSON).status_code == 200
        assert r.http.get("/zed", headers=JSON).status_code == 404
        # a clean round resets the backoff
        fake_primary.gone = False
        fake_primary.lines = []
        wait_until(lambda: status(r)["replication-errors"] == {}, 40, "a clean round")
        fake_primary.gone = True
    assert not list(r.serverdir.glob("replica-snapshot.tmp"))
    fake_primary.snapshot = snapshot_body(40, good)
    wait_serial(r, 40, 60)
    assert r.http.get("/zed", headers=JSON).status_code == 200
    assert r.http.get("/bob", headers=JSON).status_code == 404      # replaced, not merged
    # and the stream goes on after the snapshot's serial
    fake_primary.gone = False
    fake_primary.lines = [entry(41, {"user/bob": user})]
    wait_serial(r, 41, 60)
    assert r.http.get("/bob", headers=JSON).status_code == 200
    assert "/+changelog/41-" in fake_primary.requests


def test_snapshot_bigger_than_the_map_is_refused_while_downloading(server_factory, tmp_path, fake_primary):
    fake_primary.gone = True
    fake_primary.snapshot = snapshot_body(5, [(f"user/u{i}", {"pad": "x" * 100000}) for i in range(100)])
    r = start_replica(server_factory, tmp_path, fake_primary.url, args=["--map-size", "4M"])
    wait_until(lambda: "larger than --map-size" in json.dumps(status(r)["replication-errors"]), 30,
               "the size bound")
    assert r.serial() == -1 and r.alive()
    assert not list(r.serverdir.glob("replica-snapshot.tmp"))
