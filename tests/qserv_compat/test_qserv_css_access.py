"""Qserv's CssAccess tests, on every backend (mem, sqlite, mysql).

Mirrors lsst/qserv src/css/testCssAccess.cc, commit qserv_support.HEAD: the suite
CssAccessTestSuite (its fixture's tree is built key by key with create(), root
first, as initKVI does) and CssAccessFactoryTestSuite. Each test names its case.
"""

from __future__ import annotations

import pytest
from qserv_support import css_on

import qcss

READY = "READY"
IGNORE = "DO_NOT_USE"  # Qserv's KEY_STATUS_IGNORE


def init_kvi() -> list[tuple[str, str]]:
    """testCssAccess.cc initKVI(): the keys in the order the fixture creates them."""
    kv = [("/", ""), ("/css_meta", ""), ("/css_meta/version", "1"), ("/PARTITIONING", "")]
    p = "/PARTITIONING/_0000000001"
    kv += [(p, ""), (p + "/nStripes", "60"), (p + "/nSubStripes", "18"), (p + "/overlap", "0.025")]
    kv += [("/DBS", ""), ("/DBS/dbA", READY), ("/DBS/dbA/partitioningId", "0000000001"),
           ("/DBS/dbB", "Bdb"), ("/DBS/dbC", IGNORE)]
    p = "/DBS/dbA/TABLES"
    kv += [(p, ""), (p + "/Object", READY), (p + "/Object/partitioning", ""),
           (p + "/Object/partitioning/lonColName", "ra_PS"),
           (p + "/Object/partitioning/latColName", "decl_PS"),
           (p + "/Object/partitioning/subChunks", "1"),
           (p + "/Object/partitioning/dirColName", "objectId"),
           (p + "/Object/sharedScan/lockInMem", "1"), (p + "/Object/sharedScan/scanRating", "1")]
    for t, lock, rating in (("Source", "1", "2"), ("FSource", "0", "3")):
        kv += [(f"{p}/{t}", READY), (f"{p}/{t}/partitioning", ""),
               (f"{p}/{t}/partitioning/lonColName", "ra"),
               (f"{p}/{t}/partitioning/latColName", "decl"),
               (f"{p}/{t}/partitioning/subChunks", "0"),
               (f"{p}/{t}/sharedScan/lockInMem", lock),
               (f"{p}/{t}/sharedScan/scanRating", rating)]
    e = p + "/Exposure"
    kv += [(e, READY), (e + "/schema", "(I INT)"), (e + "/CHUNKS", ""), (e + "/CHUNKS/1234", ""),
           (e + "/CHUNKS/1234/REPLICAS", ""), (e + "/CHUNKS/1234/REPLICAS/0000000001", ""),
           (e + "/CHUNKS/1234/REPLICAS/0000000001/.packed.json", '{"nodeName": "worker1"}'),
           (e + "/CHUNKS/1234/REPLICAS/0000000002", ""),
           (e + "/CHUNKS/1234/REPLICAS/0000000002/.packed.json", '{"nodeName": "worker2"}'),
           (e + "/CHUNKS/5678", ""), (e + "/CHUNKS/5678/REPLICAS", ""),
           (e + "/CHUNKS/5678/REPLICAS/0000000001", ""),
           (e + "/CHUNKS/5678/REPLICAS/0000000001/.packed.json", '{"nodeName": "worker1"}')]
    p = "/DBS/dbB/TABLES"
    m = p + "/MyObject/partitioning"
    kv += [(p, ""), (p + "/Exposure", READY),
           (p + "/Exposure/.packed.json", '{"schema": "(FLOAT X)"}'),
           (p + "/MyObject", READY), (m, ""), (m + "/lonColName", "ra_PS"),
           (m + "/latColName", "decl_PS"), (m + "/subChunks", "1"), (m + "/dirDb", "dbA"),
           (m + "/dirTable", "Object"), (m + "/dirColName", "objectId"),
           (p + "/DeletedTable", "NOT_READY")]
    p = "/DBS/dbC/TABLES"
    r = p + "/RefMatch/match"
    kv += [(p, ""), (p + "/RefMatch", READY), (r, ""), (r + "/dirTable1", "Object"),
           (r + "/dirColName1", "objectId"), (r + "/dirTable2", "Source"),
           (r + "/dirColName2", "sourceId"), (r + "/flagColName", "flag"), (r + "/angSep", "0.001"),
           (p + "/RefMatch2", READY), (p + "/RefMatch2/match", ""),
           (p + "/RefMatch2/match/.packed.json",
            '{"dirTable1": "Object", "dirColName1": "objectId", "dirTable2": "Source", '
            '"dirColName2": "sourceId", "flagColName": "flag", "angSep": "0.002"}'),
           (p + "/TempTable1", IGNORE), (p + "/TempTable2", "PENDING_CREATE:12345")]
    p = "/NODES"
    kv += [(p, ""), (p + "/node1", "ACTIVE"), (p + "/node2", "INACTIVE"),
           (p + "/node2/.packed.json", '{"type": "worker", "host": "worker2", "port": 5012}'),
           (p + "/node3", "ACTIVE"), (p + "/node3/type", "worker"), (p + "/node3/host", "worker3"),
           (p + "/node3/port", "5012")]
    return kv


