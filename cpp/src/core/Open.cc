// qcss: Open.cc -- qcss::open(), the one factory.
#include "qcss/Open.h"

#include <cstdlib>

#include "core/Backends.h"
#include "core/UrlOptions.h"

namespace qcss {

std::string version() { return QCSS_VERSION; }

std::string detail::defaultSqlitePath() {
    std::string dir;
    if (char const* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
        dir = xdg;
    } else if (char const* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        dir = std::string(home) + "/.local/share";
    } else {
        dir = ".";
    }
    return dir + "/qcss/css.db";
}

std::string defaultUrl() {
    if (char const* env = std::getenv("QCSS_URL"); env != nullptr && *env != '\0') return env;
    return "sqlite://" + detail::defaultSqlitePath();
}

KvPtr open(std::string const& url, bool readOnly) {
    detail::Url const u = detail::parseUrl(url);
    if (std::string const backend = detail::backendOfScheme(u.scheme); !backend.empty())
        detail::checkUrlOptions(u, backend, maskUrl(url));
    if (u.scheme == "mem") return detail::openMem(u, url, readOnly);
#ifdef QCSS_WITH_SQLITE
    if (u.scheme == "sqlite") return detail::openSqlite(u, url, readOnly);
#endif
#ifdef QCSS_WITH_MYSQL
    if (u.scheme == "mysql" || u.scheme == "mariadb") return detail::openMysql(u, url, readOnly);
#endif
    throw ConfigError("unsupported store URL scheme '" + u.scheme + "' in '" + maskUrl(url) +
                      "' (this build supports: mem"
#ifdef QCSS_WITH_SQLITE
                      ", sqlite"
#endif
#ifdef QCSS_WITH_MYSQL
                      ", mysql"
#endif
                      ")");
}

}  // namespace qcss
