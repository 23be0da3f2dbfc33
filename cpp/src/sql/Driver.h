// qcss: sql/Driver.h -- the small database driver interface the SQL core is
// written against (internal).
//
// The core (SqlKv) holds all the logic of KvInterface; a driver supplies only
//  - connections: prepared statements (cached per connection), binding of
//    int64 / blob / null parameters, fetching rows, transactions;
//  - error classification (deadlock, lock-wait timeout, lost connection, ...);
//  - its dialect: the few SQL fragments that differ (upsert, server clock,
//    taking the revision lock).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace qcss::detail::sql {

/// Client-server round trips made by every connection of the process (the
/// MySQL driver counts them; the bench reports round trips per operation).
inline std::atomic<std::uint64_t> roundTrips{0};
/// Test hook: for each of the next N round trips that carry a COMMIT, the
/// MySQL driver drops its connection once the server has answered, as if the
/// reply had been lost: the write is committed, the caller gets
/// CommitUnknownError (and the core must not retry it).
inline std::atomic<int> failAfterCommitSent{0};
/// Test hook: the MySQL driver drops its connection just before sending each
/// of the next N round trips that carry a COMMIT (nothing reached the server:
/// the core must reconnect and retry them).
inline std::atomic<int> failBeforeCommitSent{0};
/// Test hook: the same for the next N round trips that open a write
/// transaction (nothing is committed yet: the core must retry them).
inline std::atomic<int> failNextBegins{0};

/// Bench hook (bench/bench_pool_check.cc): when set, the pool hands out idle
/// connections without Conn::stillAlive, to measure what the check costs.
inline std::atomic<bool> skipPoolCheck{false};

/// How a database error should be handled by the core.
enum class ErrKind {
    Other,          ///< a bug or an unexpected error: reported as CssError
    Deadlock,       ///< retry the transaction (after backoff)
    LockTimeout,    ///< retry the transaction (after backoff)
    Busy,           ///< SQLite busy/locked past busy_timeout: retry
    Lost,           ///< connection lost: reconnect, retry unless it was a commit
    Connect,        ///< cannot connect (server down, refused, DNS)
    Auth,           ///< access denied
    Duplicate,      ///< duplicate key
    TooLarge,       ///< packet / value too large for the server
    NoSchema,       ///< table or database missing
    CommitUnknown,  ///< connection lost while a COMMIT was in flight
    Precondition,   ///< the condition of a conditional revision bump was false
    ReadOnly,       ///< the file or file system is read-only (SQLite)
    DiskFull,       ///< no space left (SQLite)
    FileGone,       ///< the store's path no longer names the open file (SQLite)
    Corrupt,        ///< the file is not a valid database (SQLite)
    Storage,        ///< another I/O error of the store's file (SQLite)
};

class DbError : public std::runtime_error {
public:
    DbError(ErrKind kind, int code, std::string const& msg)
            : std::runtime_error(msg), _kind(kind), _code(code) {}
    ErrKind kind() const noexcept { return _kind; }
    int code() const noexcept { return _code; }

private:
    ErrKind _kind;
    int _code;
};

/// One statement parameter. Blobs are views: the caller keeps the bytes alive
/// until the statement has run.
struct Param {
    enum class Kind { Null, Int, Blob, Double };
    Kind kind = Kind::Null;
    std::int64_t i = 0;
    double d = 0;
    std::string_view s;

    static Param null() { return Param{}; }
    static Param integer(std::int64_t v) {
        Param p;
        p.kind = Kind::Int;
        p.i = v;
        return p;
    }
    static Param blob(std::string_view v) {
        Param p;
        p.kind = Kind::Blob;
        p.s = v;
        return p;
    }
};

/// One column of a fetched row.
struct Cell {
    bool null = true;
    std::int64_t i = 0;  ///< integer columns
    double d = 0;        ///< floating-point columns
    std::string s;       ///< text/blob columns
};
using Row = std::vector<Cell>;
using Rows = std::vector<Row>;

/// The SQL fragments that differ between databases.
struct Dialect {
    std::string name;                ///< "sqlite" or "mysql"
    std::string nowExpr;             ///< server clock, seconds since the epoch (DOUBLE)
    std::string leastFn;             ///< the smaller of two values: LEAST (MySQL), MIN (SQLite)
    /// Upsert tail for "INSERT INTO qcss_kv (...) VALUES ..." writing full rows.
    std::string kvUpsertTail;
    std::size_t maxParams = 30000;   ///< bound parameters per statement
    /// The planner weighs index ranges by their bound values (MySQL/MariaDB
    /// "index dives"); false: the core picks the index itself (SQLite).
    bool costBasedRanges = false;
};

/// A statement and its parameters, to run later.
struct Statement {
    std::string sql;
    std::vector<Param> params;
};

