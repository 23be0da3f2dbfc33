"""What only the SQL backends have: bad input down to the database, typed
connection/credential/schema errors, the schema runner and its CLI, the
embedded default store."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mysql_server as mysqld
import pymysql
import pytest
from click.testing import CliRunner

import qcss
import qcss.schema
from conftest import Store, make_store
from qcss.cli_schema import schema as schema_group


@pytest.fixture(params=["sqlite", "mysql"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path, request)


def _change_count(kv: qcss.KvInterface) -> int:
    return len(kv.changes(0))


# ---- bad input: a typed error and nothing half-written ------------------------

TRICKY = [
    "/q/it's",
    '/q/say "hi"',
    "/q/back\\slash",
    "/q/back\\",
    "/q/100%",
    "/q/%",
    "/q/_",
    "/q/a_b",
    "/q/'; DROP TABLE qcss_kv; --",
    "/q/\\'; SELECT 1; --",
    "/q/ünï/çødé",
    "/q/emoji 🚀",
]


def test_tricky_keys_round_trip_and_stay_exact(sql_store: Store) -> None:
    kv = sql_store.open()
    value = bytes(range(256)) + b"\x00'\"\\%_"
    for k in TRICKY:
        kv.create(k, value + k.encode())
    for k in TRICKY:
        assert kv.get(k) == value + k.encode()
    # LIKE wildcards are plain bytes: no other key matches them.
    kv.create("/w/aXb/c")
    kv.create("/w/a_b/c")
    kv.create("/w/a%b/c")
    assert kv.getChildren("/w/a_b") == ["c"]
    kv.deleteKey("/w/a_b")
    kv.deleteKey("/w/a%b")
    assert kv.getChildren("/w") == ["aXb"]
    assert set(kv.getMany([*TRICKY, "/q/100"]).keys()) == set(TRICKY)
    snap = kv.snapshot("/q")
    assert [e.key for e in snap.entries[1:]] == sorted(
        [k for k in TRICKY] + ["/q/ünï"], key=lambda s: s.encode()
    )


@pytest.mark.parametrize(
    "key",
    [
        b"/nul\x00byte".decode("latin-1"),
        "/trailing/",
        "//double",
        "/a/../b",
        "relative",
        "/" + "x" * 1024,
    ],
)
def test_invalid_keys_raise_before_touching_the_database(sql_store: Store, key: str) -> None:
    kv = sql_store.open()
    kv.set("/keep", "1")
    rev, n = kv.revision(), _change_count(kv)
    with pytest.raises(qcss.InvalidKeyError):
        kv.transaction().set("/half", "written").set(key, "v").commit()
    with pytest.raises(qcss.InvalidKeyError):
        kv.get(key)
    assert kv.revision() == rev
    assert _change_count(kv) == n
    assert not kv.exists("/half")


def test_oversized_value_changes_nothing(sql_store: Store) -> None:
    kv = sql_store.open()
    rev = kv.revision()
    with pytest.raises(qcss.ValueTooLargeError):
        huge = b"\x00" * (kv.maxValueSize() + 1)
        kv.transaction().create("/p/first", "ok").set("/p/huge", huge).commit()
    assert kv.revision() == rev
    assert not kv.exists("/p")
    assert kv.changes(0) == []


def test_largest_value_round_trips(sql_store: Store) -> None:
    kv = sql_store.open()
    assert kv.maxValueSize() == 16 * 1024 * 1024
    big = os.urandom(1 << 20) * 16
    assert len(big) == kv.maxValueSize()
    kv.set("/big", big)
    assert kv.get("/big") == big
    assert kv.getStat("/big").dataLength == len(big)
    assert kv.changes(0)[-1].value == big
    kv.set("/big", big[:-1])  # the one-round-trip overwrite path
    assert kv.get("/big") == big[:-1]


# ---- MySQL: credentials, connection, privileges -------------------------------


@pytest.fixture
def mysql_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[mysqld.Server, str]]:
    server: mysqld.Server = request.getfixturevalue("mysql_server")
    with server.fresh_database() as url:
        yield server, url


def _hostport(server: mysqld.Server) -> str:
    return server.base_url.split("@", 1)[1]


def test_wrong_password_is_auth_error_and_not_printed(mysql_db: tuple[mysqld.Server, str]) -> None:
    server, url = mysql_db
    db = url.rsplit("/", 1)[1].split("?")[0]
    secret = "s3cr3t-" + secrets.token_hex(4)
    with pytest.raises(qcss.AuthError) as exc:
        qcss.open(f"mysql://root:{secret}@{_hostport(server)}/{db}")
    assert secret not in str(exc.value)
    assert "***" in str(exc.value)


def test_server_down_is_conn_error(mysql_db: tuple[mysqld.Server, str]) -> None:
    port = mysqld._free_port()  # nothing listens there
    with pytest.raises(qcss.ConnError):
        qcss.open(f"mysql://root@127.0.0.1:{port}/qcss?connect_timeout=2")
    with pytest.raises(qcss.ConnError):
        qcss.schema.status(f"mysql://root@127.0.0.1:{port}/qcss?connect_timeout=2")


def test_missing_database_or_schema_is_schema_error(mysql_db: tuple[mysqld.Server, str]) -> None:
    server, _ = mysql_db
    name = "qcss_t_" + secrets.token_hex(6)
    with pytest.raises(qcss.SchemaError):
        qcss.open(server.url(name))
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        with pytest.raises(qcss.SchemaError, match="schema init"):
            qcss.open(server.url(name))
        st = qcss.schema.status(server.url(name))
        assert (st.current, st.latest) == (0, qcss.schema.latest_version("mysql"))
        assert st.pending == [f.name for f in qcss.schema.files("mysql")]
        qcss.schema.init(server.url(name))
        qcss.open(server.url(name)).set("/ok", "1")
        # A newer schema than the library, and an interrupted upgrade.
        with conn.cursor() as cur:
            cur.execute(f"UPDATE {name}.qcss_schema_version SET version = version + 98")
        with pytest.raises(qcss.SchemaError, match="newer"):
            qcss.open(server.url(name))
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM {name}.qcss_schema_version WHERE version > 99")
            cur.execute(f"UPDATE {name}.qcss_schema_version SET version = 1, dirty = 1")
        with pytest.raises(qcss.SchemaError, match="dirty"):
            qcss.open(server.url(name))
        with pytest.raises(qcss.SchemaError, match="dirty"):
            qcss.schema.upgrade(server.url(name))
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


def test_select_only_user_reads_a_read_only_store(mysql_db: tuple[mysqld.Server, str]) -> None:
    server, url = mysql_db
    db = url.rsplit("/", 1)[1].split("?")[0]
    qcss.open(url).set("/x", "1")
    user = "qcss_ro_" + secrets.token_hex(4)
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
            cur.execute(f"GRANT SELECT ON {db}.* TO '{user}'@'%'")
        ro_url = f"mysql://{user}:pw@{_hostport(server)}/{db}"
        ro = qcss.open(ro_url, readOnly=True)
        assert ro.get("/x") == b"1"
        assert ro.getChildren("/") == ["x"]
        assert ro.revision() == 1
        with pytest.raises(qcss.ReadonlyCss):
            ro.set("/x", "2")
        rw = qcss.open(ro_url)
        with pytest.raises(qcss.AuthError):
            rw.set("/x", "2")
        assert ro.get("/x") == b"1"
        assert ro.revision() == 1
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        conn.close()


def test_password_from_environment_and_option_file(
    mysql_db: tuple[mysqld.Server, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mysql_db
    db = url.rsplit("/", 1)[1].split("?")[0]
    user = "qcss_pw_" + secrets.token_hex(4)
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'from-elsewhere'")
            cur.execute(f"GRANT ALL ON {db}.* TO '{user}'@'%'")
        bare = f"mysql://{user}@{_hostport(server)}/{db}"
        monkeypatch.setenv("QCSS_MYSQL_PASSWORD", "from-elsewhere")
        assert qcss.open(bare).set("/env", "1") == 1
        monkeypatch.delenv("QCSS_MYSQL_PASSWORD")
        monkeypatch.delenv("MYSQL_PWD", raising=False)
        with pytest.raises(qcss.AuthError):
            qcss.open(bare)
        cnf = tmp_path / "my.cnf"
        cnf.write_text(f"[qcss]\nuser={user}\npassword=from-elsewhere\n")
        host, port = _hostport(server).split(":")
        via_file = f"mysql://{host}:{port}/{db}?read_default_file={cnf}&read_default_group=qcss"
        assert qcss.open(via_file).get("/env") == b"1"
        assert qcss.schema.status(via_file).up_to_date
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        conn.close()


# ---- SQLite: the embedded default -------------------------------------------


def test_embedded_default_store_needs_no_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = qcss.defaultUrl()
    assert url == f"sqlite://{tmp_path}/data/qcss/css.db"
    kv = qcss.open(url)
    kv.create("/DBS/LSST", "READY")
    assert qcss.open(url, readOnly=True).get("/DBS/LSST") == b"READY"
    st = qcss.schema.status(url)
    assert st.up_to_date and st.applied == [f.name for f in qcss.schema.files("sqlite")]
    mode = sqlite3.connect(tmp_path / "data" / "qcss" / "css.db").execute("PRAGMA journal_mode")
    assert mode.fetchone() == ("wal",)


def test_sqlite_schema_errors(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/s.db"
    qcss.open(url + "?create=1").set("/a", "1")
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("UPDATE qcss_schema_version SET version = version + 98")
    db.commit()
    with pytest.raises(qcss.SchemaError, match="newer"):
        qcss.open(url)
    db.execute("DELETE FROM qcss_schema_version WHERE version > 99")
    db.execute("UPDATE qcss_schema_version SET version = 1, dirty = 1")
    db.commit()
    with pytest.raises(qcss.SchemaError, match="dirty"):
        qcss.open(url)


def test_schema_runner_on_sqlite_matches_the_library(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/runner.db"
    st = qcss.schema.init(url)
    assert st.up_to_date
    assert qcss.schema.init(url).up_to_date  # idempotent
    kv = qcss.open(url)
    assert kv.revision() == 0
    kv.create("/a/b", "c")
    assert kv.getChildren("/a") == ["b"]


def test_schema_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite://{tmp_path}/cli.db"
    res = runner.invoke(schema_group, ["--url", url, "status"])
    assert res.exit_code == 12, res.output
    assert "pending: 0001_initial.sql" in res.output
    res = runner.invoke(schema_group, ["--url", url, "init"])
    assert res.exit_code == 0, res.output
    latest = qcss.schema.latest_version("sqlite")
    assert f"schema version {latest}, latest {latest}" in res.output
    res = runner.invoke(schema_group, ["--url", url, "upgrade"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(schema_group, ["--url", url, "status"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(schema_group, ["--url", "zookeeper://x/y", "status"])
    assert res.exit_code == 17


def test_schema_files_are_found_and_split() -> None:
    for dialect in ("mysql", "sqlite"):
        fs = qcss.schema.files(dialect)
        assert [f.version for f in fs] == list(range(1, len(fs) + 1))  # numbered, no gap
        assert fs[0].name == "0001_initial.sql" and len(fs) >= 2
        stmts = [s for f in fs for s in qcss.schema.split_statements(f.sql)]
        assert any(s.startswith("CREATE TABLE qcss_kv") for s in stmts)
        assert any(s.startswith("ALTER TABLE qcss_meta ADD COLUMN lease_deadline") for s in stmts)
        assert all(";" not in s for s in stmts)
        assert not any("PROCEDURE" in s for s in stmts)


def test_lock_wait_timeout_is_retried(mysql_db: tuple[mysqld.Server, str]) -> None:
    """A writer that times out waiting for the revision lock retries (with
    backoff) until the holder lets go, instead of failing."""
    server, url = mysql_db
    db = url.rsplit("/", 1)[1].split("?")[0]
    kv = qcss.open(url + "?lock_wait_timeout=1&retry_timeout=60")
    kv.set("/x", "1")
    holder = server.connect(db)
    watcher = server.connect()
    result: list[object] = []

    def write() -> None:
        try:
            result.append(kv.set("/x", "2"))
        except Exception as exc:  # reported below
            result.append(exc)

    def waits() -> set[int]:
        """Connections of this test's database, other than the holder, busy in a
        statement on the revision row while the holder keeps it locked: the
        writer waiting for the lock. Read from the processlist: InnoDB's
        information_schema.innodb_trx is a cache that was seen stale for 20 s
        (the writer's transaction missing, a closed one still 'LOCK WAIT')."""
        with watcher.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = %s AND command = 'Query' AND id <> %s AND info LIKE %s",
                (db, holder.thread_id(), "%qcss_meta%"),
            )
            return {int(r[0]) for r in cur.fetchall()}

    try:
        with holder.cursor() as cur:
            cur.execute("START TRANSACTION")
            cur.execute("SELECT revision FROM qcss_meta WHERE id = 1 FOR UPDATE")
        # The premise: a client that does not retry fails here within 1 s.
        probe = server.connect(db)
        try:
            with probe.cursor() as cur:
                cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
                cur.execute("START TRANSACTION")
                with pytest.raises(pymysql.MySQLError) as exc:
                    cur.execute("SELECT revision FROM qcss_meta WHERE id = 1 FOR UPDATE")
                assert exc.value.args[0] == 1205
        finally:
            probe.close()
        t = threading.Thread(target=write)
        t.start()
        # Wait (polling the server) until the writer waits for the lock, then
        # keep the lock well past its 1 s lock-wait timeout: without a retry
        # the write would fail with a lock wait timeout.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not result and not waits():
            time.sleep(0.05)  # polling interval, not synchronisation
        assert not result, result  # the write neither failed nor went through
        assert waits(), "the writer never waited for the revision lock"
        waited_since = time.monotonic()
        while time.monotonic() - waited_since < 3.5 and not result:
            time.sleep(0.1)  # holding the lock across several lock-wait timeouts
        assert result == [], result  # still waiting, not failed
        holder.rollback()
        t.join(timeout=30)
        assert result == [2], result
        assert kv.get("/x") == b"2"
    finally:
        holder.close()
        watcher.close()


