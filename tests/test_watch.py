"""The change feed: watchers in Python and in other processes, on mem, SQLite
and MariaDB. Every wait is on a condition (an event, a queue, a process's exit,
a mirror's waitFor) with a timeout; nothing sleeps to synchronise."""

from __future__ import annotations

import json
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mysql_server as mysqld
import pytest
from click.testing import CliRunner
from feed_backends import MariaDB
from lock_support import eventually
from watch_procs import change_record, snapshot_record

import qcss
from qcss.cli import cli

PROCS = str(Path(__file__).with_name("watch_procs.py"))
WAIT = 60.0


@pytest.fixture(params=["sqlite", "mysql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store several processes can open."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feed.db'}?create=1"
    else:
        server: mysqld.Server = request.getfixturevalue("mysql_server")
        with server.fresh_database() as url:
            yield url


@pytest.fixture(params=["mem", "sqlite"])
def any_kv(request: pytest.FixtureRequest, tmp_path: Path) -> qcss.KvInterface:
    url = f"sqlite:///{tmp_path / 'w.db'}?create=1"
    return qcss.open("mem://" if request.param == "mem" else url)


class Collector:
    """What a watcher delivered; wait() blocks until a revision is reached."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.seen: list[qcss.Change] = []
        self.revisions: list[int] = []
        self.errors: list[tuple[BaseException, int]] = []
        self.resyncs: list[qcss.Snapshot] = []
        self.position = 0

    def __call__(self, changes: list[qcss.Change], revision: int) -> None:
        with self.cond:
            self.seen.extend(changes)
            self.revisions.append(revision)
            self.position = revision
            self.cond.notify_all()

    def on_error(self, exc: BaseException, attempt: int) -> None:
        with self.cond:
            self.errors.append((exc, attempt))
            self.cond.notify_all()

    def on_resync(self, snap: qcss.Snapshot) -> None:
        with self.cond:
            self.resyncs.append(snap)
            self.position = snap.revision
            self.cond.notify_all()

    def wait(self, revision: int, w: qcss.Watcher, timeout: float = WAIT) -> bool:
        # The watcher's own position also advances without a callback (past
        # changes outside the prefix, after a resync): re-check it every 50 ms.
        deadline = time.monotonic() + timeout
        with self.cond:
            while max(self.position, w.position) < revision:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.05))
            return True

    def wait_errors(self, n: int, timeout: float = WAIT) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.errors) >= n, timeout)


def records(changes: list[qcss.Change]) -> list[list[Any]]:
    return [change_record(c) for c in changes]


# ---- in one process -------------------------------------------------------------


def test_watch_delivers_every_change_once_in_order(any_kv: qcss.KvInterface) -> None:
    kv = any_kv
    col = Collector()
    with kv.watch("/", col, sinceRevision=0, interval=0.01) as w:
        kv.create("/a/b/c", "1")
        kv.set("/a/b/c", b"\xff\x00")
        with kv.transaction() as t:
            t.set("/x", "1").set("/y", "2").create("/a/z")
        kv.deleteKey("/a")
        rev = kv.revision()
        assert col.wait(rev, w)
    assert not w.running
    assert records(col.seen) == records(kv.changes(0))
    assert [c.revision for c in col.seen] == sorted(c.revision for c in col.seen)
    # the recursive delete reported every key of the subtree
    deleted = {c.key for c in col.seen if c.kind == qcss.ChangeKind.Delete}
    assert deleted == {"/a", "/a/b", "/a/b/c", "/a/z"}
    assert w.position == rev


def test_watch_from_now_and_prefix(any_kv: qcss.KvInterface) -> None:
    kv = any_kv
    kv.set("/p/old", "x")
    col = Collector()
    with kv.watch("/p", col, interval=0.01) as w:
        kv.set("/q", "1")
        kv.set("/p/new", "1")
        kv.set("/pp", "1")
        rev = kv.revision()
        assert col.wait(rev, w)
    assert [c.key for c in col.seen] == ["/p/new"]


def test_callback_exception_is_reported_not_redelivered(any_kv: qcss.KvInterface) -> None:
    kv = any_kv
    col = Collector()
    calls = [0]

    def callback(changes: list[qcss.Change], revision: int) -> None:
        calls[0] += 1
        col(changes, revision)
        if calls[0] == 1:
            raise RuntimeError("boom in callback")

    with kv.watch("/", callback, sinceRevision=0, interval=0.01, onError=col.on_error) as w:
        kv.set("/a", "1")
        assert col.wait_errors(1)
        kv.set("/b", "2")
        assert col.wait(kv.revision(), w)
    exc, _ = col.errors[0]
    assert isinstance(exc, RuntimeError) and "boom" in str(exc)
    assert [c.key for c in col.seen] == ["/a", "/b"]


def test_watch_bad_arguments(any_kv: qcss.KvInterface) -> None:
    with pytest.raises(qcss.InvalidKeyError):
        any_kv.watch("no-slash", lambda c, r: None)
    with pytest.raises(TypeError):
        any_kv.watch("/", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        any_kv.watch("/", lambda c, r: None, interval=-1)


def test_watch_rejects_wrong_arity_at_watch_time(kv: qcss.KvInterface) -> None:
    # Refused by watch() itself, not later on the poller thread (where it was
    # only logged and the batch counted as delivered).
    with pytest.raises(TypeError, match=r"callback must accept \(changes, revision\)"):
        kv.watch("/", lambda changes: None)  # type: ignore[arg-type,misc]
    with pytest.raises(TypeError, match="onError must accept"):
        kv.watch("/", lambda c, r: None, onError=lambda e: None)  # type: ignore[arg-type,misc]
    with pytest.raises(TypeError, match="onResync must accept"):
        kv.watch("/", lambda c, r: None, onResync=lambda: None)  # type: ignore[arg-type,misc]
    # Defaults, *args and bound methods are fine.
    seen: list[int] = []

    class Sink:
        def take(self, changes: list[qcss.Change], revision: int, extra: int = 0) -> None:
            seen.append(revision)

    with kv.watch("/", lambda *a: None), kv.watch("/", Sink().take, sinceRevision=0):
        kv.create("/a", b"1")
        rev = kv.revision()
        eventually(lambda: rev in seen, 10, "the bound method receives the batch")


def test_compaction_and_resync(any_kv: qcss.KvInterface) -> None:
    kv = any_kv
    for i in range(10):
        kv.set(f"/c/{i}", str(i))
    head = kv.revision()
    up_to, removed = kv.compactRetaining(keepRevisions=4)
    assert up_to == head - 4 and removed >= 6
    assert kv.compactedRevision() == up_to
    with pytest.raises(qcss.CompactedError) as info:
        kv.changes(0)
    assert info.value.oldestAvailable == up_to + 1
    # a poller that starts from 0 resynchronises from a snapshot, then follows
    col = Collector()
    with kv.watch("/c", col, sinceRevision=0, interval=0.01, onResync=col.on_resync,
                  onError=col.on_error) as w:
        assert col.wait(head, w)
        kv.set("/c/after", "x")
        assert col.wait(kv.revision(), w)
    assert len(col.resyncs) == 1 and col.resyncs[0].revision == head
    assert len(col.resyncs[0]) == 11  # /c and its 10 children
    assert [c.key for c in col.seen] == ["/c/after"]
    assert col.errors == []
    # without onResync the skip is reported as a CompactedError
    col2 = Collector()
    kv.compact(kv.revision())
    with kv.watch("/", col2, sinceRevision=1, interval=0.01, onError=col2.on_error) as w2:
        assert col2.wait_errors(1)
        assert col2.wait(kv.revision(), w2)
    assert isinstance(col2.errors[0][0], qcss.CompactedError)


def test_watcher_is_stopped_by_garbage_collection(any_kv: qcss.KvInterface) -> None:
    col = Collector()
    w = any_kv.watch("/", col, interval=3600)  # stop must not wait for the interval
    w.stop()
    assert not w.running
    w.stop()  # idempotent
    del w


# ---- several processes ----------------------------------------------------------------


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, PROCS, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_multiprocess_feed_is_complete(shared_url: str, tmp_path: Path) -> None:
    """4 writer processes; 2 pollers and 2 mirrors in other processes; at the end
    every poller saw every revision exactly once and in order, and every mirror
    equals the database at its revision."""
    kv = qcss.open(shared_url)
    kv.set("/w/ready", "1")  # the store exists before the followers open it
    followers: list[tuple[str, str, Path, subprocess.Popen[str]]] = []
    for role, prefix in [("poller", "/"), ("poller", "/w/1"), ("mirror", "/"), ("mirror", "/w/2")]:
        out = tmp_path / f"{role}-{len(followers)}.json"
        followers.append((role, prefix, out, start([role, shared_url, prefix, str(out)])))
    for _, _, _, p in followers:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    writers = [start(["writer", shared_url, str(i), "120"]) for i in range(4)]
    for p in writers:
        assert p.wait(timeout=300) == 0
    rev = kv.revision()
    for _, _, _, p in followers:
        assert p.stdin is not None
        p.stdin.write(f"{rev}\n")
        p.stdin.flush()
    for _, _, _, p in followers:
        assert p.wait(timeout=300) == 0
    log = kv.changes(0)
    revs = [c.revision for c in log]
    assert sorted(set(revs)) == list(range(1, rev + 1))  # gapless
    for role, prefix, out, _ in followers:
        data = json.loads(out.read_text())
        if role == "poller":
            assert data["seen"] == records(kv.changes(0, prefix)), prefix
            assert data["errors"] == []
        else:
            assert data == snapshot_record(kv.snapshot(prefix)), prefix
            assert data["revision"] == rev


# ---- a server restart under a watcher ---------------------------------------------------


@pytest.fixture(scope="module")
def own_mariadb() -> Iterator[MariaDB]:
    server = MariaDB()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.mark.slow
@pytest.mark.mysql
def test_server_restart_during_watching(own_mariadb: MariaDB) -> None:
    url = own_mariadb.database()
    kv = qcss.open(url + "?connect_timeout=2&read_timeout=5")
    col = Collector()
    errors: queue.Queue[BaseException] = queue.Queue()

    def on_error(exc: BaseException, attempt: int) -> None:
        errors.put(exc)
        col.on_error(exc, attempt)

    w = kv.watch("/", col, sinceRevision=0, interval=0.02, onError=on_error, maxBackoff=0.2)
    m = kv.mirror("/r", interval=0.02)
    try:
        for i in range(20):
            kv.set(f"/r/{i}", "before")
        assert col.wait(kv.revision(), w)
        own_mariadb.stop()
        exc = errors.get(timeout=WAIT)  # the watcher reports the outage
        assert isinstance(exc, qcss.ConnError)
        own_mariadb.start()
        for i in range(20):
            kv.set(f"/r/{i}", "after")  # the store reconnects
        kv.deleteKey("/r/3")
        rev = kv.revision()
        assert col.wait(rev, w)  # ... and so does the watcher, from where it was
        assert m.waitFor(rev, WAIT)
    finally:
        w.stop()
        m.stop()
    assert records(col.seen) == records(kv.changes(0))
    assert m.snapshot("/r").items() == kv.snapshot("/r").items()
    assert m.revision() == rev


# ---- the CLI ------------------------------------------------------------------------------


def test_cli_watch_history_compact(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}?create=1"
    kv = qcss.open(url)
    kv.set("/h/k", "1")
    kv.set("/h/k", "2")
    kv.set("/h/k/sub", "3")
    kv.set("/other", "x")
    runner = CliRunner()
    r = runner.invoke(cli, ["--url", url, "watch", "/h", "--since", "0", "--count", "4",
                            "-o", "json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.output.splitlines()]
    assert [(d["key"], d["kind"], d["value"]) for d in lines] == [
        ("/h", "put", ""), ("/h/k", "put", "1"), ("/h/k", "put", "2"), ("/h/k/sub", "put", "3")]
    r = runner.invoke(cli, ["--url", url, "-o", "json", "history", "/h/k"])
    assert r.exit_code == 0, r.output
    assert [d["value"] for d in json.loads(r.output)] == ["1", "2"]
    r = runner.invoke(cli, ["--url", url, "-o", "json", "history", "/h/k", "--subtree"])
    assert [d["key"] for d in json.loads(r.output)] == ["/h/k", "/h/k", "/h/k/sub"]
    r = runner.invoke(cli, ["--url", url, "history", "/h/k"])
    assert r.exit_code == 0 and "put /h/k = 2 (version 2" in r.output
    r = runner.invoke(cli, ["--url", url, "compact"])
    assert r.exit_code == 2
    r = runner.invoke(cli, ["--url", url, "-o", "json", "compact", "--keep-revisions", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["compactedRevision"] == kv.revision() - 1
    r = runner.invoke(cli, ["--url", url, "-o", "json", "compact", "--max-age", "3600"])
    assert json.loads(r.stdout)["removed"] == 0
    r = runner.invoke(cli, ["--url", url, "watch", "/", "--since", "1", "--count", "1"])
    assert r.exit_code == 0 and "resync" in r.output


def test_watcher_dropped_inside_its_own_callback(any_kv: qcss.KvInterface) -> None:
    """The last reference to a watcher may go away in its callback."""
    done = threading.Event()
    holder: dict[str, qcss.Watcher] = {}

    def callback(changes: list[qcss.Change], revision: int) -> None:
        holder.pop("w", None)  # drops the only reference, on the poller thread
        done.set()

    holder["w"] = any_kv.watch("/", callback, interval=0.01)
    any_kv.set("/x", "1")
    assert done.wait(WAIT)
    col = Collector()  # the process goes on working: a new watcher still delivers
    with any_kv.watch("/", col, interval=0.01) as w:
        any_kv.set("/y", "1")
        assert col.wait(any_kv.revision(), w)
    assert [c.key for c in col.seen] == ["/y"]


def test_a_store_restored_to_an_older_revision_is_resynced(tmp_path: Path) -> None:
    # Restore a copy of the tables taken at revision 2 under a running watcher:
    # the store's revision goes backwards, which only a restore can do.
    path = tmp_path / "restored.db"
    kv = qcss.open(f"sqlite:///{path}?create=1")
    kv.set("/r/a", "1")
    db = sqlite3.connect(path)
    for t in ("qcss_meta", "qcss_kv", "qcss_changes"):
        db.execute(f"CREATE TABLE bk_{t} AS SELECT * FROM {t}")
    db.commit()
    kv.set("/r/b", "2")
    kv.set("/r/c", "3")
    col = Collector()
    with kv.watch("/r", col, interval=0.01, onResync=col.on_resync, onError=col.on_error) as w:
        assert w.position == kv.revision() == 3
        db.executescript(
            "BEGIN IMMEDIATE;"
            "DELETE FROM qcss_kv; INSERT INTO qcss_kv SELECT * FROM bk_qcss_kv;"
            "DELETE FROM qcss_changes; INSERT INTO qcss_changes SELECT * FROM bk_qcss_changes;"
            "DELETE FROM qcss_meta; INSERT INTO qcss_meta SELECT * FROM bk_qcss_meta;"
            "COMMIT;"
        )
        with col.cond:
            assert col.cond.wait_for(lambda: col.resyncs, WAIT)
        snap = col.resyncs[0]
        assert snap.revision == 1 and [e.key for e in snap.entries] == ["/r", "/r/a"]
        assert kv.set("/r/d", "4") == 1  # the restored store goes on from revision 1
        assert col.wait(2, w)
    assert [c.key for c in col.seen] == ["/r/d"]
    assert col.errors == []
    db.close()
