// qcss: sqlite/SqliteKv.cc -- the SQLite driver of the SQL core, and openSqlite.
//
// URL: sqlite:///path/to/css.db[?busy_timeout=5&synchronous=full&pool_size=4&create=1]
// A missing file is refused unless ?create=1 or it is the embedded default store
// (detail::defaultSqlitePath()); then it (and its directory) is created. The schema
// is installed from the embedded schema/sqlite files in an existing empty file.
// WAL mode: readers never block the writer; writers serialise with
// BEGIN IMMEDIATE (the revision lock).
//
// Storage faults are typed (docs/operations.md, "Failure behaviour"): a full
// disk is DiskFullError, a read-only file or file system ReadonlyCss, a file
// that is not a valid store CorruptStoreError; and before every write and
// every COMMIT the store's path is checked to still name the file it opened
// (device and inode), so a store whose file or directory was removed or
// replaced refuses writes (StoreFileGoneError) instead of acknowledging writes
// into an unlinked file. New store files are created whole (the schema is
// installed in a temporary file, then linked into place); an existing empty
// file is refused; PRAGMA quick_check runs at open on files up to 64 MiB
// (?quick_check=auto|1|0).
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

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
        case SQLITE_FULL: return ErrKind::DiskFull;
        case SQLITE_READONLY: return ErrKind::ReadOnly;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: return ErrKind::Corrupt;
        case SQLITE_IOERR: return ErrKind::Storage;
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
        // Never SQLITE_OPEN_CREATE: the file exists (openSqlite creates it
        // whole); one that vanished is an error, not a new empty store.
        int const flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
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
        // The file this connection opened (SQLite opens it in sqlite3_open_v2).
        struct stat st{};
        if (::stat(path.c_str(), &st) == 0) {
            _dev = st.st_dev;
            _ino = st.st_ino;
        }
        if (!readOnly && query("PRAGMA journal_mode", {}).at(0).at(0).s != "wal")
            execDirect("PRAGMA journal_mode=WAL");
        execDirect("PRAGMA synchronous=" + sync);
    }
    ~SqliteConn() override {
        for (auto& [sqlText, st] : _cache) sqlite3_finalize(st);
        sqlite3_close(_db);
    }

    /// Throws DbError(FileGone) if the store's path no longer names the file
    /// this connection opened (removed, its directory removed, replaced):
    /// writes into it would be acknowledged and then lost.
    void checkFile() const {
        struct stat st{};
        if (::stat(_path.c_str(), &st) != 0)
            throw DbError(ErrKind::FileGone, errno,
                          "the store's file '" + _path + "' is gone (" + std::strerror(errno) +
                                  "): it was removed (or its directory) while the store was "
                                  "open; nothing was written");
        if (st.st_dev != _dev || st.st_ino != _ino)
            throw DbError(ErrKind::FileGone, 0,
                          "the store's file '" + _path + "' was replaced by another file while "
                          "the store was open; nothing was written (reopen the store)");
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
        checkFile();
        execDirect("BEGIN IMMEDIATE");
        _inTxn = true;
        Rows r = query("SELECT revision FROM qcss_meta WHERE id = 1", {});
        if (r.empty()) throw DbError(ErrKind::NoSchema, 0, "qcss_meta has no row");
        return r[0][0].i;
    }
    void beginRead() override {
        execDirect("BEGIN");
        _inTxn = true;
        _readTxn = true;
    }
    void commit() override {
        if (_inTxn && !_readTxn) checkFile();  // the caller rolls back
        execDirect("COMMIT");
        _inTxn = false;
        _readTxn = false;
    }
    void endRead() override {
        execDirect("COMMIT");
        _inTxn = false;
        _readTxn = false;
    }
    void rollback() noexcept override {
        if (!_inTxn) return;
        _inTxn = false;
        _readTxn = false;
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
    bool _readTxn = false;
    dev_t _dev = 0;
    ino_t _ino = 0;
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
                           -1, &st, nullptr) != SQLITE_OK) {
        int const code = sqlite3_errcode(db) & 0xff;
        std::string const msg = std::string("cannot read the SQLite schema: ") + sqlite3_errmsg(db);
        if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) throw CorruptStoreError(msg);
        throw SchemaError(msg);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        throw ConnError(std::string("SQLite database is busy: ") + sqlite3_errmsg(db));
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        throw CorruptStoreError(std::string("cannot read the SQLite schema: ") +
                                sqlite3_errmsg(db));
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

/// Files at most this big get PRAGMA quick_check at open (?quick_check=auto).
constexpr std::int64_t kQuickCheckMaxBytes = 64ll << 20;

