"""Finding (or starting) a MariaDB/MySQL server for tests, and giving each
store a fresh database with the qcss schema installed by ``qcss.schema.init``
(dropped afterwards).

Order: ``$QCSS_TEST_MYSQL_URL`` (``mysql://user[:pw]@host:port[/anything]``),
else ``mysql://root@127.0.0.1:3306`` if it answers, else a throwaway
``mariadbd`` started in a temporary directory (``mariadb-install-db`` +
``mariadbd --datadir ... --socket ... --port <free>``) and stopped at the end.
The server's ``max_allowed_packet`` is raised to 64 MiB when the account may
(16 MiB values need more than MariaDB's default 16 MiB packet).

The one mariadbd starter: scripts/mysql-for-tests.sh (the C++ tests, scripts/test.sh)
calls it too, through main() (``start DIR``).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

import qcss.schema

__all__ = ["MAX_PACKET", "NoServer", "Server", "find_or_start", "mysql_server", "private_server",
           "start_private", "terminate"]

MAX_PACKET = 64 * 1024 * 1024


class NoServer(Exception):
    """No MySQL server could be found or started."""


@dataclass
class Server:
    base_url: str  # mysql://user[:pw]@host:port (no database)
    query: str = ""  # extra URL options, e.g. "?socket=..."
    proc: subprocess.Popen[bytes] | None = None
    datadir: Path | None = None
    databases: list[str] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)  # how `proc` was started (restart())
    log: Path | None = None

    def _parts(self) -> urllib.parse.SplitResult:
        return urllib.parse.urlsplit(self.base_url)

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        p = self._parts()
        password = urllib.parse.unquote(p.password) if p.password else ""
        return pymysql.connect(
            host=p.hostname or "127.0.0.1",
            port=p.port or 3306,
            user=urllib.parse.unquote(p.username or "root"),
            password=password,
            database=database,
            autocommit=True,
            connect_timeout=5,
        )

    def url(self, database: str) -> str:
        return f"{self.base_url}/{database}{self.query}"

    @contextmanager
    def fresh_database(self) -> Iterator[str]:
        """A new database with the qcss schema; yields its URL, drops it on exit."""
        name = "qcss_t_" + secrets.token_hex(6)
        execute(self.connect(), f"CREATE DATABASE {name}")
        url = self.url(name)
        try:
            qcss.schema.init(url)
            yield url
        finally:
            execute(self.connect(), f"DROP DATABASE IF EXISTS {name}")

    def kill(self) -> None:
        """SIGKILL the server started here (a crash: no shutdown, no flush) and reap it."""
        if self.proc is None:
            raise NoServer("kill(): this server was not started here")
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Start the server again on the same data directory and port (after kill()/stop())."""
        if not self.argv or self.log is None:
            raise NoServer("restart(): this server was not started here")
        if self.proc is not None:
            self.stop()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        _wait_up(self, self.log)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None


def execute(conn: pymysql.connections.Connection, *statements: str) -> None:
    """Run `statements` on `conn` in order, then close it."""
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    """SIGTERM a server process we started and wait for it (SIGKILL after `timeout` s)."""
    if proc is None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _raise_packet(server: Server) -> None:
    try:
        conn = server.connect()
    except pymysql.MySQLError as exc:
        raise NoServer(f"{qcss.schema.mask(server.base_url)}: {exc}") from exc
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@global.max_allowed_packet")
            row = cur.fetchone()
            if row is not None and int(row[0]) < MAX_PACKET:
                try:
                    cur.execute(f"SET GLOBAL max_allowed_packet = {MAX_PACKET}")
                except pymysql.MySQLError:
                    pass  # not allowed: 16 MiB values will be refused, clearly
    finally:
        conn.close()


def _wait_up(server: Server, log: Path) -> None:
    """Wait (60 s at most) until `server`'s freshly started process accepts logins."""
    p = server._parts()
    host, port = p.hostname or "127.0.0.1", p.port or 3306
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.proc is None or server.proc.poll() is not None:
            raise NoServer(f"mariadbd exited: see {log}")
        if _answers(host, port):
            try:
                server.connect().close()
                return
            except pymysql.MySQLError:
                pass
        time.sleep(0.2)  # waiting for an external process to come up
    server.stop()
    raise NoServer("mariadbd did not start within 60 s")


