"""A fake upstream PyPI for the mirror tests (issue 3, API.md 7), run in-process.

FakeUpstream is a small HTTP/1.1 server on 127.0.0.1 (a free port, one thread
per connection, keep-alive) that the tests drive directly through Python
calls, never over HTTP:

- a tree of projects -> files (real wheels and sdists built with pkgbuild,
  plus lazily generated files: a 1 GB deterministic stream, a project with
  10,000 links), served as
    /simple/                  project list (PEP 503 HTML or PEP 691 JSON)
    /simple/<project>/        project page (HTML with #sha256=, data-requires-python,
                              data-yanked, data-dist-info-metadata/data-core-metadata;
                              JSON with hashes, requires-python, yanked,
                              core-metadata, size, upload-time)
    /files/<filename>         the file
    /files/<filename>.metadata  PEP 658 core metadata
  Any path under /moved/ is served like the path without that prefix (a
  redirect target). Pages carry X-PYPI-LAST-SERIAL and a strong ETag
  (If-None-Match -> 304). JSON is chosen by Accept q-values, or forced per
  project (set_format).
- bookkeeping: every request is counted per (unquoted) path and recorded with
  its headers (thread-safe): count(), requests_for(), total().
- faults, switchable at any time per fnmatch path pattern (fault()), newest
  first: hang, slow, slow_body, delay, reset, truncate, status, wrong_hash,
  wrong_length, login, gzip, redirect, garbage; and refuse() which closes the
  listening socket and every open connection (connection refused) until
  refuse(False) listens again on the same port.
- optional Basic auth (require_auth()).

The bottom of the file has small helpers shared by the test_mirror*.py files.
"""

import base64
import fnmatch
import gzip
import hashlib
import html
import itertools
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import unquote, urljoin, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

import pkgbuild as pb

HOST = "127.0.0.1"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
UPLOAD_TIME = "2024-05-01T12:00:00.000000Z"

FAULT_KINDS = {"hang", "slow", "slow_body", "delay", "reset", "truncate", "status",
               "wrong_hash", "wrong_length", "login", "gzip", "redirect", "garbage"}

LOGIN_PAGE = (b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
              b"<h1>Corporate proxy: please sign in</h1><form method=\"post\" action=\"/login\">"
              b"<input name=\"user\"><input name=\"password\" type=\"password\">"
              b"<input type=\"submit\" value=\"Sign in\"></form></body></html>\n")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------
# the tree

class Body:
    """A response body: bytes, or a lazily generated stream of known size."""

    def __init__(self, data: Optional[bytes] = None, size: int = 0,
                 chunks: Optional[Callable[[], object]] = None):
        self.data = data
        self.size = len(data) if data is not None else size
        self._chunks = chunks

    def iter(self, chunk=256 * 1024):
        if self.data is not None:
            for i in range(0, len(self.data), chunk):
                yield self.data[i:i + chunk]
        else:
            yield from self._chunks()

    def head(self, n) -> bytes:
        out = bytearray()
        for c in self.iter():
            out += c
            if len(out) >= n:
                break
        return bytes(out[:n])


@dataclass
class UpFile:
    project: str                 # normalized
    filename: str
    version: str
    body: Body
    sha256: str
    metadata: Optional[bytes] = None      # served at .metadata when offer_metadata
    offer_metadata: bool = True
    requires_python: Optional[str] = None
    yanked: object = False                # False, True or a reason string
    upload_time: Optional[str] = UPLOAD_TIME
    dist: Optional[pb.Dist] = None

    @property
    def data(self) -> bytes:
        assert self.body.data is not None, "lazy file"
        return self.body.data

    @property
    def size(self) -> int:
        return self.body.size

    @property
    def metadata_sha256(self) -> Optional[str]:
        return hashlib.sha256(self.metadata).hexdigest() if self.metadata is not None else None

    def relpath_dirs(self) -> str:
        return f"{self.sha256[:3]}/{self.sha256[3:16]}"