def test_tls_requested_is_tls_or_nothing(mysql_db: tuple[mysqld.Server, str]) -> None:
    server, url = mysql_db
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@have_ssl")
            row = cur.fetchone()
    finally:
        conn.close()
    if row is not None and row[0] == "YES":
        pytest.skip("this server offers TLS: the refusal cannot be shown here")
    for opt in ("ssl=1", "ssl_verify=1", "ssl_ca=/etc/ssl/certs/ca-certificates.crt"):
        with pytest.raises(qcss.ConnError, match=r"TLS|SSL"):
            qcss.open(f"{url}?{opt}")


def test_unix_socket_connection(mysql_db: tuple[mysqld.Server, str]) -> None:
    server, url = mysql_db
    db = url.rsplit("/", 1)[1].split("?")[0]
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@socket")
            row = cur.fetchone()
    finally:
        conn.close()
    sock = Path(str(row[0])) if row else None
    if sock is None or not sock.exists():
        pytest.skip("the test server's socket is not on this machine")
    qcss.open(url).set("/via", "tcp")
    user = server.base_url.split("://", 1)[1].split("@", 1)[0]
    kv = qcss.open(f"mysql://{user}@localhost/{db}?socket={sock}")
    assert kv.get("/via") == b"tcp"
    assert kv.set("/via", "socket") == 2
    assert "socket=" in kv.url()


