// qcss: sql/SqlBatch.cc -- one batch over the rows it touches: the keys to prefetch,
// the multi-row reads, the evaluation of the operations (applyOps) and the
// multi-row writes built from the result (buildWrites).
#include "sql/SqlKvImpl.h"

#include <string_view>
#include <unordered_set>

namespace qcss::detail::sql {

namespace {

/// A row read with kRowCols, as the batch sees it.
Ent rowEnt(Row const& r) {
    Ent e;
    e.exists = true;
    e.inDb = true;
    e.version = r[1].i;
    e.createRev = r[2].i;
    e.modRev = r[3].i;
    e.lease = r[4].i;
    e.depth = static_cast<int>(r[5].i);
    return e;
}

/// Record `rows` (read with kRowCols) in `st`.
void putRows(std::map<std::string, Ent>& st, Rows const& rows) {
    for (auto const& r : rows) st[r[0].s] = rowEnt(r);
}

/// Multi-row INSERTs of rows 0..n-1: `head`, then `row` once per row
/// (comma-separated), then `tail`; at most `maxRows` rows and (past the first
/// row) `maxBytes` bytes per statement. `dataBytes(i)`: row i's key and value
/// size; `bind(i, ps)` appends row i's parameters (called once per row, in order).
template <class Size, class Bind>
void multiRowInserts(std::vector<Statement>& out, std::string const& head, std::string const& row,
                     std::string const& tail, std::size_t n, std::size_t maxRows,
                     std::size_t maxBytes, Size dataBytes, Bind bind) {
    std::size_t i = 0;
    while (i < n) {
        std::vector<Param> ps;
        std::size_t k = 0, bytes = 0;
        while (i + k < n && k < maxRows) {
            std::size_t const sz = dataBytes(i + k) + 64;
            if (k > 0 && bytes + sz > maxBytes) break;
            bytes += sz;
            bind(i + k, ps);
            ++k;
        }
        std::string sql = head;
        for (std::size_t j = 0; j < k; ++j) {
            if (j > 0) sql += ",";
            sql += row;
        }
        sql += tail;
        out.push_back(Statement{std::move(sql), std::move(ps)});
        i += k;
    }
}

}  // namespace

void SqlKv::absorb(Batch& b, std::vector<std::string> const& paths, std::size_t n, Rows& rows) {
    // The first `n` of `paths` were read: the ones without a row are absent.
    for (std::size_t i = 0; i < n; ++i) b.st.emplace(paths[i], Ent{});
    putRows(b.st, rows);
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
            Rows const rows = c.query(std::string(kRowCols) + "WHERE path IN (" +
                                              placeholders(n) + ")",
                                      ps);
            for (std::size_t j = 0; j < n; ++j) b.st.emplace(*level[off + j], Ent{});
            putRows(b.st, rows);
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
        Rows rows = c.query(std::string(kRowCols) + "WHERE path >= ? AND path < ?",
                            {Param::blob(lo), Param::blob(hi)});
        // (emplace: a row the batch has already looked at keeps its state)
        for (auto& r : rows) b.st.emplace(std::move(r[0].s), rowEnt(r));
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
    constexpr std::size_t kCols = 7;  // parameters per row, in both tables
    std::size_t const maxRows = std::min<std::size_t>(_d.maxParams / kCols, 4000);
    // Keys written: multi-row upserts of their final state. Rows new to the
    // database: plain INSERTs; rows it had: upserts.
    std::vector<std::pair<std::string const*, Ent const*>> fresh, known;
    for (auto const& [k, e] : b.st)
        if (e.exists && e.dirty) (e.inDb ? known : fresh).emplace_back(&k, &e);
    for (auto const* list : {&fresh, &known}) {
        auto const& rows = *list;
        multiRowInserts(
                out,
                "INSERT INTO qcss_kv (path, depth, value, version, create_rev, mod_rev, "
                "lease_id) VALUES ",
                "(?,?,?,?,?,?,?)", list == &known ? _d.kvUpsertTail : std::string(), rows.size(),
                maxRows, maxBytes,
                [&](std::size_t i) { return rows[i].first->size() + rows[i].second->value->size(); },
                [&](std::size_t i, std::vector<Param>& ps) {
                    auto const& [k, e] = rows[i];
                    ps.push_back(Param::blob(*k));
                    ps.push_back(Param::integer(e->depth));
                    ps.push_back(Param::blob(*e->value));
                    ps.push_back(Param::integer(e->version));
                    ps.push_back(Param::integer(e->createRev));
                    ps.push_back(Param::integer(e->modRev));
                    ps.push_back(Param::integer(e->lease));
                });
    }
    // The change log: multi-row inserts, in order.
    std::string const& client = _opts.clientId;
    auto const& chs = b.changes;
    std::int64_t seq = 0;  // 1, 2, ... within each revision
    multiRowInserts(
            out,
            "INSERT INTO qcss_changes (revision, seq, kind, path, value, version, ts, client) "
            "VALUES ",
            "(?,?,?,?,?,?," + _d.nowExpr + ",?)", std::string(), chs.size(), maxRows, maxBytes,
            [&](std::size_t i) { return chs[i].path.size() + chs[i].value->size(); },
            [&](std::size_t i, std::vector<Param>& ps) {
                auto const& ch = chs[i];
                seq = i > 0 && chs[i - 1].revision == ch.revision ? seq + 1 : 1;
                ps.push_back(Param::integer(ch.revision));
                ps.push_back(Param::integer(seq));
                ps.push_back(Param::integer(static_cast<int>(ch.kind)));
                ps.push_back(Param::blob(ch.path));
                ps.push_back(Param::blob(*ch.value));
                ps.push_back(Param::integer(ch.version));
                ps.push_back(Param::blob(client));
            });
}

}  // namespace qcss::detail::sql