@dataclass
class Project:
    name: str                    # display name
    files: list = field(default_factory=list)
    serial: int = 0
    fmt: Optional[str] = None    # None (negotiate), "html", "json"
    url_style: str = "absolute"  # "absolute", "root", "relative"
    listed: bool = True          # in /simple/
    hashes: bool = True          # False: links carry no hash (old-style pages)


@dataclass
class Fault:
    pattern: str
    kind: str
    params: dict
    times: Optional[int] = None  # apply at most this many times (None = always)
    hits: int = 0


@dataclass
class Request:
    method: str
    path: str                    # unquoted, without query
    query: str
    headers: CaseInsensitiveDict
    time: float


def _accept_prefers_json(accept: Optional[str]) -> bool:
    if not accept:
        return False
    q = {}
    for part in accept.split(","):
        bits = [b.strip() for b in part.split(";")]
        mt = bits[0].lower()
        qv = 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                try:
                    qv = float(b[2:])
                except ValueError:
                    qv = 0.0
        q[mt] = max(q.get(mt, 0.0), qv)
    jq = q.get(SIMPLE_JSON, 0.0)
    hq = max(q.get("text/html", 0.0), q.get("application/vnd.pypi.simple.v1+html", 0.0),
             q.get("*/*", 0.0) * 0.001)
    return jq > 0 and jq >= hq


def _accept_mentions_json(accept: Optional[str]) -> bool:
    return bool(accept) and ("json" in accept.lower())


def repeated_block_body(size: int, block_size: int = 1 << 20, seed: int = 7):
    """(Body, sha256 hex) of a deterministic stream of `size` bytes: one
    pseudo-random block repeated, its last 8 bytes replaced by the block number
    so that no two blocks are equal (a cache keyed by block cannot cheat)."""
    base = bytearray(pb.random_bytes(block_size, seed))

    def block(i):
        b = base[:]
        b[-8:] = struct.pack(">Q", i)
        return bytes(b)

    def chunks():
        left, i = size, 0
        while left > 0:
            b = block(i)
            n = min(left, len(b))
            yield b[:n]
            left -= n
            i += 1

    h = hashlib.sha256()
    for c in chunks():
        h.update(c)
    return Body(size=size, chunks=chunks), h.hexdigest()


# --------------------------------------------------------------------------
# the server

