"""Mirrors: a read-only local copy kept current by polling (mem and SQLite here;
the multi-process test in test_watch.py also runs them on MariaDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

import qcss


@pytest.fixture(params=["mem", "sqlite"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> qcss.KvInterface:
    url = f"sqlite:///{tmp_path / 'm.db'}?create=1"
    return qcss.open("mem://" if request.param == "mem" else url)


def entries(s: qcss.Snapshot) -> list[tuple[str, bytes, int, int, int]]:
    return [(e.key, e.value, e.stat.version, e.stat.createRevision, e.stat.modRevision)
            for e in s.entries]


def test_mirror_is_a_read_only_kvinterface(kv: qcss.KvInterface) -> None:
    kv.set("/m/a", "1")
    kv.set("/m/b/c", b"\x00\xff")
    kv.set("/elsewhere", "x")
    with kv.mirror("/m", interval=0.01) as m:
        assert isinstance(m, qcss.KvInterface) and isinstance(m, qcss.Mirror)
        assert m.backend() == "mirror" and m.readOnly()
        assert m.prefix == "/m"
        assert m.revision() == kv.revision()
        assert m.get("/m/a") == b"1"
        assert m.get("/m/b/c") == b"\x00\xff"
        assert m.get("/m/zz", None) is None
        assert m.get("/m/zz", b"d") == b"d"
        assert m.getChildren("/m") == ["a", "b"]
        assert m.getChildrenValues("/m/b") == {"c": b"\x00\xff"}
        assert m.getMany(["/m/a", "/nope"]) == {"/m/a": b"1"}
        assert m.getStat("/m/a").version == 1
        assert not m.exists("/elsewhere")  # outside the prefix: not mirrored
        with pytest.raises(qcss.NoSuchKey):
            m.get("/m/zz")
        with pytest.raises(qcss.InvalidKeyError):
            m.get("bad")
        for mutate in (lambda: m.set("/m/a", "2"), lambda: m.create("/m/n"),
                       lambda: m.deleteKey("/m/a"), lambda: m.compact(1),
                       lambda: m.transaction().set("/m/a", "3").commit(),
                       lambda: m.grantLeaseId(1.0)):
            with pytest.raises(qcss.ReadonlyCss):
                mutate()
        assert kv.get("/m/a") == b"1"


def test_mirror_waitfor_reads_own_writes(kv: qcss.KvInterface) -> None:
    with kv.mirror("/", interval=0.01) as m:
        assert not m.waitFor(kv.revision() + 1, timeout=0.01)  # nothing to reach yet
        for i in range(50):
            kv.set(f"/k/{i % 7}", str(i))
            assert m.waitFor(kv.revision(), timeout=30)
            assert m.get(f"/k/{i % 7}") == str(i).encode()
        with kv.transaction() as t:
            t.deleteKey("/k").create("/k", "again").set("/k/new", "n")
        assert m.waitFor(kv.revision(), timeout=30)
        assert entries(m.snapshot("/")) == entries(kv.snapshot("/"))
        assert m.snapshot("/").revision == kv.revision()
        # a write outside a prefix mirror still advances its revision
    with kv.mirror("/k", interval=0.01) as mk:
        kv.set("/outside", "1")
        assert mk.waitFor(kv.revision(), timeout=30)
        assert mk.revision() == kv.revision()


def test_mirror_resyncs_after_compaction(kv: qcss.KvInterface) -> None:
    kv.set("/c/a", "1")
    m = kv.mirror("/c", interval=3600)  # polls only when woken (waitFor wakes it)
    try:
        assert m.revision() == kv.revision()
        for i in range(10):
            kv.set(f"/c/{i}", str(i))
        kv.deleteKey("/c/a")
        kv.compact(kv.revision())
        assert m.waitFor(kv.revision(), timeout=30)
        assert m.resyncs == 1
        assert entries(m.snapshot("/c")) == entries(kv.snapshot("/c"))
        assert not m.exists("/c/a")
    finally:
        m.stop()
    kv.set("/c/late", "x")  # a stopped mirror no longer follows
    assert not m.waitFor(kv.revision(), timeout=0.05)
    assert m.get("/c/0") == b"0"


def test_mirror_of_missing_prefix_fills_in(kv: qcss.KvInterface) -> None:
    with kv.mirror("/later/sub", interval=0.01) as m:
        assert m.snapshot("/later/sub").entries == []
        kv.set("/later/sub/x", "1")
        assert m.waitFor(kv.revision(), timeout=30)
        assert m.get("/later/sub/x") == b"1"
        kv.deleteKey("/later")
        assert m.waitFor(kv.revision(), timeout=30)
        assert not m.exists("/later/sub")
        assert entries(m.snapshot("/later/sub")) == entries(kv.snapshot("/later/sub"))
