"""devpi-like gen-config OUTDIR (issue 7, docker/): nginx, systemd and
docker compose files for one node and for a primary + two replicas behind
nginx.  The files carry the options given, refuse values that would inject
configuration, never overwrite, and docker/ holds exactly what gen-config
writes.  The nginx files are run by a real nginx (when installed) in front
of real devpi-like servers: reads land on the replicas, writes and /+login
on the primary."""

import os
import re
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

import pkgbuild as pb
from harness import REPO_ROOT, Client, Server, Stage, clean_env, server_binary

FILES = ("nginx-devpi-like.conf", "devpi-like.service", "docker-compose.yml", "nginx-replicas.conf")
TOPOLOGY = ("docker-compose.yml", "nginx-replicas.conf")
NGINX = "/usr/sbin/nginx"
JSON = {"Accept": "application/json"}


def gen(*args, env=None, cwd=None):
    e = clean_env()
    e.update(env or {})
    return subprocess.run([server_binary(), "gen-config", *args], capture_output=True, text=True, env=e,
                          cwd=cwd, timeout=30)


def gen_ok(*args, **kw):
    p = gen(*args, **kw)
    assert p.returncode == 0, p.stderr
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exec_start(unit_text):
    lines = [ln for ln in unit_text.splitlines() if ln.startswith("ExecStart=")]
    assert len(lines) == 1, unit_text
    return lines[0][len("ExecStart="):].split(" ")


# --------------------------------------------------------------------------
# the files and what they carry

