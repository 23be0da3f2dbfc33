// qcss: mysql/MysqlConn.cc -- the MySQL/MariaDB driver of the SQL core: its
// connection (MariaDB Connector/C prepared statements and pipelined text
// statements), error classification, Galera checks, and the driver handing out
// connections to a healthy node of a host list. The URL options and openMysql
// are in MysqlOpen.cc.
//
// Over 600 lines: one class, MysqlConn, whose methods share its state (the
// statement cache, the transaction and Galera marks); split further it would
// have to expose that state.
//
// Sessions run with autocommit on (off on Galera, below) and READ COMMITTED: a
// read is one statement (one round trip, consistent by itself); a writer opens
// a transaction and takes the revision lock in the same round trip
// ("START TRANSACTION; UPDATE qcss_meta SET revision = LAST_INSERT_ID(revision + 1)").
//
// Galera (detected at connect: wsrep_on and a wsrep provider): a local
// transaction can be brute-force aborted by a conflicting write replicated from
// another node between two statements of one multi-statement round trip, and
// the server then runs the rest of it in autocommit -- half a batch applied and
// acknowledged. So on Galera the session runs with autocommit = 0, every write
// statement is its own round trip (an abort is then reported to the statement
// after it as a deadlock), and before COMMIT the transaction reads back its own
// revision bump (revision and write_token): if it is gone, the transaction was
// aborted and is retried. Certification failures (deadlock errors, also at
// COMMIT), duplicate keys inside a write (a conflicting commit replicated from
// another node) are retried; 1047 (node not ready: not Synced, non-primary)
// counts as a lost connection, so the store moves to another node. A new
// connection goes to a node that is Synced and ready (wsrep_ready = ON,
// wsrep_local_state_comment = Synced); tables that Galera cannot replicate
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <unordered_map>

#include "mysql/MysqlConn.h"
#include "sql/SqlKv.h"

namespace qcss::detail::mysql {

namespace {

using sql::Cell;
using sql::DbError;
using sql::ErrKind;
using sql::Param;
using sql::Row;
using sql::Rows;

ErrKind classify(unsigned code) {
    switch (code) {
        case ER_LOCK_DEADLOCK: return ErrKind::Deadlock;
        case ER_LOCK_WAIT_TIMEOUT: return ErrKind::LockTimeout;
        case CR_SERVER_GONE_ERROR:
        case CR_SERVER_LOST:
        case CR_SERVER_LOST_EXTENDED:
        case ER_CONNECTION_KILLED:
        case ER_SERVER_SHUTDOWN:
        case ER_QUERY_INTERRUPTED:
        case 4031:  // ER_CLIENT_INTERACTION_TIMEOUT
        case ER_UNKNOWN_COM_ERROR:  // 1047, Galera: "WSREP has not yet prepared node"
            return ErrKind::Lost;
        case CR_CONNECTION_ERROR:
        case CR_CONN_HOST_ERROR:
        case CR_UNKNOWN_HOST:
        case ER_CON_COUNT_ERROR:
        case ER_TOO_MANY_USER_CONNECTIONS:
            return ErrKind::Connect;
        case ER_ACCESS_DENIED_ERROR:
        case ER_DBACCESS_DENIED_ERROR:
        case ER_TABLEACCESS_DENIED_ERROR:
        case ER_COLUMNACCESS_DENIED_ERROR:
        case ER_SPECIFIC_ACCESS_DENIED_ERROR:
        case 1698:  // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
            return ErrKind::Auth;
        case ER_DUP_ENTRY: return ErrKind::Duplicate;
        case ER_NET_PACKET_TOO_LARGE:
        case CR_NET_PACKET_TOO_LARGE:
        case ER_WARN_ALLOWED_PACKET_OVERFLOWED:
        case ER_DATA_TOO_LONG:
            return ErrKind::TooLarge;
        case ER_NO_SUCH_TABLE:
        case ER_BAD_DB_ERROR:
            return ErrKind::NoSchema;
        default: return ErrKind::Other;
    }
}

/// How a column of type `t` is read (bound in the binary protocol, parsed in
/// the text one): integers as MYSQL_TYPE_LONGLONG, floating and decimal
/// numbers as MYSQL_TYPE_DOUBLE, everything else as bytes (MYSQL_TYPE_BLOB).
enum_field_types readAs(enum_field_types t) {
    switch (t) {
        case MYSQL_TYPE_TINY:
        case MYSQL_TYPE_SHORT:
        case MYSQL_TYPE_INT24:
        case MYSQL_TYPE_LONG:
        case MYSQL_TYPE_LONGLONG: return MYSQL_TYPE_LONGLONG;
        case MYSQL_TYPE_FLOAT:
        case MYSQL_TYPE_DOUBLE:
        case MYSQL_TYPE_DECIMAL:
        case MYSQL_TYPE_NEWDECIMAL: return MYSQL_TYPE_DOUBLE;
        default: return MYSQL_TYPE_BLOB;
    }
}

struct Stmt {
    MYSQL_STMT* st = nullptr;
    unsigned nparams = 0;
    unsigned ncols = 0;
    std::vector<MYSQL_BIND> params;
    std::vector<MYSQL_BIND> results;
    std::vector<enum_field_types> colTypes;  // bound type per column
    std::vector<std::vector<char>> buffers;
    std::vector<unsigned long> lengths;
    std::vector<my_bool> nulls;
    std::vector<my_bool> errors;
    std::vector<std::int64_t> ints;
    std::vector<double> doubles;
    std::vector<unsigned long> paramLengths;
    ~Stmt() {
        if (st != nullptr) mysql_stmt_close(st);
    }
};

class MysqlConn : public sql::Conn {
public:
    /// Statements smaller than this travel inlined in one multi-statement
    /// round trip; larger ones (big values) as binary prepared statements.
    static constexpr std::size_t kPipelineBytes = 256u << 10;

