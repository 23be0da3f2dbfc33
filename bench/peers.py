"""qcss against its peers, ZooKeeper and etcd: one run, one table, one picture.

    python bench/peers.py [--quick] [--write-docs] [--mysql-url URL] [--json FILE]

Starts its own ZooKeeper (Debian `zookeeper`), etcd (Debian `etcd-server`) and, unless
--mysql-url is given, a throwaway mariadbd, all with data in one temporary directory, and
stops them (by their own pids) at exit. Then, on the same machine and in alternating rounds
(system order reversed every other round, so load from elsewhere hits all alike):

- single client: get, exists, getChildren of 10/1000/10000 children, set, create, a 100-key
  transaction, through qcss's Python API on MySQL and SQLite, a qcss mirror (reads), kazoo
  (ZooKeeper 3.8) and etcd's v3 JSON gateway (HTTP keep-alive);
- watch propagation: commit returned -> the watcher's callback (qcss polls, at the library's
  default interval; ZooKeeper and etcd push);
- 1, 4, 16, 64 concurrent writers, each writing its own key in a loop: as processes (every
  system) and as threads sharing one client object (qcss MySQL, ZooKeeper): throughput and
  set latency percentiles.

Values are 100 bytes. Ratios against ZooKeeper are printed for the issue's targets (writes
at 16 writers >= 1.5x, getChildren(1000) through Python on MySQL >= 2x); they are measured,
never asserted. --write-docs replaces the section between the peers markers of
docs/performance.md with the tables, the machine and versions, and writes the plots
docs/img/peers-writers.png and docs/img/peers-latency.png (matplotlib).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qcss
import qcss.testing.mysql as qmysql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from zkserver import ZkServer, free_port  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_watch import cpu_seconds, pct  # noqa: E402

VALUE = b"v" * 100
FANOUTS = (10, 1000, 10000)
BEGIN = "<!-- bench/peers.py --write-docs: begin (generated, do not edit by hand) -->"
END = "<!-- bench/peers.py --write-docs: end -->"


# --------------------------------------------------------------------------- servers

def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port} within 60 s") from None
            time.sleep(0.05)  # readiness probe interval of an external process


class Etcd:
    """A single-member etcd in a temporary directory (Debian's etcd-server, v3.4)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("etcd")
        if exe is None:
            raise RuntimeError("etcd is not installed: run scripts/setup-test.sh (etcd-server)")
        self.base.mkdir(parents=True, exist_ok=True)
        client = f"http://127.0.0.1:{self.port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = self.base / "etcd.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [exe, "--name", "bench", "--data-dir", str(self.base / "data"),
                 "--listen-client-urls", client, "--advertise-client-urls", client,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", f"bench={peer}", "--max-txn-ops", "20000"],
                stdout=out, stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, "etcd", log)
        deadline = time.monotonic() + 30
        while True:  # the gateway answers once the member has elected itself
            try:
                EtcdClient(self.port).put("/bench/ready", b"1")
                return
            except (OSError, RuntimeError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # readiness probe interval

    def stop(self) -> None:
        qmysql.terminate(self.proc)
        self.proc = None


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


class EtcdClient:
    """etcd's v3 JSON gateway over one keep-alive HTTP connection (the only client library
    Debian and PyPI offer for etcd 3.4 without gRPC code generation)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"etcd {path}: {resp.status} {data[:200]!r}")
        out: dict[str, Any] = json.loads(data)
        return out

    def get(self, key: str) -> bytes:
        r = self.call("/v3/kv/range", {"key": _b64(key.encode())})
        return base64.b64decode(r["kvs"][0]["value"])

    def exists(self, key: str) -> bool:
        r = self.call("/v3/kv/range", {"key": _b64(key.encode()), "count_only": True})
        return int(r.get("count", 0)) > 0

    def children(self, key: str) -> list[str]:
        prefix = (key + "/").encode()
        r = self.call("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(_prefix_end(prefix)),
                                       "keys_only": True})
        n = len(prefix)
        return [base64.b64decode(kv["key"])[n:].decode() for kv in r.get("kvs", [])]

    def put(self, key: str, value: bytes) -> None:
        self.call("/v3/kv/put", {"key": _b64(key.encode()), "value": _b64(value)})

    def create(self, key: str, value: bytes) -> None:
        k = _b64(key.encode())
        r = self.call("/v3/kv/txn", {
            "compare": [{"key": k, "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
            "success": [{"request_put": {"key": k, "value": _b64(value)}}]})
        if not r.get("succeeded"):
            raise RuntimeError(f"etcd create {key}: exists")

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        self.call("/v3/kv/txn", {"success": [
            {"request_put": {"key": _b64(k.encode()), "value": _b64(v)}} for k, v in items]})

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- the systems

@dataclass
class Conf:
    mysql_url: str
    sqlite_url: str
    zk_hosts: str
    etcd_port: int
    server_pids: dict[str, int]  # system kind -> its server's pid (CPU accounting)


def zk_client(hosts: str) -> Any:
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=hosts, timeout=30)
    zk.start(timeout=30)
    return zk


class System:
    """One system's single-client operations on the common layout (/bench/...)."""

    name = ""
    reads_only = False

    def get(self, key: str) -> bytes: raise NotImplementedError
    def exists(self, key: str) -> bool: raise NotImplementedError
    def children(self, key: str) -> list[str]: raise NotImplementedError
    def set(self, key: str, value: bytes) -> None: raise NotImplementedError
    def create(self, key: str, value: bytes) -> None: raise NotImplementedError
    def set_many(self, items: list[tuple[str, bytes]]) -> None: raise NotImplementedError
    def create_many(self, items: list[tuple[str, bytes]]) -> None: raise NotImplementedError
    def close(self) -> None: pass


class Qcss(System):
    def __init__(self, name: str, kv: qcss.KvInterface) -> None:
        self.name = name
        self.kv: Any = kv

    def get(self, key: str) -> bytes:
        v: bytes = self.kv.get(key)
        return v

    def exists(self, key: str) -> bool:
        return bool(self.kv.exists(key))

    def children(self, key: str) -> list[str]:
        c: list[str] = self.kv.getChildren(key)
        return c

    def set(self, key: str, value: bytes) -> None:
        self.kv.set(key, value)

    def create(self, key: str, value: bytes) -> None:
        self.kv.create(key, value)

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        t = self.kv.transaction()
        for k, v in items:
            t.set(k, v)
        t.commit()

    def create_many(self, items: list[tuple[str, bytes]]) -> None:
        t = self.kv.transaction()
        for k, v in items:
            t.create(k, v)
        t.commit()

    def close(self) -> None:
        if hasattr(self.kv, "stop"):
            self.kv.stop()


class Zk(System):
    name = "ZooKeeper"

    def __init__(self, hosts: str) -> None:
        self.zk = zk_client(hosts)

    def get(self, key: str) -> bytes:
        v: bytes = self.zk.get(key)[0]
        return v

    def exists(self, key: str) -> bool:
        return self.zk.exists(key) is not None

    def children(self, key: str) -> list[str]:
        c: list[str] = self.zk.get_children(key)
        return c

    def set(self, key: str, value: bytes) -> None:
        self.zk.set(key, value)

    def create(self, key: str, value: bytes) -> None:
        self.zk.create(key, value)

    def _multi(self, items: list[tuple[str, bytes]], create: bool) -> None:
        for i in range(0, len(items), 1000):
            t = self.zk.transaction()
            for k, v in items[i:i + 1000]:
                if create:
                    t.create(k, v)
                else:
                    t.set_data(k, v)
            res = t.commit()
            bad = [r for r in res if isinstance(r, Exception)]
            if bad:
                raise bad[0]

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        self._multi(items, create=False)

    def create_many(self, items: list[tuple[str, bytes]]) -> None:
        self._multi(items, create=True)

    def close(self) -> None:
        self.zk.stop()
        self.zk.close()


class EtcdSystem(System):
    name = "etcd"

    def __init__(self, port: int) -> None:
        self.c = EtcdClient(port)

    def get(self, key: str) -> bytes:
        return self.c.get(key)

    def exists(self, key: str) -> bool:
        return self.c.exists(key)

    def children(self, key: str) -> list[str]:
        return self.c.children(key)

    def set(self, key: str, value: bytes) -> None:
        self.c.put(key, value)

    def create(self, key: str, value: bytes) -> None:
        self.c.create(key, value)

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        for i in range(0, len(items), 10000):
            self.c.put_many(items[i:i + 10000])

    create_many = set_many  # etcd has no parents: a put of a new key creates it

    def close(self) -> None:
        self.c.close()


def open_system(kind: str, conf: Conf, pool: int = 4) -> System:
    if kind == "mysql":
        return Qcss("qcss MySQL", qcss.open(_with(conf.mysql_url, f"pool_size={pool}")))
    if kind == "sqlite":
        return Qcss("qcss SQLite", qcss.open(conf.sqlite_url))
    if kind == "zk":
        return Zk(conf.zk_hosts)
    if kind == "etcd":
        return EtcdSystem(conf.etcd_port)
    raise ValueError(kind)


def _with(url: str, opt: str) -> str:
    return url + ("&" if "?" in url else "?") + opt


def populate(s: System, quick: bool) -> None:
    """The common layout: /bench/flat/k0000.. (1000 keys), /bench/p<N>/k.. for each fan-out,
    /bench/w/w<i> (the concurrent writers' keys), /bench/new (creates), /bench/watch."""
    parents = ["/bench", "/bench/flat", "/bench/w", "/bench/new", "/bench/watch",
               *[f"/bench/p{n}" for n in FANOUTS]]
    if not isinstance(s, EtcdSystem):
        s.create_many([(p, b"") for p in parents])
    s.create_many([(f"/bench/flat/k{i:04d}", VALUE) for i in range(1000)])
    for n in FANOUTS:
        s.create_many([(f"/bench/p{n}/k{i:05d}", VALUE) for i in range(n)])
    s.create_many([(f"/bench/w/w{i:03d}", VALUE) for i in range(64)])
    s.create_many([("/bench/watch/key", b"0")])


# --------------------------------------------------------------------------- single client

def timed(fn: Callable[[int], object], window: float) -> float:
    """Calls fn(i) for i = 0, 1, ... for about `window` seconds; returns calls per second."""
    n = 0
    t0 = time.perf_counter()
    end = t0 + window
    while True:
        for _ in range(8):
            fn(n)
            n += 1
        t = time.perf_counter()
        if t >= end:
            return n / (t - t0)


OPS = ["get", "exists", "children10", "children1000", "children10000", "set", "create", "txn100"]
OP_TITLES = {"get": "get", "exists": "exists", "children10": "getChildren(10)",
             "children1000": "getChildren(1000)", "children10000": "getChildren(10000)",
             "set": "set", "create": "create", "txn100": "100-key txn (txn/s)"}


def op_fn(s: System, op: str, rnd: int) -> Callable[[int], object]:
    flat = [f"/bench/flat/k{i:04d}" for i in range(1000)]
    if op == "get":
        return lambda i: s.get(flat[i % 1000])
    if op == "exists":
        return lambda i: s.exists(flat[i % 1000])
    if op.startswith("children"):
        n = int(op[len("children"):])
        return lambda i: s.children(f"/bench/p{n}")
    if op == "set":
        return lambda i: s.set(flat[i % 1000], VALUE)
    if op == "create":
        tag = f"r{rnd}x{random.getrandbits(32):08x}"
        return lambda i: s.create(f"/bench/new/{tag}-{i}", VALUE)
    if op == "txn100":
        return lambda i: s.set_many([(flat[(i * 100 + j) % 1000], VALUE) for j in range(100)])
    raise ValueError(op)


def check_layout(systems: list[System]) -> None:
    """Every system answers the same: a wrong comparator would make every number moot."""
    for s in systems:
        for n in FANOUTS:
            got = s.children(f"/bench/p{n}")
            if len(got) != n or sorted(got)[0] != "k00000":
                raise RuntimeError(f"{s.name}: getChildren(/bench/p{n}) returned {len(got)}")
        if s.get("/bench/flat/k0007") != VALUE or not s.exists("/bench/flat/k0999"):
            raise RuntimeError(f"{s.name}: the layout is not as written")


def single_client(systems: list[System], rounds: int, window: float) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, list[float]]] = {s.name: {} for s in systems}
    for rnd in range(rounds):
        order = systems if rnd % 2 == 0 else systems[::-1]
        for op in OPS:
            for s in order:
                if s.reads_only and op in ("set", "create", "txn100"):
                    continue
                results[s.name].setdefault(op, []).append(timed(op_fn(s, op, rnd), window))
    return {name: {op: statistics.median(v) for op, v in ops.items()}
            for name, ops in results.items()}


