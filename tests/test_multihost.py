"""Multi-host mysql:// URLs (mysql://u@h1:3306,h2:3306,h3/db): parsing, the failover
policy, and (on the session's Galera cluster) skipping a node that is not Synced."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator

import pymysql
import pytest

import qcss
import qcss.schema
from qcss.testing.galera import GaleraCluster
from qcss.testing.mysql import Server, _free_port

pytestmark = pytest.mark.mysql


@pytest.fixture
def db(mysql_server: Server) -> Iterator[tuple[Server, str, str]]:
    """(server, its host:port, a fresh database's name)."""
    with mysql_server.fresh_database() as url:
        p = urllib.parse.urlsplit(url)
        yield mysql_server, p.netloc.rsplit("@", 1)[-1], p.path.lstrip("/")


def _url(server: Server, hosts: str, database: str, options: str = "") -> str:
    p = urllib.parse.urlsplit(server.base_url)
    cred = p.netloc.rsplit("@", 1)[0] + "@" if "@" in p.netloc else ""
    q = server.query.lstrip("?")
    opts = "&".join(o for o in (q, options) if o)
    return f"mysql://{cred}{hosts}/{database}" + (f"?{opts}" if opts else "")


def test_a_dead_first_host_is_skipped(db: tuple[Server, str, str]) -> None:
    server, hostport, name = db
    dead = f"127.0.0.1:{_free_port()}"
    kv = qcss.open(_url(server, f"{dead},{hostport}", name))
    kv.create("/a", b"1")
    assert kv.get("/a") == b"1"
    assert kv.url().startswith("mysql://")


def test_a_last_host_without_port_takes_the_default_port() -> None:
    dead = f"127.0.0.1:{_free_port()}"
    with pytest.raises(qcss.ConnError) as err:
        qcss.open(f"mysql://root@{dead},nonexistent.invalid/db?connect_timeout=2")
    text = str(err.value)
    assert dead in text and "nonexistent.invalid:3306" in text
    assert "bad port" not in text


@pytest.mark.parametrize(("url", "match"), [
    ("mysql://root@h1:3306,,h3/db", "empty host"),
    ("mysql://root@h1:33x6,h2/db", "bad port"),
    ("mysql://root@h1,h2/db?failover=nearest", "failover"),
    ("mysql://root@h1,h2/db?sync_wait=99", "sync_wait"),
    ("mysql://root@h1,h2/db?role=leader", "role"),
])
def test_bad_host_lists_and_options_are_config_errors(url: str, match: str) -> None:
    with pytest.raises(qcss.ConfigError, match=match):
        qcss.open(url)


def test_the_password_of_a_host_list_is_masked() -> None:
    assert qcss.maskUrl("mysql://u:pw@h1:1,h2/db") == "mysql://u:***@h1:1,h2/db"


def test_random_failover_reaches_the_live_host_from_either_start(
        db: tuple[Server, str, str]) -> None:
    server, hostport, name = db
    dead = f"127.0.0.1:{_free_port()}"
    for _ in range(8):
        kv = qcss.open(_url(server, f"{dead},{hostport}", name, "failover=random"))
        assert kv.revision() >= 0


def test_role_replica_is_read_only(db: tuple[Server, str, str]) -> None:
    server, hostport, name = db
    qcss.open(_url(server, hostport, name)).create("/x", b"1")
    kv = qcss.open(_url(server, hostport, name, "role=replica"))
    assert kv.readOnly()
    assert kv.get("/x") == b"1"
    with pytest.raises(qcss.ReadonlyCss):
        kv.set("/x", b"2")


def _connections(galera: GaleraCluster, node: int, database: str) -> int:
    conn = galera.nodes[node].connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s",
                        (database,))
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


@pytest.mark.galera
@pytest.mark.slow
def test_a_desynced_galera_node_is_skipped(galera: GaleraCluster) -> None:
    name = "qcss_desync"
    conn = galera.nodes[0].connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {name}")
        qcss.schema.init(galera.url(0, database=name))
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL wsrep_desync = ON")
        deadline = time.monotonic() + 30
        while galera.nodes[0].synced():
            assert time.monotonic() < deadline, "node 0 did not desync"
            time.sleep(0.1)  # polling the node's state
        kv = qcss.open(galera.url(0, 1, 2, database=name))
        kv.create("/k", b"v")
        assert _connections(galera, 0, name) == 0
        assert _connections(galera, 1, name) >= 1
    finally:
        try:
            with conn.cursor() as cur:
                cur.execute("SET GLOBAL wsrep_desync = OFF")
                cur.execute(f"DROP DATABASE IF EXISTS {name}")
        except pymysql.MySQLError:
            pass
        conn.close()
    galera.wait_synced()
