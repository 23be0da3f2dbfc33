"""Measure locks and leases on one store: uncontended acquire+release latency,
a contended counter with several processes, and how long after its lease's
expiry (store clock) a SIGKILLed holder's lock is taken over.

    python bench/bench_locks.py "sqlite:///tmp/b.db?create=1"
    python bench/bench_locks.py mysql://root@127.0.0.1:3306/qcss_bench   (schema installed)
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import qcss

WORKER = Path(__file__).resolve().parent.parent / "tests" / "lock_worker.py"


def uncontended(kv: qcss.KvInterface, n: int) -> None:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        with kv.lock("/bench/solo", timeout=5):
            pass
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"uncontended lock+release: median {statistics.median(times) * 1e3:.2f} ms, "
          f"p90 {times[int(0.9 * len(times))] * 1e3:.2f} ms ({n} runs)")


def contended(url: str, procs: int, each: int) -> None:
    t0 = time.perf_counter()
    ws = [subprocess.Popen([sys.executable, str(WORKER), "counter", url, "/bench/counter",
                            str(each)]) for _ in range(procs)]
    codes = [w.wait() for w in ws]
    dt = time.perf_counter() - t0
    print(f"contended counter: {procs} processes x {each} = {procs * each} increments in "
          f"{dt:.2f} s ({procs * each / dt:.0f}/s), exit codes {codes}")


def takeover(url: str, kv: qcss.KvInterface, ttl: float, runs: int) -> None:
    delays = []
    for _ in range(runs):
        p = subprocess.Popen([sys.executable, str(WORKER), "hold", url, "/bench/kill",
                              "exclusive", str(ttl)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None
        _, _, lease = p.stdout.readline().split()
        p.send_signal(signal.SIGKILL)
        p.wait()
        expires = next(li.expiresAt for li in kv.leases() if li.id == int(lease))
        since = kv.revision()
        with kv.lock("/bench/kill", timeout=ttl + 10) as lk:
            (acq,) = [c for c in kv.changes(since, lk.entryKey) if c.version == 2]
        delays.append(acq.time - expires)
    print(f"SIGKILLed holder (ttl {ttl} s): taken over {min(delays) * 1e3:.0f} .. "
          f"{max(delays) * 1e3:.0f} ms after the lease's expiry (store clock), {runs} runs")


def main() -> None:
    url = sys.argv[1]
    kv = qcss.open(url)
    print(f"{kv.backend()}: {qcss.maskUrl(url)}")
    uncontended(kv, 200)
    if kv.backend() == "mem":
        return  # processes cannot share an in-memory store
    contended(url, 4, 50)
    takeover(url, kv, 1.0, 5)


if __name__ == "__main__":
    main()
