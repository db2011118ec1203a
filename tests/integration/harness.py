"""Harness for the devpi-like integration suite: drives the real binary.

- Server: starts `devpi-like serve --port 0` in a temporary directory, finds
  the port in the `listening on http://127.0.0.1:<port>` line, collects
  stdout/stderr into files (server-<n>.stdout/.stderr next to the serverdir),
  and can stop, restart and kill -9 the process (by its own pid only).
- Client: a requests.Session bound to a Server (relative paths, a default
  timeout, no redirects followed unless asked, no proxies from the env).
- Stage: one user/index with helpers to upload (form or twine) and read pages.
- raw HTTP: a socket-level request/response reader for what requests cannot
  send (oversized lines, pipelining, truncated bodies, odd methods).
- Venv / twine_upload: pip and twine with an environment scrubbed of this
  machine's PIP_* / TWINE_* settings; 127.0.0.1 only.
"""

import base64
import html
import itertools
import json
import os
import re
import select
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urljoin

import requests
from requests.structures import CaseInsensitiveDict

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
DEBIAN_PYTHON = "/usr/bin/python3"

PIP_UA = "pip/23.0.1 {\"installer\":{\"name\":\"pip\",\"version\":\"23.0.1\"}}"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = ("application/vnd.pypi.simple.v1+json, "
              "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01")

LISTEN_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
ROOTPW_RE = re.compile(r"root password:\s*['\"]?([^'\"\s]+)")
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:")

_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy"}


def server_binary() -> str:
    b = os.environ.get("DEVPI_LIKE_BIN")
    if b:
        return str(Path(b).resolve())
    return str(REPO_ROOT / "build" / "devpi-like")


def clean_env(strip_prefixes=("PIP_", "TWINE_", "DEVPI_LIKE_", "DEVPISERVER_")) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(strip_prefixes) and k.lower() not in _PROXY_VARS}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["no_proxy"] = "127.0.0.1,localhost"
    return env


# --------------------------------------------------------------------------
# process output collection

class _Output:
    """Lines of a process' stdout and stderr, also appended to files."""

    def __init__(self):
        self.cond = threading.Condition()
        self.lines = []      # (source, text)
        self.eof = 0
        self.threads = []

    def pump(self, stream, source, path):
        def run():
            with open(path, "ab") as f:
                for raw in iter(stream.readline, b""):
                    f.write(raw)
                    f.flush()
                    with self.cond:
                        self.lines.append((source, raw.decode("utf-8", "replace")))
                        self.cond.notify_all()
            stream.close()
            with self.cond:
                self.eof += 1
                self.cond.notify_all()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    def mark(self) -> int:
        with self.cond:
            return len(self.lines)

    def wait_for(self, regex, deadline, since=0, proc=None, sources=("stdout", "stderr")):
        with self.cond:
            while True:
                for src, text in self.lines[since:]:
                    if src in sources:
                        m = regex.search(text)
                        if m:
                            return m
                if self.eof >= len(self.threads) and self.threads:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if proc is not None and proc.poll() is not None and self.eof >= len(self.threads):
                    return None
                self.cond.wait(min(left, 0.2))

    def text(self, since=0, sources=("stdout", "stderr")) -> str:
        with self.cond:
            return "".join(t for s, t in self.lines[since:] if s in sources)

    def join(self, timeout=5):
        for t in self.threads:
            t.join(timeout)


# --------------------------------------------------------------------------
# server process

class ServerError(RuntimeError):
    pass


