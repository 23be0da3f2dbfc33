"""css-admin's key-value verbs, through click's CliRunner, on every backend."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

import qcss
from conftest import QSERV_JSON
from qcss.cli import EXIT_CODES, cli


def run(kv: qcss.KvInterface | None, *args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), obj=kv, input=input)


def code_of(cls: type[BaseException]) -> int:
    return next(code for c, code, _ in EXIT_CODES if c is cls)


@pytest.mark.shared_fixtures
def test_ls_recursive_json_prints_the_tree() -> None:
    r = run(None, "--url", f"mem://{QSERV_JSON}", "-o", "json", "ls", "-R", "/")
    assert r.exit_code == 0, r.output
    tree = json.loads(r.output)
    assert tree == json.loads(QSERV_JSON.read_text(encoding="utf-8"))


@pytest.mark.shared_fixtures
def test_ls_and_get_text() -> None:
    url = f"mem://{QSERV_JSON}"
    r = run(None, "--url", url, "ls", "/DBS")
    assert r.output.split() == ["LSST", "rplante_PT1_2_u_pt12prod_im3000_qserv"]
    r = run(None, "--url", url, "get", "/DBS/LSST")
    assert r.output == "READY\n"


def test_set_get_create_stat_rm(kv: qcss.KvInterface) -> None:
    assert run(kv, "set", "/a/b", "hello").output == "/a/b version 1\n"
    assert run(kv, "get", "/a/b").output == "hello\n"
    assert run(kv, "set", "/a/b", "again", "--version", "1").output == "/a/b version 2\n"
    r = run(kv, "set", "/a/b", "x", "--version", "1")
    assert r.exit_code == code_of(qcss.VersionMismatchError)
    assert r.output.startswith("Error: ") and "/a/b" in r.output
    assert run(kv, "create", "--unique", "/a/seq_").output == "/a/seq_0000000001\n"
    st = json.loads(run(kv, "-o", "json", "stat", "/a/b").output)
    assert st["version"] == 2 and st["dataLength"] == 5
    assert run(kv, "rm", "/a").exit_code == 2  # has children: refused without -r
    assert kv.exists("/a")
    assert run(kv, "rm", "-r", "/a").exit_code == 0
    assert not kv.exists("/a")


def test_binary_values_are_shown_safely(kv: qcss.KvInterface) -> None:
    kv.set("/bin", b"\xff\x00ok")
    assert run(kv, "get", "/bin").output == "base64:/wBvaw==\n"
    out = json.loads(run(kv, "-o", "json", "get", "/bin").output)
    assert out == {"key": "/bin", "value": {"base64": "/wBvaw=="}}
    assert run(kv, "set", "/bin2", "base64:/wBvaw==").exit_code == 0
    assert kv.get("/bin2") == b"\xff\x00ok"
    assert run(kv, "set", "/stdin", "-", input=b"\x01\x02").exit_code == 0
    assert kv.get("/stdin") == b"\x01\x02"
    r = run(kv, "dump")
    assert r.exit_code == code_of(qcss.BadDumpError)
    assert "--format qcss" in r.output


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("get", "/missing"), qcss.NoSuchKey),
        (("get", "not/absolute"), qcss.InvalidKeyError),
        (("create", "/dup"), qcss.KeyExistsError),
        (("rm", "/"), qcss.InvalidKeyError),
        (("ls", "/missing"), qcss.NoSuchKey),
        (("ls", "-R", "/missing"), qcss.NoSuchKey),
    ],
)
def test_errors_have_distinct_exit_codes(
    kv: qcss.KvInterface, args: tuple[str, ...], error: type[BaseException]
) -> None:
    kv.create("/dup")
    r = run(kv, *args)
    assert r.exit_code == code_of(error)
    assert r.output.startswith("Error: ")


@pytest.mark.shared_fixtures
def test_read_only_exit_code() -> None:
    r = run(None, "--url", f"mem://{QSERV_JSON}", "--read-only", "set", "/x", "1")
    assert r.exit_code == code_of(qcss.ReadonlyCss)


def test_exit_codes_are_distinct_per_meaning() -> None:
    by_code: dict[int, set[str]] = {}
    for _, code, meaning in EXIT_CODES:
        by_code.setdefault(code, set()).add(meaning)
    assert all(len(m) == 1 for m in by_code.values())
    assert 0 not in by_code and 1 not in by_code and 2 not in by_code


def test_dump_prints_qserv_json(kv: qcss.KvInterface) -> None:
    kv.set("/d/x", "1")
    r = run(kv, "dump", "/d")
    assert json.loads(r.output) == {"/d/x": "1"}
