"""root/pypi as a caching mirror of a (fake) upstream PyPI (issue 3; API.md 3,
4, 5.1, 7, A): pip installs through it and through a chain, links point at
devpi-like, upstream attributes are kept, PEP 658 metadata, refresh,
X-PYPI-LAST-SERIAL, credentials in mirror_url, project list, who may set
mirror_url."""

import base64
import time

import pytest

import pkgbuild as pb
from fake_upstream import (PIP_UA, SIMPLE_JSON, expected_file_url, get_page, html_links,
                           json_files, page_links, sha256)
from harness import BROWSER_UA, installed_version, parse_anchors

TREE = {
    "app": {"1.0": {"requires": ["lib>=1", "util"]}},
    "lib": {"1.0": {},
            "2.0": {"kinds": ("wheel", "sdist"), "requires_python": ">=3.7"}},
    "util": {"0.5": {"yanked": "broken build"}, "0.6": {}},
}


@pytest.fixture
def tree(upstream):
    return upstream.build(TREE)


def test_pip_install_with_dependencies(upstream, tree, mirror_server, venv, tmp_path):
    s = mirror_server
    target = tmp_path / "t"
    venv.install(f"{s.url}/root/pypi/+simple/", "app", target=target)
    assert installed_version(target, "app") == "1.0"
    assert installed_version(target, "lib") == "2.0"
    assert installed_version(target, "util") == "0.6", "the yanked 0.5 must not be chosen"
    out = venv.run_py("import app, lib, util; print(app.__version__, lib.__version__, "
                      "util.__version__)", pythonpath=target)
    assert out.stdout.split() == ["1.0", "2.0", "0.6"]
    # every wheel pip installed came from upstream exactly once, through devpi-like
    for name, ver in (("app", "1.0"), ("lib", "2.0"), ("util", "0.6")):
        f = upstream.dist(name, ver)
        assert upstream.count(f"/files/{f.filename}") == 1, upstream.paths()
    for f in (upstream.dist("lib", "1.0"), upstream.dist("lib", "2.0", "sdist"),
              upstream.dist("util", "0.5")):
        assert upstream.count(f"/files/{f.filename}") == 0, f"{f.filename} was not needed"
    # one upstream page fetch per project (cached afterwards)
    for p in ("app", "lib", "util"):
        assert upstream.count(f"/simple/{p}/") == 1, (p, upstream.paths())
    # the requests devpi-like made: PEP 691 JSON preferred, its own user agent
    req = upstream.requests_for("/simple/lib/")[0]
    assert SIMPLE_JSON in req.headers.get("Accept", ""), req.headers
    assert "devpi" in req.headers.get("User-Agent", "").lower(), req.headers
    assert "pip/" not in req.headers.get("User-Agent", "")

    # a second install in a fresh target: served from the cache entirely
    before = upstream.total()
    venv.install(f"{s.url}/root/pypi/+simple/", "app", target=tmp_path / "t2")
    assert installed_version(tmp_path / "t2", "lib") == "2.0"
    assert upstream.total() == before, set(upstream.paths())


@pytest.mark.parametrize("upstream_format", ["json", "html"])
@pytest.mark.parametrize("page_format", ["html", "json"])
def test_links_point_at_devpi_and_keep_attributes(upstream, tree, mirror_server,
                                                  upstream_format, page_format):
    s = mirror_server
    upstream.set_format("lib", upstream_format)
    upstream.set_format("util", upstream_format)
    for project in ("lib", "util"):
        r = get_page(s, project, accept=SIMPLE_JSON if page_format == "json" else "text/html")
        assert r.status_code == 200, r.text[:300]
        assert upstream.url not in r.text and f":{upstream.port}/" not in r.text, \
            "the page must not point at the upstream"
        files = json_files(r) if page_format == "json" else html_links(r)
        want = [f for f in upstream.projects[project].files]
        assert sorted(files) == sorted(f.filename for f in want)
        for f in want:
            e = files[f.filename]
            if page_format == "json":
                assert e["abs_url"] == expected_file_url(s, f), e
                assert "#" not in e["url"]
                assert e["hashes"] == {"sha256": f.sha256}
                if f.requires_python:
                    assert e["requires-python"] == f.requires_python
                if f.yanked:
                    assert e["yanked"] == f.yanked
                else:
                    assert e.get("yanked", False) is False
                if f.metadata is not None:
                    assert e["core-metadata"] == {"sha256": f.metadata_sha256}, e
                else:
                    assert not e.get("core-metadata"), e
                if upstream_format == "json":    # PEP 700 data only comes with JSON
                    assert e["size"] == f.size, e
                    assert e["upload-time"].startswith("2024-05-01T12:00:00"), e
            else:
                assert e["url"] == expected_file_url(s, f), e
                assert e["fragment"] == f"sha256={f.sha256}"
                a = e["attrs"]
                if f.requires_python:
                    assert a.get("data-requires-python") == f.requires_python
                else:
                    assert a.get("data-requires-python", "") == ""
                if f.yanked:
                    assert a.get("data-yanked") == f.yanked
                else:
                    assert "data-yanked" not in a
                if f.metadata is not None:
                    assert a.get("data-core-metadata") == f"sha256={f.metadata_sha256}", a
                    assert a.get("data-dist-info-metadata") == f"sha256={f.metadata_sha256}", a
                else:
                    assert "data-core-metadata" not in a


