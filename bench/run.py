#!/usr/bin/env python3
"""make bench: devpi-like measured against references on the same machine.

Starts, all on 127.0.0.1 and as children of this process:
- the fake upstream PyPI of the integration suite (tests/integration/
  fake_upstream.py), with every project the cases need built up front (the
  upstream project list devpi-like caches then already names them all);
- devpi-like (the real binary, a temporary serverdir, --threads 2, access
  log off, log level warn, root/pypi mirroring the fake upstream);
- nginx (Debian's) with a generated config in a temporary directory,
  `daemon off`, 2 workers, access_log off, sendfile on, serving the very
  bytes devpi-like sent as static files;
and runs the nine cases of issue 4, each figure a ratio against a reference
measured in the same run.  The table goes to stdout and to
bench/results/<timestamp>.md with the machine's facts.  Targets are shown
with ✓/✗ and never fail the run; a case that errors is recorded as
"error: ..." and the others go on.  Every process is stopped by its own pid
and the temporary directory is removed (unless --keep).
"""

import argparse
import gzip
import hashlib
import html
import http.client
import json
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import harness as H            # noqa: E402
import fake_upstream as FU     # noqa: E402
import pkgbuild as pb          # noqa: E402

HOST = "127.0.0.1"
PIP_UA = H.PIP_UA
HTML_HEADERS = {"User-Agent": PIP_UA, "Accept": "text/html"}
MB = 1024 * 1024

WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\"requests\":%d,\"bytes\":%d,\"duration_us\":%d,\"connect\":%d," ..
    "\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d,\"lat_mean_us\":%.1f," ..
    "\"lat_p50_us\":%d,\"lat_p99_us\":%d,\"lat_max_us\":%d}\n",
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency.mean, latency:percentile(50), latency:percentile(99),
    latency.max))
end
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------
# wrk

class WrkResult:
    def __init__(self, d, text):
        self.requests = d["requests"]
        self.bytes = d["bytes"]
        self.seconds = d["duration_us"] / 1e6
        self.rps = self.requests / self.seconds if self.seconds else 0.0
        self.bps = self.bytes / self.seconds if self.seconds else 0.0
        self.errors = {k: d[k] for k in ("connect", "read", "write", "status", "timeout")}
        self.p50_us = d["lat_p50_us"]
        self.p99_us = d["lat_p99_us"]
        self.text = text

    @property
    def bytes_per_resp(self):
        return self.bytes / self.requests if self.requests else 0

    def problems(self):
        bad = {k: v for k, v in self.errors.items() if v}
        if not bad:
            return ""
        names = {"status": "non-2xx/3xx", "connect": "connect errors", "read": "read errors",
                 "write": "write errors", "timeout": "timeouts"}
        return ", ".join(f"{v} {names[k]}" for k, v in bad.items())

    def lat(self):
        return f"p50 {fmt_us(self.p50_us)}, p99 {fmt_us(self.p99_us)}"


_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TUNITS = {"us": 1, "ms": 1000, "s": 1e6, "m": 60e6}


