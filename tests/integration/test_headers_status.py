"""devpi headers on every response and /+status (API.md 0.3, 0.4, 8.7, A)."""

import pkgbuild as pb
from harness import UUID_RE, assert_devpi_headers, http_head_block, raw_exchange


def test_headers_on_all_kinds_of_responses(server, stage, pkgdir):
    http = server.http
    uuids = set()
    cases = {
        "200 api": http.get("/+api", headers={"Accept": "application/json"}),
        "200 root list": http.get("/", headers={"Accept": "application/json"}),
        "404 user": http.get("/nosuchuser", headers={"Accept": "application/json"}),
        "404 simple": stage.simple("nothing-here"),
        "400 user name": server.jreq("PUT", "/a%20b", {"password": "x"}, auth=server.root_auth),
        "401 login": server.login("root", "wrong"),
        "409 index": server.jreq("PUT", stage.path, {}, auth=stage.auth),
        "403 index": server.jreq("PUT", f"/{stage.user}/x", {}),
    }
    whl = pb.make_wheel(pkgdir, "hdrpkg", "1.0")
    cases["200 upload"] = stage.upload(whl)
    cases["401 upload"] = stage.upload(whl, auth=None)
    cases["400 upload"] = stage.upload(whl, action="x")
    cases["200 file"] = http.get(stage.file_path(whl))
    cases["404 file"] = http.get(stage.path + "/+f/abc/def/nothing-1.0.tar.gz")
    page = stage.simple("hdrpkg")
    cases["200 simple"] = page
    cases["304 simple"] = stage.simple("hdrpkg", headers={"If-None-Match": page.headers.get("ETag", '"x"')})
    cases["302 simple"] = stage.simple("HdrPkg")
    for what, r in cases.items():
        assert str(r.status_code) == what.split()[0], f"{what}: got {r.status_code} {r.text[:200]}"
        assert_devpi_headers(r.headers, what)
        uuids.add(r.headers["X-DEVPI-UUID"])
    assert len(uuids) == 1


def test_headers_on_raw_requests(server):
    for data in (http_head_block("GET", "/+api", [("Host", "x")]),
                 http_head_block("HEAD", "/+api", [("Host", "x")]),
                 http_head_block("DELETE", "/nosuchuser", [("Host", "x")])):
        method = data.split(b" ", 1)[0].decode()
        resp = raw_exchange(server, data, method=method)
        assert_devpi_headers(resp.headers, f"{method} -> {resp.status}")


def test_serial_increases_after_write(server):
    s0 = server.serial()
    r = server.jreq("PUT", f"/{server.unique('ser')}", {"password": "x"}, auth=server.root_auth)
    assert r.status_code == 201
    s1 = int(r.headers["X-DEVPI-SERIAL"])
    assert s1 > s0, "a write must report its commit serial"
    assert server.serial() >= s1
    # a failed write does not advance the serial
    r = server.jreq("PUT", "/a%20b", {"password": "x"}, auth=server.root_auth)
    assert r.status_code == 400
    assert server.serial() == s1
    r = server.jreq("PUT", f"/{server.unique('ser')}", {"password": "x"}, auth=server.root_auth)
    assert int(r.headers["X-DEVPI-SERIAL"]) == s1 + 1


def test_status(server):
    r = server.jreq("GET", "/+status")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "status"
    res = body["result"]
    assert res["role"] == "MASTER"
    assert UUID_RE.match(res["uuid"])
    assert res["uuid"] == r.headers["X-DEVPI-UUID"]
    assert isinstance(res["serial"], int)
    assert res["serial"] == int(r.headers["X-DEVPI-SERIAL"])
    assert res["serial"] == server.serial()


def test_health(server):
    r = server.http.get("/+health")
    assert r.status_code == 200
    assert r.text.strip() == "ok"


def test_uuid_stable_across_restart(server_factory):
    srv = server_factory()
    u1 = srv.http.get("/+api").headers["X-DEVPI-UUID"]
    srv.restart()
    assert srv.http.get("/+api").headers["X-DEVPI-UUID"] == u1
