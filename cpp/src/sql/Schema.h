// qcss: sql/Schema.h -- the one schema path of the SQL backends (internal).
//
// The SQL files under schema/<dialect>/ are the single source (embedded at
// build time, see cmake/EmbedSchema.cmake): the numbered files and the version
// table's DDL (version_table.sql). The library installs them in a fresh SQLite
// store and (for tests and benchmarks) in a MySQL database with install();
// operators use `css-admin schema`, which reads the same files
// (python/qcss/schema.py). Every open checks the installed version with
// checkVersion(). Statements are not split here: SQLite and MySQL
// (multi-statement text) run a whole file; the one splitter is the Python
// runner's (schema.split_statements), which sends statements one by one.
#pragma once

#include <functional>
#include <string>

namespace qcss::detail::schema {

/// What qcss_schema_version says.
struct State {
    bool present = false;  ///< the table exists and holds at least one row
    int version = 0;       ///< the highest version applied
    bool dirty = false;    ///< that version's upgrade was interrupted
};

/// Reads (version, dirty) of the highest applied version: no row when empty.
extern char const* const kStateQuery;

/// Install the embedded schema of `dialect` ("sqlite" or "mysql") in an empty
/// database: the version table, then each numbered file and its version row,
/// each passed to `exec` as one text (several statements). The caller supplies
/// the transaction, if any. Whatever `exec` throws propagates.
void install(std::string const& dialect, std::function<void(std::string const&)> const& exec);

/// Throws SchemaError unless `state` is the version this library needs.
/// `where` names the store in the message ("database mysql://..."), `url` is the
/// masked URL, `howToInstall` says how to get a schema ("run", "open it
/// read-write once or run") before `css-admin schema init --url <url>`.
void checkVersion(State const& state, std::string const& where, std::string const& url,
                  std::string const& howToInstall);

}  // namespace qcss::detail::schema
