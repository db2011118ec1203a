"""A 1 GiB upstream file streams through devpi-like with bounded memory
(issue 3; DESIGN.md 5), and is then served from the store."""

import hashlib

import pytest
import requests

from fake_upstream import PIP_UA, expected_file_url, page_links
from test_big_files import PeakSampler, rss_anon_kb

SIZE = 2**30
BOUND_KB = 96 * 1024


@pytest.mark.slow
def test_one_gib_file_streams_in_bounded_memory(upstream, mirror_factory):
    f = upstream.add_big_file("hugepkg", "1.0", SIZE)
    s = mirror_factory(request_timeout=30)
    links = page_links(s, "hugepkg")
    url = links[f.filename]["url"]
    assert url == expected_file_url(s, f)
    assert links[f.filename]["fragment"] == f"sha256={f.sha256}"

    before = rss_anon_kb(s.pid)
    got, n = hashlib.sha256(), 0
    with PeakSampler(s.pid) as peak:
        with requests.get(url, stream=True, timeout=120, headers={"User-Agent": PIP_UA},
                          proxies={"http": None}) as r:
            assert r.status_code == 200
            if "Content-Length" in r.headers:
                assert int(r.headers["Content-Length"]) == SIZE
            for chunk in r.iter_content(1 << 20):
                got.update(chunk)
                n += len(chunk)
    assert n == SIZE and got.hexdigest() == f.sha256
    grew = peak.peak - before
    assert grew < BOUND_KB, f"proxying 1 GiB grew anonymous RSS by {grew // 1024} MiB"
    assert upstream.count(f"/files/{f.filename}") == 1

    # now cached: served from the store, upstream not asked again
    got2, n2 = hashlib.sha256(), 0
    with PeakSampler(s.pid) as peak2:
        with s.http.get(url, stream=True, timeout=120) as r:
            assert r.status_code == 200
            assert int(r.headers["Content-Length"]) == SIZE
            for chunk in r.iter_content(1 << 20):
                got2.update(chunk)
                n2 += len(chunk)
    assert n2 == SIZE and got2.hexdigest() == f.sha256
    assert peak2.peak - before < BOUND_KB
    assert upstream.count(f"/files/{f.filename}") == 1
