"""The migration readers against the real artefacts in tests/fixtures/ and ../shared/fixtures/
(no qcss store needed)."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import cramjam
import pytest

from conftest import QSERV_DIR
from qcss.migrate import formats, zkdata
from qcss.migrate.model import MigrationInputError, Node, NodeKind, Source
from qcss.migrate.plan import SKIP_SYSTEM, PlanError, PrefixMap, build_plan
from qcss.migrate.sources import detect_format, open_source

FIXTURES = Path(__file__).parent / "fixtures"
ZK = FIXTURES / "zk"
QSERV = QSERV_DIR


def ground_truth() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ZK / "ground_truth.json").read_text())
    return data


def expected_user_tree() -> dict[str, bytes]:
    """ground_truth.json `nodes` minus ZooKeeper's system nodes and ephemerals (and the
    root, whose value is empty: qcss's root always exists)."""
    return {
        n["path"]: bytes.fromhex(n["value_hex"])
        for n in ground_truth()["nodes"]
        if not n["system"] and n["ephemeralOwner"] == 0 and n["path"] != "/"
    }


def as_dict(src: Source) -> dict[str, bytes]:
    plan = build_plan(src)
    assert not plan.invalid
    return dict(plan.entries)


# ---------------------------------------------------------------------------------------------
# ZooKeeper data directory


@pytest.mark.parametrize(
    "source", [ZK, ZK / "snapshot.ea", ZK / "snapshot.0"], ids=["dir", "snap-ea", "snap-0"]
)
def test_zk_data_dir_matches_ground_truth(source: Path) -> None:
    src = zkdata.read_zk_data(source)
    got = as_dict(src)
    assert got == expected_user_tree()
    plan = build_plan(src)
    system = sum(1 for n in ground_truth()["nodes"] if n["system"])
    assert plan.skipped[SKIP_SYSTEM] == system
    assert plan.root_value == b""


def test_snapshot_0_replays_every_logged_operation() -> None:
    """snapshot.0 holds only the initial tree: the whole state comes from log replay,
    including the sets, the delete and the ephemeral removed by closeSession."""
    src = zkdata.read_zk_data(ZK / "snapshot.0")
    ops = ground_truth()["operations"]
    got = as_dict(src)
    for op in ops:
        if op["op"] == "delete" or op.get("ephemeral"):
            assert op["path"] not in got
    last_set = {o["path"]: o["value_hex"] for o in ops if o["op"] == "set"}
    for path, hexv in last_set.items():
        assert got[path] == bytes.fromhex(hexv)
    assert any(n.startswith("log log.1: 234 transactions, 234 replayed") for n in src.notes)


def test_snapshot_alone_without_replay() -> None:
    src = zkdata.read_zk_data(ZK / "snapshot.ea", replay=False)
    assert as_dict(src) == expected_user_tree()
    only_initial = as_dict(zkdata.read_zk_data(ZK / "snapshot.0", replay=False))
    assert only_initial == {}


def test_ephemeral_seen_mid_log_is_skipped(tmp_path: Path) -> None:
    """Cut log.1 just before the closeSession: the ephemeral node still exists in the
    replayed state and is skipped, counted."""
    raw = (ZK / "log.1").read_bytes()
    pos = 16
    cut = None
    while True:
        (blen,) = struct.unpack_from(">i", raw, pos + 8)
        if blen == 0:
            break
        (t,) = struct.unpack_from(">i", raw, pos + 12 + 8 + 4 + 8 + 8)
        if t == zkdata.OP_CLOSE_SESSION:
            cut = pos
        pos += 12 + blen + 1
    assert cut is not None
    shutil.copy(ZK / "snapshot.0", tmp_path / "snapshot.0")
    (tmp_path / "log.1").write_bytes(raw[:cut])
    src = zkdata.read_zk_data(tmp_path)
    eph = [o["path"] for o in ground_truth()["operations"] if o.get("ephemeral")]
    kinds = {n.key: n.kind for n in src.nodes}
    assert eph and all(kinds[p] is NodeKind.EPHEMERAL for p in eph)
    plan = build_plan(src)
    assert plan.skipped["ephemeral node"] == len(eph)
    assert dict(plan.entries) == expected_user_tree()


@pytest.mark.parametrize("compression", ["gz", "snappy"])
def test_compressed_snapshots(tmp_path: Path, compression: str) -> None:
    raw = (ZK / "snapshot.ea").read_bytes()
    if compression == "gz":
        data = gzip.compress(raw)
    else:
        # snappy-java's SnappyOutputStream framing, in two chunks to exercise the loop.
        half = len(raw) // 2
        data = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
        for part in (raw[:half], raw[half:]):
            block = bytes(cramjam.snappy.compress_raw(part))
            data += struct.pack(">i", len(block)) + block
    (tmp_path / f"snapshot.ea.{compression}").write_bytes(data)
    src = zkdata.read_zk_data(tmp_path)
    assert as_dict(src) == expected_user_tree()