def _parse_wrk_text(text):
    """Fallback parse of wrk's own report (no Lua output)."""
    d = {k: 0 for k in ("connect", "read", "write", "status", "timeout")}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)(B|KB|MB|GB|TB) read", text)
    if not m:
        raise BenchError(f"cannot parse wrk output:\n{text[-2000:]}")
    d["requests"] = int(m.group(1))
    d["duration_us"] = float(m.group(2)) * _TUNITS[m.group(3)]
    d["bytes"] = float(m.group(4)) * _UNITS[m.group(5)]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        d.update(connect=int(m.group(1)), read=int(m.group(2)), write=int(m.group(3)),
                 timeout=int(m.group(4)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        d["status"] = int(m.group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)", text, re.M)
        lat[pct] = float(m.group(1)) * _TUNITS[m.group(2)] if m else 0
    d["lat_p50_us"], d["lat_p99_us"] = lat["50"], lat["99"]
    return d


class Wrk:
    def __init__(self, workdir, threads, conns):
        self.script = Path(workdir) / "done.lua"
        self.script.write_text(WRK_LUA)
        self.threads = threads
        self.conns = conns

    def run(self, url, duration, headers=None, conns=None, threads=None) -> WrkResult:
        cmd = ["wrk", f"-t{threads or self.threads}", f"-c{conns or self.conns}",
               f"-d{int(duration)}s", "--latency", "--timeout", "10s", "-s", str(self.script)]
        for k, v in (headers or {}).items():
            cmd += ["-H", f"{k}: {v}"]
        cmd.append(url)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                           env=H.clean_env())
        if p.returncode != 0:
            raise BenchError(f"wrk exited {p.returncode}: {p.stderr.strip()[-500:]}")
        m = re.search(r"^BENCHJSON (\{.*\})$", p.stdout, re.M)
        d = json.loads(m.group(1)) if m else _parse_wrk_text(p.stdout)
        if not d["requests"]:
            raise BenchError(f"wrk made no requests against {url}:\n{p.stdout[-1500:]}")
        return WrkResult(d, p.stdout)


# --------------------------------------------------------------------------
# nginx

NGINX_CONF = """\
# generated by bench/run.py
daemon off;
master_process on;
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 300;
    keepalive_requests 1000000;
    server_tokens off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    types {{ text/html html; }}
    default_type application/octet-stream;
    gzip off;
    server {{
        listen {host}:{port} backlog=4096;
        root {dir}/www;
        index index.html;
        location /gz/ {{ gzip_static on; gzip_vary on; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, workdir):
        self.dir = Path(workdir) / "nginx"
        self.www = self.dir / "www"
        self.proc = None
        self.port = None
        for d in ("www", "tmp", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    def start(self):
        user = "user root root;" if os.geteuid() == 0 else ""
        last = ""
        for _ in range(5):
            self.port = free_port()
            conf = self.dir / "nginx.conf"
            conf.write_text(NGINX_CONF.format(dir=self.dir, user=user, host=HOST, port=self.port))
            errlog = self.dir / "startup.log"
            self.proc = subprocess.Popen(
                ["nginx", "-e", str(errlog), "-p", str(self.dir), "-c", str(conf)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(self.dir / "stderr.log", "ab"), env=H.clean_env())
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection((HOST, self.port), timeout=1).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
            last = "".join(p.read_text(errors="replace") for p in
                           (errlog, self.dir / "stderr.log", self.dir / "error.log") if p.exists())
        raise BenchError(f"nginx did not start:\n{last[-2000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def put(self, rel, data: bytes) -> str:
        p = self.www / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return f"{self.url}/{rel}"

    def error_log(self):
        p = self.dir / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""


# --------------------------------------------------------------------------
# raw HTTP helpers (http.client: no decompression, little client overhead)

def http_get(port, path, headers=None, conn=None):
    """GET path; returns (status, headers dict (lower-case), body bytes).
    Content is not decoded (a gzip body stays gzip)."""
    own = conn is None
    c = conn or http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        if own:
            c.close()


def timed_get(conn, path, headers=None):
    """GET over a kept-alive connection, reading the body into a reused
    buffer. Returns (status, body bytes read, seconds)."""
    buf = bytearray(1 << 20)
    t0 = time.monotonic()
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    n = 0
    while True:
        k = r.readinto(buf)
        if not k:
            break
        n += k
    return r.status, n, time.monotonic() - t0


def rss_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    return out


def listen_overflows():
    """TcpExt ListenOverflows of this network namespace (SYNs dropped because
    an accept queue was full), or -1."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
        for names, values in zip(lines[::2], lines[1::2]):
            if names.startswith("TcpExt:"):
                d = dict(zip(names.split()[1:], values.split()[1:]))
                return int(d.get("ListenOverflows", -1))
    except (OSError, ValueError):
        pass
    return -1


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


# --------------------------------------------------------------------------
# formatting

def fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"


def fmt_rps(x):
    return f"{x:,.0f} req/s"


def fmt_ratio(x):
    return f"{x:.3g}×"


def mark(ok):
    return "✓" if ok else "✗"


# --------------------------------------------------------------------------
# the bench

class Bench:
    def __init__(self, args):
        self.a = args
        self.rows = []          # (num, what, devpi, ref, ratio, target, ok)
        self.notes = []         # (num, text)
        self.started = time.monotonic()
        self.tmp = Path(tempfile.mkdtemp(prefix="devpi-like-bench-"))
        self.up = None
        self.srv = None
        self.nginx = None
        self.venv = None
        self.extra_servers = []
        self.restarts = []
        self.wrk = Wrk(self.tmp, args.wrk_threads, args.connections)
        self.facts = {}
        self.tree = {}

    # -- rows --------------------------------------------------------------
    def row(self, num, what, devpi="", ref="", ratio="", target="", ok=None):
        self.rows.append((num, what, devpi, ref, ratio, target,
                          "" if ok is None else mark(ok)))

    def note(self, num, text):
        self.notes.append((num, text))
        log(f"   note {num}: {text}")

    def error_row(self, num, what, exc):
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.rows.append((num, what, f"error: {msg[:160]}", "", "", "", ""))
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.notes.append((num, f"error detail: {detail[-1500:]}"))
        log(f"   ERROR in case {num}: {detail}")

    # -- setup ---------------------------------------------------------------
    def setup(self):
        a = self.a
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, max(soft, a.idle_conns + 2048))
        if want > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

        log(f"== setup in {self.tmp}")
        t0 = time.monotonic()
        self.up = FU.FakeUpstream(self.tmp / "upstream")
        self.build_upstream()
        self.up.start()
        log(f"   fake upstream on {self.up.url} ({time.monotonic() - t0:.1f} s to build)")

        self.srv = H.Server(self.tmp / "devpi", args=self.server_args(), threads=a.threads,
                            cmd=[a.bin])
        self.srv.start(timeout=30)
        time.sleep(0.5)
        self.idle_rss = rss_kb(self.srv.pid)
        log(f"   devpi-like on {self.srv.url} (pid {self.srv.pid})")

        self.nginx = Nginx(self.tmp)
        self.nginx.start()
        log(f"   nginx on {self.nginx.url} (pid {self.nginx.proc.pid})")

    def server_args(self, access_log=""):
        return ["--root-pypi-url", self.up.simple_url, "--access-log", access_log,
                "--log-level", "warn", "--idle-timeout", "300"]

    def build_upstream(self):
        a = self.a
        up = self.up
        up.add_many_links("small20", 20)
        up.add_many_links("big3000", 3000)
        for n in a.sizes:
            up.add_many_links(f"links{n}", n)
        self.bigfile = up.add_big_file("bigfile", "1.0", a.file_mb * MB)
        self.cold = []
        for i in range(a.cold_n + 1):          # the first one warms connections, not counted
            up.add_many_links(f"cold{i}", 20)
            f = up.add_big_file(f"cold{i}", "9.0", a.file_mb * MB,
                                filename=f"cold{i}-9.0.tar.gz")
            self.cold.append((f"cold{i}", f))
        # pip: 20 packages, 3 versions each, the newest of pkgN requiring
        # pkgN+1 and pkgN+2: installing benchpkg00 pulls in all 20
        n = 20
        tree = {}
        for i in range(n):
            reqs = [f"benchpkg{j:02d}>=1.0" for j in (i + 1, i + 2) if j < n]
            tree[f"benchpkg{i:02d}"] = {v: {"requires": reqs} for v in ("1.0", "1.1", "2.0")}
        self.pip_files = up.build(tree)
        self.pip_names = list(tree)

    # -- checks ----------------------------------------------------------------
    def ensure_server(self, num):
        if self.srv.alive():
            return
        rc = self.srv.proc.poll()
        tail = self.srv.log_text()[-1500:]
        self.restarts.append((num, rc))
        self.note(num, f"devpi-like had exited (code {rc}) before case {num}; restarted it. "
                       f"Last output: {tail!r}")
        self.srv.start(timeout=30)

    def page_bytes(self, port, path, headers):
        st, hd, body = http_get(port, path, headers)
        if st != 200:
            raise BenchError(f"GET {path}: {st} {body[:200]!r}")
        return hd, body

    def compare(self, num, what, devpi_path, ref_url, headers, duration, ref_name="nginx",
                conns=None):
        """wrk devpi-like's path, then the reference URL; returns (devpi, ref)."""
        url = self.srv.url + devpi_path
        if self.a.warmup:
            self.wrk.run(url, self.a.warmup, headers, conns=conns)
            self.wrk.run(ref_url, self.a.warmup, headers, conns=conns)
        d = self.wrk.run(url, duration, headers, conns=conns)
        r = self.wrk.run(ref_url, duration, headers, conns=conns)
        for who, res in (("devpi-like", d), (ref_name, r)):
            if res.problems():
                self.note(num, f"{what}: {who} under load: {res.problems()}")
        self.note(num, f"{what}: devpi-like {fmt_rps(d.rps)} ({d.lat()}, "
                       f"{d.bytes_per_resp:,.0f} B/resp); {ref_name} {fmt_rps(r.rps)} "
                       f"({r.lat()}, {r.bytes_per_resp:,.0f} B/resp)")
        return d, r

    def static_copy(self, devpi_path, rel, headers, gz=False):
        """Fetch devpi-like's page once and give nginx the same bytes. With
        gz, also the gzip body devpi-like sent (as <rel>.gz for gzip_static)."""
        hd, body = self.page_bytes(self.srv.port, devpi_path, headers)
        if hd.get("content-encoding"):
            raise BenchError(f"unexpected Content-Encoding without Accept-Encoding: {hd}")
        url = self.nginx.put(rel, body)
        st, nhd, nbody = http_get(self.nginx.port, "/" + rel, headers)
        if st != 200 or nbody != body:
            raise BenchError(f"nginx does not serve the same bytes for /{rel} ({st})")
        gzinfo = None
        if gz:
            gh = dict(headers, **{"Accept-Encoding": "gzip"})
            ghd, gbody = self.page_bytes(self.srv.port, devpi_path, gh)
            if ghd.get("content-encoding", "").lower() == "gzip":
                if gzip.decompress(gbody) != body:
                    raise BenchError("devpi-like's gzip body does not decompress to the page")
                gzinfo = ("devpi-like", len(gbody))
            else:
                gbody = gzip.compress(body, 6, mtime=0)
                gzinfo = ("none: devpi-like sent it uncompressed; nginx got a level-6 .gz", len(gbody))
            self.nginx.put(rel + ".gz", gbody)
            st, nhd, nbody = http_get(self.nginx.port, "/" + rel, gh)
            if st != 200 or nhd.get("content-encoding") != "gzip" or nbody != gbody:
                raise BenchError(f"nginx gzip_static does not serve the .gz of /{rel}")
        return url, body, gzinfo

    # -- cases -----------------------------------------------------------------
    def case1(self):
        path = "/root/pypi/+simple/small20/"
        url, body, _ = self.static_copy(path, "p/small20.html", HTML_HEADERS)
        d, r = self.compare(1, "small page", path, url, HTML_HEADERS, self.a.duration)
        ratio = d.rps / r.rps
        self.row(1, f"warm simple page, 20 links ({len(body):,} B HTML), req/s",
                 fmt_rps(d.rps), "nginx " + fmt_rps(r.rps), fmt_ratio(ratio), "≥ 0.80",
                 ratio >= 0.8)

    def case2(self):
        path = "/root/pypi/+simple/big3000/"
        url, body, gzinfo = self.static_copy(path, "gz/big3000.html", HTML_HEADERS, gz=True)
        h = dict(HTML_HEADERS, **{"Accept-Encoding": "gzip"})
        d, r = self.compare(2, "3000-link page gzip", path, url, h, self.a.duration)
        ratio = d.rps / r.rps
        self.note(2, f"3000-link page: {len(body):,} B HTML, {gzinfo[1]:,} B gzip "
                     f"(compressed by {gzinfo[0]}); nginx serves that .gz with gzip_static "
                     f"(no per-request compression)")
        self.row(2, f"warm simple page, 3000 links, gzip ({gzinfo[1]:,} B), req/s",
                 fmt_rps(d.rps), "nginx " + fmt_rps(r.rps), fmt_ratio(ratio), "≥ 0.80",
                 ratio >= 0.8)

    def case3(self):
        s = self.srv
        team, tpw = s.create_user("team", password="team-pw")
        s.create_index(team, tpw, "base", bases="root/pypi")
        alice, apw = s.create_user("alice", password="alice-pw")
        s.create_index(alice, apw, "dev", bases="team/base")
        chain = "/alice/dev/+simple/small20/"
        base = "/root/pypi/+simple/small20/"
        self.page_bytes(s.port, chain, HTML_HEADERS)
        _, b1 = self.page_bytes(s.port, chain, HTML_HEADERS)
        n_links = b1.count(b"<a ")
        if n_links != 20:
            raise BenchError(f"alice/dev page has {n_links} links, expected 20")
        d, r = self.compare(3, "chain page", chain, s.url + base, HTML_HEADERS, self.a.duration,
                            ref_name="root/pypi")
        ratio = d.rps / r.rps
        self.row(3, "warm page via alice/dev → team/base → root/pypi, req/s", fmt_rps(d.rps),
                 "root/pypi " + fmt_rps(r.rps), fmt_ratio(ratio), "≥ 0.95", ratio >= 0.95)

    def file_url_path(self, project, f, index="root/pypi"):
        _, body = self.page_bytes(self.srv.port, f"/{index}/+simple/{project}/", HTML_HEADERS)
        for href, text in H.parse_anchors(body.decode()):
            if text == f.filename:
                full = H.resolve(f"{self.srv.url}/{index}/+simple/{project}/", href)
                return full.split("#")[0][len(self.srv.url):]
        raise BenchError(f"{f.filename} not linked from {index}/+simple/{project}/")

    def case4(self):
        f = self.bigfile
        path = self.file_url_path("bigfile", f)
        c = http.client.HTTPConnection(HOST, self.srv.port, timeout=120)
        st, n, secs = timed_get(c, path, {"User-Agent": PIP_UA})
        c.close()
        if st != 200 or n != f.size:
            raise BenchError(f"first fetch of {path}: {st}, {n} bytes")
        self.note(4, f"50 MB file: first (cold) fetch through devpi-like took {secs * 1000:.0f} ms")
        st, hd, body = http_get(self.srv.port, path, {"User-Agent": PIP_UA})
        if st != 200 or hashlib.sha256(body).hexdigest() != f.sha256:
            raise BenchError(f"cached {path}: {st}, sha256 mismatch")
        url = self.nginx.put("f/" + f.filename, body)
        del body
        conns = self.a.file_conns
        d, r = self.compare(4, "50 MB file", path, url, {"User-Agent": PIP_UA},
                            self.a.duration, conns=conns)
        dm, rm = d.bps / MB, r.bps / MB
        ratio = dm / rm
        self.row(4, f"cached {self.a.file_mb} MB file, wrk -c{conns}, MB/s", f"{dm:,.0f} MB/s",
                 f"nginx {rm:,.0f} MB/s (sendfile)", fmt_ratio(ratio), "≥ 0.80", ratio >= 0.8)

    def case5(self):
        srv_c = http.client.HTTPConnection(HOST, self.srv.port, timeout=120)
        up_c = http.client.HTTPConnection(HOST, self.up.port, timeout=120)
        hdr = {"User-Agent": PIP_UA, "Accept": H.PIP_ACCEPT}
        fh = {"User-Agent": PIP_UA}
        page_d, page_u, file_d, file_u = [], [], [], []
        try:
            for i, (proj, f) in enumerate(self.cold):
                # direct first, then through devpi-like (which asks upstream itself)
                st_u, _, tu = timed_get(up_c, f"/simple/{proj}/", hdr)
                st_d, _, td = timed_get(srv_c, f"/root/pypi/+simple/{proj}/", hdr)
                if st_u != 200 or st_d != 200:
                    raise BenchError(f"cold page {proj}: upstream {st_u}, devpi-like {st_d}")
                fpath = self.file_url_path(proj, f)
                st_u, nu, fu = timed_get(up_c, f"/files/{f.filename}", fh)
                st_d, nd, fd = timed_get(srv_c, fpath, fh)
                if st_u != 200 or st_d != 200 or nd != f.size or nu != f.size:
                    raise BenchError(f"cold file {f.filename}: upstream {st_u}/{nu}, "
                                     f"devpi-like {st_d}/{nd} bytes of {f.size}")
                if i == 0:
                    continue                # warms both client connections
                page_u.append(tu)
                page_d.append(td)
                file_u.append(fu)
                file_d.append(fd)
        finally:
            srv_c.close()
            up_c.close()
        n = len(page_d)
        pd, pu = statistics.median(page_d) * 1000, statistics.median(page_u) * 1000
        over = statistics.median([d - u for d, u in zip(page_d, page_u)]) * 1000
        self.row(5, f"cold page miss via root/pypi (median of {n}), ms", f"{pd:.2f} ms",
                 f"direct {pu:.2f} ms", f"+{over:.2f} ms", "≤ +2 ms", over <= 2.0)
        fd_, fu_ = statistics.median(file_d) * 1000, statistics.median(file_u) * 1000
        ratio = statistics.median([d / u for d, u in zip(file_d, file_u)])
        self.row(5, f"cold {self.a.file_mb} MB file miss via root/pypi (median of {n}), ms",
                 f"{fd_:.0f} ms", f"direct {fu_:.0f} ms", fmt_ratio(ratio) + " time", "≤ 1.30×",
                 ratio <= 1.3)
        self.note(5, "cold: one http.client keep-alive connection each to devpi-like and to "
                     "the fake upstream (a Python thread-per-connection server); pip's UA and "
                     "Accept; the project list was already cached, so a miss is one upstream "
                     "page fetch; a file miss streams upstream → store → client")

    def pip_tree(self):
        """A PEP 503 static tree of the same wheels, with PEP 658 metadata
        files, like the fake upstream's pages (so pip makes the same requests)."""
        root = "pip"
        by_proj = {}
        for (name, version, kind), f in self.pip_files.items():
            by_proj.setdefault(name, []).append(f)
        for name, files in by_proj.items():
            lines = ["<!DOCTYPE html>", "<html><head><meta name=\"pypi:repository-version\" "
                     "content=\"1.0\"><title>Links for " + html.escape(name) + "</title></head>",
                     "<body><h1>Links for " + html.escape(name) + "</h1>"]
            for f in files:
                attrs = ""
                if f.metadata is not None:
                    attrs = (f' data-dist-info-metadata="sha256={f.metadata_sha256}"'
                             f' data-core-metadata="sha256={f.metadata_sha256}"')
                    self.nginx.put(f"{root}/files/{f.filename}.metadata", f.metadata)
                self.nginx.put(f"{root}/files/{f.filename}", f.data)
                lines.append(f'<a href="../../files/{f.filename}#sha256={f.sha256}"{attrs}>'
                             f"{f.filename}</a><br>")
            lines.append("</body></html>")
            self.nginx.put(f"{root}/simple/{name}/index.html", "\n".join(lines).encode())
        return f"{self.nginx.url}/{root}/simple/"

    def pip_install(self, index_url):
        target = self.tmp / "pip-target"
        shutil.rmtree(target, ignore_errors=True)
        t0 = time.monotonic()
        self.venv.install(index_url, "benchpkg00", target=str(target))
        secs = time.monotonic() - t0
        got = sorted(d.name.split("-")[0].lower() for d in target.glob("*.dist-info"))
        if len(got) != len(self.pip_names):
            raise BenchError(f"pip installed {len(got)} packages, expected {len(self.pip_names)}: {got}")
        return secs

    def case6(self):
        if self.venv is None:
            self.venv = H.Venv(self.tmp / "venv")
            self.facts["pip"] = self.venv.pip("--version").stdout.split(" from ")[0]
        nurl = self.pip_tree()
        durl = f"{self.srv.url}/root/pypi/+simple/"
        reps = 1 if self.a.quick else 3
        ng = [self.pip_install(nurl)]
        u0 = self.up.total()
        cold = self.pip_install(durl)
        u1 = self.up.total()
        warm = [self.pip_install(durl)]
        u2 = self.up.total()
        self.note(6, f"upstream requests: {u1 - u0} during the cold install, {u2 - u1} during "
                     f"the first warm one")
        for _ in range(reps - 1):
            ng.append(self.pip_install(nurl))
            warm.append(self.pip_install(durl))
        ngb, warmb = min(ng), min(warm)
        self.note(6, "pip " + self.facts.get("pip", "?") + ": `pip install --no-cache-dir "
                     "--target` benchpkg00 (pulls in 20 packages, PEP 658 metadata offered by "
                     "both); runs: nginx " + ", ".join(f"{x:.2f}" for x in ng) + " s; devpi-like "
                     f"cold {cold:.2f} s, warm " + ", ".join(f"{x:.2f}" for x in warm) +
                     f" s (best of {reps} for nginx and warm); nginx tree uncompressed (gzip off)")
        self.row(6, "pip install 20 packages, cold (root/pypi fills from upstream), s",
                 f"{cold:.2f} s", f"nginx static {ngb:.2f} s", fmt_ratio(cold / ngb) + " time",
                 "≤ 1.15×", cold / ngb <= 1.15)
        self.row(6, "pip install 20 packages, warm, s", f"{warmb:.2f} s",
                 f"nginx static {ngb:.2f} s", fmt_ratio(warmb / ngb) + " time", "≤ 1.05×",
                 warmb / ngb <= 1.05)

    def case7(self):
        n = self.a.uploads
        alog = self.tmp / "upload-access.log"
        s = H.Server(self.tmp / "devpi-upload", args=self.server_args(access_log=str(alog)),
                     threads=self.a.threads, cmd=[self.a.bin])
        self.extra_servers.append(s)
        s.start(timeout=30)
        st = s.new_stage("dev", user="uploader")
        wdir = self.tmp / "wheels"
        dists = [pb.make_wheel(wdir / "twine", f"upl{i % 10}", f"1.{i // 10}")
                 for i in range(n)]
        raw = [pb.make_wheel(wdir / "raw", f"upl{i % 10}", f"2.{i // 10}") for i in range(n)]
        t0 = time.monotonic()
        p = H.twine_upload(st.url + "/", st.user, st.password, [d.path for d in dists],
                           check=False, timeout=600)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            raise BenchError(f"twine failed ({p.returncode}): {(p.stdout + p.stderr)[-600:]}")
        # raw replay: prebuilt multipart bodies over one keep-alive connection
        conn = http.client.HTTPConnection(HOST, s.port, timeout=60)
        auth = H.basic(st.user, st.password)
        times = []
        for d in raw:
            ctype, body = H.multipart_body(
                [(":action", "file_upload"), ("protocol_version", "1"), ("name", d.name),
                 ("version", d.version), ("filetype", "bdist_wheel"), ("pyversion", "py3"),
                 ("metadata_version", "2.1"), ("sha256_digest", d.sha256)],
                [("content", d.filename, d.data)])
            t1 = time.monotonic()
            conn.request("POST", st.path + "/", body=body,
                         headers={"Content-Type": ctype, **auth, "User-Agent": "bench"})
            r = conn.getresponse()
            r.read()
            times.append(time.monotonic() - t1)
            if r.status != 200:
                raise BenchError(f"raw upload {d.filename}: {r.status} {r.reason}")
        conn.close()
        s.stop()
        text = alog.read_text(errors="replace") if alog.exists() else ""
        durs = [int(m.group(3)) for m in re.finditer(r'"POST (\S+)" (\d+) \d+ (\d+)ms', text)
                if m.group(2) == "200"]
        twine_durs = durs[:n]
        wall_ms = wall * 1000 / n
        raw_ms = statistics.mean(times) * 1000
        if len(twine_durs) == n:
            server_ms = statistics.mean(twine_durs)
            self.row(7, f"twine upload of {n} wheels (one invocation), ms/file server side",
                     f"{server_ms:.2f} ms", f"wall {wall_ms:.1f} ms/file ({wall:.1f} s)", "—",
                     "≤ 3 ms", server_ms <= 3.0)
            self.note(7, "server side = mean of the durations devpi-like's access log records "
                         "for the 200 POSTs (1 ms resolution; log on for this step only, a "
                         "separate devpi-like with the same options); wall includes twine's "
                         "own per-file work")
        else:
            self.row(7, f"twine upload of {n} wheels, ms/file (wall; access log unparsed)",
                     f"{wall_ms:.1f} ms", "", "—", "≤ 3 ms", None)
            self.note(7, f"access log had {len(twine_durs)} parsable 200 POST lines, not {n}")
        self.note(7, f"raw replay of {n} more wheels (prebuilt multipart, one keep-alive "
                     f"connection, client-observed round trip): mean {raw_ms:.2f} ms, median "
                     f"{statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.1f} ms")

    def idle_conns(self, server, n):
        """Open n idle keep-alive connections to server; returns a dict of
        RSS before/with/after closing, fds and timings."""
        pid = server.pid
        before = rss_kb(pid)
        fds0 = fd_count(pid)
        ov0 = listen_overflows()
        t0 = time.monotonic()
        socks = open_idle_connections(server.port, n)
        try:
            took = time.monotonic() - t0
            overflows = listen_overflows() - ov0
            time.sleep(1.0)
            fds1 = fd_count(pid)
            held = rss_kb(pid)
            st, _, _ = http_get(server.port, "/+api", {"Accept": "application/json"})
            alive = sum(1 for s in socks if still_open(s))
        finally:
            close_reset(socks)
        time.sleep(1.0)
        return {"before": before, "held": held, "closed": rss_kb(pid), "fds": fds1 - fds0,
                "took": took, "status": st, "alive": alive, "overflows": overflows,
                "grew_mb": (held["VmRSS"] - before["VmRSS"]) / 1024}

    def case8(self):
        after = rss_kb(self.srv.pid)
        idle = self.idle_rss
        self.row(8, "RSS idle, just started, MB", f"{idle['VmRSS'] / 1024:.1f} MB",
                 f"anon {idle.get('RssAnon', 0) / 1024:.1f} MB", "—", "≤ 20 MB",
                 idle["VmRSS"] / 1024 <= 20)
        self.row(8, "RSS after the run, MB", f"{after['VmRSS'] / 1024:.1f} MB",
                 f"anon {after.get('RssAnon', 0) / 1024:.1f} MB, file (LMDB map) "
                 f"{after.get('RssFile', 0) / 1024:.1f} MB", "—", "", None)
        n = self.a.idle_conns
        if self.nofile < n + 200:
            n = max(0, self.nofile - 500)
            self.note(8, f"RLIMIT_NOFILE is {self.nofile}: opening {n} connections")
        # on a fresh server (the cost of a connection, not of reused heap)...
        fresh = H.Server(self.tmp / "devpi-idle", args=self.server_args(),
                         threads=self.a.threads, cmd=[self.a.bin])
        self.extra_servers.append(fresh)
        fresh.start(timeout=30)
        time.sleep(0.5)
        results = [("a fresh devpi-like", self.idle_conns(fresh, n))]
        fresh.stop()
        # ...and on the one that ran every case
        results.append(("devpi-like after the run", self.idle_conns(self.srv, n)))
        for who, r in results:
            self.row(8, f"RSS with {n:,} idle keep-alive connections, {who}, MB more",
                     f"+{r['grew_mb']:.1f} MB", f"total {r['held']['VmRSS'] / 1024:.1f} MB",
                     "—", "≤ +50 MB", r["grew_mb"] <= 50)
            self.note(8, f"{who}: {n} connections opened in {r['took']:.1f} s (bursts of "
                         f"500 connects; {r['overflows']} SYNs dropped on a full accept queue), "
                         f"each after one GET /+api answered; server fds +{r['fds']}; "
                         f"{r['alive']} still open "
                         f"when measured; a GET /+api meanwhile: {r['status']}; "
                         f"{(r['held']['VmRSS'] - r['before']['VmRSS']) / max(1, n):.2f} kB "
                         f"per connection; RSS {r['closed']['VmRSS'] / 1024:.1f} MB after "
                         "closing them")

    def case9(self):
        pts = []
        for n in self.a.sizes:
            path = f"/root/pypi/+simple/links{n}/"
            url, body, _ = self.static_copy(path, f"p/links{n}.html", HTML_HEADERS)
            d, r = self.compare(9, f"{n} links", path, url, HTML_HEADERS, self.a.page_duration)
            ratio = d.rps / r.rps
            pts.append((len(body), 1e6 / d.rps, 1e6 / r.rps, ratio))
            self.row(9, f"page of {n:,} links ({len(body):,} B), µs per request at saturation",
                     fmt_us(1e6 / d.rps), "nginx " + fmt_us(1e6 / r.rps), fmt_ratio(ratio), "", None)
        if len(pts) >= 2:
            # "flat" = the cost grows with the page only as the bytes sent
            # grow: the extra µs per extra MB, smallest to largest page, is
            # what a static file's is (nginx's, same bytes, same run)
            (b0, d0, n0, _), (b1, d1, n1, _) = pts[0], pts[-1]
            mb = (b1 - b0) / 1e6
            dm, nm = (d1 - d0) / mb, (n1 - n0) / mb
            grow = dm / nm if nm > 0 else float("inf")
            worst = min(p[3] for p in pts)
            self.row(9, "cost per extra MB of page, smallest to largest, µs/MB",
                     f"{dm:,.0f} µs/MB", f"nginx {nm:,.0f} µs/MB", fmt_ratio(grow) + " cost",
                     "≤ 1.20× (flat)", grow <= 1.2)
            self.row(9, "lowest ratio at any size", "", "", fmt_ratio(worst), "≥ 0.80", worst >= 0.8)
            self.note(9, "µs per request at saturation = 1e6 / (req/s) with wrk "
                         f"-t{self.a.wrk_threads} -c{self.a.connections}; ratio = nginx µs ÷ "
                         "devpi-like µs (same bytes).  Flat: the µs a request costs grow from the "
                         "smallest to the largest page no faster than nginx's for the same bytes "
                         "(a cost per link beyond the bytes would show as a higher µs/MB)")

    # -- driver ----------------------------------------------------------------
    CASES = [(1, "case1"), (2, "case2"), (3, "case3"), (4, "case4"), (9, "case9"),
             (5, "case5"), (6, "case6"), (7, "case7"), (8, "case8")]
    TITLES = {1: "small page", 2: "3000-link page, gzip", 3: "3-deep chain", 4: "50 MB file",
              5: "cold misses", 6: "pip install", 7: "twine upload", 8: "memory",
              9: "page cost by size"}

    def run(self):
        self.gather_facts()
        self.setup()
        for num, name in self.CASES:
            if num not in self.a.only:
                continue
            t0 = time.monotonic()
            log(f"== case {num}: {self.TITLES[num]}")
            try:
                self.ensure_server(num)
                getattr(self, name)()
            except Exception as e:      # noqa: BLE001 - record and go on
                self.error_row(num, self.TITLES[num], e)
            log(f"   ({time.monotonic() - t0:.1f} s)")
        self.post_checks()

    def post_checks(self):
        s = self.srv
        if not s.alive():
            self.note(0, f"devpi-like exited on its own (code {s.proc.poll()})")
        text = s.log_text()
        bad = [l for l in text.splitlines()
               if re.search(r"\b(error|warn|fatal|abort)", l, re.I) and "listening on" not in l]
        if bad:
            self.note(0, f"devpi-like printed {len(bad)} warning/error lines, e.g.: " +
                      " | ".join(bad[:5]))
        san = s.sanitizer_reports()
        if san:
            self.note(0, "sanitizer report in devpi-like output")
        ng = [l for l in self.nginx.error_log().splitlines() if "[warn]" not in l] \
            if self.nginx else []
        if ng:
            self.note(0, f"nginx error log: {' | '.join(ng[:3])}")

    def gather_facts(self):
        f = self.facts
        f["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        f["nproc"] = str(os.cpu_count())
        try:
            cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
            f["cpu"] = cpu.group(1).strip() if cpu else "?"
            mem = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M)
            f["memory"] = f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "?"
        except OSError:
            pass
        f["kernel"] = platform.release()

        def ver(cmd, rx=None):
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
                out = (p.stdout + p.stderr).strip().splitlines()
                return out[0].strip() if out else "?"
            except (OSError, subprocess.SubprocessError) as e:
                return f"? ({e})"
        f["devpi-like"] = ver([self.a.bin, "--version"])
        f["nginx"] = ver(["nginx", "-v"])
        f["wrk"] = ver(["wrk", "-v"]).split(" Copyright")[0]
        f["python"] = ver([H.DEBIAN_PYTHON, "--version"])
        f["twine"] = ver([H.DEBIAN_PYTHON, "-m", "twine", "--version"]).split(" (")[0]
        try:
            f["git"] = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                      capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            f["git"] = "?"

    def report(self) -> str:
        a = self.a
        total = time.monotonic() - self.started
        out = [f"# devpi-like bench — {self.facts.get('date')}", ""]
        out.append(f"Command: `{' '.join(a.argv_for_report)}` — took {total:.0f} s.")
        out.append("")
        out.append("| # | measurement | devpi-like | reference | ratio | target | |")
        out.append("|---|---|---|---|---|---|---|")
        for r in self.rows:
            out.append("| " + " | ".join(str(x).replace("|", "\\|") for x in r) + " |")
        out.append("")
        out.append("Ratios 1–4 and 9 are devpi-like throughput ÷ reference throughput (higher "
                   "is better); ratios marked \"time\" are devpi-like time ÷ reference time "
                   "(lower is better). Targets from issue 4 are reported, never asserted.")
        out.append("")
        out.append("## Machine")
        out.append("")
        for k in ("nproc", "cpu", "memory", "kernel", "devpi-like", "git", "nginx", "wrk",
                  "pip", "twine", "python"):
            if k in self.facts:
                out.append(f"- {k}: {self.facts[k]}")
        out.append("")
        out.append("## Setup")
        out.append("")
        out.append(f"- devpi-like: `serve --threads {a.threads} --access-log '' --log-level warn "
                   "--idle-timeout 300 --root-pypi-url <fake upstream>`, temporary serverdir, "
                   "127.0.0.1; pages on root/pypi mirrored from the fake upstream of "
                   "tests/integration (HTML, `User-Agent: pip/23.0.1 …`, `Accept: text/html`).")
        out.append("- nginx: worker_processes 2, access_log off, sendfile on, tcp_nopush, "
                   "keepalive_requests 1000000, no open_file_cache; each page is the exact "
                   "bytes devpi-like sent, as a static file; gzip_static with devpi-like's own "
                   "gzip bytes for case 2.")
        out.append(f"- wrk -t{a.wrk_threads} -c{a.connections} -d{a.duration}s (case 9: "
                   f"-d{a.page_duration}s; case 4: -c{a.file_conns}), warm-up {a.warmup} s per URL "
                   "first; everything on the same 2 cores (load generator included).")
        out.append("")
        if self.notes:
            out.append("## Notes")
            out.append("")
            for num, text in self.notes:
                out.append(f"- {num or 'general'}: {text}")
            out.append("")
        return "\n".join(out)

    def cleanup(self):
        for s in [self.srv] + self.extra_servers:
            if s is not None:
                try:
                    s.stop()
                except Exception as e:   # noqa: BLE001
                    log(f"stopping devpi-like: {e}")
        if self.nginx:
            self.nginx.stop()
        if self.up:
            self.up.stop()
        if self.a.keep:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# many idle connections

