"""qcss on a real 3-node MariaDB Galera cluster started by the harness
(qcss.testing.galera): writers on different nodes, a node SIGKILLed mid-load and
restarted (IST rejoin), a watcher on the killed node failing over.

The cluster is the session's ``galera`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import qcss
from qcss.testing.galera import GaleraCluster, wait_until

pytestmark = [pytest.mark.galera, pytest.mark.slow]

WORKER = Path(__file__).parent / "galera_worker.py"


def progress(out: Path) -> int:
    try:
        return int(out.with_suffix(".progress").read_text() or 0)
    except (OSError, ValueError):
        return 0


def test_writers_on_all_nodes_survive_a_node_kill(galera: GaleraCluster, tmp_path: Path) -> None:
    kv = qcss.open(galera.url(0, 1, 2))
    for k in ("/shared/cas", "/shared/tx", "/w/0", "/w/1", "/w/2", "/w/3"):
        kv.create(k)
    start = kv.revision()

    # A watcher connected to node 2 (the one to be killed) first.
    seen: list[tuple[int, str, int]] = []
    lock = threading.Lock()

    def on_changes(changes: list[qcss.Change], _rev: int) -> None:
        with lock:
            seen.extend((c.revision, c.key, c.version) for c in changes)

    wkv = qcss.open(galera.url(2, 0, 1))
    watcher = wkv.watch("/", on_changes, sinceRevision=start, interval=0.05)

    # Four writers: one on node 0, one on node 1, two on node 2.
    stop = tmp_path / "stop"
    homes = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    outs = [tmp_path / f"w{i}.json" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, str(WORKER), galera.url(*h), str(i), str(stop),
                               str(outs[i])]) for i, h in enumerate(homes)]
    try:
        wait_until(lambda: all(progress(o) >= 20 for o in outs), "every writer to write")
        galera.kill(2)
        at_kill = [progress(o) for o in outs]
        wait_until(lambda: all(progress(o) >= n + 20 for o, n in zip(outs, at_kill, strict=True)),
                   "every writer (those on the killed node too) to write again")
        galera.restart(2)
        at_join = [progress(o) for o in outs]
        wait_until(lambda: all(progress(o) >= n + 20 for o, n in zip(outs, at_join, strict=True)),
                   "every writer to write with node 2 back")
    finally:
        stop.touch()
        for p in procs:
            p.wait(timeout=120)
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    results = [json.loads(o.read_text()) for o in outs]

    # The log: gapless, in revision order, one revision per batch.
    rev = kv.revision()
    log = kv.changes(start)
    revs = [c.revision for c in log]
    assert revs == sorted(revs)
    assert sorted(set(revs)) == list(range(start + 1, rev + 1))

    for kind, key in (("cas", "/shared/cas"), ("tx", "/shared/tx")):
        acked = {t for r in results for k, t in r["acked"] if k == kind}
        unknown = {t for r in results for k, t in r["unknown"] if k == kind}
        applied = [c.value.decode() for c in log if c.key == key]
        assert len(applied) == len(set(applied)), f"{key}: a write applied twice"
        assert acked <= set(applied), f"{key}: acknowledged writes lost: {acked - set(applied)}"
        assert set(applied) <= acked | unknown, f"{key}: writes nobody made"
        # The version counts the increments exactly (1 at create).
        assert kv.getStat(key).version == 1 + len(applied)
        if kind == "tx":
            items = {v.decode() for w in range(4)
                     for v in kv.getChildrenValues(f"/w/{w}").values()}
            assert items == set(applied), "transactions half-applied"

    # The watcher on the killed node moved on and delivered every change exactly once.
    wait_until(lambda: watcher.position >= rev, "the watcher to catch up")
    watcher.stop()
    assert seen == [(c.revision, c.key, c.version) for c in log]

    # Every node (the restarted one too) holds the same store.
    for i in range(3):
        node = qcss.open(galera.url(i))
        assert node.revision() == rev
        assert node.dumpKV("/") == kv.dumpKV("/")
    total = sum(len(r["acked"]) for r in results)
    assert total > 120


def test_tables_galera_cannot_replicate_are_refused(galera: GaleraCluster) -> None:
    conn = galera.nodes[0].connect(galera.database)
    try:
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE qcss_leases ENGINE=MyISAM")
        with pytest.raises(qcss.SchemaError, match="InnoDB"):
            qcss.open(galera.url(0))
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE qcss_leases ENGINE=InnoDB")
            cur.execute("CREATE TABLE qcss_extra (a INT) ENGINE=InnoDB")
        with pytest.raises(qcss.SchemaError, match="primary key"):
            qcss.open(galera.url(0))
    finally:
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE qcss_leases ENGINE=InnoDB")
            cur.execute("DROP TABLE IF EXISTS qcss_extra")
        conn.close()
    qcss.open(galera.url(0)).revision()
