// qcss: Json.cc -- flat JSON objects of strings.
#include "core/Json.h"

#include <cstdio>

#include "qcss/Errors.h"
#include "qcss/Key.h"

namespace qcss::detail {

void appendJsonString(std::string& out, std::string_view s, bool escapeSlash) {
    out.push_back('"');
    for (char ch : s) {
        auto const c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '/':
                if (escapeSlash)
                    out += "\\/";
                else
                    out.push_back('/');
                break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out.push_back(ch);
                }
        }
    }
    out.push_back('"');
}

namespace {

class Parser {
public:
    Parser(std::string_view text, std::string const& source, bool lenient)
            : _t(text), _src(source), _lenient(lenient) {}

    std::vector<std::pair<std::string, std::string>> object() {
        std::vector<std::pair<std::string, std::string>> out;
        // JSON text is UTF-8: raw bytes that are not would come out as names and
        // values no caller can use (Python's str conversion fails on them).
        if (!isValidUtf8(_t)) throw BadDumpError(_src + ": malformed JSON: not valid UTF-8 text");
        ws();
        if (_lenient && _i == _t.size()) return out;  // "" is an empty object
        expect('{');
        ws();
        if (peek() == '}') {
            ++_i;
        } else {
            while (true) {
                ws();
                std::string key = string();
                ws();
                expect(':');
                ws();
                char const c = peek();
                if (c == '"') {
                    out.emplace_back(std::move(key), string());
                } else if (_lenient && (c == '{' || c == '[')) {
                    // An empty object or array is kept as "" (as Qserv's
                    // parser does); a non-empty one is not a flat member.
                    std::size_t const start = _i;
                    skipNested();
                    std::string_view const body = _t.substr(start + 1, _i - start - 2);
                    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
                        out.emplace_back(std::move(key), std::string());
                } else if (_lenient) {
                    out.emplace_back(std::move(key), scalar());  // number, true, false, null
                } else if (_t.substr(_i, 4) == "null") {
                    _i += 4;
                    out.emplace_back(std::move(key), std::string());
                } else {
                    fail("expected a string value for member '" + key + "'");
                }
                ws();
                if (peek() == ',') {
                    ++_i;
                    continue;
                }
                expect('}');
                break;
            }
        }
        ws();
        if (_i != _t.size()) fail("unexpected data after the object");
        return out;
    }

private:
    [[noreturn]] void fail(std::string const& what) const {
        throw BadDumpError(_src + ": malformed JSON at byte " + std::to_string(_i) + ": " + what);
    }
    char peek() const { return _i < _t.size() ? _t[_i] : '\0'; }
    // A bare scalar (number, true, false, null), kept as its text.
    std::string scalar() {
        std::size_t const start = _i;
        while (_i < _t.size() && std::string_view(",}] \t\r\n").find(_t[_i]) == std::string_view::npos)
            ++_i;
        if (start == _i) fail("expected a value");
        return std::string(_t.substr(start, _i - start));
    }
    void skipNested() {
        int depth = 0;
        do {
            if (_i >= _t.size()) fail("unterminated object or array");
            char const c = _t[_i];
            if (c == '"') {
                string();
                continue;
            }
            if (c == '{' || c == '[') ++depth;
            if (c == '}' || c == ']') --depth;
            ++_i;
        } while (depth > 0);
    }
    void ws() {
        while (_i < _t.size() &&
               (_t[_i] == ' ' || _t[_i] == '\n' || _t[_i] == '\r' || _t[_i] == '\t'))
            ++_i;
    }
    void expect(char c) {
        if (_i >= _t.size()) fail(std::string("unexpected end, expected '") + c + "'");
        if (_t[_i] != c) fail(std::string("expected '") + c + "'");
        ++_i;
    }
    unsigned hex4() {
        if (_i + 4 > _t.size()) fail("truncated \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            char const c = _t[_i++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= static_cast<unsigned>(c - 'A' + 10);
            else
                fail("bad \\u escape");
        }
        return v;
    }
    static void utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }
    std::string string() {
        expect('"');
        std::string out;
        while (true) {
            if (_i >= _t.size()) fail("unterminated string");
            char const c = _t[_i++];
            if (c == '"') break;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (_i >= _t.size()) fail("unterminated escape");
            char const e = _t[_i++];
            switch (e) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '/': out.push_back('/'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'n': out.push_back('\n'); break;
                case 'r': out.push_back('\r'); break;
                case 't': out.push_back('\t'); break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (_t.substr(_i, 2) != "\\u") fail("unpaired surrogate");
                        _i += 2;
                        unsigned const lo = hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) fail("bad low surrogate");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        fail("unpaired surrogate");
                    }
                    utf8(out, cp);
                    break;
                }
                default: fail(std::string("bad escape '\\") + e + "'");
            }
        }
        return out;
    }

    std::string_view _t;
    std::string const& _src;
    bool _lenient;
    std::size_t _i = 0;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> parseFlatStringObject(std::string_view text,
                                                                       std::string const& source) {
    return Parser(text, source, false).object();
}

std::vector<std::pair<std::string, std::string>> parseFlatObjectLenient(std::string_view text,
                                                                        std::string const& source) {
    return Parser(text, source, true).object();
}

std::string toFlatStringObject(std::vector<std::pair<std::string, std::string>> const& members) {
    std::string out = "{";
    bool first = true;
    for (auto const& [k, v] : members) {
        if (!first) out += ", ";
        first = false;
        appendJsonString(out, k);
        out += ": ";
        appendJsonString(out, v);
    }
    out += "}";
    return out;
}

}  // namespace qcss::detail