def test_writes_the_four_files_with_defaults(tmp_path):
    out = tmp_path / "out"                      # created by gen-config
    p = gen_ok(str(out), cwd=tmp_path)
    assert sorted(x.name for x in out.iterdir()) == sorted(FILES)
    for name in FILES:
        assert f"wrote {out}/{name}" in p.stdout
    unit = (out / "devpi-like.service").read_text()
    argv = exec_start(unit)
    assert argv[0] == str(Path(server_binary()).resolve())
    assert argv[1:] == ["serve", "--serverdir", str(tmp_path / "data"), "--host", "127.0.0.1", "--port", "3141"]
    for line in ("Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 f"ReadWritePaths={tmp_path / 'data'}", "CapabilityBoundingSet=", "WantedBy=multi-user.target"):
        assert line in unit.splitlines(), line
    assert "AmbientCapabilities" not in unit
    node = (out / "nginx-devpi-like.conf").read_text()
    assert "    server 127.0.0.1:3141;\n" in node
    assert "client_max_body_size 1g;" in node
    assert "proxy_set_header X-Outside-Url $scheme://$http_host;" in node
    assert "listen 80;" in node


def test_options_land_in_the_unit_and_nginx_files(tmp_path):
    out = tmp_path / "out"
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/devpi-like.conf").write_text("[devpi-like]\nmax-upload-size = 2M\n")
    gen_ok("--serverdir", "/srv/devpi-like/./data/", "--host", "0.0.0.0", "--port", "4000",
           "--outside-url", "https://pypi.example.com:8443/", "--primary-url", "http://primary.example:3141/",
           "--secretfile", "etc/secret", "-c", "etc/devpi-like.conf", str(out), cwd=tmp_path)
    argv = exec_start((out / "devpi-like.service").read_text())
    assert argv[1:] == ["serve", "-c", str(tmp_path / "etc/devpi-like.conf"),
                        "--serverdir", "/srv/devpi-like/data", "--host", "0.0.0.0", "--port", "4000",
                        "--outside-url", "https://pypi.example.com:8443",
                        "--primary-url", "http://primary.example:3141",
                        "--secretfile", str(tmp_path / "etc/secret")]
    assert "ReadWritePaths=/srv/devpi-like/data\n" in (out / "devpi-like.service").read_text()
    node = (out / "nginx-devpi-like.conf").read_text()
    assert "    server 127.0.0.1:4000;\n" in node            # 0.0.0.0 is reached through loopback
    assert "listen 8443 ssl;" in node
    assert "client_max_body_size 2m;" in node                   # from the -c file
    assert "server_name pypi.example.com;" in node
    assert 'proxy_set_header X-Outside-Url "https://pypi.example.com:8443";' in node
    compose = (out / "docker-compose.yml").read_text()
    assert f'file: "{tmp_path / "etc/secret"}"' in compose
    assert '"4000:8443"' in compose
    assert compose.count('"--port", "4000"') == 3
    assert compose.count('"http://primary:4000"') == 2
    rep = (out / "nginx-replicas.conf").read_text()
    assert "server primary:4000;" in rep and "server replica1:4000;" in rep and "server replica2:4000;" in rep


def test_environment_and_role_reach_the_unit(tmp_path):
    out = tmp_path / "out"
    gen_ok("--secretfile", "/etc/devpi-like/secret", "--serverdir", "/srv/d", "--port", "80", str(out),
           env={"DEVPI_LIKE_ROLE": "primary", "DEVPI_LIKE_MAX_UPLOAD_SIZE": "300M"})
    unit = (out / "devpi-like.service").read_text()
    assert exec_start(unit)[-4:] == ["--role", "primary", "--secretfile", "/etc/devpi-like/secret"]
    # a port below 1024 needs exactly this one capability
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n" in unit
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE\n" in unit
    for name in ("nginx-devpi-like.conf", "nginx-replicas.conf"):
        assert "client_max_body_size 300m;" in (out / name).read_text()


def test_ipv6_host_is_bracketed(tmp_path):
    out = tmp_path / "out"
    gen_ok("--host", "::", "--port", "3141", str(out))
    assert "    server [::1]:3141;\n" in (out / "nginx-devpi-like.conf").read_text()


def test_compose_topology_structure(tmp_path):
    yaml = pytest.importorskip("yaml")
    out = tmp_path / "out"
    gen_ok(str(out))
    c = yaml.safe_load((out / "docker-compose.yml").read_text())
    assert set(c["services"]) == {"primary", "replica1", "replica2", "nginx"}
    secret = "/run/secrets/devpi-like-secret"
    p = c["services"]["primary"]
    assert p["command"] == ["--port", "3141", "--role", "primary", "--secretfile", secret]
    for r in ("replica1", "replica2"):
        assert c["services"][r]["command"] == ["--port", "3141", "--primary-url", "http://primary:3141",
                                               "--secretfile", secret]
        assert c["services"][r]["depends_on"] == ["primary"]
    vols = {n: c["services"][n]["volumes"] for n in ("primary", "replica1", "replica2")}
    assert vols == {n: [f"{n}-data:/data"] for n in vols}        # a named volume per node
    assert set(c["volumes"]) == {"primary-data", "replica1-data", "replica2-data"}
    for n in vols:
        assert c["services"][n]["secrets"] == ["devpi-like-secret"]
        assert c["services"][n]["image"] == "devpi-like"
    assert c["secrets"] == {"devpi-like-secret": {"file": "./secret"}}
    ng = c["services"]["nginx"]
    assert ng["ports"] == ["3141:80"]
    assert ng["volumes"] == ["./nginx-replicas.conf:/etc/nginx/conf.d/default.conf:ro"]


def test_docker_files_are_gen_config_output(tmp_path):
    """docker/ holds exactly what gen-config writes with the defaults, so the
    two cannot drift: after changing genconfig.c, regenerate with
    `devpi-like gen-config OUTDIR` and copy these two files into docker/."""
    out = tmp_path / "out"
    gen_ok(str(out), cwd=tmp_path)
    for name in TOPOLOGY:
        committed = (REPO_ROOT / "docker" / name).read_text()
        assert committed == (out / name).read_text(), f"docker/{name} differs from gen-config's output"
    dockerfile = (REPO_ROOT / "docker" / "Dockerfile").read_text()
    assert "-t devpi-like ." in dockerfile                      # the image name compose uses
    assert '"serve"' in dockerfile and '"--serverdir", "/data"' in dockerfile
    assert "--uid 3141" in dockerfile                           # the chown in compose's comment
    assert "install -d -o devpi -g devpi" in dockerfile         # /data writable by the devpi user


# --------------------------------------------------------------------------
# refusals

BAD = [
    ("--host", "127.0.0.1;evil"),
    ("--host", "a b"),
    ("--host", "x\nlisten 1"),
    ("--host", "}"),
    ("--host", "1:2:zz"),
    ("--outside-url", 'http://x/"; add_header a b'),
    ("--outside-url", "http://x/\nlocation"),
    ("--outside-url", "http://x/}"),
    ("--outside-url", "http://x/$host"),
    ("--outside-url", "http://x/#c"),
    ("--outside-url", "http://x/a b"),
    ("--outside-url", "http://x/%h"),
    ("--outside-url", "ftp://x"),
    ("--outside-url", "http://"),
    ("--outside-url", "http://x:99999"),
    ("--outside-url", "http://x:"),
    ("--outside-url", "http://x/a/../b"),
    ("--outside-url", "http://x/[a]"),
    ("--outside-url", "http://[zz]/"),
    ("--outside-url", "http://x" + "/a" * 300),
    ("--serverdir", "/srv/a b"),
    ("--serverdir", "/srv/x\nExecStartPre=/bin/sh"),
    ("--serverdir", "/srv/%h"),
    ("--serverdir", "/srv/$HOME"),
    ("--serverdir", '/srv/"q"'),
    ("--serverdir", "/" + "a" * 1100),
    ("--secretfile", "/etc/s;x"),
    ("--secretfile", "/etc/s\ny: z"),
]


@pytest.mark.parametrize("opt,value", BAD, ids=[f"{o}={v[:24]!r}" for o, v in BAD])
def test_refuses_values_that_would_inject_config(tmp_path, opt, value):
    out = tmp_path / "out"
    p = gen(opt, value, str(out))
    assert p.returncode != 0
    assert f"gen-config: {opt}" in p.stderr, p.stderr
    assert "nothing written" in p.stderr
    assert not out.exists()                                     # refused before anything is created


@pytest.mark.parametrize("args,message", [
    (["--primary-url", "http://user:pw@primary:3141", "--secretfile", "/s"], "must not contain credentials"),
    (["--primary-url", "http://primary:3141"], "a replica needs --secretfile"),
    (["--port", "0"], "needs a fixed --port"),
])
def test_refuses_unusable_combinations(tmp_path, args, message):
    out = tmp_path / "out"
    p = gen(*args, str(out))
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    assert not out.exists()


def test_role_primary_without_secretfile_refused(tmp_path):
    p = gen(str(tmp_path / "out"), env={"DEVPI_LIKE_ROLE": "primary"})
    assert p.returncode != 0
    assert "--role primary needs --secretfile" in p.stderr


def test_never_overwrites(tmp_path):
    out = tmp_path / "out"
    gen_ok(str(out))
    before = {n: (out / n).read_bytes() for n in FILES}
    p = gen("--port", "4000", str(out))
    assert p.returncode != 0
    for n in FILES:
        assert f"'{out}/{n}' already exists" in p.stderr
    assert {n: (out / n).read_bytes() for n in FILES} == before


def test_one_existing_file_blocks_the_others(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "devpi-like.service").write_text("mine\n")
    (out / "README").write_text("unrelated\n")
    p = gen(str(out))
    assert p.returncode != 0
    assert "devpi-like.service' already exists" in p.stderr
    assert (out / "devpi-like.service").read_text() == "mine\n"
    assert sorted(x.name for x in out.iterdir()) == ["README", "devpi-like.service"]
    # a symlink counts as existing too (not followed, not replaced)
    (out / "devpi-like.service").unlink()
    (out / "devpi-like.service").symlink_to(tmp_path / "elsewhere")
    assert gen(str(out)).returncode != 0
    assert not (tmp_path / "elsewhere").exists()
    # only unrelated files: fine
    (out / "devpi-like.service").unlink()
    gen_ok(str(out))
    assert (out / "README").read_text() == "unrelated\n"


def test_outdir_that_is_a_file_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    p = gen(str(f))
    assert p.returncode != 0
    assert "is not a directory" in p.stderr
    assert gen(str(tmp_path / "no" / "such" / "dir")).returncode != 0


# --------------------------------------------------------------------------
# a real nginx in front of real servers

def _nginx_main_conf(d: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""       # workers need to reach d
    return (f"{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {d}/access.log;\n"
            f"    client_body_temp_path {d}/client_body;\n    proxy_temp_path {d}/proxy;\n"
            f"    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n"
            f"    scgi_temp_path {d}/scgi;\n"
            f"    include {d}/site.conf;\n"
            "}\n")


class Nginx:
    """nginx as the current user: -p dir, daemon off, every path inside dir,
    the site's `listen` moved to 127.0.0.1:<port>; stopped by its own pid."""

    def __init__(self, basedir, site_conf, port=None):
        self.dir = Path(basedir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        site, n = re.subn(r"^(\s*)listen \d+;", rf"\g<1>listen 127.0.0.1:{self.port};", site_conf, flags=re.M)
        assert n == 1, site_conf
        (self.dir / "site.conf").write_text(site)
        (self.dir / "nginx.conf").write_text(_nginx_main_conf(self.dir))
        self.proc = None

    url = property(lambda self: f"http://127.0.0.1:{self.port}")

    def argv(self, *extra):
        return [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e", str(self.dir / "error.log"),
                *extra]

    def log(self):
        p = self.dir / "error.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""

    def start(self):
        t = subprocess.run(self.argv("-t"), capture_output=True, text=True, timeout=30)
        assert t.returncode == 0, f"nginx -t: {t.stderr}\n{self.log()}"
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"nginx exited: {self.log()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not listen on {self.port}: {self.log()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def nginx_factory(tmp_path):
    # a failure, not a skip: scripts/deps.sh installs nginx for make test
    assert os.access(NGINX, os.X_OK), f"{NGINX} is missing: run scripts/deps.sh"
    started = []

    def make(site_conf, port=None, name="nginx"):
        n = Nginx(tmp_path / name, site_conf, port)
        started.append(n)
        return n.start()

    yield make
    for n in started:
        n.stop()


class Front:
    """The nginx in front, used like a harness Server (url, http, jreq)."""

    def __init__(self, url):
        self.url = url
        self.http = Client(self)

    jreq = Server.jreq


def uuid_of(resp):
    return resp.headers.get("X-DEVPI-UUID")


def node_uuid(s):
    r = s.http.get("/+api", headers=JSON)
    assert r.status_code == 200
    return uuid_of(r)


def substitute_nodes(site, nodes):
    """Points the generated upstreams (primary:3141, replica1:3141, ...) at
    the test's servers."""
    for name, s in nodes.items():
        site, n = re.subn(rf"(\n\s*server ){name}:3141;", rf"\g<1>127.0.0.1:{s.port};", site)
        assert n == 1, name
    return site


def test_nginx_replicas_reads_to_replicas_writes_to_primary(tmp_path, server_factory, nginx_factory, pkgdir):
    out = tmp_path / "gen"
    gen_ok(str(out))
    # three standalone servers stand in for the nodes: each answers with its
    # own X-DEVPI-UUID, so every response says where nginx sent the request
    nodes = {n: server_factory(args=["--no-root-pypi"]) for n in ("primary", "replica1", "replica2")}
    uuid = {n: node_uuid(s) for n, s in nodes.items()}
    assert len(set(uuid.values())) == 3
    replicas = {uuid["replica1"], uuid["replica2"]}
    for s in nodes.values():                    # the same index everywhere, so any node can answer reads
        s.create_user("alice", "alice-pw")
        s.create_index("alice", "alice-pw", "dev")
    ng = nginx_factory(substitute_nodes((out / "nginx-replicas.conf").read_text(), nodes))
    front = Front(ng.url)

    reads = Counter()
    for path, h in [("/+api", JSON)] * 6 + [("/alice/dev/+simple/", {})] * 4 + [("/alice/dev", JSON)] * 2:
        r = front.http.get(path, headers=h)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        reads[uuid_of(r)] += 1
    for _ in range(4):
        r = front.http.head("/+api")
        assert r.status_code == 200
        reads[uuid_of(r)] += 1
    assert set(reads) == replicas, reads        # both replicas, never the primary
    assert min(reads.values()) >= 4, reads
    # nginx tells the nodes the outside URL
    api = front.jreq("GET", "/+api").json()["result"]
    assert api["login"] == ng.url + "/+login", api

    # writes go to the primary
    r = front.jreq("PUT", "/bob", {"password": "bob-pw"}, auth=nodes["primary"].root_auth)
    assert r.status_code == 201, r.text
    assert uuid_of(r) == uuid["primary"]
    assert nodes["primary"].jreq("GET", "/bob").status_code == 200
    assert nodes["replica1"].jreq("GET", "/bob").status_code == 404
    assert nodes["replica2"].jreq("GET", "/bob").status_code == 404
    r = front.jreq("POST", "/+login", {"user": "bob", "password": "bob-pw"})
    assert r.status_code == 200, r.text
    assert uuid_of(r) == uuid["primary"]
    assert uuid_of(front.jreq("GET", "/+login")) == uuid["primary"]       # /+login whatever the method
    assert uuid_of(front.jreq("GET", "/+login?x=1")) == uuid["primary"]
    r = front.jreq("PATCH", "/bob", {"email": "bob@example.com"}, auth=("bob", "bob-pw"))
    assert r.status_code == 200, r.text
    assert uuid_of(r) == uuid["primary"]
    r = front.jreq("PUT", "/bob/dev", {}, auth=("bob", "bob-pw"))
    assert r.status_code == 200, r.text
    assert uuid_of(r) == uuid["primary"]
    whl = pb.make_wheel(pkgdir, "gc_pkg", "1.0")
    r = Stage(front, "bob", "bob-pw", "dev").upload(whl)
    assert r.status_code == 200, r.text
    assert uuid_of(r) == uuid["primary"]
    r = front.jreq("DELETE", "/alice/dev", auth=("alice", "alice-pw"))
    assert r.status_code == 201, r.text
    assert uuid_of(r) == uuid["primary"]
    assert nodes["primary"].jreq("GET", "/alice/dev").status_code == 404
    assert nodes["replica1"].jreq("GET", "/alice/dev").status_code == 200
    # the replication endpoints are the primary's
    r = front.http.get("/+changelog/0-")
    assert uuid_of(r) == uuid["primary"]
    # a GET of a file goes to a replica (the standalone stand-ins lack it)
    r = front.http.get(f"/bob/dev/+f/{whl.relpath_dirs()}/{whl.filename}")
    assert uuid_of(r) in replicas and r.status_code == 404


def test_nginx_single_node_prefix_and_upload_limit(tmp_path, server_factory, nginx_factory, pkgdir):
    s = server_factory(args=["--no-root-pypi"])
    port = free_port()
    out = tmp_path / "gen"
    gen_ok("--port", str(s.port), "--outside-url", f"http://127.0.0.1:{port}/pfx/", str(out),
           env={"DEVPI_LIKE_MAX_UPLOAD_SIZE": "64K"})
    site = (out / "nginx-devpi-like.conf").read_text()
    assert "client_max_body_size 64k;" in site
    ng = nginx_factory(site, port=port)
    front = Front(ng.url + "/pfx")
    r = front.jreq("GET", "/+api")
    assert r.status_code == 200, r.text
    assert uuid_of(r) == node_uuid(s)
    assert r.json()["result"]["login"] == f"http://127.0.0.1:{port}/pfx/+login"
    user, pw = s.create_user()
    s.create_index(user, pw, "dev")
    st = Stage(front, user, pw, "dev")
    whl = pb.make_wheel(pkgdir, "gc_small", "1.0")
    r = st.upload(whl)
    assert r.status_code == 200, r.text
    r = front.http.get(st.file_path(whl))
    assert r.status_code == 200
    assert r.content == whl.data
    links = front.http.get(f"{st.path}/+simple/gc-small/")
    assert links.status_code == 200 and whl.filename in links.text
    # nginx enforces the node's upload limit itself
    r = st.upload(filename="gc_big-1.0.tar.gz", content=b"x" * (100 * 1024), name="gc_big", version="1.0")
    assert r.status_code == 413
    assert uuid_of(r) is None                    # answered by nginx, never reached devpi-like
    assert s.jreq("GET", f"{st.path}/gc-big").status_code == 404


def _compose_commands():
    """The devpi-like options of each node as docker/docker-compose.yml gives
    them (a flow list that may span lines)."""
    text = (REPO_ROOT / "docker" / "docker-compose.yml").read_text()
    cmds = {}
    for m in re.finditer(r"^  (\w+):\n    image: devpi-like\n    command: \[(.*?)\]", text, re.M | re.S):
        cmds[m.group(1)] = re.findall(r'"([^"]*)"', m.group(2))
    assert set(cmds) == {"primary", "replica1", "replica2"}, cmds
    return cmds


def _node_args(cmd, secret, primary_url=None):
    """A compose command for a test node: no fixed port (the harness picks
    one), the secret where the test keeps it, the primary on loopback."""
    args, it = [], iter(cmd)
    for a in it:
        if a == "--port":
            next(it)
            continue
        if a == "/run/secrets/devpi-like-secret":
            a = str(secret)
        if a == "http://primary:3141":
            a = primary_url
        args.append(a)
    return args


def test_docker_topology_end_to_end(tmp_path, server_factory, nginx_factory, pkgdir):
    """The committed compose commands and nginx config, run for real: a
    primary and two replicas on loopback, nginx in front.  An upload through
    nginx lands on the primary and is then read through nginx from both
    replicas."""
    cmds = _compose_commands()
    secret = tmp_path / "secret"
    secret.write_text("s" * 48)
    p = server_factory(args=_node_args(cmds["primary"], secret) + ["--no-root-pypi"])
    nodes = {"primary": p}
    for r in ("replica1", "replica2"):
        nodes[r] = server_factory(args=_node_args(cmds[r], secret, p.url), root_passwd=None)
    uuid = {n: node_uuid(s) for n, s in nodes.items()}
    site = substitute_nodes((REPO_ROOT / "docker" / "nginx-replicas.conf").read_text(), nodes)
    front = Front(nginx_factory(site).url)

    r = front.jreq("PUT", "/carol", {"password": "carol-pw"}, auth=p.root_auth)
    assert r.status_code == 201 and uuid_of(r) == uuid["primary"], r.text
    r = front.jreq("PUT", "/carol/dev", {}, auth=("carol", "carol-pw"))
    assert r.status_code == 200 and uuid_of(r) == uuid["primary"], r.text
    whl = pb.make_wheel(pkgdir, "gc_topo", "1.0")
    st = Stage(front, "carol", "carol-pw", "dev")
    r = st.upload(whl)
    assert r.status_code == 200 and uuid_of(r) == uuid["primary"], r.text
    serial = int(r.headers["X-DEVPI-SERIAL"])
    # both replicas catch up with the primary's serial
    deadline = time.monotonic() + 30
    for n in ("replica1", "replica2"):
        while nodes[n].serial() < serial:
            assert time.monotonic() < deadline, f"{n} stuck at serial {nodes[n].serial()} < {serial}"
            time.sleep(0.1)
    seen = Counter()
    for _ in range(4):
        r = front.http.get(f"{st.path}/+simple/gc-topo/")
        assert r.status_code == 200 and whl.filename in r.text, r.text[:300]
        seen[uuid_of(r)] += 1
        r = front.http.get(st.file_path(whl))
        assert r.status_code == 200 and r.content == whl.data
        seen[uuid_of(r)] += 1
    assert set(seen) == {uuid["replica1"], uuid["replica2"]}, seen
    # a login token from the primary is good on the replicas (shared secret)
    tok = front.jreq("POST", "/+login", {"user": "carol", "password": "carol-pw"})
    assert tok.status_code == 200 and uuid_of(tok) == uuid["primary"], tok.text
