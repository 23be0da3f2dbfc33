// qcss: sql/SqlKv.cc -- KvInterface over SQL, written once for every driver.
#include "sql/SqlKv.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <random>
#include <deque>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <thread>

#include "qcss/Key.h"

namespace qcss::detail::sql {

namespace {
std::string const kEmpty;
constexpr std::size_t kInChunk = 500;  // keys per "WHERE path IN (...)"
constexpr std::size_t kReadAllAtOnce = 64;  // batch rows read with the revision lock

std::string placeholders(std::size_t n) {
    std::string s;
    s.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) s += i == 0 ? "?" : ",?";
    return s;
}

/// The bounds of the strict descendants of `key`: [lo, hi).
std::pair<std::string, std::string> subtreeRange(std::string const& key) {
    if (key == "/") return {"/", "0"};
    return {key + "/", key + "0"};  // '0' is the byte after '/'
}

std::string q(std::string const& key) { return "'" + printableKey(key) + "'"; }

}  // namespace

double urlSeconds(std::string const& value, double dflt, std::string const& name,
                  std::string const& maskedUrl) {
    if (value.empty()) return dflt;
    try {
        std::size_t pos = 0;
        double const v = std::stod(value, &pos);
        if (pos != value.size() || v < 0) throw std::invalid_argument(value);
        return v;
    } catch (std::exception const&) {
        throw ConfigError("bad " + name + " '" + value + "' in URL " + maskedUrl +
                          " (expected seconds)");
    }
}

// ---- Pool -------------------------------------------------------------------

std::unique_ptr<Conn> Pool::acquire() {
    std::unique_lock<std::mutex> lk(_mu);
    while (true) {
        if (!_idle.empty()) {
            Idle it = std::move(_idle.back());
            _idle.pop_back();
            lk.unlock();
            double const idle =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - it.since)
                            .count();
            if (skipPoolCheck.load(std::memory_order_relaxed) || it.conn->stillAlive(idle))
                return std::move(it.conn);
            it.conn.reset();  // dead (closed by the server): replace it
            lk.lock();
            --_total;
            continue;
        }
        if (_total < _max) {
            ++_total;
            lk.unlock();
            try {
                return _driver.connect();
            } catch (...) {
                lk.lock();
                --_total;
                _cv.notify_one();
                throw;
            }
        }
        _cv.wait(lk);
    }
}

void Pool::release(std::unique_ptr<Conn> c) {
    if (!c) return;
    std::lock_guard<std::mutex> lk(_mu);
    if (c->usable()) {
        _idle.push_back({std::move(c), std::chrono::steady_clock::now()});
    } else {
        --_total;
    }
    _cv.notify_one();
}

void Pool::adopt(std::unique_ptr<Conn> c) {
    std::lock_guard<std::mutex> lk(_mu);
    ++_total;
    _idle.push_back({std::move(c), std::chrono::steady_clock::now()});
}

// ---- SqlKv ------------------------------------------------------------------

void SqlKv::translate(DbError const& e, char const* what) const {
    std::string const msg = std::string(what) + ": " + e.what() + " [" + _opts.url + "]";
    switch (e.kind()) {
        case ErrKind::Auth: throw AuthError(msg);
        case ErrKind::Connect:
        case ErrKind::Lost: throw ConnError(msg);
        case ErrKind::Deadlock:
        case ErrKind::LockTimeout:
        case ErrKind::Busy:
            throw ConnError(msg + " (still failing after retrying for " +
                            std::to_string(static_cast<int>(_retry.deadlineSec)) +
                            " s; see retry_timeout)");
        case ErrKind::TooLarge: throw ValueTooLargeError(msg);
        case ErrKind::CommitUnknown:
            throw CommitUnknownError(std::string(what) + ": the connection was lost while "
                                     "committing; the outcome is unknown (check revision() and "
                                     "the keys before retrying): " + e.what() + " [" + _opts.url +
                                     "]");
        case ErrKind::NoSchema:
            throw SchemaError(msg + " -- is the qcss schema installed? run: css-admin schema init");
        case ErrKind::ReadOnly: throw ReadonlyCss(msg);
        case ErrKind::DiskFull: throw DiskFullError(msg);
        case ErrKind::FileGone: throw StoreFileGoneError(msg);
        case ErrKind::Corrupt: throw CorruptStoreError(msg);
        case ErrKind::Storage: throw StorageError(msg);
        case ErrKind::Duplicate:
        case ErrKind::Precondition:
        case ErrKind::Other: break;
    }
    throw CssError(msg);
}

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

// ---- batches ------------------------------------------------------------------

namespace {

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

}  // namespace

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

SqlKv::SqlKv(StoreOptions opts, std::unique_ptr<Driver> driver, std::unique_ptr<Conn> first,
             RetryPolicy retry, std::size_t poolSize)
        : KvBase(std::move(opts)),
          _driver(std::move(driver)),
          _d(_driver->dialect()),
          _retry(retry),
          _pool(*_driver, poolSize),
          _rows(std::make_unique<RowCache>()) {
    char const* const g = std::getenv("QCSS_GROUP_COMMIT");
    _grouping = g == nullptr || std::string(g) != "0";
    if (first) _pool.adopt(std::move(first));
}

SqlKv::~SqlKv() = default;


namespace {

/// Record the rows read for the first `n` of `paths` (absent ones as absent).
template <class B>
void absorbRows(B& b, std::vector<std::string> const& paths, std::size_t n, Rows& rows) {
    for (std::size_t i = 0; i < n; ++i) b.st.emplace(paths[i], Ent{});
    for (auto& r : rows) {
        Ent& e = b.st[r[0].s];
        e.exists = true;
        e.inDb = true;
        e.version = r[1].i;
        e.createRev = r[2].i;
        e.modRev = r[3].i;
        e.lease = r[4].i;
        e.depth = static_cast<int>(r[5].i);
    }
}

}  // namespace

void SqlKv::absorb(Batch& b, std::vector<std::string> const& paths, std::size_t n, Rows& rows) {
    absorbRows(b, paths, n, rows);
}

void SqlKv::loadRows(Conn& c, Batch& b, std::vector<std::string> const& paths) {
    // Shallowest first: a key whose parent is known absent is absent too (every
    // key's parent exists), so a subtree new to the database costs no reads.
    std::vector<std::string const*> need;
    need.reserve(paths.size());
    for (auto const& p : paths)
        if (b.st.find(p) == b.st.end()) need.push_back(&p);
    auto const byDepth = [](std::string const* x, std::string const* y) {
        int const dx = keyDepth(*x), dy = keyDepth(*y);
        return dx != dy ? dx < dy : *x < *y;
    };
    std::sort(need.begin(), need.end(), byDepth);
    need.erase(std::unique(need.begin(), need.end(),
                           [](std::string const* x, std::string const* y) { return *x == *y; }),
               need.end());
    std::size_t i = 0;
    while (i < need.size()) {
        int const depth = keyDepth(*need[i]);
        std::vector<std::string const*> level;
        for (; i < need.size() && keyDepth(*need[i]) == depth; ++i) {
            std::string const& p = *need[i];
            if (p != "/") {
                auto const par = b.st.find(parentKey(p));
                if (par != b.st.end() && !par->second.inDb) {
                    b.st.emplace(p, Ent{});  // absent: its parent is not in the database
                    continue;
                }
            }
            level.push_back(need[i]);
        }
        for (std::size_t off = 0; off < level.size(); off += kInChunk) {
            std::size_t const n = std::min(kInChunk, level.size() - off);
            std::vector<Param> ps;
            ps.reserve(n);
            for (std::size_t j = 0; j < n; ++j) ps.push_back(Param::blob(*level[off + j]));
            Rows rows = c.query("SELECT path, version, create_rev, mod_rev, lease_id, depth FROM "
                                "qcss_kv WHERE path IN (" + placeholders(n) + ")",
                                ps);
            for (std::size_t j = 0; j < n; ++j) b.st.emplace(*level[off + j], Ent{});
            for (auto& r : rows) {
                Ent& e = b.st[r[0].s];
                e.exists = true;
                e.inDb = true;
                e.version = r[1].i;
                e.createRev = r[2].i;
                e.modRev = r[3].i;
                e.lease = r[4].i;
                e.depth = static_cast<int>(r[5].i);
            }
        }
    }
}

