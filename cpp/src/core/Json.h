// qcss: Json.h -- the little JSON qcss needs (internal): flat objects of strings.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qcss::detail {

/// Append `s` (valid UTF-8) to `out` as a JSON string literal, quotes included.
/// "/" is escaped as "\/" when `escapeSlash` (Qserv's dumpKV did so).
void appendJsonString(std::string& out, std::string_view s, bool escapeSlash = false);

/// Parse a JSON object whose values are all strings (or null, read as ""),
/// keeping the members in document order. Throws BadDumpError naming `source`
/// and the byte offset on malformed input or a non-string value.
std::vector<std::pair<std::string, std::string>> parseFlatStringObject(std::string_view text,
                                                                       std::string const& source);

/// As parseFlatStringObject, but lenient as Qserv's packed keys need: "" is an
/// empty object, bare scalars (numbers, true, false, null) are kept as their
/// text, empty objects and arrays ({} or []) are kept as "" (as Qserv's parser
/// does), non-empty ones are skipped.
std::vector<std::pair<std::string, std::string>> parseFlatObjectLenient(std::string_view text,
                                                                        std::string const& source);

/// A flat object of strings, members in the given order.
std::string toFlatStringObject(std::vector<std::pair<std::string, std::string>> const& members);

}  // namespace qcss::detail
