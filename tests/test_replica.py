"""Reads, watchers and mirrors on an asynchronous GTID replica (?role=replica) while
writes go to the primary; both private servers started by qcss.testing.galera.replica_pair."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

import qcss
from qcss.testing.galera import ReplicaPair, replica_pair, wait_until
from qcss.testing.mysql import NoServer

pytestmark = [pytest.mark.galera, pytest.mark.slow]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaPair]:
    try:
        with replica_pair(base=tmp_path_factory.mktemp("replica")) as p:
            yield p
    except NoServer as exc:
        if os.environ.get("CI"):
            pytest.fail(f"replica tests cannot run: {exc}")
        pytest.skip(str(exc))


def test_mirror_on_replica_equals_primary_at_each_wait_for(pair: ReplicaPair) -> None:
    primary = qcss.open(pair.primary_url())
    replica = qcss.open(pair.replica_url())
    seen: list[tuple[int, str, int]] = []
    lock = threading.Lock()

    def on_changes(changes: list[qcss.Change], _rev: int) -> None:
        with lock:
            seen.extend((c.revision, c.key, c.version) for c in changes)

    start = primary.revision()
    watcher = replica.watch("/", on_changes, sinceRevision=start, interval=0.02)
    with replica.mirror("/", interval=0.02) as mirror:
        for i in range(30):
            txn = primary.transaction()
            for j in range(i % 4 + 1):
                key, value = f"/r/{j}", f"{i}:{j}"
                if primary.exists(key):
                    txn.set(key, value)
                else:
                    txn.create(key, value)
            if i % 5 == 4:
                txn.create(f"/gone/{i}", b"x")
            rev = txn.commit()
            if i % 10 == 9:
                primary.deleteKey("/gone")
                rev = primary.revision()
            # Read-your-writes on the replica: wait for the revision the write returned.
            assert mirror.waitFor(rev, timeout=60), f"mirror did not reach revision {rev}"
            assert mirror.snapshot("/").items() == primary.snapshot("/").items()
            assert replica.revision() >= rev
    rev = primary.revision()
    wait_until(lambda: watcher.position >= rev, "the watcher on the replica to catch up")
    watcher.stop()
    assert seen == [(c.revision, c.key, c.version) for c in primary.changes(start)]


def test_writes_to_a_replica_are_refused(pair: ReplicaPair) -> None:
    replica = qcss.open(pair.replica_url())
    assert replica.readOnly()
    with pytest.raises(qcss.ReadonlyCss):
        replica.create("/nope", b"1")