class Server:
    def __init__(self, basedir, root_passwd: Optional[str] = "root-secret",
                 args=(), threads: Optional[int] = 2, cmd=None, serverdir=None):
        self.basedir = Path(basedir)
        self.basedir.mkdir(parents=True, exist_ok=True)
        self.serverdir = Path(serverdir) if serverdir else self.basedir / "data"
        self.cmd = list(cmd) if cmd else [server_binary()]
        self.root_passwd = root_passwd
        self.args = list(args)
        self.threads = threads
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.starts = 0
        self.output: Optional[_Output] = None
        self.start_mark = 0
        self._counter = itertools.count(1)
        self._client = None
        self.expected_exit = False

    # -- lifecycle --------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.port, "server not started"
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def argv(self, root_passwd="__default__"):
        pw = self.root_passwd if root_passwd == "__default__" else root_passwd
        a = self.cmd + ["serve", "--serverdir", str(self.serverdir),
                        "--host", HOST, "--port", "0"]
        if pw is not None:
            a += ["--root-passwd", pw]
        if self.threads:
            a += ["--threads", str(self.threads)]
        if Path(self.cmd[0]).name == "devpi-like" and \
                not any(x.startswith("--login-fail-limit") for x in self.args):
            # the suite fails logins on purpose from one address, across
            # tests sharing a server: throttling is tested on its own servers
            a += ["--login-fail-limit", "100000"]
        return a + self.args

    def start(self, timeout=15.0, root_passwd="__default__"):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.output = _Output()
        self.expected_exit = False
        stem = self.basedir / f"server-{self.starts}"
        self.stdout_path = stem.with_suffix(".stdout")
        self.stderr_path = stem.with_suffix(".stderr")
        self.proc = subprocess.Popen(
            self.argv(root_passwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=clean_env(), cwd=str(self.basedir))
        self.output.pump(self.proc.stdout, "stdout", self.stdout_path)
        self.output.pump(self.proc.stderr, "stderr", self.stderr_path)
        deadline = time.monotonic() + timeout
        m = self.output.wait_for(LISTEN_RE, deadline, proc=self.proc)
        if not m:
            rc = self.proc.poll()
            self._abort()
            raise ServerError(f"server did not print 'listening on http://127.0.0.1:<port>' "
                              f"within {timeout}s (exit code {rc}); argv={self.argv(root_passwd)}\n"
                              f"--- output ---\n{self.output.text()[-4000:]}")
        self.port = int(m.group(1))
        self._client = None
        while True:
            try:
                requests.get(self.url + "/+api", headers={"Accept": "application/json"},
                             timeout=2, proxies={"http": None})
                break
            except requests.RequestException:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    rc = self.proc.poll()
                    self._abort()
                    raise ServerError(f"GET /+api never answered (exit code {rc})\n"
                                      f"{self.output.text()[-4000:]}")
                time.sleep(0.05)
        return self

    def _abort(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.output:
            self.output.join()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0) -> Optional[int]:
        """SIGTERM, then SIGKILL after timeout. Returns the exit code."""
        if self.proc is None:
            return None
        self.expected_exit = True
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.output.join()
        if self._client:
            self._client.close()
            self._client = None
        return self.proc.returncode

    def kill9(self):
        self.expected_exit = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.output:
            self.output.join()
        if self._client:
            self._client.close()
            self._client = None

    def restart(self, kill=False, **kw):
        if kill:
            self.kill9()
        else:
            self.stop()
        return self.start(**kw)

    def log_text(self) -> str:
        return self.output.text() if self.output else ""

    def sanitizer_reports(self) -> str:
        text = self.log_text()
        return text if SANITIZER_RE.search(text) else ""

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise ServerError("no VmRSS")

    # -- HTTP convenience -----------------------------------------------
    def unique(self, prefix="u") -> str:
        return f"{prefix}{next(self._counter)}"

    def session(self, timeout=30.0) -> "Client":
        return Client(self, timeout)

    @property
    def http(self) -> "Client":
        if self._client is None:
            self._client = Client(self)
        return self._client

    @property
    def root_auth(self):
        return ("root", self.root_passwd)

    def jreq(self, method, path, body=None, auth=None, headers=None, raw_body=None, **kw):
        """A JSON API call: Accept application/json; body (if any) as JSON."""
        h = {"Accept": "application/json"}
        if body is not None or raw_body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        data = raw_body if raw_body is not None else (
            json.dumps(body) if body is not None else None)
        return self.http.request(method, path, data=data, auth=auth, headers=h, **kw)

    def create_user(self, name=None, password="secret-pw", auth="root", **extra):
        """Create a user as root (Basic auth by default; auth='xauth' uses
        X-Devpi-Auth). Returns (name, password)."""
        name = name or self.unique("user")
        body = {"password": password, **extra}
        if auth == "root":
            r = self.jreq("PUT", f"/{name}", body, auth=self.root_auth)
        elif auth == "xauth":
            r = self.jreq("PUT", f"/{name}", body, headers=xauth(*self.root_auth))
        else:
            r = self.jreq("PUT", f"/{name}", body, auth=auth)
        assert r.status_code == 201, f"create user {name}: {r.status_code} {r.text}"
        return name, password

    def create_index(self, user, password, index="dev", **config):
        r = self.jreq("PUT", f"/{user}/{index}", config, auth=(user, password))
        assert r.status_code == 200, f"create index {user}/{index}: {r.status_code} {r.text}"
        return r.json()["result"]

    def new_stage(self, index="dev", user=None, **config) -> "Stage":
        """A fresh user with one index (bases default [] so nothing reaches root/pypi)."""
        user, pw = self.create_user(user)
        self.create_index(user, pw, index, **config)
        return Stage(self, user, pw, index)

    def login(self, user, password):
        return self.jreq("POST", "/+login", {"user": user, "password": password})

    def serial(self) -> int:
        r = self.http.get("/+api", headers={"Accept": "application/json"})
        return int(r.headers["X-DEVPI-SERIAL"])


class Client(requests.Session):
    """requests.Session bound to a Server: paths relative to server.url, default
    timeout, redirects NOT followed unless allow_redirects=True is passed."""

    def __init__(self, server: Server, timeout=30.0):
        super().__init__()
        self.trust_env = False
        self.server = server
        self.timeout = timeout

    def request(self, method, url, *args, **kw):
        if url.startswith("/"):
            url = self.server.url + url
        kw.setdefault("timeout", self.timeout)
        kw.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kw)

    def get(self, url, **kw):
        kw.setdefault("allow_redirects", False)
        return self.request("GET", url, **kw)

    def options(self, url, **kw):
        kw.setdefault("allow_redirects", False)
        return self.request("OPTIONS", url, **kw)


