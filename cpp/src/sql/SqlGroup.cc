// qcss: sql/SqlGroup.cc -- group commit: concurrent small batches of one store in one
// transaction (commitGrouped, evalGroup, commitGroup).
#include "sql/SqlKvImpl.h"

namespace qcss::detail::sql {

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
    std::string const sql0 = std::string(kRowCols) + "WHERE path IN (" + placeholders(all.size()) + ")";
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

}  // namespace qcss::detail::sql
