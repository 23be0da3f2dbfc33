"""Several processes on one SQL store: no lost update, no spurious failure,
revisions gapless and in commit order (SQLite and MySQL/MariaDB)."""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import qcss
from conftest import Store, make_store

PROCS = 4
INCREMENTS = 25


@pytest.fixture(params=["sqlite", "mysql"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path, request)


def _increment(url: str, n: int, q: mp.Queue[tuple[int, int]]) -> None:
    kv = qcss.open(url)
    conflicts = 0
    done = 0
    while done < n:
        entry = kv.snapshot("/counter").entries[0]  # value and version, one read
        try:
            # Compare-and-set on the version read: fails if anyone wrote since.
            kv.set("/counter", str(int(entry.value) + 1), version=entry.stat.version)
            done += 1
        except qcss.VersionMismatchError:
            conflicts += 1
    q.put((done, conflicts))


def _create_children(url: str, worker: int, n: int, q: mp.Queue[tuple[int, int]]) -> None:
    kv = qcss.open(url)
    made = 0
    for i in range(n):
        kv.create(f"/fresh/parent/w{worker}_{i}", f"{worker}:{i}")
        made += 1
    q.put((worker, made))


def _writer(url: str, worker: int, n: int, q: mp.Queue[list[int]]) -> None:
    kv = qcss.open(url)
    revs = []
    for i in range(n):
        if i % 3 == 0:
            revs.append(kv.transaction().set(f"/log/w{worker}/a", str(i))
                        .set(f"/log/w{worker}/b", str(i)).commit())
        else:
            kv.set(f"/log/w{worker}/k{i % 5}", str(i))
            revs.append(kv.revision())
    q.put(revs)


def _run(target: object, args_list: list[tuple[object, ...]]) -> list[object]:
    ctx = mp.get_context("spawn")
    q: mp.Queue[object] = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, q)) for a in args_list]  # type: ignore[arg-type]
    for p in procs:
        p.start()
    results = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def test_compare_and_set_increments_lose_nothing(sql_store: Store) -> None:
    kv = sql_store.open()
    kv.set("/counter", "0")
    results = _run(_increment, [(sql_store.url, INCREMENTS)] * PROCS)
    assert sum(r[0] for r in results) == PROCS * INCREMENTS  # type: ignore[index]
    assert kv.get("/counter") == str(PROCS * INCREMENTS).encode()
    assert kv.getStat("/counter").version == PROCS * INCREMENTS + 1


def test_concurrent_creates_under_one_new_parent_all_succeed(sql_store: Store) -> None:
    kv = sql_store.open()
    n = 20
    results = _run(_create_children, [(sql_store.url, w, n) for w in range(PROCS)])
    assert sorted(results) == [(w, n) for w in range(PROCS)]  # type: ignore[type-var]
    children = kv.getChildren("/fresh/parent")
    assert len(children) == PROCS * n
    assert kv.getStat("/fresh").version == 1  # created once, never rewritten
    puts = [c for c in kv.changes(0, "/fresh") if c.key in ("/fresh", "/fresh/parent")]
    assert [c.key for c in puts] == ["/fresh", "/fresh/parent"]


def test_change_log_revisions_gapless_and_in_commit_order(sql_store: Store) -> None:
    kv = sql_store.open()
    results = _run(_writer, [(sql_store.url, w, 30) for w in range(PROCS)])
    changes = kv.changes(0)
    revs = [c.revision for c in changes]
    # One revision per committed batch, in order, without a gap.
    distinct = sorted(set(revs))
    assert revs == sorted(revs)
    assert distinct == list(range(1, kv.revision() + 1))
    # Each batch's changes share its revision: the two-key transactions.
    committed = [r for rs in results for r in rs]  # type: ignore[attr-defined]
    assert len(distinct) == PROCS * 30
    assert max(committed) <= kv.revision()
    by_rev: dict[int, list[str]] = {}
    for c in changes:
        by_rev.setdefault(c.revision, []).append(c.key)
    pairs = [ks for ks in by_rev.values() if len(ks) >= 2 and ks[-1].endswith("/b")]
    assert len(pairs) == PROCS * 10
    # A poller reading "revision > last" in pages sees every change exactly once.
    seen = []
    last = 0
    while True:
        page = kv.changes(last, "/", 7)
        if not page:
            break
        seen.extend(page)
        last = page[-1].revision
    assert [(c.revision, c.key) for c in seen] == [(c.revision, c.key) for c in changes]


def test_threads_sharing_one_store_rewrite_their_keys_exactly(sql_store: Store) -> None:
    """Threads of one store object, each rewriting its own keys and bumping a
    shared counter by compare-and-set: the row cache (a write in one round
    trip from rows remembered at the last revision) races with every other
    thread's writes, and still no version is skipped or repeated."""
    kv = sql_store.open()
    rounds, threads = 60, 4
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(rounds):
                assert kv.set(f"/th/t{t}/own", str(i)) == i + 1
                if i % 4 == 0:
                    kv.create(f"/th/t{t}/c{i}", "x")
                while True:
                    st = kv.getStat("/th/shared") if kv.exists("/th/shared") else None
                    try:
                        if st is None:
                            kv.create("/th/shared", "1")
                        else:
                            kv.set("/th/shared", str(st.version + 1), version=st.version)
                        break
                    except (qcss.VersionMismatchError, qcss.KeyExistsError):
                        continue
        except BaseException as exc:  # reported below, with the thread's context
            errors.append(exc)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    assert errors == []
    for t in range(threads):
        assert kv.getStat(f"/th/t{t}/own").version == rounds
        assert len(kv.getChildren(f"/th/t{t}")) == 1 + rounds // 4
    assert kv.getStat("/th/shared").version == rounds * threads
    revs = [c.revision for c in kv.changes(0)]
    assert sorted(set(revs)) == list(range(1, kv.revision() + 1))  # gapless