std::vector<std::string> SqlKv::prefetchPaths(std::vector<Op> const& ops) const {
    // The keys named, and the ancestors of those written; shallowest first.
    std::vector<std::string> paths;
    std::unordered_set<std::string_view> seen;  // views into ops' keys
    paths.reserve(ops.size() + 8);
    seen.reserve(ops.size() * 2 + 8);
    for (auto const& op : ops) {
        if (op.type == Op::Type::CreateUnique) {
            for (std::string p = op.key + std::string(kUniqueDigits, '0'); p != "/";) {
                p = parentKey(p);
                paths.push_back(p);
            }
            continue;
        }
        std::string_view const k = op.key;
        if (seen.insert(k).second) paths.emplace_back(k);
        if (op.type == Op::Type::Create || op.type == Op::Type::Set) {
            // Ancestors are prefixes of the key: stop at the first one seen.
            for (std::size_t slash = k.rfind('/'); slash != std::string_view::npos && slash > 0;
                 slash = k.rfind('/', slash - 1)) {
                if (!seen.insert(k.substr(0, slash)).second) break;
                paths.emplace_back(k.substr(0, slash));
            }
        }
    }
    std::sort(paths.begin(), paths.end(), [](std::string const& x, std::string const& y) {
        int const dx = keyDepth(x), dy = keyDepth(y);
        return dx != dy ? dx < dy : x < y;
    });
    paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
    return paths;
}

CommitResult SqlKv::applyOps(Conn& c, Batch& b, std::int64_t rev, std::vector<Op> const& ops,
                             bool lenient, std::vector<std::string> const* prefetched,
                             bool build) {
    // 1. Load, with a few multi-row reads, every row the batch can look at:
    //    the keys named, their ancestors, the subtrees it deletes, its leases.
    //    (Rows already in b.st were loaded with the revision lock.)
    std::vector<std::string> const paths = prefetched ? std::vector<std::string>() : prefetchPaths(ops);
    std::vector<std::int64_t> leaseIds;
    for (auto const& op : ops)
        if (op.lease != 0) leaseIds.push_back(op.lease);
    loadRows(c, b, prefetched ? *prefetched : paths);
    for (auto const& op : ops) {
        if (op.type != Op::Type::Delete) continue;
        auto const [lo, hi] = subtreeRange(op.key);
        Rows rows = c.query(
                "SELECT path, version, create_rev, mod_rev, lease_id, depth FROM qcss_kv "
                "WHERE path >= ? AND path < ?",
                {Param::blob(lo), Param::blob(hi)});
        for (auto& r : rows) {
            Ent e;
            e.exists = true;
            e.inDb = true;
            e.version = r[1].i;
            e.createRev = r[2].i;
            e.modRev = r[3].i;
            e.lease = r[4].i;
            e.depth = static_cast<int>(r[5].i);
            b.st.emplace(std::move(r[0].s), e);
        }
    }
    if (!leaseIds.empty()) {
        std::sort(leaseIds.begin(), leaseIds.end());
        leaseIds.erase(std::unique(leaseIds.begin(), leaseIds.end()), leaseIds.end());
        for (std::size_t off = 0; off < leaseIds.size(); off += kInChunk) {
            std::size_t const n = std::min(kInChunk, leaseIds.size() - off);
            std::vector<Param> ps;
            for (std::size_t i = 0; i < n; ++i) ps.push_back(Param::integer(leaseIds[off + i]));
            Rows rows = c.query("SELECT id FROM qcss_leases WHERE id IN (" + placeholders(n) +
                                        ") AND expires_at > " + _d.nowExpr,
                                ps);
            for (auto& r : rows) b.liveLeases.insert(r[0].i);
        }
    }

    // 2. Evaluate the operations in order, each seeing the ones before.
    CommitResult result;
    result.revision = rev;
    auto entry = [&](std::string const& k) -> Ent& {
        auto it = b.st.find(k);
        if (it == b.st.end()) {
            loadRows(c, b, {k});
            it = b.st.find(k);
        }
        return it->second;
    };
    auto put = [&](std::string const& k, Ent& e) {
        e.dirty = true;
        b.changes.push_back(ChangeRow{ChangeKind::Put, k, e.value, e.version, rev});
    };
    auto checkLease = [&](Op const& op, std::string const& k) {
        if (op.lease != 0 && b.liveLeases.count(op.lease) == 0)
            throw LeaseExpired("cannot bind key " + q(k) + " to lease " +
                               std::to_string(op.lease) + ": it has expired or does not exist");
    };
    auto makeParents = [&](std::string const& k) {
        std::vector<std::string> anc;
        for (std::string p = k; p != "/";) {
            p = parentKey(p);
            if (p != "/") anc.push_back(p);
        }
        for (auto it = anc.rbegin(); it != anc.rend(); ++it) {
            Ent& e = entry(*it);
            if (e.exists) continue;
            e = Ent{true, false, keyDepth(*it), 1, rev, rev, 0, &kEmpty, e.inDb};
            put(*it, e);
        }
    };
    auto doCreate = [&](Op const& op, std::string const& k) -> std::int64_t {
        Ent& e = entry(k);
        if (k == "/") {
            // The root can be created once (as in Qserv): until then it has
            // version 0; create gives it its value and version 1.
            if (e.version > 0) throw KeyExistsError("key '/' already exists");
            checkLease(op, k);
            e.version = 1;
            e.modRev = rev;
            e.lease = op.lease;
            e.value = &op.value;
            put(k, e);
            return 1;
        }
        if (e.exists) throw KeyExistsError("key " + q(k) + " already exists");
        checkLease(op, k);
        makeParents(k);
        Ent& e2 = entry(k);  // (references into std::map stay valid; re-find for clarity)
        e2 = Ent{true, false, keyDepth(k), 1, rev, rev, op.lease, &op.value, e2.inDb};
        put(k, e2);
        return 1;
    };

    for (auto const& op : ops) {
        OpResult r;
        r.key = op.key;
        switch (op.type) {
            case Op::Type::Check: {
                Ent& e = entry(op.key);
                bool const ex = e.exists || op.key == "/";
                if (op.version == 0 ? ex : (!ex || (op.version > 0 && e.version != op.version)))
                    throw VersionMismatchError(
                            "check failed for key " + q(op.key) + ": expected " +
                            (op.version == 0 ? std::string("no key")
                                             : "version " + std::to_string(op.version)) +
                            ", found " +
                            (ex ? "version " + std::to_string(e.version) : std::string("no key")));
                r.version = e.version;
                break;
            }
            case Op::Type::CheckCreateRevision: {
                Ent& e = entry(op.key);
                if (!e.exists || e.createRev != op.version)
                    throw VersionMismatchError(
                            "check failed for key " + q(op.key) + ": expected create revision " +
                            std::to_string(op.version) + ", found " +
                            (e.exists ? std::to_string(e.createRev) : std::string("no key")));
                r.version = e.version;
                break;
            }
            case Op::Type::Create: r.version = doCreate(op, op.key); break;
            case Op::Type::CreateUnique: {
                std::string const lo = op.key + std::string(kUniqueDigits, '0');
                std::string const hi = op.key + std::string(kUniqueDigits, '9');
                int const depth = keyDepth(lo);
                auto u = b.unique.find(op.key);
                if (u == b.unique.end()) {
                    // The highest existing key with a numeric suffix, found by
                    // index range reads downwards (siblings of the same length
                    // whose suffix is not all digits, e.g. "..01234567ab", sort
                    // among them and are skipped).
                    std::string top;
                    std::string upper = hi;
                    bool inclusive = true;
                    for (;;) {
                        Rows rows = c.query(
                                std::string("SELECT path FROM qcss_kv WHERE depth = ? AND "
                                            "path >= ? AND path ") +
                                        (inclusive ? "<=" : "<") +
                                        " ? AND LENGTH(path) = ? ORDER BY depth DESC, path DESC "
                                        "LIMIT 64",
                                {Param::integer(depth), Param::blob(lo), Param::blob(upper),
                                 Param::integer(static_cast<std::int64_t>(lo.size()))});
                        for (auto& row : rows) {
                            if (uniqueSuffix(row[0].s, op.key) >= 0) {
                                top = row[0].s;
                                break;
                            }
                        }
                        if (!top.empty() || rows.size() < 64) break;
                        upper = rows.back()[0].s;
                        inclusive = false;
                    }
                    if (!top.empty()) loadRows(c, b, {top});
                    u = b.unique.emplace(op.key, std::make_pair(top, false)).first;
                }
                if (!u->second.second && !u->second.first.empty() &&
                    !b.st.at(u->second.first).exists) {
                    // The batch deleted the highest: load them all (rare).
                    Rows allRows = c.query(
                            "SELECT path FROM qcss_kv WHERE depth = ? AND path >= ? AND "
                            "path <= ? AND LENGTH(path) = ?",
                            {Param::integer(depth), Param::blob(lo), Param::blob(hi),
                             Param::integer(static_cast<std::int64_t>(lo.size()))});
                    std::vector<std::string> ps;
                    for (auto& ar : allRows) ps.push_back(ar[0].s);
                    loadRows(c, b, ps);
                    u->second.second = true;
                }
                long long top = 0;
                for (auto it = b.st.lower_bound(lo); it != b.st.end() && it->first <= hi; ++it) {
                    if (!it->second.exists) continue;
                    long long const s = uniqueSuffix(it->first, op.key);
                    if (s > top) top = s;
                }
                r.key = uniqueKey(op.key, top + 1);
                r.version = doCreate(op, r.key);
                break;
            }
            case Op::Type::Set: {
                Ent& e = entry(op.key);
                bool const ex = e.exists;
                if (op.version >= 0) {
                    if (!ex)
                        throw NoSuchKey("key " + q(op.key) +
                                        " does not exist (compare-and-set expected version " +
                                        std::to_string(op.version) + ")");
                    if (e.version != op.version)
                        throw VersionMismatchError("key " + q(op.key) + " has version " +
                                                   std::to_string(e.version) + ", expected " +
                                                   std::to_string(op.version));
                }
                checkLease(op, op.key);
                if (ex) {
                    e.version += 1;
                    e.modRev = rev;
                    if (op.lease != 0) e.lease = op.lease;
                    e.value = &op.value;
                    put(op.key, e);
                    r.version = e.version;
                } else {
                    r.version = doCreate(op, op.key);
                }
                break;
            }
            case Op::Type::Delete: {
                Ent& e = entry(op.key);
                if (!e.exists) {
                    if (lenient) break;
                    throw NoSuchKey("key " + q(op.key) + " does not exist");
                }
                if (op.version >= 0 && e.version != op.version)
                    throw VersionMismatchError("key " + q(op.key) + " has version " +
                                               std::to_string(e.version) + ", expected " +
                                               std::to_string(op.version));
                auto del = [&](std::string const& k, Ent& x) {
                    b.changes.push_back(ChangeRow{ChangeKind::Delete, k, &kEmpty, x.version, rev});
                    x.exists = false;
                    x.dirty = false;
                };
                // Reverse byte order: every descendant before its ancestor (as mem).
                auto const [lo, hi] = subtreeRange(op.key);
                std::vector<std::map<std::string, Ent>::iterator> doomed;
                for (auto it = b.st.lower_bound(lo); it != b.st.end() && it->first < hi; ++it)
                    if (it->second.exists) doomed.push_back(it);
                for (auto it = doomed.rbegin(); it != doomed.rend(); ++it)
                    del((*it)->first, (*it)->second);
                del(op.key, e);
                b.deleted.push_back(op.key);
                break;
            }
        }
        result.results.push_back(std::move(r));
    }

    if (build && !b.changes.empty()) buildWrites(b, b.writes);
    if (b.changes.empty()) result.revision = rev - 1;
    return result;
}

