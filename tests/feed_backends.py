"""Stores for the change-feed tests: SQLite files, fresh MariaDB databases, and a
throwaway mariadbd of the test's own (to stop and restart it under a watcher)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymysql
import pytest

ROOT = Path(__file__).resolve().parent.parent
MYSQL_SCHEMA = sorted((ROOT / "schema" / "mysql").glob("*.sql"))


def mysql_server() -> tuple[str, int, str]:
    """(host, port, user) of the test server: $QCSS_TEST_MYSQL_URL or 127.0.0.1:3306 root."""
    url = os.environ.get("QCSS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
    rest = url.split("://", 1)[1].split("/", 1)[0]
    user, _, hostport = rest.rpartition("@")
    host, _, port = hostport.partition(":")
    return host, int(port or 3306), (user.split(":", 1)[0] or "root")


def install_schema(host: str, port: int, user: str, db: str) -> None:
    conn = pymysql.connect(host=host, port=port, user=user, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{db}`")
            cur.execute(f"USE `{db}`")
            # As the library's installMysqlSchema does (until `css-admin schema
            # init` lands on this branch): the version table, then each file.
            cur.execute("CREATE TABLE IF NOT EXISTS qcss_schema_version (version INT NOT NULL "
                        "PRIMARY KEY, dirty TINYINT NOT NULL, applied_at DOUBLE NOT NULL, "
                        "description VARCHAR(255) NOT NULL) ENGINE=InnoDB")
            for f in MYSQL_SCHEMA:
                text = "\n".join(line for line in f.read_text().splitlines()
                                 if not line.lstrip().startswith("--"))
                for stmt in text.split(";\n"):
                    if stmt.strip():
                        cur.execute(stmt)
                cur.execute("INSERT INTO qcss_schema_version VALUES (%s, 0, UNIX_TIMESTAMP(), %s)",
                            (int(f.name.split("_", 1)[0]), f.name))
    finally:
        conn.close()


def drop_database(host: str, port: int, user: str, db: str) -> None:
    try:
        conn = pymysql.connect(host=host, port=port, user=user, autocommit=True)
    except pymysql.MySQLError:
        return
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    finally:
        conn.close()


@contextmanager
def mysql_database() -> Iterator[str]:
    """A fresh database with the qcss schema on the test server; its URL."""
    host, port, user = mysql_server()
    db = "qcss_w_" + secrets.token_hex(4)
    try:
        install_schema(host, port, user, db)
    except pymysql.MySQLError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no MySQL/MariaDB server at {host}:{port}: {exc}")
    try:
        yield f"mysql://{user}@{host}:{port}/{db}"
    finally:
        drop_database(host, port, user, db)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MariaDB:
    """A mariadbd of our own in a temporary directory, that a test can stop and restart."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="qcss-mariadb-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.dir / 'data'}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             *(["--user=root"] if os.getuid() == 0 else [])],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self, timeout: float = 60.0) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.dir / 'data'}",
             f"--socket={self.dir / 'sock'}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={self.dir / 'pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
             *(["--user=root"] if os.getuid() == 0 else [])],
            stdout=subprocess.DEVNULL, stderr=(self.dir / "err.log").open("wb"))
        deadline = time.monotonic() + timeout
        while True:  # wait until it accepts connections (or died)
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited: " + (self.dir / "err.log").read_text()[-2000:])
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root",
                                connect_timeout=1).close()
                return
            except pymysql.MySQLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # retry interval of the readiness probe, not a synchronisation

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
            self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def database(self) -> str:
        db = "qcss_w_" + secrets.token_hex(4)
        install_schema("127.0.0.1", self.port, "root", db)
        return f"mysql://root@127.0.0.1:{self.port}/{db}"

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
