"""A throwaway mariadbd of the change-feed tests' own, which a test can stop and
restart under a watcher (the shared `mysql_server` fixture must stay up)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

import qcss
import qcss.schema


def create_database(port: int) -> str:
    """A fresh database with the qcss schema (qcss.schema.init) on 127.0.0.1:port; its URL."""
    db = "qcss_w_" + secrets.token_hex(4)
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{db}`")
    finally:
        conn.close()
    url = f"mysql://root@127.0.0.1:{port}/{db}"
    qcss.schema.init(url)
    return url


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
        return create_database(self.port)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