void SqlKv::buildWrites(Batch& b, std::vector<Statement>& out) {
    // Subtrees removed: one range statement each.
    for (auto const& k : b.deleted) {
        auto const [lo, hi] = subtreeRange(k);
        b.bounds.push_back(lo);
        b.bounds.push_back(hi);
        out.push_back(Statement{"DELETE FROM qcss_kv WHERE path = ? OR (path >= ? AND path < ?)",
                                {Param::blob(k), Param::blob(b.bounds[b.bounds.size() - 2]),
                                 Param::blob(b.bounds.back())}});
    }
    std::size_t const maxBytes =
            _driver->maxStatementBytes() == 0 ? std::size_t(-1) : _driver->maxStatementBytes() / 2;
    // Keys written: multi-row upserts of their final state.
    {
        constexpr std::size_t kCols = 7;
        std::size_t const maxRows = std::min<std::size_t>(_d.maxParams / kCols, 4000);
        // Rows new to the database: plain INSERTs; rows it had: upserts.
        std::vector<std::pair<std::string const*, Ent const*>> fresh, known;
        for (auto const& [k, e] : b.st)
            if (e.exists && e.dirty) (e.inDb ? known : fresh).emplace_back(&k, &e);
        for (auto const* list : {&fresh, &known}) {
        auto const& rows = *list;
        std::size_t i = 0;
        while (i < rows.size()) {
            std::vector<Param> ps;
            std::size_t n = 0, bytes = 0;
            while (i + n < rows.size() && n < maxRows) {
                auto const& [k, e] = rows[i + n];
                std::size_t const sz = k->size() + e->value->size() + 64;
                if (n > 0 && bytes + sz > maxBytes) break;
                bytes += sz;
                ps.push_back(Param::blob(*k));
                ps.push_back(Param::integer(e->depth));
                ps.push_back(Param::blob(*e->value));
                ps.push_back(Param::integer(e->version));
                ps.push_back(Param::integer(e->createRev));
                ps.push_back(Param::integer(e->modRev));
                ps.push_back(Param::integer(e->lease));
                ++n;
            }
            std::string sql =
                    "INSERT INTO qcss_kv (path, depth, value, version, create_rev, mod_rev, "
                    "lease_id) VALUES ";
            for (std::size_t j = 0; j < n; ++j) sql += j == 0 ? "(?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?)";
            if (list == &known) sql += _d.kvUpsertTail;
            out.push_back(Statement{std::move(sql), std::move(ps)});
            i += n;
        }
        }
    }
    // The change log: multi-row inserts, in order.
    {
        constexpr std::size_t kCols = 7;
        std::size_t const maxRows = std::min<std::size_t>(_d.maxParams / kCols, 4000);
        std::string const& client = _opts.clientId;
        std::size_t i = 0;
        std::int64_t seq = 0;  // 1, 2, ... within each revision
        while (i < b.changes.size()) {
            std::vector<Param> ps;
            std::size_t n = 0, bytes = 0;
            while (i + n < b.changes.size() && n < maxRows) {
                auto const& ch = b.changes[i + n];
                std::size_t const sz = ch.path.size() + ch.value->size() + 64;
                if (n > 0 && bytes + sz > maxBytes) break;
                bytes += sz;
                seq = i + n > 0 && b.changes[i + n - 1].revision == ch.revision ? seq + 1 : 1;
                ps.push_back(Param::integer(ch.revision));
                ps.push_back(Param::integer(seq));
                ps.push_back(Param::integer(static_cast<int>(ch.kind)));
                ps.push_back(Param::blob(ch.path));
                ps.push_back(Param::blob(*ch.value));
                ps.push_back(Param::integer(ch.version));
                ps.push_back(Param::blob(client));
                ++n;
            }
            std::string sql =
                    "INSERT INTO qcss_changes (revision, seq, kind, path, value, version, ts, "
                    "client) VALUES ";
            std::string const row = "(?,?,?,?,?,?," + _d.nowExpr + ",?)";
            for (std::size_t j = 0; j < n; ++j) {
                if (j > 0) sql += ",";
                sql += row;
            }
            out.push_back(Statement{std::move(sql), std::move(ps)});
            i += n;
        }
    }
}

