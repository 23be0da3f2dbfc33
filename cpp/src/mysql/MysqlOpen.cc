// qcss: mysql/MysqlOpen.cc -- opening a mysql:// store: the URL options read into
// Settings, the schema and Galera checks at open, openMysql. The connection is
// in MysqlConn.cc.
//
//
// URL: mysql://[user[:password]@]host[:port]/database[?options]
//   socket=/path            connect through a Unix socket
//   read_default_file=F     option file (~/.my.cnf style) for user/password/host...
//   read_default_group=G    group read in it (default: client)
//   ssl_ca, ssl_cert, ssl_key, ssl_verify=0|1     TLS
//   connect_timeout, read_timeout, write_timeout  seconds
//   lock_wait_timeout       seconds (session innodb_lock_wait_timeout)
//   retry_timeout           seconds to keep retrying transient errors (10)
//   pool_size               connections shared by the threads (4)
//   password=P              the password, when not given as user:P@ (masked alike)
//   failover=first|random   with a host list (mysql://u@h1:3306,h2:3306,h3/db): which
//                           node a store uses first (the others in list order after
//                           it); all its connections go to one healthy node
//   sync_wait=N             Galera: session wsrep_sync_wait (default 1: reads see
//                           every commit made anywhere before them); 0 turns it off
//   role=primary|replica    replica: an asynchronous read replica (a read-only store:
//                           writes raise ReadonlyCss; write through the primary's URL)
// Password: URL, else $QCSS_MYSQL_PASSWORD, else $MYSQL_PWD, else the option file.

#include <cstdlib>
#include <random>

#include "core/Backends.h"
#include "core/Url.h"
#include "mysql/MysqlConn.h"
#include "qcss/Open.h"
#include "sql/Schema.h"
#include "sql/SqlKv.h"

