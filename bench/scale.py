"""Scale curves: does qcss stay flat as the store grows?

    python bench/scale.py [--sizes 1000,100000] [--million] [--pollers 10,100,1000]
                          [--mysql-url URL] [--json FILE]

For each store size N (keys /scale/dXXXX/kYYYY: N/1000 parents of 1000 children each), on a
throwaway mariadbd (or --mysql-url) and on SQLite:
- point get and set latency (median, p99 of random keys; sets of existing keys),
- getChildren of a 1000-child parent,
- the load time (bulk transactions of 50,000 creates) for the record.
At the largest size, a mirror of /scale: load time and memory per key (RSS growth of
this process). Then the server's cost of N idle pollers (watchers with their own
connection, library default interval 0.1 s): polls/s, statements per poll, mariadbd CPU.
--million adds 10^6 keys (several minutes to load on a small machine). Prints one JSON
object and a markdown summary; docs/performance.md ("Scale curves") records a run.
Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

import qcss
import qcss.testing.mysql as qmysql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_watch import idle_polling, pct

VALUE = b"v" * 100
CHUNK = 50_000


@dataclass
class ServerRef:  # what bench_watch.idle_polling needs of a server
    port: int
    pid: int


def key(i: int) -> str:
    return f"/scale/d{i // 1000:04d}/k{i % 1000:04d}"


def grow(kv: Any, have: int, want: int) -> float:
    """Creates keys have..want-1 in transactions of CHUNK; returns seconds taken."""
    t0 = time.perf_counter()
    for lo in range(have, want, CHUNK):
        t = kv.transaction()
        for i in range(lo, min(want, lo + CHUNK)):
            t.create(key(i), VALUE)
        t.commit()
    return time.perf_counter() - t0


def settle(server: qmysql.Server, timeout: float = 30.0) -> float:
    """Waits until InnoDB has flushed most of what a bulk load left dirty (under 5 % of the
    buffer pool, at most `timeout`), so that the background flush does not land in the
    latencies measured next."""
    t0 = time.perf_counter()
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            while time.perf_counter() - t0 < timeout:
                cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                            "('Innodb_buffer_pool_pages_dirty', 'Innodb_buffer_pool_pages_total')")
                st = {str(k): int(v) for k, v in cur.fetchall()}
                if st.get("Innodb_buffer_pool_pages_dirty", 0) * 20 <= \
                        st.get("Innodb_buffer_pool_pages_total", 0):
                    break
                time.sleep(0.5)  # polling the server's own counter, not a synchronisation
    finally:
        conn.close()
    return time.perf_counter() - t0


def lat(fn: Any, n: int) -> dict[str, float]:
    xs = []
    for i in range(n):
        a = time.perf_counter()
        fn(i)
        xs.append(time.perf_counter() - a)
    return {"median_us": statistics.median(xs) * 1e6, "p99_us": pct(xs, 99) * 1e6}


def measure(kv: Any, size: int, samples: int) -> dict[str, Any]:
    rng = random.Random(size)
    keys = [key(rng.randrange(size)) for _ in range(samples)]
    parents = [f"/scale/d{rng.randrange(size // 1000):04d}" for _ in range(samples // 10)]
    return {
        "get": lat(lambda i: kv.get(keys[i]), samples),
        "set": lat(lambda i: kv.set(keys[i], VALUE), samples // 2),
        "getChildren(1000)": lat(lambda i: kv.getChildren(parents[i]), len(parents)),
    }


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def mirror_child(url: str) -> int:
    """Loads a mirror of /scale in this (fresh) process: prints its load time and RSS growth."""
    kv = qcss.open(url)
    rev = kv.revision()
    before = rss_kb()
    t0 = time.perf_counter()
    m = kv.mirror("/scale")
    m.waitFor(rev, timeout=600)
    secs = time.perf_counter() - t0
    print(json.dumps({"load_s": secs, "bytes": (rss_kb() - before) * 1024}))
    m.stop()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--million", action="store_true", help="also 1,000,000 keys")
    ap.add_argument("--pollers", default="10,100,1000")
    ap.add_argument("--poll-seconds", type=float, default=5.0)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--mysql-url", help="an existing server (default: a private mariadbd)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--buffer-pool-mb", type=int, default=1024,
                    help="innodb_buffer_pool_size of the private mariadbd (default 1024: "
                         "10^6 keys and their log fit; 0: the server's default, 128)")
    ap.add_argument("--mirror-child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.mirror_child:
        return mirror_child(a.mirror_child)
    sizes = [int(x) for x in a.sizes.split(",")] + ([1_000_000] if a.million else [])
    pollers = [int(x) for x in a.pollers.split(",") if x]
    out: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "load_before": Path("/proc/loadavg").read_text().split()[:3],
                           "sizes": sizes, "stores": {}}
    with tempfile.TemporaryDirectory(prefix="qcss-scale-") as tmp:
        if a.mysql_url:
            import urllib.parse
            p = urllib.parse.urlsplit(a.mysql_url)
            server = qmysql.Server(f"{p.scheme}://{p.netloc}")
        else:
            server = qmysql.start_private(Path(tmp) / "mysql")
            if a.buffer_pool_mb:
                conn = server.connect()
                with conn.cursor() as cur:
                    cur.execute("SET GLOBAL innodb_buffer_pool_size = %s",
                                (a.buffer_pool_mb << 20,))
                conn.close()
        out["buffer_pool_mb"] = a.buffer_pool_mb if not a.mysql_url else "server's"
        try:
            with server.fresh_database() as url:
                stores = {"qcss MariaDB": qcss.open(url),
                          "qcss SQLite": qcss.open(f"sqlite:///{tmp}/scale.db?create=1")}
                for name, kv in stores.items():
                    have = 0
                    res: dict[str, Any] = {}
                    for n in sizes:
                        secs = grow(kv, have, n)
                        have = n
                        waited = settle(server) if name == "qcss MariaDB" else 0.0
                        res[str(n)] = {"load_s": secs, "settle_s": waited,
                                       **measure(kv, n, a.samples)}
                        print(f"{name} {n}: {json.dumps(res[str(n)])}", file=sys.stderr,
                              flush=True)
                    out["stores"][name] = res
                # In a fresh process: its RSS growth is the mirror's alone.
                child = subprocess.run([sys.executable, __file__, "--mirror-child", url],
                                       capture_output=True, text=True, check=True)
                out["mirror"] = {"keys": sizes[-1], "value_bytes": len(VALUE),
                                 **json.loads(child.stdout)}
                out["mirror"]["bytes_per_key"] = out["mirror"].pop("bytes") / sizes[-1]
                print(f"mirror: {json.dumps(out['mirror'])}", file=sys.stderr, flush=True)
                if pollers and server.proc is not None:
                    port = int(url.split("@127.0.0.1:")[1].split("/")[0])
                    conn = pymysql.connect(host="127.0.0.1", port=port, user="root")
                    with conn.cursor() as cur:
                        cur.execute(f"SET GLOBAL max_connections = {max(pollers) + 100}")
                    conn.close()
                    ref = ServerRef(port, server.proc.pid)
                    out["pollers"] = [idle_polling(ref, url, n, 0.1, a.poll_seconds)  # type: ignore[arg-type]
                                      for n in pollers]
                    for r in out["pollers"]:
                        print(f"pollers: {json.dumps(r)}", file=sys.stderr, flush=True)
        finally:
            server.stop()
    out["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print(render(out))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


def render(r: dict[str, Any]) -> str:
    sizes = [str(n) for n in r["sizes"]]
    lines = [f"Run {r['when']}, load average {' '.join(r['load_before'])} before, "
             f"{' '.join(r['load_after'])} after; innodb_buffer_pool_size "
             f"{r.get('buffer_pool_mb')} MiB.", "",
             "| store | operation | " + " | ".join(f"{int(n):,} keys" for n in sizes)
             + " | largest / smallest |",
             "|---|---|" + "---:|" * (len(sizes) + 1)]
    for name, res in r["stores"].items():
        for op in ("get", "set", "getChildren(1000)"):
            cells = [res[n][op]["median_us"] for n in sizes]
            p99 = [res[n][op]["p99_us"] for n in sizes]
            both = [f"{c:,.0f} / {q:,.0f}" for c, q in zip(cells, p99, strict=True)]
            lines.append(f"| {name} | {op} (median / p99 µs) | " + " | ".join(both)
                         + f" | {cells[-1] / cells[0]:.2f} |")
        lines.append(f"| {name} | load (s) | " + " | ".join(
            f"{res[n]['load_s']:.1f}" for n in sizes) + " | |")
    m = r.get("mirror")
    if m:
        lines += ["", f"Mirror of {m['keys']:,} keys ({m['value_bytes']} B values): loaded in "
                      f"{m['load_s']:.1f} s, {m['bytes_per_key']:,.0f} bytes of RSS per key."]
    if r.get("pollers"):
        lines += ["", "| idle pollers (0.1 s) | polls/s | statements per poll | "
                      "mariadbd CPU (% of one core) |", "|---:|---:|---:|---:|"]
        for p in r["pollers"]:
            lines.append(f"| {p['pollers']} | {p['polls_per_s']:,.0f} | "
                         f"{p['statements_per_poll']:.2f} | "
                         f"{p['server_cpu_percent_of_one_core']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
