"""css-admin's CSS verbs end to end (CliRunner), on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import qcss
from conftest import QSERV_JSON
from qcss.cli import EXIT_CODES, cli


def run(kv: qcss.KvInterface | None, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=kv)


def ok(kv: qcss.KvInterface | None, *args: str) -> Result:
    r = run(kv, *args)
    assert r.exit_code == 0, (args, r.output, r.exception)
    return r


def code_of(cls: type[BaseException]) -> int:
    return next(code for c, code, _ in EXIT_CODES if c is cls)


def test_db_lifecycle_with_flags(kv: qcss.KvInterface) -> None:
    ok(kv, "db", "create", "LSST", "--stripes", "340", "--sub-stripes", "3",
       "--overlap", "0.01667", "--release-status", "RELEASED")
    ok(kv, "db", "create", "Other")
    assert json.loads(ok(kv, "-o", "json", "db", "list").stdout) == {
        "LSST": "READY", "Other": "READY"}
    show = json.loads(ok(kv, "-o", "json", "db", "show", "LSST").stdout)
    assert show["striping"] == {"partitioningId": 1, "nStripes": 340, "nSubStripes": 3,
                                "overlap": 0.01667}
    assert show["releaseStatus"] == "RELEASED" and show["storageClass"] == "L2"
    assert json.loads(kv.get("/PARTITIONING/_0000000001/.packed.json"))["overlap"] == "0.01667"
    table = ok(kv, "-o", "table", "db", "list").stdout.splitlines()
    assert table[0].split() == ["database", "status"] and table[2].split() == ["LSST", "READY"]

    ok(kv, "db", "create-like", "LSST2", "LSST")
    assert json.loads(ok(kv, "-o", "json", "db", "show", "LSST2").stdout)["striping"][
        "partitioningId"] == 1
    r = run(kv, "db", "create", "LSST")
    assert r.exit_code == code_of(qcss.DbExists) and "LSST" in r.stderr

    assert ok(kv, "db", "status", "LSST").stdout == "READY\n"
    ok(kv, "db", "status", "LSST", "DO_NOT_USE", "--expect", "READY")
    r = run(kv, "db", "status", "LSST", "PENDING_DROP:1", "--expect", "READY")
    assert r.exit_code == code_of(qcss.VersionMismatchError)
    assert ok(kv, "db", "status", "LSST").stdout == "DO_NOT_USE\n"

    r = ok(kv, "db", "drop", "LSST")
    assert "done in" in r.stderr
    ok(kv, "db", "drop", "LSST2")
    assert not kv.exists("/PARTITIONING/_0000000001")
    assert run(kv, "db", "drop", "LSST").exit_code == code_of(qcss.NoSuchDb)
    r = run(kv, "db", "drop", "Other", "--expect-status", "RELEASED")
    assert r.exit_code == code_of(qcss.VersionMismatchError)
    assert kv.exists("/DBS/Other")


def test_create_from_params_files(kv: qcss.KvInterface, tmp_path: Path) -> None:
    # Qserv's .params files: INI without a section header.
    db_ini = tmp_path / "db.params"
    db_ini.write_text("nStripes = 60\nnSubStripes = 18\noverlap = 0.025\n"
                      "storageClass = L2\npartitioning = 1\npartitioningStrategy = sphBox\n")
    ok(kv, "db", "create", "LSST", "--params", str(db_ini))
    s = qcss.CssAccess(kv).getDbStriping("LSST")
    assert (s.stripes, s.subStripes, s.overlap) == (60, 18, 0.025)

    obj_ini = tmp_path / "Object.params"
    obj_ini.write_text("[table]\ndirTable = Object\ndirColName = objectId\n"
                       "latColName = decl_PS\nlonColName = ra_PS\nsubChunks = 1\n"
                       "lockInMem = 1\nscanRating = 2\nschema = (objectId BIGINT)\n")
    ok(kv, "table", "create", "LSST", "Object", "--params", str(obj_ini))
    show = json.loads(ok(kv, "-o", "json", "table", "show", "LSST", "Object").stdout)
    assert show["partitioning"]["latColName"] == "decl_PS"
    assert show["partitioning"]["subChunks"] is True
    assert show["sharedScan"] == {"lockInMem": True, "scanRating": 2}
    assert show["schema"] == "(objectId BIGINT)"

    src_json = tmp_path / "Source.json"
    src_json.write_text(json.dumps({"dirTable": "Object", "dirColName": "objectId",
                                    "latColName": "decl", "lonColName": "ra",
                                    "subChunks": False, "overlap": 0.0125}))
    ok(kv, "table", "create", "LSST", "Source", "--params", str(src_json),
       "--schema", "(sourceId BIGINT)")
    p = qcss.CssAccess(kv).getPartTableParams("LSST", "Source")
    assert p.isPartitioned() and not p.subChunks and p.overlap == 0.0125
    ok(kv, "table", "create", "LSST", "Filter", "--schema", "(f INT)")
    assert not qcss.CssAccess(kv).getPartTableParams("LSST", "Filter").isPartitioned()
    ok(kv, "table", "create", "LSST", "RefObjMatch", "--match", "--dir-table1", "Ref",
       "--dir-col1", "refId", "--dir-table2", "Object", "--dir-col2", "objectId",
       "--flag-col", "flags")
    m = qcss.CssAccess(kv).getMatchTableParams("LSST", "RefObjMatch")
    assert (m.dirTable1, m.dirColName2, m.flagColName) == ("Ref", "objectId", "flags")

    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    r = run(kv, "db", "create", "X", "--params", str(bad))
    assert r.exit_code == code_of(qcss.ConfigError)
    r = run(kv, "table", "create", "LSST", "Object")
    assert r.exit_code == code_of(qcss.TableExists)

    assert ok(kv, "table", "list", "LSST").stdout.split()[::2] == [
        "Filter", "Object", "RefObjMatch", "Source"]
    ok(kv, "table", "status", "LSST", "Filter", "PENDING_DROP:5", "--expect", "READY")
    assert "Filter" not in ok(kv, "table", "list", "LSST").stdout
    assert "Filter" in ok(kv, "table", "list", "LSST", "--all").stdout
    ok(kv, "table", "drop", "LSST", "Filter")
    assert run(kv, "table", "drop", "LSST", "Filter").exit_code == code_of(qcss.NoSuchTable)


def test_nodes_and_chunks(kv: qcss.KvInterface) -> None:
    ok(kv, "db", "create", "db", "--stripes", "60", "--sub-stripes", "18")
    ok(kv, "table", "create", "db", "Object", "--lat-col", "decl", "--lon-col", "ra",
       "--dir-col", "id")
    ok(kv, "node", "add", "worker1", "--host", "w1.example", "--port", "5012")
    ok(kv, "node", "add", "worker2", "--state", "INACTIVE")
    assert run(kv, "node", "add", "worker1").exit_code == code_of(qcss.NodeExists)
    nodes = json.loads(ok(kv, "-o", "json", "node", "list").stdout)
    assert nodes[0] == {"name": "worker1", "state": "ACTIVE", "type": "worker",
                        "host": "w1.example", "port": 5012}
    ok(kv, "node", "set-state", "worker2", "ACTIVE", "--expect", "INACTIVE")
    r = run(kv, "node", "set-state", "worker2", "ACTIVE", "--expect", "INACTIVE")
    assert r.exit_code == code_of(qcss.VersionMismatchError)

    ok(kv, "chunk", "add", "db", "Object", "100", "worker1", "worker2")
    ok(kv, "chunk", "add", "db", "Object", "200", "worker1")
    assert json.loads(ok(kv, "-o", "json", "chunk", "list", "db", "Object").stdout) == {
        "100": ["worker1", "worker2"], "200": ["worker1"]}
    on1 = json.loads(ok(kv, "-o", "json", "chunk", "list", "--node", "worker1").stdout)
    assert [(c["db"], c["table"], c["chunk"]) for c in on1] == [
        ("db", "Object", 100), ("db", "Object", 200)]
    assert json.loads(ok(kv, "-o", "json", "node", "show", "worker1").stdout)["replicas"] == 2

    r = run(kv, "node", "delete", "worker2")
    assert r.exit_code == code_of(qcss.NodeInUse) and "worker2" in r.stderr
    ok(kv, "chunk", "delete", "db", "Object", "100", "--node", "worker2")
    ok(kv, "node", "delete", "worker2")
    ok(kv, "chunk", "delete", "db", "Object", "200")
    assert json.loads(ok(kv, "-o", "json", "chunk", "list", "db", "Object").stdout) == {
        "100": ["worker1"]}
    assert run(kv, "chunk", "add", "db", "Nope", "1", "w").exit_code == code_of(qcss.NoSuchTable)


@pytest.mark.shared_fixtures
def test_css_version_and_2017_maps() -> None:
    url = f"mem://{QSERV_JSON}"
    assert ok(None, "--url", url, "--read-only", "css", "version").stdout == (
        "store: 1\nlibrary: 1\n")
    dbs = json.loads(ok(None, "--url", url, "--read-only", "-o", "json", "db", "list").stdout)
    assert dbs == {"LSST": "READY", "rplante_PT1_2_u_pt12prod_im3000_qserv": "READY"}
    show = json.loads(ok(None, "--url", url, "--read-only", "-o", "json",
                         "table", "show", "LSST", "Object").stdout)
    assert show["partitioning"]["dirColName"] == "objectIdObjTest"
    r = run(None, "--url", "mem://", "--read-only", "db", "list")
    assert r.exit_code == code_of(qcss.VersionMissingError) and "holds no CSS tree" in r.stderr


def test_version_mismatch_exit_code(kv: qcss.KvInterface) -> None:
    kv.set("/css_meta/version", "7")
    r = run(kv, "db", "list")
    assert r.exit_code == code_of(qcss.VersionMismatchError) == 5  # LayoutVersionError is one
    r = run(kv, "css", "version")
    assert r.exit_code == code_of(qcss.VersionMismatchError) and "store: 7" in r.stdout
    # Its own class (a VersionMismatchError for Qserv's callers), and a failed
    # compare-and-set is not one.
    with pytest.raises(qcss.LayoutVersionError, match="layout version mismatch"):
        qcss.CssAccess(kv)
    with pytest.raises(qcss.VersionMismatchError) as e:
        kv.set("/css_meta/version", "8", version=99)
    assert type(e.value) is qcss.VersionMismatchError


@pytest.mark.slow  # 100k replicas: 16-25 s per backend
def test_drop_100k_replicas_shows_progress(kv: qcss.KvInterface) -> None:
    css = qcss.CssAccess(kv)
    css.createDb("big", qcss.StripingParams(340, 3, 0, 0.01667))
    for t in ("Object", "Source"):
        css.createTable("big", t, "(id BIGINT)",
                        qcss.PartTableParams("big", "Object", "id", "decl", "ra", 0.0, True, True))
        css.addChunks("big", t, {c: ["w1", "w2"] for c in range(25000)})
    before = kv.revision()
    r = ok(kv, "-o", "json", "db", "drop", "big")
    out = json.loads(r.stdout)
    assert out["replicas"] == 100_000 and out["tables"] == 2
    assert "100000 chunk replica(s)" in r.stderr and "done in" in r.stderr
    assert not kv.exists("/DBS/big")
    # The drop is one batch (the timing is recorded in docs/css-layout.md, not asserted):
    # every deleted key carries one revision.
    deletes = [c for c in kv.changes(before, "/DBS/big") if c.kindName == "delete"]
    assert len({c.revision for c in deletes}) == 1
    assert len(deletes) > 100_000