@pytest.fixture
def css(kv: qcss.KvInterface) -> qcss.CssAccess:
    """CssAccessFixture: the tree created key by key (create, root first)."""
    for key, value in init_kvi():
        kv.create(key, value)
    c = qcss.CssAccess(kv)
    c.setLocking(False)
    return c


def empty_table(p: qcss.TableParams) -> None:
    assert (p.match.dirTable1, p.match.dirColName1, p.match.dirTable2, p.match.dirColName2,
            p.match.flagColName) == ("", "", "", "", "")
    assert p.match.angSep == 0.0
    assert (p.partitioning.dirDb, p.partitioning.dirTable, p.partitioning.dirColName,
            p.partitioning.latColName, p.partitioning.lonColName) == ("", "", "", "", "")
    assert p.partitioning.overlap == 0.0 and p.partitioning.subChunks is False


# ---- CssAccessTestSuite --------------------------------------------------------------


def test_testJsonParser() -> None:
    """testJsonParser."""
    assert qcss.CssAccess.unpackJson("", "") == {}
    assert qcss.CssAccess.unpackJson("", "{}") == {}
    assert qcss.CssAccess.unpackJson("", '{"a": "string", "b": 1, "c": 1.234, "d": ""}') == {
        "a": "string", "b": "1", "c": "1.234", "d": ""}
    assert qcss.CssAccess.unpackJson("", '{"a": "string", "b": {"b1": 1}, "c": [{}]}') == {
        "a": "string"}
    # empty sub-objects ({} or []) are kept as empty strings
    assert qcss.CssAccess.unpackJson("", '{"a": "string", "b": {}, "c": []}') == {
        "a": "string", "b": "", "c": ""}
    assert qcss.CssAccess.unpackJson("", '{"a": null, "b": true, "c": false}') == {
        "a": "null", "b": "true", "c": "false"}
    assert all(type(v) is str for v in qcss.CssAccess.unpackJson("", '{"a": 1}').values())


def test_testGetDbNames(css: qcss.CssAccess) -> None:
    """testGetDbNames."""
    assert sorted(css.getDbNames()) == ["dbA", "dbB", "dbC"]


def test_testGetDbStatus(css: qcss.CssAccess) -> None:
    """testGetDbStatus."""
    assert css.getDbStatus() == {"dbA": READY, "dbB": "Bdb", "dbC": IGNORE}


def test_testSetDbStatus(css: qcss.CssAccess) -> None:
    """testSetDbStatus."""
    css.setDbStatus("dbA", "DEAD")
    css.setDbStatus("dbB", READY)
    css.setDbStatus("dbC", "")
    assert css.getDbStatus() == {"dbA": "DEAD", "dbB": READY, "dbC": ""}


def test_testContainsDb(css: qcss.CssAccess) -> None:
    """testContainsDb."""
    assert css.containsDb("dbA") and css.containsDb("dbB") and css.containsDb("dbC")
    assert not css.containsDb("db")


def test_testGetDbStriping(css: qcss.CssAccess) -> None:
    """testGetDbStriping."""
    p = css.getDbStriping("dbA")
    assert (p.stripes, p.subStripes, p.partitioningId, p.overlap) == (60, 18, 1, 0.025)
    p = css.getDbStriping("dbB")
    assert (p.stripes, p.subStripes, p.partitioningId, p.overlap) == (0, 0, 0, 0.0)
    assert p.isDefaultConstructed()
    with pytest.raises(qcss.NoSuchDb):
        css.getDbStriping("dbX")