    explicit MysqlConn(Settings const& s) : MysqlConn(s, s.host, s.port) {}
    MysqlConn(Settings const& s, std::string const& hostName, unsigned port)
            : _maxPacket(s.maxPacket) {
        _my = mysql_init(nullptr);
        if (_my == nullptr) throw DbError(ErrKind::Other, 0, "mysql_init failed (out of memory)");
        my_bool off = 0;
        mysql_optionsv(_my, MYSQL_OPT_RECONNECT, &off);  // the core reconnects and retries
        mysql_optionsv(_my, MYSQL_OPT_CONNECT_TIMEOUT, &s.connectTimeout);
        if (s.readTimeout > 0) mysql_optionsv(_my, MYSQL_OPT_READ_TIMEOUT, &s.readTimeout);
        if (s.writeTimeout > 0) mysql_optionsv(_my, MYSQL_OPT_WRITE_TIMEOUT, &s.writeTimeout);
        unsigned long maxPacket = 1024ul * 1024ul * 1024ul;
        mysql_optionsv(_my, MYSQL_OPT_MAX_ALLOWED_PACKET, &maxPacket);
        mysql_optionsv(_my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        if (!s.defaultFile.empty())
            mysql_optionsv(_my, MYSQL_READ_DEFAULT_FILE, s.defaultFile.c_str());
        if (!s.defaultGroup.empty() || !s.defaultFile.empty())
            mysql_optionsv(_my, MYSQL_READ_DEFAULT_GROUP,
                           s.defaultGroup.empty() ? "client" : s.defaultGroup.c_str());
        if (s.ssl) {
            if (!s.sslCa.empty()) mysql_optionsv(_my, MYSQL_OPT_SSL_CA, s.sslCa.c_str());
            if (!s.sslCert.empty()) mysql_optionsv(_my, MYSQL_OPT_SSL_CERT, s.sslCert.c_str());
            if (!s.sslKey.empty()) mysql_optionsv(_my, MYSQL_OPT_SSL_KEY, s.sslKey.c_str());
            my_bool enforce = 1;
            mysql_optionsv(_my, MYSQL_OPT_SSL_ENFORCE, &enforce);
            my_bool verify = s.sslVerify ? 1 : 0;
            mysql_optionsv(_my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
        }
        unsigned long const flags = CLIENT_MULTI_STATEMENTS | CLIENT_FOUND_ROWS;
        char const* host = s.socket.empty() ? (hostName.empty() ? nullptr : hostName.c_str())
                                            : "localhost";
        if (mysql_real_connect(_my, host, s.hasUser ? s.user.c_str() : nullptr,
                               s.hasPassword ? s.password.c_str() : nullptr,
                               s.database.empty() ? nullptr : s.database.c_str(), port,
                               s.socket.empty() ? nullptr : s.socket.c_str(), flags) == nullptr) {
            unsigned const code = mysql_errno(_my);
            std::string msg = mysql_error(_my);
            mysql_close(_my);
            _my = nullptr;
            ErrKind k = classify(code);
            if (k == ErrKind::Lost || k == ErrKind::Other) k = ErrKind::Connect;
            if (code == ER_BAD_DB_ERROR) {
                k = ErrKind::NoSchema;
                msg += " (create the database, then run `css-admin schema init`)";
            }
            throw DbError(k, static_cast<int>(code), msg);
        }
        if (s.ssl && mysql_get_ssl_cipher(_my) == nullptr) {
            // Connector/C 3.3 falls back to plaintext unless the certificate is
            // verified: TLS asked for is TLS or nothing.
            mysql_close(_my);
            _my = nullptr;
            throw DbError(ErrKind::Connect, CR_SSL_CONNECTION_ERROR,
                          "TLS was requested (ssl*/ssl_ca/ssl_cert/ssl_key) but the connection "
                          "is not encrypted: the server does not offer TLS");
        }
        execDirect("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; "
                   "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'" +
                   (s.lockWaitTimeout > 0 ? "; SET SESSION innodb_lock_wait_timeout = " +
                                                    std::to_string(s.lockWaitTimeout)
                                          : std::string()));
        int g = s.galera->load();
        if (g < 0) {
            g = detectGalera() ? 1 : 0;
            s.galera->store(g);
        }
        if (g == 1) {
            _galera = true;
            execDirect("SET SESSION autocommit = 0; SET SESSION wsrep_sync_wait = " +
                       std::to_string(s.syncWait));
        }
    }

    bool galera() const noexcept { return _galera; }

    /// wsrep_on and a provider loaded (MySQL, without wsrep variables: false).
    bool detectGalera() {
        try {
            Rows r = query("SELECT @@wsrep_on, @@wsrep_provider", {});
            return !r.empty() && r[0][0].i == 1 && !r[0][1].null && r[0][1].s != "none";
        } catch (DbError const& e) {
            if (e.kind() == ErrKind::Lost) throw;
            return false;
        }
    }

    /// Empty if this Galera node may serve (Primary component, ready, Synced),
    /// else why not.
    std::string unhealthy() {
        Rows r = query("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                       "WHERE VARIABLE_NAME IN ('WSREP_READY', 'WSREP_LOCAL_STATE_COMMENT', "
                       "'WSREP_CLUSTER_STATUS')",
                       {});
        std::map<std::string, std::string> st;
        for (auto const& row : r) st[row[0].s] = row[1].s;
        std::string why;
        if (st["WSREP_READY"] != "ON") why += "wsrep_ready=" + st["WSREP_READY"] + " ";
        if (st["WSREP_CLUSTER_STATUS"] != "Primary")
            why += "wsrep_cluster_status=" + st["WSREP_CLUSTER_STATUS"] + " ";
        if (st["WSREP_LOCAL_STATE_COMMENT"] != "Synced")
            why += "wsrep_local_state_comment=" + st["WSREP_LOCAL_STATE_COMMENT"];
        return why;
    }
    ~MysqlConn() override {
        _cache.clear();
        if (_my != nullptr) mysql_close(_my);
    }

    /// Seconds a pooled connection may sit idle before it is pinged when
    /// taken again (below that, one poll() of its socket checks it).
    static constexpr double kPingAfterIdleSec = 30;

    [[noreturn]] void fail(unsigned code, std::string msg) {
        ErrKind k = classify(code);
        // A query whose internal temporary table vanished (another mariadbd
        // starting with the same tmpdir cleans '#sql*' files): transient,
        // retried. The server reports it as 1011, or with the mysys code
        // EE_DELETE (6, "Error on delete of '/tmp/#sql-temptable-...MAI'
        // (Errcode: 2 ...)", seen in test_cli_css), below the server's codes.
        if ((code == ER_CANT_DELETE_FILE || (code > 0 && code < 1000)) &&
            msg.find("#sql") != std::string::npos)
            k = ErrKind::Lost;
        if (code == 0) {
            // Failed without a code anywhere: the connection's state is
            // unknown; drop it and retry like a lost connection.
            k = ErrKind::Lost;
            code = CR_UNKNOWN_ERROR;
            if (msg.empty()) msg = "the statement failed without an error code from the client "
                                   "library (connection state unknown)";
        }
        if (msg.empty()) msg = "MySQL error " + std::to_string(code) + " (no message)";
        if (k == ErrKind::Lost) _broken = true;
        // Galera: a key another node committed meanwhile (its write set not yet
        // applied when this transaction read): a conflict, retried like one.
        if (_galera && _inTxn && k == ErrKind::Duplicate) k = ErrKind::Deadlock;
        throw DbError(k, static_cast<int>(code), msg);
    }
    [[noreturn]] void failConn() { fail(mysql_errno(_my), mysql_error(_my)); }
    /// A failed prepared statement: Connector/C leaves mysql_stmt_errno at 0
    /// after a failed fetch (a killed query, a lost connection) and puts the
    /// real error on the connection.
    [[noreturn]] void failStmt(Stmt& s) {
        unsigned const code = mysql_stmt_errno(s.st);
        if (code == 0) failConn();
        fail(code, mysql_stmt_error(s.st));
    }

    bool stillAlive(double idleSec) noexcept override {
        if (_my == nullptr || _broken) return false;
        // A connection the server closed (idle timeout, restart, KILL) has
        // its end-of-file (or an error packet) waiting: an idle connection
        // has nothing else to read.
        pollfd p{};
        p.fd = static_cast<int>(mysql_get_socket(_my));
        p.events = POLLIN;
        if (::poll(&p, 1, 0) != 0) return false;
        if (idleSec < kPingAfterIdleSec) return true;
        ++sql::roundTrips;
        return mysql_ping(_my) == 0;
    }

    static void bindResults(Stmt& s, MYSQL_RES* meta) {
        s.ncols = mysql_num_fields(meta);
        MYSQL_FIELD* fields = mysql_fetch_fields(meta);
        s.results.assign(s.ncols, MYSQL_BIND{});
        s.colTypes.resize(s.ncols);
        s.buffers.resize(s.ncols);
        s.lengths.assign(s.ncols, 0);
        s.nulls.assign(s.ncols, 0);
        s.errors.assign(s.ncols, 0);
        for (unsigned i = 0; i < s.ncols; ++i) {
            MYSQL_BIND& b = s.results[i];
            s.colTypes[i] = readAs(fields[i].type);
            s.buffers[i].resize(s.colTypes[i] == MYSQL_TYPE_LONGLONG ? sizeof(std::int64_t)
                                : s.colTypes[i] == MYSQL_TYPE_DOUBLE ? sizeof(double)
                                                                     : 1024);
            b.buffer_type = s.colTypes[i];
            b.buffer = s.buffers[i].data();
            b.buffer_length = s.buffers[i].size();
            b.length = &s.lengths[i];
            b.is_null = &s.nulls[i];
            b.error = &s.errors[i];
        }
    }

    Stmt& prepare(std::string const& sqlText) {
        auto it = _cache.find(sqlText);
        if (it != _cache.end()) return *it->second;
        if (_cache.size() > 200) _cache.clear();
        auto s = std::make_unique<Stmt>();
        s->st = mysql_stmt_init(_my);
        if (s->st == nullptr) failConn();
        ++sql::roundTrips;
        if (mysql_stmt_prepare(s->st, sqlText.data(), sqlText.size()) != 0) failStmt(*s);
        s->nparams = mysql_stmt_param_count(s->st);
        s->params.resize(s->nparams);
        s->ints.resize(s->nparams);
        s->doubles.resize(s->nparams);
        s->paramLengths.resize(s->nparams);
        if (MYSQL_RES* meta = mysql_stmt_result_metadata(s->st)) {
            bindResults(*s, meta);
            mysql_free_result(meta);
        }
        Stmt& ref = *s;
        _cache.emplace(sqlText, std::move(s));
        return ref;
    }

    void execute(Stmt& s, std::vector<Param> const& params) {
        if (params.size() != s.nparams)
            throw DbError(ErrKind::Other, 0, "parameter count mismatch");
        for (unsigned i = 0; i < s.nparams; ++i) {
            MYSQL_BIND& b = s.params[i];
            b = MYSQL_BIND{};
            auto const& p = params[i];
            switch (p.kind) {
                case Param::Kind::Null: b.buffer_type = MYSQL_TYPE_NULL; break;
                case Param::Kind::Int:
                    s.ints[i] = p.i;
                    b.buffer_type = MYSQL_TYPE_LONGLONG;
                    b.buffer = &s.ints[i];
                    break;
                case Param::Kind::Double:
                    s.doubles[i] = p.d;
                    b.buffer_type = MYSQL_TYPE_DOUBLE;
                    b.buffer = &s.doubles[i];
                    break;
                case Param::Kind::Blob:
                    b.buffer_type = MYSQL_TYPE_BLOB;
                    b.buffer = const_cast<char*>(p.s.data());
                    s.paramLengths[i] = static_cast<unsigned long>(p.s.size());
                    b.buffer_length = s.paramLengths[i];
                    b.length = &s.paramLengths[i];
                    break;
            }
        }
        if (s.nparams > 0 && mysql_stmt_bind_param(s.st, s.params.data()) != 0) failStmt(s);
        ++sql::roundTrips;
        if (mysql_stmt_execute(s.st) != 0) failStmt(s);
    }

    Rows query(std::string const& sqlText, std::vector<Param> const& params) override {
        Stmt& s = prepare(sqlText);
        execute(s, params);
        Rows rows;
        if (s.ncols == 0) {
            _affected = static_cast<std::int64_t>(mysql_stmt_affected_rows(s.st));
            _insertId = static_cast<std::int64_t>(mysql_stmt_insert_id(s.st));
            return rows;
        }
        for (unsigned i = 0; i < s.ncols; ++i) {  // buffers may have been resized
            s.results[i].buffer = s.buffers[i].data();
            s.results[i].buffer_length = s.buffers[i].size();
        }
        if (mysql_stmt_bind_result(s.st, s.results.data()) != 0) failStmt(s);
        while (true) {
            int const rc = mysql_stmt_fetch(s.st);
            if (rc == MYSQL_NO_DATA) break;
            if (rc == 1) failStmt(s);
            Row row(s.ncols);
            for (unsigned i = 0; i < s.ncols; ++i) {
                Cell& c = row[i];
                if (s.nulls[i]) continue;
                c.null = false;
                if (s.colTypes[i] == MYSQL_TYPE_LONGLONG) {
                    std::memcpy(&c.i, s.buffers[i].data(), sizeof c.i);
                    c.d = static_cast<double>(c.i);
                } else if (s.colTypes[i] == MYSQL_TYPE_DOUBLE) {
                    std::memcpy(&c.d, s.buffers[i].data(), sizeof c.d);
                    c.i = static_cast<std::int64_t>(c.d);
                } else {
                    unsigned long const len = s.lengths[i];
                    if (len <= s.buffers[i].size()) {
                        c.s.assign(s.buffers[i].data(), len);
                    } else {
                        c.s.resize(len);
                        MYSQL_BIND b{};
                        b.buffer_type = MYSQL_TYPE_BLOB;
                        b.buffer = c.s.data();
                        b.buffer_length = len;
                        unsigned long got = 0;
                        b.length = &got;
                        if (mysql_stmt_fetch_column(s.st, &b, i, 0) != 0) failStmt(s);
                    }
                }
            }
            rows.push_back(std::move(row));
        }
        mysql_stmt_free_result(s.st);
        // qcss runs no statement with several results (no stored routines); any
        // further result is drained so the connection is never left busy.
        while (mysql_stmt_next_result(s.st) == 0) {
            if (mysql_stmt_field_count(s.st) > 0) mysql_stmt_free_result(s.st);
        }
        return rows;
    }

    std::int64_t exec(std::string const& sqlText, std::vector<Param> const& params) override {
        query(sqlText, params);
        std::int64_t const n = _affected;
        if (_galera && !_inTxn) textQuery("COMMIT");  // autocommit is off on Galera
        return n;
    }

    bool queryValue(std::string const& sqlText, std::vector<Param> const& params,
                    std::string& out) override {
        Stmt& s = prepare(sqlText);
        if (s.ncols != 1 || s.colTypes[0] != MYSQL_TYPE_BLOB) return sql::Conn::queryValue(sqlText, params, out);
        execute(s, params);
        s.results[0].buffer = s.buffers[0].data();
        s.results[0].buffer_length = s.buffers[0].size();
        if (mysql_stmt_bind_result(s.st, s.results.data()) != 0) failStmt(s);
        bool found = false;
        while (true) {
            int const rc = mysql_stmt_fetch(s.st);
            if (rc == MYSQL_NO_DATA) break;
            if (rc == 1) failStmt(s);
            if (found) continue;  // at most one row expected; drain the rest
            found = true;
            unsigned long const len = s.lengths[0];
            if (s.nulls[0]) {
                out.clear();
            } else if (len <= s.buffers[0].size()) {
                out.assign(s.buffers[0].data(), len);
            } else {
                out.resize(len);
                MYSQL_BIND b{};
                b.buffer_type = MYSQL_TYPE_BLOB;
                b.buffer = out.data();
                b.buffer_length = len;
                unsigned long got = 0;
                b.length = &got;
                if (mysql_stmt_fetch_column(s.st, &b, 0, 0) != 0) failStmt(s);
            }
        }
        mysql_stmt_free_result(s.st);
        return found;
    }

    /// A text statement (possibly several, ';'-separated, without parameters);
    /// consumes every result. Returns the insert id of the last one.
    std::int64_t textQuery(std::string const& sqlText) {
        ++sql::roundTrips;
        if (mysql_real_query(_my, sqlText.data(), sqlText.size()) != 0) failConn();
        std::int64_t id = 0;
        while (true) {
            if (MYSQL_RES* r = mysql_store_result(_my)) mysql_free_result(r);
            else if (mysql_field_count(_my) != 0) failConn();
            id = static_cast<std::int64_t>(mysql_insert_id(_my));
            _affected = static_cast<std::int64_t>(mysql_affected_rows(_my));
            int const st = mysql_next_result(_my);
            if (st == -1) break;
            if (st > 0) failConn();
        }
        return id;
    }

    void execDirect(std::string const& sqlText) override { textQuery(sqlText); }

    /// `sqlText` with each '?' replaced by its parameter as a literal: integers
    /// in decimal, blobs as hex (X'..'), which no byte can escape from.
    static void inlineInto(std::string& out, std::string const& sqlText,
                           std::vector<Param> const& params) {
        static char const* const hex = "0123456789abcdef";
        std::size_t k = 0;
        for (char ch : sqlText) {
            if (ch != '?') {
                out.push_back(ch);
                continue;
            }
            auto const& p = params.at(k++);
            switch (p.kind) {
                case Param::Kind::Null: out += "NULL"; break;
                case Param::Kind::Int: out += std::to_string(p.i); break;
                case Param::Kind::Double: {
                    char buf[40];
                    std::snprintf(buf, sizeof buf, "%.17g", p.d);
                    out += buf;
                    break;
                }
                case Param::Kind::Blob:
                    out += "X'";
                    for (unsigned char c : p.s) {
                        out.push_back(hex[c >> 4]);
                        out.push_back(hex[c & 15]);
                    }
                    out.push_back('\'');
                    break;
            }
        }
        if (k != params.size()) throw DbError(ErrKind::Other, 0, "parameter count mismatch");
    }

    static std::size_t inlineSize(std::vector<Param> const& params) {
        std::size_t n = 0;
        for (auto const& p : params) n += p.kind == Param::Kind::Blob ? 2 * p.s.size() + 3 : 24;
        return n;
    }

    /// The rows of a text-protocol result.
    static Rows textRows(MYSQL_RES* res) {
        Rows rows;
        unsigned const n = mysql_num_fields(res);
        MYSQL_FIELD* fields = mysql_fetch_fields(res);
        while (MYSQL_ROW r = mysql_fetch_row(res)) {
            unsigned long* lens = mysql_fetch_lengths(res);
            Row row(n);
            for (unsigned i = 0; i < n; ++i) {
                if (r[i] == nullptr) continue;
                Cell& c = row[i];
                c.null = false;
                c.s.assign(r[i], lens[i]);
                enum_field_types const t = readAs(fields[i].type);
                if (t == MYSQL_TYPE_LONGLONG) {
                    c.i = std::strtoll(c.s.c_str(), nullptr, 10);
                    c.d = static_cast<double>(c.i);
                } else if (t == MYSQL_TYPE_DOUBLE) {
                    c.d = std::strtod(c.s.c_str(), nullptr);
                    c.i = static_cast<std::int64_t>(c.d);
                }
            }
            rows.push_back(std::move(row));
        }
        return rows;
    }

    static std::string bumpSql(sql::Bump const& b) {
        return "UPDATE qcss_meta SET revision = LAST_INSERT_ID(" + b.newRevision() + ")" +
               b.tokenSet() + " WHERE id = 1";
    }

    /// Send the multi-statement `text`, whose statement number `bumpAt` is
    /// the conditional revision bump, and consume every result (the rows of
    /// queries into `out` when given). Returns the new revision. `commitAt`:
    /// the number of the statement that is the COMMIT (-1: none). A
    /// connection lost after that text was sent leaves the outcome unknown
    /// (CommitUnknown); one lost before it was sent, or an error the server
    /// reported for a statement before the COMMIT (the server stops there),
    /// leaves nothing committed: an ordinary, retryable error.
    std::int64_t multiWrite(std::string const& text, int bumpAt, std::vector<Rows>* out,
                            int commitAt) {
        bool const commits = commitAt >= 0;
        _inTxn = true;
        ++sql::roundTrips;
        injectFailure(commits ? sql::failBeforeCommitSent : sql::failNextBegins);
        if (mysql_send_query(_my, text.data(), static_cast<unsigned long>(text.size())) != 0)
            failConn();  // not sent (entirely): nothing can have been committed
        bool const loseReply = commits && takeHook(sql::failAfterCommitSent);
        std::int64_t rev = 0;
        int idx = 0;
        auto failAt = [&]() {
            unsigned const code = mysql_errno(_my);
            if (idx == bumpAt && code == ER_BAD_NULL_ERROR)
                throw DbError(ErrKind::Precondition, static_cast<int>(code), mysql_error(_my));
            bool const serverSaid = code != 0 && code < CR_MIN_ERROR;
            if (commits && classify(code) == ErrKind::Lost && !(serverSaid && idx < commitAt)) {
                _broken = true;
                std::string msg = mysql_error(_my);
                if (msg.empty()) msg = "MySQL error " + std::to_string(code);
                throw DbError(ErrKind::CommitUnknown, static_cast<int>(code), msg);
            }
            if (commits && code == 0) {
                _broken = true;
                throw DbError(ErrKind::CommitUnknown, CR_UNKNOWN_ERROR,
                              "the connection failed without an error code after the COMMIT "
                              "was sent");
            }
            failConn();
        };
        if (mysql_read_query_result(_my) != 0) failAt();
        while (true) {
            MYSQL_RES* res = mysql_store_result(_my);
            if (res != nullptr) {
                if (out != nullptr) out->push_back(textRows(res));
                mysql_free_result(res);
            } else if (mysql_field_count(_my) != 0) {
                failAt();
            }
            if (idx == bumpAt) {
                if (mysql_affected_rows(_my) != 1)
                    throw DbError(ErrKind::NoSchema, 0, "qcss_meta has no row");
                rev = static_cast<std::int64_t>(mysql_insert_id(_my));
            }
            ++idx;
            int const st = mysql_next_result(_my);
            if (st == -1) break;
            if (st > 0) failAt();
        }
        if (commits) _inTxn = false;
        if (loseReply) {  // test hook: the reply "lost" after the server committed
            ::shutdown(static_cast<int>(mysql_get_socket(_my)), SHUT_RDWR);
            _broken = true;
            throw DbError(ErrKind::CommitUnknown, CR_SERVER_LOST,
                          "Lost connection to server during query (test hook)");
        }
        return rev;
    }

    /// "START TRANSACTION; <bump>; <stmts...>" as one text, or nothing when
    /// the statements are too big to inline (the caller then goes step by step).
    std::optional<std::string> pipelined(sql::Bump const& bump,
                                         std::vector<sql::Statement> const& stmts) const {
        if (_galera) return std::nullopt;  // one statement per round trip there
        std::size_t bytes = 0;
        for (auto const& st : stmts) bytes += st.sql.size() + inlineSize(st.params) + 2;
        if (bytes > kPipelineBytes) return std::nullopt;
        std::string text = "START TRANSACTION; " + bumpSql(bump);
        text.reserve(bytes + text.size() + 16);
        for (auto const& st : stmts) {
            text += "; ";
            inlineInto(text, st.sql, st.params);
        }
        return text;
    }

    std::int64_t beginWriteWithQueries(sql::Bump const& bump,
                                       std::vector<sql::Statement> const& qs,
                                       std::vector<Rows>& out) override {
        std::optional<std::string> const text = pipelined(bump, qs);
        if (!text) return sql::Conn::beginWriteWithQueries(bump, qs, out);
        std::int64_t const rev = multiWrite(*text, 1, &out, -1);
        if (out.size() != qs.size()) throw DbError(ErrKind::Other, 0, "missing query results");
        return rev;
    }

    std::int64_t writeIf(sql::Bump const& bump,
                         std::vector<sql::Statement> const& stmts) override {
        std::optional<std::string> text = pipelined(bump, stmts);
        if (!text) return sql::Conn::writeIf(bump, stmts);
        *text += "; COMMIT";
        return multiWrite(*text, 1, nullptr, static_cast<int>(stmts.size()) + 2);
    }

    void execAndCommit(std::vector<sql::Statement> const& stmts) override {
        // Text multi-statements (parameters inlined as hex literals) of up to
        // half the server's max_allowed_packet (at most 16 MiB), the last one
        // ending with COMMIT: MariaDB executes a 1000-row INSERT several times
        // faster from text than as a prepared statement with 7000 parameters.
        // A statement too large for that (a huge value) goes alone, binary.
        std::size_t const limit = std::min<std::size_t>(16u << 20, _maxPacket->load() / 2);
        if (_galera) {
            for (auto const& st : stmts) {
                std::size_t const size = st.sql.size() + inlineSize(st.params) + 2;
                if (size > limit) {
                    exec(st.sql, st.params);
                    continue;
                }
                std::string one;
                one.reserve(size);
                inlineInto(one, st.sql, st.params);
                textQuery(one);
            }
            commit();
            return;
        }
        std::string text;
        int inText = 0;  // statements in `text`
        for (auto const& st : stmts) {
            std::size_t const size = st.sql.size() + inlineSize(st.params) + 2;
            if (size > limit) {
                if (!text.empty()) textQuery(text);
                text.clear();
                inText = 0;
                exec(st.sql, st.params);
                continue;
            }
            if (!text.empty() && text.size() + size > limit) {
                textQuery(text);
                text.clear();
                inText = 0;
            }
            if (text.empty()) text.reserve(std::min(limit, size * (stmts.size() + 1)) + 16);
            inlineInto(text, st.sql, st.params);
            text += "; ";
            ++inText;
        }
        text += "COMMIT";
        multiWrite(text, -1, nullptr, inText);
    }

    static bool takeHook(std::atomic<int>& counter) {
        int n = counter.load();
        while (n > 0 && !counter.compare_exchange_weak(n, n - 1)) {
        }
        return n > 0;
    }
    void injectFailure(std::atomic<int>& counter) {
        if (takeHook(counter)) ::shutdown(static_cast<int>(mysql_get_socket(_my)), SHUT_RDWR);
    }

    std::int64_t beginWrite(sql::Bump const& bump) override {
        _mark = false;
        std::int64_t const rev = multiWrite("START TRANSACTION; " + bumpSql(bump), 1, nullptr, -1);
        _mark = true;
        _markRev = rev;
        _markToken = bump.token;
        return rev;
    }

    /// Galera: the transaction still holds its own revision bump (it was not
    /// aborted by a conflicting write from another node); else a conflict.
    void checkMark() {
        if (!_galera || !_mark) return;
        _mark = false;
        Rows r = query("SELECT revision, write_token FROM qcss_meta WHERE id = 1", {});
        // The token is this transaction's own (a group commit may have moved the
        // revision on past the bump since).
        if (r.empty() || r[0][0].i < _markRev || r[0][1].i != _markToken)
            throw DbError(ErrKind::Deadlock, ER_LOCK_DEADLOCK,
                          "the transaction was aborted by a conflicting write from another "
                          "Galera node (its revision bump is gone)");
    }
    std::int64_t beginWriteNoBump() override {
        _mark = false;
        std::vector<Rows> out;
        multiWrite("START TRANSACTION; SELECT revision FROM qcss_meta WHERE id = 1 FOR UPDATE", -1,
                   &out, -1);
        if (out.size() != 1 || out[0].empty())
            throw DbError(ErrKind::NoSchema, 0, "qcss_meta has no row");
        return out[0][0][0].i;
    }
    void beginRead() override {
        _inTxn = true;
        // Galera (autocommit off): end the implicit transaction of earlier reads first.
        textQuery(std::string(_galera ? "COMMIT; " : "") +
                  "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; "
                  "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
    }
    void commit() override {
        checkMark();
        multiWrite("COMMIT", -1, nullptr, 0);
    }
    void endRead() override {
        textQuery("COMMIT");
        _inTxn = false;
    }
    void rollback() noexcept override {
        if (!_inTxn) return;
        _inTxn = false;
        if (_broken) return;
        if (mysql_real_query(_my, "ROLLBACK", 8) != 0) {
            _broken = true;
            return;
        }
        // Drain any pending result.
        do {
            if (MYSQL_RES* r = mysql_store_result(_my)) mysql_free_result(r);
        } while (mysql_next_result(_my) == 0);
    }
    std::int64_t lastInsertId() override { return _insertId; }
    bool usable() const noexcept override { return _my != nullptr && !_broken; }

    std::int64_t scalar(std::string const& sqlText) {
        Rows r = query(sqlText, {});
        return r.empty() || r[0].empty() ? 0 : r[0][0].i;
    }

private:
    MYSQL* _my = nullptr;
    std::shared_ptr<std::atomic<std::size_t>> _maxPacket;
    std::unordered_map<std::string, std::unique_ptr<Stmt>> _cache;
    std::int64_t _affected = 0;
    std::int64_t _insertId = 0;
    bool _inTxn = false;
    bool _broken = false;
    bool _galera = false;
    bool _mark = false;  // Galera: a revision bump to check before COMMIT
    std::int64_t _markRev = 0, _markToken = 0;
};

}  // namespace

MysqlDriver::MysqlDriver(Settings s) : _s(std::move(s)) {
    _d.name = "mysql";
    _d.nowExpr = "UNIX_TIMESTAMP(NOW(6))";
    _d.leastFn = "LEAST";
    _d.kvUpsertTail =
            " ON DUPLICATE KEY UPDATE depth = VALUES(depth), value = VALUES(value), "
            "version = VALUES(version), create_rev = VALUES(create_rev), "
            "mod_rev = VALUES(mod_rev), lease_id = VALUES(lease_id)";
    _d.maxParams = 30000;
    _d.costBasedRanges = true;
}

std::unique_ptr<sql::Conn> MysqlDriver::connect() {
    std::size_t const n = _s.hosts.size();
    if (n <= 1) return std::make_unique<MysqlConn>(_s);
    std::size_t const start = _s.current->load();
    std::string why;
    ErrKind kind = ErrKind::Connect;
    int code = 0;
    for (std::size_t k = 0; k < n; ++k) {
        std::size_t const i = (start + k) % n;
        auto const& [host, port] = _s.hosts[i];
        std::string const name = host + ":" + std::to_string(port == 0 ? 3306 : port);
        try {
            auto c = std::make_unique<MysqlConn>(_s, host, port);
            if (c->galera()) {
                std::string const bad = c->unhealthy();
                if (!bad.empty()) {
                    why += "; " + name + ": not usable (" + bad + ")";
                    continue;
                }
            }
            _s.current->store(i);
            return c;
        } catch (DbError const& e) {
            if (e.kind() == ErrKind::Auth || e.kind() == ErrKind::NoSchema) throw;
            why += "; " + name + ": " + e.what();
            kind = e.kind() == ErrKind::Lost ? ErrKind::Connect : e.kind();
            code = e.code();
        }
    }
    throw DbError(kind, code, "no usable server among the " + std::to_string(n) + " hosts" + why);
}

std::unique_ptr<sql::Conn> connectOnce(Settings const& s) { return std::make_unique<MysqlConn>(s); }

bool isGalera(sql::Conn& c) { return static_cast<MysqlConn&>(c).galera(); }

std::int64_t scalar(sql::Conn& c, std::string const& sqlText) {
    return static_cast<MysqlConn&>(c).scalar(sqlText);
}

void execDirect(sql::Conn& c, std::string const& sqlText) {
    static_cast<MysqlConn&>(c).execDirect(sqlText);
}

}  // namespace qcss::detail::mysql
