"""Shared fixtures: one store per test on every backend.

``kv`` is parametrized over BACKENDS; every test that takes it runs once per
backend. ``store`` gives the URL and a way to reopen the same store (e.g.
read-only), so tests need not know which backend they run on. The stores and
the MySQL server come from the shipped harness, ``qcss.testing`` (one
implementation for this suite and for services testing against qcss).
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import qcss
from qcss.testing import Store, fresh_store
from qcss.testing.galera import GaleraCluster, galera_available, galera_cluster
from qcss.testing.mysql import Server

FIXTURES = Path(__file__).parent / "fixtures"  # the project's own (ZooKeeper)
# Qserv's data stays out of the repository: it is read from ../shared/fixtures
# (beside the repository root; present for every developer and in CI). Tests that
# read it are marked `shared_fixtures`: without it they skip with the reason, but
# fail in CI (CI set).
SHARED_FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
QSERV_DIR = SHARED_FIXTURES / "qserv"
QSERV_MAPS = SHARED_FIXTURES / "qserv-maps"
QSERV_JSON = QSERV_DIR / "kvmap-2017.json"
QSERV_TSV = QSERV_DIR / "kvmap-2017.tsv"

BACKENDS = ["mem", "sqlite", "mysql"]

# qcss's pytest plugin (qcss.testing.pytest_plugin) is loaded through its entry
# point when the package is installed; from a source tree (PYTHONPATH=python),
# or with plugin autoloading off, it is declared here.
if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") or "qcss" not in {
    ep.name for ep in importlib.metadata.entry_points(group="pytest11")
}:
    pytest_plugins = ["qcss.testing.pytest_plugin"]

__all__ = ["BACKENDS", "QSERV_DIR", "QSERV_JSON", "QSERV_MAPS", "QSERV_TSV", "SHARED_FIXTURES",
           "Store", "make_store", "read_tsv"]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared_fixtures") is None:
        return
    missing = [p for p in (QSERV_DIR, QSERV_MAPS) if not p.is_dir()]
    if not missing:
        return
    reason = (f"Qserv's fixtures are missing: {', '.join(map(str, missing))} "
              "(../shared/fixtures beside the repository)")
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


_SERVER: list[Server] = []  # the session's MySQL server, once found


def make_store(
    backend: str, tmp: Path, request: pytest.FixtureRequest | None = None
) -> Iterator[Store]:
    """A fresh store of `backend` (a generator: the store is cleaned up when it
    resumes). For mysql, `request` gives the session's server fixture."""
    server: Server | None = None
    if backend == "mysql":
        if request is not None:
            server = request.getfixturevalue("mysql_server")
        elif _SERVER:
            server = _SERVER[0]
        else:
            raise AssertionError("make_store('mysql') needs the request outside a mysql test")
    elif backend not in BACKENDS:
        raise AssertionError(f"unknown backend {backend}")
    with fresh_store(backend, tmp, server=server) as store:
        yield store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path, request)


@pytest.fixture(scope="session")
def mysql_server(qcss_mysql_server: Server) -> Iterator[Server]:
    """The session's MariaDB/MySQL server: qcss.testing's ``qcss_mysql_server``
    ($QCSS_TEST_MYSQL_URL, else 127.0.0.1:3306, else a throwaway mariadbd; with
    $CI set, no server fails the tests instead of skipping)."""
    _SERVER.append(qcss_mysql_server)
    try:
        yield qcss_mysql_server
    finally:
        _SERVER.clear()


@pytest.fixture(scope="session")
def galera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GaleraCluster]:
    """A private 3-node Galera cluster (qcss.testing.galera), shared by the session's
    Galera tests. Needs galera-4, mariadb-server and rsync (scripts/setup-test.sh);
    with $CI set, missing packages fail the tests instead of skipping them."""
    why = galera_available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"Galera tests cannot run: {why}")
        pytest.skip(why)
    with galera_cluster(3, base=tmp_path_factory.mktemp("galera")) as c:
        yield c


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