def test_testCreateDb(css: qcss.CssAccess) -> None:
    """testCreateDb."""
    css.createDb("dbNew1", qcss.StripingParams(), "L2", "UNRELEASED")
    p1 = css.getDbStriping("dbNew1")
    assert (p1.stripes, p1.subStripes, p1.partitioningId, p1.overlap) == (0, 0, 0, 0)
    css.createDb("dbNew2", qcss.StripingParams(50, 25, 0, 0.01), "L2", "RELEASED")
    p2 = css.getDbStriping("dbNew2")
    assert (p2.stripes, p2.subStripes, p2.overlap) == (50, 25, 0.01) and p2.partitioningId != 0
    css.createDbLike("dbNew1Like", "dbNew1")
    p1 = css.getDbStriping("dbNew1Like")
    assert (p1.stripes, p1.subStripes, p1.partitioningId, p1.overlap) == (0, 0, 0, 0)
    css.createDbLike("dbNew2Like", "dbNew2")
    p2like = css.getDbStriping("dbNew2Like")
    assert (p2like.stripes, p2like.subStripes, p2like.overlap) == (50, 25, 0.01)
    assert p2like.partitioningId == p2.partitioningId and p2like == p2


def test_testDropDb(css: qcss.CssAccess) -> None:
    """testDropDb."""
    css.createDb("dbNew1", qcss.StripingParams(), "L2", "UNRELEASED")
    css.createDb("dbNew2", qcss.StripingParams(50, 25, 0, 0.01), "L2", "RELEASED")
    css.dropDb("dbNew1")
    css.dropDb("dbNew2")
    with pytest.raises(qcss.NoSuchDb):
        css.dropDb("dbNew2")
    with pytest.raises(qcss.NoSuchDb):
        css.dropDb("dbX")


def test_testGetTableNames(css: qcss.CssAccess) -> None:
    """testGetTableNames."""
    assert sorted(css.getTableNames("dbA")) == ["Exposure", "FSource", "Object", "Source"]
    assert sorted(css.getTableNames("dbB")) == ["Exposure", "MyObject"]
    assert sorted(css.getTableNames("dbB", False)) == ["DeletedTable", "Exposure", "MyObject"]
    with pytest.raises(qcss.NoSuchDb):
        css.getTableNames("dbX")


def test_testGetTableStatus(css: qcss.CssAccess) -> None:
    """testGetTableStatus."""
    assert css.getTableStatus("dbC") == {"RefMatch": READY, "RefMatch2": READY,
                                         "TempTable1": IGNORE,
                                         "TempTable2": "PENDING_CREATE:12345"}


def test_testSetTableStatus(css: qcss.CssAccess) -> None:
    """testSetTableStatus."""
    css.setTableStatus("dbC", "RefMatch", "")
    css.setTableStatus("dbC", "RefMatch2", "NOT_THERE")
    css.setTableStatus("dbC", "TempTable1", READY)
    css.setTableStatus("dbC", "TempTable2", IGNORE)
    assert css.getTableStatus("dbC") == {"RefMatch": "", "RefMatch2": "NOT_THERE",
                                         "TempTable1": READY, "TempTable2": IGNORE}


def test_testContainsTable(css: qcss.CssAccess) -> None:
    """testContainsTable."""
    assert css.containsTable("dbA", "Exposure")
    assert not css.containsTable("dbA", "ExposureNotThere")
    assert css.containsTable("dbB", "Exposure")
    assert not css.containsTable("dbB", "DeletedTable")
    assert not css.containsTable("dbB", "DeletedTable", True)
    assert css.containsTable("dbB", "DeletedTable", False)
    with pytest.raises(qcss.NoSuchDb):
        css.containsTable("dbX", "any")


def test_testGetTableSchema(css: qcss.CssAccess) -> None:
    """testGetTableSchema."""
    assert css.getTableSchema("dbA", "Exposure") == "(I INT)"
    assert css.getTableSchema("dbA", "Object") == ""
    with pytest.raises(qcss.NoSuchTable):
        css.getTableSchema("dbA", "NotATable")
    assert css.getTableSchema("dbB", "Exposure") == "(FLOAT X)"


