"""devpi-like backup DEST (issue 6, API.md B): a consistent, compacted copy
of a running server's store; a server started on it serves the same data;
refusals are clear."""

import subprocess
import threading

import pkgbuild as pb
from harness import Stage, clean_env, server_binary


def run(*args, timeout=120):
    return subprocess.run([server_binary(), *args], capture_output=True, text=True, env=clean_env(),
                          timeout=timeout)


def test_backup_of_a_running_server(server_factory, pkgdir, venv, tmp_path):
    s = server_factory()
    st = s.new_stage()
    dists = [pb.make_wheel(pkgdir, f"bk{i}", "1.0") for i in range(5)]
    st.upload_ok(*dists)
    # writes keep going while the copy runs
    stop = threading.Event()
    extra = []

    def writer():
        i = 0
        while not stop.is_set() and i < 30:
            d = pb.make_sdist(pkgdir / "w", f"bgpkg{i}", "1.0")
            if st.upload(d).status_code == 200:
                extra.append(d)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    dest = tmp_path / "backup"
    p = run("backup", "--serverdir", str(s.serverdir), str(dest))
    stop.set()
    t.join()
    assert p.returncode == 0, p.stderr
    assert "backup: done" in p.stderr
    assert (dest / "data.mdb").exists() and not (dest / "data.mdb.partial").exists()
    # the copy is sound, and a server on it serves what was there before it
    f = run("fsck", "--serverdir", str(dest))
    assert f.returncode == 0, f.stdout + f.stderr
    s.stop()
    b = server_factory(serverdir=dest, root_passwd=None)
    bst = Stage(b, st.user, st.password)
    for d in dists:
        r = b.http.get(bst.file_path(d))
        assert r.status_code == 200 and r.content == d.data
    assert b.login(st.user, st.password).status_code == 200
    venv.install(bst.simple_url, "bk3", target=tmp_path / "t")
    # uploads made during the copy are there or not, whole either way
    projects = set(bst.config()["projects"])
    for d in extra:
        if d.name in projects:
            assert b.http.get(bst.file_path(d)).content == d.data


def test_backup_refusals(server_factory, tmp_path):
    s = server_factory()
    dest = tmp_path / "b1"
    assert run("backup", "--serverdir", str(s.serverdir), str(dest)).returncode == 0
    p = run("backup", "--serverdir", str(s.serverdir), str(dest))
    assert p.returncode != 0 and "already holds a store" in p.stderr
    p = run("backup", "--serverdir", str(s.serverdir))
    assert p.returncode != 0 and "needs a destination" in p.stderr
    p = run("backup", "--serverdir", str(tmp_path / "nope"), str(tmp_path / "b2"))
    assert p.returncode != 0 and "no serverdir" in p.stderr
    notdir = tmp_path / "file"
    notdir.write_text("x")
    p = run("backup", "--serverdir", str(s.serverdir), str(notdir))
    assert p.returncode != 0
    assert notdir.read_text() == "x"