CommitResult SqlKv::commit(std::vector<Op> const& ops) {
    bool const mutates = validateOps(ops);
    if (ops.empty()) return CommitResult{revision(), {}};
    if (!mutates) {
        // Checks only: evaluated on one consistent snapshot; no revision taken.
        return run("commit", [&](Conn& c) {
            c.beginRead();
            Rows rows = c.query("SELECT revision FROM qcss_meta WHERE id = 1", {});
            std::int64_t const rev = rows.at(0).at(0).i;
            Batch b;
            CommitResult r = applyOps(c, b, rev + 1, ops, false);
            c.endRead();
            r.revision = rev;
            return r;
        });
    }
    std::vector<std::string> paths = prefetchPaths(ops);
    if (_grouping && groupable(ops, paths)) return commitGrouped(ops, std::move(paths));
    return commitOne(ops, paths);
}

CommitResult SqlKv::commitOne(std::vector<Op> const& ops, std::vector<std::string> const& paths) {
    if (std::optional<CommitResult> r = commitCached(ops, paths)) return std::move(*r);
    // The first rows to read travel with the revision lock (one round trip on
    // MySQL); the writes and the COMMIT travel together (one round trip when
    // small enough).
    // A big batch reads only the parents first: the keys under a parent found
    // absent are then known absent without a read (a bulk create of a new
    // subtree reads a handful of rows, not one per key); the rest are read by
    // applyOps. A small one reads everything it names at once.
    std::vector<std::string> firstPaths;
    if (paths.size() > kReadAllAtOnce) {
        std::unordered_set<std::string> parents;
        for (auto const& p : paths)
            if (p != "/") parents.insert(parentKey(p));
        for (auto const& p : paths)
            if (parents.count(p) != 0) firstPaths.push_back(p);
    }
    std::vector<std::string> const& first = paths.size() > kReadAllAtOnce ? firstPaths : paths;
    std::size_t const n0 = std::min<std::size_t>(4000, first.size());
    std::vector<Param> ps0;
    for (std::size_t i = 0; i < n0; ++i) ps0.push_back(Param::blob(first[i]));
    std::string const sql0 = "SELECT path, version, create_rev, mod_rev, lease_id, depth FROM "
                             "qcss_kv WHERE path IN (" + placeholders(n0) + ")";
    while (true) {
        std::optional<CommitResult> r = run("commit", [&](Conn& c) -> std::optional<CommitResult> {
            Batch b;
            std::vector<Rows> rows;
            std::int64_t rev = 0;
            std::int64_t const token = newWriteToken();
            try {
                std::vector<Statement> qs;
                if (n0 > 0) qs.push_back(Statement{sql0, ps0});
                rev = c.beginWriteWithQueries(Bump{leaseCond(), token}, qs, rows);
            } catch (DbError const& e) {
                if (e.kind() != ErrKind::Precondition) throw;
                // A lease may have expired: its keys go first, in a transaction
                // and a revision of their own (as mem does before every writing
                // batch), so that this batch failing does not undo the reap.
                c.rollback();
                return std::nullopt;
            }
            if (n0 > 0) absorb(b, first, n0, rows.at(0));
            CommitResult res = applyOps(c, b, rev, ops, false, &paths);
            try {
                c.execAndCommit(b.writes);
            } catch (DbError const& e) {
                if (e.kind() == ErrKind::CommitUnknown) forget();
                throw;
            }
            remember(b, rev, token);
            return res;
        });
        if (r) return std::move(*r);
        run("reapExpiredLeases", [&](Conn& c) { return reapExpired(c); });
    }
}

// ---- group commit: concurrent small batches of one store, one transaction ----
//
// Threads sharing a store object whose writes overlap in time queue them: while
// one write of the store is in flight, the small batches arriving (sets,
// creates and checks; no deletes, unique creates or leases) wait, and the
// next leader writes all of them in ONE database transaction: one revision
// lock, one read of every row they name, each batch evaluated in arrival order
// on the rows as the ones before left them, taking the next revision when it
// succeeds (a batch that fails -- version mismatch, key exists -- takes none
// and writes nothing: its rows are put back, and its caller gets its own
// error), then one write of all rows and change-log rows and COMMIT. So every
// batch still has its own revision and log entries, revisions stay gapless and
// in commit order, and k writers pay one commit instead of k. A batch alone
// takes the usual path (and the row cache). QCSS_GROUP_COMMIT=0 turns it off.

struct SqlKv::GroupReq {
    std::vector<Op> const* ops;
    std::vector<std::string> paths;
    CommitResult result;
    std::exception_ptr error;
    bool done = false;
    bool lead = false;
    std::condition_variable cv;  // done or lead (under _gMu)
};

namespace {
constexpr std::size_t kCacheMax = 4096;  // rows remembered
constexpr std::size_t kCacheBatch = 256; // rows of a batch, at most, to remember
constexpr int kMaxSkip = 64;             // batches not tried after misses
constexpr std::size_t kGroupPaths = 64;     // rows one batch may name to be grouped
constexpr std::size_t kGroupMax = 64;       // batches per group
constexpr std::size_t kGroupRows = 4000;    // rows one group reads (one statement)
constexpr int kLeaderRounds = 4;            // groups a leader writes before handing over
}  // namespace

bool SqlKv::cacheable(std::vector<Op> const& ops) {
    // Rows a batch finds by a range read (subtrees, unique suffixes) and leases
    // to check are neither remembered nor read for a group.
    for (auto const& op : ops)
        if (op.lease != 0 || op.type == Op::Type::Delete || op.type == Op::Type::CreateUnique)
            return false;
    return true;
}

