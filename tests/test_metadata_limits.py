"""The metadata limits (issue 11.3), the same on every backend: a client id of at
most MAX_CLIENT_ID_BYTES (checked at open: ConfigError), a lease or lock purpose
of at most MAX_LEASE_PURPOSE_BYTES (checked at grant: ValueTooLargeError), and
nothing written when refused. Before, MySQL accepted both and then failed every
later write with "Data too long for column"."""

from __future__ import annotations

import pytest

import qcss
from qcss.testing import Store


def test_the_limits_are_exported() -> None:
    assert qcss.MAX_CLIENT_ID_BYTES == 255
    assert qcss.MAX_LEASE_PURPOSE_BYTES == 1024


def test_client_id_at_the_limit_is_recorded(store: Store) -> None:
    client = "c" * 253 + "\u00e9"  # 255 bytes, the last character two of them
    kv = store.open(client=client)
    assert kv.clientId() == client
    kv.set("/a", b"1")
    kv.set("/a", b"2")
    assert [c.client for c in kv.changes(0)] == [client, client]
    lease = kv.grantLeaseId(10.0, "p")
    assert [(li.id, li.owner) for li in kv.leases()] == [(lease, client)]


def test_client_id_over_the_limit_is_refused_at_open(store: Store,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(qcss.ConfigError, match=r"client id.*256 bytes.*255"):
        store.open(client="c" * 256)
    monkeypatch.setenv("QCSS_CLIENT_ID", "\u00e9" * 128)  # 256 bytes
    with pytest.raises(qcss.ConfigError, match=r"\$QCSS_CLIENT_ID.*256 bytes"):
        store.open()
    monkeypatch.setenv("QCSS_CLIENT_ID", "e" * 255)
    assert store.open().clientId() == "e" * 255


def test_lease_purpose_limit(store: Store) -> None:
    kv = store.open()
    with pytest.raises(qcss.ValueTooLargeError, match="1025 bytes"):
        kv.grantLeaseId(10.0, "p" * 1025)
    assert kv.leases() == []
    lease = kv.grantLeaseId(10.0, "p" * 1024)
    assert [li.purpose for li in kv.leases()] == ["p" * 1024]
    kv.create("/bound", b"x", lease=lease)  # later writes still work
    kv.set("/a", b"1")
    assert kv.get("/bound") == b"x"


def test_lock_on_a_long_key_with_a_purpose(store: Store) -> None:
    """The issue's case: a lock on a 984-byte key with a 60-byte purpose (its
    lease's purpose, "lock <key>: <purpose>", is longer than the limit and is
    cut to it; the lock entry keeps both whole)."""
    kv = store.open()
    key = "/" + "k" * 983
    purpose = "\u00e9" * 30  # 60 bytes
    with kv.lock(key, timeout=5, purpose=purpose):
        [info] = kv.locks()
        assert info.key == key
        assert info.purpose == purpose
        [lease] = kv.leases()
        assert len(lease.purpose.encode()) <= qcss.MAX_LEASE_PURPOSE_BYTES
        assert lease.purpose.startswith("lock /kkk")
        kv.set("/after", b"1")
    assert kv.locks() == []


def test_lock_purpose_over_the_limit_is_refused(store: Store) -> None:
    kv = store.open()
    with pytest.raises(qcss.ValueTooLargeError, match="purpose of 1025 bytes"):
        kv.lock("/x", timeout=5, purpose="p" * 1025)
    assert kv.locks() == []
    assert kv.leases() == []
