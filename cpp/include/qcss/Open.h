// qcss: Open.h -- the one entry point that opens a store by URL.
//
//   mem://                         an empty in-process store
//   mem:///path/dump.json          an in-process store loaded from a Qserv JSON dump
//   sqlite:///path/to/css.db       the embedded SQLite backend (file created if absent)
//   mysql://user[:pw]@host[:port]/database[?options]   MySQL 8 / MariaDB 10.6+
//
// Common query options: max_value_size=<bytes>, client=<identity>.
// See docs/operations.md for the MySQL options (socket, TLS, timeouts,
// read_default_file/read_default_group).
//
// Thread safety: every function here is pure or reads only the environment; all
// may be called from any thread (open() of the same URL twice gives two clients).

#pragma once

#include <string>

#include "qcss/KvInterface.h"

namespace qcss {

/// Open a store. Throws ConfigError for a malformed or
/// unknown URL, ConnError/AuthError if a server cannot be reached or refuses,
/// SchemaError if the database schema is not the one this library expects.
KvPtr open(std::string const& url, bool readOnly = false);

/// The URL used when none is given: $QCSS_URL if set, else the embedded
/// SQLite file $XDG_DATA_HOME/qcss/css.db (~/.local/share/qcss/css.db).
std::string defaultUrl();

/// `url` with any password replaced by "***", safe to print or log.
std::string maskUrl(std::string const& url);

/// The library version, "MAJOR.MINOR.PATCH".
std::string version();

}  // namespace qcss
