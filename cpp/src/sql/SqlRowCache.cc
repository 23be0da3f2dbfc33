// qcss: sql/SqlRowCache.cc -- the row cache: a batch on remembered rows written in one
// round trip (commitCached, commitGroupCached, remember, forget).
#include "sql/SqlKvImpl.h"

#include <optional>
#include <string_view>
#include <unordered_set>

namespace qcss::detail::sql {

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

}  // namespace qcss::detail::sql
