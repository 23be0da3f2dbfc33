"""High availability on MariaDB: a private 3-node Galera cluster and a primary with
an asynchronous replica (qcss.testing.galera), all on this machine.

- write latency and throughput: Galera (writers spread over the nodes) vs a single
  server (the primary), 1 and 4 writer threads, each writing its own key;
- failover: a writer on node 2 writes continuously; node 2 is SIGKILLed; the time
  until its next acknowledged write (on another node), repeated with restarts (IST);
- poller load: N idle watchers on the replica vs on the primary: queries per second
  and CPU seconds per second the primary spends on them.

    python bench/bench_ha.py [--quick] [--pollers N]

Everything it starts is stopped (by its own pid) at the end. Loopback numbers: no
network latency between the nodes, so Galera's commit cost here is mostly
certification and the extra round trips, not the WAN.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pymysql

import qcss
from qcss.testing.galera import GaleraCluster, Node, galera_cluster, replica_pair


def writes(urls: list[str], threads: int, seconds: float) -> tuple[float, float, float]:
    """(ops/s, median ms, p99 ms) of `threads` threads setting their own keys, thread i
    on urls[i % len(urls)]."""
    lat: list[list[float]] = [[] for _ in range(threads)]
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        kv = qcss.open(urls[i % len(urls)])
        key = f"/bench/w{i}"
        kv.set(key, b"0")
        n = 0
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            kv.set(key, str(n))
            lat[i].append(time.perf_counter() - t0)
            n += 1

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    allv = sorted(x for part in lat for x in part)
    return (len(allv) / dt, statistics.median(allv) * 1e3, allv[int(0.99 * (len(allv) - 1))] * 1e3)


def _one_failover(cluster: GaleraCluster) -> float:
    """Seconds from SIGKILL of the writer's node (2) to the acknowledgement of the first
    write sent after it (a write acknowledged just after the kill was committed before)."""
    kv = qcss.open(cluster.url(2, 0, 1))
    kv.set("/bench/fo", b"start")
    acked: list[tuple[float, float]] = []  # (sent, acknowledged)
    stop = threading.Event()

    def loop() -> None:
        n = 0
        while not stop.is_set():
            sent = time.monotonic()
            try:
                kv.set("/bench/fo", str(n))
                acked.append((sent, time.monotonic()))
            except qcss.CssError:
                pass
            n += 1

    t = threading.Thread(target=loop)
    t.start()
    time.sleep(1.0)  # bench: let the writer run before the kill
    killed = time.monotonic()
    cluster.kill(2)
    deadline = killed + 30
    while time.monotonic() < deadline and not (acked and acked[-1][0] > killed):
        time.sleep(0.01)  # bench: polling for the first write after the kill
    stop.set()
    t.join()
    after = [done for sent, done in acked if sent > killed]
    return after[0] - killed if after else float("nan")


def failover(cluster: GaleraCluster, rounds: int) -> list[float]:
    out = []
    for r in range(rounds):
        gap = _one_failover(cluster)
        out.append(gap)
        join = cluster.restart(2)
        print(f"  round {r + 1}: writes resumed {gap:.2f} s after SIGKILL; "
              f"node rejoined (IST) in {join:.1f} s", flush=True)
    return out


def _cpu_seconds(node: Node) -> float:
    assert node.proc is not None
    fields = Path(f"/proc/{node.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _questions(node: Node) -> int:
    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
            row = cur.fetchone()
            return int(row[1]) if row else 0
    finally:
        conn.close()


def poller_load(primary: Node, url: str, n: int, seconds: float) -> tuple[float, float]:
    """(queries/s, CPU s/s) on the primary while n watchers poll `url` every 0.1 s."""
    stores = [qcss.open(url) for _ in range(n)]
    watchers = [kv.watch("/bench", lambda ch, rev: None, interval=0.1) for kv in stores]
    time.sleep(1.0)  # bench: let the pollers settle
    q0, c0, t0 = _questions(primary), _cpu_seconds(primary), time.monotonic()
    time.sleep(seconds)  # bench: the measured interval
    q1, c1, t1 = _questions(primary), _cpu_seconds(primary), time.monotonic()
    for w in watchers:
        w.stop()
    return (q1 - q0) / (t1 - t0), (c1 - c0) / (t1 - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    ap.add_argument("--pollers", type=int, default=100)
    args = ap.parse_args()
    secs = 2.0 if args.quick else 8.0
    rounds = 1 if args.quick else 3
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ha-") as tmp, \
            replica_pair(base=Path(tmp)) as pair, galera_cluster(3, base=Path(tmp)) as cluster:
        single = pair.primary_url()
        gal = [cluster.url(i, (i + 1) % 3, (i + 2) % 3) for i in range(3)]
        for threads in (1, 4):
            for name, urls in (("single server", [single]), ("Galera, 3 nodes", gal)):
                ops, med, p99 = writes(urls, threads, secs)
                rows.append((name, threads, ops, med, p99))
        print("| store | writer threads | writes/s | median ms | p99 ms |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, threads, ops, med, p99 in rows:
            print(f"| {name} | {threads} | {ops:,.0f} | {med:.2f} | {p99:.2f} |")
        print("\nfailover (SIGKILL of the writer's node):", flush=True)
        gaps = failover(cluster, rounds)
        print(f"writes resumed after: {', '.join(f'{g:.2f}' for g in gaps)} s")
        print(f"\npoller load on the primary, {args.pollers} idle watchers (interval 0.1 s):")
        for where, url in (("on the primary", single), ("on the replica", pair.replica_url())):
            qps, cpu = poller_load(pair.primary, url, args.pollers, secs)
            print(f"| pollers {where} | {qps:,.0f} queries/s | {cpu:.3f} CPU s/s |")


if __name__ == "__main__":
    main()