bool SqlKv::groupable(std::vector<Op> const& ops, std::vector<std::string> const& paths) {
    return paths.size() <= kGroupPaths && cacheable(ops);
}

CommitResult SqlKv::commitGrouped(std::vector<Op> const& ops, std::vector<std::string> paths) {
    GroupReq me{&ops, std::move(paths), {}, nullptr, false, false, {}};
    std::unique_lock<std::mutex> lk(_gMu);
    std::vector<GroupReq*> group;
    if (!_gActive) {
        _gActive = true;  // nothing in flight: write alone, the usual way
        group.push_back(&me);
    } else {
        _gQueue.push_back(&me);  // the leader is woken at the front of the queue
        me.cv.wait(lk, [&] { return me.done || me.lead; });
    }
    if (!me.done) {
        // The leader: writes what is queued (itself first); then, while more is
        // queued, a few more groups (it is running already: a woken thread would
        // first have to be scheduled); then hands over to the oldest waiter.
        for (int round = 0;; ++round) {
            std::size_t rows = 0;
            for (GroupReq const* r : group) rows += r->paths.size();
            while (!_gQueue.empty() && group.size() < kGroupMax &&
                   (group.empty() || rows + _gQueue.front()->paths.size() <= kGroupRows)) {
                rows += _gQueue.front()->paths.size();
                group.push_back(_gQueue.front());
                _gQueue.pop_front();
            }
            lk.unlock();
            if (group.size() == 1) {
                GroupReq& r = *group[0];
                try {
                    r.result = commitOne(*r.ops, r.paths);
                } catch (...) {
                    r.error = std::current_exception();
                }
            } else {
                try {
                    commitGroup(group);
                } catch (...) {
                    for (GroupReq* r : group) r->error = std::current_exception();
                }
            }
            lk.lock();
            for (GroupReq* r : group) {
                r->done = true;
                if (r != &me) r->cv.notify_one();
            }
            group.clear();
            if (_gQueue.empty() || round + 1 >= kLeaderRounds) break;
        }
        if (_gQueue.empty()) {
            _gActive = false;
        } else {
            _gQueue.front()->lead = true;
            _gQueue.front()->cv.notify_one();
        }
    }
    lk.unlock();
    if (me.error) std::rethrow_exception(me.error);
    return std::move(me.result);
}

std::int64_t SqlKv::evalGroup(Conn& c, Batch& b, std::vector<GroupReq*> const& group,
                             std::int64_t first) {
    std::int64_t next = first;  // the revision of the next batch that succeeds
    for (GroupReq* r : group) {
        r->error = nullptr;
        // What a failing batch may have changed: its rows, its log rows.
        std::vector<std::pair<std::string const*, Ent>> saved;
        for (auto const& p : r->paths) saved.emplace_back(&p, b.st.at(p));
        std::size_t const nChanges = b.changes.size();
        try {
            r->result = applyOps(c, b, next, *r->ops, false, &r->paths, false);
            if (b.changes.size() > nChanges) ++next;
        } catch (CssError const&) {
            for (auto const& [k, e] : saved) b.st.at(*k) = e;
            b.changes.resize(nChanges);
            r->error = std::current_exception();
        }
    }
    std::int64_t const last = next - 1;
    if (last > first)  // the bump took `first`; the group ends at `last`
        b.writes.push_back(Statement{"UPDATE qcss_meta SET revision = ? WHERE id = 1",
                                     {Param::integer(last)}});
    if (last >= first) buildWrites(b, b.writes);
    return last;
}

bool SqlKv::commitGroupCached(std::vector<GroupReq*> const& group,
                              std::vector<std::string> const& all) {
    // As commitCached, for a group: every row it names remembered (or a key to
    // create under a remembered parent), evaluated on them, written in one round
    // trip if the store is still at the remembered revision. A batch failing on
    // the remembered rows sends the group the general way, which decides on
    // the rows as they are.
    std::unordered_set<std::string_view> creates;
    for (GroupReq const* r : group)
        for (auto const& op : *r->ops)
            if (op.type == Op::Type::Create) creates.insert(op.key);
    Batch b0;
    std::int64_t base = 0, baseToken = 0;
    {
        std::lock_guard<std::mutex> lk(_cacheMu);
        if (_skip > 0) {
            --_skip;
            return false;
        }
        if (_cacheRev < 0) return false;
        for (auto const& p : all) {
            auto const it = _rows->rows.find(p);
            if (it != _rows->rows.end()) {
                b0.st.emplace(p, it->second);
            } else if (creates.count(p) != 0 && _rows->rows.count(parentKey(p)) != 0) {
                b0.st.emplace(p, Ent{});
            } else {
                return false;
            }
        }
        base = _cacheRev;
        baseToken = _cacheToken;
    }
    std::string const cond = "revision = " + std::to_string(base) +
                             " AND write_token = " + std::to_string(baseToken) + " AND " + leaseCond();
    bool missed = false;
    bool const ok = run("commit", [&](Conn& c) -> bool {
        Batch b;
        b.st = b0.st;
        std::int64_t const token = newWriteToken();
        std::int64_t const last = evalGroup(c, b, group, base + 1);
        for (GroupReq const* r : group)
            if (r->error) return false;
        try {
            c.writeIf(Bump{cond, token}, b.writes);
        } catch (DbError const& e) {
            if (e.kind() == ErrKind::CommitUnknown) forget();
            if (e.kind() != ErrKind::Precondition && e.kind() != ErrKind::Duplicate) throw;
            c.rollback();
            missed = true;
            return false;
        }
        remember(b, last, token, base);
        return true;
    });
    std::lock_guard<std::mutex> lk(_cacheMu);
    if (ok) {
        _skipLen = 1;
    } else if (missed) {
        _skip = _skipLen;
        _skipLen = std::min(kMaxSkip, _skipLen * 2);
    }
    return ok;
}

void SqlKv::commitGroup(std::vector<GroupReq*> const& group) {
    std::vector<std::string> all;
    for (GroupReq const* r : group) all.insert(all.end(), r->paths.begin(), r->paths.end());
    std::sort(all.begin(), all.end(), [](std::string const& x, std::string const& y) {
        int const dx = keyDepth(x), dy = keyDepth(y);
        return dx != dy ? dx < dy : x < y;
    });
    all.erase(std::unique(all.begin(), all.end()), all.end());
    if (all.size() <= kCacheBatch && commitGroupCached(group, all)) return;
    std::vector<Param> ps0;
    for (auto const& p : all) ps0.push_back(Param::blob(p));
    std::string const sql0 = "SELECT path, version, create_rev, mod_rev, lease_id, depth FROM "
                             "qcss_kv WHERE path IN (" + placeholders(all.size()) + ")";
    while (true) {
        bool const ok = run("commit", [&](Conn& c) -> bool {
            Batch b;
            std::vector<Rows> rows;
            std::int64_t first = 0;
            std::int64_t const token = newWriteToken();
            try {
                first = c.beginWriteWithQueries(Bump{leaseCond(), token},
                                                {Statement{sql0, ps0}}, rows);
            } catch (DbError const& e) {
                if (e.kind() != ErrKind::Precondition) throw;
                c.rollback();  // a lease may have expired: reap first (see commitOne)
                return false;
            }
            absorb(b, all, all.size(), rows.at(0));
            std::int64_t const last = evalGroup(c, b, group, first);
            if (last < first) {  // every batch failed: nothing to write
                c.rollback();
                return true;
            }
            std::vector<Statement>& w = b.writes;
            try {
                c.execAndCommit(w);
            } catch (DbError const& e) {
                if (e.kind() == ErrKind::CommitUnknown) forget();
                throw;
            }
            remember(b, last, token, first - 1);
            return true;
        });
        if (ok) return;
        run("reapExpiredLeases", [&](Conn& c) { return reapExpired(c); });
    }
}

