"""The operator's experience (issue 16): css-admin and css-migrate behave like etcdctl,
zk-shell and sqlite-utils. Real files, real processes; click's CliRunner or subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import qcss
from conftest import QSERV_JSON, Store
from qcss.cli import EXIT_CODES, cli
from qcss.migrate.cli import main as migrate_main

BIN = Path(sys.executable).parent


def run(*args: str, kv: qcss.KvInterface | None = None, input: str | None = None,
        env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), obj=kv, input=input, env=env)


def code_of(cls: type[BaseException]) -> int:
    return next(code for c, code, _ in EXIT_CODES if c is cls)


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A fresh SQLite store, made the documented way (`css-admin schema init`)."""
    u = f"sqlite:///{tmp_path}/css.db"
    r = run("schema", "init", "--url", u)
    assert r.exit_code == 0, r.output
    return u


# ---- 1. a typo must not create a store -------------------------------------------------


def test_missing_sqlite_store_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    r = run("--url", f"sqlite://{missing}", "ls", "/")
    assert r.exit_code == code_of(qcss.ConfigError), r.output
    assert "no SQLite store" in r.output and "css-admin schema init" in r.output
    assert not (tmp_path / "nonexistent").exists()
    # get on a mistyped file: not "the key does not exist"
    r = run("--url", f"sqlite://{tmp_path}/typo.db", "get", "/css_meta/version")
    assert r.exit_code == code_of(qcss.ConfigError), r.output
    assert not (tmp_path / "typo.db").exists()
    # read-only: not "server cannot be reached"
    r = run("--read-only", "--url", f"sqlite://{tmp_path}/typo.db", "ls", "/")
    assert r.exit_code == code_of(qcss.ConfigError) != code_of(qcss.ConnError), r.output


def test_sqlite_relative_path_trap_is_refused() -> None:
    r = run("--url", "sqlite://tmp/x.db", "ls", "/")
    assert r.exit_code == code_of(qcss.ConfigError)
    assert "sqlite:///tmp/x.db" in r.output and "relative" in r.output
    with pytest.raises(qcss.ConfigError):
        qcss.schema.status("sqlite://tmp/x.db")


def test_explicit_create_and_schema_init_make_stores(tmp_path: Path) -> None:
    made = f"sqlite://{tmp_path}/new/made.db"
    assert run("--url", made + "?create=1", "set", "/a", "1").exit_code == 0
    assert run("--url", made, "get", "/a").output == "1\n"
    inited = f"sqlite://{tmp_path}/inited.db"
    assert run("schema", "init", "--url", inited).exit_code == 0  # the hint's command
    assert run("--url", inited, "ls", "/").exit_code == 0


def test_the_default_location_is_created_without_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("QCSS_URL", raising=False)
    r = run("set", "/a", "1")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "data" / "qcss" / "css.db").exists()


# ---- 2. global options after the verb ---------------------------------------------------