def test_testGetMatchTableParams(css: qcss.CssAccess) -> None:
    """testGetMatchTableParams (unpacked and packed)."""
    p = css.getMatchTableParams("dbA", "Exposure")
    assert (p.dirTable1, p.dirColName1, p.dirTable2, p.dirColName2, p.flagColName) == (
        "", "", "", "", "")
    for table, ang in (("RefMatch", 0.001), ("RefMatch2", 0.002)):
        p = css.getMatchTableParams("dbC", table)
        assert (p.dirTable1, p.dirColName1, p.dirTable2, p.dirColName2, p.flagColName) == (
            "Object", "objectId", "Source", "sourceId", "flag")
        assert p.angSep == ang
    with pytest.raises(qcss.NoSuchTable):
        css.getMatchTableParams("dbC", "NoRefMatch")


def test_testGetPartTableParams(css: qcss.CssAccess) -> None:
    """testGetPartTableParams."""
    p = css.getPartTableParams("dbA", "Exposure")
    assert (p.dirDb, p.dirTable, p.dirColName, p.latColName, p.lonColName) == ("", "", "", "", "")
    assert p.overlap == 0.0 and p.subChunks is False
    p = css.getPartTableParams("dbB", "MyObject")
    assert (p.dirDb, p.dirTable, p.dirColName, p.latColName, p.lonColName) == (
        "dbA", "Object", "objectId", "decl_PS", "ra_PS")
    assert p.overlap == 0.0 and p.subChunks is True
    with pytest.raises(qcss.NoSuchTable):
        css.getPartTableParams("dbC", "NoRefMatch")


def test_testGetTableParams(css: qcss.CssAccess) -> None:
    """testGetTableParams."""
    empty_table(css.getTableParams("dbA", "Exposure"))
    p = css.getTableParams("dbB", "MyObject")
    assert p.match.dirTable1 == "" and p.match.flagColName == ""
    assert (p.partitioning.dirDb, p.partitioning.dirTable, p.partitioning.dirColName,
            p.partitioning.latColName, p.partitioning.lonColName) == (
        "dbA", "Object", "objectId", "decl_PS", "ra_PS")
    assert p.partitioning.overlap == 0.0 and p.partitioning.subChunks is True
    for table, ang in (("RefMatch", 0.001), ("RefMatch2", 0.002)):
        p = css.getTableParams("dbC", table)
        assert (p.match.dirTable1, p.match.dirColName1, p.match.dirTable2, p.match.dirColName2,
                p.match.flagColName, p.match.angSep) == (
            "Object", "objectId", "Source", "sourceId", "flag", ang)
        assert p.partitioning.dirDb == "" and p.partitioning.lonColName == ""
        assert p.partitioning.overlap == 0.0 and p.partitioning.subChunks is False
    with pytest.raises(qcss.NoSuchTable):
        css.getTableParams("dbC", "NoRefMatch")


def test_testGetPartTableParams4Scans(css: qcss.CssAccess) -> None:
    """testGetPartTableParams4Scans (getScanTableParams)."""
    got = {t: css.getScanTableParams("dbA", t) for t in ("Exposure", "Object", "Source", "FSource")}
    assert {t: (p.lockInMem, p.scanRating) for t, p in got.items()} == {
        "Exposure": (False, 0), "Object": (True, 1), "Source": (True, 2), "FSource": (False, 3)}


def test_testCreateTable(css: qcss.CssAccess) -> None:
    """testCreateTable."""
    css.createTable("dbA", "NewTable", "(INT I)", qcss.PartTableParams(), qcss.ScanTableParams())
    assert css.containsTable("dbA", "NewTable")
    assert css.getTableSchema("dbA", "NewTable") == "(INT I)"
    empty_table(css.getTableParams("dbA", "NewTable"))
    with pytest.raises(qcss.TableExists):
        css.createTable("dbA", "NewTable", "(INT I)", qcss.PartTableParams(),
                        qcss.ScanTableParams())
    params1 = qcss.PartTableParams("dbA", "SomeTable", "dirColName", "latColName", "lonColName",
                                   0.012, True, True)
    css.createTable("dbA", "NewTable2", "(INT J)", params1, qcss.ScanTableParams())
    assert css.containsTable("dbA", "NewTable2")
    assert css.getTableSchema("dbA", "NewTable2") == "(INT J)"
    p = css.getTableParams("dbA", "NewTable2")
    assert p.match.dirTable1 == "" and p.match.angSep == 0.0
    assert (p.partitioning.dirDb, p.partitioning.dirTable, p.partitioning.dirColName,
            p.partitioning.latColName, p.partitioning.lonColName, p.partitioning.overlap,
            p.partitioning.subChunks) == (
        "dbA", "SomeTable", "dirColName", "latColName", "lonColName", 0.012, True)


