// qcss: Mirror.h -- a read-only, local, always-current copy of a subtree.
//
// A Mirror loads snapshot(prefix) of a source store (one consistent read,
// with its revision) into an in-memory copy, then keeps it current with a
// Watcher (see Watch.h) that applies each batch of changes atomically. It is
// itself a KvInterface:
// - reads (get, getStat, getMany, exists, getChildren, getChildrenValues,
//   snapshot, dumpKV) never touch the source: they read the local copy, which
//   is always the state of the source at one revision: revision();
// - every mutation throws ReadonlyCss;
// - changes(), compactedRevision() and leases() are forwarded to the source
//   (they are about the source's log, which the mirror does not keep).
// Keys outside the prefix are not mirrored; ancestors of the prefix appear as
// empty placeholders (version 0) so that the prefix can be reached.
//
// waitFor(rev, timeout) blocks until the mirror has applied revision `rev`
// (e.g. the revision a write of this process returned: read your own writes).
// If the source's log is compacted past the mirror's position, the mirror
// reloads a snapshot (resyncs() counts it) and goes on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "qcss/KvInterface.h"
#include "qcss/Watch.h"

namespace qcss {

namespace detail {
class MemKv;
}

struct MirrorOptions {
    std::chrono::milliseconds interval{100};  ///< poll interval of the watcher
    std::size_t batchLimit = 10000;
    std::chrono::milliseconds maxBackoff{2000};
    WatchErrorCallback onError;  ///< polling errors (the mirror keeps serving reads)
    /// Called (from the watcher thread) after a resync reloaded the copy.
    std::function<void(std::int64_t revision)> onResync;
};

/// When Mirror::waitFor() makes the poller look at the source.
enum class MirrorWake {
    PollNow,   ///< at once
    NextTick,  ///< at its next interval
};

class Mirror : public KvInterface {
public:
    /// Prefer qcss::mirror(). Loads the snapshot here (throws what the source throws).
    Mirror(KvPtr source, std::string prefix, MirrorOptions options);
    ~Mirror() override;

    /// Block until revision() >= `revision` or the timeout passes; true if reached.
    /// With MirrorWake::PollNow (default) the poller looks at once instead of at
    /// its next tick: a process waiting for its own write need not wait for the interval.
    bool waitFor(std::int64_t revision, std::chrono::milliseconds timeout,
                 MirrorWake wake = MirrorWake::PollNow);
    /// Stop following the source (reads keep working on the last state).
    void stop();
    KvPtr const& source() const noexcept { return _source; }
    std::string const& prefix() const noexcept { return _prefix; }
    std::uint64_t resyncs() const noexcept;
    std::uint64_t errors() const noexcept;
    /// The value of `key` into `out` and true, or false if absent (no exception).
    bool tryGet(std::string const& key, std::string& out);
    /// Call `fn(value)` under the local copy's read lock if `key` exists (no
    /// copy of the value; `key` is not validated: an invalid key is absent).
    /// True if it did. Thread-safe; `fn` must not call back into the mirror.
    bool withValue(std::string_view key, std::function<void(std::string const&)> const& fn);
    /// Poll the source now instead of at the end of the interval.
    void wake();

    // KvInterface: reads from the local copy.
    CommitResult commit(std::vector<Op> const& ops) override;
    std::string get(std::string const& key) override;
    std::string get(std::string const& key, std::string const& defaultValue) override;
    KeyStat getStat(std::string const& key) override;
    std::map<std::string, std::string> getMany(std::vector<std::string> const& keys) override;
    bool exists(std::string const& key) override;
    std::vector<std::string> getChildren(std::string const& key) override;
    std::map<std::string, std::string> getChildrenValues(std::string const& key) override;
    Snapshot snapshot(std::string const& prefix = "/") override;
    /// The revision of the source the local copy is at.
    std::int64_t revision() override;
    std::vector<Change> changes(std::int64_t sinceRevision, std::string const& prefix = "/",
                                std::size_t limit = 0) override;
    std::int64_t compact(std::int64_t upToRevision) override;
    std::int64_t compactedRevision() override;
    std::int64_t grantLease(std::chrono::milliseconds ttl, std::string const& purpose = "") override;
    bool keepLeaseAlive(std::int64_t leaseId) override;
    void revokeLease(std::int64_t leaseId) override;
    std::int64_t reapExpiredLeases() override;
    std::vector<LeaseInfo> leases() override;
    bool readOnly() const noexcept override { return true; }
    std::string url() const override;
    std::string backend() const override { return "mirror"; }
    std::string clientId() const override;
    std::size_t maxValueSize() const noexcept override;

private:
    void applied(std::int64_t revision);

    KvPtr _source;
    std::string const _prefix;
    MirrorOptions const _opts;
    std::shared_ptr<detail::MemKv> _local;
    std::mutex _mu;
    std::condition_variable _cv;
    std::int64_t _applied = 0;  // guarded by _mu (the local copy has its own lock)
    std::unique_ptr<Watcher> _watcher;
};

/// A mirror of `prefix` of `source`, loaded and following; see Mirror.
std::shared_ptr<Mirror> mirror(KvPtr source, std::string const& prefix = "/",
                               MirrorOptions options = {});

}  // namespace qcss
