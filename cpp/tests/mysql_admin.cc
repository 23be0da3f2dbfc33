// qcss: cpp/tests/mysql_admin.cc -- the MySQL schema installer and server
// statements of the C++ tests and benchmarks (not in the library: operators
// install the schema with `css-admin schema init`).
#include "mysql_admin.h"

#include "core/Url.h"
#include "mysql/MysqlConn.h"
#include "qcss/Open.h"
#include "sql/Schema.h"

namespace qcss::detail {

void installMysqlSchema(std::string const& rawUrl) {
    Url const url = parseUrl(rawUrl);
    std::string const masked = maskUrl(rawUrl);
    auto const c = mysql::connectOnce(mysql::settingsFrom(url, masked));
    // A whole file is one multi-statement text (the connection allows them).
    schema::install("mysql", [&c](std::string const& sqlText) { mysql::execDirect(*c, sqlText); });
    mysql::execDirect(*c, "COMMIT");  // autocommit is off on Galera
}

void mysqlServerExec(std::string const& rawUrl, std::string const& sqlText) {
    Url url = parseUrl(rawUrl);
    std::string const masked = maskUrl(rawUrl);
    url.path = "/mysql";
    auto const c = mysql::connectOnce(mysql::settingsFrom(url, masked));
    mysql::execDirect(*c, sqlText);
    mysql::execDirect(*c, "COMMIT");  // autocommit is off on Galera
}

}  // namespace qcss::detail
