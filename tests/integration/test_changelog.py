"""The primary's changelog for replicas (issue 7 groundwork; API.md 8.1-8.3):
only a --role primary serves it, only to requests signed with the shared
--secretfile; the stream sends every entry from N on, then new commits as
they land."""

import hashlib
import hmac
import json
import socket
import threading
import time

import pkgbuild as pb
from harness import HOST

SECRET = b"shared replication secret\n"
UUID = "0123456789abcdef0123456789abcdef"


def token(secret=SECRET, uuid=UUID, ts=None):
    ts = int(time.time()) if ts is None else ts
    key = hashlib.sha256(secret).digest()
    mac = hmac.new(key, f"replica:{uuid}:{ts}".encode(), hashlib.sha256).hexdigest()
    return f"Bearer {ts}.{mac}"


def headers(**kw):
    return {"Authorization": token(**kw), "X-DEVPI-REPLICA-UUID": kw.get("uuid", UUID)}


def primary(server_factory, tmp_path):
    f = tmp_path / "secret"
    f.write_bytes(SECRET)
    return server_factory(args=["--role", "primary", "--secretfile", str(f)])


def test_changelog_needs_a_primary_and_a_signed_replica(server_factory, tmp_path):
    s = server_factory()
    r = s.http.get("/+changelog/0-", headers=headers())
    assert r.status_code == 403 and r.json()["message"] == "Replication protocol disabled"
    p = primary(server_factory, tmp_path)
    for h in ({}, {"X-DEVPI-REPLICA-UUID": UUID}, headers(secret=b"other"), headers(ts=int(time.time()) - 120),
              headers(ts=int(time.time()) + 3600), {"Authorization": token(), "X-DEVPI-REPLICA-UUID": "x" * 32},
              {"Authorization": "Bearer garbage", "X-DEVPI-REPLICA-UUID": UUID}):
        r = p.http.get("/+changelog/0-", headers=h)
        assert r.status_code == 403, (h, r.status_code)
    # Basic credentials, even root's, are not a replica identity
    assert p.http.get("/+changelog/0-", auth=p.root_auth).status_code == 403


def test_primary_needs_a_secretfile(tmp_path):
    import subprocess
    from harness import clean_env, server_binary
    for args, msg in ((["--role", "primary"], "needs --secretfile"), (["--role", "boss"], "--role must be")):
        p = subprocess.run([server_binary(), "serve", "--serverdir", str(tmp_path / "d"), "--port", "0",
                            "--root-passwd", "x", *args], capture_output=True, text=True, env=clean_env(),
                           timeout=60)
        assert p.returncode != 0 and msg in p.stderr, p.stderr


def read_lines(sock_file, n, timeout=10):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        line = sock_file.readline()
        if not line:
            break
        out.append(json.loads(line))
    return out


def test_stream_sends_history_then_new_commits(server_factory, tmp_path, pkgdir):
    p = primary(server_factory, tmp_path)
    st = p.new_stage()
    current = p.serial()
    r = p.http.get(f"/+changelog/{current + 5}-", headers=headers())
    assert r.status_code == 404 and r.json()["message"] == "can only wait for next serial"
    for bad in ("x-", "-1-", "1x", "1--", "0x10-", "1" * 25 + "-", "9" * 19 + "-", "%00-"):
        r = p.http.get(f"/+changelog/{bad}", headers=headers())
        assert r.status_code == 400, (bad, r.status_code)
    r = p.http.get("/+changelog/123456789-", headers=headers())
    assert r.status_code == 404, "a serial beyond the next one"
    s = socket.create_connection((HOST, p.port), timeout=15)
    h = "".join(f"{k}: {v}\r\n" for k, v in headers().items())
    s.sendall(f"GET /+changelog/0- HTTP/1.1\r\nHost: x\r\n{h}\r\n".encode())
    f = s.makefile("rb")
    status = f.readline()
    assert b" 200 " in status, status
    head = {}
    while True:
        line = f.readline().strip()
        if not line:
            break
        k, _, v = line.decode().partition(":")
        head[k.lower()] = v.strip()
    assert head["content-type"] == "application/x-ndjson"
    assert int(head["x-devpi-serial"]) == current
    history = read_lines(f, current + 1)
    assert [e["serial"] for e in history] == list(range(current + 1))
    assert any(k == f"user/{st.user}" for e in history for k in e["changes"])
    assert all("pwhash" in e["changes"][k] for e in history for k in e["changes"] if k.startswith("user/")
               and e["changes"][k])
    # a new commit arrives on the open stream
    t0 = time.monotonic()
    st.upload_ok(pb.make_sdist(pkgdir, "streamed", "1.0"))
    new = []
    while not new:
        e = read_lines(f, 1, timeout=10)[0]
        if e.get("serial") is not None:
            new.append(e)
    lag = time.monotonic() - t0
    assert new and new[0]["serial"] == current + 1, new
    assert any(k.startswith(f"ver/{st.name}/streamed/") for k in new[0]["changes"]), new[0]
    assert lag < 5, f"the new serial took {lag:.2f} s to arrive"
    s.close()
    assert p.alive()


def test_single_entry_and_waiting_for_the_next(server_factory, tmp_path, pkgdir):
    p = primary(server_factory, tmp_path)
    st = p.new_stage()
    current = p.serial()
    r = p.http.get(f"/+changelog/{current}", headers=headers())
    assert r.status_code == 200 and r.json()["serial"] == current
    got = {}

    def wait_next():
        got["r"] = p.http.get(f"/+changelog/{current + 1}", headers=headers(), timeout=40)

    t = threading.Thread(target=wait_next)
    t.start()
    time.sleep(0.5)
    st.upload_ok(pb.make_sdist(pkgdir, "waited", "1.0"))
    t.join(40)
    assert got["r"].status_code == 200 and got["r"].json()["serial"] == current + 1
