"""Mirror file downloads under upstream faults (issue 3; API.md 3.2, 7.4):
a bad body never completes as if good and is never stored (the next GET
fetches again, and succeeds once the fault clears); upstream 404 -> 404,
other failures -> 502, within the configured time."""

import time

import pytest

import pkgbuild as pb
from fake_upstream import expected_file_url, get_page, html_links, raw_get, sha256


@pytest.fixture
def wheel(upstream):
    """A wheel of ~256 KiB (incompressible member), listed on the page."""
    return upstream.build({"fpkg": {"1.0": {"extra_files": {
        "fpkg/blob.bin": pb.random_bytes(256 * 1024, seed=11)}}}})[("fpkg", "1.0", "wheel")]


def _listed(s, f):
    r = get_page(s, "fpkg")
    assert r.status_code == 200, r.text[:300]
    url = html_links(r)[f.filename]["url"]
    assert url == expected_file_url(s, f)
    return url[len(s.url):]


def _assert_good_after_clear(s, upstream, f, path):
    upstream.clear()
    upstream.refuse(False)
    n = upstream.count(f"/files/{f.filename}")
    status, hd, body, complete = raw_get(s, path)
    assert status == 200 and complete, (status, len(body))
    assert sha256(body) == f.sha256, "wrong bytes after the fault cleared"
    assert upstream.count(f"/files/{f.filename}") == n + 1, "fetched again (nothing was stored)"
    status, hd, body, complete = raw_get(s, path)
    assert status == 200 and sha256(body) == f.sha256
    assert upstream.count(f"/files/{f.filename}") == n + 1, "now it is cached"
    assert s.alive()


BAD_BODY = [
    ("wrong_hash", {}),
    ("wrong_hash", {"throttle": 256 * 1024}),    # streamed over ~1 s
    ("truncate", {"at": 0.6}),
    ("reset", {"at": 0.6}),
    ("wrong_length", {"delta": -100}),
    ("wrong_length", {"delta": 100}),
    ("garbage", {}),
]


@pytest.mark.parametrize("fault,params", BAD_BODY,
                         ids=[f"{k}{p.get('delta', '')}{'-streamed' if 'throttle' in p else ''}"
                              for k, p in BAD_BODY])
def test_bad_body_never_completes_nor_stored(upstream, wheel, mirror_factory, fault, params):
    f = wheel
    s = mirror_factory(request_timeout=3)
    path = _listed(s, f)
    upstream.fault(f"/files/{f.filename}", fault, **params)
    for attempt in (1, 2):
        t0 = time.monotonic()
        status, hd, body, complete = raw_get(s, path, timeout=30)
        assert time.monotonic() - t0 < 20
        assert status != 200 or not complete, \
            f"attempt {attempt}: a complete 200 response with bytes that are not the file"
        assert upstream.count(f"/files/{f.filename}") == attempt, \
            "a failed download must not be cached: the next GET goes upstream again"
    _assert_good_after_clear(s, upstream, f, path)


@pytest.mark.parametrize("code,expect", [(404, 404), (500, 502), (503, 502), (429, 502),
                                         (403, 502)])
def test_upstream_status_mapped(upstream, wheel, mirror_server, code, expect):
    f = wheel
    s = mirror_server
    path = _listed(s, f)
    upstream.fault(f"/files/{f.filename}", "status", code=code)
    status, hd, body, complete = raw_get(s, path)
    assert status == expect, (status, body[:300])
    assert upstream.count(f"/files/{f.filename}") == 1
    _assert_good_after_clear(s, upstream, f, path)


def test_upstream_refused(upstream, wheel, mirror_factory):
    f = wheel
    s = mirror_factory(request_timeout=2)
    path = _listed(s, f)
    upstream.refuse()
    t0 = time.monotonic()
    status, hd, body, complete = raw_get(s, path)
    assert status == 502, (status, body[:300])
    assert time.monotonic() - t0 < 10
    _assert_good_after_clear(s, upstream, f, path)


