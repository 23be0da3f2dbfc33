"""Qserv's CssAccess factories and the CSS test maps Qserv's query-analysis tests load.

Mirrors lsst/qserv src/css/testCssAccess.cc CssAccessFactoryTestSuite (commit
qserv_support.HEAD), the admin package's test_cssVersion.py (commit
qserv_support.CSS_VERSION_PY) and test_cssNodes.py (commit qserv_support.CSS_NODES_PY),
and the maps of src/tests/testKvMap.h, src/qana/testPlugins.kvmap,
src/query/testQueryContext.cc and the older TSV .kvmap files, read from
../shared/fixtures/qserv-maps/ (its README names each source and commit).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from qserv_support import css_on, parse_map

import qcss
from conftest import QSERV_MAPS, make_store

# testCssAccess.cc's inline testData.
TEST_DATA = """
{
    "/css_meta": "",
    "/css_meta/version": "1",
    "/DBS": "",
    "/DBS/LSST": "LSST"
}
"""

# ---- CssAccessFactoryTestSuite (testCssAccess.cc) --------------------------------------


def test_testDataString() -> None:
    """testDataString."""
    qcss.CssAccess.createFromData("{}")
    css2 = qcss.CssAccess.createFromData(TEST_DATA)
    assert css2.getDbNames() == ["LSST"]


def test_testConfigMap(tmp_path: Path) -> None:
    """testConfigMap."""
    with pytest.raises(qcss.ConfigError):
        qcss.CssAccess.createFromConfig({})
    with pytest.raises(qcss.ConfigError):
        qcss.CssAccess.createFromConfig({"technology": "monkeys"})
    qcss.CssAccess.createFromConfig({"technology": "mem"})
    css = qcss.CssAccess.createFromConfig({"technology": "mem", "data": TEST_DATA})
    assert len(css.getDbNames()) == 1
    with pytest.raises(qcss.ConfigError):
        qcss.CssAccess.createFromConfig({"technology": "mem", "file": "/~~~"})
    for port in ("X", "12bad", "0xdead"):
        with pytest.raises(qcss.ConfigError):
            qcss.CssAccess.createFromConfig({"technology": "mysql", "port": port})
    # a file holding the map
    path = tmp_path / "map.json"
    path.write_text(TEST_DATA, encoding="utf-8")
    css = qcss.CssAccess.createFromConfig({"technology": "mem", "file": str(path)})
    assert css.getDbNames() == ["LSST"]


def test_testReadOnly() -> None:
    """testReadOnly."""
    css = qcss.CssAccess.createFromData(TEST_DATA)
    css.createDb("dbNew1", qcss.StripingParams(), "L2", "UNRELEASED")
    css = qcss.CssAccess.createFromData(TEST_DATA, readOnly=True)
    with pytest.raises(qcss.ReadonlyCss):
        css.createDb("dbNew1", qcss.StripingParams(), "L2", "UNRELEASED")
    css = qcss.CssAccess.createFromConfig({"technology": "mem", "data": TEST_DATA}, readOnly=True)
    with pytest.raises(qcss.ReadonlyCss):
        css.createDb("dbNew1", qcss.StripingParams(), "L2", "UNRELEASED")


def test_testCssVersion() -> None:
    """testCssVersion."""
    with pytest.raises(qcss.VersionMismatchError):
        qcss.CssAccess.createFromData('{"/": "", "/css_meta": "", "/css_meta/version": "1000000"}')


def test_config_mysql(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """technology=mysql opens the database the map names (hostname, port, username,
    password, database), as Qserv's czar configuration does."""
    stores = make_store("mysql", tmp_path, request)
    store = next(stores)
    try:  # (next() again ends the generator: the store is cleaned up)
        u = urlsplit(store.url)
        config = {"technology": "mysql", "hostname": u.hostname or "",
                  "database": u.path.lstrip("/")}
        if u.port:
            config["port"] = str(u.port)
        if u.username:
            config["username"] = unquote(u.username)
        if u.password:
            config["password"] = unquote(u.password)
        css = qcss.CssAccess.createFromConfig(config)
        css.createDb("FromConfig", qcss.StripingParams(), "L2", "RELEASED")
        assert qcss.CssAccess(store.open()).getDbNames() == ["FromConfig"]
        ro = qcss.CssAccess.createFromConfig(config, readOnly=True)
        with pytest.raises(qcss.ReadonlyCss):
            ro.dropDb("FromConfig")
    finally:
        next(stores, None)


