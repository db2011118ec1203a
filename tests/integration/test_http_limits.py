"""The HTTP/1.1 layer under abuse (DESIGN.md 1 "The HTTP layer", 6): bounded
request line and headers, ambiguous framing, slow clients, odd methods,
pipelining. Raw sockets throughout."""

import json
import threading
import time

import pytest

from harness import (connect, http_head_block, raw_exchange, read_response, wait_closed)

API = [("Host", "127.0.0.1"), ("Accept", "application/json")]


def still_serving(server):
    r = server.http.get("/+api", headers={"Accept": "application/json"}, timeout=5)
    assert r.status_code == 200


def test_request_line_too_long_414(server):
    path = "/" + "a" * 9000
    resp = raw_exchange(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert resp.status == 414, resp
    still_serving(server)


def test_headers_too_big_431(server):
    headers = API + [(f"X-Pad-{i}", "v" * 4000) for i in range(10)]   # ~40 KiB
    resp = raw_exchange(server, http_head_block("GET", "/+api", headers))
    assert resp.status == 431, resp
    still_serving(server)


def test_too_many_header_fields_431(server):
    headers = API + [(f"X-H{i}", "1") for i in range(101)]
    resp = raw_exchange(server, http_head_block("GET", "/+api", headers))
    assert resp.status == 431, resp
    # a request with a normal number of headers is fine
    resp = raw_exchange(server, http_head_block("GET", "/+api", API + [(f"X-H{i}", "1")
                                                                     for i in range(20)]))
    assert resp.status == 200


def test_conflicting_content_length_400(server):
    data = (b"POST /+login HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
            b"Content-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"
            b"{}{}{}{")
    resp = raw_exchange(server, data)
    assert resp.status == 400, resp
    still_serving(server)


@pytest.mark.parametrize("cl", ["+5", "-1", "5x", "0x5", "99999999999999999999999"])
def test_malformed_content_length_400(server, cl):
    data = (f"POST /+login HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\n{{}}{{}}{{").encode()
    resp = raw_exchange(server, data)
    assert resp.status in (400, 413), resp
    still_serving(server)


def test_content_length_with_chunked_400(server):
    data = (b"POST /+login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    resp = raw_exchange(server, data)
    assert resp.status == 400, resp
    still_serving(server)


@pytest.mark.slow
def test_stalled_headers_dropped_while_others_served(server_factory):
    srv = server_factory(args=["--header-timeout", "2"])
    stalled = connect(srv, timeout=30)
    trickle = connect(srv, timeout=30)
    try:
        stalled.sendall(b"GET /+api HTTP/1.1\r\nHost: x\r\n")   # half the headers, then nothing
        trickle.sendall(b"GET /+api HTTP/1.1\r\n")
        t0 = time.monotonic()
        stop = threading.Event()

        def drip():  # one byte every 0.3 s: a deadline that resets per byte never fires
            try:
                while not stop.is_set():
                    trickle.send(b"X")
                    time.sleep(0.3)
            except OSError:
                pass
        t = threading.Thread(target=drip, daemon=True)
        t.start()
        # another client is served meanwhile, promptly
        for _ in range(5):
            t1 = time.monotonic()
            still_serving(srv)
            assert time.monotonic() - t1 < 1.0
        waited = wait_closed(stalled, timeout=10)
        assert waited is not None, "stalled connection still open after 10 s"
        total = time.monotonic() - t0
        assert 1.5 <= total <= 8, f"dropped after {total:.1f}s with --header-timeout 2"
        waited2 = wait_closed(trickle, timeout=10)
        stop.set()
        assert waited2 is not None, "trickling client never dropped (deadline resets per byte?)"
        assert time.monotonic() - t0 <= 9
        still_serving(srv)
    finally:
        stalled.close()
        trickle.close()


@pytest.mark.parametrize("method", ["BREW", "PROPFIND", "FOO-BAR"])
def test_unknown_method(server, method):
    with connect(server) as s, s.makefile("rb") as f:
        s.sendall(http_head_block(method, "/", [("Host", "x")]))
        resp = read_response(f)
        assert resp.status in (405, 501), resp
    still_serving(server)


def test_invalid_method_token_400(server):
    resp = raw_exchange(server, b"GE(T / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status in (400, 405, 501), resp
    still_serving(server)


def test_garbage_request_line(server):
    for data in (b"\x00\x01\x02\r\n\r\n", b"HELLO\r\n\r\n", b"GET /+api HTTP/9.9\r\n\r\n",
                 b"GET  /+api  HTTP/1.1\r\n\r\n"):
        try:
            resp = raw_exchange(server, data, timeout=5)
            assert 400 <= resp.status < 600 and resp.status != 500, (data, resp)
        except EOFError:
            pass        # closing the connection is also acceptable
    still_serving(server)


def test_pipelined_requests_in_order(server):
    users = [server.create_user()[0] for _ in range(5)]
    reqs = b"".join(http_head_block("GET", f"/{users[i % 5]}", API) for i in range(200))
    with connect(server, timeout=30) as s, s.makefile("rb") as f:
        s.sendall(reqs)
        for i in range(200):
            resp = read_response(f)
            assert resp.status == 200, (i, resp)
            assert json.loads(resp.body)["result"]["username"] == users[i % 5], f"answer {i} out of order"


def test_keepalive_and_connection_close(server):
    with connect(server) as s, s.makefile("rb") as f:
        for _ in range(3):
            s.sendall(http_head_block("GET", "/+api", API))
            assert read_response(f).status == 200
        s.sendall(http_head_block("GET", "/+api", API + [("Connection", "close")]))
        assert read_response(f).status == 200
        assert wait_closed(s, timeout=5) is not None, "Connection: close not honoured"


def test_http10_request(server):
    resp = raw_exchange(server, b"GET /+api HTTP/1.0\r\nAccept: application/json\r\n\r\n")
    assert resp.status == 200 and b"apiconfig" in resp.body


def test_missing_host_header(server):
    resp = raw_exchange(server, b"GET /+api HTTP/1.1\r\nAccept: application/json\r\n\r\n")
    assert resp.status in (200, 400), resp
