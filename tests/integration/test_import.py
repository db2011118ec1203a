"""devpi-like import INDIR (issue 6, API.md 9): a devpi-server export
(fixtures/devpi_export, written by hand in devpi's shape with argon2id
hashes from libargon2) and a devpi-like round trip; hostile export
directories; all or nothing, also under kill -9."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

import pkgbuild as pb
from harness import Server, Stage, clean_env, server_binary

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "devpi_export"


def run(*args, timeout=300):
    return subprocess.run([server_binary(), *args], capture_output=True, text=True, env=clean_env(),
                          timeout=timeout)


def imported(server_factory, serverdir):
    return server_factory(serverdir=serverdir, root_passwd=None)


# ---------------------------------------------------------------- devpi-server's export

def test_import_devpi_server_export(server_factory, tmp_path):
    target = tmp_path / "store"
    p = run("import", "--serverdir", str(target), str(FIXTURE))
    assert p.returncode == 0, p.stderr
    assert "import: done" in p.stderr
    s = imported(server_factory, target)
    # argon2id hashes made by libargon2 verify unchanged
    assert s.login("alice", "alice-pw").status_code == 200
    assert s.login("bob", "bob-pw").status_code == 200
    assert s.login("root", "root-pw").status_code == 200, "root's exported hash replaces the initial one"
    assert s.login("alice", "wrong").status_code == 401
    alice = s.jreq("GET", "/alice").json()["result"]
    assert alice["email"] == "alice@example.org" and "pwhash" not in alice
    # bases keep their order; legacy pypi_whitelist and unknown plugin keys survive
    dev = s.jreq("GET", "/alice/dev").json()["result"]
    assert dev["bases"] == ["alice/base", "bob/team"]
    base = s.jreq("GET", "/alice/base?no_projects").json()["result"]
    assert base["volatile"] is False
    assert base["mirror_whitelist"] == ["flask"] and "pypi_whitelist" not in base
    assert base["plugin_setting"] == {"from": "devpi-someplugin", "level": 3}
    assert base["acl_upload"] == ["alice", "bob"]
    # the release, its doc zip and tox result, with logs, through the chain
    data = s.jreq("GET", "/alice/dev/hello").json()["result"]["1.0"]
    assert data["summary"] == "Says hello" and data["requires_python"] == ">=3.7"
    rels = sorted(l["rel"] for l in data["+links"])
    assert rels == ["doczip", "releasefile", "toxresult"], data["+links"]
    release = next(l for l in data["+links"] if l["rel"] == "releasefile")
    assert release["log"][0]["who"] == "alice"
    want = (FIXTURE / "alice/base/hello/1.0/hello-1.0.tar.gz").read_bytes()
    got = s.http.get(release["href"].split(s.url, 1)[-1])
    assert got.status_code == 200 and got.content == want
    tox = next(l for l in data["+links"] if l["rel"] == "toxresult")
    assert tox["for_href"] == release["href"]
    st = Stage(s, "alice", "alice-pw", "dev")
    assert [l["text"] for l in st.simple_links("hello")] == ["hello-1.0.tar.gz"]
    assert s.jreq("GET", "/root/pypi?no_projects").json()["result"]["type"] == "mirror"
    f = run("fsck", "--serverdir", str(target))
    assert f.returncode == 0, f.stdout


def test_import_refuses_a_store_with_users(server_factory, tmp_path):
    s = server_factory()
    s.stop()
    p = run("import", "--serverdir", str(s.serverdir), str(FIXTURE))
    assert p.returncode != 0 and "not empty" in p.stderr
    s.start()
    assert s.login("alice", "alice-pw").status_code == 401


# ---------------------------------------------------------------- round trip

def canonical(path):
    data = json.loads((path / "dataindex.json").read_text())
    for ix in data["indexes"].values():
        ix["files"] = sorted(ix["files"], key=lambda f: f["relpath"])
    data.pop("devpi_server", None)
    return data


def test_round_trip(upstream, mirror_factory, server_factory, pkgdir, venv, tmp_path):
    from fake_upstream import get_page, html_links
    from test_export import populate
    s = mirror_factory()
    base, dev, wh, sd, old, tox = populate(s, pkgdir)
    # and a mirror cache
    f = upstream.build({"cachedpkg": {"1.0": {}}})[("cachedpkg", "1.0", "wheel")]
    url = html_links(get_page(s, "cachedpkg"))[f.filename]["url"]
    assert s.http.get(url[len(s.url):]).status_code == 200
    ex1, ex2 = tmp_path / "ex1", tmp_path / "ex2"
    p = run("export", "--include-mirrored-files", "--serverdir", str(s.serverdir), str(ex1))
    assert p.returncode == 0, p.stderr
    target = tmp_path / "store"
    p = run("import", "--serverdir", str(target), str(ex1))
    assert p.returncode == 0, p.stderr
    p = run("export", "--include-mirrored-files", "--serverdir", str(target), str(ex2))
    assert p.returncode == 0, p.stderr
    assert [x["relpath"] for x in canonical(ex2)["indexes"]["root/pypi"]["files"]] == \
        [f"root/pypi/cachedpkg/1.0/{f.filename}"]
    a, b = canonical(ex1), canonical(ex2)
    assert a["users"] == b["users"]
    assert a["indexes"] == b["indexes"]
    files1 = sorted(p.relative_to(ex1) for p in ex1.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(ex2) for p in ex2.rglob("*") if p.is_file())
    assert files1 == files2
    for rel in files1:
        if rel.name != "dataindex.json":
            assert (ex1 / rel).read_bytes() == (ex2 / rel).read_bytes(), rel
    s.stop()
    n = imported(server_factory, target)
    assert n.login(dev.user, dev.password).status_code == 200
    ndev = Stage(n, dev.user, dev.password, "dev")
    venv.install(ndev.simple_url, "exp-pkg==1.0", target=tmp_path / "t")
    links = {l["text"]: l for l in ndev.simple_links("exp-pkg")}
    assert links[old.filename]["attrs"].get("data-yanked") == "old"


# ---------------------------------------------------------------- hostile exports

def broken_copy(tmp_path, edit):
    d = tmp_path / "broken"
    shutil.copytree(FIXTURE, d)
    data = json.loads((d / "dataindex.json").read_text())
    edit(d, data)
    if data is not None:
        (d / "dataindex.json").write_text(json.dumps(data))
    return d


def base_files(data):
    return data["indexes"]["alice/base"]["files"]


@pytest.mark.parametrize("case,expect", [
    ("dotdot", "not a plain file inside the export"),
    ("absolute", "not a plain file inside the export"),
    ("symlink", "not a plain file inside the export"),
    ("missing", "missing"),
    ("wrong_hash", "the export says"),
    ("wrong_md5", "md5 is"),
    ("dumpversion", "unsupported dumpversion"),
    ("bad_user", "invalid name"),
    ("bad_index", "not a valid user/index name"),
    ("bad_project", "invalid name or record"),
    ("bad_version", "invalid"),
    ("unknown_type", "unknown index type"),
    ("tox_elsewhere", "for_entrypath"),
])
def test_hostile_exports(tmp_path, case, expect):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")

    def edit(d, data):
        f = base_files(data)[0]
        if case == "dotdot":
            f["relpath"] = "../outside.txt"
        elif case == "absolute":
            f["relpath"] = str(outside)
        elif case == "symlink":
            os.symlink(outside, d / "alice/base/link.tar.gz")
            f["relpath"] = "alice/base/link.tar.gz"
        elif case == "missing":
            os.unlink(d / f["relpath"])
        elif case == "wrong_hash":
            f["entrymapping"]["hashes"]["sha256"] = "0" * 64
        elif case == "wrong_md5":
            f["entrymapping"]["hashes"]["md5"] = "0" * 32
        elif case == "dumpversion":
            data["dumpversion"] = "3"
        elif case == "bad_user":
            data["users"]["bad\u0007name"] = {"pwhash": "x"}
        elif case == "bad_index":
            data["indexes"]["alice/../etc"] = data["indexes"].pop("bob/team")
        elif case == "bad_project":
            data["indexes"]["alice/base"]["projects"]["bad/name"] = {}
        elif case == "bad_version":
            data["indexes"]["alice/base"]["projects"]["Hello"]["1.0/../x"] = {}
        elif case == "unknown_type":
            data["indexes"]["bob/team"]["indexconfig"]["type"] = "weird"
        elif case == "tox_elsewhere":
            base_files(data)[2]["for_entrypath"] = "bob/team/+f/abc/def/hello-1.0.tar.gz"

    d = broken_copy(tmp_path, edit)
    target = tmp_path / "store"
    p = run("import", "--serverdir", str(target), str(d))
    assert p.returncode != 0, p.stderr
    assert expect in p.stderr, p.stderr
    assert "nothing was imported" in p.stderr
    assert not target.exists() and not pathlib.Path(str(target) + ".importing").exists()
    assert outside.read_text() == "secret"


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"dumpversion": "2", "users": {"a": }}',
                                 b'{"dumpversion": "2"} trailing', b"\xff\xfe{}",
                                 b'{"dumpversion": "2", "users": ' + b"[" * 200 + b"]" * 200 + b"}"])
def test_malformed_dataindex(tmp_path, raw):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "dataindex.json").write_bytes(raw)
    p = run("import", "--serverdir", str(tmp_path / "store"), str(d))
    assert p.returncode != 0
    assert "dataindex.json" in p.stderr or "dumpversion" in p.stderr, p.stderr
    assert not (tmp_path / "store").exists()


def test_huge_dataindex_bounded_memory(tmp_path):
    """A 200 MB dataindex.json: one record over the bound is refused by name,
    and the import never holds the document in memory."""
    d = tmp_path / "huge"
    d.mkdir()
    with open(d / "dataindex.json", "w") as f:
        f.write('{"dumpversion": "2", "padding": [')
        chunk = ('"' + "x" * 1000 + '",') * 1000
        for _ in range(200):
            f.write(chunk)
        f.write('"end"], "users": {"alice": {"pwhash": "')
        f.write("y" * (20 << 20))
        f.write('"}}, "indexes": {}}')
    proc = subprocess.Popen([server_binary(), "import", "--serverdir", str(tmp_path / "store"), str(d)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as st:
                for line in st:
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.05)
    err = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode != 0
    assert "over its size bound" in err and "alice" in err, err
    assert peak < 120 * 1024, f"peak RSS {peak} KiB"


# ---------------------------------------------------------------- all or nothing

@pytest.mark.parametrize("delay", [0.02, 0.1, 0.3])
def test_kill_9_during_import(server_factory, tmp_path, pkgdir, delay):
    """Killed at several points: the serverdir is absent (a new store on the
    next start) or complete — never half an import."""
    d = tmp_path / "big"
    shutil.copytree(FIXTURE, d)
    data = json.loads((d / "dataindex.json").read_text())
    files = data["indexes"]["alice/base"]["files"]
    for i in range(40):
        dist = pb.make_wheel(pkgdir / str(i), "hello", f"2.{i}",
                             extra_files={"hello/blob.bin": pb.random_bytes(1 << 20, seed=i)})
        rel = f"alice/base/hello/2.{i}/{dist.filename}"
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(dist.data)
        files.append({"type": "releasefile", "projectname": "Hello", "version": f"2.{i}", "relpath": rel,
                      "entrymapping": {"hashes": {"sha256": dist.sha256}}, "log": []})
        data["indexes"]["alice/base"]["projects"]["Hello"][f"2.{i}"] = {"name": "Hello", "version": f"2.{i}"}
    (d / "dataindex.json").write_text(json.dumps(data))
    target = tmp_path / "store"
    proc = subprocess.Popen([server_binary(), "import", "--serverdir", str(target), str(d)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if not target.exists():
        # a leftover "<serverdir>.importing" is never taken for a store:
        # the import simply runs again and clears it
        p = run("import", "--serverdir", str(target), str(d))
        assert p.returncode == 0, p.stderr
    assert not pathlib.Path(str(target) + ".importing").exists()
    s = imported(server_factory, target)
    vers = s.jreq("GET", "/alice/base/hello").json()["result"]
    assert len(vers) == 41, "complete, never half an import"
    assert s.login("alice", "alice-pw").status_code == 200


def test_summary_lines_off_a_terminal(server_factory, tmp_path):
    """Not on a terminal: no redrawn progress line, one summary line each."""
    s = server_factory()
    s.new_stage()
    s.stop()
    results = [run("backup", "--serverdir", str(s.serverdir), str(tmp_path / "b")),
               run("export", "--serverdir", str(s.serverdir), str(tmp_path / "e")),
               run("import", "--serverdir", str(tmp_path / "i"), str(tmp_path / "e")),
               run("fsck", "--serverdir", str(tmp_path / "i"))]
    for name, p in zip(("backup", "export", "import"), results):
        assert p.returncode == 0, p.stderr
        assert "\r" not in p.stderr and "\033" not in p.stderr
        assert len([l for l in p.stderr.splitlines() if l.startswith(f"{name}: done")]) == 1, p.stderr
    assert results[3].returncode == 0 and results[3].stdout.startswith("fsck: ")


def test_import_dumpversion_1(server_factory, tmp_path):
    """devpi-server's older dumps: dumpversion "1", files with only a hash_spec."""
    def edit(d, data):
        data["dumpversion"] = "1"
        for f in base_files(data):
            f["entrymapping"].pop("hashes")
    d = broken_copy(tmp_path, edit)
    target = tmp_path / "store"
    p = run("import", "--serverdir", str(target), str(d))
    assert p.returncode == 0, p.stderr
    s = imported(server_factory, target)
    assert s.login("alice", "alice-pw").status_code == 200
    links = s.jreq("GET", "/alice/base/hello").json()["result"]["1.0"]["+links"]
    assert sorted(l["rel"] for l in links) == ["doczip", "releasefile", "toxresult"]
    # a wrong hash_spec is still caught
    def bad(d, data):
        data["dumpversion"] = "1"
        f = base_files(data)[0]
        f["entrymapping"].pop("hashes")
        f["entrymapping"]["hash_spec"] = "sha256=" + "1" * 64
    p = run("import", "--serverdir", str(tmp_path / "store2"), str(broken_copy(tmp_path / "x", bad)))
    assert p.returncode != 0 and "the export says" in p.stderr
