"""Many threads writing through one store object (group commit: their small batches
coalesced into one database transaction, each batch still its own revision): every
caller gets its own revision, version or error, revisions stay gapless and in commit
order, the change log says exactly what each caller wrote, and no write is lost.
Run with group commit on (the default) and off (QCSS_GROUP_COMMIT=0)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import qcss
from conftest import Store, make_store

THREADS = 16


@pytest.fixture(params=["sqlite-grouped", "mysql-grouped", "mysql-alone"])
def kv(request: pytest.FixtureRequest, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[qcss.KvInterface]:
    backend, mode = request.param.split("-")
    monkeypatch.setenv("QCSS_GROUP_COMMIT", "1" if mode == "grouped" else "0")
    for store in make_store(backend, tmp_path, request):
        yield _open(store)


def _open(store: Store) -> qcss.KvInterface:
    return store.open(pool_size=str(THREADS)) if store.url.startswith("mysql") else store.open()


def _threads(n: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            work(t)
        except BaseException as exc:  # reported below, with the thread's context
            errors.append(exc)

    ts = [threading.Thread(target=run, args=(t,)) for t in range(n)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    assert errors == []


def test_each_writer_gets_its_own_gapless_revision(kv: qcss.KvInterface) -> None:
    rounds = 25
    kv.create("/w", "")
    rev0 = kv.revision()
    got: list[tuple[int, str, bytes]] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(rounds):
            key, value = f"/w/t{t:02d}", f"{t}:{i}".encode()
            if i % 2:
                rev = kv.transaction().set(key, value).commit()
            else:
                assert kv.set(key, value) == i + 1  # its own version, exactly
                rev = max(c.revision for c in kv.changes(rev0, key))
            with lock:
                got.append((rev, key, value))

    _threads(THREADS, work)
    n = THREADS * rounds
    odd = sorted(r for r in got if int(r[2].split(b":")[1]) % 2)
    assert len({r[0] for r in odd}) == len(odd)  # no two commits share a revision
    changes = kv.changes(rev0)
    assert [c.revision for c in changes] == list(range(rev0 + 1, rev0 + n + 1))
    assert kv.revision() == rev0 + n
    by_rev = {c.revision: (c.key, c.value) for c in changes}
    for rev, key, value in odd:
        assert by_rev[rev] == (key, value)  # the log says what that caller wrote
    for t in range(THREADS):
        st = kv.getStat(f"/w/t{t:02d}")
        assert st.version == rounds
        assert kv.get(f"/w/t{t:02d}") == f"{t}:{rounds - 1}".encode()


def test_compare_and_set_and_creates_racing_in_one_group(kv: qcss.KvInterface) -> None:
    """Each round, all threads start together: even threads compare-and-set /cas from the
    same version (exactly one may win), odd ones set their own key (all must win) and
    create one shared key (exactly one may win). Failing batches take no revision."""
    rounds = 12
    kv.set("/cas", "0")
    rev0 = kv.revision()
    barrier = threading.Barrier(THREADS)
    wins: list[list[int]] = [[] for _ in range(rounds)]
    creators: list[list[int]] = [[] for _ in range(rounds)]
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(rounds):
            version = kv.getStat("/cas").version
            barrier.wait()
            if t % 2 == 0:
                try:
                    kv.set("/cas", f"{i}:{t}", version=version)
                    with lock:
                        wins[i].append(t)
                except qcss.VersionMismatchError:
                    pass
            else:
                assert kv.set(f"/own/t{t:02d}", str(i)) == i + 1
                try:
                    kv.create(f"/shared/r{i:02d}", str(t))
                    with lock:
                        creators[i].append(t)
                except qcss.KeyExistsError:
                    pass
            barrier.wait()  # the round is over for everyone before the next read

    _threads(THREADS, work)
    assert all(len(w) == 1 for w in wins), wins
    assert all(len(c) == 1 for c in creators), creators
    assert kv.getStat("/cas").version == 1 + rounds
    assert kv.get("/cas") == f"{rounds - 1}:{wins[-1][0]}".encode()
    for i in range(rounds):
        assert kv.get(f"/shared/r{i:02d}") == str(creators[i][0]).encode()
    changes = kv.changes(rev0)
    # Every successful batch one revision, none for a failed one: the CAS winners, the
    # own sets, the creates (the first one also creating /shared).
    odd = THREADS // 2
    n = rounds * (1 + odd + 1)
    assert sorted({c.revision for c in changes}) == list(range(rev0 + 1, rev0 + n + 1))
    assert kv.revision() == rev0 + n
    assert [c.revision for c in changes] == sorted(c.revision for c in changes)
    cas = [c for c in changes if c.key == "/cas"]
    assert [c.version for c in cas] == list(range(2, rounds + 2))
    assert [c.value for c in cas] == [f"{i}:{wins[i][0]}".encode() for i in range(rounds)]
    assert [c.key for c in changes if c.key.startswith("/shared")] == \
        ["/shared"] + [f"/shared/r{i:02d}" for i in range(rounds)]