# --------------------------------------------------------------------------- watch latency

def watch_latency(conf: Conf, kinds: list[str], rounds: int, samples: int,
                  interval: float) -> dict[str, dict[str, float]]:
    """A writer sets /bench/watch/key to a sequence number at random gaps (uniform in
    0..2*interval, so commits fall at random phases of qcss's polls); the watcher's callback
    stamps the number. Latency = callback time - time the write returned."""
    out: dict[str, list[float]] = {}
    for rnd in range(rounds):
        for kind in (kinds if rnd % 2 == 0 else kinds[::-1]):
            lat = _watch_one(conf, kind, samples, interval, rnd)
            out.setdefault(_label(kind), []).extend(lat)
    return {name: {"median_ms": statistics.median(v) * 1e3, "p99_ms": pct(v, 99) * 1e3}
            for name, v in out.items()}


def _label(kind: str) -> str:
    return {"mysql": "qcss MySQL", "sqlite": "qcss SQLite", "zk": "ZooKeeper",
            "etcd": "etcd"}[kind]


def _watch_one(conf: Conf, kind: str, samples: int, interval: float, rnd: int) -> list[float]:
    seen: dict[int, float] = {}
    cond = threading.Condition()
    key = "/bench/watch/key"

    def stamp(value: bytes) -> None:
        t = time.perf_counter()
        with cond:
            with contextlib.suppress(ValueError):
                seen.setdefault(int(value), t)
            cond.notify_all()

    writer = open_system(kind, conf)
    stop: Callable[[], None]
    if kind in ("mysql", "sqlite"):
        assert isinstance(writer, Qcss)

        def cb(changes: list[qcss.Change], revision: int) -> None:
            for c in changes:
                if c.key == key:
                    stamp(c.value)

        w = writer.kv.watch("/bench/watch", cb, interval=interval)
        stop = w.stop
    elif kind == "zk":
        watcher = Zk(conf.zk_hosts)
        from kazoo.recipe.watchers import DataWatch

        def zcb(data: bytes | None, _stat: Any) -> None:
            if data is not None:
                stamp(data)
        DataWatch(watcher.zk, key, zcb)
        stop = watcher.close
    else:
        stop = _etcd_watch(conf.etcd_port, key, stamp)
    base = (rnd + 1) * 1_000_000
    committed: dict[int, float] = {}
    rng = random.Random(rnd)
    try:
        time.sleep(2 * interval)  # let the watcher start and settle before the first write
        for i in range(samples):
            time.sleep(rng.uniform(0, 2 * interval))  # random phase against the polls
            writer.set(key, str(base + i).encode())
            committed[base + i] = time.perf_counter()
        deadline = time.monotonic() + 10
        with cond:
            while not all(n in seen for n in committed) and time.monotonic() < deadline:
                cond.wait(0.5)
    finally:
        stop()
        writer.close()
    # A push may overtake the writer's return: clamp at 0 (the change was visible first).
    return [max(0.0, seen[n] - t) for n, t in committed.items() if n in seen]