// ---- the row cache: writes in one round trip ----------------------------------
//
// After each write the core remembers the rows it read and wrote, as they are
// at the new revision R. While the store's revision is still R nothing in it
// has changed, so a batch touching only remembered rows is evaluated on them
// (the same applyOps, no reads) and sent with its writes and COMMIT in one
// round trip, the revision bump conditional on "revision = R AND write_token =
// T" (T: the token written at R, which a store restored from a backup and
// written back up to R does not have) and on no lease having expired. A key it
// creates under a remembered parent is taken as absent (a plain INSERT). If
// another writer got in first, the bump fails (or the INSERT hits the key)
// before anything is written; the batch is rolled back and takes the general
// path.


std::string SqlKv::leaseCond() const { return "lease_deadline > " + _d.nowExpr; }

std::int64_t SqlKv::newWriteToken() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return static_cast<std::int64_t>(rng() >> 1);
}

void SqlKv::forget() {
    std::lock_guard<std::mutex> lk(_cacheMu);
    _rows->rows.clear();
    _cacheRev = -1;
}

void SqlKv::remember(Batch const& b, std::int64_t rev, std::int64_t token, std::int64_t from) {
    std::lock_guard<std::mutex> lk(_cacheMu);
    if (rev <= _cacheRev) return;  // a later write was remembered first
    auto& rows = _rows->rows;
    if (from < 0) from = rev - 1;
    if (from != _cacheRev || rows.size() + b.st.size() > kCacheMax) rows.clear();
    _cacheRev = rev;
    _cacheToken = token;
    if (b.st.size() > kCacheBatch) {
        rows.clear();  // a bulk write: too many rows to copy, and the cache
        return;          // may hold stale copies of some of them: start afresh
    }
    for (auto const& [k, e] : b.st) {
        Ent& r = rows[k] = e;
        r.dirty = false;
        r.value = nullptr;
        r.inDb = r.exists;
    }
}

std::optional<CommitResult> SqlKv::commitCached(std::vector<Op> const& ops,
                                                std::vector<std::string> const& paths) {
    // A group of one (commitGroupCached).
    if (paths.size() > kCacheBatch || !cacheable(ops)) return std::nullopt;
    GroupReq one{&ops, paths, {}, nullptr, false, false, {}};
    if (!commitGroupCached({&one}, paths)) return std::nullopt;
    return std::move(one.result);
}

// ---- reads --------------------------------------------------------------------

namespace {

// The root is implicit (see KvInterface.h): it exists once created or set
// (version > 0), or while it has a child other than qcss's own /.qcss.
bool rootVisible(Conn& c) {
    return !c.query("SELECT 1 FROM qcss_kv WHERE (path = ? AND version > 0) OR "
                    "(depth = 1 AND path <> ?) LIMIT 1",
                    {Param::blob("/"), Param::blob(kInternalRoot)})
                    .empty();
}

std::string const kNoRoot = "key '/' does not exist (the store is empty)";

}  // namespace

std::string SqlKv::get(std::string const& key) {
    validateKey(key);
    return run("get", [&](Conn& c) {
        std::string value;
        if (!c.queryValue("SELECT value FROM qcss_kv WHERE path = ?", {Param::blob(key)}, value))
            throw NoSuchKey("key " + q(key) + " does not exist");
        if (key == "/" && !rootVisible(c)) throw NoSuchKey(kNoRoot);
        return value;
    });
}

KeyStat SqlKv::getStat(std::string const& key) {
    validateKey(key);
    auto const [lo, hi] = subtreeRange(key);
    return run("getStat", [&](Conn& c) {
        Rows rows = c.query(
                "SELECT version, create_rev, mod_rev, LENGTH(value), lease_id, "
                "(SELECT COUNT(*) FROM qcss_kv c WHERE c.depth = ? AND c.path >= ? AND c.path < ?) "
                "FROM qcss_kv WHERE path = ?",
                {Param::integer(keyDepth(key) + 1), Param::blob(lo), Param::blob(hi),
                 Param::blob(key)});
        if (rows.empty()) throw NoSuchKey("key " + q(key) + " does not exist");
        if (key == "/" && !rootVisible(c)) throw NoSuchKey(kNoRoot);
        KeyStat s;
        s.version = rows[0][0].i;
        s.createRevision = rows[0][1].i;
        s.modRevision = rows[0][2].i;
        s.dataLength = rows[0][3].i;
        s.lease = rows[0][4].i;
        s.numChildren = rows[0][5].i;
        return s;
    });
}

std::map<std::string, std::string> SqlKv::getMany(std::vector<std::string> const& keys) {
    for (auto const& k : keys) validateKey(k);
    std::vector<std::string> ks(keys);
    std::sort(ks.begin(), ks.end());
    ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
    if (ks.empty()) return {};
    return run("getMany", [&](Conn& c) {
        std::map<std::string, std::string> out;
        bool const txn = ks.size() > kInChunk;  // one statement is consistent by itself
        if (txn) c.beginRead();
        for (std::size_t off = 0; off < ks.size(); off += kInChunk) {
            std::size_t const n = std::min(kInChunk, ks.size() - off);
            std::vector<Param> ps;
            for (std::size_t i = 0; i < n; ++i) ps.push_back(Param::blob(ks[off + i]));
            Rows rows = c.query("SELECT path, value FROM qcss_kv WHERE path IN (" +
                                        placeholders(n) + ")",
                                ps);
            for (auto& r : rows) out.emplace(std::move(r[0].s), std::move(r[1].s));
        }
        if (out.count("/") != 0 && !rootVisible(c)) out.erase("/");
        if (txn) c.endRead();
        return out;
    });
}

bool SqlKv::exists(std::string const& key) {
    if (key.size() > kMaxKeyLength) return false;  // as Qserv: absent, not invalid
    validateKey(key);
    if (key == "/") return run("exists", [&](Conn& c) { return rootVisible(c); });
    return run("exists", [&](Conn& c) {
        return !c.query("SELECT 1 FROM qcss_kv WHERE path = ?", {Param::blob(key)}).empty();
    });
}

std::vector<std::string> SqlKv::getChildren(std::string const& key) {
    validateKey(key);
    auto const [lo, hi] = subtreeRange(key);
    return run("getChildren", [&](Conn& c) {
        Rows rows = c.query(
                "SELECT path FROM qcss_kv WHERE depth = ? AND path >= ? AND path < ? "
                "ORDER BY depth, path",
                {Param::integer(keyDepth(key) + 1), Param::blob(lo), Param::blob(hi)});
        if (rows.empty() && key != "/" &&
            c.query("SELECT 1 FROM qcss_kv WHERE path = ?", {Param::blob(key)}).empty())
            throw NoSuchKey("key " + q(key) + " does not exist");
        std::vector<std::string> out;
        out.reserve(rows.size());
        for (auto& r : rows) {
            if (key == "/" && r[0].s == kInternalRoot) continue;  // hidden from Qserv's view
            out.push_back(std::move(r[0].s.erase(0, lo.size())));
        }
        if (key == "/" && out.empty() && !rootVisible(c)) throw NoSuchKey(kNoRoot);
        return out;
    });
}

