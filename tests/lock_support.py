"""Helpers of the lock and lease tests: stores shared between processes, worker
processes (tests/lock_worker.py) and polling with a deadline.

``shared_url`` is a fixture over the backends whose store several processes can
open at once: a fresh SQLite file and a fresh MariaDB database (conftest's
make_store and mysql_server). ``mem`` cannot be shared by processes: the tests
that run on every backend take conftest's ``kv`` and use threads.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

import pytest

import qcss
from conftest import make_store

WORKER = Path(__file__).parent / "lock_worker.py"
T = TypeVar("T")


@pytest.fixture(params=["sqlite", "mysql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store several processes can open (conftest's stores but mem)."""
    for store in make_store(request.param, tmp_path, request):
        yield store.url


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