class FakeUpstream:
    def __init__(self, workdir, url_style="absolute"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.default_url_style = url_style
        self.projects = {}           # normalized -> Project
        self.files = {}              # filename -> UpFile
        self.dists = {}              # (normalized name, version, kind) -> UpFile
        self.faults = []             # newest first
        self.auth = None             # (user, password, pattern)
        self.log = []                # Request
        self.counts = {}
        self.port = None
        self._serials = itertools.count(1000)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._lsock = None
        self._refuse = False
        self._listening = threading.Event()
        self._closed = threading.Event()
        self._stopping = False
        self._conns = set()
        self._threads = []
        self._accept_thread = None

    # -- lifecycle ------------------------------------------------------
    def start(self):
        s = self._listen(0)
        self.port = s.getsockname()[1]
        self._lsock = s
        self._listening.set()
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name="fake-upstream-accept")
        self._accept_thread.start()
        return self

    def stop(self):
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
        if self._accept_thread:
            self._accept_thread.join(5)
        self._drop_connections()
        for t in list(self._threads):
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def simple_url(self) -> str:
        return self.url + "/simple/"

    def url_with_auth(self, user, password) -> str:
        return f"http://{user}:{password}@{HOST}:{self.port}/simple/"

    def _listen(self, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, port))
        s.listen(256)
        s.settimeout(0.05)
        return s

    def _accept_loop(self):
        while True:
            with self._lock:
                stopping, refuse = self._stopping, self._refuse
            if stopping or refuse:
                if self._lsock is not None:
                    self._lsock.close()
                    self._lsock = None
                    self._listening.clear()
                    self._closed.set()
                if stopping:
                    return
                time.sleep(0.02)
                continue
            if self._lsock is None:
                try:
                    self._lsock = self._listen(self.port)
                except OSError:
                    time.sleep(0.05)
                    continue
                self._closed.clear()
                self._listening.set()
            try:
                c, _ = self._lsock.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                continue
            c.settimeout(None)
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self._serve_conn, args=(c,), daemon=True,
                                 name="fake-upstream-conn")
            with self._lock:
                self._conns.add(c)
                self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _drop_connections(self):
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def refuse(self, on=True, timeout=5.0):
        """Stop listening (connections are refused) and cut every open
        connection; refuse(False) listens again on the same port."""
        with self._lock:
            self._refuse = on
            self._changed.notify_all()
        if on:
            assert self._closed.wait(timeout), "listening socket not closed"
            self._drop_connections()
        else:
            assert self._listening.wait(timeout), "could not listen again"

    # -- tree -----------------------------------------------------------
    def project(self, name) -> Project:
        n = normalize(name)
        with self._lock:
            p = self.projects.get(n)
            if p is None:
                p = Project(name=name, serial=next(self._serials),
                            url_style=self.default_url_style)
                self.projects[n] = p
            return p

    def add_project(self, name, listed=True) -> Project:
        p = self.project(name)
        p.listed = listed
        return p

    def add_file(self, project, filename, data=None, *, version="0", body=None, sha256=None,
                 metadata=None, offer_metadata=True, requires_python=None, yanked=False,
                 upload_time=UPLOAD_TIME, dist=None) -> UpFile:
        if body is None:
            body = Body(data)
            sha256 = sha256 or hashlib.sha256(data).hexdigest()
        f = UpFile(project=normalize(project), filename=filename, version=version, body=body,
                   sha256=sha256, metadata=metadata, offer_metadata=offer_metadata,
                   requires_python=requires_python, yanked=yanked, upload_time=upload_time,
                   dist=dist)
        with self._lock:
            p = self.project(project)
            p.files = [x for x in p.files if x.filename != filename] + [f]
            p.serial = next(self._serials)
            self.files[filename] = f
        return f

    def add_dist(self, dist: pb.Dist, **kw) -> UpFile:
        kw.setdefault("requires_python", dist.requires_python)
        meta = dist.metadata if dist.kind == "wheel" else None
        kw.setdefault("metadata", meta)
        f = self.add_file(dist.name, dist.filename, dist.data, version=dist.version,
                          dist=dist, **kw)
        with self._lock:
            self.dists[(normalize(dist.name), dist.version, dist.kind)] = f
        return f

    def build(self, tree: dict) -> dict:
        """tree: {name: {version: {"requires": [...], "kinds": ("wheel", "sdist"),
        "requires_python": str, "yanked": bool|str, "salt": str,
        "offer_metadata": bool, "extra_files": {...}}}}. Files are added in tree
        order. Returns {(normalized name, version, kind): UpFile}."""
        out = {}
        for name, versions in tree.items():
            self.add_project(name)
            for version, spec in versions.items():
                spec = spec or {}
                for kind in spec.get("kinds", ("wheel",)):
                    d = self.workdir / "dists" / normalize(name)
                    if kind == "wheel":
                        dist = pb.make_wheel(d, name, version,
                                             requires_dist=spec.get("requires", ()),
                                             requires_python=spec.get("requires_python"),
                                             salt=spec.get("salt", ""),
                                             extra_files=spec.get("extra_files"))
                    else:
                        dist = pb.make_sdist(d, name, version,
                                             requires_dist=spec.get("requires", ()),
                                             requires_python=spec.get("requires_python"),
                                             salt=spec.get("salt", ""))
                    f = self.add_dist(dist, yanked=spec.get("yanked", False),
                                      offer_metadata=spec.get("offer_metadata", True))
                    out[(normalize(name), version, kind)] = f
        return out

    def dist(self, name, version, kind="wheel") -> UpFile:
        return self.dists[(normalize(name), version, kind)]

    def add_big_file(self, project, version, size, filename=None) -> UpFile:
        filename = filename or f"{pb.wheel_escape(project)}-{version}.tar.gz"
        body, digest = repeated_block_body(size)
        return self.add_file(project, filename, version=version, body=body, sha256=digest)

    def add_many_links(self, project, n) -> list:
        """n small sdists (content generated from the filename)."""
        out = []
        with self._lock:
            for i in range(n):
                fn = f"{project}-0.{i // 100}.{i % 100}.tar.gz"
                data = (f"fake sdist {fn}\n".encode()) * 4
                f = UpFile(project=normalize(project), filename=fn, version=f"0.{i // 100}.{i % 100}",
                           body=Body(data), sha256=hashlib.sha256(data).hexdigest())
                out.append(f)
                self.files[fn] = f
            p = self.project(project)
            p.files = out
            p.serial = next(self._serials)
        return out

    def set_format(self, project, fmt):
        self.project(project).fmt = fmt

    def set_hashless(self, project, hashless=True):
        self.project(project).hashes = not hashless

    def set_url_style(self, project, style):
        assert style in ("absolute", "root", "relative")
        self.project(project).url_style = style

    def set_serial(self, project, serial):
        self.project(project).serial = serial

    def remove_project(self, project):
        with self._lock:
            p = self.projects.pop(normalize(project))
            for f in p.files:
                self.files.pop(f.filename, None)

    # -- faults and auth --------------------------------------------------
    def fault(self, pattern, kind, times=None, **params) -> Fault:
        """Switch a fault on for paths matching the fnmatch pattern.
        kind/params: hang; slow(rate=1.0 bytes/s, chunk=1: the whole response
        trickled); slow_body(rate, chunk: headers at once); delay(seconds);
        reset(at=fraction); truncate(at=fraction); status(code=500);
        wrong_hash; wrong_length(delta=-100); login; gzip; redirect(to='/moved{path}',
        code=302); garbage. Every kind also takes delay=seconds (wait first);
        throttle=bytes/s sends the body in `chunk`-byte writes at that rate
        (kinds that send the whole body: delay, wrong_hash, wrong_length,
        garbage, gzip)."""
        assert kind in FAULT_KINDS, kind
        f = Fault(pattern, kind, params, times)
        with self._lock:
            self.faults.insert(0, f)
            self._changed.notify_all()
        return f

    def clear(self, fault: Optional[Fault] = None):
        with self._lock:
            if fault is None:
                self.faults = []
            else:
                self.faults = [f for f in self.faults if f is not fault]
            self._changed.notify_all()

    def require_auth(self, user, password, pattern="*"):
        with self._lock:
            self.auth = (user, password, pattern)

    def _match_fault(self, path) -> Optional[Fault]:
        with self._lock:
            for f in self.faults:
                if fnmatch.fnmatchcase(path, f.pattern):
                    if f.times is not None and f.hits >= f.times:
                        continue
                    f.hits += 1
                    return f
        return None

    def _fault_active(self, fault) -> bool:
        with self._lock:
            return (not self._stopping) and any(f is fault for f in self.faults) \
                and not self._refuse

    # -- bookkeeping ----------------------------------------------------
    def count(self, path) -> int:
        with self._lock:
            return self.counts.get(path, 0)

    def count_matching(self, pattern) -> int:
        with self._lock:
            return sum(n for p, n in self.counts.items() if fnmatch.fnmatchcase(p, pattern))

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def paths(self) -> list:
        with self._lock:
            return sorted(self.counts)

    def requests_for(self, path) -> list:
        with self._lock:
            return [r for r in self.log if r.path == path]

    def reset_counts(self):
        with self._lock:
            self.counts = {}
            self.log = []

    def _record(self, method, target, headers):
        parts = urlsplit(target)
        path = unquote(parts.path)
        with self._lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            self.log.append(Request(method, path, parts.query, headers, time.time()))
        return path

    # -- HTTP -------------------------------------------------------------
    def _serve_conn(self, sock):
        rfile = sock.makefile("rb")
        try:
            while True:
                line = rfile.readline(65537)
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    continue
                try:
                    method, target, version = line.decode("latin-1").split()
                except ValueError:
                    return
                headers = CaseInsensitiveDict()
                while True:
                    h = rfile.readline(65537)
                    if not h:
                        return
                    if h in (b"\r\n", b"\n"):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip()] = v.strip()
                n = int(headers.get("Content-Length", "0") or 0)
                if n:
                    rfile.read(n)
                path = self._record(method, target, headers)
                keep = self._handle(sock, method, path, headers)
                if not keep or headers.get("Connection", "").lower() == "close" \
                        or version == "HTTP/1.0":
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(sock)
            try:
                rfile.close()
                sock.close()
            except OSError:
                pass

    def _route(self, method, path, headers):
        """-> (status, [(header, value)], Body|None, kind) where kind is
        'page', 'list', 'file', 'metadata' or 'other'."""
        real = path[len("/moved"):] if path.startswith("/moved/") else path
        if real == "/simple/" or real == "/simple":
            if real == "/simple":
                return 301, [("Location", path + "/")], Body(b""), "other"
            return self._list(headers) + ("list",)
        m = re.fullmatch(r"/simple/([^/]+)(/?)", real)
        if m:
            if not m.group(2):
                return 301, [("Location", path + "/")], Body(b""), "other"
            with self._lock:
                p = self.projects.get(normalize(m.group(1)))
            if p is None:
                return 404, [("Content-Type", "text/plain")], Body(b"Not Found\n"), "page"
            return self._page(p, path, headers) + ("page",)
        m = re.fullmatch(r"/files/([^/]+)", real)
        if m:
            fn = m.group(1)
            is_meta = fn.endswith(".metadata")
            with self._lock:
                f = self.files.get(fn[: -len(".metadata")] if is_meta else fn)
            if f is None:
                return 404, [("Content-Type", "text/plain")], Body(b"Not Found\n"), "file"
            if is_meta:
                if f.metadata is None or not f.offer_metadata:
                    return 404, [("Content-Type", "text/plain")], Body(b"Not Found\n"), "metadata"
                return 200, [("Content-Type", "application/octet-stream")], \
                    Body(f.metadata), "metadata"
            return 200, [("Content-Type", "application/octet-stream"),
                         ("Last-Modified", "Wed, 01 May 2024 12:00:00 GMT")], f.body, "file"
        return 404, [("Content-Type", "text/plain")], Body(b"Not Found\n"), "other"

    def _list(self, headers):
        with self._lock:
            projects = [p for p in self.projects.values() if p.listed]
            serial = max([p.serial for p in projects], default=0)
        if _accept_prefers_json(headers.get("Accept")):
            body = json.dumps({"meta": {"api-version": "1.1", "_last-serial": serial},
                               "projects": [{"name": p.name, "_last-serial": p.serial}
                                            for p in projects]}).encode()
            ctype = SIMPLE_JSON
        else:
            lines = ["<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" "
                     "content=\"1.1\"><title>Simple index</title></head><body>"]
            lines += [f'<a href="/simple/{normalize(p.name)}/">{html.escape(p.name)}</a>'
                      for p in projects]
            lines.append("</body></html>")
            body = "\n".join(lines).encode()
            ctype = "text/html; charset=utf-8"
        return self._cacheable(headers, 200, [("Content-Type", ctype),
                                              ("X-PYPI-LAST-SERIAL", str(serial))], body)

    def _file_url(self, p: Project, f: UpFile, path) -> str:
        prefix = "/moved" if path.startswith("/moved/") else ""
        if p.url_style == "absolute":
            return f"{self.url}{prefix}/files/{f.filename}"
        if p.url_style == "root":
            return f"{prefix}/files/{f.filename}"
        return f"../../files/{f.filename}"

    def _page(self, p: Project, path, headers):
        with self._lock:
            files = list(p.files)
            serial = p.serial
            fmt = p.fmt
        want_json = fmt == "json" or (fmt is None and _accept_prefers_json(headers.get("Accept")))
        if want_json:
            out = []
            for f in files:
                e = {"filename": f.filename, "url": self._file_url(p, f, path),
                     "hashes": {"sha256": f.sha256} if p.hashes else {},
                     "requires-python": f.requires_python,
                     "yanked": f.yanked, "size": f.size}
                if f.upload_time:
                    e["upload-time"] = f.upload_time
                if f.metadata is not None and f.offer_metadata:
                    e["core-metadata"] = {"sha256": f.metadata_sha256}
                    e["data-dist-info-metadata"] = {"sha256": f.metadata_sha256}
                else:
                    e["core-metadata"] = False
                    e["data-dist-info-metadata"] = False
                out.append(e)
            versions = sorted({f.version for f in files})
            body = json.dumps({"meta": {"api-version": "1.1", "_last-serial": serial},
                               "name": normalize(p.name), "versions": versions,
                               "files": out}).encode()
            ctype = SIMPLE_JSON
        else:
            lines = ["<!DOCTYPE html>", "<html>", "  <head>",
                     '    <meta name="pypi:repository-version" content="1.1">',
                     f"    <title>Links for {html.escape(p.name)}</title>", "  </head>",
                     "  <body>", f"    <h1>Links for {html.escape(p.name)}</h1>"]
            for f in files:
                attrs = ""
                if f.requires_python:
                    attrs += f' data-requires-python="{html.escape(f.requires_python)}"'
                if f.metadata is not None and f.offer_metadata:
                    attrs += (f' data-dist-info-metadata="sha256={f.metadata_sha256}"'
                              f' data-core-metadata="sha256={f.metadata_sha256}"')
                if f.yanked is not False and f.yanked is not None:
                    reason = "" if f.yanked is True else f.yanked
                    attrs += f' data-yanked="{html.escape(reason)}"'
                href = html.escape(self._file_url(p, f, path) +
                                   ("#sha256=" + f.sha256 if p.hashes else ""))
                lines.append(f'    <a href="{href}"{attrs}>{html.escape(f.filename)}</a><br />')
            lines += ["  </body>", "</html>", f"<!--SERIAL {serial}-->"]
            body = "\n".join(lines).encode()
            ctype = "text/html"
        return self._cacheable(headers, 200, [("Content-Type", ctype),
                                              ("X-PYPI-LAST-SERIAL", str(serial))], body)

    def _cacheable(self, headers, status, hdrs, body: bytes):
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        hdrs = hdrs + [("ETag", etag), ("Cache-Control", "max-age=600, public")]
        inm = headers.get("If-None-Match")
        if inm and etag in [t.strip() for t in inm.split(",")]:
            return 304, hdrs, Body(b"")
        return status, hdrs, Body(body)

    def _handle(self, sock, method, path, headers) -> bool:
        """Answer one request; returns whether the connection may be kept."""
        if self.auth is not None and fnmatch.fnmatchcase(path, self.auth[2]):
            want = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            if headers.get("Authorization") != want:
                body = b"Unauthorized\n"
                self._send_head(sock, 401, [("WWW-Authenticate", 'Basic realm="upstream"'),
                                            ("Content-Type", "text/plain"),
                                            ("Content-Length", str(len(body)))])
                sock.sendall(body)
                return True
        fault = self._match_fault(path)
        kind = fault.kind if fault else None
        params = fault.params if fault else {}

        if kind == "hang":
            with self._lock:
                while self._fault_active(fault):
                    self._changed.wait(0.2)
            return False
        wait = params.get("seconds", 1.0) if kind == "delay" else params.get("delay", 0)
        if wait:
            end = time.monotonic() + wait
            with self._lock:
                while self._fault_active(fault) and time.monotonic() < end:
                    self._changed.wait(min(0.05, max(0.0, end - time.monotonic())))
        if kind == "status":
            code = params.get("code", 500)
            body = f"upstream fault {code}\n".encode()
            h = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            if code == 429:
                h.append(("Retry-After", "3600"))
            self._send_head(sock, code, h)
            if method != "HEAD":
                sock.sendall(body)
            return True
        if kind == "redirect":
            to = params.get("to", "/moved{path}").format(path=path)
            body = b"moved\n"
            self._send_head(sock, params.get("code", 302),
                            [("Location", to), ("Content-Type", "text/plain"),
                             ("Content-Length", str(len(body)))])
            sock.sendall(body)
            return True
        if kind == "login" and _accept_mentions_json(headers.get("Accept")):
            self._send_head(sock, 200, [("Content-Type", "text/html; charset=utf-8"),
                                        ("Content-Length", str(len(LOGIN_PAGE)))])
            sock.sendall(LOGIN_PAGE)
            return True

        if kind in ("truncate", "reset", "wrong_length", "wrong_hash", "garbage", "slow",
                    "slow_body", "gzip"):
            # a damaged body must reach the client: no 304 shortcut
            headers = CaseInsensitiveDict({k: v for k, v in headers.items()
                                           if k.lower() != "if-none-match"})
        status, hdrs, body, what = self._route(method, path, headers)
        if kind == "garbage":
            junk = b"{\"meta\": {\"api-version\": \"1.1\"}, \"files\": [{\"filename\": \x00\xff garbage"
            if what == "page" or what == "list":
                hdrs = [(k, v) for k, v in hdrs if k.lower() not in ("etag",)]
                status, body = 200, Body(junk)
            else:
                body = Body(pb.random_bytes(body.size, 99))
        if kind == "gzip" and status == 200:
            raw = b"".join(body.iter())
            body = Body(gzip.compress(raw))
            hdrs = hdrs + [("Content-Encoding", "gzip")]
        if kind == "wrong_hash" and status == 200:
            body = _flipped(body)

        size = body.size
        declared = size
        if kind == "wrong_length" and status == 200:
            declared = max(0, size + params.get("delta", -100))
        hdrs = hdrs + [("Content-Length", str(declared))]
        if kind in ("wrong_length", "truncate", "reset", "slow", "slow_body"):
            # the connection ends after this response: say so, so that a client
            # does not reuse it (a desynchronized connection would hide the next
            # request from the counters)
            hdrs = hdrs + [("Connection", "close")]
        if method == "HEAD":
            self._send_head(sock, status, hdrs)
            return True

        if kind == "slow":
            wire = _head_bytes(status, hdrs) + b"".join(body.iter())
            self._trickle(sock, wire, params.get("rate", 1.0), fault, params.get("chunk", 1))
            return False
        self._send_head(sock, status, hdrs)
        if kind == "slow_body":
            self._trickle(sock, b"".join(body.iter()), params.get("rate", 1.0), fault,
                          params.get("chunk", 1))
            return False
        if kind in ("reset", "truncate"):
            cut = int(size * params.get("at", 0.5))
            sent = 0
            for c in body.iter():
                take = c[: max(0, cut - sent)]
                if take:
                    sock.sendall(take)
                    sent += len(take)
                if sent >= cut:
                    break
            time.sleep(0.05)
            if kind == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if params.get("throttle"):
            self._trickle(sock, b"".join(body.iter()), params["throttle"], fault,
                          params.get("chunk", 16384))
        else:
            for c in body.iter():
                sock.sendall(c)
        if kind == "wrong_length":
            return False
        return True

    def _trickle(self, sock, data, rate, fault, chunk=1):
        """Send data in `chunk`-byte writes at about `rate` bytes per second
        (keeps going when the fault is cleared; stops when the server stops)."""
        interval = chunk / rate
        for i in range(0, len(data), chunk):
            sock.sendall(data[i:i + chunk])
            end = time.monotonic() + interval
            with self._lock:
                while time.monotonic() < end:
                    if self._stopping:
                        return
                    self._changed.wait(max(0.0, min(0.2, end - time.monotonic())))

    def _send_head(self, sock, status, hdrs):
        sock.sendall(_head_bytes(status, hdrs))


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
            307: "Temporary Redirect", 401: "Unauthorized", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable"}


