"""Leases: keys bound to a lease vanish when it is revoked or expires, in one
revision with one Delete each in the change feed; the keep-alive thread keeps
them while the owner lives; a killed owner's keys go after the TTL (store clock)."""

from __future__ import annotations

import threading
import time

import pytest
from lock_support import Worker, eventually, lease_expiry, shared_url

import qcss

__all__ = ["shared_url"]


def test_revoke_deletes_bound_keys_in_one_revision(kv: qcss.KvInterface) -> None:
    with kv.grantLease(5.0, purpose="worker") as lease:
        kv.create("/live/w1", "up", lease=lease)
        kv.set("/live/w1/port", "5012", lease=lease.id)
        kv.create("/live/static", "stays")
        assert kv.getStat("/live/w1").lease == lease.id
        (info,) = [li for li in kv.leases() if li.id == lease.id]
        assert info.purpose == "worker" and info.numKeys == 2 and info.ttlMs == 5000
        before = kv.revision()
    assert lease.revoked and not lease.lost
    assert not kv.exists("/live/w1") and kv.exists("/live/static")
    changes = kv.changes(before, "/live")
    assert [(c.kindName, c.key) for c in changes] == [
        ("delete", "/live/w1/port"), ("delete", "/live/w1")]
    assert len({c.revision for c in changes}) == 1
    with pytest.raises(qcss.LeaseExpired):
        kv.create("/live/w2", lease=lease)


def test_keep_alive_outlives_the_ttl(kv: qcss.KvInterface) -> None:
    with kv.grantLease(1.0) as lease:
        kv.create("/eph", lease=lease)
        # Watch for 2.5 TTLs: the key never disappears while the lease lives.
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            assert kv.exists("/eph")
            time.sleep(0.02)
        assert lease.alive


def test_lost_lease_runs_the_callback_once(kv: qcss.KvInterface) -> None:
    seen: list[int] = []
    got = threading.Event()

    def on_lost(lease_id: int) -> None:
        seen.append(lease_id)
        got.set()

    lease = kv.grantLease(0.3, onLost=on_lost)
    kv.create("/eph", lease=lease)
    kv.revokeLease(lease.id)  # behind its back, as an operator would
    assert got.wait(5.0)
    assert seen == [lease.id]
    assert lease.lost and not lease.keepAlive()
    assert not kv.exists("/eph")
    lease.revoke()  # harmless


def test_bad_ttl_is_refused(kv: qcss.KvInterface) -> None:
    with pytest.raises(qcss.ConfigError):
        kv.grantLease(0)


def test_killed_owner_key_disappears_after_ttl(shared_url: str) -> None:
    kv = qcss.open(shared_url)
    w = Worker("ephemeral", shared_url, "/workers/w1", "2.0")
    try:
        (lease_id,) = w.expect("ready")
        assert kv.exists("/workers/w1")
        since = kv.revision()
        w.kill()
        # No keep-alive can come any more: this is the last expiry, store clock.
        expires = lease_expiry(kv, int(lease_id))
        # The parent's own lease reaps after every renewal (every ttl/3). (TTLs
        # under a second were seen to expire on a loaded 2-core machine.)
        with kv.grantLease(1.5, purpose="reaper") as reaper:
            try:
                eventually(lambda: not kv.exists("/workers/w1"), 10.0,
                           "the dead worker's key goes")
            finally:
                assert not reaper.lost, "the reaper's own lease was lost"
        deletes = [c for c in kv.changes(since, "/workers") if c.kindName == "delete"]
        assert [c.key for c in deletes] == ["/workers/w1"]
        # Never before the lease's expiry on the store clock, and not long after
        # (the reaper runs every 0.5 s).
        assert deletes[0].time >= expires - 0.002
        assert deletes[0].time <= expires + 3.0
    finally:
        w.kill()


def test_one_lease_api_in_seconds(kv: qcss.KvInterface) -> None:
    # grantLease/keepLeaseAlive/revokeLease; every TTL in seconds (float).
    lease_id = kv.grantLeaseId(30.0, "raw")
    [info] = [li for li in kv.leases() if li.id == lease_id]
    assert info.ttlMs == 30_000
    assert kv.keepLeaseAlive(lease_id)
    kv.revokeLease(lease_id)
    assert not kv.keepLeaseAlive(lease_id)
    with pytest.raises(qcss.ConfigError):
        kv.grantLeaseId(0)
    for old in ("leaseGrant", "leaseKeepAlive", "leaseRevoke"):
        assert not hasattr(kv, old)
