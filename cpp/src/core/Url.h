// qcss: Url.h -- parsing of store URLs (internal).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace qcss::detail {

/// scheme://[user[:password]@]host[:port]/path[?k=v&...], percent-decoded.
struct Url {
    std::string scheme;
    std::string user;
    std::string password;
    bool hasPassword = false;
    std::string host;
    int port = 0;
    /// Every host of a host list "h1:p1,h2:p2,h3" (port 0 where none is
    /// given), in order; `host`/`port` are its first. One entry for one host.
    std::vector<std::pair<std::string, int>> hosts;
    std::string path;  ///< for mem/sqlite the file path; for mysql the database name
    std::map<std::string, std::string> params;

    /// Value of a query parameter, or `dflt`.
    std::string param(std::string const& name, std::string const& dflt = "") const;
};

/// Where the parts of a URL start (std::string::npos: absent). The one split
/// rule shared by parseUrl() and maskUrl(): the userinfo ends at the LAST '@'
/// (a password may contain % # / ? @ : unencoded); a URL whose authority is
/// empty (sqlite:///path, mem://) has none.
struct UrlSplit {
    bool hasScheme = false;
    std::size_t authStart = 0;                       ///< after "://"
    std::size_t at = std::string::npos;              ///< the '@' ending the userinfo
    std::size_t passwordStart = std::string::npos;   ///< after the userinfo's first ':'
    std::size_t hostStart = 0;
    std::size_t pathStart = std::string::npos;       ///< the '/' after host[:port]
    std::size_t queryStart = std::string::npos;      ///< the '?' after the host
};
UrlSplit splitUrl(std::string const& url);

/// Parse a URL; throws ConfigError naming the (masked) URL on malformed input.
Url parseUrl(std::string const& url);

/// Percent-decode; throws ConfigError on a bad escape.
std::string percentDecode(std::string const& s);

}  // namespace qcss::detail
