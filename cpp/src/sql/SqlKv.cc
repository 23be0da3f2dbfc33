// qcss: sql/SqlKv.cc -- KvInterface over SQL, written once for every driver:
// construction, commit() and the general write path (commitOne). The rest of
// SqlKv is in the files listed in SqlKvImpl.h.
#include "sql/SqlKvImpl.h"

#include <optional>
#include <unordered_set>

namespace qcss::detail::sql {

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
    std::string const sql0 = std::string(kRowCols) + "WHERE path IN (" + placeholders(n0) + ")";
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

}  // namespace qcss::detail::sql
