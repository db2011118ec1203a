"""A large upload and download stream through bounded memory (DESIGN.md 5:
request bodies stream into the store; files go out chunk by chunk)."""

import hashlib
import io
import os
import threading
import time
import zipfile

import pytest


SIZE = 256 * 2**20


def rss_anon_kb(pid):
    """Anonymous resident memory: heap and stacks, not the LMDB map."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon")


class PeakSampler:
    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, rss_anon_kb(pid), False
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_anon_kb(self.pid))
            time.sleep(0.02)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.t.join()


def big_wheel(name, version, payload):
    """A valid wheel with one big stored (uncompressed) member."""
    dist = f"{name}-{version}.dist-info"
    meta = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Summary: big\nRequires-Python: >=3.7\n").encode()
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/__init__.py", b"")
        z.writestr(f"{name}/blob.bin", payload)
        z.writestr(f"{dist}/METADATA", meta)
        z.writestr(f"{dist}/WHEEL", b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", b"")
    return f"{name}-{version}-py3-none-any.whl", bio.getvalue(), meta


@pytest.mark.slow
def test_large_upload_and_download_in_bounded_memory(stage, server):
    filename, data, meta = big_wheel("bigpkg", "1.0", os.urandom(SIZE))
    before = rss_anon_kb(server.pid)
    with PeakSampler(server.pid) as up:
        r = stage.upload(filename=filename, content=data, name="bigpkg", version="1.0")
    assert r.status_code == 200, (r.status_code, r.reason)
    # the whole body never sat in memory (it is 256 MiB; allow the
    # in-flight chunks, buffers and allocator slack)
    assert up.peak - before < 96 * 1024, f"upload grew anonymous RSS by {(up.peak - before) // 1024} MiB"

    digest = hashlib.sha256(data).hexdigest()
    path = f"{stage.path}/+f/{digest[:3]}/{digest[3:16]}/{filename}"
    with PeakSampler(server.pid) as down:
        got = hashlib.sha256()
        n = 0
        with server.http.get(path, stream=True) as resp:
            assert resp.status_code == 200
            assert int(resp.headers["Content-Length"]) == len(data)
            for chunk in resp.iter_content(1 << 20):
                got.update(chunk)
                n += len(chunk)
    assert n == len(data) and got.hexdigest() == digest
    assert down.peak - before < 96 * 1024, f"download grew anonymous RSS by {(down.peak - before) // 1024} MiB"

    # the core metadata was read from the big archive and is served (PEP 658)
    m = server.http.get(path + ".metadata")
    assert m.status_code == 200 and m.content == meta
