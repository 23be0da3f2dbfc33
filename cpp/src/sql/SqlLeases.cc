// qcss: sql/SqlLeases.cc -- leases: grant, keep-alive, revoke and the reaping of
// expired ones (their keys deleted through applyOps).
#include "sql/SqlKvImpl.h"

namespace qcss::detail::sql {

// ---- leases -------------------------------------------------------------------

std::int64_t SqlKv::grantLease(std::chrono::milliseconds ttl, std::string const& purpose) {
    std::int64_t const ttlMs = ttl.count();
    checkWritable("grant a lease");
    if (ttlMs <= 0) throw ConfigError("lease TTL must be positive, got " + std::to_string(ttlMs));
    checkLeasePurpose(purpose);
    return run("grantLease", [&](Conn& c) {
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

bool SqlKv::keepLeaseAlive(std::int64_t leaseId) {
    checkWritable("keep a lease alive");
    return run("keepLeaseAlive", [&](Conn& c) {
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

void SqlKv::revokeLease(std::int64_t leaseId) {
    checkWritable("revoke a lease");
    run("revokeLease", [&](Conn& c) {
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
