// qcss: sql/SqlKv.h -- the whole KvInterface over a sql::Driver (internal).
//
// One implementation for MySQL/MariaDB and SQLite. The drivers supply
// connections, error classification and a few dialect fragments (Driver.h).
//
// Concurrency model: every writing transaction first takes the revision lock
// (the single row of qcss_meta, Conn::beginWrite), so writers are serialised
// and take revisions in commit order; readers never block (MVCC on InnoDB,
// WAL on SQLite). Within the lock a batch is evaluated in memory over the rows
// it touches (loaded with a few multi-row reads), then written back with
// multi-row statements.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/KvBase.h"
#include "sql/Driver.h"

namespace qcss::detail::sql {

/// Retry policy for transient errors (deadlock, lock-wait timeout, busy, lost
/// connection): exponential backoff with full jitter until the deadline.
struct RetryPolicy {
    double deadlineSec = 10.0;   ///< give up after this long (URL: retry_timeout)
    double baseDelaySec = 0.002;
    double maxDelaySec = 0.5;
};

/// A small pool of connections shared by the threads using one store.
class Pool {
public:
    Pool(Driver& driver, std::size_t maxSize) : _driver(driver), _max(maxSize < 1 ? 1 : maxSize) {}

    std::unique_ptr<Conn> acquire();
    void release(std::unique_ptr<Conn> c);
    /// Put a connection made elsewhere (at open) into the pool.
    void adopt(std::unique_ptr<Conn> c);

private:
    Driver& _driver;
    std::size_t _max;
    std::size_t _total = 0;
    struct Idle {
        std::unique_ptr<Conn> conn;
        std::chrono::steady_clock::time_point since;
    };
    std::vector<Idle> _idle;
    std::mutex _mu;
    std::condition_variable _cv;
};

class SqlKv : public KvBase {
public:
    SqlKv(StoreOptions opts, std::unique_ptr<Driver> driver, std::unique_ptr<Conn> first,
          RetryPolicy retry, std::size_t poolSize);
    ~SqlKv() override;

    CommitResult commit(std::vector<Op> const& ops) override;
    std::string get(std::string const& key) override;
    using KvInterface::get;
    KeyStat getStat(std::string const& key) override;
    std::map<std::string, std::string> getMany(std::vector<std::string> const& keys) override;
    bool exists(std::string const& key) override;
    std::vector<std::string> getChildren(std::string const& key) override;
    std::map<std::string, std::string> getChildrenValues(std::string const& key) override;
    Snapshot snapshot(std::string const& prefix = "/") override;
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

    std::string backend() const override { return _driver->dialect().name; }

    /// Run `f(conn)` on a pooled connection, retrying transient errors with
    /// backoff until the deadline and translating database errors into the
    /// qcss exception tree. `f` must be safe to re-run from scratch (it is
    /// only re-run when its transaction was rolled back).
    template <class F>
    auto run(char const* what, F&& f) -> decltype(f(std::declval<Conn&>()));

private:
    struct Batch;
    void loadRows(Conn& c, Batch& b, std::vector<std::string> const& paths);
    void absorb(Batch& b, std::vector<std::string> const& paths, std::size_t n, Rows& rows);
    /// `prefetched`: prefetchPaths(ops), when the caller computed it.
    /// `build`: also build the batch's writes into b.writes (a group commit
    /// evaluates several batches first, then builds the writes of all at once).
    CommitResult applyOps(Conn& c, Batch& b, std::int64_t rev, std::vector<Op> const& ops,
                          bool lenient, std::vector<std::string> const* prefetched = nullptr,
                          bool build = true);
    void buildWrites(Batch& b, std::vector<Statement>& out);
    std::vector<std::string> prefetchPaths(std::vector<Op> const& ops) const;
    bool reapLeases(Conn& c, std::vector<std::int64_t> const& leaseIds, std::int64_t rev);
    /// Reap the expired leases in a transaction of its own; without taking the
    /// writers' lock when none has expired. Returns the number reaped.
    std::int64_t reapExpired(Conn& c);
    [[noreturn]] void translate(DbError const& e, char const* what) const;
    /// The condition of every writing batch's revision bump: no lease expired.
    std::string leaseCond() const;
    /// Writes in one round trip from the row cache (SqlRowCache.cc); nullopt: not
    /// possible (rows not remembered, or the store moved on).
    std::optional<CommitResult> commitCached(std::vector<Op> const& ops,
                                             std::vector<std::string> const& paths);
    /// Remember the rows of batch `b`, committed at revision `rev` with
    /// write_token `token` on the store as it was at `from` (-1: rev - 1; a
    /// group commit takes several revisions at once).
    void remember(Batch const& b, std::int64_t rev, std::int64_t token, std::int64_t from = -1);
    /// A fresh random write_token for qcss_meta (see Bump).
    static std::int64_t newWriteToken();
    void forget();

    /// The general write path: the row cache, else lock + read, evaluate, write.
    CommitResult commitOne(std::vector<Op> const& ops, std::vector<std::string> const& paths);
    /// Group commit (SqlGroup.cc): small batches of concurrent threads, one transaction.
    struct GroupReq;
    static bool groupable(std::vector<Op> const& ops, std::vector<std::string> const& paths);
    /// No deletes, unique creates or leases: all rows it needs are named rows.
    static bool cacheable(std::vector<Op> const& ops);
    CommitResult commitGrouped(std::vector<Op> const& ops, std::vector<std::string> paths);
    void commitGroup(std::vector<GroupReq*> const& group);
    /// The group from the row cache in one round trip; false: not possible.
    bool commitGroupCached(std::vector<GroupReq*> const& group,
                           std::vector<std::string> const& all);
    /// Evaluate the group's batches in order from revision `first` on (each
    /// failing one undone, its error kept for its caller), build the writes;
    /// returns the last revision taken (first - 1: none).
    std::int64_t evalGroup(Conn& c, Batch& b, std::vector<GroupReq*> const& group,
                           std::int64_t first);

    std::unique_ptr<Driver> _driver;
    Dialect _d;
    RetryPolicy _retry;
    Pool _pool;

    /// The row cache: rows as they are at revision _cacheRev (-1: none).
    struct RowCache;
    std::unique_ptr<RowCache> _rows;
    std::mutex _cacheMu;
    std::int64_t _cacheRev = -1;
    std::int64_t _cacheToken = 0;  ///< qcss_meta.write_token at _cacheRev
    int _skip = 0;     ///< batches to send the general way after a miss
    int _skipLen = 1;  ///< the next _skip (doubles with each miss, up to a bound)

    bool _grouping = true;  ///< group commit (QCSS_GROUP_COMMIT=0: off)
    std::mutex _gMu;
    std::condition_variable _gCv;
    bool _gActive = false;            ///< a grouped write of this store is in flight
    std::deque<GroupReq*> _gQueue;    ///< batches waiting for it
};

/// A driver-independent connection option: seconds from a URL parameter.
double urlSeconds(std::string const& value, double dflt, std::string const& name,
                  std::string const& maskedUrl);

}  // namespace qcss::detail::sql
