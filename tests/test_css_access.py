"""CssAccess from Python on every backend: Qserv's CssAccess cases (packed and
unpacked parameters), the 2017 maps, exact numbers, version checks, atomicity
with real processes, and readers that never see half a table."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import qcss
from conftest import QSERV_JSON, Store, make_store

# The tree of Qserv's testCssAccess.cc: child-key (older) and .packed.json forms.
QSERV_TREE: dict[str, str] = {
    "/css_meta/version": "1",
    "/PARTITIONING/_0000000001/nStripes": "60",
    "/PARTITIONING/_0000000001/nSubStripes": "18",
    "/PARTITIONING/_0000000001/overlap": "0.025",
    "/DBS/dbA": "READY",
    "/DBS/dbA/partitioningId": "0000000001",
    "/DBS/dbB": "Bdb",
    "/DBS/dbC": "DO_NOT_USE",
    "/DBS/dbA/TABLES/Object": "READY",
    "/DBS/dbA/TABLES/Object/partitioning": "",
    "/DBS/dbA/TABLES/Object/partitioning/lonColName": "ra_PS",
    "/DBS/dbA/TABLES/Object/partitioning/latColName": "decl_PS",
    "/DBS/dbA/TABLES/Object/partitioning/subChunks": "1",
    "/DBS/dbA/TABLES/Object/partitioning/dirColName": "objectId",
    "/DBS/dbA/TABLES/Exposure": "READY",
    "/DBS/dbA/TABLES/Exposure/schema": "(I INT)",
    "/DBS/dbA/TABLES/Exposure/CHUNKS/1234/REPLICAS/0000000001/.packed.json":
        '{"nodeName": "worker1"}',
    "/DBS/dbA/TABLES/Exposure/CHUNKS/1234/REPLICAS/0000000002/.packed.json":
        '{"nodeName": "worker2"}',
    "/DBS/dbA/TABLES/Exposure/CHUNKS/5678/REPLICAS/0000000001/nodeName": "worker1",
    "/DBS/dbB/TABLES/Exposure": "READY",
    "/DBS/dbB/TABLES/Exposure/.packed.json": '{"schema": "(FLOAT X)"}',
    "/DBS/dbB/TABLES/DeletedTable": "NOT_READY",
    "/DBS/dbC/TABLES/RefMatch": "READY",
    "/DBS/dbC/TABLES/RefMatch/match": "",
    "/DBS/dbC/TABLES/RefMatch/match/dirTable1": "Object",
    "/DBS/dbC/TABLES/RefMatch/match/dirColName1": "objectId",
    "/DBS/dbC/TABLES/RefMatch/match/dirTable2": "Source",
    "/DBS/dbC/TABLES/RefMatch/match/dirColName2": "sourceId",
    "/DBS/dbC/TABLES/RefMatch/match/flagColName": "flag",
    "/DBS/dbC/TABLES/RefMatch2": "READY",
    "/DBS/dbC/TABLES/RefMatch2/match/.packed.json": json.dumps({
        "dirTable1": "Object", "dirColName1": "objectId", "dirTable2": "Source",
        "dirColName2": "sourceId", "flagColName": "flag"}),
    "/NODES/node1": "ACTIVE",
    "/NODES/node2": "INACTIVE",
    "/NODES/node2/.packed.json": '{"type": "worker", "host": "worker2", "port": 5012}',
    "/NODES/node3": "ACTIVE",
    "/NODES/node3/type": "worker",
    "/NODES/node3/host": "worker3",
    "/NODES/node3/port": "5012",
}


@pytest.fixture
def url(store: Store) -> str:
    """A fresh store of every backend (conftest's `store`), by URL."""
    return store.url


@pytest.fixture(params=["sqlite", "mysql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store that several processes can open."""
    for s in make_store(request.param, tmp_path, request):
        yield s.url


def load(kv: qcss.KvInterface, tree: dict[str, str]) -> None:
    txn = kv.transaction()
    for k, v in tree.items():
        txn.set(k, v)
    txn.commit()


@pytest.fixture
def qserv(kv: qcss.KvInterface) -> qcss.CssAccess:
    load(kv, QSERV_TREE)
    return qcss.CssAccess(kv)


# ---- Qserv's cases -------------------------------------------------------------------


def test_databases(qserv: qcss.CssAccess) -> None:
    assert sorted(qserv.getDbNames()) == ["dbA", "dbB", "dbC"]
    assert qserv.getDbStatus() == {"dbA": "READY", "dbB": "Bdb", "dbC": "DO_NOT_USE"}
    qserv.setDbStatus("dbA", "DEAD")
    assert qserv.getDbStatus("dbA") == "DEAD"
    assert qserv.containsDb("dbB") and not qserv.containsDb("db")
    with pytest.raises(qcss.NoSuchDb):
        qserv.setDbStatus("dbX", "READY")
    s = qserv.getDbStriping("dbA")
    assert (s.stripes, s.subStripes, s.partitioningId, s.overlap) == (60, 18, 1, 0.025)
    assert qserv.getDbStriping("dbB").stripes == 0
    with pytest.raises(qcss.NoSuchDb):
        qserv.getDbStriping("dbX")


def test_status_compare_and_set(qserv: qcss.CssAccess) -> None:
    qserv.setDbStatus("dbA", "PENDING_DROP:1", expected="READY")
    with pytest.raises(qcss.VersionMismatchError):
        qserv.setDbStatus("dbA", "PENDING_DROP:2", expected="READY")
    assert qserv.getDbStatus("dbA") == "PENDING_DROP:1"
    qserv.setTableStatus("dbA", "Object", "DO_NOT_USE", expected="READY")
    with pytest.raises(qcss.VersionMismatchError):
        qserv.setTableStatus("dbA", "Object", "READY", expected="READY")
    with pytest.raises(qcss.NoSuchTable):
        qserv.setTableStatus("dbA", "Nope", "READY")
    qserv.setNodeState("node2", "ACTIVE", expected="INACTIVE")
    assert qserv.getNodeParams("node2").isActive()


def test_create_like_and_drop_share_partitioning(qserv: qcss.CssAccess) -> None:
    qserv.createDb("dbNew2", qcss.StripingParams(50, 25, 0, 0.01), "L2", "RELEASED")
    s = qserv.getDbStriping("dbNew2")
    assert (s.stripes, s.subStripes, s.overlap) == (50, 25, 0.01)
    assert s.partitioningId == 2
    qserv.createDbLike("dbNew2Like", "dbNew2")
    assert qserv.getDbStriping("dbNew2Like").partitioningId == 2
    assert qserv.getDbParams("dbNew2Like").releaseStatus == "RELEASED"
    with pytest.raises(qcss.DbExists):
        qserv.createDb("dbNew2")
    with pytest.raises(qcss.NoSuchDb):
        qserv.createDbLike("x", "dbX")
    kv = qserv.kv
    qserv.dropDb("dbNew2")
    assert kv.exists("/PARTITIONING/_0000000002")  # still used by dbNew2Like
    qserv.dropDb("dbNew2Like")
    assert not kv.exists("/PARTITIONING/_0000000002")
    assert kv.exists("/PARTITIONING/_0000000001")  # dbA's
    with pytest.raises(qcss.NoSuchDb):
        qserv.dropDb("dbNew2")


def test_tables_packed_and_unpacked(qserv: qcss.CssAccess) -> None:
    assert qserv.getTableNames("dbA") == ["Exposure", "Object"]
    assert qserv.getTableNames("dbB") == ["Exposure"]
    assert qserv.getTableNames("dbB", readyOnly=False) == ["DeletedTable", "Exposure"]
    assert qserv.getTableStatus("dbB") == {"DeletedTable": "NOT_READY", "Exposure": "READY"}
    assert not qserv.containsTable("dbB", "DeletedTable")
    assert qserv.containsTable("dbB", "DeletedTable", readyOnly=False)
    with pytest.raises(qcss.NoSuchDb):
        qserv.containsTable("dbX", "any")
    assert qserv.getTableSchema("dbA", "Exposure") == "(I INT)"  # child key
    assert qserv.getTableSchema("dbB", "Exposure") == "(FLOAT X)"  # packed
    assert qserv.getTableSchema("dbA", "Object") == ""
    with pytest.raises(qcss.NoSuchTable):
        qserv.getTableSchema("dbA", "NotATable")
    p = qserv.getPartTableParams("dbA", "Object")
    assert p.isPartitioned() and p.subChunks and p.dirColName == "objectId"
    assert not qserv.getPartTableParams("dbA", "Exposure").isPartitioned()
    for t in ("RefMatch", "RefMatch2"):
        m = qserv.getMatchTableParams("dbC", t)
        assert (m.dirTable1, m.dirColName1, m.dirTable2, m.dirColName2, m.flagColName) == (
            "Object", "objectId", "Source", "sourceId", "flag")
    with pytest.raises(qcss.NoSuchTable):
        qserv.getTableParams("dbC", "NoRefMatch")


def test_part_table_params_defaults_and_chunked(qserv: qcss.CssAccess) -> None:
    # One set of defaults, whichever way it is built (it was partitioned=False
    # with no argument and True with any).
    for p in (qcss.PartTableParams(), qcss.PartTableParams(dirDb="dbA")):
        assert (p.partitioned, p.subChunks, p.overlap, p.dirTable) == (False, False, 0.0, "")
        assert not p.isPartitioned() and not p.isChunked() and not p.isSubChunked()
    # isChunked() is isPartitioned() as Qserv defines it, match tables included.
    mp_ = qcss.MatchTableParams("Object", "objectId", "Source", "sourceId", "flag", 0.001)
    qserv.createMatchTable("dbA", "ObjSrc", "(f INT)", mp_)
    for table, chunked, sub in (("Object", True, True), ("Exposure", False, False),
                                ("ObjSrc", True, False)):
        p = qserv.getPartTableParams("dbA", table)
        assert (p.isPartitioned(), p.isChunked(), p.isSubChunked()) == (chunked, chunked, sub)


def test_create_tables_written_packed(qserv: qcss.CssAccess) -> None:
    kv = qserv.kv
    part = qcss.PartTableParams("dbA", "Object", "objectId", "decl", "ra", 0.0125, True, True)
    qserv.createTable("dbA", "Source", "(id BIGINT)", part, qcss.ScanTableParams(True, 7))
    assert json.loads(kv.get("/DBS/dbA/TABLES/Source/partitioning/.packed.json")) == {
        "dirDb": "dbA", "dirTable": "Object", "dirColName": "objectId", "latColName": "decl",
        "lonColName": "ra", "subChunks": "1", "overlap": "0.0125"}
    assert json.loads(kv.get("/DBS/dbA/TABLES/Source/.packed.json")) == {"schema": "(id BIGINT)"}
    tp = qserv.getTableParams("dbA", "Source")
    assert tp.partitioning.overlap == 0.0125 and tp.sharedScan.scanRating == 7
    assert tp.sharedScan.lockInMem
    with pytest.raises(qcss.TableExists):
        qserv.createTable("dbA", "Source", "(x INT)")
    with pytest.raises(qcss.NoSuchDb):
        qserv.createTable("dbX", "T", "(x INT)")
    mp_ = qcss.MatchTableParams("Object", "objectId", "Source", "sourceId", "flag", 0.001)
    qserv.createMatchTable("dbA", "ObjSrc", "(f INT)", mp_)
    assert kv.get("/DBS/dbA/TABLES/ObjSrc/match") == b"1"
    got = qserv.getMatchTableParams("dbA", "ObjSrc")
    assert got.isMatchTable() and got.angSep == 0.001
    assert qserv.getPartTableParams("dbA", "ObjSrc").isPartitioned()
    qserv.dropTable("dbA", "Source")
    assert not kv.exists("/DBS/dbA/TABLES/Source")
    with pytest.raises(qcss.NoSuchTable):
        qserv.dropTable("dbA", "Source")


def test_nodes_and_chunks(qserv: qcss.CssAccess) -> None:
    assert qserv.getNodeNames() == ["node1", "node2", "node3"]
    n2, n3 = qserv.getNodeParams("node2"), qserv.getNodeParams("node3")
    assert (n2.type, n2.host, n2.port, n2.state) == ("worker", "worker2", 5012, "INACTIVE")
    assert (n3.type, n3.host, n3.port, n3.state) == ("worker", "worker3", 5012, "ACTIVE")
    with pytest.raises(qcss.NoSuchNode):
        qserv.getNodeParams("UnknownNode")
    qserv.addNode("newnode", qcss.NodeParams("worker", "worker100", 5012, "SICK"))
    assert qserv.getNodeParams("newnode").state == "SICK"
    with pytest.raises(qcss.NodeExists):
        qserv.addNode("newnode", qcss.NodeParams())

    assert qserv.getChunks("dbA", "Exposure") == {1234: ["worker1", "worker2"], 5678: ["worker1"]}
    assert qserv.getChunks("dbA", "Object") == {}
    with pytest.raises(qcss.NoSuchTable):
        qserv.getChunks("dbA", "NonTable")
    qserv.addChunk("dbA", "Object", 1000, ["node1", "node3"])
    qserv.addChunks("dbA", "Object", {2000: ["node3"], 3000: ["node1"]})
    assert qserv.getChunks("dbA", "Object") == {
        1000: ["node1", "node3"], 2000: ["node3"], 3000: ["node1"]}
    assert sorted(r.chunk for r in qserv.getNodeChunks("node3")) == [1000, 2000]
    with pytest.raises(qcss.NodeInUse):
        qserv.deleteNode("node3")
    qserv.deleteChunk("dbA", "Object", 1000, "node3")
    qserv.deleteChunk("dbA", "Object", 2000)
    with pytest.raises(qcss.NoSuchKey):
        qserv.deleteChunk("dbA", "Object", 2000)
    qserv.deleteNode("node3")
    with pytest.raises(qcss.NoSuchNode):
        qserv.deleteNode("node3")
    assert "node3" not in qserv.getNodeNames()


def test_numbers_round_trip_exactly(kv: qcss.KvInterface) -> None:
    css = qcss.CssAccess(kv)
    for i, overlap in enumerate([0.025, 0.1 + 0.2, 1 / 3, 1e-9, 0.016666666666666666]):
        css.createDb(f"db{i}", qcss.StripingParams(340, 3, 0, overlap))
        assert css.getDbStriping(f"db{i}").overlap == overlap
        pid = css.getDbStriping(f"db{i}").partitioningId
        packed = json.loads(kv.get(f"/PARTITIONING/_{pid:010d}/.packed.json"))
        assert float(packed["overlap"]) == overlap and packed["overlap"] == repr(overlap)


def test_version_checks(url: str) -> None:
    kv = qcss.open(url)
    if kv.backend() != "mem":
        ro = qcss.open(url, readOnly=True)
        with pytest.raises(qcss.VersionMissingError, match="holds no CSS tree"):
            qcss.CssAccess(ro)
        assert not kv.exists("/css_meta/version")
    qcss.CssAccess(kv)
    assert kv.get("/css_meta/version") == b"1"
    css_ro = qcss.CssAccess(kv, readOnly=True)
    with pytest.raises(qcss.ReadonlyCss):
        css_ro.createDb("x")
    kv.set("/css_meta/version", "1000000")
    with pytest.raises(qcss.LayoutVersionError, match="1000000"):
        qcss.CssAccess(kv)
    with pytest.raises(qcss.VersionMissingError):
        qcss.CssAccess(qcss.open("mem://", readOnly=True))


@pytest.mark.shared_fixtures
def test_qserv_2017_maps(kv: qcss.KvInterface) -> None:
    tree = json.loads(QSERV_JSON.read_text(encoding="utf-8"))
    load(kv, tree)
    css = qcss.CssAccess(kv, readOnly=True)
    assert css.getDbNames() == ["LSST", "rplante_PT1_2_u_pt12prod_im3000_qserv"]
    for db in css.getDbNames():
        p = css.getDbParams(db)
        assert (p.status, p.releaseStatus, p.storageClass) == ("READY", "UNRELEASED", "L2")
        pid = int(tree[f"/DBS/{db}/partitioningId"])
        s = p.striping
        assert (s.partitioningId, s.stripes, s.subStripes, s.overlap) == (pid, 60, 18, 0.025)
        for t in css.getTableNames(db):
            base = f"/DBS/{db}/TABLES/{t}"
            assert css.getTableStatus(db, t) == tree[base]
            tp = css.getTableParams(db, t)
            part = tp.partitioning
            assert part.isPartitioned() == (f"{base}/partitioning" in tree)
            for field in ("dirTable", "dirColName", "latColName", "lonColName"):
                assert getattr(part, field) == tree.get(f"{base}/partitioning/{field}", "")
            assert part.subChunks == (tree.get(f"{base}/partitioning/subChunks") == "1")
            for field in ("dirTable1", "dirColName1", "dirTable2", "dirColName2", "flagColName"):
                assert getattr(tp.match, field) == tree.get(f"{base}/match/{field}", "")
    assert css.getMatchTableParams("LSST", "RefObjMatch").dirTable1 == "SimRefObject"
    assert len(css.getTableNames("LSST")) == 9


# ---- atomicity with real processes ---------------------------------------------------


Report = tuple[str, int, str]


def _creator(url: str, locking: bool, tag: str, start: mp.synchronize.Event,
             out: mp.Queue[Report]) -> None:
    css = qcss.CssAccess(qcss.open(url))
    css.setLocking(locking)
    start.wait()
    made = 0
    try:
        for i in range(200):
            css.createTable("db", f"T_{tag}_{i}", "(id BIGINT, ra DOUBLE, decl DOUBLE)",
                            qcss.PartTableParams("db", "Object", "id", "decl", "ra", 0.025, True,
                                                 True),
                            qcss.ScanTableParams(True, 3))
            made += 1
        out.put((tag, made, "done"))
    except qcss.NoSuchDb:
        out.put((tag, made, "NoSuchDb"))
    except Exception as exc:
        out.put((tag, made, f"{type(exc).__name__}: {exc}"))


def _dropper(url: str, locking: bool, start: mp.synchronize.Event,
             out: mp.Queue[Report]) -> None:
    css = qcss.CssAccess(qcss.open(url))
    css.setLocking(locking)
    start.wait()
    # Drop once both creators are under way (the table count is the signal).
    while len(css.getTableNames("db", False)) < 10:
        pass
    try:
        css.dropDb("db")
        out.put(("dropper", 0, "dropped"))
    except Exception as exc:
        out.put(("dropper", 0, f"{type(exc).__name__}: {exc}"))


@pytest.mark.slow
@pytest.mark.parametrize("locking", [True, False], ids=["db-lock", "no-lock"])
def test_processes_create_tables_while_another_drops_db(shared_url: str, locking: bool) -> None:
    """Without the database lock the transactions alone must keep it whole."""
    ctx = mp.get_context("spawn")
    for _round in range(3):
        kv = qcss.open(shared_url)
        css = qcss.CssAccess(kv)
        css.createDb("db", qcss.StripingParams(60, 18, 0, 0.025))
        pid = css.getDbStriping("db").partitioningId
        start = ctx.Event()
        out: mp.Queue[tuple[str, int, str]] = ctx.Queue()
        procs = [ctx.Process(target=_creator, args=(shared_url, locking, t, start, out))
                 for t in "ab"]
        procs.append(ctx.Process(target=_dropper, args=(shared_url, locking, start, out)))
        for p in procs:
            p.start()
        start.set()
        results = {tag: (made, how) for tag, made, how in (out.get(timeout=120) for _ in procs)}
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        assert results["dropper"][1] == "dropped"
        assert results["a"][1] in ("NoSuchDb", "done") and results["b"][1] in ("NoSuchDb", "done")
        assert results["a"][0] + results["b"][0] >= 10
        # The database is gone whole: no key of it, nor its partitioning entry.
        assert [e.key for e in kv.snapshot("/DBS").entries if e.key.startswith("/DBS/db")] == []
        assert not kv.exists(f"/PARTITIONING/_{pid:010d}")
        assert not css.containsDb("db")


def _table_writer(url: str, n: int) -> None:
    _mem_writer(qcss.open(url), n)


def _check_snapshot_tables(snap: qcss.Snapshot) -> int:
    keys = {e.key: e.value for e in snap.entries}
    seen = 0
    for k in keys:
        parts = k.split("/")
        if len(parts) != 5 or parts[3] != "TABLES":
            continue
        seen += 1
        t = parts[4]
        # A table that is visible is complete.
        assert json.loads(keys[f"{k}/.packed.json"]) == {"schema": f"(c{t[1:]} INT)"}
        assert f"{k}/partitioning/.packed.json" in keys
        assert f"{k}/sharedScan/.packed.json" in keys
        chunks = [c for c in keys if c.startswith(f"{k}/CHUNKS/") and c.endswith(".packed.json")]
        assert len(chunks) in (0, 10)  # all replicas of one addChunks, or none
    return seen


@pytest.mark.slow
def test_reader_sees_tables_complete_or_not_at_all(url: str) -> None:
    kv = qcss.open(url)
    qcss.CssAccess(kv).createDb("db", qcss.StripingParams(60, 18, 0, 0.025))
    n = 60
    writer: threading.Thread | mp.process.BaseProcess
    if kv.backend() == "mem":
        # mem cannot be shared across processes: the writer is a thread on the same store
        writer = threading.Thread(target=_mem_writer, args=(kv, n))
    else:
        writer = mp.get_context("spawn").Process(target=_table_writer, args=(url, n))
    writer.start()
    snaps = 0
    while writer.is_alive():
        # Every table visible is complete (checked inside); never more than written.
        assert _check_snapshot_tables(kv.snapshot("/DBS/db")) <= n
        snaps += 1
    writer.join()
    if isinstance(writer, mp.process.BaseProcess):
        assert writer.exitcode == 0
    final = _check_snapshot_tables(kv.snapshot("/DBS/db"))
    assert final == len(qcss.CssAccess(kv).getTableNames("db", False)) > 0
    assert snaps > 0


@pytest.mark.slow
def test_czar_on_a_mirror_sees_tables_complete_or_not_at_all(url: str) -> None:
    kv = qcss.open(url)
    qcss.CssAccess(kv).createDb("db", qcss.StripingParams(60, 18, 0, 0.025))
    with kv.mirror("/", interval=0.005) as mirror:
        czar = qcss.CssAccess(mirror, readOnly=True)  # reads the local copy only
        writer: threading.Thread | mp.process.BaseProcess
        if kv.backend() == "mem":
            writer = threading.Thread(target=_mem_writer, args=(kv, 60))
        else:
            writer = mp.get_context("spawn").Process(target=_table_writer, args=(url, 60))
        writer.start()
        checked = 0
        while writer.is_alive():
            _check_snapshot_tables(mirror.snapshot("/DBS/db"))
            for t in czar.getTableNames("db"):
                try:
                    tp = czar.getTableParams("db", t)  # one consistent read
                except qcss.NoSuchTable:
                    continue  # dropped since the listing: fine
                assert tp.partitioning.isPartitioned() and tp.partitioning.overlap == 0.5
                assert tp.sharedScan.lockInMem and tp.sharedScan.scanRating == int(t[1:]) % 5 + 1
                checked += 1
        writer.join()
        assert mirror.waitFor(kv.revision(), timeout=30)
        assert czar.getTableNames("db") == qcss.CssAccess(kv).getTableNames("db")
        assert czar.getChunks("db", "T59") == {c: ["w1", "w2"] for c in range(5)}
    assert checked > 0


def _mem_writer(kv: qcss.KvInterface, n: int) -> None:
    css = qcss.CssAccess(kv)
    for i in range(n):
        css.createTable("db", f"T{i}", f"(c{i} INT)",
                        qcss.PartTableParams("db", "Object", "id", "decl", "ra", 0.5, True, True),
                        qcss.ScanTableParams(True, i % 5 + 1))
        css.addChunks("db", f"T{i}", {c: ["w1", "w2"] for c in range(5)})
        if i % 3 == 0 and i > 0:
            css.dropTable("db", f"T{i - 1}")


def test_threads_share_one_css_access(kv: qcss.KvInterface) -> None:
    css = qcss.CssAccess(kv)
    css.createDb("db")
    errors: list[BaseException] = []

    def work(tag: int) -> None:
        try:
            for i in range(25):
                css.createTable("db", f"T{tag}_{i}", "(x INT)")
                css.addChunk("db", f"T{tag}_{i}", i, [f"w{tag}"])
                assert css.containsTable("db", f"T{tag}_{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(css.getTableNames("db")) == 100
    assert all(len(css.getNodeChunks(f"w{t}")) == 25 for t in range(4))


def test_admin_operations_take_the_db_lock(kv: qcss.KvInterface) -> None:
    css = qcss.CssAccess(kv)
    assert css.locking()
    css.createDb("db")
    css.setLocking(True, timeoutMs=100)
    with kv.lock("/DBS/db", purpose="operator at work"):
        with pytest.raises(qcss.LockTimeout):
            css.createTable("db", "T", "(x INT)")
        with pytest.raises(qcss.LockTimeout):
            css.dropDb("db")
        assert css.getDbStatus("db") == "READY"  # reads take no lock
        css.setLocking(False)
        css.createTable("db", "U", "(x INT)")  # without locking: not blocked
        css.setLocking(True, timeoutMs=100)
    css.createTable("db", "T", "(x INT)")
    assert css.getTableNames("db") == ["T", "U"]
    assert kv.locks("/DBS") == []


@pytest.mark.slow  # 100k replicas: 4-17 s per backend
def test_drop_of_100k_replicas_is_one_batch(url: str) -> None:
    kv = qcss.open(url)
    css = qcss.CssAccess(kv)
    css.createDb("big", qcss.StripingParams(340, 3, 0, 0.01667))
    css.createTable("big", "Object", "(id BIGINT)",
                    qcss.PartTableParams("big", "Object", "id", "decl", "ra", 0.0, True, True))
    css.addChunks("big", "Object", {c: [f"w{c % 4}", f"w{(c + 1) % 4}", f"w{(c + 2) % 4}",
                                        f"w{(c + 3) % 4}"] for c in range(25000)})
    assert sum(len(v) for v in css.getChunks("big", "Object").values()) == 100_000
    rev = kv.revision()
    css.dropDb("big")  # its duration is measured in bench/, not asserted here
    deletes = kv.changes(rev, "/DBS/big")
    # db key, its .packed.json, TABLES; the table, its .packed.json, partitioning and its
    # .packed.json; CHUNKS; 25000 x (chunk, REPLICAS); 100000 x (replica, .packed.json)
    assert len(deletes) == 3 + 4 + 1 + 25000 * 2 + 100_000 * 2
    assert len({c.revision for c in deletes}) == 1  # one batch
    assert not kv.exists("/DBS/big") and not kv.exists("/PARTITIONING/_0000000001")
