"""Data never goes to the wrong store (issue 11.9): with QCSS_URL naming store A and
an explicit --url (or --to) naming store B, every writing css-admin command writes
to B, leaves A untouched, and names its target on stderr (or, for `schema`, in
its summary)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import qcss
from conftest import QSERV_JSON


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def seed(url: str) -> None:
    kv = qcss.open(url)
    kv.set("/a", b"1")
    kv.set("/a", b"2")
    css = qcss.CssAccess(kv)
    css.createDb("db1", qcss.StripingParams(10, 3))
    css.createTable("db1", "t1", "(id INT)")


# (name, argv after the verb's position, files needed)
def commands(tmp: Path) -> list[tuple[str, list[str]]]:
    return [
        ("set", ["set", "/new", "v"]),
        ("create", ["create", "/new", "v"]),
        ("rm", ["rm", "/a"]),
        ("cp", ["cp", "/a", "/copy"]),
        ("db create", ["db", "create", "db2"]),
        ("db create-like", ["db", "create-like", "db2", "db1"]),
        ("db status", ["db", "status", "db1", "DO_NOT_USE"]),
        ("db drop", ["db", "drop", "db1"]),
        ("table create", ["table", "create", "db1", "t2", "--schema", "(id INT)"]),
        ("table status", ["table", "status", "db1", "t1", "DO_NOT_USE"]),
        ("table drop", ["table", "drop", "db1", "t1"]),
        ("node add", ["node", "add", "w1"]),
        ("compact", ["compact", "--keep-revisions", "1"]),
        ("lock", ["lock", "/a", "--", sys.executable, "-c", "pass"]),
        ("import", ["import", str(QSERV_JSON), "--prefix-map", "/=/imported"]),
        ("restore", ["restore", str(tmp / "dump.qcss")]),
    ]


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for p in (a, b):
        seed(f"sqlite://{p}?create=1")
    dump = subprocess.run([sys.executable, "-m", "qcss.cli", "--url", f"sqlite://{a}", "dump",
                           "--format", "qcss", "/a"], capture_output=True, check=True)
    (tmp_path / "dump.qcss").write_bytes(dump.stdout.replace(b'"/a"', b'"/restored"'))
    return a, b


def run(env_url: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QCSS_URL=env_url)
    return subprocess.run([sys.executable, "-m", "qcss.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


NAMES = [c[0] for c in commands(Path("/"))]


@pytest.mark.parametrize("where", ["global", "after-verb"])
@pytest.mark.parametrize("name", NAMES)
def test_explicit_url_wins_and_target_is_named(name: str, where: str, tmp_path: Path,
                                               stores: tuple[Path, Path]) -> None:
    a, b = stores
    argv = dict(commands(tmp_path))[name]
    url_b = f"sqlite://{b}"
    if where == "global":
        args = ["--url", url_b, *argv]
    elif "--" in argv:
        i = argv.index("--")
        args = [*argv[:i], "--url", url_b, *argv[i:]]
    else:
        args = [*argv, "--url", url_b]
    before_a, before_b = digest(a), qcss.open(url_b, readOnly=True)
    rev_b, compacted_b = before_b.revision(), before_b.compactedRevision()
    r = run(f"sqlite://{a}", args)
    assert r.returncode == 0, r.stderr
    assert digest(a) == before_a, "QCSS_URL's store was written"
    after_b = qcss.open(url_b, readOnly=True)
    assert (after_b.revision(), after_b.compactedRevision()) != (rev_b, compacted_b)
    assert f"target: {url_b}" in r.stderr, r.stderr


def test_to_wins_for_import(tmp_path: Path, stores: tuple[Path, Path]) -> None:
    a, b = stores
    before = digest(a)
    r = run(f"sqlite://{a}", ["import", str(QSERV_JSON), "--prefix-map", "/=/imported",
                              "--to", f"sqlite://{b}"])
    assert r.returncode == 0, r.stderr
    assert digest(a) == before
    assert qcss.open(f"sqlite://{b}").exists("/imported")


@pytest.mark.parametrize("verb", ["init", "upgrade"])
def test_schema_names_its_target(verb: str, tmp_path: Path, stores: tuple[Path, Path]) -> None:
    a, _ = stores
    c = tmp_path / "c.db"
    before = digest(a)
    r = run(f"sqlite://{a}", ["schema", verb, "--url", f"sqlite://{c}"]) if verb == "init" else \
        run(f"sqlite://{a}", ["--url", f"sqlite://{c}", "schema", verb])
    if verb == "upgrade":  # c does not exist yet: init it first, then upgrade names it too
        r = run(f"sqlite://{a}", ["--url", f"sqlite://{c}", "schema", "init"])
        r = run(f"sqlite://{a}", ["--url", f"sqlite://{c}", "schema", verb])
    assert r.returncode == 0, r.stderr
    assert str(c) in r.stdout
    assert digest(a) == before
    assert c.exists()