def _expect_error(source: Path, *fragments: str) -> MigrationInputError:
    with pytest.raises(MigrationInputError) as info:
        open_source(str(source))
    msg = str(info.value)
    assert str(source) in msg or source.name in msg
    for f in fragments:
        assert f in msg, msg
    return info.value


def test_truncated_snapshot(tmp_path: Path) -> None:
    raw = (ZK / "snapshot.ea").read_bytes()
    (tmp_path / "snapshot.ea").write_bytes(raw[: len(raw) // 2])
    _expect_error(tmp_path / "snapshot.ea", "truncated", "byte ")


def test_incomplete_newest_snapshot_is_skipped_as_zookeeper_does(tmp_path: Path) -> None:
    # A server stopped while writing a snapshot leaves it incomplete; ZooKeeper then
    # starts from the newest snapshot that reads back whole and replays the logs after it.
    raw = (ZK / "snapshot.ea").read_bytes()
    for name in ("snapshot.0", "log.1", "log.eb"):
        shutil.copy(ZK / name, tmp_path / name)
    (tmp_path / "snapshot.ea").write_bytes(raw[: len(raw) // 2])
    src = zkdata.read_zk_data(tmp_path)
    assert as_dict(src) == expected_user_tree()
    assert any("snapshot.ea skipped" in n and "truncated" in n for n in src.notes)
    # With no whole snapshot left, the error names the newest one.
    (tmp_path / "snapshot.0").write_bytes((ZK / "snapshot.0").read_bytes()[:20])
    _expect_error(tmp_path, "snapshot.ea", "truncated", "no older snapshot")


def test_missing_logs_after_the_snapshot_are_an_error(tmp_path: Path) -> None:
    shutil.copy(ZK / "snapshot.0", tmp_path / "snapshot.0")
    shutil.copy(ZK / "log.eb", tmp_path / "log.eb")
    _expect_error(tmp_path, "logs after zxid 0x0 are missing", "log.eb")


def test_wrong_magic(tmp_path: Path) -> None:
    raw = bytearray((ZK / "snapshot.ea").read_bytes())
    raw[0:4] = b"ZKXX"
    (tmp_path / "snapshot.ea").write_bytes(bytes(raw))
    _expect_error(tmp_path / "snapshot.ea", "wrong magic", "byte 0")


def test_bad_snapshot_checksum(tmp_path: Path) -> None:
    raw = bytearray((ZK / "snapshot.ea").read_bytes())
    i = raw.find(b"READY")
    raw[i] = ord("X")
    (tmp_path / "snapshot.ea").write_bytes(bytes(raw))
    _expect_error(tmp_path / "snapshot.ea", "bad checksum", "adler32")


def test_bad_log_checksum(tmp_path: Path) -> None:
    raw = bytearray((ZK / "log.1").read_bytes())
    i = raw.find(b"READY")
    raw[i] = ord("X")
    shutil.copy(ZK / "snapshot.0", tmp_path / "snapshot.0")
    (tmp_path / "log.1").write_bytes(bytes(raw))
    err = _expect_error(tmp_path, "bad checksum of the transaction record")
    assert "log.1" in str(err)


def test_truncated_log_tail_is_end_of_log(tmp_path: Path) -> None:
    """A record cut by a crash ends the log (ZooKeeper's own rule), and is reported."""
    raw = (ZK / "log.eb").read_bytes()
    shutil.copy(ZK / "snapshot.ea", tmp_path / "snapshot.ea")
    (tmp_path / "log.eb").write_bytes(raw[:100])
    src = zkdata.read_zk_data(tmp_path)
    assert as_dict(src) == expected_user_tree()
    assert any("incomplete last record" in n for n in src.notes)


# ---------------------------------------------------------------------------------------------
# Qserv dumps


@pytest.mark.shared_fixtures
def test_qserv_tsv_and_json_give_the_same_tree() -> None:
    tsv = build_plan(open_source(str(QSERV / "kvmap-2017.tsv")))
    js = build_plan(open_source(str(QSERV / "kvmap-2017.json")))
    assert dict(tsv.entries) == dict(js.entries)
    assert len(tsv.entries) == 115
    assert tsv.root_value == b""  # "/\t\N"
    assert js.root_value is None  # dumpKV never lists the root
    lines = (QSERV / "kvmap-2017.tsv").read_bytes().decode().splitlines()
    for line in lines:
        k, v = line.split("\t", 1)
        if k != "/":
            assert dict(tsv.entries)[k] == (b"" if v == "\\N" else v.encode())


@pytest.mark.shared_fixtures
def test_detect_formats() -> None:
    assert detect_format(str(QSERV / "kvmap-2017.tsv")) == "qserv-tsv"
    assert detect_format(str(QSERV / "kvmap-2017.json")) == "json"
    assert detect_format(str(ZK)) == "zk-data"
    assert detect_format("zk://127.0.0.1:2181/x") == "zk-live"


def test_tsv_line_without_tab(tmp_path: Path) -> None:
    p = tmp_path / "bad.tsv"
    p.write_bytes(b"/a\t1\n/b\t2\n/c 3\n")
    err = _expect_error(p, "line 3", "no tab")
    assert err.position == "line 3"


def test_malformed_json(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{\n  "\\/a": "1",\n  "\\/b": \n}\n')
    _expect_error(p, "line 4", "malformed JSON")


def test_duplicate_json_key(tmp_path: Path) -> None:
    p = tmp_path / "dup.json"
    p.write_text('{"/a": "1", "/a": "2"}')
    _expect_error(p, "twice")


# ---------------------------------------------------------------------------------------------
# zk-shell and ZooCreeper/zkr dumps, built from the ground truth in their writers' shapes


def test_zk_shell_json(tmp_path: Path) -> None:
    tree = {
        n["path"]: {
            "content": base64.b64encode(bytes.fromhex(n["value_hex"])).decode(),
            "acls": [{"perms": 31, "id": {"scheme": "world", "id": "anyone"}}],
        }
        for n in ground_truth()["nodes"]
    }
    p = tmp_path / "backup.json"
    p.write_text(json.dumps(tree, indent=4))
    src = open_source(str(p))
    assert "zk-shell" in src.description
    assert as_dict(src) == expected_user_tree()


def test_zoocreeper_json_gzipped(tmp_path: Path) -> None:
    tree: dict[str, Any] = {}
    for n in ground_truth()["nodes"]:
        tree[n["path"]] = {
            "aversion": n["aversion"],
            "ctime": n["ctime"],
            "cversion": n["cversion"],
            "czxid": n["czxid"],
            "ephemeralOwner": n["ephemeralOwner"],
            "mtime": n["mtime"],
            "mzxid": n["mzxid"],
            "pzxid": n["pzxid"],
            "version": n["version"],
            "data": base64.b64encode(bytes.fromhex(n["value_hex"])).decode() or None,
            "acls": [{"id": "anyone", "scheme": "world", "perms": 31}],
        }
    tree["/eph"] = dict(tree["/DBS"], ephemeralOwner=0x100001745290000)
    tree["/cont"] = dict(tree["/DBS"], ephemeralOwner=-(1 << 63))
    p = tmp_path / "zoocreeper.json.gz"
    p.write_bytes(gzip.compress(json.dumps(tree).encode()))
    src = open_source(str(p))
    plan = build_plan(src)
    want = expected_user_tree()
    want["/cont"] = want["/DBS"]
    assert dict(plan.entries) == want
    assert plan.skipped["ephemeral node"] == 1
    assert plan.kept_special["container"] == 1


def test_bad_base64(tmp_path: Path) -> None:
    p = tmp_path / "z.json"
    p.write_text(json.dumps({"/a": {"content": "not base64!", "acls": []}}))
    _expect_error(p, "'/a'", "base64")


# ---------------------------------------------------------------------------------------------
# qcss dump


def test_qcss_dump_round_trip_in_memory(tmp_path: Path) -> None:
    entries = sorted(
        [
            ("/", b""),
            ("/a", b"text"),
            ("/a/bin", bytes(range(256))),
            ("/a/nul", b"x\x00y"),
            ("/a/empty", b""),
            ("/ünï/名前", "värde".encode()),
            ("/a/bad-utf8", b"\xff\xfe\xc3("),
        ],
        key=lambda e: e[0].encode(),
    )
    p = tmp_path / "d.qcss"
    with p.open("w", encoding="utf-8") as f:
        assert formats.write_qcss_dump(f, entries, revision=7) == len(entries)
    assert detect_format(str(p)) == "qcss"
    src = open_source(str(p))
    assert [(n.key, n.value) for n in src.nodes] == entries
    # Truncation (no end line) is detected.
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    t = tmp_path / "t.qcss"
    t.write_text("".join(lines[:-2]), encoding="utf-8")
    _expect_error(t, "truncated")


# ---------------------------------------------------------------------------------------------
# Rules


def test_invalid_keys_are_reported_not_altered() -> None:
    src = Source(
        "test",
        [
            Node("/ok", b"1"),
            Node("/a/../b", b"2"),
            Node("/trailing/", b"3"),
            Node("/x" * 600, b"4"),
            Node("/nul\x00", b"5"),
        ],
    )
    plan = build_plan(src)
    assert dict(plan.entries) == {"/ok": b"1"}
    assert [p for p, _ in plan.invalid] == ["/a/../b", "/trailing/", "/x" * 600, "/nul\x00"]
    assert all(reason for _, reason in plan.invalid)
    assert plan.skipped["invalid key"] == 4


def test_prefix_map() -> None:
    src = Source(
        "test",
        [
            Node("/", b"r"),
            Node("/old", b"0"),
            Node("/old/a", b"1"),
            Node("/older", b"2"),
            Node("/zookeeper/quota", b""),
        ],
        zookeeper=True,
    )
    plan = build_plan(src, [PrefixMap.parse("/old=/new/place")])
    assert dict(plan.entries) == {"/new/place": b"0", "/new/place/a": b"1", "/older": b"2"}
    assert plan.root_value == b"r"
    assert plan.implicit_parents == ["/new"]
    assert plan.skipped[SKIP_SYSTEM] == 1
    whole = build_plan(src, [PrefixMap.parse("/=/qserv")])
    assert dict(whole.entries) == {
        "/qserv": b"r",
        "/qserv/old": b"0",
        "/qserv/old/a": b"1",
        "/qserv/older": b"2",
    }
    with pytest.raises(PlanError):
        PrefixMap.parse("old=/new")
    with pytest.raises(PlanError):
        build_plan(src, [PrefixMap.parse("/old=/older")])


def test_qcss_dump_errors_name_the_line(tmp_path: Path) -> None:
    good = [("/a", b"1"), ("/b", b"\xff"), ("/c", b"3")]
    p = tmp_path / "d.qcss"
    with p.open("w", encoding="utf-8") as f:
        formats.write_qcss_dump(f, good)
    lines = p.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.qcss"
    bad.write_text("\n".join([*lines[:2], '{"k": "/b", "b64": ', *lines[3:]]) + "\n")
    _expect_error(bad, "line 3", "malformed JSON")
    dup = tmp_path / "dup.qcss"
    dup.write_text("\n".join([*lines[:4], lines[1], lines[4].replace("3", "4")]) + "\n")
    _expect_error(dup, "line 5", "twice")
    count = tmp_path / "count.qcss"
    count.write_text("\n".join([*lines[:2], *lines[3:]]) + "\n")
    _expect_error(count, "end line counts 3 keys but 2")


def test_separate_log_dir(tmp_path: Path) -> None:
    """dataLogDir apart from dataDir (both with ZooKeeper's version-2/ level)."""
    snaps = tmp_path / "data" / "version-2"
    logs = tmp_path / "datalog" / "version-2"
    snaps.mkdir(parents=True)
    logs.mkdir(parents=True)
    shutil.copy(ZK / "snapshot.0", snaps)
    for name in ("log.1", "log.eb"):
        shutil.copy(ZK / name, logs)
    alone = zkdata.read_zk_data(tmp_path / "data")
    assert as_dict(alone) == {}
    src = open_source(str(tmp_path / "data"), zk_log_dir=str(tmp_path / "datalog"))
    assert as_dict(src) == expected_user_tree()


def test_truncated_compressed_snapshots(tmp_path: Path) -> None:
    raw = (ZK / "snapshot.ea").read_bytes()
    gz = gzip.compress(raw)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "snapshot.ea.gz").write_bytes(gz[: len(gz) - 40])
    _expect_error(tmp_path / "a" / "snapshot.ea.gz", "gzip")
    block = bytes(cramjam.snappy.compress_raw(raw))
    sn = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1) + struct.pack(">i", len(block)) + block
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "snapshot.ea.snappy").write_bytes(sn[:-10])
    _expect_error(tmp_path / "b" / "snapshot.ea.snappy", "truncated snappy chunk", "byte 16")


def test_log_with_wrong_magic(tmp_path: Path) -> None:
    shutil.copy(ZK / "snapshot.0", tmp_path / "snapshot.0")
    (tmp_path / "log.1").write_bytes(b"NOPE" + (ZK / "log.1").read_bytes()[4:])
    err = _expect_error(tmp_path, "wrong magic", "not a ZooKeeper txn log")
    assert err.source.endswith("log.1") and err.position == "byte 0"
