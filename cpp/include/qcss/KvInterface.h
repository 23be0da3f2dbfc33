// qcss: KvInterface.h -- the master interface of the Central State System.
//
// A KvInterface is a hierarchical key-value store: keys are absolute
// "/"-separated paths (see Key.h), values are bytes held in std::string
// (binary-safe). Every committed mutation takes the next value of one global
// revision; every key carries a version (1 after create, +1 per set) and the
// revisions at which it was created and last modified.
//
// Open one with qcss::open(url) (see Open.h); the concrete classes of the
// backends (mem, sqlite, mysql) are private to the library.
//
// Thread safety: one KvInterface may be used from many threads at once. Every
// method is safe to call concurrently; SQL backends share a small connection
// pool, the in-memory backend a reader/writer lock. A Transaction builder is
// not itself thread-safe: build and commit it in one thread.
//
// Errors are reported by throwing the classes of Errors.h. Every method that
// takes a key throws InvalidKeyError for an invalid key before touching the
// store; every mutating method throws ReadonlyCss on a store opened read-only.
// SQL backends may throw ConnError (and CommitUnknownError, AuthError) from any
// method.

#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qcss/Errors.h"
#include "qcss/Key.h"

namespace qcss {

/// Metadata of one key.
struct KeyStat {
    std::int64_t version = 0;         ///< 1 after create, +1 per set
    std::int64_t createRevision = 0;  ///< global revision that created the key
    std::int64_t modRevision = 0;     ///< global revision that last wrote the key
    std::int64_t numChildren = 0;     ///< number of direct children
    std::int64_t dataLength = 0;      ///< value size in bytes
    std::int64_t lease = 0;           ///< lease the key is bound to, 0 if none
};

/// One key of a snapshot: its value and metadata (numChildren is not filled).
struct KeyValue {
    std::string key;
    std::string value;
    KeyStat stat;
};

/// A consistent copy of a subtree, as of `revision`, sorted by key (bytes).
struct Snapshot {
    std::int64_t revision = 0;
    std::vector<KeyValue> entries;
};

/// One entry of the change feed.
enum class ChangeKind { Put = 1, Delete = 2 };

struct Change {
    std::int64_t revision = 0;  ///< revision of the mutation (shared by a transaction)
    ChangeKind kind = ChangeKind::Put;
    std::string key;
    std::string value;          ///< new value for Put, empty for Delete
    std::int64_t version = 0;   ///< version after a Put; version deleted for a Delete
    double time = 0;            ///< commit time, seconds since the epoch (server clock)
    std::string client;         ///< identity of the writing client (user@host:pid)
};

/// One operation of a transaction (see Transaction). Public so that backends
/// and tools can build batches directly; most callers use Transaction.
struct Op {
    enum class Type {
        Check,                ///< key's version must equal `version` (0: must not exist)
        CheckCreateRevision,  ///< key must exist with createRevision == `version`
        Create,               ///< create key (and parents); fails if it exists
        CreateUnique,         ///< create key + 10-digit sequence number
        Set,                  ///< create or overwrite; `version` >= 0: compare-and-set
        Delete,               ///< delete key and subtree; `version` >= 0: compare-and-delete
    };
    Type type = Type::Check;
    std::string key;
    std::string value;
    std::int64_t version = -1;
    std::int64_t lease = 0;
};

/// What one operation of a committed batch did.
struct OpResult {
    std::string key;            ///< the key written (the generated one for CreateUnique)
    std::int64_t version = 0;   ///< the key's version after the op (0 for Delete, Check)
};

struct CommitResult {
    std::int64_t revision = 0;  ///< the revision of the commit (unchanged if no op wrote)
    std::vector<OpResult> results;
};

/// Longest client id (URL `client=`, $QCSS_CLIENT_ID), in bytes: recorded in
/// every change-log row and lease. A longer one is a ConfigError at open.
constexpr std::size_t kMaxClientIdBytes = 255;
/// Longest lease (and lock) purpose, in bytes: a longer one is a
/// ValueTooLargeError at grant. The same on every backend.
constexpr std::size_t kMaxLeasePurposeBytes = 1024;

/// A lease as stored: keys bound to it vanish when it expires or is revoked.
struct LeaseInfo {
    std::int64_t id = 0;
    std::int64_t ttlMs = 0;
    double grantedAt = 0;     ///< seconds since the epoch, server clock
    double expiresAt = 0;     ///< seconds since the epoch, server clock
    std::string owner;        ///< client identity that granted it
    std::string purpose;
    std::int64_t numKeys = 0;
};

class KvInterface;
class Lock;

/// How create() names its key (instead of a bare `bool unique`).
enum class CreateMode {
    Exact,   ///< the key as given; KeyExistsError if it exists
    Unique,  ///< the key + a 10-digit sequence number (Qserv's unique create)
};

/// Builds an atomic multi-key transaction: all operations apply, or none does.
/// Obtain it from KvInterface::transaction(). It keeps its store alive (when the
/// store is owned by a shared_ptr, as every store qcss::open() returns is), so it
/// may outlive the caller's KvPtr. Not thread-safe: one builder per thread.
class Transaction {
public:
    explicit Transaction(KvInterface& kv);