/// A conditional revision bump: revision + 1 if `cond` (an SQL condition over
/// the columns of qcss_meta) holds, else NULL, which the NOT NULL column
/// rejects (MySQL in strict mode: error 1048; SQLite: a NOT NULL constraint
/// error); and a new write_token, which tells this state of the store from any
/// other at the same revision (one restored from a backup and written again).
struct Bump {
    std::string cond;
    std::int64_t token = 0;
    std::string newRevision() const { return "CASE WHEN " + cond + " THEN revision + 1 END"; }
    std::string tokenSet() const { return ", write_token = " + std::to_string(token); }
};

/// One database connection. Not thread-safe; the core pools them.
class Conn {
public:
    virtual ~Conn() = default;

    /// Run a statement (prepared once per connection and reused) with
    /// `params`; returns the rows of a query (empty for other statements).
    virtual Rows query(std::string const& sql, std::vector<Param> const& params) = 0;
    /// A query returning at most one row of one column (a point get): true
    /// and the value in `out` if there is a row. Drivers may avoid building Rows.
    virtual bool queryValue(std::string const& sql, std::vector<Param> const& params,
                            std::string& out) {
        Rows rows = query(sql, params);
        if (rows.empty()) return false;
        out = std::move(rows[0].at(0).s);
        return true;
    }
    /// Run a statement; returns the number of rows it changed (found).
    virtual std::int64_t exec(std::string const& sql, std::vector<Param> const& params) = 0;
    /// Run a statement without parameters and without preparing it
    /// (transaction control, session settings, DDL).
    virtual void execDirect(std::string const& sql) = 0;

    /// Start a read-write transaction that serialises on the revision lock and
    /// returns the new (not yet committed) revision: the store's revision + 1.
    /// Every writer takes it first, so revisions are assigned in commit order.
    /// The bump is conditional (Bump): when its condition is false nothing is
    /// bumped and DbError(Precondition) is thrown, the transaction left for
    /// rollback().
    virtual std::int64_t beginWrite(Bump const& bump) = 0;
    /// Start a read-write transaction without taking a new revision but
    /// holding the writers' lock; returns the current revision.
    virtual std::int64_t beginWriteNoBump() = 0;
    /// Start a consistent read-only transaction.
    virtual void beginRead() = 0;
    virtual void commit() = 0;
    /// End a read-only transaction (nothing to lose: a lost connection is
    /// an ordinary, retryable error here).
    virtual void endRead() { commit(); }
    /// Roll back; never throws (a broken connection is marked broken).
    virtual void rollback() noexcept = 0;
    /// beginWrite(bump) and then the queries `qs` (their rows in `out`, in
    /// order), in one round trip if the driver can (MySQL sends all of them
    /// as one multi-statement).
    virtual std::int64_t beginWriteWithQueries(Bump const& bump, std::vector<Statement> const& qs,
                                               std::vector<Rows>& out) {
        std::int64_t const rev = beginWrite(bump);
        for (auto const& q : qs) out.push_back(query(q.sql, q.params));
        return rev;
    }
    /// beginWrite(bump), `stmts`, COMMIT: a whole write whose statements were
    /// computed before the transaction began (the caller knows the rows it
    /// touches, and the bump's condition checks that the store is still as it
    /// knew it), in one round trip if the driver can. Returns the new revision.
    virtual std::int64_t writeIf(Bump const& bump, std::vector<Statement> const& stmts) {
        std::int64_t const rev = beginWrite(bump);
        execAndCommit(stmts);
        return rev;
    }
    /// Run `stmts` then COMMIT, in as few round trips as the driver can. A
    /// connection lost while the COMMIT may have reached the server throws
    /// DbError(CommitUnknown).
    virtual void execAndCommit(std::vector<Statement> const& stmts) {
        for (auto const& s : stmts) exec(s.sql, s.params);
        commit();
    }
    /// The last AUTO_INCREMENT / rowid generated on this connection.
    virtual std::int64_t lastInsertId() = 0;

    /// False once a lost-connection error was seen: the pool drops it.
    virtual bool usable() const noexcept = 0;
    /// Called by the pool before handing out a connection that was idle for
    /// `idleSec` seconds: false if it is known dead (the server closed it after
    /// its idle timeout, or restarted), so it is replaced before anything is
    /// sent on it. Must be cheap for short idle times.
    virtual bool stillAlive(double idleSec) noexcept {
        (void)idleSec;
        return true;
    }
};

/// Creates connections; one per store.
class Driver {
public:
    virtual ~Driver() = default;
    virtual std::unique_ptr<Conn> connect() = 0;
    virtual Dialect const& dialect() const noexcept = 0;
    /// Largest statement the server accepts, in bytes (0: no limit).
    virtual std::size_t maxStatementBytes() const noexcept { return 0; }
};

}  // namespace qcss::detail::sql
