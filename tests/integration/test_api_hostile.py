"""Hostile input to the devpi API (issue 5): malformed and huge JSON, wrong
types, unknown keys, bases cycles, names with traversal or control
characters, unknown methods.  Each gets a clear 4xx, the server stays up,
its memory stays bounded and nothing changes in the store."""

import time

import pytest

from harness import connect, json_message, read_response

MB = 1 << 20


@pytest.fixture
def st(server):
    return server.new_stage()


def routes(st):
    """(method, path) of every JSON-body route of the API."""
    return [("PUT", "/hostileuser"), ("PATCH", f"/{st.user}"), ("PUT", f"/{st.user}/other"),
            ("PATCH", st.path), ("POST", st.path), ("PATCH", f"{st.path}/p/1.0"),
            ("POST", "/+login")]


def test_huge_json_bodies_413(server, st):
    rss0 = server.rss_kb()
    big = b"[" + b"\"x\"," * (2 * MB // 4) + b"\"x\"]"
    for method, path in routes(st):
        r = server.jreq(method, path, raw_body=big, auth=st.auth)
        assert r.status_code == 413, (method, path, r.status_code, r.text[:200])
    assert server.rss_kb() - rss0 < 64 * 1024


@pytest.mark.parametrize("raw", [b"", b"{", b"{\"a\":", b"\xff\xfe", b"[" * 100000, b"{\"a\":" * 50000,
                                 b"nul\x00l", b"1e999999", b"\"\\ud800\""])
def test_malformed_json_400(server, st, raw):
    t0 = time.monotonic()
    for method, path in routes(st):
        r = server.jreq(method, path, raw_body=raw, auth=st.auth)
        assert 400 <= r.status_code < 500, (method, path, raw[:20], r.status_code)
        assert r.status_code != 500
    assert time.monotonic() - t0 < 30
    assert server.alive()


@pytest.mark.parametrize("body", [
    {"bases": 5}, {"bases": {"a": 1}}, {"volatile": "perhaps"}, {"acl_upload": 7},
    {"acl_read": {"x": 1}}, {"mirror_whitelist": [1, 2]}, {"type": "nosuchtype"},
    {"mirror_whitelist_inheritance": "both"}, {"unknown_key": 1},
])
def test_index_wrong_types_400(server, st, body):
    before = st.config()
    r = server.jreq("PATCH", st.path, body, auth=st.auth)
    assert r.status_code == 400, (body, r.status_code, r.text)
    assert json_message(r)
    r = server.jreq("PUT", f"/{st.user}/x{abs(hash(str(body))) % 10000}", body, auth=st.auth)
    assert r.status_code == 400, (body, r.status_code, r.text)
    assert st.config() == before


@pytest.mark.parametrize("body", [{"password": 5}, {"password": ["a"]}, {"email": "x", "bogus": 1},
                                  {"password": None}, {}])
def test_user_wrong_types_400(server, body):
    r = server.jreq("PUT", "/typeuser", body, auth=server.root_auth)
    assert r.status_code == 400, (body, r.status_code, r.text)
    assert server.jreq("GET", "/typeuser").status_code == 404


def test_bases_cycles_refused(server):
    a = server.new_stage("a")
    b = server.new_stage("b", bases=[a.name])
    r = server.jreq("PATCH", a.path, [f"bases={b.name}"], auth=a.auth)
    assert r.status_code == 400, r.text
    r = server.jreq("PATCH", a.path, [f"bases={a.name}"], auth=a.auth)
    assert r.status_code == 400, r.text
    assert a.config()["bases"] == []


@pytest.mark.parametrize("path", ["/%2e%2e", "/a%2fb", "/a%00b", "/ab%0acd", "/a%0d%0aX-Evil:%201",
                                  "/alice/%2e%2e", "/alice/ind%00ex", "/alice/dev/%2e%2e/x",
                                  "/%C0%AE%C0%AE", "/" + "u" * 300])
def test_bad_names(server, path):
    for method in ("PUT", "PATCH", "DELETE", "GET"):
        r = server.jreq(method, path, {} if method in ("PUT", "PATCH") else None, auth=server.root_auth)
        assert r.status_code in (400, 404, 405, 414), (method, path, r.status_code)
        assert "X-Evil" not in r.headers
    assert server.jreq("GET", "/").status_code == 200


@pytest.mark.parametrize("method", ["BREW", "TRACE", "CONNECT", "PROPFIND", "GETX", "get"])
def test_unknown_methods_on_api_routes(server, st, method):
    for path in ("/", f"/{st.user}", st.path, f"{st.path}/p", f"{st.path}/p/1.0", "/+login", "/+authcheck"):
        s = connect(server)
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        resp = read_response(s.makefile("rb"))
        s.close()
        assert resp.status in (400, 405, 501), (method, path, resp.status)
