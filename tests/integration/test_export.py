"""devpi-like export OUTDIR (issue 6, API.md 9): devpi's export layout from
one snapshot of a running server — dataindex.json at dumpversion 2 with
users (password hashes), index configs, per-stage metadata and files with
their logs (releases, doc zips, tox results), and the files at devpi's
paths, each matching its recorded hash."""

import hashlib
import io
import json
import subprocess
import zipfile

import pkgbuild as pb
from harness import clean_env, server_binary


def run(*args):
    return subprocess.run([server_binary(), *args], capture_output=True, text=True, env=clean_env(),
                          timeout=120)


def doc_zip():
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("index.html", "<p>docs</p>")
    return b.getvalue()


def populate(s, pkgdir):
    base = s.new_stage("base", volatile=False)
    user, pw = s.create_user()
    s.create_index(user, pw, "mid", bases=[base.name])
    s.create_index(user, pw, "dev", bases=[f"{user}/mid"], mirror_whitelist="exp-pkg")
    from harness import Stage
    dev = Stage(s, user, pw, "dev")
    wh = pb.make_wheel(pkgdir, "Exp_Pkg", "1.0")
    sd = pb.make_sdist(pkgdir, "Exp_Pkg", "1.0")
    old = pb.make_sdist(pkgdir, "Exp_Pkg", "0.9")
    dev.upload_ok(wh, sd, old)
    base.upload_ok(pb.make_sdist(pkgdir / "b", "basepkg", "2.0"))
    r = dev.upload(name="Exp_Pkg", version="1.0", action="doc_upload", filename="Exp_Pkg-1.0.doc.zip",
                   content=doc_zip())
    assert r.status_code == 200, r.text
    tox = {"testenvs": {"py311": {"test": [{"retcode": 0}]}}}
    r = s.jreq("POST", dev.file_path(sd), tox)
    assert r.status_code == 200, r.text
    assert s.jreq("PATCH", f"{dev.path}/exp-pkg/0.9", {"yanked": "old"}, auth=dev.auth).status_code == 200
    return base, dev, wh, sd, old, tox


def test_export_layout(server_factory, pkgdir, tmp_path):
    s = server_factory()
    base, dev, wh, sd, old, tox = populate(s, pkgdir)
    out = tmp_path / "export"
    p = run("export", "--serverdir", str(s.serverdir), str(out))     # the server keeps running
    assert p.returncode == 0, p.stderr
    assert "export: done" in p.stderr
    data = json.loads((out / "dataindex.json").read_text())
    assert data["dumpversion"] == "2"
    assert data["users"][dev.user]["pwhash"].startswith("$argon2")
    assert data["users"][dev.user]["username"] == dev.user
    assert "root" in data["users"]
    ix = data["indexes"]
    assert ix["root/pypi"]["indexconfig"]["type"] == "mirror"
    cfg = ix[dev.name]["indexconfig"]
    assert cfg["bases"] == [f"{dev.user}/mid"] and cfg["mirror_whitelist"] == ["exp-pkg"]
    assert ix[base.name]["indexconfig"]["volatile"] is False
    projects = ix[dev.name]["projects"]
    assert set(projects) == {"Exp_Pkg"}, projects
    assert set(projects["Exp_Pkg"]) == {"1.0", "0.9"}
    assert projects["Exp_Pkg"]["0.9"]["yanked"] == "old"
    assert all("+links" not in v for v in projects["Exp_Pkg"].values())
    files = {f["relpath"]: f for f in ix[dev.name]["files"]}
    stage = dev.name
    assert f"{stage}/exp-pkg/1.0/{wh.filename}" in files
    assert f"{stage}/exp-pkg/1.0/{sd.filename}" in files
    assert f"{stage}/exp-pkg/0.9/{old.filename}" in files
    assert f"{stage}/exp-pkg-1.0.doc.zip" in files
    toxes = [f for f in files.values() if f["type"] == "toxresult"]
    assert len(toxes) == 1
    t = toxes[0]
    assert t["relpath"].startswith(f"{stage}/exp-pkg/sha256={sd.sha256}/{sd.filename}.toxresult-")
    assert t["for_entrypath"] == dev.file_path(sd).lstrip("/")
    assert json.loads((out / t["relpath"]).read_text()) == tox
    for rel, f in files.items():
        assert f["projectname"] == "Exp_Pkg" and f["version"] in ("1.0", "0.9")
        content = (out / rel).read_bytes()
        assert hashlib.sha256(content).hexdigest() == f["entrymapping"]["hashes"]["sha256"], rel
    rel_sd = files[f"{stage}/exp-pkg/1.0/{sd.filename}"]
    assert rel_sd["type"] == "releasefile"
    assert rel_sd["log"][0]["what"] == "upload" and rel_sd["log"][0]["who"] == dev.user
    assert (out / f"{stage}/exp-pkg/1.0/{wh.filename}").read_bytes() == wh.data
    assert (out / f"{stage}/exp-pkg-1.0.doc.zip").read_bytes() == doc_zip()
    assert ix[base.name]["files"][0]["relpath"].startswith(f"{base.name}/basepkg/2.0/")
    assert not list(out.rglob("*.partial"))


def test_export_leaves_out_deleted_and_refuses_nonempty(server_factory, pkgdir, tmp_path):
    s = server_factory()
    st = s.new_stage()
    a, b = pb.make_sdist(pkgdir, "gone", "1.0"), pb.make_sdist(pkgdir, "kept", "1.0")
    st.upload_ok(a, b)
    assert s.jreq("DELETE", f"{st.path}/gone", auth=st.auth).status_code == 200
    out = tmp_path / "e"
    assert run("export", "--serverdir", str(s.serverdir), str(out)).returncode == 0
    data = json.loads((out / "dataindex.json").read_text())
    assert set(data["indexes"][st.name]["projects"]) == {"kept"}
    assert [f["relpath"].split("/")[2] for f in data["indexes"][st.name]["files"]] == ["kept"]
    p = run("export", "--serverdir", str(s.serverdir), str(out))
    assert p.returncode != 0 and "not empty" in p.stderr
    p = run("export", "--serverdir", str(s.serverdir))
    assert p.returncode != 0 and "needs an output directory" in p.stderr


def test_export_include_mirrored_files(upstream, mirror_factory, tmp_path):
    s = mirror_factory()
    f = upstream.build({"mirexp": {"1.0": {}}})[("mirexp", "1.0", "wheel")]
    from fake_upstream import get_page, html_links
    url = html_links(get_page(s, "mirexp"))[f.filename]["url"]
    assert s.http.get(url[len(s.url):]).status_code == 200
    out1, out2 = tmp_path / "plain", tmp_path / "withmirror"
    assert run("export", "--serverdir", str(s.serverdir), str(out1)).returncode == 0
    d1 = json.loads((out1 / "dataindex.json").read_text())
    assert d1["indexes"]["root/pypi"]["files"] == []
    p = run("export", "--include-mirrored-files", "--serverdir", str(s.serverdir), str(out2))
    assert p.returncode == 0, p.stderr
    d2 = json.loads((out2 / "dataindex.json").read_text())
    files = d2["indexes"]["root/pypi"]["files"]
    assert [x["relpath"] for x in files] == [f"root/pypi/mirexp/1.0/{f.filename}"]
    assert d2["indexes"]["root/pypi"]["projects"] == {"mirexp": {"1.0": {"name": "mirexp", "version": "1.0"}}}
    assert (out2 / files[0]["relpath"]).read_bytes() == f.data