def _head_bytes(status, hdrs) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Server: fake-upstream",
             "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())]
    lines += [f"{k}: {v}" for k, v in hdrs]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _flipped(body: Body) -> Body:
    """Same size, different bytes (every byte of the first 4 KiB inverted)."""
    def chunks():
        first = True
        for c in body.iter():
            if first:
                c = bytes(b ^ 0xFF for b in c[:4096]) + c[4096:]
                first = False
            yield c
    if body.data is not None:
        return Body(b"".join(chunks()))
    return Body(size=body.size, chunks=chunks)


# --------------------------------------------------------------------------
# helpers for the test_mirror*.py files

PIP_UA = "pip/23.0.1 {\"installer\":{\"name\":\"pip\",\"version\":\"23.0.1\"}}"
NO_CACHE_HEADERS_RE = re.compile(r"no-cache")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mirror_page_url(server, project, index="root/pypi") -> str:
    return f"{server.url}/{index}/+simple/{normalize(project)}/"


def get_page(server, project, index="root/pypi", accept=None, ua=PIP_UA, timeout=60, **kw):
    h = {"User-Agent": ua}
    if accept:
        h["Accept"] = accept
    h.update(kw.pop("headers", {}))
    return requests.get(mirror_page_url(server, project, index), headers=h, timeout=timeout,
                        allow_redirects=False, proxies={"http": None}, **kw)


