"""One upstream request however many clients ask at once (issue 3; API.md 12):
expired and never-fetched pages are fetched once; concurrent first downloads
of one file share one upstream download and every client gets the right
bytes; a bad upstream body aborts every waiting client."""

import threading
import time

import requests

import pkgbuild as pb
from fake_upstream import (PIP_UA, expected_file_url, get_page, html_links, raw_get, sha256,
                           wait_until)


def run_concurrently(n, fn, stagger=0.0):
    """Run fn(i) in n threads released together (optionally staggered by
    `stagger` seconds each). Returns the results (or exceptions) in order."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def body(i):
        try:
            barrier.wait(30)
            if stagger:
                time.sleep(i * stagger)
            out[i] = fn(i)
        except Exception as e:  # reported by the caller
            out[i] = e
    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    return out


def fetch_page(server, project):
    def fn(_i):
        r = get_page(server, project, timeout=60)
        return r.status_code, set(html_links(r))
    return fn


def test_expired_page_refreshed_once(upstream, mirror_factory):
    t = upstream.build({"hot": {"1.0": {}}})
    fn = t[("hot", "1.0", "wheel")].filename
    s = mirror_factory(expiry=1, request_timeout=10)
    assert get_page(s, "hot").status_code == 200
    assert upstream.count("/simple/hot/") == 1
    time.sleep(1.3)
    upstream.fault("/simple/hot/", "delay", seconds=1.0)
    res = run_concurrently(20, fetch_page(s, "hot"))
    for r in res:
        assert not isinstance(r, Exception), r
        assert r == (200, {fn}), r
    time.sleep(1.5)     # let any refresh still in flight land
    assert upstream.count("/simple/hot/") == 2, \
        f"20 concurrent requests after expiry made {upstream.count('/simple/hot/') - 1} upstream requests"


def test_first_page_fetch_coalesced(upstream, mirror_server):
    t = upstream.build({"cold": {"1.0": {}}})
    fn = t[("cold", "1.0", "wheel")].filename
    s = mirror_server
    upstream.fault("/simple/cold/", "delay", seconds=1.0)
    res = run_concurrently(20, fetch_page(s, "cold"))
    for r in res:
        assert not isinstance(r, Exception), r
        assert r == (200, {fn}), r
    time.sleep(0.5)
    assert upstream.count("/simple/cold/") == 1, upstream.count("/simple/cold/")
    assert upstream.count("/simple/") <= 1, "the project list is fetched once too"


def _big_wheel_tree(upstream, name="shared", size=1 << 20):
    return upstream.build({name: {"1.0": {"extra_files": {
        f"{name}/blob.bin": pb.random_bytes(size, seed=3)}}}})[(name, "1.0", "wheel")]


def _download(url):
    def fn(_i):
        with requests.get(url, headers={"User-Agent": PIP_UA}, timeout=60,
                          proxies={"http": None}) as r:
            return r.status_code, sha256(r.content), len(r.content)
    return fn


def test_50_concurrent_downloads_one_upstream_request(upstream, mirror_server):
    s = mirror_server
    f = _big_wheel_tree(upstream)
    links = html_links(get_page(s, "shared"))
    url = links[f.filename]["url"]
    assert url == expected_file_url(s, f)
    upstream.fault(f"/files/{f.filename}", "delay", seconds=1.0)
    res = run_concurrently(50, _download(url))
    bad = [r for r in res if r != (200, f.sha256, f.size)]
    assert not bad, f"{len(bad)} of 50 clients got the wrong result, e.g. {bad[:3]}"
    assert upstream.count(f"/files/{f.filename}") == 1, \
        f"{upstream.count(f'/files/{f.filename}')} upstream requests for one file"
    upstream.clear()
    r = s.http.get(url)
    assert r.status_code == 200 and sha256(r.content) == f.sha256
    assert upstream.count(f"/files/{f.filename}") == 1


def test_clients_joining_a_running_download(upstream, mirror_server):
    """The upstream body arrives over ~2 s; clients arrive during it and all
    get the whole file from the one download."""
    s = mirror_server
    f = _big_wheel_tree(upstream, "joiner")
    url = html_links(get_page(s, "joiner"))[f.filename]["url"]
    upstream.fault(f"/files/{f.filename}", "slow_body", rate=f.size / 2.0, chunk=16384)
    res = run_concurrently(20, _download(url), stagger=0.08)
    bad = [r for r in res if r != (200, f.sha256, f.size)]
    assert not bad, f"{len(bad)} of 20 clients got the wrong result, e.g. {bad[:3]}"
    assert upstream.count(f"/files/{f.filename}") == 1


def test_wrong_hash_aborts_every_waiting_client(upstream, mirror_server):
    """The bad body arrives over ~2 s and clients join while it streams: none
    of them gets a complete response (the last bytes are held until the hash
    is known, or the connection is cut)."""
    s = mirror_server
    f = _big_wheel_tree(upstream, "poisoned", size=2 << 20)
    url = html_links(get_page(s, "poisoned"))[f.filename]["url"]
    path = url[len(s.url):]
    upstream.fault(f"/files/{f.filename}", "wrong_hash", throttle=f.size / 2.0)

    def fn(_i):
        return raw_get(s, path, timeout=30)
    res = run_concurrently(10, fn, stagger=0.15)
    for r in res:
        assert not isinstance(r, Exception), r
        status, _h, body, complete = r
        assert status != 200 or not complete, \
            "a client got a complete 200 response with bytes that fail the hash"
    n = upstream.count(f"/files/{f.filename}")
    assert n >= 1
    upstream.clear()
    r = s.http.get(url)
    assert r.status_code == 200 and sha256(r.content) == f.sha256, "nothing bad was stored"
    assert upstream.count(f"/files/{f.filename}") == n + 1
    assert s.alive()


def test_parallel_pages_of_different_projects(upstream, mirror_server):
    """Many projects fetched at once (and their upstream answers slow) all come
    back right: the per-project coalescing does not serialize everything."""
    s = mirror_server
    names = [f"par{i}" for i in range(12)]
    tree = {n: {"1.0": {}} for n in names}
    t = upstream.build(tree)
    upstream.fault("/simple/par*/", "delay", seconds=1.0)
    t0 = time.monotonic()
    res = run_concurrently(len(names), lambda i: fetch_page(s, names[i])(i))
    took = time.monotonic() - t0
    for i, r in enumerate(res):
        assert r == (200, {t[(names[i], "1.0", "wheel")].filename}), (names[i], r)
    assert took < 8, f"12 independent 1 s upstream pages took {took:.1f}s"
    for n in names:
        assert upstream.count(f"/simple/{n}/") == 1
    wait_until(s.alive, timeout=1)
