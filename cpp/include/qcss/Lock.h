// qcss: Lock.h -- exclusive and shared (reader/writer) locks with fencing tokens.
//
// Locks are written once over KvInterface (like etcd's concurrency recipes),
// so mem, SQLite and MySQL share one implementation and one set of guarantees.
//
// Namespace. A lock on key path K lives in the reserved subtree /.qcss:
//   /.qcss/locks<K>/@lock/x-NNNNNNNNNN   one entry per exclusive request
//   /.qcss/locks<K>/@lock/s-NNNNNNNNNN   one entry per shared request
//   /.qcss/lock-tokens/TTTTTTTTTTTTTTTTTTTT   token -> entry, while held
// (for K = "/" the directory is /.qcss/locks/@lock). K need not exist. A key
// with a component "@lock" cannot be locked (InvalidKeyError), so the entries
// of two locks never mix. Every entry and token key is bound to the holder's
// lease; the lock directories themselves stay (empty) after release.
//
// Protocol. lock() creates its entry with create(dir + "/x-", unique, lease);
// the entry's createRevision is the lock's fencing TOKEN: it only grows over
// the life of the store. An exclusive request holds the lock once its entry has
// the smallest token in the directory; a shared request once no exclusive
// entry with a smaller token exists. Requests are thus served in token (FIFO)
// order: a reader arriving after a waiting writer waits behind it, so a steady
// stream of readers cannot starve a writer. On acquisition the entry's value is
// rewritten (state "held", acquired time) and the token key is created, in one
// transaction. A request that times out deletes its entry and throws
// LockTimeout. The waiter polls revision() with backoff (2 ms .. 100 ms) and
// reaps expired leases that block it.
//
// Fencing. A holder whose lease expired (process paused, network partition)
// may not know it. Writes that must only happen under the lock should go
// through a transaction with Transaction::checkLock(lock) (or checkLock(token)):
// the commit is refused with VersionMismatchError once the entry is gone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qcss/KvInterface.h"
#include "qcss/Lease.h"

namespace qcss {

/// The reserved subtree of lock entries and token keys.
extern char const* const kLockRoot;    ///< "/.qcss/locks"
extern char const* const kTokenRoot;   ///< "/.qcss/lock-tokens"

struct LockOptions {
    bool shared = false;
    /// How long to wait; negative: forever, zero: try once.
    std::chrono::milliseconds timeout{-1};
    /// TTL of the lease the lock is held under (ignored with `lease`).
    std::chrono::milliseconds ttl{10000};
    std::string purpose;
    /// Hold the lock under this existing lease instead of a new one (release
    /// then deletes the entry, the lease lives on).
    LeasePtr lease;
    /// Owner identity shown to operators; default: the store's clientId().
    std::string owner;
};

/// A held lock (RAII): released on destruction.
///
/// Thread-safety: every method may be called from any thread, concurrently;
/// release() is idempotent and exactly one concurrent caller does the release
/// (the flag is atomic). The accessors are immutable after construction; lost()
/// and valid() ask the lease / the store at the time of the call. Destroying the
/// Lock while another thread still uses it is the caller's error, as for any object.
class Lock {
public:
    Lock(Lock const&) = delete;
    Lock& operator=(Lock const&) = delete;
    ~Lock();

    std::string const& key() const noexcept { return _key; }
    /// The entry key, e.g. /.qcss/locks/DBS/LSST/@lock/x-0000000003.
    std::string const& entryKey() const noexcept { return _entry; }
    /// The fencing token: the entry's createRevision.
    std::int64_t token() const noexcept { return _token; }
    bool shared() const noexcept { return _shared; }
    LeasePtr const& lease() const noexcept { return _lease; }
    /// The lease was lost (keep-alive failed): the lock may be held by another.
    bool lost() const { return _lease->lost(); }
    /// release() was called (by any thread).
    bool released() const noexcept { return _released.load(); }
    /// Ask the store: is the entry still there with this token? (false after
    /// breakLock, lease expiry or release). Throws what getStat throws
    /// (ConnError...), never NoSuchKey.
    bool valid();
    /// Release now (idempotent): revoke the lease if the lock owns it, else
    /// delete the entry and token key. Throws what revoking the lease throws
    /// (ConnError...; the lease is then left to expire); a lock already broken
    /// or partly gone is not an error.
    void release();

private:
    friend std::unique_ptr<Lock> lock(KvPtr, std::string const&, LockOptions);
    Lock(KvPtr kv, std::string key, std::string entry, std::int64_t token, bool shared,
         LeasePtr lease, bool ownsLease);

    KvPtr _kv;
    std::string _key;
    std::string _entry;
    std::int64_t _token;
    bool _shared;
    LeasePtr _lease;
    bool _ownsLease;
    std::atomic<bool> _released{false};
};

using LockPtr = std::unique_ptr<Lock>;

/// Acquire a lock on key path `key`; throws LockTimeout when `opts.timeout`
/// passes first (the request is withdrawn), LeaseExpired if the lease is lost
/// while waiting, InvalidKeyError for a bad key.
LockPtr lock(KvPtr kv, std::string const& key, LockOptions opts = {});

/// The lock directory of `key` (see the file comment).
std::string lockDir(std::string const& key);
/// The token key of a fencing token.
std::string tokenKey(std::int64_t token);

/// One lock entry, held or waiting, as listed for operators.
struct LockInfo {
    std::string key;          ///< the locked key path
    std::string entryKey;
    bool shared = false;
    bool held = false;        ///< false: waiting
    std::int64_t token = 0;
    std::string owner;
    std::string host;
    std::int64_t pid = 0;
    std::string purpose;
    double requestedAt = 0;   ///< client clock, seconds since the epoch
    double acquiredAt = 0;    ///< client clock; 0 while waiting
    std::int64_t ttlMs = 0;
    std::int64_t lease = 0;
    double expiresAt = 0;     ///< server clock; 0 if the lease already expired
};

/// Every lock entry on `prefix` or keys under it, by key then token.
std::vector<LockInfo> locks(KvInterface& kv, std::string const& prefix = "/");

/// Which entries breakLock() removes.
enum class BreakScope {
    Holders,            ///< the holders' entries and token keys
    HoldersAndWaiters,  ///< every entry, waiting requests too
};

/// Forcibly release the lock on `key`: delete the holders' entries and token
/// keys (all entries, waiters too, with BreakScope::HoldersAndWaiters) in one transaction,
/// which the change feed shows as Deletes by this client. The holders' leases
/// (and any other keys bound to them) are left alone. Returns the entries removed.
std::vector<LockInfo> breakLock(KvInterface& kv, std::string const& key,
                                BreakScope scope = BreakScope::Holders);

}  // namespace qcss
