"""A real ZooKeeper: write a tree with kazoo, then migrate it live and from its data dir."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.serialization import Create2
from kazoo.security import OPEN_ACL_UNSAFE
from zkserver import ZkServer

import qcss
from qcss.migrate.cli import run
from qcss.migrate.live import read_live
from qcss.migrate.model import NodeKind
from qcss.migrate.plan import SKIP_EPHEMERAL, SKIP_SYSTEM, build_plan
from qcss.migrate.zkdata import read_zk_data


class CreateContainer(Create2):  # type: ignore[misc]
    type = 19  # OpCode.createContainer; request and response as create2


class CreateTTL:
    """OpCode.createTTL: a create2 request followed by the TTL (ms); a create2 response."""

    type = 21

    def __init__(self, path: str, data: bytes, acl: list[Any], flags: int, ttl: int) -> None:
        self.path, self.data, self.acl, self.flags, self.ttl = path, data, acl, flags, ttl

    def serialize(self) -> bytearray:
        b = bytearray(Create2(self.path, self.data, self.acl, self.flags).serialize())
        b.extend(struct.pack(">q", self.ttl))
        return b

    @classmethod
    def deserialize(cls, raw: bytes, offset: int) -> Any:
        return Create2.deserialize(raw, offset)


class Written(NamedTuple):
    expected: dict[str, bytes]  # persistent, container and TTL nodes with their final values
    ephemeral: list[str]
    containers: list[str]
    ttls: list[str]


def _raw_create(zk: Any, request: Any) -> str:
    result = zk.handler.async_result()
    zk._call(request, result)
    path, _stat = result.get(timeout=30)
    return str(path)


def write_tree(zk: Any) -> Written:
    exp: dict[str, bytes] = {}

    def create(path: str, value: bytes = b"", **kw: Any) -> str:
        made: str = zk.create(path, value, **kw)
        if not kw.get("ephemeral"):
            exp[made] = value
        return made

    create("/css_meta")
    create("/css_meta/version", b"1")
    create("/DBS")
    create("/DBS/LSST", b"READY")
    create("/DBS/LSST/TABLES")
    for t in ("Object", "Source", "ForcedSource"):
        create(f"/DBS/LSST/TABLES/{t}", b"READY")
        create(f"/DBS/LSST/TABLES/{t}/schema", f"CREATE TABLE {t} (id BIGINT)".encode())
        create(f"/DBS/LSST/TABLES/{t}/CHUNKS")
        for chunk in range(12):
            create(f"/DBS/LSST/TABLES/{t}/CHUNKS/{chunk}")
            create(f"/DBS/LSST/TABLES/{t}/CHUNKS/{chunk}/REPLICAS")
            seq = create(
                f"/DBS/LSST/TABLES/{t}/CHUNKS/{chunk}/REPLICAS/", b"worker-1", sequence=True
            )
            assert seq.endswith("0000000000")
    create("/PARTITIONING")
    for _ in range(3):
        create("/PARTITIONING/_", b"", sequence=True)
    create("/misc")
    create("/misc/binary", bytes(range(256)) * 3)
    create("/misc/nul", b"a\x00b")
    create("/misc/not-utf8", b"\xff\xfe\xc3(")
    create("/misc/ünïcödé-名前", "välue".encode())
    create("/misc/with space", b"sp")
    create("/misc/big", b"x" * 300_000)
    create("/misc/versioned", b"v0")
    for i in range(1, 4):
        zk.set("/misc/versioned", f"v{i}".encode())
    exp["/misc/versioned"] = b"v3"
    create("/misc/gone", b"bye")
    zk.delete("/misc/gone")
    del exp["/misc/gone"]
    # A multi-op transaction (logged as one multi txn).
    tx = zk.transaction()
    tx.create("/misc/multi", b"m")
    tx.create("/misc/multi/a", b"1")
    tx.set_data("/misc/versioned", b"v4")
    assert not any(isinstance(r, Exception) for r in tx.commit())
    exp.update({"/misc/multi": b"m", "/misc/multi/a": b"1", "/misc/versioned": b"v4"})
    # A failed multi: nothing of it applies.
    tx = zk.transaction()
    tx.create("/misc/never", b"n")
    tx.create("/misc/multi", b"exists already")
    assert all(isinstance(r, Exception) for r in tx.commit())
    assert not zk.exists("/misc/never")
    # Ephemerals (the session stays open: they exist until the server stops).
    create("/NODES")
    create("/NODES/worker-1")
    create("/NODES/worker-1/alive", b"session-bound", ephemeral=True)
    eph = [zk.create("/NODES/worker-1/lock-", b"", ephemeral=True, sequence=True)]
    eph.append("/NODES/worker-1/alive")
    # Container (with a child, so the container manager keeps it) and TTL nodes.
    cont = _raw_create(zk, CreateContainer("/misc/container", b"c", OPEN_ACL_UNSAFE, 4))
    exp[cont] = b"c"
    create("/misc/container/child", b"k")
    ttl = _raw_create(zk, CreateTTL("/misc/ttl", b"t", OPEN_ACL_UNSAFE, 5, 3_600_000))
    exp[ttl] = b"t"
    return Written(exp, eph, [cont], [ttl])


@pytest.fixture(scope="module", params=["snappy", "gz", ""], ids=["snappy", "gz", "plain"])
def zk_tree(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ZkServer, Written, Any]]:
    server = ZkServer(tmp_path_factory.mktemp("zk"), compression=request.param)
    server.start()
    zk = KazooClient(hosts=server.hosts, timeout=30)
    try:
        zk.start(timeout=60)
        written = write_tree(zk)
        live = read_live(f"zk://{server.hosts}")
    finally:
        # Stop the server while the session is open: its ephemerals stay in the data dir
        # (as after a crash), so the data-directory reader must recognise and skip them.
        server.stop()
        zk.stop()
        zk.close()
    yield server, written, live


def test_live_walk(zk_tree: tuple[ZkServer, Written, Any]) -> None:
    _server, written, live = zk_tree
    plan = build_plan(live)
    assert dict(plan.entries) == written.expected
    assert plan.skipped[SKIP_EPHEMERAL] == len(written.ephemeral)
    assert plan.skipped[SKIP_SYSTEM] >= 1
    # ZooKeeper shows container and TTL nodes to clients as persistent (ephemeralOwner 0):
    # live they are plain keys without being recognised; the data directory tells them apart.
    assert not plan.kept_special


def test_data_dir(zk_tree: tuple[ZkServer, Written, Any]) -> None:
    server, written, _live = zk_tree
    vdir = server.data_dir / "version-2"
    suffix = {"snappy": ".snappy", "gz": ".gz", "": ""}[server.compression]
    snaps = sorted(p.name for p in vdir.glob("snapshot.*"))
    assert len(snaps) > 1, snaps  # snapCount made the server roll snapshots
    assert all(s.endswith(suffix) for s in snaps if suffix)
    src = read_zk_data(server.data_dir)
    kinds = {n.key: n.kind for n in src.nodes}
    assert all(kinds[p] is NodeKind.EPHEMERAL for p in written.ephemeral)
    assert all(kinds[p] is NodeKind.CONTAINER for p in written.containers)
    assert all(kinds[p] is NodeKind.TTL for p in written.ttls)
    plan = build_plan(src)
    assert dict(plan.entries) == written.expected
    assert plan.skipped[SKIP_EPHEMERAL] == len(written.ephemeral)
    assert plan.kept_special["container"] == 1 and plan.kept_special["ttl"] == 1
    assert any(" replayed" in n and not n.split(", ")[1].startswith("0 ") for n in src.notes)


def test_live_and_data_dir_import_identically(zk_tree: tuple[ZkServer, Written, Any]) -> None:
    server, written, live = zk_tree
    a = qcss.open("mem://")
    b = qcss.open("mem://")
    assert run(source=str(server.data_dir), url=None, kv=a, verify=True, quiet=True) == 0
    plan = build_plan(live)
    from qcss.migrate.writer import write_plan

    write_plan(b, plan)
    snap_a = {e.key: e.value for e in a.snapshot("/").entries}
    snap_b = {e.key: e.value for e in b.snapshot("/").entries}
    assert snap_a == snap_b
    assert {k: v for k, v in snap_a.items() if k != "/"} == written.expected


def test_missing_server_is_a_clear_error(tmp_path: Path) -> None:
    from qcss.migrate.model import MigrationInputError

    with pytest.raises(MigrationInputError, match="cannot connect"):
        read_live("zk://127.0.0.1:1", timeout=1)
