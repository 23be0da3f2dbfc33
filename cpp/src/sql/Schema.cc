// qcss: sql/Schema.cc -- install and check the embedded schema (see Schema.h).
#include "sql/Schema.h"

#include "qcss/Errors.h"
#include "qcss/SchemaFiles.h"

namespace qcss::detail::schema {

char const* const kStateQuery =
        "SELECT version, dirty FROM qcss_schema_version ORDER BY version DESC LIMIT 1";

void install(std::string const& dialect, std::function<void(std::string const&)> const& exec) {
    bool const sqlite = dialect == "sqlite";
    // The current time, seconds since the epoch, in each dialect.
    char const* const now =
            sqlite ? "(julianday('now') - 2440587.5) * 86400.0" : "UNIX_TIMESTAMP(NOW(6))";
    exec(sqlite ? k_sqlite_version_table : k_mysql_version_table);
    auto apply = [&](auto const& files) {
        for (File const& f : files) {
            exec(f.sql);
            exec("INSERT INTO qcss_schema_version (version, dirty, applied_at, description) "
                 "VALUES (" + std::to_string(f.version) + ", 0, " + now + ", '" + f.name + "')");
        }
    };
    if (sqlite) {
        apply(k_sqlite);
    } else {
        apply(k_mysql);
    }
}

void checkVersion(State const& state, std::string const& where, std::string const& url,
                  std::string const& howToInstall) {
    if (!state.present)
        throw SchemaError(where + " has no qcss schema: " + howToInstall +
                          " `css-admin schema init --url " + url + "`");
    std::string const v = std::to_string(state.version);
    if (state.dirty)
        throw SchemaError(where + ": the upgrade to schema version " + v +
                          " was interrupted (dirty); repair it and run `css-admin schema "
                          "upgrade --url " + url + "`");
    if (state.version < kVersion)
        throw SchemaError(where + " has schema version " + v + ", this library needs " +
                          std::to_string(kVersion) + ": run `css-admin schema upgrade --url " +
                          url + "`");
    if (state.version > kVersion)
        throw SchemaError(where + " has schema version " + v + ", newer than this library's " +
                          std::to_string(kVersion) + ": upgrade qcss");
}

}  // namespace qcss::detail::schema
