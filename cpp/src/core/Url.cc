// qcss: Url.cc -- URL parsing and masking: one split rule for both.
//
// scheme://[user[:password]@]host[:port][/path][?k=v&...]
// The userinfo ends at the LAST '@' of the URL (a password may contain
// % # / ? @ : unencoded); a URL whose authority is empty (sqlite:///path,
// mem://) has no userinfo. An '@' in the path or a query value must therefore
// be written %40 when the URL also has a user. maskUrl() hides everything
// between the first ':' of the userinfo and that '@', and the values of
// password= / passwd= query parameters.
#include "core/Url.h"

#include <cctype>

#include "qcss/Errors.h"
#include "qcss/Open.h"

namespace qcss {

namespace detail {

UrlSplit splitUrl(std::string const& url) {
    UrlSplit s;
    std::size_t const sep = url.find("://");
    s.hasScheme = sep != std::string::npos;
    s.authStart = s.hasScheme ? sep + 3 : 0;
    s.hostStart = s.authStart;
    bool const emptyAuthority = s.authStart >= url.size() || url[s.authStart] == '/';
    if (!emptyAuthority) {
        std::size_t const at = url.rfind('@');
        if (at != std::string::npos && at >= s.authStart) {
            s.at = at;
            s.hostStart = at + 1;
            std::size_t const colon = url.find(':', s.authStart);
            if (colon < at) s.passwordStart = colon + 1;
        }
    }
    std::size_t const hostEnd = url.find_first_of("/?", s.hostStart);
    s.pathStart = hostEnd != std::string::npos && url[hostEnd] == '/' ? hostEnd : std::string::npos;
    s.queryStart = url.find('?', s.hostStart);
    return s;
}

}  // namespace detail

std::string maskUrl(std::string const& url) {
    detail::UrlSplit const s = detail::splitUrl(url);
    std::string out = url;
    std::size_t query = s.queryStart;
    if (s.passwordStart != std::string::npos) {
        out = url.substr(0, s.passwordStart) + "***" + url.substr(s.at);
        if (query != std::string::npos) query = query - (s.at - s.passwordStart) + 3;
    }
    if (query == std::string::npos) return out;
    // password=... / passwd=... in the query: the value up to the next '&'.
    std::size_t pos = query + 1;
    while (pos <= out.size()) {
        std::size_t amp = out.find('&', pos);
        if (amp == std::string::npos) amp = out.size();
        for (std::string const name : {"password=", "passwd="}) {
            if (out.compare(pos, name.size(), name) == 0) {
                std::size_t const v = pos + name.size();
                out = out.substr(0, v) + "***" + out.substr(amp);
                amp = v + 3;
                break;
            }
        }
        pos = amp + 1;
    }
    return out;
}

namespace detail {

std::string Url::param(std::string const& name, std::string const& dflt) const {
    auto it = params.find(name);
    return it == params.end() ? dflt : it->second;
}

std::string percentDecode(std::string const& s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
                !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
                throw ConfigError("bad percent-escape in URL component '" + maskUrl(s) + "'");
            out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

namespace {

/// Percent-decode a password: a '%' not followed by two hex digits is kept as
/// it is ("50%off"), and no error ever quotes the password.
std::string decodePassword(std::string const& s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

}  // namespace

Url parseUrl(std::string const& url) {
    Url u;
    UrlSplit const s = splitUrl(url);
    if (!s.hasScheme || s.authStart == 3)
        throw ConfigError("malformed store URL '" + maskUrl(url) +
                          "': expected scheme://..., e.g. mem://, sqlite:///path/css.db, "
                          "mysql://user@host:3306/db");
    u.scheme = url.substr(0, s.authStart - 3);
    if (s.at != std::string::npos) {
        std::size_t const userEnd = s.passwordStart != std::string::npos ? s.passwordStart - 1 : s.at;
        u.user = percentDecode(url.substr(s.authStart, userEnd - s.authStart));
        if (s.passwordStart != std::string::npos) {
            u.password = decodePassword(url.substr(s.passwordStart, s.at - s.passwordStart));
            u.hasPassword = true;
        }
    }
    std::size_t const queryStart = s.queryStart == std::string::npos ? url.size() : s.queryStart;
    std::size_t const hostEnd = s.pathStart != std::string::npos ? s.pathStart : queryStart;
    if (s.pathStart != std::string::npos)
        u.path = percentDecode(url.substr(s.pathStart, queryStart - s.pathStart));
    if (s.queryStart != std::string::npos) {
        std::string const query = url.substr(s.queryStart + 1);
        std::size_t start = 0;
        while (start <= query.size()) {
            std::size_t amp = query.find('&', start);
            if (amp == std::string::npos) amp = query.size();
            std::string const item = query.substr(start, amp - start);
            if (!item.empty()) {
                std::size_t const eq = item.find('=');
                std::string const name = percentDecode(item.substr(0, eq));
                if (eq == std::string::npos)
                    u.params[name] = "";
                else if (name == "password" || name == "passwd")
                    u.params[name] = decodePassword(item.substr(eq + 1));
                else
                    u.params[name] = percentDecode(item.substr(eq + 1));
            }
            start = amp + 1;
        }
    }
    std::string auth = url.substr(s.hostStart, hostEnd - s.hostStart);
    // A host list (libpq/JDBC style): h1:3306,h2:3306,h3 -- each with or without a port.
    std::size_t begin = 0;
    while (true) {
        std::size_t comma = auth.find(',', begin);
        if (comma == std::string::npos) comma = auth.size();
        std::string one = auth.substr(begin, comma - begin);
        int port = 0;
        std::size_t const colon = one.rfind(':');
        if (colon != std::string::npos && one.find(']') == std::string::npos) {
            std::string const digits = one.substr(colon + 1);
            one = one.substr(0, colon);
            if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
                digits.size() > 5)
                throw ConfigError("malformed store URL '" + maskUrl(url) + "': bad port '" +
                                  digits + "'");
            port = std::stoi(digits);
        }
        if (one.empty() && auth.find(',') != std::string::npos)
            throw ConfigError("malformed store URL '" + maskUrl(url) +
                              "': empty host in the host list");
        u.hosts.emplace_back(percentDecode(one), port);
        if (comma == auth.size()) break;
        begin = comma + 1;
    }
    u.host = u.hosts.front().first;
    u.port = u.hosts.front().second;
    return u;
}

}  // namespace detail
}  // namespace qcss