def test_testCreateMatchTable(css: qcss.CssAccess) -> None:
    """testCreateMatchTable."""
    css.createMatchTable("dbA", "MatchTable", "(INT I)", qcss.MatchTableParams())
    assert css.containsTable("dbA", "MatchTable")
    assert css.getTableSchema("dbA", "MatchTable") == "(INT I)"
    empty_table(css.getTableParams("dbA", "MatchTable"))
    with pytest.raises(qcss.TableExists):
        css.createMatchTable("dbA", "MatchTable", "(INT I)", qcss.MatchTableParams())
    params1 = qcss.MatchTableParams("dirTable1", "dirCol1", "dirTable2", "dirCol2", "flagCol", 0.01)
    css.createMatchTable("dbA", "MatchTable2", "(INT X)", params1)
    assert css.containsTable("dbA", "MatchTable2")
    assert css.getTableSchema("dbA", "MatchTable2") == "(INT X)"
    p = css.getTableParams("dbA", "MatchTable2")
    assert (p.match.dirTable1, p.match.dirColName1, p.match.dirTable2, p.match.dirColName2,
            p.match.flagColName, p.match.angSep) == (
        "dirTable1", "dirCol1", "dirTable2", "dirCol2", "flagCol", 0.01)
    assert p.partitioning.dirDb == "" and p.partitioning.subChunks is False


def test_testDropTable(css: qcss.CssAccess) -> None:
    """testDropTable."""
    css.createTable("dbA", "NewTable", "(INT I)", qcss.PartTableParams(), qcss.ScanTableParams())
    assert css.containsTable("dbA", "NewTable")
    css.dropTable("dbA", "NewTable")
    for db, table in (("dbA", "NewTable"), ("dbA", "NeverExisted"), ("WrongDb", "NeverExisted")):
        with pytest.raises(qcss.NoSuchTable):
            css.dropTable(db, table)


def test_testGetNodeNames(css: qcss.CssAccess) -> None:
    """testGetNodeNames."""
    assert sorted(css.getNodeNames()) == ["node1", "node2", "node3"]


def check_nodes(nodes: dict[str, qcss.NodeParams]) -> None:
    got = {n: (p.type, p.host, p.port, p.state, p.isActive()) for n, p in nodes.items()}
    assert got == {"node1": ("", "", 0, "ACTIVE", True),
                   "node2": ("worker", "worker2", 5012, "INACTIVE", False),
                   "node3": ("worker", "worker3", 5012, "ACTIVE", True)}


def test_testGetNodeParams(css: qcss.CssAccess) -> None:
    """testGetNodeParams."""
    check_nodes({n: css.getNodeParams(n) for n in ("node1", "node2", "node3")})
    with pytest.raises(qcss.NoSuchNode):
        css.getNodeParams("UnknownNode")


def test_testGetAllNodeParams(css: qcss.CssAccess) -> None:
    """testGetAllNodeParams."""
    check_nodes(css.getAllNodeParams())


def test_testAddNode(css: qcss.CssAccess) -> None:
    """testAddNode."""
    css.addNode("newnode", qcss.NodeParams("worker", "worker100", 5012, "SICK"))
    assert sorted(css.getNodeNames()) == ["newnode", "node1", "node2", "node3"]
    p = css.getNodeParams("newnode")
    assert (p.type, p.host, p.port, p.state, p.isActive()) == (
        "worker", "worker100", 5012, "SICK", False)


def test_testSetNodeState(css: qcss.CssAccess) -> None:
    """testSetNodeState."""
    css.setNodeState("node2", "ACTIVE")
    p = css.getNodeParams("node2")
    assert p.state == "ACTIVE" and p.isActive()


def test_testDeleteNode(css: qcss.CssAccess) -> None:
    """testDeleteNode."""
    for n in ("node1", "node2", "node3"):
        css.deleteNode(n)
    assert css.getNodeNames() == []
    for n in ("node1", "nodeX"):
        with pytest.raises(qcss.NoSuchNode):
            css.deleteNode(n)


def test_testGetChunks(css: qcss.CssAccess) -> None:
    """testGetChunks."""
    assert css.getChunks("dbA", "Exposure") == {1234: ["worker1", "worker2"], 5678: ["worker1"]}
    assert css.getChunks("dbA", "Object") == {}
    with pytest.raises(qcss.NoSuchTable):
        css.getChunks("dbA", "NonTable")
    with pytest.raises(qcss.NoSuchTable):  # Qserv: NoSuchTable for a missing database too
        css.getChunks("dbX", "NonTable")


