"""Upstream down or misbehaving (issue 3; API.md 4.1, 7.2, 7.5, 12): installs
keep working from the cache (also across a kill -9), stale pages carry
"expire now" headers, a never-fetched page is a quick 502, --offline-mode
never contacts upstream and lists only cached files."""

import time

import pytest

import pkgbuild as pb
from fake_upstream import (SIMPLE_JSON, expected_file_url, get_page, html_links,
                           is_stale_headers, json_files, page_links, sha256, wait_until)
from harness import installed_version

TREE = {
    "app": {"1.0": {"requires": ["lib>=1"]}},
    "lib": {"1.0": {}, "2.0": {}},
    "other": {"1.0": {}},
}


def test_installs_survive_upstream_outage_and_restart(upstream, mirror_factory, venv,
                                                      tmp_path):
    upstream.build(TREE)
    s = mirror_factory(expiry=1, request_timeout=2)
    index = f"{s.url}/root/pypi/+simple/"
    venv.install(index, "app", target=tmp_path / "t1")
    assert installed_version(tmp_path / "t1", "lib") == "2.0"

    upstream.refuse()
    time.sleep(1.3)                       # every cached page has expired
    t0 = time.monotonic()
    venv.install(index, "app", target=tmp_path / "t2")
    assert installed_version(tmp_path / "t2", "app") == "1.0"
    assert installed_version(tmp_path / "t2", "lib") == "2.0"
    assert time.monotonic() - t0 < 60
    r = get_page(s, "lib")
    assert r.status_code == 200 and is_stale_headers(r), r.headers
    assert upstream.dist("lib", "2.0").filename in html_links(r)

    # kill -9 and restart while upstream is still down: pages and the project
    # list come from the store
    s.restart(kill=True)
    venv.install(s.url + "/root/pypi/+simple/", "app", target=tmp_path / "t3")
    assert installed_version(tmp_path / "t3", "lib") == "2.0"
    r = s.http.get("/root/pypi/+simple/", headers={"Accept": SIMPLE_JSON})
    assert r.status_code == 200, r.text[:300]
    assert {"app", "lib"} <= {p["name"] for p in r.json()["projects"]}

    # never fetched, upstream down: a clean 502, quickly
    t0 = time.monotonic()
    r = get_page(s, "other", accept="application/json")
    assert r.status_code == 502, (r.status_code, r.text[:300])
    assert time.monotonic() - t0 < 10

    # upstream back: fresh pages again, and new releases show up
    upstream.refuse(False)
    upstream.add_dist(pb.make_wheel(tmp_path / "new", "lib", "3.0"))

    def fresh():
        r = get_page(s, "lib")
        return r.status_code == 200 and not is_stale_headers(r) and \
            "lib-3.0-py3-none-any.whl" in html_links(r)
    wait_until(fresh, timeout=15, interval=0.3, what="fresh page after the outage")
    assert get_page(s, "other").status_code == 200


@pytest.mark.parametrize("fault,params", [
    ("hang", {}),
    ("slow", {"rate": 1.0}),
    ("status", {"code": 500}),
    ("refused", {}),
])
def test_never_fetched_page_is_a_quick_502(upstream, mirror_factory, fault, params):
    upstream.build({"fresh-pkg": {"1.0": {}}})
    s = mirror_factory(request_timeout=2)
    if fault == "refused":
        upstream.refuse()
    else:
        upstream.fault("/simple/fresh-pkg/", fault, **params)
    t0 = time.monotonic()
    r = get_page(s, "fresh-pkg", accept="application/json", timeout=30)
    took = time.monotonic() - t0
    assert r.status_code == 502, (r.status_code, r.text[:300])
    assert took < 10, f"answered after {took:.1f}s with --request-timeout 2"
    assert r.json().get("message"), r.text[:300]
    if fault != "refused":
        assert upstream.count("/simple/fresh-pkg/") >= 1
    # the fault clears: the page works
    upstream.clear()
    upstream.refuse(False)

    def ok():
        r = get_page(s, "fresh-pkg")
        return r.status_code == 200 and "fresh_pkg-1.0-py3-none-any.whl" in html_links(r)
    wait_until(ok, timeout=15, interval=0.3, what="page after the fault cleared")
    assert s.alive()


STALE_FAULTS = [
    ("status", {"code": 500}),
    ("status", {"code": 503}),
    ("status", {"code": 429}),
    ("hang", {}),
    ("slow", {"rate": 1.0}),
    ("reset", {}),
    ("truncate", {}),
    ("wrong_length", {"delta": 100}),
    ("garbage", {}),
    ("refused", {}),
]


@pytest.mark.parametrize("fault,params", STALE_FAULTS,
                         ids=[f"{k}-{p.get('code', '')}".rstrip("-") for k, p in STALE_FAULTS])
