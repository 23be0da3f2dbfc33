// qcss: Lease.h -- a lease kept alive by a background thread while its owner lives.
//
// A lease is a store-side object with a TTL (KvInterface::grantLease). Keys
// created or set with the lease's id are deleted, in one revision and with one
// Delete per key in the change feed, when the lease is revoked or expires. The
// expiry is decided by the store's clock (the database server's for SQL, this
// process's steady clock for mem), never by the client's.
//
// qcss::Lease owns one such lease for a process: grantLease() grants it and
// starts a keep-alive thread that renews it every ttl/3. If a renewal answers
// "no such lease" (the lease expired in between, or an operator broke it), the
// lease is LOST: lost() turns true, the optional lost-callback runs once (on the
// keep-alive thread), and the thread stops. If renewals fail with an error (the
// server is unreachable), the thread retries every ttl/10; once the lease has
// surely expired by the local clock (ttl after the last renewal was SENT, which
// is never later than the server's own deadline) it is declared lost as well.
//
// Reaping: a lease that is not renewed does not delete its keys by itself on
// the SQL backends; somebody must call KvInterface::reapExpiredLeases(). Every
// keep-alive thread does so after each renewal (LeaseOptions::reap), every lock
// waiter does so when a lock it waits for is held under an expired lease, and
// `css-admin leases --reap` does it by hand. See docs/locks.md.
//
// revoke() (and the destructor) stops the thread and revokes the lease,
// deleting its keys. Thread-safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "qcss/KvInterface.h"

namespace qcss {

struct LeaseOptions {
    std::string purpose;                          ///< shown by leases() / css-admin leases
    std::function<void(std::int64_t)> onLost;     ///< called once if the lease is lost
    bool reap = true;                             ///< reap expired leases after each renewal
};

class Lease {
public:
    /// Grant a lease of `ttl` on `kv` and start keeping it alive. Prefer grantLease().
    Lease(KvPtr kv, std::chrono::milliseconds ttl, LeaseOptions opts = {});
    Lease(Lease const&) = delete;
    Lease& operator=(Lease const&) = delete;
    /// Revokes the lease (errors are swallowed: the lease then expires on its own).
    ~Lease();

    std::int64_t id() const noexcept { return _id; }
    std::chrono::milliseconds ttl() const noexcept { return _ttl; }
    std::string const& purpose() const noexcept { return _opts.purpose; }
    KvPtr const& kv() const noexcept { return _kv; }

    /// True once a renewal found the lease gone (or it surely expired unrenewed).
    bool lost() const;
    /// True once revoke() was called.
    bool revoked() const;
    /// Neither lost nor revoked.
    bool alive() const { return !lost() && !revoked(); }

    /// Renew now, from the calling thread. Returns false (and marks the lease
    /// lost) if the store no longer has it. Errors (ConnError...) propagate.
    bool keepAlive();
    /// Stop the keep-alive thread and revoke the lease, deleting its keys.
    /// Idempotent. Throws what revokeLease throws (the lease is then left to expire).
    void revoke();

    /// Steady-clock time by which the store has certainly not yet expired the
    /// lease (ttl after the last successful renewal was sent).
    std::chrono::steady_clock::time_point safeUntil() const;

private:
    struct State;
    void run();
    void markLost();

    KvPtr _kv;
    std::chrono::milliseconds _ttl;
    LeaseOptions _opts;
    std::int64_t _id = 0;
    std::shared_ptr<State> _st;
};

using LeasePtr = std::shared_ptr<Lease>;

/// Grant a lease of `ttl` on `kv`, kept alive in the background until revoked
/// or destroyed.
LeasePtr grantLease(KvPtr kv, std::chrono::milliseconds ttl, LeaseOptions opts = {});

}  // namespace qcss