    /// Require the key's version to equal `version` at commit (0: must not exist).
    Transaction& check(std::string const& key, std::int64_t version);
    /// Require the key to exist with the given create revision (fencing-token check).
    Transaction& checkCreateRevision(std::string const& key, std::int64_t createRevision);
    /// Require `lock` to be still held: its entry exists with its fencing token.
    /// A holder that lost its lease, or whose lock was broken, fails the commit
    /// with VersionMismatchError. Part of the lock layer: defined beside Lock
    /// (layers/Lock.cc, see Lock.h), in terms of checkCreateRevision.
    Transaction& checkLock(Lock const& lock);
    /// The same for a fencing token alone (e.g. passed to a child process):
    /// requires the acquisition with this token to be still held (its token key).
    Transaction& checkLock(std::int64_t token);
    Transaction& create(std::string const& key, std::string const& value = std::string(),
                        CreateMode mode = CreateMode::Exact, std::int64_t lease = 0);
    Transaction& set(std::string const& key, std::string const& value,
                     std::int64_t version = -1, std::int64_t lease = 0);
    Transaction& deleteKey(std::string const& key, std::int64_t version = -1);
    /// Add a prepared operation.
    Transaction& add(Op op);

    /// Apply every operation atomically; returns the new global revision.
    /// Throws VersionMismatchError naming the key whose check failed,
    /// KeyExistsError / NoSuchKey as the single-key calls do. Nothing is applied
    /// on failure. An empty transaction returns the current revision.
    std::int64_t commit();
    /// As commit(), also returning what each operation did.
    CommitResult commitWithResults();

    std::vector<Op> const& ops() const noexcept { return _ops; }
    std::size_t size() const noexcept { return _ops.size(); }
    /// True once commit() or commitWithResults() returned.
    bool committed() const noexcept { return _committed; }

private:
    std::shared_ptr<KvInterface> _keep;  ///< the store, kept alive (null if not shared)
    KvInterface* _kv;
    std::vector<Op> _ops;
    bool _committed = false;
};

/// The master interface. See the file comment for threading and errors.
///
/// Semantics every backend shares (the conformance suite in tests/ checks them):
/// - A batch (commit) is evaluated in order, each operation seeing the effects
///   of the ones before it; if any fails, nothing is applied and the error of
///   the first failing operation is thrown. A batch that writes anything takes
///   exactly one new revision; a batch of checks only takes none.
/// - Every key written by a batch (including parents created on the way, with
///   empty values and version 1) gets one Put in the change log at the batch's
///   revision; every key removed (each key of a deleted subtree) one Delete, in
///   the order they happened.
/// - A key created with a lease is deleted when the lease ends; set() with
///   lease 0 keeps the key's existing lease (as ZooKeeper's setData keeps an
///   ephemeral node ephemeral); a lease that does not exist throws LeaseExpired.
/// - Check with version 0 requires absence; with version > 0 the exact version
///   (a missing key fails the check). Failed checks throw VersionMismatchError
///   naming the key, expected and actual versions.
/// - The root "/" is implicit, as in Qserv: on an empty store exists("/") is
///   false and get("/"), getStat("/"), getChildren("/") throw NoSuchKey. It
///   exists once created or set, or while any key other than qcss's own /.qcss
///   subtree exists. create("/") succeeds once (the root has version 0 until
///   then) and throws KeyExistsError after create or set; it cannot be deleted.
///   snapshot("/") always includes the root entry.
/// - qcss's own subtree /.qcss (locks) is left out of getChildren("/"),
///   getChildrenValues("/") and dumpKV() of "/"; it is read by its own path and
///   is in snapshots (the lossless dump).
class KvInterface : public std::enable_shared_from_this<KvInterface> {
public:
    /// Longest key accepted, in bytes (Qserv's name; Qserv's MySQL schema allowed 255).
    static constexpr unsigned int MAX_KEY_LENGTH = static_cast<unsigned int>(kMaxKeyLength);
    KvInterface() = default;
    KvInterface(KvInterface const&) = delete;
    KvInterface& operator=(KvInterface const&) = delete;
    virtual ~KvInterface() = default;

    // ---- writes -------------------------------------------------------------

    /// Create `key` with `value`, creating missing parents with empty values.
    /// Returns the key created. Throws KeyExistsError if it exists. With
    /// CreateMode::Unique, appends a 10-digit zero-padded number to `key` (no separator):
    /// one more than the highest numeric suffix already used under that prefix.
    /// `lease` != 0 binds the key to a lease (see grantLease).
    virtual std::string create(std::string const& key, std::string const& value = std::string(),
                               CreateMode mode = CreateMode::Exact, std::int64_t lease = 0);
    /// Qserv's signature (css/KvInterface.h `create(key, value, bool unique)`),
    /// kept only so that Qserv code compiles unchanged against QservCompat.h;
    /// qcss code passes a CreateMode. Same as create(key, value, Unique or Exact).
    std::string create(std::string const& key, std::string const& value, bool unique) {
        return create(key, value, unique ? CreateMode::Unique : CreateMode::Exact);
    }