def test_file_download_fetches_once(upstream, tree, mirror_server):
    s = mirror_server
    f = upstream.dist("lib", "2.0", "sdist")
    links = page_links(s, "lib")
    url = links[f.filename]["url"]
    assert upstream.count(f"/files/{f.filename}") == 0, "listing must not download"
    r = s.http.get(url)
    assert r.status_code == 200
    assert sha256(r.content) == f.sha256
    assert int(r.headers["Content-Length"]) == f.size
    assert upstream.count(f"/files/{f.filename}") == 1
    r2 = s.http.get(url)
    assert r2.status_code == 200 and r2.content == r.content
    assert "immutable" in r2.headers.get("Cache-Control", "")
    assert upstream.count(f"/files/{f.filename}") == 1, "the second GET is served from the store"
    # file meta (API.md 3.2 step 3): the upstream URL, no credentials
    m = s.http.get(url, headers={"Accept": "application/json"})
    assert m.status_code == 200
    meta = m.json()["result"]
    assert meta["hashes"]["sha256"] == f.sha256


def test_core_metadata_passed_through(upstream, tree, mirror_server):
    s = mirror_server
    f = upstream.dist("lib", "2.0")
    links = page_links(s, "lib")
    r = s.http.get(links[f.filename]["url"] + ".metadata")
    assert r.status_code == 200, r.text[:300]
    assert r.content == f.metadata
    assert upstream.count(f"/files/{f.filename}.metadata") >= 1
    assert upstream.count(f"/files/{f.filename}") == 0, \
        "upstream offers the metadata: the wheel itself is not needed"


def test_core_metadata_extracted_when_not_offered(upstream, mirror_server):
    s = mirror_server
    t = upstream.build({"nometa": {"1.0": {"offer_metadata": False}}})
    f = t[("nometa", "1.0", "wheel")]
    links = page_links(s, "nometa")
    url = links[f.filename]["url"]
    r = s.http.get(url)
    assert r.status_code == 200 and sha256(r.content) == f.sha256
    m = s.http.get(url + ".metadata")
    assert m.status_code == 200, m.text[:300]
    assert m.content == f.metadata
    assert upstream.count(f"/files/{f.filename}.metadata") == 0, "upstream does not offer it"
    js = json_files(get_page(s, "nometa", accept=SIMPLE_JSON))
    assert js[f.filename]["core-metadata"] == {"sha256": f.metadata_sha256}


def test_chain_private_first_upstream_for_the_rest(upstream, tree, mirror_server, venv,
                                                   pkgdir, tmp_path):
    s = mirror_server
    alice = s.new_stage(bases="root/pypi")
    mine = pb.make_wheel(pkgdir, "mine", "1.0", requires_dist=["lib"])
    alice.upload_ok(mine)
    target = tmp_path / "t"
    venv.install(alice.simple_url, "mine", target=target)
    assert installed_version(target, "mine") == "1.0"
    assert installed_version(target, "lib") == "2.0"
    assert upstream.count("/simple/mine/") == 0, "mine is not an upstream project"
    assert upstream.count(f"/files/{upstream.dist('lib', '2.0').filename}") == 1
    r = get_page(s, "lib", index=alice.name)
    assert r.status_code == 200
    links = html_links(r)
    for f in upstream.projects["lib"].files:
        assert links[f.filename]["url"] == expected_file_url(s, f), \
            "upstream files are served from root/pypi's +f"
    assert "root/pypi <a href=\"../../../../root/pypi/+f/" in r.text