def basic(user, password) -> dict:
    tok = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {tok}"}


def xauth(user, password) -> dict:
    return {"X-Devpi-Auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


# --------------------------------------------------------------------------
# a user/index pair

class Stage:
    def __init__(self, server: Server, user, password, index="dev"):
        self.server = server
        self.user = user
        self.password = password
        self.index = index

    name = property(lambda self: f"{self.user}/{self.index}")
    path = property(lambda self: f"/{self.user}/{self.index}")
    url = property(lambda self: self.server.url + self.path)
    simple_url = property(lambda self: self.url + "/+simple/")
    auth = property(lambda self: (self.user, self.password))

    def __repr__(self):
        return f"<Stage {self.name}>"

    def file_path(self, dist) -> str:
        return f"{self.path}/+f/{dist.relpath_dirs()}/{dist.filename}"

    def file_url(self, dist) -> str:
        return self.server.url + self.file_path(dist)

    def upload(self, dist=None, *, filename=None, content=None, name=None, version=None,
               fields=None, auth="__stage__", action="file_upload", minimal=True,
               content_field="content", headers=None, path=None):
        """Legacy upload with a requests multipart form.

        minimal=True sends only :action, protocol_version, name, version (+ fields);
        minimal=False adds twine-like metadata fields from the Dist."""
        if dist is not None:
            filename = filename or dist.filename
            content = dist.data if content is None else content
            name = dist.name if name is None else name
            version = dist.version if version is None else version
        data = []
        if action is not None:
            data.append((":action", action))
        data.append(("protocol_version", "1"))
        if name is not None:
            data.append(("name", name))
        if version is not None:
            data.append(("version", version))
        if dist is not None and not minimal:
            data += [("metadata_version", "2.1"), ("summary", dist.summary),
                     ("filetype", "bdist_wheel" if dist.kind == "wheel" else "sdist"),
                     ("pyversion", "py3" if dist.kind == "wheel" else "source")]
            if dist.requires_python:
                data.append(("requires_python", dist.requires_python))
            data += [("requires_dist", r) for r in dist.requires_dist]
        data += list((fields or {}).items()) if isinstance(fields, dict) else list(fields or [])
        if content is not None:
            files = {content_field: (filename, content, "application/octet-stream")}
        else:
            # no content part: still send multipart/form-data (with an unrelated part)
            files = {"comment_file": ("notes.txt", b"not the content", "text/plain")}
        if auth == "__stage__":
            auth = self.auth
        return self.server.http.post(path or (self.path + "/"), data=data, files=files,
                                     auth=auth, headers=headers or {}, timeout=120)

    def upload_ok(self, *dists, **kw):
        for d in dists:
            r = self.upload(d, **kw)
            assert r.status_code == 200, (f"upload {d.filename} to {self.name}: "
                                          f"{r.status_code} {r.reason!r} {r.text[:300]}")
        return dists

    def twine(self, *dists, check=True, auth=None):
        user, pw = auth or self.auth
        return twine_upload(self.url + "/", user, pw, [str(d.path) for d in dists], check=check)

    def simple(self, project, accept=None, ua=None, slash=True, headers=None, **kw):
        h = dict(headers or {})
        if accept:
            h["Accept"] = accept
        if ua:
            h["User-Agent"] = ua
        return self.server.http.get(f"{self.path}/+simple/{project}{'/' if slash else ''}",
                                    headers=h, **kw)

    def simple_links(self, project, **kw):
        r = self.simple(project, **kw)
        assert r.status_code == 200, f"simple page {self.name}/{project}: {r.status_code} {r.text[:300]}"
        return parse_simple_html(r.text)

    def simple_json(self, project, **kw):
        r = self.simple(project, accept=SIMPLE_JSON, **kw)
        assert r.status_code == 200, f"{r.status_code} {r.text[:300]}"
        assert r.headers["Content-Type"].split(";")[0].strip() == SIMPLE_JSON
        return r.json()

    def get_json(self, subpath="", **kw):
        return self.server.jreq("GET", self.path + subpath, **kw)

    def config(self):
        r = self.get_json()
        assert r.status_code == 200, r.text
        return r.json()["result"]


# --------------------------------------------------------------------------
# simple page parsing

LINK_LINE_RE = re.compile(
    r'^(?P<stage>[^\s<]+) <a href="(?P<href>[^"]*)"(?P<attrs>[^>]*)>(?P<text>[^<]*)</a><br>\s*$',
    re.M)
ATTR_RE = re.compile(r'\s([A-Za-z0-9_:-]+)="([^"]*)"')
ANCHOR_RE = re.compile(r'<a\s+href="([^"]*)"([^>]*)>([^<]*)</a>')


def parse_simple_html(text):
    """Links of a project page as dicts: stage, href (unescaped), attrs (raw
    attribute text, HTML-escaped as sent), attrs_unescaped, text, raw line."""
    out = []
    for m in LINK_LINE_RE.finditer(text):
        raw_attrs = dict(ATTR_RE.findall(m.group("attrs")))
        out.append({
            "stage": m.group("stage"),
            "href": html.unescape(m.group("href")),
            "attrs": raw_attrs,
            "attrs_unescaped": {k: html.unescape(v) for k, v in raw_attrs.items()},
            "text": html.unescape(m.group("text")),
            "line": m.group(0),
        })
    return out


def parse_anchors(text):
    return [(html.unescape(h), html.unescape(t)) for h, _a, t in ANCHOR_RE.findall(text)]


# --------------------------------------------------------------------------
# raw HTTP

class RawResponse:
    def __init__(self, status, reason, header_list, body, version="HTTP/1.1"):
        self.status = status
        self.reason = reason
        self.header_list = header_list
        self.headers = CaseInsensitiveDict()
        for k, v in header_list:
            self.headers[k] = v
        self.body = body
        self.version = version

    def __repr__(self):
        return f"<RawResponse {self.status} {self.reason!r} {len(self.body)} bytes>"

    def header_values(self, name):
        return [v for k, v in self.header_list if k.lower() == name.lower()]


def connect(server: Server, timeout=10.0) -> socket.socket:
    s = socket.create_connection((HOST, server.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(rfile, method="GET") -> RawResponse:
    """Read one HTTP/1.x response from a buffered socket file. Raises EOFError
    if the connection closes before a status line."""
    while True:
        line = rfile.readline(65537)
        if not line:
            raise EOFError("connection closed before a status line")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"bad status line {line!r}")
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            h = rfile.readline(65537)
            if not h:
                raise EOFError("connection closed inside headers")
            if h in (b"\r\n", b"\n"):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        if 100 <= status < 200:
            continue
        hd = CaseInsensitiveDict()
        for k, v in headers:
            hd[k] = v
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in hd.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size_line = rfile.readline(1024)
                if not size_line:
                    raise EOFError("EOF in chunked body")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += rfile.read(size)
                rfile.readline(3)
            body = bytes(body)
        elif "Content-Length" in hd:
            n = int(hd["Content-Length"])
            body = rfile.read(n)
            if len(body) != n:
                raise EOFError(f"short body {len(body)}/{n}")
        else:
            body = rfile.read()
        return RawResponse(status, reason, headers, body, version)


def raw_exchange(server: Server, data: bytes, timeout=10.0, method="GET") -> RawResponse:
    """Send raw bytes on a new connection and read one response."""
    with connect(server, timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        with s.makefile("rb") as f:
            return read_response(f, method)


def wait_closed(sock: socket.socket, timeout: float) -> Optional[float]:
    """Wait until the peer closes (recv returns b'' or reset). Returns seconds
    waited, or None if still open after timeout. Data received is discarded."""
    t0 = time.monotonic()
    sock.setblocking(False)
    try:
        while True:
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                return None
            r, _, _ = select.select([sock], [], [], left)
            if r:
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    return time.monotonic() - t0
                except BlockingIOError:
                    continue
                if not chunk:
                    return time.monotonic() - t0
    finally:
        sock.setblocking(True)


def multipart_body(fields, files, boundary="----devpilikeboundary7d93b1"):
    """Build a multipart/form-data body. fields: [(name, value)], files:
    [(field, filename, bytes)]. Returns (content_type, body)."""
    out = bytearray()
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for field, filename, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)


def http_head_block(method, path, headers) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --------------------------------------------------------------------------
# assertions shared by several files

UUID_RE = re.compile(r"^[0-9a-f]{32}$")


def assert_devpi_headers(headers, what=""):
    assert headers.get("X-DEVPI-API-VERSION") == "2", f"{what}: X-DEVPI-API-VERSION {headers}"
    assert headers.get("X-DEVPI-SERVER-VERSION"), f"{what}: no X-DEVPI-SERVER-VERSION"
    uuid = headers.get("X-DEVPI-UUID", "")
    assert UUID_RE.match(uuid), f"{what}: X-DEVPI-UUID {uuid!r}"
    assert headers.get("X-DEVPI-PRIMARY-UUID") == uuid, f"{what}: X-DEVPI-PRIMARY-UUID"
    assert headers.get("X-DEVPI-MASTER-UUID") == uuid, f"{what}: X-DEVPI-MASTER-UUID"
    serial = headers.get("X-DEVPI-SERIAL")
    assert serial is not None and re.fullmatch(r"-?\d+", serial), f"{what}: X-DEVPI-SERIAL {serial!r}"
    return int(serial)


def assert_upload_error(r, status, message=None, prefix=None):
    """Upload errors carry the message as the HTTP reason phrase (API.md 0.2)."""
    assert r.status_code == status, f"expected {status}, got {r.status_code} {r.reason!r} {r.text[:300]}"
    if message is not None:
        assert r.reason == message, f"reason phrase {r.reason!r} != {message!r}"
        assert message in r.text, f"body {r.text[:300]!r} lacks {message!r}"
    if prefix is not None:
        assert r.reason.startswith(prefix), f"reason phrase {r.reason!r} does not start with {prefix!r}"


def json_message(r) -> str:
    try:
        return r.json().get("message", "")
    except ValueError:
        raise AssertionError(f"not JSON ({r.status_code}): {r.text[:300]!r}")


def resolve(page_url, href) -> str:
    return urljoin(page_url, href)


# --------------------------------------------------------------------------
# pip and twine

def pip_env() -> dict:
    env = clean_env()
    env.update({
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env


class Venv:
    def __init__(self, path):
        self.path = Path(path)
        subprocess.run([DEBIAN_PYTHON, "-m", "venv", str(self.path)], check=True,
                       env=clean_env(), capture_output=True, timeout=180)
        self.python = str(self.path / "bin" / "python")

    def pip(self, *args, check=True, timeout=300):
        cmd = [self.python, "-m", "pip", *map(str, args)]
        p = subprocess.run(cmd, env=pip_env(), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"pip failed ({p.returncode}): {' '.join(cmd)}\n"
                                 f"--- stdout ---\n{p.stdout[-4000:]}\n--- stderr ---\n{p.stderr[-4000:]}")
        return p

    def install(self, index_url, *reqs, target, extra=(), check=True):
        return self.pip("install", "--index-url", index_url, "--target", target,
                        "--timeout", "30", "--retries", "0", *extra, *reqs, check=check)

    def run_py(self, code, pythonpath=None, check=True):
        env = pip_env()
        if pythonpath:
            env["PYTHONPATH"] = str(pythonpath)
        p = subprocess.run([self.python, "-c", code], env=env, capture_output=True,
                           text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"python failed: {p.stderr[-2000:]}")
        return p


def twine_upload(repo_url, user, password, files, check=True, timeout=180):
    env = clean_env()
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    cmd = [DEBIAN_PYTHON, "-m", "twine", "upload", "--repository-url", repo_url,
           "-u", user, "-p", password, "--non-interactive", "--disable-progress-bar",
           *map(str, files)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"twine failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def installed_version(target, dist_name) -> Optional[str]:
    """Version of dist_name from the *.dist-info dirs in a pip --target dir."""
    from pkgbuild import wheel_escape
    esc = wheel_escape(dist_name).lower()
    for d in Path(target).glob("*.dist-info"):
        n, _, v = d.name[: -len(".dist-info")].rpartition("-")
        if n.lower().replace("-", "_") == esc.replace("-", "_"):
            return v
    return None