def test_testAddChunk(css: qcss.CssAccess) -> None:
    """testAddChunk."""
    css.addChunk("dbB", "MyObject", 1000, ["worker1", "worker2"])
    css.addChunk("dbB", "MyObject", 2000, ["worker3"])
    assert css.getChunks("dbB", "MyObject") == {1000: ["worker1", "worker2"], 2000: ["worker3"]}


# ---- members Qserv code outside src/css uses -------------------------------------------


def test_setTableSchema_and_setScanTableParams(css: qcss.CssAccess) -> None:
    """CssAccess::setTableSchema / setScanTableParams (used by Qserv's replication
    controller): the child-key form (dbA.Exposure/schema) and the packed form."""
    css.setTableSchema("dbA", "Exposure", "(J BIGINT)")
    css.setTableSchema("dbB", "Exposure", "(Y DOUBLE)")
    assert css.getTableSchema("dbA", "Exposure") == "(J BIGINT)"
    assert css.getTableSchema("dbB", "Exposure") == "(Y DOUBLE)"
    css.setScanTableParams("dbA", "Object", qcss.ScanTableParams(False, 7))
    p = css.getScanTableParams("dbA", "Object")
    assert (p.lockInMem, p.scanRating) == (False, 7)
    with pytest.raises(qcss.NoSuchTable):
        css.setTableSchema("dbA", "NotATable", "()")
    with pytest.raises(qcss.NoSuchTable):
        css.setScanTableParams("dbX", "Object", qcss.ScanTableParams(True, 1))


def test_part_table_params_members(css: qcss.CssAccess) -> None:
    """PartTableParams::chunkLevel, partitionCols, secIndexColNames, isSubChunked
    (used by qproc/qana)."""
    obj = css.getPartTableParams("dbA", "Object")
    assert obj.chunkLevel() == 2 and obj.isSubChunked() and obj.isChunked()
    assert obj.partitionCols() == ["ra_PS", "decl_PS", "objectId"]
    assert obj.secIndexColNames() == ["objectId"]
    src = css.getPartTableParams("dbA", "Source")
    assert src.chunkLevel() == 1 and not src.isSubChunked()
    assert src.secIndexColNames() == []
    assert css.getPartTableParams("dbA", "Exposure").chunkLevel() == 0


def test_names_from_user_sql_are_absent(css: qcss.CssAccess) -> None:
    """containsDb/containsTable with names that cannot be keys answer false (Qserv's
    callers catch only NoSuchDb/NoSuchTable)."""
    assert css.containsDb("a/b") is False
    assert css.containsDb("") is False
    assert css.containsDb("x" * 5000) is False
    assert css.containsTable("dbA", "x/y") is False
    assert css.containsTable("dbA", "") is False
    assert css.containsTable("dbA", "t" * 5000) is False
    with pytest.raises(qcss.NoSuchDb):
        css.containsTable("a/b", "Object")


def test_node_list_without_nodes_key(kv: qcss.KvInterface) -> None:
    """Qserv's getNodeNames/getAllNodeParams read /NODES: NoSuchKey without it."""
    css = qcss.CssAccess(kv)
    with pytest.raises(qcss.NoSuchKey):
        css.getNodeNames()
    with pytest.raises(qcss.NoSuchKey):
        css.getAllNodeParams()


def test_getKvI_and_error_type_names(css: qcss.CssAccess) -> None:
    """getKvI() is the store (kv too); errors carry typeName() as Qserv's do."""
    assert css.getKvI().url() == css.kv.url()
    with pytest.raises(qcss.NoSuchTable) as info:
        css.getChunks("dbA", "NonTable")
    assert info.value.typeName() == "NoSuchTable"
    assert issubclass(qcss.KeyValueError, qcss.CssError)
    assert issubclass(qcss.VersionMissingError, qcss.CssError)


def test_bad_numbers_are_key_value_errors(kv: qcss.KvInterface) -> None:
    """Qserv raises KeyValueError when a stored number does not parse."""
    css = css_on(kv, "/DBS\t\\N\n/DBS/db\tREADY\n/DBS/db/partitioningId\t0000000001\n"
                     "/PARTITIONING/_0000000001/nStripes\tmany\n")
    with pytest.raises(qcss.KeyValueError) as info:
        css.getDbStriping("db")
    assert info.value.typeName() == "KeyValueError"