def test_chain_whitelisted_own_file_wins_on_filename(upstream, tree, mirror_server, pkgdir):
    """With lib whitelisted, alice's lib-2.0 wheel (other bytes, same filename)
    beats root/pypi's; lib 1.0 still comes from upstream (API.md 5.3)."""
    s = mirror_server
    alice = s.new_stage(bases="root/pypi", mirror_whitelist="lib")
    own = pb.make_wheel(pkgdir, "lib", "2.0", salt="alice")
    alice.upload_ok(own)
    up20, up10 = upstream.dist("lib", "2.0"), upstream.dist("lib", "1.0")
    assert own.sha256 != up20.sha256
    links = page_links(s, "lib", index=alice.name)
    assert links[own.filename]["fragment"] == f"sha256={own.sha256}"
    assert links[own.filename]["url"] == alice.file_url(own)
    assert links[up10.filename]["url"] == expected_file_url(s, up10)
    js = json_files(get_page(s, "lib", index=alice.name, accept=SIMPLE_JSON))
    assert js[own.filename]["hashes"]["sha256"] == own.sha256
    assert set(js) == {own.filename, up10.filename, upstream.dist("lib", "2.0", "sdist").filename}


def test_refresh_refetches_within_expiry(upstream, tree, mirror_server, pkgdir):
    s = mirror_server
    assert set(page_links(s, "lib")) == {f.filename for f in upstream.projects["lib"].files}
    assert upstream.count("/simple/lib/") == 1
    new = upstream.add_dist(pb.make_wheel(pkgdir, "lib", "2.1"))
    assert new.filename not in page_links(s, "lib"), "fresh cache: no upstream request"
    assert upstream.count("/simple/lib/") == 1
    r = s.http.post("/root/pypi/+simple/lib/refresh")
    assert r.status_code == 302, (r.status_code, r.text[:300])
    assert r.headers["Location"].rstrip("/").endswith("/root/pypi/+simple/lib")
    links = page_links(s, "lib")
    assert new.filename in links
    assert upstream.count("/simple/lib/") == 2
    assert links[new.filename]["url"] == expected_file_url(s, new)


def test_last_serial_passed_on(upstream, tree, mirror_server):
    s = mirror_server
    upstream.set_serial("lib", 4242)
    r = get_page(s, "lib")
    assert r.status_code == 200
    assert r.headers.get("X-PYPI-LAST-SERIAL") == "4242"
    r = get_page(s, "lib", accept=SIMPLE_JSON)
    assert r.headers.get("X-PYPI-LAST-SERIAL") == "4242"


def test_project_list(upstream, tree, mirror_server):
    s = mirror_server
    r = s.http.get("/root/pypi/+simple/", headers={"User-Agent": PIP_UA})
    assert r.status_code == 200
    names = {h.strip("/").split("/")[-1] for h, _t in parse_anchors(r.text)}
    assert {"app", "lib", "util"} <= names
    assert f":{upstream.port}" not in r.text
    r = s.http.get("/root/pypi/+simple/", headers={"Accept": SIMPLE_JSON})
    assert r.status_code == 200
    assert {"app", "lib", "util"} <= {p["name"] for p in r.json()["projects"]}
    r = s.jreq("GET", "/root/pypi")
    assert r.status_code == 200
    assert {"app", "lib", "util"} <= set(r.json()["result"].get("projects", []))
    assert upstream.count("/simple/") >= 1
    # an unknown project: 404, and no upstream page request for it
    r = get_page(s, "not-on-upstream")
    assert r.status_code == 404
    assert upstream.count("/simple/not-on-upstream/") == 0


@pytest.mark.parametrize("how", ["init", "patch"])
def test_mirror_url_credentials_used_and_never_shown(upstream, tree, mirror_factory, how):
    user, pw = "mirroruser", "s3cr3t-Pw-93f1"
    upstream.require_auth(user, pw)
    if how == "init":
        s = mirror_factory(mirror_url=upstream.url_with_auth(user, pw))
    else:
        s = mirror_factory()
        r = s.jreq("PATCH", "/root/pypi", {"mirror_url": upstream.url_with_auth(user, pw)},
                   auth=s.root_auth)
        assert r.status_code == 200, r.text[:300]
        assert pw not in r.text
    want = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
    r = get_page(s, "lib")
    assert r.status_code == 200, r.text[:300]
    assert pw not in r.text and f"{user}:" not in r.text
    f = upstream.dist("lib", "2.0")
    links = html_links(r)
    assert links[f.filename]["url"] == expected_file_url(s, f)
    reqs = upstream.requests_for("/simple/lib/")
    assert reqs and all(q.headers.get("Authorization") == want for q in reqs)
    rj = get_page(s, "lib", accept=SIMPLE_JSON)
    assert rj.status_code == 200 and pw not in rj.text
    d = s.http.get(links[f.filename]["url"])
    assert d.status_code == 200 and sha256(d.content) == f.sha256
    assert upstream.requests_for(f"/files/{f.filename}")[-1].headers.get("Authorization") == want
    for path, hdrs in (("/root/pypi", {"Accept": "application/json"}),
                       ("/root/pypi?no_projects", {"Accept": "application/json"}),
                       ("/root/pypi/+simple/", {"User-Agent": BROWSER_UA}),
                       ("/root/pypi/+simple/lib/", {"User-Agent": BROWSER_UA}),
                       ("/root/pypi/lib", {"Accept": "application/json"}),
                       (links[f.filename]["url"].replace(s.url, ""), {"Accept": "application/json"})):
        g = s.http.get(path, headers=hdrs)
        assert pw not in g.text, f"{path} shows the upstream password"
    cfg = s.jreq("GET", "/root/pypi").json()["result"]
    assert cfg["mirror_url"].endswith(f"127.0.0.1:{upstream.port}/simple/")