IDLE_REQ = (b"GET /+api HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
            b"User-Agent: bench-idle\r\n\r\n")


def _complete(buf: bytes) -> bool:
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m:
        return len(rest) >= int(m.group(1))
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        return rest.endswith(b"0\r\n\r\n")
    return True


def open_idle_connections(port, n, batch=500, timeout=60.0):
    """Open n connections, send one GET /+api on each, read its answer, and
    return the sockets (kept open, idle in keep-alive)."""
    sel = selectors.DefaultSelector()
    out = []
    deadline = time.monotonic() + timeout
    try:
        for start in range(0, n, batch):
            pending = {}
            for _ in range(min(batch, n - start)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                out.append(s)
                rc = s.connect_ex((HOST, port))
                if rc not in (0, 115):       # EINPROGRESS
                    raise BenchError(f"connect: {os.strerror(rc)}")
                pending[s] = bytearray()
                sel.register(s, selectors.EVENT_WRITE)
            while pending:
                if time.monotonic() > deadline:
                    raise BenchError(f"{len(pending)} connections of batch at {start} "
                                     f"unanswered after {timeout} s")
                for key, ev in sel.select(1.0):
                    s = key.fileobj
                    if ev & selectors.EVENT_WRITE:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise BenchError(f"connect #{len(out)}: {os.strerror(err)}")
                        s.send(IDLE_REQ)
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    data = s.recv(65536)
                    if not data:
                        raise BenchError(f"server closed a connection at {len(out)} open")
                    pending[s] += data
                    if _complete(bytes(pending[s])):
                        if not pending[s].startswith(b"HTTP/1.1 200"):
                            raise BenchError(f"GET /+api: {bytes(pending[s][:60])!r}")
                        sel.unregister(s)
                        del pending[s]
    except BaseException:
        close_reset(out)
        raise
    finally:
        sel.close()
    return out


def close_reset(socks):
    """Close with an RST (SO_LINGER 0): no TIME_WAIT left on this side, so a
    second batch of 10,000 connects does not crawl through busy ports."""
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        s.close()


def still_open(s) -> bool:
    try:
        data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        return bool(data)   # unexpected data, but open
    except BlockingIOError:
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description="devpi-like vs nginx (issue 4)")
    p.add_argument("--bin", default=str(REPO / "build" / "devpi-like"))
    p.add_argument("--duration", type=int, default=10, help="wrk seconds per run (cases 1-4)")
    p.add_argument("--page-duration", type=int, default=5, help="wrk seconds per run (case 9)")
    p.add_argument("--warmup", type=int, default=1, help="wrk warm-up seconds per URL (0: none)")
    p.add_argument("--quick", action="store_true",
                   help="2 s wrk runs, no warm-up, 3 cold misses, 20 uploads, 1 pip run each")
    p.add_argument("--threads", type=int, default=2, help="devpi-like --threads")
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--file-conns", type=int, default=4, help="wrk connections for case 4")
    p.add_argument("--file-mb", type=int, default=50)
    p.add_argument("--cold-n", type=int, default=10)
    p.add_argument("--uploads", type=int, default=100)
    p.add_argument("--idle-conns", type=int, default=10000)
    p.add_argument("--only", default="1,2,3,4,5,6,7,8,9", help="comma-separated case numbers")
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = p.parse_args(argv)
    if a.quick:
        a.duration = 2 if a.duration == 10 else a.duration
        a.page_duration = 2 if a.page_duration == 5 else a.page_duration
        a.warmup = 0 if a.warmup == 1 else a.warmup
        a.cold_n = 3 if a.cold_n == 10 else a.cold_n
        a.uploads = 20 if a.uploads == 100 else a.uploads
    a.only = {int(x) for x in a.only.split(",") if x.strip()}
    a.sizes = [10, 100, 1000, 10000]
    a.bin = str(Path(a.bin).resolve())
    a.argv_for_report = ["bench/run.py"] + [x if not x.startswith("/") else Path(x).name
                                            for x in argv]
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            print(f"{tool} not found: run scripts/bench-deps.sh", file=sys.stderr)
            return 2
    if not os.access(a.bin, os.X_OK):
        print(f"devpi-like binary not found at {a.bin} (make)", file=sys.stderr)
        return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    b = Bench(a)
    try:
        b.run()
        text = b.report()
    finally:
        b.cleanup()
    print(text)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    name = out / (time.strftime("%Y%m%d-%H%M%S") + ".md")
    name.write_text(text + "\n")
    log(f"written to {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
