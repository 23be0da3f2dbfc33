"""bench/peers.py runs end to end (--quick): its own ZooKeeper, etcd and mariadbd, every
section of the table, the target ratios, and --write-docs into a copy of the docs.
Timings are printed by the bench, never asserted here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "peers.py"


@pytest.mark.slow
def test_peers_quick_writes_table_plots_and_ratios(tmp_path: Path) -> None:
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: run scripts/setup-test.sh (etcd-server)")
    doc = tmp_path / "performance.md"
    shutil.copy(ROOT / "docs" / "performance.md", doc)
    before = doc.read_text()
    out = tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if k != "QCSS_TEST_MYSQL_URL"}
    p = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--levels", "1,4", "--write-docs",
         "--doc", str(doc), "--json", str(out)],
        capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert set(r["single"]) == {"qcss MySQL", "qcss SQLite", "qcss mirror", "ZooKeeper", "etcd"}
    for name, ops in r["single"].items():
        expected = 5 if name == "qcss mirror" else 8
        assert len(ops) == expected and all(v > 0 for v in ops.values()), (name, ops)
    assert set(r["watch"]) == {"qcss MySQL", "qcss SQLite", "ZooKeeper", "etcd"}
    for per in r["writers"].values():
        assert set(per) == {"1", "4"} and all(v["ops"] > 0 for v in per.values())
    assert r["private_mysql"] == "yes"
    assert any("getChildren(1000)" in t for t in r["targets"])
    text = doc.read_text()
    assert text != before
    assert "| qcss MySQL |" in text and "| ZooKeeper |" in text and "| etcd |" in text
    assert "img/peers-writers.png" in text and "MariaDB 10" in text
    for png in ("peers-writers.png", "peers-latency.png"):
        assert (tmp_path / "img" / png).read_bytes()[:4] == b"\x89PNG"
    # Everything outside the markers is kept as it was.
    begin = "<!-- bench/peers.py --write-docs: begin"
    assert text.split(begin)[0] == before.split(begin)[0]
    assert text.split("--write-docs: end -->")[1] == before.split("--write-docs: end -->")[1]