def _start(tmp: Path, extra: tuple[str, ...] = ()) -> Server:
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    daemon = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
    if install is None or not Path(daemon).exists():
        raise NoServer("no server on 127.0.0.1:3306 and no mariadbd to start")
    datadir = tmp / "data"
    sock = tmp / "mysqld.sock"
    # Its own tmpdir: a starting mariadbd deletes the '#sql*' files in its
    # tmpdir, which would break the queries of any other server using /tmp.
    tmpdir = tmp / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [install, "--no-defaults", f"--datadir={datadir}",
         "--auth-root-authentication-method=normal", "--skip-test-db", *user],
        check=True, capture_output=True,
    )
    argv = [daemon, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
            f"--port={port}", f"--tmpdir={tmpdir}", "--bind-address=127.0.0.1",
            f"--max-allowed-packet={MAX_PACKET}", "--skip-log-bin", *user, *extra]
    log = tmp / "mariadbd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"mysql://root@127.0.0.1:{port}", proc=proc, datadir=datadir, argv=argv,
                    log=log)
    _wait_up(server, log)
    return server


def start_private(tmp: Path, *args: str) -> Server:
    """A throwaway ``mariadbd`` with its data in ``tmp``, whatever else answers (benchmarks
    that must not share a server with other users; fault tests that kill or restart it),
    with extra server options ``args``; call ``stop()`` when done."""
    tmp.mkdir(parents=True, exist_ok=True)
    return _start(tmp, args)


def find_or_start(tmp: Path) -> Server:
    """``$QCSS_TEST_MYSQL_URL``, else ``127.0.0.1:3306`` if it answers, else a throwaway
    ``mariadbd`` with its data in ``tmp`` (call ``stop()`` when done). Raises NoServer."""
    env = os.environ.get("QCSS_TEST_MYSQL_URL")
    if env:
        p = urllib.parse.urlsplit(env)
        server = Server(f"{p.scheme}://{p.netloc}", query=f"?{p.query}" if p.query else "")
        _raise_packet(server)
        return server
    if _answers("127.0.0.1", 3306):
        server = Server("mysql://root@127.0.0.1:3306")
        _raise_packet(server)
        return server
    server = _start(tmp)
    _raise_packet(server)
    return server


@contextmanager
def mysql_server(tmp: Path) -> Iterator[Server]:
    """find_or_start(tmp) as a context manager: a server started here is stopped on exit."""
    tmp.mkdir(parents=True, exist_ok=True)
    server = find_or_start(tmp)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def private_server(tmp: Path, *args: str) -> Iterator[Server]:
    """A throwaway ``mariadbd`` of its own (data, socket, tmpdir and port under
    `tmp`; extra server options `args`), for tests that kill or restart it;
    stopped on exit. Raises NoServer when no mariadbd can be started."""
    server = start_private(tmp, *args)
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """``start DIR`` (argv): find_or_start(DIR) (or, with
    ``QCSS_TEST_START_MARIADB=1``, always a private server) and print shell lines
    setting ``QCSS_TEST_MYSQL_URL`` and, for a server started here (left running),
    ``QCSS_MARIADB_PID``; the caller stops it by that pid. Exit 1 (the reason on
    stderr) if there is no server."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m qcss.testing.mysql")
    ap.add_argument("command", choices=["start"])
    ap.add_argument("dir", type=Path)
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    try:
        if os.environ.get("QCSS_TEST_START_MARIADB") == "1":
            server = start_private(args.dir)
        else:
            server = find_or_start(args.dir)
    except NoServer as e:
        print(f"mysql-for-tests: {e}", file=sys.stderr)
        return 1
    print(f"export QCSS_TEST_MYSQL_URL={shlex.quote(server.base_url + server.query)}")
    if server.proc is not None:
        print(f"QCSS_MARIADB_PID={server.proc.pid}")
        print(f"mysql-for-tests: started a throwaway mariadbd ({server.base_url})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
