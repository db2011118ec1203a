"""Simple repository pages (API.md 4.1, 4.2, A: PEP 629/658/691/700/714, ETag, gzip)."""

import datetime
import gzip
import hashlib
import re

import pytest

import pkgbuild as pb
from harness import (BROWSER_UA, PIP_ACCEPT, PIP_UA, SIMPLE_JSON, parse_anchors,
                     parse_simple_html, resolve)

UPLOAD_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


@pytest.fixture
def proj(stage, pkgdir):
    """stage with project 'simple-pkg': sdist 1.0 (requires_python >=3.8) and wheel 1.1."""
    sd = pb.make_sdist(pkgdir, "simple_pkg", "1.0", requires_python=">=3.8")
    whl = pb.make_wheel(pkgdir, "simple_pkg", "1.1", requires_dist=["x"])
    stage.upload_ok(sd, minimal=False)
    stage.upload_ok(whl)
    return stage, sd, whl


def page_url(stage, project, slash=True):
    return f"{stage.url}/+simple/{project}{'/' if slash else ''}"


def ctype(r):
    return r.headers.get("Content-Type", "").split(";")[0].strip()


# ---------------------------------------------------------------- HTML

def test_html_project_page_format(proj):
    stage, sd, whl = proj
    r = stage.simple("simple-pkg")
    assert r.status_code == 200, r.text
    assert ctype(r) == "text/html"
    text = r.text
    assert text.startswith("<!DOCTYPE html>")
    assert f"<title>{stage.name}: links for simple-pkg</title>" in text
    assert f"<h1>{stage.name}: links for simple-pkg</h1>" in text
    assert '<meta name="pypi:repository-version" content="1.1">' in text
    assert text.rstrip().endswith("</body></html>")
    links = parse_simple_html(text)
    assert [l["text"] for l in links] == [whl.filename, sd.filename], \
        "human pages sort descending by version"
    for l, d in zip(links, (whl, sd)):
        assert l["stage"] == stage.name
        assert l["href"] == f"../../+f/{d.relpath_dirs()}/{d.filename}#sha256={d.sha256}"
        assert resolve(page_url(stage, "simple-pkg"), l["href"]).split("#")[0] == stage.file_url(d)
    wl, sl = links
    assert sl["attrs"]["data-requires-python"] == "&gt;=3.8"
    assert wl["attrs"]["data-dist-info-metadata"] == f"sha256={whl.metadata_sha256}"
    assert wl["attrs"]["data-core-metadata"] == f"sha256={whl.metadata_sha256}"
    assert "data-core-metadata" not in sl["attrs"]
    assert "data-dist-info-metadata" not in sl["attrs"]
    assert "data-yanked" not in sl["attrs"]


def test_html_for_installer(proj):
    stage, sd, whl = proj
    r = stage.simple("simple-pkg", ua=PIP_UA, accept="text/html")
    assert r.status_code == 200 and ctype(r) == "text/html"
    links = parse_simple_html(r.text)
    assert sorted(l["text"] for l in links) == sorted([sd.filename, whl.filename])
    assert "<form" not in r.text


def test_absolute_urls_on_request(proj, server):
    stage, sd, whl = proj
    r = stage.simple("simple-pkg", headers={"X-Devpi-Absolute-Urls": "1"})
    hrefs = {l["text"]: l["href"] for l in parse_simple_html(r.text)}
    assert hrefs[sd.filename] == stage.file_url(sd) + "#sha256=" + sd.sha256


def test_human_no_slash_redirects_installer_served(proj):
    stage, sd, whl = proj
    r = stage.simple("simple-pkg", slash=False, ua=BROWSER_UA, accept="text/html")
    assert r.status_code == 302
    assert resolve(page_url(stage, "simple-pkg", False), r.headers["Location"]) == \
        page_url(stage, "simple-pkg")
    for kw in ({"ua": PIP_UA}, {"ua": BROWSER_UA, "accept": SIMPLE_JSON}):
        r = stage.simple("simple-pkg", slash=False, **kw)
        assert r.status_code == 200, kw
        base = page_url(stage, "simple-pkg", slash=False)
        if ctype(r) == SIMPLE_JSON:
            urls = [f["url"] for f in r.json()["files"]]
        else:
            urls = [l["href"].split("#")[0] for l in parse_simple_html(r.text)]
        assert sorted(resolve(base, u) for u in urls) == \
            sorted([stage.file_url(sd), stage.file_url(whl)]), "relative to the request path"


def test_non_normalized_project_redirects(proj):
    stage, _, _ = proj
    for ua in (BROWSER_UA, PIP_UA):
        r = stage.simple("Simple_Pkg", ua=ua)
        assert r.status_code == 302, ua
        assert resolve(page_url(stage, "Simple_Pkg"), r.headers["Location"]) == \
            page_url(stage, "simple-pkg")