    /// Create or overwrite `key` (creating parents); returns its new version.
    /// With `version` >= 0 it is compare-and-set: throws VersionMismatchError
    /// unless the current version equals `version`, NoSuchKey if absent.
    virtual std::int64_t set(std::string const& key, std::string const& value,
                             std::int64_t version = -1, std::int64_t lease = 0);

    /// Delete `key` and its whole subtree atomically. Throws NoSuchKey if
    /// absent; with `version` >= 0 it is compare-and-delete. Deleting "/" is
    /// refused (InvalidKeyError).
    virtual void deleteKey(std::string const& key, std::int64_t version = -1);

    /// A builder for an atomic multi-key transaction.
    Transaction transaction() { return Transaction(*this); }

    /// Apply a batch atomically (what Transaction::commit calls). Backends implement it.
    virtual CommitResult commit(std::vector<Op> const& ops) = 0;

    // ---- reads --------------------------------------------------------------

    /// The value of `key`; throws NoSuchKey if absent.
    virtual std::string get(std::string const& key) = 0;
    /// The value of `key`, or `defaultValue` if absent.
    virtual std::string get(std::string const& key, std::string const& defaultValue);
    /// The metadata of `key`; throws NoSuchKey if absent.
    virtual KeyStat getStat(std::string const& key) = 0;
    /// The values of those of `keys` that exist, read as one consistent snapshot.
    virtual std::map<std::string, std::string> getMany(std::vector<std::string> const& keys) = 0;
    /// True if `key` exists (for "/" see the root rules above). A key longer
    /// than MAX_KEY_LENGTH is absent (false, as Qserv answers); any other
    /// invalid key throws InvalidKeyError.
    virtual bool exists(std::string const& key) = 0;
    /// Names (last components) of the direct children of `key`, sorted by
    /// bytes; throws NoSuchKey if `key` is absent.
    virtual std::vector<std::string> getChildren(std::string const& key) = 0;
    /// Child name -> value for the direct children of `key`; NoSuchKey if absent.
    virtual std::map<std::string, std::string> getChildrenValues(std::string const& key) = 0;
    /// `prefix` and every key under it, with the revision they were read at,
    /// as one consistent snapshot. An absent prefix yields no entries.
    virtual Snapshot snapshot(std::string const& prefix = "/") = 0;
    /// The store's global revision (0 for a new store).
    virtual std::int64_t revision() = 0;

    /// Qserv's dump format: a JSON object mapping every key strictly under
    /// `key` ("" or "/" for all keys but the root and /.qcss) to its value as a string,
    /// sorted by key. Throws BadDumpError if a value is not valid UTF-8.
    std::string dumpKV(std::string const& key = std::string());

    // ---- change feed (see Watch.h for polling) -------------------------------

    /// Changes with revision > `sinceRevision` to `prefix` or keys under it, in
    /// revision order (at most `limit` if > 0; a transaction's changes are never
    /// split). Throws CompactedError if the log was trimmed past `sinceRevision`.
    virtual std::vector<Change> changes(std::int64_t sinceRevision,
                                        std::string const& prefix = "/",
                                        std::size_t limit = 0) = 0;
    /// Trim the change log: drop changes with revision <= `upToRevision`.
    /// Returns the number of entries removed.
    virtual std::int64_t compact(std::int64_t upToRevision) = 0;
    /// The highest revision trimmed from the change log (0 if never compacted).
    virtual std::int64_t compactedRevision() = 0;

    // ---- leases (see Lease.h for the keep-alive object) ----------------------

    /// Create a lease that expires `ttl` after its last keep-alive (server clock)
    /// and return its id. The store primitive: nothing keeps it alive (the free
    /// function qcss::grantLease(kv, ttl, opts) in Lease.h does). ConfigError if
    /// `ttl` <= 0 or `purpose` is too long.
    virtual std::int64_t grantLease(std::chrono::milliseconds ttl, std::string const& purpose = "") = 0;
    /// Extend a lease by its TTL; false if it has already expired or was revoked.
    virtual bool keepLeaseAlive(std::int64_t leaseId) = 0;
    /// Revoke a lease, deleting its keys in one transaction (no-op if gone).
    virtual void revokeLease(std::int64_t leaseId) = 0;
    /// Delete every expired lease and its keys; returns the number of leases reaped.
    virtual std::int64_t reapExpiredLeases() = 0;
    /// The live leases.
    virtual std::vector<LeaseInfo> leases() = 0;

    // ---- about the store ----------------------------------------------------

    /// True if opened read-only (every mutation throws ReadonlyCss).
    virtual bool readOnly() const noexcept = 0;
    /// The URL the store was opened with, password masked.
    virtual std::string url() const = 0;
    /// "mem", "sqlite", "mysql" or "mirror".
    virtual std::string backend() const = 0;
    /// The identity recorded in the change log for this client.
    virtual std::string clientId() const = 0;
    /// Largest value accepted, in bytes.
    virtual std::size_t maxValueSize() const noexcept = 0;
};

using KvPtr = std::shared_ptr<KvInterface>;

}  // namespace qcss
