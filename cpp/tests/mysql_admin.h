// qcss: cpp/tests/mysql_admin.h -- schema installation from C++ for the C++
// tests and benchmarks (compiled into them, not into the library; operators
// use `css-admin schema init`).
#pragma once

#include <string>

namespace qcss::detail {

/// Create the qcss tables (embedded schema/mysql files) in the URL's
/// database, which must exist and be empty. Throws sql::DbError on failure.
void installMysqlSchema(std::string const& rawUrl);

}  // namespace qcss::detail

namespace qcss::detail {

/// Run `sql` (text, may hold several statements) on the server of `rawUrl`,
/// connected to its `mysql` database (tests: create/drop databases, users).
void mysqlServerExec(std::string const& rawUrl, std::string const& sqlText);

}  // namespace qcss::detail