def test_unknown_project_404(stage):
    assert stage.simple("does-not-exist").status_code == 404
    assert stage.simple("does-not-exist", ua=PIP_UA, accept=PIP_ACCEPT).status_code == 404


def test_non_ascii_project_400(stage):
    r = stage.simple("%C3%A9t%C3%A9")
    assert r.status_code == 400, (r.status_code, r.headers.get("Location"))


def test_subpath_of_project_404(proj):
    stage, _, _ = proj
    r = stage.server.http.get(f"{stage.path}/+simple/simple-pkg/whatever")
    assert r.status_code == 404


# ---------------------------------------------------------------- PEP 691 JSON

def test_json_project_page(proj):
    stage, sd, whl = proj
    r = stage.simple("simple-pkg", accept=SIMPLE_JSON)
    assert r.status_code == 200
    assert ctype(r) == SIMPLE_JSON
    js = r.json()
    assert js["meta"]["api-version"] == "1.1"
    assert js["name"] == "simple-pkg"
    assert set(js["versions"]) == {"1.0", "1.1"}
    files = {f["filename"]: f for f in js["files"]}
    assert set(files) == {sd.filename, whl.filename}
    now = datetime.datetime.now(datetime.timezone.utc)
    for d in (sd, whl):
        f = files[d.filename]
        assert "#" not in f["url"]
        assert resolve(page_url(stage, "simple-pkg"), f["url"]) == stage.file_url(d)
        assert f["hashes"] == {"sha256": d.sha256}
        assert f["size"] == d.size
        assert UPLOAD_TIME_RE.match(f["upload-time"]), f["upload-time"]
        t = datetime.datetime.fromisoformat(f["upload-time"].replace("Z", "+00:00"))
        assert abs((now - t).total_seconds()) < 300
        assert f.get("yanked", False) is False
    assert files[sd.filename]["requires-python"] == ">=3.8"
    assert files[whl.filename]["core-metadata"] == {"sha256": whl.metadata_sha256}
    # PEP 714: the old JSON key must not be sent. pip 22.3-23.0 (Debian 12 ships
    # 23.0.1) reads it as the HTML string form and crashes with
    # "TypeError: unhashable type: 'dict'" on any dict or bool value.
    assert "dist-info-metadata" not in files[whl.filename]
    assert "core-metadata" not in files[sd.filename] or \
        files[sd.filename]["core-metadata"] is False


@pytest.mark.parametrize("accept,expected", [
    (SIMPLE_JSON, SIMPLE_JSON),
    (PIP_ACCEPT, SIMPLE_JSON),
    ("text/html", "text/html"),
    (f"{SIMPLE_JSON};q=0.1, text/html", "text/html"),
    (f"text/html;q=0.1, {SIMPLE_JSON}", SIMPLE_JSON),
    (f"text/html;q=0.5, {SIMPLE_JSON};q=0.9", SIMPLE_JSON),
    ("*/*", "text/html"),
    ("application/xml", "text/html"),       # nothing acceptable: HTML
])
def test_negotiation(proj, accept, expected):
    stage, _, _ = proj
    r = stage.simple("simple-pkg", accept=accept)
    assert r.status_code == 200
    assert ctype(r) == expected, f"Accept {accept!r} gave {ctype(r)}"
    if expected == SIMPLE_JSON:
        assert r.json()["name"] == "simple-pkg"
    else:
        assert "links for simple-pkg" in r.text


def test_vary_header(proj):
    stage, _, _ = proj
    for accept in ("text/html", SIMPLE_JSON):
        r = stage.simple("simple-pkg", accept=accept)
        vary = {v.strip().lower() for v in r.headers.get("Vary", "").split(",")}
        assert {"accept", "user-agent"} <= vary, r.headers.get("Vary")
    r = stage.simple("", slash=False, accept=SIMPLE_JSON)
    vary = {v.strip().lower() for v in r.headers.get("Vary", "").split(",")}
    assert "accept" in vary


# ---------------------------------------------------------------- project list

def _list_fixture(stage, pkgdir):
    stage.upload_ok(pb.make_wheel(pkgdir, "Alpha_One", "1.0"), pb.make_wheel(pkgdir, "beta", "1.0"))
    return {"alpha-one", "beta"}


def test_project_list_installer_html(stage, pkgdir):
    names = _list_fixture(stage, pkgdir)
    r = stage.server.http.get(stage.path + "/+simple/", headers={"User-Agent": PIP_UA,
                                                                 "Accept": "text/html"})
    assert r.status_code == 200 and ctype(r) == "text/html"
    anchors = parse_anchors(r.text)
    assert {t for h, t in anchors} == names
    assert all(h == t + "/" for h, t in anchors)


