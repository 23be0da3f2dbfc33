// qcss: Url.cc -- URL parsing and masking.
#include "core/Url.h"

#include <cctype>

#include "qcss/Errors.h"
#include "qcss/Open.h"

namespace qcss {

std::string maskUrl(std::string const& url) {
    // scheme://user:password@host -> scheme://user:***@host
    std::size_t const sep = url.find("://");
    if (sep == std::string::npos) return url;
    std::size_t const authStart = sep + 3;
    std::size_t authEnd = url.find_first_of("/?#", authStart);
    if (authEnd == std::string::npos) authEnd = url.size();
    std::size_t const at = url.rfind('@', authEnd);
    std::string out = url;
    if (at != std::string::npos && at >= authStart) {
        std::size_t const colon = url.find(':', authStart);
        if (colon != std::string::npos && colon < at)
            out = url.substr(0, colon + 1) + "***" + url.substr(at);
    }
    // password=... in the query string
    for (std::string const name : {"password=", "passwd="}) {
        std::size_t pos = 0;
        while ((pos = out.find(name, pos)) != std::string::npos) {
            if (pos > 0 && out[pos - 1] != '?' && out[pos - 1] != '&') {
                pos += name.size();
                continue;
            }
            std::size_t const v = pos + name.size();
            std::size_t end = out.find('&', v);
            if (end == std::string::npos) end = out.size();
            out = out.substr(0, v) + "***" + out.substr(end);
            pos = v + 3;
        }
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
                throw ConfigError("bad percent-escape in URL component '" + s + "'");
            out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

Url parseUrl(std::string const& url) {
    Url u;
    std::size_t const sep = url.find("://");
    if (sep == std::string::npos || sep == 0)
        throw ConfigError("malformed store URL '" + maskUrl(url) +
                          "': expected scheme://..., e.g. mem://, sqlite:///path/css.db, "
                          "mysql://user@host:3306/db");
    u.scheme = url.substr(0, sep);
    std::string rest = url.substr(sep + 3);
    std::size_t const q = rest.find('?');
    if (q != std::string::npos) {
        std::string const query = rest.substr(q + 1);
        rest = rest.substr(0, q);
        std::size_t start = 0;
        while (start <= query.size()) {
            std::size_t amp = query.find('&', start);
            if (amp == std::string::npos) amp = query.size();
            std::string const item = query.substr(start, amp - start);
            if (!item.empty()) {
                std::size_t const eq = item.find('=');
                if (eq == std::string::npos)
                    u.params[percentDecode(item)] = "";
                else
                    u.params[percentDecode(item.substr(0, eq))] = percentDecode(item.substr(eq + 1));
            }
            start = amp + 1;
        }
    }
    std::size_t const slash = rest.find('/');
    std::string auth = slash == std::string::npos ? rest : rest.substr(0, slash);
    u.path = slash == std::string::npos ? std::string() : percentDecode(rest.substr(slash));
    std::size_t const at = auth.rfind('@');
    if (at != std::string::npos) {
        std::string const cred = auth.substr(0, at);
        auth = auth.substr(at + 1);
        std::size_t const colon = cred.find(':');
        if (colon == std::string::npos) {
            u.user = percentDecode(cred);
        } else {
            u.user = percentDecode(cred.substr(0, colon));
            u.password = percentDecode(cred.substr(colon + 1));
            u.hasPassword = true;
        }
    }
    std::size_t const colon = auth.rfind(':');
    if (colon != std::string::npos && auth.find(']') == std::string::npos) {
        std::string const port = auth.substr(colon + 1);
        auth = auth.substr(0, colon);
        if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
            port.size() > 5)
            throw ConfigError("malformed store URL '" + maskUrl(url) + "': bad port '" + port +
                              "'");
        u.port = std::stoi(port);
    }
    u.host = percentDecode(auth);
    return u;
}

}  // namespace detail
}  // namespace qcss
