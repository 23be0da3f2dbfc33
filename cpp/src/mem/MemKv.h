// qcss: MemKv.h -- the in-memory backend (internal). Also the local copy
// inside a mirror (see Mirror.h), which applies changes replicated from
// another store with their original revisions and versions.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/KvBase.h"

namespace qcss::detail {

class MemKv : public KvBase {
public:
    explicit MemKv(StoreOptions opts);

    CommitResult commit(std::vector<Op> const& ops) override;
    std::string get(std::string const& key) override;
    std::string get(std::string const& key, std::string const& defaultValue) override;
    /// The value of `key` into `out` and true, or false if absent (no exception).
    bool tryGet(std::string const& key, std::string& out);
    /// Call `fn(value)` under the read lock if `key` exists (no copy; `key`
    /// is not validated: an invalid key is simply absent). True if it did.
    template <class Fn>
    bool withValue(std::string_view key, Fn&& fn) {
        std::shared_lock lock(_mu);
        auto it = _index.find(key);
        if (it == _index.end()) return false;
        if (key == "/" && findVisible("/") == nullptr) return false;
        fn(static_cast<std::string const&>(it->second->value));
        return true;
    }
    KeyStat getStat(std::string const& key) override;
    std::map<std::string, std::string> getMany(std::vector<std::string> const& keys) override;
    bool exists(std::string const& key) override;
    std::vector<std::string> getChildren(std::string const& key) override;
    std::map<std::string, std::string> getChildrenValues(std::string const& key) override;
    Snapshot snapshot(std::string const& prefix) override;
    std::int64_t revision() override;
    std::vector<Change> changes(std::int64_t sinceRevision, std::string const& prefix,
                                std::size_t limit) override;
    std::int64_t compact(std::int64_t upToRevision) override;
    std::int64_t compactedRevision() override;
    std::int64_t grantLease(std::chrono::milliseconds ttl, std::string const& purpose) override;
    bool keepLeaseAlive(std::int64_t leaseId) override;
    void revokeLease(std::int64_t leaseId) override;
    std::int64_t reapExpiredLeases() override;
    std::vector<LeaseInfo> leases() override;
    std::string backend() const override { return _backendName; }

    // ---- replication (for mirrors) ------------------------------------------
    /// Replace the whole content with a snapshot of another store.
    void loadSnapshot(Snapshot const& snap);
    /// Apply changes read from another store's feed (in revision order),
    /// keeping their revisions and versions. Changes at or below the current
    /// revision are ignored. Returns the revision reached.
    std::int64_t applyChanges(std::vector<Change> const& changes, std::int64_t upToRevision);
    /// Load Qserv's JSON dump (as written by dumpKV) into an empty store.
    void loadQservDump(std::string const& text, std::string const& source);
    void setBackendName(std::string name) { _backendName = std::move(name); }
    /// Keep no change log (a mirror's copy needs none).
    void disableChangeLog() { _keepLog = false; }

private:
    struct Node {
        std::string value;
        std::int64_t version = 0;
        std::int64_t createRev = 0;
        std::int64_t modRev = 0;
        std::int64_t lease = 0;
        std::set<std::string> children;  // names, sorted by bytes
    };
    struct Lease {
        std::int64_t ttlMs = 0;
        std::chrono::steady_clock::time_point expires;
        double grantedAt = 0;
        double expiresAtWall = 0;
        std::string owner;
        std::string purpose;
        std::set<std::string> keys;
    };
    struct Undo {
        std::string key;
        bool existed = false;
        Node node;  // previous state (children not used)
    };
    class Batch;  // one commit in progress (undo log + change entries)

    // Helpers; the caller holds the right lock.
    Node const* find(std::string const& key) const;
    /// As find, but an implicit root that does not exist yet is absent (reads).
    Node const* findVisible(std::string const& key) const;
    void requireExists(std::string const& key) const;
    void putNode(std::string const& key, Node node);        // insert or replace (keeps children)
    void eraseNode(std::string const& key);                  // a leaf
    void deleteSubtree(std::string const& key, Batch& b);    // leaf-first
    void ensureParents(std::string const& key, Batch& b);
    std::string writeKey(Batch& b, std::string const& key, std::string const& value,
                         std::int64_t lease, bool mustNotExist, std::int64_t expectVersion,
                         std::int64_t& newVersion);
    void reapLocked(std::vector<std::int64_t> const& ids);
    void appendChanges(std::vector<Change>&& changes);

    mutable std::shared_mutex _mu;
    std::map<std::string, Node> _nodes;  // ordered by bytes
    // Point lookups (get/exists/getStat) without the ordered map's string
    // compares: views into _nodes' keys, which are stable while the node lives.
    std::unordered_map<std::string_view, Node*> _index;
    std::int64_t _revision = 0;
    std::deque<Change> _log;
    std::int64_t _compacted = 0;
    bool _keepLog = true;
    std::map<std::int64_t, Lease> _leases;
    std::int64_t _nextLease = 1;
    std::string _backendName = "mem";
};

}  // namespace qcss::detail