def _etcd_watch(port: int, key: str, stamp: Callable[[bytes], None]) -> Callable[[], None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v3/watch",
                 json.dumps({"create_request": {"key": _b64(key.encode())}}),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    created = threading.Event()

    def reader() -> None:
        with contextlib.suppress(Exception):  # ends when the connection is closed
            while True:
                line = resp.readline()
                if not line:
                    return
                r = json.loads(line).get("result", {})
                if r.get("created"):
                    created.set()
                for ev in r.get("events", []):
                    stamp(base64.b64decode(ev["kv"].get("value", "")))

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    created.wait(10)

    def stop() -> None:
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        conn.close()
        th.join(5)
    return stop


# --------------------------------------------------------------------------- concurrent writers

def _writer_proc(kind: str, conf: Conf, idx: int, ready: Any, go: Any, out: Any,
                 duration: float) -> None:
    s = open_system(kind, conf, pool=1)
    key = f"/bench/w/w{idx:03d}"
    s.set(key, VALUE)  # connected and warm
    ready.put(idx)
    go.wait()
    c0 = time.process_time()
    r = _write_loop(s, key, duration)
    out.put((*r, time.process_time() - c0))
    s.close()


def _write_loop(s: System, key: str, duration: float) -> tuple[int, float, list[float]]:
    lat: list[float] = []
    t0 = time.perf_counter()
    end = t0 + duration
    t = t0
    while t < end:
        a = time.perf_counter()
        s.set(key, VALUE)
        t = time.perf_counter()
        lat.append(t - a)
    return len(lat), t - t0, lat[:: max(1, len(lat) // 500)]


def writers_processes(kind: str, conf: Conf, n: int, duration: float) -> dict[str, float]:
    ctx = mp.get_context("fork")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_writer_proc, args=(kind, conf, i, ready, go, out, duration))
             for i in range(n)]
    for p in procs:
        p.start()
    try:
        for _ in range(n):
            ready.get(timeout=120)
        pid = conf.server_pids.get(kind, 0)
        s0 = cpu_seconds(pid) if pid else 0.0
        go.set()
        res = [out.get(timeout=duration + 120) for _ in range(n)]
        server = (cpu_seconds(pid) - s0) if pid else 0.0
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join()
    return _summarise([r[:3] for r in res], sum(r[3] for r in res), server)


def writers_threads(kind: str, conf: Conf, n: int, duration: float) -> dict[str, float]:
    if kind.endswith("-nogroup"):  # the store reads it when opened
        os.environ["QCSS_GROUP_COMMIT"] = "0"
        try:
            s = open_system(kind.removesuffix("-nogroup"), conf, pool=n)
        finally:
            del os.environ["QCSS_GROUP_COMMIT"]
        kind = kind.removesuffix("-nogroup")
    else:
        s = open_system(kind, conf, pool=n)
    res: list[tuple[int, float, list[float]]] = []
    barrier = threading.Barrier(n + 1)

    def run(idx: int) -> None:
        key = f"/bench/w/w{idx:03d}"
        s.set(key, VALUE)
        barrier.wait()
        r = _write_loop(s, key, duration)
        res.append(r)

    ths = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ths:
        t.start()
    pid = conf.server_pids.get(kind, 0)
    barrier.wait()
    s0 = cpu_seconds(pid) if pid else 0.0
    c0 = time.process_time()
    for t in ths:
        t.join()
    client = time.process_time() - c0
    server = (cpu_seconds(pid) - s0) if pid else 0.0
    s.close()
    return _summarise(res, client, server)


def _summarise(res: list[tuple[int, float, list[float]]], client_cpu: float,
               server_cpu: float) -> dict[str, float]:
    """Throughput, latency percentiles, and CPU per write (client processes + server
    process; on a shared machine CPU per operation varies far less than throughput)."""
    ops = sum(r[0] for r in res)
    secs = max(r[1] for r in res)
    lat = [x for r in res for x in r[2]]
    return {"ops": ops / secs, "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
            "client_cpu_us": client_cpu / ops * 1e6, "server_cpu_us": server_cpu / ops * 1e6}


WRITER_CASES = [  # (label, system kind, processes?)
    ("qcss MySQL, processes", "mysql", True),
    ("qcss MySQL, threads", "mysql", False),
    ("qcss MySQL, threads, no group commit", "mysql-nogroup", False),
    ("qcss SQLite, processes", "sqlite", True),
    ("ZooKeeper, processes", "zk", True),
    ("ZooKeeper, threads", "zk", False),
    ("etcd, processes", "etcd", True),
]


def concurrent(conf: Conf, levels: list[int], rounds: int,
               duration: float) -> dict[str, dict[int, dict[str, float]]]:
    raw: dict[str, dict[int, list[dict[str, float]]]] = {c[0]: {} for c in WRITER_CASES}
    for rnd in range(rounds):
        cases = WRITER_CASES if rnd % 2 == 0 else WRITER_CASES[::-1]
        for n in levels:
            for label, kind, procs in cases:
                f = writers_processes if procs else writers_threads
                raw[label].setdefault(n, []).append(f(kind, conf, n, duration))
    out: dict[str, dict[int, dict[str, float]]] = {}
    for label, per in raw.items():
        out[label] = {}
        for n, rs in per.items():
            best = sorted(rs, key=lambda r: r["ops"])[len(rs) // 2]  # the median round
            out[label][n] = best
    return out


# --------------------------------------------------------------------------- report

def _cmd(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine(mysql_version: str, etcd_ver: str) -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GB"
    osname = "?"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip('"')
    import kazoo
    return {
        "cpu": f"{os.cpu_count()} x {cpu}", "memory": mem, "os": osname,
        "kernel": platform.release(), "python": platform.python_version(),
        "qcss": _cmd("git", "-C", str(ROOT), "describe", "--always", "--dirty"),
        "MariaDB": mysql_version,
        "ZooKeeper": _cmd("dpkg-query", "-W", "-f=${Version}", "zookeeper"),
        "etcd": etcd_ver, "kazoo": kazoo.__version__, "SQLite": sqlite3.sqlite_version,
    }


def fmt(x: float) -> str:
    if x != x:  # NaN
        return "–"
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}" if x >= 10 else f"{x:.2f}"


def render(r: dict[str, Any]) -> str:
    lines = []
    m = r["machine"]
    lines.append(f"Run {r['when']} ({r['mode']}, {r['elapsed_s']:.0f} s): {m['cpu']}, "
                 f"{m['memory']}, {m['os']}, kernel {m['kernel']}; load average "
                 f"{r['load_before']} before, "
                 f"{r['load_after']} after. Versions: qcss {m['qcss']}, MariaDB {m['MariaDB']} "
                 f"(private mariadbd: {r['private_mysql']}), ZooKeeper {m['ZooKeeper']} "
                 f"(kazoo {m['kazoo']}), etcd {m['etcd']} (v3 JSON gateway), SQLite "
                 f"{m['SQLite']}, Python {m['python']}. Values 100 B, loopback, single "
                 f"client medians of {r['rounds']} alternating rounds.")
    lines.append("")
    lines.append("| ops/s | " + " | ".join(OP_TITLES[o] for o in OPS) + " |")
    lines.append("|---|" + "---:|" * len(OPS))
    for name, ops in r["single"].items():
        lines.append(f"| {name} | " + " | ".join(fmt(ops.get(o, float("nan"))) for o in OPS)
                     + " |")
    lines.append("")
    lines.append("Watch propagation (write returned -> callback; qcss polls every "
                 f"{r['watch_interval']} s, the library default; the others push):")
    lines.append("")
    lines.append("| system | median | p99 |")
    lines.append("|---|---:|---:|")
    for name, v in r["watch"].items():
        lines.append(f"| {name} | {v['median_ms']:.2f} ms | {v['p99_ms']:.2f} ms |")
    lines.append("")
    levels = r["levels"]
    lines.append(f"Concurrent writers (each sets its own key in a loop for {r['duration']} s; "
                 "median of the rounds): set/s, and set latency p50 / p99 in ms")
    lines.append("")
    lines.append("| writers | " + " | ".join(str(n) for n in levels) + " |")
    lines.append("|---|" + "---:|" * len(levels))
    for label, per in r["writers"].items():
        cells = [f"{fmt(per[str(n)]['ops'])} ({per[str(n)]['p50_ms']:.1f} / "
                 f"{per[str(n)]['p99_ms']:.1f})" for n in levels]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("CPU per set in the same runs, µs: client (all writer processes or threads) + "
                 "server (mariadbd, ZooKeeper's JVM, etcd; SQLite has none) — steadier than "
                 "throughput when other load shares the machine:")
    lines.append("")
    lines.append("| writers | " + " | ".join(str(n) for n in levels) + " |")
    lines.append("|---|" + "---:|" * len(levels))
    for label, per in r["writers"].items():
        cells = [f"{per[str(n)].get('client_cpu_us', 0):,.0f} + "
                 f"{per[str(n)].get('server_cpu_us', 0):,.0f}" for n in levels]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Targets (ratios measured in this run):")
    lines.append("")
    for t in r["targets"]:
        lines.append(f"- {t}")
    return "\n".join(lines) + "\n"


def targets(r: dict[str, Any]) -> list[str]:
    out = []
    w = r["writers"]
    for label, zk in (("qcss MySQL, processes", "ZooKeeper, processes"),
                      ("qcss MySQL, threads", "ZooKeeper, threads")):
        if "16" in w.get(label, {}) and "16" in w.get(zk, {}):
            q, z = w[label]["16"]["ops"], w[zk]["16"]["ops"]
            ok = "met" if q >= 1.5 * z else "at least ZooKeeper" if q >= z else "NOT met"
            out.append(f"16 writers, {label} / {zk}: {q:,.0f} / {z:,.0f} = **{q / z:.2f}x** "
                       f"(target >= 1.5x: {ok})")
    s = r["single"]
    if "qcss MySQL" in s and "ZooKeeper" in s:
        q, z = s["qcss MySQL"]["children1000"], s["ZooKeeper"]["children1000"]
        out.append(f"getChildren(1000), qcss MySQL (Python) / ZooKeeper: {q:,.0f} / {z:,.0f} = "
                   f"**{q / z:.2f}x** (target >= 2x: {'met' if q >= 2 * z else 'NOT met'})")
    return out


def plots(r: dict[str, Any], img: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    img.mkdir(parents=True, exist_ok=True)
    levels = r["levels"]
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, per in r["writers"].items():
        ax.plot(levels, [per[str(n)]["ops"] for n in levels], marker="o", label=label,
                linestyle="--" if "threads" in label else "-")
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(n) for n in levels])
    ax.set_xlabel("concurrent writers")
    ax.set_ylabel("sets per second (all writers)")
    ax.set_title("Write throughput vs writers (each writer its own key)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(img / "peers-writers.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
    for ax, key, title in ((axes[0], "p50_ms", "median"), (axes[1], "p99_ms", "p99")):
        for label, per in r["writers"].items():
            ax.plot(levels, [per[str(n)][key] for n in levels], marker="o", label=label,
                    linestyle="--" if "threads" in label else "-")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(levels, [str(n) for n in levels])
        ax.set_xlabel("concurrent writers")
        ax.set_title(f"set latency, {title}")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("ms")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    paths.append(img / "peers-latency.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    return paths


def write_docs(r: dict[str, Any], doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise RuntimeError(f"{doc}: the markers {BEGIN!r} ... {END!r} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    imgs = ("\n![write throughput vs writers](img/peers-writers.png)\n\n"
            "![set latency vs writers](img/peers-latency.png)\n")
    doc.write_text(head + BEGIN + "\n" + render(r) + imgs + END + tail, encoding="utf-8")


# --------------------------------------------------------------------------- main

@contextlib.contextmanager
def servers(tmp: Path, mysql_url: str | None) -> Iterator[tuple[Conf, str, bool]]:
    zk = ZkServer(tmp / "zk", snap_count=100000, extra_cfg="maxClientCnxns=0\n")
    etcd = Etcd(tmp / "etcd")
    my: qmysql.Server | None = None
    db = ""
    try:
        zk.start()
        etcd.start()
        if mysql_url:
            import urllib.parse
            p = urllib.parse.urlsplit(mysql_url)
            my = qmysql.Server(f"{p.scheme}://{p.netloc}", query=f"?{p.query}" if p.query else "")
        else:
            my = qmysql.start_private(tmp / "mysql")
        with my.fresh_database() as url:
            db = url
            sqlite_url = f"sqlite:///{tmp / 'bench.db'}?create=1"
            conn = my.connect()
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                row = cur.fetchone()
            conn.close()
            pids = {"zk": zk.proc.pid if zk.proc else 0,
                    "etcd": etcd.proc.pid if etcd.proc else 0,
                    "mysql": my.proc.pid if my.proc else 0}
            yield (Conf(url, sqlite_url, zk.hosts, etcd.port, pids),
                   str(row[0]) if row else "?", mysql_url is None)
    finally:
        del db
        if my is not None:
            my.stop()
        etcd.stop()
        zk.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short windows, one round (~1 min)")
    ap.add_argument("--write-docs", action="store_true",
                    help="update docs/performance.md's peers section and docs/img/peers-*.png")
    ap.add_argument("--mysql-url", help="an existing server (default: a private mariadbd)")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--levels", default="1,4,16,64", help="concurrent writer counts")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    a = ap.parse_args()
    rounds, window, duration = (1, 0.15, 1.0) if a.quick else (5, 0.4, 2.0)
    wrounds, wsamples = (1, 5) if a.quick else (3, 30)
    levels = [int(x) for x in a.levels.split(",")]
    interval = 0.1
    started = time.time()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    tmp = Path(tempfile.mkdtemp(prefix="qcss-peers-"))
    try:
        with servers(tmp, a.mysql_url) as (conf, myver, private):
            etcd_ver = _cmd("etcd", "--version").splitlines()[0].split()[-1]
            systems: list[System] = [open_system(k, conf) for k in ("mysql", "sqlite", "zk",
                                                                      "etcd")]
            for s in systems:
                populate(s, a.quick)
            mkv: Any = systems[0].kv  # type: ignore[attr-defined]
            mirror = mkv.mirror("/bench")
            mirror.waitFor(mkv.revision(), timeout=60)
            ms = Qcss("qcss mirror", mirror)
            ms.reads_only = True
            systems.insert(2, ms)
            check_layout(systems)
            print("single client ...", file=sys.stderr, flush=True)
            single = single_client(systems, rounds, window)
            for s in systems:
                s.close()
            print("watch propagation ...", file=sys.stderr, flush=True)
            watch = watch_latency(conf, ["mysql", "sqlite", "zk", "etcd"], wrounds, wsamples,
                                  interval)
            print("concurrent writers ...", file=sys.stderr, flush=True)
            writers = concurrent(conf, levels, wrounds if not a.quick else 1, duration)
            r: dict[str, Any] = {
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
                "mode": "--quick" if a.quick else "full", "rounds": rounds,
                "load_before": load_before, "duration": duration, "watch_interval": interval,
                "private_mysql": "yes" if private else "no, --mysql-url",
                "machine": machine(myver, etcd_ver), "single": single, "watch": watch,
                "levels": levels,
                "writers": {k: {str(n): v for n, v in per.items()} for k, per in writers.items()},
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r["load_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    r["elapsed_s"] = time.time() - started
    r["targets"] = targets(r)
    print(render(r))
    if a.json:
        a.json.write_text(json.dumps(r, indent=1))
    if a.write_docs:
        write_docs(r, a.doc)
        for p in plots(r, a.doc.parent / "img"):
            print(f"wrote {p}", file=sys.stderr)
        print(f"wrote {a.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