namespace qcss::detail {

namespace mysql {

namespace {

unsigned seconds(Url const& url, char const* name, unsigned dflt, std::string const& masked) {
    return static_cast<unsigned>(sql::urlSeconds(url.param(name), dflt, name, masked));
}

}  // namespace

Settings settingsFrom(Url const& url, std::string const& masked) {
    Settings s;
    s.maskedUrl = masked;
    s.host = url.host;
    s.port = static_cast<unsigned>(url.port);
    for (auto const& [h, p] : url.hosts) s.hosts.emplace_back(h, static_cast<unsigned>(p));
    std::string const failover = url.param("failover", "first");
    if (failover != "first" && failover != "random")
        throw ConfigError("bad failover '" + failover + "' in URL " + masked +
                          " (expected failover=first or failover=random)");
    s.randomFailover = failover == "random";
    if (s.randomFailover && s.hosts.size() > 1)
        s.current->store(std::random_device{}() % s.hosts.size());
    std::string const sw = url.param("sync_wait", "1");
    if (sw.empty() || sw.find_first_not_of("0123456789") != std::string::npos || sw.size() > 2 ||
        std::stoi(sw) > 15)
        throw ConfigError("bad sync_wait '" + sw + "' in URL " + masked +
                          " (expected 0-15, a wsrep_sync_wait bit mask)");
    s.syncWait = std::stoi(sw);
    s.database = url.path.empty() ? std::string() : url.path.substr(1);
    if (s.database.empty())
        throw ConfigError("mysql URL without a database: " + masked +
                          " (expected mysql://user@host:port/database)");
    if (!url.user.empty()) {
        s.user = url.user;
        s.hasUser = true;
    }
    if (url.hasPassword) {
        s.password = url.password;
        s.hasPassword = true;
    } else if (auto const it = url.params.find("password"); it != url.params.end()) {
        s.password = it->second;  // ?password=... (masked by maskUrl like user:password@)
        s.hasPassword = true;
    } else if (char const* p = std::getenv("QCSS_MYSQL_PASSWORD"); p != nullptr) {
        s.password = p;
        s.hasPassword = true;
    } else if (char const* p2 = std::getenv("MYSQL_PWD"); p2 != nullptr) {
        s.password = p2;
        s.hasPassword = true;
    }
    s.socket = url.param("socket");
    if (s.hosts.size() > 1 && !s.socket.empty())
        throw ConfigError("URL " + masked + " has a host list and a socket: use one or the other");
    s.defaultFile = url.param("read_default_file");
    if (s.defaultFile.rfind("~/", 0) == 0) {
        char const* home = std::getenv("HOME");
        s.defaultFile = std::string(home ? home : "") + s.defaultFile.substr(1);
    }
    s.defaultGroup = url.param("read_default_group");
    s.sslCa = url.param("ssl_ca");
    s.sslCert = url.param("ssl_cert");
    s.sslKey = url.param("ssl_key");
    std::string const v = url.param("ssl_verify");
    s.sslVerify = v == "1" || v == "true" || v == "yes";
    std::string const ssl = url.param("ssl");
    s.ssl = !s.sslCa.empty() || !s.sslCert.empty() || !s.sslKey.empty() || s.sslVerify ||
            ssl == "1" || ssl == "true";
    s.connectTimeout = seconds(url, "connect_timeout", 10, masked);
    s.readTimeout = seconds(url, "read_timeout", 0, masked);
    s.writeTimeout = seconds(url, "write_timeout", 0, masked);
    s.lockWaitTimeout = seconds(url, "lock_wait_timeout", 0, masked);
    return s;
}

}  // namespace mysql

namespace {

using mysql::MysqlDriver;
using mysql::Settings;
using mysql::settingsFrom;
using sql::DbError;
using sql::ErrKind;
using sql::Rows;

/// Galera replicates only InnoDB tables with primary keys safely: refuse others.
void refuseUnreplicable(sql::Conn& c, std::string const& masked) {
    Rows bad = c.query("SELECT t.TABLE_NAME, t.ENGINE, (SELECT COUNT(*) FROM "
                       "information_schema.TABLE_CONSTRAINTS k WHERE k.TABLE_SCHEMA = "
                       "t.TABLE_SCHEMA AND k.TABLE_NAME = t.TABLE_NAME AND k.CONSTRAINT_TYPE = "
                       "'PRIMARY KEY') FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = "
                       "DATABASE() AND t.TABLE_NAME LIKE 'qcss%' AND t.TABLE_TYPE = 'BASE TABLE'",
                       {});
    for (auto const& r : bad) {
        if (r[1].s != "InnoDB")
            throw SchemaError("database " + masked + " is on a Galera cluster, which replicates "
                              "only InnoDB tables, but table " + r[0].s + " uses " + r[1].s +
                              ": ALTER TABLE " + r[0].s + " ENGINE=InnoDB");
        if (r[2].i == 0)
            throw SchemaError("database " + masked + " is on a Galera cluster, but table " +
                              r[0].s + " has no primary key (Galera needs one on every table)");
    }
}

[[noreturn]] void openFailed(DbError const& e, std::string const& masked) {
    std::string const msg = std::string("cannot open ") + masked + ": " + e.what();
    switch (e.kind()) {
        case ErrKind::Auth: throw AuthError(msg);
        case ErrKind::NoSchema: throw SchemaError(msg);
        default: throw ConnError(msg);
    }
}

}  // namespace

KvPtr openMysql(Url const& url, std::string const& raw, bool readOnly) {
    std::string const role = url.param("role", "primary");
    if (role != "primary" && role != "replica")
        throw ConfigError("bad role '" + role + "' in URL " + maskUrl(raw) +
                          " (expected role=primary or role=replica)");
    // A replica is read-only: writes raise ReadonlyCss (they go through the primary's URL).
    StoreOptions opts = commonOptions(url, raw, readOnly || role == "replica");
    Settings s = settingsFrom(url, opts.url);
    sql::RetryPolicy retry;
    retry.deadlineSec = sql::urlSeconds(url.param("retry_timeout"), 10.0, "retry_timeout", opts.url);
    std::size_t const poolSize =
            static_cast<std::size_t>(sql::urlSeconds(url.param("pool_size"), 4, "pool_size", opts.url));
    auto driver = std::make_unique<MysqlDriver>(s);
    std::unique_ptr<sql::Conn> first;
    try {
        first = driver->connect();
        sql::Conn* c = first.get();
        // Reads only: a SELECT-only user can open a read-only store.
        schema::State state;
        try {
            Rows const r = c->query(schema::kStateQuery, {});
            if (!r.empty()) state = {true, static_cast<int>(r[0][0].i), r[0][1].i != 0};
        } catch (DbError const& e) {
            if (e.kind() != ErrKind::NoSchema) throw;
        }
        schema::checkVersion(state, "database " + opts.url, opts.url, "run");
        if (mysql::isGalera(*c)) refuseUnreplicable(*c, opts.url);
        std::int64_t const maxPacket = mysql::scalar(*c, "SELECT @@max_allowed_packet");
        driver->setMaxPacket(static_cast<std::size_t>(maxPacket));
        // A value must fit in one statement with its key and the change-log row.
        std::size_t const fits = maxPacket > (1 << 16) ? static_cast<std::size_t>(maxPacket) - (1 << 16) : 0;
        if (fits < opts.maxValueSize) opts.maxValueSize = fits;
    } catch (DbError const& e) {
        openFailed(e, opts.url);
    }
    return std::make_shared<sql::SqlKv>(std::move(opts), std::move(driver), std::move(first), retry,
                                        poolSize);
}

}  // namespace qcss::detail
