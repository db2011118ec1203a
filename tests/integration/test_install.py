"""pip against private indexes (API.md 4.1, 4.2, route #15): dependencies,
exact pins, sdist download, --require-hashes, index-url without +simple."""

import pkgbuild as pb
from harness import installed_version


def test_install_with_dependency(stage, venv, pkgdir, tmp_path):
    stage.upload_ok(pb.make_wheel(pkgdir, "libdep", "1.0"),
                    pb.make_wheel(pkgdir, "libdep", "2.0"),
                    pb.make_wheel(pkgdir, "appx", "1.0", requires_dist=["libdep<2"]))
    target = tmp_path / "t"
    venv.install(stage.simple_url, "appx", target=target)
    assert installed_version(target, "appx") == "1.0"
    assert installed_version(target, "libdep") == "1.0"
    out = venv.run_py("import appx, libdep; print(appx.__version__, libdep.__version__)",
                      pythonpath=target)
    assert out.stdout.split() == ["1.0", "1.0"]


def test_missing_dependency_fails(stage, venv, pkgdir, tmp_path):
    stage.upload_ok(pb.make_wheel(pkgdir, "needy", "1.0", requires_dist=["notuploaded"]))
    p = venv.install(stage.simple_url, "needy", target=tmp_path / "t", check=False)
    assert p.returncode != 0
    assert "notuploaded" in p.stdout + p.stderr


def test_exact_pin(stage, venv, pkgdir, tmp_path):
    stage.upload_ok(pb.make_wheel(pkgdir, "pinned", "1.0"),
                    pb.make_wheel(pkgdir, "pinned", "2.0"),
                    pb.make_wheel(pkgdir, "pinned", "10.0"))
    t1 = tmp_path / "t1"
    venv.install(stage.simple_url, "pinned==1.0", target=t1)
    assert installed_version(t1, "pinned") == "1.0"
    t2 = tmp_path / "t2"
    venv.install(stage.simple_url, "pinned", target=t2)
    assert installed_version(t2, "pinned") == "10.0"


def test_download_sdist(stage, venv, pkgdir, tmp_path):
    sd = pb.make_sdist(pkgdir, "sdonly", "1.5")
    stage.upload_ok(sd)
    dl = tmp_path / "dl"
    venv.pip("download", "--index-url", stage.simple_url, "--no-deps", "--timeout", "30",
             "--retries", "0", "--no-build-isolation", "--no-use-pep517", "-d", dl, "sdonly")
    assert (dl / sd.filename).read_bytes() == sd.data


def test_require_hashes(stage, venv, pkgdir, tmp_path):
    whl = pb.make_wheel(pkgdir, "hashed", "1.0")
    stage.upload_ok(whl)
    good = tmp_path / "good.txt"
    good.write_text(f"hashed==1.0 --hash=sha256:{whl.sha256}\n")
    t = tmp_path / "t"
    venv.install(stage.simple_url, "--require-hashes", "-r", good, target=t)
    assert installed_version(t, "hashed") == "1.0"
    bad = tmp_path / "bad.txt"
    bad.write_text(f"hashed==1.0 --hash=sha256:{'0' * 64}\n")
    p = venv.install(stage.simple_url, "--require-hashes", "-r", bad, target=tmp_path / "t2",
                     check=False)
    assert p.returncode != 0
    assert "DO NOT MATCH THE HASHES" in p.stdout + p.stderr


def test_index_url_without_simple(stage, venv, pkgdir, tmp_path):
    """pip with index-url <url>/user/index/ asks <url>/user/index/<project>/
    with a pip User-Agent: route #15 serves the simple page there."""
    stage.upload_ok(pb.make_wheel(pkgdir, "plainurl", "1.0"),
                    pb.make_wheel(pkgdir, "plaindep", "1.0"),
                    pb.make_wheel(pkgdir, "plainapp", "1.0", requires_dist=["plaindep"]))
    t = tmp_path / "t"
    venv.install(stage.url + "/", "plainurl", "plainapp", target=t)
    assert installed_version(t, "plainurl") == "1.0"
    assert installed_version(t, "plaindep") == "1.0"


def test_install_through_normalized_name(stage, venv, pkgdir, tmp_path):
    stage.upload_ok(pb.make_wheel(pkgdir, "Mixed_Case.Name", "1.0"))
    t = tmp_path / "t"
    venv.install(stage.simple_url, "mixed-case-name", target=t)
    assert installed_version(t, "Mixed_Case.Name") == "1.0"
