"""Pure-Python builders for the release files the integration suite uploads.

No setuptools, no network: wheels are written with zipfile (PEP 427 layout,
RECORD with urlsafe-base64 sha256 hashes, so a real pip installs them), sdists
with tarfile (PKG-INFO + setup.py + a pyproject.toml stub without build-backend;
pip downloads them with `--no-build-isolation --no-use-pep517`, preparing their
metadata with the venv's own setuptools, so no index needs to offer setuptools).

Hostile builders produce the archives an upload endpoint must refuse cleanly:
a zip bomb (METADATA of 100 MB of zeros, deflated to ~100 KB), a wheel whose
METADATA is over 2 MiB, random bytes named .whl, a truncated wheel, and a wheel
without any .dist-info directory.

Every builder returns a Dist describing what it wrote (path, name, version,
sha256, the metadata bytes a server should extract).
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass
class Dist:
    path: Path
    name: str
    version: str
    kind: str                        # "wheel", "sdist", "hostile"
    metadata: Optional[bytes] = None  # METADATA / PKG-INFO bytes inside the archive
    requires_dist: tuple = ()
    requires_python: Optional[str] = None
    summary: str = ""
    module: str = ""
    notes: dict = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def metadata_sha256(self) -> str:
        assert self.metadata is not None
        return hashlib.sha256(self.metadata).hexdigest()

    def relpath_dirs(self) -> str:
        """`<A>/<B>` of the +f path: sha256[0:3] / sha256[3:16] (API.md 3.1)."""
        h = self.sha256
        return f"{h[:3]}/{h[3:16]}"


def wheel_escape(name: str) -> str:
    """PEP 427 escaping of a distribution name/version component."""
    return re.sub(r"[^\w\d.]+", "_", name, flags=re.UNICODE)


def normalize(name: str) -> str:
    """devpi/PEP 503 normalization: runs of non-alphanumerics -> '-', lowercase."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).lower()


def module_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def metadata_text(name, version, summary="", requires_dist=(), requires_python=None,
                  description="", extra_headers=()) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        lines.append(f"Summary: {summary}")
    lines.append("Author: devpi-like tests")
    lines.append("License: MIT")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    for req in requires_dist:
        lines.append(f"Requires-Dist: {req}")
    lines.extend(extra_headers)
    text = "\n".join(lines) + "\n\n"
    if description:
        text += description
        if not description.endswith("\n"):
            text += "\n"
    return text


def _zinfo(arcname: str) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(arcname, date_time=(2024, 5, 1, 12, 0, 0))
    zi.compress_type = zipfile.ZIP_DEFLATED
    zi.external_attr = 0o644 << 16
    return zi


def make_wheel(directory, name, version, requires_dist=(), requires_python=None,
               summary=None, extra_files=None, salt="", description="",
               tag="py3-none-any", metadata_override: Optional[bytes] = None,
               include_dist_info=True) -> Dist:
    """Write `<escaped name>-<version>-<tag>.whl` into directory and return its Dist.

    extra_files: {arcname: str|bytes} added to the archive (and to RECORD).
    salt: changes the content (so the same filename can be re-uploaded with
    different bytes).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary = summary if summary is not None else f"{name} test package"
    esc_name = wheel_escape(name)
    esc_ver = wheel_escape(version)
    mod = module_name(name)
    distinfo = f"{esc_name}-{esc_ver}.dist-info"
    if metadata_override is not None:
        meta = metadata_override
    else:
        meta = metadata_text(name, version, summary, requires_dist, requires_python,
                             description).encode("utf-8")
    files = {
        f"{mod}/__init__.py": (f"__version__ = {version!r}\nNAME = {name!r}\n"
                               f"# salt: {salt}\n").encode(),
    }
    for arc, content in (extra_files or {}).items():
        files[arc] = content.encode() if isinstance(content, str) else content
    if include_dist_info:
        files[f"{distinfo}/METADATA"] = meta
        files[f"{distinfo}/WHEEL"] = (
            "Wheel-Version: 1.0\nGenerator: devpi-like-tests (0)\n"
            f"Root-Is-Purelib: true\nTag: {tag}\n\n").encode()
        files[f"{distinfo}/top_level.txt"] = f"{mod}\n".encode()
        record_lines = [f"{arc},{_record_hash(data)},{len(data)}" for arc, data in files.items()]
        record_lines.append(f"{distinfo}/RECORD,,")
        files[f"{distinfo}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    path = directory / f"{esc_name}-{esc_ver}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for arc, data in files.items():
            zf.writestr(_zinfo(arc), data)
    return Dist(path=path, name=name, version=version, kind="wheel",
                metadata=meta if include_dist_info else None,
                requires_dist=tuple(requires_dist), requires_python=requires_python,
                summary=summary, module=mod)


def make_sdist(directory, name, version, requires_dist=(), requires_python=None,
               summary=None, salt="", filename=None) -> Dist:
    """Write `<name>-<version>.tar.gz` with `<name>-<version>/PKG-INFO`, setup.py,
    pyproject.toml and the module. pip can download it; preparing its metadata
    needs setuptools (use --no-build-isolation --no-use-pep517)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary = summary if summary is not None else f"{name} test sdist"
    mod = module_name(name)
    base = f"{name}-{version}"
    pkginfo = metadata_text(name, version, summary, requires_dist, requires_python).encode()
    setup_py = (
        "from setuptools import setup\n"
        f"setup(name={name!r}, version={version!r}, packages=[{mod!r}],\n"
        f"      install_requires={list(requires_dist)!r},\n"
        f"      python_requires={requires_python or ''!r}, description={summary!r})\n"
    ).encode()
    # a stub without build-backend, so pip may use the legacy setup.py path
    # (`--no-use-pep517 --no-build-isolation`), which needs only setuptools
    pyproject = b'[build-system]\nrequires = ["setuptools>=40.8.0"]\n'

    members = {
        f"{base}/PKG-INFO": pkginfo,
        f"{base}/setup.py": setup_py,
        f"{base}/pyproject.toml": pyproject,
        f"{base}/{mod}/__init__.py": f"__version__ = {version!r}\n# salt: {salt}\n".encode(),
    }
    path = directory / (filename or f"{base}.tar.gz")
    buf = io.BytesIO()
    # fixed mtime in the gzip header so identical input gives identical bytes
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        dirs = sorted({os.path.dirname(m) for m in members})
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.mtime = 1714564800
            tf.addfile(ti)
        for arc, data in members.items():
            ti = tarfile.TarInfo(arc)
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = 1714564800
            tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    # tarfile's gzip writer stores time.time() in the header: pin it (bytes 4..8)
    raw = raw[:4] + (1714564800).to_bytes(4, "little") + raw[8:]
    path.write_bytes(raw)
    return Dist(path=path, name=name, version=version, kind="sdist", metadata=pkginfo,
                requires_dist=tuple(requires_dist), requires_python=requires_python,
                summary=summary, module=mod)