/// The typed error for a DbError raised while opening `where`.
[[noreturn]] void openFailed(DbError const& e, std::string const& where) {
    std::string const msg = std::string(e.what()) + " [" + where + "]";
    switch (e.kind()) {
        case ErrKind::Corrupt: throw CorruptStoreError(msg);
        case ErrKind::ReadOnly: throw ReadonlyCss(msg + " (open it read-only)");
        case ErrKind::DiskFull: throw DiskFullError(msg);
        case ErrKind::Storage: throw StorageError(msg);
        default: throw ConnError(msg);
    }
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

    std::string const qc = url.param("quick_check", "auto");
    if (qc != "auto" && qc != "0" && qc != "1")
        throw ConfigError("bad quick_check '" + qc + "' in URL " + opts.url +
                          " (expected auto, 1 or 0)");

    // Runs `s` on `db`; a failure is a SchemaError naming `file`.
    auto execOn = [](sqlite3* db, std::string const& s, std::string const& file) {
        char* err = nullptr;
        if (sqlite3_exec(db, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string const msg = err ? err : "error";
            int const code = sqlite3_errcode(db) & 0xff;
            sqlite3_free(err);
            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
            std::string const what = "cannot install the qcss schema in '" + file + "': " + msg;
            if (code == SQLITE_FULL) throw DiskFullError(what);
            if (code == SQLITE_READONLY) throw ReadonlyCss(what);
            if (code == SQLITE_IOERR) throw StorageError(what);
            throw SchemaError(what);
        }
    };
    auto installSchema = [&](sqlite3* db, std::string const& file) {
        schema::install("sqlite", [&](std::string const& text) { execOn(db, text, file); });
    };

    // A missing file is an error (a typo must not create an empty store), except
    // with ?create=1 and for the embedded default store, which needs no setup.
    struct stat fileStat{};
    if (::stat(path.c_str(), &fileStat) != 0) {
        std::string const flag = url.param("create");
        bool const create = flag == "1" || flag == "true" || path == defaultSqlitePath();
        if (opts.readOnly || !create)
            throw ConfigError("no SQLite store at '" + path + "'" +
                              (opts.readOnly ? " (opened read-only)" : "") +
                              ": create it with `css-admin schema init --url " + opts.url +
                              "`, or open it with ?create=1");
        makeDirs(path);
        // Created whole: the schema goes into a temporary file in the same
        // directory, which is then linked into place, so a crash or a full
        // disk never leaves a half-made store at `path`.
        std::string const tmp = path + ".creating-" + std::to_string(::getpid()) + "-" +
                                std::to_string(std::chrono::steady_clock::now()
                                                       .time_since_epoch().count());
        struct Unlink {
            std::string const& f;
            ~Unlink() {
                ::unlink(f.c_str());
                ::unlink((f + "-wal").c_str());
                ::unlink((f + "-shm").c_str());
                ::unlink((f + "-journal").c_str());
            }
        } unlinkTmp{tmp};
        {
            sqlite3* db = nullptr;
            int const rc = sqlite3_open_v2(tmp.c_str(), &db,
                                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
            struct Closer {
                sqlite3* db;
                ~Closer() { sqlite3_close(db); }
            } closer{db};
            if (rc != SQLITE_OK) {
                std::string const msg = "cannot create the SQLite store '" + path + "': " +
                                        (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
                if ((rc & 0xff) == SQLITE_READONLY || errno == EROFS || errno == EACCES)
                    throw ReadonlyCss(msg);
                throw ConnError(msg);
            }
            execOn(db, "PRAGMA journal_mode=WAL", path);
            execOn(db, "BEGIN IMMEDIATE", path);
            installSchema(db, path);
            execOn(db, "COMMIT", path);
        }
        if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST)
            throw ConnError("cannot create the SQLite store '" + path + "': " +
                            std::strerror(errno));
        // EEXIST: another process created it first; that one is used.
        if (::stat(path.c_str(), &fileStat) != 0)
            throw StoreFileGoneError("the SQLite store '" + path + "' vanished right after "
                                     "it was created");
    }
    if (fileStat.st_size == 0)
        throw CorruptStoreError("the SQLite store '" + path + "' is an empty file (0 bytes), "
                                "not a qcss store: remove it (and open with ?create=1) or restore "
                                "it from a backup [" + opts.url + "]");
    if (!opts.readOnly) {
        struct statvfs vfs{};
        bool const roFs = ::statvfs(path.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0;
        if (roFs || ::access(path.c_str(), W_OK) != 0)
            throw ReadonlyCss("the SQLite store '" + path + "' is read-only (" +
                              (roFs ? "read-only file system" : "no write permission") +
                              "): open it read-only [" + opts.url + "]");
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
            if (!again) openFailed(e, opts.url);
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
        schema::State state = schemaState(db);
        if (!state.present && !opts.readOnly) {
            // An existing SQLite file without the qcss tables (made by
            // `sqlite3 file` or another tool): the schema is installed in it.
            execOn(db, "BEGIN IMMEDIATE", path);
            state = schemaState(db);  // someone else may have won
            if (!state.present) {
                installSchema(db, path);
                state = schemaState(db);
            }
            execOn(db, "COMMIT", path);
        }
        schema::checkVersion(state, "SQLite store " + opts.url, opts.url,
                             "open it read-write once or run");
        // Corruption SQLite would only notice on the pages a read touches
        // (short snapshots): checked at open where cheap.
        if (qc == "1" || (qc == "auto" && fileStat.st_size <= kQuickCheckMaxBytes)) {
            sqlite3_stmt* st = nullptr;
            std::string problems;
            int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &st, nullptr);
            while (rc == SQLITE_OK || rc == SQLITE_ROW) {
                rc = sqlite3_step(st);
                if (rc != SQLITE_ROW) break;
                auto const* t = reinterpret_cast<char const*>(sqlite3_column_text(st, 0));
                std::string const line = t ? t : "";
                if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
            }
            int const code = rc & 0xff;
            std::string const err = sqlite3_errmsg(db);
            sqlite3_finalize(st);
            if (code != SQLITE_DONE && code != SQLITE_OK) {
                if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
                    throw ConnError("SQLite store " + opts.url + " is busy: " + err);
                problems += (problems.empty() ? "" : "; ") + err;
            }
            if (!problems.empty())
                throw CorruptStoreError("SQLite store " + opts.url +
                                        " failed PRAGMA quick_check: " + problems +
                                        " (restore it from a backup; ?quick_check=0 skips "
                                        "this check)");
        }
    }
    return std::make_shared<sql::SqlKv>(std::move(opts), std::move(driver), std::move(first), retry,
                                        poolSize);
}

}  // namespace qcss::detail