def test_upstream_hangs(upstream, wheel, mirror_factory):
    f = wheel
    s = mirror_factory(request_timeout=2)
    path = _listed(s, f)
    upstream.fault(f"/files/{f.filename}", "hang")
    t0 = time.monotonic()
    status, hd, body, complete = raw_get(s, path, timeout=60)
    took = time.monotonic() - t0
    assert took < 20, f"no answer for {took:.1f}s with --request-timeout 2"
    assert status != 200 or not complete
    assert status is None or status == 200 or status >= 500, status
    _assert_good_after_clear(s, upstream, f, path)


@pytest.mark.slow
def test_upstream_trickles_one_byte_per_second(upstream, wheel, mirror_factory):
    """A file upstream sends at 1 byte/s: devpi-like gives up (minimum speed
    bound) instead of holding the client for days; nothing is stored."""
    f = wheel
    s = mirror_factory(request_timeout=2)
    path = _listed(s, f)
    upstream.fault(f"/files/{f.filename}", "slow_body", rate=1.0)
    t0 = time.monotonic()
    status, hd, body, complete = raw_get(s, path, timeout=90)
    took = time.monotonic() - t0
    assert status != 200 or not complete
    assert took < 75, f"a 1 byte/s upstream held the client {took:.0f}s"
    _assert_good_after_clear(s, upstream, f, path)


def test_redirected_file(upstream, wheel, mirror_server):
    f = wheel
    s = mirror_server
    path = _listed(s, f)
    upstream.fault(f"/files/{f.filename}", "redirect")
    status, hd, body, complete = raw_get(s, path)
    assert status == 200 and complete and sha256(body) == f.sha256
    assert upstream.count(f"/files/{f.filename}") == 1
    assert upstream.count(f"/moved/files/{f.filename}") == 1


def test_head_of_uncached_file(upstream, wheel, mirror_server):
    """HEAD must not leave a half download or a bad entry behind."""
    f = wheel
    s = mirror_server
    path = _listed(s, f)
    r = s.http.head(path)
    assert r.status_code in (200, 404, 502), r.status_code
    status, hd, body, complete = raw_get(s, path)
    assert status == 200 and complete and sha256(body) == f.sha256


def test_file_deleted_upstream_after_listing(upstream, wheel, mirror_server):
    f = wheel
    s = mirror_server
    path = _listed(s, f)
    upstream.remove_project("fpkg")
    status, hd, body, complete = raw_get(s, path)
    assert status == 404, status
    # a cached file survives upstream deleting it
    upstream.build({"fpkg": {"1.0": {"extra_files": {
        "fpkg/blob.bin": pb.random_bytes(256 * 1024, seed=11)}}}})
    assert upstream.dist("fpkg", "1.0").sha256 == f.sha256, "same bytes again"
    status, hd, body, complete = raw_get(s, path)
    assert status == 200 and sha256(body) == f.sha256
    upstream.remove_project("fpkg")
    status, hd, body, complete = raw_get(s, path)
    assert status == 200 and sha256(body) == f.sha256


def test_hashless_links_served_under_e(upstream, wheel, mirror_server):
    """Links without a hash live under +e (API.md 3.1) and download once."""
    f = wheel
    s = mirror_server
    upstream.set_hashless("fpkg")
    r = get_page(s, "fpkg")
    assert r.status_code == 200, r.text[:300]
    url = html_links(r)[f.filename]["url"]
    assert "/root/pypi/+e/" in url and "#" not in url, url
    path = url[len(s.url):]
    status, hd, body, complete = raw_get(s, path)
    assert status == 200 and complete and sha256(body) == f.sha256
    status, hd, body, complete = raw_get(s, path)
    assert status == 200 and complete and sha256(body) == f.sha256
    assert upstream.count(f"/files/{f.filename}") == 1
