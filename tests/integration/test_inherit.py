"""Inheritance along bases (API.md 5.3): first stage wins per filename, unions
of versions and project names, diamonds visited once, cycles harmless."""

import time

import pytest

import pkgbuild as pb
from harness import PIP_UA, SIMPLE_JSON, installed_version, parse_anchors, resolve


@pytest.fixture
def chain(server, pkgdir):
    team = server.new_stage(index="prod")
    alice = server.new_stage(bases=team.name)
    t10 = pb.make_sdist(pkgdir / "t", "inh", "1.0", salt="team")
    t20 = pb.make_sdist(pkgdir / "t", "inh", "2.0", salt="team")
    a10 = pb.make_sdist(pkgdir / "a", "inh", "1.0", salt="alice")
    team.upload_ok(t10, t20, pb.make_wheel(pkgdir / "t", "teamonly", "1.0"))
    alice.upload_ok(a10, pb.make_wheel(pkgdir / "a", "aliceonly", "1.0"))
    return team, alice, t10, t20, a10


def test_own_file_wins_and_versions_union(chain, server):
    team, alice, t10, t20, a10 = chain
    url = f"{alice.url}/+simple/inh/"
    links = alice.simple_links("inh")
    by_name = {l["text"]: l for l in links}
    assert sorted(by_name) == ["inh-1.0.tar.gz", "inh-2.0.tar.gz"]
    assert len(links) == 2
    l10, l20 = by_name["inh-1.0.tar.gz"], by_name["inh-2.0.tar.gz"]
    assert l10["stage"] == alice.name
    assert l10["href"].endswith("#sha256=" + a10.sha256)
    assert resolve(url, l10["href"]).split("#")[0] == alice.file_url(a10)
    assert l20["stage"] == team.name
    assert l20["href"].startswith(f"../../../../{team.name}/+f/")
    assert resolve(url, l20["href"]).split("#")[0] == team.file_url(t20)
    assert server.http.get(resolve(url, l20["href"])).content == t20.data
    # JSON simple page
    js = alice.simple_json("inh")
    assert set(js["versions"]) == {"1.0", "2.0"}
    assert {f["filename"]: f["hashes"]["sha256"] for f in js["files"]} == \
        {"inh-1.0.tar.gz": a10.sha256, "inh-2.0.tar.gz": t20.sha256}
    # the base is unaffected
    tl = {l["text"]: l for l in team.simple_links("inh")}
    assert tl["inh-1.0.tar.gz"]["href"].endswith("#sha256=" + t10.sha256)


def test_json_view_inherits(chain, server):
    team, alice, t10, t20, a10 = chain
    r = server.jreq("GET", f"{alice.path}/inh")
    assert r.status_code == 200
    res = r.json()["result"]
    assert set(res) == {"1.0", "2.0"}
    assert res["1.0"]["+links"][0]["href"] == alice.file_url(a10)
    assert res["2.0"]["+links"][0]["href"] == team.file_url(t20)
    r = server.jreq("GET", f"{alice.path}/inh/2.0")
    assert r.status_code == 200
    assert r.json()["result"]["+links"][0]["href"] == team.file_url(t20)
    r = server.jreq("GET", f"{alice.path}/inh?ignore_bases")
    assert r.status_code == 200
    assert set(r.json()["result"]) == {"1.0"}
    r = server.jreq("GET", f"{alice.path}/teamonly")
    assert r.status_code == 200 and set(r.json()["result"]) == {"1.0"}
    # the index view lists only its own projects
    assert alice.config()["projects"] == ["aliceonly", "inh"]


def test_project_list_includes_inherited_once(chain, server):
    team, alice, *_ = chain
    r = server.http.get(alice.path + "/+simple/", headers={"Accept": SIMPLE_JSON})
    names = [p["name"] for p in r.json()["projects"]]
    assert sorted(names) == ["aliceonly", "inh", "teamonly"]
    r = server.http.get(alice.path + "/+simple/", headers={"User-Agent": PIP_UA,
                                                             "Accept": "text/html"})
    names = [t for h, t in parse_anchors(r.text)]
    assert sorted(names) == ["aliceonly", "inh", "teamonly"]


def test_pip_installs_inherited(chain, venv, tmp_path):
    team, alice, *_ = chain
    t = tmp_path / "t"
    venv.install(alice.simple_url, "teamonly", "aliceonly", target=t)
    assert installed_version(t, "teamonly") == "1.0"
    assert installed_version(t, "aliceonly") == "1.0"


def test_diamond_visits_base_once_and_follows_base_order(server, pkgdir):
    base = server.new_stage(index="base")
    base.upload_ok(pb.make_wheel(pkgdir / "base", "dpkg", "1.0"))
    a = server.new_stage(index="a", bases=base.name)
    b = server.new_stage(index="b", bases=base.name)
    fa = pb.make_sdist(pkgdir / "a", "shared", "1.0", salt="a")
    fb = pb.make_sdist(pkgdir / "b", "shared", "1.0", salt="b")
    a.upload_ok(fa)
    b.upload_ok(fb)
    c = server.new_stage(index="c", bases=f"{a.name},{b.name}")
    c2 = server.new_stage(index="c2", bases=[b.name, a.name])
    links = c.simple_links("dpkg")
    assert [l["text"] for l in links] == ["dpkg-1.0-py3-none-any.whl"]
    assert links[0]["stage"] == base.name
    js = c.simple_json("dpkg")
    assert len(js["files"]) == 1
    # SRO c -> a, b, base: a's copy of shared-1.0 wins; reversed bases -> b's
    assert [l["stage"] for l in c.simple_links("shared")] == [a.name]
    assert c.simple_links("shared")[0]["href"].endswith(fa.sha256)
    assert c2.simple_links("shared")[0]["href"].endswith(fb.sha256)
    r = server.http.get(c.path + "/+simple/", headers={"Accept": SIMPLE_JSON})
    names = [p["name"] for p in r.json()["projects"]]
    assert sorted(names) == ["dpkg", "shared"]


def test_cycle_via_patch_is_harmless(server, pkgdir):
    a = server.new_stage(index="cyca")
    b = server.new_stage(index="cycb", bases=a.name)
    a.upload_ok(pb.make_wheel(pkgdir / "a", "cyc-a", "1.0"))
    b.upload_ok(pb.make_wheel(pkgdir / "b", "cyc-b", "1.0"))
    r = server.jreq("PATCH", a.path, {"bases": [b.name]}, auth=a.auth)
    if r.status_code == 405:
        pytest.skip("PATCH /<user>/<index> not implemented (API.md 5.2 requires it)")
    assert r.status_code in (200, 400), r.text
    cycle = r.status_code == 200
    for st in (a, b):
        for project in ("cyc-a", "cyc-b", "nothere"):
            t0 = time.monotonic()
            resp = st.simple(project)
            assert time.monotonic() - t0 < 5
            assert resp.status_code in (200, 404)
        t0 = time.monotonic()
        r = server.http.get(st.path + "/+simple/", headers={"Accept": SIMPLE_JSON})
        assert r.status_code == 200 and time.monotonic() - t0 < 5
        names = [p["name"] for p in r.json()["projects"]]
        assert len(names) == len(set(names))
    assert [l["text"] for l in b.simple_links("cyc-a")] == ["cyc_a-1.0-py3-none-any.whl"]
    if cycle:
        assert a.config()["bases"] == [b.name]
        assert [l["text"] for l in a.simple_links("cyc-b")] == ["cyc_b-1.0-py3-none-any.whl"]
