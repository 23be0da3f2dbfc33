"""Shared fixtures: one store per test on every backend.

``kv`` is parametrized over BACKENDS; every test that takes it runs once per
backend. ``store`` gives the URL and a way to reopen the same store (e.g.
read-only), so tests need not know which backend they run on.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mysql_server as mysqld
import pytest

import qcss

FIXTURES = Path(__file__).parent / "fixtures"
QSERV_JSON = FIXTURES / "qserv" / "kvmap-2017.json"
QSERV_TSV = FIXTURES / "qserv" / "kvmap-2017.tsv"

BACKENDS = ["mem", "sqlite", "mysql"]


@dataclass
class Store:
    """A fresh store of one backend for one test."""

    backend: str
    url: str
    tmp: Path

    def with_params(self, **params: str) -> str:
        sep = "&" if "?" in self.url else "?"
        return self.url + sep + urllib.parse.urlencode(params)

    def open(self, readOnly: bool = False, **params: str) -> qcss.KvInterface:
        return qcss.open(self.with_params(**params) if params else self.url, readOnly=readOnly)

    def reopen(self, kv: qcss.KvInterface, readOnly: bool = False) -> qcss.KvInterface:
        """The same data through a new handle. An in-memory store cannot be
        shared, so for mem the data travels through a Qserv dump file."""
        if self.backend != "mem":
            return self.open(readOnly=readOnly)
        path = self.tmp / "reopen.json"
        path.write_text(kv.dumpKV(), encoding="utf-8")
        return qcss.open(f"mem://{path}", readOnly=readOnly)


_SERVER: list[mysqld.Server] = []  # the session's MySQL server, once found


def make_store(
    backend: str, tmp: Path, request: pytest.FixtureRequest | None = None
) -> Iterator[Store]:
    """A fresh store of `backend` (a generator: the store is cleaned up when it
    resumes). For mysql, `request` gives the session's server fixture."""
    if backend == "mem":
        yield Store(backend, "mem://", tmp)
        return
    if backend == "sqlite":
        # A fresh file: the library creates the schema itself.
        yield Store(backend, f"sqlite://{tmp}/css.db", tmp)
        return
    if backend == "mysql":
        if request is not None:
            server: mysqld.Server = request.getfixturevalue("mysql_server")
        elif _SERVER:
            server = _SERVER[0]
        else:
            raise AssertionError("make_store('mysql') needs the request outside a mysql test")
        with server.fresh_database() as url:
            yield Store(backend, url, tmp)
        return
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path, request)


@pytest.fixture(scope="session")
def mysql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mysqld.Server]:
    """A MariaDB/MySQL server for the whole session: $QCSS_TEST_MYSQL_URL, else
    127.0.0.1:3306 if it answers, else a throwaway mariadbd started here. With
    $CI set, a server that cannot be had fails the tests instead of skipping."""
    try:
        server = mysqld.find_or_start(tmp_path_factory.mktemp("mariadb"))
    except mysqld.NoServer as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI: no MySQL server for the mysql tests: {exc}")
        pytest.skip(f"no MySQL server: {exc}")
    _SERVER.append(server)
    try:
        yield server
    finally:
        _SERVER.clear()
        server.stop()


@pytest.fixture
def kv(store: Store) -> qcss.KvInterface:
    return store.open()


@pytest.fixture(autouse=True)
def _isolated_default_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the user's real default store."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if "QCSS_URL" in os.environ:
        monkeypatch.delenv("QCSS_URL")


def read_tsv(path: Path) -> dict[str, bytes]:
    """Qserv's old TSV dump (key<TAB>value, \\N for empty): the test's own reader."""
    out: dict[str, bytes] = {}
    for line in path.read_bytes().decode("utf-8").splitlines():
        key, _, value = line.partition("\t")
        out[key] = b"" if value == "\\N" else value.encode("utf-8")
    return out