_LINK_RE = re.compile(r'<a\s+href="([^"]*)"([^>]*)>([^<]*)</a>')
_ATTR_RE = re.compile(r'\s([A-Za-z0-9_:-]+)="([^"]*)"')


def html_links(r) -> dict:
    """filename -> {"url": absolute url without fragment, "fragment": str,
    "attrs": {name: unescaped value}} from a devpi-like HTML project page."""
    out = {}
    for href, attrs, text in _LINK_RE.findall(r.text):
        href = html.unescape(href)
        url, _, frag = urljoin(r.url, href).partition("#")
        out[html.unescape(text)] = {
            "url": url, "fragment": frag, "href": href,
            "attrs": {k: html.unescape(v) for k, v in _ATTR_RE.findall(attrs)}}
    return out


def json_files(r) -> dict:
    """filename -> file entry (url made absolute) from a PEP 691 JSON page."""
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == SIMPLE_JSON, \
        (r.status_code, r.headers.get("Content-Type"), r.text[:300])
    out = {}
    for e in r.json()["files"]:
        e = dict(e)
        e["abs_url"] = urljoin(r.url, e["url"])
        out[e["filename"]] = e
    return out


def page_links(server, project, index="root/pypi", **kw) -> dict:
    r = get_page(server, project, index, **kw)
    assert r.status_code == 200, f"{index}/+simple/{project}/: {r.status_code} {r.text[:300]}"
    return html_links(r)


