// qcss: sql/SqlKvImpl.h -- what the files of SqlKv share (internal to sql/).
//
// The row model of a batch (Ent, ChangeRow, SqlKv::Batch), the row cache's and
// the group commit's types and bounds, small SQL helpers, and SqlKv::run (the
// retry loop, a template every file of SqlKv instantiates). The SqlKv files:
//   SqlKv.cc         construction, commit() and the general write path (commitOne)
//   SqlPool.cc       the connection pool, error translation, urlSeconds
//   SqlBatch.cc      a batch: prefetch, row loads, evaluation (applyOps), writes
//   SqlGroup.cc      group commit (concurrent small batches, one transaction)
//   SqlRowCache.cc   the row cache: writes in one round trip
//   SqlReads.cc      reads, snapshots, the change feed and compaction
//   SqlLeases.cc     leases: grant, keep-alive, revoke, reap
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <map>
#include <random>
#include <set>
#include <string>
#include <deque>
#include <thread>
#include <unordered_map>
#include <vector>

#include "qcss/Key.h"
#include "sql/SqlKv.h"

namespace qcss::detail::sql {

inline std::string const kEmpty;
inline constexpr std::size_t kInChunk = 500;  // keys per "WHERE path IN (...)"
inline constexpr std::size_t kReadAllAtOnce = 64;  // batch rows read with the revision lock

inline std::string placeholders(std::size_t n) {
    std::string s;
    s.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) s += i == 0 ? "?" : ",?";
    return s;
}

/// The bounds of the strict descendants of `key`: [lo, hi).
inline std::pair<std::string, std::string> subtreeRange(std::string const& key) {
    if (key == "/") return {"/", "0"};
    return {key + "/", key + "0"};  // '0' is the byte after '/'
}

inline std::string q(std::string const& key) { return "'" + printableKey(key) + "'"; }

/// The columns of a qcss_kv row as a batch reads them (then "WHERE ...").
inline constexpr char kRowCols[] =
        "SELECT path, version, create_rev, mod_rev, lease_id, depth FROM qcss_kv ";

struct Ent {
    bool exists = false;
    bool dirty = false;  // written by the batch: upsert at the end
    int depth = 0;
    std::int64_t version = 0, createRev = 0, modRev = 0, lease = 0;
    std::string const* value = nullptr;
    bool inDb = false;  // the row was in the database when the batch read it
};

struct ChangeRow {
    ChangeKind kind;
    std::string path;
    std::string const* value;
    std::int64_t version;
    std::int64_t revision;  // the batch's (a group commit writes several batches)
};

struct SqlKv::Batch {
    std::map<std::string, Ent> st;        // every key the batch looked at
    std::vector<std::string> deleted;     // subtrees removed (range deletes)
    std::vector<ChangeRow> changes;
    std::set<std::int64_t> liveLeases;
    std::vector<Statement> writes;
    std::deque<std::string> bounds;  // range bounds the writes point into
    // unique prefix -> (highest key in the database, all its keys loaded)
    std::map<std::string, std::pair<std::string, bool>> unique;
};

/// The rows remembered (commitCached): as written by the batches, never dirty,
/// no value, and in the database exactly when they exist.
struct SqlKv::RowCache {
    std::unordered_map<std::string, Ent> rows;
};

struct SqlKv::GroupReq {
    std::vector<Op> const* ops;
    std::vector<std::string> paths;
    CommitResult result;
    std::exception_ptr error;
    bool done = false;
    bool lead = false;
    std::condition_variable cv;  // done or lead (under _gMu)
};

inline constexpr std::size_t kCacheMax = 4096;  // rows remembered
inline constexpr std::size_t kCacheBatch = 256; // rows of a batch, at most, to remember
inline constexpr int kMaxSkip = 64;             // batches not tried after misses
inline constexpr std::size_t kGroupPaths = 64;     // rows one batch may name to be grouped
inline constexpr std::size_t kGroupMax = 64;       // batches per group
inline constexpr std::size_t kGroupRows = 4000;    // rows one group reads (one statement)
inline constexpr int kLeaderRounds = 4;            // groups a leader writes before handing over

template <class F>
auto SqlKv::run(char const* what, F&& f) -> decltype(f(std::declval<Conn&>())) {
    using Clock = std::chrono::steady_clock;
    auto const start = Clock::now();
    thread_local std::mt19937_64 rng{std::random_device{}()};
    int attempt = 0;
    while (true) {
        std::unique_ptr<Conn> c;
        try {
            c = _pool.acquire();
            if constexpr (std::is_void_v<decltype(f(*c))>) {
                f(*c);
                _pool.release(std::move(c));
                return;
            } else {
                auto r = f(*c);
                _pool.release(std::move(c));
                return r;
            }
        } catch (DbError const& e) {
            if (c) {
                c->rollback();
                _pool.release(std::move(c));
            }
            bool const transient = e.kind() == ErrKind::Deadlock ||
                                   e.kind() == ErrKind::LockTimeout ||
                                   e.kind() == ErrKind::Busy || e.kind() == ErrKind::Lost ||
                                   e.kind() == ErrKind::Connect;
            double const elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            if (!transient || elapsed >= _retry.deadlineSec) translate(e, what);
            double const cap =
                    std::min(_retry.maxDelaySec, _retry.baseDelaySec * double(1u << std::min(attempt, 16)));
            double const delay =
                    std::min(std::uniform_real_distribution<double>(0, cap)(rng),
                             _retry.deadlineSec - elapsed);
            ++attempt;
            std::this_thread::sleep_for(std::chrono::duration<double>(std::max(delay, 0.0)));
        } catch (...) {
            if (c) {
                c->rollback();
                _pool.release(std::move(c));
            }
            throw;
        }
    }
}

}  // namespace qcss::detail::sql
