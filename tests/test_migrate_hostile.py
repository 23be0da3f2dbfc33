"""css-migrate on hostile input (issue 11.5): every malformed input ends in a typed
error (exit 15) naming the file and a position, with nothing written; gzip is
inflated in bounded chunks; nothing recurses as deep as the input."""

from __future__ import annotations

import gzip
import resource
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import qcss
from qcss.migrate import inflate
from qcss.migrate.model import MigrationInputError

ZK = Path(__file__).parent / "fixtures" / "zk"
MIGRATE = "from qcss.migrate.cli import main; main()"
GiB = 1 << 30


def bomb(expanded: int) -> bytes:
    """A gzip stream of `expanded` zero bytes, ~1000 times smaller (1 MiB members)."""
    c = zlib.compressobj(9, wbits=31)
    member = c.compress(b"\0" * (1 << 20)) + c.flush()
    return member * (expanded >> 20)


def migrate(source: Path, target: Path, *args: str, env: dict[str, str] | None = None,
            address_space: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return subprocess.run(
        [sys.executable, "-c", MIGRATE, str(source), "--to", f"sqlite://{target}", *args],
        capture_output=True, text=True, timeout=300, env=env, preexec_fn=limit)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "target.db"
    qcss.open(f"sqlite://{path}?create=1")
    return path


def assert_refused(r: subprocess.CompletedProcess[str], source: Path, target: Path,
                   *fragments: str) -> None:
    assert r.returncode == 15, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert str(source) in r.stderr, r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr
    assert qcss.open(f"sqlite://{target}", readOnly=True).revision() == 0  # nothing written


def kvmap_gz(tmp: Path) -> bytes:
    return gzip.compress(b'{"/a": "1", "/b": "2"}\n')


def test_corrupt_json_gz_auto_detected(tmp_path: Path, target: Path) -> None:
    good = kvmap_gz(tmp_path)
    bad = tmp_path / "corrupt.json.gz"
    bad.write_bytes(good[:10] + b"\xff" * 8 + good[18:])
    assert_refused(migrate(bad, target), bad, target, "gzip")
    cut = tmp_path / "truncated.json.gz"
    cut.write_bytes(good[: len(good) // 2])
    assert_refused(migrate(cut, target), cut, target, "gzip", "truncated")
    junk = tmp_path / "junk.json.gz"
    junk.write_bytes(good + b"trailing junk")
    assert_refused(migrate(junk, target), junk, target, "gzip")


def test_deep_nesting(tmp_path: Path, target: Path) -> None:
    src = tmp_path / "deep.json"
    src.write_text('{"/a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_refused(migrate(src, target), src, target, "nested deeper", "line 1 column")
    dump = tmp_path / "deep.qcss"
    dump.write_text('{"format": "qcss-dump", "version": 1}\n{"k": "/a", "v": '
                    + "[" * 50_000 + "]" * 50_000 + "}\n" + '{"end": true, "keys": 1}\n')
    assert_refused(migrate(dump, target), dump, target, "line 2", "nested deeper")


def test_huge_integer(tmp_path: Path, target: Path) -> None:
    src = tmp_path / "zkr.json"
    src.write_text('{"/a": {"data": "eA==", "czxid": ' + "9" * 5000 + "}}")
    assert_refused(migrate(src, target), src, target, "5000 digits")


def _record(body: bytes) -> bytes:
    return struct.pack(">qi", zlib.adler32(body), len(body)) + body + b"\x42"


def test_nested_multi_ops(tmp_path: Path, target: Path) -> None:
    # A txn-log record whose multi holds a multi holding a multi ... 5000 deep.
    create = (struct.pack(">i", 3) + b"/zz" + struct.pack(">i", 1) + b"v"
              + struct.pack(">i", 0) + b"\0")  # path, data, no ACLs, not ephemeral
    inner = struct.pack(">ii", 1, 1) + struct.pack(">i", len(create)) + create
    for _ in range(5000):
        inner = struct.pack(">ii", 1, 14) + struct.pack(">i", len(inner)) + inner
    body = struct.pack(">qiqqi", 1, 0, 1, 0, 14) + inner
    data = tmp_path / "zkdata"
    data.mkdir()
    shutil.copy(ZK / "snapshot.0", data / "snapshot.0")
    log = data / "log.1"
    log.write_bytes(struct.pack(">iiq", 0x5A4B4C47, 2, 0) + _record(body))
    assert_refused(migrate(data, target), log, target, "multi operation nested", "byte ")


def test_gzip_bomb_is_refused_in_bounded_memory(tmp_path: Path, target: Path) -> None:
    """3 MiB expanding to 3 GiB: refused after QCSS_MIGRATE_MAX_INFLATED bytes, in a
    process whose address space could not even hold the expansion."""
    import os

    env = dict(os.environ, QCSS_MIGRATE_MAX_INFLATED=str(64 << 20))
    raw = bomb(3 * GiB)
    assert len(raw) < 4 << 20
    json_gz = tmp_path / "bomb.json.gz"
    json_gz.write_bytes(raw)
    assert_refused(migrate(json_gz, target, env=env, address_space=2 * GiB), json_gz, target,
                   "inflates to more than")
    data = tmp_path / "zkdata"
    data.mkdir()
    snap = data / "snapshot.0.gz"
    snap.write_bytes(raw)
    assert_refused(migrate(data, target, env=env, address_space=2 * GiB), snap, target,
                   "inflates to more than")


def test_inflate_limits_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert inflate.max_inflated() == GiB
    monkeypatch.setenv("QCSS_MIGRATE_MAX_INFLATED", "1000")
    assert inflate.max_inflated() == 1000
    with pytest.raises(MigrationInputError, match="more than 1000 bytes"):
        inflate.gunzip(gzip.compress(b"x" * 1001), "f.gz")
    assert inflate.gunzip(gzip.compress(b"x" * 1000), "f.gz") == b"x" * 1000
    two = gzip.compress(b"a") + gzip.compress(b"b")  # concatenated members, as gzip reads them
    assert inflate.gunzip(two, "f.gz") == b"ab"
