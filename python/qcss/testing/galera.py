"""Private MariaDB Galera clusters and primary/replica pairs for tests and benchmarks.

- :func:`galera_cluster` starts N (3) ``mariadbd`` nodes of one Galera cluster on
  loopback ports, each with its own datadir, socket, SQL port and Galera ports
  (``gcomm://127.0.0.1:...``), the first bootstrapping the cluster and the others
  joining it by rsync SST. Failure detection is tuned for tests
  (``evs.suspect_timeout=PT1S``). :meth:`GaleraCluster.kill` SIGKILLs a node,
  :meth:`GaleraCluster.restart` recovers its position (``mariadbd --wsrep-recover``)
  and restarts it so that it rejoins by IST. Everything is stopped by its own pid.
- :func:`replica_pair` starts a primary and an asynchronous GTID replica.

Needs the Debian packages mariadb-server, galera-4 and rsync (scripts/setup-test.sh);
rsync SST runs an rsync daemon as the server's user, so the nodes run as root when
the tests do.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

import qcss.schema
from qcss.testing.mysql import MAX_PACKET, NoServer, execute, terminate

__all__ = [
    "GALERA_PROVIDER",
    "GaleraCluster",
    "Node",
    "ReplicaPair",
    "galera_available",
    "galera_cluster",
    "replica_pair",
    "wait_until",
]

GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"
_PROVIDER_OPTIONS = (
    "evs.suspect_timeout=PT1S;evs.inactive_timeout=PT2S;evs.keepalive_period=PT0.3S;"
    "evs.inactive_check_period=PT0.3S;evs.join_retrans_period=PT0.3S;"
    "pc.wait_prim_timeout=PT10S;gcache.size=64M"
)


def wait_until(cond: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Poll `cond` until it holds; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling a condition with a deadline


def _daemon() -> str:
    return shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"


def _install_db() -> str | None:
    return shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")


def galera_available() -> str | None:
    """None if a Galera cluster can be started here, else why not."""
    if _install_db() is None or not Path(_daemon()).exists():
        return "mariadb-server is not installed"
    if not Path(GALERA_PROVIDER).exists():
        return f"galera-4 is not installed ({GALERA_PROVIDER})"
    if shutil.which("rsync") is None:
        return "rsync is not installed (rsync SST)"
    return None


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _user_args() -> list[str]:
    return ["--user=root"] if os.geteuid() == 0 else []


def _install(datadir: Path) -> None:
    install = _install_db()
    assert install is not None
    subprocess.run(
        [install, "--no-defaults", f"--datadir={datadir}",
         "--auth-root-authentication-method=normal", "--skip-test-db", *_user_args()],
        check=True, capture_output=True,
    )


def _connect(port: int, database: str | None = None, timeout: float = 5) -> pymysql.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user="root", password="",
                           database=database, autocommit=True, connect_timeout=timeout,
                           read_timeout=30)


@dataclass
class Node:
    """One mariadbd of a cluster (or of a primary/replica pair)."""

    index: int
    dir: Path
    port: int
    extra: list[str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    @property
    def log(self) -> Path:
        return self.dir / "mariadbd.log"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        return [
            _daemon(), "--no-defaults", f"--datadir={self.datadir}",
            f"--socket={self.dir / 'mysqld.sock'}", f"--pid-file={self.dir / 'mysqld.pid'}",
            f"--port={self.port}", "--bind-address=127.0.0.1",
            f"--tmpdir={self.dir / 'tmp'}", f"--max-allowed-packet={MAX_PACKET}",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=32M",
            "--innodb-flush-log-at-trx-commit=2", "--skip-name-resolve",
            "--performance-schema=OFF", *self.extra, *_user_args(),
        ]

    def start(self, more: list[str] | None = None) -> None:
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # The joiner's rsync daemon (state transfers) runs as nobody: it
            # must reach and write the datadir.
            for d in (self.dir.parent, self.dir, self.datadir):
                if d.exists():
                    d.chmod(0o777)
            for p in self.datadir.rglob("*"):
                p.chmod(0o777 if p.is_dir() else 0o666)
        log = self.log.open("ab")
        self.proc = subprocess.Popen([*self.args(), *(more or [])], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def tail(self, n: int = 3000) -> str:
        """The end of the node's log (for error messages)."""
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return _connect(self.port, database)

    def wait_answering(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise NoServer(f"node {self.index} exited; its log ends:\n{self.tail()}")
            try:
                _connect(self.port, timeout=1).close()
                return
            except pymysql.MySQLError:
                time.sleep(0.2)  # waiting for an external process to come up
        raise NoServer(f"node {self.index} did not answer within {timeout} s; see {self.log}")

    def status(self) -> dict[str, str]:
        """The node's wsrep status variables (empty if it does not answer)."""
        try:
            conn = _connect(self.port, timeout=1)
        except pymysql.MySQLError:
            return {}
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep%'")
                return {str(k): str(v) for k, v in cur.fetchall()}
        finally:
            conn.close()

    def synced(self) -> bool:
        st = self.status()
        return st.get("wsrep_ready") == "ON" and st.get("wsrep_local_state_comment") == "Synced"

    def kill(self) -> None:
        """SIGKILL (a crash: nothing flushed, no goodbye to the cluster)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        terminate(self.proc, timeout=60)
        self.proc = None


def _create_store(node: Node, database: str, url: str) -> None:
    """Create `database` on `node` and install the qcss schema in it (through `url`)."""
    execute(node.connect(), f"CREATE DATABASE {database}")
    qcss.schema.init(url)


@dataclass
class GaleraCluster:
    nodes: list[Node]
    database: str = "qcss"
    joins: list[float] = field(default_factory=list)  # seconds each restart took to sync

    def url(self, *indexes: int, options: str = "", database: str | None = None) -> str:
        """A mysql:// URL of the given nodes (all by default), in that order."""
        idx = indexes or tuple(range(len(self.nodes)))
        hosts = ",".join(self.nodes[i].hostport for i in idx)
        db = database or self.database
        return f"mysql://root@{hosts}/{db}{'?' + options if options else ''}"

    def wait_synced(self, indexes: list[int] | None = None, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        want = indexes if indexes is not None else list(range(len(self.nodes)))
        while True:
            if all(self.nodes[i].synced() for i in want):
                return
            for i in want:
                n = self.nodes[i]
                if n.proc is not None and n.proc.poll() is not None:
                    raise NoServer(f"node {i} exited; its log ends:\n{n.tail()}")
            if time.monotonic() > deadline:
                raise NoServer(f"nodes {want} not Synced within {timeout} s")
            time.sleep(0.2)  # waiting for external processes

    def kill(self, i: int) -> None:
        self.nodes[i].kill()

    def restart(self, i: int, timeout: float = 120) -> float:
        """Restart a stopped or killed node: recover its position with
        ``--wsrep-recover`` and start it there, so it rejoins by IST. Returns the
        seconds until it is Synced."""
        n = self.nodes[i]
        t0 = time.monotonic()
        rec = subprocess.run([*n.args(), "--wsrep-recover", f"--log-error={n.dir / 'recover.log'}"],
                             capture_output=True, timeout=timeout)
        text = (n.dir / "recover.log").read_text(errors="replace") if (
            n.dir / "recover.log").exists() else rec.stdout.decode(errors="replace")
        m = re.findall(r"Recovered position:?\s+([0-9a-f-]+:-?\d+)", text)
        more = [f"--wsrep-start-position={m[-1]}"] if m else []
        n.start(more)
        self.wait_synced([i], timeout)
        took = time.monotonic() - t0
        self.joins.append(took)
        return took

    def stop(self) -> None:
        for n in reversed(self.nodes):
            n.stop()


@contextmanager
def galera_cluster(size: int = 3, base: Path | None = None,
                   database: str = "qcss") -> Iterator[GaleraCluster]:
    """A fresh Galera cluster of ``size`` nodes with ``database`` holding the qcss schema;
    stopped (each node by its own pid) and removed on exit."""
    why = galera_available()
    if why is not None:
        raise NoServer(why)
    tmp = Path(tempfile.mkdtemp(prefix="qcss-galera-", dir=base))
    ports = _free_ports(4 * size)
    sql, gcomm, ist, sst = (ports[0:size], ports[size:2 * size], ports[2 * size:3 * size],
                            ports[3 * size:])
    address = "gcomm://" + ",".join(f"127.0.0.1:{p}" for p in gcomm)
    nodes = []
    for i in range(size):
        extra = [
            "--wsrep-on=ON", f"--wsrep-provider={GALERA_PROVIDER}",
            f"--wsrep-cluster-address={address}", "--wsrep-cluster-name=qcss-test",
            f"--wsrep-node-name=node{i}", f"--wsrep-node-address=127.0.0.1:{gcomm[i]}",
            f"--wsrep-node-incoming-address=127.0.0.1:{sql[i]}",
            f"--wsrep-sst-receive-address=127.0.0.1:{sst[i]}", "--wsrep-sst-method=rsync",
            f"--wsrep-provider-options=base_port={gcomm[i]};ist.recv_addr=127.0.0.1:{ist[i]};"
            f"gmcast.listen_addr=tcp://127.0.0.1:{gcomm[i]};{_PROVIDER_OPTIONS}",
            "--binlog-format=ROW", "--default-storage-engine=InnoDB",
            "--innodb-autoinc-lock-mode=2", "--wsrep-slave-threads=2",
        ]
        nodes.append(Node(i, tmp / f"node{i}", sql[i], extra))
    cluster = GaleraCluster(nodes, database)
    try:
        for n in nodes:
            n.dir.mkdir(parents=True)
        # Every node starts from the same datadir (the schema installed, then a
        # clean shutdown), so the joiners need no state transfer at all.
        first = nodes[0]
        _install(first.datadir)
        first.start(["--wsrep-new-cluster"])
        first.wait_answering()
        cluster.wait_synced([0])
        _create_store(first, database, cluster.url(0))
        first.stop()
        for n in nodes[1:]:
            shutil.copytree(first.datadir, n.datadir, symlinks=True)
            state = n.datadir / "grastate.dat"
            state.write_text(state.read_text().replace("safe_to_bootstrap: 1",
                                                       "safe_to_bootstrap: 0"))
        first.start(["--wsrep-new-cluster"])
        first.wait_answering()
        cluster.wait_synced([0])
        for n in nodes[1:]:
            n.start()
        cluster.wait_synced()
        yield cluster
    finally:
        cluster.stop()
        if not os.environ.get("QCSS_GALERA_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class ReplicaPair:
    primary: Node
    replica: Node
    database: str = "qcss"

    def primary_url(self, options: str = "") -> str:
        return f"mysql://root@{self.primary.hostport}/{self.database}" + (
            f"?{options}" if options else "")

    def replica_url(self, options: str = "role=replica") -> str:
        return f"mysql://root@{self.replica.hostport}/{self.database}" + (
            f"?{options}" if options else "")

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()


@contextmanager
def replica_pair(base: Path | None = None, database: str = "qcss") -> Iterator[ReplicaPair]:
    """A private primary and an asynchronous GTID replica of it (both on loopback),
    ``database`` with the qcss schema on both; stopped by their pids and removed on exit."""
    if _install_db() is None or not Path(_daemon()).exists():
        raise NoServer("mariadb-server is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="qcss-replica-", dir=base))
    p1, p2 = _free_ports(2)
    primary = Node(0, tmp / "primary", p1, ["--server-id=1", "--log-bin=binlog",
                                             "--binlog-format=ROW"])
    replica = Node(1, tmp / "replica", p2, ["--server-id=2", "--log-bin=binlog",
                                             "--binlog-format=ROW", "--read-only=ON"])
    pair = ReplicaPair(primary, replica, database)
    try:
        for n in (primary, replica):
            n.dir.mkdir(parents=True)
            _install(n.datadir)
            n.start()
        for n in (primary, replica):
            n.wait_answering()
        execute(replica.connect(), "RESET MASTER",
                f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={p1}, "
                "MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos",
                "START SLAVE")
        _create_store(primary, database, pair.primary_url())
        _wait_replica_has(replica, database)
        yield pair
    finally:
        pair.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_replica_has(replica: Node, database: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = replica.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE "
                            "table_schema = %s AND table_name = 'qcss_meta'", (database,))
                row = cur.fetchone()
                if row is not None and int(row[0]) == 1:
                    cur.execute(f"SELECT COUNT(*) FROM {database}.qcss_meta")
                    row = cur.fetchone()
                    if row is not None and int(row[0]) == 1:
                        return
                cur.execute("SHOW SLAVE STATUS")
                st = cur.fetchone()
                desc = [d[0] for d in cur.description or []]
                if st is not None:
                    s = dict(zip(desc, st, strict=False))
                    if s.get("Last_SQL_Error") or s.get("Last_IO_Error"):
                        raise NoServer(f"replication failed: {s.get('Last_SQL_Error')} "
                                       f"{s.get('Last_IO_Error')}")
        finally:
            conn.close()
        time.sleep(0.2)  # waiting for the replica (an external process) to apply
    raise NoServer(f"the replica did not receive the schema within {timeout} s")


def mask(url: str) -> str:
    return qcss.schema.mask(url)


def parse_hosts(url: str) -> list[tuple[str, int]]:
    """The (host, port) list of a (multi-host) mysql:// URL."""
    netloc = urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1]
    out = []
    for h in netloc.split(","):
        host, _, port = h.rpartition(":") if ":" in h else (h, "", "")
        out.append((host or h, int(port) if port else 3306))
    return out
