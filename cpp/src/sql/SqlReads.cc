// qcss: sql/SqlReads.cc -- reads (get, getStat, getMany, exists, children,
// snapshot, revision), the change feed (changes) and compaction.
#include "sql/SqlKvImpl.h"

namespace qcss::detail::sql {

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
            throwCompacted(sinceRevision, compacted);
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

}  // namespace qcss::detail::sql
