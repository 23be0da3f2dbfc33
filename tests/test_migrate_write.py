"""Writing migrations into real qcss stores: fixtures, conflicts, races, batches, resume,
dry run, verify, and qcss's own dump through restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import qcss
from conftest import QSERV_DIR, Store, make_store
from qcss.migrate.cli import Failure, dump_qcss, import_cmd, main, restore_cmd, run
from qcss.migrate.plan import build_plan
from qcss.migrate.sources import open_source
from qcss.migrate.writer import ConflictError, PartialWriteError, verify_plan, write_plan

FIXTURES = Path(__file__).parent / "fixtures"
ZK = FIXTURES / "zk"
QSERV = QSERV_DIR


def tree(kv: Any) -> dict[str, bytes]:
    return {e.key: bytes(e.value) for e in kv.snapshot("/").entries if e.key != "/"}


def zk_truth() -> dict[str, bytes]:
    gt = json.loads((ZK / "ground_truth.json").read_text())
    return {
        n["path"]: bytes.fromhex(n["value_hex"])
        for n in gt["nodes"]
        if not n["system"] and n["ephemeralOwner"] == 0 and n["path"] != "/"
    }


def test_zk_fixture_into_store(kv: Any) -> None:
    assert run(source=str(ZK), url=None, kv=kv, verify=True, quiet=True) == 0
    assert tree(kv) == zk_truth()


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("name", ["kvmap-2017.tsv", "kvmap-2017.json"])
def test_qserv_dumps_into_store(kv: Any, name: str) -> None:
    assert run(source=str(QSERV / name), url=None, kv=kv, verify=True, quiet=True) == 0
    # The same tree as the core's own loader of Qserv dumps (mem:///dump.json).
    reference = qcss.open(f"mem://{QSERV / 'kvmap-2017.json'}")
    assert tree(kv) == tree(reference)
    assert len(tree(kv)) == 115


def test_one_transaction_for_css_sized_input(kv: Any) -> None:
    before = kv.revision()
    plan = build_plan(open_source(str(ZK)))
    rep = write_plan(kv, plan)
    assert rep.atomic and rep.batches == 1
    assert kv.revision() == before + 1


def test_refuses_to_overwrite(kv: Any) -> None:
    kv.set("/DBS/LSST", "SOMETHING ELSE")
    before = kv.revision()
    plan = build_plan(open_source(str(ZK)))
    with pytest.raises(ConflictError, match="/DBS/LSST"):
        write_plan(kv, plan)
    assert kv.revision() == before
    assert tree(kv) == {"/DBS": b"", "/DBS/LSST": b"SOMETHING ELSE"}
    rep = write_plan(kv, plan, overwrite=True)
    assert rep.written == len(plan.entries)
    assert tree(kv) == zk_truth()


class HidingStore:
    """A kv whose reads see none of the keys: as if they were created by someone else
    between the conflict check and the commit."""

    def __init__(self, kv: Any) -> None:
        self.kv = kv

    def getMany(self, keys: list[str]) -> dict[str, bytes]:
        return {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)


def test_concurrent_create_is_caught_by_the_transaction(kv: Any) -> None:
    kv.set("/misc/json", "created by someone else")
    before = kv.revision()
    plan = build_plan(open_source(str(ZK)))
    # /misc (created as the parent of /misc/json) is the first planned key that exists.
    with pytest.raises(qcss.KeyExistsError, match=r"'?/misc'?"):
        write_plan(HidingStore(kv), plan)
    assert kv.revision() == before
    assert tree(kv) == {"/misc": b"", "/misc/json": b"created by someone else"}


class FailingStore:
    """A kv whose n-th commit fails (as a lost connection would)."""

    def __init__(self, kv: Any, fail_at: int) -> None:
        self.kv = kv
        self.fail_at = fail_at
        self.commits = 0

    def transaction(self) -> Any:
        outer = self
        txn = self.kv.transaction()

        class Txn:
            def __getattr__(self, name: str) -> Any:
                return getattr(txn, name)

            def commit(self) -> int:
                outer.commits += 1
                if outer.commits == outer.fail_at:
                    raise qcss.ConnError("connection lost (injected)")
                return int(txn.commit())

        return Txn()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)


def test_batches_stop_report_and_resume(kv: Any) -> None:
    plan = build_plan(open_source(str(ZK)))
    with pytest.raises(PartialWriteError) as info:
        write_plan(FailingStore(kv, 3), plan, batch_size=50)
    rep = info.value.report
    assert rep.batches == 2 and rep.written == 100
    assert rep.last_committed_key == plan.entries[99][0]
    assert "--resume" in str(info.value) and repr(plan.entries[99][0]) in str(info.value)
    assert len(tree(kv)) >= 100  # two batches committed (plus implicit parents: none here)
    # Without --resume the committed keys are conflicts; with it they are skipped.
    with pytest.raises(ConflictError, match="--resume"):
        write_plan(kv, plan, batch_size=50)
    rep2 = write_plan(kv, plan, batch_size=50, resume=True)
    assert rep2.already_present == 100
    assert rep2.written == len(plan.entries) - 100
    assert tree(kv) == zk_truth()
    assert verify_plan(kv, plan).ok


def test_dry_run_writes_nothing(kv: Any) -> None:
    kv.set("/DBS/LSST", "other")
    before = kv.revision()
    assert run(source=str(ZK), url=None, kv=kv, dry_run=True, quiet=True) == 4
    assert run(source=str(ZK), url=None, kv=kv, dry_run=True, overwrite=True,
               quiet=True) == 0
    assert kv.revision() == before


def test_verify_detects_a_difference(kv: Any) -> None:
    plan = build_plan(open_source(str(ZK)))
    write_plan(kv, plan)
    kv.set("/DBS/LSST", "changed")
    kv.deleteKey("/misc/json")
    rep = verify_plan(kv, plan)
    assert rep.different == ["/DBS/LSST"] and rep.missing == ["/misc/json"]


def test_root_value(kv: Any, tmp_path: Path) -> None:
    p = tmp_path / "root.tsv"
    p.write_bytes(b"/\troot value\n/a\t1\n")
    assert run(source=str(p), url=None, kv=kv, verify=True, quiet=True) == 0
    assert kv.get("/") == b"root value"
    p.write_bytes(b"/\tanother\n/b\t1\n")
    with pytest.raises(Failure, match=r"other values .*: /;") as info:
        run(source=str(p), url=None, kv=kv, quiet=True)
    assert info.value.code == 4
    assert kv.get("/") == b"root value" and not kv.exists("/b")
    assert run(source=str(p), url=None, kv=kv, overwrite=True, quiet=True) == 0
    assert kv.get("/") == b"another"


def test_invalid_keys_block_unless_skipped(kv: Any, tmp_path: Path) -> None:
    p = tmp_path / "bad-keys.tsv"
    p.write_bytes(b"/ok\t1\n/a/../b\t2\n/x//y\t3\n")
    runner = CliRunner()
    res = runner.invoke(main, [str(p), "--to", "mem://"])
    assert res.exit_code == 7, res.output
    assert "'/a/../b'" in res.output and "'/x//y'" in res.output
    assert run(source=str(p), url=None, kv=kv, skip_invalid=True, quiet=True) == 0
    assert tree(kv) == {"/ok": b"1"}


def test_bad_input_exit_code_names_position(tmp_path: Path) -> None:
    p = tmp_path / "bad.tsv"
    p.write_bytes(b"/a\t1\n/b 2\n")
    res = CliRunner().invoke(main, [str(p), "--to", "mem://"])
    assert res.exit_code == 15
    assert f"{p}: line 2" in res.output


# ---------------------------------------------------------------------------------------------
# qcss dump and restore


def fill_awkward(kv: Any) -> None:
    txn = kv.transaction()
    txn.set("/", b"root\x00value")
    txn.create("/a", "text")
    txn.create("/a/bin", bytes(range(256)))
    txn.create("/a/bad-utf8", b"\xff\xfe\xc3(")
    txn.create("/a/empty", b"")
    txn.create("/a/nl", "line1\nline2\ttab \"quoted\" \\")
    txn.create("/ünï/名前", "värde")
    txn.create("/implicit/parent/child", "c")
    txn.commit()


def test_dump_restore_round_trip(store: Store, tmp_path: Path,
                                 request: pytest.FixtureRequest) -> None:
    """Awkward values through qcss's own dump and restore, into a second store of the same
    backend (and into mem://), byte-exact."""
    src = store.open()
    fill_awkward(src)
    text = dump_qcss(src)
    first = json.loads(text.splitlines()[0])
    assert first["format"] == "qcss-dump" and first["revision"] == src.revision()
    p = tmp_path / "dump.qcss"
    p.write_text(text, encoding="utf-8")
    full = {e.key: bytes(e.value) for e in src.snapshot("/").entries}
    assert full["/"] == b"root\x00value" and full["/implicit/parent"] == b""

    dst = qcss.open("mem://")
    assert run(source=str(p), url=None, kv=dst, fmt="qcss", verify=True, quiet=True) == 0
    assert {e.key: bytes(e.value) for e in dst.snapshot("/").entries} == full
    assert dump_qcss(dst) == text.replace(
        f'"revision": {src.revision()}', f'"revision": {dst.revision()}'
    )

    for second in make_store(store.backend, tmp_path / "second", request):
        again = second.open()
        res = CliRunner().invoke(
            restore_cmd, [str(p), "--verify"], obj=None, env={"QCSS_URL": second.url}
        ) if store.backend != "mem" else None
        if res is not None:
            assert res.exit_code == 0, res.output
            again = second.open()
        else:  # a mem:// URL opens a new empty store: restore through the library
            assert run(source=str(p), url=None, kv=again, fmt="qcss", verify=True,
                       quiet=True) == 0
        assert {e.key: bytes(e.value) for e in again.snapshot("/").entries} == full


@pytest.mark.shared_fixtures
def test_restore_command_as_css_admin_verb(tmp_path: Path) -> None:
    """restore_cmd and import_cmd run under css-admin's group, with its store."""
    from qcss.cli import cli

    src = qcss.open("mem://")
    fill_awkward(src)
    p = tmp_path / "dump.qcss"
    p.write_text(dump_qcss(src), encoding="utf-8")
    group = click.Group(commands=dict(cli.commands))
    group.params = cli.params
    group.callback = cli.callback
    group.add_command(restore_cmd, "restore")
    group.add_command(import_cmd, "import")
    target = qcss.open("mem://")
    res = CliRunner().invoke(group, ["restore", str(p), "--verify"], obj=target)
    assert res.exit_code == 0, res.output
    full = {e.key: bytes(e.value) for e in src.snapshot("/").entries}
    assert {e.key: bytes(e.value) for e in target.snapshot("/").entries} == full
    other = qcss.open("mem://")
    res = CliRunner().invoke(group, ["import", str(QSERV / "kvmap-2017.tsv")], obj=other)
    assert res.exit_code == 0, res.output
    assert len(tree(other)) == 115


def test_import_cmd_and_main_share_options() -> None:
    # The same migration options; css-migrate adds --version, css-admin's verb takes the
    # global -o/--read-only after it too.
    names = {p.name for p in main.params} - {"version"}
    assert names == {p.name for p in import_cmd.params} - {"output", "read_only"}
    assert {"dry_run", "verify", "overwrite", "resume", "prefix_map"} <= names


def _admin_group() -> click.Group:
    from qcss.cli import cli

    group = click.Group(commands=dict(cli.commands), params=cli.params, callback=cli.callback)
    group.add_command(import_cmd, "import")
    return group


@pytest.mark.shared_fixtures
def test_cli_dry_run_prefix_map_and_verify(kv: Any) -> None:
    group = _admin_group()
    runner = CliRunner()
    tsv = str(QSERV / "kvmap-2017.tsv")
    res = runner.invoke(group, ["import", tsv, "--prefix-map", "/DBS=/qserv/DBS", "--dry-run"],
                        obj=kv)
    assert res.exit_code == 0, res.output
    assert "keys read:          116" in res.output
    assert "would write 115 keys in one atomic transaction" in res.output
    assert kv.revision() == 0 and tree(kv) == {}
    res = runner.invoke(group, ["import", tsv, "--prefix-map", "/DBS=/qserv/DBS", "--verify"],
                        obj=kv)
    assert res.exit_code == 0, res.output
    assert "verified: 115 keys read back, all identical" in res.output
    got = tree(kv)
    assert "/DBS" not in got and got["/qserv/DBS/LSST"] == b"READY"
    assert got["/qserv"] == b""  # the implicit parent
    # Again: every key exists now with the same value: a no-op success.
    res = runner.invoke(group, ["import", tsv, "--prefix-map", "/DBS=/qserv/DBS"], obj=kv)
    assert res.exit_code == 0 and "115 keys already identical" in res.output, res.output
    res = runner.invoke(group, ["import", tsv, "--prefix-map", "/DBS=/qserv/DBS", "--resume"],
                        obj=kv)
    assert res.exit_code == 0 and "115 already present" in res.output
