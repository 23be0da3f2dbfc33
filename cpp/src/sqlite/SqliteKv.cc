// qcss: sqlite/SqliteKv.cc -- the SQLite driver of the SQL core, and openSqlite.
//
// URL: sqlite:///path/to/css.db[?busy_timeout=5&synchronous=full&pool_size=4&create=1]
// A missing file is refused unless ?create=1 or it is the embedded default store
// (detail::defaultSqlitePath()); then it (and its directory) is created. The schema
// is installed from the embedded schema/sqlite files in an existing empty file.
// WAL mode: readers never block the writer; writers serialise with
// BEGIN IMMEDIATE (the revision lock).
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <map>
#include <thread>

#include "core/Backends.h"
#include "core/Url.h"
#include "qcss/Open.h"
#include "sql/Schema.h"
#include "sql/SqlKv.h"

namespace qcss::detail {

namespace {

using sql::Cell;
using sql::DbError;
using sql::ErrKind;
using sql::Param;
using sql::Row;
using sql::Rows;

ErrKind classify(int rc, std::string const& msg) {
    switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return ErrKind::Busy;
        case SQLITE_CONSTRAINT:
            return (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
                           ? ErrKind::Duplicate
                           : ErrKind::Other;
        case SQLITE_TOOBIG: return ErrKind::TooLarge;
        case SQLITE_CANTOPEN: return ErrKind::Connect;
        case SQLITE_PERM:
        case SQLITE_AUTH: return ErrKind::Auth;
        default: break;
    }
    if (msg.find("no such table") != std::string::npos) return ErrKind::NoSchema;
    return ErrKind::Other;
}

class SqliteConn : public sql::Conn {
public:
    SqliteConn(std::string const& path, bool readOnly, int busyMs, std::string const& sync)
            : _path(path) {
        int const flags = (readOnly ? SQLITE_OPEN_READONLY
                                    : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
                          SQLITE_OPEN_NOMUTEX;
        int const rc = sqlite3_open_v2(path.c_str(), &_db, flags, nullptr);
        if (rc != SQLITE_OK) {
            std::string const msg = std::string("cannot open SQLite database '") + path +
                                    "': " + (_db ? sqlite3_errmsg(_db) : sqlite3_errstr(rc));
            sqlite3_close(_db);
            _db = nullptr;
            throw DbError(ErrKind::Connect, rc, msg);
        }
        sqlite3_extended_result_codes(_db, 1);
        sqlite3_busy_timeout(_db, busyMs);
        if (!readOnly && query("PRAGMA journal_mode", {}).at(0).at(0).s != "wal")
            execDirect("PRAGMA journal_mode=WAL");
        execDirect("PRAGMA synchronous=" + sync);
    }
    ~SqliteConn() override {
        for (auto& [sqlText, st] : _cache) sqlite3_finalize(st);
        sqlite3_close(_db);
    }

    [[noreturn]] void fail(int rc, std::string const& what) {
        std::string const msg = what + ": " + sqlite3_errmsg(_db);
        throw DbError(classify(rc, msg), rc, msg);
    }

    sqlite3_stmt* prepare(std::string const& sqlText) {
        auto it = _cache.find(sqlText);
        if (it != _cache.end()) return it->second;
        if (_cache.size() > 200) {
            for (auto& [s, st] : _cache) sqlite3_finalize(st);
            _cache.clear();
        }
        sqlite3_stmt* st = nullptr;
        int const rc = sqlite3_prepare_v3(_db, sqlText.c_str(), static_cast<int>(sqlText.size()),
                                          SQLITE_PREPARE_PERSISTENT, &st, nullptr);
        if (rc != SQLITE_OK) fail(rc, "preparing SQL");
        _cache.emplace(sqlText, st);
        return st;
    }

    void bind(sqlite3_stmt* st, std::vector<Param> const& params) {
        for (std::size_t i = 0; i < params.size(); ++i) {
            int const idx = static_cast<int>(i + 1);
            auto const& p = params[i];
            int rc = SQLITE_OK;
            switch (p.kind) {
                case Param::Kind::Null: rc = sqlite3_bind_null(st, idx); break;
                case Param::Kind::Int: rc = sqlite3_bind_int64(st, idx, p.i); break;
                case Param::Kind::Double: rc = sqlite3_bind_double(st, idx, p.d); break;
                case Param::Kind::Blob:
                    // A zero-length blob with a null pointer would bind NULL.
                    rc = sqlite3_bind_blob64(st, idx, p.s.empty() ? "" : p.s.data(),
                                             p.s.size(), SQLITE_STATIC);
                    break;
            }
            if (rc != SQLITE_OK) fail(rc, "binding a parameter");
        }
    }

    Rows query(std::string const& sqlText, std::vector<Param> const& params) override {
        sqlite3_stmt* st = prepare(sqlText);
        bind(st, params);
        Rows rows;
        int const ncol = sqlite3_column_count(st);
        while (true) {
            int const rc = sqlite3_step(st);
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
                fail(rc, "running SQL");
            }
            Row row(static_cast<std::size_t>(ncol));
            for (int i = 0; i < ncol; ++i) {
                Cell& cell = row[static_cast<std::size_t>(i)];
                switch (sqlite3_column_type(st, i)) {
                    case SQLITE_NULL: break;
                    case SQLITE_INTEGER:
                        cell.null = false;
                        cell.i = sqlite3_column_int64(st, i);
                        cell.d = static_cast<double>(cell.i);
                        break;
                    case SQLITE_FLOAT:
                        cell.null = false;
                        cell.d = sqlite3_column_double(st, i);
                        cell.i = static_cast<std::int64_t>(cell.d);
                        break;
                    default: {
                        cell.null = false;
                        auto const* data = static_cast<char const*>(sqlite3_column_blob(st, i));
                        int const n = sqlite3_column_bytes(st, i);
                        if (n > 0) cell.s.assign(data, static_cast<std::size_t>(n));
                    }
                }
            }
            rows.push_back(std::move(row));
        }
        _changes = sqlite3_changes64(_db);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return rows;
    }