std::map<std::string, std::string> SqlKv::getChildrenValues(std::string const& key) {
    validateKey(key);
    auto const [lo, hi] = subtreeRange(key);
    return run("getChildrenValues", [&](Conn& c) {
        Rows rows = c.query(
                "SELECT path, value FROM qcss_kv WHERE depth = ? AND path >= ? AND path < ? "
                "ORDER BY depth, path",
                {Param::integer(keyDepth(key) + 1), Param::blob(lo), Param::blob(hi)});
        if (rows.empty() && key != "/" &&
            c.query("SELECT 1 FROM qcss_kv WHERE path = ?", {Param::blob(key)}).empty())
            throw NoSuchKey("key " + q(key) + " does not exist");
        std::map<std::string, std::string> out;
        for (auto& r : rows) {
            if (key == "/" && r[0].s == kInternalRoot) continue;  // hidden from Qserv's view
            out.emplace(r[0].s.substr(lo.size()), std::move(r[1].s));
        }
        if (key == "/" && out.empty() && !rootVisible(c)) throw NoSuchKey(kNoRoot);
        return out;
    });
}

Snapshot SqlKv::snapshot(std::string const& prefix) {
    validateKey(prefix);
    auto const [lo, hi] = subtreeRange(prefix);
    return run("snapshot", [&](Conn& c) {
        // One statement: the revision and the rows come from one read view.
        Rows rows = c.query(
                "SELECT m.revision, k.path, k.value, k.version, k.create_rev, k.mod_rev, "
                "k.lease_id FROM qcss_meta m LEFT JOIN qcss_kv k ON (k.path = ? OR "
                "(k.path >= ? AND k.path < ?)) WHERE m.id = 1 ORDER BY k.path",
                {Param::blob(prefix), Param::blob(lo), Param::blob(hi)});
        Snapshot s;
        if (rows.empty()) throw DbError(ErrKind::NoSchema, 0, "qcss_meta has no row");
        s.revision = rows[0][0].i;
        for (auto& r : rows) {
            if (r[1].null) continue;
            KeyValue kv;
            kv.key = std::move(r[1].s);
            kv.value = std::move(r[2].s);
            kv.stat.version = r[3].i;
            kv.stat.createRevision = r[4].i;
            kv.stat.modRevision = r[5].i;
            kv.stat.lease = r[6].i;
            kv.stat.dataLength = static_cast<std::int64_t>(kv.value.size());
            s.entries.push_back(std::move(kv));
        }
        std::map<std::string, std::size_t> index;
        for (std::size_t i = 0; i < s.entries.size(); ++i) {
            auto const& k = s.entries[i].key;
            if (k != "/") {
                auto p = index.find(parentKey(k));
                if (p != index.end()) ++s.entries[p->second].stat.numChildren;
            }
            index.emplace(k, i);
        }
        return s;
    });
}

std::int64_t SqlKv::revision() {
    return run("revision", [&](Conn& c) {
        Rows rows = c.query("SELECT revision FROM qcss_meta WHERE id = 1", {});
        if (rows.empty()) throw DbError(ErrKind::NoSchema, 0, "qcss_meta has no row");
        return rows[0][0].i;
    });
}

// ---- change feed ----------------------------------------------------------------

std::vector<Change> SqlKv::changes(std::int64_t sinceRevision, std::string const& prefix,
                                   std::size_t limit) {
    validateKey(prefix);
    if (sinceRevision < 0) sinceRevision = 0;
    auto const [lo, hi] = subtreeRange(prefix);
    bool const all = prefix == "/";
    std::string const cols =
            "c.revision, c.seq, c.kind, c.path, c.value, c.version, c.ts, c.client";
    return run("changes", [&](Conn& c) {
        // A prefix is read through the (path, revision) index when its
        // history is the smaller set: the key's own changes (path = p) and its
        // subtree's (path in [p/, p0)), each an index range, revision > since.
        // When few changes follow `since` (a watcher catching up) the
        // (revision, seq) range is smaller. MySQL's planner weighs the two by
        // their bounds; for SQLite the core probes how many changes follow
        // `since` (at most kProbe index entries) and picks the index.
        constexpr int kProbe = 4096;
        bool byPath = false;
        std::string pc = "c.path";
        if (!all && !_d.costBasedRanges) {
            Rows n = c.query("SELECT COUNT(*) FROM (SELECT 1 FROM qcss_changes WHERE revision > ? "
                             "ORDER BY revision LIMIT " + std::to_string(kProbe) + ") t",
                             {Param::integer(sinceRevision)});
            byPath = !n.empty() && n[0][0].i >= kProbe;
            pc = "+c.path";  // "+": keeps SQLite off the path index
        }
        std::string const cond =
                all ? "" : " AND (" + pc + " = ? OR (" + pc + " >= ? AND " + pc + " < ?))";
        std::vector<Param> ps;
        std::string sql;
        if (byPath) {
            ps = {Param::blob(prefix), Param::integer(sinceRevision), Param::blob(lo),
                  Param::blob(hi), Param::integer(sinceRevision)};
            std::string const cc = "revision, seq, kind, path, value, version, ts, client";
            sql = "SELECT m.compacted_revision, " + cols + " FROM qcss_meta m LEFT JOIN (SELECT " +
                  cc + " FROM qcss_changes WHERE path = ? AND revision > ? UNION ALL SELECT " +
                  cc + " FROM qcss_changes WHERE path >= ? AND path < ? AND revision > ?) c "
                  "ON 1 = 1 WHERE m.id = 1 ORDER BY c.revision, c.seq";
        } else {
            ps = {Param::integer(sinceRevision)};
            if (!all) {
                ps.push_back(Param::blob(prefix));
                ps.push_back(Param::blob(lo));
                ps.push_back(Param::blob(hi));
            }
            sql = "SELECT m.compacted_revision, " + cols +
                  " FROM qcss_meta m LEFT JOIN qcss_changes c ON c.revision > ?" + cond +
                  " WHERE m.id = 1 ORDER BY c.revision, c.seq";
        }
        if (limit > 0) sql += " LIMIT " + std::to_string(limit);
        Rows rows = c.query(sql, ps);
        if (rows.empty()) throw DbError(ErrKind::NoSchema, 0, "qcss_meta has no row");
        std::int64_t const compacted = rows[0][0].i;
        if (sinceRevision < compacted)
            throw CompactedError("changes since revision " + std::to_string(sinceRevision) +
                                         " are no longer available: the change log was "
                                         "compacted up to revision " + std::to_string(compacted),
                                 compacted + 1);
        std::vector<Change> out;
        auto add = [&](Row& r, std::size_t o) {
            Change ch;
            ch.revision = r[o].i;
            ch.kind = r[o + 2].i == 2 ? ChangeKind::Delete : ChangeKind::Put;
            ch.key = std::move(r[o + 3].s);
            ch.value = std::move(r[o + 4].s);
            ch.version = r[o + 5].i;
            ch.time = r[o + 6].d;
            ch.client = std::move(r[o + 7].s);
            out.push_back(std::move(ch));
        };
        std::int64_t lastSeq = 0;
        for (auto& r : rows) {
            if (r[1].null) continue;
            lastSeq = r[2].i;
            add(r, 1);
        }
        if (limit > 0 && out.size() == limit) {
            // Never split a transaction: fetch the rest of the last revision.
            std::int64_t const lastRev = out.back().revision;
            std::vector<Param> ps2{Param::integer(lastRev), Param::integer(lastSeq)};
            if (!all) {
                ps2.push_back(Param::blob(prefix));
                ps2.push_back(Param::blob(lo));
                ps2.push_back(Param::blob(hi));
            }
            Rows more = c.query("SELECT " + cols +
                                        " FROM qcss_changes c WHERE c.revision = ? AND c.seq > ?" +
                                        cond + " ORDER BY c.seq",
                                ps2);
            for (auto& r : more) add(r, 0);
        }
        return out;
    });
}

