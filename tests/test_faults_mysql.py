"""Fault tests against a private MariaDB server (issue 11): queries and connections
killed from a second connection while the store reads and writes, the server
SIGKILLed and restarted, idle connections closed by the server, a client
SIGKILLed in the middle of a transaction.

Each asserts what docs/operations.md ("Failure behaviour") promises: no
acknowledged write is lost, no transaction is half-applied, every error is a
typed qcss error with a message, and a watcher sees exactly the log.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
import pytest

import qcss
from qcss.testing.mysql import NoServer, Server, private_server

pytestmark = pytest.mark.mysql

KEYS = 400
VALUE = b"v" * 300


@contextmanager
def _private(tmp: Path) -> Iterator[Server]:
    """private_server(tmp); without mariadbd a skip, or a failure when CI is set."""
    try:
        with private_server(tmp) as s:
            yield s
    except NoServer as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no private mariadbd could be started: {exc}")
        pytest.skip(f"no private mariadbd: {exc}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with _private(tmp_path_factory.mktemp("mariadb")) as s:
        yield s


class Feed:
    """What a watcher of `prefix` delivers from revision `start`, as (revision, key)."""

    def __init__(self, kv: qcss.KvInterface, prefix: str, start: int) -> None:
        self.kv, self.prefix, self.start = kv, prefix, start
        self.seen: list[tuple[int, str]] = []
        self.watcher = kv.watch(prefix, self._on, sinceRevision=start, interval=0.05,
                                onError=lambda exc, n: None)

    def _on(self, batch: list[qcss.Change], rev: int) -> None:
        self.seen.extend((c.revision, c.key) for c in batch)

    def check_exact(self) -> None:
        """Wait until the watcher caught up with the log, then compare."""
        log = [(c.revision, c.key) for c in self.kv.changes(self.start, self.prefix)]
        _wait_for(lambda: len(self.seen) >= len(log), "the watcher to catch up")
        self.watcher.stop()
        assert self.seen == log


@pytest.fixture
def db(server: Server) -> Iterator[str]:
    with server.fresh_database() as url:
        yield url


def _db_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def _with(url: str, **params: object) -> str:
    sep = "&" if "?" in url else "?"
    return url + sep + "&".join(f"{k}={v}" for k, v in params.items())


def _typed(exc: BaseException) -> None:
    """A fault must surface as a qcss error of a specific type, with a message."""
    assert isinstance(exc, qcss.CssError), repr(exc)
    assert type(exc) is not qcss.CssError, f"untyped: {exc!r}"
    assert str(exc).strip(), repr(exc)


class Killer(threading.Thread):
    """Kills the queries (KILL QUERY) or connections (KILL CONNECTION) of one
    database from a connection of its own, at random moments, until stopped."""

    def __init__(self, server: Server, database: str, how: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.server, self.database, self.how = server, database, how
        self.done = threading.Event()
        self.kills = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(11)
        try:
            conn = self.server.connect()
            with conn.cursor() as cur:
                while not self.done.is_set():
                    cur.execute(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE db = %s AND id <> CONNECTION_ID()",
                        (self.database,),
                    )
                    for (ident,) in cur.fetchall():
                        try:
                            cur.execute(f"KILL {rng.choice(self.how)} {int(ident)}")
                            self.kills += 1
                        except pymysql.MySQLError:
                            pass  # gone already
                    # Pacing (not synchronisation): let some calls get through.
                    self.done.wait(rng.uniform(0, 0.02))
            conn.close()
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> None:
        self.done.set()
        self.join(30)
        assert not self.is_alive()
        if self.error is not None:
            raise self.error


def _fill(kv: qcss.KvInterface) -> dict[str, bytes]:
    t = kv.transaction()
    expected = {}
    for i in range(KEYS):
        key = f"/k/{i:05d}"
        t.create(key, VALUE + str(i).encode())
        expected[key] = VALUE + str(i).encode()
    t.commit()
    return expected


def _as_bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode()


def _reads(kv: qcss.KvInterface, expected: dict[str, bytes], rev: int) -> list[
        tuple[str, Callable[[], None]]]:
    keys = sorted(expected)

    def changes() -> None:
        ch = kv.changes(0)
        assert [c.key for c in ch if c.key.startswith("/k/")] == keys
        assert {c.revision for c in ch} == {rev}

    def snapshot() -> None:
        snap = kv.snapshot("/k")
        got = {k: _as_bytes(v) for k, v in snap.items() if k != "/k"}
        assert got == expected

    def get_many() -> None:
        got = {k: _as_bytes(v) for k, v in kv.getMany(keys).items()}
        assert got == expected

    def children_values() -> None:
        got = {"/k/" + k: _as_bytes(v) for k, v in kv.getChildrenValues("/k").items()}
        assert got == expected

    return [("changes", changes), ("snapshot", snapshot), ("getMany", get_many),
            ("getChildrenValues", children_values)]


@pytest.mark.parametrize("how", [("QUERY",), ("CONNECTION",), ("QUERY", "CONNECTION")])
def test_killed_reads_are_retried_or_typed(server: Server, db: str, how: tuple[str, ...]) -> None:
    """KILL QUERY / KILL CONNECTION while changes, snapshot, getMany and
    getChildrenValues fetch rows: each call returns the exact data (retried on a
    new connection) or, past the retry deadline, raises a typed error."""
    kv = qcss.open(_with(db, pool_size=2, retry_timeout=10))
    expected = _fill(kv)
    rev = kv.revision()
    reads = _reads(kv, expected, rev)
    killer = Killer(server, _db_name(db), how)
    killer.start()
    ok = failed = i = 0
    deadline = time.monotonic() + 60
    try:
        # At least 120 reads, and on until the killer has struck a few times (it
        # shares two cores with the reads: a fixed count once ended before any kill).
        while i < 120 or (killer.kills < 5 and time.monotonic() < deadline):
            name, read = reads[i % len(reads)]
            i += 1
            try:
                read()
                ok += 1
            except qcss.CssError as exc:
                _typed(exc)
                assert isinstance(exc, qcss.ConnError), f"{name}: {exc!r}"
                failed += 1
    finally:
        killer.stop()
    assert killer.kills > 0
    assert ok > 0
    # After the kills, every read works again on fresh connections.
    for _, read in reads:
        read()


def test_killed_writes_lose_nothing_acknowledged(server: Server, db: str) -> None:
    """Writers under KILL QUERY / KILL CONNECTION: every acknowledged write is in
    the store, every write is all there or absent (a transaction of two keys
    always has both), errors are typed, and a watcher sees exactly the log."""
    kv = qcss.open(_with(db, pool_size=2, retry_timeout=10))
    kv.create("/w", b"")
    feed = Feed(kv, "/w", kv.revision())
    killer = Killer(server, _db_name(db), ("QUERY", "CONNECTION"))
    killer.start()
    acked: dict[str, bytes] = {}
    unknown: set[str] = set()
    try:
        for i in range(150):
            a, b = f"/w/a{i:04d}", f"/w/b{i:04d}"
            val = str(i).encode()
            try:
                if i % 3 == 0:
                    kv.set(a, val)
                    acked[a] = val
                else:
                    t = kv.transaction()
                    t.set(a, val)
                    t.set(b, val)
                    t.commit()
                    acked[a] = acked[b] = val
            except qcss.CommitUnknownError as exc:
                _typed(exc)
                unknown.update((a, b))
            except qcss.CssError as exc:
                _typed(exc)
                assert isinstance(exc, qcss.ConnError), repr(exc)
    finally:
        killer.stop()
    assert killer.kills > 0
    final = {k: _as_bytes(v) for k, v in kv.getChildrenValues("/w").items()}
    final = {"/w/" + k: v for k, v in final.items()}
    for key, val in acked.items():
        assert final.get(key) == val, key
    for i in range(150):
        a, b = f"/w/a{i:04d}", f"/w/b{i:04d}"
        if i % 3 != 0:
            assert (a in final) == (b in final), f"half-applied transaction {i}"
    for key in final:
        assert key in acked or key in unknown, f"{key} written but never asked for"
    feed.check_exact()  # the watcher delivers exactly the log, in order


def _store_connections(server: Server, database: str) -> int:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.processlist "
                "WHERE db = %s AND id <> CONNECTION_ID()",
                (database,),
            )
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def _wait_for(cond: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling a real condition against a deadline


@pytest.mark.slow
def test_write_after_the_server_closed_idle_connections(server: Server, db: str) -> None:
    """The server closes pooled connections after wait_timeout (here 1 s): the
    next write, on the one-round-trip cached path and the general one, is sent
    on a new connection and succeeds (it is never CommitUnknownError: nothing
    had been sent), as are reads."""
    admin = server.connect()
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT @@global.wait_timeout")
            row = cur.fetchone()
            assert row is not None
            saved = int(row[0])
            cur.execute("SET GLOBAL wait_timeout = 1")
        try:
            kv = qcss.open(_with(db, pool_size=2))
            assert kv.set("/s", b"1") == 1
            assert kv.set("/s", b"2") == 2  # the row cache now knows /s
            for round_ in range(3):
                _wait_for(lambda: _store_connections(server, _db_name(db)) == 0,
                          "the server to close the idle connections")
                assert kv.set("/s", str(round_).encode()) == 3 + round_  # cached path
                _wait_for(lambda: _store_connections(server, _db_name(db)) == 0,
                          "the server to close the idle connections")
                kv.create(f"/n/{round_}", b"x")  # general path
                _wait_for(lambda: _store_connections(server, _db_name(db)) == 0,
                          "the server to close the idle connections")
                assert kv.get("/s") == str(round_).encode()
        finally:
            with admin.cursor() as cur:
                cur.execute(f"SET GLOBAL wait_timeout = {saved}")
    finally:
        admin.close()
    assert [c.key for c in kv.changes(0)] == [
        "/s", "/s", "/s", "/n", "/n/0", "/s", "/n/1", "/s", "/n/2"]


@pytest.mark.slow
def test_server_killed_and_restarted(tmp_path: Path) -> None:
    """SIGKILL of the server between writes and in the middle of them: calls
    made while it is down raise ConnError (typed) after the retry deadline or
    succeed once it is back; every acknowledged write survives the crash, no
    transaction is half-applied, the watcher's feed equals the log."""
    with _private(tmp_path / "mariadb") as server:
        with server.fresh_database() as url:
            kv = qcss.open(_with(url, pool_size=2, retry_timeout=3))
            kv.create("/r", b"")
            feed = Feed(kv, "/r", kv.revision())
            acked: dict[str, bytes] = {}
            unknown: set[str] = set()
            stop = threading.Event()
            errors: list[BaseException] = []

            def writer() -> None:
                i = 0
                while not stop.is_set():
                    a, b = f"/r/a{i:05d}", f"/r/b{i:05d}"
                    val = str(i).encode()
                    try:
                        t = kv.transaction()
                        t.set(a, val)
                        t.set(b, val)
                        t.commit()
                        acked[a] = acked[b] = val
                    except qcss.CommitUnknownError:
                        unknown.update((a, b))
                    except qcss.ConnError:
                        pass
                    except BaseException as exc:
                        errors.append(exc)
                        return
                    i += 1

            th = threading.Thread(target=writer)
            th.start()
            def more_acked() -> Callable[[], bool]:
                n = len(acked)
                return lambda: len(acked) > n + 20

            for _ in range(3):
                _wait_for(more_acked(), "writes to be acknowledged")
                server.kill()
                server.restart()
            _wait_for(more_acked(), "writes after the restart")
            stop.set()
            th.join(60)
            assert not th.is_alive()
            assert not errors, f"unexpected errors: {errors!r}"
            final = {"/r/" + k: _as_bytes(v) for k, v in kv.getChildrenValues("/r").items()}
            for key, val in acked.items():
                assert final.get(key) == val, f"acknowledged write lost: {key}"
            for key in final:
                assert key in acked or key in unknown, key
                other = key.replace("/r/a", "/r/b") if "/r/a" in key else key.replace(
                    "/r/b", "/r/a")
                assert other in final, f"half-applied transaction: {key}"
            feed.check_exact()


@pytest.mark.slow
def test_client_killed_mid_transaction(server: Server, db: str) -> None:
    """A writer process SIGKILLed while it writes two-key transactions, five
    times: every write it printed as acknowledged is there, no transaction is
    half there, and another client writes at once (the killed one's locks are
    freed with its connection)."""
    kv = qcss.open(_with(db, retry_timeout=10))
    script = Path(__file__).with_name("fault_client.py")
    acked: dict[str, int] = {}
    for tag in ("t0", "t1", "t2", "t3", "t4"):
        proc = subprocess.Popen([sys.executable, str(script), db, tag],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # blocks until the writer acknowledges
            lines.append(int(line))
            if len(lines) >= 10 + 7 * len(acked):
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        acked[tag] = lines[-1]
        kv.set("/after", tag.encode())  # not blocked by the dead client's transaction
    for tag, last in acked.items():
        got = kv.getChildrenValues(f"/c/{tag}")
        for i in range(last + 1):
            assert got.get(f"a{i:06d}") == str(i).encode() * 200, (tag, i)
        for name in got:
            other = ("b" if name[0] == "a" else "a") + name[1:]
            assert other in got, f"half-applied transaction: {tag}/{name}"