def test_global_options_are_accepted_after_the_verb(url: str, tmp_path: Path) -> None:
    assert run("--url", url, "set", "/a", "1").exit_code == 0
    r = run("ls", "/", "--url", url, "-o", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == ["a"]
    r = run("db", "list", "-o", "json", "--url", url)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {}  # stderr: "target: ..." (CssAccess wrote its version)
    r = run("set", "/b", "2", "--url", url, "--read-only")
    assert r.exit_code == code_of(qcss.ReadonlyCss), r.output
    # the hint printed for a store without schema is a command that works
    other = f"sqlite://{tmp_path}/other.db"
    r = run("schema", "status", "--url", other, "-o", "json")
    assert json.loads(r.output)["current"] == 0
    assert not (tmp_path / "other.db").exists()  # status does not create it


# ---- 3. lock waits --------------------------------------------------------------------


def _css_admin(*args: str) -> list[str]:
    return [str(BIN / "css-admin"), *args]


def _wait_held(kv: qcss.KvInterface, key: str, proc: subprocess.Popen[str]) -> None:
    """Until the lock on key is held (the holder process reports nothing on its own)."""
    import time

    deadline = time.monotonic() + 30
    while not any(i.key == key and i.held for i in kv.locks(key)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the holder never got the lock"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_blocked_lock_says_who_holds_it_and_the_timeout_names_the_holder(url: str) -> None:
    kv = qcss.open(url)
    holder = subprocess.Popen(
        _css_admin("--url", url, "lock", "/DBS/X", "--purpose", "reload X", "--",
                   sys.executable, "-c", "import sys; sys.stdin.read()"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_held(kv, "/DBS/X", holder)
        waiter = subprocess.run(
            _css_admin("--url", url, "lock", "/DBS/X", "--timeout", "2.5", "--", "true"),
            capture_output=True, text=True, timeout=60)
        assert waiter.returncode == code_of(qcss.LockTimeout), waiter.stderr
        lines = waiter.stderr.splitlines()
        assert lines[0].startswith("waiting for lock on /DBS/X held by "), waiter.stderr
        assert "(reload X)" in lines[0] and f"pid {holder.pid}" in lines[0]
        assert "held by " in lines[-1] and "(reload X)" in lines[-1]  # the LockTimeout
    finally:
        _, err = holder.communicate("", timeout=60)
    assert holder.returncode == 0, err


@pytest.mark.slow
def test_the_holder_exits_non_zero_when_its_lock_was_broken(url: str) -> None:
    kv = qcss.open(url)
    holder = subprocess.Popen(
        _css_admin("--url", url, "lock", "/DBS/Y", "--", sys.executable, "-c",
                   "import sys; sys.stdin.read()"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_held(kv, "/DBS/Y", holder)
        r = run("--url", url, "break-lock", "/DBS/Y")
        assert r.exit_code == 0 and "removed 1 entry" in r.output
    finally:
        _, err = holder.communicate("", timeout=60)
    assert holder.returncode == code_of(qcss.LeaseExpired), err
    # broken while COMMAND ran ("lost"), or just before the grant committed ("removed")
    assert "lost" in err or "removed" in err, err


# ---- 4. formats ---------------------------------------------------------------------------


def test_restore_of_a_plain_dump_points_to_import(url: str, tmp_path: Path) -> None:
    assert run("--url", url, "set", "/a", "1").exit_code == 0
    plain = tmp_path / "plain.json"
    plain.write_text(run("--url", url, "dump").output, encoding="utf-8")
    r = run("--url", f"sqlite://{tmp_path}/x.db?create=1", "restore", str(plain))
    assert r.exit_code == code_of(qcss.BadDumpError)
    assert f"css-admin import {plain}" in r.output


def test_qserv_dump_is_one_key_per_line_without_the_lock_namespace(url: str) -> None:
    kv = qcss.open(url)
    kv.set("/a", "1")
    kv.set("/b", "2")
    with kv.lock("/a", ttl=30):
        r = run("--url", url, "dump")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert json.loads(out) == {"/a": "1", "/b": "2"}
    assert len(out.strip().splitlines()) == 4 and "/.qcss" not in out
    assert "lock namespace" in r.stderr


@pytest.mark.shared_fixtures
def test_importing_the_same_dump_twice_is_a_no_op_success(url: str) -> None:
    first = run("--url", url, "import", str(QSERV_JSON))
    assert first.exit_code == 0, first.output
    again = run("--url", url, "import", str(QSERV_JSON))
    assert again.exit_code == 0, again.output
    assert "already identical" in again.output


@pytest.mark.shared_fixtures
def test_dry_run_does_not_create_the_target(tmp_path: Path) -> None:
    target = tmp_path / "t.db"
    r = CliRunner().invoke(migrate_main, [str(QSERV_JSON), "--to",
                                          f"sqlite://{target}?create=1", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "would write" in r.output
    assert not target.exists()


def test_import_summary_counts_add_up(tmp_path: Path) -> None:
    src = tmp_path / "zkshell.json"
    # zk-shell format: the root "/" with an empty value, a reserved key, an invalid key
    src.write_text(json.dumps({"/": "", "/a": "1", "/a/b": "2", "/.qcss/x": "3",
                               "/bad//key": "4"}), encoding="utf-8")
    r = CliRunner().invoke(migrate_main, [str(src), "--dry-run", "--skip-invalid"])
    assert r.exit_code == 0, r.output
    counts = {}
    for line in r.output.splitlines():
        name, _, n = line.strip().rpartition(":")
        if n.strip().isdigit():
            counts[name.strip()] = int(n)
    read = counts.pop("keys read")
    assert read == 5
    assert sum(counts.values()) == read, r.output


def test_compact_dry_run_reports_what_the_run_removes(url: str) -> None:
    kv = qcss.open(url)
    for i in range(6):
        kv.set(f"/k{i % 2}", str(i))
    dry = json.loads(run("--url", url, "-o", "json", "compact", "--keep-revisions", "1",
                         "--dry-run").stdout)
    real = json.loads(run("--url", url, "-o", "json", "compact", "--keep-revisions", "1").stdout)
    assert dry["removed"] == real["removed"] == 5


def test_watch_since_beyond_the_head_says_so(url: str) -> None:
    r = run("--url", url, "watch", "/", "--since", "99", "--count", "1")
    assert r.exit_code == code_of(qcss.ConfigError)
    assert "beyond" in r.output and "compacted" not in r.output


# ---- 5. validation in the CSS verbs ----------------------------------------------------


def test_css_verbs_refuse_invalid_values_with_the_valid_ones(url: str) -> None:
    r = run("--url", url, "db", "create", "LSST", "--storage-class", "L9")
    assert r.exit_code == 2 and "L1, L2, L3" in r.output
    assert not qcss.open(url).exists("/DBS/LSST")
    assert run("--url", url, "db", "create", "LSST").exit_code == 0
    r = run("--url", url, "db", "status", "LSST", "typo_status")
    assert r.exit_code == 2 and "READY" in r.output and "PENDING_DROP:" in r.output
    assert run("--url", url, "db", "status", "LSST").output == "READY\n"
    assert run("--url", url, "db", "status", "LSST", "PENDING_DROP:1700000000").exit_code == 0
    assert run("--url", url, "db", "status", "LSST", "odd", "--force").exit_code == 0
    assert run("--url", url, "node", "add", "w").exit_code == 0
    r = run("--url", url, "node", "set-state", "w", "BOGUS")
    assert r.exit_code == 2 and "ACTIVE, INACTIVE, CREATING" in r.output
    assert run("--url", url, "table", "create", "LSST", "T", "--schema", "(id INT)").exit_code == 0
    r = run("--url", url, "chunk", "add", "LSST", "T", "1", "unknownNode")
    assert r.exit_code == 2 and "unknownNode" in r.output and "registered: w" in r.output
    assert qcss.CssAccess(qcss.open(url)).getChunks("LSST", "T") == {}
    assert run("--url", url, "chunk", "add", "LSST", "T", "1", "w").exit_code == 0


# ---- 6. output -----------------------------------------------------------------------


def test_output_formats_are_consistent_and_scriptable(url: str) -> None:
    kv = qcss.open(url)
    kv.set("/t/a", "1")
    kv.set("/t/bb", "x\ty")
    r = run("--url", url, "-o", "tsv", "ls", "-R", "/t")
    assert r.output == "key\tvalue\n/t/a\t1\n/t/bb\tx\\ty\n"
    r = run("--url", url, "-o", "table", "ls", "-R", "/t")
    assert r.output.splitlines() == ["key    value", "-----  -----", "/t/a   1", "/t/bb  x\ty"]
    st = run("--url", url, "status").output
    assert "readOnly:" in st and "false" in st and "False" not in st
    r = run("--url", url, "ls", "/t/a")
    assert r.stdout == "" and "(no keys under /t/a)" in r.stderr
    r = run("--url", url, "locks")
    assert r.stdout == "" and "(no locks on / or under it)" in r.stderr
    r = run("--url", url, "set", "/t/a", "2")
    assert r.stdout == "/t/a version 2\n"
    assert r.stderr == f"target: {url} (revision 2 -> 3)\n"
    assert run("--url", url, "get", "/t/a", "--print-value-only").output == "2\n"
    assert run("--url", url, "get", "/t/a", "-k").output == "/t/a\n2\n"
    r = run("--url", url, "rm", "/t")
    assert r.exit_code == 2 and "rm -r" in r.output and kv.exists("/t/a")
    r = run("--url", url, "rm", "-r", "/t")
    assert r.stdout.splitlines() == ["removed /t", "removed /t/a", "removed /t/bb"]
    assert run("--url", url, "history", "/never").exit_code == code_of(qcss.NoSuchKey)
    assert run("--url", url, "history", "/t/a").exit_code == 0  # deleted, still in the log
    assert run("--url", url, "db", "create", "A").exit_code == 0
    assert run("--url", url, "db", "create", "LONGER_NAME").exit_code == 0
    assert run("--url", url, "db", "list").output.splitlines() == [
        "A            READY", "LONGER_NAME  READY"]


# ---- 7. everyday verbs ---------------------------------------------------------------


def test_status_reports_the_store(url: str) -> None:
    kv = qcss.open(url)
    kv.set("/a", "1")
    with kv.lock("/a", ttl=30):
        data = json.loads(run("--url", url, "-o", "json", "status").output)
    assert data["backend"] == "sqlite" and data["url"] == url
    assert data["revision"] >= 1 and data["compactedRevision"] == 0
    assert data["schemaVersion"] == data["schemaLatest"] >= 1
    assert data["serverVersion"].startswith("SQLite ")
    assert data["locks"] == 1 and data["leases"] == 1 and data["keys"] >= 2
    assert data["nodes"] == []


def test_status_on_every_backend(store: Store) -> None:
    kv = store.open()
    kv.set("/a", "1")
    r = run("-o", "json", "status", kv=kv)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["backend"] == store.backend and data["revision"] == 1
    assert data["url"] == qcss.maskUrl(store.url) or store.backend == "mem"
    if store.backend == "mysql":
        assert data["schemaVersion"] == data["schemaLatest"] >= 1
        assert data["serverVersion"]  # e.g. 10.11.6-MariaDB
    table = run("-o", "table", "status", kv=kv).output.splitlines()
    assert table[0].split() == ["field", "value"] and any("backend" in r for r in table)


def test_tree_find_cp_diff(url: str, tmp_path: Path) -> None:
    kv = qcss.open(url)
    for k in ("/DBS/LSST/TABLES/Object", "/DBS/LSST/TABLES/Source", "/DBS/W/TABLES/Obj2"):
        kv.set(k, "READY")
    r = run("--url", url, "tree", "/DBS", "--depth", "2")
    assert r.output.splitlines() == ["/DBS", "  LSST", "    TABLES", "  W", "    TABLES"]
    r = run("--url", url, "find", "/DBS", "--name", "Obj*")
    assert r.output.splitlines() == ["/DBS/LSST/TABLES/Object", "/DBS/W/TABLES/Obj2"]
    assert run("--url", url, "cp", "-r", "/DBS/W", "/DBS/W2").exit_code == 0
    assert kv.get("/DBS/W2/TABLES/Obj2") == b"READY"
    assert run("--url", url, "cp", "/DBS/W", "/DBS/W2").exit_code == code_of(
        qcss.KeyExistsError)
    dump = tmp_path / "d.json"
    dump.write_text(run("--url", url, "dump").stdout, encoding="utf-8")
    r = run("diff", url, str(dump))
    assert r.exit_code == 0 and "no differences" in r.output
    kv.set("/DBS/W2/TABLES/Obj2", "DO_NOT_USE")
    kv.set("/new", "1")
    r = run("diff", str(dump), url)
    assert r.exit_code == 1
    assert r.output.splitlines() == ["~ /DBS/W2/TABLES/Obj2", "+ /new"]


def test_shell_runs_commands_from_a_pipe(url: str) -> None:
    p = subprocess.run(_css_admin("--url", url, "shell"), text=True, capture_output=True,
                       input="set /s 1\nget /s\nls /\nget /missing\nexit\n", timeout=60)
    assert p.stdout.splitlines() == ["/s version 1", "1", "s"]
    assert "does not exist" in p.stderr
    assert p.returncode == code_of(qcss.NoSuchKey)  # the last failure's


def test_shell_completes_keys_and_keeps_history_on_a_terminal(url: str, tmp_path: Path) -> None:
    import pty
    import select

    qcss.open(url).set("/DBS/LSST", "READY")
    qcss.open(url).set("/DBS/WISE", "READY")
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), TERM="dumb")
    pid, fd = pty.fork()
    if pid == 0:  # the child: css-admin shell on the pty
        os.execve(str(BIN / "css-admin"), _css_admin("--url", url, "shell"), env)
    seen = b""

    def until(needle: bytes) -> None:
        nonlocal seen
        while needle not in seen:
            ready, _, _ = select.select([fd], [], [], 30)
            assert ready, f"no {needle!r} in {seen!r}"
            seen += os.read(fd, 4096)

    until(b"css> ")
    os.write(fd, b"get /DB\t")
    until(b"S/")  # /DB completed as far as it is unique: /DBS/ (readline may ring first)
    os.write(fd, b"L\t\n")
    until(b"READY")
    os.write(fd, b"exit\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    hist = (tmp_path / "data" / "qcss" / "shell_history").read_text()
    assert "get /DBS/LSST" in hist


def test_bash_completion_of_keys_and_database_names(url: str) -> None:
    kv = qcss.open(url)
    kv.set("/DBS/LSST", "READY")
    kv.set("/DBS/LSST_2", "READY")

    def complete(words: str) -> list[str]:
        env = dict(os.environ, _CSS_ADMIN_COMPLETE="bash_complete", COMP_WORDS=words,
                   COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)),
                   QCSS_URL=url)
        p = subprocess.run([str(BIN / "css-admin")], env=env, capture_output=True, text=True,
                           timeout=60)
        return [line.split(",", 1)[1] for line in p.stdout.splitlines()]

    assert complete("css-admin get /DBS/LS") == ["/DBS/LSST", "/DBS/LSST_2"]
    assert complete("css-admin db show LSST_") == ["LSST_2"]
    assert "status" in complete("css-admin sta")
    script = run("completion", "bash").output
    assert "_CSS_ADMIN_COMPLETE" in script


# ---- 8. css-migrate ---------------------------------------------------------------------


def test_css_migrate_has_short_help_and_version() -> None:
    p = subprocess.run([str(BIN / "css-migrate"), "-h"], capture_output=True, text=True)
    assert p.returncode == 0 and "Usage: css-migrate" in p.stdout
    p = subprocess.run([str(BIN / "css-migrate"), "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and qcss.__version__ in p.stdout


def test_progress_bars_only_on_a_terminal(url: str, tmp_path: Path) -> None:
    # Piped (as here), a forced --progress stays quiet: tqdm draws only on a terminal.
    p = subprocess.run(_css_admin("--url", url, "dump", "--format", "qcss", "--progress"),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "dump:" not in p.stderr and "%" not in p.stderr


# ---- 9. startup -------------------------------------------------------------------------


def test_css_admin_get_does_not_import_sqlalchemy(url: str) -> None:
    code = ("import sys; from qcss.cli import cli; "
            f"cli(['--url', {url!r}, 'ls', '/'], standalone_mode=False); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'tenacity', 'pymysql', 'tqdm', 'kazoo')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


# ---- 11. Python niceties -------------------------------------------------------------


def test_reprs_named_compact_result_and_bytes_keys_on_mirrors(url: str) -> None:
    kv = qcss.open(url)
    kv.set("/a", "1")
    kv.set("/a", "2")
    with kv.grantLease(30, purpose="demo"):
        (lease,) = kv.leases()
        assert repr(lease).startswith("LeaseInfo(id=") and "purpose='demo'" in repr(lease)
    with kv.lock("/a", ttl=30, purpose="why") as lk:
        (info,) = kv.locks("/a")
        assert "owner=" in repr(info) and "purpose='why'" in repr(info)
        assert lk.token > 0
    (change, *_) = kv.changes(0, "/a")
    assert repr(change).startswith("Change(revision=1, kind=put, key=/a")
    assert repr(kv.getStat("/a")).startswith("KeyStat(version=2")
    res = kv.compactRetaining(keepRevisions=1, dryRun=True)
    assert isinstance(res, qcss.CompactResult) and res.removed == res[1] >= 1
    assert repr(res).startswith("CompactResult(upToRevision=")
    m = kv.mirror("/")
    assert m.waitFor(kv.revision(), 10)
    assert m.get(b"/a") == m.get("/a") == b"2"
    assert m.get(b"/nope", None) is None
