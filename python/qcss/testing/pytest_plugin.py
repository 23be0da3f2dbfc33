"""pytest fixtures for testing a service against qcss.

Loaded automatically when qcss is installed (entry point ``pytest11``: ``qcss``); with
plugin autoloading disabled, add ``pytest_plugins = ["qcss.testing.pytest_plugin"]`` to
your top-level conftest.py.

- ``qcss_store``: a fresh :class:`qcss.testing.Store`, once per backend listed in the ini
  option ``qcss_backends`` (default: ``mem sqlite mysql``); a test that takes it runs once
  per backend.
- ``qcss_kv``: ``qcss_store.open()``.
- ``qcss_mysql_server`` (session): the MariaDB/MySQL server of ``qcss.testing.mysql``,
  found or started once. Without one the mysql tests are skipped, except with ``$CI`` set,
  where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import qcss
from qcss.testing import BACKENDS, Store, fresh_store
from qcss.testing.mysql import NoServer, Server, find_or_start

__all__ = ["qcss_backend", "qcss_kv", "qcss_mysql_server", "qcss_store"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "qcss_backends",
        "qcss backends the qcss_store fixture runs on (mem, sqlite, mysql)",
        type="args",
        default=list(BACKENDS),
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "qcss_backend" in metafunc.fixturenames:
        backends = list(metafunc.config.getini("qcss_backends"))
        unknown = sorted(set(backends) - set(BACKENDS))
        if unknown:
            raise pytest.UsageError(f"qcss_backends: unknown backend(s) {', '.join(unknown)}")
        metafunc.parametrize("qcss_backend", backends, indirect=True)


@pytest.fixture
def qcss_backend(request: pytest.FixtureRequest) -> str:
    """The backend of this run of the test (see qcss_backends)."""
    return str(request.param)


@pytest.fixture(scope="session")
def qcss_mysql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A MariaDB/MySQL server for the whole session: $QCSS_TEST_MYSQL_URL, else
    127.0.0.1:3306 if it answers, else a throwaway mariadbd started here. With
    $CI set, a server that cannot be had fails the tests instead of skipping."""
    try:
        server = find_or_start(tmp_path_factory.mktemp("mariadb"))
    except NoServer as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI: no MySQL server for the mysql tests: {exc}")
        pytest.skip(f"no MySQL server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def qcss_store(
    qcss_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Store]:
    """A fresh, empty store of each configured backend, cleaned up after the test."""
    server: Server | None = None
    if qcss_backend == "mysql":
        server = request.getfixturevalue("qcss_mysql_server")
    with fresh_store(qcss_backend, tmp_path, server=server) as store:
        yield store


@pytest.fixture
def qcss_kv(qcss_store: Store) -> qcss.KvInterface:
    """A handle on qcss_store."""
    return qcss_store.open()
