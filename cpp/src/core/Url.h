// qcss: Url.h -- parsing of store URLs (internal).
#pragma once

#include <map>
#include <string>

namespace qcss::detail {

/// scheme://[user[:password]@]host[:port]/path[?k=v&...], percent-decoded.
struct Url {
    std::string scheme;
    std::string user;
    std::string password;
    bool hasPassword = false;
    std::string host;
    int port = 0;
    std::string path;  ///< for mem/sqlite the file path; for mysql the database name
    std::map<std::string, std::string> params;

    /// Value of a query parameter, or `dflt`.
    std::string param(std::string const& name, std::string const& dflt = "") const;
};

/// Parse a URL; throws ConfigError naming the (masked) URL on malformed input.
Url parseUrl(std::string const& url);

/// Percent-decode; throws ConfigError on a bad escape.
std::string percentDecode(std::string const& s);

}  // namespace qcss::detail