def test_stale_page_served_on_upstream_failure(upstream, mirror_factory, pkgdir, fault, params):
    t = upstream.build({"stale-pkg": {"1.0": {}}})
    f10 = t[("stale-pkg", "1.0", "wheel")]
    s = mirror_factory(expiry=1, request_timeout=2)
    r = get_page(s, "stale-pkg")
    assert r.status_code == 200 and set(html_links(r)) == {f10.filename}
    assert not is_stale_headers(r), "a freshly fetched page is not marked stale"
    before = upstream.count("/simple/stale-pkg/")

    if fault == "refused":
        upstream.refuse()
    else:
        upstream.fault("/simple/stale-pkg/", fault, **params)
    time.sleep(1.3)
    t0 = time.monotonic()
    r = get_page(s, "stale-pkg", timeout=30)
    took = time.monotonic() - t0
    assert took < 10, f"stale page took {took:.1f}s with --request-timeout 2"
    assert r.status_code == 200, (r.status_code, r.text[:300])
    links = html_links(r)
    assert set(links) == {f10.filename}, "the stale links, not garbage, not nothing"
    assert links[f10.filename]["url"] == expected_file_url(s, f10)
    cc = r.headers.get("Cache-Control", "")
    assert "no-cache" in cc, f"stale page without 'expire now' headers: {cc!r}"
    if fault != "refused":
        assert upstream.count("/simple/stale-pkg/") > before, "it did try upstream"
    # JSON view of the same stale page
    rj = get_page(s, "stale-pkg", accept=SIMPLE_JSON, timeout=30)
    assert rj.status_code == 200 and set(json_files(rj)) == {f10.filename}
    assert is_stale_headers(rj)

    # the fault clears: the next fetch succeeds and sees new releases
    upstream.clear()
    upstream.refuse(False)
    f20 = upstream.add_dist(pb.make_wheel(pkgdir, "stale-pkg", "2.0"))

    def fresh():
        r = get_page(s, "stale-pkg")
        return r.status_code == 200 and not is_stale_headers(r) and \
            set(html_links(r)) == {f10.filename, f20.filename}
    wait_until(fresh, timeout=15, interval=0.3, what="fresh page after the fault cleared")
    # no bad blob anywhere: the file downloads right
    d = s.http.get(expected_file_url(s, f10))
    assert d.status_code == 200 and sha256(d.content) == f10.sha256


def test_nothing_cached_upstream_error_json_message(upstream, mirror_factory):
    upstream.build({"err-pkg": {"1.0": {}}})
    upstream.fault("/simple/err-pkg/", "status", code=503)
    s = mirror_factory(request_timeout=2)
    r = get_page(s, "err-pkg", accept="application/json")
    assert r.status_code == 502
    assert "application/json" in r.headers.get("Content-Type", "")
    assert r.json()["message"]
    # a 502 is not cached as "not found"
    upstream.clear()
    r = get_page(s, "err-pkg")
    assert r.status_code == 200 and "err_pkg-1.0-py3-none-any.whl" in html_links(r)


def test_offline_mode(upstream, mirror_factory, venv, tmp_path):
    t = upstream.build({"lib": {"1.0": {}, "2.0": {}}, "other": {"1.0": {}},
                        "neverseen": {"1.0": {}}})
    s = mirror_factory()
    l10, l20 = t[("lib", "1.0", "wheel")], t[("lib", "2.0", "wheel")]
    assert set(page_links(s, "lib")) == {l10.filename, l20.filename}
    d = s.http.get(expected_file_url(s, l20))
    assert d.status_code == 200 and sha256(d.content) == l20.sha256
    assert set(page_links(s, "other")) == {t[("other", "1.0", "wheel")].filename}

    s.args.append("--offline-mode")
    s.restart()
    upstream.reset_counts()

    links = page_links(s, "lib")
    assert set(links) == {l20.filename}, "offline: only cached files are listed"
    assert links[l20.filename]["url"] == expected_file_url(s, l20)
    js = json_files(get_page(s, "lib", accept=SIMPLE_JSON))
    assert set(js) == {l20.filename}
    r = get_page(s, "other")
    assert r.status_code in (200, 404, 502)
    if r.status_code == 200:
        assert html_links(r) == {}, "no cached file of 'other'"
    assert get_page(s, "neverseen").status_code in (404, 502)
    r = s.http.get(expected_file_url(s, l10))
    assert r.status_code in (404, 502), r.status_code
    r = s.http.get(expected_file_url(s, l20))
    assert r.status_code == 200 and sha256(r.content) == l20.sha256
    target = tmp_path / "t"
    venv.install(s.url + "/root/pypi/+simple/", "lib", target=target)
    assert installed_version(target, "lib") == "2.0"
    r = s.http.post("/root/pypi/+simple/lib/refresh")
    assert r.status_code in (302, 200, 502, 503)
    s.http.get("/root/pypi/+simple/", headers={"Accept": SIMPLE_JSON})
    time.sleep(0.3)
    assert upstream.total() == 0, f"offline mode contacted upstream: {upstream.paths()}"