def test_only_root_may_set_mirror_url(upstream, mirror_server):
    s = mirror_server
    alice = s.new_stage()
    evil = {"mirror_url": "http://127.0.0.1:1/simple/"}
    r = s.jreq("PATCH", "/root/pypi", evil, auth=alice.auth)
    assert r.status_code == 403, r.text[:300]
    r = s.jreq("PATCH", "/root/pypi", evil)
    assert r.status_code in (401, 403), r.text[:300]
    r = s.jreq("PUT", f"/{alice.user}/mym", {"type": "mirror",
                                              "mirror_url": upstream.simple_url},
               auth=alice.auth)
    assert r.status_code == 403, r.text[:300]
    assert s.jreq("GET", f"/{alice.user}/mym").status_code == 404
    cfg = s.jreq("GET", "/root/pypi?no_projects").json()["result"]
    assert cfg["mirror_url"] == upstream.simple_url
    # root may
    r = s.jreq("PATCH", "/root/pypi", {"mirror_url": upstream.url + "/moved/simple/",
                                       "mirror_cache_expiry": 60, "title": "PyPI fake"},
               auth=s.root_auth)
    assert r.status_code == 200, r.text[:300]
    cfg = s.jreq("GET", "/root/pypi?no_projects").json()["result"]
    assert cfg["mirror_url"] == upstream.url + "/moved/simple/"
    assert int(cfg["mirror_cache_expiry"]) == 60 and cfg["title"] == "PyPI fake"
    # a non-http(s) mirror_url is refused (SSRF surface)
    r = s.jreq("PATCH", "/root/pypi", {"mirror_url": "file:///etc/passwd"}, auth=s.root_auth)
    assert r.status_code == 400, r.text[:300]


def test_per_index_cache_expiry(upstream, tree, mirror_server):
    """mirror_cache_expiry on the index overrides --mirror-cache-expiry (1800)."""
    s = mirror_server
    assert get_page(s, "lib").status_code == 200
    time.sleep(1.2)
    assert get_page(s, "lib").status_code == 200
    assert upstream.count("/simple/lib/") == 1, "default expiry: still fresh"
    r = s.jreq("PATCH", "/root/pypi", {"mirror_cache_expiry": 1}, auth=s.root_auth)
    assert r.status_code == 200, r.text[:300]
    time.sleep(1.2)
    assert get_page(s, "lib").status_code == 200
    assert upstream.count("/simple/lib/") == 2


def test_use_external_urls(upstream, tree, mirror_server):
    """API.md 7.3: pages still point at devpi-like; an uncached file answers
    302 to the upstream URL and nothing is cached."""
    s = mirror_server
    r = s.jreq("PATCH", "/root/pypi", {"mirror_use_external_urls": True}, auth=s.root_auth)
    assert r.status_code == 200, r.text[:300]
    f = upstream.dist("lib", "1.0")
    links = page_links(s, "lib")
    assert links[f.filename]["url"] == expected_file_url(s, f)
    r = s.http.get(links[f.filename]["url"])
    assert r.status_code == 302, r.status_code
    assert r.headers["Location"] == f"{upstream.url}/files/{f.filename}"
    assert upstream.count(f"/files/{f.filename}") == 0


def test_no_project_list(upstream, tree, mirror_server):
    """mirror_no_project_list: the upstream root listing is never fetched;
    pages are asked for directly; the list shows only locally known names."""
    s = mirror_server
    r = s.jreq("PATCH", "/root/pypi", {"mirror_no_project_list": True}, auth=s.root_auth)
    assert r.status_code == 200, r.text[:300]
    assert set(page_links(s, "lib")) == {f.filename for f in upstream.projects["lib"].files}
    r = s.http.get("/root/pypi/+simple/", headers={"Accept": SIMPLE_JSON})
    assert r.status_code == 200
    names = {p["name"] for p in r.json()["projects"]}
    assert "lib" in names and "app" not in names and "util" not in names
    assert upstream.count("/simple/") == 0