# --------------------------------------------------------------------------
# hostile archives

def make_zip_bomb_wheel(directory, name, version, size=100 * 2**20) -> Dist:
    """A wheel whose METADATA is `size` bytes (headers + zeros), deflated to ~size/1000."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    esc_name, esc_ver = wheel_escape(name), wheel_escape(version)
    distinfo = f"{esc_name}-{esc_ver}.dist-info"
    path = directory / f"{esc_name}-{esc_ver}-py3-none-any.whl"
    header = metadata_text(name, version, "zip bomb").encode()
    mod = module_name(name)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_zinfo(f"{mod}/__init__.py"), b"")
        zf.writestr(_zinfo(f"{distinfo}/WHEEL"),
                    b"Wheel-Version: 1.0\nGenerator: bomb\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n")
        zi = _zinfo(f"{distinfo}/METADATA")
        with zf.open(zi, "w", force_zip64=size >= 2**31) as out:
            out.write(header)
            chunk = b"\0" * 2**20
            left = size - len(header)
            while left > 0:
                n = min(left, len(chunk))
                out.write(chunk[:n])
                left -= n
        zf.writestr(_zinfo(f"{distinfo}/RECORD"), b"")
    return Dist(path=path, name=name, version=version, kind="hostile",
                notes={"uncompressed": size})


def make_big_metadata_wheel(directory, name, version, size=3 * 2**20) -> Dist:
    """A structurally valid wheel whose METADATA (headers + long description) is
    `size` bytes, i.e. over a 2 MiB bound."""
    line = "This description line is padding to make METADATA large. " * 2 + "\n"
    desc = line * (size // len(line) + 1)
    d = make_wheel(directory, name, version, summary="big metadata", description=desc)
    d.kind = "hostile"
    d.notes["metadata_size"] = len(d.metadata)
    return d


def make_random_wheel(directory, name, version, size=65536, seed=1) -> Dist:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    import random
    rnd = random.Random(seed)
    path = directory / f"{wheel_escape(name)}-{wheel_escape(version)}-py3-none-any.whl"
    path.write_bytes(bytes(rnd.getrandbits(8) for _ in range(size)))
    return Dist(path=path, name=name, version=version, kind="hostile")


def make_truncated_wheel(directory, name, version) -> Dist:
    """A valid wheel cut in half (the central directory is gone)."""
    d = make_wheel(directory, name, version, extra_files={
        f"{module_name(name)}/blob.bin": os.urandom(32768)})
    data = d.path.read_bytes()
    d.path.write_bytes(data[: len(data) // 2])
    d.kind = "hostile"
    d.metadata = None
    return d


def make_wheel_without_dist_info(directory, name, version) -> Dist:
    d = make_wheel(directory, name, version, include_dist_info=False)
    d.kind = "hostile"
    return d


def random_bytes(n: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes."""
    import random
    return random.Random(seed).randbytes(n)


def unique_suffix() -> str:
    return f"{int(time.time() * 1000) % 10**9}"
