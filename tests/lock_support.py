"""Helpers of the lock and lease tests: stores shared between processes, worker
processes (tests/lock_worker.py) and polling with a deadline.

``shared_url`` is a fixture over the backends whose store several processes can
open at once: a fresh SQLite file and a fresh MariaDB database (the server of
``QCSS_TEST_MYSQL_URL``, else root@127.0.0.1:3306; a test that cannot reach it
fails under CI, else is skipped). ``mem`` cannot be shared by processes: its
tests use threads.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

import pytest

import qcss
from qcss import schema

WORKER = Path(__file__).parent / "lock_worker.py"
T = TypeVar("T")


def mysql_server() -> str:
    url = os.environ.get("QCSS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql")
    p = urllib.parse.urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def _mysql_exec(server: str, sql: str) -> None:
    import pymysql

    p = urllib.parse.urlsplit(server)
    conn = pymysql.connect(host=p.hostname or "127.0.0.1", port=p.port or 3306,
                           user=urllib.parse.unquote(p.username or "root"),
                           password=urllib.parse.unquote(p.password or ""), connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.commit()
    finally:
        conn.close()


def _make_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "mem":
        yield "mem://"
        return
    if backend == "sqlite":
        url = f"sqlite://{tmp_path / 'css.db'}"
        schema.init(url)
        yield url
        return
    server = mysql_server()
    db = "qcss_l_" + secrets.token_hex(4)
    try:
        _mysql_exec(server, f"CREATE DATABASE {db}")
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no MariaDB server at {server}: {exc}")
        return
    try:
        url = f"{server}/{db}"
        schema.init(url)
        yield url
    finally:
        _mysql_exec(server, f"DROP DATABASE IF EXISTS {db}")


@pytest.fixture(params=["sqlite", "mysql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store several processes can open."""
    yield from _make_url(request.param, tmp_path)


@pytest.fixture(params=["mem", "sqlite", "mysql"])
def any_kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[qcss.KvInterface]:
    """One handle on a fresh store of each backend (threads share it)."""
    for url in _make_url(request.param, tmp_path):
        yield qcss.open(url)


def eventually(cond: Callable[[], T | None], limit: float, what: str, step: float = 0.01) -> T:
    """Poll `cond` until it returns a true value (returned) or `limit` seconds pass."""
    end = time.monotonic() + limit
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"not within {limit}s: {what}")
        time.sleep(step)


class Worker:
    """A worker process (tests/lock_worker.py) talking line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, bufsize=1)

    @property
    def stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def line(self) -> str:
        """The next line the worker prints (blocks until it does: no sleep)."""
        out = self.stdout.readline()
        if not out:
            raise AssertionError(f"worker exited ({self.proc.wait()}) without answering")
        return out.strip()

    def expect(self, word: str) -> list[str]:
        got = self.line().split()
        assert got and got[0] == word, f"expected {word!r}, got {got!r}"
        return got[1:]

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60) -> int:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        code = self.proc.wait(timeout)
        self.stdout.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()


def lease_expiry(kv: qcss.KvInterface, lease_id: int) -> float:
    """The store-clock expiry of a live lease."""
    for li in kv.leases():
        if li.id == lease_id:
            return li.expiresAt
    raise AssertionError(f"lease {lease_id} is not live")
