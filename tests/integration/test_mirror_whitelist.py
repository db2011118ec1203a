"""Dependency-confusion protection (API.md 5.4): a project hosted by any
private stage in the chain shows no upstream releases unless whitelisted,
and upstream never sees a request for such a name."""

import pytest

import pkgbuild as pb
from fake_upstream import SIMPLE_JSON, get_page, json_files, page_links
from harness import BROWSER_UA, installed_version

UPSTREAM = {
    "internal-lib": {"99.0": {}},          # the attacker's upload
    "requests": {"2.32": {}},
    "flask": {"3.0": {}},
}


def _untouched(upstream, project):
    p = f"/simple/{project}/"
    files = [f.filename for f in upstream.projects[project].files]
    return (upstream.count(p) == 0 and
            all(upstream.count(f"/files/{fn}") == 0 and
                upstream.count(f"/files/{fn}.metadata") == 0 for fn in files))


def test_private_name_beats_higher_upstream_version(upstream, mirror_server, venv, pkgdir,
                                                    tmp_path):
    upstream.build(UPSTREAM)
    s = mirror_server
    alice = s.new_stage(bases="root/pypi")
    mine = pb.make_wheel(pkgdir, "internal-lib", "1.0")
    alice.upload_ok(mine)
    target = tmp_path / "t"
    venv.install(alice.simple_url, "internal-lib", target=target)
    assert installed_version(target, "internal-lib") == "1.0"

    for accept in ("text/html", None):
        links = page_links(s, "internal-lib", index=alice.name, accept=accept)
        assert set(links) == {mine.filename}
    js = json_files(get_page(s, "internal-lib", index=alice.name, accept=SIMPLE_JSON))
    assert set(js) == {mine.filename}
    r = get_page(s, "internal-lib", index=alice.name, accept=SIMPLE_JSON)
    assert set(r.json().get("versions", ["1.0"])) == {"1.0"}
    # JSON release view of the stage: no 99.0 either
    r = s.jreq("GET", f"{alice.path}/internal-lib")
    if r.status_code == 200:
        assert "99.0" not in r.json()["result"]
    # a human page says why
    r = get_page(s, "internal-lib", index=alice.name, ua=BROWSER_UA)
    assert r.status_code == 200 and "mirror_whitelist" in r.text
    assert _untouched(upstream, "internal-lib"), \
        f"upstream saw a request for the private name: {upstream.paths()}"
    # a project that is not private still comes from upstream through alice
    assert set(page_links(s, "flask", index=alice.name)) == \
        {f.filename for f in upstream.projects["flask"].files}

    # whitelisted: the upstream release appears next to the private one
    r = s.jreq("PATCH", alice.path, {"mirror_whitelist": ["internal-lib"]}, auth=alice.auth)
    assert r.status_code == 200, r.text[:300]
    s.http.post(f"{alice.path}/+simple/internal-lib/refresh")
    links = page_links(s, "internal-lib", index=alice.name)
    up99 = upstream.dist("internal-lib", "99.0")
    assert set(links) == {mine.filename, up99.filename}
    assert links[mine.filename]["url"] == alice.file_url(mine)
    assert upstream.count("/simple/internal-lib/") >= 1


def test_root_pypi_itself_is_not_protected(upstream, mirror_server, pkgdir):
    """The whitelist only filters views through private stages: root/pypi's
    own page shows upstream's releases."""
    upstream.build(UPSTREAM)
    s = mirror_server
    alice = s.new_stage(bases="root/pypi")
    alice.upload_ok(pb.make_wheel(pkgdir, "internal-lib", "1.0"))
    links = page_links(s, "internal-lib")
    assert set(links) == {upstream.dist("internal-lib", "99.0").filename}


@pytest.fixture
def three_stages(upstream, mirror_server, pkgdir):
    """API.md 5.4's worked example: team/base (bases root/pypi, whitelist [])
    hosts internal-lib 1.0; alice/dev (bases team/base, whitelist [requests],
    intersection)."""
    upstream.build(UPSTREAM)
    s = mirror_server
    team = s.new_stage(index="base", bases="root/pypi")
    mine = pb.make_wheel(pkgdir, "internal-lib", "1.0")
    team.upload_ok(mine)
    alice = s.new_stage(bases=team.name, mirror_whitelist="requests",
                        mirror_whitelist_inheritance="intersection")
    return s, team, alice, mine


def test_worked_example_intersection(upstream, three_stages):
    s, team, alice, mine = three_stages
    links = page_links(s, "internal-lib", index=alice.name)
    assert set(links) == {mine.filename}
    assert links[mine.filename]["url"] == team.file_url(mine)
    assert _untouched(upstream, "internal-lib")
    req = page_links(s, "requests", index=alice.name)
    assert set(req) == {upstream.dist("requests", "2.32").filename}
    fl = page_links(s, "flask", index=alice.name)
    assert set(fl) == {upstream.dist("flask", "3.0").filename}
    # team/base's '*' is cancelled by alice's narrower list (intersection)
    r = s.jreq("PATCH", team.path, {"mirror_whitelist": ["*"]}, auth=team.auth)
    assert r.status_code == 200, r.text[:300]
    links = page_links(s, "internal-lib", index=alice.name)
    assert set(links) == {mine.filename}
    assert _untouched(upstream, "internal-lib")
    # ...but team/base's own view now includes upstream
    links = page_links(s, "internal-lib", index=team.name)
    assert set(links) == {mine.filename, upstream.dist("internal-lib", "99.0").filename}


def test_worked_example_union(upstream, three_stages):
    s, team, alice, mine = three_stages
    r = s.jreq("PATCH", alice.path, {"mirror_whitelist_inheritance": "union"}, auth=alice.auth)
    assert r.status_code == 200, r.text[:300]
    # union of {requests} and team's [] still blocks internal-lib
    assert set(page_links(s, "internal-lib", index=alice.name)) == {mine.filename}
    assert _untouched(upstream, "internal-lib")
    r = s.jreq("PATCH", team.path, {"mirror_whitelist": ["*"]}, auth=team.auth)
    assert r.status_code == 200, r.text[:300]
    links = page_links(s, "internal-lib", index=alice.name)
    assert set(links) == {mine.filename, upstream.dist("internal-lib", "99.0").filename}


def test_bad_inheritance_mode_refused(mirror_server):
    s = mirror_server
    alice = s.new_stage(bases="root/pypi")
    r = s.jreq("PATCH", alice.path, {"mirror_whitelist_inheritance": "both"}, auth=alice.auth)
    assert r.status_code == 400


def test_private_name_not_on_upstream_list_never_asked(upstream, mirror_server, pkgdir):
    """A name upstream does not list is not asked for at all (7.2 step 4),
    even when nothing private hosts it."""
    upstream.build(UPSTREAM)
    s = mirror_server
    alice = s.new_stage(bases="root/pypi")
    r = get_page(s, "nowhere-pkg", index=alice.name)
    assert r.status_code == 404
    assert upstream.count("/simple/nowhere-pkg/") == 0