std::int64_t SqlKv::compact(std::int64_t upToRevision) {
    checkWritable("compact the change log");
    return run("compact", [&](Conn& c) {
        std::int64_t const cur = c.beginWriteNoBump();
        std::int64_t const upTo = std::min(upToRevision, cur);
        std::int64_t const done =
                c.query("SELECT compacted_revision FROM qcss_meta WHERE id = 1", {}).at(0).at(0).i;
        if (upTo <= done) {
            c.commit();
            return std::int64_t(0);
        }
        std::int64_t const n =
                c.exec("DELETE FROM qcss_changes WHERE revision <= ?", {Param::integer(upTo)});
        c.exec("UPDATE qcss_meta SET compacted_revision = ? WHERE id = 1", {Param::integer(upTo)});
        c.commit();
        return n;
    });
}

std::int64_t SqlKv::compactedRevision() {
    return run("compactedRevision", [&](Conn& c) {
        return c.query("SELECT compacted_revision FROM qcss_meta WHERE id = 1", {}).at(0).at(0).i;
    });
}

// ---- leases -------------------------------------------------------------------

std::int64_t SqlKv::leaseGrant(std::int64_t ttlMs, std::string const& purpose) {
    checkWritable("grant a lease");
    if (ttlMs <= 0) throw ConfigError("lease TTL must be positive, got " + std::to_string(ttlMs));
    checkLeasePurpose(purpose);
    return run("leaseGrant", [&](Conn& c) {
        // Under the writers' lock, so that a reap recomputing the deadline
        // cannot miss this lease: lower the deadline, then add the lease.
        c.beginWriteNoBump();
        c.exec("UPDATE qcss_meta SET lease_deadline = " + _d.leastFn + "(lease_deadline, " +
                       _d.nowExpr + " + ? / 1000.0) WHERE id = 1",
               {Param::integer(ttlMs)});
        c.exec("INSERT INTO qcss_leases (ttl_ms, granted_at, expires_at, owner, purpose) "
               "VALUES (?, " + _d.nowExpr + ", " + _d.nowExpr + " + ? / 1000.0, ?, ?)",
               {Param::integer(ttlMs), Param::integer(ttlMs), Param::blob(_opts.clientId),
                Param::blob(purpose)});
        std::int64_t const id = c.lastInsertId();
        c.commit();
        return id;
    });
}

bool SqlKv::leaseKeepAlive(std::int64_t leaseId) {
    checkWritable("keep a lease alive");
    return run("leaseKeepAlive", [&](Conn& c) {
        return c.exec("UPDATE qcss_leases SET expires_at = " + _d.nowExpr +
                              " + ttl_ms / 1000.0 WHERE id = ? AND expires_at > " + _d.nowExpr,
                      {Param::integer(leaseId)}) > 0;
    });
}

bool SqlKv::reapLeases(Conn& c, std::vector<std::int64_t> const& ids, std::int64_t rev) {
    // With the writers' lock held: delete the keys bound to the leases `ids`
    // (and their subtrees) at revision `rev`, and the leases themselves.
    // Returns true if any key was deleted (the caller then owns `rev`).
    std::vector<Op> ops;
    for (std::size_t off = 0; off < ids.size(); off += kInChunk) {
        std::size_t const n = std::min(kInChunk, ids.size() - off);
        std::vector<Param> ps;
        for (std::size_t i = 0; i < n; ++i) ps.push_back(Param::integer(ids[off + i]));
        Rows rows = c.query("SELECT path FROM qcss_kv WHERE lease_id IN (" + placeholders(n) + ")",
                            ps);
        for (auto& r : rows) ops.push_back(Op{Op::Type::Delete, std::move(r[0].s), {}, -1, 0});
        c.exec("DELETE FROM qcss_leases WHERE id IN (" + placeholders(n) + ")", ps);
    }
    if (ops.empty()) return false;
    std::sort(ops.begin(), ops.end(), [](Op const& a, Op const& b) { return a.key < b.key; });
    Batch b;
    applyOps(c, b, rev, ops, true);
    for (auto const& st : b.writes) c.exec(st.sql, st.params);
    return true;
}

void SqlKv::leaseRevoke(std::int64_t leaseId) {
    checkWritable("revoke a lease");
    run("leaseRevoke", [&](Conn& c) {
        std::int64_t const cur = c.beginWriteNoBump();
        if (reapLeases(c, {leaseId}, cur + 1))
            c.exec("UPDATE qcss_meta SET revision = ?, write_token = ? WHERE id = 1",
                   {Param::integer(cur + 1), Param::integer(newWriteToken())});
        c.commit();
    });
}

std::int64_t SqlKv::reapExpired(Conn& c) {
    // With the writers' lock: reap the expired leases, then set the deadline
    // to the earliest expiry left (grants lower it under the same lock).
    std::int64_t const cur = c.beginWriteNoBump();
    Rows rows = c.query("SELECT id FROM qcss_leases WHERE expires_at <= " + _d.nowExpr, {});
    std::vector<std::int64_t> ids;
    for (auto& r : rows) ids.push_back(r[0].i);
    if (!ids.empty() && reapLeases(c, ids, cur + 1))
        c.exec("UPDATE qcss_meta SET revision = ?, write_token = ? WHERE id = 1",
                   {Param::integer(cur + 1), Param::integer(newWriteToken())});
    c.exec("UPDATE qcss_meta SET lease_deadline = COALESCE((SELECT MIN(expires_at) FROM "
           "qcss_leases), 1e300) WHERE id = 1",
           {});
    c.commit();
    return static_cast<std::int64_t>(ids.size());
}

std::int64_t SqlKv::reapExpiredLeases() {
    checkWritable("reap expired leases");
    return run("reapExpiredLeases", [&](Conn& c) {
        // A point read first: the writers' lock only when the deadline passed.
        Rows pre = c.query("SELECT lease_deadline <= " + _d.nowExpr + " FROM qcss_meta WHERE id = 1",
                           {});
        if (pre.empty() || pre[0].empty() || pre[0][0].i == 0) return std::int64_t{0};
        return reapExpired(c);
    });
}

std::vector<LeaseInfo> SqlKv::leases() {
    return run("leases", [&](Conn& c) {
        Rows rows = c.query(
                "SELECT l.id, l.ttl_ms, l.granted_at, l.expires_at, l.owner, l.purpose, "
                "(SELECT COUNT(*) FROM qcss_kv k WHERE k.lease_id = l.id) FROM qcss_leases l "
                "WHERE l.expires_at > " + _d.nowExpr + " ORDER BY l.id",
                {});
        std::vector<LeaseInfo> out;
        for (auto& r : rows) {
            LeaseInfo li;
            li.id = r[0].i;
            li.ttlMs = r[1].i;
            li.grantedAt = r[2].d;
            li.expiresAt = r[3].d;
            li.owner = std::move(r[4].s);
            li.purpose = std::move(r[5].s);
            li.numKeys = r[6].i;
            out.push_back(std::move(li));
        }
        return out;
    });
}

}  // namespace qcss::detail::sql
