"""Startup cost of css-admin: wall time of `css-admin get KEY` on a SQLite store.

    python bench/bench_startup.py [--runs 20] [--json]

Runs the installed css-admin (next to this Python) N times as a fresh process, as an
operator's shell does, and prints min / median / max wall time next to a bare
`python -c pass` and `python -c "import click"` for scale. Target (issue 16): median
under 150 ms on an idle machine. Also lists which heavy modules a `get` imports (none
expected: SQLAlchemy, tenacity, pymysql, tqdm and kazoo load only in the verbs that use
them). Timings depend on the machine's load: run it idle, and compare with the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("sqlalchemy", "tenacity", "pymysql", "tqdm", "kazoo", "cramjam")


def wall(cmd: list[str], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - t0) * 1000)
    return {"min_ms": round(min(times), 1), "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = ap.parse_args()
    css_admin = str(Path(sys.executable).parent / "css-admin")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        subprocess.run([css_admin, "--url", url + "?create=1", "set", "/k", "v"], check=True,
                       stdout=subprocess.DEVNULL)
        heavy = subprocess.run(
            [sys.executable, "-c",
             "import sys; from qcss.cli import cli; "
             f"cli(['--url', {url!r}, 'get', '/k'], standalone_mode=False); "
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"],
            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        result = {
            "python_pass": wall([sys.executable, "-c", "pass"], args.runs),
            "python_import_click": wall([sys.executable, "-c", "import click"], args.runs),
            "css_admin_get": wall([css_admin, "--url", url, "get", "/k"], args.runs),
            "heavy_modules_imported_by_get": heavy,
            "runs": args.runs,
        }
    with open("/proc/loadavg") as f:
        result["loadavg"] = f.read().split()[0]
    if args.json:
        print(json.dumps(result))
        return
    for name, v in result.items():
        print(f"{name:32} {v}")


if __name__ == "__main__":
    main()
