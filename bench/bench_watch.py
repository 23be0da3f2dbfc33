"""Change-feed bench: propagation latency, idle polling cost, mirror reads.

    python bench/bench_watch.py [--samples 100] [--interval 0.1] [--pollers 100]
                                [--idle-seconds 10] [--skip-mysql]

Measures, at the given poll interval (default 0.1 s, the library default):
- commit -> watcher callback and commit -> mirror visibility (mirror.waitFor
  returns), median and p99, on SQLite and on a throwaway MariaDB of its own;
  writes come at random times so that they are not in phase with the polls;
- idle polling cost: N idle watchers (own connections) at 1/interval Hz on that
  MariaDB: statements per poll (server `Questions` and `Com_*` deltas) and the
  server's CPU (utime+stime of mariadbd from /proc/<pid>/stat);
- mirror point-read throughput from Python (and from C++ through the
  bench_mirror program when built in build/cpp).
Prints one JSON object; docs/performance.md ("Change feed") records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pymysql

import qcss

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from feed_backends import MariaDB  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def summary_ms(xs: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(xs) * 1000, 2),
            "p99_ms": round(pct(xs, 99) * 1000, 2),
            "min_ms": round(min(xs) * 1000, 2), "max_ms": round(max(xs) * 1000, 2)}


def propagation(kv: qcss.KvInterface, samples: int, interval: float) -> dict[str, Any]:
    """A writer thread commits at random times (gaps uniform in [0, 2*interval]),
    without waiting for anything, so commits fall at random phases of the polls.
    A watcher callback stamps each revision; a monitor thread stamps when a
    mirror (not woken) has applied each revision, in order."""
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    applied: dict[int, float] = {}
    revs: queue.Queue[int | None] = queue.Queue()

    def callback(changes: list[qcss.Change], revision: int) -> None:
        t = time.perf_counter()
        for c in changes:
            seen.setdefault(c.revision, t)

    def monitor(m: qcss.Mirror) -> None:
        while (rev := revs.get()) is not None:
            if not m.waitFor(rev, timeout=10, wake=False):
                raise RuntimeError(f"mirror did not reach revision {rev}")
            applied[rev] = time.perf_counter()

    rng = random.Random(7)
    with kv.watch("/bench", callback, interval=interval) as w, \
            kv.mirror("/bench", interval=interval) as m, \
            kv.mirror("/bench", interval=interval) as m2:
        mon = threading.Thread(target=monitor, args=(m,))
        mon.start()
        for i in range(samples):
            time.sleep(rng.uniform(0, 2 * interval))
            t = kv.transaction()
            t.set("/bench/k", str(i))
            rev = t.commit()
            committed[rev] = time.perf_counter()
            revs.put(rev)
        revs.put(None)
        mon.join()
        last = max(committed)
        deadline = time.monotonic() + 10
        while w.position < last and time.monotonic() < deadline:
            w.wake()
            time.sleep(0.01)
        # read-your-writes: waitFor() wakes the poller (another mirror)
        woken: list[float] = []
        for i in range(max(10, samples // 4)):
            time.sleep(rng.uniform(0, interval))
            t = kv.transaction()
            t.set("/bench/k", str(i))
            rev = t.commit()
            t0 = time.perf_counter()
            if not m2.waitFor(rev, timeout=10):
                raise RuntimeError(f"mirror did not reach revision {rev}")
            woken.append(time.perf_counter() - t0)
    to_watcher = [seen[r] - t for r, t in committed.items()]
    to_mirror = [applied[r] - t for r, t in committed.items()]
    return {"samples": samples, "interval_s": interval,
            "target_median_ms": interval / 2 * 1000 + 1,
            "commit_to_watcher": summary_ms(to_watcher),
            "commit_to_mirror": summary_ms(to_mirror),
            "commit_to_mirror_waitFor_wake": summary_ms(woken)}


def server_status(port: int) -> dict[str, int]:
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_select', "
                        "'Com_stmt_execute', 'Queries')")
            return {str(k): int(v) for k, v in cur.fetchall()}
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_polling(server: MariaDB, url: str, pollers: int, interval: float,
                 seconds: float) -> dict[str, Any]:
    kvs = [qcss.open(url + "?pool_size=1") for _ in range(pollers)]
    ws = [kv.watch("/", lambda c, r: None, interval=interval) for kv in kvs]
    try:
        time.sleep(1.0)  # let every watcher settle into its idle loop
        s0, c0, p0, t0 = server_status(server.port), cpu_seconds(server.pid), \
            sum(w.polls for w in ws), time.monotonic()
        time.sleep(seconds)
        s1, c1, p1, t1 = server_status(server.port), cpu_seconds(server.pid), \
            sum(w.polls for w in ws), time.monotonic()
    finally:
        for w in ws:
            w.stop()
    polls = p1 - p0
    elapsed = t1 - t0
    d = {k: s1[k] - s0[k] - (1 if k in ("Questions", "Queries") else 0) for k in s0}
    return {"pollers": pollers, "interval_s": interval, "seconds": round(elapsed, 2),
            "polls": polls, "polls_per_s": round(polls / elapsed, 1),
            "statements_per_poll": round(d["Questions"] / polls, 3),
            "com_select_per_poll": round(d["Com_select"] / polls, 3),
            "com_stmt_execute_per_poll": round(d["Com_stmt_execute"] / polls, 3),
            "server_cpu_percent_of_one_core": round((c1 - c0) / elapsed * 100, 2)}


def mirror_reads_python(n_keys: int = 1000, reads: int = 2_000_000) -> dict[str, Any]:
    kv = qcss.open("mem://")
    keys = [f"/DBS/LSST/TABLES/Object_{i}/partitioning" for i in range(n_keys)]
    with kv.transaction() as t:
        for i, k in enumerate(keys):
            t.set(k, f'{{"subChunks": 1, "dirTable": "Object", "n": {i}}}'[:40])
    out: dict[str, Any] = {"keys": n_keys, "reads": reads}
    with kv.mirror("/") as m:
        work = (keys * (reads // n_keys + 1))[:reads]
        for name, fn in (("mirror_get", m.get), ("source_mem_get", kv.get)):
            best = 0.0
            for _ in range(3):  # best of 3: the machine is shared
                t0 = time.perf_counter()
                for k in work:
                    fn(k)
                best = max(best, reads / (time.perf_counter() - t0))
            out[f"{name}_per_s"] = round(best)
        get = m.get
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            for k in work:
                get(k, None)
            best = max(best, reads / (time.perf_counter() - t0))
        out["mirror_get_default_per_s"] = round(best)
    return out


def mirror_reads_cpp() -> dict[str, Any] | None:
    exe = ROOT / "build" / "cpp" / "bench_mirror"
    if not exe.exists():
        return None
    out = subprocess.run([str(exe), "mem://", "1000", "20000000", "40"], check=True,
                         capture_output=True, text=True).stdout
    short = subprocess.run([str(exe), "mem://", "1000", "20000000", "8"], check=True,
                           capture_output=True, text=True).stdout
    return {"value_40_bytes": json.loads(out), "value_8_bytes": json.loads(short)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--pollers", type=int, default=100)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--skip-mysql", action="store_true")
    args = ap.parse_args()
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(),
                                          "load_avg_at_start": os.getloadavg()}}
    result["mirror_reads_python"] = mirror_reads_python()
    result["mirror_reads_cpp"] = mirror_reads_cpp()
    with tempfile.TemporaryDirectory() as tmp:
        kv = qcss.open(f"sqlite:///{tmp}/bench.db?create=1")
        result["propagation_sqlite"] = propagation(kv, args.samples, args.interval)
    if not args.skip_mysql:
        server = MariaDB()
        try:
            server.start()
            url = server.database()
            result["propagation_mariadb"] = propagation(qcss.open(url), args.samples,
                                                        args.interval)
            result["idle_polling_mariadb"] = idle_polling(server, url, args.pollers,
                                                          args.interval, args.idle_seconds)
        finally:
            server.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