    std::int64_t exec(std::string const& sqlText, std::vector<Param> const& params) override {
        query(sqlText, params);
        return _changes;
    }

    void execDirect(std::string const& sqlText) override {
        char* err = nullptr;
        int const rc = sqlite3_exec(_db, sqlText.c_str(), nullptr, nullptr, &err);
        if (rc != SQLITE_OK) {
            std::string const msg = err ? err : sqlite3_errstr(rc);
            sqlite3_free(err);
            throw DbError(classify(rc, msg), rc, msg);
        }
    }

    std::int64_t beginWrite(sql::Bump const& bump) override {
        beginWriteNoBump();
        Rows r;
        try {
            r = query("UPDATE qcss_meta SET revision = " + bump.newRevision() + bump.tokenSet() +
                              " WHERE id = 1 RETURNING revision",
                      {});
        } catch (DbError const& e) {
            if (e.code() == SQLITE_CONSTRAINT_NOTNULL)
                throw DbError(ErrKind::Precondition, e.code(), e.what());
            throw;
        }
        if (r.empty()) throw DbError(ErrKind::NoSchema, 0, "qcss_meta has no row");
        return r[0][0].i;
    }
    std::int64_t beginWriteNoBump() override {
        execDirect("BEGIN IMMEDIATE");
        _inTxn = true;
        Rows r = query("SELECT revision FROM qcss_meta WHERE id = 1", {});
        if (r.empty()) throw DbError(ErrKind::NoSchema, 0, "qcss_meta has no row");
        return r[0][0].i;
    }
    void beginRead() override {
        execDirect("BEGIN");
        _inTxn = true;
    }
    void commit() override {
        execDirect("COMMIT");
        _inTxn = false;
    }
    void rollback() noexcept override {
        if (!_inTxn) return;
        _inTxn = false;
        sqlite3_exec(_db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    std::int64_t lastInsertId() override { return sqlite3_last_insert_rowid(_db); }
    bool usable() const noexcept override { return _db != nullptr; }

private:
    std::string _path;
    sqlite3* _db = nullptr;
    std::map<std::string, sqlite3_stmt*> _cache;
    std::int64_t _changes = 0;
    bool _inTxn = false;
};

class SqliteDriver : public sql::Driver {
public:
    SqliteDriver(std::string path, bool readOnly, int busyMs, std::string sync)
            : _path(std::move(path)), _readOnly(readOnly), _busyMs(busyMs), _sync(std::move(sync)) {
        _d.name = "sqlite";
        _d.nowExpr = "((julianday('now') - 2440587.5) * 86400.0)";
        _d.leastFn = "MIN";
        _d.kvUpsertTail =
                " ON CONFLICT(path) DO UPDATE SET depth = excluded.depth, value = excluded.value, "
                "version = excluded.version, create_rev = excluded.create_rev, "
                "mod_rev = excluded.mod_rev, lease_id = excluded.lease_id";
        _d.maxParams = 32000;
    }
    std::unique_ptr<sql::Conn> connect() override {
        return std::make_unique<SqliteConn>(_path, _readOnly, _busyMs, _sync);
    }
    sql::Dialect const& dialect() const noexcept override { return _d; }

private:
    std::string _path;
    bool _readOnly;
    int _busyMs;
    std::string _sync;
    sql::Dialect _d;
};

void makeDirs(std::string const& file) {
    std::size_t pos = 0;
    while ((pos = file.find('/', pos + 1)) != std::string::npos) {
        std::string const dir = file.substr(0, pos);
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
            throw ConnError("cannot create directory '" + dir + "' for the SQLite store: " +
                            std::strerror(errno));
    }
}

/// The installed schema's state (present = false when the version table is
/// missing or empty).
schema::State schemaState(sqlite3* db) {
    schema::State state;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db,
                           "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                           "name = 'qcss_schema_version'",
                           -1, &st, nullptr) != SQLITE_OK)
        throw SchemaError(std::string("cannot read the SQLite schema: ") + sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        throw ConnError(std::string("SQLite database is busy: ") + sqlite3_errmsg(db));
    if (rc != SQLITE_ROW) return state;
    sqlite3_prepare_v2(db, schema::kStateQuery, -1, &st, nullptr);
    if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
        state.present = true;
        state.version = sqlite3_column_int(st, 0);
        state.dirty = sqlite3_column_int(st, 1) != 0;
    }
    sqlite3_finalize(st);
    return state;
}

}  // namespace

KvPtr openSqlite(Url const& url, std::string const& raw, bool readOnly) {
    StoreOptions opts = commonOptions(url, raw, readOnly);
    std::string path = url.path;
    if (!url.host.empty()) {
        // sqlite://~/x.db, sqlite://./x.db: home- or explicitly relative. Anything else
        // (sqlite://tmp/x.db) is almost always a missing third slash: refused.
        if (url.host != "~" && url.host != "." && url.host != "..")
            throw ConfigError("SQLite URL " + opts.url + " names the relative path '" + url.host +
                              url.path + "': write sqlite:///" + url.host + url.path +
                              " for an absolute path, or sqlite://./" + url.host + url.path +
                              " for one relative to the current directory");
        path = url.host + url.path;
    }
    if (path.rfind("~/", 0) == 0) {
        char const* home = std::getenv("HOME");
        path = std::string(home ? home : ".") + path.substr(1);
    }
    if (path.empty()) throw ConfigError("sqlite URL without a file path: " + opts.url);
    int const busyMs = static_cast<int>(
            1000 * sql::urlSeconds(url.param("busy_timeout"), 10.0, "busy_timeout", opts.url));
    std::string sync = url.param("synchronous", "full");
    if (sync != "full" && sync != "normal" && sync != "off" && sync != "extra")
        throw ConfigError("bad synchronous '" + sync + "' in URL " + opts.url);
    sql::RetryPolicy retry;
    retry.deadlineSec = sql::urlSeconds(url.param("retry_timeout"), 10.0, "retry_timeout", opts.url);
    std::size_t const poolSize =
            static_cast<std::size_t>(sql::urlSeconds(url.param("pool_size"), 4, "pool_size", opts.url));

    // A missing file is an error (a typo must not create an empty store), except
    // with ?create=1 and for the embedded default store, which needs no setup.
    if (struct stat st{}; ::stat(path.c_str(), &st) != 0) {
        std::string const flag = url.param("create");
        bool const create = flag == "1" || flag == "true" || path == defaultSqlitePath();
        if (opts.readOnly || !create)
            throw ConfigError("no SQLite store at '" + path + "'" +
                              (opts.readOnly ? " (opened read-only)" : "") +
                              ": create it with `css-admin schema init --url " + opts.url +
                              "`, or open it with ?create=1");
        makeDirs(path);
    }
    auto driver = std::make_unique<SqliteDriver>(path, opts.readOnly, busyMs, sync);
    std::unique_ptr<sql::Conn> first;
    for (auto const start = std::chrono::steady_clock::now();;) {
        try {
            first = driver->connect();
            break;
        } catch (DbError const& e) {
            // Busy past busy_timeout (SQLite returns some WAL busy states
            // without waiting): retried until retry_timeout, as every call is.
            bool const again = e.kind() == ErrKind::Busy &&
                               std::chrono::steady_clock::now() - start <
                                       std::chrono::duration<double>(retry.deadlineSec);
            if (!again) throw ConnError(std::string(e.what()) + " [" + opts.url + "]");
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    // Install or check the schema.
    {
        // A private handle for the schema work (plain C API calls).
        sqlite3* db = nullptr;
        if (sqlite3_open_v2(path.c_str(), &db,
                            opts.readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE,
                            nullptr) != SQLITE_OK) {
            std::string const msg = db ? sqlite3_errmsg(db) : "cannot open";
            sqlite3_close(db);
            throw ConnError("cannot open SQLite database '" + path + "': " + msg);
        }
        sqlite3_busy_timeout(db, busyMs);
        struct Closer {
            sqlite3* db;
            ~Closer() { sqlite3_close(db); }
        } closer{db};
        auto exec = [&](std::string const& s) {
            char* err = nullptr;
            if (sqlite3_exec(db, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
                std::string const msg = err ? err : "error";
                sqlite3_free(err);
                sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
                throw SchemaError("cannot install the qcss schema in '" + path + "': " + msg);
            }
        };
        schema::State state = schemaState(db);
        if (!state.present && !opts.readOnly) {
            exec("BEGIN IMMEDIATE");
            state = schemaState(db);  // someone else may have won
            if (!state.present) {
                schema::install("sqlite", exec);
                state = schemaState(db);
            }
            exec("COMMIT");
        }
        schema::checkVersion(state, "SQLite store " + opts.url, opts.url,
                             "open it read-write once or run");
    }
    return std::make_shared<sql::SqlKv>(std::move(opts), std::move(driver), std::move(first), retry,
                                        poolSize);
}

}  // namespace qcss::detail
