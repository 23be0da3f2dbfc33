// qcss: mysql/MysqlConn.h -- the MySQL/MariaDB driver as its open code sees it
// (internal): the settings read from a URL (MysqlOpen.cc), the driver and the
// few things open and the installers ask of a connection (MysqlConn.cc).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sql/Driver.h"

namespace qcss::detail {
struct Url;
}

namespace qcss::detail::mysql {

struct Settings {
    /// The server's max_allowed_packet once known (shared by the store's connections).
    std::shared_ptr<std::atomic<std::size_t>> maxPacket =
            std::make_shared<std::atomic<std::size_t>>(16u << 20);
    std::string host, user, password, database, socket;
    bool hasUser = false, hasPassword = false;
    unsigned port = 0;
    /// The host list (one entry for one host).
    std::vector<std::pair<std::string, unsigned>> hosts;
    bool randomFailover = false;
    int syncWait = 1;
    /// The node the store's connections go to (index in hosts), shared.
    std::shared_ptr<std::atomic<std::size_t>> current =
            std::make_shared<std::atomic<std::size_t>>(0);
    /// -1 not known yet, 0 a plain server, 1 a Galera node (shared).
    std::shared_ptr<std::atomic<int>> galera = std::make_shared<std::atomic<int>>(-1);
    std::string defaultFile, defaultGroup;
    std::string sslCa, sslCert, sslKey;
    bool sslVerify = false, ssl = false;
    unsigned connectTimeout = 10, readTimeout = 0, writeTimeout = 0, lockWaitTimeout = 0;
    std::string maskedUrl;
};

class MysqlDriver : public sql::Driver {
public:
    explicit MysqlDriver(Settings s);
    /// A connection to the store's current node if it is usable, else to the
    /// next usable one in the host list (which then becomes current). On a
    /// Galera node "usable" means Synced, ready and in the Primary component.
    std::unique_ptr<sql::Conn> connect() override;
    sql::Dialect const& dialect() const noexcept override { return _d; }
    std::size_t maxStatementBytes() const noexcept override { return _maxPacket; }
    void setMaxPacket(std::size_t n) {
        _maxPacket = n;
        _s.maxPacket->store(n);
    }

private:
    Settings _s;
    sql::Dialect _d;
    std::size_t _maxPacket = 16u << 20;
};

/// The settings URL `url` asks for (MysqlOpen.cc); `masked`: the URL for messages.
/// Throws ConfigError for a bad option.
Settings settingsFrom(Url const& url, std::string const& masked);
/// A connection outside any pool (the test installers, cpp/tests/mysql_admin.h).
std::unique_ptr<sql::Conn> connectOnce(Settings const& s);
/// Whether `c` (made by this driver) is to a Galera node.
bool isGalera(sql::Conn& c);
/// The first column of the first row of `sqlText` as an integer (0: no row).
std::int64_t scalar(sql::Conn& c, std::string const& sqlText);
/// Run a text of statements (no parameters) on `c`, consuming every result.
void execDirect(sql::Conn& c, std::string const& sqlText);

}  // namespace qcss::detail::mysql
