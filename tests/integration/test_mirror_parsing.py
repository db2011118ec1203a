"""Reading upstream pages (issue 3; API.md 7.1, 7.2): gzip-encoded pages,
redirects (links joined to the final URL), a 10,000-link page, a login page
served with 200 where JSON was asked for, hostile filenames, and the
X-PYPI-LAST-SERIAL rule."""

import html as htmlmod
import time

import pytest

import pkgbuild as pb
from fake_upstream import (SIMPLE_JSON, expected_file_url, get_page, html_links, json_files,
                           page_links, sha256, wait_until)
from harness import BROWSER_UA


@pytest.mark.parametrize("upstream_format", ["json", "html"])
def test_gzip_encoded_pages(upstream, mirror_server, upstream_format):
    t = upstream.build({"zipped": {"1.0": {"requires_python": ">=3.8"}, "1.1": {}}})
    upstream.set_format("zipped", upstream_format)
    upstream.fault("/simple/zipped/", "gzip")
    upstream.fault("/simple/", "gzip")
    s = mirror_server
    links = page_links(s, "zipped")
    f10, f11 = t[("zipped", "1.0", "wheel")], t[("zipped", "1.1", "wheel")]
    assert set(links) == {f10.filename, f11.filename}
    assert links[f10.filename]["fragment"] == f"sha256={f10.sha256}"
    assert links[f10.filename]["attrs"].get("data-requires-python") == ">=3.8"
    r = s.http.get("/root/pypi/+simple/", headers={"Accept": SIMPLE_JSON})
    assert r.status_code == 200
    assert "zipped" in {p["name"] for p in r.json()["projects"]}
    d = s.http.get(links[f11.filename]["url"])
    assert d.status_code == 200 and sha256(d.content) == f11.sha256


def test_redirected_page_links_joined_to_final_url(upstream, mirror_server):
    t = upstream.build({"moving": {"1.0": {"kinds": ("wheel", "sdist")}}})
    upstream.set_url_style("moving", "relative")     # ../../files/<fn>
    upstream.set_format("moving", "html")
    upstream.fault("/simple/moving/", "redirect")     # -> /moved/simple/moving/
    s = mirror_server
    links = page_links(s, "moving")
    files = [t[("moving", "1.0", "wheel")], t[("moving", "1.0", "sdist")]]
    assert set(links) == {f.filename for f in files}
    for f in files:
        assert links[f.filename]["url"] == expected_file_url(s, f)
        d = s.http.get(links[f.filename]["url"])
        assert d.status_code == 200 and sha256(d.content) == f.sha256
        # relative to the final URL /moved/simple/moving/ -> /moved/files/<fn>
        assert upstream.count(f"/moved/files/{f.filename}") == 1, upstream.paths()
        assert upstream.count(f"/files/{f.filename}") == 0


def test_redirected_project_list(upstream, mirror_server):
    upstream.build({"listed-a": {"1.0": {}}, "listed-b": {"1.0": {}}})
    upstream.fault("/simple/", "redirect")
    s = mirror_server
    r = s.http.get("/root/pypi/+simple/", headers={"Accept": SIMPLE_JSON})
    assert r.status_code == 200
    assert {"listed-a", "listed-b"} <= {p["name"] for p in r.json()["projects"]}
    assert upstream.count("/moved/simple/") == 1


@pytest.mark.parametrize("upstream_format", ["json", "html"])
def test_ten_thousand_links(upstream, mirror_factory, upstream_format):
    files = upstream.add_many_links("many", 10000)
    upstream.set_format("many", upstream_format)
    s = mirror_factory(request_timeout=30)
    r = get_page(s, "many", timeout=120)
    assert r.status_code == 200, r.text[:300]
    links = html_links(r)
    assert len(links) == 10000
    assert set(links) == {f.filename for f in files}
    last = files[-1]
    assert links[last.filename]["fragment"] == f"sha256={last.sha256}"
    js = json_files(get_page(s, "many", accept=SIMPLE_JSON, timeout=120))
    assert len(js) == 10000
    assert js[files[5000].filename]["hashes"]["sha256"] == files[5000].sha256
    d = s.http.get(links[last.filename]["url"])
    assert d.status_code == 200 and sha256(d.content) == last.sha256


def test_login_page_instead_of_json_never_cached_as_empty(upstream, mirror_factory):
    """A captive portal answers 200 text/html with a login form whenever JSON
    is asked for. devpi-like falls back (real HTML links) or answers 502; it
    never shows an empty project."""
    t = upstream.build({"portal": {"1.0": {}}, "portal-cached": {"1.0": {}}})
    s = mirror_factory(expiry=1, request_timeout=2)
    good = t[("portal-cached", "1.0", "wheel")]
    assert set(page_links(s, "portal-cached")) == {good.filename}
    upstream.fault("/simple/portal*", "login")
    time.sleep(1.3)
    # cached project: the old links (stale) or a clean 502, never nothing
    r = get_page(s, "portal-cached")
    assert r.status_code in (200, 502), r.status_code
    if r.status_code == 200:
        assert set(html_links(r)) == {good.filename}, "login page cached as an empty project"
    # never-fetched project
    r = get_page(s, "portal")
    assert r.status_code in (200, 502), r.status_code
    if r.status_code == 200:
        assert set(html_links(r)) == {t[("portal", "1.0", "wheel")].filename}, \
            "login page taken for an empty project"
    upstream.clear()
    time.sleep(1.1)
    assert set(page_links(s, "portal")) == {t[("portal", "1.0", "wheel")].filename}
    assert set(page_links(s, "portal-cached")) == {good.filename}


