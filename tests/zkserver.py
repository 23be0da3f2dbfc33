"""A real ZooKeeper server for the tests: Debian's `zookeeper` package, standalone, on a free
loopback port with a temporary data directory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from qcss.testing.mysql import terminate

ZK_JAR = Path(os.environ.get("QCSS_ZOOKEEPER_JAR", "/usr/share/java/zookeeper.jar"))
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"


def require_zookeeper() -> str:
    """The java binary; fails (never skips) when ZooKeeper is missing: the project's setup
    script installs it. QCSS_SKIP_ZOOKEEPER=1 outside CI turns the failure into a skip."""
    java = shutil.which("java")
    if java and ZK_JAR.is_file():
        return java
    why = f"ZooKeeper is not installed (java: {java}, {ZK_JAR}: missing); run scripts/setup.sh"
    if os.environ.get("QCSS_SKIP_ZOOKEEPER") == "1" and not os.environ.get("CI"):
        pytest.skip(why)
    pytest.fail(why)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ZkServer:
    def __init__(self, base: Path, compression: str = "", snap_count: int = 20,
                 extra_cfg: str = "") -> None:
        self.base = base
        self.data_dir = base / "data"
        self.data_dir.mkdir(parents=True)
        self.port = free_port()
        self.compression = compression
        self.snap_count = snap_count
        self.extra_cfg = extra_cfg  # more zoo.cfg lines, e.g. "maxClientCnxns=0\n"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "zookeeper.out"

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        java = require_zookeeper()
        cfg = self.base / "zoo.cfg"
        cfg.write_text(
            "tickTime=2000\n"
            f"dataDir={self.data_dir}\n"
            f"clientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\n"
            "autopurge.purgeInterval=0\n" + self.extra_cfg
        )
        props = [
            # Small snapCount: several snapshots during the test, so the reader must pick
            # the newest and replay the logs after it (snapshots are fuzzy).
            f"-Dzookeeper.snapCount={self.snap_count}",
            "-Dzookeeper.extendedTypesEnabled=true",  # TTL nodes
            "-Dzookeeper.admin.enableServer=false",
            "-Xmx256m",
        ]
        if self.compression:
            props.append(f"-Dzookeeper.snapshot.compression.method={self.compression}")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [java, *props, "-cp", str(ZK_JAR), MAIN, str(cfg)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.base,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"ZooKeeper did not listen on {self.port}") from None
                time.sleep(0.1)  # poll interval while waiting for the port to open

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None
