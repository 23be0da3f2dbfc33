"""Bench: import a one-million-key input through css-migrate's writer and print the rate.

    python bench/bench_migrate.py [--keys 1000000] [--url URL] [--batch-size N]

Without --url it uses a fresh MariaDB database on mysql://root@127.0.0.1:3306 when the
mysql backend is built and the server answers, else a fresh SQLite file, else mem://.
The input is a qcss dump file with a Qserv-shaped tree (databases, tables, chunks, replicas)
so that the reader is measured too; the target of the issue is >= 50,000 keys/s into MariaDB.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import qcss
import qcss.schema
from qcss.migrate import formats
from qcss.migrate.plan import build_plan
from qcss.migrate.sources import open_source
from qcss.migrate.writer import verify_plan, write_plan


def keys(n: int) -> Iterator[tuple[str, bytes]]:
    """n keys of a Qserv-like tree, sorted, every parent explicit."""
    out: list[tuple[str, bytes]] = []
    per_chunk = 4  # chunk key, REPLICAS, two replicas
    tables = max(1, n // (1000 * per_chunk))
    made = 0
    for t in range(tables):
        base = f"/DBS/LSST/TABLES/T{t:05d}"
        out.append((base, b"READY"))
        out.append((base + "/CHUNKS", b""))
        made += 2
        for c in range(1000):
            if made >= n:
                break
            ck = f"{base}/CHUNKS/{c:06d}"
            out += [
                (ck, b""),
                (ck + "/REPLICAS", b""),
                (ck + "/REPLICAS/0000000001", b'{"worker":"w1","state":"ok"}'),
                (ck + "/REPLICAS/0000000002", b'{"worker":"w2","state":"ok"}'),
            ]
            made += 4
    out += [("/DBS", b""), ("/DBS/LSST", b"READY"), ("/DBS/LSST/TABLES", b"")]
    out.sort(key=lambda kv: kv[0].encode())
    yield from out[:n]


def write_zk_snapshot(path: Path, entries: Iterator[tuple[str, bytes]]) -> int:
    """A ZooKeeper snapshot file (format 2, as ZooKeeper 3.8 writes it, with checksum) holding
    the entries, so the bench can measure the data-directory reader too."""

    def jstr(text: str) -> bytes:
        raw = text.encode()
        return struct.pack(">i", len(raw)) + raw

    tail = struct.pack(">qqqqqiiiqq", 1, 1, 1, 0, 0, 0, 0, 0, 0, 1)
    parts = [struct.pack(">iiq", 0x5A4B534E, 2, -1), struct.pack(">i", 0)]  # no sessions
    parts.append(struct.pack(">iqiii", 1, 1, 1, 31, 5) + b"world" + jstr("anyone"))
    n = 0
    for key, value in [("", b""), *entries]:
        parts.append(jstr(key) + struct.pack(">i", len(value)) + value + tail)
        n += 1
    parts.append(jstr("/"))
    body = b"".join(parts)
    body += struct.pack(">q", zlib.adler32(body)) + jstr("/")
    path.write_bytes(body)
    return n - 1


MYSQL_SERVER = "mysql://root@127.0.0.1:3306"


def default_url(tmp: Path) -> tuple[str, str | None]:
    """The target URL, and the MariaDB database created for it (dropped at the end)."""
    db = f"qcss_bench_{os.getpid()}"
    try:
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{db}`")  # db: digits and letters only
        finally:
            conn.close()
        url = f"{MYSQL_SERVER}/{db}"
        qcss.schema.init(url)
        qcss.open(url)
        return url, db
    except Exception as e:
        print(f"mysql backend not usable ({e}); trying sqlite", file=sys.stderr)
    try:
        url = f"sqlite:///{tmp / 'bench.db'}?create=1"
        qcss.open(url)
        return url, None
    except Exception as e:
        print(f"sqlite backend not usable ({e}); using mem://", file=sys.stderr)
    return "mem://", None


def drop_database(db: str) -> None:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--url", default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--verify", action="store_true")
    ap.add_argument(
        "--input", choices=["qcss", "zk"], default="qcss",
        help="input format: a qcss dump, or a ZooKeeper data directory (one snapshot)",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        if args.input == "zk":
            (tmp / "zk").mkdir()
            dump = tmp / "zk" / "snapshot.0"
            n = write_zk_snapshot(dump, keys(args.keys))
        else:
            dump = tmp / "input.qcss"
            with dump.open("w", encoding="utf-8") as f:
                n = formats.write_qcss_dump(f, keys(args.keys))
        t1 = time.perf_counter()
        src = open_source(str(dump.parent if args.input == "zk" else dump), "auto")
        plan = build_plan(src)
        t2 = time.perf_counter()
        created: str | None = None
        if args.url:
            url = args.url
        else:
            url, created = default_url(tmp)
        try:
            return run(args, url, n, dump, plan, (t0, t1, t2))
        finally:
            if created:
                drop_database(created)


def run(args: argparse.Namespace, url: str, n: int, dump: Path, plan: Any,
        times: tuple[float, float, float]) -> int:
    """Write `plan` into `url` and print the rates."""
    t0, t1, t2 = times
    kv: Any = qcss.open(url)
    t3 = time.perf_counter()
    rep = write_plan(kv, plan, batch_size=args.batch_size, progress=False)
    t4 = time.perf_counter()
    print(f"target: {qcss.maskUrl(url)}")
    print(f"input: {n} keys, {dump.stat().st_size / 1e6:.1f} MB {args.input} input "
          f"(generated in {t1 - t0:.2f} s)")
    print(f"read + plan: {t2 - t1:.2f} s ({n / (t2 - t1):,.0f} keys/s)")
    print(f"write: {rep.written} keys in {rep.batches} transaction(s), {t4 - t3:.2f} s "
          f"-> {rep.written / (t4 - t3):,.0f} keys/s")
    print(f"end to end (read, plan, write): {n / (t4 - t1 - (t3 - t2)):,.0f} keys/s")
    if args.verify:
        t5 = time.perf_counter()
        vr = verify_plan(kv, plan, progress=False)
        t6 = time.perf_counter()
        print(f"verify: {vr.checked} keys in {t6 - t5:.2f} s, ok={vr.ok}")
        if not vr.ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
