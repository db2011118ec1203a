"""devpi-like fsck on a real server's store (issue 6): sound → exit 0 and a
summary; a single flipped byte in a blob, a missing chunk, a dangling file
record, a version link to nothing and a record that does not parse → a
report naming it and a non-zero exit.  Each damage is made with python3-lmdb
on a backup copy of the store, so every case starts from the same sound
store."""

import json
import subprocess

import lmdb
import pytest

import pkgbuild as pb
from harness import clean_env, server_binary


def run(*args):
    return subprocess.run([server_binary(), *args], capture_output=True, text=True, env=clean_env(),
                          timeout=120)


@pytest.fixture(scope="module")
def sound(tmp_path_factory, server_bin):
    """A stopped store with an upload of a 3 MiB wheel (3+ chunks) and an sdist."""
    from harness import Server
    base = tmp_path_factory.mktemp("fsck")
    s = Server(base / "srv")
    s.start()
    st = s.new_stage()
    big = pb.make_wheel(base / "d", "fsckpkg", "1.0",
                        extra_files={"fsckpkg/blob.bin": pb.random_bytes(3 << 20, seed=3)})
    sd = pb.make_sdist(base / "d", "fsckpkg", "1.0")
    st.upload_ok(big, sd)
    s.stop()
    return s.serverdir, st, big, sd


def copy_of(sound, tmp_path):
    dest = tmp_path / "copy"
    p = run("backup", "--serverdir", str(sound[0]), str(dest))
    assert p.returncode == 0, p.stderr
    return dest


def env_of(path):
    return lmdb.open(str(path), max_dbs=8, map_size=1 << 30, subdir=True, lock=True)


def file_record_key(st, dist):
    return f"file/{st.name}/+f/{dist.sha256[:3]}/{dist.sha256[3:16]}/{dist.filename}".encode()


def blob_id(env, sha_hex):
    blobs = env.open_db(b"blobs")
    with env.begin() as t:
        v = t.get(bytes.fromhex(sha_hex), db=blobs)
    assert v is not None and len(v) == 28
    return int.from_bytes(v[12:20], "big")      # size u64, nchunks u32, id u64, created i64


def test_sound_store(sound, tmp_path):
    p = run("fsck", "--serverdir", str(copy_of(sound, tmp_path)))
    assert p.returncode == 0, p.stdout + p.stderr
    assert " 0 problems" in p.stdout


def test_flipped_byte_in_a_blob(sound, tmp_path):
    path = copy_of(sound, tmp_path)
    _, st, big, _ = sound
    env = env_of(path)
    chunks = env.open_db(b"chunks")
    key = blob_id(env, big.sha256).to_bytes(8, "big") + (1).to_bytes(4, "big")
    with env.begin(write=True) as t:
        data = bytearray(t.get(key, db=chunks))
        data[12345] ^= 0x01
        t.put(key, bytes(data), db=chunks)
    env.close()
    p = run("fsck", "--serverdir", str(path))
    assert p.returncode != 0, p.stdout
    assert f"blob {big.sha256}" in p.stdout and "sha256 mismatch" in p.stdout, p.stdout
    assert " 1 problems" in p.stdout, p.stdout
    # the quick mode (no re-hashing) does not see it: the content check is what finds it
    assert run("fsck", "--no-checksum", "--serverdir", str(path)).returncode == 0


def test_missing_chunk(sound, tmp_path):
    path = copy_of(sound, tmp_path)
    _, st, big, _ = sound
    env = env_of(path)
    chunks = env.open_db(b"chunks")
    key = blob_id(env, big.sha256).to_bytes(8, "big") + (2).to_bytes(4, "big")
    with env.begin(write=True) as t:
        assert t.delete(key, db=chunks)
    env.close()
    p = run("fsck", "--no-checksum", "--serverdir", str(path))
    assert p.returncode != 0, p.stdout
    assert "chunk" in p.stdout, p.stdout


def test_dangling_file_record(sound, tmp_path):
    path = copy_of(sound, tmp_path)
    _, st, _, sd = sound
    env = env_of(path)
    blobs, kv = env.open_db(b"blobs"), env.open_db(b"kv")
    with env.begin(write=True) as t:
        assert t.delete(bytes.fromhex(sd.sha256), db=blobs)     # its blob is gone
        rec = json.loads(t.get(file_record_key(st, sd), db=kv).rstrip(b"\0"))
        rec["relpath"] = rec["relpath"].replace(sd.filename, "ghost-1.0.tar.gz")
        ghost = file_record_key(st, sd).replace(sd.filename.encode(), b"ghost-1.0.tar.gz")
        t.put(ghost, json.dumps(rec).encode() + b"\0", db=kv)
    env.close()
    p = run("fsck", "--no-checksum", "--serverdir", str(path))
    assert p.returncode != 0, p.stdout
    assert f"blob {sd.sha256} is missing" in p.stdout, p.stdout
    assert "ghost-1.0.tar.gz" in p.stdout, p.stdout


def test_version_links_to_nothing_and_bad_record(sound, tmp_path):
    path = copy_of(sound, tmp_path)
    _, st, big, _ = sound
    env = env_of(path)
    kv = env.open_db(b"kv")
    with env.begin(write=True) as t:
        assert t.delete(file_record_key(st, big), db=kv)
        t.put(b"user/broken", b"{not json\0", db=kv)
    env.close()
    p = run("fsck", "--no-checksum", "--serverdir", str(path))
    assert p.returncode != 0, p.stdout
    assert "no live file record" in p.stdout, p.stdout
    assert "user/broken" in p.stdout, p.stdout
