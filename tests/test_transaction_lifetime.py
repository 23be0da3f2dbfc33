"""A Transaction keeps its store alive (the C++ Transaction holds it; the
binding has no wrapper of its own)."""

from __future__ import annotations

import gc

import qcss


def test_a_transaction_outlives_the_last_reference_to_its_store() -> None:
    txn = qcss.open("mem://").transaction()
    gc.collect()
    assert txn.set("/a", "1").create("/b").commit() == 1
    assert len(txn) == 2


def test_with_commits_once_and_not_after_an_error() -> None:
    kv = qcss.open("mem://")
    with kv.transaction() as txn:
        txn.set("/a", "1")
        assert txn.commit() == 1  # committed inside: the exit does not commit again
    assert kv.revision() == 1
    try:
        with kv.transaction() as txn:
            txn.set("/b", "1")
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    assert not kv.exists("/b") and kv.revision() == 1