def test_garbage_json_never_fetched_is_502(upstream, mirror_factory):
    upstream.build({"junk": {"1.0": {}}})
    upstream.fault("/simple/junk/", "garbage")
    s = mirror_factory(request_timeout=2)
    r = get_page(s, "junk")
    assert r.status_code == 502, (r.status_code, r.text[:300])
    upstream.clear()
    r = get_page(s, "junk")
    assert r.status_code == 200 and len(html_links(r)) == 1


@pytest.mark.parametrize("upstream_format", ["json", "html"])
def test_hostile_filenames_stay_inside_the_index(upstream, mirror_server, pkgdir,
                                                 upstream_format):
    good = upstream.add_dist(pb.make_sdist(pkgdir, "evil", "1.0"))
    for fn in ("../../../../evil-2.0.tar.gz", "evil-3.0.tar.gz\"><script>alert(1)</script>",
               "evil-4.0.tar.gz<img src=x>", "..", "evil/../../etc-5.0.tar.gz",
               "evil-6.0.tar.gz%2F..%2F..%2Fx", "evil-7.0\r\nX-Injected: 1.tar.gz"):
        upstream.add_file("evil", fn, b"hostile " + fn.encode(), version="9")
    upstream.set_format("evil", upstream_format)
    s = mirror_server
    for accept in ("text/html", SIMPLE_JSON):
        r = get_page(s, "evil", accept=accept)
        assert r.status_code in (200, 502), r.status_code
        assert "X-Injected" not in r.headers
        if r.status_code != 200:
            continue
        if accept == SIMPLE_JSON:
            urls = [e["abs_url"] for e in json_files(r).values()]
        else:
            assert "<script>" not in r.text and "<img" not in r.text
            urls = [l["url"] for l in html_links(r).values()]
        assert urls, "the good file is listed"
        for u in urls:
            assert u.startswith(f"{s.url}/root/pypi/+f/") or u.startswith(f"{s.url}/root/pypi/+e/"), u
            assert "/../" not in u and not u.endswith("/..")
        if accept == "text/html":
            assert html_links(r)[good.filename]["url"] == expected_file_url(s, good)
    d = s.http.get(expected_file_url(s, good))
    assert d.status_code == 200 and sha256(d.content) == good.sha256
    assert s.alive()


def test_lower_serial_is_a_stale_cdn(upstream, mirror_factory, pkgdir):
    """X-PYPI-LAST-SERIAL lower than the cached one: treated as an error
    (stale links kept) unless mirror_ignore_serial_header (API.md 7.2 step 5)."""
    t = upstream.build({"cdn": {"1.0": {}}})
    upstream.set_serial("cdn", 5000)
    s = mirror_factory(expiry=1, request_timeout=2)
    f10 = t[("cdn", "1.0", "wheel")]
    assert set(page_links(s, "cdn")) == {f10.filename}
    f20 = upstream.add_dist(pb.make_wheel(pkgdir, "cdn", "2.0"))
    upstream.set_serial("cdn", 4000)
    time.sleep(1.3)
    r = get_page(s, "cdn")
    assert r.status_code == 200
    assert set(html_links(r)) == {f10.filename}, "an older serial must not replace the page"
    assert upstream.count("/simple/cdn/") >= 2
    r = s.jreq("PATCH", "/root/pypi", {"mirror_ignore_serial_header": True}, auth=s.root_auth)
    assert r.status_code == 200, r.text[:300]
    time.sleep(1.3)
    wait_until(lambda: set(page_links(s, "cdn")) == {f10.filename, f20.filename},
               timeout=10, interval=0.3, what="page with the ignored serial header")


def test_etag_revalidation(upstream, mirror_factory):
    """After expiry devpi-like revalidates with If-None-Match; a 304 keeps the
    links and is not a failure (no stale marker)."""
    upstream.build({"etagged": {"1.0": {}}})
    s = mirror_factory(expiry=1)
    links = page_links(s, "etagged")
    time.sleep(1.3)
    r = get_page(s, "etagged")
    assert r.status_code == 200 and set(html_links(r)) == set(links)
    assert "no-cache" not in r.headers.get("Cache-Control", "")
    reqs = upstream.requests_for("/simple/etagged/")
    assert len(reqs) == 2
    assert reqs[1].headers.get("If-None-Match"), "second fetch revalidates with the ETag"


def test_upstream_html_with_mixed_projects_and_junk(upstream, mirror_server, pkgdir):
    """HTML pages keep only archives of the project (API.md 7.2 step 6)."""
    good = upstream.add_dist(pb.make_wheel(pkgdir, "picky", "1.0"))
    upstream.add_file("picky", "other_project-1.0-py3-none-any.whl", b"x", version="1.0")
    upstream.add_file("picky", "picky-1.0.txt", b"readme", version="1.0")
    upstream.set_format("picky", "html")
    s = mirror_server
    links = page_links(s, "picky")
    assert good.filename in links
    assert "picky-1.0.txt" not in links
    assert "other_project-1.0-py3-none-any.whl" not in links
    # a human page of a mirror has the refresh form
    r = get_page(s, "picky", ua=BROWSER_UA)
    assert r.status_code == 200
    assert "refresh" in htmlmod.unescape(r.text).lower()