def test_reap_with_nothing_expired_does_not_wait_for_the_writers(
    mysql_db: tuple[mysqld.Server, str],
) -> None:
    """reapExpiredLeases() (called by every keep-alive thread) reads the
    earliest expiry first and takes the revision lock only when a lease has
    expired: while another session holds that lock it still answers 0 at once,
    where taking the lock would time out (lock_wait_timeout=1, retry_timeout=1)."""
    server, url = mysql_db
    db = url.rsplit("/", 1)[1].split("?")[0]
    kv = qcss.open(url + "?lock_wait_timeout=1&retry_timeout=1")
    lease = kv.grantLease(600.0, purpose="alive")
    kv.create("/held", "1", lease=lease.id)
    holder = server.connect(db)
    try:
        with holder.cursor() as cur:
            cur.execute("START TRANSACTION")
            cur.execute("SELECT revision FROM qcss_meta WHERE id = 1 FOR UPDATE")
        assert kv.reapExpiredLeases() == 0
        # The premise: a writer does wait for that lock, and gives up.
        with pytest.raises(qcss.ConnError):
            kv.set("/other", "x")
    finally:
        holder.rollback()
        holder.close()
        lease.revoke()
    assert not kv.exists("/other")


# ---- upgrading a store made by an earlier qcss ---------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_upgrade_from_schema_1_keeps_data_and_leases(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A store exactly as qcss 0.1 left it: schema file 0001 only, a key, a
    # live lease; then the library refuses it until `schema upgrade` runs.
    first = qcss.schema.files(backend)[0]
    assert first.version == 1 and qcss.schema.latest_version(backend) >= 2
    now = time.time()
    v1 = [
        *qcss.schema.split_statements(first.sql),
        qcss.schema.version_table(backend),
        "INSERT INTO qcss_schema_version (version, dirty, applied_at, description) "
        f"VALUES (1, 0, {now}, '{first.name}')",
        "INSERT INTO qcss_kv (path, depth, value, version, create_rev, mod_rev, lease_id) "
        "VALUES (X'2f61', 1, X'78', 1, 1, 1, 0)",  # '/a' = 'x', as bytes
        "INSERT INTO qcss_changes (revision, seq, kind, path, value, version, ts, client) "
        f"VALUES (1, 1, 0, X'2f61', X'78', 1, {now}, X'7631')",
        "UPDATE qcss_meta SET revision = 1 WHERE id = 1",
        "INSERT INTO qcss_leases (id, ttl_ms, granted_at, expires_at, owner, purpose) "
        f"VALUES (7, 3600000, {now}, {now + 3600}, X'7631', X'70')",
    ]
    if backend == "sqlite":
        url = f"sqlite://{tmp_path}/v1.db"
        db = sqlite3.connect(tmp_path / "v1.db")
        for stmt in v1:
            db.execute(stmt)
        db.commit()
        db.close()

        def deadline() -> float:
            with sqlite3.connect(tmp_path / "v1.db") as c:
                return float(c.execute("SELECT lease_deadline FROM qcss_meta").fetchone()[0])

        cleanup = None
    else:
        server, _ = request.getfixturevalue("mysql_db")
        name = "qcss_t_" + secrets.token_hex(6)
        url = server.url(name)
        conn = server.connect()
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
            cur.execute(f"USE {name}")
            for stmt in v1:
                cur.execute(stmt)
        conn.commit()

        def deadline() -> float:
            with conn.cursor() as cur:
                cur.execute(f"SELECT lease_deadline FROM {name}.qcss_meta")
                return float(cur.fetchone()[0])

        def cleanup() -> None:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.close()

    try:
        with pytest.raises(qcss.SchemaError, match="schema upgrade"):
            qcss.open(url)
        st = qcss.schema.status(url)
        assert st.current == 1 and st.pending == [f.name for f in qcss.schema.files(backend)[1:]]
        assert qcss.schema.upgrade(url).up_to_date
        assert deadline() == pytest.approx(now + 3600)  # the live lease's expiry
        kv = qcss.open(url)
        assert kv.get("/a") == b"x" and kv.revision() == 1
        assert [li.id for li in kv.leases()] == [7]
        assert kv.set("/a", "y") == 2
        assert kv.set("/a", "z", 2) == 3
        assert [(c.revision, c.version) for c in kv.changes(0)] == [(1, 1), (2, 2), (3, 3)]
        kv.revokeLease(7)
        kv.reapExpiredLeases()
        assert kv.leases() == []
    finally:
        if cleanup is not None:
            cleanup()
