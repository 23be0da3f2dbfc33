// qcss: Key.cc -- key validation and path helpers.

#include "qcss/Key.h"

#include <cstdio>

#include "qcss/Errors.h"

namespace qcss {

bool isValidUtf8(std::string_view s) noexcept {
    auto const* p = reinterpret_cast<unsigned char const*>(s.data());
    std::size_t const n = s.size();
    std::size_t i = 0;
    while (i < n) {
        unsigned char const c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (std::size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
            return false;  // overlong
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

namespace {

std::string problem(std::string_view key, bool allowEmptyLast) {
    if (key.empty()) return "key is empty";
    if (key.size() > kMaxKeyLength)
        return "key is " + std::to_string(key.size()) + " bytes long, more than the limit of " +
               std::to_string(kMaxKeyLength);
    if (key.front() != '/') return "key must start with '/'";
    if (key.find('\0') != std::string_view::npos) return "key contains a NUL byte";
    if (!isValidUtf8(key)) return "key is not valid UTF-8";
    if (key.size() == 1) return std::string();  // the root
    std::size_t start = 1;
    while (true) {
        std::size_t const slash = key.find('/', start);
        std::string_view const comp =
                key.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                                  : slash - start);
        bool const last = slash == std::string_view::npos;
        if (comp.empty() && !(last && allowEmptyLast)) {
            return last ? "key ends with '/'" : "key has an empty component ('//')";
        }
        if (comp == "." || comp == "..") return "key has a '" + std::string(comp) + "' component";
        if (last) break;
        start = slash + 1;
    }
    return std::string();
}

}  // namespace

std::string keyProblem(std::string_view key) { return problem(key, false); }

void validateKey(std::string_view key) {
    std::string const why = problem(key, false);
    if (!why.empty()) throw InvalidKeyError("invalid key '" + printableKey(key) + "': " + why);
}

void validateUniquePrefix(std::string_view prefix) {
    std::string const why = problem(prefix, true);
    if (!why.empty()) throw InvalidKeyError("invalid key '" + printableKey(prefix) + "': " + why);
    if (prefix.size() + kUniqueDigits > kMaxKeyLength)
        throw InvalidKeyError("invalid key '" + printableKey(prefix) +
                              "': too long to append a unique number");
}

std::string parentKey(std::string_view key) {
    std::size_t const slash = key.rfind('/');
    if (slash == 0 || slash == std::string_view::npos) return "/";
    return std::string(key.substr(0, slash));
}

std::string baseName(std::string_view key) {
    std::size_t const slash = key.rfind('/');
    return std::string(key.substr(slash == std::string_view::npos ? 0 : slash + 1));
}

std::string descendantPrefix(std::string_view key) {
    if (key == "/") return "/";
    std::string p(key);
    p.push_back('/');
    return p;
}

bool isUnder(std::string_view key, std::string_view prefix) noexcept {
    if (prefix == "/") return !key.empty() && key.front() == '/';
    if (key.size() < prefix.size() || key.compare(0, prefix.size(), prefix) != 0) return false;
    return key.size() == prefix.size() || key[prefix.size()] == '/';
}

int keyDepth(std::string_view key) noexcept {
    if (key == "/") return 0;
    int d = 0;
    for (char c : key)
        if (c == '/') ++d;
    return d;
}

std::string printableKey(std::string_view key) {
    std::string out;
    std::size_t shown = key.size() > 200 ? 200 : key.size();
    // Never cut a UTF-8 character in two: messages must stay valid UTF-8.
    while (shown < key.size() && shown > 0 && (static_cast<unsigned char>(key[shown]) & 0xC0) == 0x80)
        --shown;
    out.reserve(shown);
    bool const utf8 = isValidUtf8(key);
    for (std::size_t i = 0; i < shown; ++i) {
        auto const c = static_cast<unsigned char>(key[i]);
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else if (c >= 0x80 && utf8) {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    if (shown < key.size()) out += "...(" + std::to_string(key.size()) + " bytes)";
    return out;
}

}  // namespace qcss
