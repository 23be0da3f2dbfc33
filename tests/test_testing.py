"""qcss.testing, the harness shipped for services that test against qcss."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

import qcss
from qcss.testing import BACKENDS, Store, fresh_store
from qcss.testing.mysql import Server

pytest_plugins = ["pytester"]


def _databases(server: Server) -> set[str]:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            return {str(row[0]) for row in cur.fetchall()}
    finally:
        conn.close()


def test_qcss_store_fixture_runs_on_every_backend(
    qcss_store: Store, qcss_kv: qcss.KvInterface
) -> None:
    assert qcss_store.backend in BACKENDS
    assert qcss_kv.backend() == qcss_store.backend
    assert qcss_kv.revision() == 0
    assert not qcss_kv.exists("/")  # a fresh store: not even the implicit root
    qcss_kv.set("/a", "v")
    assert qcss_store.reopen(qcss_kv).get("/a") == b"v"


def test_fresh_mysql_store_gets_its_own_database_dropped_afterwards(
    mysql_server: Server, tmp_path: Path
) -> None:
    with fresh_store("mysql", tmp_path, server=mysql_server) as one, \
            fresh_store("mysql", tmp_path, server=mysql_server) as two:
        names = [urllib.parse.urlsplit(s.url).path.strip("/") for s in (one, two)]
        assert names[0] != names[1]
        assert set(names) <= _databases(mysql_server)
        one.open().set("/only/in/one", "x")
        assert not two.open().exists("/only/in/one")
        assert two.open().revision() == 0
    assert not set(names) & _databases(mysql_server)


def test_fresh_sqlite_store_lives_in_tmp_path(tmp_path: Path) -> None:
    with fresh_store("sqlite", tmp_path) as s:
        s.open().set("/k", "v")
        assert (tmp_path / "css.db").exists()
        assert s.open(readOnly=True).get("/k") == b"v"
        with pytest.raises(qcss.ReadonlyCss):
            s.open(readOnly=True).set("/k", "w")


def test_fresh_store_refuses_an_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown qcss backend 'zk'"), \
            fresh_store("zk", tmp_path):
        pass


def test_plugin_is_loaded_and_configurable(pytester: pytest.Pytester) -> None:
    """A user's project: the fixtures come from the installed plugin, qcss_backends
    chooses the backends."""
    pytester.makeini("[pytest]\nqcss_backends = mem sqlite\n")
    pytester.makepyfile(
        """
        def test_store(qcss_store, qcss_kv):
            qcss_kv.create("/x", "1")
            assert qcss_kv.backend() == qcss_store.backend
        """
    )
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_store?mem? PASSED*", "*test_store?sqlite? PASSED*"])


def test_plugin_rejects_an_unknown_backend(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nqcss_backends = mem oracle\n")
    pytester.makepyfile("def test_store(qcss_store):\n    pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*qcss_backends: unknown backend(s) oracle*"])