def test_url_from_config() -> None:
    """The URL a Qserv configuration map names (values percent-encoded, socket kept)."""
    assert qcss.CssAccess.urlFromConfig({"technology": "mem"}) == "mem://"
    assert qcss.CssAccess.urlFromConfig({
        "technology": "mysql", "hostname": "db.example", "port": "13306", "username": "qsmaster",
        "password": "p@ss:w/rd", "database": "qservCssData"}) == (
        "mysql://qsmaster:p%40ss%3Aw%2Frd@db.example:13306/qservCssData")
    assert qcss.CssAccess.urlFromConfig({
        "technology": "mysql", "socket": "/run/mysqld/mysqld.sock", "username": "u"}) == (
        "mysql://u@localhost/qservCssData?socket=%2Frun%2Fmysqld%2Fmysqld.sock")


def test_create_from_stream_and_tsv() -> None:
    """createFromStream reads a file object; the older TSV map loads too (\\N empty)."""
    css = qcss.CssAccess.createFromStream(io.StringIO(TEST_DATA))
    assert css.getDbNames() == ["LSST"]
    tsv = "/\t\\N\n/css_meta\t\\N\n/css_meta/version\t1\n/DBS\t\\N\n/DBS/LSST\tREADY\n"
    css = qcss.CssAccess.createFromStream(io.BytesIO(tsv.encode()))
    assert css.getDbStatus() == {"LSST": "READY"}
    with pytest.raises(qcss.BadDumpError):
        qcss.CssAccess.createFromData('{"/a": ')
    with pytest.raises(qcss.BadDumpError):
        qcss.CssAccess.createFromData("not/a/key\tvalue\n")


def test_empty_chunks_from_the_empty_chunk_path(tmp_path: Path) -> None:
    """CssAccess::getEmptyChunks(): empty_<db>.txt under emptyChunkPath (Qserv's
    file-based EmptyChunks), else emptyChunks.txt; cached until clearCache."""
    (tmp_path / "empty_LSST.txt").write_text("1 2\n7\n", encoding="utf-8")
    (tmp_path / "emptyChunks.txt").write_text("99\n", encoding="utf-8")
    css = qcss.CssAccess.createFromData(TEST_DATA, str(tmp_path))
    ec = css.getEmptyChunks()
    assert ec.getEmpty("LSST") == {1, 2, 7}
    assert ec.isEmpty("LSST", 7) and not ec.isEmpty("LSST", 3)
    assert ec.getEmpty("Other") == {99}
    (tmp_path / "empty_LSST.txt").write_text("3\n", encoding="utf-8")
    assert ec.getEmpty("LSST") == {1, 2, 7}
    ec.clearCache("LSST")
    assert ec.getEmpty("LSST") == {3}
    (tmp_path / "empty_Bad.txt").write_text("1 x\n", encoding="utf-8")
    with pytest.raises(qcss.KeyValueError):
        ec.getEmpty("Bad")
    with pytest.raises(qcss.ConfigError):
        qcss.CssAccess.createFromData(TEST_DATA).getEmptyChunks().getEmpty("LSST")
    assert qcss.EmptyChunks({"db": {4, 5}}).getEmpty("db") == {4, 5}


# ---- test_cssVersion.py (admin package) --------------------------------------------------


def test_cssVersion_test1() -> None:
    """test_cssVersion.py TestCssVersion.test1: the version key is written when missing."""
    css = qcss.CssAccess.createFromData("")
    css.createDb("TESTDB", qcss.StripingParams(10, 10, 0, 0.0), "L2", "RELEASED")
    kvi = css.getKvI()
    assert kvi.exists("/css_meta/version")
    assert kvi.get("/css_meta/version") == str(qcss.CssAccess.cssVersion()).encode()


def test_cssVersion_test2_test3() -> None:
    """test_cssVersion.py test2 (createDb) and test3 (dropDb) on TSV maps."""
    css = qcss.CssAccess.createFromData("/DBS\t\\N\n/css_meta\t\\N\n/css_meta/version\t1")
    css.createDb("TESTDB", qcss.StripingParams(10, 10, 0, 0.0), "L2", "RELEASED")
    css = qcss.CssAccess.createFromData(
        "/DBS\t\\N\n/DBS/TESTDB\tREADY\n/DBS/TESTDB/.packed.json\t\\N\n"
        "/css_meta\t\\N\n/css_meta/version\t1")
    css.dropDb("TESTDB")
    assert css.getDbNames() == []


def test_cssVersion_test4() -> None:
    """test_cssVersion.py test4: a mismatching version."""
    with pytest.raises(qcss.VersionMismatchError):
        qcss.CssAccess.createFromData("/DBS\t\\N\n/css_meta\t\\N\n/css_meta/version\t1000000")


