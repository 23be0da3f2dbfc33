// qcss: Backends.h -- the factories open() dispatches to (internal).
#pragma once

#include <string>

#include "core/Url.h"
#include "qcss/KvInterface.h"

namespace qcss::detail {

/// The embedded default store's file ($XDG_DATA_HOME or ~/.local/share, then
/// qcss/css.db): the one SQLite store opened read-write is created without ?create=1.
std::string defaultSqlitePath();

KvPtr openMem(Url const& url, std::string const& raw, bool readOnly);
#ifdef QCSS_WITH_SQLITE
KvPtr openSqlite(Url const& url, std::string const& raw, bool readOnly);
#endif
#ifdef QCSS_WITH_MYSQL
KvPtr openMysql(Url const& url, std::string const& raw, bool readOnly);
#endif

}  // namespace qcss::detail
