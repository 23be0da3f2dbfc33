"""Processes of the multi-process change-feed tests (run as scripts).

    python watch_procs.py writer URL ID OPS      sets, creates, transactions, deletes
    python watch_procs.py poller URL PREFIX OUT  watch PREFIX from 0; on stdin "R": wait
                                                 until revision R, write what it saw to OUT
    python watch_procs.py mirror URL PREFIX OUT  mirror PREFIX; on stdin "R": waitFor(R),
                                                 write the mirror's snapshot to OUT

Pollers and mirrors print "ready" once they follow the store, and exit 0 only
if they reached R within the timeout.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from typing import Any

import qcss

TIMEOUT = 120.0


def change_record(c: qcss.Change) -> list[Any]:
    return [c.revision, c.kindName, c.key, c.value.hex(), c.version]


def snapshot_record(s: qcss.Snapshot) -> dict[str, Any]:
    return {
        "revision": s.revision,
        "entries": [[e.key, e.value.hex(), e.stat.version, e.stat.createRevision,
                     e.stat.modRevision] for e in s.entries],
    }


def retrying(fn: Any) -> Any:
    """Writers race each other: a deleted parent or a lost CAS is expected."""
    try:
        return fn()
    except (qcss.NoSuchKey, qcss.KeyExistsError, qcss.VersionMismatchError):
        return None


def writer(url: str, ident: int, ops: int) -> None:
    kv = qcss.open(url)
    rng = random.Random(ident)
    base = f"/w/{ident}"
    for i in range(ops):
        k = f"{base}/k{rng.randrange(10)}"
        op = rng.randrange(6)
        if op == 0:
            kv.set(k, f"v{i}")
        elif op == 1:
            kv.create(f"{base}/u/n_", f"c{i}", unique=True)
        elif op == 2:
            t = kv.transaction()
            for _ in range(3):
                t.set(f"{base}/t/x{rng.randrange(6)}/y", str(i))
            t.set(f"/shared/{rng.randrange(3)}", f"{ident}:{i}")
            t.commit()
        elif op == 3:
            retrying(lambda: kv.deleteKey(f"{base}/t"))
        elif op == 4:
            retrying(lambda: kv.create(f"/shared/c{rng.randrange(50)}", str(ident)))
        else:
            retrying(lambda: kv.deleteKey("/shared"))


def poller(url: str, prefix: str, out: str) -> int:
    kv = qcss.open(url)
    seen: list[list[Any]] = []
    lock = threading.Lock()
    reached = threading.Condition(lock)
    position = [0]
    errors: list[str] = []

    def on_changes(changes: list[qcss.Change], revision: int) -> None:
        with reached:
            seen.extend(change_record(c) for c in changes)
            position[0] = revision
            reached.notify_all()

    def on_error(exc: BaseException, attempt: int) -> None:
        with reached:
            errors.append(str(exc))

    with kv.watch(prefix, on_changes, sinceRevision=0, interval=0.05, onError=on_error) as w:
        print("ready", flush=True)
        target = int(sys.stdin.readline())
        deadline = time.monotonic() + TIMEOUT
        ok = True
        with reached:
            # position also advances without a callback (changes outside the
            # prefix): re-check the watcher's own position every 50 ms
            while max(position[0], w.position) < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    ok = False
                    break
                reached.wait(min(left, 0.05))
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"seen": seen, "errors": errors, "position": w.position}, f)
    return 0 if ok else 1


def mirror(url: str, prefix: str, out: str) -> int:
    kv = qcss.open(url)
    with kv.mirror(prefix, interval=0.05) as m:
        print("ready", flush=True)
        target = int(sys.stdin.readline())
        ok = m.waitFor(target, TIMEOUT)
        snap = m.snapshot(prefix)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(snapshot_record(snap), f)
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    role = argv[1]
    if role == "writer":
        writer(argv[2], int(argv[3]), int(argv[4]))
        return 0
    if role == "poller":
        return poller(argv[2], argv[3], argv[4])
    if role == "mirror":
        return mirror(argv[2], argv[3], argv[4])
    raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