# ---- test_cssNodes.py (admin package), on every backend ----------------------------------

NODES_PACKED = """/\t\\N
/css_meta\t\\N
/css_meta/version\t1
/NODES\t\\N
/NODES/worker-1\tACTIVE
/NODES/worker-1/.packed.json\t{"type": "worker", "host": "worker.domain", "port": 5012}
/NODES/worker-2\tINACTIVE
/NODES/worker-2/.packed.json\t{"type": "worker", "host": "worker.domain", "port": 5013}
"""
NODES_UNPACKED = """/\t\\N
/css_meta\t\\N
/css_meta/version\t1
/NODES\t\\N
/NODES/worker-1\tACTIVE
/NODES/worker-1/type\tworker
/NODES/worker-1/host\tworker.domain
/NODES/worker-1/port\t5012
/NODES/worker-2\tINACTIVE
/NODES/worker-2/type\tworker
/NODES/worker-2/host\tworker.domain
/NODES/worker-2/port\t5013
"""
EXPECTED_NODES = {"worker-1": ("ACTIVE", "worker", "worker.domain", 5012),
                  "worker-2": ("INACTIVE", "worker", "worker.domain", 5013)}


def _node(p: qcss.NodeParams) -> tuple[str, str, str, int]:
    return (p.state, p.type, p.host, p.port)


@pytest.mark.parametrize("data", [NODES_PACKED, NODES_UNPACKED], ids=["packed", "unpacked"])
def test_cssNodes_testGetNode(kv: qcss.KvInterface, data: str) -> None:
    """test_cssNodes.py testGetNode / testGetNodeUnpacked."""
    css = css_on(kv, data)
    assert {n: _node(css.getNodeParams(n)) for n in EXPECTED_NODES} == EXPECTED_NODES
    with pytest.raises(qcss.NoSuchNode):
        css.getNodeParams("worker-3")


def test_cssNodes_testGetNodes(kv: qcss.KvInterface) -> None:
    """test_cssNodes.py testGetNodes."""
    css = css_on(kv, NODES_PACKED)
    assert {n: _node(p) for n, p in css.getAllNodeParams().items()} == EXPECTED_NODES


def test_cssNodes_testAddNode(kv: qcss.KvInterface) -> None:
    """test_cssNodes.py testAddNode."""
    css = css_on(kv, "/\t\\N\n/css_meta\t\\N\n/css_meta/version\t1\n")
    css.addNode("worker-1", qcss.NodeParams("worker", "worker.domain", 5012, "ACTIVE"))
    css.addNode("worker-2", qcss.NodeParams("worker", "worker.domain", 5013, "INACTIVE"))
    assert {n: _node(css.getNodeParams(n)) for n in EXPECTED_NODES} == EXPECTED_NODES
    with pytest.raises(qcss.NoSuchNode):
        css.getNodeParams("worker-3")


def test_cssNodes_testDeleteNode(kv: qcss.KvInterface) -> None:
    """test_cssNodes.py testDeleteNode: a node holding a replica is in use."""
    data = NODES_PACKED + (
        "/DBS\t\\N\n/DBS/TEST\t\\N\n/DBS/TEST/TABLES\t\\N\n/DBS/TEST/TABLES/TEST\t\\N\n"
        "/DBS/TEST/TABLES/TEST/.packed.json\t{}\n/DBS/TEST/TABLES/TEST/CHUNKS\t\\N\n"
        "/DBS/TEST/TABLES/TEST/CHUNKS/1\t\\N\n/DBS/TEST/TABLES/TEST/CHUNKS/1/REPLICAS\t\\N\n"
        "/DBS/TEST/TABLES/TEST/CHUNKS/1/REPLICAS/001\t\\N\n"
        '/DBS/TEST/TABLES/TEST/CHUNKS/1/REPLICAS/001/.packed.json\t{"nodeName": "worker-2"}\n')
    css = css_on(kv, data)
    css.getNodeParams("worker-1")
    css.getNodeParams("worker-2")
    css.deleteNode("worker-1")
    with pytest.raises(qcss.NoSuchNode):
        css.getNodeParams("worker-1")
    with pytest.raises(qcss.NodeInUse):
        css.deleteNode("worker-2")
    css.getNodeParams("worker-2")


# ---- the test maps (../shared/fixtures/qserv-maps) ---------------------------------------

