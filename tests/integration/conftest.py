"""Fixtures for the devpi-like integration suite (see harness.py for the helpers).

- server (module scope): one fresh store per test module, started with
  --root-passwd; teardown fails the last test if the server died on its own or
  printed a sanitizer report.
- server_factory (function scope): start servers with extra options
  (--max-upload-size, --header-timeout, no root password, ...).
- stage (function scope): a fresh user + index on the module server.
- venv (session scope): a venv made by /usr/bin/python3 -m venv (pip and
  setuptools from Debian's ensurepip wheels).
"""

import os
from pathlib import Path

import pytest

from harness import Server, Venv, server_binary


def _require_binary():
    b = server_binary()
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        pytest.fail(f"devpi-like binary not found at {b} (build it with `make`, or set "
                    f"DEVPI_LIKE_BIN)", pytrace=False)
    return b


def _finish(server: Server):
    died = server.alive() is False and not server.expected_exit
    rc = server.proc.poll() if server.proc else None
    server.stop()
    problems = []
    if died:
        problems.append(f"server exited on its own with code {rc}")
    san = server.sanitizer_reports()
    if san:
        problems.append("sanitizer report in server output")
    if problems:
        tail = server.log_text()[-6000:]
        pytest.fail("; ".join(problems) + f" (logs in {server.basedir})\n{tail}", pytrace=False)


@pytest.fixture(scope="session")
def server_bin():
    return _require_binary()


@pytest.fixture(scope="module")
def server(tmp_path_factory, server_bin):
    s = Server(tmp_path_factory.mktemp("srv"))
    s.start()
    yield s
    _finish(s)


@pytest.fixture
def server_factory(tmp_path_factory, server_bin):
    started = []

    def make(args=(), root_passwd="root-secret", start=True, threads=2, serverdir=None):
        s = Server(tmp_path_factory.mktemp("srvf"), root_passwd=root_passwd, args=args,
                   threads=threads, serverdir=serverdir)
        started.append(s)
        if start:
            s.start()
        return s

    yield make
    errors = []
    for s in started:
        try:
            _finish(s)
        except pytest.fail.Exception as e:  # report all, fail once
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def stage(server):
    return server.new_stage()


@pytest.fixture(scope="session")
def venv(tmp_path_factory):
    return Venv(tmp_path_factory.mktemp("venv") / "venv")


@pytest.fixture
def pkgdir(tmp_path) -> Path:
    d = tmp_path / "pkgs"
    d.mkdir()
    return d


# --------------------------------------------------------------------------
# mirror fixtures (fake upstream PyPI, see fake_upstream.py)

@pytest.fixture
def upstream(tmp_path_factory):
    """A started FakeUpstream with an empty tree; stopped after the test (and
    after every devpi-like server of the test, which depend on it)."""
    from fake_upstream import FakeUpstream
    up = FakeUpstream(tmp_path_factory.mktemp("upstream"))
    up.start()
    yield up
    up.stop()


@pytest.fixture
def mirror_factory(upstream, server_factory):
    """make(args=(), expiry=None, request_timeout=None, offline=False,
    mirror_url=None, up=None, **server_factory_kw) -> a started devpi-like
    whose root/pypi mirrors the fake upstream (--root-pypi-url)."""
    def make(args=(), expiry=None, request_timeout=None, offline=False, mirror_url=None,
             up=None, **kw):
        a = ["--root-pypi-url", mirror_url or (up or upstream).simple_url]
        if expiry is not None:
            a += ["--mirror-cache-expiry", str(expiry)]
        if request_timeout is not None:
            a += ["--request-timeout", str(request_timeout)]
        if offline:
            a += ["--offline-mode"]
        return server_factory(args=a + list(args), **kw)
    return make


@pytest.fixture
def mirror_server(mirror_factory):
    """devpi-like with root/pypi -> the fake upstream, default options."""
    return mirror_factory()
