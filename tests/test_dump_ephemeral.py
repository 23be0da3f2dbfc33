"""The lossless dump and restore leave out what must not outlive its owner: the lock
namespace (/.qcss) and the keys bound to leases. Checked on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import qcss
from conftest import Store, make_store
from qcss.cli import cli
from qcss.migrate.cli import dump_qcss, run
from qcss.migrate.plan import RESERVED_ROOT, SKIP_RESERVED


def everything(kv: qcss.KvInterface) -> dict[str, bytes]:
    return {e.key: bytes(e.value) for e in kv.snapshot("/").entries}


def under(key: str, root: str) -> bool:
    return key == root or key.startswith(root + "/")


def test_reserved_root_covers_the_lock_namespace() -> None:
    assert under(qcss.LOCK_ROOT, RESERVED_ROOT)
    assert under(qcss.LOCK_TOKEN_ROOT, RESERVED_ROOT)


def fill(kv: qcss.KvInterface) -> None:
    kv.set("/", b"root\x00value")
    kv.create("/DBS/LSST", "READY")
    kv.create("/misc/bin", bytes(range(256)))
    kv.create("/misc/bad-utf8", b"\xff\xfe\xc3(")
    kv.create("/ünï/名前", "värde")
    kv.create("/NODES/db01/state", "ACTIVE")


def test_dump_skips_locks_and_leases_and_restores_the_rest(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    src = store.open()
    fill(src)
    lease = src.grantLeaseId(60.0, "worker db01")
    src.create("/NODES/db01/alive", "1", lease=lease)
    src.create("/NODES/db01/alive/since", "now")  # no lease, but dies with its parent
    src.create("/NODES/db01/alive-x", "kept")  # sorts between alive and alive/since
    with src.lock("/DBS/LSST", ttl=60, purpose="test") as lk:
        assert lk.valid()
        before = everything(src)
        locked = [k for k in before if under(k, RESERVED_ROOT)]
        assert qcss.tokenKey(lk.token) in locked
        assert any(k.startswith(qcss.lockDir("/DBS/LSST")) for k in locked)
        assert src.getStat("/NODES/db01/alive").lease == lease

        res = CliRunner().invoke(cli, ["dump", "--format", "qcss"], obj=src)
        assert res.exit_code == 0, res.output
        text = res.stdout
        assert f"skipped {len(locked) + 2} key(s)" in res.stderr
        assert f"{len(locked)} lock namespace" in res.stderr
        assert "2 bound to a lease" in res.stderr
        assert text == dump_qcss(src)

    expected = {
        k: v for k, v in before.items()
        if not under(k, RESERVED_ROOT) and not under(k, "/NODES/db01/alive")
    }
    dumped = [json.loads(line) for line in text.splitlines()[1:-1]]
    assert [d["k"] for d in dumped] == sorted(expected, key=lambda k: k.encode())
    assert json.loads(text.splitlines()[-1]) == {"end": True, "keys": len(expected)}

    path = tmp_path / "dump.qcss"
    path.write_text(text, encoding="utf-8")
    for second in make_store(store.backend, tmp_path / "second", request):
        dst = second.open()
        assert run(source=str(path), url=None, kv=dst, fmt="qcss", verify=True,
                   quiet=True) == 0
        assert everything(dst) == expected
        assert dst.locks("/") == []
        assert not dst.exists(RESERVED_ROOT)
        # Nothing holds the lock in the restored store: it is free at once.
        with dst.lock("/DBS/LSST", timeout=0):
            pass


def test_include_ephemeral_dumps_them_and_restore_still_skips_locks(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    src = store.open()
    fill(src)
    lease = src.grantLeaseId(60.0)
    src.create("/NODES/db01/alive", "1", lease=lease)
    with src.lock("/DBS/LSST", ttl=60):
        full = everything(src)
        res = CliRunner().invoke(
            cli, ["dump", "--format", "qcss", "--include-ephemeral"], obj=src
        )
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    dumped = {json.loads(line)["k"] for line in res.stdout.splitlines()[1:-1]}
    assert dumped == set(full)
    locked = {k for k in full if under(k, RESERVED_ROOT)}
    assert locked

    path = tmp_path / "dump.qcss"
    path.write_text(res.stdout, encoding="utf-8")
    for second in make_store(store.backend, tmp_path / "second", request):
        dst = second.open()
        assert run(source=str(path), url=None, kv=dst, fmt="qcss", verify=True) == 0
        out = capsys.readouterr().out
        assert f"skipped, {SKIP_RESERVED}: {len(locked)}" in out
        # The lock namespace is refused; the lease-bound key was asked for and is kept,
        # as a plain key (it has no lease in the target).
        assert everything(dst) == {k: v for k, v in full.items() if k not in locked}
        assert dst.getStat("/NODES/db01/alive").lease == 0
        assert dst.locks("/") == []


def test_import_of_any_format_skips_the_lock_namespace(kv: qcss.KvInterface,
                                                       tmp_path: Path) -> None:
    """A Qserv JSON dump taken while a lock was held (dumpKV of "/" leaves /.qcss
    out; an older dump, or one of /.qcss added by hand, has it) imports without the
    lock entries."""
    src = qcss.open("mem://")
    src.create("/DBS/LSST", "READY")
    with src.lock("/DBS/LSST"):
        assert RESERVED_ROOT not in json.loads(src.dumpKV())
        tree = json.loads(src.dumpKV())
        tree.update({k: v.decode() for k, v in src.snapshot(RESERVED_ROOT).items()})
        path = tmp_path / "qserv.json"
        path.write_text(json.dumps(tree), encoding="utf-8")
    assert RESERVED_ROOT in json.loads(path.read_text())
    res = CliRunner().invoke(cli, ["import", str(path)], obj=kv)
    assert res.exit_code == 0, res.output
    assert SKIP_RESERVED in res.output
    assert not kv.exists(RESERVED_ROOT)
    assert kv.get("/DBS/LSST") == b"READY"