def test_project_list_json(stage, pkgdir):
    names = _list_fixture(stage, pkgdir)
    r = stage.server.http.get(stage.path + "/+simple/", headers={"Accept": SIMPLE_JSON})
    assert r.status_code == 200 and ctype(r) == SIMPLE_JSON
    js = r.json()
    assert js["meta"]["api-version"] == "1.1"
    assert sorted(p["name"] for p in js["projects"]) == sorted(names)


def test_project_list_human_html(stage, pkgdir):
    names = _list_fixture(stage, pkgdir)
    r = stage.server.http.get(stage.path + "/+simple/", headers={"User-Agent": BROWSER_UA})
    assert r.status_code == 200
    assert {t for h, t in parse_anchors(r.text)} >= names
    assert f"{stage.name}: simple list (including inherited indices)" in r.text


def test_project_list_alternate_routes(stage, pkgdir):
    names = _list_fixture(stage, pkgdir)
    http = stage.server.http
    # /+simple without slash: humans are redirected, installers served
    r = http.get(stage.path + "/+simple", headers={"User-Agent": BROWSER_UA, "Accept": "text/html"})
    assert r.status_code == 302
    assert resolve(stage.url + "/+simple", r.headers["Location"]) == stage.url + "/+simple/"
    r = http.get(stage.path + "/+simple", headers={"User-Agent": PIP_UA})
    assert r.status_code == 200
    # route #14: /<user>/<index>/ for installers
    for path in (stage.path, stage.path + "/"):
        r = http.get(path, headers={"User-Agent": PIP_UA, "Accept": "text/html"})
        assert r.status_code == 200, path
        assert {t for h, t in parse_anchors(r.text)} == names
    # PEP 691 JSON project list at /<user>/<index>
    r = http.get(stage.path, headers={"Accept": SIMPLE_JSON})
    assert r.status_code == 200 and ctype(r) == SIMPLE_JSON
    assert sorted(p["name"] for p in r.json()["projects"]) == sorted(names)


# ---------------------------------------------------------------- PEP 658

def test_core_metadata_file(proj):
    stage, sd, whl = proj
    links = {l["text"]: l for l in stage.simple_links("simple-pkg")}
    href = links[whl.filename]["href"].split("#")[0]
    url = resolve(page_url(stage, "simple-pkg"), href) + ".metadata"
    r = stage.server.http.get(url)
    assert r.status_code == 200, r.text
    assert r.content == whl.metadata
    assert hashlib.sha256(r.content).hexdigest() == \
        links[whl.filename]["attrs"]["data-core-metadata"].split("=", 1)[1]
    # no metadata file for the sdist
    r = stage.server.http.get(stage.file_url(sd) + ".metadata")
    assert r.status_code == 404


# ---------------------------------------------------------------- caching, compression

def test_etag_and_304(proj, pkgdir):
    stage, _, _ = proj
    r = stage.simple("simple-pkg")
    etag = r.headers.get("ETag")
    assert etag and not etag.startswith("W/") and etag.startswith('"'), etag
    r2 = stage.simple("simple-pkg", headers={"If-None-Match": etag})
    assert r2.status_code == 304
    assert r2.content == b""
    assert r2.headers.get("ETag") == etag
    r3 = stage.simple("simple-pkg", headers={"If-None-Match": '"something-else"'})
    assert r3.status_code == 200 and r3.text == r.text
    rj = stage.simple("simple-pkg", accept=SIMPLE_JSON)
    assert rj.headers.get("ETag") and rj.headers["ETag"] != etag, "HTML and JSON share an ETag"
    # a new upload changes the page and its ETag
    stage.upload_ok(pb.make_wheel(pkgdir / "n", "simple_pkg", "2.0"))
    r4 = stage.simple("simple-pkg", headers={"If-None-Match": etag})
    assert r4.status_code == 200
    assert "simple_pkg-2.0-py3-none-any.whl" in r4.text
    assert r4.headers["ETag"] != etag


def test_gzip(proj):
    stage, _, _ = proj
    plain = stage.simple("simple-pkg", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers.get("Content-Encoding", "identity") == "identity"
    for accept in ("text/html", SIMPLE_JSON):
        ident = stage.simple("simple-pkg", accept=accept, headers={"Accept-Encoding": "identity"})
        r = stage.simple("simple-pkg", accept=accept, stream=True,
                         headers={"Accept-Encoding": "gzip"})
        assert r.headers.get("Content-Encoding") == "gzip", accept
        raw = r.raw.read(decode_content=False)
        assert raw[:2] == b"\x1f\x8b"
        assert gzip.decompress(raw) == ident.content
        if "Content-Length" in r.headers:
            assert int(r.headers["Content-Length"]) == len(raw)