MAPS = ["testKvMap-head.json", "testKvMap-2017.json", "testPlugins-head.json",
        "testQueryContext-head.json", "testMap.tsv", "testPlugins.tsv"]


def _read(name: str) -> str:
    return (QSERV_MAPS / name).read_text(encoding="utf-8")


def _expected_dbs(entries: list[tuple[str, str]]) -> dict[str, str]:
    return {k.split("/")[2]: v for k, v in entries if k.startswith("/DBS/") and k.count("/") == 2}


def _tables(entries: list[tuple[str, str]], db: str) -> dict[str, str]:
    pre = f"/DBS/{db}/TABLES/"
    return {k[len(pre):]: v for k, v in entries if k.startswith(pre) and "/" not in k[len(pre):]}


def _answers(css: qcss.CssAccess, entries: list[tuple[str, str]]) -> dict[str, object]:
    """What Qserv's query analysis asks the CSS of a map, for every database and table."""
    out: dict[str, object] = {}
    for db in sorted(_expected_dbs(entries)):
        s = css.getDbStriping(db)
        out[db] = (s.stripes, s.subStripes, s.partitioningId, s.overlap)
        for t in sorted(_tables(entries, db)):
            p = css.getPartTableParams(db, t)
            m = css.getMatchTableParams(db, t)
            sc = css.getScanTableParams(db, t)
            out[f"{db}.{t}"] = (css.containsTable(db, t, False), p.chunkLevel(), p.partitionCols(),
                                p.secIndexColNames(), p.dirDb, p.dirTable, p.overlap,
                                m.isMatchTable(), m.dirTable1, m.dirTable2, m.angSep,
                                sc.lockInMem, sc.scanRating, css.getTableSchema(db, t))
    return out


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("name", MAPS)
def test_map_loads_and_answers(name: str) -> None:
    """Each Qserv test map loads through createFromData and createFromStream (JSON and
    TSV forms) and answers for every database and table of the map; missing and
    invalid names are absent."""
    text = _read(name)
    entries = parse_map(text)
    css = qcss.CssAccess.createFromData(text, ".", True)
    with (QSERV_MAPS / name).open("rb") as f:
        again = qcss.CssAccess.createFromStream(f, ".", True)
    dbs = _expected_dbs(entries)
    assert dbs and css.getDbStatus() == dbs and again.getDbStatus() == dbs
    for db in dbs:
        assert css.containsDb(db)
        assert sorted(css.getTableNames(db, False)) == sorted(_tables(entries, db))
    assert _answers(css, entries) == _answers(again, entries)
    # every key of the map is in the store, with its value
    kv = css.getKvI()
    for key, value in entries:
        assert kv.get(key) == value.encode()
    # missing and invalid names, as Qserv's analyzer meets them in user SQL
    db = sorted(dbs)[0]
    assert not css.containsDb("NoSuchDb") and not css.containsDb("a/b")
    assert not css.containsDb("")
    assert not css.containsTable(db, "NoSuchTable") and not css.containsTable(db, "x/y")
    assert not css.containsTable(db, "")
    with pytest.raises(qcss.NoSuchDb):
        css.getDbStriping("NoSuchDb")
    with pytest.raises(qcss.NoSuchTable):
        css.getPartTableParams(db, "NoSuchTable")
    with pytest.raises(qcss.ReadonlyCss):  # opened read-only
        css.createDb("x", qcss.StripingParams(), "L2", "RELEASED")


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("json_name,tsv_name", [("testKvMap-2017.json", "testMap.tsv"),
                                                ("testPlugins-head.json", "testPlugins.tsv")])
def test_json_and_tsv_forms_answer_alike(json_name: str, tsv_name: str) -> None:
    """The JSON map and the older TSV map of the same tree give the same answers."""
    js, tsv = _read(json_name), _read(tsv_name)
    a = qcss.CssAccess.createFromData(js, "", True)
    b = qcss.CssAccess.createFromData(tsv, "", True)
    common = [e for e in parse_map(js) if e in set(parse_map(tsv))]
    assert _answers(a, common) == _answers(b, common)


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("name", ["testKvMap-head.json", "testPlugins.tsv"])
def test_map_answers_alike_on_every_backend(kv: qcss.KvInterface, name: str) -> None:
    """A map written into a SQL store answers as the in-memory copy does."""
    text = _read(name)
    entries = parse_map(text)
    mem = qcss.CssAccess.createFromData(text, "", True)
    css = css_on(kv, text)
    assert _answers(css, entries) == _answers(mem, entries)
    assert json.loads(kv.dumpKV()) == json.loads(mem.getKvI().dumpKV())