def expected_file_url(server, f: UpFile, index="root/pypi") -> str:
    return f"{server.url}/{index}/+f/{f.relpath_dirs()}/{f.filename}"


def is_stale_headers(r) -> bool:
    return "no-cache" in r.headers.get("Cache-Control", "").lower()


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def raw_get(server, path, timeout=60.0, headers=()):
    """GET over a raw socket. Returns (status, headers, body, complete): complete
    is False when the connection ended before the framed body did (short
    Content-Length body, unterminated chunked body, reset) — i.e. the
    download did not complete as if good."""
    s = socket.create_connection((HOST, server.port), timeout=timeout)
    try:
        req = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{server.port}", "Connection: close",
               "User-Agent: " + PIP_UA]
        req += [f"{k}: {v}" for k, v in headers]
        s.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
        buf = bytearray()
        try:
            while True:
                c = s.recv(1 << 20)
                if not c:
                    break
                buf += c
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    head, sep, rest = bytes(buf).partition(b"\r\n\r\n")
    if not sep:
        return None, {}, b"", False
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hd = CaseInsensitiveDict()
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hd[k.strip()] = v.strip()
    if "chunked" in hd.get("Transfer-Encoding", "").lower():
        body, complete = _dechunk(rest)
    elif "Content-Length" in hd:
        n = int(hd["Content-Length"])
        body, complete = rest[:n], len(rest) >= n
    else:
        body, complete = rest, False   # close-delimited: cannot tell good from cut
    return status, hd, body, complete


def _dechunk(data: bytes):
    out = bytearray()
    i = 0
    while True:
        j = data.find(b"\r\n", i)
        if j < 0:
            return bytes(out), False
        try:
            n = int(data[i:j].split(b";")[0].strip(), 16)
        except ValueError:
            return bytes(out), False
        i = j + 2
        if n == 0:
            return bytes(out), data.find(b"\r\n", i) >= 0
        if len(data) < i + n + 2:
            out += data[i:i + n]
            return bytes(out), False
        out += data[i:i + n]
        i += n + 2
